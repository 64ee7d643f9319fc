//! Persistence commands: BGREWRITEAOF.

use bytes::Bytes;

use super::{CmdResult, Ctx, Handler};

pub static COMMANDS: &[(&str, Handler)] = &[("bgrewriteaof", bgrewriteaof)];

/// BGREWRITEAOF
fn bgrewriteaof(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    crate::persist::rewrite::start(ctx.srv)?;
    ctx.out
        .simple("Background append only file rewriting started");
    Ok(())
}
