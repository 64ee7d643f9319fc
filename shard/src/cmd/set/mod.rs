//! Set commands.
//!
//! A key never holds an empty set: removals delete the key with its last member, and the
//! *STORE commands delete the destination when the result is empty.
//!
//! # Layout
//! - this module: membership, random picks, SMOVE and SSCAN.
//! - [`algebra`]: intersection, union and difference, and their STORE forms.

mod algebra;

use bytes::Bytes;
use rand::Rng;
use shoal_proto::Reply;

use super::hash::pick::{check_picks, sample, signed_count};
use super::hash::scan::{scan_positions, write_scan, ScanOpts};
use super::{args, err, CmdError, CmdResult, Ctx, Handler};
use crate::db::set::{Member, Set};
use crate::db::{Db, Value};
use crate::notify;

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
    ("sinter", algebra::sinter),
    ("sinterstore", algebra::sinterstore),
    ("sintercard", algebra::sintercard),
    ("sunion", algebra::sunion),
    ("sunionstore", algebra::sunionstore),
    ("sdiff", algebra::sdiff),
    ("sdiffstore", algebra::sdiffstore),
    ("sscan", sscan),
];

pub(super) fn max_ints(ctx: &Ctx<'_>) -> usize {
    usize::try_from(ctx.srv.config.set_max_intset_entries).unwrap_or(usize::MAX)
}

/// The set at `key` for reading, None when missing, or WRONGTYPE.
pub(super) fn read<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a Set>, CmdError> {
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

/// The `del` event of a set that [`drop_if_empty`] removed.
fn notify_if_dropped(ctx: &mut Ctx<'_>, key: &[u8]) {
    if !ctx.srv.db.contains_raw(key) {
        notify::notify(ctx.srv, notify::GENERIC, "del", key);
    }
}

pub(super) fn bulk_member(out: &mut Reply, m: Member<'_>) {
    match m {
        Member::Int(n) => out.bulk_int(n),
        Member::Str(s) => out.bulk(s),
    }
}

/// Replies with every member, as a RESP3 set.
pub(super) fn reply_set(out: &mut Reply, s: Option<&Set>) {
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
    if added > 0 {
        notify::notify(ctx.srv, notify::SET, "sadd", &argv[1]);
    }
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
    if n > 0 {
        notify::notify(ctx.srv, notify::SET, "srem", &argv[1]);
        notify_if_dropped(ctx, &argv[1]);
    }
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
    // The AOF records the members chance picked: SREM, or DEL when all went.
    let srem = |popped: Vec<Bytes>| {
        let mut cmd = Vec::with_capacity(popped.len() + 2);
        cmd.push(Bytes::from_static(b"SREM"));
        cmd.push(argv[1].clone());
        cmd.extend(popped);
        cmd
    };
    let Some(count) = count else {
        let i = srv.rng.gen_range(0..s.len().max(1));
        let popped = match s.take_index(i) {
            Some(m) => {
                out.bulk(&m);
                srv.dirty += 1;
                notify::notify(srv, notify::SET, "spop", &argv[1]);
                Some(Bytes::copy_from_slice(&m))
            }
            None => {
                out.null();
                None
            }
        };
        drop_if_empty(&mut srv.db, &argv[1], now);
        notify_if_dropped(ctx, &argv[1]);
        if let Some(m) = popped {
            ctx.propagate_as(srem(vec![m]));
        }
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
        notify::notify(srv, notify::SET, "spop", &argv[1]);
        notify::notify(srv, notify::GENERIC, "del", &argv[1]);
        ctx.propagate_as(vec![Bytes::from_static(b"DEL"), argv[1].clone()]);
        return Ok(());
    }
    let count = count as usize;
    srv.dirty += count as u64;
    out.set(count);
    let mut popped = Vec::with_capacity(count);
    for _ in 0..count {
        let i = srv.rng.gen_range(0..s.len());
        if let Some(m) = s.take_index(i) {
            out.bulk(&m);
            popped.push(Bytes::copy_from_slice(&m));
        }
    }
    notify::notify(srv, notify::SET, "spop", &argv[1]);
    ctx.propagate_as(srem(popped));
    Ok(())
}

/// SMOVE source destination member
fn smove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (now, max) = (ctx.now, max_ints(ctx));
    let db = &mut ctx.srv.db;
    let (src, dst, m) = (&argv[1], &argv[2], &argv[3]);
    // Write lookups, as Redis does for SMOVE: no hit/miss accounting.
    let src_is_member = match modify(db, src, now)? {
        None => {
            ctx.out.int(0);
            return Ok(());
        }
        Some(s) => s.contains(m),
    };
    modify(db, dst, now)?;
    if src == dst || !src_is_member {
        ctx.out.int(src_is_member as i64);
        return Ok(());
    }
    if let Some(s) = modify(db, src, now)? {
        s.remove(m);
    }
    drop_if_empty(db, src, now);
    notify::notify(ctx.srv, notify::SET, "srem", src);
    notify_if_dropped(ctx, src);
    let db = &mut ctx.srv.db;
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
    if added {
        notify::notify(ctx.srv, notify::SET, "sadd", dst);
    } else {
        ctx.unchanged_keys.push(dst.clone());
    }
    ctx.out.int(1);
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
    use crate::cmd::hash::testkit::{Kit, Resp};
    use crate::ShardConfig;

    #[test]
    fn intset_converts_at_threshold_or_on_strings() {
        let mut k = Kit::with_config(ShardConfig {
            set_max_intset_entries: 4,
            ..ShardConfig::default()
        });
        k.run("sadd s 1 2 3 4");
        assert_eq!(k.encoding("s"), "intset");
        k.run("sadd s 5");
        assert_eq!(k.encoding("s"), "hashtable");
        k.run("sadd t 1 x");
        assert_eq!(k.encoding("t"), "hashtable");
        assert_eq!(k.run("sismember t 1"), Resp::Int(1));
    }

    #[test]
    fn srandmember_and_spop_counts() {
        for big in [false, true] {
            let mut k = Kit::new();
            let n = if big { 600 } else { 5 };
            for i in 0..n {
                k.run(&format!("sadd s {i}"));
            }
            assert_eq!(k.encoding("s"), if big { "hashtable" } else { "intset" });
            assert_eq!(k.run("srandmember s 0"), Resp::Agg(b'*', vec![]));
            let mut got = k.run("srandmember s 3").bulks();
            got.sort();
            got.dedup();
            assert_eq!(got.len(), 3);
            assert_eq!(k.run(&format!("srandmember s {}", n + 1)).items().len(), n);
            assert_eq!(k.run("srandmember s -1000").items().len(), 1000);
            assert_eq!(k.run("spop s 2").items().len(), 2);
            assert_eq!(k.run("scard s"), Resp::Int(n as i64 - 2));
            assert_eq!(k.run("spop s 100000").items().len(), n - 2);
            assert_eq!(k.encoding("s"), "none");
        }
        let mut k = Kit::new();
        assert_eq!(k.run("srandmember nokey -3"), Resp::Agg(b'*', vec![]));
        assert_eq!(k.run("spop nokey"), Resp::Null);
        assert_eq!(k.run("spop nokey 1"), Resp::Agg(b'*', vec![]));
        assert_eq!(
            k.run("spop nokey -1"),
            Resp::Err("ERR value is out of range, must be positive".into())
        );
        assert!(
            matches!(k.run("srandmember s -9223372036854775808"), Resp::Err(e) if e.contains("out of range"))
        );
        k.resp3();
        k.run("sadd s a b");
        assert!(matches!(k.run("spop s 1"), Resp::Agg(b'~', v) if v.len() == 1));
        assert!(matches!(k.run("srandmember s 5"), Resp::Agg(b'*', v) if v.len() == 1));
    }

    #[test]
    fn store_overwrites_and_empty_result_deletes() {
        let mut k = Kit::new();
        k.run("sadd a 1 2 3");
        k.run("sadd b 3 4");
        k.run("set d x");
        assert_eq!(k.run("sinterstore d a b"), Resp::Int(1));
        assert_eq!(
            k.run("smembers d"),
            Resp::Agg(b'*', vec![Resp::Bulk(b"3".to_vec())])
        );
        assert_eq!(k.run("sdiffstore d a a"), Resp::Int(0));
        assert_eq!(k.encoding("d"), "none");
        assert_eq!(k.run("sintercard 2 a b limit 0"), Resp::Int(1));
        assert_eq!(
            k.run("sintercard 0 a"),
            Resp::Err("ERR numkeys should be greater than 0".into())
        );
        assert_eq!(
            k.run("sintercard 1 a limit -1"),
            Resp::Err("ERR LIMIT can't be negative".into())
        );
        assert_eq!(k.run("smove a b 1"), Resp::Int(1));
        assert_eq!(k.run("srem a 2 3"), Resp::Int(2));
        assert_eq!(k.encoding("a"), "none");
    }
}
