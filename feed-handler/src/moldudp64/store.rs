//! A pre-allocated, bounded store of messages indexed by sequence number: a ring of
//! fixed-size slots, slot = `sequence & (capacity - 1)`, each tagged with the sequence
//! it holds so a lookup never returns the wrong message. Used by the session (messages
//! received ahead of a gap) and by the request server (recent history). All memory is
//! allocated in [`SlotStore::new`]; nothing allocates afterwards.

/// Tag of an empty slot. No message can have this sequence number: a data packet's
/// `sequence + count` must fit in a `u64`, so the last message is at most `u64::MAX - 1`.
pub(crate) const EMPTY: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    sequence: u64,
    len: u32,
}

#[derive(Debug)]
pub(crate) struct SlotStore {
    data: Box<[u8]>,
    slots: Box<[Slot]>,
    slot_len: usize,
    mask: usize,
}

impl SlotStore {
    /// `capacity` must be a power of two and `capacity * slot_len` must have been
    /// validated by the caller's config.
    pub(crate) fn new(capacity: usize, slot_len: usize) -> Self {
        assert!(
            capacity.is_power_of_two(),
            "capacity must be a power of two"
        );
        SlotStore {
            data: vec![0u8; capacity * slot_len].into_boxed_slice(),
            slots: vec![
                Slot {
                    sequence: EMPTY,
                    len: 0
                };
                capacity
            ]
            .into_boxed_slice(),
            slot_len,
            mask: capacity - 1,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.mask + 1
    }

    #[inline]
    fn index(&self, sequence: u64) -> usize {
        // Truncating to usize keeps the low bits, which is all the mask looks at.
        (sequence as usize) & self.mask
    }

    #[inline]
    pub(crate) fn contains(&self, sequence: u64) -> bool {
        sequence != EMPTY && self.slots[self.index(sequence)].sequence == sequence
    }

    #[inline]
    pub(crate) fn get(&self, sequence: u64) -> Option<&[u8]> {
        if sequence == EMPTY {
            return None;
        }
        let i = self.index(sequence);
        let slot = self.slots[i];
        if slot.sequence != sequence {
            return None;
        }
        let start = i * self.slot_len;
        Some(&self.data[start..start + slot.len as usize])
    }

    /// Stores a copy of `message` under `sequence`, replacing whatever the slot held.
    /// Returns the sequence previously held by the slot (`EMPTY` if none), or `Err(())`
    /// if the message is longer than a slot or `sequence` is `EMPTY`.
    #[inline]
    #[allow(clippy::result_unit_err)]
    pub(crate) fn insert(&mut self, sequence: u64, message: &[u8]) -> Result<u64, ()> {
        if message.len() > self.slot_len || sequence == EMPTY {
            return Err(());
        }
        let i = self.index(sequence);
        let start = i * self.slot_len;
        self.data[start..start + message.len()].copy_from_slice(message);
        let previous = self.slots[i].sequence;
        self.slots[i] = Slot {
            sequence,
            len: message.len() as u32,
        };
        Ok(previous)
    }

    /// Empties the slot of `sequence` if it holds it; returns whether it did.
    #[inline]
    pub(crate) fn remove(&mut self, sequence: u64) -> bool {
        let i = self.index(sequence);
        if sequence != EMPTY && self.slots[i].sequence == sequence {
            self.slots[i].sequence = EMPTY;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_tagged_by_sequence() {
        let mut s = SlotStore::new(4, 8);
        assert_eq!(s.capacity(), 4);
        assert_eq!(s.insert(5, b"five"), Ok(EMPTY));
        assert!(s.contains(5));
        assert!(!s.contains(1)); // same slot, other sequence
        assert!(!s.contains(9));
        assert_eq!(s.get(5), Some(&b"five"[..]));
        assert_eq!(s.get(9), None);
        assert_eq!(s.insert(9, b"nine!"), Ok(5));
        assert_eq!(s.get(5), None);
        assert_eq!(s.get(9), Some(&b"nine!"[..]));
        assert_eq!(s.insert(6, b"123456789"), Err(()));
        assert_eq!(s.insert(EMPTY, b""), Err(()));
        assert_eq!(s.get(EMPTY), None);
        assert!(s.remove(9));
        assert!(!s.remove(9));
        assert_eq!(s.get(9), None);
        s.insert(0, b"").unwrap();
        assert_eq!(s.get(0), Some(&b""[..]));
    }
}
