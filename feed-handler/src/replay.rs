//! Replaying MoldUDP64 packets as UDP multicast, optionally with injected faults.
//!
//! Operators use it to feed a test rig from a capture; tests use it to prove the feed
//! handler survives what real feeds do: each line (A and B) independently drops,
//! duplicates and reorders packets, deterministically from a seed. A tap sees every
//! packet before faults, so a request server can hold the clean history. After the
//! last packet, [`repeat_end_of_session`] keeps sending the end of session while a
//! request server still answers, as MoldUDP64 servers do.

use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::rng::Rng;
use crate::source::{PacketSource, SourceError};

/// Fault rates for one line (probabilities per packet) and the seed that makes them
/// reproducible.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    pub drop: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub seed: u64,
}

impl Faults {
    fn check(&self) -> Result<(), ReplayError> {
        for (name, p) in [
            ("drop", self.drop),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(ReplayError::Config(format!(
                    "{name} probability {p} is outside 0..=1"
                )));
            }
        }
        Ok(())
    }
}

/// Where and how to replay.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Line A's group and port.
    pub a: SocketAddrV4,
    /// Line B's, if the feed is sent twice.
    pub b: Option<SocketAddrV4>,
    /// The interface to send on (e.g. `lo`).
    pub iface: String,
    /// The datagrams' source address (None: the interface's): one of the host's
    /// addresses, to send as a given source's channel.
    pub from: Option<std::net::Ipv4Addr>,
    /// Packets per second per line (None: as fast as the socket takes them).
    pub rate_pps: Option<u64>,
    pub faults_a: Faults,
    pub faults_b: Faults,
    /// Probability of losing a packet on both lines (a loss before the exchange splits
    /// its feed into A and B): what only a re-request can bring back. Drawn from its own
    /// stream, seeded from `faults_a.seed`; with one line, one more chance of dropping
    /// each of line A's packets.
    pub drop_both: f64,
}

/// What the replay did, per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineStats {
    pub sent: u64,
    /// Packets of the source this line did not send (its own drops and `drop_both`'s).
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
}

/// What the replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Packets read from the source.
    pub packets: u64,
    pub a: LineStats,
    pub b: LineStats,
    /// Packets that no line sent: `drop_both`'s, and those both lines dropped on their
    /// own. With one line, its drops.
    pub dropped_both: u64,
}

/// Replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("replay config: {0}")]
    Config(String),
    #[error(transparent)]
    Net(#[from] hotpath_hw::net::NetError),
    #[error("send to {to}: {source}")]
    Send {
        to: SocketAddrV4,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Source(SourceError),
}

struct LineTx {
    to: SocketAddrV4,
    faults: Faults,
    rng: Rng,
    held: Option<Vec<u8>>,
    stats: LineStats,
}

impl LineTx {
    fn send(&mut self, sock: &std::net::UdpSocket, p: &[u8]) -> Result<(), ReplayError> {
        // A full socket buffer on the sending side is back-pressure, not loss: retry.
        loop {
            match sock.send_to(p, self.to) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(source) => {
                    return Err(ReplayError::Send {
                        to: self.to,
                        source,
                    })
                }
            }
        }
        self.stats.sent += 1;
        Ok(())
    }

    /// Sends `p` with this line's faults; false if it was dropped.
    fn packet(&mut self, sock: &std::net::UdpSocket, p: &[u8]) -> Result<bool, ReplayError> {
        let f = self.faults;
        if f.drop > 0.0 && self.rng.chance(f.drop) {
            self.stats.dropped += 1;
            return Ok(false);
        }
        if self.held.is_none() && f.reorder > 0.0 && self.rng.chance(f.reorder) {
            // Send it after the next packet.
            self.held = Some(p.to_vec());
            self.stats.reordered += 1;
            return Ok(true);
        }
        self.send(sock, p)?;
        if let Some(h) = self.held.take() {
            self.send(sock, &h)?;
        }
        if f.duplicate > 0.0 && self.rng.chance(f.duplicate) {
            self.send(sock, p)?;
            self.stats.duplicated += 1;
        }
        Ok(true)
    }

    fn flush(&mut self, sock: &std::net::UdpSocket) -> Result<(), ReplayError> {
        if let Some(h) = self.held.take() {
            self.send(sock, &h)?;
        }
        Ok(())
    }
}

/// Sends every packet of `src` to line A (and B), with faults, until the source ends or
/// `stop` is set. `tap` sees each packet as read, before any fault.
pub fn replay(
    src: &mut dyn PacketSource,
    cfg: &ReplayConfig,
    mut tap: impl FnMut(&[u8]),
    stop: &AtomicBool,
) -> Result<ReplayStats, ReplayError> {
    cfg.faults_a.check()?;
    cfg.faults_b.check()?;
    Faults {
        drop: cfg.drop_both,
        ..Faults::default()
    }
    .check()
    .map_err(|e| ReplayError::Config(format!("both lines: {e}")))?;
    if cfg.rate_pps == Some(0) {
        return Err(ReplayError::Config("rate of 0 packets/s".into()));
    }
    let sock = tx_socket(cfg)?;
    let line = |to, faults: Faults, salt| LineTx {
        to,
        faults,
        rng: Rng::new(faults.seed ^ salt),
        held: None,
        stats: LineStats::default(),
    };
    let mut a = line(cfg.a, cfg.faults_a, 0xa);
    let mut b = cfg.b.map(|to| line(to, cfg.faults_b, 0xb));
    let mut both = Rng::new(cfg.faults_a.seed ^ 0xab);
    let mut stats = ReplayStats::default();
    let started = Instant::now();
    let mut failure: Option<ReplayError> = None;
    while !stop.load(Ordering::Relaxed) {
        let got = src.recv_burst(&mut |p, _meta| {
            if failure.is_some() {
                return;
            }
            stats.packets += 1;
            tap(p);
            if cfg.drop_both > 0.0 && both.chance(cfg.drop_both) {
                a.stats.dropped += 1;
                if let Some(b) = b.as_mut() {
                    b.stats.dropped += 1;
                }
                stats.dropped_both += 1;
                return;
            }
            let r = a.packet(&sock, p).and_then(|sent_a| {
                let sent_b = match b.as_mut() {
                    Some(b) => b.packet(&sock, p)?,
                    None => false,
                };
                Ok(sent_a || sent_b)
            });
            match r {
                Ok(true) => {}
                Ok(false) => stats.dropped_both += 1,
                Err(e) => failure = Some(e),
            }
        });
        if let Some(e) = failure.take() {
            return Err(e);
        }
        match got {
            Ok(0) => std::thread::yield_now(),
            Ok(_) => {}
            Err(SourceError::End) => break,
            Err(e) => return Err(ReplayError::Source(e)),
        }
        if let Some(pps) = cfg.rate_pps {
            let due = Duration::from_secs_f64(stats.packets as f64 / pps as f64);
            let elapsed = started.elapsed();
            if due > elapsed {
                std::thread::sleep(due - elapsed);
            }
        }
    }
    a.flush(&sock)?;
    stats.a = a.stats;
    if let Some(mut b) = b {
        b.flush(&sock)?;
        stats.b = b.stats;
    }
    Ok(stats)
}

/// The sending socket: out of `cfg.iface`, from `cfg.from` if given.
fn tx_socket(cfg: &ReplayConfig) -> Result<std::net::UdpSocket, ReplayError> {
    Ok(match cfg.from {
        Some(from) => hotpath_hw::net::mcast_tx_from(&cfg.iface, from)?,
        None => hotpath_hw::net::mcast_tx(&cfg.iface)?,
    })
}

/// How often [`repeat_end_of_session`] sends the end of session.
pub const END_REPEAT_INTERVAL: Duration = Duration::from_millis(250);

/// Whether `packet` is a MoldUDP64 end of session (message count 0xFFFF).
pub fn is_end_of_session(packet: &[u8]) -> bool {
    crate::moldudp64::Packet::new_checked(packet)
        .is_ok_and(|p| p.count() == crate::moldudp64::END_OF_SESSION_COUNT)
}

/// Sends the end-of-session packet `end` to line A (and B), without faults, every
/// [`END_REPEAT_INTERVAL`] until `until` or `stop`; returns how many times. MoldUDP64
/// servers send it "for a short while in place of heartbeats", the window in which
/// re-requests may still be made: a receiver that lost the first one (on both lines)
/// still learns where the session ends, and one that joins now learns what to ask for.
pub fn repeat_end_of_session(
    cfg: &ReplayConfig,
    end: &[u8],
    until: Instant,
    stop: &AtomicBool,
) -> Result<u64, ReplayError> {
    let sock = tx_socket(cfg)?;
    let mut sent = 0;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        for to in std::iter::once(cfg.a).chain(cfg.b) {
            sock.send_to(end, to)
                .map_err(|source| ReplayError::Send { to, source })?;
        }
        sent += 1;
        let next = Instant::now() + END_REPEAT_INTERVAL;
        while Instant::now() < next.min(until) && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(sent)
}

/// A request server for the replayer: its history is fed with the clean packets (from
/// the replay's tap), and a thread answers requests on `addr` until `stop` is set.
/// The history sits behind a mutex: this is the operator's tool path, not the hot path.
pub struct TapServer {
    pub responder: std::sync::Arc<std::sync::Mutex<crate::moldudp64::Responder>>,
    pub addr: std::net::SocketAddr,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl TapServer {
    /// Binds `addr` (port 0: any) and starts answering.
    pub fn start(
        addr: SocketAddrV4,
        config: crate::moldudp64::ServerConfig,
        stop: std::sync::Arc<AtomicBool>,
    ) -> Result<TapServer, ReplayError> {
        let responder = crate::moldudp64::Responder::new(config)
            .map_err(|e| ReplayError::Config(e.to_string()))?;
        let responder = std::sync::Arc::new(std::sync::Mutex::new(responder));
        let socket = std::net::UdpSocket::bind(addr)
            .map_err(|source| ReplayError::Send { to: addr, source })?;
        let local = socket
            .local_addr()
            .map_err(|source| ReplayError::Send { to: addr, source })?;
        socket
            .set_read_timeout(Some(Duration::from_millis(10)))
            .map_err(|source| ReplayError::Send { to: addr, source })?;
        let r = std::sync::Arc::clone(&responder);
        let epoch = Instant::now();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                let (len, from) = match socket.recv_from(&mut buf) {
                    Ok(x) => x,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock
                                | std::io::ErrorKind::TimedOut
                                | std::io::ErrorKind::Interrupted
                                | std::io::ErrorKind::ConnectionRefused
                        ) =>
                    {
                        continue
                    }
                    Err(e) => return Err(e),
                };
                let now_ns = epoch.elapsed().as_nanos() as u64;
                let mut responder = r.lock().unwrap_or_else(|p| p.into_inner());
                responder.handle_request(&buf[..len], from, now_ns, |p| {
                    socket.send_to(p, from).map(|_| ())
                });
            }
            Ok(())
        });
        Ok(TapServer {
            responder,
            addr: local,
            thread: Some(thread),
        })
    }

    /// Records a packet into the history (call it from the replay's tap).
    pub fn record(&self, packet: &[u8]) {
        let mut r = self.responder.lock().unwrap_or_else(|p| p.into_inner());
        let _ = r.record_packet(packet);
    }

    /// Waits for the serving thread (after `stop` was set).
    pub fn join(mut self) -> std::io::Result<()> {
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("request server thread panicked")),
            None => Ok(()),
        }
    }
}
