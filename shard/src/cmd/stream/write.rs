//! XADD, XDEL, XTRIM and XSETID.

use bytes::Bytes;

use super::{lookup_mut, node_limits, reply_id, strict_id};
use crate::cmd::args::is;
use crate::cmd::{err, wrong_arity, CmdError, CmdResult, Ctx};
use crate::db::stream::id::{self, INVALID_ID};
use crate::db::stream::{AddError, Stream, StreamId, Trim};
use crate::db::{Sds, Value};
use crate::notify;

/// The options XADD and XTRIM share.
#[derive(Default)]
struct TrimArgs {
    how: Option<Trim>,
    approx: bool,
    limit: u64,
    /// XADD's ID (None: `*`) and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    nomkstream: bool,
}

/// Parses the options from argv[2]; for XADD returns the position of the ID.
fn parse_trim_args(
    argv: &[Bytes],
    xadd: bool,
    max_entries: i64,
) -> Result<(TrimArgs, usize), CmdError> {
    let mut a = TrimArgs::default();
    let mut limit_given = false;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i][..];
        let both = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
        if xadd && opt == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if a.how.is_some() {
                return Err(both.into());
            }
            a.approx = false;
            let next = &argv[i + 1][..];
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let arg = &argv[i + 1];
            if is(opt, "maxlen") {
                let n = super::int_arg(arg)?;
                if n < 0 {
                    return Err("ERR The MAXLEN argument must be >= 0.".into());
                }
                a.how = Some(Trim::MaxLen(n as u64));
            } else {
                a.how = Some(Trim::MinId(strict_id(arg)?));
            }
            i += 1;
        } else if is(opt, "limit") && more > 0 {
            let n = super::int_arg(&argv[i + 1])?;
            if n < 0 {
                return Err("ERR The LIMIT argument must be >= 0.".into());
            }
            a.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            let p = id::parse(opt, 0, true, true).ok_or(CmdError::Static(INVALID_ID))?;
            a.id = Some((p.id, p.seq_given));
            break;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    if a.limit > 0 && a.how.is_none() {
        return Err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy".into(),
        );
    }
    if !xadd && a.how.is_none() {
        return Err("ERR syntax error, XTRIM must be called with a trimming strategy".into());
    }
    if limit_given {
        if !a.approx {
            return Err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option".into(),
            );
        }
    } else if a.approx {
        let l = 100i64.saturating_mul(max_entries);
        a.limit = if l <= 0 {
            10_000
        } else {
            l.min(1_000_000) as u64
        };
    } else {
        a.limit = 0;
    }
    Ok((a, i))
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]
pub fn xadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let limits = node_limits(ctx);
    let (a, idpos) = parse_trim_args(argv, true, limits.max_entries)?;
    let fields = argv.get(idpos + 1..).unwrap_or(&[]);
    if fields.len() < 2 || fields.len() % 2 == 1 {
        return Err(wrong_arity("xadd"));
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return Err("ERR The ID specified in XADD must be greater than 0-0".into());
        }
    }
    let now = ctx.now;
    let key = &argv[1];
    let db = ctx.db();
    if lookup_mut(db, key, now)?.is_none() {
        if a.nomkstream {
            ctx.out.null();
            return Ok(());
        }
        db.insert_new(key, Value::Stream(Box::new(Stream::new())));
    }
    let Some(s) = lookup_mut(db, key, now)? else {
        return Err(err::NO_SUCH_KEY.into());
    };
    if s.last_id == StreamId::MAX {
        return Err(
            "ERR The stream has exhausted the last possible ID, unable to add more items".into(),
        );
    }
    let values: Vec<Sds> = fields.iter().map(|f| Sds::new(f)).collect();
    let id = match s.add(values, a.id, now.max(0) as u64, limits) {
        Ok(id) => id,
        Err(AddError::NotGreater) => {
            // A stream created just for this entry must not stay behind empty.
            if s.is_empty() && s.entries_added == 0 && s.groups.is_empty() {
                db.remove(key);
            }
            return Err(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item"
                    .into(),
            );
        }
        Err(AddError::TooLarge) => return Err("ERR Elements are too large to be stored".into()),
    };
    let trimmed = match a.how {
        Some(how) => s.trim(how, a.approx, a.limit),
        None => 0,
    };
    let first = s.edge_id(true);
    // The AOF gets the ID the entry really got (an `*` would draw a new one on replay)
    // and, when entries went, an exact trim: `~` depends on node layout.
    let mut record = vec![
        Bytes::from_static(b"XADD"),
        key.clone(),
        Bytes::from(id.to_string()),
    ];
    record.extend(fields.iter().cloned());
    ctx.propagate_as(record);
    if trimmed > 0 {
        ctx.also_propagate(exact_trim(key, first));
    }
    reply_id(ctx.out, id);
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, notify::STREAM, "xadd", key);
    if trimmed > 0 {
        notify::notify(ctx.srv, notify::STREAM, "xtrim", key);
    }
    Ok(())
}

/// The exact XTRIM that leaves a stream starting at `first` (None: empty), for the AOF.
fn exact_trim(key: &Bytes, first: Option<StreamId>) -> Vec<Bytes> {
    match first {
        Some(first) => vec![
            Bytes::from_static(b"XTRIM"),
            key.clone(),
            Bytes::from_static(b"MINID"),
            Bytes::from_static(b"="),
            Bytes::from(first.to_string()),
        ],
        None => vec![
            Bytes::from_static(b"XTRIM"),
            key.clone(),
            Bytes::from_static(b"MAXLEN"),
            Bytes::from_static(b"="),
            Bytes::from_static(b"0"),
        ],
    }
}

/// XDEL key id [id ...]
pub fn xdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let Some(s) = lookup_mut(ctx.db(), &argv[1], now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    // Every ID is checked before any is deleted, so a bad one changes nothing.
    let ids = argv[2..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let n = s.delete(&ids);
    ctx.srv.dirty += n;
    ctx.out.int(n as i64);
    if n > 0 {
        notify::notify(ctx.srv, notify::STREAM, "xdel", &argv[1]);
    }
    Ok(())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let limits = node_limits(ctx);
    let (a, _) = parse_trim_args(argv, false, limits.max_entries)?;
    let now = ctx.now;
    let Some(s) = lookup_mut(ctx.db(), &argv[1], now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let n = match a.how {
        Some(how) => s.trim(how, a.approx, a.limit),
        None => 0,
    };
    // `~` and LIMIT depend on the node layout, which replay need not rebuild.
    if n > 0 && a.approx {
        let first = s.edge_id(true);
        ctx.propagate_as(exact_trim(&argv[1], first));
    }
    ctx.srv.dirty += n;
    ctx.out.int(n as i64);
    if n > 0 {
        notify::notify(ctx.srv, notify::STREAM, "xtrim", &argv[1]);
    }
    Ok(())
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub fn xsetid(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let id = strict_id(&argv[2])?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::ZERO;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if is(&argv[i], "entriesadded") && more > 0 {
            let n = super::int_arg(&argv[i + 1])?;
            if n < 0 {
                return Err("ERR entries_added must be positive".into());
            }
            entries_added = Some(n as u64);
        } else if is(&argv[i], "maxdeletedid") && more > 0 {
            max_deleted = strict_id(&argv[i + 1])?;
            if id < max_deleted {
                return Err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id".into());
            }
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 2;
    }
    let now = ctx.now;
    let Some(s) = lookup_mut(ctx.db(), &argv[1], now)? else {
        return Err(err::NO_SUCH_KEY.into());
    };
    if !s.is_empty() {
        let top = s.edge_id(false).unwrap_or(StreamId::ZERO);
        if id < top {
            return Err(
                "ERR The ID specified in XSETID is smaller than the target stream top item".into(),
            );
        }
        if entries_added.is_some_and(|n| s.len() > n) {
            return Err("ERR The entries_added specified in XSETID is smaller than the target stream length".into());
        }
    }
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if !max_deleted.is_zero() {
        s.max_deleted_id = max_deleted;
    }
    ctx.srv.dirty += 1;
    ctx.out.ok();
    notify::notify(ctx.srv, notify::STREAM, "xsetid", &argv[1]);
    Ok(())
}
