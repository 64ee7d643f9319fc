//! The blocking list commands, and CLIENT UNBLOCK. Each command first tries to serve at
//! once exactly like its non-blocking twin; only when every key is empty does it ask to
//! wait (see `crate::blocking`), and the same handler runs again when a key becomes ready.
//!
//! Propagation (for the AOF): Redis records a served pop as its non-blocking form, so a
//! replay never blocks and takes from the same key: BLPOP/BRPOP as `LPOP|RPOP key`,
//! BLMPOP as `LPOP|RPOP key count` (count capped at the length popped), BLMOVE as `LMOVE`
//! and BRPOPLPUSH as `RPOPLPUSH`. A pop that found nothing changes nothing and is not
//! recorded.

use bytes::Bytes;

use super::{move_one, mpop, parse_end, parse_mpop, write};
use crate::blocking::{may_block, parse_timeout, serving_key, BlockSpec};
use crate::cmd::{args, CmdResult, Ctx, Handler};
use crate::db::list::End;
use crate::notify;

pub static COMMANDS: &[(&str, Handler)] = &[
    ("blpop", blpop),
    ("brpop", brpop),
    ("blmove", blmove),
    ("brpoplpush", brpoplpush),
    ("blmpop", blmpop),
    // CLIENT UNBLOCK touches nothing but the waiters, so it lives beside them.
    ("client|unblock", client_unblock),
];

fn wait(ctx: &mut Ctx<'_>, keys: Vec<Bytes>, deadline_ms: i64) {
    ctx.client.block = Some(BlockSpec {
        keys,
        deadline_ms,
        type_name: "list",
    });
}

/// When re-run for a ready key among `keys`, just that key.
fn served_keys(ctx: &Ctx<'_>, keys: &[Bytes]) -> Option<Vec<Bytes>> {
    let k = serving_key(ctx)?;
    keys.iter().find(|x| &x[..] == k).map(|x| vec![x.clone()])
}

fn bpop(ctx: &mut Ctx<'_>, argv: &[Bytes], end: End) -> CmdResult {
    let last = argv.len() - 1;
    let deadline = parse_timeout(&argv[last], ctx.now)?;
    let keys = &argv[1..last];
    let served = served_keys(ctx, keys);
    for key in served.as_deref().unwrap_or(keys) {
        let Some(l) = write(ctx, key)? else {
            continue;
        };
        let Some(v) = l.pop(end) else {
            continue;
        };
        let empty = l.is_empty();
        notify::notify(ctx.srv, notify::LIST, super::pop_event(end), key);
        if empty {
            ctx.srv.db.remove(key);
            notify::notify(ctx.srv, notify::GENERIC, "del", key);
        }
        ctx.srv.dirty += 1;
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.bulk(&v);
        return Ok(());
    }
    if !may_block(ctx) {
        ctx.out.null_array();
        return Ok(());
    }
    wait(ctx, keys.to_vec(), deadline);
    Ok(())
}

/// BLPOP key [key ...] timeout
fn blpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    bpop(ctx, argv, End::Head)
}

/// BRPOP key [key ...] timeout
fn brpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    bpop(ctx, argv, End::Tail)
}

fn bmove(ctx: &mut Ctx<'_>, argv: &[Bytes], from: End, to: End, deadline: i64) -> CmdResult {
    if move_one(ctx, &argv[1], &argv[2], from, to)? {
        return Ok(());
    }
    if !may_block(ctx) {
        ctx.out.null();
        return Ok(());
    }
    wait(ctx, vec![argv[1].clone()], deadline);
    Ok(())
}

/// BLMOVE source destination LEFT | RIGHT LEFT | RIGHT timeout
fn blmove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let from = parse_end(&argv[3])?;
    let to = parse_end(&argv[4])?;
    let deadline = parse_timeout(&argv[5], ctx.now)?;
    bmove(ctx, argv, from, to, deadline)
}

/// BRPOPLPUSH source destination timeout
fn brpoplpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let deadline = parse_timeout(&argv[3], ctx.now)?;
    bmove(ctx, argv, End::Tail, End::Head, deadline)
}

/// BLMPOP timeout numkeys key [key ...] LEFT | RIGHT [COUNT count]
fn blmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (keys, end, count) = parse_mpop(argv, 2)?;
    let deadline = parse_timeout(&argv[1], ctx.now)?;
    let served = served_keys(ctx, &keys);
    if mpop(ctx, served.as_deref().unwrap_or(&keys), end, count)? {
        return Ok(());
    }
    if !may_block(ctx) {
        ctx.out.null_array();
        return Ok(());
    }
    wait(ctx, keys, deadline);
    Ok(())
}

/// CLIENT UNBLOCK client-id [TIMEOUT | ERROR]
fn client_unblock(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 4 {
        return Err(
            "ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP."
                .into(),
        );
    }
    let error = match argv.get(3) {
        None => false,
        Some(a) if args::is(a, "timeout") => false,
        Some(a) if args::is(a, "error") => true,
        Some(_) => return Err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into()),
    };
    let id = args::int(&argv[2])?;
    let done = u64::try_from(id).is_ok_and(|id| crate::blocking::unblock(ctx.srv, id, error));
    ctx.out.int(done as i64);
    Ok(())
}
