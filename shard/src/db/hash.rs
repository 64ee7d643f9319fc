//! The hash value type.
//!
//! Small hashes are a flat vector of field/value pairs searched linearly, like Redis's
//! listpack: for a few dozen short fields a scan over contiguous memory beats hashing, and
//! it costs no table overhead per entry. Past the configured limits (entry count or the
//! length of any field or value) the hash becomes an `IndexMap`, and never goes back,
//! as in Redis. The table is an `IndexMap` so a random field (HRANDFIELD) is O(1) and
//! HSCAN can walk positions the way `Db::scan` walks keys.

use ahash::RandomState;
use indexmap::IndexMap;

use super::sds::Sds;

/// When a small hash must become a table: Redis's `hash-max-listpack-entries` and
/// `hash-max-listpack-value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    pub entries: usize,
    pub value: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits {
            entries: 512,
            value: 64,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Hash {
    /// Insertion-ordered pairs; reported as `listpack`.
    Pack(Vec<(Sds, Sds)>),
    /// Reported as `hashtable`.
    Table(IndexMap<Sds, Sds, RandomState>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Vec::new())
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn is_compact(&self) -> bool {
        matches!(self, Hash::Pack(_))
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(v) => v.len(),
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&Sds> {
        match self {
            Hash::Pack(v) => v.iter().find(|(f, _)| &**f == field).map(|(_, val)| val),
            Hash::Table(t) => t.get(field),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Converts to a table before a write whose arguments include a string longer than
    /// the limit, so the compact form never holds one.
    pub fn prepare<'a>(&mut self, args: impl IntoIterator<Item = &'a [u8]>, limits: HashLimits) {
        if self.is_compact() && args.into_iter().any(|a| a.len() > limits.value) {
            self.convert();
        }
    }

    /// Sets `field` to `value`. Returns true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if self.is_compact() && (field.len() > limits.value || value.len() > limits.value) {
            self.convert();
        }
        let added = match self {
            Hash::Pack(v) => match v.iter_mut().find(|(f, _)| &**f == field) {
                Some((_, val)) => {
                    *val = Sds::new(value);
                    false
                }
                None => {
                    v.push((Sds::new(field), Sds::new(value)));
                    true
                }
            },
            Hash::Table(t) => match t.get_mut(field) {
                Some(val) => {
                    *val = Sds::new(value);
                    false
                }
                None => {
                    t.insert(Sds::new(field), Sds::new(value));
                    true
                }
            },
        };
        if self.is_compact() && self.len() > limits.entries {
            self.convert();
        }
        added
    }

    /// Removes `field`. Returns true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(v) => match v.iter().position(|(f, _)| &**f == field) {
                Some(i) => {
                    // Keeps insertion order, as deleting from a listpack does.
                    v.remove(i);
                    true
                }
                None => false,
            },
            Hash::Table(t) => t.swap_remove(field).is_some(),
        }
    }

    /// The pair at position `i` (0 ≤ i < len), for random picks and scans.
    pub fn get_index(&self, i: usize) -> Option<(&Sds, &Sds)> {
        match self {
            Hash::Pack(v) => v.get(i).map(|(f, val)| (f, val)),
            Hash::Table(t) => t.get_index(i),
        }
    }

    pub fn iter(&self) -> HashIter<'_> {
        match self {
            Hash::Pack(v) => HashIter::Pack(v.iter()),
            Hash::Table(t) => HashIter::Table(t.iter()),
        }
    }

    fn convert(&mut self) {
        if let Hash::Pack(v) = self {
            let mut t = IndexMap::with_capacity_and_hasher(v.len(), RandomState::new());
            for (f, val) in v.drain(..) {
                t.insert(f, val);
            }
            *self = Hash::Table(t);
        }
    }

    /// Approximate heap bytes owned, for memory accounting.
    pub fn heap_size(&self) -> usize {
        let pair = std::mem::size_of::<(Sds, Sds)>();
        match self {
            Hash::Pack(v) => {
                v.capacity() * pair
                    + v.iter()
                        .map(|(f, val)| f.heap_size() + val.heap_size())
                        .sum::<usize>()
            }
            Hash::Table(t) => {
                // Entries plus the index table (one usize and a control byte per slot).
                t.capacity() * (pair + std::mem::size_of::<usize>() * 2 + 1)
                    + t.iter()
                        .map(|(f, val)| f.heap_size() + val.heap_size())
                        .sum::<usize>()
            }
        }
    }
}

pub enum HashIter<'a> {
    Pack(std::slice::Iter<'a, (Sds, Sds)>),
    Table(indexmap::map::Iter<'a, Sds, Sds>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (&'a Sds, &'a Sds);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Pack(i) => i.next().map(|(f, v)| (f, v)),
            HashIter::Table(i) => i.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            HashIter::Pack(i) => i.size_hint(),
            HashIter::Table(i) => i.size_hint(),
        }
    }
}

impl ExactSizeIterator for HashIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HashLimits = HashLimits {
        entries: 4,
        value: 8,
    };

    #[test]
    fn set_get_remove() {
        let mut h = Hash::new();
        assert!(h.set(b"a", b"1", LIMITS));
        assert!(!h.set(b"a", b"2", LIMITS));
        assert_eq!(h.get(b"a").map(|v| v.to_vec()), Some(b"2".to_vec()));
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        assert!(h.is_empty());
    }

    #[test]
    fn converts_past_entry_limit() {
        let mut h = Hash::new();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b"v", LIMITS);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f4", b"v", LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        for i in 0..5 {
            assert!(h.contains(format!("f{i}").as_bytes()));
        }
        // Shrinking never converts back.
        for i in 0..4 {
            h.remove(format!("f{i}").as_bytes());
        }
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn converts_on_long_value_or_field() {
        let mut h = Hash::new();
        h.set(b"f", b"12345678", LIMITS);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f", b"123456789", LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::new();
        h.prepare([&b"a-very-long-field"[..]], LIMITS);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn compact_keeps_insertion_order() {
        let mut h = Hash::new();
        for f in ["c", "a", "b"] {
            h.set(f.as_bytes(), b"v", LIMITS);
        }
        h.remove(b"a");
        let order: Vec<_> = h.iter().map(|(f, _)| f.to_vec()).collect();
        assert_eq!(order, vec![b"c".to_vec(), b"b".to_vec()]);
    }
}
