//! The ring benchmark harness end to end, small: a few thousand round trips and a
//! couple of hundred thousand messages, so it takes seconds.
//!
//! Runs without libtest's harness (`harness = false`): this binary re-executes itself
//! as the cross-process echo child (`spawn_self_echo` / `run_self_echo_if_requested`).

use std::time::Instant;

use hotpath_benches::ring::{self, RingBenchConfig, RingReport};

const RTT_KINDS: [&str; 5] = ["pingpong", "shm", "shm_xproc", "rtrb", "crossbeam"];

fn main() {
    if let Some(result) = ring::run_self_echo_if_requested() {
        if let Err(e) = result {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let tests: &[(&str, fn())] = &[
        (
            "report_has_every_key_with_sane_values",
            report_has_every_key_with_sane_values,
        ),
        ("bad_configs_are_refused", bad_configs_are_refused),
        (
            "a_failing_echo_child_is_an_error_not_a_hang",
            a_failing_echo_child_is_an_error_not_a_hang,
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
    eprintln!("ring_report: {ran} passed");
}

fn quick(dir: &std::path::Path) -> RingBenchConfig {
    RingBenchConfig {
        round_trips: 3_000,
        throughput_messages: 100_000,
        throughput_rounds: 3,
        capacity: 1024,
        cores: None,
        shm_dir: dir.join("rings"),
    }
}

fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("hotpath-bench-test-")
            .tempdir_in(shm)
            .unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

fn report_has_every_key_with_sane_values() {
    let d = scratch();
    let cfg = quick(d.path());
    let r: RingReport = ring::run(&cfg, &ring::spawn_self_echo).expect("benchmark runs");

    // JSON: every key the CLI and dashboards rely on.
    let json = serde_json::to_value(&r).unwrap();
    let obj = json.as_object().unwrap();
    let mut keys: Vec<String> = Vec::new();
    for kind in RTT_KINDS {
        for q in ["p50", "p99", "p999", "max"] {
            keys.push(format!("{kind}_rtt_ns_{q}"));
        }
    }
    for k in [
        "shm_msgs_per_s",
        "rtrb_msgs_per_s",
        "crossbeam_msgs_per_s",
        "shm_batch_msgs_per_s",
        "shm_vs_rtrb_throughput",
        "shm_xproc_rtt_p50_vs_floor",
        "clock_overhead_ns",
        "round_trips",
        "throughput_messages",
        "cores",
        "machine",
        "target_throughput_ge_rtrb",
        "target_xproc_rtt_le_4x_floor",
    ] {
        keys.push(k.to_string());
    }
    for k in &keys {
        assert!(obj.contains_key(k), "JSON lacks `{k}`: {json:#}");
    }
    for kind in RTT_KINDS {
        let q = |s: &str| obj[&format!("{kind}_rtt_ns_{s}")].as_u64().unwrap();
        let (p50, p99, p999, max) = (q("p50"), q("p99"), q("p999"), q("max"));
        assert!(p50 > 0, "{kind}: p50 is 0");
        assert!(
            p50 <= p99 && p99 <= p999 && p999 <= max,
            "{kind}: percentiles out of order: {p50} {p99} {p999} {max}"
        );
        assert!(max < 60_000_000_000, "{kind}: max {max} ns is absurd");
    }
    for k in [
        "shm_msgs_per_s",
        "rtrb_msgs_per_s",
        "crossbeam_msgs_per_s",
        "shm_batch_msgs_per_s",
    ] {
        let v = obj[k].as_u64().unwrap();
        assert!(v > 0, "{k} is 0");
        let rounds = obj[&format!("{k}_rounds")].as_array().unwrap();
        assert_eq!(rounds.len(), 3, "{k}: one result per round");
    }
    assert!(obj["machine"]["logical_cores"].as_u64().unwrap() >= 1);
    for k in ["cpu_model", "kernel", "hostname"] {
        assert!(
            !obj["machine"][k].as_str().unwrap().is_empty(),
            "machine.{k}"
        );
    }

    // The derived values agree with the raw ones.
    assert_eq!(r.round_trips, 3_000);
    assert_eq!(r.throughput_messages, 100_000);
    assert_eq!(r.message_bytes, 64);
    // The throughput ratio is the median of the per-round ratios (shm and rtrb paired).
    let mut per_round: Vec<f64> = r
        .shm_msgs_per_s_rounds
        .iter()
        .zip(&r.rtrb_msgs_per_s_rounds)
        .map(|(&s, &q)| s as f64 / q as f64)
        .collect();
    per_round.sort_by(f64::total_cmp);
    assert!((r.shm_vs_rtrb_throughput - per_round[per_round.len() / 2]).abs() < 1e-9);
    let floor = r.shm_xproc_rtt_ns_p50 as f64 / r.pingpong_rtt_ns_p50 as f64;
    assert!((r.shm_xproc_rtt_p50_vs_floor - floor).abs() < 1e-9);
    assert_eq!(r.target_throughput_ge_rtrb, r.shm_vs_rtrb_throughput >= 1.0);
    assert_eq!(
        r.target_xproc_rtt_le_4x_floor,
        r.shm_xproc_rtt_ns_p50 <= 4 * r.pingpong_rtt_ns_p50
    );
    match r.cores {
        Some([a, b]) => {
            assert_ne!(a, b);
            assert!(r.pinned);
        }
        None => {
            assert!(!r.pinned);
            assert!(
                r.notes.iter().any(|n| n.contains("unpinned")),
                "{:?}",
                r.notes
            );
        }
    }

    // The table names every measurement and the machine.
    let mut out = Vec::new();
    ring::print_table(&r, &mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    for needle in [
        "pingpong",
        "processes",
        "rtrb",
        "crossbeam",
        "batches of 64",
        "machine:",
        "p99.9",
    ] {
        assert!(table.contains(needle), "table lacks {needle:?}:\n{table}");
    }
    eprintln!("{table}");

    // It cleaned up after itself: the ring directory it created is gone.
    assert!(
        !cfg.shm_dir.exists(),
        "left {} behind",
        cfg.shm_dir.display()
    );
}

fn bad_configs_are_refused() {
    let d = scratch();
    let never = |_: &std::path::Path,
                 _: &std::path::Path,
                 _: Option<usize>|
     -> std::io::Result<std::process::Child> {
        panic!("must not get as far as spawning")
    };
    for cfg in [
        RingBenchConfig {
            capacity: 100,
            ..quick(d.path())
        },
        RingBenchConfig {
            round_trips: 0,
            ..quick(d.path())
        },
        RingBenchConfig {
            cores: Some((0, 0)),
            ..quick(d.path())
        },
    ] {
        assert!(ring::run(&cfg, &never).is_err(), "{cfg:?}");
    }
}

fn a_failing_echo_child_is_an_error_not_a_hang() {
    let d = scratch();
    let cfg = RingBenchConfig {
        throughput_messages: 1_000,
        ..quick(d.path())
    };
    // A child that exits at once without echoing anything.
    let bad = |_: &std::path::Path, _: &std::path::Path, _: Option<usize>| {
        std::process::Command::new("true").spawn()
    };
    let t = Instant::now();
    let err = ring::run(&cfg, &bad).unwrap_err();
    assert!(err.contains("shm_xproc") && err.contains("exited"), "{err}");
    assert!(t.elapsed().as_secs() < 20, "took {:?}", t.elapsed());
    assert!(
        !cfg.shm_dir.exists(),
        "left {} behind",
        cfg.shm_dir.display()
    );
}
