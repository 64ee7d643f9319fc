//! SINTER, SUNION, SDIFF, their STORE forms and SINTERCARD.

use bytes::Bytes;

use super::{bulk_member, max_ints, read, reply_set};
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};
use crate::db::set::{Member, Set};
use crate::db::{Db, Value};
use crate::notify;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Looks every key up (expiring, counting hits, checking types), then borrows them all.
/// A missing key is `None`, which every operation treats as the empty set.
fn lookup_all<'a>(
    db: &'a mut Db,
    keys: &[Bytes],
    now: i64,
) -> Result<Vec<Option<&'a Set>>, CmdError> {
    for k in keys {
        read(db, k, now)?;
    }
    let db: &'a Db = db;
    Ok(keys
        .iter()
        .map(|k| match db.value_ref(k) {
            Some(Value::Set(s)) => Some(&**s),
            _ => None,
        })
        .collect())
}

/// The members of the intersection, smallest set first; stops after `limit` (0 = all).
fn intersect<'a>(sets: &[Option<&'a Set>], limit: usize) -> Vec<Member<'a>> {
    let mut present: Vec<&Set> = Vec::with_capacity(sets.len());
    for s in sets {
        match s {
            Some(s) => present.push(s),
            None => return Vec::new(),
        }
    }
    present.sort_by_key(|s| s.len());
    let Some((first, rest)) = present.split_first() else {
        return Vec::new();
    };
    let mut result = Vec::new();
    for m in first.iter() {
        if rest
            .iter()
            .all(|s| std::ptr::eq(*s, *first) || s.contains_member(m))
        {
            result.push(m);
            if limit != 0 && result.len() >= limit {
                break;
            }
        }
    }
    result
}

/// The result of a union or difference, built as a new set so it is deduplicated and
/// takes the encoding Redis would give it.
fn combine(sets: &[Option<&Set>], op: Op, max: usize) -> Set {
    let mut out = Set::new();
    match op {
        Op::Union => {
            for s in sets.iter().flatten() {
                for m in s.iter() {
                    out.add_member(m, max);
                }
            }
        }
        Op::Diff => {
            if let Some(Some(first)) = sets.first() {
                let rest = &sets[1..];
                for m in first.iter() {
                    if !rest.iter().flatten().any(|s| s.contains_member(m)) {
                        out.add_member(m, max);
                    }
                }
            }
        }
        Op::Inter => {
            for m in intersect(sets, 0) {
                out.add_member(m, max);
            }
        }
    }
    out
}

fn set_op(ctx: &mut Ctx<'_>, keys: &[Bytes], op: Op) -> CmdResult {
    let (now, max) = (ctx.now, max_ints(ctx));
    let sets = lookup_all(&mut ctx.srv.db, keys, now)?;
    let out = &mut *ctx.out;
    if op == Op::Inter {
        let members = intersect(&sets, 0);
        out.set(members.len());
        for m in members {
            bulk_member(out, m);
        }
    } else {
        let result = combine(&sets, op, max);
        reply_set(out, Some(&result));
    }
    Ok(())
}

fn set_op_store(ctx: &mut Ctx<'_>, dst: &[u8], keys: &[Bytes], op: Op) -> CmdResult {
    let (now, max) = (ctx.now, max_ints(ctx));
    let sets = lookup_all(&mut ctx.srv.db, keys, now)?;
    let result = combine(&sets, op, max);
    let db = &mut ctx.srv.db;
    let n = result.len();
    if n > 0 {
        db.set(dst, Value::Set(Box::new(result)), false);
        ctx.srv.dirty += 1;
        let event = match op {
            Op::Inter => "sinterstore",
            Op::Union => "sunionstore",
            Op::Diff => "sdiffstore",
        };
        notify::notify(ctx.srv, notify::SET, event, dst);
    } else if db.contains(dst, now) {
        db.remove(dst);
        ctx.srv.dirty += 1;
        notify::notify(ctx.srv, notify::GENERIC, "del", dst);
    }
    ctx.out.int(n as i64);
    Ok(())
}

/// SINTER key [key ...]
pub(super) fn sinter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op(ctx, &argv[1..], Op::Inter)
}

/// SUNION key [key ...]
pub(super) fn sunion(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op(ctx, &argv[1..], Op::Union)
}

/// SDIFF key [key ...]
pub(super) fn sdiff(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op(ctx, &argv[1..], Op::Diff)
}

/// SINTERSTORE destination key [key ...]
pub(super) fn sinterstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op_store(ctx, &argv[1], &argv[2..], Op::Inter)
}

/// SUNIONSTORE destination key [key ...]
pub(super) fn sunionstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op_store(ctx, &argv[1], &argv[2..], Op::Union)
}

/// SDIFFSTORE destination key [key ...]
pub(super) fn sdiffstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op_store(ctx, &argv[1], &argv[2..], Op::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub(super) fn sintercard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys = args::int(&argv[1]).map_err(|_| NUMKEYS)?;
    if numkeys < 1 {
        return Err(NUMKEYS.into());
    }
    let Some(keys) = usize::try_from(numkeys)
        .ok()
        .and_then(|n| argv.get(2..n.checked_add(2)?))
    else {
        return Err("ERR Number of keys can't be greater than number of args".into());
    };
    let mut limit = 0usize;
    let mut rest = &argv[2 + keys.len()..];
    while let Some(opt) = rest.first() {
        match rest.get(1) {
            Some(val) if args::is(opt, "limit") => {
                const NEG: &str = "ERR LIMIT can't be negative";
                let n = args::int(val).map_err(|_| NEG)?;
                limit = usize::try_from(n).map_err(|_| NEG)?;
                rest = &rest[2..];
            }
            _ => return Err(err::SYNTAX.into()),
        }
    }
    let now = ctx.now;
    let sets = lookup_all(&mut ctx.srv.db, keys, now)?;
    let n = intersect(&sets, limit).len();
    ctx.out.int(n as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(members: &[&str]) -> Set {
        let mut s = Set::new();
        for m in members {
            s.add(m.as_bytes(), 512);
        }
        s
    }

    fn names(s: &Set) -> Vec<String> {
        let mut v: Vec<_> = s
            .iter()
            .map(|m| String::from_utf8_lossy(&m.to_sds()).into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn inter_union_diff_mix_encodings() {
        let a = set_of(&["1", "2", "3", "x"]);
        let b = set_of(&["2", "3", "4"]);
        let sets = [Some(&a), Some(&b)];
        assert_eq!(names(&combine(&sets, Op::Inter, 512)), ["2", "3"]);
        assert_eq!(
            names(&combine(&sets, Op::Union, 512)),
            ["1", "2", "3", "4", "x"]
        );
        assert_eq!(names(&combine(&sets, Op::Diff, 512)), ["1", "x"]);
        // The intersection of integers alone is an intset again.
        assert_eq!(combine(&sets, Op::Inter, 512).encoding(), "intset");
        assert!(combine(&[Some(&a), None], Op::Inter, 512).is_empty());
        assert!(combine(&[None, Some(&a)], Op::Diff, 512).is_empty());
    }

    #[test]
    fn intercard_limit() {
        let a = set_of(&["1", "2", "3", "4"]);
        let b = set_of(&["1", "2", "3", "5"]);
        assert_eq!(intersect(&[Some(&a), Some(&b)], 0).len(), 3);
        assert_eq!(intersect(&[Some(&a), Some(&b)], 2).len(), 2);
        assert_eq!(intersect(&[Some(&a), Some(&a)], 0).len(), 4);
    }
}
