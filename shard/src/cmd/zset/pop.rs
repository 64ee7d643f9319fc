//! ZPOPMIN, ZPOPMAX, ZMPOP and ZRANDMEMBER, plus [`pop_for_blocking`], the non-blocking
//! core that BZPOPMIN, BZPOPMAX and BZMPOP run once a key they wait on has data.

use bytes::Bytes;
use rand::Rng;
use shoal_proto::Reply;

use super::{lookup, modify, reply_scored};
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};
use crate::db::{Db, Sds};
use crate::notify;
use crate::state::Server;

/// Removes up to `count` entries from the low (`max` false) or high end of the sorted set
/// at `key`, deleting the key when it empties. Returns the entries in pop order, or None
/// when the key does not exist.
pub fn pop_entries(
    db: &mut Db,
    key: &[u8],
    now: i64,
    max: bool,
    count: usize,
) -> Result<Option<Vec<(f64, Sds)>>, CmdError> {
    modify(db, key, now, None, |z| {
        let n = count.min(z.len());
        let taken = if max {
            z.collect_range(0, n, true)
        } else {
            z.collect_range(0, n, false)
        };
        for (_, m) in &taken {
            z.remove(m);
        }
        taken
    })
}

/// Serves a blocked BZPOPMIN/BZPOPMAX (`count` None: reply `[key, member, score]`) or
/// BZMPOP (`count` Some: reply `[key, [[member, score] ...]]`) from `key` if it holds a
/// non-empty sorted set. Returns false, writing nothing, when there is nothing to pop, so
/// the caller keeps the client blocked. Counts the change in `dirty`.
pub fn pop_for_blocking(
    srv: &mut Server,
    out: &mut Reply,
    key: &[u8],
    now: i64,
    max: bool,
    count: Option<usize>,
) -> Result<bool, CmdError> {
    let popped = match pop_entries(&mut srv.db, key, now, max, count.unwrap_or(1))? {
        Some(v) if !v.is_empty() => v,
        _ => return Ok(false),
    };
    srv.dirty += popped.len() as u64;
    notify_popped(srv, key, max, popped.len());
    match count {
        None => {
            out.array(1 + 2 * popped.len());
            out.bulk(key);
            for (s, m) in &popped {
                out.bulk(m);
                out.double(*s);
            }
        }
        Some(_) => reply_mpop(out, key, &popped),
    }
    Ok(true)
}

/// The immediate path of BZPOPMIN/BZPOPMAX/BZMPOP: pops from the first of `keys` that
/// holds a sorted set, replying as [`pop_for_blocking`] does. Returns false, writing
/// nothing, when no key has data and the client should block. A key of another type is
/// WRONGTYPE, checked in key order as Redis does.
pub fn try_pop_first(
    srv: &mut Server,
    out: &mut Reply,
    keys: &[Bytes],
    now: i64,
    max: bool,
    count: Option<usize>,
) -> Result<bool, CmdError> {
    for key in keys {
        if pop_for_blocking(srv, out, key, now, max, count)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The events of a pop of `n` entries from `key`: the pop, then `del` if it emptied.
fn notify_popped(srv: &mut Server, key: &[u8], max: bool, n: usize) {
    if n == 0 {
        return;
    }
    let event = if max { "zpopmax" } else { "zpopmin" };
    notify::notify(srv, notify::ZSET, event, key);
    if !srv.db.contains_raw(key) {
        notify::notify(srv, notify::GENERIC, "del", key);
    }
}

fn reply_mpop(out: &mut Reply, key: &[u8], popped: &[(f64, Sds)]) {
    out.array(2);
    out.bulk(key);
    out.array(popped.len());
    for (s, m) in popped {
        out.array(2);
        out.bulk(m);
        out.double(*s);
    }
}

/// ZPOPMIN key [count]
pub fn zpopmin(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    pop_min_max(ctx, argv, false)
}

/// ZPOPMAX key [count]
pub fn zpopmax(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    pop_min_max(ctx, argv, true)
}

fn pop_min_max(ctx: &mut Ctx<'_>, argv: &[Bytes], max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(err::SYNTAX.into());
    }
    let count = match argv.get(2) {
        None => None,
        Some(a) => {
            let n = args::int(a)
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(CmdError::Static(err::NOT_POSITIVE))?;
            Some(n)
        }
    };
    let now = ctx.now;
    let popped = match count {
        // A zero count still type-checks the key but pops nothing.
        Some(0) => {
            lookup(&mut ctx.srv.db, &argv[1], now)?;
            Vec::new()
        }
        _ => pop_entries(&mut ctx.srv.db, &argv[1], now, max, count.unwrap_or(1))?
            .unwrap_or_default(),
    };
    ctx.srv.dirty += popped.len() as u64;
    notify_popped(ctx.srv, &argv[1], max, popped.len());
    // A plain pop, and any pop in RESP2, answers one flat array; RESP3 with a count
    // answers pairs.
    let nested = ctx.out.is_resp3() && count.is_some();
    if nested {
        ctx.out.array(popped.len());
    } else {
        ctx.out.array(popped.len() * 2);
    }
    for (s, m) in &popped {
        if nested {
            ctx.out.array(2);
        }
        ctx.out.bulk(m);
        ctx.out.double(*s);
    }
    Ok(())
}

/// Parses `numkeys key [key ...] MIN|MAX [COUNT count]` starting at `numkeys_idx`, as
/// ZMPOP and BZMPOP share it. Returns the keys, whether to pop the maximum, and the count.
pub fn parse_mpop(argv: &[Bytes], numkeys_idx: usize) -> Result<(&[Bytes], bool, usize), CmdError> {
    let numkeys = args::int(&argv[numkeys_idx])
        .ok()
        .filter(|n| *n >= 1)
        .ok_or(CmdError::Static("ERR numkeys should be greater than 0"))?;
    let first = numkeys_idx + 1;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| first.checked_add(n))
        .filter(|&w| w < argv.len())
        .ok_or(CmdError::Static(err::SYNTAX))?;
    let max = if args::is(&argv[where_idx], "min") {
        false
    } else if args::is(&argv[where_idx], "max") {
        true
    } else {
        return Err(err::SYNTAX.into());
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && args::is(&argv[j], "count") && j + 1 < argv.len() {
            let n = args::int(&argv[j + 1])
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(CmdError::Static("ERR count should be greater than 0"))?;
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    Ok((&argv[first..where_idx], max, count.unwrap_or(1)))
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (keys, max, count) = parse_mpop(argv, 1)?;
    let now = ctx.now;
    for key in keys {
        if let Some(popped) = pop_entries(&mut ctx.srv.db, key, now, max, count)? {
            ctx.srv.dirty += popped.len() as u64;
            notify_popped(ctx.srv, key, max, popped.len());
            reply_mpop(ctx.out, key, &popped);
            return Ok(());
        }
    }
    ctx.out.null_array();
    Ok(())
}

/// ZRANDMEMBER key [count [WITHSCORES]]
pub fn zrandmember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    if argv.len() == 2 {
        let srv = &mut *ctx.srv;
        let pick = match lookup(&mut srv.db, &argv[1], now)? {
            Some(z) if !z.is_empty() => {
                let i = srv.rng.gen_range(0..z.len());
                z.nth_any(i).map(|(_, m)| m.clone())
            }
            _ => None,
        };
        match pick {
            Some(m) => ctx.out.bulk(&m),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let l = args::int(&argv[2])?;
    if l == i64::MIN {
        return Err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
                .into(),
        );
    }
    let withscores = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && args::is(a, "withscores") => true,
        Some(_) => return Err(err::SYNTAX.into()),
    };
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err("ERR value is out of range".into());
    }
    let srv = &mut *ctx.srv;
    let Some(z) = lookup(&mut srv.db, &argv[1], now)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let size = z.len();
    let count = l.unsigned_abs();
    if count == 0 || size == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let rng = &mut srv.rng;
    let out = &mut *ctx.out;
    if l < 0 || count == 1 {
        // With repetitions: every pick samples the whole set, written as it goes so a
        // large count never needs a buffer of its own.
        let pairs = withscores && out.is_resp3();
        let len = usize::try_from(count).unwrap_or(usize::MAX);
        if withscores && !pairs {
            out.array(len.saturating_mul(2));
        } else {
            out.array(len);
        }
        for _ in 0..count {
            if let Some((s, m)) = z.nth_any(rng.gen_range(0..size)) {
                if pairs {
                    out.array(2);
                }
                out.bulk(m);
                if withscores {
                    out.double(s);
                }
            }
        }
        return Ok(());
    }
    let entries = if count >= size as u64 {
        z.collect_range(0, size, false)
    } else {
        // `count < size` here, so the sample is bounded by the set itself.
        let picks = rand::seq::index::sample(rng, size, count as usize);
        picks
            .into_iter()
            .filter_map(|i| z.nth_any(i).map(|(s, m)| (s, m.clone())))
            .collect()
    };
    reply_scored(out, &entries, withscores);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ShardConfig;
    use crate::db::zset::{Limits, ZSet};
    use crate::db::Value;

    fn server_with(key: &[u8], entries: &[(f64, &str)]) -> Server {
        let mut srv = Server::new(ShardConfig::default());
        let mut z = ZSet::for_first(1, Limits::default());
        for (s, m) in entries {
            z.insert(*s, m.as_bytes(), Limits::default());
        }
        srv.db.insert_new(key, Value::ZSet(Box::new(z)));
        srv
    }

    #[test]
    fn blocking_core_pops_and_deletes() {
        let mut srv = server_with(b"z", &[(1.0, "a"), (2.0, "b")]);
        srv.db.set(b"s", Value::str(b"x"), false);
        let mut out = Reply::new(shoal_proto::Protocol::Resp2);
        let keys = [Bytes::from_static(b"none"), Bytes::from_static(b"z")];
        assert!(try_pop_first(&mut srv, &mut out, &keys, 0, true, None).unwrap());
        assert_eq!(&out.buf[..], b"*3\r\n$1\r\nz\r\n$1\r\nb\r\n$1\r\n2\r\n");
        let mut out = Reply::new(shoal_proto::Protocol::Resp2);
        assert!(pop_for_blocking(&mut srv, &mut out, b"z", 0, false, Some(5)).unwrap());
        assert_eq!(
            &out.buf[..],
            b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert!(
            srv.db.value_ref(b"z").is_none(),
            "an emptied set is deleted"
        );
        assert_eq!(srv.dirty, 2);
        let mut out = Reply::new(shoal_proto::Protocol::Resp2);
        assert!(!pop_for_blocking(&mut srv, &mut out, b"z", 0, false, None).unwrap());
        assert!(out.buf.is_empty());
        let keys = [Bytes::from_static(b"s")];
        assert!(try_pop_first(&mut srv, &mut out, &keys, 0, false, None).is_err());
    }

    #[test]
    fn mpop_arguments() {
        let a = |s: &str| {
            s.split(' ')
                .map(|x| Bytes::copy_from_slice(x.as_bytes()))
                .collect::<Vec<_>>()
        };
        let argv = a("zmpop 2 k1 k2 MAX COUNT 3");
        let (keys, max, count) = parse_mpop(&argv, 1).unwrap();
        assert_eq!((keys.len(), max, count), (2, true, 3));
        for (bad, want) in [
            ("zmpop 0 k MIN", "ERR numkeys should be greater than 0"),
            ("zmpop 3 k MIN", "ERR syntax error"),
            (
                "zmpop 1 k MIN COUNT 0",
                "ERR count should be greater than 0",
            ),
            ("zmpop 1 k MIN COUNT 1 COUNT 1", "ERR syntax error"),
            ("zmpop 1 k LEFT", "ERR syntax error"),
        ] {
            assert_eq!(parse_mpop(&a(bad), 1).unwrap_err().text(), want, "{bad}");
        }
    }
}
