//! Fuzzes the ITCH 5.0 codec: `parse` on the input (and on its prefix of the length
//! its type byte asks for), every accessor of whatever comes back, the re-encoding of
//! valid messages, and `LengthPrefixed` over the input as a raw file.
#![no_main]

use hotpath_feed::itch::encode::MessageFields;
use hotpath_feed::itch::{expected_len, parse, FramingError, ItchError, LengthPrefixed, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_message(data);
    // Most random inputs have the wrong length for their type; also try the prefix of
    // the right length so the views' accessors get exercised on arbitrary bytes.
    if let Some(len) = data.first().and_then(|&ty| expected_len(ty)) {
        if data.len() > len {
            check_message(&data[..len]);
        }
    }
    check_framing(data);
});

fn check_message(bytes: &[u8]) {
    match parse(bytes) {
        Ok(msg) => {
            assert_eq!(msg.msg_type(), bytes[0]);
            assert_eq!(msg.as_bytes(), bytes);
            assert_eq!(Some(bytes.len()), expected_len(bytes[0]));
            let _ = (msg.stock_locate(), msg.tracking_number(), msg.timestamp());
            assert!(msg.timestamp() < 1 << 48);
            touch_typed(&msg);
            // The views' Debug impls call every field accessor.
            let shown = format!("{msg:?}");
            assert!(shown.contains("stock_locate"));
            // Valid messages re-encode to the same bytes; only a bad side can refuse.
            match MessageFields::try_from(msg) {
                Ok(fields) => {
                    let mut again = Vec::new();
                    fields.append(&mut again);
                    assert_eq!(again, bytes);
                }
                Err(e) => {
                    assert_eq!(e.field, "buy_sell_indicator");
                    assert!(matches!(bytes[0], b'A' | b'F' | b'P'));
                    assert!(!matches!(e.value, b'B' | b'S'));
                }
            }
        }
        Err(e) => {
            match e {
                ItchError::Empty => assert!(bytes.is_empty()),
                ItchError::UnknownType { ty, len } => {
                    assert_eq!((ty, len), (bytes[0], bytes.len()));
                    assert_eq!(expected_len(ty), None);
                }
                ItchError::BadLength {
                    ty,
                    expected,
                    actual,
                } => {
                    assert_eq!((ty, actual), (bytes[0], bytes.len()));
                    assert_eq!(expected_len(ty), Some(expected));
                    assert_ne!(expected, actual);
                }
            }
            assert!(!e.to_string().is_empty());
        }
    }
}

/// The accessors that return typed values rather than raw fields.
fn touch_typed(msg: &Message<'_>) {
    match *msg {
        Message::AddOrder(m) => {
            assert_eq!(
                m.side().is_some(),
                matches!(m.buy_sell_indicator(), b'B' | b'S')
            )
        }
        Message::AddOrderMpid(m) => {
            assert_eq!(
                m.side().is_some(),
                matches!(m.buy_sell_indicator(), b'B' | b'S')
            )
        }
        Message::NonCrossTrade(m) => {
            assert_eq!(
                m.side().is_some(),
                matches!(m.buy_sell_indicator(), b'B' | b'S')
            )
        }
        Message::OrderExecutedWithPrice(m) => {
            assert_eq!(m.is_printable(), m.printable() == b'Y')
        }
        _ => {}
    }
    assert_eq!(msg.header().msg_type(), msg.msg_type());
    assert!(!msg.name().is_empty());
}

fn check_framing(data: &[u8]) {
    let mut it = LengthPrefixed::new(data);
    let mut consumed = 0;
    let mut failed = false;
    while let Some(item) = it.next() {
        assert!(!failed, "an item after a framing error");
        match item {
            Ok(msg) => {
                consumed += 2 + msg.len();
                assert_eq!(it.offset(), consumed);
                check_message(msg);
            }
            Err(e) => {
                failed = true;
                assert_eq!(e.offset(), consumed);
                match e {
                    FramingError::TruncatedLength { available, .. } => {
                        assert_eq!(consumed + available, data.len())
                    }
                    FramingError::TruncatedMessage {
                        declared,
                        available,
                        ..
                    } => {
                        assert!(declared > available);
                        assert_eq!(consumed + 2 + available, data.len());
                    }
                }
            }
        }
    }
    assert_eq!(it.offset(), data.len());
    assert!(it.next().is_none());
}
