//! String commands.
//!
//! # Layout
//! - this module: plain reads and writes (GET, GETSET, GETDEL, MGET, MSET, MSETNX, APPEND,
//!   STRLEN) and the lookup helpers the others share.
//! - [`set`]: SET and its relatives, their option grammar, and expiry-time validation
//!   ([`set::parse_expire_option`], reusable by other families).
//! - [`range`]: GETRANGE, SUBSTR, SETRANGE and LCS.
//! - [`counter`]: INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT.
//! - [`longdouble`]: the 80-bit extended arithmetic INCRBYFLOAT computes in, on the
//!   exact integers of [`bignum`].
//! - [`bits`]: SETBIT, GETBIT, BITCOUNT, BITPOS and BITOP.
//! - [`bitfield`]: BITFIELD and BITFIELD_RO.
//!
//! A value edited within its length (SETRANGE, SETBIT, BITFIELD) is changed in place, so a
//! large bitmap costs no copy per bit. One that grows (APPEND, or an edit past the end) is
//! rebuilt as a new `Sds` around the same buffer: the boxed form keeps no spare capacity,
//! so growth goes through the allocator's reallocation. A counter gets a new `Sds`.
//!
//! # Propagation
//! Some of these commands are not deterministic as sent, and Redis rewrites them before
//! they reach the AOF or a replica; the AOF must record the same forms:
//! - SET with EX/PX/EXAT/PXAT, SETEX and PSETEX: `SET key value PXAT <ms>` (absolute);
//!   SET with GET but no expiry: the same SET without its GET arguments.
//! - GETEX: `PEXPIREAT key <ms>`, `DEL key` (an absolute time already past), `PERSIST key`,
//!   or nothing when it changed nothing.
//! - GETDEL: `DEL key`. GETSET: `SET key value`.
//! - INCRBYFLOAT: `SET key <result> KEEPTTL`, so float formatting never differs on replay.

pub mod bignum;
pub mod bitfield;
pub mod bits;
pub mod counter;
pub mod longdouble;
pub mod range;
pub mod set;

use bytes::Bytes;

use super::{err, CmdError, CmdResult, Ctx, Handler};
use crate::db::{Db, Sds, Value};
use crate::notify;

pub use set::{parse_expire_option, ExpireKind};

pub static COMMANDS: &[(&str, Handler)] = &[
    ("get", get),
    ("set", set::set),
    ("setnx", set::setnx),
    ("setex", set::setex),
    ("psetex", set::psetex),
    ("getex", set::getex),
    ("getset", getset),
    ("getdel", getdel),
    ("mget", mget),
    ("mset", mset),
    ("msetnx", msetnx),
    ("append", append),
    ("strlen", strlen),
    ("getrange", range::getrange),
    ("substr", range::getrange),
    ("setrange", range::setrange),
    ("lcs", range::lcs),
    ("incr", counter::incr),
    ("decr", counter::decr),
    ("incrby", counter::incrby),
    ("decrby", counter::decrby),
    ("incrbyfloat", counter::incrbyfloat),
    ("setbit", bits::setbit),
    ("getbit", bits::getbit),
    ("bitcount", bits::bitcount),
    ("bitpos", bits::bitpos),
    ("bitop", bits::bitop),
    ("bitfield", bitfield::bitfield),
    ("bitfield_ro", bitfield::bitfield_ro),
];

/// A string value holding `data`.
pub(crate) fn string_value(data: &[u8]) -> Value {
    Value::Str(Sds::new(data))
}

/// The string at `key` for a read (lazy expiry, hit/miss stats): None when missing, or
/// WRONGTYPE.
pub fn read_str<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a Sds>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// The string at `key` for an edit in place (lazy expiry, no stats; the key keeps its
/// TTL): None when missing, or WRONGTYPE.
pub fn str_mut<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a mut Sds>, CmdError> {
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// Rebuilds `s` through `edit`. A heap string's buffer is reused rather than copied, so
/// the cost is the allocator's reallocation, which can often extend in place.
pub(crate) fn grow(s: &mut Sds, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut v = std::mem::replace(s, Sds::new(b"")).into_vec();
    edit(&mut v);
    *s = Sds::from_vec(v);
}

/// The string value at `key`, None when missing, or WRONGTYPE.
pub fn get_str<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Result<Option<&'a [u8]>, CmdError> {
    let now = ctx.now;
    Ok(read_str(&mut ctx.srv.db, key, now)?.map(|s| &s[..]))
}

/// Refuses a string that would grow past `proto-max-bulk-len` (and sizes that overflow).
pub(crate) fn check_string_length(max: u64, size: u64, append: u64) -> CmdResult {
    match size.checked_add(append) {
        Some(total) if total <= max => Ok(()),
        _ => Err(err::STRING_TOO_LONG.into()),
    }
}

/// GET key
fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    match read_str(&mut ctx.srv.db, &argv[1], now)? {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// GETSET key value
fn getset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    match read_str(&mut ctx.srv.db, &argv[1], now)? {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    ctx.srv.db.set(&argv[1], string_value(&argv[2]), false);
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, notify::STRING, "set", &argv[1]);
    Ok(())
}

/// GETDEL key
fn getdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    match read_str(&mut ctx.srv.db, &argv[1], now)? {
        Some(v) => ctx.out.bulk(v),
        None => {
            ctx.out.null();
            return Ok(());
        }
    }
    if ctx.srv.db.remove(&argv[1]).is_some() {
        ctx.srv.dirty += 1;
        notify::notify(ctx.srv, notify::GENERIC, "del", &argv[1]);
    }
    Ok(())
}

/// MGET key [key ...]
fn mget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    ctx.out.array(argv.len() - 1);
    for key in &argv[1..] {
        match ctx.srv.db.get(key, now) {
            Some(Value::Str(s)) => ctx.out.bulk(s),
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

/// MSET key value [key value ...]
fn mset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    mset_generic(ctx, argv, false)
}

/// MSETNX key value [key value ...]
fn msetnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    mset_generic(ctx, argv, true)
}

fn mset_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], nx: bool) -> CmdResult {
    if argv.len() & 1 == 0 {
        return Err(super::wrong_arity(ctx.spec.name));
    }
    let now = ctx.now;
    if nx
        && argv[1..]
            .chunks(2)
            .any(|kv| ctx.srv.db.contains(&kv[0], now))
    {
        ctx.out.int(0);
        return Ok(());
    }
    for kv in argv[1..].chunks_exact(2) {
        ctx.srv.db.set(&kv[0], string_value(&kv[1]), false);
        notify::notify(ctx.srv, notify::STRING, "set", &kv[0]);
    }
    ctx.srv.dirty += (argv.len() as u64 - 1) / 2;
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// APPEND key value
fn append(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let key = &argv[1][..];
    let tail = &argv[2][..];
    let max = ctx.srv.config.proto_max_bulk_len;
    let len = match str_mut(&mut ctx.srv.db, key, now)? {
        None => {
            ctx.srv.db.set(key, string_value(tail), false);
            tail.len()
        }
        Some(s) => {
            check_string_length(max, s.len() as u64, tail.len() as u64)?;
            grow(s, |v| v.extend_from_slice(tail));
            s.len()
        }
    };
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, notify::STRING, "append", key);
    ctx.out.int(len as i64);
    Ok(())
}

/// STRLEN key
fn strlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let n = read_str(&mut ctx.srv.db, &argv[1], now)?.map_or(0, |s| s.len());
    ctx.out.int(n as i64);
    Ok(())
}

#[cfg(test)]
mod tests;
