//! Writing values in RDB form: the plain (non-compact) types, which every Redis since
//! 2.x loads and converts to whatever encoding its configuration asks for; streams have
//! only their listpack form (see `stream`).

use super::{lzf, types};
use crate::db::Value;

/// The length prefix: 6, 14, 32 or 64 bits depending on size.
pub fn len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A canonical decimal of at most 11 bytes that fits 32 bits is stored as an integer,
/// as Redis does; a longer string is LZF-compressed when that saves at least 4 bytes.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(n) = shoal_proto::number::parse_i64(s) {
            if itoa::Buffer::new().format(n).as_bytes() == s {
                if let Ok(v) = i8::try_from(n) {
                    out.push(0xc0);
                    out.extend_from_slice(&v.to_le_bytes());
                    return;
                }
                if let Ok(v) = i16::try_from(n) {
                    out.push(0xc1);
                    out.extend_from_slice(&v.to_le_bytes());
                    return;
                }
                if let Ok(v) = i32::try_from(n) {
                    out.push(0xc2);
                    out.extend_from_slice(&v.to_le_bytes());
                    return;
                }
            }
        }
    }
    if s.len() > 20 {
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push(0xc3);
            len(out, c.len() as u64);
            len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The type byte and the encoded value.
pub fn object(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => {
            out.push(types::STRING);
            string(out, s.as_slice());
        }
        Value::List(l) => {
            out.push(types::LIST);
            len(out, l.len() as u64);
            for e in l.iter() {
                string(out, e.as_slice());
            }
        }
        Value::Set(s) => {
            out.push(types::SET);
            len(out, s.len() as u64);
            for m in s.iter() {
                m.with_bytes(|b| string(out, b));
            }
        }
        Value::ZSet(z) => {
            out.push(types::ZSET_2);
            len(out, z.len() as u64);
            for (score, m) in z.iter() {
                string(out, m.as_slice());
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Value::Hash(h) => {
            out.push(types::HASH);
            len(out, h.len() as u64);
            for (f, val) in h.iter() {
                string(out, f);
                string(out, val);
            }
        }
        Value::Stream(s) => super::stream::save(out, s),
    }
}
