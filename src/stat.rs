//! `hotpath stat`: a live, read-only view of an instance's shared memory.
//!
//! It maps every counters region and ring of the instance read-only, takes samples,
//! and shows values, per-second rates (between consecutive samples), heartbeat ages,
//! component liveness (the region owner's lock) and ring fill levels. It never writes
//! to shared memory, so it cannot disturb the processes it watches.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use hotpath_shm::counters::{CounterKind, CountersReader};
use hotpath_shm::dir;
use hotpath_shm::header::ObjectKind;
use hotpath_shm::Liveness;
use serde::Serialize;

use crate::{CmdResult, ShmArgs};
use hotpath_benches::fmt::{age_ms, rate, thousands};

#[derive(Debug, Clone, Args)]
pub struct StatArgs {
    /// Print one report and exit (rates are measured over one interval).
    #[arg(long)]
    pub once: bool,
    /// With --once: print JSON instead of a table.
    #[arg(long, requires = "once")]
    pub json: bool,
    /// Print the Prometheus text exposition format once and exit.
    #[arg(long, conflicts_with_all = ["once", "listen"])]
    pub prometheus: bool,
    /// Serve the Prometheus text format over HTTP at ADDR (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR", conflicts_with = "once")]
    pub listen: Option<String>,
    /// Refresh interval (live view) or rate-measurement interval (--once), in ms.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub interval_ms: u64,
}

/// One component (one counters region, owned by one process).
#[derive(Debug, Clone, Serialize)]
pub struct ComponentView {
    pub name: String,
    pub region: String,
    pub pid: u32,
    pub alive: bool,
    pub heartbeat_age_ms: Option<f64>,
}

/// One counter, gauge or heartbeat.
#[derive(Debug, Clone, Serialize)]
pub struct CounterView {
    pub region: String,
    pub component: String,
    pub name: String,
    pub kind: &'static str,
    pub unit: String,
    pub value: u64,
    pub rate_per_s: Option<f64>,
}

/// One ring.
#[derive(Debug, Clone, Serialize)]
pub struct RingView {
    pub name: String,
    pub kind: &'static str,
    pub message_type: String,
    pub capacity: u64,
    pub published: u64,
    pub consumed: Option<u64>,
    pub fill: u64,
    pub fill_pct: f64,
    pub publish_rate_per_s: Option<f64>,
    pub producer: &'static str,
    pub producer_pid: u32,
    pub consumer: &'static str,
}

/// Everything one sample saw.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub instance: String,
    pub dir: PathBuf,
    pub interval_ms: Option<u64>,
    pub components: Vec<ComponentView>,
    pub counters: Vec<CounterView>,
    pub rings: Vec<RingView>,
    /// Files in the instance directory that are not valid objects (with the reason).
    pub errors: Vec<String>,
    #[serde(skip)]
    taken: Option<Instant>,
}

fn region_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads every object of the instance once. Rates are filled in by [`with_rates`].
pub fn sample(instance: &str, dir: &Path) -> Result<Snapshot, crate::Error> {
    let listed = dir::list(dir)?;
    let now_mono = hotpath_shm::clock::monotonic_ns();
    let mut snap = Snapshot {
        instance: instance.into(),
        dir: dir.into(),
        interval_ms: None,
        components: Vec::new(),
        counters: Vec::new(),
        rings: Vec::new(),
        errors: Vec::new(),
        taken: Some(Instant::now()),
    };
    for (path, info) in listed {
        let info = match info {
            Ok(i) => i,
            Err(e) => {
                snap.errors.push(e.to_string());
                continue;
            }
        };
        match info.kind {
            ObjectKind::Counters => {
                let reader = match CountersReader::open(&path) {
                    Ok(r) => r,
                    Err(e) => {
                        snap.errors.push(e.to_string());
                        continue;
                    }
                };
                let region = region_name(&path);
                let alive = matches!(reader.owner_liveness(), Ok(Liveness::Alive));
                let values = reader.values();
                let mut components: Vec<ComponentView> = Vec::new();
                for (c, &v) in reader.infos().iter().zip(&values) {
                    if !components.iter().any(|x| x.name == c.component) {
                        components.push(ComponentView {
                            name: c.component.clone(),
                            region: region.clone(),
                            pid: reader.owner_pid(),
                            alive,
                            heartbeat_age_ms: None,
                        });
                    }
                    if c.kind == CounterKind::Heartbeat && v != 0 {
                        let comp = components
                            .iter_mut()
                            .find(|x| x.name == c.component)
                            .expect("pushed above");
                        comp.heartbeat_age_ms = Some(now_mono.saturating_sub(v) as f64 / 1e6);
                    }
                    snap.counters.push(CounterView {
                        region: region.clone(),
                        component: c.component.clone(),
                        name: c.name.clone(),
                        kind: c.kind.as_str(),
                        unit: c.unit.clone(),
                        value: v,
                        rate_per_s: None,
                    });
                }
                snap.components.extend(components);
            }
            ObjectKind::Spsc | ObjectKind::Broadcast => {
                let fill = info.fill.unwrap_or(0);
                snap.rings.push(RingView {
                    name: info.name.clone(),
                    kind: info.kind.as_str(),
                    message_type: info.type_name.clone(),
                    capacity: info.capacity,
                    published: info.published.unwrap_or(0),
                    consumed: info.consumed,
                    fill,
                    fill_pct: 100.0 * fill as f64 / info.capacity as f64,
                    publish_rate_per_s: None,
                    producer: info.producer.as_str(),
                    producer_pid: info.producer_pid,
                    consumer: info.consumer.as_str(),
                });
            }
        }
    }
    Ok(snap)
}

/// Fills `now`'s rates from the difference with `prev`.
pub fn with_rates(mut now: Snapshot, prev: &Snapshot) -> Snapshot {
    let (Some(t1), Some(t0)) = (now.taken, prev.taken) else {
        return now;
    };
    let dt = t1.duration_since(t0).as_secs_f64();
    if dt <= 0.0 {
        return now;
    }
    now.interval_ms = Some((dt * 1000.0).round() as u64);
    let before: HashMap<(&str, &str, &str), u64> = prev
        .counters
        .iter()
        .map(|c| {
            (
                (c.region.as_str(), c.component.as_str(), c.name.as_str()),
                c.value,
            )
        })
        .collect();
    for c in &mut now.counters {
        if c.kind != "counter" {
            continue;
        }
        if let Some(&v0) = before.get(&(c.region.as_str(), c.component.as_str(), c.name.as_str())) {
            if c.value >= v0 {
                c.rate_per_s = Some((c.value - v0) as f64 / dt);
            }
        }
    }
    let rings: HashMap<&str, u64> = prev
        .rings
        .iter()
        .map(|r| (r.name.as_str(), r.published))
        .collect();
    for r in &mut now.rings {
        if let Some(&p0) = rings.get(r.name.as_str()) {
            if r.published >= p0 {
                r.publish_rate_per_s = Some((r.published - p0) as f64 / dt);
            }
        }
    }
    now
}

/// The human-readable view (one frame of the live display).
pub fn render_table(s: &Snapshot) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "hotpath stat: instance `{}` ({})",
        s.instance,
        s.dir.display()
    );
    if s.components.is_empty() && s.rings.is_empty() {
        let _ = writeln!(o, "\n  (no objects yet)");
    }
    if !s.components.is_empty() {
        let _ = writeln!(
            o,
            "\n{:<24} {:>8} {:<6} {:>14}",
            "COMPONENT", "PID", "STATE", "HEARTBEAT AGE"
        );
        for c in &s.components {
            let _ = writeln!(
                o,
                "{:<24} {:>8} {:<6} {:>14}",
                c.name,
                c.pid,
                if c.alive { "alive" } else { "DEAD" },
                age_ms(c.heartbeat_age_ms)
            );
        }
    }
    let shown: Vec<&CounterView> = s
        .counters
        .iter()
        .filter(|c| c.kind != "heartbeat")
        .collect();
    if !shown.is_empty() {
        let _ = writeln!(
            o,
            "\n{:<44} {:>18} {:>14} {:<8}",
            "COUNTER", "VALUE", "RATE/s", "UNIT"
        );
        for c in shown {
            let _ = writeln!(
                o,
                "{:<44} {:>18} {:>14} {:<8}",
                format!("{}.{}", c.component, c.name),
                thousands(c.value),
                if c.kind == "counter" {
                    rate(c.rate_per_s)
                } else {
                    "(gauge)".into()
                },
                c.unit
            );
        }
    }
    if !s.rings.is_empty() {
        let _ = writeln!(
            o,
            "\n{:<20} {:<9} {:<16} {:>10} {:>10} {:>6} {:>16} {:>14} {:<9} {:<8}",
            "RING",
            "KIND",
            "TYPE",
            "CAPACITY",
            "FILL",
            "FILL%",
            "PUBLISHED",
            "RATE/s",
            "PRODUCER",
            "CONSUMER"
        );
        for r in &s.rings {
            let _ = writeln!(
                o,
                "{:<20} {:<9} {:<16} {:>10} {:>10} {:>5.1}% {:>16} {:>14} {:<9} {:<8}",
                r.name,
                r.kind,
                r.message_type,
                thousands(r.capacity),
                thousands(r.fill),
                r.fill_pct,
                thousands(r.published),
                rate(r.publish_rate_per_s),
                r.producer,
                r.consumer
            );
        }
    }
    for e in &s.errors {
        let _ = writeln!(o, "\n! {e}");
    }
    o
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition format (version 0.0.4).
pub fn render_prometheus(s: &Snapshot) -> String {
    // family name -> (type, help, sample lines)
    let mut fams: BTreeMap<String, (&str, String, Vec<String>)> = BTreeMap::new();
    let inst = escape_label(&s.instance);
    let mut add = |name: String, ty: &'static str, help: String, labels: String, value: String| {
        fams.entry(name.clone())
            .or_insert_with(|| (ty, help, Vec::new()))
            .2
            .push(format!("{name}{{{labels}}} {value}"));
    };
    for c in &s.components {
        let labels = format!(
            "instance=\"{inst}\",component=\"{}\",region=\"{}\",pid=\"{}\"",
            escape_label(&c.name),
            escape_label(&c.region),
            c.pid
        );
        add(
            "hotpath_up".into(),
            "gauge",
            "1 if the component's process holds its counters region, 0 if it died.".into(),
            labels.clone(),
            u8::from(c.alive).to_string(),
        );
        if let Some(age) = c.heartbeat_age_ms {
            add(
                "hotpath_heartbeat_age_seconds".into(),
                "gauge",
                "Seconds since the component's last heartbeat.".into(),
                labels,
                format!("{}", age / 1000.0),
            );
        }
    }
    for c in s.counters.iter().filter(|c| c.kind != "heartbeat") {
        let (name, ty) = if c.kind == "counter" {
            let base = format!("hotpath_{}_{}", c.component, c.name);
            let name = if base.ends_with("_total") {
                base
            } else {
                format!("{base}_total")
            };
            (name, "counter")
        } else {
            (format!("hotpath_{}_{}", c.component, c.name), "gauge")
        };
        let help = if c.unit.is_empty() {
            format!("{}.{}", c.component, c.name)
        } else {
            format!("{}.{} ({})", c.component, c.name, c.unit)
        };
        add(
            name,
            ty,
            help,
            format!("instance=\"{inst}\",region=\"{}\"", escape_label(&c.region)),
            c.value.to_string(),
        );
    }
    for r in &s.rings {
        let labels = format!(
            "instance=\"{inst}\",ring=\"{}\",kind=\"{}\",type=\"{}\"",
            escape_label(&r.name),
            r.kind,
            escape_label(&r.message_type)
        );
        add(
            "hotpath_ring_published_total".into(),
            "counter",
            "Messages published into the ring.".into(),
            labels.clone(),
            r.published.to_string(),
        );
        add(
            "hotpath_ring_fill".into(),
            "gauge",
            "Messages waiting in the ring (SPSC) or held by it (broadcast).".into(),
            labels.clone(),
            r.fill.to_string(),
        );
        add(
            "hotpath_ring_capacity".into(),
            "gauge",
            "Slots in the ring.".into(),
            labels.clone(),
            r.capacity.to_string(),
        );
        add(
            "hotpath_ring_producer_up".into(),
            "gauge",
            "1 if the ring's producer is alive.".into(),
            labels,
            u8::from(r.producer == "alive").to_string(),
        );
    }
    let mut out = String::new();
    for (name, (ty, help, lines)) in fams {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {ty}");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    out
}

fn check_instance(shm: &ShmArgs) -> Result<PathBuf, crate::Error> {
    let dir = shm.dir()?;
    if !dir.is_dir() {
        let known = dir::instances(&shm.shm_root)?;
        return Err(format!(
            "no instance `{}` under {} (instances there: {})",
            shm.instance,
            shm.shm_root.display(),
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        )
        .into());
    }
    Ok(dir)
}

pub fn run(shm: &ShmArgs, args: &StatArgs) -> CmdResult {
    let interval = Duration::from_millis(args.interval_ms);
    if args.prometheus {
        let dir = check_instance(shm)?;
        out!("{}", render_prometheus(&sample(&shm.instance, &dir)?));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(addr) = &args.listen {
        let dir = check_instance(shm)?;
        return serve(&shm.instance, &dir, addr);
    }
    if args.once {
        let dir = check_instance(shm)?;
        let first = sample(&shm.instance, &dir)?;
        std::thread::sleep(interval);
        let snap = with_rates(sample(&shm.instance, &dir)?, &first);
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&snap)?);
        } else {
            out!("{}", render_table(&snap));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Live view: redraw in place until interrupted.
    let dir = shm.dir()?;
    let mut prev: Option<Snapshot> = None;
    let mut out = std::io::stdout();
    loop {
        let snap = sample(&shm.instance, &dir)?;
        let snap = match &prev {
            Some(p) => with_rates(snap, p),
            None => snap,
        };
        let frame = render_table(&snap);
        // Home the cursor, draw, clear whatever the previous (longer) frame left.
        write!(out, "\x1b[H{}\x1b[J", frame.replace('\n', "\x1b[K\n"))?;
        writeln!(
            out,
            "\n(refresh {} ms; Ctrl-C to quit)\x1b[K",
            args.interval_ms
        )?;
        out.flush()?;
        prev = Some(snap);
        std::thread::sleep(interval);
    }
}

fn serve(instance: &str, dir: &Path, addr: &str) -> CmdResult {
    let listener = TcpListener::bind(addr).map_err(|e| format!("--listen {addr}: {e}"))?;
    let local = listener.local_addr()?;
    outln!("hotpath stat: serving Prometheus metrics on http://{local}/metrics");
    std::io::stdout().flush()?;
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        if let Err(e) = handle(instance, dir, conn) {
            eprintln!("hotpath stat: request failed: {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn handle(instance: &str, dir: &Path, mut conn: TcpStream) -> Result<(), crate::Error> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Skip the headers.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = if method != "GET" {
        (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        )
    } else if target == "/metrics" || target == "/" {
        match sample(instance, dir) {
            Ok(s) => (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                render_prometheus(&s),
            ),
            Err(e) => ("500 Internal Server Error", "text/plain", format!("{e}\n")),
        }
    } else {
        ("404 Not Found", "text/plain", "try /metrics\n".to_string())
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()?;
    Ok(())
}
