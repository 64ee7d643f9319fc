//! HSCAN, and the cursor parsing and position walk that SSCAN shares.

use bytes::Bytes;

use super::read;
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};

/// HSCAN key cursor [MATCH pattern] [COUNT count]
pub(super) fn hscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
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
}
