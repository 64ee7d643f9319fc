//! The hash value type.
//!
//! Small hashes are one byte buffer of length-prefixed field/value strings searched
//! linearly, like Redis's listpack: for a few hundred short fields a scan over contiguous
//! memory is fast enough, and a pair costs its bytes plus two length bytes instead of a
//! table slot and two 24-byte strings. Past the configured limits (entry count or the
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

/// A table holding fewer than 1/SHRINK_RATIO of its capacity gives memory back, as
/// Redis resizes a dict that falls below 10% full; small tables are left alone.
pub(crate) const SHRINK_RATIO: usize = 8;
pub(crate) const SHRINK_MIN: usize = 64;

#[derive(Debug, Clone)]
pub enum Hash {
    /// Insertion-ordered pairs; reported as `listpack`.
    Pack(Pack),
    /// Reported as `hashtable`. Boxed so a small hash stays as small as its `Vec`: the
    /// table and its hasher's keys are several times that.
    Table(Box<IndexMap<Sds, Sds, RandomState>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Pack::default())
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
            Hash::Pack(p) => p.len as usize,
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(p) => p.find(field).and_then(|e| p.buf.get(e.value.clone())),
            Hash::Table(t) => t.get(field).map(|v| &v[..]),
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
            Hash::Pack(p) => p.set(field, value),
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
            Hash::Pack(p) => match p.find(field) {
                Some(e) => {
                    // Keeps insertion order, as deleting from a listpack does.
                    p.buf.drain(e.start..e.value.end);
                    p.len -= 1;
                    true
                }
                None => false,
            },
            Hash::Table(t) => {
                let found = t.swap_remove(field).is_some();
                if found && t.len() * SHRINK_RATIO < t.capacity() && t.capacity() > SHRINK_MIN {
                    // Shrinking keeps entry order, so HSCAN positions stay valid.
                    t.shrink_to(t.len() * 2);
                }
                found
            }
        }
    }

    /// The pair at position `i` (0 ≤ i < len), for random picks and scans. O(i) for the
    /// compact form: callers picking many collect [`Hash::iter`] once instead.
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Pack(_) => self.iter().nth(i),
            Hash::Table(t) => t.get_index(i).map(|(f, v)| (&f[..], &v[..])),
        }
    }

    pub fn iter(&self) -> HashIter<'_> {
        match self {
            Hash::Pack(p) => HashIter::Pack(&p.buf[..], p.len as usize),
            Hash::Table(t) => HashIter::Table(t.iter()),
        }
    }

    fn convert(&mut self) {
        if let Hash::Pack(p) = self {
            let mut t = IndexMap::with_capacity_and_hasher(p.len as usize, RandomState::new());
            for (f, val) in HashIter::Pack(&p.buf[..], p.len as usize) {
                t.insert(Sds::new(f), Sds::new(val));
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// Approximate heap bytes owned, for memory accounting.
    pub fn heap_size(&self) -> usize {
        let pair = std::mem::size_of::<(Sds, Sds)>();
        match self {
            Hash::Pack(p) => p.buf.capacity(),
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
    /// The unread part of a pack and the pairs left in it.
    Pack(&'a [u8], usize),
    Table(indexmap::map::Iter<'a, Sds, Sds>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Pack(buf, left) => {
                let (f, rest) = read_str(buf)?;
                let (v, rest) = read_str(rest)?;
                *buf = rest;
                *left = left.saturating_sub(1);
                Some((f, v))
            }
            HashIter::Table(i) => i.next().map(|(f, v)| (&f[..], &v[..])),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            HashIter::Pack(_, left) => (*left, Some(*left)),
            HashIter::Table(i) => i.size_hint(),
        }
    }
}

/// The compact form's storage: each string is a LEB128 length and its bytes, field then
/// value, pair after pair.
#[derive(Debug, Clone, Default)]
pub struct Pack {
    buf: Vec<u8>,
    len: u32,
}

/// Where one pair sits in a pack: its first byte, and its value's bytes.
struct Found {
    start: usize,
    value: std::ops::Range<usize>,
}

fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    let mut n = s.len();
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(s);
}

/// One string at the head of `buf` and what follows it; None only on a corrupt pack,
/// which the encoder never writes.
fn read_str(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, hdr) = read_len(buf)?;
    let end = hdr.checked_add(len)?;
    Some((buf.get(hdr..end)?, buf.get(end..)?))
}

/// A LEB128 length and the size of its encoding.
fn read_len(buf: &[u8]) -> Option<(usize, usize)> {
    let mut n = 0usize;
    for (i, &b) in buf.iter().enumerate().take(10) {
        n |= usize::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

impl Pack {
    fn find(&self, field: &[u8]) -> Option<Found> {
        let mut pos = 0;
        while pos < self.buf.len() {
            let start = pos;
            let (flen, fh) = read_len(self.buf.get(pos..)?)?;
            let f = self.buf.get(pos + fh..pos + fh + flen)?;
            pos += fh + flen;
            let (vlen, vh) = read_len(self.buf.get(pos..)?)?;
            let value = pos + vh..pos + vh + vlen;
            pos = value.end;
            if f == field {
                return Some(Found { start, value });
            }
        }
        None
    }

    /// Sets a pair; true when the field is new.
    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        match self.find(field) {
            Some(Found { value: old, .. }) => {
                if old.len() == value.len() {
                    if let Some(dst) = self.buf.get_mut(old) {
                        dst.copy_from_slice(value);
                    }
                } else {
                    // The old value's length prefix sits right before its bytes.
                    let hdr_start = old.start - len_size(old.len());
                    let mut enc = Vec::with_capacity(value.len() + 10);
                    write_str(&mut enc, value);
                    self.buf.splice(hdr_start..old.end, enc);
                }
                false
            }
            None => {
                grow(
                    &mut self.buf,
                    field.len() + value.len() + len_size(field.len()) + len_size(value.len()),
                );
                write_str(&mut self.buf, field);
                write_str(&mut self.buf, value);
                self.len += 1;
                true
            }
        }
    }
}

/// Makes room for `extra` more bytes, growing by an eighth instead of doubling: a small
/// collection is kept for its compactness, so slack would defeat its purpose.
pub(crate) fn grow<T>(v: &mut Vec<T>, extra: usize) {
    if v.capacity() - v.len() < extra {
        v.reserve_exact(extra.max(v.len() / 8 + 4));
    }
}

fn len_size(mut n: usize) -> usize {
    let mut size = 1;
    while n >= 0x80 {
        n >>= 7;
        size += 1;
    }
    size
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
    fn small_hash_is_small() {
        assert!(std::mem::size_of::<Hash>() <= 32);
    }

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
    fn pack_rewrites_values_of_any_length() {
        let big = HashLimits {
            entries: 512,
            value: 100_000,
        };
        let mut h = Hash::new();
        let long = vec![b'x'; 300];
        h.set(b"a", b"1", big);
        h.set(b"b", &long, big);
        h.set(b"c", b"3", big);
        assert_eq!(h.get(b"b"), Some(&long[..]));
        // Shorter, same length, then longer than the old value, with a 2-byte prefix.
        h.set(b"b", b"22", big);
        assert_eq!(h.get(b"b"), Some(&b"22"[..]));
        h.set(b"b", b"33", big);
        assert_eq!(h.get(b"b"), Some(&b"33"[..]));
        h.set(b"a", &long, big);
        assert_eq!(h.get(b"a"), Some(&long[..]));
        assert_eq!(h.get(b"c"), Some(&b"3"[..]));
        assert!(h.remove(b"b"));
        let all: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.len())).collect();
        assert_eq!(all, vec![(b"a".to_vec(), 300), (b"c".to_vec(), 1)]);
        assert_eq!(h.get_index(1).map(|(f, _)| f.to_vec()), Some(b"c".to_vec()));
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.iter().len(), 2);
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
