//! ZRANGE in all its forms (by rank, score or member; forward or reversed; with LIMIT and
//! WITHSCORES), the older ZRANGEBY*/ZREV* commands it subsumes, and ZRANGESTORE.

use bytes::Bytes;

use super::write::rank_span;
use super::{lookup, reply_scored, store_result, LexRange, ScoreRange};
use crate::cmd::{args, err, CmdResult, Ctx};
use crate::db::zset::{compact_score, Limits, ZSet};
use crate::db::Sds;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rank,
    Score,
    Lex,
}

/// ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub fn zrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, 1, None, None, None)
}

/// ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, 2, Some(&argv[1]), None, None)
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
pub fn zrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, 1, None, Some(Kind::Score), Some(false))
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
pub fn zrevrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, 1, None, Some(Kind::Score), Some(true))
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub fn zrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, 1, None, Some(Kind::Lex), Some(false))
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub fn zrevrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, 1, None, Some(Kind::Lex), Some(true))
}

/// ZREVRANGE key start stop [WITHSCORES]
pub fn zrevrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, 1, None, Some(Kind::Rank), Some(true))
}

/// The parsed range itself.
enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// The shared body of every range command. `src` is the index of the source key;
/// `kind`/`rev` are fixed by the older commands and left open (None) by ZRANGE and
/// ZRANGESTORE, whose options then choose them.
fn generic(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    src: usize,
    store: Option<&Bytes>,
    kind: Option<Kind>,
    rev: Option<bool>,
) -> CmdResult {
    let fixed_kind = kind.is_some();
    let fixed_dir = rev.is_some();
    let mut kind = kind;
    let mut rev = rev.unwrap_or(false);
    let mut withscores = false;
    let mut offset = 0i64;
    let mut limit = -1i64;
    let mut j = src + 3;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j];
        if store.is_none() && args::is(a, "withscores") {
            withscores = true;
        } else if args::is(a, "limit") && left >= 2 {
            offset = args::int(&argv[j + 1])?;
            limit = args::int(&argv[j + 2])?;
            j += 2;
        } else if !fixed_dir && !rev && args::is(a, "rev") {
            rev = true;
        } else if !fixed_kind && kind.is_none() && args::is(a, "bylex") {
            kind = Some(Kind::Lex);
        } else if !fixed_kind && kind.is_none() && args::is(a, "byscore") {
            kind = Some(Kind::Score);
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    let kind = kind.unwrap_or(Kind::Rank);
    if limit != -1 && kind == Kind::Rank {
        return Err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
                .into(),
        );
    }
    if withscores && kind == Kind::Lex {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX".into());
    }
    // Reversed score and member ranges are written max first.
    let (lo, hi) = if rev && kind != Kind::Rank {
        (&argv[src + 2], &argv[src + 1])
    } else {
        (&argv[src + 1], &argv[src + 2])
    };
    let bounds = match kind {
        Kind::Rank => Bounds::Rank(args::int(lo)?, args::int(hi)?),
        Kind::Score => Bounds::Score(ScoreRange::parse(lo, hi)?),
        Kind::Lex => Bounds::Lex(LexRange::parse(lo, hi)?),
    };
    let now = ctx.now;
    let mut entries = match lookup(&mut ctx.srv.db, &argv[src], now)? {
        None => Vec::new(),
        Some(z) => select(z, &bounds, rev, offset, limit),
    };
    match store {
        Some(dst) => {
            let limits = super::limits(&ctx.srv.config);
            as_built_by_redis(&mut entries, kind == Kind::Rank, limits);
            store_result(ctx, dst, entries)
        }
        None => {
            reply_scored(ctx.out, &entries, withscores);
            Ok(())
        }
    }
}

/// ZRANGESTORE's destination starts compact unless its size is known to be too big (a
/// rank range), and is converted when an entry (in reply order) no longer fits. The
/// entries added before that went through the compact form, which keeps -0 as 0, so
/// their scores are stored the same way.
fn as_built_by_redis(entries: &mut [(f64, Sds)], size_known: bool, limits: Limits) {
    if size_known && entries.len() > limits.entries {
        return;
    }
    for (i, (score, member)) in entries.iter_mut().enumerate() {
        if i + 1 > limits.entries || member.len() > limits.value {
            return;
        }
        *score = compact_score(*score);
    }
}

/// The entries a range selects, in reply order.
fn select(z: &ZSet, bounds: &Bounds, rev: bool, offset: i64, limit: i64) -> Vec<(f64, Sds)> {
    let len = z.len();
    let (a, b) = match bounds {
        Bounds::Rank(start, end) => {
            // Rank ranges count from the top when reversed, and take no LIMIT.
            let (a, b) = rank_span(len, *start, *end);
            return z.collect_range(a, b, rev);
        }
        Bounds::Score(r) => r.span(z),
        Bounds::Lex(r) => r.span(z),
    };
    // A negative offset selects nothing and a negative count means "all", as in Redis.
    let Ok(offset) = usize::try_from(offset) else {
        return Vec::new();
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rev {
        let start = (len - b).saturating_add(offset);
        let end = start.saturating_add(limit).min(len - a);
        z.collect_range(start, end, true)
    } else {
        let start = a.saturating_add(offset);
        let end = start.saturating_add(limit).min(b);
        z.collect_range(start, end, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::zset::Limits;

    fn names(v: Vec<(f64, Sds)>) -> Vec<String> {
        v.into_iter()
            .map(|(_, m)| String::from_utf8_lossy(&m).into_owned())
            .collect()
    }

    #[test]
    fn limits_and_directions() {
        for limits in [
            Limits::default(),
            Limits {
                entries: 0,
                value: 0,
            },
        ] {
            let mut z = ZSet::for_first(1, limits);
            for (i, m) in ["a", "b", "c", "d", "e"].iter().enumerate() {
                z.insert(i as f64, m.as_bytes(), limits);
            }
            let score = |lo: &str, hi: &str| {
                Bounds::Score(ScoreRange::parse(lo.as_bytes(), hi.as_bytes()).unwrap())
            };
            assert_eq!(names(select(&z, &score("1", "3"), false, 1, 5)), ["c", "d"]);
            assert_eq!(names(select(&z, &score("1", "3"), true, 0, 2)), ["d", "c"]);
            assert_eq!(
                names(select(&z, &score("-inf", "+inf"), true, 3, -1)),
                ["b", "a"]
            );
            assert!(select(&z, &score("0", "4"), false, -1, 2).is_empty());
            assert!(select(&z, &score("0", "4"), false, 0, 0).is_empty());
            assert_eq!(
                names(select(&z, &Bounds::Rank(0, 1), true, 0, -1)),
                ["e", "d"]
            );
            let lex = Bounds::Lex(LexRange::parse(b"(a", b"[c").unwrap());
            assert_eq!(names(select(&z, &lex, false, 0, -1)), ["b", "c"]);
        }
    }

    #[test]
    fn a_stored_range_keeps_negative_zero_only_past_the_compact_part() {
        let limits = Limits {
            entries: 2,
            value: 64,
        };
        let zeros = |n: usize| -> Vec<(f64, Sds)> {
            (0..n)
                .map(|i| (-0.0, Sds::new(format!("m{i}").as_bytes())))
                .collect()
        };
        let negative = |v: &[(f64, Sds)]| -> Vec<bool> {
            v.iter().map(|(s, _)| s.is_sign_negative()).collect()
        };
        // Unknown size (BYSCORE, BYLEX): the first two were added while compact.
        let mut v = zeros(4);
        as_built_by_redis(&mut v, false, limits);
        assert_eq!(negative(&v), [false, false, true, true]);
        // A known size too big for the compact form: never compact.
        let mut v = zeros(4);
        as_built_by_redis(&mut v, true, limits);
        assert_eq!(negative(&v), [true, true, true, true]);
        // A long member converts the set where it comes.
        let mut v = zeros(2);
        v[1].1 = Sds::new(&[b'x'; 65]);
        as_built_by_redis(&mut v, true, limits);
        assert_eq!(negative(&v), [false, true]);
    }
}
