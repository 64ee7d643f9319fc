//! The list value type: a double-ended queue of compact strings.
//!
//! Redis 7.0 keeps every list in a quicklist (a linked list of listpack nodes). A
//! `VecDeque` gives the same costs where they matter, O(1) at both ends and O(n) in the
//! middle, with far less code; the node structure only changes memory layout, which the
//! byte count below approximates for accounting.

use std::collections::VecDeque;

use super::sds::Sds;

/// Which end of a list an operation works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

#[derive(Debug, Clone, Default)]
pub struct List {
    items: VecDeque<Sds>,
    /// Sum of the element lengths, kept so memory accounting needs no walk.
    bytes: usize,
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    /// The name OBJECT ENCODING reports. Redis 7.0 stores every list as a quicklist,
    /// however small.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Approximate heap bytes owned, for memory accounting.
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Sds>() + self.bytes
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(&mut self, value: &[u8], end: End) {
        self.bytes += value.len();
        let v = Sds::new(value);
        match end {
            End::Head => self.items.push_front(v),
            End::Tail => self.items.push_back(v),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Sds> {
        let v = match end {
            End::Head => self.items.pop_front(),
            End::Tail => self.items.pop_back(),
        }?;
        self.bytes = self.bytes.saturating_sub(v.len());
        Some(v)
    }

    /// Maps a Redis index (negative counts from the tail) to a position, if in range.
    pub fn position(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    pub fn get(&self, index: i64) -> Option<&Sds> {
        self.position(index).and_then(|i| self.items.get(i))
    }

    /// Replaces the element at `index`; false when out of range.
    pub fn set(&mut self, index: i64, value: &[u8]) -> bool {
        let Some(slot) = self.position(index).and_then(|i| self.items.get_mut(i)) else {
            return false;
        };
        self.bytes = self.bytes.saturating_sub(slot.len()) + value.len();
        *slot = Sds::new(value);
        true
    }

    /// The inclusive range `start..=stop` after Redis's clamping (LRANGE), as positions.
    pub fn range(&self, start: i64, stop: i64) -> std::ops::Range<usize> {
        let len = self.items.len() as i64;
        let mut start = if start < 0 { len + start } else { start };
        let mut stop = if stop < 0 { len + stop } else { stop };
        if start < 0 {
            start = 0;
        }
        if start > stop || start >= len {
            return 0..0;
        }
        if stop >= len {
            stop = len - 1;
        }
        start as usize..stop as usize + 1
    }

    pub fn iter_range(&self, r: std::ops::Range<usize>) -> impl DoubleEndedIterator<Item = &Sds> {
        self.items.range(r)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Sds> {
        self.items.iter()
    }

    /// Keeps only `start..=stop` (LTRIM's clamping).
    pub fn trim(&mut self, start: i64, stop: i64) {
        let keep = self.range(start, stop);
        if keep.is_empty() {
            self.items.clear();
            self.bytes = 0;
            return;
        }
        for v in self.items.drain(keep.end..) {
            self.bytes = self.bytes.saturating_sub(v.len());
        }
        for v in self.items.drain(..keep.start) {
            self.bytes = self.bytes.saturating_sub(v.len());
        }
    }

    /// Removes up to `count` elements equal to `value` (LREM): from the head when
    /// `count > 0`, from the tail when `count < 0`, all of them when 0. One pass, so
    /// removing many elements from a long list stays linear.
    pub fn remove(&mut self, value: &[u8], count: i64) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().min(usize::MAX as u64) as usize
        };
        // From the tail, the matches to remove are those at or after the `limit`-th
        // match counted backwards.
        let first = if count < 0 {
            let mut seen = 0;
            let mut first = self.items.len();
            for (i, e) in self.items.iter().enumerate().rev() {
                if &**e == value {
                    seen += 1;
                    first = i;
                    if seen == limit {
                        break;
                    }
                }
            }
            first
        } else {
            0
        };
        let mut removed = 0;
        let mut i = 0;
        self.items.retain(|e| {
            let pos = i;
            i += 1;
            if pos >= first && removed < limit && &**e == value {
                removed += 1;
                false
            } else {
                true
            }
        });
        self.bytes = self.bytes.saturating_sub(removed * value.len());
        removed
    }

    /// Inserts `value` before or after the first element equal to `pivot` (LINSERT).
    /// False when the pivot is absent.
    pub fn insert(&mut self, pivot: &[u8], value: &[u8], after: bool) -> bool {
        let Some(i) = self.items.iter().position(|e| &**e == pivot) else {
            return false;
        };
        self.items
            .insert(if after { i + 1 } else { i }, Sds::new(value));
        self.bytes += value.len();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> List {
        let mut l = List::new();
        for i in items {
            l.push(i.as_bytes(), End::Tail);
        }
        l
    }

    fn items(l: &List) -> Vec<String> {
        l.iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    #[test]
    fn push_pop_both_ends() {
        let mut l = list(&["b"]);
        l.push(b"a", End::Head);
        l.push(b"c", End::Tail);
        assert_eq!(items(&l), ["a", "b", "c"]);
        assert_eq!(l.pop(End::Tail).as_deref(), Some(&b"c"[..]));
        assert_eq!(l.pop(End::Head).as_deref(), Some(&b"a"[..]));
        assert_eq!(l.bytes, 1);
    }

    #[test]
    fn range_clamps_like_lrange() {
        let l = list(&["0", "1", "2", "3", "4"]);
        assert_eq!(l.range(0, -1), 0..5);
        assert_eq!(l.range(-1000, 1000), 0..5);
        assert_eq!(l.range(3, 1), 0..0);
        assert_eq!(l.range(-2, -1), 3..5);
        assert_eq!(l.range(5, 10), 0..0);
        assert_eq!(l.range(0, -10), 0..0);
    }

    #[test]
    fn trim_and_index() {
        let mut l = list(&["0", "1", "2", "3", "4"]);
        assert_eq!(l.get(-1).map(|s| s.to_vec()), Some(b"4".to_vec()));
        assert!(l.get(5).is_none());
        assert!(l.get(-6).is_none());
        l.trim(1, -2);
        assert_eq!(items(&l), ["1", "2", "3"]);
        l.trim(5, 10);
        assert!(l.is_empty());
        assert_eq!(l.bytes, 0);
    }

    #[test]
    fn remove_by_direction() {
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(l.remove(b"a", -2), 2);
        assert_eq!(items(&l), ["a", "b", "c"]);
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(l.remove(b"a", 1), 1);
        assert_eq!(items(&l), ["b", "a", "c", "a"]);
        assert_eq!(l.remove(b"a", 0), 2);
        assert_eq!(items(&l), ["b", "c"]);
        let mut l = list(&["a", "b", "a"]);
        assert_eq!(l.remove(b"a", -5), 2);
        assert_eq!(l.remove(b"x", i64::MIN), 0);
        assert_eq!(items(&l), ["b"]);
        assert_eq!(l.bytes, 1);
    }

    #[test]
    fn insert_and_set() {
        let mut l = list(&["a", "c"]);
        assert!(l.insert(b"a", b"b", true));
        assert!(l.insert(b"a", b"z", false));
        assert!(!l.insert(b"nope", b"x", false));
        assert_eq!(items(&l), ["z", "a", "b", "c"]);
        assert!(l.set(-1, b"last"));
        assert!(!l.set(4, b"x"));
        assert_eq!(items(&l), ["z", "a", "b", "last"]);
        assert_eq!(l.bytes, 1 + 1 + 1 + 4);
    }
}
