//! Which shard owns each hash slot. Every shard of a database owns one even, contiguous
//! range, so routing is a division, and `CLUSTER SLOTS` is one row per shard.
//!
//! The owner is an index into the database's shard list. When several pods form one
//! database the list grows to (pod, shard) entries; the map itself stays the same.

use crate::slot::SLOT_COUNT;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    /// `starts[i]` is the first slot of shard `i`; shard `i` ends where `i + 1` starts.
    starts: Vec<u16>,
}

impl SlotMap {
    /// Splits the 16384 slots into `shards` contiguous ranges whose sizes differ by at
    /// most one. Shard `i` starts at `round(i * 16384 / shards)`, the layout
    /// `redis-cli --cluster create` gives, so operators see familiar ranges.
    /// `shards` is clamped to 1..=16384: a database always has at least one shard.
    pub fn even(shards: usize) -> SlotMap {
        let n = shards.clamp(1, SLOT_COUNT as usize);
        let total = SLOT_COUNT as usize;
        let starts = (0..n)
            .map(|i| ((2 * i * total + n) / (2 * n)) as u16)
            .collect();
        SlotMap { starts }
    }

    pub fn shards(&self) -> usize {
        self.starts.len()
    }

    /// The shard owning `slot`. Slots are below 16384 by construction of
    /// [`crate::key_hash_slot`]; a larger value maps to the last shard rather than panic.
    pub fn owner(&self, slot: u16) -> usize {
        // `partition_point` finds the first range starting after `slot`; the range before
        // it holds the slot. `starts[0]` is 0, so the result is at least 1.
        self.starts
            .partition_point(|&s| s <= slot)
            .saturating_sub(1)
    }

    /// The shard owning `key`.
    pub fn key_owner(&self, key: &[u8]) -> usize {
        self.owner(crate::key_hash_slot(key))
    }

    /// Inclusive slot range of shard `i`, or `None` past the last shard.
    pub fn range(&self, i: usize) -> Option<(u16, u16)> {
        let start = *self.starts.get(i)?;
        let end = match self.starts.get(i + 1) {
            Some(&next) => next - 1,
            None => SLOT_COUNT - 1,
        };
        Some((start, end))
    }

    /// Every shard's inclusive range, in shard order.
    pub fn ranges(&self) -> impl Iterator<Item = (usize, u16, u16)> + '_ {
        (0..self.shards()).filter_map(|i| self.range(i).map(|(a, b)| (i, a, b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_split_covers_every_slot_once() {
        for n in [1, 2, 3, 4, 7, 16, 100] {
            let map = SlotMap::even(n);
            assert_eq!(map.shards(), n);
            let mut expected_start = 0u32;
            for (i, a, b) in map.ranges() {
                assert_eq!(a as u32, expected_start, "shard {i} of {n}");
                assert!(b >= a);
                for s in [a, b] {
                    assert_eq!(map.owner(s), i);
                }
                expected_start = b as u32 + 1;
            }
            assert_eq!(expected_start, SLOT_COUNT as u32);
        }
    }

    #[test]
    fn matches_redis_cli_layout() {
        let map = SlotMap::even(3);
        assert_eq!(map.range(0), Some((0, 5460)));
        assert_eq!(map.range(1), Some((5461, 10922)));
        assert_eq!(map.range(2), Some((10923, 16383)));
        assert_eq!(map.range(3), None);
        assert_eq!(SlotMap::even(0).shards(), 1);
        assert_eq!(map.owner(u16::MAX), 2);
    }
}
