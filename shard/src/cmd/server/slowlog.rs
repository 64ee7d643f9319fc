//! SLOWLOG GET / LEN / RESET / HELP, and the recording of slow commands the dispatcher
//! calls after each command.

use std::collections::VecDeque;

use bytes::Bytes;
use shoal_proto::command::CommandSpec;
use shoal_proto::Flags;

use crate::client::Client;
use crate::cmd::{args, CmdError, CmdResult, Ctx};
use crate::state::Server;

/// Arguments kept per entry; the last slot then says how many were left out.
const MAX_ARGC: usize = 32;
/// Bytes kept per argument.
const MAX_STRING: usize = 128;

/// One logged command, as SLOWLOG GET reports it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: u64,
    pub unix_time: i64,
    pub usec: u64,
    pub args: Vec<Bytes>,
    pub peer: String,
    pub name: Bytes,
}

#[derive(Debug, Default)]
pub struct SlowLog {
    /// Newest first.
    pub entries: VecDeque<Entry>,
    pub next_id: u64,
}

/// Parameters whose values never reach the slow log.
const SENSITIVE: &[&str] = &["requirepass", "masterauth", "masteruser"];

/// Logs the command if it ran at least `slowlog-log-slower-than` microseconds.
pub fn record(srv: &mut Server, client: &Client, spec: &CommandSpec, argv: &[Bytes], usec: u64) {
    let threshold = srv.config.slowlog_log_slower_than;
    if threshold < 0 || (usec as i64) < threshold || spec.flags.has(Flags::SKIP_SLOWLOG) {
        return;
    }
    let keep = argv.len().min(MAX_ARGC);
    let mut args = Vec::with_capacity(keep);
    for (i, a) in argv.iter().take(keep).enumerate() {
        if keep != argv.len() && i == keep - 1 {
            let more = argv.len() - keep + 1;
            args.push(Bytes::from(format!("... ({more} more arguments)")));
        } else if spec.name == "config|set"
            && i >= 3
            && i % 2 == 1
            && SENSITIVE
                .iter()
                .any(|s| s.as_bytes().eq_ignore_ascii_case(&argv[i - 1]))
        {
            args.push(Bytes::from_static(b"(redacted)"));
        } else if a.len() > MAX_STRING {
            let mut s = a[..MAX_STRING].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes());
            args.push(Bytes::from(s));
        } else {
            // A copy, not `a.clone()`: an argument is a view into its whole read buffer (a
            // connection's, or a megabyte of the AOF while loading), and an entry would
            // keep all of that alive for as long as it stays in the log.
            args.push(Bytes::copy_from_slice(a));
        }
    }
    let log = &mut srv.slowlog;
    log.entries.push_front(Entry {
        id: log.next_id,
        unix_time: crate::state::now_ms() / 1000,
        usec,
        args,
        peer: client.addr.clone(),
        name: client.name.clone().unwrap_or_default(),
    });
    log.next_id += 1;
    log.entries.truncate(srv.config.slowlog_max_len as usize);
}

/// SLOWLOG GET [count]
pub fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let count = match argv.get(2) {
        None => 10,
        Some(a) => match args::int(a) {
            Ok(-1) => usize::MAX,
            Ok(n) if n >= 0 => n as usize,
            _ => {
                return Err(CmdError::Static(
                    "ERR count should be greater than or equal to -1",
                ))
            }
        },
    };
    let entries = &ctx.srv.slowlog.entries;
    let n = count.min(entries.len());
    ctx.out.array(n);
    for e in entries.iter().take(n) {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.unix_time);
        ctx.out.int(e.usec as i64);
        ctx.out.bulks(e.args.iter());
        ctx.out.bulk(e.peer.as_bytes());
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

/// SLOWLOG LEN
pub fn len(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.srv.slowlog.entries.len() as i64);
    Ok(())
}

/// SLOWLOG RESET
pub fn reset(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.srv.slowlog.entries.clear();
    ctx.out.ok();
    Ok(())
}

/// SLOWLOG HELP
pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx.out,
        "slowlog",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ShardConfig;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn trims_redacts_and_caps() {
        let mut srv = Server::new(ShardConfig::default());
        srv.config.slowlog_log_slower_than = 0;
        srv.config.slowlog_max_len = 2;
        let client = Client::new(1, "1.2.3.4:5".into(), String::new(), false, true);
        let set = shoal_proto::command::lookup(b"config").unwrap();
        let set = shoal_proto::command::lookup_subcommand(set, b"set").unwrap();
        let argv = [
            b("config"),
            b("set"),
            b("requirepass"),
            b("pw"),
            b("hz"),
            b("5"),
        ];
        record(&mut srv, &client, set, &argv, 7);
        let e = &srv.slowlog.entries[0];
        assert_eq!(e.args[3], b("(redacted)"));
        assert_eq!(e.args[5], b("5"));
        let ping = shoal_proto::command::lookup(b"ping").unwrap();
        let many: Vec<Bytes> = (0..40).map(|i| b(&i.to_string())).collect();
        record(&mut srv, &client, ping, &many, 7);
        let long = [b("ping"), Bytes::from(vec![b'x'; 130])];
        record(&mut srv, &client, ping, &long, 7);
        assert_eq!(srv.slowlog.entries.len(), 2);
        let newest = &srv.slowlog.entries[0];
        assert_eq!(newest.id, 2);
        assert!(newest.args[1].ends_with(b"... (2 more bytes)"));
        let older = &srv.slowlog.entries[1];
        assert_eq!(older.args.len(), 32);
        assert_eq!(older.args[31], b("... (9 more arguments)"));
        srv.config.slowlog_log_slower_than = 100;
        record(&mut srv, &client, ping, &long, 99);
        assert_eq!(srv.slowlog.entries[0].id, 2);
    }

    #[test]
    fn entries_do_not_hold_the_buffer_the_arguments_came_from() {
        let mut srv = Server::new(ShardConfig::default());
        srv.config.slowlog_log_slower_than = 0;
        let client = Client::new(1, "1.2.3.4:5".into(), String::new(), false, true);
        let get = shoal_proto::command::lookup(b"get").unwrap();
        let buffer = Bytes::from(vec![b'k'; 1 << 20]);
        let range = buffer.as_ptr_range();
        record(&mut srv, &client, get, &[b("get"), buffer.slice(..8)], 7);
        let kept = &srv.slowlog.entries[0].args[1];
        assert_eq!(kept, &b("kkkkkkkk"));
        assert!(
            !range.contains(&kept.as_ptr()),
            "the entry points into the buffer"
        );
    }
}
