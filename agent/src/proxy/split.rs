//! Multi-key commands split by shard: MGET, MSET, DEL, UNLINK, EXISTS and TOUCH send each
//! shard the keys it owns, in their original order, and the replies are merged into the
//! one reply a single Redis would have sent. MSETNX must be all-or-nothing, which shards
//! cannot promise together, so it runs only when one shard owns every key.
//!
//! Everything here is pure: a [`Plan`] is the per-shard request frames plus a [`Merger`],
//! and the merger turns the raw reply frames (in plan order) into the client's reply.

use bytes::Bytes;
use shoal_proto::reply_value::{self, Value};
use shoal_proto::{Protocol, SlotMap};

use super::fanout::{InfoMerge, ScanStep};
use super::route::CROSSSLOT;

/// What the proxy does with one command.
#[derive(Debug)]
pub enum Route {
    /// Forward the original request frame, unchanged, to this shard.
    Shard(usize),
    /// Send each part to its shard, then merge the replies.
    Plan(Plan),
    /// Answer at once with these bytes; no shard is asked.
    Reply(Vec<u8>),
}

/// Per-shard sub-requests and how to merge their replies.
#[derive(Debug)]
pub struct Plan {
    pub parts: Vec<Part>,
    pub merger: Merger,
}

/// One sub-request: a complete RESP multibulk frame for `shard`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub shard: usize,
    pub frame: Vec<u8>,
}

/// How the replies to a plan's parts become one reply.
#[derive(Debug)]
pub enum Merger {
    /// MGET: `order[i]` is (part, index in that part's array) of the i-th requested key.
    Mget { order: Vec<(u32, u32)> },
    /// The first part's reply, unless a part failed (MSET, FLUSHALL, SCRIPT LOAD …).
    First,
    /// The sum of the parts' integers (DEL, EXISTS, DBSIZE …).
    Sum,
    /// The largest of the parts' integers (LASTSAVE).
    Max,
    /// The parts' arrays concatenated (KEYS).
    Concat,
    /// One SCAN step on one shard; the shard's cursor is turned back into a proxy cursor.
    Scan(ScanStep),
    /// One of the parts' non-null replies, chosen by `pick` (RANDOMKEY).
    Random { pick: u64 },
    /// Per-position AND of integer arrays (SCRIPT EXISTS).
    AndInts,
    /// SLOWLOG GET: entries of every shard, newest first, at most `count` (all if < 0).
    Slowlog { count: i64 },
    /// INFO: fields summed across shards, overridable by the proxy.
    Info(InfoMerge),
    /// SCRIPT KILL: a script runs on at most one shard, so one `+OK` means it was
    /// killed; otherwise `-UNKILLABLE` beats `-NOTBUSY`, as that shard's answer is the news.
    AnyOk,
}

/// The reply when a shard's reply cannot be decoded or has the wrong shape.
pub const BAD_REPLY: &[u8] = b"-ERR unexpected reply from a shard\r\n";

impl Merger {
    /// Merges the raw reply frames, one per part and in plan order, into the bytes to send
    /// to the client. A part's error reply is the answer (the first one in plan order).
    pub fn merge(&self, replies: &[&[u8]], proto: Protocol) -> Vec<u8> {
        let mut values = Vec::with_capacity(replies.len());
        for r in replies {
            match reply_value::decode(r) {
                Ok(Some((v, _))) => values.push(v),
                _ => return BAD_REPLY.to_vec(),
            }
        }
        if matches!(self, Merger::AnyOk) {
            if let Some(i) = values.iter().position(|v| !v.is_error()) {
                return replies[i].to_vec();
            }
            let busy = replies.iter().find(|r| !r.starts_with(b"-NOTBUSY"));
            return busy
                .or(replies.first())
                .map_or(BAD_REPLY.to_vec(), |r| r.to_vec());
        }
        if let Some(err) = values.iter().find(|v| v.is_error()) {
            return err.to_bytes();
        }
        if values.is_empty() {
            return BAD_REPLY.to_vec();
        }
        self.merge_values(&values, replies, proto)
            .unwrap_or_else(|| BAD_REPLY.to_vec())
    }

    fn merge_values(
        &self,
        values: &[Value<'_>],
        raw: &[&[u8]],
        proto: Protocol,
    ) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            Merger::Mget { order } => {
                let parts: Vec<&[Value<'_>]> =
                    values.iter().map(Value::items).collect::<Option<_>>()?;
                header(&mut out, b'*', order.len() as i64);
                for &(p, i) in order {
                    parts.get(p as usize)?.get(i as usize)?.encode(&mut out);
                }
            }
            Merger::First | Merger::AnyOk => out.extend_from_slice(raw.first()?),
            Merger::Sum | Merger::Max => {
                let mut ints = values.iter().map(|v| match v {
                    Value::Int(n) => Some(*n),
                    _ => None,
                });
                let n = if matches!(self, Merger::Sum) {
                    ints.try_fold(0i64, |acc, n| acc.checked_add(n?))?
                } else {
                    ints.collect::<Option<Vec<i64>>>()?.into_iter().max()?
                };
                header(&mut out, b':', n);
            }
            Merger::Concat => {
                let parts: Vec<&[Value<'_>]> =
                    values.iter().map(Value::items).collect::<Option<_>>()?;
                header(
                    &mut out,
                    b'*',
                    parts.iter().map(|p| p.len()).sum::<usize>() as i64,
                );
                for v in parts.iter().flat_map(|p| p.iter()) {
                    v.encode(&mut out);
                }
            }
            Merger::Scan(step) => return step.merge(values.first()?),
            Merger::Random { pick } => {
                let found: Vec<usize> = (0..values.len())
                    .filter(|&i| !values[i].is_null())
                    .collect();
                let i = match found.len() {
                    0 => 0,
                    n => found[(*pick % n as u64) as usize],
                };
                out.extend_from_slice(raw.get(i)?);
            }
            Merger::AndInts => {
                let parts: Vec<&[Value<'_>]> =
                    values.iter().map(Value::items).collect::<Option<_>>()?;
                let len = parts.first()?.len();
                header(&mut out, b'*', len as i64);
                for i in 0..len {
                    let mut all = true;
                    for p in &parts {
                        all &= matches!(p.get(i)?, Value::Int(n) if *n != 0);
                    }
                    header(&mut out, b':', all as i64);
                }
            }
            Merger::Slowlog { count } => {
                let mut entries: Vec<&Value<'_>> = Vec::new();
                for v in values {
                    entries.extend(v.items()?);
                }
                // Newest first, as each shard's log is: by time, then by id.
                let key = |e: &Value<'_>| {
                    let f = e.items().unwrap_or_default();
                    let int = |i: usize| match f.get(i) {
                        Some(Value::Int(n)) => *n,
                        _ => 0,
                    };
                    (int(1), int(0))
                };
                entries.sort_by_key(|e| std::cmp::Reverse(key(e)));
                if let Ok(n) = usize::try_from(*count) {
                    entries.truncate(n);
                }
                header(&mut out, b'*', entries.len() as i64);
                for e in entries {
                    e.encode(&mut out);
                }
            }
            Merger::Info(info) => return info.merge(values, proto),
        }
        Some(out)
    }
}

pub(super) fn header(out: &mut Vec<u8>, prefix: u8, n: i64) {
    out.push(prefix);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A multibulk request frame of `args`.
pub fn frame<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let args: Vec<&[u8]> = args.into_iter().collect();
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    header(&mut out, b'*', args.len() as i64);
    for a in args {
        header(&mut out, b'$', a.len() as i64);
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The split commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mget,
    Mset,
    Msetnx,
    Count,
}

fn kind(name: &[u8]) -> Option<Kind> {
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    if is("mget") {
        Some(Kind::Mget)
    } else if is("mset") {
        Some(Kind::Mset)
    } else if is("msetnx") {
        Some(Kind::Msetnx)
    } else if is("del") || is("unlink") || is("exists") || is("touch") {
        Some(Kind::Count)
    } else {
        None
    }
}

/// Plans a split command, or `None` when `args` is not one. `args[0]` is the command name.
/// Arguments a shard would refuse (wrong arity) go to one shard unchanged, so the client
/// gets that shard's error text.
pub fn plan(args: &[Bytes], map: &SlotMap) -> Option<Route> {
    let kind = kind(args.first()?)?;
    let step = if matches!(kind, Kind::Mset | Kind::Msetnx) {
        2
    } else {
        1
    };
    let valid = args.len() > step && (args.len() - 1).is_multiple_of(step);
    if !valid || map.shards() == 1 {
        return Some(Route::Shard(0));
    }
    // Each key's owner, one entry per key (per key/value pair for MSET).
    let owners: Vec<usize> = args[1..]
        .chunks(step)
        .map(|c| map.key_owner(&c[0]))
        .collect();
    let first = owners[0];
    if owners.iter().all(|&o| o == first) {
        return Some(Route::Shard(first));
    }
    if kind == Kind::Msetnx {
        return Some(Route::Reply(CROSSSLOT.to_vec()));
    }
    // Shards in order of first appearance, so the plan is deterministic.
    let mut shards: Vec<usize> = Vec::new();
    let mut order = Vec::with_capacity(owners.len());
    let mut counts: Vec<u32> = Vec::new();
    for &o in &owners {
        let p = match shards.iter().position(|&s| s == o) {
            Some(p) => p,
            None => {
                shards.push(o);
                counts.push(0);
                shards.len() - 1
            }
        };
        order.push((p as u32, counts[p]));
        counts[p] += 1;
    }
    let parts = shards
        .iter()
        .map(|&s| {
            let chunks = args[1..]
                .chunks(step)
                .zip(&owners)
                .filter(|(_, &o)| o == s)
                .flat_map(|(c, _)| c.iter().map(|a| &a[..]));
            Part {
                shard: s,
                frame: frame(std::iter::once(&args[0][..]).chain(chunks)),
            }
        })
        .collect();
    let merger = match kind {
        Kind::Mget => Merger::Mget { order },
        Kind::Mset | Kind::Msetnx => Merger::First,
        Kind::Count => Merger::Sum,
    };
    Some(Route::Plan(Plan { parts, merger }))
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
