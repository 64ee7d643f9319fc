//! XCLAIM and XAUTOCLAIM: moving pending entries between consumers.

use bytes::Bytes;

use super::{lookup_mut, propagate, reply_entry, reply_id, strict_id};
use crate::cmd::args::is;
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::db::stream::{id, Stream, StreamId};
use crate::notify;

fn nogroup(argv: &[Bytes]) -> CmdError {
    CmdError::Owned(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(&argv[1]),
        String::from_utf8_lossy(&argv[2])
    ))
}

fn int_or(arg: &[u8], msg: &'static str) -> Result<i64, CmdError> {
    shoal_proto::number::parse_i64(arg).ok_or(CmdError::Static(msg))
}

/// The stream at argv[1] that has the group argv[2], or NOGROUP.
fn stream_with_group<'a>(ctx: &'a mut Ctx<'_>, argv: &[Bytes]) -> Result<&'a mut Stream, CmdError> {
    let now = ctx.now;
    match lookup_mut(&mut ctx.srv.db, &argv[1], now)? {
        Some(s) if s.groups.contains_key(&argv[2][..]) => Ok(s),
        _ => Err(nogroup(argv)),
    }
}

/// Writes the claimed entries (or IDs), skipping any that vanished meanwhile.
fn reply_claimed(ctx: &mut Ctx<'_>, argv: &[Bytes], ids: &[StreamId], justid: bool) {
    let now = ctx.now;
    let out = &mut *ctx.out;
    out.array(ids.len());
    let s = lookup_mut(&mut ctx.srv.db, &argv[1], now).ok().flatten();
    for &id in ids {
        if justid {
            reply_id(out, id);
            continue;
        }
        match s.as_ref().and_then(|s| s.get(id)) {
            Some(fields) => reply_entry(out, id, fields),
            None => out.null_array(),
        }
    }
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
pub fn xclaim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    stream_with_group(ctx, argv)?;
    let min_idle = int_or(&argv[4], "ERR Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match id::parse(&argv[j], 0, true, false) {
            Some(p) => ids.push(p.id),
            None => break,
        }
        j += 1;
    }
    let now = ctx.now;
    let (mut force, mut justid) = (false, false);
    let mut delivery_time: Option<i64> = None;
    let mut retry: Option<i64> = None;
    let mut last_id = StreamId::ZERO;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let opt = &argv[j];
        if is(opt, "force") {
            force = true;
        } else if is(opt, "justid") {
            justid = true;
        } else if is(opt, "idle") && more {
            j += 1;
            let v = int_or(&argv[j], "ERR Invalid IDLE option argument for XCLAIM")?;
            delivery_time = Some(now.saturating_sub(v));
        } else if is(opt, "time") && more {
            j += 1;
            delivery_time = Some(int_or(
                &argv[j],
                "ERR Invalid TIME option argument for XCLAIM",
            )?);
        } else if is(opt, "retrycount") && more {
            j += 1;
            retry = Some(int_or(
                &argv[j],
                "ERR Invalid RETRYCOUNT option argument for XCLAIM",
            )?);
        } else if is(opt, "lastid") && more {
            j += 1;
            last_id = strict_id(&argv[j])?;
        } else {
            return Err(CmdError::Owned(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    let delivery_time = match delivery_time {
        Some(t) if (0..=now).contains(&t) => t,
        _ => now,
    };
    let s = stream_with_group(ctx, argv)?;
    let exists: Vec<bool> = ids.iter().map(|&id| s.get(id).is_some()).collect();
    let Some(g) = s.groups.get_mut(&argv[2][..]) else {
        return Err(nogroup(argv));
    };
    let mut dirty = 0;
    let last_id_moved = last_id > g.last_id;
    if last_id_moved {
        g.last_id = last_id;
        dirty += 1;
    }
    let (key, group) = (&argv[1], &argv[2]);
    let consumer = &argv[3][..];
    let mut claimed = Vec::new();
    let mut records = Vec::new();
    let mut created = false;
    for (&id, &exists) in ids.iter().zip(&exists) {
        if !exists {
            // The entry is gone: the pending entry goes too, and its XCLAIM record
            // drops it on replay the same way.
            if let Some(nack) = g.pel.get(&id) {
                records.push(propagate::xclaim(key, group, id, nack, g.last_id));
                g.ack(id);
                dirty += 1;
            }
            continue;
        }
        let pending = g.pel.get(&id);
        if pending.is_none() && !force {
            continue;
        }
        if let Some(n) = pending {
            if min_idle > 0 && now - n.delivery_time < min_idle {
                continue;
            }
        }
        let (c, new) = g.consumer_or_create(consumer, now);
        c.seen_time = now;
        created |= new;
        let last = g.last_id;
        if let Some(nack) = g.claim(id, consumer, now, force) {
            nack.delivery_time = delivery_time;
            match retry {
                Some(r) if r >= 0 => nack.delivery_count = r as u64,
                _ if !justid => nack.delivery_count += 1,
                _ => {}
            }
            records.push(propagate::xclaim(key, group, id, nack, last));
            claimed.push(id);
            dirty += 1;
        }
    }
    // Each XCLAIM record carries LASTID; without one the moved ID needs its own.
    if last_id_moved && records.is_empty() {
        records.push(propagate::group_id(key, group, g));
    }
    ctx.srv.dirty += dirty;
    for r in records {
        ctx.propagate_as(r);
    }
    if created {
        notify::notify(ctx.srv, notify::STREAM, "xgroup-createconsumer", key);
    }
    reply_claimed(ctx, argv, &claimed, justid);
    Ok(())
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let min_idle = int_or(
        &argv[4],
        "ERR Invalid min-idle-time argument for XAUTOCLAIM",
    )?
    .max(0);
    let (mut start, ex) =
        id::parse_interval(&argv[5], 0).ok_or(CmdError::Static(id::INVALID_ID))?;
    if ex {
        start = start
            .incr()
            .ok_or(CmdError::Static("ERR invalid start ID for the interval"))?;
    }
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        if is(&argv[j], "count") && j + 1 < argv.len() {
            let max = i64::MAX / 16;
            count = shoal_proto::number::parse_i64(&argv[j + 1])
                .filter(|n| (1..=max).contains(n))
                .ok_or(CmdError::Static("ERR COUNT must be > 0"))?;
            j += 1;
        } else if is(&argv[j], "justid") {
            justid = true;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    let now = ctx.now;
    let (key, group) = (&argv[1], &argv[2]);
    let s = stream_with_group(ctx, argv)?;
    let consumer = &argv[3][..];
    let mut records = Vec::new();
    let mut created = false;
    let mut attempts = count.saturating_mul(10);
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut cursor = start;
    let mut next = StreamId::ZERO;
    let mut dirty = 0;
    while let Some(g) = s.groups.get(&argv[2][..]) {
        let Some((&id, nack)) = g.pel.range(cursor..).next() else {
            next = StreamId::ZERO;
            break;
        };
        if attempts == 0 || count == 0 {
            next = id;
            break;
        }
        attempts -= 1;
        let idle = now - nack.delivery_time;
        let exists = s.get(id).is_some();
        let Some(g) = s.groups.get_mut(&argv[2][..]) else {
            break;
        };
        cursor = match id.incr() {
            Some(n) => n,
            None => {
                next = StreamId::ZERO;
                StreamId::MAX
            }
        };
        if !exists {
            if let Some(nack) = g.pel.get(&id) {
                records.push(propagate::xclaim(key, group, id, nack, g.last_id));
            }
            g.ack(id);
            deleted.push(id);
            dirty += 1;
            count -= 1;
        } else if min_idle == 0 || idle >= min_idle {
            let (c, new) = g.consumer_or_create(consumer, now);
            c.seen_time = now;
            created |= new;
            let last = g.last_id;
            if let Some(nack) = g.claim(id, consumer, now, false) {
                nack.delivery_time = now;
                if !justid {
                    nack.delivery_count += 1;
                }
                records.push(propagate::xclaim(key, group, id, nack, last));
            }
            claimed.push(id);
            dirty += 1;
            count -= 1;
        }
        if id == StreamId::MAX {
            break;
        }
    }
    ctx.srv.dirty += dirty;
    for r in records {
        ctx.propagate_as(r);
    }
    if created {
        notify::notify(ctx.srv, notify::STREAM, "xgroup-createconsumer", key);
    }
    let mut head = super::scratch(ctx.out);
    head.array(3);
    reply_id(&mut head, next);
    ctx.out.raw(&head.buf);
    reply_claimed(ctx, argv, &claimed, justid);
    ctx.out.array(deleted.len());
    for id in deleted {
        reply_id(ctx.out, id);
    }
    Ok(())
}
