//! Deterministic tests of the MoldUDP64 session state machine, one behaviour each.
//! Time is injected, so every test states exactly when things happen.

use hotpath_feed::moldudp64::{
    write_end_of_session, write_heartbeat, Action, Line, MoldError, MoldErrorKind, PacketBuilder,
    Rejected, Request, Session, SessionConfig, SessionId, Sink, StartAt,
};

const S: SessionId = *b"SESSION001";
const OTHER: SessionId = *b"SESSION002";

/// Deterministic payload of a sequence number, 1..=20 bytes.
fn msg(seq: u64) -> Vec<u8> {
    let len = 1 + (seq % 20) as usize;
    (0..len)
        .map(|i| (seq as u8).wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

fn pkt_in(session: &SessionId, first: u64, count: u64) -> Vec<u8> {
    let mut buf = vec![0u8; 1500];
    let mut b = PacketBuilder::new(&mut buf, session, first).unwrap();
    for s in first..first + count {
        b.push(&msg(s)).unwrap();
    }
    b.finish().to_vec()
}

fn pkt(first: u64, count: u64) -> Vec<u8> {
    pkt_in(&S, first, count)
}

fn hb(next: u64) -> Vec<u8> {
    let mut b = [0u8; 20];
    write_heartbeat(&mut b, &S, next).unwrap();
    b.to_vec()
}

fn eos(next: u64) -> Vec<u8> {
    let mut b = [0u8; 20];
    write_end_of_session(&mut b, &S, next).unwrap();
    b.to_vec()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Msg(u64),
    Lost(u64, u64),
}

/// Records everything and checks order and content as it goes.
#[derive(Default)]
struct Rec {
    events: Vec<Event>,
}

impl Rec {
    fn delivered(&self) -> Vec<u64> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Msg(s) => Some(*s),
                Event::Lost(..) => None,
            })
            .collect()
    }
}

impl Sink for Rec {
    fn message(&mut self, sequence: u64, message: &[u8]) {
        assert_eq!(message, &msg(sequence)[..], "content of {sequence}");
        self.events.push(Event::Msg(sequence));
    }
    fn lost(&mut self, first: u64, count: u64) {
        self.events.push(Event::Lost(first, count));
    }
}

/// Small, fast timers: delay 100, interval 1000, timeout 10 000, 3 attempts.
fn config() -> SessionConfig {
    SessionConfig {
        session: None,
        start: StartAt::FirstSeen,
        buffer_capacity: 16,
        max_message_len: 32,
        request_delay_ns: 100,
        request_interval_ns: 1_000,
        request_timeout_ns: 10_000,
        max_request_count: 64,
        max_request_attempts: 3,
        max_gap_age_ns: 1_000_000,
    }
}

fn session() -> Session {
    Session::new(config()).unwrap()
}

fn req(sequence: u64, count: u16) -> Option<Action> {
    Some(Action::Request { sequence, count })
}

/// The counting invariant every state must satisfy.
fn check_invariant(s: &Session) {
    let st = s.stats();
    assert_eq!(
        st.messages_missing,
        st.messages_recovered_total() + st.messages_lost + s.missing(),
        "missing = recovered + lost + still missing: {st:?}"
    );
}

const A: Line = Line::A;
const B: Line = Line::B;
const R: Line = Line::Retransmission;

#[test]
fn in_order_and_duplicates_on_the_same_line() {
    let mut s = session();
    let mut rec = Rec::default();
    assert_eq!(s.on_packet(A, &pkt(1, 3), 0, &mut rec).action, None);
    assert_eq!(s.on_packet(A, &pkt(1, 3), 1, &mut rec).action, None);
    assert_eq!(s.on_packet(A, &pkt(2, 3), 2, &mut rec).action, None);
    assert_eq!(rec.delivered(), vec![1, 2, 3, 4]);
    let st = s.stats();
    assert_eq!(st.duplicates, [5, 0, 0]);
    assert_eq!(st.packets, [3, 0, 0]);
    assert_eq!(st.messages_delivered, 4);
    assert_eq!(st.out_of_order_buffered, 0);
    assert_eq!(s.next_sequence(), 5);
    assert!(!s.has_gap());
    check_invariant(&s);
}

#[test]
fn a_b_race_first_copy_wins() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 2), 0, &mut rec);
    let _ = s.on_packet(B, &pkt(1, 2), 1, &mut rec);
    let _ = s.on_packet(B, &pkt(3, 2), 2, &mut rec);
    let _ = s.on_packet(A, &pkt(3, 2), 3, &mut rec);
    // Overlapping packets: B's first two were already delivered by A.
    let _ = s.on_packet(A, &pkt(5, 3), 4, &mut rec);
    let _ = s.on_packet(B, &pkt(6, 3), 5, &mut rec);
    assert_eq!(rec.delivered(), (1..=8).collect::<Vec<_>>());
    assert_eq!(s.stats().duplicates, [2, 4, 0]);
    assert_eq!(s.stats().packets, [3, 3, 0]);
    // A's 1-2 and 5-7 came first, B's 3-4 and 8.
    assert_eq!(s.stats().packets_first, [2, 2, 0]);
    assert_eq!(s.stats().gaps_detected, 0);
    check_invariant(&s);
}

#[test]
fn a_copy_of_what_is_already_buffered_did_not_come_first() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 2), 0, &mut rec);
    let _ = s.on_packet(A, &pkt(5, 2), 10, &mut rec);
    // B's copy of 5-6 arrives while they wait in the buffer behind the gap.
    let _ = s.on_packet(B, &pkt(5, 2), 20, &mut rec);
    assert_eq!(s.stats().duplicates, [0, 2, 0]);
    assert_eq!(s.stats().packets_first, [2, 0, 0]);
    let _ = s.on_packet(B, &pkt(3, 2), 30, &mut rec);
    assert_eq!(rec.delivered(), (1..=6).collect::<Vec<_>>());
    assert_eq!(s.stats().packets_first, [2, 1, 0]);
    check_invariant(&s);
}

#[test]
fn gap_filled_by_the_other_line_sends_no_request() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 2), 0, &mut rec);
    let out = s.on_packet(A, &pkt(5, 2), 10, &mut rec);
    assert_eq!(
        out.action, None,
        "the request waits request_delay_ns for line B"
    );
    assert_eq!(rec.delivered(), vec![1, 2]);
    assert!(s.has_gap());
    assert_eq!(s.buffered(), 2);
    assert_eq!(s.missing(), 2);
    assert_eq!(s.stats().gaps_detected, 1);
    assert_eq!(s.stats().messages_missing, 2);
    assert_eq!(s.stats().out_of_order_buffered, 2);
    check_invariant(&s);

    let out = s.on_packet(B, &pkt(3, 4), 50, &mut rec);
    assert_eq!(out.action, None);
    assert_eq!(rec.delivered(), (1..=6).collect::<Vec<_>>());
    assert_eq!(s.stats().messages_recovered, [0, 2, 0]);
    assert_eq!(s.stats().duplicates, [0, 2, 0]); // 5 and 6 were buffered from A
    assert_eq!(s.buffered(), 0);
    assert!(!s.has_gap());
    assert_eq!(s.poll(100_000, &mut rec), None);
    assert_eq!(s.stats().requests_sent, 0);
    check_invariant(&s);
}

#[test]
fn gap_filled_by_a_re_request_response() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 1), 0, &mut rec);
    let _ = s.on_packet(A, &pkt(4, 1), 0, &mut rec);
    assert_eq!(s.poll(99, &mut rec), None);
    let action = s.poll(100, &mut rec);
    assert_eq!(action, req(2, 3)); // [next, high) = [2, 5)
    assert_eq!(s.stats().requests_sent, 1);

    // The request packet the caller sends.
    let mut buf = [0u8; 20];
    assert_eq!(s.write_request(&action.unwrap(), &mut buf), Ok(20));
    let r = Request::new_checked(&buf[..]).unwrap();
    assert_eq!((r.session(), r.sequence(), r.count()), (&S, 2, 3));

    // The server's answer (it resends 4 too, a duplicate).
    let out = s.on_packet(R, &pkt(2, 3), 500, &mut rec);
    assert_eq!(
        out,
        hotpath_feed::moldudp64::Outcome {
            action: None,
            rejected: None
        }
    );
    assert_eq!(rec.delivered(), vec![1, 2, 3, 4]);
    assert_eq!(s.stats().messages_recovered, [0, 0, 2]);
    assert_eq!(s.stats().duplicates, [0, 0, 1]);
    assert_eq!(s.stats().packets, [2, 0, 1]);
    // Filled: nothing more to ask, no retry later.
    assert_eq!(s.poll(1_000_000, &mut rec), None);
    assert_eq!(s.stats().requests_sent, 1);
    assert_eq!(s.stats().request_timeouts, 0);
    check_invariant(&s);
}

#[test]
fn heartbeat_reveals_a_gap() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 2), 0, &mut rec);
    let _ = s.on_packet(A, &hb(3), 0, &mut rec); // nothing missing
    assert!(!s.has_gap());
    let _ = s.on_packet(A, &hb(5), 10, &mut rec);
    assert!(s.has_gap());
    assert_eq!(s.high_water(), 5);
    assert_eq!(s.stats().heartbeats, 2);
    assert_eq!(s.stats().gaps_detected, 1);
    assert_eq!(s.stats().messages_missing, 2);
    assert_eq!(s.poll(110, &mut rec), req(3, 2));
    // A stale heartbeat from a lagging line changes nothing.
    let _ = s.on_packet(B, &hb(2), 120, &mut rec);
    assert_eq!(s.high_water(), 5);
    let _ = s.on_packet(R, &pkt(3, 2), 200, &mut rec);
    assert_eq!(rec.delivered(), vec![1, 2, 3, 4]);
    check_invariant(&s);
}

#[test]
fn requests_are_rate_limited() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 1), 0, &mut rec);
    let _ = s.on_packet(A, &pkt(3, 1), 0, &mut rec);
    assert_eq!(s.poll(100, &mut rec), req(2, 2));
    let _ = s.on_packet(R, &pkt(2, 1), 150, &mut rec);
    assert!(!s.has_gap());
    // A new gap at 200: its delay ends at 300, but the last request was at 100 and the
    // interval is 1000.
    let _ = s.on_packet(A, &pkt(5, 1), 200, &mut rec);
    assert_eq!(s.poll(300, &mut rec), None);
    assert_eq!(s.poll(1_099, &mut rec), None);
    assert_eq!(s.poll(1_100, &mut rec), req(4, 2));
    assert_eq!(s.stats().requests_sent, 2);
    // Only one request per interval even though the new one is outstanding and the
    // clock keeps moving within the interval.
    assert_eq!(s.poll(2_000, &mut rec), None);
    check_invariant(&s);
}

#[test]
fn unfilled_request_is_retried_after_the_timeout() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 1), 0, &mut rec);
    let _ = s.on_packet(A, &pkt(3, 1), 0, &mut rec);
    assert_eq!(s.poll(100, &mut rec), req(2, 2));
    assert_eq!(s.poll(5_000, &mut rec), None, "outstanding, not timed out");
    assert_eq!(s.poll(10_099, &mut rec), None);
    assert_eq!(s.poll(10_100, &mut rec), req(2, 2));
    assert_eq!(s.stats().request_timeouts, 1);
    assert_eq!(s.stats().requests_sent, 2);
    // The late answer to either request fills it.
    let _ = s.on_packet(R, &pkt(2, 2), 12_000, &mut rec);
    assert_eq!(rec.delivered(), vec![1, 2, 3]);
    assert_eq!(s.poll(100_000, &mut rec), None);
    check_invariant(&s);
}

#[test]
fn give_up_after_max_attempts_counts_lost_and_delivers_what_follows() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 1), 0, &mut rec);
    let _ = s.on_packet(A, &pkt(5, 3), 0, &mut rec);
    assert_eq!(s.poll(100, &mut rec), req(2, 6));
    assert_eq!(s.poll(10_100, &mut rec), req(2, 6));
    assert_eq!(s.poll(20_100, &mut rec), req(2, 6));
    assert_eq!(s.stats().requests_sent, 3);
    assert_eq!(s.poll(30_099, &mut rec), None);
    assert_eq!(rec.delivered(), vec![1]);
    // Third attempt timed out: give up 2..=4, deliver 5..=7.
    assert_eq!(s.poll(30_100, &mut rec), None);
    assert_eq!(
        rec.events,
        vec![
            Event::Msg(1),
            Event::Lost(2, 3),
            Event::Msg(5),
            Event::Msg(6),
            Event::Msg(7)
        ]
    );
    let st = s.stats();
    assert_eq!(st.messages_lost, 3);
    assert_eq!(st.gaps_given_up, 1);
    assert_eq!(st.messages_delivered, 4);
    assert_eq!(st.request_timeouts, 2);
    assert!(!s.has_gap());
    assert_eq!(s.buffered(), 0);
    // A late copy of a given-up message is a duplicate.
    let _ = s.on_packet(B, &pkt(3, 1), 40_000, &mut rec);
    assert_eq!(s.stats().duplicates, [0, 1, 0]);
    let _ = s.on_packet(A, &pkt(8, 1), 40_000, &mut rec);
    assert_eq!(rec.delivered(), vec![1, 5, 6, 7, 8]);
    check_invariant(&s);
}

#[test]
fn give_up_by_age_when_requests_are_disabled() {
    let mut s = Session::new(SessionConfig {
        max_request_attempts: 0,
        max_gap_age_ns: 50_000,
        ..config()
    })
    .unwrap();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(10, 1), 1_000, &mut rec);
    let _ = s.on_packet(A, &pkt(12, 2), 1_000, &mut rec);
    assert_eq!(s.poll(50_999, &mut rec), None);
    assert_eq!(rec.delivered(), vec![10]);
    assert_eq!(s.poll(51_000, &mut rec), None);
    assert_eq!(
        rec.events,
        vec![
            Event::Msg(10),
            Event::Lost(11, 1),
            Event::Msg(12),
            Event::Msg(13)
        ]
    );
    assert_eq!(s.stats().requests_sent, 0);
    assert_eq!(s.stats().messages_lost, 1);
    check_invariant(&s);
}

#[test]
fn partial_answer_gives_up_only_what_the_server_skipped() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 1), 0, &mut rec);
    let _ = s.on_packet(A, &hb(11), 0, &mut rec);
    assert_eq!(s.poll(100, &mut rec), req(2, 9));
    // The server lacks 2..=4 and cut its answer short after 6.
    let _ = s.on_packet(R, &pkt(5, 2), 200, &mut rec);
    assert_eq!(s.poll(10_100, &mut rec), req(2, 9));
    let _ = s.on_packet(R, &pkt(5, 2), 10_200, &mut rec);
    assert_eq!(s.poll(20_100, &mut rec), req(2, 9));
    let _ = s.on_packet(R, &pkt(5, 2), 20_200, &mut rec);
    // Give up 2..=4 only (the server answered up to 6); ask for 7.. at once.
    assert_eq!(s.poll(30_100, &mut rec), req(7, 4));
    assert_eq!(
        rec.events,
        vec![
            Event::Msg(1),
            Event::Lost(2, 3),
            Event::Msg(5),
            Event::Msg(6)
        ]
    );
    let _ = s.on_packet(R, &pkt(7, 4), 30_200, &mut rec);
    assert_eq!(rec.delivered(), vec![1, 5, 6, 7, 8, 9, 10]);
    assert_eq!(s.stats().messages_lost, 3);
    assert!(!s.has_gap());
    check_invariant(&s);
}

#[test]
fn progress_resets_attempts() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 1), 0, &mut rec);
    let _ = s.on_packet(A, &hb(10), 0, &mut rec);
    assert_eq!(s.poll(100, &mut rec), req(2, 8));
    assert_eq!(s.poll(10_100, &mut rec), req(2, 8));
    assert_eq!(s.poll(20_100, &mut rec), req(2, 8));
    // Each answer fills part of the range: never given up while progressing.
    for (k, t) in [(2u64, 25_000u64), (4, 40_000), (6, 55_000)] {
        let _ = s.on_packet(R, &pkt(k, 2), t, &mut rec);
        assert_eq!(s.stats().messages_lost, 0);
        assert_eq!(s.poll(t + 10_000, &mut rec), req(k + 2, 8 - k as u16));
    }
    let _ = s.on_packet(R, &pkt(8, 2), 70_000, &mut rec);
    assert_eq!(rec.delivered(), (1..=9).collect::<Vec<_>>());
    assert_eq!(s.stats().messages_lost, 0);
    check_invariant(&s);
}

#[test]
fn end_of_session() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 2), 0, &mut rec);
    // End of session at 5: 3 and 4 are still missing, so not finished yet.
    let _ = s.on_packet(A, &eos(5), 10, &mut rec);
    assert_eq!(s.end_of_session(), Some(5));
    assert!(!s.is_finished());
    assert_eq!(s.stats().messages_missing, 2);
    assert_eq!(s.poll(110, &mut rec), req(3, 2));
    let _ = s.on_packet(B, &pkt(3, 2), 200, &mut rec);
    assert!(s.is_finished());
    assert_eq!(rec.delivered(), vec![1, 2, 3, 4]);
    // Repeated end-of-session packets, late duplicates, and anything new after the end.
    let _ = s.on_packet(B, &eos(5), 300, &mut rec);
    let _ = s.on_packet(A, &pkt(4, 3), 300, &mut rec);
    let _ = s.on_packet(A, &hb(9), 300, &mut rec);
    assert_eq!(rec.delivered(), vec![1, 2, 3, 4]);
    let st = s.stats();
    assert_eq!(st.end_of_session, 2);
    assert_eq!(st.after_end_messages, 2);
    assert_eq!(st.duplicates, [1, 0, 0]);
    assert_eq!(s.poll(1_000_000, &mut rec), None);
    assert!(s.is_finished());
    check_invariant(&s);
}

#[test]
fn end_of_session_right_away() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 2), 0, &mut rec);
    let _ = s.on_packet(B, &eos(3), 0, &mut rec);
    assert!(s.is_finished());
    assert_eq!(s.stats().gaps_detected, 0);
}

#[test]
fn other_session_is_counted_and_ignored() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 2), 0, &mut rec);
    assert_eq!(s.session_id(), Some(&S));
    let out = s.on_packet(B, &pkt_in(&OTHER, 3, 2), 0, &mut rec);
    assert_eq!(
        out.rejected,
        Some(Rejected::OtherSession { session: OTHER })
    );
    assert_eq!(rec.delivered(), vec![1, 2]);
    assert_eq!(s.stats().other_session_packets, 1);
    assert_eq!(s.stats().packets, [1, 0, 0]);
    assert!(
        !s.has_gap(),
        "another session's sequence numbers reveal nothing"
    );

    // A configured session rejects even the first packet of another.
    let mut s = Session::new(SessionConfig {
        session: Some(OTHER),
        ..config()
    })
    .unwrap();
    let out = s.on_packet(A, &pkt(1, 2), 0, &mut rec);
    assert_eq!(out.rejected, Some(Rejected::OtherSession { session: S }));
    assert_eq!(s.stats().other_session_packets, 1);
    assert_eq!(s.next_sequence(), 0);
}

#[test]
fn buffer_overflow_falls_back_to_asking_for_everything_from_the_gap() {
    let mut s = Session::new(SessionConfig {
        buffer_capacity: 3, // rounded up to 4
        ..config()
    })
    .unwrap();
    assert_eq!(s.buffer_capacity(), 4);
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 1), 0, &mut rec);
    // next = 2; the buffer holds 2..=5, so 3, 4, 5 are buffered and 6, 7, 8 overflow.
    let _ = s.on_packet(A, &pkt(3, 6), 0, &mut rec);
    let st = s.stats();
    assert_eq!(st.out_of_order_buffered, 3);
    assert_eq!(st.buffer_overflows, 3);
    assert_eq!(st.messages_missing, 4); // 2, 6, 7, 8
    assert_eq!(s.missing(), 4);
    check_invariant(&s);
    assert_eq!(s.poll(100, &mut rec), req(2, 7));
    let _ = s.on_packet(R, &pkt(2, 7), 200, &mut rec);
    assert_eq!(rec.delivered(), (1..=8).collect::<Vec<_>>());
    assert_eq!(s.stats().messages_recovered, [0, 0, 4]);
    assert_eq!(s.stats().duplicates, [0, 0, 3]);
    check_invariant(&s);
}

#[test]
fn oversize_out_of_order_message_is_dropped_but_in_order_is_delivered() {
    let mut s = Session::new(SessionConfig {
        max_message_len: 4,
        ..config()
    })
    .unwrap();
    let mut got = Vec::new();
    let mut sink = |seq: u64, m: &[u8]| got.push((seq, m.len()));
    let big = [7u8; 100];
    let mk = |first: u64, msgs: &[&[u8]]| {
        let mut buf = vec![0u8; 1500];
        let mut b = PacketBuilder::new(&mut buf, &S, first).unwrap();
        for m in msgs {
            b.push(m).unwrap();
        }
        b.finish().to_vec()
    };
    let _ = s.on_packet(A, &mk(1, &[&big]), 0, &mut sink); // in order: delivered
    let _ = s.on_packet(A, &mk(3, &[&big, b"ok"]), 0, &mut sink); // 3 oversize, 4 buffered
    assert_eq!(s.stats().buffer_oversize, 1);
    assert_eq!(s.stats().messages_missing, 2); // 2 and 3
    let _ = s.on_packet(B, &mk(2, &[b"x", &big]), 0, &mut sink); // in order again
    assert_eq!(got, vec![(1, 100), (2, 1), (3, 100), (4, 2)]);
    check_invariant(&s);
}

#[test]
fn malformed_packets_are_counted_by_reason() {
    let mut s = session();
    let mut rec = Rec::default();
    let out = s.on_packet(A, &[0u8; 7], 0, &mut rec);
    assert_eq!(
        out.rejected,
        Some(Rejected::Malformed(MoldError::Truncated {
            need: 20,
            have: 7
        }))
    );
    let mut p = pkt(1, 2);
    p.push(0);
    let out = s.on_packet(A, &p, 0, &mut rec);
    assert!(matches!(
        out.rejected,
        Some(Rejected::Malformed(MoldError::TrailingBytes {
            extra: 1,
            ..
        }))
    ));
    let p = pkt(1, 2);
    let out = s.on_packet(B, &p[..p.len() - 1], 0, &mut rec);
    assert!(matches!(
        out.rejected,
        Some(Rejected::Malformed(MoldError::BlockOverrun {
            index: 1,
            ..
        }))
    ));
    let st = s.stats();
    assert_eq!(st.malformed(MoldErrorKind::Truncated), 1);
    assert_eq!(st.malformed(MoldErrorKind::TrailingBytes), 1);
    assert_eq!(st.malformed(MoldErrorKind::BlockOverrun), 1);
    assert_eq!(st.malformed_total(), 3);
    assert_eq!(st.packets_total(), 0);
    assert!(
        rec.events.is_empty(),
        "nothing from a malformed packet is delivered"
    );
    assert_eq!(
        s.session_id(),
        None,
        "a malformed packet does not pick the session"
    );
}

#[test]
fn configured_start_sequence() {
    let mut s = Session::new(SessionConfig {
        start: StartAt::Sequence(10),
        ..config()
    })
    .unwrap();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(12, 1), 0, &mut rec);
    assert_eq!(s.stats().messages_missing, 2);
    assert_eq!(s.poll(100, &mut rec), req(10, 3));
    let _ = s.on_packet(B, &pkt(5, 7), 200, &mut rec); // 5..=9 before the start
    assert_eq!(rec.delivered(), vec![10, 11, 12]);
    assert_eq!(s.stats().duplicates, [0, 5, 0]);
    assert_eq!(s.first_sequence(), Some(12), "the first packet received");
    check_invariant(&s);
}

#[test]
fn the_first_sequence_received_says_where_a_session_began() {
    let mut s = Session::new(config()).unwrap();
    let mut rec = Rec::default();
    assert_eq!(s.first_sequence(), None);
    // A session joined late begins at its first packet: nothing before it is missing.
    let _ = s.on_packet(A, &pkt(2_690, 3), 0, &mut rec);
    let _ = s.on_packet(A, &pkt(2_693, 1), 0, &mut rec);
    assert_eq!(s.first_sequence(), Some(2_690));
    assert_eq!(s.stats().messages_missing, 0);
    assert_eq!(rec.delivered(), vec![2_690, 2_691, 2_692, 2_693]);
    // Another session's packet does not count.
    let mut s = Session::new(config()).unwrap();
    let _ = s.on_packet(A, &pkt(7, 1), 0, &mut rec);
    let _ = s.on_packet(A, &pkt_in(&OTHER, 1, 1), 0, &mut rec);
    assert_eq!(s.first_sequence(), Some(7));
}

#[test]
fn request_count_is_bounded() {
    let mut s = Session::new(SessionConfig {
        max_request_count: 10,
        ..config()
    })
    .unwrap();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 1), 0, &mut rec);
    let _ = s.on_packet(A, &hb(1_000_000), 0, &mut rec);
    assert_eq!(s.poll(100, &mut rec), req(2, 10));
    let _ = s.on_packet(R, &pkt(2, 10), 200, &mut rec);
    // Filled: the next request goes out as soon as the rate limit allows.
    assert_eq!(s.poll(1_099, &mut rec), None);
    assert_eq!(s.poll(1_100, &mut rec), req(12, 10));

    // The u16 bound with the largest configurable count.
    let mut s = Session::new(SessionConfig {
        max_request_count: u16::MAX,
        ..config()
    })
    .unwrap();
    let _ = s.on_packet(A, &pkt(1, 1), 0, &mut rec);
    let _ = s.on_packet(A, &hb(u64::MAX), 0, &mut rec);
    assert_eq!(s.poll(100, &mut rec), req(2, u16::MAX));
}

#[test]
fn time_going_backwards_does_not_panic_or_fire() {
    let mut s = session();
    let mut rec = Rec::default();
    let _ = s.on_packet(A, &pkt(1, 1), 1_000_000, &mut rec);
    let _ = s.on_packet(A, &pkt(3, 1), 1_000_000, &mut rec);
    assert_eq!(s.poll(0, &mut rec), None);
    assert_eq!(s.poll(1_000_100, &mut rec), req(2, 2));
    assert_eq!(s.poll(5, &mut rec), None);
    check_invariant(&s);
}

#[test]
fn config_is_validated() {
    for bad in [
        SessionConfig {
            buffer_capacity: 0,
            ..config()
        },
        SessionConfig {
            max_message_len: 0,
            ..config()
        },
        SessionConfig {
            max_message_len: 65_536,
            ..config()
        },
        SessionConfig {
            max_request_count: 0,
            ..config()
        },
        SessionConfig {
            buffer_capacity: (1 << 24) + 1,
            ..config()
        },
        SessionConfig {
            buffer_capacity: 1 << 24,
            max_message_len: 65_535,
            ..config()
        },
    ] {
        let e = Session::new(bad.clone()).expect_err("invalid config accepted");
        assert!(!e.to_string().is_empty(), "{bad:?}");
    }
}

#[test]
fn packets_with_thousands_of_messages() {
    // Packets of thousands of (tiny) blocks, around the old 2048-block fast-path edge
    // and beyond, deliver every message.
    let mut s = session();
    let mut got = Vec::new();
    let mut sink = |seq: u64, m: &[u8]| got.push((seq, m.len()));
    let mut first = 1u64;
    for count in [2046u64, 2047, 2048, 2049, 5000] {
        let mut buf = vec![0u8; 20 + 3 * count as usize];
        let mut b = PacketBuilder::new(&mut buf, &S, first).unwrap();
        for seq in first..first + count {
            b.push(&[seq as u8][..(seq % 2) as usize]).unwrap();
        }
        let bytes = b.finish().to_vec();
        let out = s.on_packet(A, &bytes, 0, &mut sink);
        assert_eq!(out.rejected, None);
        first += count;
    }
    let expected: Vec<(u64, usize)> = (1..first).map(|seq| (seq, (seq % 2) as usize)).collect();
    assert_eq!(got, expected);
    assert_eq!(s.stats().messages_delivered, first - 1);
}
