//! Test interfaces made with iproute2 (`ip`), shared by the live DPDK tests of the feed
//! handler and of the CLI (`tests/dpdk_cli.rs` includes this file by path).
#![allow(dead_code)] // each test binary uses its own subset

use std::net::Ipv4Addr;
use std::process::Command;

/// Runs `ip ARGS` (iproute2), failing the test with its error output.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run `ip` (Debian package iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
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
