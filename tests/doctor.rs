//! `hotpath doctor` against fixture trees: a tuned host (every check passes), an
//! untuned one (each problem reported with its remedy), trees with missing files (warn
//! or skip naming the path, never a panic), and this machine's real `/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_hotpath");

/// Every check, in report order.
const CHECKS: [&str; 25] = [
    "cores",
    "smt",
    "isolcpus",
    "nohz_full",
    "rcu_nocbs",
    "watchdog",
    "workqueue",
    "governor",
    "turbo",
    "c_states",
    "thp",
    "hugepages",
    "hugetlbfs",
    "nic_numa",
    "nic_driver",
    "iommu",
    "nic_irqs",
    "irqbalance",
    "swap",
    "numa_balancing",
    "rmem_max",
    "memlock",
    "invariant_tsc",
    "clocksource",
    "rt_throttling",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/doctor")
        .join(name)
}

fn doctor(root: &Path, args: &[&str]) -> Output {
    Command::new(EXE)
        .arg("doctor")
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("HOTPATH_DOCTOR_ROOT")
        .output()
        .expect("run hotpath doctor")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs with --json; returns the exit code and the report.
fn doctor_json(root: &Path, args: &[&str]) -> (i32, Value) {
    let out = doctor(root, &[args, &["--json"]].concat());
    let code = out.status.code().expect("exited, not killed by a signal");
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        )
    });
    (code, report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {report:#}"))
}

fn names(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

/// The check's status, with its observation and remedy, asserting the remedy mentions
/// `knob` (any of `|`-separated alternatives) and the observation `seen`.
fn assert_problem(report: &Value, name: &str, status: &str, seen: &str, knob: &str) {
    let c = check(report, name);
    assert_eq!(c["status"], status, "{name}: {c:#}");
    let observed = c["observed"].as_str().unwrap();
    assert!(
        observed.contains(seen),
        "{name}: observed `{observed}` lacks `{seen}`"
    );
    let remedy = c["remedy"].as_str().unwrap_or_default();
    assert!(!remedy.is_empty(), "{name}: no remedy: {c:#}");
    assert!(
        knob.split('|').any(|k| remedy.contains(k)),
        "{name}: remedy `{remedy}` does not mention `{knob}`"
    );
}

/// The check passed, and what it observed contains `seen`.
fn assert_pass(report: &Value, name: &str, seen: &str) {
    let c = check(report, name);
    assert_eq!(c["status"], "pass", "{name}: {c:#}");
    let observed = c["observed"].as_str().unwrap();
    assert!(
        observed.contains(seen),
        "{name}: observed `{observed}` lacks `{seen}`"
    );
}

#[test]
fn a_tuned_host_passes_every_check() {
    let root = fixture("tuned");
    let (code, r) = doctor_json(&root, &["--cores", "2,3", "--nic", "ens1f0", "--fifo"]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(names(&r), CHECKS);
    for c in r["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "pass", "{c:#}");
        assert!(c["remedy"].is_null(), "a pass has no remedy: {c:#}");
        assert!(!c["observed"].as_str().unwrap().is_empty(), "{c:#}");
    }
    assert_eq!(
        (&r["pass"], &r["warn"], &r["fail"], &r["skip"]),
        (&25.into(), &0.into(), &0.into(), &0.into())
    );
    assert_eq!(r["cores"], serde_json::json!([2, 3]));
    assert_eq!(r["nic"], "ens1f0");
    assert_eq!(r["root"], root.display().to_string());
    // What the passes saw.
    assert!(check(&r, "isolcpus")["observed"]
        .as_str()
        .unwrap()
        .contains("isolcpus=managed_irq,domain,2-7"));
    assert!(check(&r, "hugepages")["observed"]
        .as_str()
        .unwrap()
        .contains("1 GiB: 4 (node0 4"));
    // The kernel shows a 1 GiB hugetlbfs mount as `pagesize=1024M`.
    assert_eq!(
        check(&r, "hugetlbfs")["observed"],
        "2 MiB at /dev/hugepages, 1 GiB at /mnt/huge-1G"
    );
    assert_eq!(
        check(&r, "iommu")["observed"],
        "ens1f0: IOMMU group 27, type identity"
    );
    assert_eq!(check(&r, "memlock")["observed"], "RLIMIT_MEMLOCK unlimited");
    // The lockup detector's and unbound kernel work's CPUs are the housekeeping ones.
    assert_eq!(
        check(&r, "watchdog")["observed"],
        "on, off the pinned cores (watchdog_cpumask 0-1)"
    );
    assert_eq!(
        check(&r, "workqueue")["observed"],
        "unbound kernel work on 0-1 only"
    );
    assert!(check(&r, "rt_throttling")["observed"]
        .as_str()
        .unwrap()
        .starts_with("off (sched_rt_runtime_us -1 of"));
    // Effective affinity where the kernel gives it (130 on 0, 131 on 1), else the mask.
    assert_eq!(
        check(&r, "nic_irqs")["observed"],
        "ens1f0: none of its 3 interrupts on the pinned cores 2-3"
    );
    assert!(check(&r, "c_states")["observed"]
        .as_str()
        .unwrap()
        .contains("C1E, C6 disabled"));

    // The table, with the root from the environment instead of --root.
    let out = Command::new(EXE)
        .args(["doctor", "--cores", "2-3", "--nic", "ens1f0"])
        .env("HOTPATH_DOCTOR_ROOT", &root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("root {}", root.display())), "{text}");
    for name in CHECKS {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name) && l.contains(" pass ")),
            "{name} not a pass in:\n{text}"
        );
    }
    assert!(!text.contains("remedy:"), "{text}");
    assert!(
        text.contains("summary: 25 pass, 0 warn, 0 fail, 0 skip"),
        "{text}"
    );
}

#[test]
fn an_untuned_host_reports_each_problem_with_its_remedy() {
    let root = fixture("untuned");
    let (code, r) = doctor_json(&root, &["--cores", "2,3", "--nic", "ens1f0"]);
    assert_eq!(code, 1, "a fail exits 1: {r:#}");
    assert_eq!(names(&r), CHECKS);
    assert_eq!(check(&r, "cores")["status"], "pass");
    assert_problem(
        &r,
        "isolcpus",
        "fail",
        "not on the kernel command line",
        "isolcpus=managed_irq,domain,2-3",
    );
    assert_problem(
        &r,
        "nohz_full",
        "warn",
        "not on the kernel command line",
        "nohz_full=2-3",
    );
    assert_problem(
        &r,
        "rcu_nocbs",
        "warn",
        "not on the kernel command line",
        "rcu_nocbs=2-3",
    );
    assert_problem(
        &r,
        "governor",
        "fail",
        "powersave on 2",
        "frequency-set -g performance",
    );
    assert!(check(&r, "governor")["observed"]
        .as_str()
        .unwrap()
        .contains("ondemand on 3"));
    assert_problem(&r, "turbo", "warn", "cpufreq/boost=1", "cpufreq/boost");
    assert_problem(&r, "c_states", "warn", "C6 enabled on 2-3", "max_cstate=1");
    assert_problem(
        &r,
        "thp",
        "warn",
        "always",
        "madvise > /sys/kernel/mm/transparent_hugepage/enabled",
    );
    assert_problem(&r, "hugepages", "warn", "none reserved", "nr_hugepages");
    assert_problem(
        &r,
        "nic_numa",
        "fail",
        "ens1f0 on node 1",
        "node 1's cores (4-7)",
    );
    assert_problem(
        &r,
        "irqbalance",
        "warn",
        "pid 123",
        "systemctl disable --now irqbalance",
    );
    assert_problem(&r, "swap", "warn", "/dev/nvme0n1p3", "swapoff -a");
    assert_problem(
        &r,
        "rmem_max",
        "warn",
        "208 KiB: without CAP_NET_ADMIN a UDP source socket gets that of the 32768 KiB",
        "sysctl -w net.core.rmem_max=33554432",
    );
    assert_problem(&r, "invariant_tsc", "fail", "no nonstop_tsc", "invtsc");
    assert_problem(
        &r,
        "smt",
        "warn",
        "pinned cores 2 and 3 are hyper-threads of one physical core",
        "nosmt",
    );
    assert_problem(
        &r,
        "hugetlbfs",
        "skip",
        "no huge pages reserved",
        "`hugepages` check",
    );
    assert_problem(
        &r,
        "iommu",
        "warn",
        "IOMMU group 27, type DMA-FQ: every DMA of its kernel driver is translated",
        "iommu=pt",
    );
    assert_problem(
        &r,
        "memlock",
        "warn",
        "RLIMIT_MEMLOCK 8192 KiB (hard 8192 KiB) and no CAP_IPC_LOCK",
        "LimitMEMLOCK=infinity",
    );
    assert_problem(
        &r,
        "nic_irqs",
        "warn",
        "ens1f0: 2 of its 2 interrupts may fire on pinned cores (IRQ 130 on 2-3, 131 on 3)",
        "echo 0-1,4-7 > /proc/irq/N/smp_affinity_list",
    );
    assert_problem(
        &r,
        "watchdog",
        "warn",
        "on for 2-3 (watchdog_cpumask 0-7): its timer interrupts each of them every 4 s, and an NMI every 10 s",
        "sysctl -w kernel.watchdog_cpumask=0-1,4-7",
    );
    assert_problem(
        &r,
        "workqueue",
        "warn",
        "may run on the pinned cores 2-3 (mask ff)",
        "echo f3 > /sys/devices/virtual/workqueue/cpumask",
    );
    assert_problem(
        &r,
        "numa_balancing",
        "warn",
        "on (1): the kernel unmaps pages",
        "sysctl -w kernel.numa_balancing=0",
    );
    assert_problem(
        &r,
        "clocksource",
        "warn",
        "kvm-clock: a paravirtual clock",
        "echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource",
    );
    // RT throttling stops only SCHED_FIFO threads: a pass unless the feed runs --fifo.
    assert_pass(
        &r,
        "rt_throttling",
        "on (sched_rt_runtime_us 950000 of sched_rt_period_us 1000000)",
    );
    let (code, fifo) = doctor_json(&root, &["--cores", "2,3", "--nic", "ens1f0", "--fifo"]);
    assert_eq!(code, 1);
    assert_problem(
        &fifo,
        "rt_throttling",
        "fail",
        "holds it off its core for up to 50 ms of every 1000 ms",
        "sysctl -w kernel.sched_rt_runtime_us=-1",
    );
    assert_eq!((&fifo["pass"], &fifo["fail"]), (&2.into(), &5.into()));
    // An interface's kernel driver is what the kernel-path sources need.
    let driver = check(&r, "nic_driver");
    assert_eq!(driver["status"], "pass", "{driver:#}");
    assert!(driver["observed"]
        .as_str()
        .unwrap()
        .contains("ens1f0: kernel driver ixgbe"));
    assert_eq!(
        (&r["pass"], &r["warn"], &r["fail"], &r["skip"]),
        (&3.into(), &17.into(), &4.into(), &1.into())
    );

    // The table: every non-pass check has its remedy on the next line.
    let out = doctor(&root, &["--cores", "2,3", "--nic", "ens1f0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for name in CHECKS
        .iter()
        .filter(|n| !["cores", "nic_driver", "hugetlbfs", "rt_throttling"].contains(n))
    {
        let i = lines
            .iter()
            .position(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"));
        assert!(
            lines[i].contains(" WARN ") || lines[i].contains(" FAIL "),
            "{}",
            lines[i]
        );
        assert!(
            lines[i + 1].trim_start().starts_with("remedy: "),
            "{name} has no remedy line in:\n{text}"
        );
    }
    assert!(
        text.contains("summary: 3 pass, 17 warn, 4 fail, 1 skip"),
        "{text}"
    );
}

#[test]
fn default_cores_are_every_online_core_but_core_0_and_no_nic_skips_its_check() {
    let (code, r) = doctor_json(&fixture("untuned"), &[]);
    assert_eq!(code, 1);
    assert_eq!(r["cores"], serde_json::json!([1, 2, 3, 4, 5, 6, 7]));
    assert!(r["nic"].is_null());
    assert_problem(&r, "nic_numa", "skip", "no --nic given", "--nic IFACE");
    assert_problem(&r, "nic_driver", "skip", "no --nic given", "--nic IFACE");
    assert_problem(&r, "iommu", "skip", "no --nic given", "--nic IFACE");
    assert_problem(&r, "nic_irqs", "skip", "no --nic given", "--nic IFACE");
    // Cores 1 and 4-7 have no cpuidle directory in the fixture: named, not a crash.
    assert_problem(&r, "c_states", "warn", "C6 enabled on 2-3", "max_cstate=1");
    // On the tuned host the default includes core 1, which is not isolated.
    let (code, r) = doctor_json(&fixture("tuned"), &["--nic", "ens1f0"]);
    assert_eq!(code, 1);
    assert_problem(
        &r,
        "isolcpus",
        "fail",
        "leaves 1 not isolated",
        "isolcpus=managed_irq,domain,1-7",
    );
    // Cores 1-7 span both nodes while the NIC is on node 0.
    assert_problem(
        &r,
        "nic_numa",
        "warn",
        "cores 4-7 are on node 1",
        "node 0's cores (0-3)",
    );
}

#[test]
fn missing_files_warn_or_skip_naming_the_path() {
    // Nothing at all under the root.
    let empty = tempfile::tempdir().unwrap();
    let (code, r) = doctor_json(empty.path(), &[]);
    assert_eq!(code, 0, "missing files warn or skip, never fail: {r:#}");
    assert_eq!(names(&r), CHECKS);
    for c in r["checks"].as_array().unwrap() {
        assert!(c["status"] == "warn" || c["status"] == "skip", "{c:#}");
        assert!(
            !c["remedy"].as_str().unwrap_or_default().is_empty(),
            "{c:#}"
        );
    }
    let named = |name: &str, path: &str| {
        let c = check(&r, name);
        let observed = c["observed"].as_str().unwrap();
        assert!(
            observed.contains(&empty.path().join(path).display().to_string()),
            "{name}: `{observed}` does not name {path}"
        );
    };
    named("cores", "sys/devices/system/cpu/online");
    named("isolcpus", "proc/cmdline");
    named("nohz_full", "proc/cmdline");
    named("rcu_nocbs", "proc/cmdline");
    named("turbo", "sys/devices/system/cpu/intel_pstate/no_turbo");
    named("thp", "sys/kernel/mm/transparent_hugepage/enabled");
    named("hugepages", "sys/kernel/mm/hugepages");
    named("hugepages", "proc/meminfo");
    named("irqbalance", "proc");
    named("swap", "proc/swaps");
    named("rmem_max", "proc/sys/net/core/rmem_max");
    named("invariant_tsc", "proc/cpuinfo");
    named("memlock", "proc/self/limits");
    named("watchdog", "proc/sys/kernel/watchdog");
    named("workqueue", "sys/devices/virtual/workqueue/cpumask");
    named("numa_balancing", "proc/sys/kernel/numa_balancing");
    named(
        "clocksource",
        "sys/devices/system/clocksource/clocksource0/current_clocksource",
    );
    named("rt_throttling", "proc/sys/kernel/sched_rt_runtime_us");
    assert!(r["cores"].as_array().unwrap().is_empty());

    // A partial tree: the command line and online cores only, a NIC that is not there.
    let partial = tempfile::tempdir().unwrap();
    let p = partial.path();
    std::fs::create_dir_all(p.join("proc")).unwrap();
    std::fs::create_dir_all(p.join("sys/devices/system/cpu")).unwrap();
    std::fs::write(p.join("proc/cmdline"), "ro isolcpus=2-3 nohz_full=2-3\n").unwrap();
    std::fs::write(p.join("sys/devices/system/cpu/online"), "0-3\n").unwrap();
    let (code, r) = doctor_json(p, &["--cores", "2-3", "--nic", "eth9"]);
    assert_eq!(code, 1, "an interface that does not exist fails: {r:#}");
    assert_eq!(check(&r, "isolcpus")["status"], "pass");
    assert_eq!(check(&r, "nohz_full")["status"], "pass");
    let rcu = check(&r, "rcu_nocbs");
    assert_eq!(rcu["status"], "pass", "implied by nohz_full: {rcu:#}");
    assert!(rcu["observed"]
        .as_str()
        .unwrap()
        .contains("implied by nohz_full=2-3"));
    assert_problem(
        &r,
        "governor",
        "warn",
        &p.join("sys/devices/system/cpu/cpu2/cpufreq/scaling_governor")
            .display()
            .to_string(),
        "performance",
    );
    assert_problem(
        &r,
        "c_states",
        "skip",
        &p.join("sys/devices/system/cpu/cpu2/cpuidle")
            .display()
            .to_string(),
        "C-state",
    );
    assert_problem(&r, "nic_numa", "fail", "no interface eth9", "ip link");
    assert_eq!(r["fail"], 1);

    // A virtual interface (no device directory) warns.
    std::fs::create_dir_all(p.join("sys/class/net/lo")).unwrap();
    let (_, r) = doctor_json(p, &["--cores", "2-3", "--nic", "lo"]);
    assert_problem(
        &r,
        "nic_numa",
        "warn",
        "virtual interface, no NUMA node",
        "physical NIC",
    );
}

#[test]
fn a_nic_bound_to_dpdk_is_named_by_its_pci_address() {
    // Tuned: the NIC on node 0, bound to vfio-pci; the short form names it too.
    for nic in ["0000:3b:00.0", "3b:00.0", "0000:3B:00.0"] {
        let (code, r) = doctor_json(&fixture("tuned"), &["--cores", "2,3", "--nic", nic]);
        assert_eq!(code, 0, "{nic}: {r:#}");
        assert_eq!(r["nic"], "0000:3b:00.0");
        let numa = check(&r, "nic_numa");
        assert_eq!(numa["status"], "pass", "{numa:#}");
        assert!(numa["observed"]
            .as_str()
            .unwrap()
            .contains("0000:3b:00.0 on node 0"));
        let driver = check(&r, "nic_driver");
        assert_eq!(driver["status"], "pass", "{driver:#}");
        assert!(driver["observed"].as_str().unwrap().contains("vfio-pci"));
        assert_pass(
            &r,
            "iommu",
            "0000:3b:00.0: IOMMU group 41, type DMA, owned by vfio-pci",
        );
    }
    // Untuned: a kernel driver DPDK cannot take, no driver at all, a UIO driver, and an
    // address with no device.
    let root = fixture("untuned");
    let run = |nic: &str| doctor_json(&root, &["--cores", "2,3", "--nic", nic]);
    let (_, r) = run("0000:3b:00.0");
    assert_problem(
        &r,
        "nic_driver",
        "warn",
        "kernel driver ixgbe: a DPDK poll-mode driver cannot take it",
        "dpdk-devbind.py --bind=vfio-pci 0000:3b:00.0",
    );
    assert_problem(
        &r,
        "nic_numa",
        "fail",
        "0000:3b:00.0 on node 1",
        "node 1's cores",
    );
    assert_problem(
        &r,
        "iommu",
        "warn",
        "0000:3b:00.0: no IOMMU group",
        "intel_iommu=on iommu=pt",
    );
    assert!(check(&r, "iommu")["observed"]
        .as_str()
        .unwrap()
        .ends_with("vfio-pci cannot take it"));
    let (code, r) = run("0000:af:00.0");
    assert_eq!(code, 1);
    assert_problem(
        &r,
        "nic_driver",
        "fail",
        "0000:af:00.0: no driver bound",
        "--bind=vfio-pci 0000:af:00.0",
    );
    let (_, r) = run("0000:5e:00.0");
    assert_problem(&r, "nic_driver", "warn", "igb_uio", "prefer vfio-pci");
    assert!(check(&r, "nic_driver")["observed"]
        .as_str()
        .unwrap()
        .contains("without IOMMU protection"));
    let (code, r) = run("0000:99:00.0");
    assert_eq!(code, 1);
    assert_problem(
        &r,
        "nic_numa",
        "fail",
        "no PCI device 0000:99:00.0",
        "lspci -D",
    );
    assert_problem(&r, "nic_driver", "skip", "no PCI device", "lspci -D");
}

#[test]
fn bad_arguments_are_refused() {
    let root = fixture("tuned");
    for args in [
        &["--cores", "3-1"][..],
        &["--cores", "x"],
        &["--cores", ""],
        &["--nic", "../../etc"],
    ] {
        let out = doctor(&root, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("invalid value"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = doctor(&root.join("no-such-dir"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
}

#[test]
fn this_machine_gets_a_report_not_a_crash() {
    // The result depends on the host: only its shape is checked.
    let (code, r) = doctor_json(Path::new("/"), &[]);
    assert!(code == 0 || code == 1, "exit {code}: {r:#}");
    assert_eq!(names(&r), CHECKS);
    for c in r["checks"].as_array().unwrap() {
        let status = c["status"].as_str().unwrap();
        assert!(["pass", "warn", "fail", "skip"].contains(&status), "{c:#}");
        assert_eq!(c["remedy"].is_null(), status == "pass", "{c:#}");
    }
    assert_eq!(code == 1, r["fail"].as_u64().unwrap() > 0);
    let out = doctor(Path::new("/"), &[]);
    assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    assert!(String::from_utf8(out.stdout).unwrap().contains("summary: "));
}

/// Writes `files` (path, contents) under a new temporary root.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

#[test]
fn reserved_huge_pages_without_a_mount_of_their_size_are_named() {
    let root = tree(&[
        (
            "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
            "512\n",
        ),
        (
            "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
            "2\n",
        ),
        ("proc/meminfo", "Hugepagesize:       2048 kB\n"),
        // No pagesize option: the default size (meminfo's Hugepagesize).
        (
            "proc/mounts",
            "none /dev/hugepages hugetlbfs rw,relatime 0 0\n",
        ),
    ]);
    let (_, r) = doctor_json(root.path(), &[]);
    assert_problem(
        &r,
        "hugetlbfs",
        "warn",
        "1 GiB pages reserved but no hugetlbfs mount of that size",
        "mount -t hugetlbfs -o pagesize=1G",
    );
    assert!(check(&r, "hugetlbfs")["observed"]
        .as_str()
        .unwrap()
        .contains("(mounted: 2 MiB at /dev/hugepages)"));
    // Reserved pages and no /proc/mounts to look in: named.
    std::fs::remove_file(root.path().join("proc/mounts")).unwrap();
    let (_, r) = doctor_json(root.path(), &[]);
    assert_problem(
        &r,
        "hugetlbfs",
        "warn",
        &root.path().join("proc/mounts").display().to_string(),
        "run on the host itself",
    );
}

#[test]
fn a_nic_on_vfio_without_an_iommu_and_a_capability_instead_of_a_limit() {
    let root = tree(&[
        ("sys/bus/pci/devices/0000:3b:00.0/numa_node", "0\n"),
        ("sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n"),
        (
            "proc/self/limits",
            "Limit  Soft Limit  Hard Limit  Units\nMax locked memory         65536                65536                bytes\n",
        ),
        ("proc/self/status", "Name:\thotpath\nCapEff:\t0000000000004000\n"),
    ]);
    std::os::unix::fs::symlink(
        "../../../bus/pci/drivers/vfio-pci",
        root.path().join("sys/bus/pci/devices/0000:3b:00.0/driver"),
    )
    .unwrap();
    let (_, r) = doctor_json(root.path(), &["--nic", "0000:3b:00.0"]);
    assert_problem(
        &r,
        "iommu",
        "warn",
        "yet bound to vfio-pci in vfio's unsafe no-IOMMU mode",
        "intel_iommu=on",
    );
    assert_pass(&r, "nic_irqs", "a poll-mode driver takes no interrupts");
    // CAP_IPC_LOCK (bit 14) lifts the 64 KiB limit.
    assert_pass(
        &r,
        "memlock",
        "RLIMIT_MEMLOCK 64 KiB (hard 64 KiB), but CAP_IPC_LOCK held: any amount may be locked",
    );
    // Without it, the limit is the problem.
    std::fs::write(
        root.path().join("proc/self/status"),
        "CapEff:\t000001ffffffbfff\n",
    )
    .unwrap();
    let (_, r) = doctor_json(root.path(), &["--nic", "0000:3b:00.0"]);
    assert_problem(
        &r,
        "memlock",
        "warn",
        "RLIMIT_MEMLOCK 64 KiB (hard 64 KiB) and no CAP_IPC_LOCK",
        "ulimit -l unlimited",
    );
}

#[test]
fn a_pinned_core_sharing_its_physical_core_is_named() {
    let root = tree(&[
        ("sys/devices/system/cpu/online", "0-7\n"),
        ("sys/devices/system/cpu/smt/active", "1\n"),
        (
            "sys/devices/system/cpu/cpu2/topology/thread_siblings_list",
            "2,6\n",
        ),
        (
            "sys/devices/system/cpu/cpu3/topology/thread_siblings_list",
            "3,7\n",
        ),
        ("proc/cmdline", "ro isolcpus=2-3,6\n"),
    ]);
    let run = || doctor_json(root.path(), &["--cores", "2,3"]).1;
    // 6 is isolated and unused; 7 is the scheduler's.
    assert_problem(
        &run(),
        "smt",
        "warn",
        "pinned core 3 with 7 shares its physical core with a core the scheduler uses",
        "nosmt",
    );
    std::fs::write(root.path().join("proc/cmdline"), "ro isolcpus=2-3,6-7\n").unwrap();
    assert_pass(
        &run(),
        "smt",
        "2-3: no pinned core shares its physical core with a busy one",
    );
    std::fs::remove_file(
        root.path()
            .join("sys/devices/system/cpu/cpu3/topology/thread_siblings_list"),
    )
    .unwrap();
    assert_problem(
        &run(),
        "smt",
        "warn",
        "no thread_siblings_list for 3",
        "run on the host itself",
    );
}

#[test]
fn a_nic_whose_interrupts_cannot_be_read_is_named() {
    let root = tree(&[
        ("sys/devices/system/cpu/online", "0-3\n"),
        ("sys/class/net/ens2/device/msi_irqs/77", "msix\n"),
        ("proc/irq/77/smp_affinity_list", "not a list\n"),
    ]);
    let run = || doctor_json(root.path(), &["--cores", "2,3", "--nic", "ens2"]).1;
    assert_problem(
        &run(),
        "nic_irqs",
        "skip",
        "ens2: no interrupt with a readable affinity",
        "/proc/interrupts",
    );
    // Readable, and on the housekeeping cores: a pass.
    std::fs::write(root.path().join("proc/irq/77/smp_affinity_list"), "0-1\n").unwrap();
    assert_pass(
        &run(),
        "nic_irqs",
        "ens2: none of its 1 interrupt on the pinned cores 2-3",
    );
}

#[test]
fn a_clock_read_by_system_call_and_kernel_timers_on_pinned_cores_are_named() {
    let cs = "sys/devices/system/clocksource/clocksource0";
    let host = |current: &str, available: &str| {
        tree(&[
            ("sys/devices/system/cpu/online", "0-39\n"),
            (&format!("{cs}/current_clocksource"), current),
            (&format!("{cs}/available_clocksource"), available),
            ("proc/sys/kernel/watchdog", "0\n"),
            // 40 CPUs: the mask's two words, the highest first.
            (
                "sys/devices/virtual/workqueue/cpumask",
                "000000ff,ffff000c\n",
            ),
        ])
    };
    // The HPET is read with a system call; the TSC is offered, so switching is the fix.
    let root = host("hpet\n", "tsc hpet acpi_pm \n");
    let (code, r) = doctor_json(root.path(), &["--cores", "2,3,32"]);
    assert_eq!(code, 1, "{r:#}");
    assert_problem(
        &r,
        "clocksource",
        "fail",
        "hpet: not read in the vDSO, so each clock read is a system call",
        "echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource",
    );
    assert_pass(&r, "watchdog", "off (kernel.watchdog 0)");
    assert_problem(
        &r,
        "workqueue",
        "warn",
        "may run on the pinned cores 2-3,32 (mask ff,ffff000c)",
        "echo fe,fffffff3 > /sys/devices/virtual/workqueue/cpumask",
    );
    // Without a TSC on offer the kernel found it unstable: the host must give one.
    let root = host("acpi_pm\n", "hpet acpi_pm \n");
    let (_, r) = doctor_json(root.path(), &["--cores", "2,3"]);
    assert_problem(
        &r,
        "clocksource",
        "fail",
        "acpi_pm: not read in the vDSO",
        "+invtsc",
    );
    // A mask that is not one is named.
    let root = tree(&[("sys/devices/virtual/workqueue/cpumask", "zz\n")]);
    let (_, r) = doctor_json(root.path(), &["--cores", "2"]);
    assert_problem(
        &r,
        "workqueue",
        "warn",
        "`zz` is not a CPU mask",
        "workqueue/cpumask",
    );
}
