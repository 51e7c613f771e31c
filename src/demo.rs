//! `hotpath shm demo` (and, for now, `hotpath run`): a producer process and a consumer
//! process joined only by shared memory, with live counters for `hotpath stat`.
//!
//! The producer pushes sequenced 64-byte events into an SPSC ring (`demo_events`) at a
//! paced rate, counting (never waiting on) a full ring, and publishes one 32-byte tick
//! per eight events on a broadcast ring (`demo_ticks`). The consumer drains both,
//! checking that events arrive once and in order, and counting ticks lost to laps. The
//! parent prints progress each second and a checked summary at the end.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hotpath_hw::{Backoff, IdleStrategy};
use hotpath_shm::broadcast::{self, JoinAt, Received};
use hotpath_shm::counters::{CountersBuilder, CountersReader};
use hotpath_shm::{dir, spsc, Liveness, PushError};

use crate::{CmdResult, ShmArgs};
use hotpath_benches::fmt::{rate, thousands};

hotpath_shm::shm_message! {
    /// A demo event: sequence number, send time, and payload words.
    pub struct DemoEvent (size = 64) {
        pub seq: u64,
        pub sent_ns: u64,
        pub payload: [u64; 6],
    }
}

hotpath_shm::shm_message! {
    /// A demo market-data tick.
    pub struct DemoTick (size = 32) {
        pub seq: u64,
        pub sent_ns: u64,
        pub price: i64,
        pub qty: u64,
    }
}

const EVENTS: &str = "demo_events";
const TICKS: &str = "demo_ticks";
const PRODUCER: &str = "demo_producer";
const CONSUMER: &str = "demo_consumer";

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Stop after this many seconds (default for `shm demo`: run until Ctrl-C; `run`: 10).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Events per second the producer aims for (0: as fast as it can).
    #[arg(long, default_value_t = 1_000_000)]
    pub rate: u64,
    /// Slots in each ring (a power of two).
    #[arg(long, default_value_t = 1 << 16)]
    pub capacity: u64,
    /// Leave the demo's shm files in place at the end (default: remove them).
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RoleArgs {
    #[arg(long)]
    pub rate: u64,
    #[arg(long)]
    pub capacity: u64,
}

fn stop_flag() -> Result<Arc<AtomicBool>, crate::Error> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    Ok(stop)
}

/// Sets `stop` when standard input reaches end of file (the parent closed it or died).
fn stop_on_stdin_eof(stop: &Arc<AtomicBool>) {
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        let mut line = String::new();
        let stdin = std::io::stdin();
        while matches!(stdin.lock().read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
        stop.store(true, Ordering::Relaxed);
    });
}

fn spawn_role(shm: &ShmArgs, role: &str, args: &DemoArgs) -> Result<Child, crate::Error> {
    let exe = std::env::current_exe()?;
    let child = Command::new(exe)
        .arg("--shm-root")
        .arg(&shm.shm_root)
        .arg("--instance")
        .arg(&shm.instance)
        .args(["shm", role, "--rate"])
        .arg(args.rate.to_string())
        .arg("--capacity")
        .arg(args.capacity.to_string())
        .stdin(Stdio::piped())
        .spawn()?;
    Ok(child)
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Result<bool, crate::Error> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(st) = child.try_wait()? {
            return Ok(st.success());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill()?;
    child.wait()?;
    Ok(false)
}

fn counters_path(dir: &Path, component: &str) -> PathBuf {
    dir.join(format!("{component}.counters"))
}

fn open_when_ready(path: &Path, limit: Duration) -> Result<CountersReader, crate::Error> {
    let end = Instant::now() + limit;
    loop {
        match CountersReader::open(path) {
            Ok(r) => return Ok(r),
            Err(e) if Instant::now() >= end => return Err(e.into()),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// The parent: starts both roles, reports progress, stops them, checks the result.
pub fn run(shm: &ShmArgs, args: &DemoArgs) -> CmdResult {
    if !args.capacity.is_power_of_two() {
        return Err(format!("--capacity {} is not a power of two", args.capacity).into());
    }
    let dir = shm.dir()?;
    let stop = stop_flag()?;
    let mut producer = spawn_role(shm, "demo-producer", args)?;
    let prod_counters = open_when_ready(&counters_path(&dir, PRODUCER), Duration::from_secs(10))?;
    let mut consumer = spawn_role(shm, "demo-consumer", args)?;
    let cons_counters = open_when_ready(&counters_path(&dir, CONSUMER), Duration::from_secs(10))?;
    eprintln!(
        "hotpath demo: producer pid {} -> {EVENTS} (spsc) + {TICKS} (broadcast) -> consumer pid {}, in {}",
        producer.id(),
        consumer.id(),
        dir.display()
    );
    eprintln!(
        "watch it live from another shell:  hotpath stat{}",
        if shm.instance == "default" {
            String::new()
        } else {
            format!(" --instance {}", shm.instance)
        }
    );
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64, 0u64);
    let limit = args.seconds.map(Duration::from_secs);
    while !stop.load(Ordering::Relaxed) && limit.is_none_or(|l| started.elapsed() < l) {
        std::thread::sleep(Duration::from_millis(100));
        if last.0.elapsed() >= Duration::from_secs(1) {
            let sent = prod_counters.get(PRODUCER, "events_sent").unwrap_or(0);
            let recv = cons_counters.get(CONSUMER, "events_received").unwrap_or(0);
            let dt = last.0.elapsed().as_secs_f64();
            eprintln!(
                "  {:>5.1} s  sent {:>14} ({:>11}/s)  received {:>14} ({:>11}/s)",
                started.elapsed().as_secs_f64(),
                thousands(sent),
                rate(Some((sent - last.1) as f64 / dt)),
                thousands(recv),
                rate(Some((recv - last.2) as f64 / dt)),
            );
            last = (Instant::now(), sent, recv);
        }
        if let Some(st) = producer.try_wait()? {
            return Err(format!("the demo producer exited early ({st})").into());
        }
        if let Some(st) = consumer.try_wait()? {
            return Err(format!("the demo consumer exited early ({st})").into());
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Closing the producer's stdin stops it; the consumer drains, sees it gone, exits.
    drop(producer.stdin.take());
    let producer_ok = wait_timeout(&mut producer, Duration::from_secs(10))?;
    drop(consumer.stdin.take());
    let consumer_ok = wait_timeout(&mut consumer, Duration::from_secs(10))?;

    let p = |n: &str| prod_counters.get(PRODUCER, n).unwrap_or(0);
    let c = |n: &str| cons_counters.get(CONSUMER, n).unwrap_or(0);
    let (sent, dropped, ticks) = (
        p("events_sent"),
        p("events_dropped_full"),
        p("ticks_published"),
    );
    let (received, seq_errors) = (c("events_received"), c("sequence_errors"));
    let (ticks_received, ticks_lost) = (c("ticks_received"), c("ticks_lost"));
    outln!(
        "hotpath demo summary ({elapsed:.1} s, instance `{}`):",
        shm.instance
    );
    outln!(
        "  events sent      {:>14}  ({}/s), dropped because the ring was full: {}",
        thousands(sent),
        rate(Some(sent as f64 / elapsed)),
        thousands(dropped)
    );
    outln!(
        "  events received  {:>14}  sequence errors: {}",
        thousands(received),
        seq_errors
    );
    outln!(
        "  ticks published  {:>14}  received {}, lost to laps {}",
        thousands(ticks),
        thousands(ticks_received),
        thousands(ticks_lost)
    );
    let ok = producer_ok
        && consumer_ok
        && sent == received
        && seq_errors == 0
        && ticks_received + ticks_lost == ticks;
    if ok {
        outln!("  result: OK (every event delivered once and in order; every tick received or counted lost)");
    } else {
        outln!(
            "  result: FAILED (producer exit ok: {producer_ok}, consumer exit ok: {consumer_ok})"
        );
    }
    if !args.keep {
        dir::clean(&dir, false)?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The producer process.
pub fn producer(shm: &ShmArgs, args: &RoleArgs) -> CmdResult {
    let dir = shm.dir()?;
    let stop = stop_flag()?;
    stop_on_stdin_eof(&stop);

    let mut reg = CountersBuilder::new();
    let c_sent = reg.counter(PRODUCER, "events_sent", "events")?;
    let c_dropped = reg.counter(PRODUCER, "events_dropped_full", "events")?;
    let c_ticks = reg.counter(PRODUCER, "ticks_published", "ticks")?;
    let c_hb = reg.heartbeat(PRODUCER)?;
    let mut events = spsc::create::<DemoEvent>(&dir.join(EVENTS), args.capacity)?;
    let mut ticks = broadcast::create::<DemoTick>(&dir.join(TICKS), args.capacity)?;
    // The counters region is created last: its appearance tells the parent we are ready.
    let mut region = reg.create(&counters_path(&dir, PRODUCER))?;
    let (sent, dropped, published, hb) = (
        region.counter(c_sent),
        region.counter(c_dropped),
        region.counter(c_ticks),
        region.heartbeat(c_hb),
    );

    // Start once the consumer is attached (or give up when told to stop).
    while events.consumer_liveness()? != Liveness::Alive {
        if stop.load(Ordering::Relaxed) {
            return Ok(ExitCode::SUCCESS);
        }
        hb.beat();
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    let mut seq = 0u64;
    let mut attempts = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let now_ns = hotpath_shm::clock::monotonic_ns();
        hb.beat_at(now_ns);
        // How many events the rate allows by now (bounded burst per cycle).
        let due = if args.rate == 0 {
            attempts + 4096
        } else {
            (start.elapsed().as_secs_f64() * args.rate as f64) as u64
        };
        let burst = due.saturating_sub(attempts).min(65_536);
        for _ in 0..burst {
            attempts += 1;
            let ev = DemoEvent {
                seq,
                sent_ns: now_ns,
                payload: [seq; 6],
            };
            match events.try_push(ev) {
                Ok(()) => {
                    sent.inc();
                    if seq.is_multiple_of(8) {
                        ticks.publish(&DemoTick {
                            seq: seq / 8,
                            sent_ns: now_ns,
                            price: 1_000_000 + (seq % 1000) as i64,
                            qty: 100,
                        });
                        published.inc();
                    }
                    seq += 1;
                }
                Err(PushError::Full(_)) => dropped.inc(),
                Err(PushError::Corrupt(_, e)) => return Err(e.into()),
            }
        }
        if args.rate != 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The consumer process.
pub fn consumer(shm: &ShmArgs, _args: &RoleArgs) -> CmdResult {
    let dir = shm.dir()?;
    let stop = stop_flag()?;
    stop_on_stdin_eof(&stop);
    let mut reg = CountersBuilder::new();
    let c_recv = reg.counter(CONSUMER, "events_received", "events")?;
    let c_seq = reg.counter(CONSUMER, "sequence_errors", "events")?;
    let c_ticks = reg.counter(CONSUMER, "ticks_received", "ticks")?;
    let c_lost = reg.counter(CONSUMER, "ticks_lost", "ticks")?;
    let c_lat = reg.gauge(CONSUMER, "event_age_ns_last", "ns")?;
    let c_hb = reg.heartbeat(CONSUMER)?;
    // Ticks first: the producer starts once the events ring has its consumer, and by
    // then the tick subscription must already exist so that no tick goes unaccounted.
    let mut ticks = broadcast::Subscriber::<DemoTick>::attach(&dir.join(TICKS), JoinAt::Latest)?;
    let mut events = spsc::Consumer::<DemoEvent>::attach(&dir.join(EVENTS))?;
    let mut region = reg.create(&counters_path(&dir, CONSUMER))?;
    let (received, seq_errors, ticks_received, ticks_lost, age, hb) = (
        region.counter(c_recv),
        region.counter(c_seq),
        region.counter(c_ticks),
        region.counter(c_lost),
        region.counter(c_lat),
        region.heartbeat(c_hb),
    );

    let mut idle = Backoff::default();
    let mut expected = 0u64;
    let mut last_check = Instant::now();
    let mut stop_seen: Option<Instant> = None;
    loop {
        let now_ns = hotpath_shm::clock::monotonic_ns();
        hb.beat_at(now_ns);
        let mut work = events.consume(1024, |ev| {
            if ev.seq != expected {
                seq_errors.inc();
            }
            expected = ev.seq + 1;
            received.inc();
            age.set(now_ns.saturating_sub(ev.sent_ns));
        })?;
        for _ in 0..1024 {
            match ticks.try_recv()? {
                Received::Message { .. } => ticks_received.inc(),
                Received::Lagged { lost, .. } => ticks_lost.add(lost),
                Received::Empty => break,
            }
            work += 1;
        }
        if work == 0 && last_check.elapsed() >= Duration::from_millis(50) {
            last_check = Instant::now();
            // Done when the producer is gone and both rings are drained.
            if events.producer_liveness()? == Liveness::Dead && events.is_empty()? {
                loop {
                    match ticks.try_recv()? {
                        Received::Message { .. } => ticks_received.inc(),
                        Received::Lagged { lost, .. } => ticks_lost.add(lost),
                        Received::Empty => break,
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            if stop.load(Ordering::Relaxed) {
                // Told to stop: give the producer a moment to go first, then leave.
                let since = *stop_seen.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(5) {
                    return Err("told to stop, but the producer is still running after 5 s".into());
                }
            }
        }
        idle.idle(work);
    }
}
