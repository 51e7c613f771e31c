//! IGMP (what a DPDK port that joins its feed's groups reads from the wire). One input
//! is used two ways:
//! 1. as an IGMP message: never a panic; an accepted message's checksum verifies; a
//!    query's maximum response time is within what its code can say, and the answer
//!    it schedules is due within it; each message counts once (a query for us, one for
//!    another group or other sources, or a malformed message) or not at all (another
//!    host's report); a version 3 query's source list lies within the message;
//! 2. as an Ethernet frame: never a panic, and only IGMP is taken.
#![no_main]

use std::net::Ipv4Addr;

use hotpath_feed::igmp::{parse_query, IgmpConfig, Membership, Version};
use hotpath_feed::net::{internet_checksum, parse_ipv4_frame, IPPROTO_IGMP};
use libfuzzer_sys::fuzz_target;

/// The longest maximum response time a code can say: 0xff, (15 | 16) << 10 tenths.
const MAX_RESPONSE_NS: u64 = 31_744 * 100_000_000;
const NOW: u64 = 1_000_000_000_000;

fuzz_target!(|data: &[u8]| {
    let cfg = IgmpConfig {
        version: if data.first().is_some_and(|b| b & 1 == 1) {
            Version::V2
        } else {
            Version::V3
        },
        ip: Ipv4Addr::new(10, 0, 0, 1),
        vlan: None,
        groups: vec![Ipv4Addr::new(239, 1, 1, 1), Ipv4Addr::new(233, 54, 12, 111)],
        sources: Vec::new(),
    };
    // Version 3 joins its first group for one source (a channel), so that source
    // lists in queries are matched too.
    let cfg = match cfg.version {
        Version::V3 => IgmpConfig {
            sources: vec![(cfg.groups[0], Ipv4Addr::new(10, 9, 9, 9))],
            ..cfg
        },
        Version::V2 => cfg,
    };
    let mut m = Membership::new(&cfg, [2, 0, 0, 0, 0, 1], 0, 7).expect("a valid config");
    // The two unsolicited reports, so that only an answer can be due after.
    m.poll(0, |_| true);
    m.poll(1_000_000_000, |_| true);
    assert_eq!(m.next_due_ns(), u64::MAX);

    let parsed = parse_query(data);
    let before = m.stats();
    m.on_message(data, NOW);
    let after = m.stats();
    let counted = (after.queries - before.queries)
        + (after.other_queries - before.other_queries)
        + (after.malformed - before.malformed);
    match parsed {
        Err(_) => assert_eq!(counted, 1),
        Ok(None) => assert_eq!(counted, 0),
        Ok(Some(q)) => {
            assert_eq!(internet_checksum(data), 0, "accepted with a bad checksum");
            assert!(q.max_response_ns <= MAX_RESPONSE_NS);
            assert!((1..=3).contains(&q.version));
            assert!(
                q.sources == 0 || (q.version == 3 && 12 + 4 * usize::from(q.sources) <= data.len())
            );
            assert_eq!(counted, 1);
            if after.queries > before.queries {
                let due = m.next_due_ns();
                assert!(due >= NOW && due <= NOW + q.max_response_ns.max(1));
            } else {
                assert_eq!(m.next_due_ns(), u64::MAX, "another group's query answered");
            }
        }
    }

    let mut m = Membership::new(&cfg, [2, 0, 0, 0, 0, 1], 0, 7).expect("a valid config");
    let taken = m.on_frame(data, NOW);
    let is_igmp = matches!(parse_ipv4_frame(data), Ok(ip) if ip.protocol == IPPROTO_IGMP);
    assert_eq!(taken, is_igmp);
});
