//! `hotpath run`: the appliance's main job on bundled defaults, end to end.
//!
//! Today: a generated trading day is sent as MoldUDP64 multicast on loopback, twice, as
//! an exchange sends lines A and B (with a request server holding the history, and
//! injected loss on each line and on both); `hotpath feed` runs as its own process on it
//! (UDP recvmmsg, A/B arbitration, session with re-requests, ITCH decode, L3 books) and
//! publishes market data on the instance's shm ring; this process reads the ring as a
//! strategy would, and prints a checked summary at the end. Later issues add
//! the strategy, the order gateway and the offload bridge to this run.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use hotpath_benches::fmt::thousands;
use hotpath_feed::gen::{self, GenConfig, Generator, PcapOptions};
use hotpath_feed::moldudp64::ServerConfig;
use hotpath_feed::replay::{self, Faults, ReplayConfig, TapServer};
use hotpath_feed::source::pcap::{Pace, PcapSource};
use hotpath_feed::source::{Lines, RxWait};
use hotpath_shm::broadcast::{JoinAt, Received, Subscriber};
use hotpath_shm::counters::CountersReader;
use hotpath_shm::md::{MdEvent, KIND_BBO, KIND_LEVEL, KIND_STATUS, KIND_TRADE};
use hotpath_shm::RingError;

use crate::{CmdResult, ShmArgs};

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Messages in the generated day.
    #[arg(long, default_value_t = 2_000_000)]
    pub messages: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Packets per second on the wire (loopback multicast).
    #[arg(long, default_value_t = 50_000)]
    pub rate: u64,
    /// Probability of dropping a packet on the wire, on each line on its own (the feed
    /// takes it from the other line).
    #[arg(long, default_value_t = 0.001)]
    pub drop: f64,
    /// Probability of dropping a packet on both lines (recovered by re-requests).
    #[arg(long, default_value_t = 0.0005)]
    pub drop_both: f64,
    /// Multicast group and port of line A.
    #[arg(long, default_value = "239.1.1.1:26477")]
    pub group: SocketAddrV4,
    /// Multicast group and port of line B (default: the group after line A's, on its
    /// port, so that the feed reads both lines on one socket).
    #[arg(long)]
    pub group_b: Option<SocketAddrV4>,
    /// Send line A only.
    #[arg(long)]
    pub one_line: bool,
    /// Port of the MoldUDP64 request server on 127.0.0.1.
    #[arg(long, default_value_t = 26_500)]
    pub request_port: u16,
}

/// The end of session's repeats, said only when there were some.
fn repeated(repeats: u64) -> String {
    match repeats {
        0 => String::new(),
        n => format!("; the end of session sent {n} more times"),
    }
}

fn open_counters(path: &std::path::Path, limit: Duration) -> Result<CountersReader, crate::Error> {
    let end = Instant::now() + limit;
    loop {
        match CountersReader::open(path) {
            Ok(r) => return Ok(r),
            Err(e) if Instant::now() > end => return Err(e.into()),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

pub fn run(shm: &ShmArgs, args: &RunArgs) -> CmdResult {
    let dir = shm.dir()?;
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;

    // 1. A generated day, as the exchange would send it.
    let scratch = tempfile::Builder::new().prefix("hotpath-run-").tempdir()?;
    let pcap: PathBuf = scratch.path().join("day.pcap");
    let t = Instant::now();
    let generator = Generator::new(GenConfig {
        messages: args.messages,
        seed: args.seed,
        ..GenConfig::default()
    })?;
    let file = std::io::BufWriter::new(std::fs::File::create(&pcap)?);
    let opts = PcapOptions {
        dst: args.group,
        ..PcapOptions::default()
    };
    let (messages, packets) = gen::write_pcap(generator, file, &opts, |_| {})?;
    eprintln!(
        "hotpath run: generated a {}-message day ({} MoldUDP64 packets) in {:.1} s",
        thousands(messages),
        thousands(packets),
        t.elapsed().as_secs_f64()
    );

    // 2. The feed handler, its own process.
    let request = SocketAddrV4::new(Ipv4Addr::LOCALHOST, args.request_port);
    let line_b = (!args.one_line).then(|| {
        args.group_b.unwrap_or_else(|| {
            let next = Ipv4Addr::from(u32::from(*args.group.ip()).wrapping_add(1));
            SocketAddrV4::new(next, args.group.port())
        })
    });
    let mut feed = Command::new(std::env::current_exe()?)
        .arg("--shm-root")
        .arg(&shm.shm_root)
        .arg("--instance")
        .arg(&shm.instance)
        .args(["feed", "--until-end-of-session", "--source"])
        .arg(format!(
            "udp://{}?iface=lo{}&request={request}",
            args.group,
            line_b.map(|b| format!("&b={b}")).unwrap_or_default()
        ))
        .stdin(Stdio::null())
        .spawn()?;
    let counters = open_counters(&dir.join("feed.counters"), Duration::from_secs(20))?;
    let mut md = Subscriber::<MdEvent>::attach(&dir.join("md"), JoinAt::Oldest)?;
    eprintln!(
        "watch it live from another shell:  hotpath stat{}",
        if shm.instance == "default" {
            String::new()
        } else {
            format!(" --instance {}", shm.instance)
        }
    );

    // 3. The exchange: multicast on loopback, a request server with the clean history.
    let server_stop = Arc::new(AtomicBool::new(false));
    let mut scfg = ServerConfig::new(opts.session);
    scfg.history_capacity = 1 << 22;
    scfg.max_packets_per_request = 64;
    scfg.rate_limit = None;
    let server = TapServer::start(request, scfg, Arc::clone(&server_stop))?;
    let feed_done = Arc::new(AtomicBool::new(false));
    let sender = std::thread::spawn({
        let (pcap, stop, args) = (pcap.clone(), Arc::clone(&stop), args.clone());
        let feed_done = Arc::clone(&feed_done);
        move || -> Result<(replay::ReplayStats, u64), String> {
            let mut src = PcapSource::open(&pcap, Lines::default(), Pace::AsFast)
                .map_err(|e| e.to_string())?;
            let cfg = ReplayConfig {
                a: args.group,
                b: line_b,
                iface: "lo".into(),
                from: None,
                rate_pps: Some(args.rate),
                faults_a: Faults {
                    drop: args.drop,
                    seed: args.seed,
                    ..Faults::default()
                },
                faults_b: Faults {
                    drop: args.drop,
                    seed: args.seed.wrapping_add(1),
                    ..Faults::default()
                },
                drop_both: args.drop_both,
            };
            let mut end = None;
            let tap = |p: &[u8]| {
                server.record(p);
                if replay::is_end_of_session(p) {
                    end = Some(p.to_vec());
                }
            };
            let stats = replay::replay(&mut src, &cfg, tap, &stop).map_err(|e| e.to_string())?;
            // As a MoldUDP64 server does, the end of session goes out again (every
            // 250 ms, the first after 250 ms) while the feed has not stopped: lost on
            // the wire, it would leave the feed waiting for more.
            let mut repeats = 0;
            if let Some(end) = end {
                let first = Instant::now() + replay::END_REPEAT_INTERVAL;
                while Instant::now() < first && !feed_done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if !feed_done.load(Ordering::Relaxed) {
                    let until = Instant::now() + Duration::from_secs(30);
                    repeats = replay::repeat_end_of_session(&cfg, &end, until, &feed_done)
                        .map_err(|e| e.to_string())?;
                }
            }
            Ok((stats, repeats))
        }
    });

    // 4. A market-data consumer on the shm ring (where a strategy sits).
    let started = Instant::now();
    let mut by_kind = [0u64; 5];
    let mut lost = 0u64;
    let mut age = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut last_report = Instant::now();
    // Stopped (Ctrl-C, SIGTERM), this process stops the feed, whose exit ends the ring:
    // also while the ring is quiet (recv_wait returns only with a message or once the
    // producer is gone), so the idle wait asks too.
    let feed_pid = feed.id().to_string();
    let termed = std::cell::Cell::new(false);
    let stop_feed = || {
        if stop.load(Ordering::Relaxed) && !termed.replace(true) {
            let _ = Command::new("kill").args(["-TERM", &feed_pid]).status();
        }
    };
    let mut idle = || {
        stop_feed();
        std::thread::sleep(Duration::from_micros(100));
    };
    loop {
        match md.recv_wait(&mut idle) {
            Ok(Received::Message { msg, .. }) => {
                by_kind[(msg.kind as usize).min(4)] += 1;
                let now = hotpath_shm::clock::monotonic_ns();
                age.saturating_record(now.saturating_sub(msg.receive_ts_ns).max(1));
            }
            Ok(Received::Lagged { lost: l, .. }) => lost += l,
            Ok(Received::Empty) => {}
            Err(RingError::ProducerDead { .. }) => break,
            Err(e) => return Err(e.into()),
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            eprintln!(
                "  {:>5.1} s  feed: {} messages, {} gaps, {} recovered | md ring: {} events read",
                started.elapsed().as_secs_f64(),
                thousands(counters.get("feed", "messages").unwrap_or(0)),
                counters.get("feed", "gaps").unwrap_or(0),
                thousands(counters.get("feed", "messages_recovered").unwrap_or(0)),
                thousands(by_kind.iter().sum()),
            );
            stop_feed();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let feed_ok = feed.wait()?.success();
    feed_done.store(true, Ordering::Relaxed);
    let (sent, end_repeats) = sender.join().map_err(|_| "the sender thread panicked")??;
    server_stop.store(true, Ordering::Relaxed);

    let c = |n: &str| counters.get("feed", n).unwrap_or(0);
    let delivered = c("messages");
    outln!(
        "hotpath run summary ({secs:.1} s, instance `{}`):",
        shm.instance
    );
    let first = (c("packets_first_a"), c("packets_first_b"));
    if line_b.is_some() {
        outln!(
            "  exchange   {} messages in {} packets at {}/s on lines A and B; dropped on the wire: {} of line A's, {} of line B's, {} on both{}",
            thousands(messages),
            thousands(sent.packets),
            thousands(args.rate),
            thousands(sent.a.dropped),
            thousands(sent.b.dropped),
            thousands(sent.dropped_both),
            repeated(end_repeats)
        );
        outln!(
            "  lines      first copy from line A: {} packets, from line B: {} (A/B arbitration: a packet one line lost, the other brought)",
            thousands(first.0),
            thousands(first.1)
        );
    } else {
        outln!(
            "  exchange   {} messages in {} packets at {}/s on line A; {} packets dropped on the wire{}",
            thousands(messages),
            thousands(sent.packets),
            thousands(args.rate),
            thousands(sent.a.dropped),
            repeated(end_repeats)
        );
        outln!(
            "  lines      first copy from line A: {} packets",
            thousands(first.0)
        );
    }
    outln!(
        "  feed       {} messages delivered in sequence ({}/s), {} gaps, {} re-requests, {} recovered, {} lost",
        thousands(delivered),
        thousands((delivered as f64 / secs) as u64),
        c("gaps"),
        c("requests_sent"),
        thousands(c("messages_recovered")),
        c("messages_lost")
    );
    outln!(
        "  books      {} live orders at the close, {} unknown references, {} crossed",
        thousands(c("live_orders")),
        c("unknown_refs"),
        c("crossed")
    );
    outln!(
        "  md ring    {} events read: {} BBO, {} level, {} trade, {} status; {} lost to laps",
        thousands(by_kind.iter().sum()),
        thousands(by_kind[KIND_BBO as usize]),
        thousands(by_kind[KIND_LEVEL as usize]),
        thousands(by_kind[KIND_TRADE as usize]),
        thousands(by_kind[KIND_STATUS as usize]),
        lost
    );
    outln!(
        "  latency    packet received by the kernel -> event read by the consumer: p50 {} us, p99 {} us, p99.9 {} us",
        age.value_at_quantile(0.5) / 1000,
        age.value_at_quantile(0.99) / 1000,
        age.value_at_quantile(0.999) / 1000
    );
    // Of which, waiting in the feed's socket before it read them (SO_TIMESTAMPNS).
    let waited: Vec<u64> = RxWait::NAMES
        .iter()
        .map(|n| c(&format!("rx_wait_{n}")))
        .collect();
    outln!(
        "  socket     packets waited for the feed: {} under 10 us, {} under 100 us, {} under 1 ms, {} under 10 ms, {} longer; max {} us; {} dropped on a full queue",
        thousands(waited[0]),
        thousands(waited[1]),
        thousands(waited[2]),
        thousands(waited[3]),
        thousands(waited[4]),
        thousands(c("rx_wait_max_ns") / 1000),
        thousands(c("socket_drops"))
    );
    let ok = feed_ok
        && delivered == messages
        && c("messages_lost") == 0
        && c("unknown_refs") == 0
        && lost == 0
        && c("published") == by_kind.iter().sum::<u64>();
    if ok {
        outln!("  result: OK (every message delivered once and in order; every event read)");
    } else {
        outln!("  result: FAILED (feed exit ok: {feed_ok})");
    }
    drop(md);
    hotpath_shm::dir::clean(&dir, false)?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
