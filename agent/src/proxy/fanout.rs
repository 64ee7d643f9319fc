//! Commands about the whole keyspace or every shard's server state, sent to every shard
//! (DBSIZE, KEYS, FLUSHALL, INFO, CONFIG SET, SCRIPT LOAD …) and merged; and SCAN, which
//! walks the shards one after another with the shard's index in the cursor.
//!
//! Same shape as [`super::split`]: pure planning into a [`Route`], merging in [`Merger`].

use bytes::Bytes;
use shoal_proto::reply_value::Value;
use shoal_proto::SlotMap;

pub use super::info_merge::InfoMerge;
use super::split::{frame, header, Merger, Part, Plan, Route};

/// A proxy SCAN cursor is `shard << SCAN_SHIFT | shard cursor`. The shard index sits
/// in the high bits so a scan of shard 0 shows the shard's own cursors, and 16384 shards
/// (15 bits) keep the cursor below 2^63 for clients that parse it as a signed integer.
pub const SCAN_SHIFT: u32 = 48;
const SCAN_LOW: u64 = (1 << SCAN_SHIFT) - 1;

/// The finished scan: cursor 0 and no keys.
const SCAN_DONE: &[u8] = b"*2\r\n$1\r\n0\r\n*0\r\n";

/// Plans a fan-out command, or `None` when `args` is not one. `args[0]` is the command
/// name. `seed` is any random number; RANDOMKEY uses it to pick a shard.
pub fn plan(args: &[Bytes], map: &SlotMap, seed: u64) -> Option<Route> {
    let name = args.first()?;
    let sub = args.get(1).map(|s| s.to_ascii_lowercase());
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    let sub_is = |s: &str| sub.as_deref() == Some(s.as_bytes());
    let merger = if is("dbsize") {
        Merger::Sum
    } else if is("keys") {
        Merger::Concat
    } else if is("scan") {
        return Some(scan(args, map));
    } else if is("randomkey") {
        Merger::Random { pick: seed }
    } else if is("flushdb") || is("flushall") || is("save") || is("bgsave") || is("bgrewriteaof") {
        Merger::First
    } else if is("lastsave") {
        Merger::Max
    } else if is("info") {
        // Even with one shard, so the proxy can put its own client counts in.
        return Some(to_all(args, map, Merger::Info(InfoMerge::default())));
    } else if is("config") {
        if sub_is("get") {
            return Some(Route::Shard(0));
        } else if sub_is("set") || sub_is("resetstat") || sub_is("rewrite") {
            Merger::First
        } else {
            return None;
        }
    } else if is("script") {
        if sub_is("load") || sub_is("flush") {
            Merger::First
        } else if sub_is("exists") {
            Merger::AndInts
        } else if sub_is("kill") {
            Merger::AnyOk
        } else {
            return None;
        }
    } else if is("slowlog") {
        if sub_is("len") {
            Merger::Sum
        } else if sub_is("reset") {
            Merger::First
        } else if sub_is("get") {
            let count = match args.get(2) {
                None => 10,
                Some(a) => match shoal_proto::number::parse_i64(a) {
                    // The shard reports the bad count.
                    Some(n) if n >= -1 => n,
                    _ => return Some(Route::Shard(0)),
                },
            };
            Merger::Slowlog { count }
        } else {
            return None;
        }
    } else if is("latency") && sub_is("reset") {
        Merger::Sum
    } else {
        return None;
    };
    if map.shards() == 1 {
        return Some(Route::Shard(0));
    }
    Some(to_all(args, map, merger))
}

/// The request, unchanged, to every shard.
fn to_all(args: &[Bytes], map: &SlotMap, merger: Merger) -> Route {
    let f = frame(args.iter().map(|a| &a[..]));
    let parts = (0..map.shards())
        .map(|shard| Part {
            shard,
            frame: f.clone(),
        })
        .collect();
    Route::Plan(Plan { parts, merger })
}

/// Reads a cursor as `strtoul` does (and the shard does): optional sign, decimal digits,
/// negatives wrapping, empty meaning 0.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        return if arg.is_empty() { Some(0) } else { None };
    }
    let mut n: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { n.wrapping_neg() } else { n })
}

fn scan(args: &[Bytes], map: &SlotMap) -> Route {
    let n = map.shards();
    // One shard: its cursors are the client's, exactly as on a single Redis.
    if n == 1 {
        return Route::Shard(0);
    }
    let Some(cursor) = args.get(1).and_then(|c| parse_cursor(c)) else {
        // Missing or malformed: the shard answers with Redis's error.
        return Route::Shard(0);
    };
    let shard = (cursor >> SCAN_SHIFT) as usize;
    if shard >= n {
        return Route::Reply(SCAN_DONE.to_vec());
    }
    let low = cursor & SCAN_LOW;
    let shard_cursor = low.to_string();
    let items = args.iter().enumerate().map(|(i, a)| {
        if i == 1 {
            shard_cursor.as_bytes()
        } else {
            &a[..]
        }
    });
    Route::Plan(Plan {
        parts: vec![Part {
            shard,
            frame: frame(items),
        }],
        merger: Merger::Scan(ScanStep { shard, shards: n }),
    })
}

/// One SCAN step: which shard was asked, out of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanStep {
    pub shard: usize,
    pub shards: usize,
}

impl ScanStep {
    /// The shard's `[cursor, keys]` with the cursor made a proxy cursor: the same shard
    /// while it has more, the next shard's start when it is done, 0 after the last.
    pub(super) fn merge(&self, reply: &Value<'_>) -> Option<Vec<u8>> {
        let [cursor, keys] = reply.items()? else {
            return None;
        };
        let c = parse_cursor(cursor.as_bytes()?)?;
        if c > SCAN_LOW {
            return None;
        }
        let next = if c != 0 {
            ((self.shard as u64) << SCAN_SHIFT) | c
        } else if self.shard + 1 < self.shards {
            ((self.shard + 1) as u64) << SCAN_SHIFT
        } else {
            0
        };
        let text = next.to_string();
        let mut out = b"*2\r\n".to_vec();
        header(&mut out, b'$', text.len() as i64);
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\r\n");
        keys.encode(&mut out);
        Some(out)
    }
}

#[cfg(test)]
#[path = "fanout_tests.rs"]
mod tests;
