//! `hotpath doctor`: is this host tuned for low latency?
//!
//! Each check reads files under `--root` (default `/`, env `HOTPATH_DOCTOR_ROOT`), never
//! anything else, so tests point it at fixture trees of a tuned and an untuned host. A
//! check reports pass, warn, fail or skip, what it observed and, unless it passed, the
//! one-line remedy. Any fail makes the exit status 1; warnings do not. A missing source
//! file never aborts the run: its check warns or skips and names the path. The checks,
//! what they read and why each level: `docs/DOCTOR.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use crate::CmdResult;

/// A set of CPU (core) numbers.
pub type CpuSet = BTreeSet<usize>;

/// The kernel's largest `NR_CPUS`; a list naming a higher CPU is refused (it also keeps
/// a hostile range such as `0-4294967295` from allocating a huge set).
const MAX_CPUS: usize = 8192;

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Cores the hot-path threads will be pinned to (`2,3`, `2-5,8`); default: every
    /// online core but core 0 (core 0 on a one-core host).
    #[arg(long, value_name = "LIST", value_parser = parse_cores_arg)]
    pub cores: Option<CpuSet>,
    /// The NIC the feed arrives on: a network interface (`ens1f0`), or the PCI address
    /// of one bound to DPDK (`0000:3b:00.0`, which has no interface). Its NUMA node must
    /// be the pinned cores', and its driver is reported.
    #[arg(long, value_name = "IFACE|PCI", value_parser = parse_iface)]
    pub nic: Option<String>,
    /// Read every /proc and /sys file under DIR instead of `/` (fixture trees).
    #[arg(
        long,
        value_name = "DIR",
        env = "HOTPATH_DOCTOR_ROOT",
        default_value = "/"
    )]
    pub root: PathBuf,
    /// The hot-path threads will run SCHED_FIFO (`hotpath feed --fifo`): the kernel's
    /// RT throttling then fails the `rt_throttling` check instead of passing it.
    #[arg(long)]
    pub fifo: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_cores_arg(s: &str) -> Result<CpuSet, String> {
    let set = parse_cpu_list(s, None)?;
    if set.is_empty() {
        return Err("empty core list".into());
    }
    Ok(set)
}

/// A PCI address in full (`0000:3b:00.0`) or short (`3b:00.0`) form, as sysfs names
/// it (full, lower case).
fn pci_address(s: &str) -> Option<String> {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = s.split(':').collect();
    let (domain, bus, rest) = match parts[..] {
        [d, b, r] => (d, b, r),
        [b, r] => ("0000", b, r),
        _ => return None,
    };
    let (dev, func) = rest.split_once('.')?;
    (hex(domain, 4) && hex(bus, 2) && hex(dev, 2) && hex(func, 1))
        .then(|| format!("{domain}:{bus}:{dev}.{func}").to_ascii_lowercase())
}

fn parse_iface(s: &str) -> Result<String, String> {
    if let Some(addr) = pci_address(s) {
        return Ok(addr);
    }
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.len() > 15 {
        return Err(format!("`{s}` is not a network interface name"));
    }
    Ok(s.to_string())
}

// ---------------------------------------------------------------------------------
// Parsing: CPU lists and the kernel command line.

/// Parses the kernel's CPU list syntax: `2`, `2-5`, `0,2-5,8`, strides `0-15:2/4`
/// (2 of every 4 from 0 to 15), and, when `last` (the highest CPU) is known, `N` for
/// that CPU and `all`. Surrounding whitespace is ignored; an empty list is empty.
pub fn parse_cpu_list(s: &str, last: Option<usize>) -> Result<CpuSet, String> {
    let s = s.trim();
    let mut set = CpuSet::new();
    if s.is_empty() {
        return Ok(set);
    }
    if s.eq_ignore_ascii_case("all") {
        let last = last.ok_or("`all` needs to know the number of CPUs")?;
        return Ok((0..=last).collect());
    }
    let cpu = |t: &str| -> Result<usize, String> {
        let t = t.trim();
        let n = if t == "N" {
            last.ok_or("`N` needs to know the number of CPUs")?
        } else {
            t.parse::<usize>()
                .map_err(|_| format!("`{t}` is not a CPU number"))?
        };
        if n >= MAX_CPUS {
            return Err(format!("CPU {n} is beyond {}", MAX_CPUS - 1));
        }
        Ok(n)
    };
    for group in s.split(',') {
        let group = group.trim();
        if group.is_empty() {
            return Err(format!("empty item in CPU list `{s}`"));
        }
        let (range, stride) = match group.split_once(':') {
            Some((r, st)) => {
                let (used, size) = st
                    .split_once('/')
                    .ok_or_else(|| format!("`{group}`: a stride is `:used/group`"))?;
                let num = |t: &str| {
                    t.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("`{group}`: `{t}` is not a number"))
                };
                let (used, size) = (num(used)?, num(size)?);
                if used == 0 || size == 0 || used > size {
                    return Err(format!("`{group}`: need 0 < used <= group"));
                }
                (r, Some((used, size)))
            }
            None => (group, None),
        };
        let (a, b) = match range.split_once('-') {
            Some((a, b)) => (cpu(a)?, cpu(b)?),
            None if stride.is_some() => return Err(format!("`{group}`: a stride needs a range")),
            None => {
                let a = cpu(range)?;
                (a, a)
            }
        };
        if a > b {
            return Err(format!("`{group}`: range runs backwards"));
        }
        let (used, size) = stride.unwrap_or((1, 1));
        set.extend((a..=b).filter(|c| (c - a) % size < used));
    }
    Ok(set)
}

/// Parses the kernel's CPU bitmask syntax (`ff`, `00000000,0000000f`: hex, 32-bit
/// words separated by commas, the highest first).
pub fn parse_cpu_mask(s: &str) -> Result<CpuSet, String> {
    let hex: String = s.trim().chars().filter(|&c| c != ',').collect();
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("`{}` is not a CPU mask", s.trim()));
    }
    let mut set = CpuSet::new();
    for (i, c) in hex.chars().rev().enumerate() {
        let nibble = c.to_digit(16).unwrap_or(0) as usize;
        for bit in 0..4 {
            if nibble & (1 << bit) != 0 {
                let cpu = i * 4 + bit;
                if cpu >= MAX_CPUS {
                    return Err(format!(
                        "`{}` names CPU {cpu}, beyond {}",
                        s.trim(),
                        MAX_CPUS - 1
                    ));
                }
                set.insert(cpu);
            }
        }
    }
    Ok(set)
}

/// Formats a set as the kernel's CPU bitmask (`{0,1}` -> `3`, `{0,33}` -> `2,00000001`).
pub fn format_cpu_mask(set: &CpuSet) -> String {
    let words = set.last().map_or(1, |&last| last / 32 + 1);
    (0..words)
        .rev()
        .map(|w| {
            let bits = set
                .iter()
                .filter(|&&cpu| cpu / 32 == w)
                .fold(0u32, |acc, &cpu| acc | 1 << (cpu % 32));
            if w + 1 == words {
                format!("{bits:x}")
            } else {
                format!("{bits:08x}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Formats a set in the kernel's list syntax, runs as ranges: `{2,3,4,5,8}` -> `2-5,8`.
pub fn format_cpu_list(set: &CpuSet) -> String {
    let mut out = String::new();
    let mut it = set.iter().copied().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end + 1)) {
            end += 1;
            it.next();
        }
        if !out.is_empty() {
            out.push(',');
        }
        if end == start {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
    }
    if out.is_empty() {
        out.push_str("(none)");
    }
    out
}

/// The kernel command line: `key` or `key=value` words, double quotes grouping
/// spaces, and `--` ending the kernel's part (what follows goes to init).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cmdline {
    params: Vec<(String, Option<String>)>,
}

impl Cmdline {
    pub fn parse(s: &str) -> Cmdline {
        let mut params = Vec::new();
        let mut chars = s.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.peek().is_none() {
                break;
            }
            let (mut word, mut quoted, mut in_quotes) = (String::new(), false, false);
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() && !in_quotes {
                    break;
                }
                chars.next();
                if c == '"' {
                    in_quotes = !in_quotes;
                    quoted = true;
                } else {
                    word.push(c);
                }
            }
            if word == "--" && !quoted {
                break;
            }
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (word.as_str(), None),
            };
            params.push((norm_key(key), value));
        }
        Cmdline { params }
    }

    /// The last occurrence of `key` (the kernel treats `-` and `_` alike in module
    /// parameter names; so does this): `None` if absent, `Some(None)` for a bare word.
    pub fn get(&self, key: &str) -> Option<Option<&str>> {
        let key = norm_key(key);
        self.params
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_deref())
    }

    /// `key`'s value as a CPU list: `None` if absent; a bare `key` is an empty list.
    fn cpu_list(&self, key: &str, last: Option<usize>) -> Option<(String, Result<CpuSet, String>)> {
        let v = self.get(key)?.unwrap_or("");
        Some((format!("{key}={v}"), parse_cpu_list(v, last)))
    }
}

fn norm_key(k: &str) -> String {
    k.replace('-', "_")
}

/// `isolcpus=[flag,]...<cpu-list>`: the flags (`nohz`, `domain`, `managed_irq`, or
/// ones this kernel may not know) and the CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolcpus {
    pub flags: Vec<String>,
    pub cpus: CpuSet,
}

impl Isolcpus {
    /// Like the kernel: leading words that start with a letter are flags (letters and
    /// `_` only, else the parameter is invalid), the rest is the CPU list.
    pub fn parse(v: &str, last: Option<usize>) -> Result<Isolcpus, String> {
        let mut rest = v.trim();
        let mut flags = Vec::new();
        while rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            let (flag, tail) = rest.split_once(',').unwrap_or((rest, ""));
            if !flag.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_') {
                return Err(format!("invalid flag `{flag}`"));
            }
            flags.push(flag.to_string());
            rest = tail;
        }
        Ok(Isolcpus {
            flags,
            cpus: parse_cpu_list(rest, last)?,
        })
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Whether the CPUs leave the scheduler's load-balancing domains. The kernel
    /// defaults to `domain` only when no known flag is given: `isolcpus=managed_irq,2-5`
    /// keeps managed IRQs off 2-5 but lets the scheduler put any task there.
    pub fn isolates_domain(&self) -> bool {
        self.has("domain") || !["nohz", "managed_irq"].iter().any(|f| self.has(f))
    }
}

// ---------------------------------------------------------------------------------
// The report.

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Not checked: nothing to check or no way to tell (the observation says why).
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

/// One check: its name, outcome, what it saw, and the remedy (absent when it passed).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub observed: String,
    pub remedy: Option<String>,
}

impl Check {
    fn pass(name: &'static str, observed: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Pass,
            observed: observed.into(),
            remedy: None,
        }
    }
    fn with(
        name: &'static str,
        status: Status,
        observed: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Check {
        Check {
            name,
            status,
            observed: observed.into(),
            remedy: Some(remedy.into()),
        }
    }
    fn warn(name: &'static str, observed: impl Into<String>, remedy: impl Into<String>) -> Check {
        Check::with(name, Status::Warn, observed, remedy)
    }
    fn fail(name: &'static str, observed: impl Into<String>, remedy: impl Into<String>) -> Check {
        Check::with(name, Status::Fail, observed, remedy)
    }
    fn skip(name: &'static str, observed: impl Into<String>, remedy: impl Into<String>) -> Check {
        Check::with(name, Status::Skip, observed, remedy)
    }
}

/// Everything `hotpath doctor` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub root: String,
    pub cores: Vec<usize>,
    pub nic: Option<String>,
    pub checks: Vec<Check>,
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
}

pub fn run(args: &DoctorArgs) -> CmdResult {
    if !args.root.is_dir() {
        return Err(format!("--root {}: not a directory", args.root.display()).into());
    }
    let report = diagnose(
        &args.root,
        args.cores.clone(),
        args.nic.as_deref(),
        args.fifo,
    );
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{}", render(&report));
    }
    Ok(if report.fail > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs every check against the tree under `root`.
/// `fifo`: the hot-path threads will run SCHED_FIFO.
pub fn diagnose(root: &Path, cores: Option<CpuSet>, nic: Option<&str>, fifo: bool) -> Report {
    let host = Host {
        root: root.to_path_buf(),
    };
    let topo = Topology::load(&host);
    let cmdline = host.read(CMDLINE).map(|s| Cmdline::parse(&s));
    let last = topo.online.as_ref().ok().and_then(|s| s.last().copied());
    let cores = cores.unwrap_or_else(|| match &topo.online {
        Ok(online) if online.len() > 1 => online.iter().copied().filter(|&c| c != 0).collect(),
        Ok(online) => online.clone(),
        Err(_) => CpuSet::new(),
    });
    let ctx = Ctx {
        host: &host,
        topo: &topo,
        cmdline: &cmdline,
        cores: &cores,
        last,
    };
    let (nic_check, nic_node) = check_nic(&ctx, nic);
    let nic_driver = check_nic_driver(&ctx, nic);
    let checks = vec![
        check_cores(&ctx),
        check_smt(&ctx),
        check_isolcpus(&ctx),
        check_nohz_full(&ctx),
        check_rcu_nocbs(&ctx),
        check_watchdog(&ctx),
        check_workqueue(&ctx),
        check_governor(&ctx),
        check_turbo(&ctx),
        check_cstates(&ctx),
        check_thp(&ctx),
        check_hugepages(&ctx, nic_node),
        check_hugetlbfs(&ctx),
        nic_check,
        nic_driver,
        check_iommu(&ctx, nic),
        check_nic_irqs(&ctx, nic),
        check_irqbalance(&ctx),
        check_swap(&ctx),
        check_numa_balancing(&ctx),
        check_rmem_max(&ctx),
        check_memlock(&ctx),
        check_tsc(&ctx),
        check_clocksource(&ctx),
        check_rt_throttling(&ctx, fifo),
    ];
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    Report {
        root: root.display().to_string(),
        cores: cores.iter().copied().collect(),
        nic: nic.map(str::to_string),
        pass: count(Status::Pass),
        warn: count(Status::Warn),
        fail: count(Status::Fail),
        skip: count(Status::Skip),
        checks,
    }
}

/// The human table: check, status, observation, and the remedy under each non-pass.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let cores = format_cpu_list(&r.cores.iter().copied().collect());
    let _ = write!(out, "hotpath doctor: root {}, cores {cores}", r.root);
    if let Some(nic) = &r.nic {
        let _ = write!(out, ", nic {nic}");
    }
    out.push('\n');
    let w = r
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(out, "{:w$}  STATUS  OBSERVED", "CHECK");
    for c in &r.checks {
        let _ = writeln!(out, "{:w$}  {:6}  {}", c.name, c.status.label(), c.observed);
        if let Some(remedy) = &c.remedy {
            let _ = writeln!(out, "{:w$}  {:6}  remedy: {remedy}", "", "");
        }
    }
    let verdict = if r.fail > 0 {
        format!(
            "{} check{} failed: fix before a latency-critical run (exit 1)",
            r.fail,
            if r.fail == 1 { "" } else { "s" }
        )
    } else if r.warn > 0 {
        "no failure; the warnings cost latency or jitter".to_string()
    } else {
        "host tuned".to_string()
    };
    let _ = writeln!(
        out,
        "summary: {} pass, {} warn, {} fail, {} skip: {verdict}",
        r.pass, r.warn, r.fail, r.skip
    );
    out
}

// ---------------------------------------------------------------------------------
// Reading the host.

const CMDLINE: &str = "proc/cmdline";
const CPU: &str = "sys/devices/system/cpu";
const NODE: &str = "sys/devices/system/node";
const HOST_ONLY: &str =
    "cannot tell without it: run on the host itself, with /proc and /sys mounted";
const GRUB: &str = "GRUB_CMDLINE_LINUX in /etc/default/grub, update-grub, reboot";

struct Host {
    root: PathBuf,
}

impl Host {
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A file's contents, or why not, naming the path.
    fn read(&self, rel: &str) -> Result<String, String> {
        let p = self.path(rel);
        std::fs::read_to_string(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{} not found", p.display()),
            _ => format!("cannot read {}: {e}", p.display()),
        })
    }

    fn read_trim(&self, rel: &str) -> Result<String, String> {
        self.read(rel).map(|s| s.trim().to_string())
    }

    fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// The last component of a symbolic link's target (a device's `driver` link names
    /// its driver), without following it.
    fn link_name(&self, rel: &str) -> Option<String> {
        let target = std::fs::read_link(self.path(rel)).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    /// The names in a directory, sorted, or why not, naming the path.
    fn list(&self, rel: &str) -> Result<Vec<String>, String> {
        let p = self.path(rel);
        let rd = std::fs::read_dir(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{} not found", p.display()),
            _ => format!("cannot list {}: {e}", p.display()),
        })?;
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }
}

/// Online CPUs and NUMA nodes with their CPUs.
struct Topology {
    online: Result<CpuSet, String>,
    nodes: BTreeMap<usize, CpuSet>,
}

impl Topology {
    fn load(h: &Host) -> Topology {
        let online = h
            .read(&format!("{CPU}/online"))
            .and_then(|s| parse_cpu_list(&s, None));
        let mut nodes = BTreeMap::new();
        for name in h.list(NODE).unwrap_or_default() {
            let Some(n) = numbered(&name, "node") else {
                continue;
            };
            if let Ok(cpus) = h
                .read(&format!("{NODE}/{name}/cpulist"))
                .and_then(|s| parse_cpu_list(&s, None))
            {
                nodes.insert(n, cpus);
            }
        }
        Topology { online, nodes }
    }

    fn node_of(&self, cpu: usize) -> Option<usize> {
        self.nodes
            .iter()
            .find(|(_, cpus)| cpus.contains(&cpu))
            .map(|(&n, _)| n)
    }
}

/// `node12` with prefix `node` -> 12.
fn numbered(name: &str, prefix: &str) -> Option<usize> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

struct Ctx<'a> {
    host: &'a Host,
    topo: &'a Topology,
    cmdline: &'a Result<Cmdline, String>,
    cores: &'a CpuSet,
    /// The highest online CPU (for `N` and `all` in kernel lists).
    last: Option<usize>,
}

impl Ctx<'_> {
    fn cores_list(&self) -> String {
        format_cpu_list(self.cores)
    }

    /// The CPUs `isolcpus=` takes from the scheduler (none if unset or unreadable).
    fn isolated(&self) -> CpuSet {
        self.cmdline
            .as_ref()
            .ok()
            .and_then(|cmd| cmd.get("isolcpus"))
            .and_then(|v| Isolcpus::parse(v.unwrap_or(""), self.last).ok())
            .map(|i| i.cpus)
            .unwrap_or_default()
    }

    /// The housekeeping cores, where interrupts and kernel work belong: online,
    /// neither pinned nor isolated (core 0 when that leaves none, or nothing is known).
    fn housekeeping_set(&self) -> CpuSet {
        let isolated = self.isolated();
        let rest: CpuSet = match &self.topo.online {
            Ok(online) if !self.cores.is_empty() => online
                .iter()
                .copied()
                .filter(|cpu| !self.cores.contains(cpu) && !isolated.contains(cpu))
                .collect(),
            _ => CpuSet::new(),
        };
        if rest.is_empty() {
            CpuSet::from([0])
        } else {
            rest
        }
    }

    /// [`Self::housekeeping_set`] in list syntax.
    fn housekeeping(&self) -> String {
        format_cpu_list(&self.housekeeping_set())
    }

    /// The pinned cores plus whatever the kernel list already has: what to suggest.
    fn suggest(&self, existing: Option<&CpuSet>) -> String {
        let mut all = self.cores.clone();
        if let Some(e) = existing {
            all.extend(e);
        }
        format_cpu_list(&all)
    }
}

fn boot_param(p: &str) -> String {
    format!("add `{p}` to the kernel command line ({GRUB})")
}

/// `{2: "powersave", 3: "ondemand", 4: "powersave"}` -> `powersave on 2,4; ondemand on 3`.
fn grouped(by_cpu: &BTreeMap<usize, String>) -> String {
    let mut by_value: BTreeMap<&str, CpuSet> = BTreeMap::new();
    for (cpu, v) in by_cpu {
        by_value.entry(v).or_default().insert(*cpu);
    }
    by_value
        .iter()
        .map(|(v, cpus)| format!("{v} on {}", format_cpu_list(cpus)))
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------------
// The checks.

fn check_cores(c: &Ctx) -> Check {
    const NAME: &str = "cores";
    match (&c.topo.online, c.cores.is_empty()) {
        (Err(e), true) => Check::warn(
            NAME,
            format!("{e}; no cores to check"),
            "pass --cores LIST (the cores the hot-path threads are pinned to)",
        ),
        (Err(e), false) => Check::warn(
            NAME,
            format!("cannot tell whether {} are online: {e}", c.cores_list()),
            HOST_ONLY,
        ),
        (Ok(online), _) => {
            let offline: CpuSet = c.cores.difference(online).copied().collect();
            if offline.is_empty() {
                Check::pass(
                    NAME,
                    format!("{} (online: {})", c.cores_list(), format_cpu_list(online)),
                )
            } else {
                Check::fail(
                    NAME,
                    format!(
                        "{} not online (online: {})",
                        format_cpu_list(&offline),
                        format_cpu_list(online)
                    ),
                    format!(
                        "pin to online cores (--cores within {}) or bring them online (echo 1 > /sys/devices/system/cpu/cpuN/online)",
                        format_cpu_list(online)
                    ),
                )
            }
        }
    }
}

/// Hyper-threads: a pinned core's sibling shares its pipeline, caches and TLB. A
/// sibling that is another pinned (spinning) core, or one the scheduler may run any task
/// on, steals from the hot path; an isolated, unused sibling or SMT off does not.
fn check_smt(c: &Ctx) -> Check {
    const NAME: &str = "smt";
    const FIX: &str = "turn SMT off (boot with `nosmt`, or echo off > /sys/devices/system/cpu/smt/control), or pin one thread per physical core and isolate its sibling";
    let active = c.host.read_trim(&format!("{CPU}/smt/active")).ok();
    if active.as_deref() == Some("0") {
        return Check::pass(
            NAME,
            "SMT off (smt/active 0): no pinned core shares its physical core",
        );
    }
    if c.cores.is_empty() {
        return no_cores(NAME);
    }
    let isolated = c.isolated();
    let (mut shared_hot, mut shared_busy, mut unknown) = (vec![], vec![], CpuSet::new());
    for &cpu in c.cores {
        let siblings = c
            .host
            .read(&format!("{CPU}/cpu{cpu}/topology/thread_siblings_list"))
            .and_then(|s| parse_cpu_list(&s, c.last));
        let Ok(siblings) = siblings else {
            unknown.insert(cpu);
            continue;
        };
        for s in siblings.into_iter().filter(|&s| s != cpu) {
            if c.cores.contains(&s) {
                if cpu < s {
                    shared_hot.push(format!("{cpu} and {s}"));
                }
            } else if !isolated.contains(&s) {
                shared_busy.push(format!("{cpu} with {s}"));
            }
        }
    }
    let mut problems = vec![];
    if !shared_hot.is_empty() {
        problems.push(format!(
            "pinned cores {} are hyper-threads of one physical core (two spinning threads share it)",
            shared_hot.join(", ")
        ));
    }
    if !shared_busy.is_empty() {
        problems.push(format!(
            "pinned core {} shares its physical core with a core the scheduler uses",
            shared_busy.join(", ")
        ));
    }
    if !problems.is_empty() {
        return Check::warn(NAME, problems.join("; "), FIX);
    }
    let first = c.cores.iter().next().copied().unwrap_or(0);
    if unknown.len() == c.cores.len() {
        return Check::skip(
            NAME,
            format!(
                "{} not found, nor {CPU}/smt/active 0",
                c.host
                    .path(&format!("{CPU}/cpu{first}/topology/thread_siblings_list"))
                    .display()
            ),
            HOST_ONLY,
        );
    }
    if !unknown.is_empty() {
        return Check::warn(
            NAME,
            format!("no thread_siblings_list for {}", format_cpu_list(&unknown)),
            HOST_ONLY,
        );
    }
    Check::pass(
        NAME,
        format!(
            "{}: no pinned core shares its physical core with a busy one",
            c.cores_list()
        ),
    )
}

/// The common start of the kernel-command-line checks: the command line, or the check
/// to report when it is missing or there are no cores.
fn cmdline_or<'a>(c: &'a Ctx, name: &'static str) -> Result<&'a Cmdline, Check> {
    match c.cmdline {
        Err(e) => Err(Check::warn(name, e.clone(), HOST_ONLY)),
        Ok(_) if c.cores.is_empty() => Err(no_cores(name)),
        Ok(cmd) => Ok(cmd),
    }
}

fn no_cores(name: &'static str) -> Check {
    Check::skip(
        name,
        "no cores to check",
        "pass --cores LIST (the cores the hot-path threads are pinned to)",
    )
}

fn check_isolcpus(c: &Ctx) -> Check {
    const NAME: &str = "isolcpus";
    let cmd = match cmdline_or(c, NAME) {
        Ok(cmd) => cmd,
        Err(check) => return check,
    };
    let Some(v) = cmd.get("isolcpus") else {
        return Check::fail(
            NAME,
            format!(
                "not on the kernel command line: the scheduler may run any task on {}",
                c.cores_list()
            ),
            boot_param(&format!("isolcpus=managed_irq,domain,{}", c.suggest(None))),
        );
    };
    let v = v.unwrap_or("");
    let iso = match Isolcpus::parse(v, c.last) {
        Ok(iso) => iso,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("isolcpus={v}: {e}"),
                boot_param(&format!("isolcpus=managed_irq,domain,{}", c.suggest(None))),
            )
        }
    };
    let fix = boot_param(&format!(
        "isolcpus=managed_irq,domain,{}",
        c.suggest(Some(&iso.cpus))
    ));
    let missing: CpuSet = c.cores.difference(&iso.cpus).copied().collect();
    if !missing.is_empty() {
        return Check::fail(
            NAME,
            format!(
                "isolcpus={v} leaves {} not isolated",
                format_cpu_list(&missing)
            ),
            fix,
        );
    }
    if !iso.isolates_domain() {
        return Check::fail(
            NAME,
            format!(
                "isolcpus={v} has flags but not `domain`: the scheduler still balances tasks onto {}",
                c.cores_list()
            ),
            fix,
        );
    }
    Check::pass(NAME, format!("isolcpus={v}"))
}

/// CPUs whose tick stops: `nohz_full=`, plus `isolcpus=nohz,...` (the kernel sets up
/// full dynticks for those too). Returns the description and the set (or its error).
fn nohz_cpus(cmd: &Cmdline, last: Option<usize>) -> Option<(String, Result<CpuSet, String>)> {
    let full = cmd.cpu_list("nohz_full", last);
    let iso = cmd
        .get("isolcpus")
        .map(|v| v.unwrap_or(""))
        .and_then(|v| Isolcpus::parse(v, last).ok().map(|i| (v, i)))
        .filter(|(_, i)| i.has("nohz"));
    match (full, iso) {
        (None, None) => None,
        (Some(f), None) => Some(f),
        (None, Some((v, i))) => Some((format!("isolcpus={v}"), Ok(i.cpus))),
        (Some((d, Ok(mut set))), Some((v, i))) => {
            set.extend(i.cpus);
            Some((format!("{d} and isolcpus={v}"), Ok(set)))
        }
        (Some(f), Some(_)) => Some(f),
    }
}

fn check_nohz_full(c: &Ctx) -> Check {
    const NAME: &str = "nohz_full";
    let cmd = match cmdline_or(c, NAME) {
        Ok(cmd) => cmd,
        Err(check) => return check,
    };
    match nohz_cpus(cmd, c.last) {
        None => Check::warn(
            NAME,
            format!(
                "not on the kernel command line: the timer tick keeps interrupting {}",
                c.cores_list()
            ),
            boot_param(&format!("nohz_full={}", c.suggest(None))),
        ),
        Some((d, Err(e))) => Check::warn(
            NAME,
            format!("{d}: {e}"),
            boot_param(&format!("nohz_full={}", c.suggest(None))),
        ),
        Some((d, Ok(set))) => {
            let missing: CpuSet = c.cores.difference(&set).copied().collect();
            if missing.is_empty() {
                Check::pass(NAME, d)
            } else {
                Check::warn(
                    NAME,
                    format!("{d} leaves the tick on {}", format_cpu_list(&missing)),
                    boot_param(&format!("nohz_full={}", c.suggest(Some(&set)))),
                )
            }
        }
    }
}

fn check_rcu_nocbs(c: &Ctx) -> Check {
    const NAME: &str = "rcu_nocbs";
    let cmd = match cmdline_or(c, NAME) {
        Ok(cmd) => cmd,
        Err(check) => return check,
    };
    let own = cmd.cpu_list("rcu_nocbs", c.last);
    if let Some((d, Err(e))) = &own {
        return Check::warn(
            NAME,
            format!("{d}: {e}"),
            boot_param(&format!("rcu_nocbs={}", c.suggest(None))),
        );
    }
    let own = own.map(|(d, set)| (d, set.unwrap_or_default()));
    // nohz_full CPUs have their callbacks offloaded as if named in rcu_nocbs=.
    let nohz = nohz_cpus(cmd, c.last).and_then(|(d, s)| s.ok().map(|s| (d, s)));
    let own_set = own.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
    let mut covered = own_set.clone();
    if let Some((_, s)) = &nohz {
        covered.extend(s);
    }
    let missing: CpuSet = c.cores.difference(&covered).copied().collect();
    let fix = boot_param(&format!("rcu_nocbs={}", c.suggest(Some(&own_set))));
    match (own, nohz, missing.is_empty()) {
        (Some((d, _)), _, true) if c.cores.is_subset(&own_set) => Check::pass(NAME, d),
        (own, Some((nd, _)), true) => Check::pass(
            NAME,
            format!(
                "{}; implied by {nd} (nohz_full CPUs offload their RCU callbacks)",
                own.map_or("not set".to_string(), |(d, _)| d)
            ),
        ),
        (None, None, _) => Check::warn(
            NAME,
            format!(
                "not on the kernel command line (nor nohz_full): RCU callbacks run on {}",
                c.cores_list()
            ),
            fix,
        ),
        (own, nohz, _) => {
            let mut seen = own.map_or("not set".to_string(), |(d, _)| d);
            if let Some((nd, _)) = nohz {
                seen = format!("{seen}; {nd}");
            }
            Check::warn(
                NAME,
                format!(
                    "{seen}: RCU callbacks still run on {}",
                    format_cpu_list(&missing)
                ),
                fix,
            )
        }
    }
}

fn check_governor(c: &Ctx) -> Check {
    const NAME: &str = "governor";
    if c.cores.is_empty() {
        return no_cores(NAME);
    }
    let mut seen = BTreeMap::new();
    let mut missing = Vec::new();
    for &cpu in c.cores {
        match c
            .host
            .read_trim(&format!("{CPU}/cpu{cpu}/cpufreq/scaling_governor"))
        {
            Ok(g) => {
                seen.insert(cpu, g);
            }
            Err(e) => missing.push(e),
        }
    }
    let bad: BTreeMap<usize, String> = seen
        .iter()
        .filter(|(_, g)| *g != "performance")
        .map(|(c, g)| (*c, g.clone()))
        .collect();
    if !bad.is_empty() {
        let cpus: CpuSet = bad.keys().copied().collect();
        return Check::fail(
            NAME,
            grouped(&bad),
            format!(
                "cpupower -c {} frequency-set -g performance (or write `performance` to cpuN/cpufreq/scaling_governor; persist with tuned-adm profile latency-performance)",
                format_cpu_list(&cpus)
            ),
        );
    }
    if missing.len() == c.cores.len() {
        return Check::warn(
            NAME,
            format!(
                "{}: no cpufreq driver (a VM, or the firmware owns the frequency)",
                missing[0]
            ),
            "set the BIOS/hypervisor power profile to maximum performance",
        );
    }
    if !missing.is_empty() {
        return Check::warn(
            NAME,
            format!("{}; {}", grouped(&seen), missing.join("; ")),
            "load the cpufreq driver on every pinned core and set the `performance` governor",
        );
    }
    Check::pass(NAME, grouped(&seen))
}

fn check_turbo(c: &Ctx) -> Check {
    const NAME: &str = "turbo";
    let pstate = format!("{CPU}/intel_pstate/no_turbo");
    let boost = format!("{CPU}/cpufreq/boost");
    if let Ok(v) = c.host.read_trim(&pstate) {
        let fix = "echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo (or disable Turbo Boost in the BIOS)";
        return match v.as_str() {
            "1" => Check::pass(NAME, "off (intel_pstate/no_turbo=1)"),
            "0" => Check::warn(
                NAME,
                "on (intel_pstate/no_turbo=0): the clock, and so latency, varies with load and heat",
                fix,
            ),
            _ => Check::warn(NAME, format!("intel_pstate/no_turbo={v}: unexpected"), fix),
        };
    }
    if let Ok(v) = c.host.read_trim(&boost) {
        let fix = "echo 0 > /sys/devices/system/cpu/cpufreq/boost (or disable Turbo Boost / Core Performance Boost in the BIOS)";
        return match v.as_str() {
            "0" => Check::pass(NAME, "off (cpufreq/boost=0)"),
            "1" => Check::warn(
                NAME,
                "on (cpufreq/boost=1): the clock, and so latency, varies with load and heat",
                fix,
            ),
            _ => Check::warn(NAME, format!("cpufreq/boost={v}: unexpected"), fix),
        };
    }
    Check::skip(
        NAME,
        format!(
            "neither {} nor {} exists: turbo is not controlled by this kernel (a VM, or the firmware)",
            c.host.path(&pstate).display(),
            c.host.path(&boost).display()
        ),
        "check the turbo setting in the BIOS or hypervisor",
    )
}

/// An idle state shallow enough for a pinned core: polling or C1 (halt), but not
/// C1E or deeper. Unknown names count as deep.
pub fn shallow_idle_state(name: &str) -> bool {
    let base = name.split(['-', '_']).next().unwrap_or_default();
    ["POLL", "C0", "C1"]
        .iter()
        .any(|s| base.eq_ignore_ascii_case(s))
}

fn check_cstates(c: &Ctx) -> Check {
    const NAME: &str = "c_states";
    let fix = |cpus: &CpuSet, states: &BTreeSet<usize>| {
        let states: Vec<String> = states.iter().map(|s| s.to_string()).collect();
        format!(
            "add `intel_idle.max_cstate=1 processor.max_cstate=1` to the kernel command line, or at run time: cpupower -c {} idle-set -d {} (writes cpuN/cpuidle/stateK/disable)",
            format_cpu_list(cpus),
            if states.is_empty() { "K".to_string() } else { states.join(" -d ") }
        )
    };
    if let Ok(cmd) = c.cmdline {
        if cmd.get("idle") == Some(Some("poll")) {
            return Check::pass(NAME, "idle=poll: idle cores spin, never sleep");
        }
    }
    if c.cores.is_empty() {
        return no_cores(NAME);
    }
    // Per core: the deep states not disabled, and the deep states seen.
    let mut enabled: BTreeMap<String, CpuSet> = BTreeMap::new();
    let mut enabled_idx = BTreeSet::new();
    let mut disabled: BTreeSet<String> = BTreeSet::new();
    let mut unknown: Vec<String> = Vec::new();
    for &cpu in c.cores {
        let dir = format!("{CPU}/cpu{cpu}/cpuidle");
        let states = match c.host.list(&dir) {
            Ok(names) => names,
            Err(e) => {
                unknown.push(e);
                continue;
            }
        };
        for s in states {
            let Some(k) = numbered(&s, "state") else {
                continue;
            };
            let Ok(name) = c.host.read_trim(&format!("{dir}/{s}/name")) else {
                continue;
            };
            if shallow_idle_state(&name) {
                continue;
            }
            let off = c
                .host
                .read_trim(&format!("{dir}/{s}/disable"))
                .is_ok_and(|d| d == "1");
            if off {
                disabled.insert(name);
            } else {
                enabled.entry(name).or_default().insert(cpu);
                enabled_idx.insert(k);
            }
        }
    }
    if !enabled.is_empty() {
        let cpus: CpuSet = enabled.values().flatten().copied().collect();
        let seen: Vec<String> = enabled
            .iter()
            .map(|(n, cpus)| format!("{n} enabled on {}", format_cpu_list(cpus)))
            .collect();
        return Check::warn(
            NAME,
            format!(
                "{}: waking from a deep state takes tens of microseconds",
                seen.join("; ")
            ),
            fix(&cpus, &enabled_idx),
        );
    }
    if unknown.is_empty() {
        return Check::pass(
            NAME,
            if disabled.is_empty() {
                format!("only POLL/C1 on {}", c.cores_list())
            } else {
                format!(
                    "{} disabled on {}",
                    disabled.into_iter().collect::<Vec<_>>().join(", "),
                    c.cores_list()
                )
            },
        );
    }
    // No per-core states for some cores: no cpuidle driver, or the limits decide.
    let driver = c
        .host
        .read_trim(&format!("{CPU}/cpuidle/current_driver"))
        .ok();
    if driver.as_deref() == Some("none") {
        return Check::pass(
            NAME,
            "no cpuidle driver (cpuidle/current_driver=none): idle is the default halt (C1)",
        );
    }
    let cmd = c.cmdline.as_ref().ok();
    let limit = |key: &str| {
        cmd.and_then(|c| c.get(key))
            .flatten()
            .and_then(|v| v.parse::<i64>().ok())
    };
    let intel = c
        .host
        .read_trim("sys/module/intel_idle/parameters/max_cstate")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .or_else(|| limit("intel_idle.max_cstate"));
    let acpi = limit("processor.max_cstate");
    let limits = format!(
        "max_cstate: intel_idle {}, processor {}",
        intel.map_or("-".to_string(), |v| v.to_string()),
        acpi.map_or("-".to_string(), |v| v.to_string())
    );
    let no_states: CpuSet = c
        .cores
        .iter()
        .copied()
        .filter(|&cpu| !c.host.exists(&format!("{CPU}/cpu{cpu}/cpuidle")))
        .collect();
    if intel == Some(1) || (matches!(intel, None | Some(0)) && acpi.is_some_and(|p| p <= 1)) {
        return Check::pass(NAME, limits);
    }
    if intel.is_some() || acpi.is_some() {
        return Check::warn(
            NAME,
            format!("{limits}; {}", unknown.join("; ")),
            fix(&no_states, &BTreeSet::new()),
        );
    }
    Check::skip(
        NAME,
        format!("{}; no max_cstate limit: cannot tell", unknown.join("; ")),
        "check the C-state settings in the BIOS or hypervisor",
    )
}

/// The bracketed choice of a sysfs selector: `always [madvise] never` -> `madvise`.
pub fn selected(s: &str) -> Option<&str> {
    let start = s.find('[')?;
    let end = start + s[start..].find(']')?;
    Some(&s[start + 1..end])
}

fn check_thp(c: &Ctx) -> Check {
    const NAME: &str = "thp";
    let path = "sys/kernel/mm/transparent_hugepage/enabled";
    let fix = "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled (at boot: transparent_hugepage=madvise)";
    match c.host.read(path) {
        Err(e) => Check::skip(
            NAME,
            format!("{e} (a kernel without transparent hugepages?)"),
            "nothing to do if the kernel has no THP",
        ),
        Ok(s) => match selected(&s) {
            Some("madvise") => Check::pass(NAME, "madvise (hot tables opt in with madvise)"),
            Some("never") => Check::pass(NAME, "never"),
            Some("always") => Check::warn(
                NAME,
                "always: faults zeroing 2 MiB pages and khugepaged compaction stall at random",
                fix,
            ),
            _ => Check::warn(NAME, format!("unexpected `{}`", s.trim()), fix),
        },
    }
}

/// `2048` kB -> `2 MiB`.
pub fn page_size(kb: u64) -> String {
    let (n, unit) = scaled_kb(kb);
    format!("{n} {unit}iB")
}

/// A size in kB as a whole number of the largest unit that divides it: (n, `G`, `M` or
/// `K`).
fn scaled_kb(kb: u64) -> (u64, &'static str) {
    if kb >= 1 << 20 && kb.is_multiple_of(1 << 20) {
        (kb >> 20, "G")
    } else if kb >= 1 << 10 && kb.is_multiple_of(1 << 10) {
        (kb >> 10, "M")
    } else {
        (kb, "K")
    }
}

/// `hugepages-2048kB` entries of a directory -> size in kB -> nr_hugepages.
fn hugepage_counts(h: &Host, dir: &str) -> Result<BTreeMap<u64, u64>, String> {
    let mut out = BTreeMap::new();
    for name in h.list(dir)? {
        let Some(kb) = name
            .strip_prefix("hugepages-")
            .and_then(|s| s.strip_suffix("kB"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let n = h
            .read_trim(&format!("{dir}/{name}/nr_hugepages"))
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        out.insert(kb, n);
    }
    Ok(out)
}

/// A `Key:   123 kB` line of /proc/meminfo, in its unit (kB or a count).
fn meminfo(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.split_whitespace().next()?.parse().ok())?
    })
}

const HUGEPAGES: &str = "sys/kernel/mm/hugepages";

/// Huge pages reserved, size in kB -> count: from sysfs, else `proc/meminfo`'s default
/// size; or why neither can tell.
fn reserved_hugepages(h: &Host) -> Result<BTreeMap<u64, u64>, String> {
    hugepage_counts(h, HUGEPAGES).or_else(|e| {
        let m = h.read("proc/meminfo").map_err(|e2| format!("{e}; {e2}"))?;
        match (meminfo(&m, "HugePages_Total"), meminfo(&m, "Hugepagesize")) {
            (Some(n), Some(kb)) => Ok(BTreeMap::from([(kb, n)])),
            _ => Err(format!("{e}; no HugePages_Total in proc/meminfo")),
        }
    })
}

fn check_hugepages(c: &Ctx, nic_node: Option<usize>) -> Check {
    const NAME: &str = "hugepages";
    let sizes = match reserved_hugepages(c.host) {
        Ok(s) => s,
        Err(e) => return Check::warn(NAME, e, HOST_ONLY),
    };
    let per_node: BTreeMap<usize, BTreeMap<u64, u64>> = c
        .topo
        .nodes
        .keys()
        .filter_map(|&n| {
            hugepage_counts(c.host, &format!("{NODE}/node{n}/hugepages"))
                .ok()
                .map(|m| (n, m))
        })
        .collect();
    let observed = sizes
        .iter()
        .map(|(&kb, &n)| {
            let nodes: Vec<String> = per_node
                .iter()
                .map(|(node, m)| format!("node{node} {}", m.get(&kb).copied().unwrap_or(0)))
                .collect();
            if nodes.is_empty() {
                format!("{}: {n}", page_size(kb))
            } else {
                format!("{}: {n} ({})", page_size(kb), nodes.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let observed = if observed.is_empty() {
        format!("no page sizes under {}", c.host.path(HUGEPAGES).display())
    } else {
        observed
    };
    if sizes.values().all(|&n| n == 0) {
        return Check::warn(
            NAME,
            format!("none reserved; {observed}"),
            "reserve at boot (`hugepagesz=1G hugepages=4 hugepagesz=2M hugepages=1024`) or now (echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages); without them DPDK needs --no-huge and big tables sit on 4 KiB pages",
        );
    }
    // The nodes the hot path runs on: the pinned cores' and the NIC's.
    let mut wanted: BTreeSet<usize> = c
        .cores
        .iter()
        .filter_map(|&cpu| c.topo.node_of(cpu))
        .collect();
    wanted.extend(nic_node);
    let empty: BTreeSet<usize> = wanted
        .iter()
        .copied()
        .filter(|n| per_node.get(n).is_some_and(|m| m.values().all(|&v| v == 0)))
        .collect();
    if let Some(&first) = empty.iter().next() {
        let names: Vec<String> = empty.iter().map(|n| format!("node{n}")).collect();
        return Check::warn(
            NAME,
            format!(
                "none on {} where the pinned cores/NIC are ({observed})",
                names.join(", ")
            ),
            format!(
                "reserve them on that node: echo 1024 > /sys/devices/system/node/node{first}/hugepages/hugepages-2048kB/nr_hugepages"
            ),
        );
    }
    Check::pass(NAME, observed)
}

/// `pagesize=2M` (as the kernel shows a hugetlbfs mount's page size: a number and
/// `K`, `M` or `G`) in kB.
pub fn pagesize_kb(v: &str) -> Option<u64> {
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let shift = match unit {
        "K" | "k" => 0,
        "M" | "m" => 10,
        "G" | "g" => 20,
        _ => return None,
    };
    num.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The hugetlbfs mounts of a `/proc/mounts` text: (mount point, page size in kB; a
/// mount without `pagesize=` has `default_kb`, the default huge page size).
pub fn hugetlbfs_mounts(mounts: &str, default_kb: Option<u64>) -> Vec<(String, Option<u64>)> {
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dir, fstype, opts) = (f.get(1)?, f.get(2)?, f.get(3).unwrap_or(&""));
            (*fstype == "hugetlbfs").then(|| {
                let size = opts
                    .split(',')
                    .find_map(|o| o.strip_prefix("pagesize="))
                    .map_or(default_kb, pagesize_kb);
                (dir.to_string(), size)
            })
        })
        .collect()
}

/// DPDK's EAL maps huge pages through a hugetlbfs mount of their size: reserved pages
/// without one are pages it cannot use.
fn check_hugetlbfs(c: &Ctx) -> Check {
    const NAME: &str = "hugetlbfs";
    // Unreadable counts are the `hugepages` check's to report: none to mount here.
    let sizes = reserved_hugepages(c.host).unwrap_or_default();
    let reserved: Vec<u64> = sizes
        .iter()
        .filter(|&(_, &n)| n > 0)
        .map(|(&kb, _)| kb)
        .collect();
    if reserved.is_empty() {
        return Check::skip(
            NAME,
            "no huge pages reserved, none to mount (see `hugepages`)",
            "reserve huge pages first (the `hugepages` check's remedy)",
        );
    }
    let mounts_text = match c.host.read("proc/mounts") {
        Ok(t) => t,
        Err(e) => return Check::warn(NAME, e, HOST_ONLY),
    };
    let default_kb = c
        .host
        .read("proc/meminfo")
        .ok()
        .and_then(|m| meminfo(&m, "Hugepagesize"));
    let mounts = hugetlbfs_mounts(&mounts_text, default_kb);
    let mut seen = Vec::new();
    let mut missing = Vec::new();
    for kb in reserved {
        match mounts.iter().find(|(_, size)| *size == Some(kb)) {
            Some((dir, _)) => seen.push(format!("{} at {dir}", page_size(kb))),
            None => missing.push(kb),
        }
    }
    let Some(&first) = missing.first() else {
        return Check::pass(NAME, seen.join(", "));
    };
    let names: Vec<String> = missing.iter().map(|&kb| page_size(kb)).collect();
    let opt = pagesize_option(first);
    Check::warn(
        NAME,
        format!(
            "{} pages reserved but no hugetlbfs mount of that size in {}{}: DPDK's EAL cannot use them",
            names.join(" and "),
            c.host.path("proc/mounts").display(),
            if seen.is_empty() {
                String::new()
            } else {
                format!(" (mounted: {})", seen.join(", "))
            }
        ),
        format!(
            "mkdir -p /dev/hugepages-{opt} && mount -t hugetlbfs -o pagesize={opt} nodev /dev/hugepages-{opt} (and an /etc/fstab line)"
        ),
    )
}

/// A page size as `mount -o pagesize=` takes it (`2M`, `1G`).
fn pagesize_option(kb: u64) -> String {
    let (n, unit) = scaled_kb(kb);
    format!("{n}{unit}")
}

/// The NIC's NUMA node against the pinned cores'; also returns the NIC's node.
const NET: &str = "sys/class/net";
const PCI_DEVICES: &str = "sys/bus/pci/devices";

/// The sysfs directory of the NIC `--nic` names: a PCI address's device, or an
/// interface's `device` link (`None`: a virtual interface, which has none). Err: no
/// such NIC, as (observation, remedy).
fn nic_device(c: &Ctx, nic: &str) -> Result<Option<String>, (String, String)> {
    if pci_address(nic).is_some() {
        let dev = format!("{PCI_DEVICES}/{nic}");
        return if c.host.exists(&dev) {
            Ok(Some(dev))
        } else {
            Err((
                format!(
                    "no PCI device {nic}: {} not found",
                    c.host.path(&dev).display()
                ),
                "name an existing device (`lspci -D`, or `dpdk-devbind.py --status`)".into(),
            ))
        };
    }
    let base = format!("{NET}/{nic}");
    if !c.host.exists(&base) {
        return Err((
            format!(
                "no interface {nic}: {} not found",
                c.host.path(&base).display()
            ),
            "name an existing interface (`ip link`), or a NIC bound to DPDK by its PCI address"
                .into(),
        ));
    }
    let dev = format!("{base}/device");
    Ok(c.host.exists(&dev).then_some(dev))
}

/// `--nic` and its device directory for check `name`, or the skip it reports: no
/// `--nic` (`checks` says what one would check), a virtual interface (`lacks` says what
/// it has not), or no such NIC.
fn nic_for<'n>(
    c: &Ctx,
    name: &'static str,
    nic: Option<&'n str>,
    checks: &str,
    lacks: &str,
) -> Result<(&'n str, String), Check> {
    let Some(nic) = nic else {
        return Err(Check::skip(
            name,
            "no --nic given",
            format!(
                "pass --nic IFACE, or the PCI address of a NIC bound to DPDK, to check {checks}"
            ),
        ));
    };
    match nic_device(c, nic) {
        Ok(Some(dev)) => Ok((nic, dev)),
        Ok(None) => Err(Check::skip(
            name,
            format!("{nic}: virtual interface, {lacks}"),
            "pass the physical NIC the feed arrives on",
        )),
        Err((seen, fix)) => Err(Check::skip(name, seen, fix)),
    }
}

/// The driver behind the NIC: what DPDK can take and what it cannot.
fn check_nic_driver(c: &Ctx, nic: Option<&str>) -> Check {
    const NAME: &str = "nic_driver";
    const BIND: &str = "bind it for DPDK: `modprobe vfio-pci; dpdk-devbind.py --bind=vfio-pci";
    let (nic, dev) = match nic_for(c, NAME, nic, "its driver", "no device driver") {
        Ok(found) => found,
        Err(skip) => return skip,
    };
    let pci = pci_address(nic).is_some();
    let Some(driver) = c.host.link_name(&format!("{dev}/driver")) else {
        let seen = format!(
            "{nic}: no driver bound ({} not found)",
            c.host.path(&format!("{dev}/driver")).display()
        );
        return if pci {
            Check::fail(NAME, seen, format!("{BIND} {nic}`"))
        } else {
            Check::warn(
                NAME,
                seen,
                "check the NIC's kernel driver (`ethtool -i IFACE`)",
            )
        };
    };
    match driver.as_str() {
        "vfio-pci" => Check::pass(
            NAME,
            format!("{nic} bound to vfio-pci: a DPDK poll-mode driver takes it, behind the IOMMU"),
        ),
        "uio_pci_generic" | "igb_uio" => Check::warn(
            NAME,
            format!("{nic} bound to {driver}: DPDK works, but without IOMMU protection (a bad DMA address reaches any memory)"),
            format!("prefer vfio-pci: `dpdk-devbind.py --bind=vfio-pci {nic}`"),
        ),
        "mlx5_core" | "mlx4_core" => Check::pass(
            NAME,
            format!("{nic}: kernel driver {driver}, which DPDK's mlx PMD shares (bifurcated: no rebinding)"),
        ),
        _ if pci => Check::warn(
            NAME,
            format!("{nic}: kernel driver {driver}: a DPDK poll-mode driver cannot take it (the recvmmsg, AF_PACKET and AF_XDP sources can)"),
            format!("{BIND} {nic}`"),
        ),
        _ => Check::pass(
            NAME,
            format!("{nic}: kernel driver {driver}, for the recvmmsg, AF_PACKET and AF_XDP sources (a DPDK poll-mode driver needs the NIC bound to vfio-pci: pass its PCI address)"),
        ),
    }
}

const IOMMU_ON: &str = "enable VT-d (Intel) or AMD-Vi in the BIOS and boot with `intel_iommu=on iommu=pt` (AMD: `iommu=pt`)";

/// The IOMMU behind the NIC: vfio-pci needs one (without it vfio runs in its unsafe
/// no-IOMMU mode); a kernel driver's DMA should pass through it untranslated.
fn check_iommu(c: &Ctx, nic: Option<&str>) -> Check {
    const NAME: &str = "iommu";
    let (nic, dev) = match nic_for(c, NAME, nic, "the IOMMU behind it", "no DMA") {
        Ok(found) => found,
        Err(skip) => return skip,
    };
    let driver = c.host.link_name(&format!("{dev}/driver"));
    let vfio = driver.as_deref() == Some("vfio-pci");
    let group_link = format!("{dev}/iommu_group");
    let Some(group) = c.host.link_name(&group_link) else {
        let none = format!(
            "{nic}: no IOMMU group ({} not found)",
            c.host.path(&group_link).display()
        );
        let noiommu = c
            .host
            .read_trim("sys/module/vfio/parameters/enable_unsafe_noiommu_mode")
            .is_ok_and(|v| v == "Y" || v == "1");
        return if vfio {
            Check::warn(
                NAME,
                format!(
                    "{none}, yet bound to vfio-pci{}: the NIC's DMA reaches any memory",
                    if noiommu {
                        " in vfio's unsafe no-IOMMU mode"
                    } else {
                        ""
                    }
                ),
                IOMMU_ON,
            )
        } else if pci_address(nic).is_some() {
            Check::warn(NAME, format!("{none}: vfio-pci cannot take it"), IOMMU_ON)
        } else {
            Check::pass(
                NAME,
                format!("{none}: the kernel driver's DMA is not translated"),
            )
        };
    };
    let kind = c
        .host
        .read_trim(&format!("sys/kernel/iommu_groups/{group}/type"))
        .ok();
    let kind_text = kind
        .as_deref()
        .map_or(String::new(), |k| format!(", type {k}"));
    if vfio {
        return Check::pass(
            NAME,
            format!("{nic}: IOMMU group {group}{kind_text}, owned by vfio-pci"),
        );
    }
    match kind.as_deref() {
        Some(k @ ("DMA" | "DMA-FQ")) => Check::warn(
            NAME,
            format!(
                "{nic}: IOMMU group {group}, type {k}: every DMA of its kernel driver is translated (map and unmap per buffer)"
            ),
            "boot with `iommu=pt` (the kernel's drivers then bypass translation; vfio-pci keeps its protection)",
        ),
        _ => Check::pass(
            NAME,
            format!("{nic}: IOMMU group {group}{kind_text}"),
        ),
    }
}

/// Where the NIC's interrupts may fire: on a pinned core, each one stops the hot
/// thread for the handler and the softirq after it (the recvmmsg, AF_PACKET and AF_XDP
/// sources run on a kernel driver that interrupts). A NIC on vfio-pci is polled.
fn check_nic_irqs(c: &Ctx, nic: Option<&str>) -> Check {
    const NAME: &str = "nic_irqs";
    let (nic, dev) = match nic_for(c, NAME, nic, "where its interrupts fire", "no interrupts") {
        Ok(found) => found,
        Err(skip) => return skip,
    };
    if c.host.link_name(&format!("{dev}/driver")).as_deref() == Some("vfio-pci") {
        return Check::pass(
            NAME,
            format!("{nic} bound to vfio-pci: a poll-mode driver takes no interrupts"),
        );
    }
    if c.cores.is_empty() {
        return no_cores(NAME);
    }
    let msi = format!("{dev}/msi_irqs");
    let irqs: Vec<u64> = match c.host.list(&msi) {
        Ok(names) => {
            let mut v: Vec<u64> = names.iter().filter_map(|n| n.parse().ok()).collect();
            v.sort_unstable();
            v
        }
        Err(e) => {
            return Check::skip(
                NAME,
                format!("{nic}: {e}"),
                "check the NIC's interrupts by hand (grep IFACE /proc/interrupts)",
            )
        }
    };
    let mut on_pinned: Vec<String> = vec![];
    let mut unknown: Vec<u64> = vec![];
    for &irq in &irqs {
        // Where it fires now if the kernel says so, else where it may.
        let cpus = c
            .host
            .read(&format!("proc/irq/{irq}/effective_affinity_list"))
            .or_else(|_| c.host.read(&format!("proc/irq/{irq}/smp_affinity_list")))
            .and_then(|s| parse_cpu_list(&s, c.last));
        match cpus {
            Ok(cpus) => {
                let hit: CpuSet = cpus.intersection(c.cores).copied().collect();
                if !hit.is_empty() {
                    on_pinned.push(format!("{irq} on {}", format_cpu_list(&hit)));
                }
            }
            Err(_) => unknown.push(irq),
        }
    }
    let housekeeping = c.housekeeping();
    if !on_pinned.is_empty() {
        return Check::warn(
            NAME,
            format!(
                "{nic}: {} of its {} interrupts may fire on pinned cores (IRQ {})",
                on_pinned.len(),
                irqs.len(),
                on_pinned.join(", ")
            ),
            format!(
                "for each: echo {housekeeping} > /proc/irq/N/smp_affinity_list (stop irqbalance first), or boot with irqaffinity={housekeeping}"
            ),
        );
    }
    if irqs.is_empty() || unknown.len() == irqs.len() {
        return Check::skip(
            NAME,
            format!(
                "{nic}: no interrupt with a readable affinity under {} and {}",
                c.host.path(&msi).display(),
                c.host.path("proc/irq").display()
            ),
            "check the NIC's interrupts by hand (grep IFACE /proc/interrupts)",
        );
    }
    Check::pass(
        NAME,
        format!(
            "{nic}: none of its {} interrupt{} on the pinned cores {}{}",
            irqs.len(),
            if irqs.len() == 1 { "" } else { "s" },
            c.cores_list(),
            if unknown.is_empty() {
                String::new()
            } else {
                format!(" ({} with no affinity to read)", unknown.len())
            }
        ),
    )
}

fn check_nic(c: &Ctx, nic: Option<&str>) -> (Check, Option<usize>) {
    const NAME: &str = "nic_numa";
    let Some(nic) = nic else {
        return (
            Check::skip(
                NAME,
                "no --nic given",
                "pass --nic IFACE (the interface the feed arrives on) to check its NUMA node",
            ),
            None,
        );
    };
    let dev = match nic_device(c, nic) {
        Ok(Some(dev)) => dev,
        Ok(None) => {
            return (
                Check::warn(
                    NAME,
                    format!(
                        "{nic}: virtual interface, no NUMA node ({} not found)",
                        c.host.path(&format!("{NET}/{nic}/device")).display()
                    ),
                    "pass the physical NIC the feed arrives on",
                ),
                None,
            )
        }
        Err((seen, fix)) => return (Check::fail(NAME, seen, fix), None),
    };
    let node = match c.host.read_trim(&format!("{dev}/numa_node")) {
        Err(e) => {
            return (
                Check::warn(
                    NAME,
                    format!("{nic}: {e} (no NUMA locality for this device, common in VMs)"),
                    "look up the NIC slot's node in the server manual and pin cores there",
                ),
                None,
            )
        }
        Ok(v) => v,
    };
    let Ok(node) = node.parse::<i64>() else {
        return (
            Check::warn(
                NAME,
                format!("{nic}: numa_node `{node}` is not a number"),
                "look up the NIC slot's node in the server manual and pin cores there",
            ),
            None,
        );
    };
    if node < 0 {
        return if c.topo.nodes.len() <= 1 {
            (
                Check::pass(NAME, format!("{nic}: no NUMA node (-1) on a one-node host")),
                None,
            )
        } else {
            (
                Check::warn(
                    NAME,
                    format!("{nic}: numa_node -1 on a {}-node host: the firmware gives no locality", c.topo.nodes.len()),
                    "look up the NIC slot's node (lspci -vv, the server manual) and pin the hot-path cores there",
                ),
                None,
            )
        };
    }
    let node = node as usize;
    if c.cores.is_empty() {
        return (no_cores(NAME), Some(node));
    }
    if c.topo.nodes.is_empty() {
        let check = if node == 0 {
            Check::pass(NAME, format!("{nic} on node 0, the only node"))
        } else {
            Check::warn(
                NAME,
                format!(
                    "{nic} on node {node}, but {} not found: cannot tell the cores' nodes",
                    c.host.path(NODE).display()
                ),
                format!("pin the hot-path threads to node {node}'s cores"),
            )
        };
        return (check, Some(node));
    }
    let (on, off): (CpuSet, CpuSet) = c
        .cores
        .iter()
        .partition(|&&cpu| c.topo.node_of(cpu) == Some(node));
    let off_nodes: BTreeSet<String> = off
        .iter()
        .map(|&cpu| {
            c.topo
                .node_of(cpu)
                .map_or("?".to_string(), |n| n.to_string())
        })
        .collect();
    let off_nodes = off_nodes.into_iter().collect::<Vec<_>>().join(",");
    let local = c
        .topo
        .nodes
        .get(&node)
        .map_or("(none)".to_string(), format_cpu_list);
    let fix = format!(
        "pin the hot-path threads to node {node}'s cores ({local}) or move {nic} to a PCIe slot of node {off_nodes}"
    );
    let check = if off.is_empty() {
        Check::pass(
            NAME,
            format!("{nic} on node {node} with cores {}", c.cores_list()),
        )
    } else if on.is_empty() {
        Check::fail(
            NAME,
            format!(
                "{nic} on node {node}, pinned cores {} on node {off_nodes}: every packet crosses the interconnect",
                c.cores_list()
            ),
            fix,
        )
    } else {
        Check::warn(
            NAME,
            format!(
                "{nic} on node {node}; cores {} are on node {off_nodes}",
                format_cpu_list(&off)
            ),
            fix,
        )
    };
    (check, Some(node))
}

fn check_irqbalance(c: &Ctx) -> Check {
    const NAME: &str = "irqbalance";
    let pids = match c.host.list("proc") {
        Err(e) => {
            return Check::warn(NAME, e, HOST_ONLY);
        }
        Ok(names) => names
            .into_iter()
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .filter(|pid| {
                c.host
                    .read_trim(&format!("proc/{pid}/comm"))
                    .is_ok_and(|comm| comm == "irqbalance")
            })
            .collect::<Vec<_>>(),
    };
    if pids.is_empty() {
        return Check::pass(NAME, "not running");
    }
    let housekeeping = c.housekeeping();
    Check::warn(
        NAME,
        format!(
            "running (pid {}): it may move device interrupts onto the pinned cores",
            pids.join(", ")
        ),
        format!(
            "systemctl disable --now irqbalance, then keep IRQs on housekeeping cores: echo {housekeeping} > /proc/irq/N/smp_affinity_list (or boot with irqaffinity={housekeeping})"
        ),
    )
}

fn check_swap(c: &Ctx) -> Check {
    const NAME: &str = "swap";
    let fix = "swapoff -a and remove the swap lines from /etc/fstab (a swapped-out page of the hot path costs milliseconds)";
    let total_kb = c
        .host
        .read("proc/meminfo")
        .ok()
        .and_then(|m| meminfo(&m, "SwapTotal"));
    match c.host.read("proc/swaps") {
        Ok(s) => {
            let devices: Vec<&str> = s
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            if devices.is_empty() {
                Check::pass(NAME, "off")
            } else {
                let size = total_kb.map_or(String::new(), |kb| {
                    format!(", {:.1} GiB", kb as f64 / f64::from(1u32 << 20))
                });
                Check::warn(NAME, format!("on: {}{size}", devices.join(", ")), fix)
            }
        }
        Err(e) => match total_kb {
            Some(0) => Check::pass(NAME, "off (SwapTotal 0 kB)"),
            Some(kb) => Check::warn(NAME, format!("on: SwapTotal {kb} kB"), fix),
            None => Check::warn(
                NAME,
                format!(
                    "{e}; no SwapTotal in {}",
                    c.host.path("proc/meminfo").display()
                ),
                HOST_ONLY,
            ),
        },
    }
}

/// The UDP source asks each of its sockets for a 32 MiB receive buffer: without
/// CAP_NET_ADMIN (which forces it) the kernel caps it at `net.core.rmem_max`, and a
/// backlog beyond that is dropped (the feed's `socket_drops`).
fn check_rmem_max(c: &Ctx) -> Check {
    const NAME: &str = "rmem_max";
    const PATH: &str = "proc/sys/net/core/rmem_max";
    let want = hotpath_hw::net::DEFAULT_RCVBUF as u64;
    let fix = format!(
        "sysctl -w net.core.rmem_max={want} (and in /etc/sysctl.d/), or give the feed CAP_NET_ADMIN, which forces its buffers past the limit"
    );
    let text = match c.host.read(PATH) {
        Ok(t) => t,
        Err(e) => return Check::warn(NAME, e, HOST_ONLY),
    };
    match text.trim().parse::<u64>() {
        Ok(v) if v >= want => Check::pass(
            NAME,
            format!("{} KiB: a UDP source socket gets its {} KiB", v >> 10, want >> 10),
        ),
        Ok(v) => Check::warn(
            NAME,
            format!(
                "{} KiB: without CAP_NET_ADMIN a UDP source socket gets that of the {} KiB it asks for, and a longer backlog is dropped",
                v >> 10,
                want >> 10
            ),
            fix,
        ),
        Err(_) => Check::warn(
            NAME,
            format!(
                "{}: `{}` is not a byte count",
                c.host.path(PATH).display(),
                text.trim()
            ),
            HOST_ONLY,
        ),
    }
}

/// `CAP_IPC_LOCK`'s bit in `CapEff`.
const CAP_IPC_LOCK_BIT: u32 = 14;

/// The soft and hard `Max locked memory` of a `/proc/PID/limits` text, as printed
/// (`unlimited` or bytes).
pub fn memlock_limits(limits: &str) -> Option<(String, String)> {
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max locked memory"))?;
    let mut f = rest.split_whitespace();
    Some((f.next()?.to_string(), f.next()?.to_string()))
}

/// Whether a `/proc/PID/status` text's `CapEff` holds CAP_IPC_LOCK.
pub fn has_ipc_lock(status: &str) -> Option<bool> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let caps = u64::from_str_radix(hex, 16).ok()?;
    Some(caps & (1 << CAP_IPC_LOCK_BIT) != 0)
}

/// `--mlock` locks the whole process, and vfio-pci pins DPDK's memory for DMA: both
/// count against RLIMIT_MEMLOCK unless the process holds CAP_IPC_LOCK. Read from this
/// process, whose limits a shell or unit started the same way passes on.
fn check_memlock(c: &Ctx) -> Check {
    const NAME: &str = "memlock";
    let limits_path = "proc/self/limits";
    let (soft, hard) = match c.host.read(limits_path).map(|t| memlock_limits(&t)) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Check::warn(
                NAME,
                format!(
                    "no `Max locked memory` line in {}",
                    c.host.path(limits_path).display()
                ),
                HOST_ONLY,
            )
        }
        Err(e) => return Check::warn(NAME, e, HOST_ONLY),
    };
    let ipc_lock = c
        .host
        .read("proc/self/status")
        .ok()
        .and_then(|s| has_ipc_lock(&s));
    if soft == "unlimited" {
        return Check::pass(NAME, "RLIMIT_MEMLOCK unlimited");
    }
    let shown = |v: &str| {
        v.parse::<u64>()
            .map_or(v.to_string(), |b| format!("{} KiB", b / 1024))
    };
    let limit = format!("RLIMIT_MEMLOCK {} (hard {})", shown(&soft), shown(&hard));
    if ipc_lock == Some(true) {
        return Check::pass(
            NAME,
            format!("{limit}, but CAP_IPC_LOCK held: any amount may be locked"),
        );
    }
    Check::warn(
        NAME,
        format!(
            "{limit} and {}: `--mlock` fails once the process is larger, and vfio-pci cannot pin DPDK's memory",
            if ipc_lock == Some(false) {
                "no CAP_IPC_LOCK"
            } else {
                "CAP_IPC_LOCK unknown (no CapEff in proc/self/status)"
            }
        ),
        "raise it for the appliance's user: `ulimit -l unlimited`, `USER - memlock unlimited` in /etc/security/limits.conf, or LimitMEMLOCK=infinity in its systemd unit (or run it with CAP_IPC_LOCK)",
    )
}

/// A kernel knob's value, or a skip naming its path when the kernel lacks the feature
/// (`missing` says which).
fn knob_or_skip(c: &Ctx, name: &'static str, path: &str, missing: &str) -> Result<String, Check> {
    c.host
        .read_trim(path)
        .map_err(|e| Check::skip(name, format!("{e}: {missing}"), "nothing to do"))
}

/// The soft-lockup detector's timer fires on each CPU of `watchdog_cpumask` every
/// `watchdog_thresh × 2 / 5` s, and the hard-lockup detector's perf NMI every
/// `watchdog_thresh` s: interrupts on a pinned core. `nohz_full=` takes its CPUs out of
/// the mask at boot.
fn check_watchdog(c: &Ctx) -> Check {
    const NAME: &str = "watchdog";
    const ON: &str = "proc/sys/kernel/watchdog";
    const MASK: &str = "proc/sys/kernel/watchdog_cpumask";
    let hk = c.housekeeping();
    let fix = format!(
        "sysctl -w kernel.watchdog_cpumask={hk} (and in /etc/sysctl.d/; nohz_full= does it at boot), or boot with nowatchdog"
    );
    let on = match knob_or_skip(c, NAME, ON, "no lockup detector in this kernel") {
        Ok(v) => v,
        Err(skip) => return skip,
    };
    if on == "0" {
        return Check::pass(NAME, "off (kernel.watchdog 0)");
    }
    let mask = match c.host.read(MASK).and_then(|m| parse_cpu_list(&m, c.last)) {
        Ok(m) => m,
        Err(e) => return Check::warn(NAME, e, fix),
    };
    let on_pinned: CpuSet = c.cores.intersection(&mask).copied().collect();
    if on_pinned.is_empty() {
        return Check::pass(
            NAME,
            format!(
                "on, off the pinned cores (watchdog_cpumask {})",
                format_cpu_list(&mask)
            ),
        );
    }
    let thresh = c
        .host
        .read_trim("proc/sys/kernel/watchdog_thresh")
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(10);
    let nmi = c
        .host
        .read_trim("proc/sys/kernel/nmi_watchdog")
        .is_ok_and(|v| v == "1");
    Check::warn(
        NAME,
        format!(
            "on for {} (watchdog_cpumask {}): its timer interrupts each of them every {} s{}",
            format_cpu_list(&on_pinned),
            format_cpu_list(&mask),
            thresh as f64 * 2.0 / 5.0,
            if nmi {
                format!(", and an NMI every {thresh} s")
            } else {
                String::new()
            }
        ),
        fix,
    )
}

/// Unbound kernel work (kworker threads: writeback, deferred frees, most drivers'
/// work) runs on the CPUs of the workqueue mask.
fn check_workqueue(c: &Ctx) -> Check {
    const NAME: &str = "workqueue";
    const PATH: &str = "sys/devices/virtual/workqueue/cpumask";
    let fix = format!(
        "echo {} > /sys/devices/virtual/workqueue/cpumask (the housekeeping cores {}; at boot, isolcpus= leaves its cores out, and kernels 6.6+ take workqueue.unbound_cpus={})",
        format_cpu_mask(&c.housekeeping_set()),
        c.housekeeping(),
        c.housekeeping()
    );
    let mask = match c.host.read(PATH).and_then(|m| parse_cpu_mask(&m)) {
        Ok(m) => m,
        Err(e) => return Check::warn(NAME, e, fix),
    };
    let on_pinned: CpuSet = c.cores.intersection(&mask).copied().collect();
    if on_pinned.is_empty() {
        Check::pass(
            NAME,
            format!("unbound kernel work on {} only", format_cpu_list(&mask)),
        )
    } else {
        Check::warn(
            NAME,
            format!(
                "unbound kernel work (kworker threads) may run on the pinned cores {} (mask {})",
                format_cpu_list(&on_pinned),
                format_cpu_mask(&mask)
            ),
            fix,
        )
    }
}

/// Automatic NUMA balancing samples which node touches a task's memory by unmapping
/// its pages (the next touch is a page fault) and migrates pages between nodes.
fn check_numa_balancing(c: &Ctx) -> Check {
    const NAME: &str = "numa_balancing";
    const PATH: &str = "proc/sys/kernel/numa_balancing";
    let v = match knob_or_skip(c, NAME, PATH, "no automatic NUMA balancing in this kernel") {
        Ok(v) => v,
        Err(skip) => return skip,
    };
    if v == "0" {
        return Check::pass(NAME, "off");
    }
    Check::warn(
        NAME,
        format!(
            "on ({v}): the kernel unmaps pages of the hot path's memory to see which node touches them, so its threads take page faults, and moves pages between nodes"
        ),
        "sysctl -w kernel.numa_balancing=0 (and in /etc/sysctl.d/), or boot with numa_balancing=disable",
    )
}

/// hotpath reads CLOCK_MONOTONIC once a burst: in the vDSO, without a system call,
/// only from a TSC-based or paravirtual clocksource (x86 kernels 5.6 and later).
fn check_clocksource(c: &Ctx) -> Check {
    const NAME: &str = "clocksource";
    const DIR: &str = "sys/devices/system/clocksource/clocksource0";
    let current = match c.host.read_trim(&format!("{DIR}/current_clocksource")) {
        Ok(v) => v,
        Err(e) => return Check::warn(NAME, e, HOST_ONLY),
    };
    let available = c
        .host
        .read(&format!("{DIR}/available_clocksource"))
        .unwrap_or_default();
    let offered = available.split_whitespace().any(|s| s == "tsc");
    let fix = if offered {
        "echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource (boot: clocksource=tsc tsc=reliable, on an invariant TSC)"
    } else {
        "the kernel does not offer tsc (it found the TSC unstable, see dmesg): give the host an invariant TSC (in a VM: -cpu host,+invtsc), then boot with clocksource=tsc"
    };
    match current.as_str() {
        "tsc" | "arch_sys_counter" => Check::pass(
            NAME,
            format!("{current}: clocks read in the vDSO from the CPU's counter"),
        ),
        "kvm-clock" | "xen" | "hyperv_clocksource_tsc_page" => Check::warn(
            NAME,
            format!(
                "{current}: a paravirtual clock, read in the vDSO only while the hypervisor marks it stable (else each read is a system call), and slower than the TSC"
            ),
            fix,
        ),
        other => Check::fail(
            NAME,
            format!(
                "{other}: not read in the vDSO, so each clock read is a system call, and the feed reads the clock every burst"
            ),
            fix,
        ),
    }
}

/// A SCHED_FIFO thread that never sleeps uses up the kernel's RT budget each period and
/// may then be held off its core for the rest (`hotpath_hw::discipline::RtThrottle`).
fn check_rt_throttling(c: &Ctx, fifo: bool) -> Check {
    const NAME: &str = "rt_throttling";
    const RUNTIME: &str = "proc/sys/kernel/sched_rt_runtime_us";
    const PERIOD: &str = "proc/sys/kernel/sched_rt_period_us";
    let t = match (c.host.read(RUNTIME), c.host.read(PERIOD)) {
        (Ok(r), Ok(p)) => hotpath_hw::discipline::RtThrottle::parse(&r, &p),
        (Err(e), _) | (_, Err(e)) => return Check::warn(NAME, e, HOST_ONLY),
    };
    let t = match t {
        Ok(t) => t,
        Err(e) => {
            return Check::warn(
                NAME,
                format!("{}: {e}", c.host.path(RUNTIME).display()),
                HOST_ONLY,
            )
        }
    };
    match t.stall_us() {
        None => Check::pass(NAME, format!("off ({t}): a SCHED_FIFO thread may spin")),
        Some(_) if !fifo => Check::pass(
            NAME,
            format!("on ({t}): it throttles only SCHED_FIFO threads, and these are not (no --fifo)"),
        ),
        Some(stall) => Check::fail(
            NAME,
            format!(
                "on ({t}): the SCHED_FIFO feed thread (--fifo) sleeps at most when idle (--idle backoff), so the kernel holds it off its core for up to {} ms of every {} ms",
                stall as f64 / 1e3,
                t.period_us as f64 / 1e3
            ),
            "sysctl -w kernel.sched_rt_runtime_us=-1 (and in /etc/sysctl.d/) with the pinned cores isolated, or run the hot path without --fifo",
        ),
    }
}

fn check_tsc(c: &Ctx) -> Check {
    const NAME: &str = "invariant_tsc";
    let text = match c.host.read("proc/cpuinfo") {
        Ok(t) => t,
        Err(e) => return Check::warn(NAME, e, HOST_ONLY),
    };
    let Some(flags) = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "flags").then_some(v)
    }) else {
        return Check::warn(
            NAME,
            format!(
                "no `flags` line in {} (not x86?)",
                c.host.path("proc/cpuinfo").display()
            ),
            "hotpath's clock wants an x86 CPU with an invariant TSC",
        );
    };
    let flags: BTreeSet<&str> = flags.split_whitespace().collect();
    let missing: Vec<&str> = ["constant_tsc", "nonstop_tsc"]
        .into_iter()
        .filter(|f| !flags.contains(f))
        .collect();
    if missing.is_empty() {
        Check::pass(NAME, "constant_tsc nonstop_tsc")
    } else {
        Check::fail(
            NAME,
            format!(
                "no {}: the TSC may change rate or stop in idle, so TSC timestamps lie",
                missing.join(", no ")
            ),
            "use a CPU with an invariant TSC (constant_tsc + nonstop_tsc); in a VM expose it (KVM/QEMU: -cpu host,+invtsc)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[usize]) -> CpuSet {
        v.iter().copied().collect()
    }

    #[test]
    fn cpu_masks_parse_and_print_like_the_kernel() {
        assert_eq!(parse_cpu_mask("3\n").unwrap(), set(&[0, 1]));
        assert_eq!(parse_cpu_mask("0").unwrap(), set(&[]));
        assert_eq!(parse_cpu_mask("1,00000000").unwrap(), set(&[32]));
        assert_eq!(parse_cpu_mask("F0").unwrap(), set(&[4, 5, 6, 7]));
        for bad in ["", "g", "0x3", " , "] {
            assert!(parse_cpu_mask(bad).is_err(), "{bad} accepted");
        }
        assert!(
            parse_cpu_mask(&"f".repeat(2049)).is_err(),
            "CPU 8192 accepted"
        );
        assert_eq!(format_cpu_mask(&set(&[0, 1])), "3");
        assert_eq!(format_cpu_mask(&set(&[])), "0");
        assert_eq!(format_cpu_mask(&set(&[0, 33])), "2,00000001");
        for mask in ["ff,ffff000c", "80000000", "1,00000000,00000000"] {
            assert_eq!(format_cpu_mask(&parse_cpu_mask(mask).unwrap()), mask);
        }
    }

    #[test]
    fn cpu_lists_parse_like_the_kernel() {
        assert_eq!(parse_cpu_list("2,3", None).unwrap(), set(&[2, 3]));
        assert_eq!(
            parse_cpu_list("2-5,8", None).unwrap(),
            set(&[2, 3, 4, 5, 8])
        );
        assert_eq!(parse_cpu_list(" 0-1\n", None).unwrap(), set(&[0, 1]));
        assert_eq!(parse_cpu_list("", None).unwrap(), set(&[]));
        assert_eq!(parse_cpu_list("\n", None).unwrap(), set(&[]));
        assert_eq!(parse_cpu_list("7", None).unwrap(), set(&[7]));
        assert_eq!(
            parse_cpu_list("0-15:2/4", None).unwrap(),
            set(&[0, 1, 4, 5, 8, 9, 12, 13])
        );
        assert_eq!(parse_cpu_list("2-N", Some(5)).unwrap(), set(&[2, 3, 4, 5]));
        assert_eq!(parse_cpu_list("all", Some(3)).unwrap(), set(&[0, 1, 2, 3]));
        for bad in [
            "5-2",
            "a",
            "1,,2",
            "1-",
            "-3",
            "0-4294967295",
            "8192",
            "3:1/2",
            "0-7:3/2",
        ] {
            assert!(parse_cpu_list(bad, None).is_err(), "{bad} accepted");
        }
        assert!(parse_cpu_list("N", None).is_err());
        assert!(parse_cpu_list("all", None).is_err());
    }

    #[test]
    fn cpu_lists_format_as_ranges_and_round_trip() {
        assert_eq!(format_cpu_list(&set(&[2, 3, 4, 5, 8])), "2-5,8");
        assert_eq!(format_cpu_list(&set(&[1])), "1");
        assert_eq!(format_cpu_list(&set(&[0, 2, 4])), "0,2,4");
        assert_eq!(format_cpu_list(&set(&[])), "(none)");
        for s in ["0-7", "1,3,5-9,12", "2-3"] {
            assert_eq!(format_cpu_list(&parse_cpu_list(s, None).unwrap()), s);
        }
    }

    #[test]
    fn the_kernel_command_line_parses_words_quotes_and_the_init_part() {
        let c = Cmdline::parse(
            "BOOT_IMAGE=/vmlinuz ro quiet isolcpus=managed_irq,domain,2-5 nohz_full=2-5 \
             dyndbg=\"file foo.c +p\" rcu_nocbs intel-idle.max_cstate=1 isolcpus=3 -- nohz_full=9\n",
        );
        assert_eq!(c.get("ro"), Some(None));
        assert_eq!(c.get("quiet"), Some(None));
        assert_eq!(
            c.get("nohz_full"),
            Some(Some("2-5")),
            "`--` ends the kernel's part"
        );
        assert_eq!(c.get("dyndbg"), Some(Some("file foo.c +p")));
        assert_eq!(c.get("rcu_nocbs"), Some(None));
        assert_eq!(
            c.get("intel_idle.max_cstate"),
            Some(Some("1")),
            "- and _ alike"
        );
        assert_eq!(
            c.get("isolcpus"),
            Some(Some("3")),
            "the last occurrence wins"
        );
        assert_eq!(c.get("nosmt"), None);
        assert_eq!(Cmdline::parse("  \n"), Cmdline::default());
        let (d, s) = c.cpu_list("rcu_nocbs", None).unwrap();
        assert_eq!((d.as_str(), s.unwrap()), ("rcu_nocbs=", set(&[])));
    }

    #[test]
    fn isolcpus_flags_and_the_domain_default() {
        let i = Isolcpus::parse("managed_irq,domain,2-5", None).unwrap();
        assert_eq!(i.flags, ["managed_irq", "domain"]);
        assert_eq!(i.cpus, set(&[2, 3, 4, 5]));
        assert!(i.isolates_domain());
        let plain = Isolcpus::parse("2-5", None).unwrap();
        assert!(plain.flags.is_empty() && plain.isolates_domain());
        let irq_only = Isolcpus::parse("managed_irq,2-5", None).unwrap();
        assert!(
            !irq_only.isolates_domain(),
            "a known flag without domain drops the default"
        );
        let nohz = Isolcpus::parse("nohz,domain,1,3", None).unwrap();
        assert!(nohz.has("nohz") && nohz.isolates_domain());
        assert_eq!(nohz.cpus, set(&[1, 3]));
        let unknown = Isolcpus::parse("fancy,4", None).unwrap();
        assert!(
            unknown.isolates_domain(),
            "unknown flags are skipped, domain stays default"
        );
        assert!(Isolcpus::parse("domain,x-1", None).is_err());
    }

    #[test]
    fn nohz_from_isolcpus_counts_as_nohz_full() {
        let c = Cmdline::parse("isolcpus=nohz,domain,2-3 nohz_full=4");
        let (d, s) = nohz_cpus(&c, None).unwrap();
        assert_eq!(s.unwrap(), set(&[2, 3, 4]));
        assert!(d.contains("isolcpus=nohz,domain,2-3"), "{d}");
        assert!(nohz_cpus(&Cmdline::parse("isolcpus=2-3"), None).is_none());
    }

    #[test]
    fn small_parsers() {
        assert_eq!(pci_address("0000:3b:00.0").as_deref(), Some("0000:3b:00.0"));
        assert_eq!(pci_address("3B:00.1").as_deref(), Some("0000:3b:00.1"));
        for not in [
            "ens1f0",
            "3b:00",
            "0:3b:00.0",
            "3b:00.0.1",
            "xx:00.0",
            "3b:000.0",
            "",
        ] {
            assert_eq!(pci_address(not), None, "{not}");
        }
        assert_eq!(selected("always [madvise] never\n"), Some("madvise"));
        assert_eq!(selected("[always] madvise never"), Some("always"));
        assert_eq!(selected("always madvise never"), None);
        for s in ["POLL", "C1", "C1-HSW", "c1", "C1_ACPI"] {
            assert!(shallow_idle_state(s), "{s}");
        }
        for s in [
            "C1E", "C1E-HSW", "C3", "C6", "C10", "C10-SKX", "haltpoll", "",
        ] {
            assert!(!shallow_idle_state(s), "{s}");
        }
        assert_eq!(page_size(2048), "2 MiB");
        assert_eq!(page_size(1_048_576), "1 GiB");
        assert_eq!(page_size(64), "64 KiB");
        let m = "MemTotal:  100 kB\nSwapTotal:       8388604 kB\nHugePages_Total:     4\n";
        assert_eq!(meminfo(m, "SwapTotal"), Some(8_388_604));
        assert_eq!(meminfo(m, "HugePages_Total"), Some(4));
        assert_eq!(meminfo(m, "Nope"), None);
        assert_eq!(numbered("node12", "node"), Some(12));
        assert_eq!(numbered("node", "node"), None);
        assert_eq!(numbered("nodex", "node"), None);
        assert!(parse_iface("ens1f0").is_ok());
        for bad in ["", "..", "a/b", "abcdefghijklmnop"] {
            assert!(parse_iface(bad).is_err(), "{bad}");
        }
        assert!(parse_cores_arg("").is_err());
    }

    #[test]
    fn hugetlbfs_mounts_and_their_page_sizes() {
        assert_eq!(pagesize_kb("2M"), Some(2048));
        assert_eq!(pagesize_kb("1024M"), Some(1 << 20));
        assert_eq!(pagesize_kb("1G"), Some(1 << 20));
        assert_eq!(pagesize_kb("64K"), Some(64));
        for bad in ["", "M", "2", "2T", "-2M", "99999999999999999999G"] {
            assert_eq!(pagesize_kb(bad), None, "{bad}");
        }
        let mounts = "proc /proc proc rw 0 0\n\
                      hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n\
                      nodev /mnt/h\\0401g hugetlbfs rw,pagesize=1024M 0 0\n\
                      none /mnt/default hugetlbfs rw 0 0\n\
                      short line\n";
        assert_eq!(
            hugetlbfs_mounts(mounts, Some(2048)),
            vec![
                ("/dev/hugepages".to_string(), Some(2048)),
                ("/mnt/h\\0401g".to_string(), Some(1 << 20)),
                ("/mnt/default".to_string(), Some(2048)),
            ]
        );
        assert_eq!(hugetlbfs_mounts(mounts, None)[2].1, None);
        assert_eq!(pagesize_option(2048), "2M");
        assert_eq!(pagesize_option(1 << 20), "1G");
        assert_eq!(pagesize_option(64), "64K");
    }

    #[test]
    fn memlock_limits_and_the_ipc_lock_capability() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max locked memory         8388608              unlimited            bytes\n";
        assert_eq!(
            memlock_limits(limits),
            Some(("8388608".to_string(), "unlimited".to_string()))
        );
        assert_eq!(memlock_limits("Max open files 1024 1024 files\n"), None);
        assert_eq!(has_ipc_lock("CapEff:\t0000000000004000\n"), Some(true));
        assert_eq!(has_ipc_lock("CapEff:\t000001ffffffffff\n"), Some(true));
        assert_eq!(has_ipc_lock("CapEff:\t0000000000003fff\n"), Some(false));
        assert_eq!(has_ipc_lock("CapEff:\tzz\n"), None);
        assert_eq!(has_ipc_lock("Name: x\n"), None);
    }
}
