//! Deterministic simulation of a MoldUDP64 session: a stream of packets (random message
//! sizes and packet boundaries) sent on lines A and B with random drops, duplicates and
//! reordering (per-copy jitter larger than the packet spacing), ending with repeated
//! end-of-session packets; a simulated request server answers the session's requests
//! (split into small packets, at most a few per request, late and/or lossy). Every
//! random choice comes from the proptest-generated parameters and seed, so a failure
//! replays exactly.
//!
//! - Server has everything (lossy, late answers, many attempts allowed, small buffer so
//!   it overflows): the sink sees every sequence exactly once, in order, nothing lost.
//! - Server lacks some sequences (answers complete and on time, buffer large enough):
//!   exactly the sequences that neither line delivered and the server lacks are given
//!   up, counted as lost and reported to the sink; everything else is delivered once,
//!   in order.
//!
//! After every event the counting invariant (missing = recovered + lost + still
//! missing) is checked.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use hotpath_feed::moldudp64::{
    write_end_of_session, Action, Line, PacketBuilder, Session, SessionConfig, SessionId, Sink,
    StartAt,
};
use proptest::prelude::*;

const S: SessionId = *b"SIMSESSION";
const MAX_MESSAGE_LEN: usize = 48;
const PACKET_SPACING_NS: u64 = 5_000;
const POLL_EVERY_NS: u64 = 50_000;
const GIVE_UP_AFTER_NS: u64 = 5_000_000_000;

/// splitmix64: small, deterministic, good enough for choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

#[derive(Debug, Clone)]
struct Params {
    seed: u64,
    messages: u64,
    max_per_packet: u64,
    drop_a_pct: u64,
    drop_b_pct: u64,
    dup_pct: u64,
    jitter_ns: u64,
    response_loss_pct: u64,
    response_latency_max_ns: u64,
    server_lacks_pct: u64,
}

enum Ev {
    Packet(Line, Vec<u8>),
    Poll,
}

struct Sim {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    events: Vec<Option<Ev>>,
    packets_pending: usize,
}

impl Sim {
    fn push(&mut self, t: u64, ev: Ev) {
        if matches!(ev, Ev::Packet(..)) {
            self.packets_pending += 1;
        }
        let id = self.events.len() as u64;
        self.events.push(Some(ev));
        self.heap.push(Reverse((t, id)));
    }
    fn pop(&mut self) -> Option<(u64, Ev)> {
        let Reverse((t, id)) = self.heap.pop()?;
        let ev = self.events[id as usize].take().expect("event popped twice");
        if matches!(ev, Ev::Packet(..)) {
            self.packets_pending -= 1;
        }
        Some((t, ev))
    }
}

struct Recorder<'a> {
    messages: &'a [Vec<u8>],
    delivered: Vec<u64>,
    lost: Vec<u64>,
    last: u64,
}

impl Sink for Recorder<'_> {
    fn message(&mut self, sequence: u64, message: &[u8]) {
        assert!(
            sequence > self.last,
            "{sequence} delivered after {}",
            self.last
        );
        assert_eq!(message, &self.messages[(sequence - 1) as usize][..]);
        self.last = sequence;
        self.delivered.push(sequence);
    }
    fn lost(&mut self, first: u64, count: u64) {
        assert!(count > 0);
        assert!(first > self.last, "lost {first} after {}", self.last);
        self.last = first + count - 1;
        self.lost.extend(first..first + count);
    }
}

/// Builds packets of `msgs[first-1..]` up to `end` (exclusive) with at most `per`
/// messages each.
fn packet(msgs: &[Vec<u8>], first: u64, count: u64) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut b = PacketBuilder::new(&mut buf, &S, first).unwrap();
    for s in first..first + count {
        b.push(&msgs[(s - 1) as usize]).unwrap();
    }
    b.finish().to_vec()
}

/// The simulated request server: the held messages of `[sequence, sequence+count)`,
/// consecutive runs only, in packets of at most 200 bytes, at most 4 packets.
fn answer(msgs: &[Vec<u8>], has: &[bool], sequence: u64, count: u16) -> Vec<Vec<u8>> {
    let end = (sequence + u64::from(count)).min(msgs.len() as u64 + 1);
    let mut out = Vec::new();
    let mut s = sequence.max(1);
    let mut buf = vec![0u8; 200];
    while s < end && out.len() < 4 {
        if !has[(s - 1) as usize] {
            s += 1;
            continue;
        }
        let mut b = PacketBuilder::new(&mut buf, &S, s).unwrap();
        while s < end && has[(s - 1) as usize] && b.push(&msgs[(s - 1) as usize]).is_ok() {
            s += 1;
        }
        out.push(b.finish().to_vec());
    }
    out
}

fn check_invariant(s: &Session) {
    let st = s.stats();
    assert_eq!(
        st.messages_missing,
        st.messages_recovered_total() + st.messages_lost + s.missing(),
        "{st:?}"
    );
}

struct Outcome {
    delivered: Vec<u64>,
    lost: Vec<u64>,
    expected_lost: BTreeSet<u64>,
    session: Session,
}

fn run(p: &Params, server_complete: bool) -> Outcome {
    let mut rng = Rng(p.seed);
    let n = p.messages;
    let msgs: Vec<Vec<u8>> = (1..=n)
        .map(|s| {
            let len = rng.below(MAX_MESSAGE_LEN as u64 + 1) as usize;
            (0..len)
                .map(|i| (s as u8) ^ (i as u8).wrapping_mul(7))
                .collect()
        })
        .collect();
    let has: Vec<bool> = (0..n)
        .map(|_| server_complete || !rng.percent(p.server_lacks_pct))
        .collect();
    let config = SessionConfig {
        session: None,
        start: StartAt::Sequence(1),
        // Small (overflows) when the server can fill anything; large enough for the
        // whole stream when exact losses are predicted.
        buffer_capacity: if server_complete { 64 } else { 512 },
        max_message_len: MAX_MESSAGE_LEN,
        request_delay_ns: 20_000,
        request_interval_ns: POLL_EVERY_NS,
        request_timeout_ns: 500_000,
        max_request_count: 32,
        // Complete server: never give up. Otherwise give up only after all line
        // traffic is over (20 x 500 us = 10 ms > 400 x 5 us + jitter + end of session).
        max_request_attempts: if server_complete { 100_000 } else { 20 },
        max_gap_age_ns: 100_000_000_000,
    };
    let mut session = Session::new(config).unwrap();

    let mut sim = Sim {
        heap: BinaryHeap::new(),
        events: Vec::new(),
        packets_pending: 0,
    };
    let mut on_line = vec![false; n as usize];
    let mut first = 1;
    let mut k = 0;
    while first <= n {
        let count = 1 + rng.below(p.max_per_packet).min(n - first);
        let bytes = packet(&msgs, first, count);
        let base = k * PACKET_SPACING_NS;
        for (line, drop_pct) in [(Line::A, p.drop_a_pct), (Line::B, p.drop_b_pct)] {
            if !rng.percent(drop_pct) {
                sim.push(
                    base + rng.below(p.jitter_ns + 1),
                    Ev::Packet(line, bytes.clone()),
                );
                for s in first..first + count {
                    on_line[(s - 1) as usize] = true;
                }
                if rng.percent(p.dup_pct) {
                    let t = base + rng.below(2 * p.jitter_ns + 1);
                    sim.push(t, Ev::Packet(line, bytes.clone()));
                }
            }
        }
        first += count;
        k += 1;
    }
    let mut eos = [0u8; 20];
    write_end_of_session(&mut eos, &S, n + 1).unwrap();
    let end_base = k * PACKET_SPACING_NS + p.jitter_ns + 1_000;
    for copy in 0..3u64 {
        let t = end_base + copy * 100_000;
        if copy == 2 || !rng.percent(p.drop_a_pct) {
            sim.push(t, Ev::Packet(Line::A, eos.to_vec()));
        }
        if !rng.percent(p.drop_b_pct) {
            sim.push(
                t + rng.below(p.jitter_ns + 1),
                Ev::Packet(Line::B, eos.to_vec()),
            );
        }
    }
    sim.push(0, Ev::Poll);

    let expected_lost: BTreeSet<u64> = (1..=n)
        .filter(|&s| !has[(s - 1) as usize] && !on_line[(s - 1) as usize])
        .collect();
    let mut rec = Recorder {
        messages: &msgs,
        delivered: Vec::new(),
        lost: Vec::new(),
        last: 0,
    };
    while let Some((now, ev)) = sim.pop() {
        assert!(
            now < GIVE_UP_AFTER_NS,
            "not finished after 5 s of simulated time"
        );
        let action = match ev {
            Ev::Packet(line, bytes) => {
                let out = session.on_packet(line, &bytes, now, &mut rec);
                assert_eq!(out.rejected, None);
                out.action
            }
            Ev::Poll => {
                let action = session.poll(now, &mut rec);
                if !(session.is_finished() && sim.packets_pending == 0) {
                    sim.push(now + POLL_EVERY_NS, Ev::Poll);
                }
                action
            }
        };
        check_invariant(&session);
        if let Some(Action::Request { sequence, count }) = action {
            let mut req = [0u8; 20];
            assert_eq!(session.write_request(&action.unwrap(), &mut req), Ok(20));
            assert!(sequence >= 1 && (1..=32).contains(&count));
            for bytes in answer(&msgs, &has, sequence, count) {
                if server_complete && rng.percent(p.response_loss_pct) {
                    continue;
                }
                let latency = 1_000 + rng.below(p.response_latency_max_ns);
                sim.push(now + latency, Ev::Packet(Line::Retransmission, bytes));
            }
        }
    }
    assert!(
        session.is_finished(),
        "simulation ended before the session finished"
    );
    let Recorder {
        delivered, lost, ..
    } = rec;
    Outcome {
        delivered,
        lost,
        expected_lost,
        session,
    }
}

fn params() -> impl Strategy<Value = Params> {
    (
        any::<u64>(),
        1u64..400,
        1u64..8,
        0u64..50,
        0u64..50,
        0u64..30,
        0u64..40_000,
        0u64..50,
        0u64..2_000_000,
        0u64..25,
    )
        .prop_map(
            |(seed, messages, per, da, db, dup, jit, rl, lat, lack)| Params {
                seed,
                messages,
                max_per_packet: per,
                drop_a_pct: da,
                drop_b_pct: db,
                dup_pct: dup,
                jitter_ns: jit,
                response_loss_pct: rl,
                response_latency_max_ns: lat,
                server_lacks_pct: lack,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_sequence_once_in_order_when_the_server_has_everything(p in params()) {
        let out = run(&p, true);
        let all: Vec<u64> = (1..=p.messages).collect();
        prop_assert_eq!(&out.delivered, &all);
        prop_assert!(out.lost.is_empty());
        let st = out.session.stats();
        prop_assert_eq!(st.messages_lost, 0);
        prop_assert_eq!(st.messages_delivered, p.messages);
        prop_assert_eq!(out.session.missing(), 0);
        prop_assert_eq!(out.session.buffered(), 0);
        // Every sequence came from exactly one first copy; the rest were duplicates.
        prop_assert_eq!(
            st.messages_missing,
            st.messages_recovered_total()
        );
    }

    #[test]
    fn exactly_the_unrecoverable_sequences_are_lost(
        p in params().prop_map(|mut p| { p.response_loss_pct = 0; p.response_latency_max_ns %= 300_000; p })
    ) {
        let out = run(&p, false);
        let lost: BTreeSet<u64> = out.lost.iter().copied().collect();
        prop_assert_eq!(lost.len(), out.lost.len(), "a sequence reported lost twice");
        prop_assert_eq!(&lost, &out.expected_lost);
        let expected: Vec<u64> = (1..=p.messages).filter(|s| !out.expected_lost.contains(s)).collect();
        prop_assert_eq!(&out.delivered, &expected);
        let st = out.session.stats();
        prop_assert_eq!(st.messages_lost, out.expected_lost.len() as u64);
        prop_assert_eq!(st.messages_delivered, expected.len() as u64);
        prop_assert_eq!(out.session.missing(), 0);
    }
}
