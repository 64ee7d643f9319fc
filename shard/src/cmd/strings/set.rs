//! SET and its relatives (SETNX, SETEX, PSETEX, GETEX), with the option grammar and
//! expiry-time validation they share.

use bytes::Bytes;

use super::{read_str, string_value};
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};
use crate::db::Value;
use crate::notify;

/// How an expiry argument is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireKind {
    /// Seconds from now.
    Ex,
    /// Milliseconds from now.
    Px,
    /// Absolute Unix time in seconds.
    ExAt,
    /// Absolute Unix time in milliseconds.
    PxAt,
}

impl ExpireKind {
    fn in_seconds(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::ExAt)
    }

    fn relative(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::Px)
    }

    fn flag(self) -> u16 {
        match self {
            ExpireKind::Ex => EX,
            ExpireKind::Px => PX,
            ExpireKind::ExAt => EXAT,
            ExpireKind::PxAt => PXAT,
        }
    }
}

/// Reads the argument of an `EX`/`PX`/`EXAT`/`PXAT` option as an absolute Unix time in
/// milliseconds, validated as SET, SETEX, PSETEX and GETEX validate it.
///
/// Zero and negative values are refused, and so is any value whose conversion to
/// milliseconds, or whose sum with `now` for the relative kinds, would overflow; those
/// refusals read `ERR invalid expire time in '<command>' command`. A non-integer is
/// `ERR value is not an integer or out of range`. An absolute time in the past is valid:
/// the caller decides what a key that is already due means.
pub fn parse_expire_option(
    kind: ExpireKind,
    arg: &[u8],
    now: i64,
    command: &str,
) -> Result<i64, CmdError> {
    let invalid = || CmdError::Owned(format!("ERR invalid expire time in '{command}' command"));
    let mut ms = args::int(arg)?;
    if ms <= 0 || (kind.in_seconds() && ms > i64::MAX / 1000) {
        return Err(invalid());
    }
    if kind.in_seconds() {
        ms *= 1000;
    }
    if kind.relative() {
        // Overflow past i64::MAX shows up as a non-positive sum, which is how the check
        // below reports it.
        ms = ms.wrapping_add(now);
    }
    if ms <= 0 {
        return Err(invalid());
    }
    Ok(ms)
}

const NX: u16 = 1 << 0;
const XX: u16 = 1 << 1;
const EX: u16 = 1 << 2;
const PX: u16 = 1 << 3;
const KEEPTTL: u16 = 1 << 4;
const GET: u16 = 1 << 5;
const EXAT: u16 = 1 << 6;
const PXAT: u16 = 1 << 7;
const PERSIST: u16 = 1 << 8;
const ANY_EXPIRE: u16 = EX | PX | EXAT | PXAT;

/// Which command's option grammar to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grammar {
    /// SET: NX, XX, GET, KEEPTTL and the expiry options.
    Set,
    /// GETEX: PERSIST and the expiry options.
    GetEx,
}

/// The options of a SET or GETEX command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StringOptions<'a> {
    flags: u16,
    pub expire: Option<(ExpireKind, &'a [u8])>,
}

impl StringOptions<'_> {
    pub fn nx(&self) -> bool {
        self.flags & NX != 0
    }
    pub fn xx(&self) -> bool {
        self.flags & XX != 0
    }
    pub fn get(&self) -> bool {
        self.flags & GET != 0
    }
    pub fn keep_ttl(&self) -> bool {
        self.flags & KEEPTTL != 0
    }
    pub fn persist(&self) -> bool {
        self.flags & PERSIST != 0
    }
}

/// Parses SET's options (from `argv[3]`) or GETEX's (from `argv[2]`). Options may repeat;
/// an option that conflicts with one already seen, or an expiry option without its
/// argument, is `ERR syntax error`, exactly where Redis draws those lines.
pub fn parse_options(argv: &[Bytes], grammar: Grammar) -> Result<StringOptions<'_>, CmdError> {
    let set = grammar == Grammar::Set;
    let mut o = StringOptions::default();
    let mut j = if set { 3 } else { 2 };
    while j < argv.len() {
        let opt = &argv[j][..];
        let next = argv.get(j + 1);
        let has = |f: u16| o.flags & f != 0;
        let expire_kind = if args::is(opt, "ex") {
            Some(ExpireKind::Ex)
        } else if args::is(opt, "px") {
            Some(ExpireKind::Px)
        } else if args::is(opt, "exat") {
            Some(ExpireKind::ExAt)
        } else if args::is(opt, "pxat") {
            Some(ExpireKind::PxAt)
        } else {
            None
        };
        if set && args::is(opt, "nx") && !has(XX) {
            o.flags |= NX;
        } else if set && args::is(opt, "xx") && !has(NX) {
            o.flags |= XX;
        } else if set && args::is(opt, "get") {
            o.flags |= GET;
        } else if set && args::is(opt, "keepttl") && !has(PERSIST | ANY_EXPIRE) {
            o.flags |= KEEPTTL;
        } else if !set && args::is(opt, "persist") && !has(ANY_EXPIRE | KEEPTTL) {
            o.flags |= PERSIST;
        } else if let (Some(kind), Some(arg)) = (expire_kind, next) {
            // The same expiry option may repeat (the last one wins); a different one
            // conflicts.
            if has((KEEPTTL | PERSIST | ANY_EXPIRE) & !kind.flag()) {
                return Err(err::SYNTAX.into());
            }
            o.flags |= kind.flag();
            o.expire = Some((kind, &arg[..]));
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

/// What SET-like commands reply when they set, or decline to set, the key.
#[derive(Clone, Copy)]
enum Replies {
    /// `+OK` / null (SET, SETEX, PSETEX).
    OkNull,
    /// `:1` / `:0` (SETNX).
    OneZero,
}

/// The shared body of SET, SETNX, SETEX and PSETEX.
fn set_generic(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    value: &[u8],
    o: &StringOptions<'_>,
    replies: Replies,
) -> CmdResult {
    let now = ctx.now;
    let expire_at = match o.expire {
        Some((kind, arg)) => Some(parse_expire_option(kind, arg, now, ctx.spec.name)?),
        None => None,
    };
    if o.get() {
        match read_str(&mut ctx.srv.db, key, now)? {
            Some(old) => ctx.out.bulk(old),
            None => ctx.out.null(),
        }
    }
    // Only NX and XX need to know; a plain SET still expires a due key first, as Redis's
    // lookup does, so the deletion reaches the AOF and keyspace events.
    let found = if o.nx() || o.xx() {
        ctx.srv.db.contains(key, now)
    } else {
        ctx.srv.db.expire_due(key, now);
        false
    };
    if (o.nx() && found) || (o.xx() && !found) {
        if !o.get() {
            match replies {
                Replies::OkNull => ctx.out.null(),
                Replies::OneZero => ctx.out.int(0),
            }
        }
        return Ok(());
    }
    ctx.srv.db.set(key, string_value(value), o.keep_ttl());
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, notify::STRING, "set", key);
    if let Some(at) = expire_at {
        // A time already past is stored as is: the key is gone at its next lookup, as the
        // replayed `SET ... PXAT` would leave it.
        ctx.srv.db.set_expire(key, at);
        notify::notify(ctx.srv, notify::GENERIC, "expire", key);
    }
    if !o.get() {
        match replies {
            Replies::OkNull => ctx.out.ok(),
            Replies::OneZero => ctx.out.int(1),
        }
    }
    Ok(())
}

/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | KEEPTTL]
pub(super) fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let o = parse_options(argv, Grammar::Set)?;
    set_generic(ctx, &argv[1], &argv[2], &o, Replies::OkNull)
}

/// SETNX key value
pub(super) fn setnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let o = StringOptions {
        flags: NX,
        expire: None,
    };
    set_generic(ctx, &argv[1], &argv[2], &o, Replies::OneZero)
}

/// SETEX key seconds value
pub(super) fn setex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let o = StringOptions {
        flags: EX,
        expire: Some((ExpireKind::Ex, &argv[2])),
    };
    set_generic(ctx, &argv[1], &argv[3], &o, Replies::OkNull)
}

/// PSETEX key milliseconds value
pub(super) fn psetex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let o = StringOptions {
        flags: PX,
        expire: Some((ExpireKind::Px, &argv[2])),
    };
    set_generic(ctx, &argv[1], &argv[3], &o, Replies::OkNull)
}

/// GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | PERSIST]
pub(super) fn getex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let o = parse_options(argv, Grammar::GetEx)?;
    let now = ctx.now;
    let key = &argv[1][..];
    if read_str(&mut ctx.srv.db, key, now)?.is_none() {
        ctx.out.null();
        return Ok(());
    }
    // A missing key answers null and a wrong type WRONGTYPE before the expiry argument is
    // looked at, as in Redis.
    let expire_at = match o.expire {
        Some((kind, arg)) => Some((kind, parse_expire_option(kind, arg, now, ctx.spec.name)?)),
        None => None,
    };
    if let Some(Value::Str(s)) = ctx.srv.db.peek(key, now).map(|e| &e.value) {
        ctx.out.bulk(s);
    }
    match expire_at {
        Some((kind, at)) if !kind.relative() && at <= now => {
            ctx.srv.db.remove(key);
            ctx.srv.dirty += 1;
            notify::notify(ctx.srv, notify::GENERIC, "del", key);
        }
        Some((_, at)) => {
            ctx.srv.db.set_expire(key, at);
            ctx.srv.dirty += 1;
            notify::notify(ctx.srv, notify::GENERIC, "expire", key);
        }
        None => {
            if o.persist() && ctx.srv.db.persist(key) {
                ctx.srv.dirty += 1;
                notify::notify(ctx.srv, notify::GENERIC, "persist", key);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|x| Bytes::copy_from_slice(x.as_bytes()))
            .collect()
    }

    type Parsed = (u16, Option<(ExpireKind, Vec<u8>)>);

    fn set_opts(s: &str) -> Result<Parsed, String> {
        let a = argv(s);
        parse_options(&a, Grammar::Set)
            .map(|o| (o.flags, o.expire.map(|(k, v)| (k, v.to_vec()))))
            .map_err(|e| e.text().to_string())
    }

    #[test]
    fn set_option_combinations() {
        assert_eq!(set_opts("set k v").unwrap().0, 0);
        assert_eq!(set_opts("set k v nx get").unwrap().0, NX | GET);
        assert_eq!(set_opts("set k v XX Get get").unwrap().0, XX | GET);
        assert_eq!(
            set_opts("set k v ex 10 ex 20").unwrap().1,
            Some((ExpireKind::Ex, b"20".to_vec()))
        );
        assert_eq!(set_opts("set k v keepttl xx").unwrap().0, KEEPTTL | XX);
        for bad in [
            "set k v nx xx",
            "set k v xx nx",
            "set k v ex 1 px 1",
            "set k v px 1 exat 1",
            "set k v keepttl ex 1",
            "set k v ex 1 keepttl",
            "set k v ex",
            "set k v persist",
            "set k v foo",
            "set k v nxx",
        ] {
            assert_eq!(set_opts(bad), Err(err::SYNTAX.to_string()), "{bad}");
        }
    }

    #[test]
    fn getex_option_combinations() {
        let ok = |s: &str| parse_options(&argv(s), Grammar::GetEx).map(|o| o.flags);
        assert_eq!(ok("getex k persist"), Ok(PERSIST));
        assert_eq!(ok("getex k pxat 5"), Ok(PXAT));
        for bad in [
            "getex k persist ex 1",
            "getex k ex 1 persist",
            "getex k nx",
            "getex k get",
            "getex k keepttl",
            "getex k px",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expire_times_validate_like_redis() {
        let p = |k, s: &str, now| {
            parse_expire_option(k, s.as_bytes(), now, "set").map_err(|e| e.text().to_string())
        };
        assert_eq!(p(ExpireKind::Ex, "10", 1000), Ok(11_000));
        assert_eq!(p(ExpireKind::Px, "10", 1000), Ok(1010));
        assert_eq!(p(ExpireKind::ExAt, "10", 1000), Ok(10_000));
        assert_eq!(p(ExpireKind::PxAt, "10", 1000), Ok(10));
        let invalid = Err("ERR invalid expire time in 'set' command".to_string());
        assert_eq!(p(ExpireKind::Ex, "0", 1), invalid);
        assert_eq!(p(ExpireKind::PxAt, "-5", 1), invalid);
        assert_eq!(p(ExpireKind::Ex, "9223372036854776", 1), invalid);
        assert_eq!(
            p(ExpireKind::ExAt, "9223372036854775", 1),
            Ok(9223372036854775000)
        );
        assert_eq!(p(ExpireKind::Px, "9223372036854775807", 1), invalid);
        assert_eq!(p(ExpireKind::Px, "9223372036854775807", 0), Ok(i64::MAX));
        assert_eq!(p(ExpireKind::Ex, "1.5", 1), Err(err::NOT_INT.to_string()));
    }
}
