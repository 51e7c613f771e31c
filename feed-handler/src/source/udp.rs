//! Live UDP multicast with `recvmmsg` (via hotpath-hw), lines A and B. A line with a
//! source is joined as a source-specific channel (S,G): the kernel reports it with
//! IGMPv3 and drops what other hosts send to the group. Lines of one port share one
//! socket by default ([`Sockets`]): one `recvmmsg` a poll takes both, in the order the
//! kernel received them, and each datagram's line is where (and from whom) it came.

use std::net::SocketAddrV4;

use hotpath_hw::net::{Channel, McastRx};

use super::{Lines, PacketSource, RxMeta, SourceError, SourceStats};
use crate::moldudp64::Line;

/// Datagrams per `recvmmsg`.
pub const BURST: usize = 64;

/// How lines A and B take sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sockets {
    /// One socket for both lines when they share a port, else one each.
    #[default]
    Auto,
    /// One socket for both lines, which must share a port: one system call a poll, and
    /// the copies of a packet read in the order they arrived.
    One,
    /// A socket for each line: a queue of its own for each, two system calls a poll.
    PerLine,
}

/// Multicast groups joined on an interface; line B is optional.
#[derive(Debug)]
pub struct UdpSource {
    iface: String,
    /// Line A's socket; with [`Sockets::One`] line B's too.
    a: McastRx,
    /// Line B's socket of its own.
    b: Option<McastRx>,
    /// Both lines on `a`: which line a datagram is on, from its destination and sender.
    shared: Option<Lines>,
    stats: SourceStats,
}

impl UdpSource {
    /// Joins `a` (and `b`) on `iface`, from any source.
    pub fn open(
        a: SocketAddrV4,
        b: Option<SocketAddrV4>,
        iface: &str,
    ) -> Result<UdpSource, SourceError> {
        UdpSource::open_channels((a, None), b.map(|b| (b, None)), iface)
    }

    /// Joins line A (and B) on `iface`, each a group and, for a source-specific
    /// channel, its only source; lines of one port share a socket.
    pub fn open_channels(
        a: Channel,
        b: Option<Channel>,
        iface: &str,
    ) -> Result<UdpSource, SourceError> {
        UdpSource::open_lines(a, b, iface, Sockets::Auto)
    }

    /// [`Self::open_channels`], with the lines' sockets as `sockets` says.
    pub fn open_lines(
        a: Channel,
        b: Option<Channel>,
        iface: &str,
        sockets: Sockets,
    ) -> Result<UdpSource, SourceError> {
        let open = |channels: &[Channel]| {
            McastRx::open_channels(channels, iface, BURST).map_err(|e| SourceError::Io {
                what: format!(
                    "udp {} on {iface}",
                    channels.iter().map(channel).collect::<Vec<_>>().join(" + ")
                ),
                source: std::io::Error::other(e.to_string()),
            })
        };
        let one = match (b, sockets) {
            (None, _) | (Some(_), Sockets::PerLine) => false,
            (Some(b), Sockets::Auto) => b.0.port() == a.0.port(),
            (Some(_), Sockets::One) => true,
        };
        let (rx_a, rx_b, shared) = match b {
            Some(b) if one => (
                open(&[a, b])?,
                None,
                Some(Lines {
                    a: Some(a.0),
                    b: Some(b.0),
                    a_source: a.1,
                    b_source: b.1,
                }),
            ),
            _ => (open(&[a])?, b.map(|b| open(&[b])).transpose()?, None),
        };
        Ok(UdpSource {
            iface: iface.into(),
            a: rx_a,
            b: rx_b,
            shared,
            stats: SourceStats::default(),
        })
    }

    /// Whether both lines are read from one socket.
    pub fn one_socket(&self) -> bool {
        self.shared.is_some()
    }

    fn sockets(&self) -> impl Iterator<Item = &McastRx> {
        std::iter::once(&self.a).chain(self.b.as_ref())
    }

    /// Asks for a receive buffer of `bytes` on each socket instead of
    /// [`hotpath_hw::net::DEFAULT_RCVBUF`]; returns the smallest the kernel granted.
    pub fn set_receive_buffer(&mut self, bytes: usize) -> Result<usize, SourceError> {
        let mut granted = usize::MAX;
        for rx in std::iter::once(&mut self.a).chain(self.b.as_mut()) {
            let g = rx.set_receive_buffer(bytes).map_err(|e| SourceError::Io {
                what: format!(
                    "receive buffer of {}",
                    rx.channels()
                        .iter()
                        .map(channel)
                        .collect::<Vec<_>>()
                        .join(" + ")
                ),
                source: std::io::Error::other(e.to_string()),
            })?;
            granted = granted.min(g);
        }
        Ok(granted)
    }

    /// The smallest receive buffer the kernel granted a socket, in bytes.
    pub fn receive_buffer(&self) -> usize {
        self.sockets()
            .filter_map(|rx| rx.receive_buffer().ok())
            .min()
            .unwrap_or(0)
    }
}

/// `group`, or `(source, group)` for a channel.
fn channel(&(group, source): &Channel) -> String {
    match source {
        Some(s) => format!("({s}, {group})"),
        None => group.to_string(),
    }
}

/// Which line a socket's datagrams are on.
#[derive(Clone, Copy)]
enum Route {
    /// All on this one.
    Line(Line),
    /// Either: by destination and sender.
    Lines(Lines),
}

fn drain(
    rx: &mut McastRx,
    route: Route,
    stats: &mut SourceStats,
    sink: &mut dyn FnMut(&[u8], RxMeta),
) -> Result<usize, SourceError> {
    let group = rx.group();
    // Both clocks once a burst (vDSO reads, no system call): the kernel stamps in
    // CLOCK_REALTIME, the feed's times are CLOCK_MONOTONIC.
    let (mut mono, mut real) = (0, 0);
    rx.recv_burst(|payload, info| {
        if mono == 0 {
            mono = hotpath_shm::clock::monotonic_ns();
            real = hotpath_hw::clock::realtime_ns();
        }
        if info.truncated {
            stats.truncated += 1;
            return;
        }
        let line = match route {
            Route::Line(line) => line,
            Route::Lines(lines) => {
                let to = SocketAddrV4::new(info.to, group.port());
                match lines.classify(*info.from.ip(), to) {
                    Ok(line) => line,
                    Err(why) => {
                        stats.not_ours(why);
                        return;
                    }
                }
            }
        };
        // A stamp ahead of the clock read after it (the clock stepped back) waited 0.
        let waited = if info.kernel_ns == 0 {
            0
        } else {
            let w = real.saturating_sub(info.kernel_ns);
            stats.rx_wait.record(w);
            w
        };
        stats.packets += 1;
        stats.bytes += payload.len() as u64;
        sink(
            payload,
            RxMeta {
                ts_ns: mono.saturating_sub(waited),
                read_ns: mono,
                capture_ts_ns: 0,
                line,
            },
        );
    })
    .map_err(|source| SourceError::Io {
        what: format!("recvmmsg on {group}"),
        source,
    })
}

impl PacketSource for UdpSource {
    fn recv_burst(&mut self, sink: &mut dyn FnMut(&[u8], RxMeta)) -> Result<usize, SourceError> {
        let route = self.shared.map_or(Route::Line(Line::A), Route::Lines);
        let mut n = drain(&mut self.a, route, &mut self.stats, sink)?;
        if let Some(b) = &mut self.b {
            n += drain(b, Route::Line(Line::B), &mut self.stats, sink)?;
        }
        Ok(n)
    }

    fn stats(&self) -> SourceStats {
        let mut s = self.stats.clone();
        s.socket_drops = self.sockets().map(McastRx::kernel_drops).sum();
        s
    }

    fn describe(&self) -> String {
        let kib = self.receive_buffer() >> 10;
        let lines = self
            .a
            .channels()
            .iter()
            .chain(self.b.iter().flat_map(|b| b.channels()))
            .map(channel)
            .collect::<Vec<_>>()
            .join(" + ");
        let how = match (&self.b, self.shared) {
            (None, Some(_)) => {
                format!("one socket for both lines, recvmmsg, {kib} KiB socket buffer")
            }
            (Some(_), _) => format!("a socket a line, recvmmsg, {kib} KiB socket buffers"),
            (None, None) => format!("recvmmsg, {kib} KiB socket buffer"),
        };
        format!("udp {lines} on {} ({how})", self.iface)
    }
}
