//! DPDK from the command line: `hotpath replay --dpdk` (the real MoldUDP64 capture
//! through a `net_pcap` vdev gives the same summary as the pcap-file replay) and
//! `hotpath feed --source dpdk` (a generated day through a vdev, counted by `hotpath
//! stat` down to the port's own counters). Without feature `dpdk`, the options say
//! how to get a DPDK-enabled binary.

#[cfg(feature = "dpdk")]
mod common;

use std::process::{Command, Output};

#[cfg(feature = "dpdk")]
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_hotpath");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/itch50");
#[cfg(feature = "dpdk")]
const EAL: &str = "--no-huge --no-pci --no-shconf -m 512 -l 0 --log-level=lib.eal:error";

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("run hotpath")
}

#[cfg(feature = "dpdk")]
fn ok(cmd: &mut Command) -> Output {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn capture() -> String {
    format!("{DATA}/moldudp64_multiple_packets.pcap")
}

/// The summary without its timings.
#[cfg(feature = "dpdk")]
fn summary(out: &Output) -> Value {
    let mut v: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    let o = v.as_object_mut().unwrap();
    o.remove("seconds");
    o.remove("messages_per_s");
    v
}

#[cfg(feature = "dpdk")]
#[test]
fn replay_through_a_pcap_vdev_matches_the_file_replay() {
    let file = summary(&ok(Command::new(EXE).args([
        "replay",
        &capture(),
        "--json",
    ])));
    let dpdk_out = ok(Command::new(EXE).args(["replay", &capture(), "--json", "--dpdk", EAL]));
    let dpdk = summary(&dpdk_out);
    assert_eq!(dpdk, file);
    // The timing covers the packets only: two packets take microseconds, where the
    // EAL's start-up and the port's 500 ms idle end (both outside it) take longer.
    let timed: Value = serde_json::from_slice(&dpdk_out.stdout).unwrap();
    let secs = timed["seconds"].as_f64().unwrap();
    assert!(secs < 0.5, "replay --dpdk timed {secs} s for two packets");
    assert!(file["messages"].as_u64().unwrap() > 0);
    // The device can also be named in the EAL arguments, with the port chosen by name.
    let eal = format!("{EAL} --vdev=net_pcap5,rx_pcap={}", capture());
    let named = summary(&ok(Command::new(EXE).args([
        "replay",
        "--json",
        "--dpdk",
        &eal,
        "--dpdk-port",
        "net_pcap5",
    ])));
    assert_eq!(named["messages"], file["messages"]);
    assert_eq!(named["types"], file["types"]);
}

#[cfg(feature = "dpdk")]
#[test]
fn feed_from_a_dpdk_port_publishes_and_counts_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("day.pcap");
    ok(Command::new(EXE)
        .args([
            "gen",
            "--messages",
            "200000",
            "--seed",
            "3",
            "--symbols",
            "20",
            "--pcap",
            "--quiet",
            "--out",
        ])
        .arg(&pcap));
    let shm_root = dir.path().join("shm");
    let env = |c: &mut Command| {
        c.env("HOTPATH_SHM_ROOT", &shm_root)
            .env("HOTPATH_INSTANCE", "dpdk");
    };
    let eal = format!("{EAL} --vdev=net_pcap0,rx_pcap={}", pcap.display());
    let mut feed = Command::new(EXE);
    env(&mut feed);
    let out = ok(feed.args([
        "feed",
        "--source",
        "dpdk:net_pcap0",
        "--dpdk",
        &eal,
        "--until-end-of-session",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dpdk port 0 (net_pcap0, driver net_pcap)"),
        "{err}"
    );
    assert!(err.contains("stopped after 200,000 messages"), "{err}");

    // The counters stay behind in the instance for `hotpath stat`.
    let mut stat = Command::new(EXE);
    env(&mut stat);
    let out = ok(stat.args(["stat", "--once", "--json"]));
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), 200_000);
    assert_eq!(counter("messages_lost"), 0);
    let packets = counter("packets_a");
    assert!(packets > 1_000);
    assert_eq!(
        counter("nic_ipackets"),
        packets,
        "every packet the port took was handled"
    );
    assert_eq!(counter("nic_imissed"), 0);
    assert_eq!(counter("nic_ierrors"), 0);
}

#[cfg(feature = "dpdk")]
#[test]
fn dpdk_mistakes_are_rejected_before_anything_starts() {
    // No EAL arguments for a dpdk source.
    let out = output(Command::new(EXE).args(["feed", "--source", "dpdk", "--instance", "x"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--source dpdk needs --dpdk"));
    // A port that is not there.
    let out = output(Command::new(EXE).args([
        "replay",
        &capture(),
        "--dpdk",
        EAL,
        "--dpdk-port",
        "net_pcap7",
    ]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no DPDK port \"net_pcap7\""), "{err}");
    // A bad EAL argument.
    let out = output(Command::new(EXE).args([
        "replay",
        &capture(),
        "--dpdk",
        "--no-huge --no-such-eal-option",
    ]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("EAL init"));
}

#[cfg(not(feature = "dpdk"))]
#[test]
fn without_the_feature_dpdk_options_say_how_to_get_it() {
    for args in [
        vec![
            "replay".to_string(),
            capture(),
            "--dpdk".into(),
            "--no-huge".into(),
        ],
        vec![
            "feed".into(),
            "--source".into(),
            "dpdk".into(),
            "--dpdk".into(),
            "--no-huge".into(),
            "--instance".into(),
            "nodpdk".into(),
        ],
    ] {
        let out = output(Command::new(EXE).args(&args));
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("built without DPDK") && err.contains("--features dpdk"),
            "{err}"
        );
    }
    assert!(std::path::Path::new(&capture()).exists());
}
