//! Bad input: `parse` and `LengthPrefixed` never panic, and say exactly what is wrong.

mod itch_support;

use hotpath_feed::itch::{
    expected_len, parse, FramingError, ItchError, LengthPrefixed, MAX_MESSAGE_LEN, TYPES,
};
use itch_support::{real_file, Gen};
use proptest::prelude::*;

/// Bytes that often start with a known type and are often near that type's length, so
/// all three outcomes (unknown type, bad length, success) come up.
fn message_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2 * MAX_MESSAGE_LEN),
        (
            proptest::sample::select(TYPES.to_vec()),
            -2i32..=2,
            proptest::collection::vec(any::<u8>(), MAX_MESSAGE_LEN + 2)
        )
            .prop_map(|(ty, delta, mut body)| {
                let len = (expected_len(ty).unwrap() as i32 + delta) as usize;
                body.truncate(len);
                body[0] = ty;
                body
            }),
    ]
}

/// The outcome `parse` must have, derived from the bytes alone.
fn kind(bytes: &[u8]) -> &'static str {
    match bytes.first() {
        None => "empty",
        Some(&ty) if !TYPES.contains(&ty) => "unknown type",
        Some(&ty) if Some(bytes.len()) == expected_len(ty) => "ok",
        Some(_) => "bad length",
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn parse_never_panics_and_gives_the_right_error(bytes in message_like()) {
        let result = parse(&bytes);
        match (kind(&bytes), result) {
            ("empty", Err(ItchError::Empty)) => {}
            ("unknown type", Err(ItchError::UnknownType { ty, len })) => {
                prop_assert_eq!(ty, bytes[0]);
                prop_assert_eq!(len, bytes.len());
            }
            ("bad length", Err(ItchError::BadLength { ty, expected, actual })) => {
                prop_assert_eq!(ty, bytes[0]);
                prop_assert_eq!(Some(expected), expected_len(ty));
                prop_assert_eq!(actual, bytes.len());
            }
            ("ok", Ok(msg)) => {
                prop_assert_eq!(msg.msg_type(), bytes[0]);
                prop_assert_eq!(msg.as_bytes(), &bytes[..]);
                // Every accessor can be called on whatever the bytes are.
                let shown = format!("{:?}", msg);
                let locate = format!("stock_locate: {}", msg.stock_locate());
                prop_assert!(shown.contains(&locate), "{} lacks {}", shown, locate);
            }
            (want, got) => prop_assert!(false, "expected {}, got {:?}", want, got),
        }
        if let Err(e) = result {
            prop_assert!(!e.to_string().is_empty());
            prop_assert_eq!(e.msg_type(), bytes.first().copied());
        }
    }

    /// Random buffers: items are whole messages in order, at most one error, always
    /// last, naming the offset where the consumed messages end.
    #[test]
    fn length_prefixed_never_panics_and_accounts_for_every_byte(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut it = LengthPrefixed::new(&buf);
        let mut consumed = 0;
        let mut error = None;
        while let Some(item) = it.next() {
            prop_assert!(error.is_none(), "an item after an error");
            match item {
                Ok(msg) => {
                    prop_assert_eq!(u16::from_be_bytes([buf[consumed], buf[consumed + 1]]) as usize, msg.len());
                    prop_assert_eq!(msg, &buf[consumed + 2..consumed + 2 + msg.len()]);
                    consumed += 2 + msg.len();
                    prop_assert_eq!(it.offset(), consumed);
                }
                Err(e) => error = Some(e),
            }
        }
        match error {
            None => prop_assert_eq!(consumed, buf.len()),
            Some(FramingError::TruncatedLength { offset, available }) => {
                prop_assert_eq!(offset, consumed);
                prop_assert_eq!(available, 1);
                prop_assert_eq!(buf.len(), consumed + 1);
            }
            Some(FramingError::TruncatedMessage { offset, declared, available }) => {
                prop_assert_eq!(offset, consumed);
                prop_assert_eq!(declared, u16::from_be_bytes([buf[offset], buf[offset + 1]]) as usize);
                prop_assert_eq!(available, buf.len() - offset - 2);
                prop_assert!(declared > available);
            }
        }
        prop_assert_eq!(it.next(), None);
        prop_assert_eq!(it.offset(), buf.len());
    }

    /// A well-formed stream of random messages cut anywhere: the whole messages before
    /// the cut come out, then exactly one error if the cut is inside a message.
    #[test]
    fn truncated_streams_yield_whole_messages_then_one_error(
        picks in proptest::collection::vec((0..TYPES.len(), any::<u64>()), 1..16),
        cut_frac in 0.0f64..1.0,
    ) {
        let mut buf = Vec::new();
        let mut ends = vec![0];
        for &(t, seed) in &picks {
            Gen::new(seed).message(TYPES[t]).append_framed(&mut buf);
            ends.push(buf.len());
        }
        let cut = ((buf.len() as f64) * cut_frac) as usize;
        let whole = ends.iter().filter(|&&e| e <= cut).count() - 1;
        let items: Vec<_> = LengthPrefixed::new(&buf[..cut]).collect();
        let oks = items.iter().take_while(|i| i.is_ok()).count();
        prop_assert_eq!(oks, whole);
        for m in &items[..oks] {
            prop_assert!(parse(m.unwrap()).is_ok());
        }
        if ends.contains(&cut) {
            prop_assert_eq!(items.len(), whole);
        } else {
            prop_assert_eq!(items.len(), whole + 1);
            let err = items[whole].unwrap_err();
            prop_assert_eq!(err.offset(), ends[whole]);
        }
    }
}

#[test]
fn every_truncation_and_extension_of_every_type_is_a_bad_length() {
    let mut g = Gen::new(1);
    for &ty in &TYPES {
        let mut bytes = Vec::new();
        g.message(ty).append(&mut bytes);
        let len = bytes.len();
        assert_eq!(Some(len), expected_len(ty));
        assert!(parse(&bytes).is_ok());
        assert_eq!(parse(&bytes[..0]), Err(ItchError::Empty));
        for cut in 1..len {
            assert_eq!(
                parse(&bytes[..cut]),
                Err(ItchError::BadLength {
                    ty,
                    expected: len,
                    actual: cut
                }),
                "type {} cut to {cut}",
                ty as char
            );
        }
        for extra in 1..=3 {
            bytes.push(0);
            assert_eq!(
                parse(&bytes),
                Err(ItchError::BadLength {
                    ty,
                    expected: len,
                    actual: len + extra
                })
            );
        }
    }
}

#[test]
fn every_unknown_type_byte_is_reported_with_its_length() {
    let mut unknown = 0;
    for ty in 0..=u8::MAX {
        if TYPES.contains(&ty) {
            continue;
        }
        unknown += 1;
        for len in [1, 12, 36, 60] {
            let mut bytes = vec![0u8; len];
            bytes[0] = ty;
            assert_eq!(parse(&bytes), Err(ItchError::UnknownType { ty, len }));
        }
    }
    assert_eq!(unknown, 256 - 23);
}

#[test]
fn the_real_file_cut_short_reports_the_last_message_once() {
    let file = real_file();
    // Cut inside the last message, then inside its length prefix.
    let mut offsets = Vec::new();
    let mut it = LengthPrefixed::new(&file);
    while it.next().is_some() {
        offsets.push(it.offset());
    }
    let last_start = offsets[offsets.len() - 2];
    let last_len = file.len() - last_start - 2;

    let cut = &file[..file.len() - 1];
    let items: Vec<_> = LengthPrefixed::new(cut).collect();
    assert_eq!(items.len(), 1000);
    assert!(items[..999].iter().all(|i| i.is_ok()));
    assert_eq!(
        items[999],
        Err(FramingError::TruncatedMessage {
            offset: last_start,
            declared: last_len,
            available: last_len - 1
        })
    );
    let text = items[999].unwrap_err().to_string();
    assert!(text.contains(&last_start.to_string()), "{text}");

    let cut = &file[..last_start + 1];
    let items: Vec<_> = LengthPrefixed::new(cut).collect();
    assert_eq!(items.len(), 1000);
    assert_eq!(
        items[999],
        Err(FramingError::TruncatedLength {
            offset: last_start,
            available: 1
        })
    );
}
