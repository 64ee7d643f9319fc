//! Consumer groups: what each group has delivered, to whom, and what is unacknowledged.

use std::collections::{BTreeMap, BTreeSet};

use super::StreamId;
use crate::db::Sds;

/// A delivered, unacknowledged entry (an entry of the pending entries list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    pub consumer: Sds,
    /// Unix milliseconds of the last delivery.
    pub delivery_time: i64,
    pub delivery_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumer {
    pub seen_time: i64,
    /// The IDs of the group's pending entries owned by this consumer.
    pub pel: BTreeSet<StreamId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// The logical read counter of `last_id`; None when it cannot be known.
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Sds, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer `name`, created (seen now) if missing; true when created.
    pub fn consumer_or_create(&mut self, name: &[u8], now: i64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c = self
            .consumers
            .entry(Sds::new(name))
            .or_insert_with(|| Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            });
        (c, created)
    }

    /// Records a delivery of `id` to `consumer` now: a new pending entry, or one moved
    /// from its previous owner with its count reset, as XREADGROUP does.
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now: i64) {
        if let Some(old) = self.pel.get(&id) {
            if let Some(c) = self.consumers.get_mut(&old.consumer) {
                c.pel.remove(&id);
            }
        }
        self.pel.insert(
            id,
            Nack {
                consumer: Sds::new(consumer),
                delivery_time: now,
                delivery_count: 1,
            },
        );
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }

    /// Moves the pending entry `id` to `consumer` (which must exist), creating the
    /// entry when `create` is set; returns the entry, or None when not pending.
    pub fn claim(
        &mut self,
        id: StreamId,
        consumer: &[u8],
        now: i64,
        create: bool,
    ) -> Option<&mut Nack> {
        if create {
            self.pel.entry(id).or_insert_with(|| Nack {
                consumer: Sds::new(consumer),
                delivery_time: now,
                delivery_count: 1,
            });
        }
        let nack = self.pel.get_mut(&id)?;
        if &nack.consumer[..] != consumer {
            if let Some(c) = self.consumers.get_mut(&nack.consumer) {
                c.pel.remove(&id);
            }
            nack.consumer = Sds::new(consumer);
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        Some(nack)
    }

    /// Acknowledges `id`; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Removes a consumer and its pending entries; returns how many it had.
    pub fn remove_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    pub fn heap_size(&self) -> usize {
        self.pel.len() * (std::mem::size_of::<(StreamId, Nack)>() + 16)
            + self
                .consumers
                .values()
                .map(|c| 64 + c.pel.len() * 24)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redelivery_moves_ownership() {
        let mut g = Group::new(StreamId::ZERO, Some(0));
        g.consumer_or_create(b"a", 1);
        g.consumer_or_create(b"b", 1);
        let id = StreamId::new(5, 0);
        g.deliver(id, b"a", 10);
        g.deliver(id, b"b", 20);
        assert!(g.consumers[&Sds::new(b"a")].pel.is_empty());
        assert!(g.consumers[&Sds::new(b"b")].pel.contains(&id));
        assert_eq!(g.pel[&id].delivery_time, 20);
        assert_eq!(g.remove_consumer(b"b"), Some(1));
        assert!(g.pel.is_empty());
        assert!(!g.ack(id));
    }
}
