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

use std::time::{Duration, Instant};

use hotpath_hw::dpdk::{DpdkError, Eal, Port, PortConfig, PortStats, RxQueue};

use super::{Lines, NicReader, NicStats, PacketSource, RxMeta, SourceError, SourceStats};
use crate::net::parse_udp_frame;

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
}

impl DpdkSourceConfig {
    /// Splits an EAL argument string on whitespace (DPDK arguments have no spaces).
    pub fn from_eal_string(args: &str) -> DpdkSourceConfig {
        DpdkSourceConfig {
            eal_args: args.split_whitespace().map(str::to_owned).collect(),
            port: None,
            port_cfg: PortConfig::default(),
            end_after_idle: None,
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
        Self::on_port(
            Port::open(eal, id, &cfg.port_cfg)?,
            lines,
            cfg.end_after_idle,
        )
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

impl PacketSource for DpdkSource {
    fn recv_burst(&mut self, sink: &mut dyn FnMut(&[u8], RxMeta)) -> Result<usize, SourceError> {
        let now_ns = hotpath_shm::clock::monotonic_ns();
        let (lines, stats) = (&self.lines, &mut self.stats);
        let n = self.rx.rx_burst(|frame| match parse_udp_frame(frame) {
            Ok(d) => match lines.classify(d.dst) {
                Some(line) => {
                    stats.packets += 1;
                    stats.bytes += d.payload.len() as u64;
                    sink(
                        d.payload,
                        RxMeta {
                            ts_ns: now_ns,
                            capture_ts_ns: 0,
                            line,
                        },
                    );
                }
                None => stats.other_destinations += 1,
            },
            Err(e) => {
                stats.skipped_frames += 1;
                stats.skipped_by_reason[e.index()] += 1;
            }
        });
        if let Some(idle) = self.end_after_idle {
            if n > 0 {
                self.last_packet = None;
            } else {
                // Timed only when idle: one clock read per empty poll.
                let since = *self.last_packet.get_or_insert_with(Instant::now);
                if self.stats.packets + self.stats.skipped_frames + self.stats.other_destinations
                    > 0
                    && since.elapsed() >= idle
                {
                    return Err(SourceError::End);
                }
            }
        }
        Ok(n)
    }

    fn stats(&self) -> SourceStats {
        let mut s = self.stats.clone();
        s.truncated = self.rx.multi_segment();
        s
    }

    fn nic_reader(&self) -> Option<NicReader> {
        let reader = self.port.stats_reader();
        Some(Box::new(move || nic_stats_of(reader.stats())))
    }

    fn describe(&self) -> String {
        format!(
            "dpdk port {} ({}, driver {}){}",
            self.port.id(),
            self.port.name(),
            self.port.driver(),
            match self.end_after_idle {
                Some(d) => format!(", ends after {} ms idle", d.as_millis()),
                None => String::new(),
            }
        )
    }
}

fn nic_stats_of(p: PortStats) -> NicStats {
    NicStats {
        ipackets: p.ipackets,
        imissed: p.imissed,
        ierrors: p.ierrors,
        rx_nombuf: p.rx_nombuf,
    }
}
