//! Hash commands.
//!
//! A key never holds an empty hash: every command that removes fields deletes the key
//! when the last one goes, as Redis does.

use bytes::Bytes;
use rand::Rng;
use shoal_proto::number;

use super::{args, err, CmdError, CmdResult, Ctx, Handler};
use crate::db::hash::{Hash, HashLimits};
use crate::db::{Db, Value};

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
    ("hrandfield", hrandfield),
    ("hscan", hscan),
];

fn limits(ctx: &Ctx<'_>) -> HashLimits {
    let c = &ctx.srv.config;
    HashLimits {
        entries: usize::try_from(c.hash_max_listpack_entries).unwrap_or(usize::MAX),
        value: usize::try_from(c.hash_max_listpack_value).unwrap_or(usize::MAX),
    }
}

/// The hash at `key` for reading, None when missing, or WRONGTYPE.
fn read<'a>(db: &'a mut Db, key: &[u8], now: i64) -> Result<Option<&'a Hash>, CmdError> {
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
    ctx.out.int(new);
    Ok(())
}

/// HINCRBYFLOAT key field increment
fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let incr = args::float(&argv[3])?;
    if !incr.is_finite() {
        return Err("ERR value is NaN or Infinity".into());
    }
    let (now, lim) = (ctx.now, limits(ctx));
    let h = write(&mut ctx.srv.db, &argv[1], now)?;
    let old = match h.get(&argv[2]) {
        Some(v) => number::parse_f64(v)
            .filter(|d| !d.is_nan())
            .ok_or("ERR hash value is not a float"),
        None => Ok(0.0),
    };
    let new = old.and_then(|old| {
        let d = old + incr;
        if d.is_finite() {
            Ok(d)
        } else {
            Err(err::NAN_OR_INF)
        }
    });
    let new = match new {
        Ok(d) => d,
        Err(e) => {
            drop_if_empty(&mut ctx.srv.db, &argv[1], now);
            return Err(e.into());
        }
    };
    // Redis adds in `long double`, exact for the sum of two 64-bit integers; an f64 is
    // not, so integer operands are added exactly instead.
    let old_int = match h.get(&argv[2]) {
        Some(v) => number::parse_i64(v),
        None => Some(0),
    };
    let text = match (old_int, number::parse_i64(&argv[3])) {
        (Some(a), Some(b)) => (i128::from(a) + i128::from(b)).to_string(),
        _ => number::fmt_human(new),
    };
    h.set(&argv[2], text.as_bytes(), lim);
    ctx.srv.dirty += 1;
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// A count argument limited to ±LONG_MAX, with Redis's range error.
pub(crate) fn signed_count(arg: &[u8]) -> Result<i64, CmdError> {
    let n = args::int(arg)?;
    if n == i64::MIN {
        return Err(format!(
            "ERR value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )
        .into());
    }
    Ok(n)
}

/// The most picks a negative count (repeats allowed) may ask for. Redis has no bound and
/// will build a reply of any size, stalling the shard; past this a request is refused
/// rather than allowed to exhaust memory.
pub(crate) const MAX_REPEATED_PICKS: u64 = 1 << 24;

/// Refuses a repeated-pick count beyond [`MAX_REPEATED_PICKS`].
pub(crate) fn check_picks(l: i64) -> CmdResult {
    if l < 0 && l.unsigned_abs() > MAX_REPEATED_PICKS {
        return Err("ERR value is out of range".into());
    }
    Ok(())
}

/// Positions to return for a distinct random sample of `count` out of `size`
/// (count < size), without materialising more than `count` indices.
pub(crate) fn sample(rng: &mut impl Rng, size: usize, count: usize) -> Vec<usize> {
    rand::seq::index::sample(rng, size, count.min(size)).into_vec()
}

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    if argv.len() == 2 {
        let srv = &mut *ctx.srv;
        match read(&mut srv.db, &argv[1], now)? {
            Some(h) if !h.is_empty() => {
                let i = srv.rng.gen_range(0..h.len());
                match h.get_index(i) {
                    Some((f, _)) => ctx.out.bulk(f),
                    None => ctx.out.null(),
                }
            }
            _ => ctx.out.null(),
        }
        return Ok(());
    }
    let l = signed_count(&argv[2])?;
    let withvalues = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && args::is(a, "withvalues") => true,
        Some(_) => return Err(err::SYNTAX.into()),
    };
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return Err("ERR value is out of range".into());
    }
    check_picks(l)?;
    let srv = &mut *ctx.srv;
    let out = &mut *ctx.out;
    let Some(h) = read(&mut srv.db, &argv[1], now)? else {
        out.array(0);
        return Ok(());
    };
    let resp3 = out.is_resp3();
    // Positions in the compact form cost a walk each, so it is walked once here.
    let pairs: Vec<(&[u8], &[u8])> = if h.is_compact() {
        h.iter().collect()
    } else {
        Vec::new()
    };
    let at = |i: usize| {
        if h.is_compact() {
            pairs.get(i).copied()
        } else {
            h.get_index(i)
        }
    };
    let emit = |out: &mut shoal_proto::Reply, i: usize| {
        if let Some((f, v)) = at(i) {
            if withvalues && resp3 {
                out.array(2);
            }
            out.bulk(f);
            if withvalues {
                out.bulk(v);
            }
        }
    };
    let header = |out: &mut shoal_proto::Reply, n: usize| {
        out.array(if withvalues && !resp3 { n * 2 } else { n });
    };
    let count = l.unsigned_abs() as usize;
    if count == 0 || h.is_empty() {
        out.array(0);
    } else if l < 0 || count == 1 {
        // Repeats allowed: each pick is independent, so nothing is buffered.
        header(out, count);
        for _ in 0..count {
            let i = srv.rng.gen_range(0..h.len());
            emit(out, i);
        }
    } else if count >= h.len() {
        header(out, h.len());
        for i in 0..h.len() {
            emit(out, i);
        }
    } else {
        header(out, count);
        for i in sample(&mut srv.rng, h.len(), count) {
            emit(out, i);
        }
    }
    Ok(())
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
fn hscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let opts = ScanOpts::parse(&argv[2], &argv[3..])?;
    let now = ctx.now;
    let out = &mut *ctx.out;
    let Some(h) = read(&mut ctx.srv.db, &argv[1], now)? else {
        return write_scan(out, 0, &[] as &[&[u8]]);
    };
    let mut items: Vec<&[u8]> = Vec::new();
    let next = if h.is_compact() {
        for (f, v) in h.iter() {
            if opts.matches(f) {
                items.push(f);
                items.push(v);
            }
        }
        0
    } else {
        let mut visit = |i: usize| {
            if let Some((f, v)) = h.get_index(i) {
                if opts.matches(f) {
                    items.push(f);
                    items.push(v);
                }
            }
        };
        scan_positions(h.len(), opts.cursor, opts.count, &mut visit)
    };
    write_scan(out, next, &items)
}

/// The parsed arguments of HSCAN/SSCAN/ZSCAN.
pub(crate) struct ScanOpts<'a> {
    pub cursor: u64,
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
}

impl<'a> ScanOpts<'a> {
    pub fn parse(cursor: &[u8], rest: &'a [Bytes]) -> Result<Self, CmdError> {
        let cursor = parse_cursor(cursor).ok_or("ERR invalid cursor")?;
        let mut opts = ScanOpts {
            cursor,
            count: 10,
            pattern: None,
        };
        let mut i = 0;
        while i < rest.len() {
            let Some(val) = rest.get(i + 1) else {
                return Err(err::SYNTAX.into());
            };
            if args::is(&rest[i], "count") {
                let n = args::int(val)?;
                if n < 1 {
                    return Err(err::SYNTAX.into());
                }
                opts.count = usize::try_from(n).unwrap_or(usize::MAX);
            } else if args::is(&rest[i], "match") {
                // "*" matches everything; skipping it saves a glob call per element.
                opts.pattern = (&val[..] != b"*").then_some(&val[..]);
            } else {
                return Err(err::SYNTAX.into());
            }
            i += 2;
        }
        Ok(opts)
    }

    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| crate::glob::matches(p, item, false))
    }
}

/// A cursor as C's `strtoul` reads it, which is what clients have always been allowed to
/// send: an optional sign (a negative value wraps), decimal digits, nothing after them,
/// no leading space, no overflow. An empty string is cursor 0.
fn parse_cursor(s: &[u8]) -> Option<u64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return s.is_empty().then_some(0);
    }
    let mut n: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { n.wrapping_neg() } else { n })
}

/// Walks positions below `cursor` (0 starts over) downwards, `count` of them, as
/// `Db::scan` does and for the same reason: `swap_remove` only moves the last entry, so
/// an element present for the whole scan is never missed. Returns the next cursor.
pub(crate) fn scan_positions(
    len: usize,
    cursor: u64,
    count: usize,
    mut visit: impl FnMut(usize),
) -> u64 {
    let len = len as u64;
    let mut pos = if cursor == 0 || cursor > len {
        len
    } else {
        cursor
    };
    let mut seen = 0;
    while pos > 0 && seen < count.max(1) {
        pos -= 1;
        visit(pos as usize);
        seen += 1;
    }
    pos
}

pub(crate) fn write_scan(
    out: &mut shoal_proto::Reply,
    cursor: u64,
    items: &[impl AsRef<[u8]>],
) -> CmdResult {
    out.array(2);
    out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    out.array(items.len());
    for it in items {
        out.bulk(it.as_ref());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_positions_cover_everything() {
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = scan_positions(25, cursor, 10, |i| seen.push(i));
            if cursor == 0 {
                break;
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn cursor_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1x"), None);
        assert_eq!(parse_cursor(b"-"), None);
    }

    #[test]
    fn count_range() {
        assert!(signed_count(b"-9223372036854775808").is_err());
        assert_eq!(signed_count(b"-9223372036854775807").ok(), Some(-i64::MAX));
        assert!(signed_count(b"x").is_err());
    }

    #[test]
    fn sample_is_distinct_and_bounded() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut s = sample(&mut rng, 100, 40);
        assert_eq!(s.len(), 40);
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 40);
        assert!(s.iter().all(|&i| i < 100));
    }

    use rand::SeedableRng;
}
