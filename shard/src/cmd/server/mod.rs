//! Server commands: FLUSHALL, FLUSHDB, DBSIZE, FUNCTION FLUSH.

use bytes::Bytes;

use super::{args, err, CmdResult, Ctx, Handler};

pub static COMMANDS: &[(&str, Handler)] = &[
    ("flushall", flushall),
    ("flushdb", flushdb),
    ("dbsize", dbsize),
    ("function|flush", function_flush),
];

/// FLUSHALL [ASYNC | SYNC]
fn flushall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    flush(ctx, argv)
}

/// FLUSHDB [ASYNC | SYNC]
fn flushdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    flush(ctx, argv)
}

fn flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match argv.len() {
        1 => {}
        2 if args::is(&argv[1], "async") || args::is(&argv[1], "sync") => {}
        _ => return Err(err::SYNTAX.into()),
    }
    let removed = ctx.srv.db.flush();
    // FLUSHALL counts as a change even on an empty keyspace, as in Redis, so it always
    // reaches the AOF.
    ctx.srv.dirty += removed as u64 + 1;
    ctx.out.ok();
    Ok(())
}

/// DBSIZE
fn dbsize(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.srv.db.len() as i64);
    Ok(())
}

/// FUNCTION FLUSH [ASYNC | SYNC] — shoal has no function libraries, so there is nothing
/// to remove.
fn function_flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match argv.len() {
        2 => {}
        3 if args::is(&argv[2], "async") || args::is(&argv[2], "sync") => {}
        _ => return Err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option".into()),
    }
    ctx.out.ok();
    Ok(())
}
