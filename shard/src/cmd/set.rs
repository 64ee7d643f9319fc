//! Set commands.
//!
//! A key never holds an empty set: removals delete the key with its last member, and the
//! *STORE commands delete the destination when the result is empty.

use bytes::Bytes;
use rand::Rng;
use shoal_proto::Reply;

use super::hash::{check_picks, sample, scan_positions, signed_count, write_scan, ScanOpts};
use super::{args, err, CmdError, CmdResult, Ctx, Handler};
use crate::db::set::{Member, Set};
use crate::db::{Db, Value};

pub static COMMANDS: &[(&str, Handler)] = &[
    ("sadd", sadd),
    ("srem", srem),
    ("sismember", sismember),
    ("smismember", smismember),
    ("scard", scard),
    ("smembers", smembers),
    ("srandmember", srandmember),
    ("spop", spop),
    ("smove", smove),
    ("sinter", sinter),
    ("sinterstore", sinterstore),
    ("sintercard", sintercard),
    ("sunion", sunion),
    ("sunionstore", sunionstore),
    ("sdiff", sdiff),
    ("sdiffstore", sdiffstore),
    ("sscan", sscan),
];

fn max_ints(ctx: &Ctx<'_>) -> usize {
    usize::try_from(ctx.srv.config.set_max_intset_entries).unwrap_or(usize::MAX)
}

/// The set at `key` for reading, None when missing, or WRONGTYPE.
fn read<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a Set>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// The set at `key` for writing, None when missing, or WRONGTYPE.
fn modify<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a mut Set>, CmdError> {
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

fn drop_if_empty(db: &mut Db, key: &[u8], now: i64) {
    if matches!(db.get_mut(key, now), Some(Value::Set(s)) if s.is_empty()) {
        db.remove(key);
    }
}

fn bulk_member(out: &mut Reply, m: Member<'_>) {
    match m {
        Member::Int(n) => out.bulk_int(n),
        Member::Str(s) => out.bulk(s),
    }
}

/// Replies with every member, as a RESP3 set.
fn reply_set(out: &mut Reply, s: Option<&Set>) {
    let Some(s) = s else {
        out.set(0);
        return;
    };
    out.set(s.len());
    for m in s.iter() {
        bulk_member(out, m);
    }
}

/// SADD key member [member ...]
fn sadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (now, max) = (ctx.now, max_ints(ctx));
    let db = &mut ctx.srv.db;
    let s = match modify(db, &argv[1], now)? {
        Some(s) => s,
        None => {
            db.insert_new(&argv[1], Value::Set(Box::default()));
            match modify(db, &argv[1], now)? {
                Some(s) => s,
                None => return Err(err::WRONGTYPE.into()),
            }
        }
    };
    let added = argv[2..].iter().filter(|m| s.add(m, max)).count();
    ctx.srv.dirty += added as u64;
    ctx.out.int(added as i64);
    Ok(())
}

/// SREM key member [member ...]
fn srem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let db = &mut ctx.srv.db;
    let mut n = 0;
    if let Some(s) = modify(db, &argv[1], now)? {
        for m in &argv[2..] {
            if s.remove(m) {
                n += 1;
                if s.is_empty() {
                    break;
                }
            }
        }
        drop_if_empty(db, &argv[1], now);
    }
    ctx.srv.dirty += n;
    ctx.out.int(n as i64);
    Ok(())
}

/// SISMEMBER key member
fn sismember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let found = read(&mut ctx.srv.db, &argv[1], now)?.is_some_and(|s| s.contains(&argv[2]));
    ctx.out.int(found as i64);
    Ok(())
}

/// SMISMEMBER key member [member ...]
fn smismember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let s = read(&mut ctx.srv.db, &argv[1], now)?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        ctx.out.int(s.is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

/// SCARD key
fn scard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let n = read(&mut ctx.srv.db, &argv[1], now)?.map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// SMEMBERS key
fn smembers(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let s = read(&mut ctx.srv.db, &argv[1], now)?;
    reply_set(ctx.out, s);
    Ok(())
}

/// SRANDMEMBER key [count]
fn srandmember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let count = match argv.len() {
        2 => None,
        3 => {
            let l = signed_count(&argv[2])?;
            check_picks(l)?;
            Some(l)
        }
        _ => return Err(err::SYNTAX.into()),
    };
    let srv = &mut *ctx.srv;
    let out = &mut *ctx.out;
    let s = read(&mut srv.db, &argv[1], now)?;
    let Some(l) = count else {
        match s.filter(|s| !s.is_empty()) {
            Some(s) => {
                let i = srv.rng.gen_range(0..s.len());
                match s.get_index(i) {
                    Some(m) => bulk_member(out, m),
                    None => out.null(),
                }
            }
            None => out.null(),
        }
        return Ok(());
    };
    let Some(s) = s.filter(|s| !s.is_empty() && l != 0) else {
        out.array(0);
        return Ok(());
    };
    let count = l.unsigned_abs() as usize;
    if l < 0 {
        // Repeats allowed: each pick is independent, so nothing is buffered.
        out.array(count);
        for _ in 0..count {
            let i = srv.rng.gen_range(0..s.len());
            if let Some(m) = s.get_index(i) {
                bulk_member(out, m);
            }
        }
    } else if count >= s.len() {
        out.array(s.len());
        for m in s.iter() {
            bulk_member(out, m);
        }
    } else {
        out.array(count);
        for i in sample(&mut srv.rng, s.len(), count) {
            if let Some(m) = s.get_index(i) {
                bulk_member(out, m);
            }
        }
    }
    Ok(())
}

/// SPOP key [count]
fn spop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let count = match argv.len() {
        2 => None,
        3 => {
            // Redis gives the range text for a non-integer here too.
            let n = args::int(&argv[2]).map_err(|_| err::NOT_POSITIVE)?;
            Some(u64::try_from(n).map_err(|_| err::NOT_POSITIVE)?)
        }
        _ => return Err(err::SYNTAX.into()),
    };
    let srv = &mut *ctx.srv;
    let out = &mut *ctx.out;
    let Some(s) = modify(&mut srv.db, &argv[1], now)? else {
        match count {
            Some(_) => out.set(0),
            None => out.null(),
        }
        return Ok(());
    };
    let Some(count) = count else {
        let i = srv.rng.gen_range(0..s.len().max(1));
        match s.take_index(i) {
            Some(m) => {
                out.bulk(&m);
                srv.dirty += 1;
            }
            None => out.null(),
        }
        drop_if_empty(&mut srv.db, &argv[1], now);
        return Ok(());
    };
    if count == 0 {
        out.set(0);
        return Ok(());
    }
    if count >= s.len() as u64 {
        srv.dirty += s.len() as u64;
        reply_set(out, Some(s));
        srv.db.remove(&argv[1]);
        return Ok(());
    }
    let count = count as usize;
    srv.dirty += count as u64;
    out.set(count);
    for _ in 0..count {
        let i = srv.rng.gen_range(0..s.len());
        if let Some(m) = s.take_index(i) {
            out.bulk(&m);
        }
    }
    Ok(())
}

/// SMOVE source destination member
fn smove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (now, max) = (ctx.now, max_ints(ctx));
    let db = &mut ctx.srv.db;
    let (src, dst, m) = (&argv[1], &argv[2], &argv[3]);
    let src_is_member = match read(db, src, now)? {
        None => {
            ctx.out.int(0);
            return Ok(());
        }
        Some(s) => s.contains(m),
    };
    read(db, dst, now)?;
    if src == dst || !src_is_member {
        ctx.out.int(src_is_member as i64);
        return Ok(());
    }
    if let Some(s) = modify(db, src, now)? {
        s.remove(m);
    }
    drop_if_empty(db, src, now);
    // One change for the source; the destination changes only if the member is new to it.
    let added = if let Some(d) = modify(db, dst, now)? {
        d.add(m, max)
    } else {
        let mut d = Set::new();
        d.add(m, max);
        db.insert_new(dst, Value::Set(Box::new(d)));
        true
    };
    ctx.srv.dirty += 1 + added as u64;
    ctx.out.int(1);
    Ok(())
}

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
    } else if db.contains(dst, now) {
        db.remove(dst);
        ctx.srv.dirty += 1;
    }
    ctx.out.int(n as i64);
    Ok(())
}

/// SINTER key [key ...]
fn sinter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op(ctx, &argv[1..], Op::Inter)
}

/// SUNION key [key ...]
fn sunion(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op(ctx, &argv[1..], Op::Union)
}

/// SDIFF key [key ...]
fn sdiff(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op(ctx, &argv[1..], Op::Diff)
}

/// SINTERSTORE destination key [key ...]
fn sinterstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op_store(ctx, &argv[1], &argv[2..], Op::Inter)
}

/// SUNIONSTORE destination key [key ...]
fn sunionstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op_store(ctx, &argv[1], &argv[2..], Op::Union)
}

/// SDIFFSTORE destination key [key ...]
fn sdiffstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_op_store(ctx, &argv[1], &argv[2..], Op::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
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

/// SSCAN key cursor [MATCH pattern] [COUNT count]
fn sscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let opts = ScanOpts::parse(&argv[2], &argv[3..])?;
    let now = ctx.now;
    let out = &mut *ctx.out;
    let Some(s) = read(&mut ctx.srv.db, &argv[1], now)? else {
        return write_scan(out, 0, &[] as &[&[u8]]);
    };
    let mut items = Vec::new();
    let mut visit = |i: usize| {
        if let Some(m) = s.get_index(i) {
            let m = m.to_sds();
            if opts.matches(&m) {
                items.push(m);
            }
        }
    };
    let next = if s.is_compact() {
        (0..s.len()).for_each(&mut visit);
        0
    } else {
        scan_positions(s.len(), opts.cursor, opts.count, visit)
    };
    write_scan(out, next, &items)
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
