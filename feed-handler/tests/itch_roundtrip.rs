//! Encoder and decoder agree (random field values -> encode -> parse -> same values),
//! the views read the offsets of the specification's tables, and synthetic messages of
//! the 21 types itchy knows decode the same with itchy.

mod itch_support;

use hotpath_book::Side;
use hotpath_feed::itch::encode::{alpha, Encode, InvalidField, MessageFields, OrderDeleteFields};
use hotpath_feed::itch::{expected_len, parse, LengthPrefixed, Message, MAX_MESSAGE_LEN, TYPES};
use itch_support::{assert_same_as_itchy, itchy_decode, Gen, ITCHY_TYPES};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Every type: random fields -> encode -> parse -> the same fields, header included.
    #[test]
    fn fields_survive_encode_then_parse(seed in any::<u64>()) {
        let mut g = Gen::new(seed);
        for &ty in &TYPES {
            let fields = g.message(ty);
            let mut buf = [0u8; MAX_MESSAGE_LEN];
            let n = fields.encode_into(&mut buf);
            prop_assert_eq!(Some(n), expected_len(ty));
            prop_assert_eq!(fields.wire_len(), n);
            let msg = parse(&buf[..n]).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(msg.msg_type(), ty);
            let back = MessageFields::try_from(msg).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, fields);
        }
    }

    /// A stream of random messages, framed with `append_framed`, comes back in order
    /// through `LengthPrefixed` and `parse`; `write_framed` writes the same bytes.
    #[test]
    fn framed_streams_survive(picks in proptest::collection::vec((0..TYPES.len(), any::<u64>()), 0..64)) {
        let sent: Vec<MessageFields> =
            picks.iter().map(|&(t, seed)| Gen::new(seed).message(TYPES[t])).collect();
        let mut buf = Vec::new();
        let mut written = Vec::new();
        for f in &sent {
            f.append_framed(&mut buf);
            f.write_framed(&mut written).unwrap();
        }
        prop_assert_eq!(&buf, &written);
        let got: Vec<MessageFields> = LengthPrefixed::new(&buf)
            .map(|m| MessageFields::try_from(parse(m.unwrap()).unwrap()).unwrap())
            .collect();
        prop_assert_eq!(got, sent);
    }

    /// Any bytes of a known type's exact length parse; turned back into fields and
    /// re-encoded they give the same bytes, unless a Buy/Sell Indicator is neither B
    /// nor S, which the conversion names.
    #[test]
    fn any_bytes_of_the_right_length_round_trip(t in 0..TYPES.len(), body in proptest::collection::vec(any::<u8>(), MAX_MESSAGE_LEN)) {
        let ty = TYPES[t];
        let len = expected_len(ty).unwrap();
        let mut bytes = body[..len].to_vec();
        bytes[0] = ty;
        let msg = parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(msg.as_bytes(), &bytes[..]);
        let has_side = matches!(ty, b'A' | b'F' | b'P');
        let side_ok = has_side && matches!(bytes[19], b'B' | b'S');
        match MessageFields::try_from(msg) {
            Ok(f) => {
                prop_assert!(!has_side || side_ok);
                let mut again = Vec::new();
                f.append(&mut again);
                prop_assert_eq!(again, bytes);
            }
            Err(e) => {
                prop_assert!(has_side && !side_ok, "unexpected {:?}", e);
                prop_assert_eq!(e, InvalidField { ty, field: "buy_sell_indicator", value: bytes[19] });
            }
        }
    }

    /// Synthetic messages of every type itchy decodes: same fields both ways.
    #[test]
    fn synthetic_messages_agree_with_itchy(picks in proptest::collection::vec((0..ITCHY_TYPES.len(), any::<u64>()), 1..48)) {
        let mut buf = Vec::new();
        for &(t, seed) in &picks {
            Gen::new(seed).message(ITCHY_TYPES[t]).append_framed(&mut buf);
        }
        let theirs = itchy_decode(&buf);
        let ours: Vec<Message<'_>> = LengthPrefixed::new(&buf).map(|m| parse(m.unwrap()).unwrap()).collect();
        prop_assert_eq!(ours.len(), theirs.len());
        prop_assert_eq!(ours.len(), picks.len());
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            assert_same_as_itchy(i, o, t);
        }
    }
}

#[test]
fn every_type_itchy_knows_is_compared_with_itchy() {
    // One of each, so no type can be missed by chance.
    let mut g = Gen::new(7);
    let mut buf = Vec::new();
    for &ty in ITCHY_TYPES {
        g.message(ty).append_framed(&mut buf);
    }
    let theirs = itchy_decode(&buf);
    let ours: Vec<Message<'_>> = LengthPrefixed::new(&buf)
        .map(|m| parse(m.unwrap()).unwrap())
        .collect();
    assert_eq!(ours.len(), ITCHY_TYPES.len());
    assert_eq!(theirs.len(), ITCHY_TYPES.len());
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o.msg_type(), ITCHY_TYPES[i]);
        assert!(assert_same_as_itchy(i, o, t) >= 5);
    }
}

#[test]
fn encoding_helpers() {
    assert_eq!(alpha::<8>("AAPL"), *b"AAPL    ");
    assert_eq!(alpha::<4>("NSDQ"), *b"NSDQ");
    assert_eq!(alpha::<8>(""), *b"        ");
    let d = OrderDeleteFields {
        stock_locate: 0x0102,
        tracking_number: 0x0304,
        timestamp: 0x0506_0708_090a,
        order_ref: 0x1112_1314_1516_1718,
    };
    // The trait's provided methods agree with the inherent ones.
    let mut a = Vec::new();
    let mut b = Vec::new();
    d.append_framed(&mut a);
    Encode::append_framed(&d, &mut b);
    assert_eq!(a, b);
    let mut w = Vec::new();
    Encode::write_framed(&d, &mut w).unwrap();
    assert_eq!(a, w);
    assert_eq!(a.len(), 2 + OrderDeleteFields::LEN);
    assert_eq!(
        u16::from_be_bytes([a[0], a[1]]) as usize,
        OrderDeleteFields::LEN
    );
    // The timestamp keeps only its low 48 bits.
    let big = OrderDeleteFields {
        timestamp: 0xffff_0000_0000_0001,
        ..d
    };
    let bytes = big.encode();
    let Message::OrderDelete(v) = parse(&bytes).unwrap() else {
        panic!("not an order delete")
    };
    assert_eq!(v.timestamp(), 1);
}

#[test]
#[should_panic]
fn encode_into_panics_on_a_short_buffer() {
    let d = OrderDeleteFields {
        stock_locate: 1,
        tracking_number: 2,
        timestamp: 3,
        order_ref: 4,
    };
    let mut short = [0u8; OrderDeleteFields::LEN - 1];
    d.encode_into(&mut short);
}

// ---- The specification's field tables --------------------------------------------------

/// A field value read as a big-endian unsigned integer of `WIDTH` bytes.
trait Wide: Copy {
    const WIDTH: usize;
    fn wide(self) -> u128;
}
impl Wide for u8 {
    const WIDTH: usize = 1;
    fn wide(self) -> u128 {
        self.into()
    }
}
impl Wide for u16 {
    const WIDTH: usize = 2;
    fn wide(self) -> u128 {
        self.into()
    }
}
impl Wide for u32 {
    const WIDTH: usize = 4;
    fn wide(self) -> u128 {
        self.into()
    }
}
impl Wide for u64 {
    const WIDTH: usize = 8;
    fn wide(self) -> u128 {
        self.into()
    }
}
impl<const N: usize> Wide for [u8; N] {
    const WIDTH: usize = N;
    fn wide(self) -> u128 {
        be(&self)
    }
}

fn be(bytes: &[u8]) -> u128 {
    bytes.iter().fold(0, |acc, &b| (acc << 8) | u128::from(b))
}

fn width_of<T: Wide>(_: &T) -> usize {
    T::WIDTH
}

/// Fills a message of type `ty` with distinct bytes, parses it, and checks every
/// accessor against the bytes at the offset and width the specification gives, and
/// that the fields tile the message from offset 11 to the specification's length.
macro_rules! spec_table {
    ($ty:literal, $variant:ident, len $len:literal { $($acc:ident @ $off:literal : $w:literal),* $(,)? }) => {{
        assert_eq!(expected_len($ty), Some($len), "length of {}", stringify!($variant));
        // Distinct bytes (37 is odd, so i -> 37 i + 11 is a bijection mod 256).
        let mut buf: Vec<u8> = (0..$len).map(|i: usize| (i * 37 + 11) as u8).collect();
        buf[0] = $ty;
        let msg = parse(&buf).unwrap();
        assert_eq!(be(&buf[1..3]), msg.stock_locate().wide());
        assert_eq!(be(&buf[3..5]), msg.tracking_number().wide());
        assert_eq!(be(&buf[5..11]), msg.timestamp().wide());
        let Message::$variant(m) = msg else { panic!("{:?} is not a {}", msg, stringify!($variant)) };
        assert_eq!(m.header().timestamp(), msg.timestamp());
        let mut end = 11;
        $(
            assert_eq!($off, end, "{}.{} does not start where the previous field ends", stringify!($variant), stringify!($acc));
            assert_eq!(width_of(&m.$acc()), $w, "{}.{} width", stringify!($variant), stringify!($acc));
            assert_eq!(
                m.$acc().wide(),
                be(&buf[$off..$off + $w]),
                "{}.{} at offset {}", stringify!($variant), stringify!($acc), $off
            );
            end = $off + $w;
        )*
        assert_eq!(end, $len, "{} fields do not reach the end", stringify!($variant));
        1
    }};
}

#[test]
fn views_read_the_specification_offsets() {
    // Offsets and widths transcribed from the Nasdaq TotalView-ITCH 5.0 specification's
    // message tables (section numbers in the view docs).
    let checked = spec_table!(b'S', SystemEvent, len 12 { event_code @ 11: 1 })
        + spec_table!(b'R', StockDirectory, len 39 {
            stock @ 11: 8, market_category @ 19: 1, financial_status_indicator @ 20: 1,
            round_lot_size @ 21: 4, round_lots_only @ 25: 1, issue_classification @ 26: 1,
            issue_sub_type @ 27: 2, authenticity @ 29: 1, short_sale_threshold_indicator @ 30: 1,
            ipo_flag @ 31: 1, luld_reference_price_tier @ 32: 1, etp_flag @ 33: 1,
            etp_leverage_factor @ 34: 4, inverse_indicator @ 38: 1,
        })
        + spec_table!(b'H', StockTradingAction, len 25 {
            stock @ 11: 8, trading_state @ 19: 1, reserved @ 20: 1, reason @ 21: 4,
        })
        + spec_table!(b'Y', RegShoRestriction, len 20 { stock @ 11: 8, reg_sho_action @ 19: 1 })
        + spec_table!(b'L', MarketParticipantPosition, len 26 {
            mpid @ 11: 4, stock @ 15: 8, primary_market_maker @ 23: 1,
            market_maker_mode @ 24: 1, market_participant_state @ 25: 1,
        })
        + spec_table!(b'V', MwcbDeclineLevel, len 35 {
            level_1 @ 11: 8, level_2 @ 19: 8, level_3 @ 27: 8,
        })
        + spec_table!(b'W', MwcbStatus, len 12 { breached_level @ 11: 1 })
        + spec_table!(b'K', IpoQuotingPeriodUpdate, len 28 {
            stock @ 11: 8, ipo_quotation_release_time @ 19: 4,
            ipo_quotation_release_qualifier @ 23: 1, ipo_price @ 24: 4,
        })
        + spec_table!(b'J', LuldAuctionCollar, len 35 {
            stock @ 11: 8, auction_collar_reference_price @ 19: 4,
            upper_auction_collar_price @ 23: 4, lower_auction_collar_price @ 27: 4,
            auction_collar_extension @ 31: 4,
        })
        + spec_table!(b'h', OperationalHalt, len 21 {
            stock @ 11: 8, market_code @ 19: 1, operational_halt_action @ 20: 1,
        })
        + spec_table!(b'A', AddOrder, len 36 {
            order_ref @ 11: 8, buy_sell_indicator @ 19: 1, shares @ 20: 4, stock @ 24: 8,
            price @ 32: 4,
        })
        + spec_table!(b'F', AddOrderMpid, len 40 {
            order_ref @ 11: 8, buy_sell_indicator @ 19: 1, shares @ 20: 4, stock @ 24: 8,
            price @ 32: 4, attribution @ 36: 4,
        })
        + spec_table!(b'E', OrderExecuted, len 31 {
            order_ref @ 11: 8, executed_shares @ 19: 4, match_number @ 23: 8,
        })
        + spec_table!(b'C', OrderExecutedWithPrice, len 36 {
            order_ref @ 11: 8, executed_shares @ 19: 4, match_number @ 23: 8,
            printable @ 31: 1, execution_price @ 32: 4,
        })
        + spec_table!(b'X', OrderCancel, len 23 { order_ref @ 11: 8, cancelled_shares @ 19: 4 })
        + spec_table!(b'D', OrderDelete, len 19 { order_ref @ 11: 8 })
        + spec_table!(b'U', OrderReplace, len 35 {
            original_order_ref @ 11: 8, new_order_ref @ 19: 8, shares @ 27: 4, price @ 31: 4,
        })
        + spec_table!(b'P', NonCrossTrade, len 44 {
            order_ref @ 11: 8, buy_sell_indicator @ 19: 1, shares @ 20: 4, stock @ 24: 8,
            price @ 32: 4, match_number @ 36: 8,
        })
        + spec_table!(b'Q', CrossTrade, len 40 {
            shares @ 11: 8, stock @ 19: 8, cross_price @ 27: 4, match_number @ 31: 8,
            cross_type @ 39: 1,
        })
        + spec_table!(b'B', BrokenTrade, len 19 { match_number @ 11: 8 })
        + spec_table!(b'I', NetOrderImbalance, len 50 {
            paired_shares @ 11: 8, imbalance_shares @ 19: 8, imbalance_direction @ 27: 1,
            stock @ 28: 8, far_price @ 36: 4, near_price @ 40: 4,
            current_reference_price @ 44: 4, cross_type @ 48: 1,
            price_variation_indicator @ 49: 1,
        })
        + spec_table!(b'N', RetailPriceImprovement, len 20 { stock @ 11: 8, interest_flag @ 19: 1 })
        + spec_table!(b'O', DlcrPriceDiscovery, len 48 {
            stock @ 11: 8, open_eligibility_status @ 19: 1, minimum_allowable_price @ 20: 4,
            maximum_allowable_price @ 24: 4, near_execution_price @ 28: 4,
            near_execution_time @ 32: 8, lower_price_range_collar @ 40: 4,
            upper_price_range_collar @ 44: 4,
        });
    assert_eq!(checked, TYPES.len(), "every type has a table");
}

#[test]
fn typed_accessors_follow_their_raw_bytes() {
    let mut g = Gen::new(99);
    for &ty in b"AFP" {
        for raw in 0..=u8::MAX {
            let mut bytes = [0u8; MAX_MESSAGE_LEN];
            let n = g.message(ty).encode_into(&mut bytes);
            bytes[19] = raw;
            let expected = match raw {
                b'B' => Some(Side::Buy),
                b'S' => Some(Side::Sell),
                _ => None,
            };
            let side = match parse(&bytes[..n]).unwrap() {
                Message::AddOrder(m) => (m.buy_sell_indicator(), m.side()),
                Message::AddOrderMpid(m) => (m.buy_sell_indicator(), m.side()),
                Message::NonCrossTrade(m) => (m.buy_sell_indicator(), m.side()),
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(side, (raw, expected));
        }
    }
    for raw in 0..=u8::MAX {
        let mut bytes = [0u8; MAX_MESSAGE_LEN];
        let n = g.message(b'C').encode_into(&mut bytes);
        bytes[31] = raw;
        let Message::OrderExecutedWithPrice(m) = parse(&bytes[..n]).unwrap() else {
            panic!("not a C")
        };
        assert_eq!(m.is_printable(), raw == b'Y');
    }
}
