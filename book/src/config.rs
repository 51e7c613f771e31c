//! Start-up sizing of [`Books`](crate::Books).

/// How much [`Books::new`](crate::Books::new) pre-allocates. Nothing grows afterwards:
/// when a capacity runs out the event is counted in [`BookStats`](crate::BookStats)
/// and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookConfig {
    /// Live orders the table is sized for: it gets twice as many slots, rounded up to
    /// a power of two (32 bytes each), so that it stays under half full and probe runs
    /// stay short. More can be live; probing just gets longer, up to `max_probe`.
    /// Default 4,194,304 (2^22: 2.2 times the ~1.9 M live orders of a full Nasdaq
    /// day's peak), so 8 Mi slots, 256 MiB.
    pub order_capacity: usize,
    /// Stock locates accepted: `0..max_locates`. Default 65,536, every possible `u16`,
    /// so no event is ever dropped for its locate; a locate costs a 256-byte record
    /// (16 MiB for all of them).
    pub max_locates: usize,
    /// Price level slots (24 bytes each) in the pool shared by every book side for
    /// the levels beyond each side's best four (those live in the locate's record). A
    /// side holds them in one block of 8, 16, 32, ... slots that doubles when full,
    /// so budget about twice the live level count. Default 2,097,152 (48 MiB).
    pub max_levels: usize,
    /// Longest probe run in the order table: an order that finds no free slot within
    /// this many slots of its home is dropped (`orders_dropped_table_full`).
    /// Default 1,024.
    pub max_probe: usize,
}

impl Default for BookConfig {
    fn default() -> Self {
        BookConfig {
            order_capacity: 1 << 22,
            max_locates: 1 << 16,
            max_levels: 1 << 21,
            max_probe: 1024,
        }
    }
}

/// A [`BookConfig`] that [`Books::try_new`](crate::Books::try_new) refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `order_capacity` out of range.
    #[error("order_capacity {0} must be 64 to 2^30")]
    OrderCapacity(usize),
    /// `max_locates` out of range.
    #[error("max_locates {0} must be 1 to 65536")]
    MaxLocates(usize),
    /// `max_levels` out of range.
    #[error("max_levels {0} must be 8 to 2^30")]
    MaxLevels(usize),
    /// `max_probe` out of range.
    #[error("max_probe {0} must be 32 to 65536")]
    MaxProbe(usize),
}

impl BookConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(64..=1 << 30).contains(&self.order_capacity) {
            return Err(ConfigError::OrderCapacity(self.order_capacity));
        }
        if !(1..=1 << 16).contains(&self.max_locates) {
            return Err(ConfigError::MaxLocates(self.max_locates));
        }
        if !(8..=1 << 30).contains(&self.max_levels) {
            return Err(ConfigError::MaxLevels(self.max_levels));
        }
        if !(32..=1 << 16).contains(&self.max_probe) {
            return Err(ConfigError::MaxProbe(self.max_probe));
        }
        Ok(())
    }

    /// Bytes [`Books::new`](crate::Books::new) allocates (and touches) for this config.
    pub fn memory_bytes(&self) -> usize {
        let homes = crate::table::homes(self.order_capacity);
        (homes + self.max_probe + crate::table::SPARE) * crate::table::SLOT_BYTES
            + self.max_levels * crate::levels::LEVEL_BYTES
            + self.max_locates * crate::books::REC_BYTES
    }
}
