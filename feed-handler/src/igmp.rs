//! IGMP group membership for a kernel-bypass port (RFC 2236 version 2, RFC 3376
//! version 3).
//!
//! A UDP socket joins a multicast group through the kernel, which then answers the
//! network's IGMP queries for it. A DPDK port has no kernel behind it: unless the
//! exchange's switch joins the groups statically, an IGMP-snooping switch forwards a
//! group to a port only after a host on that port has reported membership, and stops
//! when nobody answers its queries. [`Membership`] is that host side, for the feed's
//! groups, driven by the DPDK source's poll loop:
//!
//! - at start, an unsolicited report of every group, sent twice, a second apart
//!   (RFC 3376's robustness variable 2 and unsolicited report interval 1 s; the same
//!   spacing for version 2, whose interval may be up to 10 s);
//! - on a general query, or a query for one of our groups, a report of every group at a
//!   random moment within the query's maximum response time (a query that asks about a
//!   group we have not joined is counted and not answered);
//! - a version 1 or 2 query puts a version 3 host in version 2 compatibility for the
//!   older-version-querier-present timeout (260 s at the defaults), as RFC 3376 7.2.1
//!   asks; a version 1 querier (obsolete since 1997) is answered with version 2 reports;
//! - on [`Membership::leave`] (the source's end), a leave: version 2 sends one leave per
//!   group to 224.0.0.2, version 3 one report that changes every group to INCLUDE {}.
//!
//! A group may be joined for named sources only (source-specific multicast, RFC 4607:
//! the channels (S,G) of an exchange that sends from known hosts, as in 232.0.0.0/8).
//! That needs version 3: the join is ALLOW_NEW_SOURCES {S..}, the answer to a query
//! MODE_IS_INCLUDE {S..}, the leave BLOCK_OLD_SOURCES {S..}; a group-and-source-specific
//! query is answered when it names one of the group's sources. In version 2
//! compatibility (an older querier present) a version 2 report can name no source, so
//! such a group is reported for any source, as RFC 3376 7.2.1 has it.
//!
//! Not done: report suppression (a version 2 host may skip its report when it hears
//! another host's report for the group; version 3 has none, and reporting anyway is
//! correct).
//!
//! Every frame is built once, at start, into its own buffer: IPv4 with the router
//! alert option and TTL 1, the IGMP checksum filled in, an 802.1Q tag when the port is
//! on a VLAN. Handling a query and sending a due frame allocate nothing.

use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::net::{internet_checksum, multicast_mac, parse_ipv4_frame, IPPROTO_IGMP};
use crate::rng::Rng;

/// IGMP message types.
const MEMBERSHIP_QUERY: u8 = 0x11;
const V2_REPORT: u8 = 0x16;
const V2_LEAVE: u8 = 0x17;
const V3_REPORT: u8 = 0x22;
/// IGMPv3 group record types (RFC 3376 4.2.12).
const MODE_IS_INCLUDE: u8 = 1;
const MODE_IS_EXCLUDE: u8 = 2;
const CHANGE_TO_INCLUDE: u8 = 3;
const CHANGE_TO_EXCLUDE: u8 = 4;
const ALLOW_NEW_SOURCES: u8 = 5;
const BLOCK_OLD_SOURCES: u8 = 6;

/// All routers (version 2 leaves) and all IGMPv3-capable routers (version 3 reports).
const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
const ALL_V3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

const NS_PER_DS: u64 = 100_000_000;
/// Unsolicited report interval (RFC 3376 8.11: 1 s).
const UNSOLICITED_INTERVAL_NS: u64 = 1_000_000_000;
/// Unsolicited reports at start: the robustness variable (RFC 3376 8.1: 2).
const UNSOLICITED_REPORTS: u8 = 2;
/// Older version querier present timeout: robustness x query interval (125 s) + one
/// query response interval (10 s), RFC 3376 8.12.
const OLDER_QUERIER_NS: u64 = (2 * 125 + 10) * 1_000_000_000;
/// A version 1 query has no maximum response time: version 1 hosts answer within 10 s.
const V1_MAX_RESPONSE_NS: u64 = 10_000_000_000;
/// The most groups one port joins (one version 3 report holds them all).
pub const MAX_GROUPS: usize = 64;
/// The most sources one group is joined for.
pub const MAX_SOURCES: usize = 8;

/// Which IGMP the host speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2,
    V3,
}

impl FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Version, String> {
        match s {
            "v2" | "2" => Ok(Version::V2),
            "v3" | "3" => Ok(Version::V3),
            _ => Err(format!("IGMP version `{s}`: expected v2 or v3")),
        }
    }
}

/// What a port joins and who it says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgmpConfig {
    pub version: Version,
    /// The port's IPv4 address, the reports' source.
    pub ip: Ipv4Addr,
    /// An 802.1Q tag for the frames (the VLAN the feed arrives on).
    pub vlan: Option<u16>,
    /// The groups to join (multicast, 1 to [`MAX_GROUPS`], no repeats).
    pub groups: Vec<Ipv4Addr>,
    /// Channels as (group, source): a group listed here is joined only for its sources
    /// (at most [`MAX_SOURCES`], version 3); a group not listed, for every source.
    pub sources: Vec<(Ipv4Addr, Ipv4Addr)>,
}

impl IgmpConfig {
    /// Refuses what cannot be joined, naming it.
    pub fn validate(&self) -> Result<(), String> {
        if self.groups.is_empty() || self.groups.len() > MAX_GROUPS {
            return Err(format!(
                "IGMP: {} groups to join (1 to {MAX_GROUPS})",
                self.groups.len()
            ));
        }
        for (i, g) in self.groups.iter().enumerate() {
            if !g.is_multicast() || g.octets()[..3] == [224, 0, 0] {
                return Err(format!(
                    "IGMP: {g} is not a group to join (a multicast address outside 224.0.0.0/24, which is never reported)"
                ));
            }
            if self.groups[..i].contains(g) {
                return Err(format!("IGMP: group {g} is listed twice"));
            }
        }
        if self.ip.is_multicast() || self.ip.is_broadcast() {
            return Err(format!(
                "IGMP: {} cannot be the port's own address",
                self.ip
            ));
        }
        if matches!(self.vlan, Some(v) if v == 0 || v > 4094) {
            return Err(format!(
                "IGMP: VLAN {} is not 1 to 4094",
                self.vlan.unwrap_or(0)
            ));
        }
        if !self.sources.is_empty() && self.version == Version::V2 {
            return Err(
                "IGMP: joining a group for named sources needs version 3 (igmp=v3); a version 2 report cannot name a source"
                    .into(),
            );
        }
        for (i, &(g, s)) in self.sources.iter().enumerate() {
            if !self.groups.contains(&g) {
                return Err(format!(
                    "IGMP: source {s} is for group {g}, which is not joined"
                ));
            }
            if !hotpath_hw::net::is_unicast_source(s) {
                return Err(format!(
                    "IGMP: {s} cannot be the source of ({s}, {g}): a source is one host's unicast address"
                ));
            }
            if self.sources[..i].contains(&(g, s)) {
                return Err(format!("IGMP: channel ({s}, {g}) is listed twice"));
            }
            if self.sources_of(g).count() > MAX_SOURCES {
                return Err(format!(
                    "IGMP: group {g} has more than {MAX_SOURCES} sources"
                ));
            }
        }
        Ok(())
    }

    /// The sources `group` is joined for (none: every source).
    pub fn sources_of(&self, group: Ipv4Addr) -> impl Iterator<Item = Ipv4Addr> + '_ {
        sources_of(&self.sources, group)
    }
}

/// The sources of `group` among the (group, source) `channels`.
fn sources_of(
    channels: &[(Ipv4Addr, Ipv4Addr)],
    group: Ipv4Addr,
) -> impl Iterator<Item = Ipv4Addr> + '_ {
    channels
        .iter()
        .filter(move |(g, _)| *g == group)
        .map(|&(_, s)| s)
}

/// A membership query, as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// The querier's version: 1 (no maximum response time), 2 (8 bytes) or 3.
    pub version: u8,
    /// `None` for a general query; else the group asked about.
    pub group: Option<Ipv4Addr>,
    /// Answer within this long.
    pub max_response_ns: u64,
    /// Sources a version 3 group-and-source-specific query asks about (their addresses
    /// follow the 12-byte header; 0 for any other query).
    pub sources: u16,
}

/// Why an IGMP message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IgmpError {
    #[error("igmp: message of {0} bytes (a query has 8, or at least 12 and 4 a source)")]
    BadLength(usize),
    #[error("igmp: checksum does not verify")]
    BadChecksum,
}

/// Reads an IGMP message (the IPv4 payload): `Ok(None)` for a valid message that is
/// not a query (another host's report or leave).
pub fn parse_query(igmp: &[u8]) -> Result<Option<Query>, IgmpError> {
    if igmp.len() < 8 || (igmp[0] == MEMBERSHIP_QUERY && igmp.len() > 8 && igmp.len() < 12) {
        return Err(IgmpError::BadLength(igmp.len()));
    }
    if internet_checksum(igmp) != 0 {
        return Err(IgmpError::BadChecksum);
    }
    if igmp[0] != MEMBERSHIP_QUERY {
        return Ok(None);
    }
    let code = igmp[1];
    let (version, max_response_ns) = match (igmp.len(), code) {
        (8, 0) => (1, V1_MAX_RESPONSE_NS),
        (8, c) => (2, u64::from(c) * NS_PER_DS),
        (_, c) if c < 128 => (3, u64::from(c) * NS_PER_DS),
        // RFC 3376 4.1.1: a floating-point code, (mant | 0x10) << (exp + 3) tenths.
        (_, c) => (
            3,
            ((u64::from(c & 0x0f) | 0x10) << (((c >> 4) & 0x07) + 3)) * NS_PER_DS,
        ),
    };
    let sources = if version == 3 {
        let n = u16::from_be_bytes([igmp[10], igmp[11]]);
        if igmp.len() < 12 + 4 * usize::from(n) {
            return Err(IgmpError::BadLength(igmp.len()));
        }
        n
    } else {
        0
    };
    let group = Ipv4Addr::new(igmp[4], igmp[5], igmp[6], igmp[7]);
    Ok(Some(Query {
        version,
        group: (!group.is_unspecified()).then_some(group),
        max_response_ns,
        sources,
    }))
}

/// What a [`Membership`] has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IgmpStats {
    /// Queries that asked about our groups (general, or for one of them).
    pub queries: u64,
    /// Queries about other groups (not answered).
    pub other_queries: u64,
    /// Reports and leaves sent (frames).
    pub sent: u64,
    /// Frames the port would not take (its TX ring full, or no mbuf).
    pub send_failures: u64,
    /// IGMP messages refused (bad length or checksum).
    pub malformed: u64,
}

impl IgmpStats {
    /// Adds `other`'s counts to these (several ports polled as one).
    pub fn add(&mut self, other: &IgmpStats) {
        // Destructured, so that a new field cannot be left out of the sum.
        let IgmpStats {
            queries,
            other_queries,
            sent,
            send_failures,
            malformed,
        } = other;
        self.queries += queries;
        self.other_queries += other_queries;
        self.sent += sent;
        self.send_failures += send_failures;
        self.malformed += malformed;
    }
}

/// The frames of one kind: one holding every group (version 3), or one per group.
type Frames = Vec<Vec<u8>>;

/// Reports and leaves for a port's groups, and when to send them.
#[derive(Debug)]
pub struct Membership {
    groups: Vec<Ipv4Addr>,
    /// (group, source) channels; a group without any is joined for every source.
    sources: Vec<(Ipv4Addr, Ipv4Addr)>,
    version: Version,
    v2_report: Frames,
    v2_leave: Frames,
    v3_join: Frames,
    v3_current: Frames,
    v3_leave: Frames,
    /// Unsolicited reports still to send, the next at `unsolicited_at`.
    unsolicited_left: u8,
    unsolicited_at: u64,
    /// A report answering a query is due then (`u64::MAX`: none).
    response_at: u64,
    /// Until then a version 1 or 2 querier is present (version 3 hosts report in 2).
    older_querier_until: u64,
    rng: Rng,
    stats: IgmpStats,
    left: bool,
}

impl Membership {
    /// Builds every frame, sent from the port's Ethernet address `mac`, and schedules
    /// the first report at `now_ns`. `seed` spreads the hosts' answers to one query
    /// (any value: the port's address, the clock).
    pub fn new(
        cfg: &IgmpConfig,
        mac: [u8; 6],
        now_ns: u64,
        seed: u64,
    ) -> Result<Membership, String> {
        cfg.validate()?;
        let frame = |dst: Ipv4Addr, igmp: &[u8]| build_frame(cfg, mac, dst, igmp);
        // One record a group: `any` for a group joined for every source, `named` with
        // its sources for a channel's group.
        let v3 = |any: u8, named: u8| {
            let records: Vec<(u8, Ipv4Addr, Vec<Ipv4Addr>)> = cfg
                .groups
                .iter()
                .map(|&g| {
                    let s: Vec<Ipv4Addr> = cfg.sources_of(g).collect();
                    (if s.is_empty() { any } else { named }, g, s)
                })
                .collect();
            vec![frame(ALL_V3_ROUTERS, &v3_report(&records))]
        };
        Ok(Membership {
            groups: cfg.groups.clone(),
            sources: cfg.sources.clone(),
            version: cfg.version,
            v2_report: cfg
                .groups
                .iter()
                .map(|&g| frame(g, &v2_message(V2_REPORT, g)))
                .collect(),
            v2_leave: cfg
                .groups
                .iter()
                .map(|&g| frame(ALL_ROUTERS, &v2_message(V2_LEAVE, g)))
                .collect(),
            v3_join: v3(CHANGE_TO_EXCLUDE, ALLOW_NEW_SOURCES),
            v3_current: v3(MODE_IS_EXCLUDE, MODE_IS_INCLUDE),
            v3_leave: v3(CHANGE_TO_INCLUDE, BLOCK_OLD_SOURCES),
            unsolicited_left: UNSOLICITED_REPORTS,
            unsolicited_at: now_ns,
            response_at: u64::MAX,
            older_querier_until: 0,
            rng: Rng::new(seed ^ now_ns),
            stats: IgmpStats::default(),
            left: false,
        })
    }

    /// The earliest time something is due (`u64::MAX`: nothing until a query comes):
    /// the poll loop's one comparison a burst.
    #[inline]
    pub fn next_due_ns(&self) -> u64 {
        let unsolicited = if self.unsolicited_left > 0 {
            self.unsolicited_at
        } else {
            u64::MAX
        };
        unsolicited.min(self.response_at)
    }

    /// The version the reports are in now.
    pub fn speaking(&self, now_ns: u64) -> Version {
        if now_ns < self.older_querier_until {
            Version::V2
        } else {
            self.version
        }
    }

    /// Handles an Ethernet frame that may hold IGMP; true if it did (whether or not
    /// it was a query for us).
    pub fn on_frame(&mut self, frame: &[u8], now_ns: u64) -> bool {
        match parse_ipv4_frame(frame) {
            Ok(ip) if ip.protocol == IPPROTO_IGMP => {
                self.on_message(ip.payload, now_ns);
                true
            }
            _ => false,
        }
    }

    /// Handles an IGMP message (the IPv4 payload).
    pub fn on_message(&mut self, igmp: &[u8], now_ns: u64) {
        let q = match parse_query(igmp) {
            Ok(Some(q)) => q,
            Ok(None) => return,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        if let Some(g) = q.group {
            if !self.groups.contains(&g)
                || !self.wants_any(g, igmp.get(12..).unwrap_or(&[]), q.sources)
            {
                self.stats.other_queries += 1;
                return;
            }
        }
        self.stats.queries += 1;
        if self.left {
            return;
        }
        if q.version < 3 {
            self.older_querier_until = now_ns.saturating_add(OLDER_QUERIER_NS);
        }
        // A random moment within the maximum response time; an earlier answer already
        // pending stands (RFC 3376 5.2).
        let at = now_ns.saturating_add(self.rng.below(q.max_response_ns.max(1)));
        self.response_at = self.response_at.min(at);
    }

    /// Whether a query about `group` and the `n` sources listed in `listed` asks
    /// about a source we receive `group` from (any source when `n` is 0).
    fn wants_any(&self, group: Ipv4Addr, listed: &[u8], n: u16) -> bool {
        let mut ours = sources_of(&self.sources, group).peekable();
        if n == 0 || ours.peek().is_none() {
            return true; // a group query, or a group joined for every source
        }
        ours.any(|s| {
            listed
                .chunks_exact(4)
                .take(usize::from(n))
                .any(|a| a == s.octets())
        })
    }

    /// Sends what is due at `now_ns` through `send` (which answers whether the port
    /// took the frame). A frame the port refused is counted and not retried: the
    /// next query or report covers it.
    pub fn poll(&mut self, now_ns: u64, mut send: impl FnMut(&[u8]) -> bool) {
        let v2 = self.speaking(now_ns) == Version::V2;
        if self.unsolicited_left > 0 && now_ns >= self.unsolicited_at {
            self.unsolicited_left -= 1;
            self.unsolicited_at = now_ns.saturating_add(UNSOLICITED_INTERVAL_NS);
            let frames = if v2 { &self.v2_report } else { &self.v3_join };
            Self::send_all(frames, &mut self.stats, &mut send);
        }
        if now_ns >= self.response_at {
            self.response_at = u64::MAX;
            let frames = if v2 {
                &self.v2_report
            } else {
                &self.v3_current
            };
            Self::send_all(frames, &mut self.stats, &mut send);
        }
    }

    /// Whether [`Membership::leave`] has been called.
    pub fn has_left(&self) -> bool {
        self.left
    }

    /// Leaves every group (the source is closing). Nothing is sent after.
    pub fn leave(&mut self, now_ns: u64, mut send: impl FnMut(&[u8]) -> bool) {
        self.left = true;
        let frames = match self.speaking(now_ns) {
            Version::V2 => &self.v2_leave,
            Version::V3 => &self.v3_leave,
        };
        Self::send_all(frames, &mut self.stats, &mut send);
        self.unsolicited_left = 0;
        self.response_at = u64::MAX;
    }

    fn send_all(frames: &Frames, stats: &mut IgmpStats, send: &mut impl FnMut(&[u8]) -> bool) {
        for f in frames {
            if send(f) {
                stats.sent += 1;
            } else {
                stats.send_failures += 1;
            }
        }
    }

    /// What it has done so far.
    pub fn stats(&self) -> IgmpStats {
        self.stats
    }

    /// The groups joined.
    pub fn groups(&self) -> &[Ipv4Addr] {
        &self.groups
    }

    /// The groups joined, each with its sources if it has any: `232.1.1.1 from
    /// 10.0.0.1, 239.1.1.2`.
    pub fn describe_groups(&self) -> String {
        let group = |&g: &Ipv4Addr| {
            let sources: Vec<String> = sources_of(&self.sources, g)
                .map(|s| s.to_string())
                .collect();
            match sources.is_empty() {
                true => g.to_string(),
                false => format!("{g} from {}", sources.join(" and ")),
            }
        };
        self.groups.iter().map(group).collect::<Vec<_>>().join(", ")
    }
}

/// A version 2 report or leave for `group` (8 bytes, checksum filled in).
fn v2_message(kind: u8, group: Ipv4Addr) -> Vec<u8> {
    let mut m = vec![kind, 0, 0, 0];
    m.extend_from_slice(&group.octets());
    put_checksum(&mut m);
    m
}

/// A version 3 report of the records (type, group, sources).
fn v3_report(records: &[(u8, Ipv4Addr, Vec<Ipv4Addr>)]) -> Vec<u8> {
    let mut m = vec![V3_REPORT, 0, 0, 0, 0, 0];
    m.extend_from_slice(&(records.len() as u16).to_be_bytes());
    for (record, g, sources) in records {
        m.extend_from_slice(&[*record, 0]);
        m.extend_from_slice(&(sources.len() as u16).to_be_bytes());
        m.extend_from_slice(&g.octets());
        for s in sources {
            m.extend_from_slice(&s.octets());
        }
    }
    put_checksum(&mut m);
    m
}

fn put_checksum(igmp: &mut [u8]) {
    let c = internet_checksum(igmp);
    igmp[2..4].copy_from_slice(&c.to_be_bytes());
}

/// Ethernet (802.1Q tag if configured) / IPv4 (TTL 1, TOS 0xc0, router alert) / IGMP,
/// padded to Ethernet's 60-byte minimum.
fn build_frame(cfg: &IgmpConfig, mac: [u8; 6], dst: Ipv4Addr, igmp: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(64 + igmp.len());
    f.extend_from_slice(&multicast_mac(dst));
    f.extend_from_slice(&mac);
    if let Some(v) = cfg.vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = [0u8; 24];
    ip[0] = 0x46; // version 4, 24-byte header (the router alert option)
    ip[1] = 0xc0; // internetwork control, as hosts send IGMP
    ip[2..4].copy_from_slice(&((24 + igmp.len()) as u16).to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 1; // TTL 1: IGMP never leaves the link
    ip[9] = IPPROTO_IGMP;
    ip[12..16].copy_from_slice(&cfg.ip.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    ip[20..24].copy_from_slice(&[0x94, 0x04, 0x00, 0x00]); // router alert (RFC 2113)
    let c = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(igmp);
    f.resize(f.len().max(60), 0);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const MAC: [u8; 6] = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];

    fn cfg(version: Version, vlan: Option<u16>) -> IgmpConfig {
        IgmpConfig {
            version,
            ip: Ipv4Addr::new(10, 1, 2, 3),
            vlan,
            groups: vec![Ipv4Addr::new(239, 1, 1, 1), Ipv4Addr::new(233, 54, 12, 111)],
            sources: Vec::new(),
        }
    }

    /// A query as a querier sends it (IGMP only), checksum filled in.
    fn query(len: usize, code: u8, group: [u8; 4]) -> Vec<u8> {
        let mut q = vec![0u8; len];
        q[0] = MEMBERSHIP_QUERY;
        q[1] = code;
        q[4..8].copy_from_slice(&group);
        put_checksum(&mut q);
        q
    }

    /// Every frame sent, in order.
    fn sent(m: &mut Membership, now: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        m.poll(now, |f| {
            out.push(f.to_vec());
            true
        });
        out
    }

    fn igmp_of(frame: &[u8]) -> (Ipv4Addr, Vec<u8>) {
        let ip = parse_ipv4_frame(frame).unwrap();
        assert_eq!(ip.protocol, IPPROTO_IGMP);
        (ip.dst, ip.payload.to_vec())
    }

    #[test]
    fn frames_carry_router_alert_ttl_1_and_checksums_that_verify() {
        for vlan in [None, Some(141)] {
            let m = Membership::new(&cfg(Version::V3, vlan), MAC, 0, 1).unwrap();
            for f in m.v2_report.iter().chain(&m.v2_leave).chain(&m.v3_join) {
                assert!(f.len() >= 60);
                let ip = parse_ipv4_frame(f).unwrap();
                assert_eq!(ip.vlan, vlan);
                assert_eq!(ip.src, Ipv4Addr::new(10, 1, 2, 3));
                let off = if vlan.is_some() { 18 } else { 14 };
                let hdr = &f[off..off + 24];
                assert_eq!(internet_checksum(hdr), 0, "IP header checksum");
                assert_eq!(hdr[8], 1, "TTL");
                assert_eq!(&hdr[20..24], &[0x94, 4, 0, 0], "router alert");
                assert_eq!(internet_checksum(ip.payload), 0, "IGMP checksum");
                assert_eq!(&f[..6], &multicast_mac(ip.dst));
                assert_eq!(&f[6..12], &MAC);
            }
        }
    }

    #[test]
    fn version_2_reports_each_group_to_itself_and_leaves_to_all_routers() {
        let c = cfg(Version::V2, None);
        let mut m = Membership::new(&c, MAC, 5 * S, 1).unwrap();
        let first = sent(&mut m, 5 * S);
        assert_eq!(first.len(), 2);
        for (f, g) in first.iter().zip(&c.groups) {
            let (dst, igmp) = igmp_of(f);
            assert_eq!(dst, *g);
            assert_eq!(igmp[0], V2_REPORT);
            assert_eq!(&igmp[4..8], &g.octets());
        }
        let mut leaves = Vec::new();
        m.leave(6 * S, |f| {
            leaves.push(f.to_vec());
            true
        });
        assert_eq!(leaves.len(), 2);
        for (f, g) in leaves.iter().zip(&c.groups) {
            let (dst, igmp) = igmp_of(f);
            assert_eq!((dst, igmp[0]), (ALL_ROUTERS, V2_LEAVE));
            assert_eq!(&igmp[4..8], &g.octets());
        }
        assert_eq!(m.stats().sent, 4);
        assert!(m.has_left());
        m.on_message(&query(8, 100, [0; 4]), 7 * S);
        assert_eq!(m.next_due_ns(), u64::MAX, "nothing after the leave");
    }

    #[test]
    fn version_3_joins_with_one_report_of_every_group_twice_a_second_apart() {
        let c = cfg(Version::V3, None);
        let mut m = Membership::new(&c, MAC, 5 * S, 1).unwrap();
        assert_eq!(m.next_due_ns(), 5 * S);
        let first = sent(&mut m, 5 * S);
        assert_eq!(first.len(), 1);
        let (dst, igmp) = igmp_of(&first[0]);
        assert_eq!((dst, igmp[0]), (ALL_V3_ROUTERS, V3_REPORT));
        assert_eq!(u16::from_be_bytes([igmp[6], igmp[7]]), 2, "records");
        for (i, g) in c.groups.iter().enumerate() {
            let r = &igmp[8 + 8 * i..16 + 8 * i];
            assert_eq!(r[0], CHANGE_TO_EXCLUDE);
            assert_eq!(&r[4..8], &g.octets());
        }
        assert!(sent(&mut m, 5 * S + S / 2).is_empty());
        assert_eq!(m.next_due_ns(), 6 * S);
        assert_eq!(sent(&mut m, 6 * S), first, "the second copy");
        assert_eq!(m.next_due_ns(), u64::MAX);
        assert!(sent(&mut m, 100 * S).is_empty());
        let mut leave = Vec::new();
        m.leave(100 * S, |f| {
            leave.push(f.to_vec());
            true
        });
        let (_, igmp) = igmp_of(&leave[0]);
        assert_eq!((igmp[8], igmp[16]), (CHANGE_TO_INCLUDE, CHANGE_TO_INCLUDE));
    }

    #[test]
    fn a_query_is_answered_within_its_maximum_response_time() {
        for seed in 0..50 {
            let mut m = Membership::new(&cfg(Version::V3, None), MAC, 0, seed).unwrap();
            sent(&mut m, 0);
            sent(&mut m, S);
            // Version 3 general query, 2.5 s (code 25).
            m.on_message(&query(12, 25, [0; 4]), 10 * S);
            let due = m.next_due_ns();
            assert!((10 * S..10 * S + 2_500_000_000).contains(&due), "{due}");
            assert!(sent(&mut m, due - 1).is_empty());
            let answer = sent(&mut m, due);
            assert_eq!(answer.len(), 1);
            let (_, igmp) = igmp_of(&answer[0]);
            assert_eq!((igmp[0], igmp[8]), (V3_REPORT, MODE_IS_EXCLUDE));
            assert_eq!(m.next_due_ns(), u64::MAX);
        }
    }

    #[test]
    fn an_earlier_pending_answer_stands_and_other_groups_queries_are_not_answered() {
        let mut m = Membership::new(&cfg(Version::V3, None), MAC, 0, 7).unwrap();
        sent(&mut m, 0);
        sent(&mut m, S);
        m.on_message(&query(12, 1, [0; 4]), 10 * S); // within 0.1 s
        let due = m.next_due_ns();
        m.on_message(&query(12, 100, [0; 4]), 10 * S); // within 10 s: later
        assert_eq!(m.next_due_ns(), due);
        sent(&mut m, due);
        m.on_message(&query(12, 10, [239, 9, 9, 9]), 20 * S);
        assert_eq!(m.next_due_ns(), u64::MAX, "not our group");
        m.on_message(&query(12, 10, [233, 54, 12, 111]), 20 * S);
        assert!(m.next_due_ns() < 21 * S, "our group");
        let s = m.stats();
        assert_eq!((s.queries, s.other_queries), (3, 1));
    }

    #[test]
    fn a_version_2_querier_makes_a_version_3_host_report_in_version_2_for_260_s() {
        let c = cfg(Version::V3, None);
        let mut m = Membership::new(&c, MAC, 0, 3).unwrap();
        sent(&mut m, 0);
        sent(&mut m, S);
        m.on_message(&query(8, 100, [0; 4]), 10 * S);
        assert_eq!(m.speaking(10 * S), Version::V2);
        let due = m.next_due_ns();
        let answer = sent(&mut m, due);
        assert_eq!(answer.len(), 2, "one version 2 report a group");
        assert_eq!(igmp_of(&answer[0]).1[0], V2_REPORT);
        assert_eq!(m.speaking(10 * S + OLDER_QUERIER_NS - 1), Version::V2);
        assert_eq!(m.speaking(10 * S + OLDER_QUERIER_NS), Version::V3);
        // A version 1 query (code 0): answered within 10 s, in version 2.
        m.on_message(&query(8, 0, [0; 4]), 400 * S);
        assert!(m.next_due_ns() < 410 * S);
        assert_eq!(m.speaking(400 * S), Version::V2);
    }

    #[test]
    fn query_codes_decode_as_rfc_3376_says() {
        let p = |len, code| parse_query(&query(len, code, [0; 4])).unwrap().unwrap();
        assert_eq!(p(8, 100).max_response_ns, 10 * S);
        assert_eq!(p(8, 100).version, 2);
        assert_eq!(p(8, 0).version, 1);
        assert_eq!(p(12, 127).max_response_ns, 12_700_000_000);
        // 0x80: mant 0, exp 0 -> 0x10 << 3 = 128 tenths.
        assert_eq!(p(12, 0x80).max_response_ns, 12_800_000_000);
        // 0xff: mant 15, exp 7 -> 0x1f << 10 = 31744 tenths.
        assert_eq!(p(12, 0xff).max_response_ns, 3_174_400_000_000);
        assert_eq!(p(16, 10).group, None);
        let specific = parse_query(&query(12, 10, [239, 1, 1, 1]))
            .unwrap()
            .unwrap();
        assert_eq!(specific.group, Some(Ipv4Addr::new(239, 1, 1, 1)));
    }

    #[test]
    fn malformed_messages_are_counted_and_ignored() {
        let mut m = Membership::new(&cfg(Version::V3, None), MAC, 0, 1).unwrap();
        sent(&mut m, 0);
        sent(&mut m, S);
        let mut bad = query(12, 10, [0; 4]);
        bad[5] ^= 1;
        assert_eq!(parse_query(&bad), Err(IgmpError::BadChecksum));
        assert_eq!(parse_query(&[0x11; 7]), Err(IgmpError::BadLength(7)));
        assert_eq!(
            parse_query(&query(10, 10, [0; 4])),
            Err(IgmpError::BadLength(10))
        );
        for msg in [&bad[..], &[0x11; 7], &query(10, 10, [0; 4])] {
            m.on_message(msg, 10 * S);
        }
        // Another host's report is valid and not a query.
        m.on_message(&v2_message(V2_REPORT, Ipv4Addr::new(239, 1, 1, 1)), 10 * S);
        assert_eq!(m.stats().malformed, 3);
        assert_eq!(m.stats().queries, 0);
        assert_eq!(m.next_due_ns(), u64::MAX);
    }

    #[test]
    fn a_refused_frame_is_counted_not_retried() {
        let mut m = Membership::new(&cfg(Version::V2, None), MAC, 0, 1).unwrap();
        m.poll(0, |_| false);
        let s = m.stats();
        assert_eq!((s.sent, s.send_failures), (0, 2));
        assert_eq!(
            m.next_due_ns(),
            S,
            "the second unsolicited report still comes"
        );
    }

    #[test]
    fn what_cannot_be_joined_is_refused() {
        let with = |f: &dyn Fn(&mut IgmpConfig)| {
            let mut c = cfg(Version::V3, None);
            f(&mut c);
            Membership::new(&c, MAC, 0, 0).unwrap_err()
        };
        assert!(with(&|c| c.groups.clear()).contains("0 groups"));
        assert!(with(&|c| c.groups[0] = Ipv4Addr::new(10, 0, 0, 1)).contains("10.0.0.1"));
        assert!(with(&|c| c.groups[0] = Ipv4Addr::new(224, 0, 0, 1)).contains("224.0.0.0/24"));
        assert!(with(&|c| c.groups[1] = c.groups[0]).contains("listed twice"));
        assert!(with(&|c| c.ip = Ipv4Addr::new(239, 0, 0, 1)).contains("own address"));
        assert!(with(&|c| c.vlan = Some(4095)).contains("VLAN 4095"));
        assert!("v4".parse::<Version>().unwrap_err().contains("v2 or v3"));
    }

    #[test]
    fn on_frame_takes_only_igmp() {
        let mut m = Membership::new(&cfg(Version::V3, Some(141)), MAC, 0, 1).unwrap();
        sent(&mut m, 0);
        sent(&mut m, S);
        // A query framed by the same builder (a querier's frame has the same layout).
        let q = build_frame(
            &cfg(Version::V3, Some(141)),
            MAC,
            ALL_V3_ROUTERS,
            &query(12, 10, [0; 4]),
        );
        assert!(m.on_frame(&q, 10 * S));
        assert!(m.next_due_ns() <= 11 * S);
        let mut udp = Vec::new();
        crate::net::write_udp_frame(
            &mut udp,
            "10.0.0.1:1".parse().unwrap(),
            "239.1.1.1:2".parse().unwrap(),
            b"x",
        );
        assert!(!m.on_frame(&udp, 10 * S));
        assert!(!m.on_frame(&[0u8; 10], 10 * S));
    }

    const G1: Ipv4Addr = Ipv4Addr::new(232, 1, 1, 1);
    const G2: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
    const S1: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
    const S2: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
    const S3: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 3);

    /// G1 for S1 and S2 only (two channels), G2 for every source.
    fn ssm_cfg() -> IgmpConfig {
        IgmpConfig {
            groups: vec![G1, G2],
            sources: vec![(G1, S1), (G1, S2)],
            ..cfg(Version::V3, None)
        }
    }

    /// The records of a version 3 report: (type, group, sources).
    fn records(igmp: &[u8]) -> Vec<(u8, Ipv4Addr, Vec<Ipv4Addr>)> {
        assert_eq!(igmp[0], V3_REPORT);
        let ip = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
        let mut at = 8;
        let mut out = Vec::new();
        for _ in 0..u16::from_be_bytes([igmp[6], igmp[7]]) {
            let n = usize::from(u16::from_be_bytes([igmp[at + 2], igmp[at + 3]]));
            let sources = (0..n).map(|k| ip(&igmp[at + 8 + 4 * k..])).collect();
            out.push((igmp[at], ip(&igmp[at + 4..]), sources));
            at += 8 + 4 * n;
        }
        assert_eq!(at, igmp.len(), "nothing after the records");
        out
    }

    /// A version 3 query about `group` and `sources`.
    fn source_query(group: Ipv4Addr, sources: &[Ipv4Addr]) -> Vec<u8> {
        let mut q = query(12, 10, group.octets());
        q[10..12].copy_from_slice(&(sources.len() as u16).to_be_bytes());
        for s in sources {
            q.extend_from_slice(&s.octets());
        }
        q[2..4].fill(0);
        put_checksum(&mut q);
        q
    }

    #[test]
    fn a_channel_is_joined_reported_and_left_with_its_sources() {
        let mut m = Membership::new(&ssm_cfg(), MAC, 0, 1).unwrap();
        let join = sent(&mut m, 0);
        assert_eq!(join.len(), 1);
        let (dst, igmp) = igmp_of(&join[0]);
        assert_eq!(dst, ALL_V3_ROUTERS);
        assert_eq!(
            records(&igmp),
            vec![
                (ALLOW_NEW_SOURCES, G1, vec![S1, S2]),
                (CHANGE_TO_EXCLUDE, G2, vec![]),
            ]
        );
        sent(&mut m, S);
        m.on_message(&query(12, 10, [0; 4]), 10 * S);
        let due = m.next_due_ns();
        let answer = sent(&mut m, due);
        assert_eq!(
            records(&igmp_of(&answer[0]).1),
            vec![
                (MODE_IS_INCLUDE, G1, vec![S1, S2]),
                (MODE_IS_EXCLUDE, G2, vec![]),
            ]
        );
        let mut leave = Vec::new();
        m.leave(20 * S, |f| {
            leave.push(f.to_vec());
            true
        });
        assert_eq!(
            records(&igmp_of(&leave[0]).1),
            vec![
                (BLOCK_OLD_SOURCES, G1, vec![S1, S2]),
                (CHANGE_TO_INCLUDE, G2, vec![]),
            ]
        );
    }

    #[test]
    fn a_source_specific_query_is_answered_when_it_names_one_of_our_sources() {
        let mut m = Membership::new(&ssm_cfg(), MAC, 0, 1).unwrap();
        sent(&mut m, 0);
        sent(&mut m, S);
        let q = source_query(G1, &[S3]);
        assert_eq!(parse_query(&q).unwrap().unwrap().sources, 1);
        m.on_message(&q, 10 * S);
        assert_eq!(m.next_due_ns(), u64::MAX, "S3 is not a source of ours");
        assert_eq!(m.stats().other_queries, 1);
        m.on_message(&source_query(G1, &[S3, S2]), 10 * S);
        assert!(m.next_due_ns() < 11 * S, "S2 is");
        sent(&mut m, 11 * S);
        // G2 is joined for every source, so any source is ours.
        m.on_message(&source_query(G2, &[S3]), 20 * S);
        assert!(m.next_due_ns() < 21 * S);
        assert_eq!((m.stats().queries, m.stats().other_queries), (2, 1));
        // A source list longer than the message.
        let mut short = source_query(G1, &[S1, S2]);
        short.truncate(16);
        short[2..4].fill(0);
        put_checksum(&mut short);
        assert_eq!(parse_query(&short), Err(IgmpError::BadLength(16)));
    }

    #[test]
    fn in_version_2_compatibility_a_channel_is_reported_for_its_group() {
        let mut m = Membership::new(&ssm_cfg(), MAC, 0, 1).unwrap();
        sent(&mut m, 0);
        sent(&mut m, S);
        m.on_message(&query(8, 100, [0; 4]), 10 * S);
        let due = m.next_due_ns();
        let answer = sent(&mut m, due);
        let groups: Vec<_> = answer
            .iter()
            .map(|f| {
                let (dst, igmp) = igmp_of(f);
                assert_eq!(igmp[0], V2_REPORT);
                dst
            })
            .collect();
        assert_eq!(groups, vec![G1, G2]);
    }

    #[test]
    fn channels_that_cannot_be_joined_are_refused() {
        let with = |f: &dyn Fn(&mut IgmpConfig)| {
            let mut c = ssm_cfg();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(with(&|c| c.version = Version::V2).contains("needs version 3"));
        assert!(with(&|c| c.sources[0].0 = Ipv4Addr::new(239, 7, 7, 7)).contains("not joined"));
        assert!(with(&|c| c.sources[0].1 = Ipv4Addr::new(239, 7, 7, 7)).contains("unicast"));
        assert!(with(&|c| c.sources[0].1 = Ipv4Addr::UNSPECIFIED).contains("unicast"));
        assert!(with(&|c| c.sources[1] = c.sources[0]).contains("listed twice"));
        assert!(with(&|c| {
            c.sources = (1..=9).map(|k| (G1, Ipv4Addr::new(10, 9, 1, k))).collect()
        })
        .contains("more than 8 sources"));
        assert_eq!(ssm_cfg().validate(), Ok(()));
        assert_eq!(ssm_cfg().sources_of(G1).collect::<Vec<_>>(), vec![S1, S2]);
        assert_eq!(ssm_cfg().sources_of(G2).count(), 0);
    }
}
