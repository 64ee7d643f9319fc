//! Generic key commands.

use bytes::Bytes;

use super::{CmdResult, Ctx, Handler};

pub static COMMANDS: &[(&str, Handler)] = &[("del", del), ("exists", exists)];

/// DEL key [key ...]
fn del(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let mut n = 0;
    for key in &argv[1..] {
        if ctx.srv.db.contains(key, now) && ctx.srv.db.remove(key).is_some() {
            n += 1;
        }
    }
    ctx.srv.dirty += n as u64;
    ctx.out.int(n);
    Ok(())
}

/// EXISTS key [key ...]
fn exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let n = argv[1..]
        .iter()
        .filter(|k| ctx.srv.db.contains(k, now))
        .count();
    ctx.out.int(n as i64);
    Ok(())
}
