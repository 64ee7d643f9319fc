//! The keyspace as the commands that rebuild it, for a new base file: SET, RPUSH, ZADD (and
//! HSET, SADD) in batches of [`BATCH`] elements, then PEXPIREAT for volatile keys. Keys
//! already past their expiry are left out, as Redis's rewrite does.

use bytes::{Bytes, BytesMut};

use crate::aof::record::encode_command;
use crate::db::{Db, Sds, Value};

/// Elements per command, as Redis's `AOF_REWRITE_ITEMS_PER_CMD`.
pub const BATCH: usize = 64;
/// Bytes per chunk handed to the file writer.
const CHUNK: usize = 1 << 20;

/// Encoded commands, in chunks of about [`CHUNK`] bytes.
#[derive(Default)]
pub struct Encoded {
    pub chunks: Vec<BytesMut>,
    pub commands: u64,
}

impl Encoded {
    pub fn is_empty(&self) -> bool {
        self.commands == 0
    }

    fn push<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        if self.chunks.last().is_none_or(|c| c.len() >= CHUNK) {
            self.chunks.push(BytesMut::with_capacity(CHUNK + 4096));
        }
        if let Some(c) = self.chunks.last_mut() {
            encode_command(c, args);
            self.commands += 1;
        }
    }
}

/// Serializes the whole keyspace as of `now`.
pub fn keyspace(db: &Db, now: i64) -> Encoded {
    let mut out = Encoded::default();
    for (key, entry) in db.iter() {
        let at = db.expire_at(key);
        if at.is_some_and(|at| at <= now) {
            continue;
        }
        one(&mut out, key, &entry.value, at);
    }
    out
}

/// Appends the commands that rebuild one key.
pub fn one(out: &mut Encoded, key: &[u8], value: &Value, at: Option<i64>) {
    let k: &[u8] = key;
    match value {
        Value::Str(s) => out.push(&[b"SET", k, s.as_ref()]),
        Value::List(l) => {
            let items: Vec<&Sds> = l.iter().collect();
            for part in items.chunks(BATCH) {
                let mut cmd: Vec<&[u8]> = Vec::with_capacity(part.len() + 2);
                cmd.push(b"RPUSH");
                cmd.push(k);
                cmd.extend(part.iter().map(|s| s.as_ref()));
                out.push(&cmd);
            }
        }
        Value::ZSet(z) => {
            let items: Vec<(f64, &Sds)> = z.iter().collect();
            for part in items.chunks(BATCH) {
                let mut cmd: Vec<Bytes> = Vec::with_capacity(part.len() * 2 + 2);
                cmd.push(Bytes::from_static(b"ZADD"));
                cmd.push(Bytes::copy_from_slice(k));
                for (score, member) in part {
                    cmd.push(Bytes::from(crate::db::zset::d2string(*score)));
                    cmd.push(Bytes::copy_from_slice(member.as_ref()));
                }
                out.push(&cmd);
            }
        }
        other => collections(out, k, other),
    }
    if let Some(at) = at {
        out.push(&[b"PEXPIREAT" as &[u8], k, at.to_string().as_bytes()]);
    }
}

/// Hashes and sets.
fn collections(out: &mut Encoded, key: &[u8], value: &Value) {
    match value {
        Value::Hash(h) => {
            let pairs: Vec<(&[u8], &[u8])> = h.iter().collect();
            for part in pairs.chunks(BATCH) {
                let mut cmd: Vec<&[u8]> = Vec::with_capacity(part.len() * 2 + 2);
                cmd.push(b"HSET");
                cmd.push(key);
                for (f, v) in part {
                    cmd.push(f);
                    cmd.push(v);
                }
                out.push(&cmd);
            }
        }
        Value::Set(set) => {
            let members: Vec<Bytes> = set
                .iter()
                .map(|m| m.with_bytes(Bytes::copy_from_slice))
                .collect();
            for part in members.chunks(BATCH) {
                let mut cmd: Vec<&[u8]> = Vec::with_capacity(part.len() + 2);
                cmd.push(b"SADD");
                cmd.push(key);
                cmd.extend(part.iter().map(|m| &m[..]));
                out.push(&cmd);
            }
        }
        // Strings, lists and sorted sets are handled by the caller.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_commands_with_their_expiry() {
        let mut db = Db::new();
        db.set(b"s", Value::str(b"v"), false);
        db.set(b"gone", Value::str(b"x"), false);
        db.set_expire(b"gone", 5);
        db.set(b"t", Value::str(b"w"), false);
        db.set_expire(b"t", 2_000);
        let enc = keyspace(&db, 1_000);
        assert_eq!(enc.commands, 3);
        let text = String::from_utf8_lossy(&enc.chunks[0]).into_owned();
        assert!(
            text.contains("$3\r\nSET\r\n$1\r\ns\r\n$1\r\nv\r\n"),
            "{text}"
        );
        assert!(
            text.contains("PEXPIREAT\r\n$1\r\nt\r\n$4\r\n2000\r\n"),
            "{text}"
        );
        assert!(!text.contains("gone"), "{text}");
    }

    #[test]
    fn collections_are_batched() {
        let mut db = Db::new();
        let mut set = crate::db::set::Set::new();
        for i in 0..(BATCH as i64 + 1) {
            set.add(i.to_string().as_bytes(), 512);
        }
        db.set(b"s", Value::Set(Box::new(set)), false);
        let enc = keyspace(&db, 0);
        assert_eq!(enc.commands, 2, "65 members need two SADDs");
        let text = String::from_utf8_lossy(&enc.chunks[0]).into_owned();
        assert!(text.starts_with("*66\r\n$4\r\nSADD\r\n"), "{text}");
    }
}
