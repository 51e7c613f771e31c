//! Cross-process tests: the test binary re-executes itself as the peer processes
//! (environment variable `HOTPATH_SHM_CHILD` names the role), so producer and consumers
//! really are separate processes sharing only the shm file.
//!
//! Runs without libtest's harness (`harness = false`): `main` is the dispatcher.
//! `HOTPATH_XPROC_MESSAGES` overrides the 100-million-message count for quick local runs.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::{scratch, Seq};
use hotpath_shm::broadcast::{self, JoinAt, Received};
use hotpath_shm::{spsc, Liveness, RingError};

const CHILD: &str = "HOTPATH_SHM_CHILD";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Ok(role) = std::env::var(CHILD) {
        child(&role, &args);
        return;
    }
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let tests: &[(&str, fn())] = &[
        (
            "spsc_100m_messages_cross_process",
            spsc_100m_messages_cross_process,
        ),
        (
            "broadcast_fast_and_slow_consumer_processes",
            broadcast_fast_and_slow_consumer_processes,
        ),
        (
            "spsc_producer_alive_idle_then_dead",
            spsc_producer_alive_idle_then_dead,
        ),
        (
            "spsc_kill9_producer_mid_stream",
            spsc_kill9_producer_mid_stream,
        ),
        (
            "broadcast_kill9_producer_mid_stream",
            broadcast_kill9_producer_mid_stream,
        ),
    ];
    let mut ran = 0;
    for (name, f) in tests {
        if filter.as_deref().is_some_and(|flt| !name.contains(flt)) {
            continue;
        }
        let t = Instant::now();
        eprintln!("test {name} ...");
        f();
        eprintln!("test {name} ... ok ({:.2?})", t.elapsed());
        ran += 1;
    }
    eprintln!("xproc: {ran} passed");
}

// ---------------------------------------------------------------- helpers

struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(role: &str, args: &[String]) -> Peer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, role)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn peer");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        self.stdout.read_line(&mut s).expect("read from peer");
        assert!(!s.is_empty(), "peer exited before answering");
        s.trim().to_string()
    }

    fn say(&mut self, s: &str) {
        let w = self.stdin.as_mut().unwrap();
        writeln!(w, "{s}").unwrap();
        w.flush().unwrap();
    }

    fn expect_success(mut self) {
        let st = self.child.wait().unwrap();
        assert!(st.success(), "peer failed: {st}");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

fn messages() -> u64 {
    std::env::var("HOTPATH_XPROC_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000_000)
}

fn deadline_guard(limit: Duration, what: &'static str) -> impl FnMut() {
    let end = Instant::now() + limit;
    let mut n = 0u32;
    move || {
        n = n.wrapping_add(1);
        if n.is_multiple_of(1024) {
            assert!(
                Instant::now() < end,
                "{what}: no progress within {limit:?} (hang)"
            );
            std::thread::yield_now();
        }
        std::hint::spin_loop();
    }
}

// ---------------------------------------------------------------- tests (parent side)

/// 100 million sequenced messages, producer in another process: none lost, duplicated,
/// reordered or torn.
fn spsc_100m_messages_cross_process() {
    let n = messages();
    let d = scratch();
    let path = d.path().join("orders");
    let mut c = spsc::create_for_consumer::<Seq>(&path, 1 << 16).unwrap();
    let producer = Peer::spawn("spsc-producer", &[s(path.display()), s(n)]);
    let started = Instant::now();
    let mut expected = 0u64;
    let mut guard = deadline_guard(Duration::from_secs(600), "100M consumer");
    while expected < n {
        let got = c
            .consume(256, |m| {
                assert_eq!(m.seq, expected, "out of order, lost or duplicated");
                assert!(m.is_intact(), "torn message at {expected}");
                expected += 1;
            })
            .unwrap();
        if got == 0 {
            guard();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    producer.expect_success();
    // Nothing beyond the n messages, and the producer's exit is seen as its death.
    let err = c
        .pop_wait(deadline_guard(Duration::from_secs(10), "drain"))
        .unwrap_err();
    assert!(matches!(err, RingError::ProducerDead { .. }), "{err}");
    eprintln!(
        "  {n} messages in {secs:.2} s ({:.1} M msgs/s)",
        n as f64 / secs / 1e6
    );
}

/// One producer process, a fast and a slow consumer process: the fast one gets all,
/// the slow one reports exactly how many it lost.
fn broadcast_fast_and_slow_consumer_processes() {
    let n: u64 = 1_000_000;
    let d = scratch();
    let path = d.path().join("md");
    let mut producer = Peer::spawn("bcast-producer", &[s(path.display()), s(n), s(1 << 18)]);
    assert_eq!(producer.line(), "ready");
    let mut fast = Peer::spawn("bcast-consumer", &[s(path.display()), s(0)]);
    let mut slow = Peer::spawn("bcast-consumer", &[s(path.display()), s(1)]);
    assert_eq!(fast.line(), "attached");
    assert_eq!(slow.line(), "attached");
    producer.say("go");
    let f = parse_report(&fast.line());
    let sl = parse_report(&slow.line());
    producer.expect_success();
    fast.expect_success();
    slow.expect_success();
    eprintln!("  fast {f:?}\n  slow {sl:?}");
    assert_eq!(f.received, n, "fast consumer received everything");
    assert_eq!(f.lost, 0);
    assert!(sl.lost > 0, "the slow consumer was lapped");
    assert!(sl.received > 0);
    assert_eq!(
        sl.received + sl.lost,
        n,
        "received + lost accounts for every message"
    );
    assert_eq!(
        sl.lost, sl.gaps,
        "the lost count it reports equals the gaps in what it received"
    );
}

/// "Alive and idle" is told apart from "dead": the consumer sees the idle producer
/// alive, and after kill -9 sees it dead and gets an error, without hanging.
fn spsc_producer_alive_idle_then_dead() {
    let d = scratch();
    let path = d.path().join("exec");
    let mut c = spsc::create_for_consumer::<Seq>(&path, 1024).unwrap();
    let mut p = Peer::spawn("spsc-idle-producer", &[s(path.display()), s(100)]);
    assert_eq!(p.line(), "pushed");
    for i in 0..100 {
        assert_eq!(c.try_pop().unwrap().unwrap().seq, i);
    }
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        assert_eq!(c.try_pop().unwrap(), None);
        assert_eq!(c.producer_liveness().unwrap(), Liveness::Alive);
        std::thread::sleep(Duration::from_millis(20));
    }
    p.child.kill().unwrap(); // SIGKILL
    let st = p.child.wait().unwrap();
    assert!(!st.success());
    let err = c
        .pop_wait(deadline_guard(Duration::from_secs(10), "dead producer"))
        .unwrap_err();
    assert!(matches!(err, RingError::ProducerDead { .. }), "{err}");
    assert_eq!(c.producer_liveness().unwrap(), Liveness::Dead);
}

/// kill -9 of a producer that is pushing as fast as it can.
fn spsc_kill9_producer_mid_stream() {
    let d = scratch();
    let path = d.path().join("orders");
    let mut c = spsc::create_for_consumer::<Seq>(&path, 4096).unwrap();
    let mut p = Peer::spawn("spsc-producer", &[s(path.display()), s(u64::MAX)]);
    let mut expected = 0u64;
    let mut guard = deadline_guard(Duration::from_secs(60), "stream");
    while expected < 200_000 {
        let m = c.pop_wait(&mut guard).unwrap();
        assert_eq!(m.seq, expected);
        assert!(m.is_intact());
        expected += 1;
    }
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    let mut guard = deadline_guard(Duration::from_secs(10), "after kill");
    let err = loop {
        match c.pop_wait(&mut guard) {
            Ok(m) => {
                assert_eq!(m.seq, expected, "in order up to the death");
                assert!(m.is_intact());
                expected += 1;
            }
            Err(e) => break e,
        }
    };
    assert!(matches!(err, RingError::ProducerDead { .. }), "{err}");
    eprintln!("  {expected} messages before the producer died");
}

fn broadcast_kill9_producer_mid_stream() {
    let d = scratch();
    let path = d.path().join("md");
    let mut p = Peer::spawn(
        "bcast-producer",
        &[s(path.display()), s(u64::MAX), s(1 << 12)],
    );
    assert_eq!(p.line(), "ready");
    let mut sub = broadcast::Subscriber::<Seq>::attach(&path, JoinAt::Latest).unwrap();
    p.say("go");
    let mut guard = deadline_guard(Duration::from_secs(60), "stream");
    let mut seen = 0u64;
    while seen < 100_000 {
        if let Received::Message { seq, msg } = sub.recv_wait(&mut guard).unwrap() {
            assert_eq!(seq, msg.seq);
            assert!(msg.is_intact());
            seen += 1;
        }
    }
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    let mut guard = deadline_guard(Duration::from_secs(10), "after kill");
    let err = loop {
        match sub.recv_wait(&mut guard) {
            Ok(Received::Message { seq, msg }) => {
                assert_eq!(seq, msg.seq);
                assert!(msg.is_intact());
            }
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(matches!(err, RingError::ProducerDead { .. }), "{err}");
    assert_eq!(sub.producer_liveness().unwrap(), Liveness::Dead);
}

#[derive(Debug, Default)]
struct Report {
    received: u64,
    lost: u64,
    gaps: u64,
}

fn parse_report(line: &str) -> Report {
    let mut r = Report::default();
    for kv in line.split_whitespace() {
        let (k, v) = kv
            .split_once('=')
            .unwrap_or_else(|| panic!("bad report {line}"));
        let v: u64 = v.parse().unwrap();
        match k {
            "received" => r.received = v,
            "lost" => r.lost = v,
            "gaps" => r.gaps = v,
            _ => panic!("bad report {line}"),
        }
    }
    r
}

// ---------------------------------------------------------------- children

fn child(role: &str, args: &[String]) {
    let path = PathBuf::from(&args[0]);
    match role {
        "spsc-producer" => spsc_producer(&path, args[1].parse().unwrap()),
        "spsc-idle-producer" => {
            let mut p = spsc::Producer::<Seq>::attach(&path).unwrap();
            for i in 0..args[1].parse::<u64>().unwrap() {
                p.try_push(Seq::new(i)).unwrap();
            }
            println!("pushed");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "bcast-producer" => {
            bcast_producer(&path, args[1].parse().unwrap(), args[2].parse().unwrap())
        }
        "bcast-consumer" => bcast_consumer(&path, args[1] == "1"),
        other => panic!("unknown child role {other}"),
    }
}

fn spsc_producer(path: &Path, n: u64) {
    let mut p = spsc::Producer::<Seq>::attach(path).unwrap();
    let mut batch = [Seq::default(); 64];
    let mut next = 0u64;
    while next < n {
        let k = (n - next).min(batch.len() as u64) as usize;
        for (i, m) in batch[..k].iter_mut().enumerate() {
            *m = Seq::new(next + i as u64);
        }
        let pushed = p.push_slice(&batch[..k]).unwrap();
        next += pushed as u64;
        if pushed == 0 {
            std::hint::spin_loop();
        }
    }
}

fn bcast_producer(path: &Path, n: u64, capacity: u64) {
    let mut p = broadcast::create::<Seq>(path, capacity).unwrap();
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    // ~500k messages/s in bursts: fast enough to lap a slow reader, slow enough that a
    // reader sharing two cores with us keeps up.
    let mut batch = [Seq::default(); 256];
    let mut next = 0u64;
    while next < n {
        let k = (n - next).min(batch.len() as u64) as usize;
        for (i, m) in batch[..k].iter_mut().enumerate() {
            *m = Seq::new(next + i as u64);
        }
        p.publish_batch(&batch[..k]);
        next += k as u64;
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn bcast_consumer(path: &Path, slow: bool) {
    let mut sub = broadcast::Subscriber::<Seq>::attach(path, JoinAt::Latest).unwrap();
    println!("attached");
    let (mut received, mut lost, mut gaps) = (0u64, 0u64, 0u64);
    let mut expect_next = 0u64;
    let mut idle = || std::thread::yield_now();
    loop {
        match sub.recv_wait(&mut idle) {
            Ok(Received::Message { seq, msg }) => {
                assert_eq!(seq, msg.seq);
                assert!(msg.is_intact(), "torn message {seq}");
                assert!(seq >= expect_next, "reordered: {seq} after {expect_next}");
                gaps += seq - expect_next;
                expect_next = seq + 1;
                received += 1;
                if slow && received % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Ok(Received::Lagged { lost: l, .. }) => lost += l,
            Ok(Received::Empty) => unreachable!("recv_wait never returns Empty"),
            Err(RingError::ProducerDead { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    gaps += sub.published() - expect_next;
    assert_eq!(lost, sub.lost());
    println!("received={received} lost={lost} gaps={gaps}");
}
