//! List commands.
//!
//! # Layout
//! - this module: the commands that never block, and the helpers both halves share.
//! - [`transfer`]: LMOVE, RPOPLPUSH, LMPOP, which the blocking forms share.
//! - [`blocking`]: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP.
//!
//! As in Redis, a list that becomes empty is deleted, so an existing list key always has
//! at least one element.

pub mod blocking;
mod transfer;

use transfer::{lmove, lmpop, rpoplpush};
pub(crate) use transfer::{move_one, mpop, parse_mpop};

use bytes::Bytes;

use super::{args, err, CmdError, CmdResult, Ctx, Handler};
use crate::db::list::{End, List};
use crate::db::Value;
use crate::notify;

pub static COMMANDS: &[(&str, Handler)] = &[
    ("lpush", lpush),
    ("rpush", rpush),
    ("lpushx", lpushx),
    ("rpushx", rpushx),
    ("lpop", lpop),
    ("rpop", rpop),
    ("llen", llen),
    ("lrange", lrange),
    ("lindex", lindex),
    ("lset", lset),
    ("lrem", lrem),
    ("ltrim", ltrim),
    ("linsert", linsert),
    ("lpos", lpos),
    ("lmove", lmove),
    ("rpoplpush", rpoplpush),
    ("lmpop", lmpop),
];

/// The list at `key` for reading, None when missing, or WRONGTYPE.
fn read<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Result<Option<&'a List>, CmdError> {
    match ctx.srv.db.get(key, ctx.now) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// The list at `key` for writing, None when missing, or WRONGTYPE.
pub(crate) fn write<'a>(
    ctx: &'a mut Ctx<'_>,
    key: &[u8],
) -> Result<Option<&'a mut List>, CmdError> {
    match ctx.srv.db.get_mut(key, ctx.now) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// Deletes `key` when its list has become empty.
fn drop_if_empty(ctx: &mut Ctx<'_>, key: &[u8]) {
    if let Some(Value::List(l)) = ctx.srv.db.get_mut(key, ctx.now) {
        if l.is_empty() {
            ctx.srv.db.remove(key);
            notify::notify(ctx.srv, notify::GENERIC, "del", key);
        }
    }
}

/// The keyspace event of a pop from `end`.
pub(crate) fn pop_event(end: End) -> &'static str {
    match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    }
}

/// The keyspace event of a push onto `end`.
pub(crate) fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

/// LEFT / RIGHT.
pub(crate) fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if args::is(arg, "left") {
        Ok(End::Head)
    } else if args::is(arg, "right") {
        Ok(End::Tail)
    } else {
        Err(err::SYNTAX.into())
    }
}

/// Redis's `getRangeLongFromObjectOrReply` with a message for both failures.
pub(crate) fn positive_long(arg: &[u8], min: i64, msg: &'static str) -> Result<i64, CmdError> {
    match shoal_proto::number::parse_i64(arg) {
        Some(n) if n >= min => Ok(n),
        _ => Err(CmdError::Static(msg)),
    }
}

fn push(ctx: &mut Ctx<'_>, argv: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let key = &argv[1];
    let len = match write(ctx, key)? {
        Some(l) => {
            for v in &argv[2..] {
                l.push(v, end);
            }
            l.len()
        }
        None if only_existing => {
            ctx.out.int(0);
            return Ok(());
        }
        None => {
            let mut l = List::new();
            for v in &argv[2..] {
                l.push(v, end);
            }
            let len = l.len();
            ctx.srv.db.insert_new(key, Value::List(Box::new(l)));
            len
        }
    };
    ctx.srv.dirty += (argv.len() - 2) as u64;
    notify::notify(ctx.srv, notify::LIST, push_event(end), key);
    ctx.out.int(len as i64);
    Ok(())
}

/// LPUSH key element [element ...]
fn lpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, End::Head, false)
}

/// RPUSH key element [element ...]
fn rpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, End::Tail, false)
}

/// LPUSHX key element [element ...]
fn lpushx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, End::Head, true)
}

/// RPUSHX key element [element ...]
fn rpushx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, End::Tail, true)
}

fn pop(ctx: &mut Ctx<'_>, argv: &[Bytes], end: End) -> CmdResult {
    if argv.len() > 3 {
        return Err(super::wrong_arity(ctx.spec.name));
    }
    let count = match argv.get(2) {
        Some(a) => Some(positive_long(a, 0, err::NOT_POSITIVE)?),
        None => None,
    };
    let key = &argv[1];
    let Some(l) = write(ctx, key)? else {
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    match count {
        None => {
            let Some(v) = l.pop(end) else {
                ctx.out.null();
                return Ok(());
            };
            ctx.out.bulk(&v);
            ctx.srv.dirty += 1;
        }
        Some(0) => {
            ctx.out.array(0);
            return Ok(());
        }
        Some(n) => {
            let n = (n as u64).min(l.len() as u64) as usize;
            let popped: Vec<_> = (0..n).filter_map(|_| l.pop(end)).collect();
            ctx.out.array(popped.len());
            for v in &popped {
                ctx.out.bulk(v);
            }
            ctx.srv.dirty += popped.len() as u64;
        }
    }
    notify::notify(ctx.srv, notify::LIST, pop_event(end), key);
    drop_if_empty(ctx, key);
    Ok(())
}

/// LPOP key [count]
fn lpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    pop(ctx, argv, End::Head)
}

/// RPOP key [count]
fn rpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    pop(ctx, argv, End::Tail)
}

/// LLEN key
fn llen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let n = read(ctx, &argv[1])?.map_or(0, |l| l.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// LRANGE key start stop
fn lrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let start = args::int(&argv[2])?;
    let stop = args::int(&argv[3])?;
    let now = ctx.now;
    let out = &mut *ctx.out;
    match ctx.srv.db.get(&argv[1], now) {
        None => out.array(0),
        Some(Value::List(l)) => {
            let r = l.range(start, stop);
            out.array(r.len());
            for v in l.iter_range(r) {
                out.bulk(v);
            }
        }
        Some(_) => return Err(err::WRONGTYPE.into()),
    }
    Ok(())
}

/// LINDEX key index
fn lindex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let out = &mut *ctx.out;
    match ctx.srv.db.get(&argv[1], now) {
        None => out.null(),
        Some(Value::List(l)) => {
            let index = args::int(&argv[2])?;
            match l.get(index) {
                Some(v) => out.bulk(v),
                None => out.null(),
            }
        }
        Some(_) => return Err(err::WRONGTYPE.into()),
    }
    Ok(())
}

/// LSET key index element
fn lset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let Some(l) = write(ctx, &argv[1])? else {
        return Err(err::NO_SUCH_KEY.into());
    };
    let index = args::int(&argv[2])?;
    if !l.set(index, &argv[3]) {
        return Err(err::OUT_OF_RANGE.into());
    }
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, notify::LIST, "lset", &argv[1]);
    ctx.out.ok();
    Ok(())
}

/// LREM key count element
fn lrem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let count = args::int(&argv[2])?;
    let removed = match write(ctx, &argv[1])? {
        Some(l) => l.remove(&argv[3], count),
        None => 0,
    };
    if removed > 0 {
        ctx.srv.dirty += removed as u64;
        notify::notify(ctx.srv, notify::LIST, "lrem", &argv[1]);
        drop_if_empty(ctx, &argv[1]);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// LTRIM key start stop
fn ltrim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let start = args::int(&argv[2])?;
    let stop = args::int(&argv[3])?;
    if let Some(l) = write(ctx, &argv[1])? {
        l.trim(start, stop);
        ctx.srv.dirty += 1;
        notify::notify(ctx.srv, notify::LIST, "ltrim", &argv[1]);
        drop_if_empty(ctx, &argv[1]);
    }
    ctx.out.ok();
    Ok(())
}

/// LINSERT key BEFORE | AFTER pivot element
fn linsert(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let after = if args::is(&argv[2], "after") {
        true
    } else if args::is(&argv[2], "before") {
        false
    } else {
        return Err(err::SYNTAX.into());
    };
    let reply = match write(ctx, &argv[1])? {
        None => 0,
        Some(l) => {
            if l.insert(&argv[3], &argv[4], after) {
                l.len() as i64
            } else {
                -1
            }
        }
    };
    if reply > 0 {
        ctx.srv.dirty += 1;
        notify::notify(ctx.srv, notify::LIST, "linsert", &argv[1]);
    }
    ctx.out.int(reply);
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let mut i = 3;
    while i < argv.len() {
        let more = i + 1 < argv.len();
        if args::is(&argv[i], "rank") && more {
            rank = args::int(&argv[i + 1])?;
            if rank == 0 {
                return Err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list".into());
            }
        } else if args::is(&argv[i], "count") && more {
            count = Some(positive_long(
                &argv[i + 1],
                0,
                "ERR COUNT can't be negative",
            )?);
        } else if args::is(&argv[i], "maxlen") && more {
            maxlen = positive_long(&argv[i + 1], 0, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 2;
    }
    // Rank i64::MIN has no positive counterpart; Redis's negation leaves it negative,
    // which makes the first match from the tail qualify.
    let skip = if rank == i64::MIN {
        0
    } else {
        rank.unsigned_abs() - 1
    };
    let from_tail = rank < 0;
    let ele = &argv[2];
    let now = ctx.now;
    let l = match ctx.srv.db.get(&argv[1], now) {
        None => {
            match count {
                Some(_) => ctx.out.array(0),
                None => ctx.out.null(),
            }
            return Ok(());
        }
        Some(Value::List(l)) => l,
        Some(_) => return Err(err::WRONGTYPE.into()),
    };
    let len = l.len();
    let limit = if maxlen == 0 {
        len
    } else {
        (maxlen as u64).min(len as u64) as usize
    };
    let wanted = match count {
        None => 1,
        // Redis's stop test `matches - rank + 1 >= count` wraps around for this rank and
        // never holds, so every match is returned.
        Some(_) if rank == i64::MIN => usize::MAX,
        Some(0) => usize::MAX,
        Some(n) => (n as u64).min(usize::MAX as u64) as usize,
    };
    let mut found: Vec<i64> = Vec::new();
    let mut matches: u64 = 0;
    let mut check = |pos: usize, v: &[u8]| -> bool {
        if v == &ele[..] {
            matches += 1;
            if matches > skip {
                found.push(pos as i64);
                return found.len() >= wanted;
            }
        }
        false
    };
    if from_tail {
        for (n, v) in l.iter().rev().take(limit).enumerate() {
            if check(len - 1 - n, v) {
                break;
            }
        }
    } else {
        for (n, v) in l.iter().take(limit).enumerate() {
            if check(n, v) {
                break;
            }
        }
    }
    match count {
        Some(_) => {
            ctx.out.array(found.len());
            for p in found {
                ctx.out.int(p);
            }
        }
        None => match found.first() {
            Some(&p) => ctx.out.int(p),
            None => ctx.out.null(),
        },
    }
    Ok(())
}
