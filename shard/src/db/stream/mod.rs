//! The stream type: entries in ID order, grouped into nodes, plus consumer groups.
//!
//! # Layout
//! - [`id`]: entry IDs and their parsing.
//! - [`group`]: consumer groups, consumers and pending entries.
//! - [`node`]: a node's entries and the listpack size Redis would give it.
//! - [`rewrite`]: the commands that rebuild a stream (AOF rewrite).
//! - [`raw`]: the nodes as stored, for DUMP and RESTORE.
//!
//! Entries live in nodes keyed by their first ("master") ID, as Redis keeps them in
//! listpacks under a radix tree. The grouping is visible to clients: approximate
//! trimming (`MAXLEN ~`) removes whole nodes only, deleted entries stay as tombstones
//! until their node empties, and XINFO counts the nodes. So a node fills up exactly
//! when Redis's listpack would (`stream-node-max-entries` / `-bytes`).

pub mod group;
pub mod id;
mod node;
pub mod raw;
pub mod rewrite;

use std::collections::BTreeMap;

pub use group::{Consumer, Group, Nack};
pub use id::StreamId;
use node::Node;

use super::Sds;

/// Redis's ceiling on one listpack, and so on one entry.
const LISTPACK_MAX_SIZE: u64 = 1 << 30;

/// The node-size settings that decide when XADD starts a new node.
#[derive(Debug, Clone, Copy)]
pub struct NodeLimits {
    pub max_bytes: u64,
    pub max_entries: i64,
}

/// Why XADD refused an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// The ID is not above the stream's last ID (or the sequence would overflow).
    NotGreater,
    /// The fields and values exceed what one node can hold.
    TooLarge,
}

/// How to trim: the strategy, whether whole nodes only, and the work limit (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Debug, Clone, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    pub last_id: StreamId,
    /// The first live entry's ID as last recorded (XINFO's recorded-first-entry-id).
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    /// Consumer groups by name, in name order as XINFO lists them.
    pub groups: BTreeMap<Sds, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Nodes (radix-tree keys in XINFO).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Appends an entry; `fields` alternate field and value. `id` is the caller's ID
    /// (None: generate from `now_ms`), with `seq_given` false for `<ms>-*`.
    pub fn add(
        &mut self,
        fields: Vec<Sds>,
        id: Option<(StreamId, bool)>,
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<StreamId, AddError> {
        let new_id = match id {
            None => StreamId::next_after(self.last_id, now_ms),
            Some((id, true)) => Some(id),
            // Within the last ID's millisecond the sequence may not wrap into the next.
            Some((id, false)) if id.ms == self.last_id.ms => self
                .last_id
                .seq
                .checked_add(1)
                .map(|seq| StreamId::new(id.ms, seq)),
            Some((id, false)) => Some(id),
        }
        .filter(|&id| id > self.last_id)
        .ok_or(AddError::NotGreater)?;
        let total: u64 = fields.iter().map(|f| f.len() as u64).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AddError::TooLarge);
        }
        let mut max_bytes = limits.max_bytes;
        if max_bytes == 0 || max_bytes > LISTPACK_MAX_SIZE {
            max_bytes = LISTPACK_MAX_SIZE;
        }
        let tail_full = match self.nodes.values().next_back() {
            None => true,
            Some(tail) => {
                tail.bytes() as u64 + total >= max_bytes
                    || (limits.max_entries > 0 && tail.slots() as i64 >= limits.max_entries)
            }
        };
        if tail_full {
            self.nodes.insert(new_id, Node::new(new_id, &fields));
        }
        if let Some(tail) = self.nodes.values_mut().next_back() {
            tail.push(new_id, fields);
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = new_id;
        if self.length == 1 {
            self.first_id = new_id;
        }
        Ok(new_id)
    }

    /// The fields of the live entry `id`.
    pub fn get(&self, id: StreamId) -> Option<&[Sds]> {
        let (_, node) = self.nodes.range(..=id).next_back()?;
        node.get(id)
    }

    /// Live entries with IDs in `start..=end`, ascending or (`rev`) descending.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (StreamId, &[Sds])> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        if rev {
            Box::new(
                self.nodes
                    .range(..=end)
                    .rev()
                    .flat_map(|(_, n)| n.live().rev())
                    .skip_while(move |(id, _)| *id > end)
                    .take_while(move |(id, _)| *id >= start),
            )
        } else {
            let from = self
                .nodes
                .range(..=start)
                .next_back()
                .map_or(start, |(k, _)| *k);
            Box::new(
                self.nodes
                    .range(from..)
                    .flat_map(|(_, n)| n.live())
                    .skip_while(move |(id, _)| *id < start)
                    .take_while(move |(id, _)| *id <= end),
            )
        }
    }

    /// The first (or last) live entry's ID.
    pub fn edge_id(&self, first: bool) -> Option<StreamId> {
        let mut it = self.range(StreamId::ZERO, StreamId::MAX, !first);
        it.next().map(|(id, _)| id)
    }

    /// Deletes the live entry `id`, leaving a tombstone in its node (the node goes once
    /// it holds no live entry). Does not touch first_id or max_deleted_id.
    fn delete_one(&mut self, id: StreamId) -> bool {
        let Some((&key, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        if !node.delete(id) {
            return false;
        }
        if node.live_count() == 0 {
            self.nodes.remove(&key);
        }
        self.length -= 1;
        true
    }

    /// XDEL: deletes each live entry among `ids`; returns how many.
    pub fn delete(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_gone = false;
        for &id in ids {
            if self.delete_one(id) {
                first_gone |= id == self.first_id;
                self.max_deleted_id = self.max_deleted_id.max(id);
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::ZERO;
            } else if first_gone {
                self.first_id = self.edge_id(true).unwrap_or(StreamId::ZERO);
            }
        }
        deleted
    }

    /// Trims from the head. `approx` removes whole nodes only; `limit` (0: none) caps
    /// the entries removed. Returns how many were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        while let Some((&key, node)) = self.nodes.iter_mut().next() {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let entries = node.live_count();
            if limit > 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node.last_slot_id() < min,
            };
            if remove {
                self.nodes.remove(&key);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            deleted += node.delete_head(&mut self.length, |id, length| match how {
                Trim::MaxLen(max) => length <= max,
                Trim::MinId(min) => id >= min,
            });
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::ZERO;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true).unwrap_or(StreamId::ZERO);
        }
        deleted
    }

    /// The counters that read-counter arithmetic needs, detached from the entries so
    /// that a group can be updated while the stream is borrowed.
    pub fn meta(&self) -> Meta {
        Meta {
            length: self.length,
            last_id: self.last_id,
            first_id: self.first_id,
            max_deleted_id: self.max_deleted_id,
            entries_added: self.entries_added,
        }
    }

    /// Approximate heap bytes, for memory accounting.
    pub fn heap_size(&self) -> usize {
        let entries: usize = self.nodes.values().map(Node::heap_size).sum();
        let groups: usize = self.groups.values().map(Group::heap_size).sum();
        entries + groups
    }

    /// Every live entry in order, for serializers (AOF rewrite, DUMP).
    pub fn entries(&self) -> impl Iterator<Item = (StreamId, &[Sds])> + '_ {
        self.range(StreamId::ZERO, StreamId::MAX, false)
    }
}

/// A copy of a stream's counters (see [`Stream::meta`]).
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
}

impl Meta {
    /// True when a deleted entry may lie in `start..` (XDEL fragments the read counters).
    pub fn range_has_tombstones(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// The logical read counter of `id` (its distance from the first entry ever added),
    /// when it can be known without scanning.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => {
                    return Some(self.entries_added.saturating_sub(self.length))
                }
                std::cmp::Ordering::Equal => {
                    return Some(self.entries_added.saturating_sub(self.length) + 1)
                }
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// A group's lag: entries not yet delivered to it, when knowable.
    pub fn group_lag(&self, g: &Group) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = g.entries_read {
            if !self.range_has_tombstones(g.last_id) {
                return Some(self.entries_added.saturating_sub(read));
            }
        }
        self.estimate_distance(g.last_id)
            .map(|read| self.entries_added.saturating_sub(read))
    }

    /// Moves a group's last-delivered ID forward to `id`, keeping its read counter.
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        match g.entries_read {
            Some(n) if !self.range_has_tombstones(id) => g.entries_read = Some(n + 1),
            _ if self.entries_added > 0 => g.entries_read = self.estimate_distance(id),
            _ => {}
        }
        g.last_id = id;
    }
}

#[cfg(test)]
mod tests;
