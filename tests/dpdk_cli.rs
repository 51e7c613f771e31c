//! DPDK from the command line: `hotpath replay --dpdk` (the real MoldUDP64 capture
//! through a `net_pcap` vdev gives the same summary as the pcap-file replay) and
//! `hotpath feed --source dpdk` (a generated day through a vdev, counted by `hotpath
//! stat` down to the port's own counters; joining the lines' groups with IGMP, behind
//! a snooping bridge and on two ports). Without feature `dpdk`, the options say
//! how to get a DPDK-enabled binary.

#[cfg(feature = "dpdk")]
mod common;
#[cfg(feature = "dpdk")]
#[path = "../feed-handler/tests/net_support/mod.rs"]
mod net_support;

use std::process::{Command, Output};

#[cfg(feature = "dpdk")]
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_hotpath");
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/itch50");
#[cfg(feature = "dpdk")]
const EAL: &str = "--no-huge --no-pci --no-shconf -m 512 -l 0 --log-level=lib.eal:error";

/// The test that spins a SCHED_FIFO thread on a core takes this alone: while it runs,
/// that core does nothing else, and a live test beside it would lose packets. Every
/// other test shares it.
static CORES: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared_cores() -> std::sync::RwLockReadGuard<'static, ()> {
    CORES.read().unwrap_or_else(|e| e.into_inner())
}

#[cfg(feature = "dpdk")]
fn all_cores() -> std::sync::RwLockWriteGuard<'static, ()> {
    CORES.write().unwrap_or_else(|e| e.into_inner())
}

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
    let _cores = shared_cores();
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
    let _cores = shared_cores();
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
        err.contains("dpdk port 0 (net_pcap0, driver net_pcap, link up at 10 Gb/s)"),
        "{err}"
    );
    assert!(err.contains("stopped after 200,000 messages"), "{err}");

    // The counters stay behind in the instance for `hotpath stat`.
    let snap = common::stat_snapshot(EXE, env);
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

/// Generates a day into `pcap` (MoldUDP64 to 239.1.1.1:26477).
#[cfg(feature = "dpdk")]
fn generate(pcap: &std::path::Path, messages: u64, seed: u64) {
    ok(Command::new(EXE)
        .args(["gen", "--messages", &messages.to_string()])
        .args(["--seed", &seed.to_string(), "--symbols", "20", "--pcap"])
        .args(["--quiet", "--out"])
        .arg(pcap));
}

#[cfg(feature = "dpdk")]
#[test]
fn the_rx_queue_is_sized_from_the_source_and_a_small_one_is_named() {
    let _cores = shared_cores();
    // net_pcap's infinite_rx keeps an mbuf per packet of its file: 9,209 packets here,
    // more than the default pool of 8,191.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("day.pcap");
    generate(&pcap, 400_000, 5);
    let eal = format!(
        "{EAL} --vdev=net_pcap0,rx_pcap={},infinite_rx=1",
        pcap.display()
    );
    let feed = |source: &str| {
        output(
            Command::new(EXE)
                .env("HOTPATH_SHM_ROOT", dir.path().join("shm"))
                .args(["feed", "--source", source, "--dpdk", &eal])
                .args(["--until-end-of-session", "--instance", "sized"]),
        )
    };
    let out = feed("dpdk");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("RX queue 0 with 1024 descriptors and a pool of 8191 mbufs failed")
            && err.contains("mbufs=N"),
        "{err}"
    );
    let out = feed("dpdk:net_pcap0?a=239.1.1.1:26477&rx_desc=512&mbufs=16383");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("stopped after 400,000 messages"), "{err}");
}

#[cfg(feature = "dpdk")]
#[test]
fn feed_on_af_packet_takes_lines_a_and_b_and_recovers_gaps_from_the_request_server() {
    let _cores = shared_cores();
    use hotpath_hw::discipline::{has_capability, CAP_NET_ADMIN, CAP_NET_RAW};
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("day.pcap");
    const MESSAGES: u64 = 200_000;
    generate(&pcap, MESSAGES, 6);
    let port = 34_000 + (std::process::id() % 8_000) as u16;
    let (a, b) = (format!("239.203.1.1:{port}"), format!("239.203.1.2:{port}"));
    let request = format!("127.0.0.1:{}", port + 10_000);
    let shm_root = dir.path().join("shm");
    let env = |c: &mut Command| {
        c.env("HOTPATH_SHM_ROOT", &shm_root)
            .env("HOTPATH_INSTANCE", "ab");
    };
    let mut feed = Command::new(EXE);
    env(&mut feed);
    feed.args(["feed", "--source"])
        .arg(format!("dpdk:net_af_packet0?a={a}&b={b}&request={request}"))
        .args(["--dpdk", &format!("{EAL} --vdev=net_af_packet0,iface=lo")])
        .arg("--until-end-of-session");
    if !(has_capability(CAP_NET_RAW) && has_capability(CAP_NET_ADMIN)) {
        // The packet socket and the link's flags need both: refused, naming the device.
        let out = output(&mut feed);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("net_af_packet0"));
        return;
    }
    let mut feed = common::Killed::quiet(&mut feed);
    let counters = shm_root.join("ab").join("feed.counters");
    common::wait_for(&counters, "the feed's counters");
    // Both lines, each dropping 5% of its packets on its own: most gaps are filled by
    // the other line, the rest (a packet both lines lost) by the request server.
    let sender = ok(Command::new(EXE)
        .args(["send", "--to", &a, "--b", &b, "--iface", "lo"])
        .args(["--rate", "20000", "--drop", "0.05", "--seed", "3"])
        .args(["--serve-requests", &request, "--linger-ms", "1500"])
        .arg(&pcap));
    let (status, err) = feed.finish(std::time::Duration::from_secs(30), || {
        format!("the feed never saw the end of session; sender: {sender:?}")
    });
    assert!(status.success(), "{err}\nsender: {sender:?}");
    assert!(
        err.contains("dpdk port 0 (net_af_packet0, driver net_af_packet, link up at 10 Gb/s)"),
        "{err}"
    );
    assert!(err.contains("stopped after 200,000 messages"), "{err}");

    let snap = common::stat_snapshot(EXE, env);
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), MESSAGES);
    assert_eq!(counter("messages_lost"), 0);
    assert_eq!(counter("next_sequence"), MESSAGES + 1);
    assert!(counter("packets_a") > 1_000 && counter("packets_b") > 1_000);
    assert!(counter("gaps") > 0, "the drops made gaps");
    assert!(counter("messages_recovered") > 0);
    assert!(
        counter("requests_sent") > 0 && counter("packets_retransmitted") > 0,
        "packets both lines lost came from the request server"
    );
    assert_eq!(counter("nic_imissed"), 0);
}

#[cfg(feature = "dpdk")]
#[test]
fn feed_on_two_ports_takes_line_a_from_one_and_line_b_from_the_other() {
    let _cores = shared_cores();
    use hotpath_feed::gen::{self, GenConfig, Generator, PcapOptions};
    const MESSAGES: u64 = 150_000;
    let dir = tempfile::tempdir().unwrap();
    // The same day to line A's group in one capture and line B's in the other.
    let write = |name: &str, group: &str| {
        let path = dir.path().join(name);
        let opts = PcapOptions {
            dst: group.parse().unwrap(),
            ..PcapOptions::default()
        };
        let cfg = GenConfig {
            messages: MESSAGES,
            seed: 31,
            symbols: 20,
            live_target: None,
        };
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let (_, packets) =
            gen::write_pcap(Generator::new(cfg).unwrap(), file, &opts, |_| {}).unwrap();
        (path, packets)
    };
    let (a, b) = ("239.1.1.1:26477", "239.1.1.2:26477");
    let ((cap_a, packets), (cap_b, _)) = (write("a.pcap", a), write("b.pcap", b));
    let eal = format!(
        "{EAL} --vdev=net_pcap0,rx_pcap={} --vdev=net_pcap1,rx_pcap={}",
        cap_a.display(),
        cap_b.display()
    );
    let shm_root = dir.path().join("shm");
    let env = |c: &mut Command| {
        c.env("HOTPATH_SHM_ROOT", &shm_root)
            .env("HOTPATH_INSTANCE", "two");
    };
    let mut feed = Command::new(EXE);
    env(&mut feed);
    let out = ok(feed.args([
        "feed",
        "--source",
        &format!("dpdk:net_pcap0,net_pcap1?a={a}&b={b}"),
        "--dpdk",
        &eal,
        "--until-end-of-session",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(net_pcap0, driver net_pcap, link up at 10 Gb/s) + dpdk port 1 (net_pcap1, driver net_pcap, link up at 10 Gb/s), taken in sequence order"),
        "{err}"
    );
    assert!(err.contains("stopped after 150,000 messages"), "{err}");
    let snap = common::stat_snapshot(EXE, env);
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), MESSAGES);
    assert_eq!(counter("messages_lost"), 0);
    assert_eq!(counter("other_destinations"), 0);
    // Every packet came on both lines; one copy of each message was applied.
    let (pa, pb) = (counter("packets_a"), counter("packets_b"));
    assert!(pa > 1_000 && pb > 1_000, "{pa} {pb}");
    // (The feed stops at the end of session, maybe before the other port's last
    // packets.)
    assert!(pa <= packets && pb <= packets && pa.max(pb) == packets);
    assert!(counter("duplicates_a") + counter("duplicates_b") > 0);
    assert_eq!(counter("nic_ipackets"), pa + pb, "both ports' counters");
    // Taken in sequence order, the copies of one packet tie and line A's port (the
    // first) wins: every data packet (not the end of session) came first on line A.
    assert_eq!(counter("gaps"), 0);
    assert_eq!(
        (counter("packets_first_a"), counter("packets_first_b")),
        (packets - 1, 0)
    );
}

/// `hotpath feed --source "dpdk:net_af_packet0?{query}" --until-end-of-session` on
/// `iface`, the DPDK side of a test bridge, with `env`'s instance: returned once the
/// switch lists the port (`joined`) and forwards to it. `None` without the capabilities
/// an AF_PACKET port needs, once the refusal naming the device is checked.
///
/// Forwarding: the feed must have heard the bridge's querier (its `igmp_queries`). A
/// Linux bridge floods, rather than trusting its snooping table, for one query response
/// interval after its querier starts, and flooding is off on the feed's port, so a
/// stream started earlier loses its first packets there (and the MoldUDP64 session
/// starts at the first packet it sees).
#[cfg(feature = "dpdk")]
fn feed_behind_the_switch(
    env: impl Fn(&mut Command),
    iface: &str,
    query: &str,
    joined: impl Fn() -> bool,
) -> Option<common::Killed> {
    use hotpath_hw::discipline::{has_capability, CAP_NET_ADMIN, CAP_NET_RAW};
    use std::time::{Duration, Instant};
    let mut cmd = Command::new(EXE);
    env(&mut cmd);
    cmd.args(["feed", "--until-end-of-session", "--source"])
        .arg(format!("dpdk:net_af_packet0?{query}"))
        .args([
            "--dpdk",
            &format!("{EAL} --vdev=net_af_packet0,iface={iface}"),
        ]);
    if !(has_capability(CAP_NET_RAW) && has_capability(CAP_NET_ADMIN)) {
        let out = output(&mut cmd);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("net_af_packet0"));
        return None;
    }
    assert!(!joined(), "a member before the feed started");
    let mut feed = common::Killed::quiet(&mut cmd);
    let end = Instant::now() + Duration::from_secs(30);
    let mut running = |what: &str| {
        assert!(
            Instant::now() < end && feed.0.try_wait().unwrap().is_none(),
            "{what}"
        );
    };
    while !joined() {
        running("the switch never saw the port join");
        std::thread::sleep(Duration::from_millis(20));
    }
    while common::stat_counter(&common::stat_snapshot(EXE, &env), "feed", "igmp_queries") == 0 {
        running("the feed never heard the switch's querier");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    Some(feed)
}

/// Waits (at most a second) until the switch no longer lists the stopped feed's port:
/// its leave took effect at once, well before a membership would lapse (4 s).
#[cfg(feature = "dpdk")]
fn forgotten_at_once(member: impl Fn() -> bool) {
    use std::time::{Duration, Instant};
    let left = Instant::now();
    while member() {
        assert!(
            left.elapsed() < Duration::from_millis(1_000),
            "the switch still lists the port a second after the feed stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(feature = "dpdk")]
#[test]
fn a_dpdk_port_joins_its_group_on_a_snooping_switch_answers_its_queries_and_leaves() {
    let _cores = shared_cores();
    use std::time::Duration;
    // A Linux bridge with IGMP snooping stands in for the exchange's switch: it is the
    // querier (a general query every second) and forwards the feed's group to the
    // DPDK port only while a host there is a member (flooding of unknown multicast is
    // off on that port, and a membership lapses 4 s after its last report). The feed
    // runs about 7 s, so it receives everything only if it joined and kept answering.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("day.pcap");
    const MESSAGES: u64 = 600_000;
    generate(&pcap, MESSAGES, 9);
    let bridge = net_support::SnoopingBridge::new(74);
    let dpdk_side = net_support::Veth::new(75);
    let sender_side = net_support::Veth::new(76);
    bridge.attach(&dpdk_side.tx, false);
    bridge.attach(&sender_side.rx, true);
    let port = 35_000 + (std::process::id() % 8_000) as u16;
    let group: std::net::Ipv4Addr = "239.204.74.1".parse().unwrap();
    let shm_root = dir.path().join("shm");
    let env = |c: &mut Command| {
        c.env("HOTPATH_SHM_ROOT", &shm_root)
            .env("HOTPATH_INSTANCE", "igmp");
    };
    let query = format!(
        "a={group}:{port}&igmp=v3&ip={}",
        net_support::link_local(74)
    );
    let member = || bridge.has_member(&dpdk_side.tx, group);
    let Some(mut feed) = feed_behind_the_switch(env, &dpdk_side.rx, &query, member) else {
        return;
    };
    let sender = ok(Command::new(EXE)
        .args(["send", "--to", &format!("{group}:{port}")])
        .args(["--iface", &sender_side.tx, "--rate", "2000"])
        .arg(&pcap));
    let (status, err) = feed.finish(Duration::from_secs(20), || {
        format!(
            "the feed never saw the end of session (the switch stopped forwarding?); sender: {sender:?}; member: {}; counters: {}",
            bridge.has_member(&dpdk_side.tx, group),
            common::stat_snapshot(EXE, env)
        )
    });
    // The leave (the last answer was at most 1.5 s ago).
    forgotten_at_once(member);
    assert!(status.success(), "{err}");
    assert!(err.contains(&format!("joins {group} with IGMP")), "{err}");
    let snap = common::stat_snapshot(EXE, env);
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), MESSAGES, "{err}\n{snap}");
    assert_eq!(counter("messages_lost"), 0);
    assert!(
        counter("igmp_queries") >= 5,
        "the switch's queries were heard: {}",
        counter("igmp_queries")
    );
    assert!(
        counter("igmp_sent") >= 2 + 5,
        "the join and an answer to each query: {}",
        counter("igmp_sent")
    );
    assert_eq!(counter("igmp_send_failures") + counter("igmp_malformed"), 0);
}

#[cfg(feature = "dpdk")]
#[test]
fn a_version_3_snooping_switch_forwards_a_joined_channel_from_its_source_only() {
    let _cores = shared_cores();
    use std::time::Duration;
    // The bridge speaks IGMP version 3: it keeps the port's source list and forwards a
    // group from the sources joined only. Two hosts send to one group at once from the
    // sender's two addresses: the day the feed joined (its source) and another day of
    // the same session.
    let dir = tempfile::tempdir().unwrap();
    let (day, other) = (dir.path().join("day.pcap"), dir.path().join("other.pcap"));
    const MESSAGES: u64 = 200_000;
    generate(&day, MESSAGES, 13);
    generate(&other, 50_000, 14);
    let bridge = net_support::SnoopingBridge::with_version(77, 3);
    let dpdk_side = net_support::Veth::new(78);
    let sender_side = net_support::Veth::new(79);
    let (source, intruder) = (net_support::link_local(79), net_support::link_local(80));
    net_support::ip(&[
        "addr",
        "add",
        &format!("{intruder}/32"),
        "dev",
        &sender_side.tx,
    ]);
    bridge.attach(&dpdk_side.tx, false);
    bridge.attach(&sender_side.rx, true);
    let port = 36_000 + (std::process::id() % 8_000) as u16;
    let group: std::net::Ipv4Addr = "232.204.77.1".parse().unwrap();
    let shm_root = dir.path().join("shm");
    let env = |c: &mut Command| {
        c.env("HOTPATH_SHM_ROOT", &shm_root)
            .env("HOTPATH_INSTANCE", "ssm3");
    };
    let query = format!(
        "a={group}:{port}&a_source={source}&igmp=v3&ip={}",
        net_support::link_local(77)
    );
    let member = || bridge.has_member_from(&dpdk_side.tx, group, source);
    let Some(mut feed) = feed_behind_the_switch(env, &dpdk_side.rx, &query, member) else {
        return;
    };
    assert!(!bridge.has_member_from(&dpdk_side.tx, group, intruder));
    let send = |pcap: &std::path::Path, from: std::net::Ipv4Addr| {
        common::Killed::quiet(
            Command::new(EXE)
                .args(["send", "--to", &format!("{group}:{port}")])
                .args(["--iface", &sender_side.tx, "--rate", "2000"])
                .args(["--from", &from.to_string()])
                .arg(pcap),
        )
    };
    let _other = send(&other, intruder);
    let _day = send(&day, source);
    let (status, err) = feed.finish(Duration::from_secs(30), || {
        format!(
            "the feed never saw the end of session; counters: {}",
            common::stat_snapshot(EXE, env)
        )
    });
    // The leave (BLOCK_OLD_SOURCES).
    forgotten_at_once(member);
    assert!(status.success(), "{err}");
    assert!(
        err.contains(&format!("joins {group} from {source} with IGMP")),
        "{err}"
    );
    let snap = common::stat_snapshot(EXE, env);
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), MESSAGES, "{err}\n{snap}");
    assert_eq!(counter("messages_lost"), 0);
    // The switch, not the feed, kept the other host's datagrams out.
    assert_eq!(
        counter("other_sources"),
        0,
        "the switch forwarded another source"
    );
    assert_eq!(counter("duplicates_a") + counter("unknown_refs"), 0);
    assert!(
        counter("igmp_queries") >= 2,
        "the version 3 queries were answered"
    );
    assert_eq!(counter("igmp_send_failures") + counter("igmp_malformed"), 0);
}

#[cfg(feature = "dpdk")]
#[test]
fn each_port_joins_both_lines_groups_from_its_own_address() {
    let _cores = shared_cores();
    // Two net_pcap ports whose TX goes to a capture of its own: what each port sent,
    // read back by tshark.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("day.pcap");
    generate(&pcap, 20_000, 12);
    let tx = |k: u8| dir.path().join(format!("tx{k}.pcap"));
    let eal = format!(
        "{EAL} --vdev=net_pcap0,rx_pcap={p},tx_pcap={} --vdev=net_pcap1,rx_pcap={p},tx_pcap={}",
        tx(0).display(),
        tx(1).display(),
        p = pcap.display()
    );
    let shm_root = dir.path().join("shm");
    let env = |c: &mut Command| {
        c.env("HOTPATH_SHM_ROOT", &shm_root)
            .env("HOTPATH_INSTANCE", "join2");
    };
    let mut feed = Command::new(EXE);
    env(&mut feed);
    let out = ok(feed
        .args(["feed", "--source"])
        .arg(
            "dpdk:net_pcap0,net_pcap1?a=239.1.1.1:26477&b=239.1.1.2:26477\
             &igmp=v2&ip=10.0.0.1,10.0.0.2&vlan=141",
        )
        .args(["--dpdk", &eal, "--until-end-of-session"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.matches("joins 239.1.1.1, 239.1.1.2 with IGMP").count() == 2,
        "{err}"
    );
    let mut frames = 0;
    for (k, ip) in [(0, "10.0.0.1"), (1, "10.0.0.2")] {
        let fields = ok(Command::new("tshark")
            .arg("-r")
            .arg(tx(k))
            .args(["-T", "fields", "-E", "separator=,"])
            .args(["-e", "vlan.id", "-e", "ip.src", "-e", "ip.dst"])
            .args(["-e", "igmp.type", "-e", "igmp.maddr"]));
        let rows: Vec<String> = String::from_utf8_lossy(&fields.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        // A report of each group (a second round if the replay lasted a second), then a
        // leave of each.
        let report = |g: &str| format!("141,{ip},{g},0x16,{g}");
        let leave = |g: &str| format!("141,{ip},224.0.0.2,0x17,{g}");
        let (g1, g2) = ("239.1.1.1", "239.1.1.2");
        let n = rows.len();
        assert!(n == 4 || n == 6, "port {k}: {rows:?}");
        assert_eq!(rows[..2], [report(g1), report(g2)], "port {k}");
        assert_eq!(rows[n - 2..], [leave(g1), leave(g2)], "port {k}");
        frames += n as u64;
    }
    // The leaves are counted too: the feed closes its source before its last publish.
    let snap = common::stat_snapshot(EXE, env);
    assert_eq!(common::stat_counter(&snap, "feed", "igmp_sent"), frames);
}

#[cfg(feature = "dpdk")]
#[test]
fn a_dpdk_port_makes_no_system_call_in_the_feed_loop() {
    let _cores = shared_cores();
    // net_pcap's infinite_rx holds the capture in mbufs, so the port itself needs no
    // system call; a request server is configured and, with no gap, never asked.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("day.pcap");
    generate(&pcap, 100_000, 7);
    let shm = tempfile::Builder::new()
        .prefix("hotpath-sys-")
        .tempdir_in("/dev/shm")
        .unwrap();
    let args: Vec<String> = [
        "--source",
        "dpdk:net_pcap0?a=239.1.1.1:26477&request=127.0.0.1:9",
        "--dpdk",
        &format!(
            "{EAL} --vdev=net_pcap0,rx_pcap={},infinite_rx=1",
            pcap.display()
        ),
        "--idle",
        "busy-spin",
        "--until-end-of-session",
    ]
    .map(String::from)
    .to_vec();
    let calls = common::hot_loop_syscalls(EXE, shm.path(), &args, || {});
    assert!(calls.is_empty(), "DPDK source: {calls:?}");
}

#[cfg(feature = "dpdk")]
#[test]
fn the_port_counters_are_read_off_the_feed_loop_and_published_live() {
    let _cores = shared_cores();
    // net_af_xdp reads its counters with getsockopt(XDP_STATISTICS): a system call that
    // shows which thread reads them (on a NIC they would be device registers, read
    // across PCIe). Its receive path makes system calls of its own (recvfrom to wake
    // the kernel), which are the source's.
    use hotpath_hw::discipline::{has_capability, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN};
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("day.pcap");
    generate(&pcap, 200_000, 8);
    let veth = net_support::Veth::new(73);
    let group = "239.204.73.1:26477";
    let args: Vec<String> = [
        "--source",
        &format!("dpdk:net_af_xdp0?a={group}"),
        "--dpdk",
        &format!("{EAL} --vdev=net_af_xdp0,iface={}", veth.rx),
        "--idle",
        "busy-spin",
        "--until-end-of-session",
    ]
    .map(String::from)
    .to_vec();
    let shm = tempfile::Builder::new()
        .prefix("hotpath-nic-")
        .tempdir_in("/dev/shm")
        .unwrap();
    if ![CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN]
        .iter()
        .all(|&c| has_capability(c))
    {
        // Refused at start-up, naming the device (docs/HOST.md).
        let out = output(
            Command::new(EXE)
                .arg("feed")
                .args(&args)
                .env("HOTPATH_SHM_ROOT", shm.path()),
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("net_af_xdp0"));
        return;
    }
    let env = |c: &mut Command| {
        c.env("HOTPATH_SHM_ROOT", shm.path())
            .env("HOTPATH_INSTANCE", "traced");
    };
    let mut live_nic_packets = 0;
    let trace = common::traced_feed(EXE, shm.path(), &args, || {
        // About 2 s of packets: the counters must move while the feed runs.
        let mut sender = common::Killed(
            Command::new(EXE)
                .args(["send", "--to", group, "--iface", &veth.tx, "--rate", "2000"])
                .arg(&pcap)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while live_nic_packets == 0 && sender.0.try_wait().unwrap().is_none() {
            assert!(std::time::Instant::now() < end, "no NIC counter moved");
            let snap = common::stat_snapshot(EXE, env);
            live_nic_packets = common::stat_counter(&snap, "feed", "nic_ipackets");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(sender.0.wait().unwrap().success());
    });
    assert!(
        live_nic_packets > 0,
        "nic_ipackets moved while the feed ran"
    );
    let loop_calls: Vec<&String> = trace.hot.keys().filter(|k| *k != "recvfrom").collect();
    assert!(
        loop_calls.is_empty(),
        "the feed loop made calls other than the source's: {:?}",
        trace.hot
    );
    let reads = trace
        .other_threads
        .iter()
        .filter(|l| l.starts_with("getsockopt(") && l.contains("XDP_STATISTICS"))
        .count();
    assert!(
        reads >= 5,
        "the port read every 100 ms by another thread: {reads}"
    );
    // The last read, after the loop: every packet the port took.
    let snap = common::stat_snapshot(EXE, env);
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), 200_000);
    assert!(
        counter("nic_ipackets") >= counter("packets_a"),
        "{} < {}",
        counter("nic_ipackets"),
        counter("packets_a")
    );
}

#[cfg(feature = "dpdk")]
#[test]
fn the_port_counters_move_while_the_feed_thread_spins_under_sched_fifo() {
    let _cores = all_cores();
    // A thread made by the feed's thread starts on its core; once the feed's thread
    // spins there under SCHED_FIFO, a thread still waiting for that core never runs. The
    // counters thread must have moved off it first.
    use hotpath_hw::discipline::{current_thread_affinity, has_capability, CAP_SYS_NICE};
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("day.pcap");
    generate(&pcap, 200_000, 9);
    let core = *current_thread_affinity().unwrap().last().unwrap();
    let shm_root = dir.path().join("shm");
    let env = |c: &mut Command| {
        c.env("HOTPATH_SHM_ROOT", &shm_root)
            .env("HOTPATH_INSTANCE", "fifo");
    };
    let mut feed = Command::new(EXE);
    env(&mut feed);
    feed.args(["feed", "--source", "dpdk:net_pcap0?mbufs=16383", "--dpdk"])
        .arg(format!(
            "--no-huge --no-pci --no-shconf -m 512 -l {core} --log-level=lib.eal:error \
             --vdev=net_pcap0,rx_pcap={},infinite_rx=1",
            pcap.display()
        ))
        .args(["--core", &core.to_string(), "--idle", "busy-spin"]);
    if has_capability(CAP_SYS_NICE) {
        feed.args(["--fifo", "1"]);
    } // else (no SCHED_FIFO to be had): the same run, pinned and spinning

    let mut feed = common::Killed::quiet(&mut feed);
    // The replay never ends (infinite_rx): poll the counters until they move.
    let counters = shm_root.join("fifo").join("feed.counters");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = 0;
    while seen == 0 {
        assert!(
            std::time::Instant::now() < end,
            "nic_ipackets never moved while the feed ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
        if let Some(status) = feed.0.try_wait().unwrap() {
            panic!("the feed ended ({status}): {}", feed.stderr());
        }
        if counters.exists() {
            let snap = common::stat_snapshot(EXE, env);
            seen = common::stat_counter(&snap, "feed", "nic_ipackets");
        }
    }
}

#[cfg(feature = "dpdk")]
#[test]
fn dpdk_mistakes_are_rejected_before_anything_starts() {
    let _cores = shared_cores();
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
    // A feed core that is not the EAL's main lcore: the EAL would pin the polling
    // thread elsewhere. Refused before the EAL starts (it says TELEMETRY when it does)
    // or any shm object exists.
    let root = tempfile::tempdir().unwrap();
    let out = output(
        Command::new(EXE)
            .env("HOTPATH_SHM_ROOT", root.path())
            .args([
                "feed",
                "--source",
                "dpdk:net_pcap0",
                "--core",
                "1",
                "--dpdk",
            ])
            .arg(format!("{EAL} --vdev=net_pcap0,rx_pcap={}", capture())),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--core 1: the feed polls the port on the EAL's main lcore")
            && err.contains("on core 0; make it core 1 (`-l 1` in --dpdk)")
            && !err.contains("TELEMETRY"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
}

#[cfg(not(feature = "dpdk"))]
#[test]
fn without_the_feature_dpdk_options_say_how_to_get_it() {
    let _cores = shared_cores();
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

#[cfg(feature = "dpdk")]
#[test]
fn a_port_joins_a_channel_and_skips_another_hosts_datagrams_to_its_group() {
    let _cores = shared_cores();
    use hotpath_feed::gen::{self, GenConfig, Generator, PcapOptions};
    // Port 0 receives the day from its source; port 1 another day of the same session,
    // sent to the same group by another host. Both ports' TX go to captures.
    let dir = tempfile::tempdir().unwrap();
    let group = "232.1.1.1:26477";
    let write = |name: &str, src: &str, messages: u64, seed: u64| {
        let path = dir.path().join(name);
        let opts = PcapOptions {
            src: src.parse().unwrap(),
            dst: group.parse().unwrap(),
            ..PcapOptions::default()
        };
        let cfg = GenConfig {
            messages,
            seed,
            symbols: 20,
            live_target: None,
        };
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let (_, packets) =
            gen::write_pcap(Generator::new(cfg).unwrap(), file, &opts, |_| {}).unwrap();
        (path, packets)
    };
    const MESSAGES: u64 = 60_000;
    let (day, _) = write("day.pcap", "10.0.0.1:26400", MESSAGES, 51);
    // Fewer packets, so that port 1 is read to its end before the day's session ends.
    let (other, other_packets) = write("other.pcap", "10.0.0.3:26400", 15_000, 52);
    let tx = |k: u8| dir.path().join(format!("tx{k}.pcap"));
    let eal = format!(
        "{EAL} --vdev=net_pcap0,rx_pcap={},tx_pcap={} --vdev=net_pcap1,rx_pcap={},tx_pcap={}",
        day.display(),
        tx(0).display(),
        other.display(),
        tx(1).display()
    );
    let shm_root = dir.path().join("shm");
    let env = |c: &mut Command| {
        c.env("HOTPATH_SHM_ROOT", &shm_root)
            .env("HOTPATH_INSTANCE", "ssm");
    };
    let mut feed = Command::new(EXE);
    env(&mut feed);
    let out = ok(feed
        .args(["feed", "--source"])
        .arg(format!(
            "dpdk:net_pcap0,net_pcap1?a={group}&a_source=10.0.0.1&igmp=v3&ip=10.0.0.5,10.0.0.6"
        ))
        .args(["--dpdk", &eal, "--until-end-of-session"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("joins 232.1.1.1 from 10.0.0.1 with IGMP")
            .count(),
        2,
        "{err}"
    );
    let snap = common::stat_snapshot(EXE, env);
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), MESSAGES);
    assert_eq!(counter("messages_lost"), 0);
    assert_eq!(
        counter("other_sources"),
        other_packets,
        "the other host's packets"
    );
    assert_eq!(counter("other_destinations"), 0);
    assert_eq!(
        counter("duplicates_a"),
        0,
        "nothing of the other day reached the session"
    );
    assert_eq!(counter("unknown_refs"), 0);
    // Each port joined the channel (ALLOW_NEW_SOURCES {10.0.0.1}) and left it
    // (BLOCK_OLD_SOURCES {10.0.0.1}), from its own address.
    for (k, ip) in [(0, "10.0.0.5"), (1, "10.0.0.6")] {
        let fields = ok(Command::new("tshark")
            .arg("-r")
            .arg(tx(k))
            .args(["-T", "fields", "-E", "separator=;"])
            .args(["-e", "ip.src", "-e", "igmp.type", "-e", "igmp.record_type"])
            .args(["-e", "igmp.maddr", "-e", "igmp.saddr"]));
        let rows: Vec<String> = String::from_utf8_lossy(&fields.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let (join, leave) = (
            format!("{ip};0x22;5;232.1.1.1;10.0.0.1"),
            format!("{ip};0x22;6;232.1.1.1;10.0.0.1"),
        );
        assert!(rows.len() >= 2, "port {k}: {rows:?}");
        assert_eq!(rows[0], join, "port {k}");
        assert_eq!(rows[rows.len() - 1], leave, "port {k}");
    }
}

#[cfg(feature = "dpdk")]
#[test]
fn a_port_whose_link_falls_is_reported_down_and_takes_the_feed_again_once_it_is_back() {
    let _cores = shared_cores();
    // net_tap's link is its kernel interface's: `ip link set down` is a pulled cable.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("day.pcap");
    const MESSAGES: u64 = 100_000;
    generate(&pcap, MESSAGES, 11);
    let tap = format!("hp85t{}", std::process::id() % 100_000);
    let port = 34_000 + (std::process::id() % 8_000) as u16;
    let group = format!("239.204.85.1:{port}");
    let request = format!("127.0.0.1:{}", port + 12_000);
    let shm_root = dir.path().join("shm");
    let env = |c: &mut Command| {
        c.env("HOTPATH_SHM_ROOT", &shm_root)
            .env("HOTPATH_INSTANCE", "link");
    };
    let mut feed = Command::new(EXE);
    env(&mut feed);
    feed.args(["feed", "--source"])
        .arg(format!("dpdk:net_tap0?a={group}&request={request}"))
        .args([
            "--dpdk",
            &format!("{EAL} --log-level=pmd.net.tap:emerg --vdev=net_tap0,iface={tap}"),
        ])
        .arg("--until-end-of-session");
    let mut feed = common::Killed::quiet(&mut feed);
    let counters = shm_root.join("link").join("feed.counters");
    common::wait_for(&counters, "the feed's counters");
    // The port's interface exists once the feed runs; an address lets a socket send
    // multicast out of it, into the port.
    net_support::up_with_address(&tap, net_support::link_local(85));
    // Read in place while it runs (`hotpath stat` reads the same region).
    let live = hotpath_shm::counters::CountersReader::open(&counters).unwrap();
    let counter = |name: &str| live.get("feed", name).expect(name);
    let until = |name: &str, value: u64| {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while counter(name) != value {
            assert!(
                std::time::Instant::now() < end,
                "{name} never became {value}: {}",
                counter(name)
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    assert_eq!(counter("nic_links_down"), 0, "up from the start");
    net_support::ip(&["link", "set", &tap, "down"]);
    until("nic_links_down", 1);
    assert_eq!(counter("nic_link_downs"), 1);
    net_support::ip(&["link", "set", &tap, "up"]);
    until("nic_links_down", 0);

    // The sender's repeats of the end of session fail once the feed has ended: its
    // port's interface goes with it. So the sender is only killed at the end.
    let _sender = common::Killed::quiet(
        Command::new(EXE)
            .args(["send", "--to", &group, "--iface", &tap, "--rate", "10000"])
            .args(["--serve-requests", &request, "--linger-ms", "1500"])
            .arg(&pcap),
    );
    let (status, err) = feed.finish(std::time::Duration::from_secs(30), || {
        "the feed never saw the end of session".into()
    });
    assert!(status.success(), "{err}");
    assert!(err.contains("stopped after 100,000 messages"), "{err}");
    // Told as it happened, in order: up at the start, the fall, the return.
    let at = |what: &str| {
        err.find(what)
            .unwrap_or_else(|| panic!("no {what:?} in:\n{err}"))
    };
    assert!(
        at("driver net_tap, link up at 10 Gb/s)") < at("LINK DOWN on the port")
            && at("LINK DOWN on the port") < at("link up on the port (1 falls so far)"),
        "{err}"
    );
    let snap = common::stat_snapshot(EXE, env);
    let counter = |name: &str| common::stat_counter(&snap, "feed", name);
    assert_eq!(counter("messages"), MESSAGES);
    assert_eq!(counter("messages_lost"), 0);
    assert_eq!(counter("nic_link_downs"), 1);
    assert_eq!(counter("nic_links_down"), 0);
}
