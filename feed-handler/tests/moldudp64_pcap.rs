//! MoldUDP64 framing on a real capture (Open Markets Initiative sample, 2023-08-22:
//! Ethernet + VLAN 141 + IPv4 + UDP -> 233.54.12.111:26477, session 000010059B, ITCH
//! 5.0), checked against the facts in shared/data/README.md and, packet by packet and
//! message by message, against tshark's independent moldudp64 dissector.

use std::fs::File;
use std::process::Command;

use hotpath_feed::moldudp64::{Action, Line, Packet, Session, SessionConfig, StartAt};
use pcap_file::pcap::PcapReader;

const CAPTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/itch50/moldudp64_multiple_packets.pcap"
);
const MOLD_PORT: u16 = 26477;
const VLAN_ID: u16 = 141;

/// A decoded MoldUDP64 packet (owned, for comparisons).
#[derive(Debug, Clone, PartialEq)]
struct Decoded {
    session: String,
    sequence: u64,
    count: u16,
    messages: Vec<Vec<u8>>,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Ethernet (+ 802.1Q) + IPv4 + UDP -> (UDP destination port, UDP payload). Only what
/// this capture needs; the production parser lives elsewhere.
fn udp_payload(frame: &[u8]) -> (u16, &[u8]) {
    assert!(frame.len() >= 14, "frame shorter than an Ethernet header");
    let mut ethertype = be16(frame, 12);
    let mut at = 14;
    if ethertype == 0x8100 {
        let vlan = be16(frame, at) & 0x0FFF;
        assert_eq!(vlan, VLAN_ID, "unexpected VLAN id");
        ethertype = be16(frame, at + 2);
        at += 4;
    }
    assert_eq!(ethertype, 0x0800, "not IPv4");
    let ip = &frame[at..];
    assert_eq!(ip[0] >> 4, 4, "IP version");
    let ihl = usize::from(ip[0] & 0x0F) * 4;
    let total = usize::from(be16(ip, 2));
    assert_eq!(ip[9], 17, "not UDP");
    assert!(total <= ip.len() && ihl >= 20 && ihl + 8 <= total);
    let udp = &ip[ihl..total];
    let udp_len = usize::from(be16(udp, 4));
    assert!(udp_len >= 8 && udp_len <= udp.len(), "bad UDP length");
    (be16(udp, 2), &udp[8..udp_len])
}

/// Every MoldUDP64 payload in the capture, in capture order.
fn payloads() -> Vec<Vec<u8>> {
    let file = File::open(CAPTURE).unwrap_or_else(|e| {
        panic!("cannot open the real MoldUDP64 capture at {CAPTURE}: {e} (shared/data missing?)")
    });
    let mut reader = PcapReader::new(file).expect("pcap header");
    let mut out = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("pcap record");
        let (port, payload) = udp_payload(&packet.data);
        assert_eq!(port, MOLD_PORT, "unexpected UDP port in the capture");
        out.push(payload.to_vec());
    }
    out
}

fn decode(payload: &[u8]) -> Decoded {
    let p = Packet::new_checked(payload).unwrap_or_else(|e| panic!("real packet rejected: {e}"));
    let messages: Vec<Vec<u8>> = p.messages().map(<[u8]>::to_vec).collect();
    assert_eq!(messages.len(), usize::from(p.message_count()));
    Decoded {
        session: String::from_utf8(p.session().to_vec()).expect("ASCII session"),
        sequence: p.sequence(),
        count: p.count(),
        messages,
    }
}

#[test]
fn real_capture_facts() {
    let decoded: Vec<Decoded> = payloads().iter().map(|p| decode(p)).collect();
    assert!(!decoded.is_empty(), "no packets in the capture");
    for d in &decoded {
        assert_eq!(d.session, "000010059B");
    }

    let delete = decoded
        .iter()
        .find(|d| d.sequence == 14_764_496)
        .expect("packet with sequence 14764496");
    assert_eq!(delete.count, 1);
    assert_eq!(delete.messages.len(), 1);
    assert_eq!(
        delete.messages[0][0], b'D',
        "sequence 14764496 is an order delete"
    );
    assert_eq!(delete.messages[0].len(), 19, "ITCH 5.0 'D' is 19 bytes");

    let adds = decoded
        .iter()
        .find(|d| d.sequence == 19_009_117)
        .expect("packet with sequence 19009117");
    assert_eq!(adds.count, 38);
    assert_eq!(adds.messages.len(), 38);
    for (i, m) in adds.messages.iter().enumerate() {
        assert!(
            m[0] == b'A' || m[0] == b'F',
            "message {i} has type {:?}, expected an add order",
            m[0] as char
        );
        let expected_len = if m[0] == b'A' { 36 } else { 40 };
        assert_eq!(m.len(), expected_len, "message {i} length");
        assert_eq!(&m[24..32], b"META    ", "message {i} stock");
    }
    assert!(adds.messages.iter().any(|m| m[0] == b'F'));
    assert!(adds.messages.iter().any(|m| m[0] == b'A'));
}

/// tshark output for one packet: session, sequence, count, and per message its
/// sequence, length and payload.
#[derive(Debug)]
struct Tshark {
    session: String,
    sequence: u64,
    count: u16,
    msgseq: Vec<u64>,
    msglen: Vec<u16>,
    msgdata: Vec<Vec<u8>>,
}

fn split_list(field: &str) -> Vec<&str> {
    if field.is_empty() {
        Vec::new()
    } else {
        field.split(',').collect()
    }
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| *c != ':').collect();
    assert!(s.len().is_multiple_of(2), "odd hex length from tshark: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from tshark"))
        .collect()
}

fn tshark() -> Vec<Tshark> {
    let output = Command::new("tshark")
        .args([
            "-r",
            CAPTURE,
            "-d",
            "udp.port==26477,moldudp64",
            "-T",
            "fields",
        ])
        .args([
            "-E",
            "separator=/t",
            "-E",
            "aggregator=,",
            "-E",
            "occurrence=a",
        ])
        .args(["-e", "moldudp64.session", "-e", "moldudp64.sequence"])
        .args(["-e", "moldudp64.count", "-e", "moldudp64.msgseq"])
        .args(["-e", "moldudp64.msglen", "-e", "moldudp64.msgdata"])
        .output()
        .expect("running tshark (it is required by this test: apt-get install tshark)");
    assert!(
        output.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("tshark output is UTF-8");
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 6, "unexpected tshark line: {line:?}");
            Tshark {
                session: f[0].to_string(),
                sequence: f[1].parse().expect("tshark sequence"),
                count: f[2].parse().expect("tshark count"),
                msgseq: split_list(f[3])
                    .iter()
                    .map(|s| s.parse().unwrap())
                    .collect(),
                msglen: split_list(f[4])
                    .iter()
                    .map(|s| s.parse().unwrap())
                    .collect(),
                msgdata: split_list(f[5]).into_iter().map(hex).collect(),
            }
        })
        .collect()
}

#[test]
fn framing_matches_tshark_dissector() {
    let ours: Vec<Decoded> = payloads().iter().map(|p| decode(p)).collect();
    let theirs = tshark();
    assert_eq!(ours.len(), theirs.len(), "packet count differs from tshark");
    let mut messages = 0;
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o.session, t.session, "packet {i} session");
        assert_eq!(o.sequence, t.sequence, "packet {i} sequence");
        assert_eq!(o.count, t.count, "packet {i} count");
        let lens: Vec<u16> = o.messages.iter().map(|m| m.len() as u16).collect();
        assert_eq!(lens, t.msglen, "packet {i} message lengths");
        let seqs: Vec<u64> = (0..u64::from(o.count)).map(|k| o.sequence + k).collect();
        assert_eq!(seqs, t.msgseq, "packet {i} message sequence numbers");
        assert_eq!(o.messages, t.msgdata, "packet {i} message bytes");
        messages += o.messages.len();
    }
    assert_eq!(messages, 39, "1 + 38 messages in the capture");
}

#[test]
fn real_packets_through_a_session() {
    let payloads = payloads();

    // Started at the second packet: the first is before the start (a duplicate) and
    // the 38 META adds are delivered straight from the packet, in order.
    let mut session = Session::new(SessionConfig {
        start: StartAt::Sequence(19_009_117),
        ..SessionConfig::default()
    })
    .unwrap();
    let mut got = Vec::new();
    for p in &payloads {
        let out = session.on_packet(Line::A, p, 0, &mut |seq: u64, m: &[u8]| {
            got.push((seq, m[0], m[24..32].to_vec()))
        });
        assert_eq!(out.rejected, None);
        assert_eq!(out.action, None);
    }
    assert_eq!(got.len(), 38);
    for (k, (seq, kind, stock)) in got.iter().enumerate() {
        assert_eq!(*seq, 19_009_117 + k as u64);
        assert!(*kind == b'A' || *kind == b'F');
        assert_eq!(stock, b"META    ");
    }
    assert_eq!(session.stats().duplicates[Line::A.index()], 1);
    assert_eq!(session.session_id(), Some(b"000010059B"));

    // Started at the first packet: the second one reveals a gap of 4,244,620 messages,
    // far beyond the out-of-order buffer, so its 38 messages overflow and the request
    // policy asks from the first missing sequence.
    let mut session = Session::new(SessionConfig::default()).unwrap();
    let mut delivered = 0;
    for p in &payloads {
        let _ = session.on_packet(Line::A, p, 0, &mut |_: u64, _: &[u8]| delivered += 1);
    }
    assert_eq!(delivered, 1);
    let s = session.stats();
    assert_eq!(s.gaps_detected, 1);
    assert_eq!(s.messages_missing, 19_009_117 - 14_764_497 + 38);
    assert_eq!(s.buffer_overflows, 38);
    let action = session.poll(1_000_000, &mut |_: u64, _: &[u8]| unreachable!());
    assert_eq!(
        action,
        Some(Action::Request {
            sequence: 14_764_497,
            count: 64
        })
    );
}
