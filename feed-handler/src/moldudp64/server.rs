//! The MoldUDP64 request (re-transmission) server.
//!
//! [`Responder`] is the pure part: a pre-allocated history of recent messages by
//! sequence ([`Responder::push`], [`Responder::record_packet`]), per-requester token
//! buckets and the request handling ([`Responder::handle_request`], time injected, the
//! reply handed to a send callback). [`RequestServer`] wraps it around a
//! `std::net::UdpSocket` (and optionally a feed socket it records downstream packets
//! from) with a blocking [`RequestServer::serve_once`] and [`RequestServer::run_until`]
//! for a thread of its own.
//!
//! # Answering a request `(session, sequence, count)`
//!
//! - Another session: counted (`requests_other_session`), not answered.
//! - Malformed (not exactly 20 bytes, or `sequence + count` overflows): counted by
//!   reason, not answered. `count == 0`: counted (`requests_empty`), not answered.
//! - Otherwise the server sends the requested messages it holds, in order, as ordinary
//!   downstream packets to the requester's address: each packet at most
//!   `max_packet_len` bytes and holding consecutive sequences only (a sequence it does
//!   not hold ends a packet and is skipped), at most `max_packets_per_request` packets
//!   per request. Sequences it does not hold (older than its history, not seen yet, or
//!   never recorded) are counted in `messages_unavailable`; a request for which it holds
//!   nothing gets no answer (`requests_unavailable`).
//! - Rate limit: each requester address has a token bucket (`rate_limit`: packets per
//!   second and burst); each response packet takes a token, and a request is cut short
//!   when its requester's bucket is empty (`requests_rate_limited`). At most
//!   `max_requesters` buckets are kept (pre-allocated); a new requester then replaces
//!   the one idle longest (`requesters_evicted`).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::store::SlotStore;
use super::wire::{
    MoldError, MoldErrorKind, Packet, PacketBuilder, PacketKind, Request, SessionId,
    BLOCK_HEADER_LEN, HEADER_LEN,
};
use super::ConfigError;

/// A token bucket: `packets_per_sec` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub packets_per_sec: u32,
    pub burst: u32,
}

/// Request server configuration; [`ServerConfig::new`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The session served.
    pub session: SessionId,
    /// Messages of history kept; rounded up to a power of two. Default 65536.
    /// Range 1..=2^24.
    pub history_capacity: usize,
    /// Largest message kept, in bytes. Default 64. Must fit one packet:
    /// `max_message_len + 22 <= max_packet_len`.
    pub max_message_len: usize,
    /// Largest response packet (UDP payload), in bytes. Default 1472 (a 1500-byte MTU
    /// less IPv4 and UDP headers). Range 23..=65507.
    pub max_packet_len: usize,
    /// Most packets sent for one request. Default 16. Minimum 1.
    pub max_packets_per_request: usize,
    /// Per-requester rate limit; `None` disables it. Default 10 000 packets/s, burst
    /// 64.
    pub rate_limit: Option<RateLimit>,
    /// Requesters tracked by the rate limiter. Default 64. Range 1..=65536.
    pub max_requesters: usize,
}

impl ServerConfig {
    /// The defaults for `session`.
    pub fn new(session: SessionId) -> Self {
        ServerConfig {
            session,
            history_capacity: 65_536,
            max_message_len: 64,
            max_packet_len: 1472,
            max_packets_per_request: 16,
            rate_limit: Some(RateLimit {
                packets_per_sec: 10_000,
                burst: 64,
            }),
            max_requesters: 64,
        }
    }

    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range("history_capacity", self.history_capacity, 1, 1 << 24)?;
        ConfigError::check_range(
            "max_packet_len",
            self.max_packet_len,
            HEADER_LEN + 3,
            65_507,
        )?;
        ConfigError::check_range(
            "max_message_len",
            self.max_message_len,
            1,
            self.max_packet_len - HEADER_LEN - BLOCK_HEADER_LEN,
        )?;
        let bytes = self
            .history_capacity
            .next_power_of_two()
            .saturating_mul(self.max_message_len);
        ConfigError::check_range("history bytes", bytes, 1, super::session::MAX_BUFFER_BYTES)?;
        ConfigError::check_range(
            "max_packets_per_request",
            self.max_packets_per_request,
            1,
            usize::MAX,
        )?;
        ConfigError::check_range("max_requesters", self.max_requesters, 1, 65_536)?;
        if let Some(r) = self.rate_limit {
            ConfigError::check_range(
                "rate_limit.packets_per_sec",
                r.packets_per_sec as usize,
                1,
                u32::MAX as usize,
            )?;
            ConfigError::check_range("rate_limit.burst", r.burst as usize, 1, u32::MAX as usize)?;
        }
        Ok(())
    }
}

/// Why a message was not added to the history (also counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("sequence {sequence} is older than the history (oldest kept {oldest})")]
    TooOld { sequence: u64, oldest: u64 },
    #[error("message of {len} bytes is longer than max_message_len {max}")]
    TooLong { len: usize, max: usize },
    #[error("sequence {sequence} is not a valid message sequence number")]
    InvalidSequence { sequence: u64 },
}

/// What happened to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Answered with `packets` packets holding `messages` messages; `complete` is false
    /// if the packet limit or the rate limit cut the answer short.
    Served {
        packets: u32,
        messages: u32,
        complete: bool,
    },
    /// Nothing of the range is held; no answer.
    Unavailable,
    /// `count == 0`; no answer.
    Empty,
    /// Another session; no answer.
    OtherSession,
    /// The requester's token bucket is empty; no answer.
    RateLimited,
    /// Not a request packet; no answer.
    Malformed(MoldError),
}

/// Request server counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Request datagrams received.
    pub requests: u64,
    /// Requests answered with at least one packet.
    pub requests_served: u64,
    /// Malformed requests, by [`MoldErrorKind`] index.
    pub requests_malformed: [u64; MoldErrorKind::COUNT],
    pub requests_other_session: u64,
    pub requests_empty: u64,
    /// Requests for which nothing was held.
    pub requests_unavailable: u64,
    /// Requests refused or cut short by the rate limit.
    pub requests_rate_limited: u64,
    /// Requests cut short by `max_packets_per_request`.
    pub requests_truncated: u64,
    pub packets_sent: u64,
    pub messages_sent: u64,
    /// Requested sequences not held.
    pub messages_unavailable: u64,
    pub send_errors: u64,
    pub receive_errors: u64,
    /// Messages added to the history.
    pub history_stored: u64,
    pub history_too_old: u64,
    pub history_too_long: u64,
    /// Downstream packets recorded (data, heartbeat, end of session).
    pub feed_packets: u64,
    /// Malformed downstream packets, by [`MoldErrorKind`] index.
    pub feed_malformed: [u64; MoldErrorKind::COUNT],
    pub feed_other_session: u64,
    pub requesters_evicted: u64,
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    addr: SocketAddr,
    /// Tokens times 10^9 (so refill is integer: elapsed_ns * packets_per_sec).
    tokens_nano: u64,
    last_ns: u64,
}

impl Bucket {
    fn refill(&mut self, now_ns: u64, rate: RateLimit) {
        let elapsed = now_ns.saturating_sub(self.last_ns);
        let cap = u64::from(rate.burst) * NANOS_PER_SEC;
        self.tokens_nano = self
            .tokens_nano
            .saturating_add(elapsed.saturating_mul(u64::from(rate.packets_per_sec)))
            .min(cap);
        self.last_ns = self.last_ns.max(now_ns);
    }

    fn take(&mut self) -> bool {
        if self.tokens_nano >= NANOS_PER_SEC {
            self.tokens_nano -= NANOS_PER_SEC;
            true
        } else {
            false
        }
    }
}

/// The pure request-server logic: history, rate limiter, answers. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct Responder {
    config: ServerConfig,
    history: SlotStore,
    /// One past the highest sequence stored.
    high: u64,
    buckets: Vec<Bucket>,
    out: Box<[u8]>,
    stats: ServerStats,
}

impl Responder {
    /// Allocates the history, the requester table and the packet buffer.
    pub fn new(config: ServerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Responder {
            history: SlotStore::new(
                config.history_capacity.next_power_of_two(),
                config.max_message_len,
            ),
            high: 0,
            buckets: Vec::with_capacity(config.max_requesters),
            out: vec![0u8; config.max_packet_len].into_boxed_slice(),
            stats: ServerStats::default(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Oldest sequence the history can still hold.
    pub fn oldest(&self) -> u64 {
        self.high.saturating_sub(self.history.capacity() as u64)
    }

    /// One past the highest sequence stored (0 if none).
    pub fn high(&self) -> u64 {
        self.high
    }

    /// Whether the history holds `sequence`.
    pub fn has(&self, sequence: u64) -> bool {
        sequence >= self.oldest() && sequence < self.high && self.history.contains(sequence)
    }

    /// Adds one message to the history (replacing what it held for that sequence).
    pub fn push(&mut self, sequence: u64, message: &[u8]) -> Result<(), HistoryError> {
        if sequence == super::store::EMPTY {
            return Err(HistoryError::InvalidSequence { sequence });
        }
        if message.len() > self.config.max_message_len {
            self.stats.history_too_long += 1;
            return Err(HistoryError::TooLong {
                len: message.len(),
                max: self.config.max_message_len,
            });
        }
        let oldest = self.oldest();
        if sequence < oldest {
            self.stats.history_too_old += 1;
            return Err(HistoryError::TooOld { sequence, oldest });
        }
        if self.history.insert(sequence, message).is_err() {
            // Unreachable: the length and sequence were checked above.
            self.stats.history_too_long += 1;
            return Err(HistoryError::TooLong {
                len: message.len(),
                max: self.config.max_message_len,
            });
        }
        if sequence >= self.high {
            self.high = sequence + 1;
        }
        self.stats.history_stored += 1;
        Ok(())
    }

    /// Adds the messages of a downstream packet of our session to the history; returns
    /// how many were stored. Packets of other sessions are counted and ignored
    /// (`Ok(0)`); messages that cannot be stored are counted.
    pub fn record_packet(&mut self, bytes: &[u8]) -> Result<usize, MoldError> {
        let packet = match Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.stats.feed_malformed[e.kind().index()] += 1;
                return Err(e);
            }
        };
        if packet.session() != &self.config.session {
            self.stats.feed_other_session += 1;
            return Ok(0);
        }
        self.stats.feed_packets += 1;
        if packet.kind() != PacketKind::Data {
            return Ok(0);
        }
        let mut stored = 0;
        for (sequence, message) in packet.sequenced() {
            if self.push(sequence, message).is_ok() {
                stored += 1;
            }
        }
        Ok(stored)
    }

    /// Index of `from`'s bucket, refilled to `now_ns` (adds or evicts one if needed).
    fn bucket(&mut self, from: SocketAddr, now_ns: u64, rate: RateLimit) -> usize {
        let index = match self.buckets.iter().position(|b| b.addr == from) {
            Some(i) => i,
            None => {
                let fresh = Bucket {
                    addr: from,
                    tokens_nano: u64::from(rate.burst) * NANOS_PER_SEC,
                    last_ns: now_ns,
                };
                if self.buckets.len() < self.config.max_requesters {
                    // Within the capacity reserved in `new`: no allocation.
                    self.buckets.push(fresh);
                    self.buckets.len() - 1
                } else {
                    let mut oldest = 0;
                    for (i, b) in self.buckets.iter().enumerate() {
                        if b.last_ns < self.buckets[oldest].last_ns {
                            oldest = i;
                        }
                    }
                    self.buckets[oldest] = fresh;
                    self.stats.requesters_evicted += 1;
                    oldest
                }
            }
        };
        self.buckets[index].refill(now_ns, rate);
        index
    }

    /// Handles one request datagram from `from` at `now_ns`, handing each response
    /// packet to `send` (which sends it to `from`). See the
    /// [module documentation](self) for the rules.
    pub fn handle_request<F>(
        &mut self,
        bytes: &[u8],
        from: SocketAddr,
        now_ns: u64,
        mut send: F,
    ) -> RequestOutcome
    where
        F: FnMut(&[u8]) -> io::Result<()>,
    {
        self.stats.requests += 1;
        let request = match Request::new_checked(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.stats.requests_malformed[e.kind().index()] += 1;
                return RequestOutcome::Malformed(e);
            }
        };
        if request.session() != &self.config.session {
            self.stats.requests_other_session += 1;
            return RequestOutcome::OtherSession;
        }
        let count = request.count();
        if count == 0 {
            self.stats.requests_empty += 1;
            return RequestOutcome::Empty;
        }
        let first = request.sequence();
        let end = first + u64::from(count); // checked by Request::new_checked
        let lo = first.max(self.oldest());
        let hi = end.min(self.high);
        if lo >= hi {
            self.stats.messages_unavailable += u64::from(count);
            self.stats.requests_unavailable += 1;
            return RequestOutcome::Unavailable;
        }
        self.stats.messages_unavailable += (lo - first) + (end - hi);
        let bucket = self
            .config
            .rate_limit
            .map(|r| (self.bucket(from, now_ns, r), r));

        let Responder {
            config,
            history,
            buckets,
            out,
            stats,
            ..
        } = self;
        let mut sequence = lo;
        let mut packets = 0u32;
        let mut messages = 0u32;
        let mut truncated = false;
        let mut limited = false;
        while sequence < hi {
            if !history.contains(sequence) {
                stats.messages_unavailable += 1;
                sequence += 1;
                continue;
            }
            if packets as usize >= config.max_packets_per_request {
                truncated = true;
                break;
            }
            if let Some((i, _)) = bucket {
                if !buckets[i].take() {
                    limited = true;
                    break;
                }
            }
            let Ok(mut builder) = PacketBuilder::new(out, &config.session, sequence) else {
                break; // unreachable: `out` is max_packet_len >= 23 bytes
            };
            while sequence < hi {
                let Some(message) = history.get(sequence) else {
                    break;
                };
                if builder.push(message).is_err() {
                    break;
                }
                sequence += 1;
            }
            if builder.is_empty() {
                // Unreachable: validate() makes every stored message fit one packet.
                stats.messages_unavailable += 1;
                sequence += 1;
                continue;
            }
            let n = u32::from(builder.count());
            packets += 1;
            match send(builder.finish()) {
                Ok(()) => {
                    messages += n;
                    stats.packets_sent += 1;
                    stats.messages_sent += u64::from(n);
                }
                Err(_) => stats.send_errors += 1,
            }
        }
        if truncated {
            stats.requests_truncated += 1;
        }
        if limited {
            stats.requests_rate_limited += 1;
        }
        if packets == 0 {
            if limited {
                return RequestOutcome::RateLimited;
            }
            stats.requests_unavailable += 1;
            return RequestOutcome::Unavailable;
        }
        stats.requests_served += 1;
        RequestOutcome::Served {
            packets,
            messages,
            complete: !truncated && !limited,
        }
    }
}

/// Error starting a [`RequestServer`].
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("request server socket: {0}")]
    Io(#[from] io::Error),
}

/// Most feed datagrams recorded per [`RequestServer::serve_once`].
pub const FEED_BATCH: usize = 1024;

/// A request server on a UDP socket (see the [module documentation](self)). Move it
/// into a thread and call [`RequestServer::run_until`].
#[derive(Debug)]
pub struct RequestServer {
    socket: UdpSocket,
    feed: Option<UdpSocket>,
    responder: Responder,
    /// Receives requests.
    buf: Box<[u8]>,
    /// Receives feed packets (separate: the feed is drained while a request is held).
    feed_buf: Box<[u8]>,
    epoch: Instant,
    read_timeout: Option<Duration>,
}

impl RequestServer {
    /// Binds the request socket (e.g. `"127.0.0.1:0"`) and allocates everything.
    pub fn bind<A: ToSocketAddrs>(addr: A, config: ServerConfig) -> Result<Self, ServerError> {
        let responder = Responder::new(config)?;
        let socket = UdpSocket::bind(addr)?;
        Ok(Self::with_responder(socket, responder))
    }

    /// Serves on an existing socket.
    pub fn with_responder(socket: UdpSocket, responder: Responder) -> Self {
        RequestServer {
            socket,
            feed: None,
            responder,
            buf: vec![0u8; 65_536].into_boxed_slice(),
            feed_buf: Vec::new().into_boxed_slice(),
            epoch: Instant::now(),
            read_timeout: None,
        }
    }

    /// Also records the downstream packets arriving on `feed` (e.g. a multicast
    /// socket) into the history, at most [`FEED_BATCH`] per `serve_once`.
    pub fn with_feed(mut self, feed: UdpSocket) -> io::Result<Self> {
        feed.set_nonblocking(true)?;
        self.feed = Some(feed);
        self.feed_buf = vec![0u8; 65_536].into_boxed_slice();
        Ok(self)
    }

    /// Address of the request socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The logic and history.
    pub fn responder(&self) -> &Responder {
        &self.responder
    }

    /// The logic and history, to push messages.
    pub fn responder_mut(&mut self) -> &mut Responder {
        &mut self.responder
    }

    /// The counters.
    pub fn stats(&self) -> &ServerStats {
        self.responder.stats()
    }

    /// Records up to `max` pending feed datagrams without blocking; returns how many.
    pub fn poll_feed(&mut self, max: usize) -> io::Result<usize> {
        let Some(feed) = &self.feed else {
            return Ok(0);
        };
        let mut n = 0;
        while n < max {
            match feed.recv(&mut self.feed_buf) {
                Ok(len) => {
                    // Malformed or other-session packets are counted by the responder.
                    let _ = self.responder.record_packet(&self.feed_buf[..len]);
                    n += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Records pending feed datagrams, waits up to `timeout` for one request, records
    /// the feed datagrams that arrived meanwhile, and answers the request. `Ok(None)`:
    /// no request arrived in time.
    pub fn serve_once(&mut self, timeout: Duration) -> io::Result<Option<RequestOutcome>> {
        self.poll_feed(FEED_BATCH)?;
        let timeout = timeout.max(Duration::from_micros(1));
        if self.read_timeout != Some(timeout) {
            self.socket.set_read_timeout(Some(timeout))?;
            self.read_timeout = Some(timeout);
        }
        let (len, from) = match self.socket.recv_from(&mut self.buf) {
            Ok(r) => r,
            Err(e) => {
                return match e.kind() {
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => Ok(None),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => {
                        self.responder.stats.receive_errors += 1;
                        Ok(None)
                    }
                    _ => Err(e),
                }
            }
        };
        // Feed packets that arrived while waiting go into the history before answering.
        self.poll_feed(FEED_BATCH)?;
        let now_ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let socket = &self.socket;
        let outcome = self
            .responder
            .handle_request(&self.buf[..len], from, now_ns, |packet| {
                socket.send_to(packet, from).map(|_| ())
            });
        Ok(Some(outcome))
    }

    /// Serves until `stop` is set, checking it at least every `poll`.
    pub fn run_until(&mut self, stop: &AtomicBool, poll: Duration) -> io::Result<()> {
        while !stop.load(Ordering::Acquire) {
            self.serve_once(poll)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moldudp64::wire::write_request;

    const S: SessionId = *b"SRVTEST001";

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn request(seq: u64, count: u16) -> [u8; 20] {
        let mut b = [0u8; 20];
        write_request(&mut b, &S, seq, count).unwrap();
        b
    }

    #[test]
    fn token_bucket_limits_each_requester() {
        let mut config = ServerConfig::new(S);
        config.rate_limit = Some(RateLimit {
            packets_per_sec: 1000, // one token per ms
            burst: 2,
        });
        config.max_requesters = 1;
        let mut r = Responder::new(config).unwrap();
        r.push(1, b"one").unwrap();
        let mut sent = 0;
        let mut send = |_: &[u8]| {
            sent += 1;
            Ok(())
        };
        let served = RequestOutcome::Served {
            packets: 1,
            messages: 1,
            complete: true,
        };
        assert_eq!(
            r.handle_request(&request(1, 1), addr(1), 0, &mut send),
            served
        );
        assert_eq!(
            r.handle_request(&request(1, 1), addr(1), 0, &mut send),
            served
        );
        assert_eq!(
            r.handle_request(&request(1, 1), addr(1), 0, &mut send),
            RequestOutcome::RateLimited
        );
        // Half a millisecond later: still no whole token.
        assert_eq!(
            r.handle_request(&request(1, 1), addr(1), 500_000, &mut send),
            RequestOutcome::RateLimited
        );
        assert_eq!(
            r.handle_request(&request(1, 1), addr(1), 1_000_000, &mut send),
            served
        );
        // A new requester evicts the only tracked one and starts with a full bucket.
        assert_eq!(
            r.handle_request(&request(1, 1), addr(2), 1_000_000, &mut send),
            served
        );
        assert_eq!(sent, 4);
        assert_eq!(r.stats().requests_rate_limited, 2);
        assert_eq!(r.stats().requesters_evicted, 1);
    }

    #[test]
    fn history_window_and_holes() {
        let mut config = ServerConfig::new(S);
        config.history_capacity = 4;
        config.rate_limit = None;
        let mut r = Responder::new(config).unwrap();
        for s in 1..=6u64 {
            r.push(s, &[s as u8]).unwrap();
        }
        assert_eq!((r.oldest(), r.high()), (3, 7));
        assert_eq!(
            r.push(2, b"x"),
            Err(HistoryError::TooOld {
                sequence: 2,
                oldest: 3
            })
        );
        assert!(!r.has(1) && !r.has(2) && r.has(3) && r.has(6) && !r.has(7));
        let mut got = Vec::new();
        let outcome = r.handle_request(&request(1, 10), addr(9), 0, |p: &[u8]| {
            let p = Packet::new_checked(p).unwrap();
            got.extend(p.sequenced().map(|(s, m)| (s, m.to_vec())));
            Ok(())
        });
        assert_eq!(
            outcome,
            RequestOutcome::Served {
                packets: 1,
                messages: 4,
                complete: true
            }
        );
        assert_eq!(
            got,
            (3..=6u64).map(|s| (s, vec![s as u8])).collect::<Vec<_>>()
        );
        // 1, 2 too old; 7..=10 not seen yet.
        assert_eq!(r.stats().messages_unavailable, 6);
        assert_eq!(
            r.push(7, &[0u8; 65]),
            Err(HistoryError::TooLong { len: 65, max: 64 })
        );
        assert_eq!(
            r.push(u64::MAX, b""),
            Err(HistoryError::InvalidSequence { sequence: u64::MAX })
        );
    }

    #[test]
    fn config_ranges_are_checked() {
        let mut c = ServerConfig::new(S);
        c.max_message_len = 1472 - 21;
        assert!(c.validate().is_err());
        c.max_message_len = 1472 - 22;
        assert!(c.validate().is_ok());
        c.max_packets_per_request = 0;
        assert!(c.validate().is_err());
    }
}
