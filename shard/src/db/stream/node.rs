//! One node of a stream: a run of entries that share a master entry, and the byte size
//! Redis's listpack for them would have, which decides when the node is full.

use super::StreamId;
use crate::db::Sds;

#[derive(Debug, Clone)]
struct Slot {
    id: StreamId,
    /// Field, value, field, value …
    fields: Vec<Sds>,
    deleted: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    master_fields: Vec<Sds>,
    slots: Vec<Slot>,
    master_id: StreamId,
    live: u64,
    deleted: u64,
    /// Listpack bytes other than the header, terminator and the two counters.
    body: usize,
}

/// Bytes of a listpack integer element (encoding plus back-length).
fn int_size(v: i64) -> usize {
    match v {
        0..=127 => 2,
        -4096..=4095 => 3,
        -32768..=32767 => 4,
        -8_388_608..=8_388_607 => 5,
        -2_147_483_648..=2_147_483_647 => 6,
        _ => 10,
    }
}

/// Bytes of a listpack string element; strings that read as integers are stored as
/// integers, as `lpAppend` does.
fn str_size(s: &[u8]) -> usize {
    if s.len() <= 20 {
        if let Some(v) = shoal_proto::number::parse_i64(s) {
            return int_size(v);
        }
    }
    let enc = match s.len() {
        0..=63 => 1 + s.len(),
        64..=4095 => 2 + s.len(),
        _ => 5 + s.len(),
    };
    let backlen = match enc {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    enc + backlen
}

impl Node {
    /// A node whose master entry takes the fields of its first entry.
    pub(super) fn new(master_id: StreamId, fields: &[Sds]) -> Node {
        Node::with_master(master_id, fields.iter().step_by(2).cloned().collect())
    }

    /// An empty node with the given master field names.
    pub(super) fn with_master(master_id: StreamId, master_fields: Vec<Sds>) -> Node {
        let body = int_size(master_fields.len() as i64)
            + master_fields.iter().map(|f| str_size(f)).sum::<usize>()
            + int_size(0);
        Node {
            master_fields,
            slots: Vec::new(),
            master_id,
            live: 0,
            deleted: 0,
            body,
        }
    }

    /// The listpack's total size.
    pub(super) fn bytes(&self) -> usize {
        // 6 header bytes and 1 terminator.
        7 + int_size(self.live as i64) + int_size(self.deleted as i64) + self.body
    }

    /// Entries stored, deleted ones included.
    pub(super) fn slots(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn live_count(&self) -> u64 {
        self.live
    }

    pub(super) fn deleted_count(&self) -> u64 {
        self.deleted
    }

    pub(super) fn master_fields(&self) -> &[Sds] {
        &self.master_fields
    }

    /// Every stored entry, tombstones included.
    pub(super) fn raw_entries(&self) -> impl Iterator<Item = super::raw::RawEntry<'_>> + '_ {
        self.slots.iter().map(|s| super::raw::RawEntry {
            id: s.id,
            fields: &s.fields,
            deleted: s.deleted,
        })
    }

    /// The last stored ID, deleted or not.
    pub(super) fn last_slot_id(&self) -> StreamId {
        self.slots.last().map_or(self.master_id, |s| s.id)
    }

    pub(super) fn push(&mut self, id: StreamId, fields: Vec<Sds>) {
        let n = fields.len() / 2;
        let same = n == self.master_fields.len()
            && fields
                .iter()
                .step_by(2)
                .zip(&self.master_fields)
                .all(|(a, b)| a == b);
        let ms = id.ms.wrapping_sub(self.master_id.ms) as i64;
        let seq = id.seq.wrapping_sub(self.master_id.seq) as i64;
        let mut size = int_size(if same { 2 } else { 0 }) + int_size(ms) + int_size(seq);
        let mut count = 3 + n as i64;
        if same {
            size += fields
                .iter()
                .skip(1)
                .step_by(2)
                .map(|v| str_size(v))
                .sum::<usize>();
        } else {
            size += int_size(n as i64) + fields.iter().map(|v| str_size(v)).sum::<usize>();
            count += n as i64 + 1;
        }
        size += int_size(count);
        self.body += size;
        self.live += 1;
        self.slots.push(Slot {
            id,
            fields,
            deleted: false,
        });
    }

    fn find(&self, id: StreamId) -> Option<usize> {
        self.slots
            .binary_search_by(|s| s.id.cmp(&id))
            .ok()
            .filter(|&i| self.slots.get(i).is_some_and(|s| !s.deleted))
    }

    pub(super) fn get(&self, id: StreamId) -> Option<&[Sds]> {
        self.find(id)
            .and_then(|i| self.slots.get(i))
            .map(|s| &s.fields[..])
    }

    /// Marks a live entry deleted.
    pub(super) fn delete(&mut self, id: StreamId) -> bool {
        let Some(slot) = self.find(id).and_then(|i| self.slots.get_mut(i)) else {
            return false;
        };
        slot.deleted = true;
        self.live -= 1;
        self.deleted += 1;
        true
    }

    /// Marks entries deleted from the head until `stop(id, length)` holds, keeping the
    /// stream's `length` current. Returns how many it deleted.
    pub(super) fn delete_head(
        &mut self,
        length: &mut u64,
        stop: impl Fn(StreamId, u64) -> bool,
    ) -> u64 {
        let mut n = 0;
        for slot in &mut self.slots {
            if stop(slot.id, *length) {
                break;
            }
            if !slot.deleted {
                slot.deleted = true;
                *length -= 1;
                n += 1;
            }
        }
        self.live -= n;
        self.deleted += n;
        n
    }

    /// The live entries in order.
    pub(super) fn live(&self) -> impl DoubleEndedIterator<Item = (StreamId, &[Sds])> + '_ {
        self.slots
            .iter()
            .filter(|s| !s.deleted)
            .map(|s| (s.id, &s.fields[..]))
    }

    pub(super) fn heap_size(&self) -> usize {
        self.slots
            .iter()
            .map(|s| {
                std::mem::size_of::<Slot>()
                    + s.fields.len() * std::mem::size_of::<Sds>()
                    + s.fields.iter().map(|f| f.heap_size()).sum::<usize>()
            })
            .sum::<usize>()
            + self.master_fields.len() * std::mem::size_of::<Sds>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_sizes() {
        assert_eq!(int_size(0), 2);
        assert_eq!(int_size(127), 2);
        assert_eq!(int_size(128), 3);
        assert_eq!(int_size(-1), 3);
        assert_eq!(int_size(40000), 5);
        assert_eq!(str_size(b"abc"), 5);
        assert_eq!(str_size(b"12"), 2);
        assert_eq!(str_size(&[b'x'; 100]), 103);
    }

    #[test]
    fn same_fields_are_compressed() {
        let f = |a: &str, b: &str| vec![Sds::new(a.as_bytes()), Sds::new(b.as_bytes())];
        let mut n = Node::new(StreamId::new(1, 0), &f("item", "v"));
        n.push(StreamId::new(1, 0), f("item", "v"));
        let one = n.bytes();
        n.push(StreamId::new(1, 1), f("item", "w"));
        let same = n.bytes() - one;
        n.push(StreamId::new(1, 2), f("other", "w"));
        let different = n.bytes() - one - same;
        assert!(different > same, "{different} vs {same}");
        assert!(n.delete(StreamId::new(1, 1)));
        assert!(!n.delete(StreamId::new(1, 1)));
        assert_eq!(n.live_count(), 2);
        assert_eq!(n.slots(), 3);
    }
}
