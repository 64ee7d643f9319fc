//! String commands.

use bytes::Bytes;

use super::{err, CmdResult, Ctx, Handler};
use crate::db::Value;

pub static COMMANDS: &[(&str, Handler)] = &[("get", get), ("set", set)];

/// The string value at `key`, None when missing, or WRONGTYPE.
pub fn get_str<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Result<Option<&'a [u8]>, super::CmdError> {
    let now = ctx.now;
    match ctx.srv.db.get(key, now) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        #[allow(unreachable_patterns)]
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// GET key
fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let found = get_str(ctx, &argv[1])?.map(|s| s.to_vec());
    match found {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | KEEPTTL]
fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() != 3 {
        return Err(err::SYNTAX.into());
    }
    let now = ctx.now;
    ctx.srv.db.set(&argv[1], Value::str(&argv[2]), false);
    let _ = now;
    ctx.srv.dirty += 1;
    ctx.out.ok();
    Ok(())
}
