//! Keyspace iteration: KEYS, SCAN and RANDOMKEY.

use bytes::Bytes;

use crate::cmd::{args, err, CmdError, CmdResult, Ctx};
use crate::db::Sds;
use crate::glob;

/// KEYS pattern — expired keys are skipped but not deleted, as in Redis.
pub(super) fn keys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let pattern = &argv[1];
    let all = pattern.as_ref() == b"*";
    let now = ctx.now;
    let db = &ctx.srv.db;
    let found: Vec<&Sds> = db
        .iter()
        .map(|(k, _)| k)
        .filter(|k| all || glob::matches(pattern, k, false))
        .filter(|k| !db.is_expired(k, now))
        .collect();
    ctx.out.array(found.len());
    for k in found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// Reads a SCAN cursor the way `strtoul` does: an optional sign, then decimal digits; a
/// negative cursor wraps around, and an empty one is 0.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        // strtoul consumes nothing from "+" or "-", leaving the sign unparsed.
        return if arg.is_empty() { Some(0) } else { None };
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

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
pub(super) fn scan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&argv[1]).ok_or(CmdError::Static("ERR invalid cursor"))?;
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut type_name: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        let has_value = i + 1 < argv.len();
        if args::is(&argv[i], "count") && has_value {
            count = args::int(&argv[i + 1])?;
            if count < 1 {
                return Err(err::SYNTAX.into());
            }
        } else if args::is(&argv[i], "match") && has_value {
            // "*" matches everything, so it is the same as no pattern.
            pattern = Some(&argv[i + 1][..]).filter(|p| *p != b"*");
        } else if args::is(&argv[i], "type") && has_value {
            type_name = Some(&argv[i + 1][..]);
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 2;
    }
    let now = ctx.now;
    let db = &mut ctx.srv.db;
    let mut batch: Vec<Sds> = Vec::new();
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let next = db.scan(cursor, count, |key, entry| {
        let matched = pattern.is_none_or(|p| glob::matches(p, key, false))
            && type_name.is_none_or(|t| t.eq_ignore_ascii_case(entry.value.type_name().as_bytes()));
        if matched {
            batch.push(key.clone());
        }
    });
    // Stale keys met by the scan are expired now, as a read of them would.
    batch.retain(|k| !db.expire_key_if_due(k, now));
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(batch.len());
    for k in &batch {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// RANDOMKEY
pub(super) fn randomkey(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let srv = &mut *ctx.srv;
    match srv.db.random_key(ctx.now, &mut srv.rng) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Harness;
    use super::*;

    #[test]
    fn cursor_parsing_follows_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+12"), Some(12));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1x"), None);
        assert_eq!(parse_cursor(b"-"), None);
    }

    /// Runs a full SCAN, deleting one not-yet-returned key after every step, and returns
    /// every key the scan reported.
    fn scan_all_with_deletes(h: &mut Harness) -> std::collections::HashSet<String> {
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        let mut victim = 0;
        loop {
            let reply = h.run(&format!("scan {cursor} count 7"));
            let lines: Vec<&str> = reply.split("\r\n").collect();
            cursor = lines[2].to_string();
            for w in lines[4..].iter().filter(|l| !l.starts_with('$')) {
                if !w.is_empty() {
                    seen.insert(w.to_string());
                }
            }
            while seen.contains(&format!("k{victim}")) {
                victim += 2;
            }
            h.run(&format!("del k{victim}"));
            victim += 2;
            if cursor == "0" {
                return seen;
            }
        }
    }

    #[test]
    fn scan_misses_no_key_under_deletes() {
        let mut h = Harness::new();
        for i in 0..300 {
            h.run(&format!("set k{i} v"));
        }
        let seen = scan_all_with_deletes(&mut h);
        // Every odd key is never deleted, so the scan must report all of them.
        for i in (1..300).step_by(2) {
            assert!(seen.contains(&format!("k{i}")), "k{i} missed");
        }
    }

    #[test]
    fn scan_options_and_errors() {
        let mut h = Harness::new();
        h.run("set a 1");
        h.run("set b 2");
        h.run("set ab 3");
        assert_eq!(h.run("scan x"), "-ERR invalid cursor\r\n");
        assert_eq!(h.run("scan 0 count 0"), "-ERR syntax error\r\n");
        assert_eq!(h.run("scan 0 count"), "-ERR syntax error\r\n");
        assert_eq!(
            h.run("scan 0 count z"),
            "-ERR value is not an integer or out of range\r\n"
        );
        let r = h.run("scan 0 match a* count 100");
        assert!(r.starts_with("*2\r\n$1\r\n0\r\n*2\r\n"), "{r}");
        assert_eq!(
            h.run("scan 0 type list count 100"),
            "*2\r\n$1\r\n0\r\n*0\r\n"
        );
        assert!(h
            .run("scan 0 type STRING count 100")
            .starts_with("*2\r\n$1\r\n0\r\n*3\r\n"));
    }

    #[test]
    fn expired_keys_are_hidden_and_deleted() {
        let mut h = Harness::new();
        h.run("set live v");
        h.run("set gone v");
        // Already due, as if its time passed between commands.
        h.srv.db.set_expire(b"gone", 1);
        assert_eq!(h.run("keys *"), "*1\r\n$4\r\nlive\r\n");
        assert_eq!(h.srv.db.len(), 2);
        assert_eq!(h.run("scan 0"), "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nlive\r\n");
        assert_eq!(h.srv.db.len(), 1);
        assert_eq!(h.run("randomkey"), "$4\r\nlive\r\n");
        h.run("del live");
        assert_eq!(h.run("randomkey"), "$-1\r\n");
        // A keyspace of stale keys only: RANDOMKEY expires them all and finds nothing.
        for i in 0..50 {
            let k = format!("stale{i}");
            h.run(&format!("set {k} v"));
            h.srv.db.set_expire(k.as_bytes(), 1);
        }
        assert_eq!(h.run("randomkey"), "$-1\r\n");
        assert_eq!(h.srv.db.len(), 0);
        assert_eq!(h.srv.db.stats.expired_keys, 51);
    }
}
