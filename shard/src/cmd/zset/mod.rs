//! Sorted-set commands.
//!
//! # Layout
//! - this module: the command list and what the families share: key lookup, range
//!   bounds (`(1.5`, `[abc`, `+`, `-`) and the reply shapes of scored lists;
//! - [`write`]: ZADD, ZINCRBY, ZREM, ZREMRANGEBY*;
//! - [`read`]: ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZCOUNT, ZLEXCOUNT, ZSCAN;
//! - [`range`]: ZRANGE in all its forms and ZRANGESTORE;
//! - [`setops`]: ZUNION, ZINTER, ZDIFF (and their STORE forms), ZINTERCARD;
//! - [`pop`]: ZPOPMIN, ZPOPMAX, ZMPOP, ZRANDMEMBER, and the pop core that the blocking
//!   variants share;
//! - [`blocking`]: BZPOPMIN, BZPOPMAX and BZMPOP.

pub mod blocking;
pub mod pop;
pub mod range;
pub mod read;
pub mod setops;
pub mod write;

#[cfg(test)]
mod script_tests;

use bytes::Bytes;
use shoal_proto::Reply;

use super::{err, CmdError, Handler};
use crate::db::zset::{Limits, ZSet};
use crate::db::{Db, Sds, Value};
use crate::notify;

pub static COMMANDS: &[(&str, Handler)] = &[
    ("zadd", write::zadd),
    ("zincrby", write::zincrby),
    ("zrem", write::zrem),
    ("zremrangebyrank", write::zremrangebyrank),
    ("zremrangebyscore", write::zremrangebyscore),
    ("zremrangebylex", write::zremrangebylex),
    ("zcard", read::zcard),
    ("zscore", read::zscore),
    ("zmscore", read::zmscore),
    ("zrank", read::zrank),
    ("zrevrank", read::zrevrank),
    ("zcount", read::zcount),
    ("zlexcount", read::zlexcount),
    ("zscan", read::zscan),
    ("zrange", range::zrange),
    ("zrangestore", range::zrangestore),
    ("zrangebyscore", range::zrangebyscore),
    ("zrevrangebyscore", range::zrevrangebyscore),
    ("zrangebylex", range::zrangebylex),
    ("zrevrangebylex", range::zrevrangebylex),
    ("zrevrange", range::zrevrange),
    ("zunion", setops::zunion),
    ("zinter", setops::zinter),
    ("zdiff", setops::zdiff),
    ("zunionstore", setops::zunionstore),
    ("zinterstore", setops::zinterstore),
    ("zdiffstore", setops::zdiffstore),
    ("zintercard", setops::zintercard),
    ("zpopmin", pop::zpopmin),
    ("zpopmax", pop::zpopmax),
    ("zmpop", pop::zmpop),
    ("zrandmember", pop::zrandmember),
    ("bzpopmin", blocking::bzpopmin),
    ("bzpopmax", blocking::bzpopmax),
    ("bzmpop", blocking::bzmpop),
];

const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

/// The conversion thresholds currently configured.
pub fn limits(db_config: &crate::config::ShardConfig) -> Limits {
    Limits {
        entries: usize::try_from(db_config.zset_max_listpack_entries).unwrap_or(usize::MAX),
        value: usize::try_from(db_config.zset_max_listpack_value).unwrap_or(usize::MAX),
    }
}

/// The sorted set at `key` for reading, None when missing, or WRONGTYPE.
pub fn lookup<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a ZSet>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// Runs `f` on the sorted set at `key`. A missing key gets `create` (or `f` does not run
/// when it is None); the key is stored only if the set ends non-empty, and a set that
/// `f` empties is deleted, since Redis never keeps an empty sorted set.
pub fn modify<R>(
    db: &mut Db,
    key: &[u8],
    now: i64,
    create: Option<ZSet>,
    f: impl FnOnce(&mut ZSet) -> R,
) -> Result<Option<R>, CmdError> {
    match db.get_mut(key, now) {
        Some(Value::ZSet(z)) => {
            let r = f(z);
            let empty = z.is_empty();
            if empty {
                db.remove(key);
            }
            Ok(Some(r))
        }
        Some(_) => Err(err::WRONGTYPE.into()),
        None => match create {
            None => Ok(None),
            Some(mut z) => {
                let r = f(&mut z);
                if !z.is_empty() {
                    db.insert_new(key, Value::ZSet(Box::new(z)));
                }
                Ok(Some(r))
            }
        },
    }
}

/// A score interval as ZRANGEBYSCORE reads it: `(` makes an end exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub minex: bool,
    pub max: f64,
    pub maxex: bool,
}

/// A score bound parsed like C's `strtod`: leading blanks are skipped and an empty text
/// reads as 0, which is what Redis accepts; NaN is refused.
fn parse_bound_score(s: &[u8]) -> Option<f64> {
    let start = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let s = &s[start..];
    if s.is_empty() {
        return Some(0.0);
    }
    shoal_proto::number::parse_f64(s)
}

fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    match arg.first() {
        Some(b'(') => parse_bound_score(&arg[1..]).map(|v| (v, true)),
        _ => parse_bound_score(arg).map(|v| (v, false)),
    }
}

impl ScoreRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        let bad = || CmdError::Static(NOT_FLOAT_RANGE);
        let (min, minex) = parse_score_bound(min).ok_or_else(bad)?;
        let (max, maxex) = parse_score_bound(max).ok_or_else(bad)?;
        Ok(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }

    /// The ascending ranks `start..end` of the entries inside the interval.
    pub fn span(&self, z: &ZSet) -> (usize, usize) {
        let start = z.count_prefix(|s, _| {
            if self.minex {
                s <= self.min
            } else {
                s < self.min
            }
        });
        let end = z.count_prefix(|s, _| {
            if self.maxex {
                s < self.max
            } else {
                s <= self.max
            }
        });
        (start, end.max(start))
    }
}

/// One end of a lexicographic interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below every string.
    Min,
    /// `+`: above every string.
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl LexBound {
    fn parse(arg: &[u8]) -> Option<LexBound> {
        match arg.first()? {
            b'+' if arg.len() == 1 => Some(LexBound::Max),
            b'-' if arg.len() == 1 => Some(LexBound::Min),
            b'(' => Some(LexBound::Excl(arg[1..].to_vec())),
            b'[' => Some(LexBound::Incl(arg[1..].to_vec())),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
        let bad = || CmdError::Static(NOT_LEX_RANGE);
        Ok(LexRange {
            min: LexBound::parse(min).ok_or_else(bad)?,
            max: LexBound::parse(max).ok_or_else(bad)?,
        })
    }

    /// The ascending ranks `start..end` of the members inside the interval. Like Redis,
    /// this assumes every member has the same score.
    pub fn span(&self, z: &ZSet) -> (usize, usize) {
        let start = z.count_prefix(|_, m| match &self.min {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(x) => m < x.as_slice(),
            LexBound::Excl(x) => m <= x.as_slice(),
        });
        let end = z.count_prefix(|_, m| match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(x) => m <= x.as_slice(),
            LexBound::Excl(x) => m < x.as_slice(),
        });
        (start, end.max(start))
    }
}

/// A list of members, with their scores when asked: one flat array in RESP2, and
/// [member, score] pairs in RESP3 (an array, not a map, so clients keep the order).
pub fn reply_scored(out: &mut Reply, entries: &[(f64, Sds)], withscores: bool) {
    if withscores && !out.is_resp3() {
        out.array(entries.len() * 2);
    } else {
        out.array(entries.len());
    }
    for (s, m) in entries {
        if withscores && out.is_resp3() {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(*s);
        }
    }
}

/// The longest member among `entries`, to size a stored result.
pub fn max_member_len(entries: &[(f64, Sds)]) -> usize {
    entries.iter().map(|(_, m)| m.len()).max().unwrap_or(0)
}

/// Stores `entries` (sorted, distinct) as the sorted set at `dst`, or deletes `dst` when
/// there are none, and replies with the count, as the store commands do.
pub fn store_result(
    ctx: &mut super::Ctx<'_>,
    dst: &Bytes,
    entries: Vec<(f64, Sds)>,
) -> super::CmdResult {
    let n = entries.len();
    if n == 0 {
        let now = ctx.now;
        if ctx.srv.db.contains(dst, now) && ctx.srv.db.remove(dst).is_some() {
            ctx.srv.dirty += 1;
            notify::notify(ctx.srv, notify::GENERIC, "del", dst);
        }
        ctx.out.int(0);
        return Ok(());
    }
    let limits = limits(&ctx.srv.config);
    let mut z = ZSet::for_size(n, max_member_len(&entries), limits);
    for (s, m) in entries {
        z.insert(s, &m, limits);
    }
    ctx.srv.db.set(dst, Value::ZSet(Box::new(z)), false);
    ctx.srv.dirty += 1;
    // The event is the command's name: zrangestore, zunionstore, zinterstore or zdiffstore.
    notify::notify(ctx.srv, notify::ZSET, ctx.spec.name, dst);
    ctx.out.int(n as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zset(entries: &[(f64, &str)], limits: Limits) -> ZSet {
        let mut z = ZSet::for_first(1, limits);
        for (s, m) in entries {
            z.insert(*s, m.as_bytes(), limits);
        }
        z
    }

    #[test]
    fn score_ranges_parse_like_redis() {
        let r = ScoreRange::parse(b"(1.5", b"+inf").unwrap();
        assert_eq!(
            (r.min, r.minex, r.max, r.maxex),
            (1.5, true, f64::INFINITY, false)
        );
        let r = ScoreRange::parse(b"-inf", b"(3").unwrap();
        assert_eq!((r.min, r.maxex), (f64::NEG_INFINITY, true));
        assert!(ScoreRange::parse(b"1", b"nan").is_err());
        assert!(ScoreRange::parse(b"str", b"1").is_err());
        assert!(ScoreRange::parse(b"(", b"1").is_ok());
        assert_eq!(
            ScoreRange::parse(b"1", b"x").unwrap_err().text(),
            "ERR min or max is not a float"
        );
    }

    #[test]
    fn score_spans() {
        for limits in [
            Limits::default(),
            Limits {
                entries: 0,
                value: 0,
            },
        ] {
            let z = zset(&[(1.0, "a"), (2.0, "b"), (2.0, "c"), (3.0, "d")], limits);
            let span = |a: &str, b: &str| {
                ScoreRange::parse(a.as_bytes(), b.as_bytes())
                    .unwrap()
                    .span(&z)
            };
            assert_eq!(span("2", "2"), (1, 3));
            assert_eq!(span("(2", "3"), (3, 4));
            assert_eq!(span("-inf", "(2"), (0, 1));
            assert_eq!(span("3", "1"), (3, 3));
            assert_eq!(span("(1", "(2"), (1, 1));
        }
    }

    #[test]
    fn lex_ranges() {
        assert!(LexRange::parse(b"foo", b"[bar").is_err());
        assert!(LexRange::parse(b"+x", b"[bar").is_err());
        assert_eq!(
            LexRange::parse(b"-", b"(b").unwrap(),
            LexRange {
                min: LexBound::Min,
                max: LexBound::Excl(b"b".to_vec())
            }
        );
        for limits in [
            Limits::default(),
            Limits {
                entries: 0,
                value: 0,
            },
        ] {
            let z = zset(&[(0.0, "a"), (0.0, "b"), (0.0, "c"), (0.0, "d")], limits);
            let span = |a: &str, b: &str| {
                LexRange::parse(a.as_bytes(), b.as_bytes())
                    .unwrap()
                    .span(&z)
            };
            assert_eq!(span("-", "+"), (0, 4));
            assert_eq!(span("[b", "(d"), (1, 3));
            assert_eq!(span("(b", "[d"), (2, 4));
            assert_eq!(span("+", "-"), (4, 4));
            assert_eq!(span("[c", "[a"), (2, 2));
        }
    }

    #[test]
    fn scored_replies() {
        let entries = vec![(1.5, Sds::new(b"a"))];
        let mut out = Reply::new(shoal_proto::Protocol::Resp2);
        reply_scored(&mut out, &entries, true);
        assert_eq!(&out.buf[..], b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n");
        let mut out = Reply::new(shoal_proto::Protocol::Resp3);
        reply_scored(&mut out, &entries, true);
        assert_eq!(&out.buf[..], b"*1\r\n*2\r\n$1\r\na\r\n,1.5\r\n");
    }
}
