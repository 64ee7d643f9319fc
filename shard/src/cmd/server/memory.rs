//! MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE / HELP, from jemalloc's counters
//! and the values' own size estimates.

use bytes::Bytes;

use crate::cmd::{args, err, CmdResult, Ctx};
use crate::state;

/// Bytes a key costs beyond its name and value: the table slot and entry header.
const KEY_OVERHEAD: usize = std::mem::size_of::<crate::db::Entry>() + 16;

/// MEMORY USAGE key [SAMPLES count] — shoal sizes whole values, so SAMPLES is checked
/// but does not change the answer.
pub fn usage(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut i = 3;
    while i < argv.len() {
        if args::is(&argv[i], "samples") && i + 1 < argv.len() {
            if args::int(&argv[i + 1])? < 0 {
                return Err(err::SYNTAX.into());
            }
            i += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    let key = &argv[2];
    match ctx.srv.db.peek(key, ctx.now) {
        Some(e) => {
            let bytes = KEY_OVERHEAD + key.len() + e.value.heap_size();
            ctx.out.int(bytes as i64);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// MEMORY STATS
pub fn stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let m = state::memory_stats();
    let srv = &*ctx.srv;
    let peak = srv.stats.peak_memory.max(m.allocated);
    let keys = srv.db.len() as u64;
    let overhead = srv.startup_memory + keys * KEY_OVERHEAD as u64;
    let dataset = m.allocated.saturating_sub(overhead);
    let net = m.allocated.saturating_sub(srv.startup_memory);
    let ints: [(&str, i64); 10] = [
        ("peak.allocated", peak as i64),
        ("total.allocated", m.allocated as i64),
        ("startup.allocated", srv.startup_memory as i64),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", 0),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
    ];
    let out = &mut *ctx.out;
    out.map(28);
    for (k, v) in ints {
        out.bulk(k.as_bytes());
        out.int(v);
    }
    out.bulk(b"db.0");
    out.map(3);
    for (k, v) in [
        ("overhead.hashtable.main", keys * KEY_OVERHEAD as u64),
        (
            "overhead.hashtable.expires",
            srv.db.expires_len() as u64 * 32,
        ),
        ("overhead.hashtable.slot-to-keys", 0),
    ] {
        out.bulk(k.as_bytes());
        out.int(v as i64);
    }
    let pairs: [(&str, Option<i64>, f64); 17] = [
        ("overhead.total", Some(overhead as i64), 0.0),
        ("keys.count", Some(keys as i64), 0.0),
        (
            "keys.bytes-per-key",
            Some(net.checked_div(keys).unwrap_or(0) as i64),
            0.0,
        ),
        ("dataset.bytes", Some(dataset as i64), 0.0),
        ("dataset.percentage", None, ratio(dataset, net) * 100.0),
        ("peak.percentage", None, ratio(m.allocated, peak) * 100.0),
        ("allocator.allocated", Some(m.allocated as i64), 0.0),
        ("allocator.active", Some(m.active as i64), 0.0),
        ("allocator.resident", Some(m.resident as i64), 0.0),
        (
            "allocator-fragmentation.ratio",
            None,
            ratio(m.active, m.allocated),
        ),
        (
            "allocator-fragmentation.bytes",
            Some(m.active as i64 - m.allocated as i64),
            0.0,
        ),
        ("allocator-rss.ratio", None, ratio(m.resident, m.active)),
        (
            "allocator-rss.bytes",
            Some(m.resident as i64 - m.active as i64),
            0.0,
        ),
        ("rss-overhead.ratio", None, ratio(m.rss, m.resident)),
        (
            "rss-overhead.bytes",
            Some(m.rss as i64 - m.resident as i64),
            0.0,
        ),
        ("fragmentation", None, ratio(m.rss, m.allocated)),
        (
            "fragmentation.bytes",
            Some(m.rss as i64 - m.allocated as i64),
            0.0,
        ),
    ];
    for (k, int, dbl) in pairs {
        out.bulk(k.as_bytes());
        match int {
            Some(n) => out.int(n),
            None => out.double(dbl),
        }
    }
    Ok(())
}

/// MEMORY DOCTOR
pub fn doctor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    // Redis declines to judge an instance under 5 MB, which is where most shards start.
    let text: &[u8] = if state::used_memory() < 5 << 20 {
        b"Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    ctx.out.verbatim(text);
    Ok(())
}

/// MEMORY MALLOC-STATS
pub fn malloc_stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let m = state::memory_stats();
    let text = format!(
        "___ Begin jemalloc statistics ___\nAllocated: {}, active: {}, resident: {}\n--- End jemalloc statistics ---\n",
        m.allocated, m.active, m.resident
    );
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// MEMORY PURGE — jemalloc returns dirty pages on its own schedule; nothing to force.
pub fn purge(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.ok();
    Ok(())
}

/// MEMORY HELP
pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx.out,
        "memory",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}
