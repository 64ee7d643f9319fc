//! SORT and SORT_RO.
//!
//! `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
//! [STORE destination]` over lists, sets and sorted sets. A shard is a standalone server,
//! so BY and GET patterns may name any key, as in a non-cluster Redis; the proxy is where
//! cross-slot patterns would have to be refused.

use std::cmp::Ordering;

use bytes::Bytes;

use super::{args, err, CmdError, CmdResult, Ctx, Handler};
use crate::db::list::{End, List};
use crate::db::Value;

pub static COMMANDS: &[(&str, Handler)] = &[("sort", sort), ("sort_ro", sort_ro)];

const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

fn sort(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, false)
}

fn sort_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    generic(ctx, argv, true)
}

struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    /// BY with a pattern that has no `*` (e.g. `nosort`): keep the native order.
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
}

/// What keeps BY and GET patterns from naming keys: cluster mode (on the shard's own
/// port), or a user who may not read every key (Redis 7.0's check in `sortCommandGeneric`).
#[derive(Clone, Copy, Default)]
struct PatternLimits {
    cluster: bool,
    acl: bool,
}

impl PatternLimits {
    fn of(ctx: &Ctx<'_>) -> PatternLimits {
        let full_read = |u: &crate::acl::User| {
            u.allkeys
                || u.keys
                    .iter()
                    .any(|p| p.pattern == b"*" && p.flags & crate::acl::user::KEY_READ != 0)
        };
        PatternLimits {
            cluster: ctx.srv.config.cluster.is_some() && !ctx.client.is_unix,
            acl: ctx.client.acl_user().is_some_and(|u| !full_read(&u)),
        }
    }

    fn refuse(&self, option: &str) -> Result<(), CmdError> {
        if self.cluster {
            return Err(CmdError::Owned(format!(
                "ERR {option} option of SORT denied in Cluster mode."
            )));
        }
        if self.acl {
            return Err(CmdError::Owned(format!(
                "ERR {option} option of SORT denied due to insufficient ACL permissions."
            )));
        }
        Ok(())
    }
}

fn parse(argv: &[Bytes], readonly: bool, limits: PatternLimits) -> Result<Options<'_>, CmdError> {
    let mut o = Options {
        desc: false,
        alpha: false,
        limit: None,
        store: None,
        by: None,
        dont_sort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < argv.len() {
        let a = &argv[j][..];
        let left = argv.len() - j - 1;
        if args::is(a, "asc") {
            o.desc = false;
        } else if args::is(a, "desc") {
            o.desc = true;
        } else if args::is(a, "alpha") {
            o.alpha = true;
        } else if args::is(a, "limit") && left >= 2 {
            o.limit = Some((args::int(&argv[j + 1])?, args::int(&argv[j + 2])?));
            j += 2;
        } else if !readonly && args::is(a, "store") && left >= 1 {
            o.store = Some(&argv[j + 1]);
            j += 1;
        } else if args::is(a, "by") && left >= 1 {
            let p = &argv[j + 1][..];
            o.by = Some(p);
            o.dont_sort = !p.contains(&b'*');
            if !o.dont_sort {
                limits.refuse("BY")?;
            }
            j += 1;
        } else if args::is(a, "get") && left >= 1 {
            limits.refuse("GET")?;
            o.gets.push(&argv[j + 1]);
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*` is
/// replaced by the element and the result names a string key, or with `->field` after the
/// `*`, a hash field. Anything missing or of another type is None.
fn lookup(ctx: &mut Ctx<'_>, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let rest = &pattern[star + 1..];
    let (post, field) = match rest.windows(2).position(|w| w == b"->") {
        Some(at) if at + 2 < rest.len() => (&rest[..at], Some(&rest[at + 2..])),
        _ => (rest, None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + post.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    match (ctx.srv.db.get(&key, ctx.now)?, field) {
        (Value::Str(s), None) => Some(s.as_slice().to_vec()),
        (Value::Hash(h), Some(f)) => h.get(f).map(<[u8]>::to_vec),
        _ => None,
    }
}

/// `strtod` over the whole string: leading blanks are allowed, trailing bytes, NaN and
/// overflow are not.
fn score_of(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    let t = t.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if t.is_empty() {
        // strtod consumes nothing and leaves the end pointer on the terminator.
        return Some(0.0);
    }
    let v: f64 = t.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    let lower = t.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if v.is_infinite() && !(lower == "inf" || lower == "infinity") {
        return None;
    }
    Some(v)
}

struct Item {
    elem: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

/// The elements of the value at `key` in the order SORT starts from, and whether the
/// value is a set (whose native order is not stable).
fn elements(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<(Vec<Vec<u8>>, bool), CmdError> {
    Ok(match ctx.srv.db.get(key, ctx.now) {
        None => (Vec::new(), false),
        Some(Value::List(l)) => (l.iter().map(|e| e.as_slice().to_vec()).collect(), false),
        Some(Value::Set(s)) => (s.iter().map(|m| m.to_sds().into_vec()).collect(), true),
        Some(Value::ZSet(z)) => (
            z.iter().map(|(_, m)| m.as_slice().to_vec()).collect(),
            false,
        ),
        Some(_) => return Err(err::WRONGTYPE.into()),
    })
}

fn generic(ctx: &mut Ctx<'_>, argv: &[Bytes], readonly: bool) -> CmdResult {
    let limits = PatternLimits::of(ctx);
    let mut o = parse(argv, readonly, limits)?;
    let (mut elems, is_set) = elements(ctx, &argv[1])?;
    // A set's native order differs between servers, so a stored result is sorted.
    if o.dont_sort && is_set && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = elems.len() as i64;
    let (lstart, lcount) = o.limit.unwrap_or((0, -1));
    let mut start = lstart.max(0).min(len);
    let count = lcount.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }

    let items: Vec<Vec<u8>> = if o.dont_sort {
        if o.desc && !is_set {
            elems.reverse();
        }
        range(elems, start, end)
    } else {
        let mut items = Vec::with_capacity(elems.len());
        let mut bad = false;
        for elem in elems {
            let byval = match o.by {
                Some(p) => lookup(ctx, p, &elem),
                None => None,
            };
            let mut item = Item {
                elem,
                score: 0.0,
                by: None,
            };
            if o.alpha {
                item.by = byval;
            } else {
                let src = match (&o.by, &byval) {
                    (Some(_), Some(v)) => Some(&v[..]),
                    (Some(_), None) => None,
                    (None, _) => Some(&item.elem[..]),
                };
                if let Some(src) = src {
                    match score_of(src) {
                        Some(v) => item.score = v,
                        None => bad = true,
                    }
                }
            }
            items.push(item);
        }
        if bad {
            return Err(NOT_DOUBLE.into());
        }
        let by_pattern = o.by.is_some();
        let (alpha, desc) = (o.alpha, o.desc);
        items.sort_unstable_by(|a, b| {
            let c = compare(a, b, alpha, by_pattern);
            if desc {
                c.reverse()
            } else {
                c
            }
        });
        range(items.into_iter().map(|i| i.elem).collect(), start, end)
    };

    let mut out: Vec<Option<Vec<u8>>> = Vec::new();
    for elem in items {
        if o.gets.is_empty() {
            out.push(Some(elem));
            continue;
        }
        for p in &o.gets {
            out.push(lookup(ctx, p, &elem));
        }
    }
    match o.store {
        None => {
            ctx.out.array(out.len());
            for v in &out {
                match v {
                    Some(b) => ctx.out.bulk(b),
                    None => ctx.out.null(),
                }
            }
        }
        Some(dest) => {
            let n = out.len();
            if n > 0 {
                let mut list = List::new();
                for v in &out {
                    list.push(v.as_deref().unwrap_or(b""), End::Tail);
                }
                ctx.srv.db.set(dest, Value::List(Box::new(list)), false);
                ctx.srv.dirty += n as u64;
            } else if ctx.srv.db.remove(dest).is_some() {
                ctx.srv.dirty += 1;
            }
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

/// Positions `start..=end` of `v` (an empty range when `end < start`).
fn range<T>(v: Vec<T>, start: i64, end: i64) -> Vec<T> {
    if end < start || start < 0 {
        return Vec::new();
    }
    let take = (end - start + 1) as usize;
    v.into_iter().skip(start as usize).take(take).collect()
}

/// Redis's `sortCompare` before DESC is applied. Byte order stands in for `strcoll`, which
/// is what it is under the C locale.
fn compare(a: &Item, b: &Item, alpha: bool, by_pattern: bool) -> Ordering {
    if !alpha {
        return a
            .score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.elem.cmp(&b.elem));
    }
    if by_pattern {
        match (&a.by, &b.by) {
            (Some(x), Some(y)) => x.cmp(y),
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
        }
    } else {
        a.elem.cmp(&b.elem)
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::testutil::Harness;
    use super::*;

    #[test]
    fn sorts_by_patterns_and_stores() {
        let mut h = Harness::new();
        h.run("rpush l 3 1 2");
        h.run("set w_1 30");
        h.run("set w_2 10");
        h.run("set w_3 20");
        h.run("hset h_1 f c");
        h.run("hset h_3 f a");
        assert_eq!(h.run("sort l"), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
        assert_eq!(
            h.run("sort l by w_* limit 0 2"),
            "*2\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        // A missing BY value sorts first; GET of a missing field is nil.
        assert_eq!(
            h.run("sort l by h_*->f alpha get # get h_*->f"),
            "*6\r\n$1\r\n2\r\n$-1\r\n$1\r\n3\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nc\r\n"
        );
        assert_eq!(
            h.run("sort l by nosort desc"),
            "*3\r\n$1\r\n2\r\n$1\r\n1\r\n$1\r\n3\r\n"
        );
        assert_eq!(h.run("sort l desc store dst"), ":3\r\n");
        assert_eq!(h.run("lindex dst 0"), "$1\r\n3\r\n");
        assert_eq!(h.run("sort nothing store dst"), ":0\r\n");
        assert_eq!(h.run("exists dst"), ":0\r\n");
        assert_eq!(h.run("sort_ro l store dst"), "-ERR syntax error\r\n");
        h.run("rpush bad 1 x");
        assert_eq!(h.run("sort bad"), format!("-{NOT_DOUBLE}\r\n"));
        h.run("set s v");
        assert!(h.run("sort s").starts_with("-WRONGTYPE"));
    }

    #[test]
    fn scores_parse_like_strtod() {
        assert_eq!(score_of(b"1.5"), Some(1.5));
        assert_eq!(score_of(b"  -3"), Some(-3.0));
        assert_eq!(score_of(b""), Some(0.0));
        assert_eq!(score_of(b"inf"), Some(f64::INFINITY));
        assert_eq!(score_of(b"abc"), None);
        assert_eq!(score_of(b"1 "), None);
        assert_eq!(score_of(b"nan"), None);
        assert_eq!(score_of(b"1e400"), None);
    }

    #[test]
    fn ranges_clamp() {
        assert_eq!(range(vec![1, 2, 3], 1, 5), vec![2, 3]);
        assert!(range(vec![1, 2, 3], 2, 1).is_empty());
    }

    #[test]
    fn missing_by_values_sort_first() {
        let item = |e: &str, by: Option<&str>| Item {
            elem: e.as_bytes().to_vec(),
            score: 0.0,
            by: by.map(|b| b.as_bytes().to_vec()),
        };
        let a = item("a", None);
        let b = item("b", Some("x"));
        assert_eq!(compare(&a, &b, true, true), Ordering::Less);
        assert_eq!(compare(&b, &a, true, true), Ordering::Greater);
    }
}
