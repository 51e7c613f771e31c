//! The packet-source benchmark (`hotpath bench sources`, issue 4): packets per second
//! through the feed handler's decode from each packet source, in one run, against
//! `dpdk-testpmd` in rxonly mode on the same DPDK virtual device (the bare-DPDK
//! ceiling).
//!
//! **Input.** One generated day (`hotpath gen`'s model, fixed seed) packed into
//! MoldUDP64 packets of at most `max_packet` bytes (1400 by default, about 43 ITCH
//! messages each) in a pcap file in a temporary directory: by default 3,000,000
//! messages in 69,043 packets, 100 MB, which `net_pcap`'s `infinite_rx` holds in mbufs
//! (the pools get one mbuf per packet plus room for the bursts, and `-m` grows with
//! them). Every source replays that same file, endlessly.
//!
//! **Per-packet work, identical for every source** ("the feed handler's decode"): the
//! MoldUDP64 framing is checked ([`Packet::new_checked`]), then every message is decoded
//! with [`itch::parse`] and a few of its fields are folded into a checksum (the fields
//! `hotpath bench feed` reads), so nothing can be optimised away. There is **no
//! MoldUDP64 session**: an endless replay repeats sequence numbers, which a session
//! would drop as duplicates after the first pass over the file, and no books (`bench
//! feed` measures those).
//!
//! **Passes** (each timed for `seconds` after `warmup_seconds` of the same work):
//!
//! - `dpdk_pps`: in this process, the EAL (initialised once: `--no-huge --no-pci
//!   --no-shconf --no-telemetry -m MB -l CORE`), a `net_pcap` vdev over the file with
//!   `infinite_rx=1` (at queue setup the PMD loads every packet into an mbuf; each
//!   receive then copies the next ones into fresh mbufs, for ever), attached with
//!   `Eal::probe`, and the feed's own `DpdkSource` (what `hotpath feed --source dpdk`
//!   runs) lending each payload to the decode. The port's pool has the default
//!   per-lcore cache (`--mempool-cache` changes it). `dpdk_no_decode_pps` is the same
//!   source with the decode left out (the sink only counts), to tell the source's cost
//!   from the decode's; `dpdk_framing_only_pps` keeps only the MoldUDP64 framing check
//!   ([`frame_packet`]), which walks every block's length prefix and reads no ITCH
//!   message: no decoder that reads every message can do less.
//! - `testpmd_rxonly_pps`: `dpdk-testpmd --forward-mode=rxonly` on an identical vdev
//!   over the same file, driven through its stdin (`start`, then `show port stats all`
//!   twice, `seconds` apart: the second one's `Rx-pps` is its rate over that interval,
//!   measured by testpmd itself). rxonly receives each burst and frees it without
//!   reading a byte: the PMD's copy is all the work per packet. It runs under `stdbuf
//!   -o0` when there is one: writing to a pipe, its statistics would otherwise sit in
//!   stdio's buffer until it exits.
//! - `pcap_pps`: [`PcapSource::from_bytes`] over the same file bytes in memory; at the
//!   end of the file the source is rebuilt (a copy of the file), outside the timed
//!   intervals.
//! - `recvmmsg_pps`: a sender thread sends the file's payloads as fast as it can
//!   (`send_to`, one datagram per call, looping over the file) to a multicast group on
//!   loopback (`239.255.x.y`, group and port chosen from the pid), received by
//!   [`UdpSource`] (recvmmsg, bursts of 64). On loopback the kernel delivers each
//!   datagram into the receiving socket within the sender's system call, so the
//!   sender, on the machine's other core, carries most of the kernel's work and sets
//!   the pace; its rate and the drops (datagrams sent and never received) are reported
//!   with the figure.
//!
//! **Cores, on a 2-core VM.** The timed loop of every pass runs on the same core, the
//! last one available (`measure_core`): our DPDK thread is the EAL's only lcore there
//! (`-l CORE` pins it), testpmd gets `--lcores=0@OTHER,1@CORE --nb-cores=1` (its
//! forwarding lcore on CORE, its main lcore, which only waits on stdin, on OTHER), the
//! pcap pass and the recvmmsg receiver are pinned there, and the recvmmsg sender is
//! pinned to the other core. The EAL is initialised on a dedicated thread, which keeps
//! the pinning `rte_eal_init` applies off the caller's thread, and lives for the whole
//! benchmark (the EAL can be initialised once per process).
//!
//! **Rounds.** `rounds` rounds, each running every pass once; the DPDK source and
//! testpmd alternate which goes first (DPDK first in even rounds), so the ratio
//! compares like with like. Medians are reported, and the ratio twice: of the medians
//! (`dpdk_vs_testpmd`, which decides `met` against `target_ratio`) and the median of
//! the per-round ratios.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotpath_feed::gen::{self, GenConfig, Generator, PcapOptions};
use hotpath_feed::moldudp64::Packet;
use hotpath_feed::source::pcap::{Pace, PcapSource};
use hotpath_feed::source::udp::UdpSource;
use hotpath_feed::source::{Lines, PacketSource, RxMeta, SourceError};
use serde::{Deserialize, Serialize};

use crate::machine::Machine;

#[cfg(feature = "dpdk")] // only the DPDK run reports medians
use crate::median;
#[cfg(feature = "dpdk")]
use hotpath_feed::source::dpdk::DpdkSource;
#[cfg(feature = "dpdk")]
use hotpath_hw::dpdk::Eal;

/// The error of a binary built without DPDK.
pub const NOT_BUILT: &str = "built without DPDK: build with --features dpdk (it needs the \
     system DPDK 22.11 and dpdk-testpmd: apt-get install libdpdk-dev dpdk-dev pkg-config \
     libclang-dev)";

/// The target: the DPDK source at least this fraction of testpmd rxonly.
pub const TARGET_RATIO: f64 = 0.8;

/// What to run.
#[derive(Debug, Clone)]
pub struct SourcesBenchConfig {
    /// Messages in the generated capture.
    pub messages: u64,
    pub seed: u64,
    pub symbols: u16,
    /// Largest MoldUDP64 packet (UDP payload), bytes.
    pub max_packet: usize,
    /// Timed length of each pass.
    pub seconds: f64,
    /// Untimed run of the same work before each timed pass.
    pub warmup_seconds: f64,
    pub rounds: u32,
    /// The testpmd binary.
    pub testpmd: PathBuf,
    /// Interface of the recvmmsg pass.
    pub iface: String,
    /// The DPDK source's per-lcore mempool cache (`None`: the port's default,
    /// `hotpath_hw::dpdk::MEMPOOL_CACHE`; 0: none).
    pub mempool_cache: Option<u32>,
}

impl Default for SourcesBenchConfig {
    fn default() -> Self {
        SourcesBenchConfig {
            messages: 3_000_000,
            seed: 1,
            symbols: 100,
            max_packet: 1400,
            seconds: 3.0,
            warmup_seconds: 0.5,
            rounds: 3,
            testpmd: PathBuf::from("dpdk-testpmd"),
            iface: "lo".into(),
            mempool_cache: None,
        }
    }
}

/// The report (flat, for `--json`); rates are medians over the rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourcesReport {
    /// DPDK `net_pcap` (infinite_rx) -> `DpdkSource` -> decode, packets/s.
    pub dpdk_pps: f64,
    /// The pcap-file source over the file in memory -> decode, packets/s.
    pub pcap_pps: f64,
    /// recvmmsg on loopback multicast (`UdpSource`) -> decode, packets/s received.
    pub recvmmsg_pps: f64,
    /// `dpdk-testpmd --forward-mode=rxonly` on the same vdev, packets/s.
    pub testpmd_rxonly_pps: f64,
    /// `dpdk_pps / testpmd_rxonly_pps` (ratio of the medians).
    pub dpdk_vs_testpmd: f64,
    /// Median of the per-round ratios.
    pub dpdk_vs_testpmd_paired_median: f64,
    pub target_ratio: f64,
    /// `dpdk_vs_testpmd >= target_ratio`.
    pub met: bool,
    /// The DPDK source with no decode (the sink only counts), packets/s: the source's
    /// own cost against testpmd's.
    pub dpdk_no_decode_pps: f64,
    /// `dpdk_no_decode_pps / testpmd_rxonly_pps`.
    pub dpdk_no_decode_vs_testpmd: f64,
    /// The DPDK source with only the MoldUDP64 framing checked ([`frame_packet`]), no
    /// ITCH message read, packets/s: what walking to every message costs, the least a
    /// decoder of every message must do.
    pub dpdk_framing_only_pps: f64,
    /// `dpdk_framing_only_pps / testpmd_rxonly_pps`: a bound on `dpdk_vs_testpmd` for
    /// any decode.
    pub dpdk_framing_only_vs_testpmd: f64,
    /// `dpdk_pps` in ITCH messages per second.
    pub dpdk_msgs_per_s: f64,
    /// Packets in the capture (the end-of-session packet included).
    pub packets: u64,
    /// Size of the capture file.
    pub bytes: u64,
    /// ITCH messages in the capture.
    pub messages: u64,
    /// Largest MoldUDP64 packet, bytes.
    pub max_packet: u64,
    /// Mean UDP payload, bytes.
    pub mean_payload_bytes: f64,
    /// The recvmmsg sender's rate over the timed intervals, packets/s (median).
    pub recvmmsg_sender_pps: f64,
    /// Datagrams sent and received over all rounds (warm-up included).
    pub recvmmsg_sent: u64,
    pub recvmmsg_received: u64,
    /// `recvmmsg_sent - recvmmsg_received`: lost to a full receive buffer.
    pub recvmmsg_drops: u64,
    /// Timed seconds per pass, warm-up seconds before each, rounds.
    pub seconds: f64,
    pub warmup_seconds: f64,
    pub rounds: u32,
    pub seed: u64,
    /// Per-round figures (round order).
    pub dpdk_pps_rounds: Vec<f64>,
    pub testpmd_rxonly_pps_rounds: Vec<f64>,
    pub dpdk_no_decode_pps_rounds: Vec<f64>,
    pub dpdk_framing_only_pps_rounds: Vec<f64>,
    pub pcap_pps_rounds: Vec<f64>,
    pub recvmmsg_pps_rounds: Vec<f64>,
    /// The core every timed loop runs on, and the other one (recvmmsg sender, testpmd's
    /// main lcore).
    pub measure_core: usize,
    pub other_core: usize,
    /// How the EAL and testpmd were started, and the vdev our DPDK pass attached.
    pub dpdk_eal_args: String,
    pub dpdk_vdev: String,
    /// The per-lcore mempool cache of the DPDK source's pool, mbufs.
    pub dpdk_mempool_cache: u32,
    pub testpmd_command: String,
    /// Checksum folded by the decode over everything the DPDK passes decoded (proof of
    /// work, varies with the amount).
    pub checksum: u64,
    pub generate_seconds: f64,
    pub machine: Machine,
}

pub use crate::feed::message_checksum;

/// The per-packet work of every pass: the MoldUDP64 framing checked, every message
/// decoded. Returns (messages, checksum); a malformed packet counts 0 messages and
/// checksum 1.
#[inline]
pub fn decode_packet(payload: &[u8]) -> (u64, u64) {
    let Ok(p) = Packet::new_checked(payload) else {
        return (0, 1);
    };
    let (mut n, mut sum) = (0u64, 0u64);
    for m in p.messages() {
        n += 1;
        sum = sum.wrapping_add(message_checksum(m));
    }
    (n, sum)
}

/// What one timed pass saw.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub packets: u64,
    pub messages: u64,
    pub checksum: u64,
    /// Timed seconds.
    pub seconds: f64,
}

impl Tally {
    /// Packets per second.
    pub fn pps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.packets as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// What a pass does with each packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// [`decode_packet`]: the framing checked, every ITCH message decoded (the figure).
    Decode,
    /// [`frame_packet`]: only the MoldUDP64 framing checked, no ITCH message read (a
    /// diagnostic: the least any decoder of every message must do).
    Frame,
    /// Only count the packet (a diagnostic: the source's own cost).
    Count,
}

/// The framing alone: [`Packet::new_checked`] walks every message block's length
/// prefix, which any reader of the messages must do first (each block's offset follows
/// from the one before). Returns (messages, checksum) like [`decode_packet`].
#[inline]
pub fn frame_packet(payload: &[u8]) -> (u64, u64) {
    match Packet::new_checked(payload) {
        Ok(p) => (u64::from(p.message_count()), p.sequence()),
        Err(_) => (0, 1),
    }
}

/// Polls `src` until `until`, doing `work` on each packet into `t`. Returns true if the
/// source ended first.
fn pump_until(
    src: &mut dyn PacketSource,
    until: Instant,
    work: Work,
    t: &mut Tally,
) -> Result<bool, String> {
    let (mut packets, mut messages, mut checksum) = (t.packets, t.messages, t.checksum);
    let mut sink = |payload: &[u8], _meta: RxMeta| {
        packets += 1;
        let (n, c) = match work {
            Work::Decode => decode_packet(payload),
            Work::Frame => frame_packet(payload),
            Work::Count => (0, payload.len() as u64),
        };
        messages += n;
        checksum = checksum.wrapping_add(c);
    };
    let ended = loop {
        match src.recv_burst(&mut sink) {
            Ok(_) => {}
            Err(SourceError::End) => break true,
            Err(e) => return Err(format!("{}: {e}", src.describe())),
        }
        if Instant::now() >= until {
            break false;
        }
    };
    *t = Tally {
        packets,
        messages,
        checksum,
        seconds: t.seconds,
    };
    Ok(ended)
}

/// A warm-up of `warmup`, then `seconds` timed (for a source that never ends).
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))] // only the DPDK run uses it
fn timed_pass(
    src: &mut dyn PacketSource,
    warmup: Duration,
    seconds: Duration,
    work: Work,
) -> Result<Tally, String> {
    let mut scratch = Tally::default();
    if !warmup.is_zero() && pump_until(src, Instant::now() + warmup, work, &mut scratch)? {
        return Err(format!("{} ended during the warm-up", src.describe()));
    }
    let mut t = Tally::default();
    let t0 = Instant::now();
    if pump_until(src, t0 + seconds, work, &mut t)? {
        return Err(format!("{} ended during the timed pass", src.describe()));
    }
    t.seconds = t0.elapsed().as_secs_f64();
    Ok(t)
}

/// Runs `f` on a thread pinned to `core` and returns its result.
fn on_core<T: Send>(
    core: usize,
    f: impl FnOnce() -> Result<T, String> + Send,
) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            hotpath_hw::pin_current_thread(core).map_err(|e| e.to_string())?;
            f()
        })
        .join()
        .map_err(|_| "the measuring thread panicked".to_string())?
    })
}

/// The pcap-file pass: [`PcapSource`] over `file` in memory, rebuilt (outside the
/// timed intervals) whenever it reaches the end of the file; runs pinned to `core`.
pub fn pcap_pass(
    file: &[u8],
    warmup: Duration,
    seconds: Duration,
    core: usize,
) -> Result<Tally, String> {
    let open = || {
        PcapSource::from_bytes(
            Path::new("generated.pcap"),
            file.to_vec(),
            Lines::default(),
            Pace::AsFast,
        )
        .map_err(|e| e.to_string())
    };
    on_core(core, || {
        let mut src = open()?;
        // Runs `span` of source time, rebuilding the source at each end of file.
        let mut run = |span: Duration, t: &mut Tally| -> Result<(), String> {
            let mut active = Duration::ZERO;
            while active < span {
                let start = Instant::now();
                let ended = pump_until(&mut src, start + (span - active), Work::Decode, t)?;
                active += start.elapsed();
                if ended {
                    src = open()?;
                }
            }
            t.seconds = active.as_secs_f64();
            Ok(())
        };
        run(warmup, &mut Tally::default())?;
        let mut t = Tally::default();
        run(seconds, &mut t)?;
        Ok(t)
    })
}

/// The UDP payloads of a capture, back to back, and each one's range.
#[derive(Debug, Clone, Default)]
pub struct Payloads {
    pub bytes: Vec<u8>,
    pub ranges: Vec<(usize, usize)>,
}

impl Payloads {
    /// Every UDP payload of the capture `file`, in order.
    pub fn of_capture(file: &[u8]) -> Result<Payloads, String> {
        let mut src = PcapSource::from_bytes(
            Path::new("generated.pcap"),
            file.to_vec(),
            Lines::default(),
            Pace::AsFast,
        )
        .map_err(|e| e.to_string())?;
        let mut p = Payloads::default();
        loop {
            match src.recv_burst(&mut |payload, _| {
                let at = p.bytes.len();
                p.bytes.extend_from_slice(payload);
                p.ranges.push((at, payload.len()));
            }) {
                Ok(_) => {}
                Err(SourceError::End) => return Ok(p),
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    fn get(&self, i: usize) -> &[u8] {
        let (at, len) = self.ranges[i];
        &self.bytes[at..at + len]
    }
}

/// What the recvmmsg pass saw.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UdpTally {
    /// Received and decoded over the timed interval.
    pub rx: Tally,
    /// Sent over the timed interval, packets/s.
    pub sender_pps: f64,
    /// Sent and received over the whole pass (warm-up and drain included).
    pub sent: u64,
    pub received: u64,
}

/// The multicast group and port of this process's recvmmsg pass (from the pid, so
/// concurrent runs do not share a group).
pub fn group_for_pid(pid: u32) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::new(239, 255, (pid >> 8) as u8, pid as u8),
        20_000 + (pid % 30_000) as u16,
    )
}

/// The recvmmsg pass: a sender thread on `tx_core` sends `payloads` round and round to
/// `group` out of `iface` as fast as it can; [`UdpSource`] receives and decodes them on
/// `rx_core`. After the timed interval the sender stops and the socket is drained, so
/// `sent - received` is what the receive buffer dropped.
pub fn recvmmsg_pass(
    payloads: &Payloads,
    group: SocketAddrV4,
    iface: &str,
    warmup: Duration,
    seconds: Duration,
    rx_core: usize,
    tx_core: usize,
) -> Result<UdpTally, String> {
    if payloads.is_empty() {
        return Err("no packets to send".into());
    }
    let mut src = UdpSource::open(group, None, iface).map_err(|e| e.to_string())?;
    let sent = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let sender = s.spawn(|| -> Result<(), String> {
            hotpath_hw::pin_current_thread(tx_core).map_err(|e| e.to_string())?;
            let sock = hotpath_hw::net::mcast_tx(iface).map_err(|e| e.to_string())?;
            let (mut i, mut n) = (0usize, 0u64);
            while !stop.load(Ordering::Relaxed) {
                match sock.send_to(payloads.get(i), group) {
                    Ok(_) => {
                        n += 1;
                        sent.store(n, Ordering::Relaxed);
                        i += 1;
                        if i == payloads.len() {
                            i = 0;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::yield_now()
                    }
                    Err(e) => return Err(format!("send to {group} on {iface}: {e}")),
                }
            }
            Ok(())
        });
        let receiver = s.spawn(|| -> Result<UdpTally, String> {
            let result = (|| {
                hotpath_hw::pin_current_thread(rx_core).map_err(|e| e.to_string())?;
                let mut warm = Tally::default();
                pump_until(&mut src, Instant::now() + warmup, Work::Decode, &mut warm)?;
                let (s0, t0) = (sent.load(Ordering::Relaxed), Instant::now());
                let mut t = Tally::default();
                pump_until(&mut src, t0 + seconds, Work::Decode, &mut t)?;
                let (s1, secs) = (sent.load(Ordering::Relaxed), t0.elapsed().as_secs_f64());
                t.seconds = secs;
                stop.store(true, Ordering::Relaxed);
                // Drain what is still queued (the sender has stopped or is stopping).
                let mut drained = Tally::default();
                let mut quiet_since = Instant::now();
                let mut last = 0;
                while quiet_since.elapsed() < Duration::from_millis(100) {
                    pump_until(&mut src, Instant::now(), Work::Decode, &mut drained)?;
                    if drained.packets != last {
                        last = drained.packets;
                        quiet_since = Instant::now();
                    }
                }
                Ok(UdpTally {
                    rx: t,
                    sender_pps: (s1 - s0) as f64 / secs,
                    sent: 0,
                    received: warm.packets + t.packets + drained.packets,
                })
            })();
            stop.store(true, Ordering::Relaxed);
            result
        });
        let rx = receiver
            .join()
            .map_err(|_| "the recvmmsg receiver panicked".to_string())?;
        stop.store(true, Ordering::Relaxed);
        sender
            .join()
            .map_err(|_| "the recvmmsg sender panicked".to_string())??;
        let mut rx = rx?;
        rx.sent = sent.load(Ordering::Relaxed);
        Ok(rx)
    })
}

/// RX-packets and Rx-pps of the last complete `show port stats all` block in
/// testpmd's output (port 0 only), if there is one. Complete: the line of `#` that
/// closes the block has arrived.
pub fn parse_port_stats(text: &str) -> Option<(u64, u64)> {
    let block = &text[text.rfind("NIC statistics for port")?..];
    let pps_at = block.find("Rx-pps:")?;
    let closed = block[pps_at..]
        .lines()
        .skip(1)
        .any(|l| l.trim_start().starts_with("####"));
    if !closed {
        return None;
    }
    let value = |key: &str| -> Option<u64> {
        let at = block.find(key)?;
        block[at + key.len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some((value("RX-packets:")?, value("Rx-pps:")?))
}

/// How testpmd is run on the capture.
#[derive(Debug, Clone)]
pub struct TestpmdConfig {
    pub bin: PathBuf,
    /// `stdbuf`, to run testpmd with unbuffered stdout: on a pipe its statistics would
    /// otherwise sit in stdio's buffer until it exits.
    pub stdbuf: Option<PathBuf>,
    pub pcap: PathBuf,
    /// `--total-num-mbufs` (the vdev holds the whole file in mbufs).
    pub mbufs: u64,
    /// `-m` (MB, no hugepages).
    pub mem_mb: u64,
    /// Its main lcore (waits on stdin) and its forwarding lcore.
    pub main_core: usize,
    pub forward_core: usize,
}

impl TestpmdConfig {
    /// testpmd's arguments.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--no-huge".into(),
            "--no-pci".into(),
            "--no-shconf".into(),
            "--no-telemetry".into(),
            "-m".into(),
            self.mem_mb.to_string(),
            format!("--lcores=0@{},1@{}", self.main_core, self.forward_core),
            "--log-level=lib.eal:error".into(),
            format!(
                "--vdev=net_pcap0,rx_pcap={},infinite_rx=1",
                self.pcap.display()
            ),
            "--".into(),
            "--forward-mode=rxonly".into(),
            "--nb-cores=1".into(),
            format!("--total-num-mbufs={}", self.mbufs),
            "-i".into(),
        ]
    }

    /// The program to spawn and its arguments (through `stdbuf -o0` when there is one).
    pub fn command(&self) -> (PathBuf, Vec<String>) {
        match &self.stdbuf {
            Some(stdbuf) => (
                stdbuf.clone(),
                ["-o0".to_string(), self.bin.display().to_string()]
                    .into_iter()
                    .chain(self.args())
                    .collect(),
            ),
            None => (self.bin.clone(), self.args()),
        }
    }

    /// The command line, for the report.
    pub fn command_line(&self) -> String {
        let (program, args) = self.command();
        std::iter::once(program.display().to_string())
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `name` if it is a path to a file, else the first `PATH` entry holding it.
pub fn find_program(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A running testpmd, killed when dropped (on every path out).
struct Testpmd {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    cmdline: String,
}

impl Testpmd {
    fn spawn(cfg: &TestpmdConfig) -> Result<Testpmd, String> {
        let cmdline = cfg.command_line();
        let (program, args) = cfg.command();
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "could not run {} ({e}); it comes with DPDK (apt-get install dpdk), or \
                     pass --testpmd PATH",
                    cfg.bin.display()
                )
            })?;
        let out = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for mut pipe in pipes.into_iter().flatten() {
            let out = Arc::clone(&out);
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    if let Ok(mut o) = out.lock() {
                        o.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            }));
        }
        Ok(Testpmd {
            stdin: child.stdin.take(),
            child,
            out,
            readers,
            cmdline,
        })
    }

    fn output(&self) -> String {
        self.out.lock().map(|o| o.clone()).unwrap_or_default()
    }

    fn fail(&self, what: &str) -> String {
        let out = self.output();
        let tail = match out.char_indices().rev().nth(6000) {
            Some((i, _)) => format!("[...]{}", &out[i..]),
            None => out,
        };
        format!(
            "dpdk-testpmd: {what}\n  command: {}\n  its output:\n{tail}",
            self.cmdline
        )
    }

    fn send(&mut self, line: &str) -> Result<usize, String> {
        use std::io::Write;
        let at = self.out.lock().map(|o| o.len()).unwrap_or(0);
        let r = match self.stdin.as_mut() {
            Some(s) => s
                .write_all(format!("{line}\n").as_bytes())
                .and_then(|_| s.flush()),
            None => Err(std::io::Error::other("stdin closed")),
        };
        r.map_err(|e| self.fail(&format!("writing `{line}` to its stdin: {e}")))?;
        Ok(at)
    }

    /// Waits until the output after byte `from` satisfies `f`; returns `f`'s value.
    fn wait_for<T>(
        &mut self,
        from: usize,
        what: &str,
        timeout: Duration,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<T, String> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(v) = self
                .out
                .lock()
                .ok()
                .and_then(|o| o.get(from..).and_then(&f))
            {
                return Ok(v);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the readers take the last of its output.
                std::thread::sleep(Duration::from_millis(50));
                return Err(self.fail(&format!("exited ({status}) while waiting for {what}")));
            }
            if Instant::now() >= end {
                return Err(self.fail(&format!("no {what} within {timeout:?}")));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn stats(&mut self) -> Result<(u64, u64), String> {
        let from = self.send("show port stats all")?;
        // The statistics, or the next prompt without them (then they cannot be parsed).
        self.wait_for(
            from,
            "port statistics",
            Duration::from_secs(20),
            |t| match parse_port_stats(t) {
                Some(v) => Some(Some(v)),
                None => t.contains("testpmd> ").then_some(None),
            },
        )?
        .ok_or_else(|| self.fail("could not parse RX-packets / Rx-pps in `show port stats all`"))
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

/// What a testpmd pass measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TestpmdRun {
    /// testpmd's own Rx-pps over the timed interval.
    pub rx_pps: f64,
    /// RX-packets over the interval / our clock's interval (a cross-check).
    pub rx_pps_by_count: f64,
}

/// Starts testpmd, lets it forward for `warmup`, then reads its port statistics twice
/// `seconds` apart; quits it (or kills it) before returning.
pub fn testpmd_pass(
    cfg: &TestpmdConfig,
    warmup: Duration,
    seconds: Duration,
) -> Result<TestpmdRun, String> {
    let mut t = Testpmd::spawn(cfg)?;
    let prompt = |s: &str| s.contains("testpmd> ").then_some(());
    t.wait_for(0, "its prompt", Duration::from_secs(120), prompt)?;
    let from = t.send("start")?;
    t.wait_for(
        from,
        "the prompt after `start`",
        Duration::from_secs(20),
        prompt,
    )?;
    std::thread::sleep(warmup);
    let (rx0, _) = t.stats()?;
    let t0 = Instant::now();
    std::thread::sleep(seconds);
    let (rx1, pps) = t.stats()?;
    let secs = t0.elapsed().as_secs_f64();
    if pps == 0 || rx1 <= rx0 {
        return Err(t.fail(&format!(
            "it received nothing while timed (RX-packets {rx0} -> {rx1}, Rx-pps {pps})"
        )));
    }
    // Quit politely; the guard kills it if it does not go within 10 s.
    if t.send("stop").and_then(|_| t.send("quit")).is_ok() {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end && matches!(t.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(TestpmdRun {
        rx_pps: pps as f64,
        rx_pps_by_count: (rx1 - rx0) as f64 / secs,
    })
}

/// `-m` for `mbufs` mbufs without hugepages (about 2.4 KiB each), at least 1024 MB.
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))] // only the DPDK run uses it
fn mem_mb_for(mbufs: u64) -> u64 {
    (mbufs * 2560 / (1 << 20) * 3 / 2 + 256).max(1024)
}

/// The cores: (measure, other). The last available core measures.
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))] // only the DPDK run uses it
fn cores() -> (usize, usize) {
    let c = hotpath_hw::available_cores();
    match (c.first(), c.last()) {
        (Some(&first), Some(&last)) => (last, first),
        _ => (0, 0),
    }
}

/// The generated capture in a temporary directory.
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))] // only the DPDK run uses it
#[derive(Debug)]
struct Capture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    bytes: Vec<u8>,
    messages: u64,
    packets: u64,
}

#[cfg_attr(not(feature = "dpdk"), allow(dead_code))] // only the DPDK run uses it
fn generate(cfg: &SourcesBenchConfig) -> Result<Capture, String> {
    if !(72..=1472).contains(&cfg.max_packet) {
        return Err(format!(
            "max packet {} is outside 72..=1472 bytes (one message must fit; one frame in \
             a standard MTU)",
            cfg.max_packet
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("hotpath-bench-sources-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let path = dir.path().join("day.pcap");
    let g = Generator::new(GenConfig {
        messages: cfg.messages,
        seed: cfg.seed,
        symbols: cfg.symbols,
        live_target: None,
    })
    .map_err(|e| e.to_string())?;
    let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let opts = PcapOptions {
        max_packet: cfg.max_packet,
        ..PcapOptions::default()
    };
    let (messages, packets) = gen::write_pcap(g, std::io::BufWriter::new(file), &opts, |_| {})
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Capture {
        _dir: dir,
        path,
        bytes,
        messages,
        packets,
    })
}

fn check(cfg: &SourcesBenchConfig) -> Result<(Duration, Duration), String> {
    if cfg.rounds == 0 {
        return Err("rounds must be at least 1".into());
    }
    if cfg.messages == 0 {
        return Err("messages must be at least 1".into());
    }
    if !(cfg.seconds.is_finite() && cfg.seconds > 0.0 && cfg.seconds <= 3600.0) {
        return Err(format!("seconds {} is not in (0, 3600]", cfg.seconds));
    }
    if !(cfg.warmup_seconds.is_finite() && (0.0..=3600.0).contains(&cfg.warmup_seconds)) {
        return Err(format!(
            "warm-up {} is not in [0, 3600]",
            cfg.warmup_seconds
        ));
    }
    Ok((
        Duration::from_secs_f64(cfg.warmup_seconds),
        Duration::from_secs_f64(cfg.seconds),
    ))
}

/// Without DPDK there is nothing to compare: fails with [`NOT_BUILT`].
#[cfg(not(feature = "dpdk"))]
pub fn run(cfg: &SourcesBenchConfig, _status: impl FnMut(&str)) -> Result<SourcesReport, String> {
    check(cfg)?;
    Err(NOT_BUILT.into())
}

/// Generates the capture and runs every pass, `rounds` times.
#[cfg(feature = "dpdk")]
pub fn run(
    cfg: &SourcesBenchConfig,
    mut status: impl FnMut(&str),
) -> Result<SourcesReport, String> {
    let (warmup, seconds) = check(cfg)?;
    let (measure_core, other_core) = cores();
    status(&format!(
        "generating {} messages into MoldUDP64 packets of at most {} bytes",
        cfg.messages, cfg.max_packet
    ));
    let t = Instant::now();
    let cap = generate(cfg)?;
    let generate_seconds = t.elapsed().as_secs_f64();
    let payloads = Payloads::of_capture(&cap.bytes)?;
    if payloads.len() as u64 != cap.packets {
        return Err(format!(
            "the capture holds {} UDP payloads, the generator wrote {} packets",
            payloads.len(),
            cap.packets
        ));
    }
    // The vdev holds every packet of the file in an mbuf, plus the bursts in flight.
    let mbufs = cap.packets + 4096;
    let mem_mb = mem_mb_for(mbufs);
    status(&format!(
        "{} packets ({} bytes); starting the EAL on core {measure_core}",
        cap.packets,
        cap.bytes.len()
    ));
    let dpdk = dpdk_pass::Worker::start(&cap.path, mbufs, mem_mb, cfg.mempool_cache, measure_core)?;
    let bin = find_program(&cfg.testpmd).ok_or_else(|| {
        format!(
            "no {} found: it comes with DPDK (apt-get install dpdk), or pass --testpmd PATH",
            cfg.testpmd.display()
        )
    })?;
    let tp_cfg = TestpmdConfig {
        bin,
        stdbuf: find_program(Path::new("stdbuf")),
        pcap: cap.path.clone(),
        mbufs: cap.packets + 8192,
        mem_mb,
        main_core: other_core,
        forward_core: measure_core,
    };
    let group = group_for_pid(std::process::id());

    let (mut d, mut df, mut dn) = (vec![], vec![], vec![]);
    let (mut tp, mut pc, mut um) = (vec![], vec![], vec![]);
    let (mut sender_pps, mut ratios) = (vec![], vec![]);
    let (mut sent, mut received, mut checksum) = (0u64, 0u64, 0u64);
    let (mut dpdk_packets, mut dpdk_messages) = (0u64, 0u64);
    for r in 0..cfg.rounds {
        let round = format!("round {}/{}", r + 1, cfg.rounds);
        // DPDK first in even rounds, testpmd first in odd ones.
        let testpmd_first = r % 2 == 1;
        for testpmd in [testpmd_first, !testpmd_first] {
            if testpmd {
                status(&format!("{round}: dpdk-testpmd rxonly"));
                tp.push(testpmd_pass(&tp_cfg, warmup, seconds)?.rx_pps);
            } else {
                status(&format!("{round}: DPDK source"));
                let t = dpdk.run(warmup, seconds, Work::Decode)?;
                checksum = checksum.wrapping_add(t.checksum);
                dpdk_packets += t.packets;
                dpdk_messages += t.messages;
                d.push(t.pps());
                status(&format!("{round}: DPDK source, framing only"));
                df.push(dpdk.run(warmup, seconds, Work::Frame)?.pps());
                status(&format!("{round}: DPDK source without decode"));
                dn.push(dpdk.run(warmup, seconds, Work::Count)?.pps());
            }
        }
        ratios.push(d[r as usize] / tp[r as usize]);
        status(&format!("{round}: pcap-file source"));
        pc.push(pcap_pass(&cap.bytes, warmup, seconds, measure_core)?.pps());
        status(&format!("{round}: recvmmsg on {} {group}", cfg.iface));
        let u = recvmmsg_pass(
            &payloads,
            group,
            &cfg.iface,
            warmup,
            seconds,
            measure_core,
            other_core,
        )?;
        um.push(u.rx.pps());
        sender_pps.push(u.sender_pps);
        sent += u.sent;
        received += u.received;
    }
    let (eal_args, vdev) = (dpdk.eal_args.join(" "), dpdk.devargs.clone());
    let mempool_cache = dpdk.mempool_cache;
    drop(dpdk);

    let (dpdk_pps, testpmd_pps) = (median(&d), median(&tp));
    let ratio = dpdk_pps / testpmd_pps;
    let dpdk_no_decode_pps = median(&dn);
    let dpdk_framing_only_pps = median(&df);
    Ok(SourcesReport {
        dpdk_pps,
        pcap_pps: median(&pc),
        recvmmsg_pps: median(&um),
        testpmd_rxonly_pps: testpmd_pps,
        dpdk_vs_testpmd: ratio,
        dpdk_vs_testpmd_paired_median: median(&ratios),
        target_ratio: TARGET_RATIO,
        met: ratio >= TARGET_RATIO,
        dpdk_no_decode_pps,
        dpdk_no_decode_vs_testpmd: dpdk_no_decode_pps / testpmd_pps,
        dpdk_framing_only_pps,
        dpdk_framing_only_vs_testpmd: dpdk_framing_only_pps / testpmd_pps,
        dpdk_msgs_per_s: dpdk_pps * dpdk_messages as f64 / dpdk_packets.max(1) as f64,
        packets: cap.packets,
        bytes: cap.bytes.len() as u64,
        messages: cap.messages,
        max_packet: cfg.max_packet as u64,
        mean_payload_bytes: payloads.bytes.len() as f64 / payloads.len() as f64,
        recvmmsg_sender_pps: median(&sender_pps),
        recvmmsg_sent: sent,
        recvmmsg_received: received,
        recvmmsg_drops: sent.saturating_sub(received),
        seconds: cfg.seconds,
        warmup_seconds: cfg.warmup_seconds,
        rounds: cfg.rounds,
        seed: cfg.seed,
        dpdk_pps_rounds: d,
        testpmd_rxonly_pps_rounds: tp,
        dpdk_no_decode_pps_rounds: dn,
        dpdk_framing_only_pps_rounds: df,
        pcap_pps_rounds: pc,
        recvmmsg_pps_rounds: um,
        measure_core,
        other_core,
        dpdk_eal_args: eal_args,
        dpdk_vdev: vdev,
        dpdk_mempool_cache: mempool_cache,
        testpmd_command: tp_cfg.command_line(),
        checksum,
        generate_seconds,
        machine: Machine::detect(),
    })
}

/// The DPDK pass: the EAL and the port live on one dedicated thread for the whole
/// benchmark (the EAL pins the thread that initialises it, and can be initialised once
/// per process); each timed pass is a request to that thread.
#[cfg(feature = "dpdk")]
mod dpdk_pass {
    use std::path::Path;
    use std::sync::mpsc;
    use std::time::Duration;

    use hotpath_hw::dpdk::{Port, PortConfig};

    use super::*;

    struct Job {
        warmup: Duration,
        seconds: Duration,
        work: Work,
    }

    pub struct Worker {
        jobs: Option<mpsc::Sender<Job>>,
        results: mpsc::Receiver<Result<Tally, String>>,
        thread: Option<std::thread::JoinHandle<()>>,
        pub eal_args: Vec<String>,
        pub devargs: String,
        pub mempool_cache: u32,
    }

    impl Worker {
        /// Initialises the EAL pinned to `core` (or uses this process's EAL), attaches a
        /// `net_pcap` vdev over `pcap` with `infinite_rx=1`, opens it with `mbufs` mbufs
        /// and makes the feed's [`DpdkSource`] over it.
        pub fn start(
            pcap: &Path,
            mbufs: u64,
            mem_mb: u64,
            mempool_cache: Option<u32>,
            core: usize,
        ) -> Result<Worker, String> {
            let eal_args: Vec<String> = [
                "--no-huge",
                "--no-pci",
                "--no-shconf",
                "--no-telemetry",
                "-m",
                &mem_mb.to_string(),
                "-l",
                &core.to_string(),
                "--log-level=lib.eal:error",
            ]
            .map(str::to_owned)
            .to_vec();
            let devargs = devargs_of(pcap);
            let mbufs = u32::try_from(mbufs).map_err(|_| format!("{mbufs} mbufs is too many"))?;
            let (jobs_tx, jobs) = mpsc::channel::<Job>();
            let (results_tx, results) = mpsc::channel();
            let args = eal_args.clone();
            let thread = std::thread::Builder::new()
                .name("hp-bench-dpdk".into())
                .spawn(move || {
                    let opened = (|| -> Result<DpdkSource, String> {
                        let eal = match Eal::get() {
                            Some(eal) => {
                                hotpath_hw::pin_current_thread(core).map_err(|e| e.to_string())?;
                                eal
                            }
                            None => Eal::init(&args).map_err(|e| e.to_string())?,
                        };
                        let id = eal.probe(&devargs).map_err(|e| e.to_string())?;
                        let port_cfg = PortConfig {
                            mbufs_per_queue: mbufs,
                            mempool_cache: mempool_cache
                                .unwrap_or(PortConfig::default().mempool_cache),
                            ..PortConfig::default()
                        };
                        let port = Port::open(eal, id, &port_cfg).map_err(|e| e.to_string())?;
                        DpdkSource::on_port(port, Lines::default(), None).map_err(|e| e.to_string())
                    })();
                    let mut src = match opened {
                        Ok(src) => {
                            let _ = results_tx.send(Ok(Tally::default()));
                            src
                        }
                        Err(e) => {
                            let _ = results_tx.send(Err(e));
                            return;
                        }
                    };
                    for job in jobs {
                        let r = timed_pass(&mut src, job.warmup, job.seconds, job.work);
                        if results_tx.send(r).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| format!("spawn the DPDK thread: {e}"))?;
            let w = Worker {
                jobs: Some(jobs_tx),
                results,
                thread: Some(thread),
                eal_args,
                devargs: devargs_of(pcap),
                mempool_cache: mempool_cache.unwrap_or(PortConfig::default().mempool_cache),
            };
            w.results
                .recv()
                .map_err(|_| "the DPDK thread died while opening the port".to_string())??;
            Ok(w)
        }

        /// One timed pass.
        pub fn run(
            &self,
            warmup: Duration,
            seconds: Duration,
            work: Work,
        ) -> Result<Tally, String> {
            let jobs = self.jobs.as_ref().ok_or("the DPDK thread is gone")?;
            jobs.send(Job {
                warmup,
                seconds,
                work,
            })
            .map_err(|_| "the DPDK thread is gone".to_string())?;
            self.results
                .recv()
                .map_err(|_| "the DPDK thread died during a pass".to_string())?
        }
    }

    fn devargs_of(pcap: &Path) -> String {
        format!("net_pcap_bench0,rx_pcap={},infinite_rx=1", pcap.display())
    }

    impl Drop for Worker {
        fn drop(&mut self) {
            drop(self.jobs.take());
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// The human-readable report.
pub fn print_table(r: &SourcesReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use crate::fmt::thousands;
    let n = |v: f64| thousands(v.round() as u64);
    writeln!(
        out,
        "sources benchmark: {} generated messages in {} MoldUDP64 packets (at most {} bytes, \
         mean {:.0}; file {} bytes; seed {})",
        thousands(r.messages),
        thousands(r.packets),
        r.max_packet,
        r.mean_payload_bytes,
        thousands(r.bytes),
        r.seed
    )?;
    writeln!(out, "machine: {}", r.machine.summary())?;
    writeln!(
        out,
        "per packet: MoldUDP64 framing checked, every ITCH message decoded (no session: \
         the replay repeats sequence numbers)"
    )?;
    writeln!(
        out,
        "\npackets/s, median of {} rounds of {} s (after {} s warm-up), timed loops on core {}",
        r.rounds, r.seconds, r.warmup_seconds, r.measure_core
    )?;
    writeln!(
        out,
        "  DPDK net_pcap infinite_rx -> DpdkSource -> decode   {:>12}   ({} messages/s)",
        n(r.dpdk_pps),
        n(r.dpdk_msgs_per_s)
    )?;
    writeln!(
        out,
        "  dpdk-testpmd rxonly, same vdev (the ceiling)        {:>12}",
        n(r.testpmd_rxonly_pps)
    )?;
    writeln!(
        out,
        "  DPDK source, framing only (diagnostic)              {:>12}   ({:.2}x testpmd)",
        n(r.dpdk_framing_only_pps),
        r.dpdk_framing_only_vs_testpmd
    )?;
    writeln!(
        out,
        "  DPDK source without decode (diagnostic)             {:>12}   ({:.2}x testpmd)",
        n(r.dpdk_no_decode_pps),
        r.dpdk_no_decode_vs_testpmd
    )?;
    writeln!(
        out,
        "  pcap file in memory -> PcapSource -> decode         {:>12}",
        n(r.pcap_pps)
    )?;
    writeln!(
        out,
        "  recvmmsg, loopback multicast -> UdpSource -> decode {:>12}   (sender {}/s on core {}; \
         {} of {} sent dropped)",
        n(r.recvmmsg_pps),
        n(r.recvmmsg_sender_pps),
        r.other_core,
        thousands(r.recvmmsg_drops),
        thousands(r.recvmmsg_sent)
    )?;
    writeln!(
        out,
        "  (DPDK source: EAL `{}`, per-lcore mempool cache {} mbufs; testpmd: `{}`)",
        r.dpdk_eal_args, r.dpdk_mempool_cache, r.testpmd_command
    )?;
    writeln!(
        out,
        "\nDPDK source / testpmd rxonly: {:.3} (median of per-round ratios {:.3}); target >= {}: {}",
        r.dpdk_vs_testpmd,
        r.dpdk_vs_testpmd_paired_median,
        r.target_ratio,
        if r.met { "met" } else { "NOT met" }
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "testpmd> \n  ######################## NIC statistics for port 0  ########################\n  RX-packets: 22668640   RX-missed: 0          RX-bytes:  32307704128\n  RX-errors: 0\n  RX-nombuf:  0         \n  TX-packets: 0          TX-errors: 0          TX-bytes:  0\n\n  Throughput (since last show)\n  Rx-pps:      6986442          Rx-bps:  79657506400\n  Tx-pps:            0          Tx-bps:            0\n  ############################################################################\ntestpmd> ";

    #[test]
    fn parses_testpmd_port_stats_once_complete() {
        assert_eq!(parse_port_stats(STATS), Some((22_668_640, 6_986_442)));
        // Cut before the closing line: not complete yet.
        let cut = STATS.find("  Tx-pps").unwrap();
        assert_eq!(parse_port_stats(&STATS[..cut]), None);
        assert_eq!(parse_port_stats("testpmd> "), None);
        // The last block counts.
        let two = format!("{}\n{}", STATS.replace("6986442", "1"), STATS);
        assert_eq!(parse_port_stats(&two), Some((22_668_640, 6_986_442)));
    }

    /// A small generated day and its UDP payloads.
    fn small_day() -> (Capture, Payloads) {
        let cfg = SourcesBenchConfig {
            messages: 20_000,
            ..SourcesBenchConfig::default()
        };
        let cap = generate(&cfg).unwrap();
        let payloads = Payloads::of_capture(&cap.bytes).unwrap();
        assert_eq!(payloads.len() as u64, cap.packets);
        (cap, payloads)
    }

    #[test]
    fn the_per_packet_decode_agrees_with_the_feed_benchmark() {
        let (cap, payloads) = small_day();
        let (mut n, mut sum) = (0, 0u64);
        let mut raw = Vec::new();
        for i in 0..payloads.len() {
            let (m, c) = decode_packet(payloads.get(i));
            n += m;
            sum = sum.wrapping_add(c);
            for msg in Packet::new_checked(payloads.get(i)).unwrap().messages() {
                raw.extend_from_slice(&(msg.len() as u16).to_be_bytes());
                raw.extend_from_slice(msg);
            }
        }
        assert_eq!(n, cap.messages);
        assert_eq!(sum, crate::feed::hotpath_checksum(&raw));
        assert_eq!(decode_packet(b"short"), (0, 1));
    }

    #[test]
    fn the_framing_only_work_counts_every_message_and_refuses_bad_framing() {
        let (cap, payloads) = small_day();
        let mut n = 0;
        for i in 0..payloads.len() {
            let p = payloads.get(i);
            let (m, _) = frame_packet(p);
            assert_eq!(m, decode_packet(p).0, "packet {i}");
            n += m;
        }
        assert_eq!(n, cap.messages);
        // A block whose length prefix runs past the end of the packet.
        let mut bad = payloads.get(0).to_vec();
        assert!(bad.len() > 22, "the first packet carries messages");
        bad[20..22].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(frame_packet(&bad), (0, 1));
        assert_eq!(frame_packet(b"short"), (0, 1));
    }

    #[test]
    fn the_pcap_pass_loops_over_the_file() {
        let cfg = SourcesBenchConfig {
            messages: 5_000,
            ..SourcesBenchConfig::default()
        };
        let cap = generate(&cfg).unwrap();
        let core = cores().0;
        let t = pcap_pass(&cap.bytes, Duration::ZERO, Duration::from_millis(200), core).unwrap();
        assert!(t.packets > 3 * cap.packets, "{t:?}: looped");
        assert!(t.messages > 3 * cap.messages);
        assert!(t.seconds >= 0.2 && t.pps() > 0.0);
    }

    #[test]
    fn the_recvmmsg_pass_counts_what_it_sends_and_receives() {
        let cfg = SourcesBenchConfig {
            messages: 5_000,
            ..SourcesBenchConfig::default()
        };
        let cap = generate(&cfg).unwrap();
        let payloads = Payloads::of_capture(&cap.bytes).unwrap();
        let (rx, tx) = cores();
        let group = group_for_pid(std::process::id().wrapping_add(7));
        let u = recvmmsg_pass(
            &payloads,
            group,
            "lo",
            Duration::from_millis(50),
            Duration::from_millis(200),
            rx,
            tx,
        )
        .unwrap();
        assert!(u.rx.packets > 0 && u.rx.messages > 0, "{u:?}");
        assert!(u.received <= u.sent, "{u:?}");
        assert!(u.sender_pps > 0.0);
    }

    #[test]
    fn checks_its_arguments() {
        let bad = |f: fn(&mut SourcesBenchConfig)| {
            let mut c = SourcesBenchConfig::default();
            f(&mut c);
            run(&c, |_| {}).unwrap_err()
        };
        assert!(bad(|c| c.rounds = 0).contains("rounds"));
        assert!(bad(|c| c.seconds = 0.0).contains("seconds"));
        assert!(bad(|c| c.warmup_seconds = f64::NAN).contains("warm-up"));
        let c = SourcesBenchConfig {
            max_packet: 30,
            ..SourcesBenchConfig::default()
        };
        assert!(generate(&c).unwrap_err().contains("max packet"));
    }

    #[cfg(not(feature = "dpdk"))]
    #[test]
    fn says_how_to_get_dpdk() {
        let e = run(&SourcesBenchConfig::default(), |_| {}).unwrap_err();
        assert!(
            e.contains("built without DPDK: build with --features dpdk"),
            "{e}"
        );
    }
}
