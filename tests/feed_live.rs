//! The feed handler as the operator runs it: `hotpath gen`, `hotpath send` (multicast on
//! loopback, with a request server) into `hotpath feed` (a separate process) while this
//! test reads the shm market-data ring; `hotpath stat` shows the feed's counters; and
//! `hotpath replay` on the real data.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hotpath_book::{BboUpdate, BookSink};
use hotpath_feed::handler::{Feed, FeedConfig, Stamped};
use hotpath_feed::source::pcap::{Pace, PcapSource};
use hotpath_feed::source::{Lines, PacketSource, SourceError};
use hotpath_shm::broadcast::{JoinAt, Received, Subscriber};
use hotpath_shm::md::{MdEvent, KIND_BBO};
use serde_json::Value;

use common::Killed;

const EXE: &str = env!("CARGO_BIN_EXE_hotpath");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/itch50");

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run hotpath");
    assert!(
        out.status.success(),
        "{:?} failed: {}\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// (locate, bid price, bid shares, ask price, ask shares)
type BboRow = (u16, u32, u64, u32, u64);

/// Records the BBO changes the books produce, in order.
#[derive(Default)]
struct BboLog(Vec<BboRow>);

impl BookSink for BboLog {
    const WANTS_LEVELS: bool = false;
    const WANTS_TRADES: bool = false;
    fn bbo(&mut self, u: &BboUpdate) {
        let (bp, bs) = u.bbo.bid.map(|l| (l.price, l.shares)).unwrap_or((0, 0));
        let (ap, as_) = u.bbo.ask.map(|l| (l.price, l.shares)).unwrap_or((0, 0));
        self.0.push((u.locate, bp, bs, ap, as_));
    }
}

impl Stamped for BboLog {
    fn stamp(&mut self, _: u64, _: u64) {}
}

fn expected_bbo(pcap: &Path) -> (Vec<BboRow>, u64) {
    let mut feed = Feed::new(&FeedConfig::default(), BboLog::default()).unwrap();
    let mut src = PcapSource::open(pcap, Lines::default(), Pace::AsFast).unwrap();
    while !matches!(feed.pump(&mut src), Err(SourceError::End)) {}
    (
        std::mem::take(&mut feed.core.publisher.0),
        feed.core.stats.messages,
    )
}

#[test]
fn multicast_into_hotpath_feed_reaches_the_shm_ring_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tempfile::Builder::new()
        .prefix("hotpath-feed-")
        .tempdir_in("/dev/shm")
        .unwrap();
    let pcap: PathBuf = tmp.path().join("day.pcap");
    run(Command::new(EXE)
        .args([
            "gen",
            "--messages",
            "300000",
            "--seed",
            "9",
            "--symbols",
            "40",
            "--pcap",
            "--quiet",
            "--out",
        ])
        .arg(&pcap));
    let (expected, total) = expected_bbo(&pcap);
    assert_eq!(total, 300_000);
    assert!(
        expected.len() > 10_000,
        "a busy stream: {} BBO changes",
        expected.len()
    );

    let port = 32_000 + (std::process::id() % 8_000) as u16;
    let group = format!("239.202.1.1:{port}");
    let req_port = port + 10_000;
    let env = |c: &mut Command| {
        c.env("HOTPATH_SHM_ROOT", root.path())
            .env("HOTPATH_INSTANCE", "live");
    };
    let mut feed_cmd = Command::new(EXE);
    env(&mut feed_cmd);
    feed_cmd
        .args(["feed", "--source"])
        .arg(format!(
            "udp://{group}?iface=lo&request=127.0.0.1:{req_port}"
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut feed = Killed(feed_cmd.spawn().unwrap());
    let dir = root.path().join("live");
    common::wait_for(&dir.join("feed.counters"), "the feed's counters");
    let mut sub = Subscriber::<MdEvent>::attach(&dir.join("md"), JoinAt::Oldest).unwrap();

    let sender = Command::new(EXE)
        .args(["send", "--to", &group, "--iface", "lo", "--rate", "20000"])
        .args([
            "--serve-requests",
            &format!("127.0.0.1:{req_port}"),
            "--linger-ms",
            "3000",
        ])
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sender = Killed(sender);

    // Every BBO change, in order.
    let mut got = Vec::with_capacity(expected.len());
    let end = Instant::now() + Duration::from_secs(120);
    let mut last_seq = None;
    while got.len() < expected.len() {
        assert!(
            Instant::now() < end,
            "received {} of {} BBO changes",
            got.len(),
            expected.len()
        );
        match sub.try_recv().unwrap() {
            Received::Message { seq, msg } => {
                assert_eq!(msg.seq, seq, "ring position stamped in the event");
                if let Some(l) = last_seq {
                    assert_eq!(seq, l + 1, "no event skipped");
                }
                last_seq = Some(seq);
                if msg.kind == KIND_BBO {
                    got.push((
                        msg.stock_locate,
                        msg.price,
                        msg.shares as u64,
                        msg.price2,
                        msg.shares2 as u64,
                    ));
                    assert!(msg.receive_ts_ns > 0 && msg.exchange_ts_ns > 0);
                }
            }
            Received::Lagged { lost, .. } => panic!("the test consumer lost {lost} events"),
            Received::Empty => std::thread::sleep(Duration::from_micros(200)),
        }
    }
    assert_eq!(got, expected, "every BBO change arrives, in order");

    // The feed's counters, live, from another process.
    let mut stat = Command::new(EXE);
    env(&mut stat);
    let out = run(stat.args(["stat", "--once", "--json", "--interval-ms", "200"]));
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    let feed_comp = snap["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "feed")
        .unwrap()
        .clone();
    assert_eq!(feed_comp["alive"], true);
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), total);
    assert_eq!(counter("messages_lost"), 0);
    assert_eq!(counter("unknown_refs"), 0);
    assert!(counter("msg_add_order") > 100_000);
    assert!(counter("packets_a") > 1_000);
    assert_eq!(counter("next_sequence"), total + 1);
    let md = snap["rings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "md")
        .unwrap()
        .clone();
    assert_eq!(md["producer"], "alive");
    assert_eq!(md["kind"], "broadcast");
    assert!(md["published"].as_u64().unwrap() >= expected.len() as u64);

    // SIGTERM stops it cleanly.
    feed.signal("-TERM");
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = feed.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "feed did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    feed.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("stopped after 300,000 messages"), "{err}");
    drop(sender);
}

#[test]
fn replay_counts_the_real_itch_file_and_dumps_books() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("books.jsonl");
    let out = run(Command::new(EXE)
        .args(["replay", "--json", "--dump-book"])
        .arg(&dump)
        .args(["--dump-every", "500"])
        .arg(format!("{DATA}/12302019_0930_first1000.itch")));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["format"], "itch");
    assert_eq!(s["messages"], 1000);
    let t = &s["types"];
    for (ty, n) in [
        ("A", 367),
        ("U", 225),
        ("F", 193),
        ("D", 167),
        ("E", 28),
        ("X", 6),
        ("I", 4),
        ("P", 4),
        ("Q", 4),
        ("S", 1),
        ("C", 1),
    ] {
        assert_eq!(t[ty], n, "type {ty}");
    }
    // It starts mid-day: references to orders added before the cut are counted.
    assert!(s["unknown_refs"].as_u64().unwrap() > 0);
    // No R messages in a mid-day cut: no symbols, so nothing to dump per symbol.
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(text
        .lines()
        .all(|l| serde_json::from_str::<Value>(l).is_ok()));

    // A generated day dumps one line per symbol per dump, in the documented format.
    let itch = tmp.path().join("g.itch");
    run(Command::new(EXE)
        .args([
            "gen",
            "--messages",
            "20000",
            "--symbols",
            "5",
            "--quiet",
            "--out",
        ])
        .arg(&itch));
    let out = run(Command::new(EXE)
        .args(["replay", "--json", "--symbols", "AAAA,AAAB", "--dump-book"])
        .arg(&dump)
        .args(["--dump-every", "10000"])
        .arg(&itch));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        s["filtered"].as_u64().unwrap() > 0,
        "other symbols were filtered"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&dump)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        2 * 3,
        "two symbols at 10000, 20000 and the end"
    );
    for l in &lines {
        let sym = l["symbol"].as_str().unwrap();
        assert!(sym == "AAAA" || sym == "AAAB", "{sym}");
        let bids = l["bids"].as_array().unwrap();
        let asks = l["asks"].as_array().unwrap();
        assert!(!bids.is_empty() && !asks.is_empty());
        let best_bid = bids[0][0].as_u64().unwrap();
        let best_ask = asks[0][0].as_u64().unwrap();
        assert!(best_bid < best_ask, "uncrossed");
        for w in bids.windows(2) {
            assert!(w[0][0].as_u64() > w[1][0].as_u64(), "bids best first");
        }
        for lvl in bids.iter().chain(asks) {
            assert_eq!(lvl.as_array().unwrap().len(), 3, "[price, shares, orders]");
        }
    }
    assert_eq!(lines[0]["seq"], 10_000);
    assert_eq!(lines[4]["seq"], 20_000);

    // The real MoldUDP64 capture: two packets, the sequences the data README states.
    let out = run(Command::new(EXE)
        .args(["replay", "--json"])
        .arg(format!("{DATA}/moldudp64_multiple_packets.pcap")));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["format"], "pcap");
    assert_eq!(s["packets"], 2);
    assert_eq!(s["types"]["D"], 1);
    let adds = s["types"]["A"].as_u64().unwrap_or(0) + s["types"]["F"].as_u64().unwrap_or(0);
    assert_eq!(adds, 38, "sequence 19009117 carries 38 add orders");
    assert_eq!(s["live_orders"], 38);
    assert_eq!(
        s["messages_lost"],
        19_009_117u64 - 14_764_497,
        "the capture's gap, counted"
    );
}

/// The numbers on the line of `hotpath run`'s summary that starts with `prefix`.
fn summary_numbers(text: &str, prefix: &str) -> Vec<u64> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line: {text}"));
    line.split(|c: char| !c.is_ascii_digit() && c != ',')
        .map(|w| w.replace(',', ""))
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect()
}

#[test]
fn run_sends_a_generated_day_through_the_feed_with_a_checked_summary() {
    let root = tempfile::Builder::new()
        .prefix("hotpath-run-")
        .tempdir_in("/dev/shm")
        .unwrap();
    let port = 34_000 + (std::process::id() % 8_000) as u16;
    // Each run must end on its own: one that waits past the limit is stopped with
    // SIGTERM (so that it stops its feed) and fails the test.
    let hotpath_run = |args: &[&str]| {
        let mut run = common::Killed(
            Command::new(EXE)
                .env("HOTPATH_SHM_ROOT", root.path())
                .arg("run")
                .args(args)
                .args(["--rate", "20000", "--group", &format!("239.203.1.1:{port}")])
                .args(["--request-port", &(port + 9_000).to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run hotpath"),
        );
        let limit = Instant::now() + Duration::from_secs(60);
        while run.0.try_wait().unwrap().is_none() && Instant::now() < limit {
            std::thread::sleep(Duration::from_millis(20));
        }
        let ended = run.0.try_wait().unwrap().is_some();
        if !ended {
            run.signal("-TERM");
        }
        let (status, err) = run.finish(Duration::from_secs(20), || {
            format!("hotpath run {args:?} did not stop on SIGTERM")
        });
        let mut out = String::new();
        run.0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert!(
            ended,
            "hotpath run {args:?} did not end in 60 s: {out}\n{err}"
        );
        assert!(status.success(), "hotpath run {args:?}: {out}\n{err}");
        out
    };
    let text = hotpath_run(&[
        "--messages",
        "200000",
        "--drop",
        "0.01",
        "--drop-both",
        "0.005",
    ]);
    assert!(text.contains("result: OK"), "{text}");
    assert!(
        text.contains("200,000 messages delivered in sequence"),
        "{text}"
    );
    // Every datagram that crossed the wire was stamped by the kernel and its wait in
    // the feed's socket counted once, or counted as dropped on a full queue.
    let numbers = |prefix: &str| summary_numbers(&text, prefix);
    let exchange = numbers("exchange");
    assert!(matches!(exchange.len(), 6 | 7), "{text}");
    // The end of session sent again while the feed had not stopped (rarely any).
    let repeats = exchange.get(6).copied().unwrap_or(0);
    let (packets, dropped_a, dropped_b, both) =
        (exchange[1], exchange[3], exchange[4], exchange[5]);
    let socket = numbers("socket");
    assert_eq!(socket.len(), 11, "{text}");
    let waited: u64 = [0, 2, 4, 6, 8].iter().map(|&i| socket[i]).sum();
    // The feed ends on the first copy of the end of session it reads: the other line's,
    // sent after it, may be left unread, and so may the repeats.
    let crossed = (packets - dropped_a) + (packets - dropped_b);
    let counted = waited + socket[10];
    assert!(
        counted + 1 >= crossed && counted <= crossed + 2 * repeats,
        "{counted} of {crossed} datagrams ({repeats} repeats) counted: {text}"
    );
    // A/B arbitration: each line lost packets of its own, which made no gap: line B's
    // copy came first exactly for the packets line A lost and B did not (the two lines
    // share one socket, so the datagrams are read in the order they were sent).
    assert!(dropped_a > both && dropped_b > both && both > 0, "{text}");
    let first = numbers("lines");
    assert_eq!(first.len(), 2, "{text}");
    assert_eq!(first[1], dropped_a - both, "{text}");
    // Only what both lines lost opened gaps, and re-requests recovered it.
    let feed = numbers("feed");
    let (gaps, recovered) = (feed[2], feed[4]);
    assert!(gaps > 0 && gaps <= both, "{text}");
    assert!(recovered > 0, "{text}");

    // Line A alone, losing 30%: each packet it lost is a gap. With seed 4 the end of
    // session itself is lost: line A's copy came first for every packet it did not
    // lose, the end of session's not among them (it is not a data packet). Without
    // the end of session sent again, the feed would never learn the day is over.
    let text = hotpath_run(&[
        "--one-line",
        "--messages",
        "20000",
        "--drop",
        "0.3",
        "--seed",
        "4",
    ]);
    assert!(text.contains("result: OK"), "{text}");
    assert!(text.contains(" on line A; "), "{text}");
    let exchange = summary_numbers(&text, "exchange");
    let (packets, dropped) = (exchange[1], exchange[3]);
    assert_eq!(
        summary_numbers(&text, "lines"),
        [packets - dropped],
        "{text}"
    );
    assert!(exchange[4] > 0, "the end of session sent again: {text}");
    let gaps = summary_numbers(&text, "feed")[2];
    assert!(gaps > 0 && gaps <= dropped, "{text}");
    assert_eq!(
        std::fs::read_dir(root.path().join("default"))
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[test]
fn feed_applies_its_core_discipline_or_refuses_before_starting() {
    let pcap = format!("{DATA}/moldudp64_multiple_packets.pcap");
    let root = tempfile::tempdir().unwrap();
    let feed = |extra: &[&str]| {
        Command::new(EXE)
            .env("HOTPATH_SHM_ROOT", root.path())
            .env("HOTPATH_INSTANCE", "disc")
            .args(["feed", "--source", &pcap, "--core", "0"])
            .args(extra)
            .output()
            .unwrap()
    };
    // A bad priority or core is refused before any shm object exists.
    for bad in [&["--fifo", "0"][..], &["--fifo", "100"], &["--idle", "nap"]] {
        let out = feed(bad);
        assert!(!out.status.success(), "{bad:?}");
        assert!(
            !root.path().join("disc").exists(),
            "{bad:?} created the instance"
        );
    }
    let out = Command::new(EXE)
        .env("HOTPATH_SHM_ROOT", root.path())
        .args([
            "feed",
            "--source",
            &pcap,
            "--core",
            "4096",
            "--instance",
            "disc",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!root.path().join("disc").exists());

    let out = feed(&["--fifo", "10", "--mlock", "--idle", "busy-spin"]);
    let err = String::from_utf8_lossy(&out.stderr);
    // It says so when the kernel's RT throttling would hold its SCHED_FIFO thread off the
    // core (Debian's default: 50 ms of every second), before anything starts.
    let throttle = hotpath_hw::discipline::RtThrottle::read().unwrap();
    assert_eq!(
        err.contains(&format!(
            "warning: --fifo: the kernel's RT throttling ({throttle})"
        )),
        throttle.stall_us().is_some(),
        "{err}"
    );
    if hotpath_hw::discipline::has_capability(hotpath_hw::discipline::CAP_SYS_NICE)
        && hotpath_hw::discipline::has_capability(hotpath_hw::discipline::CAP_IPC_LOCK)
    {
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains("pinned to core 0, SCHED_FIFO 10, memory locked, idle busy-spin"),
            "{err}"
        );
        assert!(err.contains("hotpath feed: stopped after"), "{err}");
    } else {
        assert!(!out.status.success());
        assert!(
            err.contains("CAP_SYS_NICE") || err.contains("CAP_IPC_LOCK"),
            "{err}"
        );
    }
}

#[test]
fn the_feed_loop_makes_no_system_call_but_the_sources_own() {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("day.pcap");
    run(Command::new(EXE)
        .args(["gen", "--messages", "50000", "--seed", "12", "--pcap"])
        .args(["--quiet", "--out"])
        .arg(&pcap));
    let shm = tempfile::Builder::new()
        .prefix("hotpath-sys-")
        .tempdir_in("/dev/shm")
        .unwrap();
    let args = |source: String| -> Vec<String> {
        let rest = ["--idle", "busy-spin", "--until-end-of-session"];
        ["--source".to_string(), source]
            .into_iter()
            .chain(rest.map(String::from))
            .collect()
    };

    // A capture: read at start-up, so the loop makes none at all.
    let pcap_arg = pcap.display().to_string();
    let calls = common::hot_loop_syscalls(EXE, &shm.path().join("pcap"), &args(pcap_arg), || {});
    assert!(calls.is_empty(), "pcap source: {calls:?}");

    // UDP, both lines and a request server: recvmmsg (the source) and nothing else; with
    // no gap the re-request socket is not read. Lines of one port are read from one
    // socket, one recvmmsg a poll; asked, from a socket each.
    let port = 36_000 + (std::process::id() % 8_000) as u16;
    let (a, b) = (format!("239.205.1.1:{port}"), format!("239.205.1.2:{port}"));
    for (sockets, fds) in [("", 1), ("&sockets=per-line", 2)] {
        let source = format!(
            "udp://{a}?iface=lo&b={b}&request=127.0.0.1:{}{sockets}",
            port + 10_000
        );
        let root = shm.path().join(format!("udp-{fds}"));
        let trace = common::traced_feed(EXE, &root, &args(source), || {
            run(Command::new(EXE)
                .args([
                    "send", "--to", &a, "--b", &b, "--iface", "lo", "--rate", "20000",
                ])
                .arg(&pcap));
        });
        // The whole day, from its first packet: the feed had joined before the sender
        // started.
        assert!(
            trace.stderr.contains("stopped after 50,000 messages"),
            "{}",
            trace.stderr
        );
        let calls = &trace.hot;
        assert!(calls.get("recvmmsg").copied().unwrap_or(0) > 0, "{calls:?}");
        assert_eq!(calls.len(), 1, "UDP source: {calls:?}");
        let read_from: std::collections::BTreeSet<&str> = trace
            .hot_lines
            .iter()
            .filter_map(|l| l.strip_prefix("recvmmsg(")?.split(',').next())
            .collect();
        assert_eq!(
            read_from.len(),
            fds,
            "{sockets}: recvmmsg on fds {read_from:?}"
        );
    }
}

/// A `hotpath feed --until-end-of-session` with a shm root and instance of its own.
struct OwnFeed {
    root: tempfile::TempDir,
    instance: &'static str,
}

impl OwnFeed {
    fn new(instance: &'static str) -> OwnFeed {
        let root = tempfile::Builder::new()
            .prefix("hotpath-live-")
            .tempdir_in("/dev/shm")
            .unwrap();
        OwnFeed { root, instance }
    }

    /// Points `c` at this feed's shm root and instance.
    fn env(&self, c: &mut Command) {
        c.env("HOTPATH_SHM_ROOT", self.root.path())
            .env("HOTPATH_INSTANCE", self.instance);
    }

    /// Starts it on `source` with `args` added; returns once its counters exist.
    fn start(&self, source: &str, args: &[&str]) -> Killed {
        let mut cmd = Command::new(EXE);
        self.env(&mut cmd);
        cmd.args(["feed", "--until-end-of-session"])
            .args(args)
            .args(["--source", source]);
        let feed = Killed::quiet(&mut cmd);
        let counters = self.root.path().join(self.instance).join("feed.counters");
        common::wait_for(&counters, "the feed's counters");
        feed
    }

    /// Waits for `feed` to end by itself (failing with `why` after `limit`); its
    /// error output and a snapshot of its counters.
    fn finish(&self, feed: &mut Killed, limit: Duration, why: &str) -> (String, Value) {
        let (status, err) = feed.finish(limit, || why.into());
        assert!(status.success(), "{err}");
        (err, common::stat_snapshot(EXE, |c| self.env(c)))
    }
}

/// `hotpath gen --pcap` of `messages` messages with `seed`; returns the capture's
/// packet count.
fn gen_day(pcap: &Path, messages: u64, seed: u64) -> u64 {
    run(Command::new(EXE)
        .args(["gen", "--messages", &messages.to_string()])
        .args([
            "--seed",
            &seed.to_string(),
            "--symbols",
            "30",
            "--pcap",
            "--quiet",
            "--out",
        ])
        .arg(pcap));
    let mut src = PcapSource::open(pcap, Lines::default(), Pace::AsFast).unwrap();
    let mut packets = 0;
    while !matches!(
        src.recv_burst(&mut |_, _| packets += 1),
        Err(SourceError::End)
    ) {}
    packets
}

/// Source-specific multicast on the UDP source: the feed joins the channel (S,G) with
/// `a_source=`, and another host sending another day of the same session to the same
/// group at the same time never reaches it (the kernel drops it). Without the source,
/// the two days would mix: duplicates of every sequence, orders unknown to the book.
#[test]
fn a_udp_line_joined_for_one_source_takes_nothing_from_another_host() {
    let tmp = tempfile::tempdir().unwrap();
    let (day, other) = (tmp.path().join("day.pcap"), tmp.path().join("other.pcap"));
    const MESSAGES: u64 = 100_000;
    let packets = gen_day(&day, MESSAGES, 41);
    gen_day(&other, MESSAGES, 42);
    let port = 34_000 + (std::process::id() % 8_000) as u16;
    let group = format!("232.202.1.1:{port}");
    // Not port + 9_000: the `run` test in this binary binds that as its request port.
    let req_port = port + 13_000;
    let (source, intruder) = ("127.0.0.2", "127.0.0.3");
    let own = OwnFeed::new("ssm");
    let mut feed = own.start(
        &format!("udp://{group}?iface=lo&a_source={source}&request=127.0.0.1:{req_port}"),
        &[],
    );
    let send = |pcap: &Path, from: &str, serve: bool| {
        let mut c = Command::new(EXE);
        c.args(["send", "--to", &group, "--iface", "lo", "--rate", "20000"])
            .args(["--from", from]);
        if serve {
            c.args(["--serve-requests", &format!("127.0.0.1:{req_port}")]);
        }
        Killed::quiet(c.arg(pcap))
    };
    let _intruder = send(&other, intruder, false);
    let _sender = send(&day, source, true);
    let (err, snap) = own.finish(&mut feed, Duration::from_secs(120), "no end of session");
    assert!(
        err.contains(&format!("udp ({source}, {group}) on lo")),
        "the banner names the channel: {err}"
    );
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), MESSAGES);
    assert_eq!(counter("messages_lost"), 0);
    assert_eq!(
        counter("duplicates_a"),
        0,
        "no packet of the other day arrived"
    );
    assert_eq!(counter("unknown_refs"), 0);
    // Each packet of the day once, but the end of session as often as the sender
    // repeated it before the feed stopped (more than once on a loaded machine).
    let repeats = counter("end_of_session").saturating_sub(1);
    assert!(
        counter("packets_a") <= packets + repeats,
        "{} packets on line A of a {packets}-packet day: {snap}",
        counter("packets_a")
    );
}

/// Lines A and B as two channels of one group and port, (S1,G) and (S2,G): each line's
/// socket takes its own source's copy of the day only, and the session arbitrates
/// between them (line B's copy covers line A's losses).
#[test]
fn lines_a_and_b_may_be_two_sources_of_one_group() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("day.pcap");
    const MESSAGES: u64 = 100_000;
    let packets = gen_day(&day, MESSAGES, 43);
    let port = 35_000 + (std::process::id() % 8_000) as u16;
    let group = format!("232.202.2.1:{port}");
    let (s1, s2) = ("127.0.0.4", "127.0.0.5");
    let own = OwnFeed::new("ssm2");
    let mut feed = own.start(
        &format!("udp://{group}?iface=lo&b={group}&a_source={s1}&b_source={s2}"),
        &[],
    );
    // Line A's source drops 5% of the packets, line B's none (the session starts at
    // the first packet it sees, so that one must come).
    let send = |from: &str, drop: &str| {
        Killed::quiet(
            Command::new(EXE)
                .args(["send", "--to", &group, "--iface", "lo", "--rate", "20000"])
                .args(["--from", from, "--drop", drop])
                .arg(&day),
        )
    };
    let _a = send(s1, "0.05");
    let _b = send(s2, "0");
    let (err, snap) = own.finish(&mut feed, Duration::from_secs(120), "no end of session");
    assert!(
        err.contains(&format!("udp ({s1}, {group}) + ({s2}, {group}) on lo")),
        "{err}"
    );
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), MESSAGES, "{snap}");
    assert_eq!(counter("messages_lost"), 0);
    assert_eq!(counter("unknown_refs"), 0);
    // One copy of the day a line: without the sources each socket would take both.
    let (pa, pb) = (counter("packets_a"), counter("packets_b"));
    assert!(
        pa > packets / 2 && pa < packets,
        "line A: {pa} of {packets}"
    );
    assert!(
        pb > packets / 2 && pb <= packets,
        "line B: {pb} of {packets}"
    );
    // Both lines carried the day: whichever copy came second was a duplicate.
    assert!(counter("duplicates_a") + counter("duplicates_b") > MESSAGES / 2);
}

/// A feed started after its session began, with `--start-sequence 1`: what was sent
/// before its first packet is a gap, recovered from the request server, so the books
/// are built from the start of the session (`first_sequence` says where it joined).
#[test]
fn a_feed_started_late_recovers_the_start_of_the_session_from_the_request_server() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("day.pcap");
    const MESSAGES: u64 = 100_000;
    gen_day(&day, MESSAGES, 44);
    let port = 36_000 + (std::process::id() % 8_000) as u16;
    let group = format!("239.202.3.1:{port}");
    let request = format!("127.0.0.1:{}", port - 10_000);
    let own = OwnFeed::new("late");
    // The session is under way: this test's own socket has seen 200 packets.
    let mut watch = hotpath_hw::net::McastRx::open(group.parse().unwrap(), "lo", 64).unwrap();
    let _sender = Killed::quiet(
        Command::new(EXE)
            .args(["send", "--to", &group, "--iface", "lo", "--rate", "2000"])
            .args(["--serve-requests", &request, "--linger-ms", "5000"])
            .arg(&day),
    );
    let (mut seen, end) = (0, Instant::now() + Duration::from_secs(30));
    while seen < 200 {
        assert!(Instant::now() < end, "the sender sent {seen} packets");
        seen += watch.recv_burst(|_, _| {}).unwrap();
    }
    let source = format!("udp://{group}?iface=lo&request={request}");
    let mut feed = own.start(&source, &["--start-sequence", "1"]);
    let (_, snap) = own.finish(&mut feed, Duration::from_secs(60), "no end of session");
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    let first = counter("first_sequence");
    assert!(first > 200 * 40, "joined late: first sequence {first}");
    assert_eq!(counter("messages"), MESSAGES, "{snap}");
    assert_eq!(counter("messages_lost"), 0);
    assert_eq!(counter("unknown_refs"), 0, "the books saw every add");
    assert!(counter("messages_recovered") >= first - 1);
    assert!(counter("requests_sent") > 0);
}

/// A feed started after its session ended: the sender, like a MoldUDP64 server, keeps
/// sending the end of session while its request server answers, so the feed learns
/// where the session ends and, with `--start-sequence 1`, asks for all of it.
#[test]
fn a_feed_started_after_the_end_of_session_gets_the_whole_session_from_the_request_server() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("day.pcap");
    const MESSAGES: u64 = 50_000;
    gen_day(&day, MESSAGES, 45);
    let port = 37_000 + (std::process::id() % 8_000) as u16;
    let group = format!("239.202.4.1:{port}");
    let request = format!("127.0.0.1:{}", port - 9_000);
    let own = OwnFeed::new("after");
    let mut watch = hotpath_hw::net::McastRx::open(group.parse().unwrap(), "lo", 64).unwrap();
    let mut sender = Killed::quiet(
        Command::new(EXE)
            .args(["send", "--to", &group, "--iface", "lo", "--rate", "20000"])
            .args(["--serve-requests", &request, "--linger-ms", "3000"])
            .arg(&day),
    );
    // The session has ended: this test's own socket saw its end.
    let (mut ended, end) = (false, Instant::now() + Duration::from_secs(30));
    while !ended {
        assert!(Instant::now() < end, "the sender never ended its session");
        watch
            .recv_burst(|p, _| ended |= hotpath_feed::replay::is_end_of_session(p))
            .unwrap();
    }
    let source = format!("udp://{group}?iface=lo&request={request}");
    let mut feed = own.start(&source, &["--start-sequence", "1"]);
    let (_, snap) = own.finish(
        &mut feed,
        Duration::from_secs(30),
        "the feed never learnt where the session ends",
    );
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(
        counter("first_sequence"),
        MESSAGES + 1,
        "an end of session came first"
    );
    assert_eq!(counter("messages"), MESSAGES, "{snap}");
    assert_eq!(counter("messages_recovered"), MESSAGES);
    assert_eq!(counter("messages_lost") + counter("unknown_refs"), 0);
    let (_, sent) = sender.finish(Duration::from_secs(30), || "the sender never ended".into());
    assert!(sent.contains("end of session sent"), "{sent}");
}

/// The UDP source takes each datagram's receive time from the kernel's stamp
/// (`SO_TIMESTAMPNS`). A feed held up for 300 ms (stopped, as a feed on a shared core
/// can be descheduled) finds the day's first datagrams waiting in its socket, and says
/// how long they waited (`rx_wait_*`): a time taken when the feed reads them would show
/// nothing of it.
#[test]
fn a_feed_held_up_says_how_long_the_datagrams_waited_in_the_kernel() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("day.pcap");
    const MESSAGES: u64 = 100_000;
    gen_day(&day, MESSAGES, 44);
    let port = 36_000 + (std::process::id() % 8_000) as u16;
    let group = format!("239.202.5.1:{port}");
    let request = format!("127.0.0.1:{}", port + 9_000);
    let own = OwnFeed::new("wait");
    let mut feed = own.start(&format!("udp://{group}?iface=lo&request={request}"), &[]);
    let mut md =
        Subscriber::<MdEvent>::attach(&own.root.path().join("wait").join("md"), JoinAt::Oldest)
            .unwrap();
    // This test's own socket sees when the day begins; the feed is held from before
    // that until 300 ms after.
    let mut watch = hotpath_hw::net::McastRx::open(group.parse().unwrap(), "lo", 64).unwrap();
    feed.signal("-STOP");
    let _sender = Killed::quiet(
        Command::new(EXE)
            .args(["send", "--to", &group, "--iface", "lo", "--rate", "5000"])
            .args(["--serve-requests", &request])
            .arg(&day),
    );
    let end = Instant::now() + Duration::from_secs(30);
    while watch.recv_burst(|_, _| {}).unwrap() == 0 {
        assert!(Instant::now() < end, "the sender sent nothing");
    }
    std::thread::sleep(Duration::from_millis(300));
    feed.signal("-CONT");
    let (_, snap) = own.finish(&mut feed, Duration::from_secs(60), "no end of session");
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), MESSAGES);
    assert_eq!(counter("messages_lost"), 0);
    let max = counter("rx_wait_max_ns");
    assert!(
        (300_000_000..60_000_000_000).contains(&max),
        "the first datagram waited at least 300 ms: {max} ns"
    );
    assert!(counter("rx_wait_10ms_or_more") > 0);
    let buckets: u64 = hotpath_feed::source::RxWait::NAMES
        .iter()
        .map(|n| counter(&format!("rx_wait_{n}")))
        .sum();
    assert_eq!(
        buckets,
        counter("packets_a"),
        "every datagram of the line stamped and counted once"
    );
    // The events carry both times: the first packet's were received by the kernel at
    // least 300 ms before the feed read and applied them.
    let mut events = Vec::new();
    while let Ok(Received::Message { msg, .. }) = md.try_recv() {
        events.push((msg.receive_ts_ns, msg.book_ts_ns));
    }
    assert_eq!(events.len() as u64, counter("published"));
    let (received, booked) = events[0];
    assert!(
        booked - received >= 300_000_000,
        "the first event: received {received}, booked {booked}"
    );
    assert!(
        events.iter().all(|(r, b)| r <= b),
        "never booked before received"
    );
}

/// A feed whose socket queue overflows says how many datagrams the kernel dropped
/// (`socket_drops`, from `SO_RXQ_OVFL`), so that a gap is told from a loss upstream. The
/// feed, on a 256 KiB socket buffer (`rcvbuf=`), is stopped while a whole day is sent,
/// so its queue holds the day's first datagrams (and the small end of session, which
/// still fits) and the kernel drops the rest; then the day is sent again. Every datagram
/// of both is either read or counted as dropped.
#[test]
fn a_feed_whose_socket_overflows_counts_every_datagram_the_kernel_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp.path().join("day.pcap");
    const MESSAGES: u64 = 100_000;
    let packets = gen_day(&day, MESSAGES, 45);
    let port = 37_000 + (std::process::id() % 8_000) as u16;
    let group = format!("239.202.6.1:{port}");
    let own = OwnFeed::new("drops");
    let mut feed = own.start(&format!("udp://{group}?iface=lo&rcvbuf=262144"), &[]);
    let send = |rate: &str| {
        run(Command::new(EXE)
            .args(["send", "--to", &group, "--iface", "lo", "--rate", rate])
            .arg(&day));
    };
    feed.signal("-STOP");
    send("20000");
    feed.signal("-CONT");
    std::thread::sleep(Duration::from_millis(200));
    send("5000");
    let (err, snap) = own.finish(&mut feed, Duration::from_secs(60), "no end of session");
    assert!(err.contains("(recvmmsg, 256 KiB socket buffer)"), "{err}");
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    let drops = counter("socket_drops");
    assert!(
        drops > packets / 2,
        "most of the first day dropped: {drops}"
    );
    assert_eq!(
        counter("packets_a") + drops,
        2 * packets,
        "every datagram of both days read or counted as dropped"
    );
    // With no request server, what the second day did not bring in time was given up:
    // every message is delivered or counted lost.
    assert_eq!(counter("messages") + counter("messages_lost"), MESSAGES);
}
