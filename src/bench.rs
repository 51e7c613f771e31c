//! `hotpath bench ...`: benchmarks that print the machine and p50/p99/p99.9/max, and
//! JSON with `--json`. Figures and commands are recorded in docs/PERFORMANCE.md.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::Subcommand;
use hotpath_benches::ring::{self, RingBenchConfig};

use crate::{CmdResult, ShmArgs};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Ring round-trip latency and throughput: the raw one-cache-line ping-pong floor,
    /// the hotpath SPSC ring between threads and between processes, rtrb and crossbeam.
    Ring {
        /// Print the report as JSON on stdout (the table still goes to stderr).
        #[arg(long)]
        json: bool,
        /// Measured round trips per latency measurement.
        #[arg(long, default_value_t = 1_000_000)]
        round_trips: u64,
        /// Messages per throughput measurement (per implementation and round).
        #[arg(long, default_value_t = 10_000_000)]
        messages: u64,
        /// Interleaved throughput rounds; the median is reported.
        #[arg(long, default_value_t = 9)]
        rounds: u32,
        /// Slots per ring (a power of two).
        #[arg(long, default_value_t = 4096)]
        capacity: u64,
        /// The two cores to pin to, e.g. `0,1` (default: the first two available).
        #[arg(long, value_parser = parse_cores)]
        cores: Option<(usize, usize)>,
        /// Directory for the ring files (default: a fresh one under /dev/shm).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Feed handler: ITCH decode vs itchy, decode + L3 book (mean and per-message
    /// percentiles), and end-to-end replay of a generated MoldUDP64 day.
    Feed {
        /// Print the report as JSON on stdout (the table still goes to stderr).
        #[arg(long)]
        json: bool,
        /// Messages in the generated stream.
        #[arg(long, default_value_t = 50_000_000)]
        messages: u64,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Symbols in the generated stream.
        #[arg(long, default_value_t = 100)]
        symbols: u16,
        /// Timed rounds per pass (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
    },
    /// Packet sources through the feed's decode, packets/s: the DPDK source on a
    /// `net_pcap` vdev replaying from memory, the pcap-file source, recvmmsg on loopback
    /// multicast, and `dpdk-testpmd` rxonly on the same vdev (the bare-DPDK ceiling).
    /// Needs a binary built with `--features dpdk`.
    Sources {
        /// Print the report as JSON on stdout (the table still goes to stderr).
        #[arg(long)]
        json: bool,
        /// Seconds each pass is timed.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Seconds of the same work before each timed pass.
        #[arg(long, default_value_t = 0.5)]
        warmup: f64,
        /// Rounds of every pass (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Messages in the generated capture (about 43 per 1400-byte packet).
        #[arg(long, default_value_t = 3_000_000)]
        messages: u64,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Largest MoldUDP64 packet (UDP payload) in the capture, bytes.
        #[arg(long, default_value_t = 1400)]
        max_packet: usize,
        /// The testpmd binary (a path, or a name looked up in PATH).
        #[arg(long, default_value = "dpdk-testpmd")]
        testpmd: PathBuf,
        /// Interface of the recvmmsg pass.
        #[arg(long, default_value = "lo")]
        iface: String,
        /// (diagnostic) Per-lcore mempool cache of the DPDK source's pool, in mbufs
        /// (default: the port's, 256; 0: none, as before issue 4).
        #[arg(long)]
        mempool_cache: Option<u32>,
    },
    /// (internal) the cross-process echo side of `bench ring`.
    #[command(hide = true)]
    RingEcho {
        ping: PathBuf,
        pong: PathBuf,
        #[arg(long)]
        core: Option<usize>,
    },
}

fn parse_cores(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("expected two cores as A,B, got `{s}`"))?;
    let n = |v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("`{v}` is not a core number"))
    };
    Ok((n(a)?, n(b)?))
}

fn spawn_echo(
    ping: &Path,
    pong: &Path,
    core: Option<usize>,
) -> std::io::Result<std::process::Child> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["bench", "ring-echo"]).arg(ping).arg(pong);
    if let Some(c) = core {
        cmd.arg("--core").arg(c.to_string());
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).spawn()
}

pub fn run(_shm: &ShmArgs, cmd: BenchCommand) -> CmdResult {
    match cmd {
        BenchCommand::Ring {
            json,
            round_trips,
            messages,
            rounds,
            capacity,
            cores,
            dir,
        } => {
            let cfg = RingBenchConfig {
                round_trips,
                throughput_messages: messages,
                throughput_rounds: rounds,
                capacity,
                cores,
                shm_dir: dir.unwrap_or_else(ring::default_shm_dir),
            };
            let report = ring::run(&cfg, &spawn_echo)?;
            ring::print_table(&report, &mut std::io::stderr())?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Feed {
            json,
            messages,
            seed,
            symbols,
            rounds,
        } => {
            let cfg = hotpath_benches::feed::FeedBenchConfig {
                messages,
                seed,
                symbols,
                rounds,
                ..Default::default()
            };
            let report = hotpath_benches::feed::run(&cfg, |s| eprintln!("  {s}"))?;
            hotpath_benches::feed::print_table(&report, &mut std::io::stderr())?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Sources {
            json,
            seconds,
            warmup,
            rounds,
            messages,
            seed,
            max_packet,
            testpmd,
            iface,
            mempool_cache,
        } => {
            use hotpath_benches::sources;
            let cfg = sources::SourcesBenchConfig {
                messages,
                seed,
                max_packet,
                seconds,
                warmup_seconds: warmup,
                rounds,
                testpmd,
                iface,
                mempool_cache,
                ..Default::default()
            };
            let report = sources::run(&cfg, |s| eprintln!("  {s}"))?;
            sources::print_table(&report, &mut std::io::stderr())?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::RingEcho { ping, pong, core } => {
            ring::echo_child(&ping, &pong, core)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
