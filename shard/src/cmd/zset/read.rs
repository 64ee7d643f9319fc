//! ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZCOUNT, ZLEXCOUNT and ZSCAN.

use bytes::Bytes;

use super::{lookup, LexRange, ScoreRange};
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};

/// ZCARD key
pub fn zcard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let n = lookup(&mut ctx.srv.db, &argv[1], ctx.now)?.map_or(0, |z| z.len());
    ctx.out.int(n as i64);
    Ok(())
}

/// ZSCORE key member
pub fn zscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let score = lookup(&mut ctx.srv.db, &argv[1], ctx.now)?.and_then(|z| z.score(&argv[2]));
    match score {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

/// ZMSCORE key member [member ...]
pub fn zmscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let z = lookup(&mut ctx.srv.db, &argv[1], ctx.now)?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// ZRANK key member
pub fn zrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    rank_generic(ctx, argv, false)
}

/// ZREVRANK key member
pub fn zrevrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    rank_generic(ctx, argv, true)
}

fn rank_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> CmdResult {
    let rank = lookup(&mut ctx.srv.db, &argv[1], ctx.now)?.and_then(|z| {
        z.rank(&argv[2])
            .map(|r| if rev { z.len() - 1 - r } else { r })
    });
    match rank {
        Some(r) => ctx.out.int(r as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// ZCOUNT key min max
pub fn zcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let range = ScoreRange::parse(&argv[2], &argv[3])?;
    let n = lookup(&mut ctx.srv.db, &argv[1], ctx.now)?.map_or(0, |z| {
        let (a, b) = range.span(z);
        b - a
    });
    ctx.out.int(n as i64);
    Ok(())
}

/// ZLEXCOUNT key min max
pub fn zlexcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let range = LexRange::parse(&argv[2], &argv[3])?;
    let n = lookup(&mut ctx.srv.db, &argv[1], ctx.now)?.map_or(0, |z| {
        let (a, b) = range.span(z);
        b - a
    });
    ctx.out.int(n as i64);
    Ok(())
}

/// A SCAN cursor as Redis reads it with `strtoul`: decimal, an optional sign (a minus
/// wraps around), nothing else.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let bad = || CmdError::Static("ERR invalid cursor");
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let v: u64 = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
pub fn zscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&argv[2])?;
    let now = ctx.now;
    let Some(z) = lookup(&mut ctx.srv.db, &argv[1], now)? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if args::is(&argv[i], "count") && more >= 1 {
            let n = args::int(&argv[i + 1])?;
            if n < 1 {
                return Err(err::SYNTAX.into());
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 2;
        } else if args::is(&argv[i], "match") && more >= 1 {
            pattern = Some(&argv[i + 1][..]).filter(|p| *p != b"*");
            i += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let mut found: Vec<(Vec<u8>, String)> = Vec::new();
    let next = z.scan(cursor, count, |m, score| {
        if pattern.is_none_or(|p| crate::glob::matches(p, m, false)) {
            found.push((m.to_vec(), score));
        }
    });
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(found.len() * 2);
    for (m, s) in &found {
        ctx.out.bulk(m);
        ctx.out.bulk(s.as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b"+7"), Ok(7));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert!(parse_cursor(b"1a").is_err());
        assert!(parse_cursor(b" 1").is_err());
        assert!(parse_cursor(b"").is_err());
    }
}
