//! XLEN, XRANGE, XREVRANGE, XREAD and XREADGROUP.

use bytes::Bytes;
use shoal_proto::Reply;

use super::{lookup, lookup_mut, propagate, reply_entry, strict_id};
use crate::blocking::{may_block, serving_key, BlockSpec};
use crate::cmd::args::is;
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::db::stream::{id, Stream, StreamId};
use crate::notify;

/// How many entries a blocked XREAD without COUNT gets when woken.
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// XLEN key
pub fn xlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let n = lookup(ctx.db(), &argv[1], now)?.map_or(0, Stream::len);
    ctx.out.int(n as i64);
    Ok(())
}

/// XRANGE key start end [COUNT count]
pub fn xrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    range(ctx, argv, false)
}

/// XREVRANGE key end start [COUNT count]
pub fn xrevrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    range(ctx, argv, true)
}

fn range(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let bad = || CmdError::Static(id::INVALID_ID);
    let (mut start, start_ex) = id::parse_interval(start_arg, 0).ok_or_else(bad)?;
    if start_ex {
        start = start
            .incr()
            .ok_or(CmdError::Static("ERR invalid start ID for the interval"))?;
    }
    let (mut end, end_ex) = id::parse_interval(end_arg, u64::MAX).ok_or_else(bad)?;
    if end_ex {
        end = end
            .decr()
            .ok_or(CmdError::Static("ERR invalid end ID for the interval"))?;
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if is(&argv[j], "count") && j + 1 < argv.len() {
            count = super::int_arg(&argv[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let now = ctx.now;
    let Some(s) = lookup(&mut ctx.srv.db, &argv[1], now)? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == 0 {
        ctx.out.null_array();
        return Ok(());
    }
    let limit = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    let mut body = super::scratch(ctx.out);
    let mut n = 0;
    for (id, fields) in s.range(start, end, rev).take(limit) {
        reply_entry(&mut body, id, fields);
        n += 1;
    }
    ctx.out.array(n);
    ctx.out.raw(&body.buf);
    Ok(())
}

/// Parsed XREAD / XREADGROUP arguments.
struct ReadArgs {
    block_ms: Option<i64>,
    count: usize,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
    keys: Vec<Bytes>,
    ids: Vec<Bytes>,
}

fn parse_block(arg: &[u8]) -> Result<i64, CmdError> {
    let ms = shoal_proto::number::parse_i64(arg).ok_or(CmdError::Static(
        "ERR timeout is not an integer or out of range",
    ))?;
    if ms < 0 {
        return Err("ERR timeout is negative".into());
    }
    Ok(ms)
}

fn parse_read(argv: &[Bytes], xreadgroup: bool) -> Result<ReadArgs, CmdError> {
    let mut a = ReadArgs {
        block_ms: None,
        count: 0,
        group: None,
        noack: false,
        keys: Vec::new(),
        ids: Vec::new(),
    };
    let mut i = 1;
    let mut streams_at = None;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let o = &argv[i];
        if is(o, "block") && more > 0 {
            i += 1;
            a.block_ms = Some(parse_block(&argv[i])?);
        } else if is(o, "count") && more > 0 {
            i += 1;
            a.count = super::int_arg(&argv[i])?.max(0) as usize;
        } else if is(o, "streams") && more > 0 {
            if !more.is_multiple_of(2) {
                return Err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.".into());
            }
            streams_at = Some(i + 1);
            break;
        } else if is(o, "group") && more >= 2 {
            if !xreadgroup {
                return Err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            a.group = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 2;
        } else if is(o, "noack") {
            if !xreadgroup {
                return Err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.".into());
            }
            a.noack = true;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    let Some(at) = streams_at else {
        return Err(err::SYNTAX.into());
    };
    if xreadgroup && a.group.is_none() {
        return Err("ERR Missing GROUP option for XREADGROUP".into());
    }
    let n = (argv.len() - at) / 2;
    a.keys = argv[at..at + n].to_vec();
    a.ids = argv[at + n..].to_vec();
    Ok(a)
}

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
pub fn xread(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let a = parse_read(argv, false)?;
    read(ctx, argv, a)
}

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]
pub fn xreadgroup(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let a = parse_read(argv, true)?;
    read(ctx, argv, a)
}

fn read(ctx: &mut Ctx<'_>, argv: &[Bytes], a: ReadArgs) -> CmdResult {
    // Blocking is meaningless in a script; Redis says so rather than answering at once.
    if ctx.client.script && a.block_ms.is_some() {
        return Err(CmdError::Owned(format!(
            "ERR {} command is not allowed with BLOCK option from scripts",
            String::from_utf8_lossy(&argv[0])
        )));
    }
    let now = ctx.now;
    // Resolve every ID first: a bad one fails the whole command before anything is read.
    let mut after: Vec<StreamId> = Vec::with_capacity(a.keys.len().min(1024));
    let mut dollar = false;
    for (key, arg) in a.keys.iter().zip(&a.ids) {
        let s = lookup(&mut ctx.srv.db, key, now)?;
        if let Some((group, _)) = &a.group {
            if s.is_none_or(|s| !s.groups.contains_key(&group[..])) {
                if serving_key(ctx).is_some() {
                    return Err(
                        "NOGROUP the consumer group this client was blocked on no longer exists"
                            .into(),
                    );
                }
                return Err(CmdError::Owned(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(group)
                )));
            }
        }
        let id = if &arg[..] == b"$" {
            if a.group.is_some() {
                return Err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.".into());
            }
            dollar = true;
            s.map_or(StreamId::ZERO, |s| s.last_id)
        } else if &arg[..] == b">" {
            if a.group.is_none() {
                return Err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.".into());
            }
            StreamId::MAX
        } else {
            strict_id(arg)?
        };
        after.push(id);
    }
    let served = serving_key(ctx).map(<[u8]>::to_vec);
    let count = match (a.count, &served) {
        (0, Some(_)) => BLOCKED_DEFAULT_COUNT,
        (c, _) => c,
    };
    let mut body = super::scratch(ctx.out);
    let mut n = 0;
    for (key, &gt) in a.keys.iter().zip(&after) {
        if served.as_deref().is_some_and(|k| k != &key[..]) {
            continue;
        }
        let wrote = match &a.group {
            None => read_one(ctx, &mut body, key, gt, count)?,
            Some((group, consumer)) => {
                read_group_one(ctx, &mut body, key, gt, count, group, consumer, a.noack)?
            }
        };
        if wrote {
            n += 1;
        }
    }
    // XREADGROUP's records, if any, were made per key (see `propagate`); the request
    // itself would replay with other clocks and counters.
    if a.group.is_some() && ctx.prop.instead.is_empty() {
        ctx.no_propagate();
    }
    if n > 0 {
        if ctx.out.is_resp3() {
            ctx.out.map(n);
        } else {
            ctx.out.array(n);
        }
        ctx.out.raw(&body.buf);
        return Ok(());
    }
    let Some(ms) = a.block_ms else {
        ctx.out.null_array();
        return Ok(());
    };
    if !may_block(ctx) {
        ctx.out.null_array();
        return Ok(());
    }
    // `$` means "after what was last when I blocked", so the re-run names that ID.
    let rerun_argv = dollar.then(|| {
        let mut v = argv.to_vec();
        let ids_at = argv.len() - a.ids.len();
        for (i, id) in after.iter().enumerate() {
            if let Some(slot) = v.get_mut(ids_at + i) {
                *slot = Bytes::from(id.to_bytes());
            }
        }
        v
    });
    ctx.client.block = Some(BlockSpec {
        keys: a.keys.clone(),
        deadline_ms: if ms > 0 { now.saturating_add(ms) } else { 0 },
        type_name: "stream",
        rerun_argv,
    });
    Ok(())
}

/// Writes `[key, entries]` for the entries after `gt`, when there are any.
fn read_one(
    ctx: &mut Ctx<'_>,
    body: &mut Reply,
    key: &Bytes,
    gt: StreamId,
    count: usize,
) -> Result<bool, CmdError> {
    let now = ctx.now;
    let Some(s) = lookup(&mut ctx.srv.db, key, now)? else {
        return Ok(false);
    };
    let Some(start) = gt.incr() else {
        return Ok(false);
    };
    if s.edge_id(false).is_none_or(|top| top <= gt) {
        return Ok(false);
    }
    let limit = if count == 0 { usize::MAX } else { count };
    let entries: Vec<_> = s.range(start, StreamId::MAX, false).take(limit).collect();
    if !body.is_resp3() {
        body.array(2);
    }
    body.bulk(key);
    body.array(entries.len());
    for (id, fields) in entries {
        reply_entry(body, id, fields);
    }
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn read_group_one(
    ctx: &mut Ctx<'_>,
    body: &mut Reply,
    key: &Bytes,
    gt: StreamId,
    count: usize,
    group: &Bytes,
    consumer: &[u8],
    noack: bool,
) -> Result<bool, CmdError> {
    let now = ctx.now;
    let records_from = ctx.prop.instead.len();
    let Some(s) = lookup_mut(&mut ctx.srv.db, key, now)? else {
        return Ok(false);
    };
    let history = gt != StreamId::MAX;
    let meta = s.meta();
    let top = s.edge_id(false);
    let Some(g) = s.groups.get_mut(&group[..]) else {
        return Ok(false);
    };
    if !history && top.is_none_or(|top| top <= g.last_id) {
        return Ok(false);
    }
    let (c, created) = g.consumer_or_create(consumer, now);
    c.seen_time = now;
    if !body.is_resp3() {
        body.array(2);
    }
    body.bulk(key);
    let limit = if count == 0 { usize::MAX } else { count };
    if history {
        let start = gt.incr().unwrap_or(StreamId::MAX);
        let ids: Vec<StreamId> = c.pel.range(start..).take(limit).copied().collect();
        body.array(ids.len());
        for id in ids {
            let Some(s) = lookup_mut(&mut ctx.srv.db, key, now)? else {
                break;
            };
            match s.get(id) {
                Some(fields) => {
                    reply_entry(body, id, fields);
                    if let Some(nack) = s
                        .groups
                        .get_mut(&group[..])
                        .and_then(|g| g.pel.get_mut(&id))
                    {
                        nack.delivery_time = now;
                        nack.delivery_count += 1;
                    }
                }
                None => {
                    body.array(2);
                    super::reply_id(body, id);
                    body.null_array();
                }
            }
        }
    } else {
        let start = g.last_id.incr().unwrap_or(StreamId::MAX);
        let mut ids = Vec::new();
        {
            let entries = s.range(start, StreamId::MAX, false).take(limit);
            let mut tmp = super::scratch(body);
            for (id, fields) in entries {
                reply_entry(&mut tmp, id, fields);
                ids.push(id);
            }
            body.array(ids.len());
            body.raw(&tmp.buf);
        }
        if let Some(g) = s.groups.get_mut(&group[..]) {
            let last_before = g.last_id;
            for &id in &ids {
                meta.advance_group(g, id);
                if !noack {
                    g.deliver(id, consumer, now);
                    if let Some(nack) = g.pel.get(&id) {
                        let record = propagate::xclaim(key, group, id, nack, g.last_id);
                        ctx.prop.instead.push(record);
                    }
                }
            }
            // Redis records the new last ID only under NOACK (the XCLAIMs carry it
            // otherwise), and so loses the read counter on replay; recording it always
            // keeps XINFO's entries-read and lag after a restart.
            if g.last_id != last_before {
                ctx.prop.instead.push(propagate::group_id(key, group, g));
            }
        }
    }
    // New entries reach the AOF as the XCLAIMs above, which create their consumer;
    // a consumer that got none is recorded on its own. History reads only touch
    // delivery counters, which Redis does not propagate either.
    if created && (noack || history) {
        let record = propagate::create_consumer(key, group, consumer);
        ctx.prop.instead.insert(records_from, record);
    }
    ctx.srv.dirty += 1;
    if created {
        notify::notify(ctx.srv, notify::STREAM, "xgroup-createconsumer", key);
    }
    Ok(true)
}
