//! XINFO STREAM, GROUPS, CONSUMERS and HELP.

use bytes::Bytes;

use super::{lookup, reply_entry, reply_id};
use crate::cmd::args::is;
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::db::stream::{Group, Meta, Stream, StreamId};
use shoal_proto::Reply;

fn syntax(argv: &[Bytes]) -> CmdError {
    CmdError::Owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
        String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)])
    ))
}

fn stream_at<'a>(ctx: &'a mut Ctx<'_>, key: &[u8]) -> Result<&'a Stream, CmdError> {
    let now = ctx.now;
    lookup(&mut ctx.srv.db, key, now)?.ok_or(CmdError::Static(err::NO_SUCH_KEY))
}

fn reply_entries_read(out: &mut Reply, g: &Group) {
    match g.entries_read {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
}

fn reply_lag(out: &mut Reply, meta: &Meta, g: &Group) {
    match meta.group_lag(g) {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
}

/// The radix-tree node count Redis would report. Its tree of 128-bit keys with long
/// shared prefixes has, in the common case, a root and a compressed prefix node plus
/// two nodes per key; one key is a single compressed node and its leaf.
fn rax_nodes(keys: usize) -> usize {
    match keys {
        0 => 1,
        1 => 2,
        n => 2 * n + 2,
    }
}

/// XINFO STREAM key [FULL [COUNT count]]
pub fn stream(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let opts = &argv[3..];
    let mut full = false;
    let mut count: i64 = 10;
    if !opts.is_empty() {
        if (opts.len() != 1 && opts.len() != 3) || !is(&opts[0], "full") {
            return Err(syntax(argv));
        }
        full = true;
        if opts.len() == 3 {
            if !is(&opts[1], "count") {
                return Err(syntax(argv));
            }
            count = super::int_arg(&opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let mut out = super::scratch(ctx.out);
    let s = stream_at(ctx, &argv[2])?;
    let meta = s.meta();
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(rax_nodes(s.node_count()) as i64);
    out.bulk(b"last-generated-id");
    reply_id(&mut out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(&mut out, s.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(&mut out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for (name, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            out.bulk(name);
            match s.range(StreamId::ZERO, StreamId::MAX, rev).next() {
                Some((id, fields)) => reply_entry(&mut out, id, fields),
                None => out.null(),
            }
        }
        ctx.out.raw(&out.buf);
        return Ok(());
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    let entries: Vec<_> = s.entries().take(limit).collect();
    out.bulk(b"entries");
    out.array(entries.len());
    for (id, fields) in entries {
        reply_entry(&mut out, id, fields);
    }
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(&mut out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(&mut out, g);
        out.bulk(b"lag");
        reply_lag(&mut out, &meta, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let pel: Vec<_> = g.pel.iter().take(limit).collect();
        out.array(pel.len());
        for (id, nack) in pel {
            out.array(4);
            reply_id(&mut out, *id);
            out.bulk(&nack.consumer);
            out.int(nack.delivery_time);
            out.int(nack.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let ids: Vec<_> = c.pel.iter().take(limit).collect();
            out.array(ids.len());
            for id in ids {
                let nack = g.pel.get(id);
                out.array(3);
                reply_id(&mut out, *id);
                out.int(nack.map_or(0, |n| n.delivery_time));
                out.int(nack.map_or(0, |n| n.delivery_count as i64));
            }
        }
    }
    ctx.out.raw(&out.buf);
    Ok(())
}

/// XINFO GROUPS key
pub fn groups(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut out = super::scratch(ctx.out);
    let s = stream_at(ctx, &argv[2])?;
    let meta = s.meta();
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(&mut out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(&mut out, g);
        out.bulk(b"lag");
        reply_lag(&mut out, &meta, g);
    }
    ctx.out.raw(&out.buf);
    Ok(())
}

/// XINFO CONSUMERS key group
pub fn consumers(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let mut out = super::scratch(ctx.out);
    let s = stream_at(ctx, &argv[2])?;
    let Some(g) = s.groups.get(&argv[3][..]) else {
        return Err(CmdError::Owned(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(&argv[3]),
            String::from_utf8_lossy(&argv[2])
        )));
    };
    out.array(g.consumers.len());
    for (name, c) in &g.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int((now - c.seen_time).max(0));
    }
    ctx.out.raw(&out.buf);
    Ok(())
}

/// XINFO HELP
pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let lines = [
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
        "HELP",
        "    Print this help.",
    ];
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.simple(l);
    }
    Ok(())
}
