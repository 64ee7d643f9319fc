//! The RDB serialization of single values, as DUMP produces and RESTORE consumes it.
//!
//! # Layout
//! - [`crc64`]: the checksum that closes every payload.
//! - [`lzf`]: the compression RDB applies to long strings.
//! - `encode` / `decode`: one value to and from its RDB type byte and body.
//! - `listpack`: readers for the compact blobs inside RDB values: listpack and intset
//!   (Redis 7.0), ziplist and zipmap (older Redis, which 7.0 still loads).
//! - `lpwrite`: the listpack writer that stream nodes need.
//! - `stream`: streams, whose nodes are listpacks in every RDB version.
//!
//! A payload is `[type][value][RDB version, 2 bytes LE][CRC-64 of all before, 8 bytes LE]`,
//! byte-compatible with Redis 7.0 (RDB version 10) in both directions.

pub mod crc64;
mod decode;
mod encode;
mod listpack;
mod lpwrite;
pub mod lzf;
mod stream;

use crate::db::hash::HashLimits;
use crate::db::zset;
use crate::db::Value;

/// The RDB format version Redis 7.0 writes; newer payloads are refused.
pub const RDB_VERSION: u16 = 10;

/// RDB value type bytes.
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Wrong version or checksum.
    Footer,
    /// Anything malformed inside the value, or a type Redis 7.0 does not know.
    Format,
}

impl Error {
    /// RESTORE's error text.
    pub fn text(self) -> &'static str {
        match self {
            Error::Footer => "ERR DUMP payload version or checksum are wrong",
            Error::Format => "ERR Bad data format",
        }
    }
}

/// The encodings a restored value is built with, from the shard's configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub set_max_intset_entries: usize,
    pub hash: HashLimits,
    pub zset: zset::Limits,
}

/// DUMP's payload for `v`.
pub fn dump(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode::object(&mut out, v);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks a payload's version and checksum.
pub fn verify(payload: &[u8]) -> Result<(), Error> {
    let Some(body_len) = payload.len().checked_sub(10) else {
        return Err(Error::Footer);
    };
    let version = u16::from_le_bytes([payload[body_len], payload[body_len + 1]]);
    if version > RDB_VERSION {
        return Err(Error::Footer);
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&payload[body_len + 2..]);
    if crc64::crc64(0, &payload[..body_len + 2]) != u64::from_le_bytes(crc) {
        return Err(Error::Footer);
    }
    Ok(())
}

/// Decodes a verified payload's value. As in Redis, the reader may run into the footer
/// but never past the payload's end, and bytes left over before the footer are ignored.
pub fn load(payload: &[u8], limits: &Limits) -> Result<Value, Error> {
    let mut r = decode::Reader::new(payload);
    let ty = r.byte()?;
    decode::object(&mut r, ty, limits)
}

#[cfg(test)]
mod tests;
