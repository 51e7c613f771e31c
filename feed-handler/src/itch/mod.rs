//! Nasdaq TotalView-ITCH 5.0.
//!
//! - [`parse`] turns one whole message (type byte first, no length prefix) into a
//!   [`Message`]: an enum of references to zero-copy views ([`views`]), one per message
//!   type. The exact length is checked once; the views' accessors then read their
//!   fields without checks, as native integers (prices stay fixed-point integers).
//! - [`LengthPrefixed`] iterates over Nasdaq's raw daily-file format (a 2-byte
//!   big-endian length before each message).
//! - [`encode`] writes messages from plain owned structs (`AddOrderFields`, ...), for
//!   generators and tests.
//!
//! Nothing here allocates, locks, logs or panics on bad input (the encoder's
//! `encode_into` panics only when handed too small an output buffer, as documented).
//!
//! ```
//! use hotpath_feed::itch::{parse, Message};
//! use hotpath_feed::itch::encode::{alpha, AddOrderFields};
//! use hotpath_book::Side;
//!
//! let bytes = AddOrderFields {
//!     stock_locate: 7,
//!     tracking_number: 0,
//!     timestamp: 34_200_000_000_000, // 09:30:00
//!     order_ref: 42,
//!     side: Side::Buy,
//!     shares: 100,
//!     stock: alpha("AAPL"),
//!     price: 2_912_500, // 291.25
//! }
//! .encode();
//! let Message::AddOrder(add) = parse(&bytes).unwrap() else { unreachable!() };
//! assert_eq!((add.order_ref(), add.side(), add.price()), (42, Some(Side::Buy), 2_912_500));
//! assert_eq!(&add.stock(), b"AAPL    ");
//! ```

pub mod encode;
mod error;
mod framing;
pub mod views;

pub use error::{FramingError, ItchError};
pub use framing::LengthPrefixed;
pub use views::{
    AddOrder, AddOrderMpid, BrokenTrade, CrossTrade, DlcrPriceDiscovery, Header,
    IpoQuotingPeriodUpdate, LuldAuctionCollar, MarketParticipantPosition, MwcbDeclineLevel,
    MwcbStatus, NetOrderImbalance, NonCrossTrade, OperationalHalt, OrderCancel, OrderDelete,
    OrderExecuted, OrderExecutedWithPrice, OrderReplace, RegShoRestriction, RetailPriceImprovement,
    StockDirectory, StockTradingAction, SystemEvent, View, HEADER_LEN, MAX_MESSAGE_LEN,
};

use zerocopy::IntoBytes;

/// Reinterprets `msg` as a `T`, or says why its length is wrong. The only length check
/// a message goes through.
#[inline(always)]
fn view<T: View>(msg: &[u8]) -> Result<&T, ItchError> {
    match T::ref_from_bytes(msg) {
        Ok(v) => Ok(v),
        Err(_) => Err(ItchError::BadLength {
            ty: T::TYPE,
            expected: T::LEN,
            actual: msg.len(),
        }),
    }
}

macro_rules! messages {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// One parsed ITCH 5.0 message: a reference to the view of its type, borrowed
        /// from the parsed buffer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Message<'a> {
            $( $(#[$doc])* $name(&'a $name), )*
        }

        /// Every ITCH 5.0 message type byte, in the specification's order.
        pub const TYPES: [u8; 23] = [$( $name::TYPE, )*];

        /// The exact length (type byte included) of messages of type `ty`, or `None`
        /// if `ty` is not an ITCH 5.0 type.
        pub const fn expected_len(ty: u8) -> Option<usize> {
            match ty {
                $( $name::TYPE => Some($name::LEN), )*
                _ => None,
            }
        }

        /// The specification's name of message type `ty`, or `None` if unknown.
        pub const fn type_name(ty: u8) -> Option<&'static str> {
            match ty {
                $( $name::TYPE => Some($name::NAME), )*
                _ => None,
            }
        }

        /// Parses one whole ITCH 5.0 message: `msg` starts with the type byte and has
        /// no length prefix.
        ///
        /// Checks only that the type is known and that the length is exactly the
        /// type's; field values (sides, codes) are not validated, so a view's
        /// accessors return them raw, or as `Option` where there is a typed form (such
        /// as `side()`). Never allocates, never panics.
        #[inline(always)]
        pub fn parse(msg: &[u8]) -> Result<Message<'_>, ItchError> {
            let Some(&ty) = msg.first() else {
                return Err(ItchError::Empty);
            };
            match ty {
                $( $name::TYPE => view::<$name>(msg).map(Message::$name), )*
                _ => Err(ItchError::UnknownType { ty, len: msg.len() }),
            }
        }

        impl<'a> Message<'a> {
            /// The common header (type, stock locate, tracking number, timestamp).
            #[inline]
            pub fn header(&self) -> &'a Header {
                match *self {
                    $( Message::$name(m) => m.header(), )*
                }
            }

            /// The message's bytes, exactly as parsed (type byte first).
            #[inline]
            pub fn as_bytes(&self) -> &'a [u8] {
                match *self {
                    $( Message::$name(m) => m.as_bytes(), )*
                }
            }

            /// The specification's name for the message's type.
            pub fn name(&self) -> &'static str {
                match *self {
                    $( Message::$name(_) => $name::NAME, )*
                }
            }
        }
    };
}

messages! {
    /// `S`: System Event.
    SystemEvent,
    /// `R`: Stock Directory.
    StockDirectory,
    /// `H`: Stock Trading Action.
    StockTradingAction,
    /// `Y`: Reg SHO Short Sale Price Test Restricted Indicator.
    RegShoRestriction,
    /// `L`: Market Participant Position.
    MarketParticipantPosition,
    /// `V`: MWCB Decline Level.
    MwcbDeclineLevel,
    /// `W`: MWCB Status.
    MwcbStatus,
    /// `K`: IPO Quoting Period Update.
    IpoQuotingPeriodUpdate,
    /// `J`: LULD Auction Collar.
    LuldAuctionCollar,
    /// `h`: Operational Halt.
    OperationalHalt,
    /// `A`: Add Order (no MPID attribution).
    AddOrder,
    /// `F`: Add Order with MPID Attribution.
    AddOrderMpid,
    /// `E`: Order Executed.
    OrderExecuted,
    /// `C`: Order Executed With Price.
    OrderExecutedWithPrice,
    /// `X`: Order Cancel.
    OrderCancel,
    /// `D`: Order Delete.
    OrderDelete,
    /// `U`: Order Replace.
    OrderReplace,
    /// `P`: Trade (Non-Cross).
    NonCrossTrade,
    /// `Q`: Cross Trade.
    CrossTrade,
    /// `B`: Broken Trade.
    BrokenTrade,
    /// `I`: Net Order Imbalance Indicator (NOII).
    NetOrderImbalance,
    /// `N`: Retail Price Improvement Indicator (RPII).
    RetailPriceImprovement,
    /// `O`: Direct Listing with Capital Raise Price Discovery.
    DlcrPriceDiscovery,
}

impl Message<'_> {
    /// The message type byte.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.header().msg_type()
    }

    /// Stock Locate (0 for market-wide messages).
    #[inline]
    pub fn stock_locate(&self) -> u16 {
        self.header().stock_locate()
    }

    /// Tracking Number.
    #[inline]
    pub fn tracking_number(&self) -> u16 {
        self.header().tracking_number()
    }

    /// Timestamp: nanoseconds since midnight.
    #[inline]
    pub fn timestamp(&self) -> u64 {
        self.header().timestamp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_distinct_and_have_lengths() {
        for (i, &ty) in TYPES.iter().enumerate() {
            assert!(!TYPES[..i].contains(&ty), "type {ty} listed twice");
            let len = expected_len(ty).expect("listed type has a length");
            assert!((HEADER_LEN + 1..=MAX_MESSAGE_LEN).contains(&len));
            assert!(type_name(ty).is_some());
        }
        let longest = TYPES.iter().filter_map(|&t| expected_len(t)).max();
        assert_eq!(longest, Some(MAX_MESSAGE_LEN));
        let known = (0..=u8::MAX).filter(|&b| expected_len(b).is_some()).count();
        assert_eq!(known, TYPES.len());
    }

    #[test]
    fn parse_checks_exact_length_for_every_type() {
        let mut buf = [0u8; MAX_MESSAGE_LEN + 1];
        for &ty in &TYPES {
            let len = expected_len(ty).unwrap();
            buf[0] = ty;
            let m = parse(&buf[..len]).unwrap();
            assert_eq!(m.msg_type(), ty);
            assert_eq!(m.as_bytes().len(), len);
            for bad in [1, len - 1, len + 1] {
                assert_eq!(
                    parse(&buf[..bad]),
                    Err(ItchError::BadLength {
                        ty,
                        expected: len,
                        actual: bad
                    })
                );
            }
        }
    }

    #[test]
    fn errors_name_what_is_wrong() {
        assert_eq!(parse(&[]), Err(ItchError::Empty));
        let unknown = parse(&[b'z', 1, 2]).unwrap_err();
        assert_eq!(unknown, ItchError::UnknownType { ty: b'z', len: 3 });
        assert!(unknown.to_string().contains("'z'"), "{unknown}");
        let bad = parse(&[b'A'; 35]).unwrap_err();
        let text = bad.to_string();
        assert!(
            text.contains("Add Order") && text.contains("36") && text.contains("35"),
            "{text}"
        );
        assert!(parse(&[0u8]).unwrap_err().to_string().contains("0x00"));
    }
}
