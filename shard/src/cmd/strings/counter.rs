//! Counters: INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT. A counter keeps its TTL.

use bytes::Bytes;

use super::longdouble::LongDouble;
use super::{str_mut, string_value};
use crate::cmd::{args, err, CmdError, CmdResult, Ctx};
use crate::db::Sds;
use crate::notify;

/// INCR key
pub(super) fn incr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    incr_by(ctx, &argv[1], 1)
}

/// DECR key
pub(super) fn decr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    incr_by(ctx, &argv[1], -1)
}

/// INCRBY key increment
pub(super) fn incrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = args::int(&argv[2])?;
    incr_by(ctx, &argv[1], by)
}

/// DECRBY key decrement
pub(super) fn decrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = args::int(&argv[2])?;
    let Some(by) = by.checked_neg() else {
        return Err("ERR decrement would overflow".into());
    };
    incr_by(ctx, &argv[1], by)
}

/// The new value of a counter, or the errors Redis gives for a value that is not an
/// integer and for a sum outside `i64`.
fn add_to_counter(current: Option<&[u8]>, by: i64) -> Result<i64, CmdError> {
    let old = match current {
        None => 0,
        Some(s) => args::int(s)?,
    };
    old.checked_add(by).ok_or(CmdError::Static(err::OVERFLOW))
}

fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> CmdResult {
    let now = ctx.now;
    let mut buf = itoa::Buffer::new();
    let new = match str_mut(&mut ctx.srv.db, key, now)? {
        None => {
            let new = add_to_counter(None, by)?;
            ctx.srv
                .db
                .set(key, string_value(buf.format(new).as_bytes()), false);
            new
        }
        Some(s) => {
            let new = add_to_counter(Some(s), by)?;
            *s = Sds::new(buf.format(new).as_bytes());
            new
        }
    };
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, notify::STRING, "incrby", key);
    ctx.out.int(new);
    Ok(())
}

/// The text INCRBYFLOAT stores and replies: the sum computed in `long double` and printed
/// in Redis's human-friendly form.
fn add_float(current: Option<&[u8]>, by: &[u8]) -> Result<String, CmdError> {
    let not_float = || CmdError::Static(err::NOT_FLOAT);
    let old = match current {
        None => LongDouble::ZERO,
        Some(s) => LongDouble::parse(s).ok_or_else(not_float)?,
    };
    let by = LongDouble::parse(by).ok_or_else(not_float)?;
    match old.checked_add(by) {
        Some(v) if v.is_finite() => Ok(v.to_human()),
        _ => Err(err::NAN_OR_INF.into()),
    }
}

/// INCRBYFLOAT key increment
pub(super) fn incrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let key = &argv[1][..];
    let text = match str_mut(&mut ctx.srv.db, key, now)? {
        None => {
            let text = add_float(None, &argv[2])?;
            ctx.srv.db.set(key, string_value(text.as_bytes()), false);
            text
        }
        Some(s) => {
            let text = add_float(Some(s), &argv[2])?;
            *s = Sds::new(text.as_bytes());
            text
        }
    };
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, notify::STRING, "incrbyfloat", key);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters() {
        assert_eq!(add_to_counter(None, 5), Ok(5));
        assert_eq!(add_to_counter(Some(b"-3"), 1), Ok(-2));
        assert_eq!(
            add_to_counter(Some(b"9223372036854775807"), 1),
            Err(CmdError::Static(err::OVERFLOW))
        );
        assert_eq!(
            add_to_counter(Some(b" 11"), 1),
            Err(CmdError::Static(err::NOT_INT))
        );
        assert_eq!(
            add_to_counter(Some(b"-9223372036854775808"), -1),
            Err(CmdError::Static(err::OVERFLOW))
        );
    }

    #[test]
    fn incrbyfloat_formatting() {
        assert_eq!(add_float(None, b"1").as_deref(), Ok("1"));
        assert_eq!(add_float(Some(b"1"), b"0.25").as_deref(), Ok("1.25"));
        assert_eq!(add_float(Some(b"0.1"), b"0.2").as_deref(), Ok("0.3"));
        assert_eq!(
            add_float(Some(b"17179869184"), b"17179869184").as_deref(),
            Ok("34359738368")
        );
        assert_eq!(
            add_float(Some(b"0"), b"+inf"),
            Err(CmdError::Static(err::NAN_OR_INF))
        );
        assert_eq!(
            add_float(Some(b"1\x002"), b"1"),
            Err(CmdError::Static(err::NOT_FLOAT))
        );
        assert_eq!(
            add_float(Some(b" 11 "), b"1"),
            Err(CmdError::Static(err::NOT_FLOAT))
        );
    }
}
