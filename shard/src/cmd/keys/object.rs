//! OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT | HELP.

use bytes::Bytes;

use crate::cmd::{CmdError, CmdResult, Ctx};
use crate::db::{Entry, Value};

/// The access clock wraps at 24 bits, like the LRU field of a Redis object.
const LRU_CLOCK_MAX: u32 = 0xFF_FFFF;
/// Redis's refcount for its shared objects, which are never freed.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// Integers below this are shared objects in Redis (`OBJ_SHARED_INTEGERS`).
const SHARED_INTEGERS: i64 = 10_000;
/// The counter a key starts with under an LFU policy (`LFU_INIT_VAL`).
const LFU_INIT_VAL: i64 = 5;

const NOT_LFU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const IS_LFU: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

fn lfu_policy(ctx: &Ctx<'_>) -> bool {
    ctx.srv.config.maxmemory_policy.contains("lfu")
}

/// Redis stops sharing integers when an LRU/LFU policy needs a clock in every value.
fn shares_integers(ctx: &Ctx<'_>) -> bool {
    let p = &ctx.srv.config.maxmemory_policy;
    ctx.srv.config.maxmemory == 0 || !(p.contains("lru") || p.contains("lfu"))
}

/// Looks the key up for OBJECT (no access-clock update); replies null when it is missing.
fn lookup<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> Option<&'c Entry> {
    let now = ctx.now;
    match ctx.srv.db.lookup_notouch(key, now) {
        Some(e) => Some(e),
        None => {
            ctx.out.null();
            None
        }
    }
}

/// OBJECT ENCODING key
pub(super) fn encoding(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let Some(e) = lookup(ctx, &argv[2]) else {
        return Ok(());
    };
    let name = e.value.encoding();
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

/// OBJECT REFCOUNT key — values are never shared here, but small integers are reported
/// as shared, as Redis does, since clients and tests read that as "stored as a shared
/// integer".
pub(super) fn refcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let sharing = shares_integers(ctx);
    let Some(e) = lookup(ctx, &argv[2]) else {
        return Ok(());
    };
    let shared = sharing && shared_integer(&e.value);
    ctx.out.int(if shared { SHARED_REFCOUNT } else { 1 });
    Ok(())
}

fn shared_integer(v: &Value) -> bool {
    match v {
        Value::Str(s) if v.encoding() == "int" => {
            shoal_proto::number::parse_i64(s).is_some_and(|n| (0..SHARED_INTEGERS).contains(&n))
        }
        _ => false,
    }
}

/// OBJECT IDLETIME key — seconds since the key was last accessed.
pub(super) fn idletime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let lfu = lfu_policy(ctx);
    let clock = ctx.srv.db.lru_clock;
    let Some(e) = lookup(ctx, &argv[2]) else {
        return Ok(());
    };
    let lru = e.lru;
    if lfu {
        return Err(CmdError::Static(IS_LFU));
    }
    ctx.out.int(i64::from(idle_seconds(clock, lru)));
    Ok(())
}

fn idle_seconds(clock: u32, lru: u32) -> u32 {
    if clock >= lru {
        clock - lru
    } else {
        clock + (LRU_CLOCK_MAX - lru)
    }
}

/// OBJECT FREQ key — shoal keeps no per-key access counter yet, so under an LFU policy
/// every key reports the counter a fresh key starts with.
pub(super) fn freq(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let lfu = lfu_policy(ctx);
    if lookup(ctx, &argv[2]).is_none() {
        return Ok(());
    }
    if !lfu {
        return Err(CmdError::Static(NOT_LFU));
    }
    ctx.out.int(LFU_INIT_VAL);
    Ok(())
}

/// OBJECT HELP
pub(super) fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    const LINES: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.out.array(LINES.len());
    for l in LINES {
        ctx.out.simple(l);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Harness;
    use super::*;

    #[test]
    fn idle_time_wraps_with_the_clock() {
        assert_eq!(idle_seconds(100, 40), 60);
        assert_eq!(idle_seconds(5, LRU_CLOCK_MAX - 10), 15);
    }

    #[test]
    fn object_subcommands() {
        let mut h = Harness::new();
        assert_eq!(h.run("object encoding nope"), "$-1\r\n");
        h.run("set n 9999");
        h.run("set big 10000");
        h.run("set s hello");
        assert_eq!(h.run("object encoding n"), "$3\r\nint\r\n");
        assert_eq!(h.run("object encoding s"), "$6\r\nembstr\r\n");
        assert_eq!(h.run("object refcount n"), ":2147483647\r\n");
        assert_eq!(h.run("object refcount big"), ":1\r\n");
        assert_eq!(h.run("object refcount s"), ":1\r\n");
        assert!(h
            .run("object freq s")
            .starts_with("-ERR An LFU maxmemory policy is not"));
        h.srv.db.lru_clock += 7;
        assert_eq!(h.run("object idletime s"), ":7\r\n");
        h.run("touch s");
        assert_eq!(h.run("object idletime s"), ":0\r\n");
        h.srv.config.maxmemory_policy = "allkeys-lfu".into();
        assert_eq!(h.run("object freq s"), ":5\r\n");
        assert!(h
            .run("object idletime s")
            .starts_with("-ERR An LFU maxmemory policy is selected"));
        assert!(h
            .run("object help")
            .starts_with("*15\r\n+OBJECT <subcommand>"));
    }
}
