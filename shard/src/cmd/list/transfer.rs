//! Commands that take elements out of one list and hand them on: LMOVE, RPOPLPUSH,
//! LMPOP, and the helpers their blocking forms reuse.

use bytes::Bytes;

use super::{drop_if_empty, parse_end, pop_event, positive_long, push_event, write};
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};
use crate::db::list::{End, List};
use crate::db::Value;
use crate::notify;

/// Pops from `src` and pushes onto `dst` (LMOVE and its blocking forms). Returns false,
/// with nothing written, when `src` is missing.
pub(crate) fn move_one(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<bool, CmdError> {
    match write(ctx, src)? {
        None => return Ok(false),
        Some(l) if l.is_empty() => return Ok(false),
        Some(_) => {}
    }
    // Check the destination's type before touching the source.
    write(ctx, dst)?;
    let Some(value) = write(ctx, src)?.and_then(|l| l.pop(from)) else {
        return Ok(false);
    };
    // The push comes first so that a one-element list moved onto itself never looks
    // empty, and its events come in Redis's order: push, pop, then del of the source.
    match write(ctx, dst)? {
        Some(l) => l.push(&value, to),
        None => {
            let mut l = List::new();
            l.push(&value, to);
            ctx.srv.db.insert_new(dst, Value::List(Box::new(l)));
        }
    }
    notify::notify(ctx.srv, notify::LIST, push_event(to), dst);
    notify::notify(ctx.srv, notify::LIST, pop_event(from), src);
    drop_if_empty(ctx, src);
    ctx.srv.dirty += 1;
    ctx.out.bulk(&value);
    Ok(true)
}

/// LMOVE source destination LEFT | RIGHT LEFT | RIGHT
pub(super) fn lmove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let from = parse_end(&argv[3])?;
    let to = parse_end(&argv[4])?;
    if !move_one(ctx, &argv[1], &argv[2], from, to)? {
        ctx.out.null();
    }
    Ok(())
}

/// RPOPLPUSH source destination
pub(super) fn rpoplpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if !move_one(ctx, &argv[1], &argv[2], End::Tail, End::Head)? {
        ctx.out.null();
    }
    Ok(())
}

/// LMPOP/BLMPOP's arguments after the command's own: numkeys key [key ...] LEFT | RIGHT
/// [COUNT count]. Returns the keys, the end and the count.
pub(crate) fn parse_mpop(
    argv: &[Bytes],
    numkeys_idx: usize,
) -> Result<(Vec<Bytes>, End, usize), CmdError> {
    let numkeys = positive_long(
        &argv[numkeys_idx],
        1,
        "ERR numkeys should be greater than 0",
    )?;
    let where_idx = (numkeys as u64).saturating_add(numkeys_idx as u64 + 1);
    if where_idx >= argv.len() as u64 {
        return Err(err::SYNTAX.into());
    }
    let where_idx = where_idx as usize;
    let end = parse_end(&argv[where_idx])?;
    let mut count: Option<i64> = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && args::is(&argv[j], "count") && j + 1 < argv.len() {
            count = Some(positive_long(
                &argv[j + 1],
                1,
                "ERR count should be greater than 0",
            )?);
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let keys = argv[numkeys_idx + 1..where_idx].to_vec();
    let count = (count.unwrap_or(1) as u64).min(usize::MAX as u64) as usize;
    Ok((keys, end, count))
}

/// Pops up to `count` from the first non-empty list among `keys`, replying
/// `[key, [elements]]`. Returns false, with nothing written, when all are empty.
pub(crate) fn mpop(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    end: End,
    count: usize,
) -> Result<bool, CmdError> {
    for key in keys {
        let Some(l) = write(ctx, key)? else {
            continue;
        };
        let n = count.min(l.len());
        if n == 0 {
            continue;
        }
        let mut popped = Vec::with_capacity(n);
        for _ in 0..n {
            if let Some(v) = l.pop(end) {
                popped.push(v);
            }
        }
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.array(popped.len());
        for v in &popped {
            ctx.out.bulk(v);
        }
        ctx.srv.dirty += popped.len() as u64;
        notify::notify(ctx.srv, notify::LIST, super::pop_event(end), key);
        drop_if_empty(ctx, key);
        return Ok(true);
    }
    Ok(false)
}

/// LMPOP numkeys key [key ...] LEFT | RIGHT [COUNT count]
pub(super) fn lmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (keys, end, count) = parse_mpop(argv, 1)?;
    if !mpop(ctx, &keys, end, count)? {
        ctx.out.null_array();
    }
    Ok(())
}
