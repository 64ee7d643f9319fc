//! `Sds`, the byte string used for keys and string values.
//!
//! Bytes per key is a product goal: strings of up to 22 bytes live inline in the 24-byte
//! value itself, so a small key or value costs no heap allocation at all. Longer strings
//! take one exact-size heap block (no spare capacity, unlike a `Vec`).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

const INLINE: usize = 22;

#[derive(Clone)]
pub enum Sds {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

impl Sds {
    pub fn new(data: &[u8]) -> Sds {
        if data.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..data.len()].copy_from_slice(data);
            Sds::Inline(data.len() as u8, buf)
        } else {
            Sds::Heap(data.into())
        }
    }

    pub fn from_vec(data: Vec<u8>) -> Sds {
        if data.len() <= INLINE {
            Sds::new(&data)
        } else {
            Sds::Heap(data.into_boxed_slice())
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            Sds::Inline(len, buf) => &buf[..*len as usize],
            Sds::Heap(b) => b,
        }
    }

    /// The bytes, writable in place: SETRANGE and SETBIT within the current length cost
    /// no copy of a large string.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            Sds::Inline(len, buf) => &mut buf[..*len as usize],
            Sds::Heap(b) => b,
        }
    }

    /// The bytes as a `Vec`, without copying a heap string, for an edit that grows it.
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Sds::Inline(len, buf) => buf[..len as usize].to_vec(),
            Sds::Heap(b) => b.into_vec(),
        }
    }

    /// Heap bytes owned beyond the inline value, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Sds::Inline(..) => 0,
            Sds::Heap(b) => b.len(),
        }
    }
}

impl Deref for Sds {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Sds {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Sds {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

// Hash and Eq must agree with `[u8]`'s so maps keyed by `Sds` can be queried with `&[u8]`.
impl Hash for Sds {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl PartialEq for Sds {
    fn eq(&self, other: &Sds) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Sds {}

impl PartialOrd for Sds {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sds {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl fmt::Debug for Sds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

impl From<&[u8]> for Sds {
    fn from(d: &[u8]) -> Sds {
        Sds::new(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap() {
        assert_eq!(std::mem::size_of::<Sds>(), 24);
        let s = Sds::new(b"hello");
        assert!(matches!(s, Sds::Inline(5, _)));
        assert_eq!(&*s, b"hello");
        let long = vec![7u8; 100];
        let h = Sds::from_vec(long.clone());
        assert_eq!(h.heap_size(), 100);
        assert_eq!(&*h, &long[..]);
        let mut h = h;
        h.as_mut_slice()[0] = 1;
        let v = h.into_vec();
        assert_eq!((v.len(), v[0], v[1]), (100, 1, 7));
        let mut s = s;
        s.as_mut_slice()[0] = b'j';
        assert_eq!(s.into_vec(), b"jello");
    }
}
