//! Packet sources behind one trait: where MoldUDP64 packets come from.
//!
//! - [`pcap::PcapSource`]: a capture file (Ethernet, optional VLAN tags, IPv4/UDP),
//!   replayed as fast as possible or at real time times N.
//! - [`udp::UdpSource`]: UDP multicast on a named interface with `recvmmsg`, line A and
//!   optionally line B.
//! - `dpdk::DpdkSource` (feature `dpdk`): any DPDK port, a NIC or a virtual device
//!   (`net_pcap`, `net_af_packet`, `net_af_xdp`, `net_tap`), frames parsed in their mbufs.
//! - [`merged::Merged`]: several sources polled as one (lines A and B on two ports).
//!
//! Nasdaq's raw daily file format carries no packets (just length-prefixed messages);
//! the feed handler reads it directly ([`crate::handler::apply_itch_file`]).
//!
//! A source lends each packet to a callback (`&[u8]`, no copy) with its receive time
//! and line, a burst per call, and never allocates after it is opened.

#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod merged;
pub mod pcap;
pub mod udp;

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::moldudp64::Line;

/// What came with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    /// Receive time, CLOCK_MONOTONIC ns: when the kernel received it (UDP, from its
    /// timestamp), when its burst was taken from the port (DPDK), or when it was handed
    /// out (replay).
    pub ts_ns: u64,
    /// When the feed took it from the source, CLOCK_MONOTONIC ns: the feed's "now" for
    /// it (timers, and the `book_ts_ns` of what it changes). The same as `ts_ns` but on
    /// UDP, where `ts_ns` is the kernel's earlier stamp.
    pub read_ns: u64,
    /// The capture timestamp (ns since the epoch) for replayed packets, 0 for live.
    pub capture_ts_ns: u64,
    /// Which line (A or B) it arrived on.
    pub line: Line,
}

/// Why a source stopped or failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A finite source (a file) has handed out everything.
    #[error("end of input")]
    End,
    /// The source could not be read.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The input is not what the source reads (e.g. not a pcap file).
    #[error("{what}: {why}")]
    Format { what: String, why: String },
}

/// Counters a source keeps about what it skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Packets handed out.
    pub packets: u64,
    /// Bytes of payload handed out.
    pub bytes: u64,
    /// Frames skipped because they held no UDP datagram.
    pub skipped_frames: u64,
    /// The same, by reason ([`crate::net::FrameError::index`]).
    pub skipped_by_reason: [u64; crate::net::FrameError::COUNT],
    /// Datagrams to addresses that are neither line A nor line B.
    pub other_destinations: u64,
    /// Datagrams to a line's group from another host than the line's source.
    pub other_sources: u64,
    /// Datagrams longer than the receive buffer (truncated and dropped).
    pub truncated: u64,
    /// Capture records that could not be parsed (the rest of the file is dropped).
    pub bad_records: u64,
    /// IGMP membership on a kernel-bypass port (queries heard, reports sent).
    pub igmp: crate::igmp::IgmpStats,
    /// How long datagrams waited in the kernel before the feed read them (UDP).
    pub rx_wait: RxWait,
    /// Datagrams the kernel dropped because a line's socket queue was full (UDP; each
    /// drop shows once the next datagram on that socket is read).
    pub socket_drops: u64,
}

/// How long datagrams waited between the kernel's receipt (its timestamp) and the feed
/// reading them, for sources whose kernel stamps each one (UDP): time in the socket's
/// queue, which a receive time taken when the feed reads would hide. A feed that keeps
/// up sees microseconds; one descheduled, or behind at a burst, sees the backlog here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxWait {
    /// Datagrams by wait: under 10 µs, under 100 µs, under 1 ms, under 10 ms, and 10 ms
    /// or more ([`RxWait::NAMES`]).
    pub buckets: [u64; 5],
    /// The longest wait, in ns.
    pub max_ns: u64,
}

impl RxWait {
    /// Each bucket's upper bound in ns (the last has none).
    pub const LIMITS_NS: [u64; 4] = [10_000, 100_000, 1_000_000, 10_000_000];
    /// Each bucket's name, for counters (`rx_wait_under_10us`, ...).
    pub const NAMES: [&'static str; 5] = [
        "under_10us",
        "under_100us",
        "under_1ms",
        "under_10ms",
        "10ms_or_more",
    ];

    /// Counts a datagram that waited `ns`.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let i = Self::LIMITS_NS.iter().filter(|&&l| ns >= l).count();
        self.buckets[i] += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Datagrams counted.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Adds another source's waits.
    pub fn add(&mut self, o: &RxWait) {
        for (a, b) in self.buckets.iter_mut().zip(o.buckets) {
            *a += b;
        }
        self.max_ns = self.max_ns.max(o.max_ns);
    }
}

impl SourceStats {
    /// Counts a datagram that is on neither line.
    #[inline]
    pub fn not_ours(&mut self, why: NotOurs) {
        match why {
            NotOurs::Destination => self.other_destinations += 1,
            NotOurs::Source => self.other_sources += 1,
        }
    }

    /// Adds `other`'s counts to these (several sources polled as one).
    pub fn add(&mut self, other: &SourceStats) {
        // Destructured, so that a new field cannot be left out of the sum.
        let SourceStats {
            packets,
            bytes,
            skipped_frames,
            skipped_by_reason,
            other_destinations,
            other_sources,
            truncated,
            bad_records,
            igmp,
            rx_wait,
            socket_drops,
        } = other;
        self.packets += packets;
        self.bytes += bytes;
        self.skipped_frames += skipped_frames;
        for (a, b) in self.skipped_by_reason.iter_mut().zip(skipped_by_reason) {
            *a += b;
        }
        self.other_destinations += other_destinations;
        self.other_sources += other_sources;
        self.truncated += truncated;
        self.bad_records += bad_records;
        self.igmp.add(igmp);
        self.rx_wait.add(rx_wait);
        self.socket_drops += socket_drops;
    }
}

/// A NIC's (or poll-mode driver's) own receive counters, for sources that have one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NicStats {
    /// Packets the port received.
    pub ipackets: u64,
    /// Packets the port dropped because its RX ring was full (the poller was late).
    pub imissed: u64,
    /// Erroneous packets.
    pub ierrors: u64,
    /// Receive buffer allocation failures.
    pub rx_nombuf: u64,
    /// Ports read.
    pub ports: u64,
    /// Ports whose link is down now: nothing can arrive on them.
    pub links_down: u64,
    /// Times a port's link was seen going down after it had been seen up (flaps).
    pub link_downs: u64,
}

impl NicStats {
    /// Adds another port's counters (several ports polled as one source).
    pub fn add(&mut self, o: &NicStats) {
        self.ipackets += o.ipackets;
        self.imissed += o.imissed;
        self.ierrors += o.ierrors;
        self.rx_nombuf += o.rx_nombuf;
        self.ports += o.ports;
        self.links_down += o.links_down;
        self.link_downs += o.link_downs;
    }
}

/// Reads a source's port counters from another thread than the one polling it
/// ([`PacketSource::nic_reader`]).
pub type NicReader = Box<dyn Fn() -> NicStats + Send>;

/// Where MoldUDP64 packets come from.
pub trait PacketSource {
    /// Hands up to one burst of packets to `sink`; returns how many (0: none right now,
    /// try again). Returns [`SourceError::End`] once a finite source is exhausted.
    fn recv_burst(&mut self, sink: &mut dyn FnMut(&[u8], RxMeta)) -> Result<usize, SourceError>;

    /// What the source skipped so far.
    fn stats(&self) -> SourceStats;

    /// A one-line description for logs and `hotpath feed`'s banner.
    fn describe(&self) -> String;

    /// A reader of the port's own counters (DPDK) for another thread, which may call it
    /// while this source is polled, so the polling loop never reads device registers
    /// itself (`hotpath feed` reads them every 100 ms on a thread of its own). `None` if
    /// the source has no port. Use one reader at a time.
    fn nic_reader(&self) -> Option<NicReader> {
        None
    }

    /// Says goodbye to the network before the source goes (a DPDK port that joined
    /// groups with IGMP leaves them), so that the last [`Self::stats`] counts it.
    /// Receiving after it is not expected. Dropping a source closes it too.
    fn close(&mut self) {}

    /// The port's counters now, through a reader made for the call ([`Self::nic_reader`]:
    /// not while another reader is in use, and not for every burst).
    fn nic_stats(&self) -> Option<NicStats> {
        self.nic_reader().map(|read| read())
    }
}

/// Which destinations are line A and line B, and, for a source-specific channel
/// (S,G) (RFC 4607), which host sends each; anything else is counted and skipped.
/// `None` for line A accepts every UDP datagram as line A (useful for single-feed
/// captures). Two lines may share a group when their sources differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lines {
    pub a: Option<SocketAddrV4>,
    pub b: Option<SocketAddrV4>,
    /// Line A's only source (`None`: any host).
    pub a_source: Option<Ipv4Addr>,
    /// Line B's only source (`None`: any host).
    pub b_source: Option<Ipv4Addr>,
}

/// Why a datagram is on neither line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotOurs {
    /// Sent to an address and port that is neither line's.
    Destination,
    /// Sent to a line's group by another host than the line's source.
    Source,
}

impl Lines {
    /// The line of a datagram sent from `src` to `dst`, if it is one of ours.
    #[inline]
    pub fn classify(&self, src: Ipv4Addr, dst: SocketAddrV4) -> Result<Line, NotOurs> {
        let from = |want: Option<Ipv4Addr>| want.is_none_or(|s| s == src);
        let to_b = self.b == Some(dst);
        let to_a = self.a.is_none() || self.a == Some(dst);
        if to_b && from(self.b_source) {
            Ok(Line::B)
        } else if to_a && from(self.a_source) {
            Ok(Line::A)
        } else if to_a || to_b {
            Err(NotOurs::Source)
        } else {
            Err(NotOurs::Destination)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RxWait;

    #[test]
    fn each_wait_counts_in_the_bucket_below_its_bound_and_the_max_follows() {
        let mut w = RxWait::default();
        for ns in [
            0,
            9_999,
            10_000,
            99_999,
            100_000,
            999_999,
            1_000_000,
            10_000_000,
            5_000_000_000,
        ] {
            w.record(ns);
        }
        assert_eq!(w.buckets, [2, 2, 2, 1, 2]);
        assert_eq!(w.max_ns, 5_000_000_000);
        assert_eq!(w.count(), 9);
        let mut sum = RxWait::default();
        sum.add(&w);
        sum.add(&RxWait {
            buckets: [1, 0, 0, 0, 0],
            max_ns: 7,
        });
        assert_eq!(sum.buckets, [3, 2, 2, 1, 2]);
        assert_eq!(sum.max_ns, 5_000_000_000, "the larger max");
    }
}
