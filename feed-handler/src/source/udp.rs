//! Live UDP multicast with `recvmmsg` (via hotpath-hw), lines A and B. A line with a
//! source is joined as a source-specific channel (S,G): the kernel reports it with
//! IGMPv3 and drops what other hosts send to the group. Lines of one port share one
//! socket by default ([`Sockets`]): one `recvmmsg` a poll takes both, in the order the
//! kernel received them, and each datagram's line is where (and from whom) it came.

use std::net::SocketAddrV4;

use hotpath_hw::net::{Channel, McastRx, RxInfo};

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
                what: format!("udp {} on {iface}", joined(channels)),
                source: std::io::Error::other(e.to_string()),
            })
        };
        let one = match (b, sockets) {
            (None, _) | (Some(_), Sockets::PerLine) => false,
            // Not a group taken from any source and as a channel too: one socket
            // cannot join both (the feed's options refuse such lines anyway).
            (Some(b), Sockets::Auto) => {
                b.0.port() == a.0.port()
                    && !(b.0.ip() == a.0.ip() && (a.1.is_none() || b.1.is_none()))
            }
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
        let mut udp = UdpSource {
            iface: iface.into(),
            a: rx_a,
            b: rx_b,
            shared,
            stats: SourceStats::default(),
        };
        if udp.shared.is_some() {
            // A socket of both lines holds each line's default backlog.
            udp.set_receive_buffer(hotpath_hw::net::DEFAULT_RCVBUF)?;
        }
        Ok(udp)
    }

    /// Whether both lines are read from one socket.
    pub fn one_socket(&self) -> bool {
        self.shared.is_some()
    }

    fn sockets(&self) -> impl Iterator<Item = &McastRx> {
        std::iter::once(&self.a).chain(self.b.as_ref())
    }

    /// Asks for `bytes` of receive buffer for each line instead of
    /// [`hotpath_hw::net::DEFAULT_RCVBUF`] (a socket both lines share asks for twice
    /// that, so that sharing one does not halve a line's backlog); returns the smallest
    /// share of a line the kernel granted ([`Self::receive_buffer`]).
    pub fn set_receive_buffer(&mut self, bytes: usize) -> Result<usize, SourceError> {
        for rx in std::iter::once(&mut self.a).chain(self.b.as_mut()) {
            let lines = rx.channels().len();
            rx.set_receive_buffer(bytes.saturating_mul(lines))
                .map_err(|e| SourceError::Io {
                    what: format!("receive buffer of {}", joined(rx.channels())),
                    source: std::io::Error::other(e.to_string()),
                })?;
        }
        Ok(self.receive_buffer())
    }

    /// The smallest receive buffer the kernel granted a line, in bytes: a socket's
    /// buffer, or half of the one both lines share.
    pub fn receive_buffer(&self) -> usize {
        self.sockets()
            .filter_map(|rx| Some(rx.receive_buffer().ok()? / rx.channels().len()))
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

/// Channels as [`channel`] names them, joined with ` + `.
fn joined(channels: &[Channel]) -> String {
    channels.iter().map(channel).collect::<Vec<_>>().join(" + ")
}

/// Which line a socket's datagrams are on.
#[derive(Clone, Copy)]
enum Route {
    /// All on this one.
    Line(Line),
    /// Either: by destination (on this port) and sender.
    Lines(Lines, u16),
}

/// Both clocks once a poll (vDSO reads, no system call), at its first datagram: the
/// kernel stamps in CLOCK_REALTIME, the feed's times are CLOCK_MONOTONIC.
#[derive(Default)]
struct Clocks {
    mono: u64,
    real: u64,
}

impl Clocks {
    fn now(&mut self) -> (u64, u64) {
        if self.mono == 0 {
            self.mono = hotpath_shm::clock::monotonic_ns();
            self.real = hotpath_hw::clock::realtime_ns();
        }
        (self.mono, self.real)
    }
}

/// Counts one datagram and hands it to `sink` on its line (or counts why it is not
/// ours).
fn deliver(
    payload: &[u8],
    info: RxInfo,
    route: Route,
    clocks: &mut Clocks,
    stats: &mut SourceStats,
    sink: &mut dyn FnMut(&[u8], RxMeta),
) {
    let (mono, real) = clocks.now();
    if info.truncated {
        stats.truncated += 1;
        return;
    }
    let line = match route {
        Route::Line(line) => line,
        Route::Lines(lines, port) => {
            match lines.classify(*info.from.ip(), SocketAddrV4::new(info.to, port)) {
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
}

fn fill(rx: &mut McastRx) -> Result<(), SourceError> {
    if rx.pending() == 0 {
        rx.fill().map_err(|source| SourceError::Io {
            what: format!("recvmmsg on {}", rx.group()),
            source,
        })?;
    }
    Ok(())
}

/// Whether line A's next datagram goes before line B's: the one the kernel received
/// first. When one socket has nothing left of its last fill, the other's go on only
/// if that fill was short (its queue was empty then); after a whole burst more may be
/// waiting there, received earlier, so the rest waits for the next poll. Without
/// kernel stamps, in turn: all of A, then all of B.
fn a_first(a: &McastRx, b: &McastRx) -> Option<bool> {
    match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if x.kernel_ns != 0 && y.kernel_ns != 0 => {
            Some(x.kernel_ns <= y.kernel_ns)
        }
        (Some(_), Some(_)) => Some(true),
        (Some(x), None) => (x.kernel_ns == 0 || !b.filled_a_burst()).then_some(true),
        (None, Some(y)) => (y.kernel_ns == 0 || !a.filled_a_burst()).then_some(false),
        (None, None) => None,
    }
}

impl PacketSource for UdpSource {
    /// One socket: a `recvmmsg`, every datagram in the order it came. A socket a line:
    /// a `recvmmsg` on each whose last burst was all taken, then both bursts merged
    /// by the kernel's receive stamps, so lines are read in the order they arrived
    /// there too.
    fn recv_burst(&mut self, sink: &mut dyn FnMut(&[u8], RxMeta)) -> Result<usize, SourceError> {
        let mut clocks = Clocks::default();
        let stats = &mut self.stats;
        let Some(b) = &mut self.b else {
            let route = match self.shared {
                Some(lines) => Route::Lines(lines, self.a.group().port()),
                None => Route::Line(Line::A),
            };
            fill(&mut self.a)?;
            let mut n = 0;
            while let Some((p, info)) = self.a.take() {
                deliver(p, info, route, &mut clocks, stats, sink);
                n += 1;
            }
            return Ok(n);
        };
        fill(&mut self.a)?;
        fill(b)?;
        let mut n = 0;
        while let Some(from_a) = a_first(&self.a, b) {
            let (rx, line) = if from_a {
                (&mut self.a, Line::A)
            } else {
                (&mut *b, Line::B)
            };
            if let Some((p, info)) = rx.take() {
                deliver(p, info, Route::Line(line), &mut clocks, stats, sink);
                n += 1;
            }
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
        let lines = joined(
            &self
                .sockets()
                .flat_map(McastRx::channels)
                .copied()
                .collect::<Vec<_>>(),
        );
        let how = match (&self.b, self.shared) {
            (None, Some(_)) => format!(
                "one socket for both lines, recvmmsg, {} KiB socket buffer, {kib} KiB a line",
                kib * 2
            ),
            (Some(_), _) => format!("a socket a line, recvmmsg, {kib} KiB socket buffers"),
            (None, None) => format!("recvmmsg, {kib} KiB socket buffer"),
        };
        format!("udp {lines} on {} ({how})", self.iface)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::{Sockets, UdpSource};
    use crate::source::PacketSource;

    #[test]
    fn lines_share_a_socket_only_where_one_socket_can_join_both() {
        let port = 46_000 + (std::process::id() % 10_000) as u16;
        let g = |x| SocketAddrV4::new(Ipv4Addr::new(239, 203, 1, x), port);
        let (s1, s2) = (
            Some(Ipv4Addr::new(127, 0, 0, 2)),
            Some(Ipv4Addr::new(127, 0, 0, 3)),
        );
        let one = |a, b, sockets| {
            UdpSource::open_lines(a, Some(b), "lo", sockets)
                .unwrap()
                .one_socket()
        };
        assert!(one((g(1), None), (g(2), None), Sockets::Auto));
        let other_port = SocketAddrV4::new(*g(2).ip(), port + 1);
        assert!(!one((g(1), None), (other_port, None), Sockets::Auto));
        assert!(!one((g(1), None), (g(2), None), Sockets::PerLine));
        // Two channels of one group: one socket, told apart by their senders.
        assert!(one((g(3), s1), (g(3), s2), Sockets::Auto));
        // A group from any source and as a channel cannot be joined on one socket.
        assert!(!one((g(4), None), (g(4), s1), Sockets::Auto));
        let err = UdpSource::open_lines((g(5), None), Some((g(5), s1)), "lo", Sockets::One)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is joined twice on one socket"), "{err}");
    }

    #[test]
    fn a_socket_both_lines_share_holds_each_lines_backlog() {
        let port = 36_000 + (std::process::id() % 10_000) as u16;
        let g = |x| (SocketAddrV4::new(Ipv4Addr::new(239, 203, 2, x), port), None);
        // Under the default net.core.rmem_max (208 KiB), so no privilege is needed.
        let line = 64 << 10;
        let mut one = UdpSource::open_lines(g(1), Some(g(2)), "lo", Sockets::Auto).unwrap();
        assert!(one.one_socket());
        assert_eq!(one.set_receive_buffer(line).unwrap(), line);
        assert_eq!(one.a.receive_buffer().unwrap(), 2 * line);
        assert!(
            one.describe().contains(
                "(one socket for both lines, recvmmsg, 128 KiB socket buffer, 64 KiB a line)"
            ),
            "{}",
            one.describe()
        );
        let mut two = UdpSource::open_lines(g(3), Some(g(4)), "lo", Sockets::PerLine).unwrap();
        assert_eq!(two.set_receive_buffer(line).unwrap(), line);
        for rx in two.sockets() {
            assert_eq!(rx.receive_buffer().unwrap(), line);
        }
        // Opened, the shared socket asks for the default backlog of each line.
        let asked = 2 * hotpath_hw::net::DEFAULT_RCVBUF;
        let shared = UdpSource::open_lines(g(5), Some(g(6)), "lo", Sockets::One).unwrap();
        let granted = shared.a.receive_buffer().unwrap();
        assert!(
            granted == asked || granted < hotpath_hw::net::DEFAULT_RCVBUF,
            "granted {granted} of {asked} without a cap from rmem_max"
        );
    }
}
