//! Opening the DPDK packet source from the command line (`hotpath replay --dpdk`,
//! `hotpath feed --source dpdk --dpdk`). Built with feature `dpdk`; without it, these
//! options fail with how to get a DPDK-enabled binary.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use hotpath_feed::igmp::{IgmpConfig, Version};
use hotpath_feed::source::{Lines, PacketSource};

/// The EAL arguments for a replay of `pcap` if the given ones attach no device: a
/// `net_pcap` vdev reading the file.
pub fn eal_args(eal: &str, pcap: Option<&Path>) -> Vec<String> {
    let mut args: Vec<String> = eal.split_whitespace().map(str::to_owned).collect();
    let has_device = args.iter().any(|a| {
        a.starts_with("--vdev") || a == "-a" || a.starts_with("--allow") || a.starts_with("-a")
    });
    if let (false, Some(p)) = (has_device, pcap) {
        args.push(format!("--vdev=net_pcap0,rx_pcap={}", p.display()));
    }
    args
}

/// The core the EAL pins its main lcore's thread to (the thread that polls the port),
/// from the EAL arguments: `--main-lcore N`, else the lowest lcore of `-l LIST` or `-c
/// MASK`, else core 0 (the EAL takes every core). `None` when `--lcores` maps lcores
/// to other cores (`1@2`, groups): then the mapping decides.
pub fn eal_main_core(args: &[String]) -> Result<Option<usize>, String> {
    // An option's value: `-l 0`, `-l0`, `--lcores=0` or `--lcores 0`.
    let value = |short: Option<&str>, long: &str| -> Option<String> {
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(v) = a.strip_prefix(&format!("{long}=")) {
                return Some(v.to_owned());
            }
            if a == long || Some(a.as_str()) == short {
                return it.next().cloned();
            }
            if let Some(v) = short.and_then(|s| a.strip_prefix(s)) {
                if !v.is_empty() && !a.starts_with("--") {
                    return Some(v.to_owned());
                }
            }
        }
        None
    };
    let bad = |opt: &str, v: &str| format!("EAL {opt} {v:?}: not a list of cores this can read");
    if let Some(v) = value(None, "--main-lcore") {
        return v.parse().map(Some).map_err(|_| bad("--main-lcore", &v));
    }
    let list = |opt: &str, v: &str| -> Result<Option<usize>, String> {
        let mut lowest: Option<usize> = None;
        for part in v.split(',') {
            let first = part.split('-').next().unwrap_or("");
            let n: usize = first.trim().parse().map_err(|_| bad(opt, v))?;
            lowest = Some(lowest.map_or(n, |l| l.min(n)));
        }
        Ok(lowest)
    };
    if let Some(v) = value(Some("-l"), "--lcores") {
        if v.contains('@') || v.contains('(') {
            return Ok(None);
        }
        return list("-l", &v);
    }
    if let Some(v) = value(Some("-c"), "--coremask") {
        let hex = v.trim_start_matches("0x").trim_start_matches("0X");
        let mask = u128::from_str_radix(hex, 16).map_err(|_| bad("-c", &v))?;
        if mask == 0 {
            return Err(bad("-c", &v));
        }
        return Ok(Some(mask.trailing_zeros() as usize));
    }
    Ok(Some(0))
}

/// Which port to open and how (the command line's part of a `DpdkSourceConfig`).
#[derive(Debug, Clone, Default)]
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))] // only a DPDK build opens a port
pub struct PortOpts {
    /// Device names or numbers, polled in turn as one source (e.g. line A's NIC and
    /// line B's); none: port 0.
    pub ports: Vec<String>,
    /// The feed's lines (default: every UDP datagram is line A).
    pub lines: Lines,
    /// RX descriptors (default: `PortConfig`'s).
    pub rx_desc: Option<u16>,
    /// Mbufs in the RX queue's pool (default: `PortConfig`'s).
    pub mbufs: Option<u32>,
    /// A finite replay ends after this long without a packet.
    pub end_after_idle: Option<Duration>,
    /// Join the lines' groups with IGMP on each port.
    pub igmp: Option<IgmpOpts>,
}

/// `igmp=`, `ip=` and `vlan=` of `--source dpdk`: how each port joins the feed's groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgmpOpts {
    pub version: Version,
    /// Each port's own address, in the order of the ports.
    pub ips: Vec<Ipv4Addr>,
    pub vlan: Option<u16>,
}

impl IgmpOpts {
    /// What each of `ports` ports joins: every line's group, from the port's address.
    pub fn configs(&self, ports: usize, lines: &Lines) -> Result<Vec<IgmpConfig>, String> {
        if self.ips.len() != ports {
            return Err(format!(
                "ip= lists one address per port ({ports} port{}, {} address{})",
                if ports == 1 { "" } else { "s" },
                self.ips.len(),
                if self.ips.len() == 1 { "" } else { "es" }
            ));
        }
        let Some(a) = lines.a else {
            return Err(
                "igmp= joins the lines' groups: name line A (a=GROUP:PORT, and b= for line B)"
                    .into(),
            );
        };
        let groups: Vec<Ipv4Addr> = std::iter::once(*a.ip())
            .chain(lines.b.map(|b| *b.ip()).filter(|b| b != a.ip()))
            .collect();
        // A group is joined for named sources only if every line on it names one.
        let line_sources = [(Some(a), lines.a_source), (lines.b, lines.b_source)];
        let any_source = |g: Ipv4Addr| {
            line_sources
                .iter()
                .any(|(l, s)| matches!(l, Some(l) if *l.ip() == g) && s.is_none())
        };
        let mut sources: Vec<(Ipv4Addr, Ipv4Addr)> = Vec::new();
        for (line, source) in line_sources {
            if let (Some(l), Some(s)) = (line, source) {
                if !any_source(*l.ip()) && !sources.contains(&(*l.ip(), s)) {
                    sources.push((*l.ip(), s));
                }
            }
        }
        self.ips
            .iter()
            .map(|&ip| {
                let c = IgmpConfig {
                    version: self.version,
                    ip,
                    vlan: self.vlan,
                    groups: groups.clone(),
                    sources: sources.clone(),
                };
                c.validate().map(|()| c)
            })
            .collect()
    }
}

/// Opens a DPDK source: initialises the EAL with `args`, then opens the ports `opts`
/// names (several are one source taking their datagrams in sequence order, each port
/// with the same lines).
#[cfg(feature = "dpdk")]
pub fn open(args: Vec<String>, opts: &PortOpts) -> Result<Box<dyn PacketSource>, crate::Error> {
    use hotpath_feed::source::dpdk::{DpdkPorts, DpdkSource, DpdkSourceConfig};
    use hotpath_hw::dpdk::PortConfig;
    let d = PortConfig::default();
    let igmp = match &opts.igmp {
        Some(o) => o.configs(opts.ports.len().max(1), &opts.lines)?,
        None => Vec::new(),
    };
    let mut cfg = DpdkSourceConfig {
        eal_args: args,
        port: None,
        port_cfg: PortConfig {
            rx_desc: opts.rx_desc.unwrap_or(d.rx_desc),
            mbufs_per_queue: opts.mbufs.unwrap_or(d.mbufs_per_queue),
            ..d
        },
        end_after_idle: opts.end_after_idle,
        igmp: igmp.first().cloned(),
    };
    if opts.ports.len() <= 1 {
        cfg.port = opts.ports.first().cloned();
        return Ok(Box::new(DpdkSource::open(&cfg, opts.lines)?));
    }
    let mut parts = Vec::with_capacity(opts.ports.len());
    for (k, p) in opts.ports.iter().enumerate() {
        cfg.port = Some(p.clone());
        cfg.igmp = igmp.get(k).cloned();
        parts.push(DpdkSource::open(&cfg, opts.lines)?);
    }
    Ok(Box::new(DpdkPorts::new(parts).expect("two or more ports")))
}

#[cfg(not(feature = "dpdk"))]
pub fn open(_args: Vec<String>, _opts: &PortOpts) -> Result<Box<dyn PacketSource>, crate::Error> {
    Err(NOT_BUILT.into())
}

/// Why a DPDK option cannot work in this binary.
#[cfg(not(feature = "dpdk"))]
pub const NOT_BUILT: &str = "this hotpath was built without DPDK: install the system DPDK \
     (apt-get install libdpdk-dev dpdk-dev pkg-config libclang-dev) and build with \
     `cargo build --release --features dpdk`";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_lcores_core_is_read_from_the_eal_arguments() {
        let main = |a: &str| eal_main_core(&eal_args(a, None));
        assert_eq!(main("--no-huge -l 0"), Ok(Some(0)));
        assert_eq!(main("-l 3-5,1"), Ok(Some(1)));
        assert_eq!(main("-l1"), Ok(Some(1)));
        assert_eq!(main("--lcores=2,4"), Ok(Some(2)));
        assert_eq!(main("-l 1,2 --main-lcore 2"), Ok(Some(2)));
        assert_eq!(main("-c 0x6"), Ok(Some(1)));
        assert_eq!(
            main("--no-huge --no-pci"),
            Ok(Some(0)),
            "every core; 0 is main"
        );
        assert_eq!(main("--lcores 0@1"), Ok(None), "a mapping decides");
        assert!(main("-l x").unwrap_err().contains("\"x\""));
        assert!(main("-c 0").is_err());
    }

    #[test]
    fn a_replay_file_becomes_a_pcap_vdev_unless_a_device_is_given() {
        let p = Path::new("/d/day.pcap");
        assert_eq!(
            eal_args("--no-huge  -l 0", Some(p)),
            [
                "--no-huge",
                "-l",
                "0",
                "--vdev=net_pcap0,rx_pcap=/d/day.pcap"
            ]
        );
        assert_eq!(
            eal_args("--no-huge --vdev=net_af_packet0,iface=lo", Some(p)),
            ["--no-huge", "--vdev=net_af_packet0,iface=lo"]
        );
        assert_eq!(eal_args("-a 0000:3b:00.0", Some(p)), ["-a", "0000:3b:00.0"]);
        assert_eq!(eal_args("--no-huge", None), ["--no-huge"]);
    }
}
