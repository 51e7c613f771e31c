//! `Core::apply` decodes and dispatches with one jump on the type byte; these tests
//! hold its counters to what `itch::parse` says about the same bytes, for every type
//! byte and every length up to past the longest message, and check the `--symbols`
//! filter's counting.

use hotpath_book::{BookConfig, NullSink};
use hotpath_feed::handler::{Feed, FeedConfig, FeedStats};
use hotpath_feed::itch::{self, ItchError, Message, MAX_MESSAGE_LEN};

fn feed(symbols: Option<&[&str]>) -> Feed<NullSink> {
    let cfg = FeedConfig {
        books: BookConfig {
            order_capacity: 1 << 10,
            max_locates: 64,
            ..BookConfig::default()
        },
        symbols: symbols.map(|s| s.iter().map(|x| x.to_string()).collect()),
        ..FeedConfig::default()
    };
    Feed::new(&cfg, NullSink).unwrap()
}

/// What `apply` must have counted for `msg`, from the parser's verdict.
fn expect(msg: &[u8], want: &mut FeedStats) {
    want.messages += 1;
    match itch::parse(msg) {
        Err(ItchError::Empty) => want.empty += 1,
        Err(ItchError::UnknownType { .. }) => want.unknown_type += 1,
        Err(ItchError::BadLength { .. }) => want.bad_length += 1,
        Ok(m) => {
            want.by_type[msg[0] as usize] += 1;
            let side_byte = match m {
                Message::AddOrder(_) | Message::AddOrderMpid(_) | Message::NonCrossTrade(_) => {
                    Some(msg[19])
                }
                _ => None,
            };
            if matches!(side_byte, Some(b) if b != b'B' && b != b'S') {
                want.bad_side += 1;
            }
        }
    }
}

#[test]
fn every_type_byte_and_length_is_counted_as_the_parser_classifies_it() {
    let mut f = feed(None);
    let mut want = FeedStats::default();
    let mut buf = [0u8; MAX_MESSAGE_LEN + 8];
    let mut seq = 0;
    // Locate 0 (market-wide); byte 19 (the side, where there is one) invalid in the
    // first pass and valid in the second.
    for side in [0, b'S'] {
        for ty in 0..=255u8 {
            for len in 0..=MAX_MESSAGE_LEN + 8 {
                buf.fill(0);
                buf[0] = ty;
                buf[19] = side;
                let msg = &buf[..len];
                expect(msg, &mut want);
                seq += 1;
                f.core.apply(seq, msg);
            }
        }
    }
    let got = &f.core.stats;
    assert_eq!(got.by_type, want.by_type, "by type");
    assert_eq!(
        (
            got.messages,
            got.empty,
            got.unknown_type,
            got.bad_length,
            got.bad_side
        ),
        (
            want.messages,
            want.empty,
            want.unknown_type,
            want.bad_length,
            want.bad_side
        ),
        "(messages, empty, unknown type, bad length, bad side)"
    );
    assert_eq!(got.filtered, 0);
    // The sweep saw each type's valid length twice and each failure mode many times.
    assert!(want.by_type.iter().filter(|&&n| n == 2).count() == itch::TYPES.len());
    assert!(want.bad_side == 3 && want.bad_length > 1000 && want.unknown_type > 1000);
}

/// A message of type `ty` at its exact length, for `locate`, zero elsewhere.
fn raw(ty: u8, locate: u16) -> Vec<u8> {
    let mut m = vec![0u8; itch::expected_len(ty).unwrap()];
    m[0] = ty;
    m[1..3].copy_from_slice(&locate.to_be_bytes());
    m
}

fn directory(locate: u16, symbol: &[u8; 8]) -> Vec<u8> {
    let mut m = raw(b'R', locate);
    m[11..19].copy_from_slice(symbol);
    m
}

fn add(locate: u16, order_ref: u64) -> Vec<u8> {
    let mut m = raw(b'A', locate);
    m[11..19].copy_from_slice(&order_ref.to_be_bytes());
    m[19] = b'B';
    m[20..24].copy_from_slice(&100u32.to_be_bytes());
    m[32..36].copy_from_slice(&10_000u32.to_be_bytes());
    m
}

#[test]
fn the_symbol_filter_counts_what_it_keeps_out_and_lets_market_wide_messages_through() {
    let mut f = feed(Some(&["AAA"]));
    let mut open = raw(b'S', 0);
    open[11] = b'O';
    let msgs = [
        open,
        directory(5, b"AAA     "),
        directory(6, b"BBB     "),
        add(5, 1),
        add(6, 2),
        add(6, 3),
        raw(b'I', 6),
    ];
    for (i, m) in msgs.iter().enumerate() {
        f.core.apply(i as u64 + 1, m);
    }
    let s = &f.core.stats;
    assert_eq!(s.filtered, 4, "BBB's directory, its two adds and its NOII");
    assert_eq!(
        s.by_type[b'A' as usize], 3,
        "every add is decoded and counted"
    );
    assert_eq!(s.by_type[b'R' as usize], 2);
    assert_eq!(s.by_type[b'I' as usize], 1);
    assert_eq!(
        f.core.books.stats().adds,
        1,
        "only AAA's add reaches the books"
    );
    assert_eq!(f.core.books.last_system_event(), Some(b'O'));
    assert_eq!(f.core.books.symbol(5), Some(*b"AAA     "));
    assert_eq!(f.core.books.symbol(6), None);
}
