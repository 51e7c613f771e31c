//! Writing ITCH 5.0 messages from plain owned structs.
//!
//! One struct per message type, named after its view with a `Fields` suffix
//! ([`AddOrderFields`] for [`AddOrder`], ...), with public fields of native types:
//! the common header (`stock_locate`, `tracking_number`, `timestamp`) then the
//! message's own fields, named like the view's accessors. Sides are [`Side`]s; other
//! `Alpha` fields are raw bytes (see [`alpha`] to pad a symbol); prices are
//! fixed-point integers.
//!
//! Each struct can
//! - `encode_into(&mut [u8]) -> usize`: write the message at the start of a buffer,
//!   no allocation (panics if the buffer is shorter than `LEN`);
//! - `encode() -> [u8; LEN]`: return the message as an array;
//! - `append(&mut Vec<u8>)`: append the message;
//! - `append_framed(&mut Vec<u8>)` / `write_framed(&mut impl Write)`: append or write
//!   it in Nasdaq's raw file format (2-byte big-endian length first);
//! - be made back from a parsed view with `TryFrom<&View>` (which fails only on a
//!   Buy/Sell Indicator that is neither `B` nor `S`).
//!
//! [`MessageFields`] is the owned counterpart of [`super::Message`], for generators
//! that produce mixed streams.
//!
//! Timestamps are nanoseconds since midnight; only their low 48 bits are written (a day
//! has fewer than 2^47 nanoseconds).

use std::io;

use hotpath_book::Side;

use super::views::{
    AddOrder, AddOrderMpid, BrokenTrade, CrossTrade, DlcrPriceDiscovery, IpoQuotingPeriodUpdate,
    LuldAuctionCollar, MarketParticipantPosition, MwcbDeclineLevel, MwcbStatus, NetOrderImbalance,
    NonCrossTrade, OperationalHalt, OrderCancel, OrderDelete, OrderExecuted,
    OrderExecutedWithPrice, OrderReplace, RegShoRestriction, RetailPriceImprovement,
    StockDirectory, StockTradingAction, SystemEvent, MAX_MESSAGE_LEN,
};
use super::Message;

/// A left-justified, space-padded `Alpha` field, as ITCH writes symbols and MPIDs:
/// `alpha::<8>("AAPL") == *b"AAPL    "`.
///
/// # Panics
/// If `s` is longer than `N` bytes.
pub const fn alpha<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    assert!(b.len() <= N, "alpha field longer than its width");
    let mut out = [b' '; N];
    let mut i = 0;
    while i < b.len() {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// Appends `msg` to `out` in Nasdaq's raw file format: its length as a 2-byte
/// big-endian integer, then its bytes.
///
/// # Panics
/// If `msg` is longer than 65,535 bytes (no ITCH message is longer than 50).
pub fn append_framed(out: &mut Vec<u8>, msg: &[u8]) {
    let len = u16::try_from(msg.len()).expect("message longer than a 2-byte length prefix");
    out.reserve(2 + msg.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
}

/// Writes `msg` to `w` in Nasdaq's raw file format (see [`append_framed`]).
///
/// # Panics
/// If `msg` is longer than 65,535 bytes.
pub fn write_framed<W: io::Write + ?Sized>(w: &mut W, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len()).expect("message longer than a 2-byte length prefix");
    w.write_all(&len.to_be_bytes())?;
    w.write_all(msg)
}

/// A field whose raw byte does not have a value the owned struct can hold, found when
/// turning a parsed view into its `Fields` struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("ITCH {} message: field {field} has invalid value {}", super::type_name(*.ty).unwrap_or("?"), super::error::TypeByte(*.value))]
pub struct InvalidField {
    /// The message type byte.
    pub ty: u8,
    /// The field's name.
    pub field: &'static str,
    /// The raw value.
    pub value: u8,
}

/// What every `Fields` struct can do, for generic code. Each struct also has the same
/// operations as inherent methods, so this trait need not be imported to use them.
pub trait Encode {
    /// The message type byte.
    const TYPE: u8;
    /// The message's exact length, type byte included.
    const LEN: usize;

    /// Writes the message into `out[..Self::LEN]` and returns `Self::LEN`.
    ///
    /// # Panics
    /// If `out` is shorter than `Self::LEN`.
    fn encode_into(&self, out: &mut [u8]) -> usize;

    /// Appends the message to `out`.
    fn append(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + Self::LEN, 0);
        self.encode_into(&mut out[start..]);
    }

    /// Appends the message to `out` in the raw file format (2-byte length first).
    fn append_framed(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(Self::LEN as u16).to_be_bytes());
        self.append(out);
    }

    /// Writes the message to `w` in the raw file format (2-byte length first).
    fn write_framed<W: io::Write + ?Sized>(&self, w: &mut W) -> io::Result<()> {
        let mut buf = [0u8; 2 + MAX_MESSAGE_LEN];
        buf[..2].copy_from_slice(&(Self::LEN as u16).to_be_bytes());
        let n = self.encode_into(&mut buf[2..]);
        w.write_all(&buf[..2 + n])
    }
}

/// A field type the encoder can write: big-endian integers, raw bytes, sides.
trait Put: Copy {
    const WIDTH: usize;
    fn put(self, out: &mut [u8]);
}

impl Put for u8 {
    const WIDTH: usize = 1;
    #[inline(always)]
    fn put(self, out: &mut [u8]) {
        out[0] = self;
    }
}

impl Put for Side {
    const WIDTH: usize = 1;
    #[inline(always)]
    fn put(self, out: &mut [u8]) {
        out[0] = self.to_itch();
    }
}

macro_rules! put_int {
    ($($t:ty),*) => {$(
        impl Put for $t {
            const WIDTH: usize = size_of::<$t>();
            #[inline(always)]
            fn put(self, out: &mut [u8]) {
                out[..Self::WIDTH].copy_from_slice(&self.to_be_bytes());
            }
        }
    )*};
}
put_int!(u16, u32, u64);

impl<const N: usize> Put for [u8; N] {
    const WIDTH: usize = N;
    #[inline(always)]
    fn put(self, out: &mut [u8]) {
        out[..N].copy_from_slice(&self);
    }
}

/// Converts a view's raw accessor value into the `Fields` struct's field type.
trait FromRaw<R>: Sized {
    fn from_raw(raw: R, ty: u8, field: &'static str) -> Result<Self, InvalidField>;
}

impl<T> FromRaw<T> for T {
    #[inline(always)]
    fn from_raw(raw: T, _: u8, _: &'static str) -> Result<T, InvalidField> {
        Ok(raw)
    }
}

impl FromRaw<u8> for Side {
    #[inline]
    fn from_raw(raw: u8, ty: u8, field: &'static str) -> Result<Side, InvalidField> {
        Side::from_itch(raw).ok_or(InvalidField {
            ty,
            field,
            value: raw,
        })
    }
}

/// Reads a field's raw value from view `$v`, with the accessor's name: the accessor is
/// `$acc` when given (`side` is read from `buy_sell_indicator`), else the field's own.
macro_rules! raw_field {
    ($v:ident; $acc:ident; $field:ident) => {
        ($v.$acc(), stringify!($acc))
    };
    ($v:ident; ; $field:ident) => {
        ($v.$field(), stringify!($field))
    };
}

macro_rules! encoders {
    ($(
        $(#[$doc:meta])*
        $fields:ident => $view:ident {
            $( $(#[$fdoc:meta])* $field:ident : $t:ty $(= $acc:ident)?, )*
        }
    )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub struct $fields {
                /// Stock Locate (0 for market-wide messages).
                pub stock_locate: u16,
                /// Tracking Number.
                pub tracking_number: u16,
                /// Timestamp: nanoseconds since midnight (low 48 bits written).
                pub timestamp: u64,
                $( $(#[$fdoc])* pub $field: $t, )*
            }

            const _: () = assert!(
                $view::LEN == 11 $( + <$t as Put>::WIDTH )*,
                concat!(stringify!($fields), " does not add up to its view's length")
            );

            impl $fields {
                /// The message type byte.
                pub const TYPE: u8 = $view::TYPE;
                /// The message's exact length, type byte included.
                pub const LEN: usize = $view::LEN;

                /// Writes the message into `out[..Self::LEN]` and returns `Self::LEN`.
                ///
                /// # Panics
                /// If `out` is shorter than `Self::LEN`.
                #[inline]
                pub fn encode_into(&self, out: &mut [u8]) -> usize {
                    let out = &mut out[..Self::LEN];
                    out[0] = Self::TYPE;
                    self.stock_locate.put(&mut out[1..]);
                    self.tracking_number.put(&mut out[3..]);
                    out[5..11].copy_from_slice(&self.timestamp.to_be_bytes()[2..]);
                    let at = 11;
                    $(
                        self.$field.put(&mut out[at..]);
                        let at = at + <$t as Put>::WIDTH;
                    )*
                    debug_assert_eq!(at, Self::LEN);
                    Self::LEN
                }

                /// The message as an array.
                #[inline]
                pub fn encode(&self) -> [u8; $view::LEN] {
                    let mut out = [0u8; $view::LEN];
                    self.encode_into(&mut out);
                    out
                }

                /// Appends the message to `out`.
                #[inline]
                pub fn append(&self, out: &mut Vec<u8>) {
                    out.extend_from_slice(&self.encode());
                }

                /// Appends the message to `out` in the raw file format (2-byte length
                /// first).
                #[inline]
                pub fn append_framed(&self, out: &mut Vec<u8>) {
                    append_framed(out, &self.encode());
                }

                /// Writes the message to `w` in the raw file format (2-byte length
                /// first).
                pub fn write_framed<W: io::Write + ?Sized>(&self, w: &mut W) -> io::Result<()> {
                    write_framed(w, &self.encode())
                }
            }

            impl Encode for $fields {
                const TYPE: u8 = $view::TYPE;
                const LEN: usize = $view::LEN;
                #[inline]
                fn encode_into(&self, out: &mut [u8]) -> usize {
                    $fields::encode_into(self, out)
                }
            }

            impl TryFrom<&$view> for $fields {
                type Error = InvalidField;
                fn try_from(v: &$view) -> Result<Self, InvalidField> {
                    Ok($fields {
                        stock_locate: v.stock_locate(),
                        tracking_number: v.tracking_number(),
                        timestamp: v.timestamp(),
                        $(
                            $field: {
                                let (raw, name) = raw_field!(v; $($acc)?; $field);
                                FromRaw::from_raw(raw, $view::TYPE, name)?
                            },
                        )*
                    })
                }
            }

            impl From<$fields> for MessageFields {
                fn from(f: $fields) -> MessageFields {
                    MessageFields::$view(f)
                }
            }
        )*

        /// An owned ITCH 5.0 message of any type: the counterpart of
        /// [`super::Message`] for writing.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MessageFields {
            $( $(#[$doc])* $view($fields), )*
        }

        impl MessageFields {
            /// The message type byte.
            pub fn msg_type(&self) -> u8 {
                match self {
                    $( MessageFields::$view(_) => $view::TYPE, )*
                }
            }

            /// The message's exact length, type byte included.
            pub fn wire_len(&self) -> usize {
                match self {
                    $( MessageFields::$view(_) => $view::LEN, )*
                }
            }

            /// Writes the message into the start of `out` and returns its length.
            ///
            /// # Panics
            /// If `out` is shorter than the message ([`Self::wire_len`]).
            pub fn encode_into(&self, out: &mut [u8]) -> usize {
                match self {
                    $( MessageFields::$view(f) => f.encode_into(out), )*
                }
            }

            /// Appends the message to `out`.
            pub fn append(&self, out: &mut Vec<u8>) {
                let mut buf = [0u8; MAX_MESSAGE_LEN];
                let n = self.encode_into(&mut buf);
                out.extend_from_slice(&buf[..n]);
            }

            /// Appends the message to `out` in the raw file format (2-byte length
            /// first).
            pub fn append_framed(&self, out: &mut Vec<u8>) {
                let mut buf = [0u8; MAX_MESSAGE_LEN];
                let n = self.encode_into(&mut buf);
                append_framed(out, &buf[..n]);
            }

            /// Writes the message to `w` in the raw file format (2-byte length first).
            pub fn write_framed<W: io::Write + ?Sized>(&self, w: &mut W) -> io::Result<()> {
                let mut buf = [0u8; MAX_MESSAGE_LEN];
                let n = self.encode_into(&mut buf);
                write_framed(w, &buf[..n])
            }
        }

        impl TryFrom<Message<'_>> for MessageFields {
            type Error = InvalidField;
            fn try_from(m: Message<'_>) -> Result<Self, InvalidField> {
                Ok(match m {
                    $( Message::$view(v) => MessageFields::$view($fields::try_from(v)?), )*
                })
            }
        }
    };
}

encoders! {
    /// `S`: System Event.
    SystemEventFields => SystemEvent {
        /// Event Code (see [`SystemEvent`]'s constants).
        event_code: u8,
    }

    /// `R`: Stock Directory.
    StockDirectoryFields => StockDirectory {
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Market Category.
        market_category: u8,
        /// Financial Status Indicator.
        financial_status_indicator: u8,
        /// Round Lot Size.
        round_lot_size: u32,
        /// Round Lots Only (`Y`/`N`).
        round_lots_only: u8,
        /// Issue Classification.
        issue_classification: u8,
        /// Issue Sub-Type.
        issue_sub_type: [u8; 2],
        /// Authenticity (`P`/`T`).
        authenticity: u8,
        /// Short Sale Threshold Indicator.
        short_sale_threshold_indicator: u8,
        /// IPO Flag.
        ipo_flag: u8,
        /// LULD Reference Price Tier.
        luld_reference_price_tier: u8,
        /// ETP Flag.
        etp_flag: u8,
        /// ETP Leverage Factor.
        etp_leverage_factor: u32,
        /// Inverse Indicator.
        inverse_indicator: u8,
    }

    /// `H`: Stock Trading Action.
    StockTradingActionFields => StockTradingAction {
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Trading State.
        trading_state: u8,
        /// Reserved.
        reserved: u8,
        /// Reason.
        reason: [u8; 4],
    }

    /// `Y`: Reg SHO Short Sale Price Test Restricted Indicator.
    RegShoRestrictionFields => RegShoRestriction {
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Reg SHO Action.
        reg_sho_action: u8,
    }

    /// `L`: Market Participant Position.
    MarketParticipantPositionFields => MarketParticipantPosition {
        /// MPID.
        mpid: [u8; 4],
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Primary Market Maker.
        primary_market_maker: u8,
        /// Market Maker Mode.
        market_maker_mode: u8,
        /// Market Participant State.
        market_participant_state: u8,
    }

    /// `V`: MWCB Decline Level.
    MwcbDeclineLevelFields => MwcbDeclineLevel {
        /// Level 1, Price(8).
        level_1: u64,
        /// Level 2, Price(8).
        level_2: u64,
        /// Level 3, Price(8).
        level_3: u64,
    }

    /// `W`: MWCB Status.
    MwcbStatusFields => MwcbStatus {
        /// Breached Level.
        breached_level: u8,
    }

    /// `K`: IPO Quoting Period Update.
    IpoQuotingPeriodUpdateFields => IpoQuotingPeriodUpdate {
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// IPO Quotation Release Time (seconds since midnight).
        ipo_quotation_release_time: u32,
        /// IPO Quotation Release Qualifier.
        ipo_quotation_release_qualifier: u8,
        /// IPO Price, Price(4).
        ipo_price: u32,
    }

    /// `J`: LULD Auction Collar.
    LuldAuctionCollarFields => LuldAuctionCollar {
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Auction Collar Reference Price, Price(4).
        auction_collar_reference_price: u32,
        /// Upper Auction Collar Price, Price(4).
        upper_auction_collar_price: u32,
        /// Lower Auction Collar Price, Price(4).
        lower_auction_collar_price: u32,
        /// Auction Collar Extension.
        auction_collar_extension: u32,
    }

    /// `h`: Operational Halt.
    OperationalHaltFields => OperationalHalt {
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Market Code.
        market_code: u8,
        /// Operational Halt Action.
        operational_halt_action: u8,
    }

    /// `A`: Add Order (no MPID attribution).
    AddOrderFields => AddOrder {
        /// Order Reference Number.
        order_ref: u64,
        /// Buy/Sell Indicator.
        side: Side = buy_sell_indicator,
        /// Shares.
        shares: u32,
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Price, Price(4).
        price: u32,
    }

    /// `F`: Add Order with MPID Attribution.
    AddOrderMpidFields => AddOrderMpid {
        /// Order Reference Number.
        order_ref: u64,
        /// Buy/Sell Indicator.
        side: Side = buy_sell_indicator,
        /// Shares.
        shares: u32,
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Price, Price(4).
        price: u32,
        /// Attribution (MPID), space-padded.
        attribution: [u8; 4],
    }

    /// `E`: Order Executed.
    OrderExecutedFields => OrderExecuted {
        /// Order Reference Number.
        order_ref: u64,
        /// Executed Shares.
        executed_shares: u32,
        /// Match Number.
        match_number: u64,
    }

    /// `C`: Order Executed With Price.
    OrderExecutedWithPriceFields => OrderExecutedWithPrice {
        /// Order Reference Number.
        order_ref: u64,
        /// Executed Shares.
        executed_shares: u32,
        /// Match Number.
        match_number: u64,
        /// Printable (`Y`/`N`).
        printable: u8,
        /// Execution Price, Price(4).
        execution_price: u32,
    }

    /// `X`: Order Cancel.
    OrderCancelFields => OrderCancel {
        /// Order Reference Number.
        order_ref: u64,
        /// Cancelled Shares.
        cancelled_shares: u32,
    }

    /// `D`: Order Delete.
    OrderDeleteFields => OrderDelete {
        /// Order Reference Number.
        order_ref: u64,
    }

    /// `U`: Order Replace.
    OrderReplaceFields => OrderReplace {
        /// Original Order Reference Number.
        original_order_ref: u64,
        /// New Order Reference Number.
        new_order_ref: u64,
        /// Shares.
        shares: u32,
        /// Price, Price(4).
        price: u32,
    }

    /// `P`: Trade (Non-Cross).
    NonCrossTradeFields => NonCrossTrade {
        /// Order Reference Number.
        order_ref: u64,
        /// Buy/Sell Indicator.
        side: Side = buy_sell_indicator,
        /// Shares.
        shares: u32,
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Price, Price(4).
        price: u32,
        /// Match Number.
        match_number: u64,
    }

    /// `Q`: Cross Trade.
    CrossTradeFields => CrossTrade {
        /// Shares (8 bytes).
        shares: u64,
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Cross Price, Price(4).
        cross_price: u32,
        /// Match Number.
        match_number: u64,
        /// Cross Type.
        cross_type: u8,
    }

    /// `B`: Broken Trade.
    BrokenTradeFields => BrokenTrade {
        /// Match Number.
        match_number: u64,
    }

    /// `I`: Net Order Imbalance Indicator.
    NetOrderImbalanceFields => NetOrderImbalance {
        /// Paired Shares.
        paired_shares: u64,
        /// Imbalance Shares.
        imbalance_shares: u64,
        /// Imbalance Direction.
        imbalance_direction: u8,
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Far Price, Price(4).
        far_price: u32,
        /// Near Price, Price(4).
        near_price: u32,
        /// Current Reference Price, Price(4).
        current_reference_price: u32,
        /// Cross Type.
        cross_type: u8,
        /// Price Variation Indicator.
        price_variation_indicator: u8,
    }

    /// `N`: Retail Price Improvement Indicator.
    RetailPriceImprovementFields => RetailPriceImprovement {
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Interest Flag.
        interest_flag: u8,
    }

    /// `O`: Direct Listing with Capital Raise Price Discovery.
    DlcrPriceDiscoveryFields => DlcrPriceDiscovery {
        /// Stock symbol, space-padded.
        stock: [u8; 8],
        /// Open Eligibility Status.
        open_eligibility_status: u8,
        /// Minimum Allowable Price, Price(4).
        minimum_allowable_price: u32,
        /// Maximum Allowable Price, Price(4).
        maximum_allowable_price: u32,
        /// Near Execution Price, Price(4).
        near_execution_price: u32,
        /// Near Execution Time (nanoseconds since midnight, 8 bytes).
        near_execution_time: u64,
        /// Lower Price Range Collar, Price(4).
        lower_price_range_collar: u32,
        /// Upper Price Range Collar, Price(4).
        upper_price_range_collar: u32,
    }
}
