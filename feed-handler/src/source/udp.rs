//! Live UDP multicast with `recvmmsg` (via hotpath-hw), lines A and B. A line with a
//! source is joined as a source-specific channel (S,G): the kernel reports it with
//! IGMPv3 and drops what other hosts send to the group.

use std::net::{Ipv4Addr, SocketAddrV4};

use hotpath_hw::net::McastRx;

use super::{PacketSource, RxMeta, SourceError, SourceStats};
use crate::moldudp64::Line;

/// Datagrams per `recvmmsg`.
pub const BURST: usize = 64;

/// Multicast groups joined on an interface; line B is optional.
#[derive(Debug)]
pub struct UdpSource {
    iface: String,
    a: McastRx,
    b: Option<McastRx>,
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
    /// channel, its only source.
    pub fn open_channels(
        a: (SocketAddrV4, Option<Ipv4Addr>),
        b: Option<(SocketAddrV4, Option<Ipv4Addr>)>,
        iface: &str,
    ) -> Result<UdpSource, SourceError> {
        let open = |(g, s): (SocketAddrV4, Option<Ipv4Addr>)| {
            McastRx::open_channel(g, s, iface, BURST).map_err(|e| SourceError::Io {
                what: match s {
                    Some(s) => format!("udp://{g}?iface={iface} from {s}"),
                    None => format!("udp://{g}?iface={iface}"),
                },
                source: std::io::Error::other(e.to_string()),
            })
        };
        Ok(UdpSource {
            iface: iface.into(),
            a: open(a)?,
            b: b.map(open).transpose()?,
            stats: SourceStats::default(),
        })
    }

    /// Asks for a receive buffer of `bytes` on each line's socket instead of
    /// [`hotpath_hw::net::DEFAULT_RCVBUF`]; returns the smallest the kernel granted.
    pub fn set_receive_buffer(&mut self, bytes: usize) -> Result<usize, SourceError> {
        let mut granted = usize::MAX;
        for rx in std::iter::once(&mut self.a).chain(self.b.as_mut()) {
            let g = rx.set_receive_buffer(bytes).map_err(|e| SourceError::Io {
                what: format!("receive buffer of {}", channel(rx)),
                source: std::io::Error::other(e.to_string()),
            })?;
            granted = granted.min(g);
        }
        Ok(granted)
    }

    /// The smallest receive buffer the kernel granted a line's socket, in bytes.
    pub fn receive_buffer(&self) -> usize {
        std::iter::once(&self.a)
            .chain(self.b.as_ref())
            .filter_map(|rx| rx.receive_buffer().ok())
            .min()
            .unwrap_or(0)
    }
}

/// `group`, or `(source, group)` for a channel.
fn channel(rx: &McastRx) -> String {
    match rx.source() {
        Some(s) => format!("({s}, {})", rx.group()),
        None => rx.group().to_string(),
    }
}

fn drain(
    rx: &mut McastRx,
    line: Line,
    stats: &mut SourceStats,
    sink: &mut dyn FnMut(&[u8], RxMeta),
) -> Result<usize, SourceError> {
    let group = rx.group();
    // Both clocks once a burst (vDSO reads, no system call): the kernel stamps in
    // CLOCK_REALTIME, the feed's times are CLOCK_MONOTONIC.
    let (mut mono, mut real) = (0, 0);
    rx.recv_burst(|payload, _from, truncated, kernel_ns| {
        if mono == 0 {
            mono = hotpath_shm::clock::monotonic_ns();
            real = hotpath_hw::clock::realtime_ns();
        }
        if truncated {
            stats.truncated += 1;
            return;
        }
        // A stamp ahead of the clock read after it (the clock stepped back) waited 0.
        let waited = if kernel_ns == 0 {
            0
        } else {
            let w = real.saturating_sub(kernel_ns);
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
        let mut n = drain(&mut self.a, Line::A, &mut self.stats, sink)?;
        if let Some(b) = &mut self.b {
            n += drain(b, Line::B, &mut self.stats, sink)?;
        }
        Ok(n)
    }

    fn stats(&self) -> SourceStats {
        let mut s = self.stats.clone();
        s.socket_drops = self.a.kernel_drops() + self.b.as_ref().map_or(0, McastRx::kernel_drops);
        s
    }

    fn describe(&self) -> String {
        let buffer = format!("{} KiB socket buffers", self.receive_buffer() >> 10);
        match &self.b {
            Some(b) => format!(
                "udp {} + {} on {} (recvmmsg, {buffer})",
                channel(&self.a),
                channel(b),
                self.iface
            ),
            None => format!(
                "udp {} on {} (recvmmsg, {buffer})",
                channel(&self.a),
                self.iface
            ),
        }
    }
}
