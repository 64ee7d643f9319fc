//! `IntSet`, the sorted integer array behind small all-integer sets.
//!
//! Like Redis's intset, every member is stored at the narrowest width (2, 4 or 8 bytes)
//! that fits the widest member, so a set of small ids costs 2 bytes a member. A member
//! that needs more width upgrades the whole array; it never narrows again.

use super::super::hash::grow;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntSet {
    /// Little-endian members, ascending, each `width` bytes.
    bytes: Vec<u8>,
    /// 0 while empty, then 2, 4 or 8.
    width: u8,
}

fn width_for(n: i64) -> u8 {
    if i16::try_from(n).is_ok() {
        2
    } else if i32::try_from(n).is_ok() {
        4
    } else {
        8
    }
}

fn decode(b: &[u8]) -> i64 {
    match *b {
        [a, b] => i64::from(i16::from_le_bytes([a, b])),
        [a, b, c, d] => i64::from(i32::from_le_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => i64::from_le_bytes([a, b, c, d, e, f, g, h]),
        _ => 0,
    }
}

fn encode(n: i64, width: u8, out: &mut Vec<u8>) {
    // `width` is never narrower than `width_for(n)`, so the truncations are exact.
    match width {
        2 => out.extend_from_slice(&(n as i16).to_le_bytes()),
        4 => out.extend_from_slice(&(n as i32).to_le_bytes()),
        _ => out.extend_from_slice(&n.to_le_bytes()),
    }
}

impl IntSet {
    pub fn len(&self) -> usize {
        if self.width == 0 {
            0
        } else {
            self.bytes.len() / self.width as usize
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<i64> {
        if i >= self.len() {
            return None;
        }
        let w = self.width as usize;
        let start = i.checked_mul(w)?;
        self.bytes.get(start..start + w).map(decode)
    }

    /// `Ok(position)` of `n`, or `Err(position)` where it would go.
    pub fn binary_search(&self, n: i64) -> Result<usize, usize> {
        if self.width == 0 || width_for(n) > self.width {
            // Wider than every member: below all of them or above all of them.
            return Err(if n < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).map(|m| m.cmp(&n)) {
                Some(std::cmp::Ordering::Less) => lo = mid + 1,
                Some(std::cmp::Ordering::Greater) => hi = mid,
                _ => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, n: i64) -> bool {
        self.binary_search(n).is_ok()
    }

    /// Adds `n`; true when it is new.
    pub fn insert(&mut self, n: i64) -> bool {
        let Err(at) = self.binary_search(n) else {
            return false;
        };
        let need = width_for(n);
        if need > self.width {
            self.upgrade(need);
        }
        let w = self.width as usize;
        grow(&mut self.bytes, w);
        let mut enc = Vec::with_capacity(w);
        encode(n, self.width, &mut enc);
        let pos = at * w;
        self.bytes.splice(pos..pos, enc);
        true
    }

    /// Removes the member at position `i`.
    pub fn remove_at(&mut self, i: usize) -> Option<i64> {
        let n = self.get(i)?;
        let w = self.width as usize;
        self.bytes.drain(i * w..(i + 1) * w);
        Some(n)
    }

    pub fn remove(&mut self, n: i64) -> bool {
        match self.binary_search(n) {
            Ok(i) => self.remove_at(i).is_some(),
            Err(_) => false,
        }
    }

    fn upgrade(&mut self, width: u8) {
        let mut bytes = Vec::with_capacity((self.len() + 1) * width as usize);
        for i in 0..self.len() {
            if let Some(n) = self.get(i) {
                encode(n, width, &mut bytes);
            }
        }
        self.bytes = bytes;
        self.width = width;
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or(0))
    }

    pub fn heap_size(&self) -> usize {
        self.bytes.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_upgrade_and_order_holds() {
        let mut s = IntSet::default();
        for n in [5, -3, 100] {
            assert!(s.insert(n));
        }
        assert!(!s.insert(5));
        assert!(s.heap_size() >= 6);
        assert_eq!(s.bytes.len(), 6, "three 2-byte members");
        s.insert(1 << 40);
        assert_eq!(s.bytes.len(), 32, "upgraded to 8 bytes each");
        s.insert(i64::MIN);
        s.insert(70_000);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![i64::MIN, -3, 5, 100, 70_000, 1 << 40]
        );
        assert!(s.contains(70_000) && !s.contains(6));
        assert!(s.remove(-3));
        assert_eq!(s.remove_at(0), Some(i64::MIN));
        assert_eq!(s.len(), 4);
        assert_eq!(s.get(4), None);
    }

    #[test]
    fn empty_has_no_members() {
        let s = IntSet::default();
        assert_eq!(s.get(0), None);
        assert_eq!(s.iter().count(), 0);
        let mut s = IntSet::default();
        s.insert(7);
        s.remove(7);
        assert_eq!(s.get(0), None);
    }

    #[test]
    fn search_for_wider_than_members() {
        let mut s = IntSet::default();
        s.insert(1);
        assert_eq!(s.binary_search(i64::MAX), Err(1));
        assert_eq!(s.binary_search(i64::MIN), Err(0));
        assert!(!s.contains(1 << 20));
    }
}
