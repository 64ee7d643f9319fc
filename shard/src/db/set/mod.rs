//! The set value type.
//!
//! A set whose members are all integers, and that has at most `set-max-intset-entries`
//! of them, is an [`IntSet`] (Redis's intset): 2 to 8 bytes per member, binary-searched,
//! and iterated in ascending order as Redis does. Any other set is an `IndexSet`, so a
//! random member (SPOP, SRANDMEMBER) is O(1) and SSCAN walks positions like `Db::scan`.
//! A set never goes back to the compact form, as in Redis.

use ahash::RandomState;
use indexmap::IndexSet;
use shoal_proto::number::parse_i64;

mod intset;

pub use intset::IntSet;

use super::hash::{SHRINK_MIN, SHRINK_RATIO};
use super::sds::Sds;

#[derive(Debug, Clone)]
pub enum Set {
    /// Sorted, distinct; reported as `intset`.
    Ints(IntSet),
    /// Reported as `hashtable`. Boxed so an intset stays as small as its `Vec`.
    Table(Box<IndexSet<Sds, RandomState>>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(IntSet::default())
    }
}

/// One member, borrowed from a set. Intset members have no bytes to borrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Member<'_> {
    pub fn to_sds(self) -> Sds {
        match self {
            Member::Int(n) => Sds::new(itoa::Buffer::new().format(n).as_bytes()),
            Member::Str(s) => Sds::new(s),
        }
    }

    /// Calls `f` with the member's bytes, formatting an integer on the stack.
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(n) => f(itoa::Buffer::new().format(n).as_bytes()),
            Member::Str(s) => f(s),
        }
    }
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_compact(&self) -> bool {
        matches!(self, Set::Ints(_))
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => parse_i64(m).is_some_and(|n| v.contains(n)),
            Set::Table(t) => t.contains(m),
        }
    }

    pub fn contains_member(&self, m: Member<'_>) -> bool {
        match (self, m) {
            (Set::Ints(v), Member::Int(n)) => v.contains(n),
            (_, m) => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// Adds `m`; returns true when it is new. `max_ints` is `set-max-intset-entries`.
    pub fn add(&mut self, m: &[u8], max_ints: usize) -> bool {
        if let Set::Ints(v) = self {
            match parse_i64(m) {
                Some(n) => {
                    if !v.insert(n) {
                        return false;
                    }
                    if v.len() > max_ints {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        match self {
            Set::Table(t) => t.insert(Sds::new(m)),
            Set::Ints(_) => false,
        }
    }

    pub fn add_member(&mut self, m: Member<'_>, max_ints: usize) -> bool {
        m.with_bytes(|b| self.add(b, max_ints))
    }

    /// Removes `m`; returns true when it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => parse_i64(m).is_some_and(|n| v.remove(n)),
            Set::Table(t) => {
                let found = t.swap_remove(m);
                shrink(t);
                found
            }
        }
    }

    /// The member at position `i` (0 ≤ i < len).
    pub fn get_index(&self, i: usize) -> Option<Member<'_>> {
        match self {
            Set::Ints(v) => v.get(i).map(Member::Int),
            Set::Table(t) => t.get_index(i).map(|s| Member::Str(s)),
        }
    }

    /// Removes and returns the member at position `i`.
    pub fn take_index(&mut self, i: usize) -> Option<Sds> {
        match self {
            Set::Ints(v) => v.remove_at(i).map(|n| Member::Int(n).to_sds()),
            Set::Table(t) => {
                let taken = t.swap_remove_index(i);
                shrink(t);
                taken
            }
        }
    }

    pub fn iter(&self) -> SetIter<'_> {
        match self {
            Set::Ints(v) => SetIter::Ints(v, 0),
            Set::Table(t) => SetIter::Table(t.iter()),
        }
    }

    fn convert(&mut self) {
        if let Set::Ints(v) = self {
            // Room for the member that triggered the conversion.
            let mut t = IndexSet::with_capacity_and_hasher(v.len() + 1, RandomState::new());
            for n in v.iter() {
                t.insert(Member::Int(n).to_sds());
            }
            *self = Set::Table(Box::new(t));
        }
    }

    /// Approximate heap bytes owned, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Set::Ints(v) => v.heap_size(),
            Set::Table(t) => {
                t.capacity() * (std::mem::size_of::<Sds>() + std::mem::size_of::<usize>() * 2 + 1)
                    + t.iter().map(|s| s.heap_size()).sum::<usize>()
            }
        }
    }
}

/// Gives memory back once a table is mostly empty; order is kept, so SSCAN positions
/// stay valid.
fn shrink(t: &mut IndexSet<Sds, RandomState>) {
    if t.len() * SHRINK_RATIO < t.capacity() && t.capacity() > SHRINK_MIN {
        t.shrink_to(t.len() * 2);
    }
}

pub enum SetIter<'a> {
    /// The intset and the next position.
    Ints(&'a IntSet, usize),
    Table(indexmap::set::Iter<'a, Sds>),
}

impl<'a> Iterator for SetIter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            SetIter::Ints(s, i) => {
                let n = s.get(*i)?;
                *i += 1;
                Some(Member::Int(n))
            }
            SetIter::Table(i) => i.next().map(|s| Member::Str(s)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            SetIter::Ints(s, i) => {
                let left = s.len().saturating_sub(*i);
                (left, Some(left))
            }
            SetIter::Table(i) => i.size_hint(),
        }
    }
}

impl ExactSizeIterator for SetIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_stays_sorted_and_distinct() {
        let mut s = Set::new();
        for m in ["5", "-3", "10", "5"] {
            s.add(m.as_bytes(), 512);
        }
        assert_eq!(s.encoding(), "intset");
        let got: Vec<_> = s.iter().map(|m| m.to_sds().to_vec()).collect();
        assert_eq!(got, vec![b"-3".to_vec(), b"5".to_vec(), b"10".to_vec()]);
        assert!(s.contains(b"10"));
        // Not canonical integers, so never members of an intset.
        assert!(!s.contains(b"010"));
        assert!(!s.contains(b"+5"));
    }

    #[test]
    fn non_integer_converts() {
        let mut s = Set::new();
        s.add(b"1", 512);
        s.add(b"a", 512);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"a"));
        assert!(s.contains_member(Member::Int(1)));
        // Non-canonical integers are plain strings.
        let mut s = Set::new();
        s.add(b"01", 512);
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn converts_past_intset_limit() {
        let mut s = Set::new();
        for i in 0..4 {
            s.add(i.to_string().as_bytes(), 4);
        }
        assert_eq!(s.encoding(), "intset");
        s.add(b"4", 4);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 5);
        assert!(s.remove(b"4"));
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn table_gives_memory_back() {
        let mut s = Set::new();
        for i in 0..10_000 {
            s.add(format!("m{i}").as_bytes(), 512);
        }
        let full = s.heap_size();
        for i in 0..9_990 {
            s.remove(format!("m{i}").as_bytes());
        }
        assert!(s.heap_size() * 20 < full, "{} vs {full}", s.heap_size());
        assert_eq!(s.len(), 10);
        assert!(s.contains(b"m9999"));
    }

    #[test]
    fn small_set_is_small() {
        assert!(std::mem::size_of::<Set>() <= 32);
    }

    #[test]
    fn empty_iterates_nothing() {
        let s = Set::new();
        assert_eq!(s.iter().count(), 0);
        assert_eq!(s.get_index(0), None);
    }

    #[test]
    fn take_index_removes() {
        let mut s = Set::new();
        for m in ["1", "2", "3"] {
            s.add(m.as_bytes(), 512);
        }
        assert_eq!(s.take_index(1).map(|m| m.to_vec()), Some(b"2".to_vec()));
        assert_eq!(s.len(), 2);
        assert!(s.take_index(5).is_none());
    }
}
