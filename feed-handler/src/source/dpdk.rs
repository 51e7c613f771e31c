//! The DPDK packet source (feature `dpdk`): any DPDK port, a NIC under a poll-mode
//! driver or a virtual device (`net_pcap`, `net_af_packet`, `net_af_xdp`, `net_tap`).
//!
//! Each burst's frames are parsed in place in their mbufs (Ethernet, optional VLAN,
//! IPv4, UDP), classified into line A or B by destination, and lent to the sink; the
//! mbufs are freed in bulk after the burst. Nothing is copied or allocated.
//!
//! A port never says "end of input" (a `net_pcap` device at the end of its file just
//! stops delivering), so a finite replay ends after an idle period with no packets
//! once some have arrived ([`DpdkSource::end_after_idle`]); a live feed ends at the
//! MoldUDP64 end of session or on a signal, as with the other live sources.
//!
//! With [`DpdkSourceConfig::igmp`], the source also joins the feed's multicast groups
//! on the port ([`crate::igmp`]): a DPDK port has no kernel to do it. The loop then
//! compares the clock with the next IGMP deadline once a burst, hands IGMP frames
//! (found among the frames that hold no UDP datagram) to the membership, and sends
//! reports through the port's TX queue when they are due; the leave goes out when the
//! source is closed ([`PacketSource::close`]) or dropped.

use std::time::{Duration, Instant};

use hotpath_hw::dpdk::{DpdkError, Eal, Port, PortConfig, PortStats, RxQueue, TxQueue};

use super::{Lines, NicReader, NicStats, PacketSource, RxMeta, SourceError, SourceStats};
use crate::igmp::{IgmpConfig, Membership};
use crate::moldudp64::Line;
use crate::net::{parse_udp_frame, FrameError, IPPROTO_IGMP};

/// What `hotpath feed --source dpdk` and `hotpath replay --dpdk` open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkSourceConfig {
    /// EAL arguments, e.g. `--no-huge --no-pci --no-shconf -m 512 -l 0
    /// --vdev=net_pcap0,rx_pcap=day.pcap`.
    pub eal_args: Vec<String>,
    /// The port: a device name (`net_pcap0`) or number; `None`: port 0.
    pub port: Option<String>,
    /// Port setup (queues, descriptors, mbufs).
    pub port_cfg: PortConfig,
    /// End after this long without a packet once packets have arrived (finite replays).
    pub end_after_idle: Option<Duration>,
    /// Join these multicast groups on the port with IGMP (`None`: the network delivers
    /// the feed without joins, or the port is a replay).
    pub igmp: Option<IgmpConfig>,
}

impl DpdkSourceConfig {
    /// Splits an EAL argument string on whitespace (DPDK arguments have no spaces).
    pub fn from_eal_string(args: &str) -> DpdkSourceConfig {
        DpdkSourceConfig {
            eal_args: args.split_whitespace().map(str::to_owned).collect(),
            port: None,
            port_cfg: PortConfig::default(),
            end_after_idle: None,
            igmp: None,
        }
    }
}

/// MoldUDP64 packets from a DPDK port's RX queue 0.
pub struct DpdkSource {
    port: Port,
    rx: RxQueue,
    lines: Lines,
    stats: SourceStats,
    end_after_idle: Option<Duration>,
    last_packet: Option<Instant>,
    igmp: Option<Igmp>,
    /// Of a fill ([`DpdkPorts`]): the next datagram's payload in its frame, its line
    /// and its sequence number.
    head: Option<Head>,
}

/// The port's group membership and the queue its reports leave by.
struct Igmp {
    membership: Membership,
    tx: TxQueue,
}

impl DpdkSource {
    /// Initialises the EAL (if this process has not yet) and opens the port.
    pub fn open(cfg: &DpdkSourceConfig, lines: Lines) -> Result<DpdkSource, DpdkError> {
        let eal = match Eal::get() {
            Some(eal) => eal,
            None => Eal::init(&cfg.eal_args)?,
        };
        let id = match &cfg.port {
            Some(p) => eal.port_by_name(p)?,
            None => eal.port_by_name("0")?,
        };
        let mut src = Self::on_port(
            Port::open(eal, id, &cfg.port_cfg)?,
            lines,
            cfg.end_after_idle,
        )?;
        if let Some(igmp) = &cfg.igmp {
            src.join(igmp)?;
        }
        Ok(src)
    }

    /// Joins `cfg`'s groups on the port: the first reports go out at the next poll.
    pub fn join(&mut self, cfg: &IgmpConfig) -> Result<(), DpdkError> {
        let mac = self.port.mac_address()?;
        let (id, name) = (self.port.id(), self.port.name().to_owned());
        let refused = |step: &'static str, msg: String| DpdkError::Port {
            port: id,
            name: name.clone(),
            step,
            code: -22,
            msg,
        };
        let tx = self
            .port
            .tx_queue()
            .ok_or_else(|| refused("taking the TX queue", "already joined".into()))?;
        let now = hotpath_shm::clock::monotonic_ns();
        let seed = u64::from(u32::from(cfg.ip)) ^ u64::from(id);
        let membership =
            Membership::new(cfg, mac, now, seed).map_err(|msg| refused("IGMP membership", msg))?;
        self.igmp = Some(Igmp { membership, tx });
        Ok(())
    }

    /// A source over an opened port (its RX queue 0).
    pub fn on_port(
        mut port: Port,
        lines: Lines,
        end_after_idle: Option<Duration>,
    ) -> Result<DpdkSource, DpdkError> {
        let rx = port
            .rx_queue(0)
            .ok_or_else(|| DpdkError::NoSuchPort(format!("{} queue 0", port.name()), 0))?;
        Ok(DpdkSource {
            port,
            rx,
            lines,
            stats: SourceStats::default(),
            end_after_idle,
            last_packet: None,
            igmp: None,
            head: None,
        })
    }

    /// Ends a finite replay after `idle` without packets (once some have arrived).
    pub fn end_after_idle(mut self, idle: Duration) -> DpdkSource {
        self.end_after_idle = Some(idle);
        self
    }

    /// The port's own counters (ipackets, imissed, ierrors, rx_nombuf).
    pub fn port_stats(&self) -> PortStats {
        self.port.stats()
    }

    /// Frames received in more than one segment (not handed out).
    pub fn multi_segment(&self) -> u64 {
        self.rx.multi_segment()
    }
}

/// The next datagram of a fill, found by [`DpdkSource::head_sequence`].
struct Head {
    /// Its payload's place in its frame.
    payload: std::ops::Range<usize>,
    line: Line,
    sequence: u64,
}

/// A received frame: a datagram of a line (its payload's place in the frame, counted),
/// or anything else, counted (and for IGMP, answered) and passed.
#[inline]
fn receive_frame(
    frame: &[u8],
    lines: &Lines,
    stats: &mut SourceStats,
    igmp: &mut Option<Igmp>,
    now_ns: u64,
) -> Option<(std::ops::Range<usize>, Line)> {
    match parse_udp_frame(frame) {
        Ok(d) => match lines.classify(*d.src.ip(), d.dst) {
            Ok(line) => {
                stats.packets += 1;
                stats.bytes += d.payload.len() as u64;
                let start = d.payload.as_ptr() as usize - frame.as_ptr() as usize;
                Some((start..start + d.payload.len(), line))
            }
            Err(why) => {
                stats.not_ours(why);
                None
            }
        },
        Err(e) => {
            stats.skipped_frames += 1;
            stats.skipped_by_reason[e.index()] += 1;
            if let (FrameError::NotUdp(IPPROTO_IGMP), Some(g)) = (e, igmp.as_mut()) {
                g.membership.on_frame(frame, now_ns);
            }
            None
        }
    }
}

fn meta(line: Line, now_ns: u64) -> RxMeta {
    RxMeta {
        ts_ns: now_ns,
        read_ns: now_ns,
        capture_ts_ns: 0,
        line,
    }
}

impl DpdkSource {
    /// Sends the IGMP reports that are due.
    #[inline]
    fn poll_igmp(&mut self, now_ns: u64) {
        if let Some(Igmp { membership, tx }) = &mut self.igmp {
            if now_ns >= membership.next_due_ns() {
                membership.poll(now_ns, |f| tx.send(f));
            }
        }
    }

    /// Whether a finite replay is over: `received` frames this poll, and none for
    /// [`DpdkSource::end_after_idle`] since some arrived.
    #[inline]
    fn idle_ended(&mut self, received: usize) -> bool {
        let Some(idle) = self.end_after_idle else {
            return false;
        };
        if received > 0 {
            self.last_packet = None;
            return false;
        }
        // Timed only when idle: one clock read per empty poll.
        let since = *self.last_packet.get_or_insert_with(Instant::now);
        let s = &self.stats;
        s.packets + s.skipped_frames + s.other_destinations + s.other_sources > 0
            && since.elapsed() >= idle
    }

    /// The MoldUDP64 sequence number of the next datagram of a line a fill holds
    /// (frames before it are counted and passed); None once the fill is all taken.
    /// A datagram too short to carry one sorts first, to be counted at once.
    #[inline]
    fn head_sequence(&mut self, now_ns: u64) -> Option<u64> {
        if let Some(h) = &self.head {
            return Some(h.sequence);
        }
        let (lines, stats, igmp) = (&self.lines, &mut self.stats, &mut self.igmp);
        while let Some(frame) = self.rx.peek() {
            if let Some((payload, line)) = receive_frame(frame, lines, stats, igmp, now_ns) {
                let sequence = match frame[payload.clone()].get(10..18) {
                    Some(b) => u64::from_be_bytes(b.try_into().expect("8 bytes")),
                    None => 0,
                };
                self.head = Some(Head {
                    payload,
                    line,
                    sequence,
                });
                return Some(sequence);
            }
            self.rx.advance();
        }
        None
    }

    /// Lends the datagram [`DpdkSource::head_sequence`] found to `sink`, and passes it.
    #[inline]
    fn take_head(&mut self, sink: &mut dyn FnMut(&[u8], RxMeta), now_ns: u64) {
        if let (Some(h), Some(frame)) = (self.head.take(), self.rx.peek()) {
            sink(&frame[h.payload], meta(h.line, now_ns));
        }
        self.rx.advance();
    }
}

impl PacketSource for DpdkSource {
    fn recv_burst(&mut self, sink: &mut dyn FnMut(&[u8], RxMeta)) -> Result<usize, SourceError> {
        let now_ns = hotpath_shm::clock::monotonic_ns();
        self.poll_igmp(now_ns);
        let (lines, stats, igmp) = (&self.lines, &mut self.stats, &mut self.igmp);
        let n = self.rx.rx_burst(|frame| {
            if let Some((range, line)) = receive_frame(frame, lines, stats, igmp, now_ns) {
                sink(&frame[range], meta(line, now_ns));
            }
        });
        if self.idle_ended(n) {
            return Err(SourceError::End);
        }
        Ok(n)
    }

    fn stats(&self) -> SourceStats {
        let mut s = self.stats.clone();
        s.truncated = self.rx.multi_segment();
        if let Some(g) = &self.igmp {
            s.igmp = g.membership.stats();
        }
        s
    }

    /// Leaves the joined groups (once; dropping the source closes it too).
    fn close(&mut self) {
        if let Some(Igmp { membership, tx }) = &mut self.igmp {
            if !membership.has_left() {
                membership.leave(hotpath_shm::clock::monotonic_ns(), |f| tx.send(f));
            }
        }
    }

    fn nic_reader(&self) -> Option<NicReader> {
        let reader = self.port.stats_reader();
        let links = LinkWatch::default();
        Some(Box::new(move || {
            let p = reader.stats();
            let mut nic = nic_stats_of(p);
            nic.link_downs = links.saw(p.link.up);
            nic
        }))
    }

    fn describe(&self) -> String {
        format!(
            "dpdk port {} ({}, driver {}, {}){}{}",
            self.port.id(),
            self.port.name(),
            self.port.driver(),
            self.port.link(),
            match self.end_after_idle {
                Some(d) => format!(", ends after {} ms idle", d.as_millis()),
                None => String::new(),
            },
            match &self.igmp {
                Some(g) => format!(", joins {} with IGMP", g.membership.describe_groups()),
                None => String::new(),
            }
        )
    }
}

/// Several DPDK ports as one source (line A's NIC and line B's), their datagrams taken
/// in MoldUDP64 sequence order: each poll fills every port's burst, then takes the
/// datagram of the lowest sequence among the ports' next ones, so a packet one line
/// lost comes from the other at its place instead of opening a gap. A port has no
/// receive time per packet to merge by (the PMDs here stamp none); the sequence is the
/// order the exchange sent them in. When a port's whole burst has been taken, more of
/// it may be waiting (sent earlier than the others' rest), so the rest waits for the
/// next poll. Read a burst of each port in turn instead, line A's burst runs ahead of
/// its holes and every packet after one waits in the out-of-order buffer.
///
/// A port's datagrams wait behind another's only while that one's bursts come whole,
/// that is while it has a backlog: a port whose fill ran dry is passed over. A line
/// that has moved to a new session (its sequences start again) sorts first until the
/// other follows; the session sorts that out as it does any order.
pub struct DpdkPorts {
    parts: Vec<DpdkSource>,
    ended: Vec<bool>,
}

impl DpdkPorts {
    /// The ports, each with the same lines; `None` if there are none.
    pub fn new(parts: Vec<DpdkSource>) -> Option<DpdkPorts> {
        if parts.is_empty() {
            return None;
        }
        let ended = vec![false; parts.len()];
        Some(DpdkPorts { parts, ended })
    }

    /// The ports' sources.
    pub fn parts(&self) -> &[DpdkSource] {
        &self.parts
    }

    fn dyn_parts(&self) -> impl Iterator<Item = &dyn PacketSource> {
        self.parts.iter().map(|p| p as &dyn PacketSource)
    }
}

impl PacketSource for DpdkPorts {
    fn recv_burst(&mut self, sink: &mut dyn FnMut(&[u8], RxMeta)) -> Result<usize, SourceError> {
        let now_ns = hotpath_shm::clock::monotonic_ns();
        let (mut received, mut taken) = (0, 0);
        for (p, ended) in self.parts.iter_mut().zip(self.ended.iter_mut()) {
            if *ended {
                continue;
            }
            p.poll_igmp(now_ns);
            let waiting = p.rx.fill();
            received += waiting;
            *ended = p.idle_ended(waiting);
        }
        loop {
            let mut lowest: Option<(usize, u64)> = None;
            for (i, p) in self.parts.iter_mut().enumerate() {
                match p.head_sequence(now_ns) {
                    Some(seq) if lowest.is_none_or(|(_, l)| seq < l) => lowest = Some((i, seq)),
                    Some(_) => {}
                    // All of a whole burst taken: the others' rest waits for its next.
                    None if p.rx.filled_a_burst() => return Ok(received.max(taken)),
                    None => {}
                }
            }
            match lowest {
                Some((i, _)) => {
                    self.parts[i].take_head(sink, now_ns);
                    taken += 1;
                }
                None => break,
            }
        }
        if received == 0 && self.ended.iter().all(|&e| e) {
            return Err(SourceError::End);
        }
        Ok(received.max(taken))
    }

    fn stats(&self) -> SourceStats {
        super::merged::stats_of(self.dyn_parts())
    }

    fn describe(&self) -> String {
        format!(
            "{}, taken in sequence order",
            super::merged::describe_of(self.dyn_parts())
        )
    }

    fn close(&mut self) {
        for p in &mut self.parts {
            p.close();
        }
    }

    fn nic_reader(&self) -> Option<NicReader> {
        super::merged::nic_reader_of(self.dyn_parts())
    }
}

impl Drop for DpdkSource {
    /// Leaves the groups before the port closes, unless closed already.
    fn drop(&mut self) {
        self.close();
    }
}

fn nic_stats_of(p: PortStats) -> NicStats {
    NicStats {
        ipackets: p.ipackets,
        imissed: p.imissed,
        ierrors: p.ierrors,
        rx_nombuf: p.rx_nombuf,
        ports: 1,
        links_down: u64::from(!p.link.up),
        link_downs: 0,
    }
}

/// Counts one port's link going down between reads of its reader.
#[derive(Debug, Default)]
struct LinkWatch {
    was_up: std::cell::Cell<bool>,
    downs: std::cell::Cell<u64>,
}

impl LinkWatch {
    /// Notes the link's state at a read; returns the downs so far.
    fn saw(&self, up: bool) -> u64 {
        if self.was_up.replace(up) && !up {
            self.downs.set(self.downs.get() + 1);
        }
        self.downs.get()
    }
}

#[cfg(test)]
mod tests {
    use super::LinkWatch;

    #[test]
    fn a_link_down_counts_once_per_fall_and_not_at_start() {
        let w = LinkWatch::default();
        assert_eq!(w.saw(false), 0, "down from the start is not a fall");
        assert_eq!(w.saw(true), 0);
        assert_eq!(w.saw(false), 1);
        assert_eq!(w.saw(false), 1, "still down");
        assert_eq!(w.saw(true), 1);
        assert_eq!(w.saw(false), 2);
    }
}
