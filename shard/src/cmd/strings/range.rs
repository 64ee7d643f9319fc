//! Substrings: GETRANGE (and its old name SUBSTR), SETRANGE, and LCS.

use bytes::Bytes;

use super::{check_string_length, grow, read_str, str_mut};
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};
use crate::db::{Sds, Value};
use crate::notify;

/// GETRANGE key start end
pub(super) fn getrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let start = args::int(&argv[2])?;
    let end = args::int(&argv[3])?;
    let now = ctx.now;
    let Some(s) = read_str(&mut ctx.srv.db, &argv[1], now)? else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    match substring(s, start, end) {
        Some(part) => ctx.out.bulk(part),
        None => ctx.out.bulk(b""),
    }
    Ok(())
}

/// The bytes GETRANGE returns for `start..=end`, with negative indexes counting from the
/// end and out-of-range ones clamped; None for an empty range.
fn substring(s: &[u8], start: i64, end: i64) -> Option<&[u8]> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len = s.len() as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        return None;
    }
    s.get(start as usize..=end as usize)
}

/// SETRANGE key offset value
pub(super) fn setrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let offset = args::int(&argv[2])?;
    if offset < 0 {
        return Err("ERR offset is out of range".into());
    }
    let key = &argv[1][..];
    let value = &argv[3][..];
    let max = ctx.srv.config.proto_max_bulk_len;
    let now = ctx.now;
    let dirty = ctx.srv.dirty;
    let len = match str_mut(&mut ctx.srv.db, key, now)? {
        // Setting nothing neither creates the key nor changes it.
        None if value.is_empty() => 0,
        Some(s) if value.is_empty() => s.len(),
        None => {
            check_string_length(max, offset as u64, value.len() as u64)?;
            let offset = offset as usize;
            let mut buf = vec![0u8; offset + value.len()];
            buf[offset..].copy_from_slice(value);
            ctx.srv.db.set(key, Value::Str(Sds::from_vec(buf)), false);
            ctx.srv.dirty += 1;
            offset + value.len()
        }
        Some(s) => {
            check_string_length(max, offset as u64, value.len() as u64)?;
            let (from, to) = (offset as usize, offset as usize + value.len());
            if to <= s.len() {
                s.as_mut_slice()[from..to].copy_from_slice(value);
            } else {
                grow(s, |v| {
                    v.resize(to, 0);
                    v[from..to].copy_from_slice(value);
                });
            }
            ctx.srv.dirty += 1;
            s.len()
        }
    };
    if ctx.srv.dirty != dirty {
        notify::notify(ctx.srv, notify::STRING, "setrange", key);
    }
    ctx.out.int(len as i64);
    Ok(())
}

/// One run of matching bytes: `a[a0..=a1]` equals `b[b0..=b1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub a: (usize, usize),
    pub b: (usize, usize),
}

impl Match {
    pub fn match_len(&self) -> usize {
        self.a.1 - self.a.0 + 1
    }
}

/// The result of one LCS computation.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lcs {
    pub len: usize,
    pub text: Vec<u8>,
    /// Matching runs from the end of the strings backwards, as LCS IDX lists them.
    pub matches: Vec<Match>,
}

/// Computes the longest common subsequence of `a` and `b` with the classic dynamic
/// programming table, then walks it back from the end the same way Redis does, so that
/// the subsequence and its runs are the ones Redis reports when several are equally long.
/// `table` must hold `(a.len()+1) * (b.len()+1)` cells.
fn lcs_compute(a: &[u8], b: &[u8], table: &mut [u32], min_len: usize, want_text: bool) -> Lcs {
    let w = b.len() + 1;
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            table[i * w + j] = if i == 0 || j == 0 {
                0
            } else if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let total = table[a.len() * w + b.len()] as usize;
    let mut out = Lcs {
        len: total,
        ..Lcs::default()
    };
    if !want_text {
        return out;
    }
    let mut text = vec![0u8; total];
    let mut idx = total;
    let (mut i, mut j) = (a.len(), b.len());
    let mut run: Option<Match> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            text[idx - 1] = a[i - 1];
            match run.as_mut() {
                None => {
                    run = Some(Match {
                        a: (i - 1, i - 1),
                        b: (j - 1, j - 1),
                    })
                }
                Some(r) if r.a.0 == i && r.b.0 == j => {
                    r.a.0 -= 1;
                    r.b.0 -= 1;
                }
                Some(_) => emit = true,
            }
            if let Some(r) = run {
                if r.a.0 == 0 || r.b.0 == 0 {
                    emit = true;
                }
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if run.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some(r) = run.take() {
                if min_len == 0 || r.match_len() >= min_len {
                    out.matches.push(r);
                }
            }
        }
    }
    out.text = text;
    out
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]
pub(super) fn lcs(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let wrong = || CmdError::Static("ERR The specified keys must contain string values");
    let a = read_str(&mut ctx.srv.db, &argv[1], now).map_err(|_| wrong())?;
    let a = a.map(|s| s.to_vec()).unwrap_or_default();
    let b = read_str(&mut ctx.srv.db, &argv[2], now).map_err(|_| wrong())?;
    let b = b.map(|s| s.to_vec()).unwrap_or_default();

    let (mut get_len, mut get_idx, mut with_len) = (false, false, false);
    let mut min_len: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let opt = &argv[j][..];
        if args::is(opt, "idx") {
            get_idx = true;
        } else if args::is(opt, "len") {
            get_len = true;
        } else if args::is(opt, "withmatchlen") {
            with_len = true;
        } else if args::is(opt, "minmatchlen") && j + 1 < argv.len() {
            min_len = args::int(&argv[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    if get_len && get_idx {
        return Err("ERR If you want both the length and indexes, please just use IDX.".into());
    }
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        return Err("ERR String too long for LCS".into());
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    if cells.saturating_mul(4) > ctx.srv.config.proto_max_bulk_len {
        return Err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len".into(),
        );
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Err("ERR Insufficient memory, failed allocating transient memory for LCS".into());
    }
    table.resize(cells as usize, 0);
    let min_len = usize::try_from(min_len).unwrap_or(usize::MAX);
    let r = lcs_compute(&a, &b, &mut table, min_len, get_idx || !get_len);

    if get_idx {
        ctx.out.map(2);
        ctx.out.bulk(b"matches");
        ctx.out.array(r.matches.len());
        for m in &r.matches {
            ctx.out.array(if with_len { 3 } else { 2 });
            ctx.out.array(2);
            ctx.out.int(m.a.0 as i64);
            ctx.out.int(m.a.1 as i64);
            ctx.out.array(2);
            ctx.out.int(m.b.0 as i64);
            ctx.out.int(m.b.1 as i64);
            if with_len {
                ctx.out.int(m.match_len() as i64);
            }
        }
        ctx.out.bulk(b"len");
        ctx.out.int(r.len as i64);
    } else if get_len {
        ctx.out.int(r.len as i64);
    } else {
        ctx.out.bulk(&r.text);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &str, b: &str, min_len: usize) -> Lcs {
        let mut t = vec![0u32; (a.len() + 1) * (b.len() + 1)];
        lcs_compute(a.as_bytes(), b.as_bytes(), &mut t, min_len, true)
    }

    #[test]
    fn lcs_text_and_runs() {
        // The example from Redis's documentation of LCS.
        let r = run("ohmytext", "mynewtext", 0);
        assert_eq!(r.text, b"mytext");
        assert_eq!(r.len, 6);
        assert_eq!(
            r.matches,
            vec![
                Match {
                    a: (4, 7),
                    b: (5, 8)
                },
                Match {
                    a: (2, 3),
                    b: (0, 1)
                },
            ]
        );
        let r = run("ohmytext", "mynewtext", 4);
        assert_eq!(r.matches.len(), 1);
        assert_eq!(r.matches[0].match_len(), 4);
    }

    #[test]
    fn lcs_edges() {
        assert_eq!(run("", "abc", 0).text, b"");
        assert_eq!(run("abc", "xyz", 0).len, 0);
        let r = run("abc", "abc", 0);
        assert_eq!(
            r.matches,
            vec![Match {
                a: (0, 2),
                b: (0, 2)
            }]
        );
    }

    #[test]
    fn getrange_clamps_like_redis() {
        let s = b"Hello World";
        assert_eq!(substring(s, 0, 3), Some(&b"Hell"[..]));
        assert_eq!(substring(s, -4, -1), Some(&b"orld"[..]));
        assert_eq!(substring(s, 5, 3), None);
        assert_eq!(substring(s, -1, -5), None);
        assert_eq!(substring(s, -5000, 10000), Some(&s[..]));
        assert_eq!(substring(s, 0, i64::MAX), Some(&s[..]));
        assert_eq!(substring(s, i64::MIN, i64::MIN + 1), Some(&b"H"[..]));
        assert_eq!(substring(b"", 0, -1), None);
    }
}
