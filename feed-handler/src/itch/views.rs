//! Zero-copy views of the 23 ITCH 5.0 message types.
//!
//! Every view is a `#[repr(C)]` struct of byte-aligned fields (`u8`, byte arrays and
//! zerocopy's big-endian integers), so a `&[u8]` of exactly the right length can be
//! reinterpreted as a `&View` without copying and without any alignment requirement.
//! The length is checked once, when the view is made ([`super::parse`]); the accessors
//! then read their field at a fixed offset with no further checks.
//!
//! Field and accessor names follow the specification's field names in snake_case,
//! except that "Order Reference Number" is shortened to `order_ref`. Integer fields
//! are returned as native integers; prices are fixed-point integers (`Price(4)`:
//! `u32` with 4 implied decimals, `Price(8)`: `u64` with 8); `Alpha` fields are returned
//! raw (`u8` or `[u8; N]`, left-justified and space-padded as on the wire).

use core::fmt;

use hotpath_book::Side;
use zerocopy::byteorder::{BigEndian, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The longest ITCH 5.0 message (Net Order Imbalance Indicator, `I`), in bytes.
pub const MAX_MESSAGE_LEN: usize = 50;

/// The length of the header every ITCH 5.0 message starts with, in bytes.
pub const HEADER_LEN: usize = 11;

/// Reads a wire field as its native type. Private: the views' accessors are the API.
trait Native<T> {
    fn native(&self) -> T;
}

impl Native<u8> for u8 {
    #[inline(always)]
    fn native(&self) -> u8 {
        *self
    }
}

impl Native<u16> for U16<BigEndian> {
    #[inline(always)]
    fn native(&self) -> u16 {
        self.get()
    }
}

impl Native<u32> for U32<BigEndian> {
    #[inline(always)]
    fn native(&self) -> u32 {
        self.get()
    }
}

impl Native<u64> for U64<BigEndian> {
    #[inline(always)]
    fn native(&self) -> u64 {
        self.get()
    }
}

impl<const N: usize> Native<[u8; N]> for [u8; N] {
    #[inline(always)]
    fn native(&self) -> [u8; N] {
        *self
    }
}

/// How a field's native value is shown by the views' `Debug` impls.
trait DebugField {
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// Every 1-byte ITCH field is `Alpha`: show it as a character.
impl DebugField for u8 {
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b'{}'", self.escape_ascii())
    }
}

impl DebugField for u16 {
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl DebugField for u32 {
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl DebugField for u64 {
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl<const N: usize> DebugField for [u8; N] {
    fn debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.escape_ascii())
    }
}

struct Shown<T>(T);

impl<T: DebugField> fmt::Debug for Shown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug(f)
    }
}

/// Decodes the 6-byte big-endian timestamp (nanoseconds since midnight).
#[inline(always)]
const fn u48(b: &[u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
}

/// The 11 bytes every ITCH 5.0 message starts with: type, stock locate, tracking
/// number and timestamp.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, IntoBytes, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Header {
    msg_type: u8,
    stock_locate: U16<BigEndian>,
    tracking_number: U16<BigEndian>,
    timestamp: [u8; 6],
}

const _: () = assert!(size_of::<Header>() == HEADER_LEN);

impl Header {
    /// The message type byte (`b'A'`, `b'E'`, ...).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.msg_type
    }

    /// Stock Locate: the day's index of the security (0 for market-wide messages).
    #[inline]
    pub fn stock_locate(&self) -> u16 {
        self.stock_locate.get()
    }

    /// Tracking Number: Nasdaq internal tracking number.
    #[inline]
    pub fn tracking_number(&self) -> u16 {
        self.tracking_number.get()
    }

    /// Timestamp: nanoseconds since midnight (6 bytes on the wire).
    #[inline]
    pub fn timestamp(&self) -> u64 {
        u48(&self.timestamp)
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("msg_type", &Shown(self.msg_type()))
            .field("stock_locate", &self.stock_locate())
            .field("tracking_number", &self.tracking_number())
            .field("timestamp", &self.timestamp())
            .finish()
    }
}

/// What every view has in common, for generic code.
pub trait View: FromBytes + KnownLayout + Immutable + Unaligned + IntoBytes {
    /// The message type byte.
    const TYPE: u8;
    /// The exact length of the message, type byte included.
    const LEN: usize;
    /// The specification's name for the message.
    const NAME: &'static str;
    /// The common header.
    fn header(&self) -> &Header;
}

macro_rules! views {
    ($(
        $(#[$doc:meta])*
        $name:ident = $ty:literal, $len:literal, $title:literal {
            $( $(#[$fdoc:meta])* $field:ident : $raw:ty => $native:ty, )*
        }
    )*) => {$(
        $(#[$doc])*
        #[doc = concat!("\n\nType `", stringify!($ty), "`, ", stringify!($len),
                        " bytes including the type byte.")]
        #[derive(FromBytes, KnownLayout, Immutable, Unaligned, IntoBytes, PartialEq, Eq, Hash)]
        #[repr(C)]
        pub struct $name {
            header: Header,
            $( $field: $raw, )*
        }

        const _: () = assert!(
            size_of::<$name>() == $len,
            concat!(stringify!($name), " does not have the specification's length")
        );

        impl $name {
            /// The message type byte.
            pub const TYPE: u8 = $ty;
            /// The exact length of the message, type byte included.
            pub const LEN: usize = $len;
            /// The specification's name for the message.
            pub const NAME: &'static str = $title;

            /// The common header (type, stock locate, tracking number, timestamp).
            #[inline]
            pub fn header(&self) -> &Header {
                &self.header
            }

            /// The message type byte (always [`Self::TYPE`] for a view made by `parse`).
            #[inline]
            pub fn msg_type(&self) -> u8 {
                self.header.msg_type()
            }

            /// Stock Locate.
            #[inline]
            pub fn stock_locate(&self) -> u16 {
                self.header.stock_locate()
            }

            /// Tracking Number.
            #[inline]
            pub fn tracking_number(&self) -> u16 {
                self.header.tracking_number()
            }

            /// Timestamp: nanoseconds since midnight.
            #[inline]
            pub fn timestamp(&self) -> u64 {
                self.header.timestamp()
            }

            $(
                $(#[$fdoc])*
                #[inline]
                pub fn $field(&self) -> $native {
                    Native::<$native>::native(&self.$field)
                }
            )*
        }

        impl View for $name {
            const TYPE: u8 = $ty;
            const LEN: usize = $len;
            const NAME: &'static str = $title;
            #[inline]
            fn header(&self) -> &Header {
                &self.header
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("stock_locate", &self.stock_locate())
                    .field("tracking_number", &self.tracking_number())
                    .field("timestamp", &self.timestamp())
                    $( .field(stringify!($field), &Shown(self.$field())) )*
                    .finish()
            }
        }
    )*};
}

views! {
    // ---- 1.1 System Event ------------------------------------------------------------

    /// System Event Message: start/end of messages, system hours and market hours.
    SystemEvent = b'S', 12, "System Event" {
        /// Event Code: `O` start of messages, `S` start of system hours, `Q` start of
        /// market hours, `M` end of market hours, `E` end of system hours, `C` end of
        /// messages.
        event_code: u8 => u8,
    }

    // ---- 1.2 Stock related messages ------------------------------------------------------

    /// Stock Directory Message: one per security at the start of the day.
    StockDirectory = b'R', 39, "Stock Directory" {
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Market Category (`Q` `G` `S` `N` `A` `P` `Z` `V` or space).
        market_category: u8 => u8,
        /// Financial Status Indicator.
        financial_status_indicator: u8 => u8,
        /// Round Lot Size: shares per round lot.
        round_lot_size: U32<BigEndian> => u32,
        /// Round Lots Only: `Y` or `N`.
        round_lots_only: u8 => u8,
        /// Issue Classification.
        issue_classification: u8 => u8,
        /// Issue Sub-Type (2 characters).
        issue_sub_type: [u8; 2] => [u8; 2],
        /// Authenticity: `P` live/production, `T` test.
        authenticity: u8 => u8,
        /// Short Sale Threshold Indicator: `Y`, `N` or space.
        short_sale_threshold_indicator: u8 => u8,
        /// IPO Flag: `Y`, `N` or space.
        ipo_flag: u8 => u8,
        /// LULD Reference Price Tier: `1`, `2` or space.
        luld_reference_price_tier: u8 => u8,
        /// ETP Flag: `Y`, `N` or space.
        etp_flag: u8 => u8,
        /// ETP Leverage Factor (integer).
        etp_leverage_factor: U32<BigEndian> => u32,
        /// Inverse Indicator: `Y` or `N`.
        inverse_indicator: u8 => u8,
    }

    /// Stock Trading Action Message: halted, paused, quotation only or trading.
    StockTradingAction = b'H', 25, "Stock Trading Action" {
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Trading State: `H` halted, `P` paused, `Q` quotation only, `T` trading.
        trading_state: u8 => u8,
        /// Reserved.
        reserved: u8 => u8,
        /// Reason: trading action reason code (4 characters).
        reason: [u8; 4] => [u8; 4],
    }

    /// Reg SHO Short Sale Price Test Restricted Indicator.
    RegShoRestriction = b'Y', 20, "Reg SHO Short Sale Price Test Restricted Indicator" {
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Reg SHO Action: `0` no test, `1` restriction in effect (intraday drop),
        /// `2` restriction remains in effect.
        reg_sho_action: u8 => u8,
    }

    /// Market Participant Position Message.
    MarketParticipantPosition = b'L', 26, "Market Participant Position" {
        /// MPID: the market participant identifier (4 characters).
        mpid: [u8; 4] => [u8; 4],
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Primary Market Maker: `Y` or `N`.
        primary_market_maker: u8 => u8,
        /// Market Maker Mode: `N` normal, `P` passive, `S` syndicate, `R`
        /// pre-syndicate, `L` penalty.
        market_maker_mode: u8 => u8,
        /// Market Participant State: `A` active, `E` excused, `W` withdrawn,
        /// `S` suspended, `D` deleted.
        market_participant_state: u8 => u8,
    }

    /// MWCB Decline Level Message: the day's market-wide circuit breaker levels.
    MwcbDeclineLevel = b'V', 35, "MWCB Decline Level" {
        /// Level 1: Price(8), 8 implied decimals.
        level_1: U64<BigEndian> => u64,
        /// Level 2: Price(8), 8 implied decimals.
        level_2: U64<BigEndian> => u64,
        /// Level 3: Price(8), 8 implied decimals.
        level_3: U64<BigEndian> => u64,
    }

    /// MWCB Status Message: a market-wide circuit breaker level was breached.
    MwcbStatus = b'W', 12, "MWCB Status" {
        /// Breached Level: `1`, `2` or `3`.
        breached_level: u8 => u8,
    }

    /// IPO Quoting Period Update Message.
    IpoQuotingPeriodUpdate = b'K', 28, "IPO Quoting Period Update" {
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// IPO Quotation Release Time: seconds since midnight.
        ipo_quotation_release_time: U32<BigEndian> => u32,
        /// IPO Quotation Release Qualifier: `A` anticipated, `C` cancelled/postponed.
        ipo_quotation_release_qualifier: u8 => u8,
        /// IPO Price: Price(4).
        ipo_price: U32<BigEndian> => u32,
    }

    /// LULD Auction Collar Message.
    LuldAuctionCollar = b'J', 35, "LULD Auction Collar" {
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Auction Collar Reference Price: Price(4).
        auction_collar_reference_price: U32<BigEndian> => u32,
        /// Upper Auction Collar Price: Price(4).
        upper_auction_collar_price: U32<BigEndian> => u32,
        /// Lower Auction Collar Price: Price(4).
        lower_auction_collar_price: U32<BigEndian> => u32,
        /// Auction Collar Extension: number of extensions to the reopening auction.
        auction_collar_extension: U32<BigEndian> => u32,
    }

    /// Operational Halt Message.
    OperationalHalt = b'h', 21, "Operational Halt" {
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Market Code: `Q` Nasdaq, `B` BX, `X` PSX.
        market_code: u8 => u8,
        /// Operational Halt Action: `H` halted, `T` resumed.
        operational_halt_action: u8 => u8,
    }

    // ---- 1.3 Add order messages ------------------------------------------------------------

    /// Add Order Message (no MPID attribution).
    AddOrder = b'A', 36, "Add Order" {
        /// Order Reference Number: unique for the day.
        order_ref: U64<BigEndian> => u64,
        /// Buy/Sell Indicator, raw: `B` or `S` (see [`Self::side`]).
        buy_sell_indicator: u8 => u8,
        /// Shares.
        shares: U32<BigEndian> => u32,
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Price: Price(4).
        price: U32<BigEndian> => u32,
    }

    /// Add Order with MPID Attribution Message.
    AddOrderMpid = b'F', 40, "Add Order with MPID Attribution" {
        /// Order Reference Number: unique for the day.
        order_ref: U64<BigEndian> => u64,
        /// Buy/Sell Indicator, raw: `B` or `S` (see [`Self::side`]).
        buy_sell_indicator: u8 => u8,
        /// Shares.
        shares: U32<BigEndian> => u32,
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Price: Price(4).
        price: U32<BigEndian> => u32,
        /// Attribution: the MPID of the entering firm (4 characters).
        attribution: [u8; 4] => [u8; 4],
    }

    // ---- 1.4 Modify order messages ---------------------------------------------------------

    /// Order Executed Message: executed at the order's own price.
    OrderExecuted = b'E', 31, "Order Executed" {
        /// Order Reference Number.
        order_ref: U64<BigEndian> => u64,
        /// Executed Shares.
        executed_shares: U32<BigEndian> => u32,
        /// Match Number: the day's unique trade identifier.
        match_number: U64<BigEndian> => u64,
    }

    /// Order Executed With Price Message: executed at a price other than the order's.
    OrderExecutedWithPrice = b'C', 36, "Order Executed With Price" {
        /// Order Reference Number.
        order_ref: U64<BigEndian> => u64,
        /// Executed Shares.
        executed_shares: U32<BigEndian> => u32,
        /// Match Number: the day's unique trade identifier.
        match_number: U64<BigEndian> => u64,
        /// Printable, raw: `Y` or `N` (see [`Self::is_printable`]).
        printable: u8 => u8,
        /// Execution Price: Price(4).
        execution_price: U32<BigEndian> => u32,
    }

    /// Order Cancel Message: part of an order's shares cancelled.
    OrderCancel = b'X', 23, "Order Cancel" {
        /// Order Reference Number.
        order_ref: U64<BigEndian> => u64,
        /// Cancelled Shares.
        cancelled_shares: U32<BigEndian> => u32,
    }

    /// Order Delete Message: the whole order removed from the book.
    OrderDelete = b'D', 19, "Order Delete" {
        /// Order Reference Number.
        order_ref: U64<BigEndian> => u64,
    }

    /// Order Replace Message: cancel-replace of an order under a new reference.
    OrderReplace = b'U', 35, "Order Replace" {
        /// Original Order Reference Number.
        original_order_ref: U64<BigEndian> => u64,
        /// New Order Reference Number.
        new_order_ref: U64<BigEndian> => u64,
        /// Shares: the new displayed quantity.
        shares: U32<BigEndian> => u32,
        /// Price: Price(4), the new price.
        price: U32<BigEndian> => u32,
    }

    // ---- 1.5 Trade messages ----------------------------------------------------------------

    /// Trade Message (Non-Cross): a match of a non-displayed order.
    NonCrossTrade = b'P', 44, "Trade (Non-Cross)" {
        /// Order Reference Number (of the non-displayed order).
        order_ref: U64<BigEndian> => u64,
        /// Buy/Sell Indicator, raw: `B` or `S` (see [`Self::side`]).
        buy_sell_indicator: u8 => u8,
        /// Shares.
        shares: U32<BigEndian> => u32,
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Price: Price(4).
        price: U32<BigEndian> => u32,
        /// Match Number.
        match_number: U64<BigEndian> => u64,
    }

    /// Cross Trade Message: the bulk print of a cross.
    CrossTrade = b'Q', 40, "Cross Trade" {
        /// Shares: 8 bytes here, unlike the 4-byte share counts of order messages.
        shares: U64<BigEndian> => u64,
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Cross Price: Price(4).
        cross_price: U32<BigEndian> => u32,
        /// Match Number.
        match_number: U64<BigEndian> => u64,
        /// Cross Type: `O` opening, `C` closing, `H` IPO/halted/paused, `I` intraday,
        /// `A` extended trading close.
        cross_type: u8 => u8,
    }

    /// Broken Trade / Order Execution Message.
    BrokenTrade = b'B', 19, "Broken Trade" {
        /// Match Number of the broken trade.
        match_number: U64<BigEndian> => u64,
    }

    // ---- 1.6 NOII, RPII, DLCR --------------------------------------------------------------

    /// Net Order Imbalance Indicator (NOII) Message.
    NetOrderImbalance = b'I', 50, "Net Order Imbalance Indicator" {
        /// Paired Shares (8 bytes).
        paired_shares: U64<BigEndian> => u64,
        /// Imbalance Shares (8 bytes).
        imbalance_shares: U64<BigEndian> => u64,
        /// Imbalance Direction: `B` buy, `S` sell, `N` none, `O` insufficient orders.
        imbalance_direction: u8 => u8,
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Far Price: Price(4).
        far_price: U32<BigEndian> => u32,
        /// Near Price: Price(4).
        near_price: U32<BigEndian> => u32,
        /// Current Reference Price: Price(4).
        current_reference_price: U32<BigEndian> => u32,
        /// Cross Type: `O` opening, `C` closing, `H` IPO/halted, `A` extended close.
        cross_type: u8 => u8,
        /// Price Variation Indicator: `L`, `1`..`9`, `A`, `B`, `C` or space.
        price_variation_indicator: u8 => u8,
    }

    /// Retail Price Improvement Indicator (RPII) Message.
    RetailPriceImprovement = b'N', 20, "Retail Price Improvement Indicator" {
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Interest Flag: `B` buy side, `S` sell side, `A` both, `N` none.
        interest_flag: u8 => u8,
    }

    /// Direct Listing with Capital Raise (DLCR) Price Discovery Message.
    DlcrPriceDiscovery = b'O', 48, "Direct Listing with Capital Raise Price Discovery" {
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] => [u8; 8],
        /// Open Eligibility Status: `N` not eligible, `Y` eligible.
        open_eligibility_status: u8 => u8,
        /// Minimum Allowable Price: Price(4).
        minimum_allowable_price: U32<BigEndian> => u32,
        /// Maximum Allowable Price: Price(4).
        maximum_allowable_price: U32<BigEndian> => u32,
        /// Near Execution Price: Price(4).
        near_execution_price: U32<BigEndian> => u32,
        /// Near Execution Time: nanoseconds since midnight (8 bytes, unlike the
        /// header's 6-byte timestamp).
        near_execution_time: U64<BigEndian> => u64,
        /// Lower Price Range Collar: Price(4).
        lower_price_range_collar: U32<BigEndian> => u32,
        /// Upper Price Range Collar: Price(4).
        upper_price_range_collar: U32<BigEndian> => u32,
    }
}

impl SystemEvent {
    /// Event code: start of messages (the first message of the day).
    pub const START_OF_MESSAGES: u8 = b'O';
    /// Event code: start of system hours.
    pub const START_OF_SYSTEM_HOURS: u8 = b'S';
    /// Event code: start of market hours.
    pub const START_OF_MARKET_HOURS: u8 = b'Q';
    /// Event code: end of market hours.
    pub const END_OF_MARKET_HOURS: u8 = b'M';
    /// Event code: end of system hours.
    pub const END_OF_SYSTEM_HOURS: u8 = b'E';
    /// Event code: end of messages (the last message of the day).
    pub const END_OF_MESSAGES: u8 = b'C';
}

impl AddOrder {
    /// The order's side, or `None` if the Buy/Sell Indicator is neither `B` nor `S`.
    #[inline]
    pub fn side(&self) -> Option<Side> {
        Side::from_itch(self.buy_sell_indicator)
    }
}

impl AddOrderMpid {
    /// The order's side, or `None` if the Buy/Sell Indicator is neither `B` nor `S`.
    #[inline]
    pub fn side(&self) -> Option<Side> {
        Side::from_itch(self.buy_sell_indicator)
    }
}

impl NonCrossTrade {
    /// The side of the non-displayed order, or `None` if the Buy/Sell Indicator is
    /// neither `B` nor `S`.
    #[inline]
    pub fn side(&self) -> Option<Side> {
        Side::from_itch(self.buy_sell_indicator)
    }
}

impl OrderExecutedWithPrice {
    /// Whether the execution should be shown in time-and-sales and volume (`Y`).
    #[inline]
    pub fn is_printable(&self) -> bool {
        self.printable == b'Y'
    }
}
