//! The ITCH codec on real Nasdaq data: shared/data/itch50/12302019_0930_first1000.itch.
//!
//! The expected counts are the facts in shared/data/README.md; field values are checked
//! against an independent decoder (the `itchy` crate).

mod itch_support;

use std::collections::BTreeMap;

use hotpath_feed::itch::encode::MessageFields;
use hotpath_feed::itch::{parse, LengthPrefixed, Message, TYPES};
use itch_support::{assert_same_as_itchy, itchy_decode, real_file};

#[test]
fn real_file_has_the_documented_size_count_and_mix() {
    let file = real_file();
    assert_eq!(file.len(), 35_570, "file size");

    let mut counts = BTreeMap::new();
    let mut n = 0;
    for (i, framed) in LengthPrefixed::new(&file).enumerate() {
        let bytes = framed.unwrap_or_else(|e| panic!("framing of message #{i}: {e}"));
        let msg = parse(bytes).unwrap_or_else(|e| panic!("message #{i}: {e}"));
        assert_eq!(msg.as_bytes(), bytes);
        *counts.entry(msg.msg_type() as char).or_insert(0) += 1;
        n += 1;
    }
    assert_eq!(n, 1000, "message count");
    let expected: BTreeMap<char, i32> = [
        ('A', 367),
        ('U', 225),
        ('F', 193),
        ('D', 167),
        ('E', 28),
        ('X', 6),
        ('I', 4),
        ('P', 4),
        ('Q', 4),
        ('S', 1),
        ('C', 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, expected, "per-type counts");
}

#[test]
fn every_field_agrees_with_itchy() {
    let file = real_file();
    let theirs = itchy_decode(&file);
    let ours: Vec<Message<'_>> = LengthPrefixed::new(&file)
        .map(|m| parse(m.unwrap()).unwrap())
        .collect();
    assert_eq!(ours.len(), theirs.len(), "message count: hotpath vs itchy");
    assert_eq!(ours.len(), 1000);

    let mut fields = 0;
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        fields += assert_same_as_itchy(i, o, t);
    }
    // 4 header fields per message plus at least one body field each: the comparison
    // cannot have been skipped.
    assert!(fields >= 5 * 1000, "only {fields} fields compared");
}

#[test]
fn timestamps_are_in_the_first_minutes_after_the_open_and_never_go_back() {
    // README: "the first 1000 messages at or after 09:30:00".
    let open_ns = 9 * 3_600_000_000_000 + 30 * 60_000_000_000;
    let file = real_file();
    let mut last = 0;
    for m in LengthPrefixed::new(&file) {
        let ts = parse(m.unwrap()).unwrap().timestamp();
        assert!(ts >= open_ns, "timestamp {ts} before 09:30");
        assert!(ts >= last, "timestamp went back from {last} to {ts}");
        last = ts;
    }
}

#[test]
fn re_encoding_every_message_gives_back_the_same_bytes() {
    let file = real_file();
    let mut again = Vec::with_capacity(file.len());
    let mut seen = [false; 256];
    for m in LengthPrefixed::new(&file) {
        let msg = parse(m.unwrap()).unwrap();
        seen[msg.msg_type() as usize] = true;
        let fields = MessageFields::try_from(msg).unwrap();
        assert_eq!(fields.msg_type(), msg.msg_type());
        fields.append_framed(&mut again);
    }
    assert!(again == file, "re-encoded file differs from the original");
    // Sanity: the types of the README's mix were all exercised.
    let covered = TYPES.iter().filter(|&&t| seen[t as usize]).count();
    assert_eq!(covered, 11);
}
