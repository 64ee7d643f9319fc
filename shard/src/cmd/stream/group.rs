//! XGROUP, XACK and XPENDING.

use bytes::Bytes;

use super::{lookup, lookup_mut, reply_id, strict_id};
use crate::cmd::args::is;
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::db::stream::{id, Group, Stream, StreamId};
use crate::db::{Sds, Value};
use crate::notify;

fn subcommand_syntax(argv: &[Bytes]) -> CmdError {
    CmdError::Owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)]),
        String::from_utf8_lossy(&argv[0]).to_ascii_uppercase()
    ))
}

/// The options after `XGROUP CREATE|SETID key group id`: MKSTREAM and ENTRIESREAD.
fn parse_group_opts(argv: &[Bytes], create: bool) -> Result<(bool, Option<u64>), CmdError> {
    let mut mkstream = false;
    let mut entries_read: Option<u64> = None;
    let mut i = 5;
    while i < argv.len() {
        if create && is(&argv[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if is(&argv[i], "entriesread") && i + 1 < argv.len() {
            let n = super::int_arg(&argv[i + 1])?;
            if n < -1 {
                return Err("ERR value for ENTRIESREAD must be positive or -1".into());
            }
            entries_read = u64::try_from(n).ok();
            i += 2;
        } else {
            return Err(subcommand_syntax(argv));
        }
    }
    Ok((mkstream, entries_read))
}

const NEEDS_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

fn no_such_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Owned(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// The group `argv[3]` of the stream at `argv[2]`, with XGROUP's errors.
fn group_mut<'a>(ctx: &'a mut Ctx<'_>, argv: &[Bytes]) -> Result<&'a mut Group, CmdError> {
    let now = ctx.now;
    let s = lookup_mut(&mut ctx.srv.db, &argv[2], now)?.ok_or(CmdError::Static(NEEDS_KEY))?;
    s.groups
        .get_mut(&argv[3][..])
        .ok_or_else(|| no_such_group(&argv[2], &argv[3]))
}

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]
pub fn create(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (mkstream, entries_read) = parse_group_opts(argv, true)?;
    if argv.len() > 8 {
        return Err(subcommand_syntax(argv));
    }
    let now = ctx.now;
    let key = &argv[2];
    let exists = lookup_mut(&mut ctx.srv.db, key, now)?.is_some();
    if !exists && !mkstream {
        return Err(NEEDS_KEY.into());
    }
    let last = lookup_mut(&mut ctx.srv.db, key, now)?.map_or(StreamId::ZERO, |s| s.last_id);
    let id = if &argv[4][..] == b"$" {
        last
    } else {
        strict_id(&argv[4])?
    };
    if !exists {
        ctx.srv
            .db
            .insert_new(key, Value::Stream(Box::new(Stream::new())));
        // A new key is a change even if the group turns out to exist (it cannot).
        ctx.srv.dirty += 1;
    }
    let Some(s) = lookup_mut(&mut ctx.srv.db, key, now)? else {
        return Err(NEEDS_KEY.into());
    };
    if s.groups.contains_key(&argv[3][..]) {
        return Err("BUSYGROUP Consumer Group name already exists".into());
    }
    s.groups
        .insert(Sds::new(&argv[3]), Group::new(id, entries_read));
    ctx.srv.dirty += 1;
    ctx.out.ok();
    notify::notify(ctx.srv, notify::STREAM, "xgroup-create", key);
    Ok(())
}

/// XGROUP SETID key group id|$ [ENTRIESREAD entries-read]
pub fn setid(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (_, entries_read) = parse_group_opts(argv, false)?;
    if argv.len() != 5 && argv.len() != 7 {
        return Err(subcommand_syntax(argv));
    }
    let now = ctx.now;
    let last = lookup(&mut ctx.srv.db, &argv[2], now)?.map(|s| s.last_id);
    group_mut(ctx, argv)?;
    let id = if &argv[4][..] == b"$" {
        last.unwrap_or(StreamId::ZERO)
    } else {
        super::loose_id(&argv[4], 0)?
    };
    let g = group_mut(ctx, argv)?;
    g.last_id = id;
    g.entries_read = entries_read;
    ctx.srv.dirty += 1;
    ctx.out.ok();
    notify::notify(ctx.srv, notify::STREAM, "xgroup-setid", &argv[2]);
    Ok(())
}

/// XGROUP DESTROY key group
pub fn destroy(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let s = lookup_mut(&mut ctx.srv.db, &argv[2], now)?.ok_or(CmdError::Static(NEEDS_KEY))?;
    let gone = s.groups.remove(&argv[3][..]).is_some();
    if gone {
        ctx.srv.dirty += 1;
        notify::notify(ctx.srv, notify::STREAM, "xgroup-destroy", &argv[2]);
    }
    ctx.out.int(gone as i64);
    Ok(())
}

/// XGROUP CREATECONSUMER key group consumer
pub fn createconsumer(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let g = group_mut(ctx, argv)?;
    let (_, created) = g.consumer_or_create(&argv[4], now);
    if created {
        ctx.srv.dirty += 1;
        notify::notify(ctx.srv, notify::STREAM, "xgroup-createconsumer", &argv[2]);
    }
    ctx.out.int(created as i64);
    Ok(())
}

/// XGROUP DELCONSUMER key group consumer
pub fn delconsumer(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let g = group_mut(ctx, argv)?;
    let pending = g.remove_consumer(&argv[4]);
    if pending.is_some() {
        ctx.srv.dirty += 1;
        notify::notify(ctx.srv, notify::STREAM, "xgroup-delconsumer", &argv[2]);
    }
    ctx.out.int(pending.unwrap_or(0) as i64);
    Ok(())
}

/// XGROUP HELP
pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let lines = [
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
        "HELP",
        "    Print this help.",
    ];
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.simple(l);
    }
    Ok(())
}

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let Some(s) = lookup_mut(&mut ctx.srv.db, &argv[1], now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(g) = s.groups.get_mut(&argv[2][..]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let ids = argv[3..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let n = ids.into_iter().filter(|&id| g.ack(id)).count();
    ctx.srv.dirty += n as u64;
    ctx.out.int(n as i64);
    Ok(())
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
pub fn xpending(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let argc = argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(err::SYNTAX.into());
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if is(&argv[3], "idle") {
            min_idle = super::int_arg(&argv[4])?;
            if argc < 8 {
                return Err(err::SYNTAX.into());
            }
            at += 2;
        }
        let count = super::int_arg(&argv[at + 2])?.max(0);
        let bad = || CmdError::Static(id::INVALID_ID);
        let (mut start, sx) = id::parse_interval(&argv[at], 0).ok_or_else(bad)?;
        if sx {
            start = start
                .incr()
                .ok_or(CmdError::Static("ERR invalid start ID for the interval"))?;
        }
        let (mut end, ex) = id::parse_interval(&argv[at + 1], u64::MAX).ok_or_else(bad)?;
        if ex {
            end = end
                .decr()
                .ok_or(CmdError::Static("ERR invalid end ID for the interval"))?;
        }
        let consumer = argv.get(at + 3).cloned();
        range = Some((min_idle, start, end, count, consumer));
    }
    let now = ctx.now;
    let s = lookup(&mut ctx.srv.db, &argv[1], now)?;
    let Some(g) = s.and_then(|s| s.groups.get(&argv[2][..])) else {
        return Err(CmdError::Owned(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            String::from_utf8_lossy(&argv[1]),
            String::from_utf8_lossy(&argv[2])
        )));
    };
    let out = &mut *ctx.out;
    let Some((min_idle, start, end, count, consumer)) = range else {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(&first), Some(&last)) => {
                reply_id(out, first);
                reply_id(out, last);
                let owners: Vec<(&Sds, usize)> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .map(|(n, c)| (n, c.pel.len()))
                    .collect();
                out.array(owners.len());
                for (name, n) in owners {
                    out.array(2);
                    out.bulk(name);
                    out.bulk_int(n as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    };
    if start > end {
        out.array(0);
        return Ok(());
    }
    let ids: Vec<StreamId> = match &consumer {
        Some(name) => match g.consumers.get(&name[..]) {
            Some(c) => c.pel.range(start..=end).copied().collect(),
            None => Vec::new(),
        },
        None => g.pel.range(start..=end).map(|(id, _)| *id).collect(),
    };
    let mut rows = Vec::new();
    for id in ids {
        if rows.len() as i64 >= count {
            break;
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        let idle = now - nack.delivery_time;
        if min_idle > 0 && idle < min_idle {
            continue;
        }
        rows.push((id, nack, idle.max(0)));
    }
    out.array(rows.len());
    for (id, nack, idle) in rows {
        out.array(4);
        reply_id(out, id);
        out.bulk(&nack.consumer);
        out.int(idle);
        out.int(nack.delivery_count as i64);
    }
    Ok(())
}
