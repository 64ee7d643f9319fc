//! Key expiry: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX | XX | GT | LT), TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME and PERSIST.

use bytes::Bytes;

use crate::cmd::{args, CmdError, CmdResult, Ctx};
use crate::notify;

/// How the time argument is read: relative to now or absolute, in seconds or ms.
#[derive(Clone, Copy)]
struct TimeArg {
    relative: bool,
    seconds: bool,
}

/// EXPIRE key seconds [NX | XX | GT | LT]
pub(super) fn expire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_expire(
        ctx,
        argv,
        TimeArg {
            relative: true,
            seconds: true,
        },
    )
}

/// PEXPIRE key milliseconds [NX | XX | GT | LT]
pub(super) fn pexpire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_expire(
        ctx,
        argv,
        TimeArg {
            relative: true,
            seconds: false,
        },
    )
}

/// EXPIREAT key unix-time-seconds [NX | XX | GT | LT]
pub(super) fn expireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_expire(
        ctx,
        argv,
        TimeArg {
            relative: false,
            seconds: true,
        },
    )
}

/// PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]
pub(super) fn pexpireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_expire(
        ctx,
        argv,
        TimeArg {
            relative: false,
            seconds: false,
        },
    )
}

/// The NX | XX | GT | LT conditions of the EXPIRE family.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Cond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Cond {
    fn parse(opts: &[Bytes]) -> Result<Cond, CmdError> {
        let mut c = Cond::default();
        for opt in opts {
            if args::is(opt, "nx") {
                c.nx = true;
            } else if args::is(opt, "xx") {
                c.xx = true;
            } else if args::is(opt, "gt") {
                c.gt = true;
            } else if args::is(opt, "lt") {
                c.lt = true;
            } else {
                return Err(CmdError::Owned(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                )));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(
                "ERR NX and XX, GT or LT options at the same time are not compatible".into(),
            );
        }
        if c.gt && c.lt {
            return Err("ERR GT and LT options at the same time are not compatible".into());
        }
        Ok(c)
    }

    /// Whether a key whose current expiry is `current` (None: no TTL, which counts as
    /// infinite) may take the expiry `when`.
    fn allows(self, current: Option<i64>, when: i64) -> bool {
        if self.nx && current.is_some() {
            return false;
        }
        if self.xx && current.is_none() {
            return false;
        }
        if self.gt && current.is_none_or(|cur| when <= cur) {
            return false;
        }
        if self.lt && current.is_some_and(|cur| when >= cur) {
            return false;
        }
        true
    }
}

/// The absolute expiry in ms that `arg` names, or None when converting it overflows.
fn absolute_ms(when: i64, arg: TimeArg, now: i64) -> Option<i64> {
    let ms = if arg.seconds {
        when.checked_mul(1000)?
    } else {
        when
    };
    let base = if arg.relative { now } else { 0 };
    // Only overflow past the top is an error: a time far in the past just deletes.
    if ms > i64::MAX - base {
        return None;
    }
    Some(ms + base)
}

fn set_expire(ctx: &mut Ctx<'_>, argv: &[Bytes], arg: TimeArg) -> CmdResult {
    let cond = Cond::parse(&argv[3..])?;
    let when = args::int(&argv[2])?;
    let now = ctx.now;
    let Some(at) = absolute_ms(when, arg, now) else {
        return Err(CmdError::Owned(format!(
            "ERR invalid expire time in '{}' command",
            ctx.spec.name
        )));
    };
    let key = &argv[1];
    let db = &mut ctx.srv.db;
    if db.get_mut(key, now).is_none() {
        ctx.out.int(0);
        return Ok(());
    }
    if !cond.allows(db.expire_at(key), at) {
        ctx.out.int(0);
        return Ok(());
    }
    let event = if at <= now {
        // A time already past deletes the key at once, which is a change like any other.
        db.remove(key);
        (notify::GENERIC, "del")
    } else {
        db.set_expire(key, at);
        (notify::GENERIC, "expire")
    };
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, event.0, event.1, key);
    ctx.out.int(1);
    Ok(())
}

/// TTL key
pub(super) fn ttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    reply_ttl(ctx, &argv[1], false, false)
}

/// PTTL key
pub(super) fn pttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    reply_ttl(ctx, &argv[1], true, false)
}

/// EXPIRETIME key
pub(super) fn expiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    reply_ttl(ctx, &argv[1], false, true)
}

/// PEXPIRETIME key
pub(super) fn pexpiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    reply_ttl(ctx, &argv[1], true, true)
}

/// -2 for a missing key, -1 for a key without TTL, else the time left (or the expiry
/// time when `absolute`), rounded to the nearest second unless `ms`.
fn reply_ttl(ctx: &mut Ctx<'_>, key: &[u8], ms: bool, absolute: bool) -> CmdResult {
    let now = ctx.now;
    let db = &mut ctx.srv.db;
    if db.lookup_notouch(key, now).is_none() {
        ctx.out.int(-2);
        return Ok(());
    }
    let n = match db.expire_at(key) {
        None => -1,
        Some(at) => {
            let t = if absolute { at } else { at - now }.max(0);
            if ms {
                t
            } else {
                // Rounded in 128 bits: a time near i64::MAX must still round up.
                ((i128::from(t) + 500) / 1000) as i64
            }
        }
    };
    ctx.out.int(n);
    Ok(())
}

/// PERSIST key
pub(super) fn persist(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let db = &mut ctx.srv.db;
    let removed = db.get_mut(&argv[1], now).is_some() && db.persist(&argv[1]);
    if removed {
        ctx.srv.dirty += 1;
        notify::notify(ctx.srv, notify::GENERIC, "persist", &argv[1]);
    }
    ctx.out.int(i64::from(removed));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Harness;
    use super::*;

    const REL_S: TimeArg = TimeArg {
        relative: true,
        seconds: true,
    };
    const ABS_MS: TimeArg = TimeArg {
        relative: false,
        seconds: false,
    };

    fn cond(words: &[&str]) -> Result<Cond, String> {
        let opts: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        Cond::parse(&opts).map_err(|e| e.text().to_string())
    }

    #[test]
    fn option_conflicts() {
        let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
        for bad in [["nx", "xx"], ["NX", "gt"], ["lt", "nx"]] {
            assert_eq!(cond(&bad).err().as_deref(), Some(nx));
        }
        assert_eq!(
            cond(&["gt", "lt"]).err().as_deref(),
            Some("ERR GT and LT options at the same time are not compatible")
        );
        assert_eq!(
            cond(&["xx", "AB"]).err().as_deref(),
            Some("ERR Unsupported option AB")
        );
        assert!(cond(&["xx", "gt"]).is_ok());
        assert!(cond(&["LT", "xx"]).is_ok());
    }

    #[test]
    fn option_matrix() {
        let c = |w: &[&str]| cond(w).unwrap();
        // (options, current expiry, new expiry, allowed)
        let cases: &[(&[&str], Option<i64>, i64, bool)] = &[
            (&[], Some(100), 50, true),
            (&["nx"], Some(100), 200, false),
            (&["nx"], None, 200, true),
            (&["xx"], Some(100), 200, true),
            (&["xx"], None, 200, false),
            (&["gt"], Some(100), 200, true),
            (&["gt"], Some(100), 100, false),
            (&["gt"], Some(200), 100, false),
            (&["gt"], None, 200, false),
            (&["lt"], Some(100), 200, false),
            (&["lt"], Some(100), 100, false),
            (&["lt"], Some(200), 100, true),
            (&["lt"], None, 100, true),
            (&["lt", "xx"], Some(200), 100, true),
            (&["lt", "xx"], None, 100, false),
            (&["gt", "xx"], Some(100), 200, true),
        ];
        for &(opts, cur, when, want) in cases {
            assert_eq!(c(opts).allows(cur, when), want, "{opts:?} {cur:?} {when}");
        }
    }

    #[test]
    fn overflow_is_detected() {
        let now = 1_700_000_000_000;
        assert_eq!(absolute_ms(9_223_370_399_119_966, REL_S, now), None);
        assert_eq!(absolute_ms(9_223_372_036_854_776, REL_S, now), None);
        assert_eq!(absolute_ms(-9_223_372_036_854_776, REL_S, now), None);
        assert_eq!(absolute_ms(i64::MAX, ABS_MS, now), Some(i64::MAX));
        assert_eq!(absolute_ms(i64::MIN, ABS_MS, now), Some(i64::MIN));
        assert_eq!(absolute_ms(10, REL_S, now), Some(now + 10_000));
    }

    #[test]
    fn commands_end_to_end() {
        let mut h = Harness::new();
        assert_eq!(h.run("expire none 100 NX"), ":0\r\n");
        h.run("set foo bar");
        assert_eq!(
            h.run("expire foo 10000000000000000"),
            "-ERR invalid expire time in 'expire' command\r\n"
        );
        assert_eq!(
            h.run("pexpire foo 9223372036854770000"),
            "-ERR invalid expire time in 'pexpire' command\r\n"
        );
        assert_eq!(
            h.run("expire foo x"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(h.run("ttl foo"), ":-1\r\n");
        assert_eq!(h.run("pexpiretime foo"), ":-1\r\n");
        assert_eq!(h.run("expire foo 100 gt"), ":0\r\n");
        assert_eq!(h.run("expire foo 100 lt"), ":1\r\n");
        assert_eq!(h.run("ttl foo"), ":100\r\n");
        assert_eq!(h.run("persist foo"), ":1\r\n");
        assert_eq!(h.run("persist foo"), ":0\r\n");
        assert_eq!(h.run("pexpireat foo 9223372036854770000"), ":1\r\n");
        assert_eq!(h.run("pexpiretime foo"), ":9223372036854770000\r\n");
        assert_eq!(h.run("expiretime foo"), ":9223372036854770\r\n");
        assert_eq!(h.run("pexpireat foo 9223372036854775807"), ":1\r\n");
        assert_eq!(h.run("expiretime foo"), ":9223372036854776\r\n");
        let dirty = h.srv.dirty;
        assert_eq!(h.run("expire foo -10 lt"), ":1\r\n");
        assert_eq!(h.srv.dirty, dirty + 1);
        assert_eq!(h.run("ttl foo"), ":-2\r\n");
        assert_eq!(h.run("expiretime foo"), ":-2\r\n");
    }
}
