//! Test interfaces made with iproute2 (`ip`), shared by the live DPDK tests of the feed
//! handler and of the CLI (`tests/dpdk_cli.rs` includes this file by path).
#![allow(dead_code)] // each test binary uses its own subset

use std::net::Ipv4Addr;
use std::process::Command;

/// Runs `ip ARGS` (iproute2), failing the test with its error output.
pub fn ip(args: &[&str]) {
    iproute2("ip", args);
}

/// Runs `bridge ARGS` (iproute2), failing the test with its error output; its output.
fn bridge(args: &[&str]) -> String {
    iproute2("bridge", args)
}

/// Runs an iproute2 `tool`, failing the test with its error output; its output.
fn iproute2(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run `{tool}` (Debian package iproute2): {e}"));
    assert!(
        out.status.success(),
        "{tool} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// This process's own link-local address for a test interface (unique per test run).
pub fn link_local(tag: u8) -> Ipv4Addr {
    let id = std::process::id();
    Ipv4Addr::new(169, 254, tag, 1 + (id % 250) as u8)
}

/// Brings interface `name` up with the address `addr`/32, so that a socket can send
/// multicast out of it (`hotpath_hw::net::mcast_tx`).
pub fn up_with_address(name: &str, addr: Ipv4Addr) {
    ip(&["link", "set", name, "up"]);
    ip(&["addr", "add", &format!("{addr}/32"), "dev", name]);
}

/// A veth pair made for one test and deleted when dropped: what is sent out of `tx`
/// arrives at `rx`.
pub struct Veth {
    pub tx: String,
    pub rx: String,
}

impl Veth {
    pub fn new(tag: u8) -> Veth {
        let id = std::process::id() % 100_000;
        let v = Veth {
            tx: format!("hp{tag}x{id}t"),
            rx: format!("hp{tag}x{id}r"),
        };
        ip(&["link", "add", &v.tx, "type", "veth", "peer", "name", &v.rx]);
        ip(&["link", "set", &v.rx, "up"]);
        up_with_address(&v.tx, link_local(tag));
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting one end deletes the pair.
        let _ = Command::new("ip").args(["link", "del", &self.tx]).status();
    }
}

/// A Linux bridge made for one test, deleted when dropped: an IGMP-snooping switch
/// that is its own querier, with short timers (a general query every second, answers
/// within 0.5 s, a membership forgotten 4 s after its last report).
pub struct SnoopingBridge {
    pub name: String,
}

impl SnoopingBridge {
    /// A bridge that speaks IGMP version 2 (the Linux default): its queries are
    /// version 2, so version 3 hosts answer in version 2.
    pub fn new(tag: u8) -> SnoopingBridge {
        SnoopingBridge::with_version(tag, 2)
    }

    /// A bridge whose querier speaks IGMP `version` (2 or 3); in version 3 it keeps
    /// each port's source lists and forwards a source-specific group only from the
    /// sources joined.
    pub fn with_version(tag: u8, version: u8) -> SnoopingBridge {
        let id = std::process::id() % 100_000;
        let b = SnoopingBridge {
            name: format!("hp{tag}b{id}"),
        };
        // Intervals in hundredths of a second. The querier is switched on after they
        // are set: switching it on starts a wait of one query response interval
        // before the bridge trusts its snooping table (and floods until then), and in
        // the same command that wait is the default 10 s.
        ip(&[
            "link",
            "add",
            &b.name,
            "type",
            "bridge",
            "mcast_snooping",
            "1",
            "mcast_query_interval",
            "100",
            "mcast_query_response_interval",
            "50",
            "mcast_startup_query_interval",
            "50",
            "mcast_membership_interval",
            "400",
            "mcast_igmp_version",
            &version.to_string(),
        ]);
        ip(&[
            "link",
            "set",
            &b.name,
            "type",
            "bridge",
            "mcast_querier",
            "1",
        ]);
        ip(&["link", "set", &b.name, "up"]);
        b
    }

    /// Makes `port` a port of the bridge. With `flood` false, multicast reaches it
    /// only for the groups a host behind it has joined (and a leave takes effect at
    /// once), as on a switch port where flooding of unknown multicast is off.
    pub fn attach(&self, port: &str, flood: bool) {
        ip(&["link", "set", port, "master", &self.name]);
        ip(&["link", "set", port, "up"]);
        if !flood {
            bridge(&[
                "link",
                "set",
                "dev",
                port,
                "mcast_flood",
                "off",
                "fastleave",
                "on",
            ]);
        }
    }

    /// Whether the bridge forwards `group` to `port` (its snooping table, `bridge mdb`).
    pub fn has_member(&self, port: &str, group: Ipv4Addr) -> bool {
        self.mdb_has(&format!("port {port} grp {group} "))
    }

    /// Whether the bridge forwards `group` from `source` to `port`: its snooping table
    /// has the channel's entry.
    pub fn has_member_from(&self, port: &str, group: Ipv4Addr, source: Ipv4Addr) -> bool {
        self.mdb_has(&format!("port {port} grp {group} src {source} "))
    }

    fn mdb_has(&self, entry: &str) -> bool {
        let out = bridge(&["mdb", "show", "dev", &self.name]);
        out.lines().any(|l| l.contains(entry))
    }
}

impl Drop for SnoopingBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
}
