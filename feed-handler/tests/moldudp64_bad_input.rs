//! Bad input: `Packet::new_checked` / `Request::new_checked` on arbitrary and on
//! mutated valid bytes never panic, and every accepted packet's blocks lie inside the
//! buffer and add up to it exactly; a session fed arbitrary bytes, arbitrary valid
//! packets (any sequence up to u64::MAX, heartbeats, end of session, other sessions)
//! and arbitrary times (including backwards) never panics, delivers in strictly
//! increasing order at most once, and keeps its counting invariant.

use hotpath_feed::moldudp64::{
    write_end_of_session, write_heartbeat, Action, Line, Packet, PacketBuilder, PacketKind,
    Rejected, Request, Session, SessionConfig, SessionId, Sink, StartAt, HEADER_LEN,
};
use proptest::prelude::*;

/// Checks everything an accepted packet promises.
fn check_accepted(bytes: &[u8]) {
    let Ok(p) = Packet::new_checked(bytes) else {
        return;
    };
    let base = bytes.as_ptr() as usize;
    let mut offset = HEADER_LEN;
    let mut n = 0u32;
    for m in p.messages() {
        let start = m.as_ptr() as usize - base;
        assert_eq!(
            start,
            offset + 2,
            "message {n} does not follow its length prefix"
        );
        assert!(start + m.len() <= bytes.len(), "message {n} out of bounds");
        assert_eq!(
            usize::from(u16::from_be_bytes([bytes[offset], bytes[offset + 1]])),
            m.len()
        );
        offset = start + m.len();
        n += 1;
    }
    assert_eq!(offset, bytes.len(), "blocks do not add up to the packet");
    assert_eq!(n, u32::from(p.message_count()));
    match p.kind() {
        PacketKind::Data => assert!(p.count() >= 1 && p.count() <= 0xFFFE),
        PacketKind::Heartbeat | PacketKind::EndOfSession => assert_eq!(bytes.len(), HEADER_LEN),
    }
    assert!(p
        .sequence()
        .checked_add(u64::from(p.message_count()))
        .is_some());
    assert_eq!(p.sequenced().count() as u32, n);
}

fn valid_packet(seq: u64, sizes: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 20 + sizes.iter().map(|s| 2 + *s as usize).sum::<usize>()];
    let mut b = PacketBuilder::new(&mut buf, b"FUZZSESS01", seq).unwrap();
    for (i, s) in sizes.iter().enumerate() {
        b.push(&vec![i as u8; *s as usize]).unwrap();
    }
    b.finish().to_vec()
}

/// A sink that checks order and exactly-once.
#[derive(Default)]
struct Strict {
    last: Option<u64>,
    delivered: u64,
    lost: u64,
}

impl Sink for Strict {
    fn message(&mut self, sequence: u64, _message: &[u8]) {
        if let Some(last) = self.last {
            assert!(sequence > last, "{sequence} after {last}");
        }
        self.last = Some(sequence);
        self.delivered += 1;
    }
    fn lost(&mut self, first: u64, count: u64) {
        assert!(count > 0);
        if let Some(last) = self.last {
            assert!(first > last, "lost {first} after {last}");
        }
        self.last = Some(first + count - 1);
        self.lost += count;
    }
}

fn small_config(start: StartAt) -> SessionConfig {
    SessionConfig {
        start,
        buffer_capacity: 32,
        max_message_len: 16,
        request_delay_ns: 10,
        request_interval_ns: 100,
        request_timeout_ns: 1_000,
        max_request_count: 40,
        max_request_attempts: 2,
        max_gap_age_ns: 50_000,
        ..SessionConfig::default()
    }
}

fn check_session(s: &Session, sink: &Strict) {
    let st = s.stats();
    assert_eq!(
        st.messages_missing,
        st.messages_recovered_total() + st.messages_lost + s.missing(),
        "{st:?}"
    );
    assert_eq!(st.messages_delivered, sink.delivered);
    assert_eq!(st.messages_lost, sink.lost);
    assert!(s.buffered() <= s.buffer_capacity());
    assert!(s.next_sequence() <= s.high_water());
}

fn line(i: u8) -> Line {
    Line::ALL[usize::from(i % 3)]
}

#[derive(Debug, Clone)]
enum Op {
    Data { seq: u64, sizes: Vec<u8> },
    Heartbeat(u64),
    End(u64),
    Other(u64),
    Raw(Vec<u8>),
    Poll,
}

fn near(base: u64) -> impl Strategy<Value = u64> {
    (0u64..200).prop_map(move |d| base.saturating_add(d))
}

fn op() -> impl Strategy<Value = Op> {
    let seq = prop_oneof![
        4 => 1u64..200,
        1 => near(u64::MAX - 150),
        1 => any::<u64>(),
    ];
    prop_oneof![
        6 => (seq.clone(), prop::collection::vec(0u8..24, 1..12))
            .prop_map(|(seq, sizes)| Op::Data { seq, sizes }),
        1 => seq.clone().prop_map(Op::Heartbeat),
        1 => seq.clone().prop_map(Op::End),
        1 => seq.prop_map(Op::Other),
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(Op::Raw),
        2 => Just(Op::Poll),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn new_checked_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_accepted(&bytes);
        let _ = Request::new_checked(&bytes[..]);
        // Unchecked views never panic in their iterators either.
        let p = Packet::new_unchecked(&bytes[..]);
        prop_assert!(p.messages().count() <= 0xFFFF);
        prop_assert!(p.sequenced().count() <= 0xFFFF);
    }

    #[test]
    fn arbitrary_header_then_plausible_blocks(
        count in any::<u16>(),
        seq in any::<u64>(),
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        // A header with any count followed by random bytes: mostly small lengths so
        // some blocks parse and the error comes at a random block.
        let mut bytes = vec![b'S'; 10];
        bytes.extend_from_slice(&seq.to_be_bytes());
        bytes.extend_from_slice(&count.to_be_bytes());
        bytes.extend(body.iter().map(|b| b & 0x07));
        check_accepted(&bytes);
        bytes.truncate(20 + body.len() / 2);
        check_accepted(&bytes);
    }

    #[test]
    fn mutated_valid_packets(
        seq in any::<u64>(),
        sizes in prop::collection::vec(0u8..40, 1..20),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
        extra in prop::collection::vec(any::<u8>(), 0..3),
    ) {
        let seq = seq.min(u64::MAX - sizes.len() as u64);
        let good = valid_packet(seq, &sizes);
        let p = Packet::new_checked(&good[..]).expect("builder output is valid");
        prop_assert_eq!(p.count() as usize, sizes.len());
        let mut bad = good.clone();
        for (at, x) in flips {
            let i = at % bad.len();
            bad[i] ^= x;
        }
        check_accepted(&bad);
        let cut = cut % (good.len() + 1);
        check_accepted(&good[..cut]);
        if cut < good.len() {
            // A valid packet cut short is always rejected.
            prop_assert!(Packet::new_checked(&good[..cut]).is_err());
        }
        let mut long = good.clone();
        long.extend_from_slice(&extra);
        check_accepted(&long);
        prop_assert_eq!(Packet::new_checked(&long[..]).is_ok(), extra.is_empty());
    }

    #[test]
    fn session_never_panics_on_arbitrary_bytes(
        chunks in prop::collection::vec((any::<u8>(), any::<u64>(), prop::collection::vec(any::<u8>(), 0..64)), 1..40),
    ) {
        let mut s = Session::new(small_config(StartAt::FirstSeen)).unwrap();
        let mut sink = Strict::default();
        for (l, t, bytes) in chunks {
            let out = s.on_packet(line(l), &bytes, t, &mut sink);
            if let Some(action) = out.action {
                let mut buf = [0u8; 20];
                prop_assert_eq!(s.write_request(&action, &mut buf), Ok(20));
            }
            let _ = s.poll(t, &mut sink);
            check_session(&s, &sink);
        }
    }

    #[test]
    fn session_survives_arbitrary_valid_packets_and_times(
        start in prop_oneof![Just(StartAt::FirstSeen), (0u64..100).prop_map(StartAt::Sequence), near(u64::MAX - 50).prop_map(StartAt::Sequence)],
        ops in prop::collection::vec((any::<u8>(), 0u64..5_000, op()), 1..60),
    ) {
        let mut s = Session::new(small_config(start)).unwrap();
        let mut sink = Strict::default();
        let mut now = 0u64;
        for (l, dt, op) in ops {
            // Mostly forward, sometimes backwards.
            now = if dt % 13 == 0 { now.saturating_sub(dt) } else { now + dt };
            let bytes = match op {
                Op::Data { seq, sizes } => {
                    let seq = seq.min(u64::MAX - sizes.len() as u64);
                    Some(valid_packet(seq, &sizes))
                }
                Op::Heartbeat(seq) => {
                    let mut b = vec![0u8; 20];
                    write_heartbeat(&mut b, b"FUZZSESS01", seq).unwrap();
                    Some(b)
                }
                Op::End(seq) => {
                    let mut b = vec![0u8; 20];
                    write_end_of_session(&mut b, b"FUZZSESS01", seq).unwrap();
                    Some(b)
                }
                Op::Other(seq) => {
                    let mut b = vec![0u8; 20];
                    write_heartbeat(&mut b, b"OTHERSESS1", seq).unwrap();
                    Some(b)
                }
                Op::Raw(b) => Some(b),
                Op::Poll => None,
            };
            let action = match bytes {
                Some(b) => {
                    let out = s.on_packet(line(l), &b, now, &mut sink);
                    if let Some(Rejected::OtherSession { session }) = out.rejected {
                        prop_assert_ne!(Some(&session), s.session_id());
                    }
                    out.action
                }
                None => s.poll(now, &mut sink),
            };
            if let Some(Action::Request { sequence, count }) = action {
                prop_assert!((1..=40).contains(&count));
                prop_assert_eq!(sequence, s.next_sequence());
                prop_assert!(sequence + u64::from(count) <= s.high_water());
            }
            check_session(&s, &sink);
        }
    }
}

#[test]
fn session_id_of_a_rejected_session_stays_unset() {
    let s: SessionId = *b"FUZZSESS01";
    let mut session = Session::new(small_config(StartAt::FirstSeen)).unwrap();
    let mut sink = Strict::default();
    let out = session.on_packet(Line::A, &[0xFF; 19], 0, &mut sink);
    assert!(matches!(out.rejected, Some(Rejected::Malformed(_))));
    assert_eq!(session.session_id(), None);
    let _ = session.on_packet(Line::B, &valid_packet(5, &[1, 2]), 0, &mut sink);
    assert_eq!(session.session_id(), Some(&s));
    assert_eq!(sink.delivered, 2);
}
