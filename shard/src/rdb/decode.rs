//! Reading one RDB-encoded value: the plain types and the compact ones Redis 7.0 writes
//! (intset, listpack, quicklist of listpacks), with LZF strings. Every length is checked
//! against the bytes actually left, so a forged count can neither over-read nor make a
//! large allocation.

use super::{listpack, lzf, types, Error, Limits};
use crate::db::hash::Hash;
use crate::db::list::{End, List};
use crate::db::set::Set;
use crate::db::stream::StreamId;
use crate::db::zset::ZSet;
use crate::db::Value;

/// The largest string RESTORE will build (Redis's `proto-max-bulk-len`).
const MAX_STRING: usize = 512 << 20;

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A length prefix: a count, or (for strings) the tag of a special encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::Format)?;
        let s = self.buf.get(self.pos..end).ok_or(Error::Format)?;
        self.pos = end;
        Ok(s)
    }

    pub fn byte(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn raw_len(&mut self) -> Result<Len, Error> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain(u64::from(b & 0x3f) << 8 | u64::from(self.byte()?)),
            2 if b == 0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array::<4>()?))),
            2 if b == 0x81 => Len::Plain(u64::from_be_bytes(self.array::<8>()?)),
            2 => return Err(Error::Format),
            _ => Len::Encoded(b & 0x3f),
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        self.take(N)?.try_into().map_err(|_| Error::Format)
    }

    /// A count or size. Outside strings the "encoded" flag means nothing, and Redis reads
    /// its six low bits as the number.
    fn len(&mut self) -> Result<usize, Error> {
        match self.raw_len()? {
            Len::Plain(n) => usize::try_from(n).map_err(|_| Error::Format),
            Len::Encoded(n) => Ok(usize::from(n)),
        }
    }

    /// A full 64-bit length (counters and ID halves).
    pub(super) fn len_u64(&mut self) -> Result<u64, Error> {
        match self.raw_len()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(n) => Ok(u64::from(n)),
        }
    }

    /// An ID as two lengths, milliseconds then sequence.
    pub(super) fn id(&mut self) -> Result<StreamId, Error> {
        Ok(StreamId::new(self.len_u64()?, self.len_u64()?))
    }

    /// A Unix time in milliseconds: 8 bytes, little-endian.
    pub(super) fn millis(&mut self) -> Result<i64, Error> {
        Ok(i64::from_le_bytes(self.array::<8>()?))
    }

    /// A count of items that each take at least one byte.
    pub(super) fn count(&mut self) -> Result<usize, Error> {
        let n = self.len()?;
        if n > self.left() {
            return Err(Error::Format);
        }
        Ok(n)
    }

    pub(super) fn string(&mut self) -> Result<Vec<u8>, Error> {
        match self.raw_len()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| Error::Format)?;
                Ok(self.take(n)?.to_vec())
            }
            Len::Encoded(0) => Ok(int(i64::from(i8::from_le_bytes(self.array::<1>()?)))),
            Len::Encoded(1) => Ok(int(i64::from(i16::from_le_bytes(self.array::<2>()?)))),
            Len::Encoded(2) => Ok(int(i64::from(i32::from_le_bytes(self.array::<4>()?)))),
            Len::Encoded(3) => {
                let clen = self.len()?;
                let ulen = self.len()?;
                let packed = self.take(clen)?;
                if ulen > MAX_STRING {
                    return Err(Error::Format);
                }
                lzf::decompress(packed, ulen).ok_or(Error::Format)
            }
            Len::Encoded(_) => Err(Error::Format),
        }
    }

    fn binary_double(&mut self) -> Result<f64, Error> {
        Ok(f64::from_le_bytes(self.array::<8>()?))
    }

    /// The old text form: a length byte (253 NaN, 254 +inf, 255 -inf) and ASCII digits.
    fn text_double(&mut self) -> Result<f64, Error> {
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let s =
                    std::str::from_utf8(self.take(usize::from(n))?).map_err(|_| Error::Format)?;
                s.trim().parse().map_err(|_| Error::Format)
            }
        }
    }
}

fn int(n: i64) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}

/// Reads a value of RDB type `ty`.
pub fn object(r: &mut Reader<'_>, ty: u8, limits: &Limits) -> Result<Value, Error> {
    let v = match ty {
        types::STRING => Value::str(&r.string()?),
        types::LIST => {
            let n = r.count()?;
            let mut l = List::new();
            for _ in 0..n {
                l.push(&r.string()?, End::Tail);
            }
            Value::List(Box::new(l))
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            Value::List(Box::new(quicklist(r, ty == types::LIST_QUICKLIST_2)?))
        }
        types::LIST_ZIPLIST => {
            let mut l = List::new();
            for e in listpack::ziplist(&r.string()?).ok_or(Error::Format)? {
                l.push(&e, End::Tail);
            }
            Value::List(Box::new(l))
        }
        types::SET => {
            let n = r.count()?;
            let mut s = Set::new();
            for _ in 0..n {
                if !s.add(&r.string()?, limits.set_max_intset_entries) {
                    return Err(Error::Format);
                }
            }
            Value::Set(Box::new(s))
        }
        types::SET_INTSET => {
            let members = listpack::intset(&r.string()?).ok_or(Error::Format)?;
            let mut s = Set::new();
            for m in members {
                s.add(&int(m), limits.set_max_intset_entries);
            }
            Value::Set(Box::new(s))
        }
        types::ZSET | types::ZSET_2 => {
            let n = r.count()?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                let m = r.string()?;
                let score = if ty == types::ZSET_2 {
                    r.binary_double()?
                } else {
                    r.text_double()?
                };
                pairs.push((score, m));
            }
            zset(pairs, limits)?
        }
        types::ZSET_LISTPACK | types::ZSET_ZIPLIST => {
            let entries = compact(r, ty == types::ZSET_ZIPLIST)?;
            if entries.len() % 2 != 0 {
                return Err(Error::Format);
            }
            let mut pairs = Vec::with_capacity(entries.len() / 2);
            let mut it = entries.into_iter();
            while let (Some(m), Some(s)) = (it.next(), it.next()) {
                let s = std::str::from_utf8(&s).map_err(|_| Error::Format)?;
                pairs.push((s.parse().map_err(|_| Error::Format)?, m));
            }
            zset(pairs, limits)?
        }
        types::HASH => {
            let n = r.count()?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((r.string()?, r.string()?));
            }
            hash(pairs, limits)?
        }
        types::HASH_LISTPACK | types::HASH_ZIPLIST | types::HASH_ZIPMAP => {
            let entries = if ty == types::HASH_ZIPMAP {
                listpack::zipmap(&r.string()?).ok_or(Error::Format)?
            } else {
                compact(r, ty == types::HASH_ZIPLIST)?
            };
            if entries.len() % 2 != 0 {
                return Err(Error::Format);
            }
            let mut pairs = Vec::with_capacity(entries.len() / 2);
            let mut it = entries.into_iter();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                pairs.push((f, v));
            }
            hash(pairs, limits)?
        }
        // Redis 7.2's form (with consumers' active times) is newer than 7.0 reads.
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 => super::stream::load(r, ty)?,
        _ => return Err(Error::Format),
    };
    // An empty collection is never stored, so a payload holding one is corrupt.
    let empty = match &v {
        Value::Str(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::ZSet(z) => z.is_empty(),
        Value::Hash(h) => h.is_empty(),
        // A stream with no entries still holds its counters and groups.
        Value::Stream(_) => false,
    };
    if empty {
        return Err(Error::Format);
    }
    Ok(v)
}

/// A listpack blob, or for the Redis 6 types a ziplist one.
fn compact(r: &mut Reader<'_>, ziplist: bool) -> Result<Vec<listpack::Entry>, Error> {
    let blob = r.string()?;
    let entries = if ziplist {
        listpack::ziplist(&blob)
    } else {
        listpack::listpack(&blob)
    };
    entries.ok_or(Error::Format)
}

/// A quicklist: nodes of listpacks (or, in version 2, single plain elements), or of
/// ziplists in the Redis 6 form. Empty nodes are skipped, as Redis does.
fn quicklist(r: &mut Reader<'_>, v2: bool) -> Result<List, Error> {
    const PLAIN: usize = 1;
    const PACKED: usize = 2;
    let nodes = r.count()?;
    let mut l = List::new();
    for _ in 0..nodes {
        let container = if v2 { r.len()? } else { PACKED };
        if container != PLAIN && container != PACKED {
            return Err(Error::Format);
        }
        let blob = r.string()?;
        if blob.is_empty() {
            return Err(Error::Format);
        }
        if container == PLAIN {
            l.push(&blob, End::Tail);
            continue;
        }
        let entries = if v2 {
            listpack::listpack(&blob)
        } else {
            listpack::ziplist(&blob)
        };
        for e in entries.ok_or(Error::Format)? {
            l.push(&e, End::Tail);
        }
    }
    Ok(l)
}

fn zset(pairs: Vec<(f64, Vec<u8>)>, limits: &Limits) -> Result<Value, Error> {
    let max_len = pairs.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
    let mut z = ZSet::for_size(pairs.len(), max_len, limits.zset);
    for (score, m) in pairs {
        if score.is_nan() || z.insert(score, &m, limits.zset).is_some() {
            return Err(Error::Format);
        }
    }
    Ok(Value::ZSet(Box::new(z)))
}

fn hash(pairs: Vec<(Vec<u8>, Vec<u8>)>, limits: &Limits) -> Result<Value, Error> {
    let mut h = Hash::new();
    for (f, v) in pairs {
        if !h.set(&f, &v, limits.hash) {
            return Err(Error::Format);
        }
    }
    Ok(Value::Hash(Box::new(h)))
}
