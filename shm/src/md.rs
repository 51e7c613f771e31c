//! The market-data message the feed handler publishes on its broadcast ring.
//!
//! One 64-byte line per event: a best-bid-and-offer change, a price-level change, a
//! trade, or a status change (halt/resume, symbol). Prices are ITCH integers (4 implied
//! decimals). Timestamps: the exchange's (ns since midnight, from the message), the
//! local receive time and the time the book applied it (both CLOCK_MONOTONIC ns), so a
//! consumer can measure each stage.

crate::shm_message! {
    /// A market-data event. Field meaning by `kind`:
    ///
    /// | kind | price/shares/orders | price2/shares2/orders2 | side |
    /// |---|---|---|---|
    /// | BBO | best bid (0s if none) | best ask (0s if none) | - |
    /// | LEVEL | the level's price, total shares, order count (0 shares: level gone) | - | B/S |
    /// | TRADE | execution price and shares | match number low/high 32 bits | side of the resting order (B/S), or 0 for a cross |
    /// | STATUS | - | - | trading state byte (`H`alted, `T`rading, `P`aused, `Q`uotation) |
    pub struct MdEvent (size = 64) {
        /// Position on the ring (0-based), i.e. the feed handler's publication sequence.
        pub seq: u64,
        /// Exchange timestamp: ns since midnight (ITCH).
        pub exchange_ts_ns: u64,
        /// When the packet arrived (CLOCK_MONOTONIC ns).
        pub receive_ts_ns: u64,
        /// When the book applied the message (CLOCK_MONOTONIC ns).
        pub book_ts_ns: u64,
        pub price: u32,
        pub shares: u32,
        pub orders: u32,
        pub price2: u32,
        pub shares2: u32,
        pub orders2: u32,
        /// ITCH stock locate.
        pub stock_locate: u16,
        /// One of the `KIND_*` constants.
        pub kind: u8,
        /// `B`/`S` (or the trading state for STATUS).
        pub side: u8,
        pub reserved: [u8; 4],
    }
}

/// Best bid and offer changed.
pub const KIND_BBO: u8 = 1;
/// A price level changed.
pub const KIND_LEVEL: u8 = 2;
/// A trade (execution or non-displayed trade).
pub const KIND_TRADE: u8 = 3;
/// A trading-state change.
pub const KIND_STATUS: u8 = 4;

impl MdEvent {
    /// The match number of a TRADE event.
    pub fn match_number(&self) -> u64 {
        (self.shares2 as u64) << 32 | self.price2 as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_number_round_trips_through_the_two_halves() {
        let m = 0x1234_5678_9abc_def0u64;
        let e = MdEvent {
            kind: KIND_TRADE,
            price2: m as u32,
            shares2: (m >> 32) as u32,
            ..Default::default()
        };
        assert_eq!(e.match_number(), m);
    }
}
