//! The ring benchmark: how fast hotpath's shm SPSC ring moves one 64-byte message,
//! against the physical floor and two in-process peers.
//!
//! Round-trip latency (each round trip timed with [`Instant`], recorded in an
//! HdrHistogram in nanoseconds, 3 significant figures), between two threads pinned to
//! two different cores:
//!
//! - `pingpong`: one 64-byte line holding an `AtomicU64`; A stores `2k+1`, B waits for it
//!   and stores `2k+2`, A waits for that. Two cache-line transfers per round trip: the
//!   floor any ring can reach on this machine.
//! - `shm`: two hotpath SPSC rings (ping, pong) in files under the scratch directory.
//! - `shm_xproc`: the same with B in a child process, started through the caller's
//!   `spawn_echo` callback, which must run [`echo_child`] (the CLI's hidden
//!   `hotpath bench ring-echo PING PONG [--core N]`). A message with `seq == STOP` tells
//!   the child to exit.
//! - `rtrb`: two `rtrb::RingBuffer`s.
//! - `crossbeam`: two `crossbeam_queue::ArrayQueue`s.
//!
//! Throughput: one producer thread pushes messages one at a time (spinning when full),
//! one consumer thread pops them one at a time and checks the sequence; msgs/s is the
//! count over the time from the producer's start to the consumer's last pop. Each
//! implementation is measured in several rounds, interleaved (shm, shm in batches,
//! rtrb, crossbeam, shm, ...) so a noisy neighbour hurts all alike, and the median
//! round is reported.
//!
//! Every wait is a spin (`std::hint::spin_loop`); only when the process has a single
//! core do waits yield instead (two spinning threads on one core would each burn a
//! whole time slice per hand-off), and the report says so.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use hdrhistogram::Histogram;
use hotpath_shm::{spsc, Liveness, PushError};

use crate::fmt::thousands;
use serde::{Deserialize, Serialize};

use crate::machine::Machine;

hotpath_shm::shm_message! {
    /// The benchmark's message: exactly one cache line, and aligned to one, so every
    /// implementation's slots are line-aligned. (With 8-byte alignment the hotpath
    /// ring's slots are still line-aligned, its data starting on a page, but `rtrb`'s
    /// heap buffer generally is not: each message then straddles two lines, which
    /// costs `rtrb` about a quarter of its throughput. Aligning the type measures
    /// `rtrb` at its best; crossbeam's slots, a stamp plus the value, take two lines
    /// either way.)
    #[repr(align(64))]
    pub struct Msg (size = 64) {
        /// Sequence number (round trip or message index); [`STOP`] ends an echo.
        pub seq: u64,
        /// Free for a timestamp; the benchmark leaves it zero.
        pub t: u64,
        /// Fills the line.
        pub pad: [u64; 6],
    }
}

impl Msg {
    /// A message with sequence number `seq`.
    #[inline(always)]
    pub fn new(seq: u64) -> Msg {
        Msg {
            seq,
            t: 0,
            pad: [0; 6],
        }
    }
}

/// A message with this sequence number tells the echo side to exit.
pub const STOP: u64 = u64::MAX;

/// Size of one benchmark message in bytes.
pub const MESSAGE_BYTES: usize = std::mem::size_of::<Msg>();

/// Messages per `push_slice` / `pop_slice` in the batch throughput measurement.
pub const BATCH: usize = 64;

/// More round trips than anyone will wait for; keeps the sequence arithmetic far from
/// overflow.
const MAX_ROUND_TRIPS: u64 = 1 << 48;

/// Starts the cross-process echo side: `spawn_echo(ping, pong, core)` must start a
/// child process that calls [`echo_child`]`(ping, pong, core)` and exits when it
/// returns.
pub type SpawnEcho = dyn Fn(&Path, &Path, Option<usize>) -> io::Result<Child>;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingBenchConfig {
    /// Measured round trips per latency measurement (plus 10% unrecorded warm-up).
    pub round_trips: u64,
    /// Messages per throughput measurement (per implementation and round).
    pub throughput_messages: u64,
    /// Interleaved throughput rounds per implementation; the median is reported.
    pub throughput_rounds: u32,
    /// Slots in every ring and queue (a power of two, at least 2).
    pub capacity: u64,
    /// The two cores to pin the two sides to; `None`: the first two available cores
    /// (unpinned if the process has only one).
    pub cores: Option<(usize, usize)>,
    /// Directory for the shm ring files (created if missing; a tmpfs such as
    /// `/dev/shm`). The benchmark removes the files it made, and the directory if it
    /// created it.
    pub shm_dir: PathBuf,
}

impl Default for RingBenchConfig {
    /// 1,000,000 round trips, 10,000,000 messages x 9 rounds, capacity 4096, default
    /// cores, [`default_shm_dir`].
    fn default() -> Self {
        RingBenchConfig {
            round_trips: 1_000_000,
            throughput_messages: 10_000_000,
            throughput_rounds: 9,
            capacity: 4096,
            cores: None,
            shm_dir: default_shm_dir(),
        }
    }
}

/// `/dev/shm/hotpath-bench-<pid>` (or the same under the temp directory when there is
/// no `/dev/shm`).
pub fn default_shm_dir() -> PathBuf {
    let base = Path::new("/dev/shm");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("hotpath-bench-{}", std::process::id()))
}

/// The benchmark's results: one flat record (plus the machine), serialised as JSON by
/// `hotpath bench ring --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RingReport {
    pub pingpong_rtt_ns_p50: u64,
    pub pingpong_rtt_ns_p99: u64,
    pub pingpong_rtt_ns_p999: u64,
    pub pingpong_rtt_ns_max: u64,
    pub shm_rtt_ns_p50: u64,
    pub shm_rtt_ns_p99: u64,
    pub shm_rtt_ns_p999: u64,
    pub shm_rtt_ns_max: u64,
    pub shm_xproc_rtt_ns_p50: u64,
    pub shm_xproc_rtt_ns_p99: u64,
    pub shm_xproc_rtt_ns_p999: u64,
    pub shm_xproc_rtt_ns_max: u64,
    pub rtrb_rtt_ns_p50: u64,
    pub rtrb_rtt_ns_p99: u64,
    pub rtrb_rtt_ns_p999: u64,
    pub rtrb_rtt_ns_max: u64,
    pub crossbeam_rtt_ns_p50: u64,
    pub crossbeam_rtt_ns_p99: u64,
    pub crossbeam_rtt_ns_p999: u64,
    pub crossbeam_rtt_ns_max: u64,

    /// Median over the rounds, messages per second, one message per push and pop.
    pub shm_msgs_per_s: u64,
    pub rtrb_msgs_per_s: u64,
    pub crossbeam_msgs_per_s: u64,
    /// hotpath's ring with `push_slice` / `pop_slice` of [`BATCH`] messages.
    pub shm_batch_msgs_per_s: u64,
    /// Every round's result, in the order run (for judging noise).
    pub shm_msgs_per_s_rounds: Vec<u64>,
    pub rtrb_msgs_per_s_rounds: Vec<u64>,
    pub crossbeam_msgs_per_s_rounds: Vec<u64>,
    pub shm_batch_msgs_per_s_rounds: Vec<u64>,

    /// Median over rounds of that round's `shm / rtrb` throughput. Each round runs
    /// both back to back, so the pairing cancels the machine's slow drifts (this VM
    /// moves between states 3x apart); the ratio of the two medians is in the rounds.
    pub shm_vs_rtrb_throughput: f64,
    /// `shm_xproc_rtt_ns_p50 / pingpong_rtt_ns_p50`.
    pub shm_xproc_rtt_p50_vs_floor: f64,
    /// `shm_vs_rtrb_throughput >= 1`.
    pub target_throughput_ge_rtrb: bool,
    /// `shm_xproc_rtt_ns_p50 <= 4 * pingpong_rtt_ns_p50`.
    pub target_xproc_rtt_le_4x_floor: bool,

    /// Median cost of a pair of back-to-back `Instant::now()` calls, in ns; every
    /// round trip above includes it once.
    pub clock_overhead_ns: u64,
    pub round_trips: u64,
    pub warmup_round_trips: u64,
    pub throughput_messages: u64,
    pub throughput_rounds: u32,
    pub capacity: u64,
    pub message_bytes: usize,
    /// The two cores used (side A, side B), or null when unpinned.
    pub cores: Option<[usize; 2]>,
    pub pinned: bool,
    /// Anything that qualifies the numbers (e.g. "only one core: ran unpinned").
    pub notes: Vec<String>,
    pub machine: Machine,
}

/// Runs every measurement once and returns the report.
///
/// `spawn_echo(ping, pong, core)` must start a child process that calls
/// [`echo_child`]`(ping, pong, core)` and exits when it returns (the CLI: re-execute
/// itself as `hotpath bench ring-echo PING PONG [--core N]`; tests and examples:
/// [`spawn_self_echo`]). It is called once, for `shm_xproc`; the child is reaped
/// before `run` returns (killed first if anything went wrong).
pub fn run(cfg: &RingBenchConfig, spawn_echo: &SpawnEcho) -> Result<RingReport, String> {
    validate(cfg)?;
    let machine = Machine::detect();
    let mut notes = Vec::new();
    let ctx = resolve_cores(cfg.cores, &mut notes)?;
    let mut scratch = Scratch::new(&cfg.shm_dir)?;

    let clock_overhead_ns = clock_overhead_ns();
    let warmup = (cfg.round_trips / 10).max(1);
    let n = cfg.round_trips;

    let pingpong = rtt_pingpong(&ctx, warmup, n).map_err(|e| format!("pingpong: {e}"))?;
    let shm = {
        let ping = scratch.file("ping");
        let pong = scratch.file("pong");
        let (a_tx, b_rx) = shm_pair(&ping, cfg.capacity)?;
        let (b_tx, a_rx) = shm_pair(&pong, cfg.capacity)?;
        rtt_threads(&ctx, warmup, n, (a_tx, a_rx), (b_rx, b_tx)).map_err(|e| format!("shm: {e}"))?
    };
    let shm_xproc = {
        let ping = scratch.file("xping");
        let pong = scratch.file("xpong");
        rtt_xproc(&ctx, warmup, n, &ping, &pong, cfg.capacity, spawn_echo)?
    };
    let rtrb = {
        let (a_tx, b_rx) = rtrb::RingBuffer::<Msg>::new(cfg.capacity as usize);
        let (b_tx, a_rx) = rtrb::RingBuffer::<Msg>::new(cfg.capacity as usize);
        rtt_threads(&ctx, warmup, n, (a_tx, a_rx), (b_rx, b_tx))
            .map_err(|e| format!("rtrb: {e}"))?
    };
    let crossbeam = {
        let (a_tx, b_rx) = queue_pair(cfg.capacity);
        let (b_tx, a_rx) = queue_pair(cfg.capacity);
        rtt_threads(&ctx, warmup, n, (a_tx, a_rx), (b_rx, b_tx))
            .map_err(|e| format!("crossbeam: {e}"))?
    };

    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let tput = throughput_rounds(&ctx, cfg, &mut scratch)?;
    let ratios: Vec<f64> = tput
        .shm
        .iter()
        .zip(&tput.rtrb)
        .map(|(&s, &r)| ratio(s as f64, r as f64))
        .collect();
    let paired = crate::median(&ratios);
    drop(scratch);

    Ok(RingReport {
        pingpong_rtt_ns_p50: pingpong.p50,
        pingpong_rtt_ns_p99: pingpong.p99,
        pingpong_rtt_ns_p999: pingpong.p999,
        pingpong_rtt_ns_max: pingpong.max,
        shm_rtt_ns_p50: shm.p50,
        shm_rtt_ns_p99: shm.p99,
        shm_rtt_ns_p999: shm.p999,
        shm_rtt_ns_max: shm.max,
        shm_xproc_rtt_ns_p50: shm_xproc.p50,
        shm_xproc_rtt_ns_p99: shm_xproc.p99,
        shm_xproc_rtt_ns_p999: shm_xproc.p999,
        shm_xproc_rtt_ns_max: shm_xproc.max,
        rtrb_rtt_ns_p50: rtrb.p50,
        rtrb_rtt_ns_p99: rtrb.p99,
        rtrb_rtt_ns_p999: rtrb.p999,
        rtrb_rtt_ns_max: rtrb.max,
        crossbeam_rtt_ns_p50: crossbeam.p50,
        crossbeam_rtt_ns_p99: crossbeam.p99,
        crossbeam_rtt_ns_p999: crossbeam.p999,
        crossbeam_rtt_ns_max: crossbeam.max,
        shm_msgs_per_s: median(&tput.shm),
        rtrb_msgs_per_s: median(&tput.rtrb),
        crossbeam_msgs_per_s: median(&tput.crossbeam),
        shm_batch_msgs_per_s: median(&tput.shm_batch),
        shm_vs_rtrb_throughput: paired,
        shm_xproc_rtt_p50_vs_floor: ratio(shm_xproc.p50 as f64, pingpong.p50 as f64),
        target_throughput_ge_rtrb: paired >= 1.0,
        target_xproc_rtt_le_4x_floor: shm_xproc.p50 <= pingpong.p50.saturating_mul(4),
        shm_msgs_per_s_rounds: tput.shm,
        rtrb_msgs_per_s_rounds: tput.rtrb,
        crossbeam_msgs_per_s_rounds: tput.crossbeam,
        shm_batch_msgs_per_s_rounds: tput.shm_batch,
        clock_overhead_ns,
        round_trips: n,
        warmup_round_trips: warmup,
        throughput_messages: cfg.throughput_messages,
        throughput_rounds: cfg.throughput_rounds,
        capacity: cfg.capacity,
        message_bytes: MESSAGE_BYTES,
        cores: ctx.cores.map(|(a, b)| [a, b]),
        pinned: ctx.cores.is_some(),
        notes,
        machine,
    })
}

/// Writes the report as a human-readable table.
pub fn print_table(r: &RingReport, out: &mut dyn Write) -> io::Result<()> {
    let cores = match r.cores {
        Some([a, b]) => format!("pinned to cores {a} and {b}"),
        None => "unpinned".to_string(),
    };
    writeln!(
        out,
        "ring benchmark: {}-byte messages, capacity {}, {cores}",
        r.message_bytes, r.capacity
    )?;
    writeln!(out, "machine: {}", r.machine.summary())?;
    writeln!(
        out,
        "clock: {} ns per Instant::now() pair (included in every round trip)",
        r.clock_overhead_ns
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "round trip, ns ({} measured after {} warm-up)",
        thousands(r.round_trips),
        thousands(r.warmup_round_trips)
    )?;
    writeln!(
        out,
        "  {:<30}{:>12}{:>12}{:>12}{:>12}",
        "", "p50", "p99", "p99.9", "max"
    )?;
    let rows = [
        (
            "pingpong (cache-line floor)",
            [
                r.pingpong_rtt_ns_p50,
                r.pingpong_rtt_ns_p99,
                r.pingpong_rtt_ns_p999,
                r.pingpong_rtt_ns_max,
            ],
        ),
        (
            "shm spsc, threads",
            [
                r.shm_rtt_ns_p50,
                r.shm_rtt_ns_p99,
                r.shm_rtt_ns_p999,
                r.shm_rtt_ns_max,
            ],
        ),
        (
            "shm spsc, processes",
            [
                r.shm_xproc_rtt_ns_p50,
                r.shm_xproc_rtt_ns_p99,
                r.shm_xproc_rtt_ns_p999,
                r.shm_xproc_rtt_ns_max,
            ],
        ),
        (
            "rtrb",
            [
                r.rtrb_rtt_ns_p50,
                r.rtrb_rtt_ns_p99,
                r.rtrb_rtt_ns_p999,
                r.rtrb_rtt_ns_max,
            ],
        ),
        (
            "crossbeam ArrayQueue",
            [
                r.crossbeam_rtt_ns_p50,
                r.crossbeam_rtt_ns_p99,
                r.crossbeam_rtt_ns_p999,
                r.crossbeam_rtt_ns_max,
            ],
        ),
    ];
    for (name, [p50, p99, p999, max]) in rows {
        writeln!(
            out,
            "  {name:<30}{:>12}{:>12}{:>12}{:>12}",
            thousands(p50),
            thousands(p99),
            thousands(p999),
            thousands(max)
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "throughput, msgs/s (median of {} interleaved rounds of {} messages)",
        r.throughput_rounds,
        thousands(r.throughput_messages)
    )?;
    let rows = [
        ("shm spsc", r.shm_msgs_per_s),
        ("shm spsc, batches of 64", r.shm_batch_msgs_per_s),
        ("rtrb", r.rtrb_msgs_per_s),
        ("crossbeam ArrayQueue", r.crossbeam_msgs_per_s),
    ];
    for (name, v) in rows {
        writeln!(out, "  {name:<30}{:>12}", thousands(v))?;
    }
    writeln!(out)?;
    let met = |b: bool| if b { "met" } else { "NOT met" };
    writeln!(
        out,
        "shm / rtrb throughput      {:>6.2}   target >= 1.00: {}",
        r.shm_vs_rtrb_throughput,
        met(r.target_throughput_ge_rtrb)
    )?;
    writeln!(
        out,
        "shm xproc p50 / floor p50  {:>6.2}   target <= 4.00: {}",
        r.shm_xproc_rtt_p50_vs_floor,
        met(r.target_xproc_rtt_le_4x_floor)
    )?;
    for note in &r.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

// ------------------------------------------------------------------ echo child

/// The cross-process echo side: attaches as consumer of `ping` and producer of `pong`
/// (pinned to `core` if given), sends back every message until one with
/// `seq == STOP`, then returns. Returns an error if the parent's ends go away (it
/// died) or a ring is corrupt, so it never outlives its parent for long.
///
/// The CLI runs this as `hotpath bench ring-echo PING PONG [--core N]`.
pub fn echo_child(ping: &Path, pong: &Path, core: Option<usize>) -> Result<(), String> {
    if let Some(c) = core {
        hotpath_hw::pin_current_thread(c).map_err(|e| format!("ring echo: {e}"))?;
    }
    let yield_idle = core.is_none() && hotpath_hw::available_cores().len() < 2;
    let idle = || {
        if yield_idle {
            std::thread::yield_now()
        } else {
            std::hint::spin_loop()
        }
    };
    let mut rx = spsc::Consumer::<Msg>::attach(ping).map_err(|e| format!("ring echo: {e}"))?;
    let mut tx = spsc::Producer::<Msg>::attach(pong).map_err(|e| format!("ring echo: {e}"))?;
    loop {
        // pop_wait reports the parent's death (its producer lock gone) once drained.
        let mut m = rx.pop_wait(idle).map_err(|e| format!("ring echo: {e}"))?;
        if m.seq == STOP {
            return Ok(());
        }
        let mut spins = 0u64;
        loop {
            match tx.try_push(m) {
                Ok(()) => break,
                Err(PushError::Full(back)) => {
                    m = back;
                    spins += 1;
                    if spins.is_multiple_of(CHECK_EVERY)
                        && matches!(tx.consumer_liveness(), Ok(Liveness::Dead))
                    {
                        return Err(format!(
                            "ring echo: {}: the consumer (parent) is gone",
                            pong.display()
                        ));
                    }
                    idle();
                }
                Err(PushError::Corrupt(_, e)) => return Err(format!("ring echo: {e}")),
            }
        }
    }
}

/// Environment variable that makes [`run_self_echo_if_requested`] run the echo side.
pub const SELF_ECHO_ENV: &str = "HOTPATH_RING_BENCH_ECHO";

/// A `spawn_echo` for programs that can act as their own echo child (tests, the
/// example): re-executes the current executable with [`SELF_ECHO_ENV`] set and the
/// arguments `PING PONG [CORE]`. Such a program calls [`run_self_echo_if_requested`]
/// first thing in `main`.
pub fn spawn_self_echo(ping: &Path, pong: &Path, core: Option<usize>) -> io::Result<Child> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env(SELF_ECHO_ENV, "1").arg(ping).arg(pong);
    if let Some(c) = core {
        cmd.arg(c.to_string());
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
}

/// In a process started by [`spawn_self_echo`]: runs [`echo_child`] with the
/// arguments it was given and returns its result. Elsewhere: `None`.
pub fn run_self_echo_if_requested() -> Option<Result<(), String>> {
    std::env::var_os(SELF_ECHO_ENV)?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    Some(match args.as_slice() {
        [ping, pong] => echo_child(Path::new(ping), Path::new(pong), None),
        [ping, pong, core] => match core.to_str().and_then(|c| c.parse().ok()) {
            Some(c) => echo_child(Path::new(ping), Path::new(pong), Some(c)),
            None => Err(format!("ring echo: bad core {core:?}")),
        },
        _ => Err(format!(
            "ring echo: expected PING PONG [CORE], got {args:?}"
        )),
    })
}

// ------------------------------------------------------------------ set-up

fn validate(cfg: &RingBenchConfig) -> Result<(), String> {
    if cfg.round_trips == 0 {
        return Err("round_trips must be at least 1".into());
    }
    if cfg.round_trips > MAX_ROUND_TRIPS {
        return Err(format!("round_trips must be at most {MAX_ROUND_TRIPS}"));
    }
    if cfg.throughput_messages == 0 {
        return Err("throughput_messages must be at least 1".into());
    }
    if cfg.throughput_rounds == 0 {
        return Err("throughput_rounds must be at least 1".into());
    }
    if cfg.capacity < 2 || !cfg.capacity.is_power_of_two() {
        return Err(format!(
            "capacity {} must be a power of two, at least 2",
            cfg.capacity
        ));
    }
    if usize::try_from(cfg.capacity).is_err() {
        return Err(format!("capacity {} is too large", cfg.capacity));
    }
    Ok(())
}

/// Where the two sides run.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    /// (side A, side B), or None: unpinned.
    cores: Option<(usize, usize)>,
    /// Yield instead of spinning while waiting (only one core).
    yield_idle: bool,
}

impl Ctx {
    fn pin_a(&self) -> Result<(), String> {
        self.pin(self.cores.map(|c| c.0))
    }

    fn pin_b(&self) -> Result<(), String> {
        self.pin(self.cores.map(|c| c.1))
    }

    fn core_b(&self) -> Option<usize> {
        self.cores.map(|c| c.1)
    }

    fn pin(&self, core: Option<usize>) -> Result<(), String> {
        match core {
            Some(c) => hotpath_hw::pin_current_thread(c).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}

fn resolve_cores(want: Option<(usize, usize)>, notes: &mut Vec<String>) -> Result<Ctx, String> {
    let available = hotpath_hw::available_cores();
    match want {
        Some((a, b)) if a == b => Err(format!(
            "the two sides need two different cores, got {a} twice"
        )),
        Some((a, b)) => {
            for c in [a, b] {
                if !available.contains(&c) {
                    return Err(format!(
                        "core {c} is not available to this process (available: {available:?})"
                    ));
                }
            }
            Ok(Ctx {
                cores: Some((a, b)),
                yield_idle: false,
            })
        }
        None if available.len() >= 2 => Ok(Ctx {
            cores: Some((available[0], available[1])),
            yield_idle: false,
        }),
        None => {
            notes.push(format!(
                "only {} core available to this process: ran unpinned, waits yield instead of \
                 spinning; latencies include scheduler hand-offs",
                available.len()
            ));
            Ok(Ctx {
                cores: None,
                yield_idle: true,
            })
        }
    }
}

/// The ring files of one run; removes them (and the directory, if it made it) on drop.
struct Scratch {
    dir: PathBuf,
    created_dir: bool,
    files: Vec<PathBuf>,
}

impl Scratch {
    fn new(dir: &Path) -> Result<Scratch, String> {
        let created_dir = !dir.exists();
        if created_dir {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("{}: create directory: {e}", dir.display()))?;
        } else if !dir.is_dir() {
            return Err(format!("{}: not a directory", dir.display()));
        }
        Ok(Scratch {
            dir: dir.to_path_buf(),
            created_dir,
            files: Vec::new(),
        })
    }

    /// A file name unique to this process; removed on drop.
    fn file(&mut self, name: &str) -> PathBuf {
        let p = self
            .dir
            .join(format!("ring-bench-{}-{name}", std::process::id()));
        self.files.push(p.clone());
        p
    }

    fn remove(&mut self, path: &Path) {
        let _ = std::fs::remove_file(path);
        self.files.retain(|f| f != path);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        if self.created_dir {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

fn shm_pair(
    path: &Path,
    capacity: u64,
) -> Result<(spsc::Producer<Msg>, spsc::Consumer<Msg>), String> {
    let p = spsc::create::<Msg>(path, capacity).map_err(|e| e.to_string())?;
    let c = spsc::Consumer::<Msg>::attach(path).map_err(|e| e.to_string())?;
    Ok((p, c))
}

fn queue_pair(capacity: u64) -> (QueueTx, QueueRx) {
    let q = Arc::new(ArrayQueue::new(capacity as usize));
    (QueueTx(q.clone()), QueueRx(q))
}

// ------------------------------------------------------------------ the ends, uniformly

/// A sending end: hands the message back when full.
trait Tx: Send {
    fn try_send(&mut self, m: Msg) -> Result<Option<Msg>, String>;
}

/// A receiving end.
trait Rx: Send {
    fn try_recv(&mut self) -> Result<Option<Msg>, String>;
}

impl Tx for spsc::Producer<Msg> {
    #[inline(always)]
    fn try_send(&mut self, m: Msg) -> Result<Option<Msg>, String> {
        match self.try_push(m) {
            Ok(()) => Ok(None),
            Err(PushError::Full(m)) => Ok(Some(m)),
            Err(PushError::Corrupt(_, e)) => Err(e.to_string()),
        }
    }
}

impl Rx for spsc::Consumer<Msg> {
    #[inline(always)]
    fn try_recv(&mut self) -> Result<Option<Msg>, String> {
        self.try_pop().map_err(|e| e.to_string())
    }
}

impl Tx for rtrb::Producer<Msg> {
    #[inline(always)]
    fn try_send(&mut self, m: Msg) -> Result<Option<Msg>, String> {
        match self.push(m) {
            Ok(()) => Ok(None),
            Err(rtrb::PushError::Full(m)) => Ok(Some(m)),
        }
    }
}

impl Rx for rtrb::Consumer<Msg> {
    #[inline(always)]
    fn try_recv(&mut self) -> Result<Option<Msg>, String> {
        Ok(self.pop().ok())
    }
}

struct QueueTx(Arc<ArrayQueue<Msg>>);
struct QueueRx(Arc<ArrayQueue<Msg>>);

impl Tx for QueueTx {
    #[inline(always)]
    fn try_send(&mut self, m: Msg) -> Result<Option<Msg>, String> {
        Ok(self.0.push(m).err())
    }
}

impl Rx for QueueRx {
    #[inline(always)]
    fn try_recv(&mut self) -> Result<Option<Msg>, String> {
        Ok(self.0.pop())
    }
}

// ------------------------------------------------------------------ waiting

/// Empty polls between checks for an aborted peer, a dead child or a stall.
const CHECK_EVERY: u64 = 1 << 14;
/// A wait that makes no progress this long is an error (a hung peer), not a result.
const STALL_LIMIT: Duration = Duration::from_secs(30);
const ABORTED: &str = "aborted: the other side failed";

/// What a spinning side does while it waits: spins (or yields), and every
/// [`CHECK_EVERY`] empty polls checks that the wait can still end.
struct Waiter<'a> {
    abort: &'a AtomicBool,
    yield_idle: bool,
    child: Option<&'a mut Child>,
    stalled_since: Instant,
}

impl<'a> Waiter<'a> {
    fn new(ctx: &Ctx, abort: &'a AtomicBool) -> Waiter<'a> {
        Waiter {
            abort,
            yield_idle: ctx.yield_idle,
            child: None,
            stalled_since: Instant::now(),
        }
    }

    /// One empty poll; `n` counts this wait's empty polls.
    #[inline(always)]
    fn tick(&mut self, n: &mut u64) -> Result<(), String> {
        *n += 1;
        if (*n).is_multiple_of(CHECK_EVERY) {
            self.check(*n)?;
        }
        if self.yield_idle {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn check(&mut self, n: u64) -> Result<(), String> {
        if self.abort.load(Ordering::Relaxed) {
            return Err(ABORTED.into());
        }
        if n == CHECK_EVERY {
            self.stalled_since = Instant::now();
        } else if self.stalled_since.elapsed() > STALL_LIMIT {
            return Err(format!(
                "no progress for {STALL_LIMIT:?}: the other side hangs"
            ));
        }
        if let Some(child) = self.child.as_deref_mut() {
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!("the echo child exited early ({st})"));
            }
        }
        Ok(())
    }
}

#[inline(always)]
fn send<T: Tx>(tx: &mut T, mut m: Msg, w: &mut Waiter<'_>) -> Result<(), String> {
    let mut n = 0;
    loop {
        match tx.try_send(m)? {
            None => return Ok(()),
            Some(back) => {
                m = back;
                w.tick(&mut n)?;
            }
        }
    }
}

#[inline(always)]
fn recv<R: Rx>(rx: &mut R, w: &mut Waiter<'_>) -> Result<Msg, String> {
    let mut n = 0;
    loop {
        if let Some(m) = rx.try_recv()? {
            return Ok(m);
        }
        w.tick(&mut n)?;
    }
}

/// Sets the abort flag when dropped armed (the side failed or panicked), so the other
/// side stops waiting for it.
struct AbortOnFailure<'a>(&'a AtomicBool, bool);

impl AbortOnFailure<'_> {
    fn disarm(mut self) {
        self.1 = false;
    }
}

impl Drop for AbortOnFailure<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs `a` and `b` on two scoped threads (each pins itself), failing both when either
/// fails, and returns both results; the first real error wins over "aborted".
fn two_sides<RA: Send, RB: Send>(
    a: impl FnOnce(&AtomicBool) -> Result<RA, String> + Send,
    b: impl FnOnce(&AtomicBool) -> Result<RB, String> + Send,
) -> Result<(RA, RB), String> {
    let abort = AtomicBool::new(false);
    let (ra, rb) = std::thread::scope(|s| {
        let abort = &abort;
        let hb = s.spawn(move || {
            let g = AbortOnFailure(abort, true);
            let r = b(abort);
            if r.is_ok() {
                g.disarm();
            }
            r
        });
        let ha = s.spawn(move || {
            let g = AbortOnFailure(abort, true);
            let r = a(abort);
            if r.is_ok() {
                g.disarm();
            }
            r
        });
        let ra = ha.join().unwrap_or_else(|_| Err("side A panicked".into()));
        let rb = hb.join().unwrap_or_else(|_| Err("side B panicked".into()));
        (ra, rb)
    });
    match (ra, rb) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), Err(f)) if e == ABORTED => Err(f),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

// ------------------------------------------------------------------ latency

#[derive(Debug, Clone, Copy)]
struct Rtt {
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

fn histogram() -> Histogram<u64> {
    // 1 ns .. 100 s, 3 significant figures; larger values saturate.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

fn rtt_of(h: &Histogram<u64>) -> Rtt {
    Rtt {
        p50: h.value_at_quantile(0.50),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}

#[inline(always)]
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Median cost of two back-to-back `Instant::now()` calls.
fn clock_overhead_ns() -> u64 {
    let mut v: Vec<u64> = Vec::with_capacity(20_000);
    for i in 0..21_000 {
        let a = Instant::now();
        let b = Instant::now();
        if i >= 1_000 {
            v.push(nanos(b - a));
        }
    }
    v.sort_unstable();
    v[v.len() / 2]
}

/// One cache line holding the ping-pong counter.
#[repr(C, align(64))]
struct Line(AtomicU64);

fn rtt_pingpong(ctx: &Ctx, warmup: u64, n: u64) -> Result<Rtt, String> {
    let line = Line(AtomicU64::new(0));
    let total = warmup + n;
    let line = &line;
    let (h, ()) = two_sides(
        |abort| {
            ctx.pin_a()?;
            let mut w = Waiter::new(ctx, abort);
            let mut h = histogram();
            for k in 0..total {
                let t0 = Instant::now();
                line.0.store(2 * k + 1, Ordering::Release);
                let mut spins = 0;
                while line.0.load(Ordering::Acquire) != 2 * k + 2 {
                    w.tick(&mut spins)?;
                }
                let t1 = Instant::now();
                if k >= warmup {
                    h.saturating_record(nanos(t1 - t0));
                }
            }
            Ok(h)
        },
        |abort| {
            ctx.pin_b()?;
            let mut w = Waiter::new(ctx, abort);
            for k in 0..total {
                let mut spins = 0;
                while line.0.load(Ordering::Acquire) != 2 * k + 1 {
                    w.tick(&mut spins)?;
                }
                line.0.store(2 * k + 2, Ordering::Release);
            }
            Ok(())
        },
    )?;
    Ok(rtt_of(&h))
}

/// Side A of a message round-trip measurement: sends `seq = k`, waits for it to come
/// back, `warmup + n` times (recording the last `n`), then sends [`STOP`].
fn initiate<T: Tx, R: Rx>(
    tx: &mut T,
    rx: &mut R,
    warmup: u64,
    n: u64,
    w: &mut Waiter<'_>,
) -> Result<Histogram<u64>, String> {
    let mut h = histogram();
    for k in 0..warmup + n {
        let t0 = Instant::now();
        send(tx, Msg::new(k), w)?;
        let m = recv(rx, w)?;
        let t1 = Instant::now();
        if m.seq != k {
            return Err(format!("round trip {k} came back as {}", m.seq));
        }
        if k >= warmup {
            h.saturating_record(nanos(t1 - t0));
        }
    }
    send(tx, Msg::new(STOP), w)?;
    Ok(h)
}

/// Side B: sends back every message until [`STOP`].
fn echo<R: Rx, T: Tx>(rx: &mut R, tx: &mut T, w: &mut Waiter<'_>) -> Result<(), String> {
    loop {
        let m = recv(rx, w)?;
        if m.seq == STOP {
            return Ok(());
        }
        send(tx, m, w)?;
    }
}

fn rtt_threads<TA: Tx, RA: Rx, RB: Rx, TB: Tx>(
    ctx: &Ctx,
    warmup: u64,
    n: u64,
    a: (TA, RA),
    b: (RB, TB),
) -> Result<Rtt, String> {
    let (h, ()) = two_sides(
        move |abort| {
            let (mut tx, mut rx) = a;
            ctx.pin_a()?;
            initiate(&mut tx, &mut rx, warmup, n, &mut Waiter::new(ctx, abort))
        },
        move |abort| {
            let (mut rx, mut tx) = b;
            ctx.pin_b()?;
            echo(&mut rx, &mut tx, &mut Waiter::new(ctx, abort))
        },
    )?;
    Ok(rtt_of(&h))
}

/// Kills and reaps the child unless it was reaped already.
struct ChildGuard(Child, bool);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.1 {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn rtt_xproc(
    ctx: &Ctx,
    warmup: u64,
    n: u64,
    ping: &Path,
    pong: &Path,
    capacity: u64,
    spawn_echo: &SpawnEcho,
) -> Result<Rtt, String> {
    let mut tx = spsc::create::<Msg>(ping, capacity).map_err(|e| e.to_string())?;
    let mut rx = spsc::create_for_consumer::<Msg>(pong, capacity).map_err(|e| e.to_string())?;
    let child = spawn_echo(ping, pong, ctx.core_b())
        .map_err(|e| format!("could not start the echo child: {e}"))?;
    let mut child = ChildGuard(child, false);
    let abort = AtomicBool::new(false);
    let h = std::thread::scope(|s| {
        s.spawn(|| {
            ctx.pin_a()?;
            let mut w = Waiter::new(ctx, &abort);
            w.child = Some(&mut child.0);
            initiate(&mut tx, &mut rx, warmup, n, &mut w)
        })
        .join()
        .unwrap_or_else(|_| Err("side A panicked".into()))
    })
    .map_err(|e| format!("shm_xproc: {e}"))?;
    let status = wait_with_timeout(&mut child.0, Duration::from_secs(10))?;
    child.1 = true;
    if !status.success() {
        return Err(format!("shm_xproc: the echo child failed ({status})"));
    }
    Ok(rtt_of(&h))
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let end = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Ok(st),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(1)),
            Ok(None) => return Err(format!("the echo child did not exit within {limit:?}")),
            Err(e) => return Err(format!("waiting for the echo child: {e}")),
        }
    }
}

// ------------------------------------------------------------------ throughput

/// Two sides rendezvous here before the clock starts.
fn rendezvous(count: &AtomicUsize, w: &mut Waiter<'_>) -> Result<(), String> {
    count.fetch_add(1, Ordering::AcqRel);
    let mut spins = 0;
    while count.load(Ordering::Acquire) < 2 {
        w.tick(&mut spins)?;
    }
    Ok(())
}

fn msgs_per_s(n: u64, start: Instant, end: Instant) -> u64 {
    let secs = end.saturating_duration_since(start).as_secs_f64();
    if secs > 0.0 {
        (n as f64 / secs).round() as u64
    } else {
        u64::MAX
    }
}

/// One message per push and pop: producer on core A, consumer on core B.
fn tput_single<T: Tx, R: Rx>(ctx: &Ctx, mut tx: T, mut rx: R, n: u64) -> Result<u64, String> {
    let ready = AtomicUsize::new(0);
    let ready = &ready;
    let (start, end) = two_sides(
        move |abort| {
            ctx.pin_a()?;
            let mut w = Waiter::new(ctx, abort);
            rendezvous(ready, &mut w)?;
            let start = Instant::now();
            for i in 0..n {
                send(&mut tx, Msg::new(i), &mut w)?;
            }
            Ok(start)
        },
        move |abort| {
            ctx.pin_b()?;
            let mut w = Waiter::new(ctx, abort);
            rendezvous(ready, &mut w)?;
            for i in 0..n {
                let m = recv(&mut rx, &mut w)?;
                if m.seq != i {
                    return Err(format!("message {i} arrived as {}", m.seq));
                }
            }
            Ok(Instant::now())
        },
    )?;
    Ok(msgs_per_s(n, start, end))
}

/// hotpath's ring with `push_slice` / `pop_slice` of up to [`BATCH`] messages.
fn tput_shm_batch(
    ctx: &Ctx,
    mut tx: spsc::Producer<Msg>,
    mut rx: spsc::Consumer<Msg>,
    n: u64,
) -> Result<u64, String> {
    let ready = AtomicUsize::new(0);
    let ready = &ready;
    let (start, end) = two_sides(
        move |abort| {
            ctx.pin_a()?;
            let mut w = Waiter::new(ctx, abort);
            rendezvous(ready, &mut w)?;
            let start = Instant::now();
            let mut batch = [Msg::default(); BATCH];
            let mut next = 0u64;
            while next < n {
                let k = (n - next).min(BATCH as u64) as usize;
                for (i, m) in batch[..k].iter_mut().enumerate() {
                    *m = Msg::new(next + i as u64);
                }
                let mut off = 0;
                let mut spins = 0;
                while off < k {
                    let pushed = tx.push_slice(&batch[off..k]).map_err(|e| e.to_string())?;
                    if pushed == 0 {
                        w.tick(&mut spins)?;
                    }
                    off += pushed;
                }
                next += k as u64;
            }
            Ok(start)
        },
        move |abort| {
            ctx.pin_b()?;
            let mut w = Waiter::new(ctx, abort);
            rendezvous(ready, &mut w)?;
            let mut buf = [Msg::default(); BATCH];
            let mut expected = 0u64;
            let mut spins = 0;
            while expected < n {
                let want = (n - expected).min(BATCH as u64) as usize;
                let got = rx.pop_slice(&mut buf[..want]).map_err(|e| e.to_string())?;
                if got == 0 {
                    w.tick(&mut spins)?;
                    continue;
                }
                spins = 0;
                for m in &buf[..got] {
                    if m.seq != expected {
                        return Err(format!("message {expected} arrived as {}", m.seq));
                    }
                    expected += 1;
                }
            }
            Ok(Instant::now())
        },
    )?;
    Ok(msgs_per_s(n, start, end))
}

#[derive(Debug, Default)]
struct Throughput {
    shm: Vec<u64>,
    shm_batch: Vec<u64>,
    rtrb: Vec<u64>,
    crossbeam: Vec<u64>,
}

/// A warm-up round (a tenth of the messages, not recorded), then the measured rounds,
/// each running every implementation once; the order rotates from round to round so
/// no implementation always runs right after the same other one.
fn throughput_rounds(
    ctx: &Ctx,
    cfg: &RingBenchConfig,
    scratch: &mut Scratch,
) -> Result<Throughput, String> {
    let mut t = Throughput::default();
    let warm = (cfg.throughput_messages / 10).max(1);
    let cap = cfg.capacity;
    for round in 0..=cfg.throughput_rounds as usize {
        let n = if round == 0 {
            warm
        } else {
            cfg.throughput_messages
        };
        // shm and rtrb always run back to back (which one first alternates), so each
        // round's ratio compares the two in the same machine state.
        let order: [usize; 4] = if round % 2 == 0 {
            [0, 2, 1, 3]
        } else {
            [2, 0, 3, 1]
        };
        for kind in order {
            let (result, into) = match kind {
                0 => {
                    let path = scratch.file("tput");
                    let (tx, rx) = shm_pair(&path, cap)?;
                    let r = tput_single(ctx, tx, rx, n).map_err(|e| format!("shm throughput: {e}"));
                    scratch.remove(&path);
                    (r?, &mut t.shm)
                }
                1 => {
                    let path = scratch.file("tput-batch");
                    let (tx, rx) = shm_pair(&path, cap)?;
                    let r = tput_shm_batch(ctx, tx, rx, n)
                        .map_err(|e| format!("shm batch throughput: {e}"));
                    scratch.remove(&path);
                    (r?, &mut t.shm_batch)
                }
                2 => {
                    let (tx, rx) = rtrb::RingBuffer::<Msg>::new(cap as usize);
                    let r =
                        tput_single(ctx, tx, rx, n).map_err(|e| format!("rtrb throughput: {e}"));
                    (r?, &mut t.rtrb)
                }
                _ => {
                    let (tx, rx) = queue_pair(cap);
                    let r = tput_single(ctx, tx, rx, n)
                        .map_err(|e| format!("crossbeam throughput: {e}"));
                    (r?, &mut t.crossbeam)
                }
            };
            if round > 0 {
                into.push(result);
            }
        }
    }
    Ok(t)
}

/// The median (the mean of the middle two for an even count); 0 for none.
fn median(v: &[u64]) -> u64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    match s.len() {
        0 => 0,
        n if n % 2 == 1 => s[n / 2],
        n => ((s[n / 2 - 1] as u128 + s[n / 2] as u128) / 2) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_grouping() {
        assert_eq!(median(&[]), 0);
        assert_eq!(crate::median(&[]), 0.0);
        assert_eq!(crate::median(&[1.5, 0.5, 1.0]), 1.0);
        assert_eq!(crate::median(&[2.0, 1.0]), 1.5);
        assert_eq!(median(&[5, 1, 3]), 3);
        assert_eq!(median(&[4, 1, 3, 2]), 2);
    }

    #[test]
    fn config_is_validated() {
        let ok = RingBenchConfig::default();
        assert!(validate(&ok).is_ok());
        for bad in [
            RingBenchConfig {
                capacity: 1000,
                ..ok.clone()
            },
            RingBenchConfig {
                capacity: 1,
                ..ok.clone()
            },
            RingBenchConfig {
                round_trips: 0,
                ..ok.clone()
            },
            RingBenchConfig {
                throughput_rounds: 0,
                ..ok.clone()
            },
        ] {
            assert!(validate(&bad).is_err(), "{bad:?}");
        }
        let mut notes = vec![];
        assert!(resolve_cores(Some((0, 0)), &mut notes).is_err());
        assert!(resolve_cores(Some((0, usize::MAX / 2)), &mut notes).is_err());
    }

    #[test]
    fn in_process_measurements_run() {
        let ctx = resolve_cores(None, &mut vec![]).unwrap();
        let r = rtt_pingpong(&ctx, 10, 200).unwrap();
        assert!(r.p50 > 0 && r.p50 <= r.p99 && r.p99 <= r.p999 && r.p999 <= r.max);
        let (a_tx, b_rx) = queue_pair(8);
        let (b_tx, a_rx) = queue_pair(8);
        let r = rtt_threads(&ctx, 10, 200, (a_tx, a_rx), (b_rx, b_tx)).unwrap();
        assert!(r.p50 > 0 && r.p50 <= r.max);
        let (tx, rx) = rtrb::RingBuffer::<Msg>::new(8);
        assert!(tput_single(&ctx, tx, rx, 10_000).unwrap() > 0);
    }

    #[test]
    fn a_failing_side_stops_the_other() {
        let ctx = resolve_cores(None, &mut vec![]).unwrap();
        let (_tx, mut rx) = rtrb::RingBuffer::<Msg>::new(8);
        let err = two_sides(
            |_| -> Result<(), String> { Err("boom".into()) },
            move |abort| recv(&mut rx, &mut Waiter::new(&ctx, abort)).map(|_| ()),
        )
        .unwrap_err();
        assert_eq!(err, "boom");
    }
}
