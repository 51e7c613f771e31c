//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use serde_json::Value;

/// A child process killed (and reaped) when dropped, so a failing test leaves none.
pub struct Killed(pub std::process::Child);

impl Killed {
    /// Spawns `cmd` with its output discarded and its error output kept.
    pub fn quiet(cmd: &mut std::process::Command) -> Killed {
        use std::process::Stdio;
        Killed(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn"),
        )
    }

    /// Sends it `sig` with kill(1) (`-STOP`, `-CONT`, `-TERM`).
    pub fn signal(&self, sig: &str) {
        let st = std::process::Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill {sig}");
    }

    /// What it wrote to its error output (read to the end: call once it has exited).
    pub fn stderr(&mut self) -> String {
        let mut err = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut err).unwrap();
        }
        err
    }

    /// Waits for it to exit, at most `limit`, then panics with `why()`; its exit
    /// status and error output.
    pub fn finish(
        &mut self,
        limit: std::time::Duration,
        why: impl FnOnce() -> String,
    ) -> (std::process::ExitStatus, String) {
        let end = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return (status, self.stderr());
            }
            if std::time::Instant::now() >= end {
                panic!("{}", why());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (at most 30 s) for `path` to appear, e.g. a feed's counters once it has
/// started; fails naming `what`.
pub fn wait_for(path: &std::path::Path, what: &str) {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < end,
            "{what} never appeared at {}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `hotpath stat --once --json` with the environment `env` sets (instance, shm root).
pub fn stat_snapshot(exe: &str, env: impl Fn(&mut std::process::Command)) -> Value {
    let mut stat = std::process::Command::new(exe);
    env(&mut stat);
    let out = stat
        .args(["stat", "--once", "--json"])
        .output()
        .expect("run hotpath stat");
    assert!(
        out.status.success(),
        "hotpath stat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON snapshot")
}

/// A counter's value in a `hotpath stat --once --json` report.
pub fn stat_counter(snap: &Value, component: &str, name: &str) -> u64 {
    snap["counters"]
        .as_array()
        .expect("counters array")
        .iter()
        .find(|c| c["component"] == component && c["name"] == name)
        .unwrap_or_else(|| panic!("no counter {component}.{name}"))["value"]
        .as_u64()
        .expect("an integer value")
}

/// The system calls the feed's hot loop made, by name: `hotpath feed ARGS` (which must
/// end by itself, e.g. with `--until-end-of-session`) runs under `strace -f -ff`; in
/// the trace of the thread that prints the feed's banners, everything between the
/// start banner (printed when start-up is done, just before the loop) and the stop
/// banner is counted. `during` runs once the feed's counters exist (e.g. a sender).
pub fn hot_loop_syscalls(
    exe: &str,
    shm_root: &std::path::Path,
    feed_args: &[String],
    during: impl FnOnce(),
) -> std::collections::BTreeMap<String, u64> {
    traced_feed(exe, shm_root, feed_args, during).hot
}

/// What [`traced_feed`] saw.
pub struct FeedTrace {
    /// The hot loop's system calls by name ([`hot_loop_syscalls`]).
    pub hot: std::collections::BTreeMap<String, u64>,
    /// The hot loop's trace lines, whole.
    pub hot_lines: Vec<String>,
    /// Every line traced by the process's other threads, whole.
    pub other_threads: Vec<String>,
    /// What the feed printed on its standard error (its banners, the stop banner's
    /// counts).
    pub stderr: String,
}

/// strace and the processes it traces (`t.PID` files in `dir`), all killed when
/// dropped: killing strace alone leaves the feed running, detached, spinning on a core
/// and slowing every later test.
struct Traced {
    strace: Killed,
    dir: tempfile::TempDir,
}

impl Drop for Traced {
    fn drop(&mut self) {
        if matches!(self.strace.0.try_wait(), Ok(Some(_))) {
            return; // it ended with its tracees
        }
        for e in std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Some(pid) = e.file_name().to_str().and_then(|n| n.strip_prefix("t.")) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", pid])
                    .status();
            }
        }
    }
}

/// [`hot_loop_syscalls`], with the other threads' traces too; the feed runs as instance
/// `traced` under `shm_root`.
pub fn traced_feed(
    exe: &str,
    shm_root: &std::path::Path,
    feed_args: &[String],
    during: impl FnOnce(),
) -> FeedTrace {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    // `during` starts once this file exists, which the feed creates after it joined
    // its groups; a file left by an earlier feed would start it too early.
    let counters = shm_root.join("traced").join("feed.counters");
    assert!(
        !counters.exists(),
        "{} exists: give each traced feed a shm root of its own",
        counters.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("t");
    let child = Command::new("strace")
        .args(["-f", "-ff", "-qq", "-o"])
        .arg(&prefix)
        .arg(exe)
        .arg("feed")
        .args(feed_args)
        .args(["--instance", "traced"])
        .env("HOTPATH_SHM_ROOT", shm_root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run strace (Debian package strace)");
    let mut traced = Traced {
        strace: Killed(child),
        dir,
    };
    let child = &mut traced.strace.0;
    let end = Instant::now() + Duration::from_secs(60);
    while !counters.exists() && child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "the feed never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    during();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > end {
            // What it had received tells a late join or a lost end of session apart.
            let snap = stat_snapshot(exe, |c| {
                c.env("HOTPATH_SHM_ROOT", shm_root)
                    .env("HOTPATH_INSTANCE", "traced");
            });
            panic!("the traced feed did not end in 60 s; its counters: {snap}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "traced feed: {err}");
    let (traces, others): (Vec<String>, Vec<String>) = std::fs::read_dir(traced.dir.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .partition(|t| t.contains("\"hotpath feed: stopped after "));
    let trace = traces
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no thread printed the stop banner: {err}"));
    let lines: Vec<&str> = trace.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("write(2, \"hotpath feed: \""))
        .expect("the start banner");
    let stop = lines
        .iter()
        .position(|l| l.contains("\"hotpath feed: stopped after "))
        .unwrap();
    // Skip the start banner's own pieces (stderr is unbuffered).
    let mut i = start;
    while i < stop && lines[i].starts_with("write(2, ") {
        i += 1;
    }
    let mut calls = std::collections::BTreeMap::new();
    for l in &lines[i..stop] {
        let name: String = l
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        *calls
            .entry(if name.is_empty() { l.to_string() } else { name })
            .or_insert(0) += 1;
    }
    FeedTrace {
        hot: calls,
        hot_lines: lines[i..stop].iter().map(|l| l.to_string()).collect(),
        other_threads: others
            .iter()
            .flat_map(|t| t.lines().map(str::to_string))
            .collect(),
        stderr: err,
    }
}
