//! The IGMP frames a DPDK port sends to join the feed's groups, read back by tshark's
//! independent IGMP and IPv4 dissectors: versions, types, destinations, group records,
//! both checksums, TTL 1 and the router alert option, with and without a VLAN tag, and
//! the source lists of source-specific joins.

use std::net::Ipv4Addr;
use std::process::Command;

use hotpath_feed::igmp::{IgmpConfig, Membership, Version};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

const S: u64 = 1_000_000_000;
const MAC: [u8; 6] = [0x02, 0x10, 0x20, 0x30, 0x40, 0x50];
const G1: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
const G2: Ipv4Addr = Ipv4Addr::new(233, 54, 12, 111);

/// A general query (IGMP message only): version 3 (12 bytes) or 2 (8 bytes), 1 s.
fn general_query(version: u8) -> Vec<u8> {
    let mut q = vec![0u8; if version == 3 { 12 } else { 8 }];
    q[0] = 0x11;
    q[1] = 10;
    let c = hotpath_feed::net::internet_checksum(&q);
    q[2..4].copy_from_slice(&c.to_be_bytes());
    q
}

/// Every frame a membership sends over its life: the two unsolicited reports, the
/// answer to a query of the given version, and the leave.
fn life(version: Version, vlan: Option<u16>, query_version: u8) -> Vec<Vec<u8>> {
    life_of(
        IgmpConfig {
            version,
            ip: Ipv4Addr::new(10, 9, 8, 7),
            vlan,
            groups: vec![G1, G2],
            sources: Vec::new(),
        },
        query_version,
    )
}

/// [`life`] of the membership `cfg` describes.
fn life_of(cfg: IgmpConfig, query_version: u8) -> Vec<Vec<u8>> {
    let mut m = Membership::new(&cfg, MAC, 0, 42).unwrap();
    let mut out = Vec::new();
    let mut send = |f: &[u8]| {
        out.push(f.to_vec());
        true
    };
    m.poll(0, &mut send);
    m.poll(S, &mut send);
    m.on_message(&general_query(query_version), 10 * S);
    m.poll(12 * S, &mut send);
    m.leave(13 * S, &mut send);
    out
}

/// One line of tshark's fields for each frame.
fn tshark(frames: &[Vec<u8>]) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("igmp.pcap");
    let mut w =
        PcapWriter::with_header(std::fs::File::create(&path).unwrap(), PcapHeader::default())
            .unwrap();
    for f in frames {
        w.write_packet(&PcapPacket::new(
            std::time::Duration::ZERO,
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
    drop(w);
    let fields = [
        "igmp.version",
        "igmp.type",
        "igmp.checksum.status",
        "ip.checksum.status",
        "ip.ttl",
        "ip.opt.ra",
        "ip.dst",
        "igmp.maddr",
        "igmp.record_type",
        "vlan.id",
        "eth.src",
        "igmp.num_src",
        "igmp.saddr",
    ];
    let mut cmd = Command::new("tshark");
    cmd.args(["-r"]).arg(&path).args([
        "-o",
        "ip.check_checksum:TRUE",
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "aggregator=,",
        "-E",
        "occurrence=a",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .expect("run tshark (scripts/test installs it: apt-get install tshark)");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// The fields every frame shares: good checksums, TTL 1, router alert, our address.
fn assert_well_formed(row: &[String], vlan: Option<u16>) {
    assert_eq!(row[2], "1", "IGMP checksum good: {row:?}");
    assert_eq!(row[3], "1", "IP header checksum good: {row:?}");
    assert_eq!(row[4], "1", "TTL: {row:?}");
    assert!(!row[5].is_empty(), "router alert option: {row:?}");
    assert_eq!(row[9], vlan.map(|v| v.to_string()).unwrap_or_default());
    assert_eq!(row[10], "02:10:20:30:40:50");
}

#[test]
fn version_3_frames_dissect_as_a_join_a_current_state_report_and_a_leave() {
    for vlan in [None, Some(141)] {
        let rows = tshark(&life(Version::V3, vlan, 3));
        assert_eq!(rows.len(), 4, "{rows:?}");
        for row in &rows {
            assert_well_formed(row, vlan);
            assert_eq!((row[0].as_str(), row[1].as_str()), ("3", "0x22"));
            assert_eq!(row[6], "224.0.0.22");
            assert_eq!(row[7], "239.1.1.1,233.54.12.111");
        }
        // CHANGE_TO_EXCLUDE (join) twice, MODE_IS_EXCLUDE (answer), CHANGE_TO_INCLUDE
        // (leave), one record a group.
        let records: Vec<&str> = rows.iter().map(|r| r[8].as_str()).collect();
        assert_eq!(records, ["4,4", "4,4", "2,2", "3,3"]);
    }
}

#[test]
fn version_2_frames_dissect_as_reports_to_each_group_and_leaves_to_all_routers() {
    let rows = tshark(&life(Version::V2, Some(141), 2));
    // Two unsolicited rounds and one answer of a report a group, then two leaves.
    assert_eq!(rows.len(), 8, "{rows:?}");
    for (i, row) in rows.iter().enumerate() {
        assert_well_formed(row, Some(141));
        assert_eq!(row[0], "2");
        let group = if i % 2 == 0 {
            "239.1.1.1"
        } else {
            "233.54.12.111"
        };
        assert_eq!(row[7], group);
        if i < 6 {
            assert_eq!((row[1].as_str(), row[6].as_str()), ("0x16", group));
        } else {
            assert_eq!((row[1].as_str(), row[6].as_str()), ("0x17", "224.0.0.2"));
        }
    }
}

#[test]
fn a_version_3_host_answers_a_version_2_querier_in_version_2() {
    let rows = tshark(&life(Version::V3, None, 2));
    let kinds: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    // The join in version 3, then the answer and the leave in version 2.
    assert_eq!(
        kinds,
        [
            ("3", "0x22"),
            ("3", "0x22"),
            ("2", "0x16"),
            ("2", "0x16"),
            ("2", "0x17"),
            ("2", "0x17")
        ]
    );
    for row in &rows {
        assert_well_formed(row, None);
    }
}

#[test]
fn a_source_specific_join_dissects_with_its_sources_in_each_record() {
    let (s1, s2) = (Ipv4Addr::new(10, 50, 0, 1), Ipv4Addr::new(10, 50, 0, 2));
    let rows = tshark(&life_of(
        IgmpConfig {
            version: Version::V3,
            ip: Ipv4Addr::new(10, 9, 8, 7),
            vlan: Some(141),
            groups: vec![G1, G2],
            sources: vec![(G1, s1), (G1, s2)],
        },
        3,
    ));
    assert_eq!(rows.len(), 4, "{rows:?}");
    for row in &rows {
        assert_well_formed(row, Some(141));
        assert_eq!((row[0].as_str(), row[1].as_str()), ("3", "0x22"));
        assert_eq!(row[7], "239.1.1.1,233.54.12.111");
        // G1 for its two sources, G2 for any source.
        assert_eq!(row[11], "2,0");
        assert_eq!(row[12], "10.50.0.1,10.50.0.2");
    }
    // ALLOW_NEW_SOURCES (5) to join, MODE_IS_INCLUDE (1) to answer, BLOCK_OLD_SOURCES
    // (6) to leave; G2's records as for any-source joins.
    let records: Vec<&str> = rows.iter().map(|r| r[8].as_str()).collect();
    assert_eq!(records, ["5,4", "5,4", "1,2", "6,3"]);
}
