//! Hash commands.
//!
//! A key never holds an empty hash: every command that removes fields deletes the key
//! when the last one goes, as Redis does.
//!
//! # Layout
//! - this module: reads and writes of fields.
//! - [`pick`]: HRANDFIELD, and the random-count rules SRANDMEMBER shares.
//! - [`scan`]: HSCAN, and the cursor walk SSCAN shares.

pub(crate) mod pick;
pub(crate) mod scan;

use bytes::Bytes;
use shoal_proto::number;

use super::{args, err, CmdError, CmdResult, Ctx, Handler};
use crate::cmd::strings::longdouble::LongDouble;
use crate::db::hash::{Hash, HashLimits};
use crate::db::{Db, Value};
use crate::notify;

pub static COMMANDS: &[(&str, Handler)] = &[
    ("hset", hset),
    ("hmset", hset),
    ("hsetnx", hsetnx),
    ("hget", hget),
    ("hmget", hmget),
    ("hdel", hdel),
    ("hlen", hlen),
    ("hstrlen", hstrlen),
    ("hexists", hexists),
    ("hkeys", hkeys),
    ("hvals", hvals),
    ("hgetall", hgetall),
    ("hincrby", hincrby),
    ("hincrbyfloat", hincrbyfloat),
    ("hrandfield", pick::hrandfield),
    ("hscan", scan::hscan),
];

fn limits(ctx: &Ctx<'_>) -> HashLimits {
    let c = &ctx.srv.config;
    HashLimits {
        entries: usize::try_from(c.hash_max_listpack_entries).unwrap_or(usize::MAX),
        value: usize::try_from(c.hash_max_listpack_value).unwrap_or(usize::MAX),
    }
}

/// The hash at `key` for reading, None when missing, or WRONGTYPE.
pub(super) fn read<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a Hash>, CmdError> {
    match db.get(key, now) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(err::WRONGTYPE.into()),
    }
}

/// The hash at `key` for writing, created empty when missing. A caller that may leave it
/// empty must call [`drop_if_empty`].
fn write<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<&'a mut Hash, CmdError> {
    if !db.contains(key, now) {
        db.insert_new(key, Value::Hash(Box::default()));
    }
    match db.get_mut(key, now) {
        Some(Value::Hash(h)) => Ok(h),
        _ => Err(err::WRONGTYPE.into()),
    }
}

fn drop_if_empty(db: &mut Db, key: &[u8], now: i64) {
    if matches!(db.get_mut(key, now), Some(Value::Hash(h)) if h.is_empty()) {
        db.remove(key);
    }
}

/// HSET key field value [field value ...] and HMSET (same, but replies +OK).
fn hset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() % 2 == 1 {
        return Err(super::wrong_arity(ctx.spec.name));
    }
    let (now, lim) = (ctx.now, limits(ctx));
    let h = write(&mut ctx.srv.db, &argv[1], now)?;
    h.prepare(argv[2..].iter().map(|a| &a[..]), lim);
    let mut added = 0;
    for pair in argv[2..].chunks_exact(2) {
        added += h.set(&pair[0], &pair[1], lim) as i64;
    }
    ctx.srv.dirty += (argv.len() as u64 - 2) / 2;
    notify::notify(ctx.srv, notify::HASH, "hset", &argv[1]);
    if ctx.spec.name == "hset" {
        ctx.out.int(added);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// HSETNX key field value
fn hsetnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (now, lim) = (ctx.now, limits(ctx));
    let h = write(&mut ctx.srv.db, &argv[1], now)?;
    if h.contains(&argv[2]) {
        ctx.out.int(0);
    } else {
        h.prepare([&argv[2][..], &argv[3][..]], lim);
        h.set(&argv[2], &argv[3], lim);
        ctx.srv.dirty += 1;
        notify::notify(ctx.srv, notify::HASH, "hset", &argv[1]);
        ctx.out.int(1);
    }
    Ok(())
}

/// HGET key field
fn hget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    match read(&mut ctx.srv.db, &argv[1], now)?.and_then(|h| h.get(&argv[2])) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// HMGET key field [field ...]
fn hmget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let h = read(&mut ctx.srv.db, &argv[1], now)?;
    ctx.out.array(argv.len() - 2);
    for f in &argv[2..] {
        match h.and_then(|h| h.get(f)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// HDEL key field [field ...]
fn hdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let db = &mut ctx.srv.db;
    let mut n = 0;
    if let Some(v) = db.get_mut(&argv[1], now) {
        let Value::Hash(h) = v else {
            return Err(err::WRONGTYPE.into());
        };
        for f in &argv[2..] {
            if h.remove(f) {
                n += 1;
                if h.is_empty() {
                    break;
                }
            }
        }
        drop_if_empty(db, &argv[1], now);
    }
    ctx.srv.dirty += n;
    if n > 0 {
        notify::notify(ctx.srv, notify::HASH, "hdel", &argv[1]);
        if !ctx.srv.db.contains_raw(&argv[1]) {
            notify::notify(ctx.srv, notify::GENERIC, "del", &argv[1]);
        }
    }
    ctx.out.int(n as i64);
    Ok(())
}

/// HLEN key
fn hlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let n = read(&mut ctx.srv.db, &argv[1], now)?.map_or(0, |h| h.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// HSTRLEN key field
fn hstrlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let n = read(&mut ctx.srv.db, &argv[1], now)?
        .and_then(|h| h.get(&argv[2]))
        .map_or(0, |v| v.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// HEXISTS key field
fn hexists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let found = read(&mut ctx.srv.db, &argv[1], now)?.is_some_and(|h| h.contains(&argv[2]));
    ctx.out.int(found as i64);
    Ok(())
}

#[derive(Clone, Copy)]
enum Part {
    Keys,
    Vals,
    Both,
}

fn get_all(ctx: &mut Ctx<'_>, key: &[u8], part: Part) -> CmdResult {
    let now = ctx.now;
    let out = &mut *ctx.out;
    let Some(h) = read(&mut ctx.srv.db, key, now)? else {
        match part {
            Part::Both => out.map(0),
            _ => out.array(0),
        }
        return Ok(());
    };
    match part {
        Part::Both => out.map(h.len()),
        _ => out.array(h.len()),
    }
    for (f, v) in h.iter() {
        match part {
            Part::Keys => out.bulk(f),
            Part::Vals => out.bulk(v),
            Part::Both => {
                out.bulk(f);
                out.bulk(v);
            }
        }
    }
    Ok(())
}

/// HKEYS key
fn hkeys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    get_all(ctx, &argv[1], Part::Keys)
}

/// HVALS key
fn hvals(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    get_all(ctx, &argv[1], Part::Vals)
}

/// HGETALL key
fn hgetall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    get_all(ctx, &argv[1], Part::Both)
}

/// HINCRBY key field increment
fn hincrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let incr = args::int(&argv[3])?;
    let (now, lim) = (ctx.now, limits(ctx));
    let h = write(&mut ctx.srv.db, &argv[1], now)?;
    let old = match h.get(&argv[2]) {
        Some(v) => number::parse_i64(v).ok_or("ERR hash value is not an integer"),
        None => Ok(0),
    };
    let new = old.and_then(|old| old.checked_add(incr).ok_or(err::OVERFLOW));
    let new = match new {
        Ok(n) => n,
        Err(e) => {
            drop_if_empty(&mut ctx.srv.db, &argv[1], now);
            return Err(e.into());
        }
    };
    h.set(&argv[2], itoa::Buffer::new().format(new).as_bytes(), lim);
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, notify::HASH, "hincrby", &argv[1]);
    ctx.out.int(new);
    Ok(())
}

/// HINCRBYFLOAT key field increment
fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    // Redis adds in `long double` and prints `%.17Lf`; the strings family's software
    // long double gives the same digits, which an f64 does not.
    let incr = LongDouble::parse(&argv[3]).ok_or(CmdError::Static(err::NOT_FLOAT))?;
    if !incr.is_finite() {
        return Err("ERR value is NaN or Infinity".into());
    }
    let (now, lim) = (ctx.now, limits(ctx));
    let h = write(&mut ctx.srv.db, &argv[1], now)?;
    let old = match h.get(&argv[2]) {
        Some(v) => LongDouble::parse(v).ok_or("ERR hash value is not a float"),
        None => Ok(LongDouble::ZERO),
    };
    let new = old.and_then(|old| {
        old.checked_add(incr)
            .filter(LongDouble::is_finite)
            .ok_or(err::NAN_OR_INF)
    });
    let text = match new {
        Ok(v) => v.to_human(),
        Err(e) => {
            drop_if_empty(&mut ctx.srv.db, &argv[1], now);
            return Err(e.into());
        }
    };
    h.set(&argv[2], text.as_bytes(), lim);
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, notify::HASH, "hincrbyfloat", &argv[1]);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests {
    use super::testkit::{Kit, Resp};
    use crate::ShardConfig;

    #[test]
    fn converts_at_redis_thresholds() {
        let mut k = Kit::with_config(ShardConfig {
            hash_max_listpack_entries: 3,
            hash_max_listpack_value: 5,
            ..ShardConfig::default()
        });
        k.run("hset h a 1 b 2 c 3");
        assert_eq!(k.encoding("h"), "listpack");
        k.run("hset h d 4");
        assert_eq!(k.encoding("h"), "hashtable");
        k.run("hset h2 a 12345");
        assert_eq!(k.encoding("h2"), "listpack");
        k.run("hset h2 a 123456");
        assert_eq!(k.encoding("h2"), "hashtable");
        assert_eq!(k.run("hget h2 a"), Resp::Bulk(b"123456".to_vec()));
    }

    #[test]
    fn last_field_deletes_key_and_writes_count() {
        let mut k = Kit::new();
        assert_eq!(k.run("hset h a 1 b 2"), Resp::Int(2));
        assert_eq!(k.srv.dirty, 2);
        assert_eq!(k.run("hdel h a b x"), Resp::Int(2));
        assert_eq!(k.encoding("h"), "none");
        assert_eq!(
            k.run("hset h a"),
            Resp::Err("ERR wrong number of arguments for 'hset' command".into())
        );
        k.run("set s x");
        assert!(matches!(k.run("hget s a"), Resp::Err(e) if e.starts_with("WRONGTYPE")));
    }

    #[test]
    fn incr_errors_leave_no_empty_key() {
        let mut k = Kit::new();
        assert_eq!(
            k.run("hincrby h f 9223372036854775807"),
            Resp::Int(i64::MAX)
        );
        assert_eq!(
            k.run("hincrby h f 1"),
            Resp::Err("ERR increment or decrement would overflow".into())
        );
        assert_eq!(
            k.run("hincrbyfloat h2 f inf"),
            Resp::Err("ERR value is NaN or Infinity".into())
        );
        assert_eq!(k.encoding("h2"), "none");
        assert_eq!(
            k.run("hincrbyfloat h f 1"),
            Resp::Bulk(b"9223372036854775808".to_vec())
        );
        k.run("hset h s x");
        assert_eq!(
            k.run("hincrby h s 1"),
            Resp::Err("ERR hash value is not an integer".into())
        );
        assert_eq!(
            k.run("hincrbyfloat h s 1"),
            Resp::Err("ERR hash value is not a float".into())
        );
        assert_eq!(k.run("hincrbyfloat h g 0.1"), Resp::Bulk(b"0.1".to_vec()));
    }

    #[test]
    fn hrandfield_counts() {
        for big in [false, true] {
            let mut k = Kit::new();
            let n = if big { 600 } else { 5 };
            for i in 0..n {
                k.run(&format!("hset h f{i} v{i}"));
            }
            assert_eq!(k.encoding("h"), if big { "hashtable" } else { "listpack" });
            assert_eq!(k.run("hrandfield h 0"), Resp::Agg(b'*', vec![]));
            // A positive count gives distinct fields, at most all of them.
            let mut got = k.run("hrandfield h 3").bulks();
            got.sort();
            got.dedup();
            assert_eq!(got.len(), 3);
            assert_eq!(k.run(&format!("hrandfield h {}", n + 10)).items().len(), n);
            // A negative count gives exactly that many, repeats allowed.
            assert_eq!(k.run("hrandfield h -1000").items().len(), 1000);
            // WITHVALUES: flat pairs in RESP2, nested pairs in RESP3.
            let r = k.run("hrandfield h -4 withvalues");
            assert_eq!(r.items().len(), 8);
            let pair = r.bulks();
            assert_eq!(pair[0][1..], pair[1][1..], "value follows its field");
            k.resp3();
            let r = k.run("hrandfield h 2 withvalues");
            assert_eq!(r.items().len(), 2);
            assert!(r.items().iter().all(|p| p.items().len() == 2));
        }
        let mut k = Kit::new();
        assert_eq!(k.run("hrandfield nokey 3"), Resp::Agg(b'*', vec![]));
        assert_eq!(k.run("hrandfield nokey"), Resp::Null);
        assert!(
            matches!(k.run("hrandfield h -9223372036854775808"), Resp::Err(e) if e.contains("out of range"))
        );
        assert!(
            matches!(k.run("hrandfield h -4611686018427387904 withvalues"), Resp::Err(e) if e == "ERR value is out of range")
        );
    }

    #[test]
    fn hscan_compact_in_one_call_and_table_by_cursor() {
        let mut k = Kit::new();
        for i in 0..5 {
            k.run(&format!("hset h f{i} v"));
        }
        let r = k.run("hscan h 0 count 1");
        assert_eq!(r.items()[0], Resp::Bulk(b"0".to_vec()));
        assert_eq!(r.items()[1].items().len(), 10);
        for i in 5..700 {
            k.run(&format!("hset h f{i} v"));
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        loop {
            let r = k.run(&format!("hscan h {cursor} count 50 match f1*"));
            for (i, f) in r.items()[1].bulks().into_iter().enumerate() {
                if i % 2 == 0 {
                    seen.insert(f);
                }
            }
            let Resp::Bulk(c) = &r.items()[0] else {
                panic!()
            };
            cursor = String::from_utf8(c.clone()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        // f1, f10..f19, f100..f199
        assert_eq!(seen.len(), 1 + 10 + 100);
    }
}
