//! `hotpath bench sources --json` (issue 4's benchmark) on a small capture, one short
//! round: every figure is there and positive, and the report agrees with itself. No
//! speed target is asserted (the machines are shared and noisy).
#![cfg(feature = "dpdk")]

use std::process::Command;

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_hotpath");

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn bench_sources_reports_every_source_and_a_consistent_ratio() {
    let out = Command::new(EXE)
        .args([
            "bench",
            "sources",
            "--json",
            "--seconds",
            "1",
            "--rounds",
            "1",
            "--warmup",
            "0.2",
            "--messages",
            "100000",
        ])
        .output()
        .expect("run hotpath");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "hotpath bench sources failed:\n{stderr}"
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON report on stdout");
    let num = |k: &str| -> f64 {
        r.get(k)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("no number `{k}` in {r:#}"))
    };
    for k in [
        "dpdk_pps",
        "pcap_pps",
        "recvmmsg_pps",
        "testpmd_rxonly_pps",
        "dpdk_vs_testpmd",
        "dpdk_vs_testpmd_paired_median",
        "target_ratio",
        "dpdk_no_decode_pps",
        "dpdk_no_decode_vs_testpmd",
        "dpdk_framing_only_pps",
        "dpdk_framing_only_vs_testpmd",
        "dpdk_msgs_per_s",
        "packets",
        "bytes",
        "messages",
        "max_packet",
        "mean_payload_bytes",
        "recvmmsg_sender_pps",
        "recvmmsg_sent",
        "recvmmsg_received",
        "seconds",
        "rounds",
    ] {
        assert!(num(k) > 0.0, "`{k}` is {} in {r:#}", num(k));
    }
    assert!(r["met"].is_boolean());
    assert!(r["recvmmsg_drops"].is_u64());
    assert!(r["machine"]["logical_cores"].as_u64().unwrap() >= 1);

    // The report agrees with itself.
    assert_eq!(num("messages"), 100_000.0);
    assert_eq!(num("rounds"), 1.0);
    assert_eq!(num("target_ratio"), 0.8);
    let ratio = num("dpdk_pps") / num("testpmd_rxonly_pps");
    assert!(close(num("dpdk_vs_testpmd"), ratio), "{r:#}");
    // One round: the paired median is that round's ratio.
    assert!(close(num("dpdk_vs_testpmd_paired_median"), ratio), "{r:#}");
    assert_eq!(r["met"].as_bool(), Some(ratio >= 0.8));
    assert!(close(
        num("dpdk_no_decode_vs_testpmd"),
        num("dpdk_no_decode_pps") / num("testpmd_rxonly_pps")
    ));
    assert!(close(
        num("dpdk_framing_only_vs_testpmd"),
        num("dpdk_framing_only_pps") / num("testpmd_rxonly_pps")
    ));
    assert_eq!(
        num("recvmmsg_drops"),
        num("recvmmsg_sent") - num("recvmmsg_received")
    );
    for (k, v) in [
        ("dpdk_pps_rounds", "dpdk_pps"),
        ("testpmd_rxonly_pps_rounds", "testpmd_rxonly_pps"),
        ("dpdk_framing_only_pps_rounds", "dpdk_framing_only_pps"),
        ("dpdk_no_decode_pps_rounds", "dpdk_no_decode_pps"),
        ("pcap_pps_rounds", "pcap_pps"),
        ("recvmmsg_pps_rounds", "recvmmsg_pps"),
    ] {
        let rounds = r[k].as_array().unwrap_or_else(|| panic!("no `{k}`"));
        assert_eq!(rounds.len(), 1, "{k}");
        assert!(close(rounds[0].as_f64().unwrap(), num(v)), "{k}");
    }
    // About 43 messages per 1400-byte packet, plus the end-of-session packet.
    let per_packet = num("messages") / num("packets");
    assert!((20.0..80.0).contains(&per_packet), "{per_packet}");
    // The table went to stderr.
    assert!(stderr.contains("dpdk-testpmd rxonly"), "{stderr}");
    assert!(stderr.contains("framing only"), "{stderr}");
    assert!(stderr.contains("DPDK source / testpmd rxonly"), "{stderr}");
}
