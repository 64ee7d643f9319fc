//! ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD. Inputs may be sorted sets
//! or plain sets, whose members count with score 1.0.

use std::collections::HashSet;

use ahash::RandomState;
use bytes::Bytes;
use indexmap::IndexMap;

use super::{reply_scored, store_result};
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};
use crate::db::set::Set;
use crate::db::zset::tree::cmp_entry;
use crate::db::zset::ZSet;
use crate::db::{Sds, Value};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, target: &mut f64, val: f64) {
        match self {
            Aggregate::Sum => {
                *target += val;
                // inf + -inf is NaN; the convention is 0.
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if val < *target {
                    *target = val;
                }
            }
            Aggregate::Max => {
                if val > *target {
                    *target = val;
                }
            }
        }
    }
}

/// The members of a plain set, each of which takes part with score 1.0.
fn set_members(set: &Set) -> Vec<Sds> {
    set.iter().map(|m| m.to_sds()).collect()
}

enum Src<'a> {
    Missing,
    Z(&'a ZSet),
    Set(HashSet<Sds>, Vec<Sds>),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::Set(_, v) => v.len(),
        }
    }

    fn find(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Z(z) => z.score(m),
            Src::Set(s, _) => s.contains(m).then_some(1.0),
        }
    }

    fn entries(&self) -> Vec<(f64, Sds)> {
        match self {
            Src::Missing => Vec::new(),
            Src::Z(z) => z.collect_range(0, z.len(), false),
            Src::Set(_, v) => v.iter().map(|m| (1.0, m.clone())).collect(),
        }
    }
}

/// ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zunion(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, None, 1, Op::Union, false)
}

/// ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zinter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, None, 1, Op::Inter, false)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
pub fn zdiff(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, None, 1, Op::Diff, false)
}

/// ZUNIONSTORE dst numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]
pub fn zunionstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, Some(&argv[1]), 2, Op::Union, false)
}

/// ZINTERSTORE dst numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]
pub fn zinterstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, Some(&argv[1]), 2, Op::Inter, false)
}

/// ZDIFFSTORE dst numkeys key [key ...]
pub fn zdiffstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, Some(&argv[1]), 2, Op::Diff, false)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn zintercard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, None, 1, Op::Inter, true)
}

fn generic(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    dst: Option<&Bytes>,
    numkeys_idx: usize,
    op: Op,
    card_only: bool,
) -> CmdResult {
    let numkeys = args::int(&argv[numkeys_idx])?;
    if numkeys < 1 {
        return Err(CmdError::Owned(format!(
            "ERR at least 1 input key is needed for '{}' command",
            ctx.spec.name
        )));
    }
    let first = numkeys_idx + 1;
    let Some(keys) = usize::try_from(numkeys)
        .ok()
        .and_then(|n| argv.get(first..first.checked_add(n)?))
    else {
        return Err(err::SYNTAX.into());
    };
    // Every input is looked up (and type-checked) before the options are read, as Redis
    // does, so WRONGTYPE wins over a syntax error.
    let now = ctx.now;
    for k in keys {
        match ctx.srv.db.get(k, now) {
            None | Some(Value::ZSet(_)) | Some(Value::Set(_)) => {}
            Some(_) => return Err(err::WRONGTYPE.into()),
        }
    }
    let mut weights = vec![1.0f64; keys.len()];
    let mut aggregate = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = first + keys.len();
    while j < argv.len() {
        let remaining = argv.len() - j;
        let a = &argv[j];
        if op != Op::Diff && !card_only && remaining > keys.len() && args::is(a, "weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = crate::cmd::args::float(&argv[j + 1 + i])
                    .map_err(|_| CmdError::Static("ERR weight value is not a float"))?;
            }
            j += 1 + keys.len();
        } else if op != Op::Diff && !card_only && remaining >= 2 && args::is(a, "aggregate") {
            let v = &argv[j + 1];
            aggregate = if args::is(v, "sum") {
                Aggregate::Sum
            } else if args::is(v, "min") {
                Aggregate::Min
            } else if args::is(v, "max") {
                Aggregate::Max
            } else {
                return Err(err::SYNTAX.into());
            };
            j += 2;
        } else if dst.is_none() && !card_only && args::is(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && args::is(a, "limit") {
            let n = crate::cmd::args::int(&argv[j + 1])
                .ok()
                .filter(|n| *n >= 0)
                .ok_or(CmdError::Static("ERR LIMIT can't be negative"))?;
            limit = usize::try_from(n).unwrap_or(usize::MAX);
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }

    let db = &ctx.srv.db;
    let mut srcs: Vec<(Src<'_>, f64)> = keys
        .iter()
        .zip(weights)
        .map(|(k, w)| {
            let src = match db.value_ref(k) {
                Some(Value::ZSet(z)) => Src::Z(z),
                Some(Value::Set(s)) => {
                    let v = set_members(s);
                    Src::Set(v.iter().cloned().collect(), v)
                }
                _ => Src::Missing,
            };
            (src, w)
        })
        .collect();
    if op != Op::Diff {
        srcs.sort_by_key(|(s, _)| s.len());
    }

    let mut result: Vec<(f64, Sds)> = match op {
        Op::Inter => {
            let mut out = Vec::new();
            if let Some(((head, w0), rest)) = srcs.split_first() {
                let mut count = 0usize;
                for (score, m) in head.entries() {
                    let mut acc = w0 * score;
                    if acc.is_nan() {
                        acc = 0.0;
                    }
                    let mut all = true;
                    for (s, w) in rest {
                        match s.find(&m) {
                            Some(v) => aggregate.apply(&mut acc, v * w),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if !all {
                        continue;
                    }
                    if card_only {
                        count += 1;
                        if limit != 0 && count >= limit {
                            break;
                        }
                    } else {
                        out.push((acc, m));
                    }
                }
                if card_only {
                    ctx.out.int(count as i64);
                    return Ok(());
                }
            }
            out
        }
        Op::Union => {
            let mut acc: IndexMap<Sds, f64, RandomState> =
                IndexMap::with_hasher(RandomState::new());
            for (s, w) in &srcs {
                for (score, m) in s.entries() {
                    let mut v = w * score;
                    if v.is_nan() {
                        v = 0.0;
                    }
                    match acc.get_mut(&*m) {
                        Some(t) => aggregate.apply(t, v),
                        None => {
                            acc.insert(m, v);
                        }
                    }
                }
            }
            acc.into_iter().map(|(m, s)| (s, m)).collect()
        }
        Op::Diff => match srcs.split_first() {
            Some(((head, _), rest)) => head
                .entries()
                .into_iter()
                .filter(|(_, m)| rest.iter().all(|(s, _)| s.find(m).is_none()))
                .collect(),
            None => Vec::new(),
        },
    };
    drop(srcs);
    result.sort_by(|a, b| cmp_entry(a.0, &a.1, b.0, &b.1));
    match dst {
        Some(dst) => store_result(ctx, dst, result),
        None => {
            reply_scored(ctx.out, &result, withscores);
            Ok(())
        }
    }
}
