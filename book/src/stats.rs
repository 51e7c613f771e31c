//! Counters: events seen, anomalies, capacity and table health.

/// Plain counters, updated as events arrive. Anomalies are counted, never fatal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookStats {
    // --- events, one per call, whatever the outcome ---
    /// A and F.
    pub adds: u64,
    /// E.
    pub executions: u64,
    /// C.
    pub executions_with_price: u64,
    /// X.
    pub cancels: u64,
    /// D.
    pub deletes: u64,
    /// U.
    pub replaces: u64,
    /// P.
    pub trades: u64,
    /// R.
    pub directories: u64,
    /// H.
    pub trading_actions: u64,
    /// S.
    pub system_events: u64,

    // --- anomalies ---
    /// E, C, X, D or U naming a reference that is not live (never seen, as after a
    /// mid-day start; already gone; or dropped for capacity). No book change.
    pub unknown_refs: u64,
    /// A, F or U whose new reference is already live. The add is ignored (a U still
    /// removes its old order).
    pub duplicate_refs: u64,
    /// E or C for more shares than the order had left: clamped, the order is gone.
    pub executions_clamped: u64,
    /// X for more shares than the order had left: clamped, the order is gone.
    pub cancels_clamped: u64,
    /// A, F or U with 0 shares (not added; a U still removes its old order), or E,
    /// C or X for 0 shares (no change).
    pub zero_shares: u64,
    /// E, C, X, D or U whose locate differs from the order's: applied to the order's
    /// own book (the reference identifies the order).
    pub locate_mismatches: u64,
    /// Events for a locate at or above `max_locates`: ignored.
    pub locate_out_of_range: u64,
    /// Transitions of a locate's book into the crossed state (best bid >= best ask
    /// after an event, when it was not before). Events while it stays crossed are
    /// not counted again; see [`Books::crossed`](crate::Books::crossed).
    pub crossed: u64,

    // --- capacity ---
    /// Orders (A, F, U's new order) dropped: no free slot within `max_probe` of home.
    pub orders_dropped_table_full: u64,
    /// Orders dropped because their price level could not be made: the level pool is
    /// exhausted.
    pub levels_exhausted: u64,

    // --- gauges (current values, not counts) ---
    /// Live orders.
    pub live_orders: u64,
    /// Live price levels (both sides of every book).
    pub live_levels: u64,
    /// Level slots held in blocks by book sides (live levels plus their headroom).
    pub level_slots_in_use: u64,
    /// Orders placed further than 30 slots from home (each costs a short scan to find).
    pub far_placements: u64,
    /// The longest probe any placement has needed since start (or reset).
    pub max_probe_seen: u64,
}

impl BookStats {
    /// The counters that depend only on the event stream (events and anomalies, plus
    /// the live order and level gauges), not on the table's layout: what an
    /// independent reference book can reproduce.
    pub fn semantic(&self) -> BookStats {
        BookStats {
            level_slots_in_use: 0,
            far_placements: 0,
            max_probe_seen: 0,
            ..*self
        }
    }
}
