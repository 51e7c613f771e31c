//! The CLI end to end: `hotpath shm demo` as real producer and consumer processes,
//! watched by `hotpath stat` (table, JSON, Prometheus, HTTP), `hotpath shm ls|clean`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_hotpath");

struct Env {
    root: tempfile::TempDir,
    instance: String,
}

impl Env {
    fn new(instance: &str) -> Env {
        let root = tempfile::Builder::new()
            .prefix("hotpath-cli-")
            .tempdir_in(if Path::new("/dev/shm").is_dir() {
                "/dev/shm"
            } else {
                "/tmp"
            })
            .unwrap();
        Env {
            root,
            instance: instance.into(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(EXE);
        c.env("HOTPATH_SHM_ROOT", self.root.path())
            .env("HOTPATH_INSTANCE", &self.instance);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run hotpath")
    }

    fn dir(&self) -> PathBuf {
        self.root.path().join(&self.instance)
    }

    /// Starts the demo with no time limit and waits until both processes have counters.
    fn start_demo(&self, extra: &[&str]) -> Child {
        let child = self
            .cmd()
            .args(["shm", "demo", "--rate", "200000"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(20);
        while !(self.dir().join("demo_producer.counters").exists()
            && self.dir().join("demo_consumer.counters").exists())
        {
            assert!(Instant::now() < end, "demo did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    fn stat_json(&self) -> Value {
        let out = self.run(&["stat", "--once", "--json", "--interval-ms", "300"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("stat --json prints JSON")
    }
}

fn interrupt(child: &Child) {
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn wait_with_timeout(
    mut child: Child,
    limit: Duration,
) -> (std::process::ExitStatus, String, String) {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut out = String::new();
            let mut err = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (st, out, err);
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn component<'a>(snap: &'a Value, name: &str) -> &'a Value {
    snap["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("component {name} missing in {snap}"))
}

fn counter<'a>(snap: &'a Value, comp: &str, name: &str) -> &'a Value {
    snap["counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == comp && c["name"] == name)
        .unwrap_or_else(|| panic!("counter {comp}.{name} missing in {snap}"))
}

fn prometheus_samples(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("valid exposition")
}

fn value_of(scrape: &prometheus_parse::Scrape, metric: &str, label: (&str, &str)) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && s.labels.get(label.0) == Some(label.1))
        .unwrap_or_else(|| panic!("no sample {metric}{{{}={}}}", label.0, label.1));
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("unexpected value {other:?}"),
    }
}

fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

#[test]
fn stat_json_prometheus_and_http_against_a_running_demo() {
    let env = Env::new("live");
    let demo = env.start_demo(&[]);

    let snap = env.stat_json();
    assert_eq!(snap["instance"], "live");
    for name in ["demo_producer", "demo_consumer"] {
        let c = component(&snap, name);
        assert_eq!(c["alive"], true, "{c}");
        let age = c["heartbeat_age_ms"].as_f64().expect("heartbeat age");
        assert!(age < 5000.0, "{name} heartbeat is {age} ms old");
    }
    let sent = counter(&snap, "demo_producer", "events_sent");
    assert!(sent["value"].as_u64().unwrap() > 0);
    let rate = sent["rate_per_s"]
        .as_f64()
        .expect("rate after one interval");
    assert!(rate > 1000.0, "events are flowing: {rate}/s");
    assert_eq!(
        counter(&snap, "demo_consumer", "sequence_errors")["value"],
        0
    );
    let rings = snap["rings"].as_array().unwrap();
    let ev = rings.iter().find(|r| r["name"] == "demo_events").unwrap();
    assert_eq!(ev["kind"], "spsc");
    assert_eq!(ev["message_type"], "DemoEvent");
    assert_eq!(ev["producer"], "alive");
    assert_eq!(ev["consumer"], "alive");
    assert!(ev["fill"].as_u64().unwrap() <= ev["capacity"].as_u64().unwrap());
    let ticks = rings.iter().find(|r| r["name"] == "demo_ticks").unwrap();
    assert_eq!(ticks["kind"], "broadcast");
    assert!(ticks["publish_rate_per_s"].as_f64().unwrap() > 0.0);

    // Prometheus text, parsed by an independent parser.
    let out = env.run(&["stat", "--prometheus"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let scrape = prometheus_samples(&text);
    assert_eq!(
        value_of(&scrape, "hotpath_up", ("component", "demo_producer")),
        1.0
    );
    assert_eq!(
        value_of(&scrape, "hotpath_up", ("component", "demo_consumer")),
        1.0
    );
    assert!(
        value_of(
            &scrape,
            "hotpath_demo_producer_events_sent_total",
            ("instance", "live")
        ) > 0.0
    );
    assert!(
        value_of(
            &scrape,
            "hotpath_ring_published_total",
            ("ring", "demo_events")
        ) > 0.0
    );
    assert!(text.contains("# TYPE hotpath_demo_producer_events_sent_total counter"));
    assert!(text.contains("# TYPE hotpath_ring_fill gauge"));

    // Served over HTTP for scraping.
    let mut server = env
        .cmd()
        .args(["stat", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .trim_end_matches("/metrics")
        .to_string();
    let (head, body) = http_get(&addr, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let scrape = prometheus_samples(&body);
    let first = value_of(
        &scrape,
        "hotpath_demo_producer_events_sent_total",
        ("instance", "live"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let (_, body) = http_get(&addr, "/metrics");
    let second = value_of(
        &prometheus_samples(&body),
        "hotpath_demo_producer_events_sent_total",
        ("instance", "live"),
    );
    assert!(
        second > first,
        "each scrape reads live values ({first} then {second})"
    );
    let (head, _) = http_get(&addr, "/nope");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    server.kill().unwrap();
    server.wait().unwrap();

    // The live view redraws in place.
    let mut live = env
        .cmd()
        .args(["stat", "--interval-ms", "100"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    live.kill().unwrap();
    let mut frames = String::new();
    live.stdout
        .take()
        .unwrap()
        .read_to_string(&mut frames)
        .unwrap();
    live.wait().unwrap();
    assert!(
        frames.matches("\x1b[H").count() >= 3,
        "several frames drawn in place"
    );
    assert!(frames.contains("demo_producer.events_sent"));

    // Ctrl-C stops the demo cleanly, with a checked summary, and its files are removed.
    interrupt(&demo);
    let (st, out, err) = wait_with_timeout(demo, Duration::from_secs(30));
    assert!(st.success(), "demo failed: {out}\n{err}");
    assert!(out.contains("result: OK"), "{out}");
    let ls = env.run(&["shm", "ls", "--json"]);
    let rows: Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 0, "{rows}");
}

#[test]
fn a_killed_component_shows_dead_and_clean_removes_only_dead_objects() {
    let env = Env::new("crash");
    let demo = env.start_demo(&["--keep"]);
    let snap = env.stat_json();
    let pid = component(&snap, "demo_producer")["pid"].as_u64().unwrap();
    let st = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    // The demo notices its producer died and fails loudly.
    let (st, _out, err) = wait_with_timeout(demo, Duration::from_secs(30));
    assert!(!st.success());
    assert!(err.contains("producer exited early"), "{err}");

    let snap = env.stat_json();
    assert_eq!(component(&snap, "demo_producer")["alive"], false);
    let out = env.run(&["stat", "--prometheus"]);
    let scrape = prometheus_samples(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        value_of(&scrape, "hotpath_up", ("component", "demo_producer")),
        0.0
    );
    let ev = snap["rings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "demo_events")
        .unwrap()
        .clone();
    assert_eq!(ev["producer"], "dead");

    // A live object in the same instance (held by this test process) is kept by clean.
    hotpath_shm::shm_message! {
        struct Probe (size = 8) { v: u64 }
    }
    let _live = hotpath_shm::spsc::create::<Probe>(&env.dir().join("held"), 4).unwrap();

    let ls = env.run(&["shm", "ls"]);
    let table = String::from_utf8(ls.stdout).unwrap();
    assert!(
        table.contains("demo_events") && table.contains("dead"),
        "{table}"
    );
    let dry = env.run(&["shm", "clean", "--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("would remove"));
    assert!(env.dir().join("demo_events").exists());
    let clean = env.run(&["shm", "clean"]);
    assert!(clean.status.success());
    let ls = env.run(&["shm", "ls", "--json"]);
    let rows: Value = serde_json::from_slice(&ls.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "only the live object remains: {rows:?}");
    assert_eq!(rows[0]["name"], "held");
    assert_eq!(rows[0]["producer"], "alive");
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let env = Env::new("nothing");
    let out = env.run(&["stat", "--once"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no instance `nothing`"), "{err}");

    let out = env.run(&["--instance", "../etc", "shm", "ls"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("instance name `../etc`"));

    let out = env.run(&["shm", "demo", "--capacity", "1000", "--seconds", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a power of two"));

    // A file that is not a hotpath object is listed as invalid, naming the field.
    std::fs::create_dir_all(env.dir()).unwrap();
    std::fs::write(env.dir().join("junk"), vec![7u8; 200]).unwrap();
    let out = env.run(&["shm", "ls"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("INVALID") && table.contains("field `magic`"),
        "{table}"
    );
}

#[test]
fn the_shm_demo_finishes_on_its_own_with_a_checked_summary() {
    let env = Env::new("default");
    let out = env.run(&["shm", "demo", "--seconds", "2", "--rate", "100000"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("result: OK"), "{stdout}");
    let sent: u64 = stdout
        .lines()
        .find(|l| l.contains("events sent"))
        .and_then(|l| l.split_whitespace().nth(2))
        .map(|n| n.replace(',', "").parse().unwrap())
        .unwrap();
    assert!(sent >= 100_000, "about 2 s at 100k/s: {sent}");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let env = Env::new("pipe");
    let day = env.root.path().join("day.itch");
    let gen = env.run(&[
        "gen",
        "--messages",
        "2000",
        "--seed",
        "3",
        "--out",
        day.to_str().unwrap(),
    ]);
    assert!(gen.status.success(), "{gen:?}");
    for extra in [&[][..], &["--json"][..]] {
        // The reader is gone before the command writes a byte (`... | head -0`).
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env
            .cmd()
            .args(["replay", day.to_str().unwrap()])
            .args(extra)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{extra:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{extra:?}: {stderr}"
        );
    }
}
