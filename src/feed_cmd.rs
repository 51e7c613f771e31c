//! `hotpath gen`, `replay`, `feed`, `send`: the feed handler from the command line.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use hotpath_benches::fmt::thousands;
use hotpath_book::{Books, NullSink, Side};
use hotpath_feed::gen::{self, GenConfig, Generator, PcapOptions};
use hotpath_feed::handler::{
    apply_itch_file, symbol_str, CaptureSequencer, CaptureStats, Core, Feed, FeedConfig, FeedStats,
    ShmPublisher, Stamped,
};
use hotpath_feed::itch;
use hotpath_feed::metrics::{FeedCounters, NicPublisher};
use hotpath_feed::moldudp64;
use hotpath_feed::replay::{self, Faults, ReplayConfig, TapServer};
use hotpath_feed::source::pcap::{Pace, PcapSource};
use hotpath_feed::source::udp::{Sockets, UdpSource};
use hotpath_feed::source::{Lines, PacketSource, SourceError};
use hotpath_hw::discipline::RtThrottle;
use hotpath_hw::IdleStrategy;
use hotpath_shm::md::MdEvent;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::{CmdResult, ShmArgs};

fn progress(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:40}}] {{human_pos}}/{{human_len}} ({{per_sec}}, {{eta}} left)"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb
}

// ------------------------------------------------------------------ gen

#[derive(Debug, Clone, Args)]
pub struct GenArgs {
    /// Messages to generate (header and trailer included).
    #[arg(long)]
    pub messages: u64,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of symbols.
    #[arg(long, default_value_t = 100)]
    pub symbols: u16,
    /// Live orders to steer towards (default: min(1.9 M, messages / 25)).
    #[arg(long)]
    pub live_target: Option<u64>,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Write a pcap of MoldUDP64 packets (Ethernet/IPv4/UDP to 239.1.1.1:26477)
    /// instead of Nasdaq's raw file format.
    #[arg(long)]
    pub pcap: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn gen_cmd(args: &GenArgs) -> CmdResult {
    let generator = Generator::new(GenConfig {
        messages: args.messages,
        seed: args.seed,
        symbols: args.symbols,
        live_target: args.live_target,
    })?;
    let file = File::create(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let out = BufWriter::with_capacity(1 << 20, file);
    let pb = if args.quiet {
        ProgressBar::hidden()
    } else {
        progress(args.messages, "generating")
    };
    let started = Instant::now();
    let (messages, packets) = if args.pcap {
        gen::write_pcap(generator, out, &PcapOptions::default(), |n| {
            pb.set_position(n)
        })
        .map_err(|e| format!("{}: {e}", args.out.display()))?
    } else {
        let mut out = out;
        let n = gen::write_itch(generator, &mut out, |n| pb.set_position(n))?;
        out.flush()?;
        (n, 0)
    };
    pb.finish_and_clear();
    let bytes = std::fs::metadata(&args.out)?.len();
    eprintln!(
        "wrote {} messages{} ({} bytes) to {} in {:.1} s",
        thousands(messages),
        if args.pcap {
            format!(" in {} MoldUDP64 packets", thousands(packets))
        } else {
            String::new()
        },
        thousands(bytes),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ replay

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Nasdaq's raw daily file format (2-byte length before each message).
    Itch,
    /// A pcap capture of MoldUDP64 packets (Ethernet, optional VLAN, IPv4/UDP).
    Pcap,
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The input file (with --dpdk: a pcap the EAL reads through a `net_pcap` vdev,
    /// unless the EAL arguments attach a device themselves).
    #[arg(required_unless_present = "dpdk")]
    pub input: Option<PathBuf>,
    /// Input format (default: pcap if the file starts with a pcap magic number, else itch).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Only these symbols go to the books and the dump (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub symbols: Option<Vec<String>>,
    /// Write the books as JSON lines (see the README for the format) at the end.
    #[arg(long)]
    pub dump_book: Option<PathBuf>,
    /// With --dump-book: also dump every N messages.
    #[arg(long, requires = "dump_book")]
    pub dump_every: Option<u64>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Receive through DPDK with these EAL arguments, e.g. "--no-huge --no-pci
    /// --no-shconf -m 512 -l 0" (then INPUT becomes `--vdev=net_pcap0,rx_pcap=INPUT`).
    /// Needs a binary built with feature `dpdk`. The replay ends 500 ms after the last
    /// packet (the timing stops at the last packet).
    #[arg(long, allow_hyphen_values = true)]
    pub dpdk: Option<String>,
    /// With --dpdk: the port (device name or number; default 0).
    #[arg(long, requires = "dpdk")]
    pub dpdk_port: Option<String>,
}

fn detect_format(data: &[u8]) -> Format {
    let magic = data
        .get(..4)
        .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    match magic {
        Some(0xa1b2_c3d4 | 0xa1b2_3c4d | 0xd4c3_b2a1 | 0x4d3c_b2a1) => Format::Pcap,
        _ => Format::Itch,
    }
}

/// One symbol's book as a JSON line.
#[derive(Debug, Serialize)]
struct BookLine<'a> {
    seq: u64,
    symbol: &'a str,
    bids: Vec<[u64; 3]>,
    asks: Vec<[u64; 3]>,
}

/// Writes one line per symbol with a book (or a directory entry), ordered by locate.
pub fn dump_books(books: &Books, seq: u64, out: &mut dyn Write) -> std::io::Result<()> {
    for locate in books.active_locates() {
        let Some(sym) = books.symbol(locate) else {
            continue;
        };
        let symbol = symbol_str(&sym);
        let side = |s: Side| -> Vec<[u64; 3]> {
            books
                .depth(locate, s)
                .map(|l| [l.price as u64, l.shares, l.orders as u64])
                .collect()
        };
        let line = BookLine {
            seq,
            symbol: &symbol,
            bids: side(Side::Buy),
            asks: side(Side::Sell),
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The replay summary (also `--json`).
#[derive(Debug, Serialize)]
struct ReplaySummary {
    input: PathBuf,
    format: &'static str,
    messages: u64,
    seconds: f64,
    messages_per_s: f64,
    types: std::collections::BTreeMap<String, u64>,
    unknown_type: u64,
    bad_length: u64,
    bad_side: u64,
    filtered: u64,
    framing_errors: u64,
    unknown_refs: u64,
    duplicate_refs: u64,
    crossed: u64,
    live_orders: u64,
    packets: Option<u64>,
    gaps: Option<u64>,
    messages_lost: Option<u64>,
    duplicates: Option<u64>,
    malformed_packets: Option<u64>,
    skipped_frames: Option<u64>,
    end_of_session: Option<bool>,
}

/// Wraps the core to dump the books every N messages, exactly at the boundary.
struct Dumping<'a, P> {
    core: &'a mut Core<P>,
    every: Option<u64>,
    out: Option<&'a mut BufWriter<File>>,
    err: Option<std::io::Error>,
    pb: &'a ProgressBar,
}

impl<P: hotpath_book::BookSink + Stamped> Dumping<'_, P> {
    fn after(&mut self) {
        let n = self.core.stats.messages;
        if n.is_multiple_of(65_536) {
            self.pb.set_position(n);
        }
        if let (Some(every), Some(out)) = (self.every, self.out.as_deref_mut()) {
            if n.is_multiple_of(every) && self.err.is_none() {
                if let Err(e) = dump_books(&self.core.books, self.core.last_seq, out) {
                    self.err = Some(e);
                }
            }
        }
    }
}

impl<P: hotpath_book::BookSink + Stamped> moldudp64::Sink for Dumping<'_, P> {
    fn message(&mut self, sequence: u64, message: &[u8]) {
        self.core.apply(sequence, message);
        self.after();
    }
    fn lost(&mut self, first: u64, count: u64) {
        moldudp64::Sink::lost(self.core, first, count);
    }
}

pub fn replay_cmd(args: &ReplayArgs) -> CmdResult {
    let input = args.input.clone().unwrap_or_else(|| "dpdk".into());
    let (data, format) = match &args.dpdk {
        Some(_) => {
            if args.format == Some(Format::Itch) {
                return Err("--dpdk receives packets: --format itch does not apply".into());
            }
            (Vec::new(), Format::Pcap)
        }
        None => {
            let data = std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
            let format = args.format.unwrap_or_else(|| detect_format(&data));
            (data, format)
        }
    };
    let mut cfg = FeedConfig {
        symbols: args.symbols.clone(),
        ..FeedConfig::default()
    };
    // A capture cannot be asked for what it lacks: a gap is given up at once (counted
    // as lost) and what follows it is applied.
    cfg.session.max_request_attempts = 0;
    cfg.session.max_gap_age_ns = 0;
    let mut feed = Feed::new(&cfg, NullSink)?;
    let mut dump = match &args.dump_book {
        Some(p) => Some(BufWriter::new(
            File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let pb = if args.quiet || args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    if !args.quiet && !args.json {
        pb.set_style(
            ProgressStyle::with_template("{spinner} replaying: {human_pos} messages ({per_sec})")
                .expect("valid template"),
        );
    }
    let started = Instant::now();
    let mut packets_timed: Option<Duration> = None;
    let mut session: Option<(CaptureStats, hotpath_feed::source::SourceStats)> = None;
    let every = args.dump_every.filter(|&n| n > 0);
    match format {
        Format::Itch => {
            let mut err = None;
            let mut out = dump.as_mut();
            apply_itch_file(&mut feed.core, &data, |core, n| {
                if n % 65_536 == 0 {
                    pb.set_position(n);
                }
                if let (Some(e), Some(o)) = (every, out.as_deref_mut()) {
                    if n % e == 0 && err.is_none() {
                        err = dump_books(&core.books, n, o).err();
                    }
                }
            });
            if let Some(e) = err {
                return Err(e.into());
            }
        }
        Format::Pcap => {
            let mut src: Box<dyn PacketSource> = match &args.dpdk {
                Some(eal) => crate::dpdk_opt::open(
                    crate::dpdk_opt::eal_args(eal, args.input.as_deref()),
                    &crate::dpdk_opt::PortOpts {
                        ports: args.dpdk_port.iter().cloned().collect(),
                        end_after_idle: Some(Duration::from_millis(500)),
                        ..Default::default()
                    },
                )?,
                None => Box::new(PcapSource::from_bytes(
                    &input,
                    data,
                    Lines::default(),
                    Pace::AsFast,
                )?),
            };
            let mut d = Dumping {
                core: &mut feed.core,
                every,
                out: dump.as_mut(),
                err: None,
                pb: &pb,
            };
            let mut seqr = CaptureSequencer::default();
            // Timed from the call that returned the first packets to the end of the
            // last that returned any: without the EAL's start-up or the idle end of a
            // DPDK port (or the wait for a live port's first packet).
            let mut first: Option<Instant> = None;
            let mut last = started;
            loop {
                let before = Instant::now();
                match src.recv_burst(&mut |p, _meta| seqr.on_packet(p, &mut d)) {
                    Ok(0) => {}
                    Ok(_) => {
                        first.get_or_insert(before);
                        last = Instant::now();
                    }
                    Err(SourceError::End) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            packets_timed = first.map(|f| last - f);
            if let Some(e) = d.err.take() {
                return Err(e.into());
            }
            session = Some((seqr.stats.clone(), src.stats()));
        }
    }
    pb.finish_and_clear();
    let secs = packets_timed
        .unwrap_or_else(|| started.elapsed())
        .as_secs_f64();
    if let Some(out) = dump.as_mut() {
        dump_books(&feed.core.books, feed.core.last_seq, out)?;
        out.flush()?;
    }
    let f: &FeedStats = &feed.core.stats;
    let b = feed.core.books.stats();
    let summary = ReplaySummary {
        input: input.clone(),
        format: match format {
            Format::Itch => "itch",
            Format::Pcap => "pcap",
        },
        messages: f.messages,
        seconds: secs,
        messages_per_s: f.messages as f64 / secs.max(1e-9),
        types: f
            .type_counts()
            .map(|(t, n)| ((t as char).to_string(), n))
            .collect(),
        unknown_type: f.unknown_type,
        bad_length: f.bad_length,
        bad_side: f.bad_side,
        filtered: f.filtered,
        framing_errors: f.framing_errors,
        unknown_refs: b.unknown_refs,
        duplicate_refs: b.duplicate_refs,
        crossed: b.crossed,
        live_orders: b.live_orders,
        packets: session.as_ref().map(|(s, _)| s.packets),
        gaps: session.as_ref().map(|(s, _)| s.gaps),
        messages_lost: session.as_ref().map(|(s, _)| s.messages_lost),
        duplicates: session.as_ref().map(|(s, _)| s.duplicates),
        malformed_packets: session.as_ref().map(|(s, _)| s.malformed + s.other_session),
        skipped_frames: session
            .as_ref()
            .map(|(_, src)| src.skipped_frames + src.bad_records),
        end_of_session: session.as_ref().map(|(s, _)| s.end_of_session),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{}: {} messages in {:.3} s ({} messages/s)",
        input.display(),
        thousands(summary.messages),
        secs,
        thousands(summary.messages_per_s as u64)
    );
    outln!("\n{:<6} {:<44} {:>14}", "TYPE", "NAME", "COUNT");
    for (t, n) in f.type_counts() {
        outln!(
            "{:<6} {:<44} {:>14}",
            t as char,
            itch::type_name(t).unwrap_or("?"),
            thousands(n)
        );
    }
    outln!();
    let row = |k: &str, v: u64| outln!("{k:<51} {:>14}", thousands(v));
    row("unknown message types (skipped)", f.unknown_type);
    row("wrong-length messages (skipped)", f.bad_length);
    row("unknown order references", b.unknown_refs);
    row("duplicate order references", b.duplicate_refs);
    row("crossed-book transitions", b.crossed);
    row("live orders at the end", b.live_orders);
    if let Some((s, src)) = &session {
        row("packets", s.packets);
        row("gaps (sequences missing from the capture)", s.gaps);
        row("messages missing from the capture", s.messages_lost);
        row("duplicate messages dropped", s.duplicates);
        row(
            "malformed or other-session packets",
            s.malformed + s.other_session,
        );
        row(
            "frames skipped (not UDP)",
            src.skipped_frames + src.bad_records,
        );
    }
    if let Some(p) = &args.dump_book {
        outln!("\nbooks written to {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ feed

#[derive(Debug, Clone, Args)]
pub struct FeedArgs {
    /// Where packets come from: `udp://GROUP:PORT?iface=IF[&b=GROUP:PORT][&request=HOST:PORT]
    /// [&a_source=ADDR][&b_source=ADDR][&rcvbuf=BYTES][&sockets=one|per-line]` (lines of
    /// one port share a socket unless `sockets=per-line`; `rcvbuf=` is each line's),
    /// `pcap:FILE[?speed=X]` (X times real time; default as fast as possible), a
    /// `.pcap` file path, or `dpdk[:PORT[,PORT]][?a=GROUP:PORT&b=GROUP:PORT
    /// &request=HOST:PORT&rx_desc=N&mbufs=N]` (DPDK ports by device name or number,
    /// default 0, with --dpdk; several are polled in turn, e.g. line A's NIC and line
    /// B's; without a= every UDP datagram is line A; rx_desc and mbufs size each RX
    /// queue, default 1024 and 8191).
    #[arg(long)]
    pub source: String,
    /// EAL arguments for `--source dpdk`, e.g. "--no-huge --no-pci --no-shconf -m 512
    /// -l 0 --vdev=net_af_packet0,iface=eth1" (needs a binary built with feature `dpdk`).
    #[arg(long, allow_hyphen_values = true)]
    pub dpdk: Option<String>,
    /// Pin the feed thread to this core.
    #[arg(long)]
    pub core: Option<usize>,
    /// Run the feed thread SCHED_FIFO at this priority (1-99; needs CAP_SYS_NICE or an
    /// RLIMIT_RTPRIO at least this high).
    #[arg(long)]
    pub fifo: Option<u8>,
    /// mlockall the process once everything is allocated and prefaulted (needs
    /// CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK).
    #[arg(long)]
    pub mlock: bool,
    /// What the feed loop does when a poll finds nothing: busy-spin (a whole isolated
    /// core, lowest latency), spin-then-yield, or backoff (a shared core).
    #[arg(long, default_value = "spin-then-yield")]
    pub idle: hotpath_hw::discipline::IdleKind,
    /// Slots of the market-data ring (`md`, a power of two).
    #[arg(long, default_value_t = 1 << 20)]
    pub ring_capacity: u64,
    /// Publish only BBO, trade and status events (no per-level updates).
    #[arg(long)]
    pub bbo_only: bool,
    /// Only these symbols go to the books (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub symbols: Option<Vec<String>>,
    /// Exit once the MoldUDP64 session has ended and everything was delivered
    /// (default: run until SIGINT/SIGTERM, or the end of a file source).
    #[arg(long)]
    pub until_end_of_session: bool,
    /// The sequence the session starts at, e.g. 1 for a feed (re)started after the
    /// session began: what came before the first packet received is then a gap, asked
    /// for from the request server, so the books are built from the start. Default: the
    /// first packet received starts the session (`first_sequence` in `hotpath stat`
    /// says where).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub start_sequence: Option<u64>,
}

/// A parsed `--source`.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    Udp {
        a: SocketAddrV4,
        b: Option<SocketAddrV4>,
        /// Line A's and B's only sources (source-specific channels).
        a_source: Option<Ipv4Addr>,
        b_source: Option<Ipv4Addr>,
        iface: String,
        request: Option<SocketAddrV4>,
        /// Each socket's receive buffer in bytes (`None`: 32 MiB).
        rcvbuf: Option<usize>,
        /// Whether lines A and B share a socket (`sockets=one|per-line`; default: one
        /// when they share a port).
        sockets: Sockets,
    },
    Pcap {
        path: PathBuf,
        pace: Pace,
    },
    Dpdk {
        /// Ports polled in turn (none: port 0).
        ports: Vec<String>,
        /// Line A and B groups (without `a`, every UDP datagram is line A).
        lines: Lines,
        request: Option<SocketAddrV4>,
        rx_desc: Option<u16>,
        mbufs: Option<u32>,
        /// Join the lines' groups on each port with IGMP.
        igmp: Option<crate::dpdk_opt::IgmpOpts>,
    },
}

fn parse_addr(what: &str, v: &str) -> Result<SocketAddrV4, String> {
    v.parse()
        .map_err(|_| format!("--source: {what} `{v}` is not an IPv4 address:port"))
}

/// A line's source (`a_source=`, `b_source=`): one host's unicast address.
fn parse_source_addr(key: &str, v: &str) -> Result<Ipv4Addr, String> {
    match v.parse::<Ipv4Addr>() {
        Ok(s) if hotpath_hw::net::is_unicast_source(s) => Ok(s),
        Ok(s) => Err(format!(
            "--source: {key} {s} cannot be a multicast source (it must be one host's unicast address)"
        )),
        Err(_) => Err(format!("--source: {key} `{v}` is not an IPv4 address")),
    }
}

/// Checks the lines' sources against their groups: a source needs its line, and two
/// lines on one group and port are two channels only with two different sources.
fn check_channels(lines: &Lines) -> Result<(), String> {
    if lines.a_source.is_some() && lines.a.is_none() {
        return Err(
            "--source: a_source= names line A's source: name line A too (a=GROUP:PORT)".into(),
        );
    }
    if lines.b_source.is_some() && lines.b.is_none() {
        return Err(
            "--source: b_source= names line B's source: name line B too (b=GROUP:PORT)".into(),
        );
    }
    if let (Some(a), true) = (lines.a, lines.a == lines.b) {
        match (lines.a_source, lines.b_source) {
            (Some(x), Some(y)) if x != y => {}
            _ => {
                return Err(format!(
                    "--source: lines A and B are both {a}: they are two lines only as two channels, with two different sources (a_source=, b_source=)"
                ))
            }
        }
    }
    Ok(())
}

/// Parses what follows `dpdk` in a `--source`: `[:PORT[,PORT...]][?a=GROUP:PORT
/// &b=GROUP:PORT&request=HOST:PORT&rx_desc=N&mbufs=N&igmp=v2|v3&ip=ADDR[,ADDR]
/// &vlan=N]`.
fn parse_dpdk_source(rest: &str) -> Result<SourceSpec, String> {
    let (ports, query) = rest.split_once('?').unwrap_or((rest, ""));
    let ports: Vec<String> = match ports.strip_prefix(':') {
        None => Vec::new(),
        Some(list) => list.split(',').map(str::to_owned).collect(),
    };
    if ports.iter().any(String::is_empty) {
        return Err("--source dpdk:PORT[,PORT]: a port (device name or number) is empty".into());
    }
    if let Some(p) = ports
        .iter()
        .enumerate()
        .find_map(|(i, p)| ports[..i].contains(p).then_some(p))
    {
        return Err(format!("--source dpdk: port `{p}` is listed twice"));
    }
    let (mut lines, mut request, mut rx_desc, mut mbufs) = (Lines::default(), None, None, None);
    let (mut igmp, mut ips, mut vlan) = (None, None, None);
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--source: `{kv}` is not key=value"))?;
        let count = |max: u64| -> Result<u64, String> {
            match v.parse::<u64>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(format!(
                    "--source: {k} `{v}` is not a count from 1 to {max}"
                )),
            }
        };
        match k {
            "a" => lines.a = Some(parse_addr("line A", v)?),
            "b" => lines.b = Some(parse_addr("line B", v)?),
            "request" => request = Some(parse_addr("request server", v)?),
            "rx_desc" => rx_desc = Some(count(u64::from(u16::MAX))? as u16),
            "mbufs" => mbufs = Some(count(u64::from(u32::MAX))? as u32),
            "igmp" => igmp = Some(v.parse().map_err(|e| format!("--source: {e}"))?),
            "ip" => {
                let list: Result<Vec<Ipv4Addr>, _> = v.split(',').map(str::parse).collect();
                ips = Some(list.map_err(|_| {
                    format!("--source: ip `{v}` is not a list of IPv4 addresses")
                })?);
            }
            "vlan" => vlan = Some(count(4094)? as u16),
            "a_source" => lines.a_source = Some(parse_source_addr(k, v)?),
            "b_source" => lines.b_source = Some(parse_source_addr(k, v)?),
            other => {
                return Err(format!(
                    "--source: unknown option `{other}` (a, b, a_source, b_source, request, rx_desc, mbufs, igmp, ip, vlan)"
                ))
            }
        }
    }
    if lines.b.is_some() && lines.a.is_none() {
        return Err("--source dpdk: line B (b=) needs line A (a=) too".into());
    }
    check_channels(&lines)?;
    if let (Some(d), Some(m)) = (rx_desc, mbufs) {
        if m <= u32::from(d) {
            return Err(format!(
                "--source dpdk: mbufs={m} must exceed rx_desc={d} (every descriptor holds an mbuf, and bursts need more)"
            ));
        }
    }
    if ports.len() > 1 && lines.a.is_none() {
        return Err(
            "--source dpdk: several ports need the lines named (a=GROUP:PORT, and b= for line B)"
                .into(),
        );
    }
    let igmp = match (igmp, ips) {
        (None, None) if vlan.is_none() => None,
        (None, _) => {
            return Err("--source dpdk: ip= and vlan= say how to join with IGMP: add igmp=v2 or igmp=v3".into())
        }
        (Some(_), None) => {
            return Err(
                "--source dpdk: igmp= needs ip=ADDRESS (the port's IPv4 address, the reports' source; one per port)"
                    .into(),
            )
        }
        (Some(version), Some(ips)) => {
            let opts = crate::dpdk_opt::IgmpOpts { version, ips, vlan };
            opts.configs(ports.len().max(1), &lines)
                .map_err(|e| format!("--source dpdk: {e}"))?;
            Some(opts)
        }
    };
    Ok(SourceSpec::Dpdk {
        ports,
        lines,
        request,
        rx_desc,
        mbufs,
        igmp,
    })
}

/// Parses a `--source` value.
pub fn parse_source(s: &str) -> Result<SourceSpec, String> {
    if let Some(rest) = s.strip_prefix("udp://") {
        let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
        let a = parse_addr("group", addr)?;
        let (mut iface, mut request, mut rcvbuf) = (None, None, None);
        let mut sockets = Sockets::Auto;
        let mut lines = Lines {
            a: Some(a),
            ..Lines::default()
        };
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("--source: `{kv}` is not key=value"))?;
            match k {
                "iface" => iface = Some(v.to_string()),
                "b" => lines.b = Some(parse_addr("line B", v)?),
                "a_source" => lines.a_source = Some(parse_source_addr(k, v)?),
                "b_source" => lines.b_source = Some(parse_source_addr(k, v)?),
                "request" => request = Some(parse_addr("request server", v)?),
                "rcvbuf" => {
                    rcvbuf = Some(match v.parse::<usize>() {
                        Ok(n) if (4096..=1 << 30).contains(&n) => n,
                        _ => {
                            return Err(format!(
                                "--source: rcvbuf `{v}` is not a byte count from 4096 to 1073741824"
                            ))
                        }
                    })
                }
                "sockets" => {
                    sockets = match v {
                        "one" => Sockets::One,
                        "per-line" => Sockets::PerLine,
                        _ => {
                            return Err(format!(
                                "--source: sockets `{v}` is not `one` (both lines on one socket) or `per-line`"
                            ))
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "--source: unknown option `{other}` (iface, b, a_source, b_source, request, rcvbuf, sockets)"
                    ))
                }
            }
        }
        let iface = iface.ok_or("--source: udp:// needs ?iface=NAME (e.g. iface=lo)")?;
        check_channels(&lines)?;
        if sockets == Sockets::One {
            match lines.b {
                None => {
                    return Err("--source: sockets=one is for lines A and B: name line B (b=GROUP:PORT)".into())
                }
                Some(b) if b.port() != a.port() => {
                    return Err(format!(
                        "--source: sockets=one needs lines A and B on one port, not {a} and {b} (a socket binds one port)"
                    ))
                }
                Some(_) => {}
            }
        }
        return Ok(SourceSpec::Udp {
            a,
            b: lines.b,
            a_source: lines.a_source,
            b_source: lines.b_source,
            iface,
            request,
            rcvbuf,
            sockets,
        });
    }
    if s == "dpdk" || s.starts_with("dpdk:") || s.starts_with("dpdk?") {
        return parse_dpdk_source(&s["dpdk".len()..]);
    }
    let (path, query) = match s.strip_prefix("pcap:") {
        Some(rest) => rest.split_once('?').unwrap_or((rest, "")),
        None if s.ends_with(".pcap") => (s, ""),
        None => {
            return Err(format!(
                "--source `{s}`: expected udp://GROUP:PORT?iface=IF, pcap:FILE, a .pcap file or dpdk[:PORT]"
            ))
        }
    };
    let mut pace = Pace::AsFast;
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=') {
            Some(("speed", v)) => {
                let x: f64 = v
                    .parse()
                    .map_err(|_| format!("--source: speed `{v}` is not a number"))?;
                if !(x.is_finite() && x > 0.0) {
                    return Err(format!("--source: speed {x} must be positive"));
                }
                pace = Pace::Speed(x);
            }
            _ => return Err(format!("--source: unknown option `{kv}` (speed=X)")),
        }
    }
    Ok(SourceSpec::Pcap {
        path: path.into(),
        pace,
    })
}

/// What to say when the feed thread is to run `SCHED_FIFO` on a host whose RT
/// throttling would stop it: the loop sleeps only in `--idle backoff` and only when it
/// is idle, so it uses up the RT budget each period and is held off its core for the
/// rest (nothing when throttling is off; the reason when the setting cannot be read).
pub fn rt_throttle_warning(throttle: Result<RtThrottle, String>) -> Option<String> {
    match throttle {
        Ok(t) => t.stall_us().map(|stall| {
            format!(
                "--fifo: the kernel's RT throttling ({t}) stops a SCHED_FIFO thread that \
                 does not sleep for up to {} ms of every {} ms, and the feed loop sleeps \
                 only in --idle backoff when idle: `sysctl -w \
                 kernel.sched_rt_runtime_us=-1` with the core isolated, or leave out --fifo",
                stall as f64 / 1e3,
                t.period_us as f64 / 1e3
            )
        }),
        Err(e) => Some(format!(
            "--fifo: cannot tell whether the kernel's RT throttling will stop the feed \
             thread ({e})"
        )),
    }
}

pub fn feed_cmd(shm: &ShmArgs, args: &FeedArgs) -> CmdResult {
    // Everything is checked and allocated before the loop starts.
    let spec = parse_source(&args.source)?;
    // The cores this process may use, before the EAL or --core pins this thread.
    let start_cores = hotpath_hw::discipline::current_thread_affinity()?;
    let discipline = hotpath_hw::discipline::CoreDiscipline {
        core: args.core,
        fifo_priority: args.fifo,
        mlock: args.mlock,
        idle: args.idle,
    };
    discipline.validate()?;
    if let Some(warning) = args
        .fifo
        .and_then(|_| rt_throttle_warning(RtThrottle::read()))
    {
        eprintln!("hotpath feed: warning: {warning}");
    }
    if let (SourceSpec::Dpdk { .. }, Some(core), Some(eal)) = (&spec, args.core, &args.dpdk) {
        // The EAL pins this thread to its main lcore's core, where it polls the port: a
        // --core elsewhere could not be applied once the EAL has started.
        if let Some(main) = crate::dpdk_opt::eal_main_core(&crate::dpdk_opt::eal_args(eal, None))? {
            if core != main {
                return Err(format!(
                    "--core {core}: the feed polls the port on the EAL's main lcore, \
                     which these EAL arguments put on core {main}; make it core {core} \
                     (`-l {core}` in --dpdk) or leave --core out"
                )
                .into());
            }
        }
    }
    let dir = shm.dir()?;
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    let (mut src, request): (Box<dyn PacketSource>, Option<SocketAddrV4>) = match &spec {
        SourceSpec::Udp {
            a,
            b,
            a_source,
            b_source,
            iface,
            request,
            rcvbuf,
            sockets,
        } => {
            let mut udp =
                UdpSource::open_lines((*a, *a_source), b.map(|b| (b, *b_source)), iface, *sockets)?;
            let asked = rcvbuf.unwrap_or(hotpath_hw::net::DEFAULT_RCVBUF);
            let granted = match rcvbuf {
                Some(bytes) => udp.set_receive_buffer(*bytes)?,
                None => udp.receive_buffer(),
            };
            if granted < asked {
                eprintln!(
                    "hotpath feed: warning: the kernel granted {} KiB of the {} KiB receive \
                     buffer asked for each line (net.core.rmem_max caps it without \
                     CAP_NET_ADMIN): a longer backlog is dropped (socket_drops)",
                    granted >> 10,
                    asked >> 10
                );
            }
            (Box::new(udp), *request)
        }
        SourceSpec::Pcap { path, pace } => (
            Box::new(PcapSource::open(path, Lines::default(), *pace)?),
            None,
        ),
        SourceSpec::Dpdk {
            ports,
            lines,
            request,
            rx_desc,
            mbufs,
            igmp,
        } => {
            let eal = args
                .dpdk
                .as_deref()
                .ok_or("--source dpdk needs --dpdk \"EAL ARGUMENTS\" (e.g. \"--no-huge --no-pci --no-shconf -m 512 -l 0 --vdev=net_pcap0,rx_pcap=day.pcap\")")?;
            let opts = crate::dpdk_opt::PortOpts {
                ports: ports.clone(),
                lines: *lines,
                rx_desc: *rx_desc,
                mbufs: *mbufs,
                end_after_idle: None,
                igmp: igmp.clone(),
            };
            (
                crate::dpdk_opt::open(crate::dpdk_opt::eal_args(eal, None), &opts)?,
                *request,
            )
        }
    };
    let ring = hotpath_shm::broadcast::create::<MdEvent>(&dir.join("md"), args.ring_capacity)?;
    let mut cfg = FeedConfig {
        symbols: args.symbols.clone(),
        ..FeedConfig::default()
    };
    // Live: room to hold ~0.5 s of a busy feed behind a gap, and requests large enough
    // to catch up faster than the feed runs (a request server answers up to 64
    // packets of ~40 messages).
    cfg.session.buffer_capacity = 1 << 20;
    cfg.session.max_request_count = 2048;
    if let Some(s) = args.start_sequence {
        cfg.session.start = hotpath_feed::moldudp64::StartAt::Sequence(s);
    }
    cfg.session.request_interval_ns = 200_000;
    let mut feed = Feed::new(&cfg, ShmPublisher::new(ring, !args.bbo_only))?;
    if let Some(server) = request {
        feed = feed.with_request_server(server)?;
    }
    let mut counters = FeedCounters::create(&dir.join("feed.counters"))?;
    // The port's own counters are read on a thread of their own, on the cores this
    // process started with other than this thread's (--core, or the EAL's main lcore,
    // which the EAL pinned it to): the loop below never reads the port. Made before
    // this thread is raised to SCHED_FIFO, which would starve a thread still on its
    // core; `spawn` returns once that thread has moved.
    let hot_cores = match args.core {
        Some(core) => vec![core],
        None => hotpath_hw::discipline::current_thread_affinity()?,
    };
    let nic = match (src.nic_reader(), counters.take_nic()) {
        (Some(read), Some(out)) => Some(NicPublisher::spawn(
            read,
            out,
            Duration::from_millis(100),
            hot_cores,
            start_cores,
            |nic| eprintln!("hotpath feed: {}", link_news(nic)),
        )?),
        _ => None,
    };
    // The rings and books were prefaulted when made; now pin, raise and lock.
    let applied = discipline.apply_to_current_thread()?;
    eprintln!(
        "hotpath feed: {} -> {} (market data ring `md`, {} slots; counters `feed.counters`; {applied})",
        src.describe(),
        dir.display(),
        thousands(args.ring_capacity)
    );
    // A port never ends by itself: like UDP, it runs until a signal or the end of session.
    let live = matches!(spec, SourceSpec::Udp { .. } | SourceSpec::Dpdk { .. });
    let mut idle = discipline.idle_strategy();
    let mut ended = false;
    let mut last_publish = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let now = hotpath_shm::clock::monotonic_ns();
        let n = match feed.pump(src.as_mut()) {
            Ok(n) => n,
            Err(SourceError::End) => {
                ended = true;
                0
            }
            Err(e) => return Err(e.into()),
        };
        let answers = feed.poll(now);
        if n > 0 || now - last_publish > 1_000_000 {
            counters.publish(&feed, &src.stats(), now);
            last_publish = now;
        }
        if ended && !live {
            break;
        }
        if args.until_end_of_session && feed.session.is_finished() {
            break;
        }
        idle.idle(n + answers);
    }
    src.close(); // a DPDK port leaves its groups: counted in the last publish
    counters.publish(&feed, &src.stats(), hotpath_shm::clock::monotonic_ns());
    let f = &feed.core.stats;
    let s = feed.session.stats();
    eprintln!(
        "hotpath feed: stopped after {} messages ({} packets, {} gaps, {} recovered, {} lost, {} events published)",
        thousands(f.messages),
        thousands(s.packets_total()),
        thousands(s.gaps_detected),
        thousands(s.messages_recovered_total()),
        thousands(s.messages_lost),
        thousands(feed.core.publisher.published()),
    );
    // A last read of the port, then its thread ends.
    drop(nic);
    Ok(ExitCode::SUCCESS)
}

/// What the operator is told when the count of ports with their link down changes.
fn link_news(nic: &hotpath_feed::source::NicStats) -> String {
    let falls = nic.link_downs;
    match (nic.links_down, nic.ports) {
        (0, 1) => format!("link up on the port ({falls} falls so far)"),
        (0, n) => format!("link up on all {n} ports ({falls} falls so far)"),
        (_, 1) => format!(
            "LINK DOWN on the port: nothing can arrive until it is back ({falls} falls so far)"
        ),
        (d, n) => format!(
            "LINK DOWN on {d} of {n} ports: nothing can arrive there until they are back \
             ({falls} falls so far)"
        ),
    }
}

// ------------------------------------------------------------------ send

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// A pcap of MoldUDP64 packets (e.g. from `hotpath gen --pcap`).
    pub pcap: PathBuf,
    /// Line A's multicast group and port.
    #[arg(long, default_value = "239.1.1.1:26477")]
    pub to: SocketAddrV4,
    /// Also send line B to this group and port.
    #[arg(long)]
    pub b: Option<SocketAddrV4>,
    /// Interface to send on.
    #[arg(long, default_value = "lo")]
    pub iface: String,
    /// Send from this source address (one of the host's; default: the interface's),
    /// as that source's channel (S,G) for a feed that joined it (`a_source=`).
    #[arg(long)]
    pub from: Option<Ipv4Addr>,
    /// Packets per second per line (default: as fast as possible).
    #[arg(long)]
    pub rate: Option<u64>,
    /// Probability of dropping a packet, per line.
    #[arg(long, default_value_t = 0.0)]
    pub drop: f64,
    /// Probability of dropping a packet on both lines (only a re-request brings it back).
    #[arg(long, default_value_t = 0.0)]
    pub drop_both: f64,
    /// Probability of sending a packet twice, per line.
    #[arg(long, default_value_t = 0.0)]
    pub dup: f64,
    /// Probability of swapping a packet with the next, per line.
    #[arg(long, default_value_t = 0.0)]
    pub reorder: f64,
    /// Seed of the fault injection.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Answer MoldUDP64 re-requests on this address (history: the clean packets).
    #[arg(long)]
    pub serve_requests: Option<SocketAddrV4>,
    /// With --serve-requests: keep answering this many ms after the last packet, and
    /// repeat the end of session every 250 ms meanwhile (as MoldUDP64 servers do).
    #[arg(long, default_value_t = 2000)]
    pub linger_ms: u64,
}

pub fn send_cmd(args: &SendArgs) -> CmdResult {
    let mut src = PcapSource::open(&args.pcap, Lines::default(), Pace::AsFast)?;
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    let faults = Faults {
        drop: args.drop,
        duplicate: args.dup,
        reorder: args.reorder,
        seed: args.seed,
    };
    let cfg = ReplayConfig {
        a: args.to,
        b: args.b,
        iface: args.iface.clone(),
        from: args.from,
        rate_pps: args.rate,
        faults_a: faults,
        faults_b: Faults {
            seed: faults.seed.wrapping_add(1),
            ..faults
        },
        drop_both: args.drop_both,
    };
    let server_stop = Arc::new(AtomicBool::new(false));
    let server = match args.serve_requests {
        Some(addr) => {
            let session = session_of(&args.pcap)?;
            let mut scfg = moldudp64::ServerConfig::new(session);
            scfg.history_capacity = 1 << 22;
            scfg.max_packets_per_request = 64;
            scfg.rate_limit = None;
            let s = TapServer::start(addr, scfg, Arc::clone(&server_stop))?;
            eprintln!("hotpath send: answering re-requests on {}", s.addr);
            Some(s)
        }
        None => None,
    };
    let mut end_of_session = None;
    let stats = replay::replay(
        &mut src,
        &cfg,
        |p| {
            if let Some(s) = &server {
                s.record(p);
                if replay::is_end_of_session(p) {
                    end_of_session = Some(p.to_vec());
                }
            }
        },
        &stop,
    )?;
    eprintln!(
        "hotpath send: {} packets; line A sent {} (dropped {}, duplicated {}, reordered {}){}",
        thousands(stats.packets),
        thousands(stats.a.sent),
        stats.a.dropped,
        stats.a.duplicated,
        stats.a.reordered,
        if args.b.is_some() {
            format!(
                "; line B sent {} (dropped {}, duplicated {}, reordered {})",
                thousands(stats.b.sent),
                stats.b.dropped,
                stats.b.duplicated,
                stats.b.reordered
            )
        } else {
            String::new()
        }
    );
    if args.b.is_some() {
        eprintln!(
            "hotpath send: {} packets on neither line",
            thousands(stats.dropped_both)
        );
    }
    if let Some(s) = server {
        let end = Instant::now() + Duration::from_millis(args.linger_ms);
        // The end of session is repeated while the request server lingers.
        let repeats = match &end_of_session {
            Some(packet) => replay::repeat_end_of_session(&cfg, packet, end, &stop)?,
            None => 0,
        };
        while Instant::now() < end && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if repeats > 0 {
            eprintln!("hotpath send: end of session sent {repeats} more times while answering");
        }
        server_stop.store(true, Ordering::Relaxed);
        let answered = s.responder.lock().map(|r| r.stats().clone()).ok();
        s.join()?;
        if let Some(st) = answered {
            eprintln!("hotpath send: request server: {st:?}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The MoldUDP64 session of the first packet in a capture.
fn session_of(pcap: &Path) -> Result<moldudp64::SessionId, crate::Error> {
    let mut src = PcapSource::open(pcap, Lines::default(), Pace::AsFast)?;
    let mut found = None;
    while found.is_none() {
        match src.recv_burst(&mut |p, _| {
            if found.is_none() {
                if let Ok(pkt) = moldudp64::Packet::new_checked(p) {
                    found = Some(*pkt.session());
                }
            }
        }) {
            Ok(_) => {}
            Err(SourceError::End) => break,
            Err(e) => return Err(e.into()),
        }
    }
    found.ok_or_else(|| format!("{}: no MoldUDP64 packet in the capture", pcap.display()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_on_a_throttling_host_is_warned_with_the_stall_and_the_sysctl() {
        let t = |r, p| RtThrottle::parse(r, p);
        let w = rt_throttle_warning(t("950000", "1000000")).unwrap();
        assert!(
            w.contains("(sched_rt_runtime_us 950000 of sched_rt_period_us 1000000)"),
            "{w}"
        );
        assert!(
            w.contains(
                "stops a SCHED_FIFO thread that does not sleep for up to 50 ms of every 1000 ms"
            ),
            "{w}"
        );
        assert!(w.contains("sysctl -w kernel.sched_rt_runtime_us=-1"), "{w}");
        let w = rt_throttle_warning(t("999500", "1000000")).unwrap();
        assert!(w.contains("for up to 0.5 ms of every 1000 ms"), "{w}");
        assert_eq!(rt_throttle_warning(t("-1", "1000000")), None);
        assert_eq!(rt_throttle_warning(t("1000000", "1000000")), None);
        let w = rt_throttle_warning(Err("/proc/sys/kernel/sched_rt_runtime_us: gone".into()));
        assert!(w.unwrap().contains("cannot tell whether"));
    }

    #[test]
    fn link_news_says_how_many_ports_are_down_of_how_many() {
        let nic = |ports, links_down, link_downs| hotpath_feed::source::NicStats {
            ports,
            links_down,
            link_downs,
            ..Default::default()
        };
        assert_eq!(
            link_news(&nic(1, 1, 0)),
            "LINK DOWN on the port: nothing can arrive until it is back (0 falls so far)"
        );
        assert_eq!(
            link_news(&nic(1, 0, 1)),
            "link up on the port (1 falls so far)"
        );
        assert!(link_news(&nic(2, 1, 3)).starts_with("LINK DOWN on 1 of 2 ports:"));
        assert_eq!(
            link_news(&nic(2, 0, 3)),
            "link up on all 2 ports (3 falls so far)"
        );
    }

    #[test]
    fn sources_parse_or_say_what_is_wrong() {
        let s = parse_source(
            "udp://239.1.1.1:26477?iface=lo&b=239.1.1.2:26478&request=127.0.0.1:26500",
        )
        .unwrap();
        assert_eq!(
            s,
            SourceSpec::Udp {
                a: "239.1.1.1:26477".parse().unwrap(),
                b: Some("239.1.1.2:26478".parse().unwrap()),
                a_source: None,
                b_source: None,
                iface: "lo".into(),
                request: Some("127.0.0.1:26500".parse().unwrap()),
                rcvbuf: None,
                sockets: Sockets::Auto,
            }
        );
        assert_eq!(
            parse_source("pcap:/x/day.pcap?speed=10").unwrap(),
            SourceSpec::Pcap {
                path: "/x/day.pcap".into(),
                pace: Pace::Speed(10.0)
            }
        );
        assert_eq!(
            parse_source("day.pcap").unwrap(),
            SourceSpec::Pcap {
                path: "day.pcap".into(),
                pace: Pace::AsFast
            }
        );
        assert!(parse_source("udp://239.1.1.1:26477")
            .unwrap_err()
            .contains("iface"));
        assert!(parse_source("udp://nonsense?iface=lo")
            .unwrap_err()
            .contains("not an IPv4"));
        assert!(parse_source("udp://239.1.1.1:1?iface=lo&x=1")
            .unwrap_err()
            .contains("unknown option"));
        assert!(matches!(
            parse_source("udp://239.1.1.1:1?iface=lo&rcvbuf=262144"),
            Ok(SourceSpec::Udp {
                rcvbuf: Some(262_144),
                ..
            })
        ));
        for (q, want) in [("one", Sockets::One), ("per-line", Sockets::PerLine)] {
            assert!(matches!(
                parse_source(&format!("udp://239.1.1.1:1?iface=lo&b=239.1.1.2:1&sockets={q}")),
                Ok(SourceSpec::Udp { sockets, .. }) if sockets == want
            ));
        }
        for (q, why) in [
            ("b=239.1.1.2:1&sockets=two", "sockets `two` is not `one`"),
            (
                "sockets=one",
                "sockets=one is for lines A and B: name line B",
            ),
            (
                "b=239.1.1.2:2&sockets=one",
                "sockets=one needs lines A and B on one port, not 239.1.1.1:1 and 239.1.1.2:2",
            ),
        ] {
            let e = parse_source(&format!("udp://239.1.1.1:1?iface=lo&{q}")).unwrap_err();
            assert!(e.contains(why), "{q}: {e}");
        }
        for bad in ["100", "2000000000", "1k"] {
            assert!(
                parse_source(&format!("udp://239.1.1.1:1?iface=lo&rcvbuf={bad}"))
                    .unwrap_err()
                    .contains(&format!("rcvbuf `{bad}` is not a byte count from 4096")),
                "{bad}"
            );
        }
        assert!(parse_source("pcap:a.pcap?speed=-1")
            .unwrap_err()
            .contains("positive"));
        assert!(parse_source("ftp://x").unwrap_err().contains("expected"));
        let dpdk = |port: Option<&str>| SourceSpec::Dpdk {
            ports: port.into_iter().map(str::to_owned).collect(),
            lines: Lines::default(),
            request: None,
            rx_desc: None,
            mbufs: None,
            igmp: None,
        };
        assert_eq!(parse_source("dpdk").unwrap(), dpdk(None));
        assert_eq!(
            parse_source("dpdk:net_pcap0").unwrap(),
            dpdk(Some("net_pcap0"))
        );
        assert_eq!(parse_source("dpdk?").unwrap(), dpdk(None));
        let a: SocketAddrV4 = "239.1.1.1:26477".parse().unwrap();
        let b: SocketAddrV4 = "239.1.1.2:26477".parse().unwrap();
        let r: SocketAddrV4 = "10.0.0.9:26500".parse().unwrap();
        assert_eq!(
            parse_source(
                "dpdk:0?a=239.1.1.1:26477&b=239.1.1.2:26477&request=10.0.0.9:26500&rx_desc=4096&mbufs=65535"
            )
            .unwrap(),
            SourceSpec::Dpdk {
                ports: vec!["0".into()],
                lines: Lines {
                    a: Some(a),
                    b: Some(b),
                    ..Lines::default()
                },
                request: Some(r),
                rx_desc: Some(4096),
                mbufs: Some(65535),
                igmp: None,
            }
        );
        assert_eq!(
            parse_source("dpdk?a=239.1.1.1:26477").unwrap(),
            SourceSpec::Dpdk {
                ports: Vec::new(),
                lines: Lines {
                    a: Some(a),
                    b: None,
                    ..Lines::default()
                },
                request: None,
                rx_desc: None,
                mbufs: None,
                igmp: None,
            }
        );
        // Joining with IGMP: one address per port.
        let Ok(SourceSpec::Dpdk {
            igmp: Some(igmp), ..
        }) = parse_source(
            "dpdk:0,1?a=239.1.1.1:26477&b=239.1.1.2:26477&igmp=v3&ip=10.0.0.5,10.0.1.5&vlan=141",
        )
        else {
            panic!("igmp options parse");
        };
        let cfgs = igmp
            .configs(
                2,
                &Lines {
                    a: Some(a),
                    b: Some(b),
                    ..Lines::default()
                },
            )
            .unwrap();
        assert_eq!(cfgs.len(), 2);
        assert_eq!(cfgs[1].ip, "10.0.1.5".parse::<Ipv4Addr>().unwrap());
        assert_eq!(cfgs[0].groups, [*a.ip(), *b.ip()]);
        assert_eq!((cfgs[0].vlan, cfgs[0].version), (Some(141), Version::V3));
        // Two ports, line A's and line B's (PCI addresses hold colons).
        assert_eq!(
            parse_source("dpdk:0000:3b:00.0,0000:af:00.0?a=239.1.1.1:26477&b=239.1.1.2:26477")
                .unwrap(),
            SourceSpec::Dpdk {
                ports: vec!["0000:3b:00.0".into(), "0000:af:00.0".into()],
                lines: Lines {
                    a: Some(a),
                    b: Some(b),
                    ..Lines::default()
                },
                request: None,
                rx_desc: None,
                mbufs: None,
                igmp: None,
            }
        );
        for (bad, says) in [
            ("dpdk:0,", "a port (device name or number) is empty"),
            ("dpdk:0,1,0?a=239.1.1.1:1", "port `0` is listed twice"),
            ("dpdk:0,1", "several ports need the lines named"),
            ("dpdk:", "empty"),
            ("dpdk:?a=239.1.1.1:1", "empty"),
            ("dpdk?a=nonsense", "line A `nonsense` is not an IPv4"),
            ("dpdk?b=239.1.1.2:26477", "needs line A"),
            (
                "dpdk?rx_desc=0",
                "rx_desc `0` is not a count from 1 to 65535",
            ),
            ("dpdk?rx_desc=70000", "rx_desc `70000`"),
            ("dpdk?mbufs=x", "mbufs `x`"),
            (
                "dpdk?rx_desc=1024&mbufs=1024",
                "mbufs=1024 must exceed rx_desc=1024",
            ),
            ("dpdk?queues=2", "unknown option `queues`"),
            (
                "dpdk?a=239.1.1.1:1&igmp=v4&ip=10.0.0.1",
                "IGMP version `v4`",
            ),
            ("dpdk?a=239.1.1.1:1&igmp=v3", "igmp= needs ip=ADDRESS"),
            ("dpdk?a=239.1.1.1:1&ip=10.0.0.1", "add igmp=v2 or igmp=v3"),
            ("dpdk?a=239.1.1.1:1&vlan=141", "add igmp=v2 or igmp=v3"),
            ("dpdk?igmp=v3&ip=10.0.0.1", "name line A"),
            (
                "dpdk?a=10.1.1.1:1&igmp=v3&ip=10.0.0.1",
                "10.1.1.1 is not a group",
            ),
            (
                "dpdk?a=239.1.1.1:1&igmp=v2&ip=10.0.0.1,x",
                "ip `10.0.0.1,x`",
            ),
            (
                "dpdk?a=239.1.1.1:1&igmp=v2&ip=10.0.0.1&vlan=4095",
                "vlan `4095`",
            ),
            (
                "dpdk:0,1?a=239.1.1.1:1&igmp=v2&ip=10.0.0.1",
                "ip= lists one address per port (2 ports, 1 address)",
            ),
            ("dpdk?a", "`a` is not key=value"),
            ("dpdkx", "expected"),
            ("dpdk?a_source=10.0.0.1", "name line A too"),
            ("dpdk?a=232.1.1.1:1&b_source=10.0.0.1", "name line B too"),
            (
                "dpdk?a=232.1.1.1:1&a_source=232.0.0.9",
                "cannot be a multicast source",
            ),
            (
                "dpdk?a=232.1.1.1:1&a_source=x",
                "a_source `x` is not an IPv4",
            ),
            (
                "dpdk?a=232.1.1.1:1&a_source=10.0.0.1&igmp=v2&ip=10.0.0.5",
                "needs version 3",
            ),
            ("dpdk?a=232.1.1.1:1&b=232.1.1.1:1", "two different sources"),
            (
                "dpdk?a=232.1.1.1:1&b=232.1.1.1:1&a_source=10.0.0.1&b_source=10.0.0.1",
                "two different sources",
            ),
            (
                "udp://232.1.1.1:1?iface=lo&b_source=10.0.0.1",
                "name line B too",
            ),
            (
                "udp://232.1.1.1:1?iface=lo&a_source=0.0.0.0",
                "cannot be a multicast source",
            ),
            (
                "udp://232.1.1.1:1?iface=lo&b=232.1.1.1:1&a_source=10.0.0.1",
                "two different sources",
            ),
        ] {
            let e = parse_source(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(parse_source("dpdk:").unwrap_err().contains("empty"));
    }

    #[test]
    fn lines_may_be_source_specific_channels() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let (g1, g2) = ("232.1.1.1:26477", "232.1.1.2:26477");
        assert_eq!(
            parse_source(&format!(
                "udp://{g1}?iface=lo&b={g1}&a_source=10.0.0.1&b_source=10.0.0.2"
            ))
            .unwrap(),
            SourceSpec::Udp {
                a: g1.parse().unwrap(),
                b: Some(g1.parse().unwrap()),
                a_source: Some(ip("10.0.0.1")),
                b_source: Some(ip("10.0.0.2")),
                iface: "lo".into(),
                request: None,
                rcvbuf: None,
                sockets: Sockets::Auto,
            }
        );
        // What each port joins with IGMP version 3.
        let joins = |q: &str| {
            let Ok(SourceSpec::Dpdk {
                lines,
                igmp: Some(igmp),
                ..
            }) = parse_source(&format!("dpdk?igmp=v3&ip=10.0.0.5&{q}"))
            else {
                panic!("{q} parses");
            };
            let c = igmp.configs(1, &lines).unwrap().remove(0);
            (c.groups, c.sources)
        };
        let (a, b, s1, s2) = (
            ip("232.1.1.1"),
            ip("232.1.1.2"),
            ip("10.0.0.1"),
            ip("10.0.0.2"),
        );
        assert_eq!(
            joins(&format!(
                "a={g1}&b={g2}&a_source=10.0.0.1&b_source=10.0.0.2"
            )),
            (vec![a, b], vec![(a, s1), (b, s2)])
        );
        assert_eq!(
            joins(&format!(
                "a={g1}&b={g1}&a_source=10.0.0.1&b_source=10.0.0.2"
            )),
            (vec![a], vec![(a, s1), (a, s2)]),
            "one group, two channels"
        );
        assert_eq!(
            joins(&format!("a={g1}&b={g2}&b_source=10.0.0.2")),
            (vec![a, b], vec![(b, s2)])
        );
        // Line B takes the group from any source on another port: so must the join.
        assert_eq!(
            joins("a=232.1.1.1:1&b=232.1.1.1:2&a_source=10.0.0.1"),
            (vec![a], vec![])
        );
    }

    use hotpath_feed::igmp::Version;

    #[test]
    fn pcap_magic_is_detected() {
        assert_eq!(detect_format(&0xa1b2c3d4u32.to_le_bytes()), Format::Pcap);
        assert_eq!(detect_format(&0xa1b23c4du32.to_le_bytes()), Format::Pcap);
        assert_eq!(detect_format(&[0, 12, b'S']), Format::Itch);
        assert_eq!(detect_format(&[]), Format::Itch);
    }
}
