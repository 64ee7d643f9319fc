//! BZPOPMIN, BZPOPMAX and BZMPOP. Each first serves at once exactly like its
//! non-blocking twin; only when no key holds a sorted set does it ask to wait (see
//! `crate::blocking`), and the same handler runs again when a key becomes ready.

use bytes::Bytes;

use super::pop::{parse_mpop, try_pop_first};
use crate::blocking::{may_block, parse_timeout, serving_key, BlockSpec};
use crate::cmd::{CmdResult, Ctx};

/// When re-run for a ready key among `keys`, just that key.
fn served_keys(ctx: &Ctx<'_>, keys: &[Bytes]) -> Option<Vec<Bytes>> {
    let k = serving_key(ctx)?;
    keys.iter().find(|x| &x[..] == k).map(|x| vec![x.clone()])
}

fn pop_or_wait(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    deadline_ms: i64,
    max: bool,
    count: Option<usize>,
) -> CmdResult {
    let served = served_keys(ctx, keys);
    let now = ctx.now;
    if try_pop_first(
        ctx.srv,
        ctx.out,
        served.as_deref().unwrap_or(keys),
        now,
        max,
        count,
    )? {
        return Ok(());
    }
    if !may_block(ctx) {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.client.block = Some(BlockSpec {
        keys: keys.to_vec(),
        deadline_ms,
        type_name: "zset",
        rerun_argv: None,
    });
    Ok(())
}

/// BZPOPMIN key [key ...] timeout
pub fn bzpopmin(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let last = argv.len() - 1;
    let deadline = parse_timeout(&argv[last], ctx.now)?;
    pop_or_wait(ctx, &argv[1..last], deadline, false, None)
}

/// BZPOPMAX key [key ...] timeout
pub fn bzpopmax(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let last = argv.len() - 1;
    let deadline = parse_timeout(&argv[last], ctx.now)?;
    pop_or_wait(ctx, &argv[1..last], deadline, true, None)
}

/// BZMPOP timeout numkeys key [key ...] MIN | MAX [COUNT count]
pub fn bzmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (keys, max, count) = parse_mpop(argv, 2)?;
    let deadline = parse_timeout(&argv[1], ctx.now)?;
    pop_or_wait(ctx, keys, deadline, max, Some(count))
}
