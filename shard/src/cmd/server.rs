//! Server commands.
//!
//! # Layout
//! - this file: FLUSHALL, FLUSHDB, DBSIZE, FUNCTION FLUSH, TIME, LASTSAVE, and the
//!   family's `COMMANDS`.
//! - [`config`]: CONFIG GET/SET/RESETSTAT/REWRITE/HELP.
//! - [`info`]: the INFO command and its sections.
//! - [`debug`]: the DEBUG command and its subcommands.
//! - [`command`]: COMMAND and its subcommands.
//! - [`latency`]: the latency monitor and LATENCY's subcommands.
//! - [`memory`]: the MEMORY command's subcommands.
//! - [`slowlog`]: SLOWLOG, and the recording of slow commands.

pub mod command;
pub mod config;
pub mod debug;
pub mod info;
pub mod latency;
pub mod memory;
pub mod slowlog;

use bytes::Bytes;
use shoal_proto::Reply;

use super::{args, err, CmdResult, Ctx, Handler};

pub static COMMANDS: &[(&str, Handler)] = &[
    ("flushall", flushall),
    ("flushdb", flushdb),
    ("dbsize", dbsize),
    ("function|flush", function_flush),
    ("time", time),
    ("lastsave", lastsave),
    ("info", info::info),
    ("config|get", config::get),
    ("config|set", config::set),
    ("config|resetstat", config::resetstat),
    ("config|rewrite", config::rewrite),
    ("config|help", config::help),
    ("debug", debug::debug),
    ("command", command::command),
    ("command|count", command::count),
    ("command|info", command::info),
    ("command|list", command::list),
    ("command|docs", command::docs),
    ("command|getkeys", command::getkeys),
    ("command|getkeysandflags", command::getkeysandflags),
    ("command|help", command::help),
    ("slowlog|get", slowlog::get),
    ("slowlog|len", slowlog::len),
    ("slowlog|reset", slowlog::reset),
    ("slowlog|help", slowlog::help),
    ("role", role),
    ("shutdown", shutdown),
    ("latency|latest", latency::latest),
    ("latency|history", latency::history),
    ("latency|reset", latency::reset),
    ("latency|graph", latency::graph),
    ("latency|doctor", latency::doctor),
    ("latency|histogram", latency::histogram),
    ("latency|help", latency::help),
    ("memory|usage", memory::usage),
    ("memory|stats", memory::stats),
    ("memory|doctor", memory::doctor),
    ("memory|malloc-stats", memory::malloc_stats),
    ("memory|purge", memory::purge),
    ("memory|help", memory::help),
];

/// Redis's reply to `<CMD> HELP`: a header, the given lines, then HELP's own entry.
pub fn help_reply(out: &mut Reply, command: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        command.to_ascii_uppercase()
    ));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

/// TIME
fn time(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let us = crate::state::now_us();
    ctx.out.array(2);
    ctx.out.bulk_int(us / 1_000_000);
    ctx.out.bulk_int(us % 1_000_000);
    Ok(())
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT] — stops the shard the way SIGTERM
/// does. The caller gets no reply: its connection closes as the process exits.
fn shutdown(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (mut save, mut nosave, mut other, mut abort) = (false, false, false, false);
    for a in &argv[1..] {
        if args::is(a, "nosave") {
            nosave = true;
        } else if args::is(a, "save") {
            save = true;
        } else if args::is(a, "now") || args::is(a, "force") {
            other = true;
        } else if args::is(a, "abort") {
            abort = true;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Err(err::SYNTAX.into());
    }
    if abort {
        // Shutdown is immediate here, so there is never one in progress to abort.
        return Err("ERR No shutdown in progress.".into());
    }
    tracing::warn!("SHUTDOWN requested by client {}", ctx.client.addr);
    ctx.srv.shutdown.notify_one();
    ctx.client.close_after_reply = true;
    Ok(())
}

/// ROLE — a shard is always a master without replicas.
fn role(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.array(3);
    ctx.out.bulk(b"master");
    ctx.out.int(0);
    ctx.out.array(0);
    Ok(())
}

/// LASTSAVE
fn lastsave(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.srv.lastsave);
    Ok(())
}

/// FLUSHALL [ASYNC | SYNC]
fn flushall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    flush(ctx, argv)
}

/// FLUSHDB [ASYNC | SYNC]
fn flushdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    flush(ctx, argv)
}

fn flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match argv.len() {
        1 => {}
        2 if args::is(&argv[1], "async") || args::is(&argv[1], "sync") => {}
        _ => return Err(err::SYNTAX.into()),
    }
    let removed = ctx.srv.db.flush();
    // FLUSHALL counts as a change even on an empty keyspace, as in Redis, so it always
    // reaches the AOF.
    ctx.srv.dirty += removed as u64 + 1;
    ctx.out.ok();
    Ok(())
}

/// DBSIZE
fn dbsize(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.srv.db.len() as i64);
    Ok(())
}

/// FUNCTION FLUSH [ASYNC | SYNC] — shoal has no function libraries, so there is nothing
/// to remove.
fn function_flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match argv.len() {
        2 => {}
        3 if args::is(&argv[2], "async") || args::is(&argv[2], "sync") => {}
        _ => return Err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option".into()),
    }
    ctx.out.ok();
    Ok(())
}
