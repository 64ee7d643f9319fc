//! Streams in RDB form: `RDB_TYPE_STREAM_LISTPACKS_2` as Redis 7.0 writes it (each node
//! a listpack under its master ID, then the counters, then each consumer group with its
//! pending entries and consumers), and the Redis 5–6.2 form (`RDB_TYPE_STREAM_LISTPACKS`),
//! whose missing counters are derived as Redis 7.0 derives them.
//!
//! A node's listpack holds a master entry (`live, deleted, n, field…, 0`) and then, per
//! entry, `flags, ms-delta, seq-delta, [n, field, value… | value…], lp-count`; flag 1
//! marks a tombstone and flag 2 an entry whose field names are the master's.

use super::decode::Reader;
use super::lpwrite::Listpack;
use super::{encode, listpack, types, Error};
use crate::db::stream::{Consumer, Group, Nack, Stream, StreamId};
use crate::db::{Sds, Value};

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// The 16-byte big-endian form of an ID that RDB uses for node keys and PEL entries.
fn raw_id(id: StreamId) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&id.ms.to_be_bytes());
    b[8..].copy_from_slice(&id.seq.to_be_bytes());
    b
}

fn parse_raw_id(b: &[u8]) -> Result<StreamId, Error> {
    let ms: [u8; 8] = b
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or(Error::Format)?;
    let seq: [u8; 8] = b
        .get(8..16)
        .and_then(|s| s.try_into().ok())
        .ok_or(Error::Format)?;
    if b.len() != 16 {
        return Err(Error::Format);
    }
    Ok(StreamId::new(
        u64::from_be_bytes(ms),
        u64::from_be_bytes(seq),
    ))
}

fn id(out: &mut Vec<u8>, id: StreamId) {
    encode::len(out, id.ms);
    encode::len(out, id.seq);
}

/// Writes the type byte and the stream.
pub fn save(out: &mut Vec<u8>, s: &Stream) {
    out.push(types::STREAM_LISTPACKS_2);
    encode::len(out, s.node_count() as u64);
    for node in s.raw_nodes() {
        encode::string(out, &raw_id(node.master_id));
        encode::string(out, &node_listpack(&node));
    }
    encode::len(out, s.len());
    id(out, s.last_id);
    id(out, s.first_id);
    id(out, s.max_deleted_id);
    encode::len(out, s.entries_added);
    encode::len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        encode::string(out, name);
        id(out, g.last_id);
        // Redis stores its "unknown" read counter, -1, as an unsigned length.
        encode::len(out, g.entries_read.unwrap_or(u64::MAX));
        encode::len(out, g.pel.len() as u64);
        for (pending, nack) in &g.pel {
            out.extend_from_slice(&raw_id(*pending));
            out.extend_from_slice(&nack.delivery_time.to_le_bytes());
            encode::len(out, nack.delivery_count);
        }
        encode::len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            encode::string(out, cname);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            encode::len(out, c.pel.len() as u64);
            for pending in &c.pel {
                out.extend_from_slice(&raw_id(*pending));
            }
        }
    }
}

fn node_listpack(node: &crate::db::stream::raw::RawNode<'_>) -> Vec<u8> {
    let master = node.master_fields();
    let mut lp = Listpack::new();
    lp.int(node.live() as i64);
    lp.int(node.deleted() as i64);
    lp.int(master.len() as i64);
    for f in master {
        lp.string(f);
    }
    lp.int(0);
    for e in node.entries() {
        let n = e.fields.len() / 2;
        let same = n == master.len() && e.fields.iter().step_by(2).zip(master).all(|(a, b)| a == b);
        let mut flags = if same { FLAG_SAMEFIELDS } else { 0 };
        if e.deleted {
            flags |= FLAG_DELETED;
        }
        lp.int(flags);
        // Deltas are unsigned differences read back as signed, as Redis stores them.
        lp.int(e.id.ms.wrapping_sub(node.master_id.ms) as i64);
        lp.int(e.id.seq.wrapping_sub(node.master_id.seq) as i64);
        if same {
            for v in e.fields.iter().skip(1).step_by(2) {
                lp.string(v);
            }
            lp.int(n as i64 + 3);
        } else {
            lp.int(n as i64);
            for f in e.fields {
                lp.string(f);
            }
            lp.int(2 * n as i64 + 4);
        }
    }
    lp.finish()
}

/// A cursor over a node's listpack elements.
struct Elements {
    items: std::vec::IntoIter<listpack::Entry>,
}

impl Elements {
    fn bytes(&mut self) -> Result<Vec<u8>, Error> {
        self.items.next().ok_or(Error::Format)
    }

    fn int(&mut self) -> Result<i64, Error> {
        shoal_proto::number::parse_i64(&self.bytes()?).ok_or(Error::Format)
    }

    fn count(&mut self) -> Result<usize, Error> {
        let n = usize::try_from(self.int()?).map_err(|_| Error::Format)?;
        // Each counted item is one more element, so a count past what is left is a lie.
        if n > self.items.len() {
            return Err(Error::Format);
        }
        Ok(n)
    }
}

type Entries = Vec<(StreamId, Vec<Sds>, bool)>;

/// Reads a node's listpack into its master fields and entries, checking every count.
fn parse_node(master_id: StreamId, blob: &[u8]) -> Result<(Vec<Sds>, Entries), Error> {
    let items = listpack::listpack(blob).ok_or(Error::Format)?;
    let mut e = Elements {
        items: items.into_iter(),
    };
    let live = e.int()?;
    let deleted = e.int()?;
    let nmaster = e.count()?;
    let mut master = Vec::with_capacity(nmaster);
    for _ in 0..nmaster {
        master.push(Sds::from_vec(e.bytes()?));
    }
    if e.int()? != 0 {
        return Err(Error::Format);
    }
    let mut entries = Vec::new();
    let (mut seen_live, mut seen_deleted) = (0i64, 0i64);
    while e.items.len() > 0 {
        let flags = e.int()?;
        if flags & !(FLAG_DELETED | FLAG_SAMEFIELDS) != 0 {
            return Err(Error::Format);
        }
        let ms = master_id.ms.wrapping_add(e.int()? as u64);
        let seq = master_id.seq.wrapping_add(e.int()? as u64);
        let mut fields = Vec::new();
        let n;
        if flags & FLAG_SAMEFIELDS != 0 {
            n = master.len();
            for f in &master {
                fields.push(f.clone());
                fields.push(Sds::from_vec(e.bytes()?));
            }
        } else {
            n = e.count()?;
            for _ in 0..2 * n {
                fields.push(Sds::from_vec(e.bytes()?));
            }
        }
        let lp_count = if flags & FLAG_SAMEFIELDS != 0 {
            n + 3
        } else {
            2 * n + 4
        };
        if usize::try_from(e.int()?) != Ok(lp_count) || n == 0 {
            return Err(Error::Format);
        }
        let tombstone = flags & FLAG_DELETED != 0;
        if tombstone {
            seen_deleted += 1;
        } else {
            seen_live += 1;
        }
        entries.push((StreamId::new(ms, seq), fields, tombstone));
    }
    if (live, deleted) != (seen_live, seen_deleted) {
        return Err(Error::Format);
    }
    Ok((master, entries))
}

/// Reads a stream of RDB type `ty` (v1 or v2).
pub fn load(r: &mut Reader<'_>, ty: u8) -> Result<Value, Error> {
    let v2 = ty == types::STREAM_LISTPACKS_2;
    let mut s = Stream::new();
    let nodes = r.count()?;
    for _ in 0..nodes {
        let master_id = parse_raw_id(&r.string()?)?;
        let (master, entries) = parse_node(master_id, &r.string()?)?;
        if entries.iter().all(|(_, _, deleted)| *deleted) {
            // Redis never writes a node without a live entry; one carries nothing.
            continue;
        }
        s.push_raw_node(master_id, master, entries)
            .map_err(|_| Error::Format)?;
    }
    if r.len_u64()? != s.len() {
        return Err(Error::Format);
    }
    s.last_id = r.id()?;
    if s.last_stored_id().is_some_and(|top| top > s.last_id) {
        return Err(Error::Format);
    }
    if v2 {
        s.first_id = r.id()?;
        s.max_deleted_id = r.id()?;
        s.entries_added = r.len_u64()?;
    } else {
        // Redis 7.0's migration: every entry counts as added, no tombstone is known, and
        // the first ID is the first live one (the largest ID when there is none).
        s.entries_added = s.len();
        s.first_id = s.edge_id(true).unwrap_or(StreamId::MAX);
    }
    let groups = r.count()?;
    for _ in 0..groups {
        let name = Sds::from_vec(r.string()?);
        let last_id = r.id()?;
        let entries_read = if v2 {
            Some(r.len_u64()?).filter(|&n| n != u64::MAX)
        } else {
            s.meta().estimate_distance(last_id)
        };
        let g = group(r, Group::new(last_id, entries_read))?;
        if s.groups.insert(name, g).is_some() {
            return Err(Error::Format);
        }
    }
    Ok(Value::Stream(Box::new(s)))
}

/// Reads a group's PEL and consumers into `g`; every pending entry must have an owner.
fn group(r: &mut Reader<'_>, mut g: Group) -> Result<Group, Error> {
    let pel = r.count()?;
    let mut unowned = std::collections::BTreeMap::new();
    for _ in 0..pel {
        let pending = parse_raw_id(r.take(16)?)?;
        let delivery_time = r.millis()?;
        let delivery_count = r.len_u64()?;
        if unowned
            .insert(pending, (delivery_time, delivery_count))
            .is_some()
        {
            return Err(Error::Format);
        }
    }
    let consumers = r.count()?;
    for _ in 0..consumers {
        let cname = Sds::from_vec(r.string()?);
        let seen_time = r.millis()?;
        let mut c = Consumer {
            seen_time,
            pel: Default::default(),
        };
        let owned = r.count()?;
        for _ in 0..owned {
            let pending = parse_raw_id(r.take(16)?)?;
            let (delivery_time, delivery_count) = unowned.remove(&pending).ok_or(Error::Format)?;
            g.pel.insert(
                pending,
                Nack {
                    consumer: cname.clone(),
                    delivery_time,
                    delivery_count,
                },
            );
            c.pel.insert(pending);
        }
        if g.consumers.insert(cname, c).is_some() {
            return Err(Error::Format);
        }
    }
    if !unowned.is_empty() {
        return Err(Error::Format);
    }
    Ok(g)
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
