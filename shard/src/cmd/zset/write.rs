//! ZADD, ZINCRBY, ZREM and the ZREMRANGEBY* commands.

use bytes::Bytes;

use super::{limits, modify, LexRange, ScoreRange};
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};
use crate::db::zset::ZSet;
use crate::db::Sds;
use crate::notify;

const NAN_RESULT: &str = "ERR resulting score is not a number (NaN)";

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
pub fn zadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    add_generic(ctx, argv, AddFlags::default())
}

/// ZINCRBY key increment member
pub fn zincrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    add_generic(
        ctx,
        argv,
        AddFlags {
            incr: true,
            ..AddFlags::default()
        },
    )
}

fn add_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], mut f: AddFlags) -> CmdResult {
    let mut idx = 2;
    while let Some(opt) = argv.get(idx) {
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => f.nx = true,
            b"xx" => f.xx = true,
            b"ch" => f.ch = true,
            b"incr" => f.incr = true,
            b"gt" => f.gt = true,
            b"lt" => f.lt = true,
            _ => break,
        }
        idx += 1;
    }
    let pairs = &argv[idx..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(err::SYNTAX.into());
    }
    if f.nx && f.xx {
        return Err("ERR XX and NX options at the same time are not compatible".into());
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err("ERR GT, LT, and/or NX options at the same time are not compatible".into());
    }
    if f.incr && pairs.len() > 2 {
        return Err("ERR INCR option supports a single increment-element pair".into());
    }
    // Every score is checked before anything changes: the command applies fully or not
    // at all.
    let mut items: Vec<(f64, &[u8])> = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks_exact(2) {
        items.push((args::float(&pair[0])?, &pair[1]));
    }
    let lim = limits(&ctx.srv.config);
    let now = ctx.now;
    let create = if f.xx {
        None
    } else {
        Some(ZSet::for_first(
            items.first().map_or(0, |(_, m)| m.len()),
            lim,
        ))
    };
    let outcome = modify(&mut ctx.srv.db, &argv[1], now, create, |z| {
        let mut added = 0i64;
        let mut updated = 0i64;
        let mut processed = 0;
        let mut last = 0.0;
        for &(score, member) in &items {
            match z.score(member) {
                Some(cur) => {
                    if f.nx {
                        continue;
                    }
                    let new = if f.incr { cur + score } else { score };
                    if new.is_nan() {
                        return Err(CmdError::Static(NAN_RESULT));
                    }
                    if (f.lt && new >= cur) || (f.gt && new <= cur) {
                        continue;
                    }
                    processed += 1;
                    last = new;
                    if new != cur {
                        z.insert(new, member, lim);
                        updated += 1;
                    }
                }
                None => {
                    if f.xx {
                        continue;
                    }
                    z.insert(score, member, lim);
                    added += 1;
                    processed += 1;
                    last = score;
                }
            }
        }
        Ok((added, updated, processed, last))
    })?;
    let (added, updated, processed, last) = match outcome {
        Some(r) => r?,
        None => (0, 0, 0, 0.0),
    };
    ctx.srv.dirty += (added + updated) as u64;
    if added + updated > 0 {
        let event = if f.incr { "zincr" } else { "zadd" };
        notify::notify(ctx.srv, notify::ZSET, event, &argv[1]);
    }
    if f.incr {
        if processed > 0 {
            ctx.out.double(last);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int(if f.ch { added + updated } else { added });
    }
    Ok(())
}

/// ZREM key member [member ...]
pub fn zrem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let removed = modify(&mut ctx.srv.db, &argv[1], now, None, |z| {
        let mut n = 0i64;
        for m in &argv[2..] {
            if z.remove(m).is_some() {
                n += 1;
                if z.is_empty() {
                    break;
                }
            }
        }
        n
    })?
    .unwrap_or(0);
    ctx.srv.dirty += removed as u64;
    notify_removed(ctx, &argv[1], "zrem", removed);
    ctx.out.int(removed);
    Ok(())
}

/// The events of a removal from `key`: `event`, then `del` if it emptied the set.
fn notify_removed(ctx: &mut Ctx<'_>, key: &[u8], event: &str, removed: i64) {
    if removed > 0 {
        notify::notify(ctx.srv, notify::ZSET, event, key);
        if !ctx.srv.db.contains_raw(key) {
            notify::notify(ctx.srv, notify::GENERIC, "del", key);
        }
    }
}

/// ZREMRANGEBYRANK key start stop
pub fn zremrangebyrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let start = args::int(&argv[2])?;
    let end = args::int(&argv[3])?;
    remove_span(ctx, &argv[1], |z| rank_span(z.len(), start, end))
}

/// ZREMRANGEBYSCORE key min max
pub fn zremrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let range = ScoreRange::parse(&argv[2], &argv[3])?;
    remove_span(ctx, &argv[1], |z| range.span(z))
}

/// ZREMRANGEBYLEX key min max
pub fn zremrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let range = LexRange::parse(&argv[2], &argv[3])?;
    remove_span(ctx, &argv[1], |z| range.span(z))
}

/// The ascending ranks `start..end` that a rank interval (negative counts from the end)
/// selects in a set of `len` entries, as ZRANGE and ZREMRANGEBYRANK sanitize them.
pub fn rank_span(len: usize, start: i64, end: i64) -> (usize, usize) {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return (0, 0);
    }
    if end >= llen {
        end = llen - 1;
    }
    (start as usize, end as usize + 1)
}

fn remove_span(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    span: impl FnOnce(&ZSet) -> (usize, usize),
) -> CmdResult {
    let now = ctx.now;
    let removed = modify(&mut ctx.srv.db, key, now, None, |z| {
        let (a, b) = span(z);
        let mut victims: Vec<Sds> = Vec::with_capacity(b.saturating_sub(a));
        z.for_range(a, b, |_, m| victims.push(m.clone()));
        for m in &victims {
            z.remove(m);
        }
        victims.len() as i64
    })?
    .unwrap_or(0);
    ctx.srv.dirty += removed as u64;
    // The event is the command's name: zremrangebyrank, zremrangebyscore or zremrangebylex.
    notify_removed(ctx, key, ctx.spec.name, removed);
    ctx.out.int(removed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_spans_like_redis() {
        assert_eq!(rank_span(4, 0, -1), (0, 4));
        assert_eq!(rank_span(4, -5, 1), (0, 2));
        assert_eq!(rank_span(4, 5, -1), (0, 0));
        assert_eq!(rank_span(4, 1, 10), (1, 4));
        assert_eq!(rank_span(4, 0, -5), (0, 0));
        assert_eq!(rank_span(0, 0, -1), (0, 0));
        assert_eq!(rank_span(4, i64::MIN, i64::MAX), (0, 4));
    }
}
