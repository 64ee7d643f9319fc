//! Arbitrary commands run against a keyspace, with no network: three clients share one
//! `Server`, as connections do, so blocking commands, MULTI/EXEC, WATCH and pub/sub meet.
//!
//! Input: one command per line, arguments separated by spaces. A line that starts with
//! `@N ` runs as client N (0-2). A one-byte command name stands for the command with that
//! index in the table, so the fuzzer need not spell names.
//!
//! Properties: no panic; every command's output is well-formed RESP, one reply per command
//! (except where Redis sends none or several); no single allocation over [`ALLOC_CAP`],
//! so a count or offset taken from the request cannot make the shard allocate without
//! bound. `proto-max-bulk-len` is lowered to 1 MiB so legitimate big strings stay small.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use shoal_proto::{command, Reply};
use shoal_shard::client::Client;
use shoal_shard::state::Server;
use shoal_shard::{blocking, cmd, ShardConfig};

const MAX_COMMANDS: usize = 48;
const MAX_ARGS: usize = 12;
const MAX_ARG_LEN: usize = 64;
const CLIENTS: usize = 3;
/// Far above anything 48 small commands need, far below what a count taken at its word
/// (`LRANGE k 0 9999999999`) would ask for.
const ALLOC_CAP: usize = 64 << 20;

struct Capped;

// SAFETY: forwards to the system allocator unchanged; only refuses oversized requests,
// by aborting, which is what the fuzzer reports.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

fn check(size: usize) {
    if size > ALLOC_CAP {
        // The trace allocates, but little: well under the cap, so this does not recurse.
        let trace = std::backtrace::Backtrace::force_capture();
        eprintln!("single allocation of {size} bytes, over the cap\n{trace}");
        std::process::abort();
    }
}

#[global_allocator]
static ALLOC: Capped = Capped;

/// Implemented top-level command names, for one-byte names.
fn names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        command::all()
            .iter()
            .filter(|s| !s.name.contains('|') && cmd::implemented(s))
            .map(|s| s.name)
            .collect()
    })
}

/// Commands with effects outside the keyspace under test (sleeping, files, threads,
/// settings that would lift the harness's limits), and random picks with repetition whose
/// reply is as long as the client asks (`SRANDMEMBER k -9999999999` replies ten billion
/// members in Redis too; that is the output-buffer limit's business, not a bug here).
fn denied(args: &[Bytes]) -> bool {
    let is = |i: usize, s: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()))
    };
    let huge_negative = || {
        args.get(2)
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|a| a.parse::<i64>().ok())
            .is_some_and(|n| n < -100_000)
    };
    ((is(0, "srandmember") || is(0, "zrandmember") || is(0, "hrandfield")) && huge_negative())
        || is(0, "bgrewriteaof")
        || is(0, "shutdown")
        || (is(0, "debug") && (is(1, "sleep") || is(1, "reload")))
        || (is(0, "config") && (is(1, "set") || is(1, "rewrite")))
}

fn parse_line(line: &[u8]) -> (usize, Vec<Bytes>) {
    let (client, line) = match line {
        [b'@', n, b' ', rest @ ..] => ((*n as usize) % CLIENTS, rest),
        _ => (0, line),
    };
    let mut args: Vec<Bytes> = line
        .split(|&b| b == b' ')
        .take(MAX_ARGS)
        .map(|a| Bytes::copy_from_slice(&a[..a.len().min(MAX_ARG_LEN)]))
        .collect();
    if let Some(first) = args.first_mut() {
        if first.len() == 1 && !first[0].is_ascii_alphabetic() {
            let n = names();
            *first = Bytes::from_static(n[first[0] as usize % n.len()].as_bytes());
        }
    }
    (client, args)
}

/// Parses one RESP2/RESP3 frame; returns its length, or None when malformed or cut short.
fn frame(b: &[u8]) -> Option<usize> {
    let line_end = b.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&b[1..line_end]).ok()?;
    let mut p = line_end + 2;
    match *b.first()? {
        b'+' | b'-' | b':' | b',' | b'(' | b'#' | b'_' => Some(p),
        b'$' | b'=' | b'!' => {
            let n: i64 = head.parse().ok()?;
            if n == -1 {
                return Some(p);
            }
            let n = usize::try_from(n).ok()?;
            (b.get(p + n..p + n + 2)? == b"\r\n").then_some(p + n + 2)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n: i64 = head.parse().ok()?;
            if n == -1 {
                return Some(p);
            }
            let mut items = usize::try_from(n).ok()?;
            if matches!(b[0], b'%' | b'|') {
                items *= 2;
            }
            for _ in 0..items {
                p += frame(&b[p..])?;
            }
            Some(p)
        }
        _ => None,
    }
}

/// Number of whole frames in `b`; panics if it is not a sequence of whole frames.
fn frames(b: &[u8], what: &str) -> usize {
    let mut n = 0;
    let mut p = 0;
    while p < b.len() {
        match frame(&b[p..]) {
            Some(len) => p += len,
            None => panic!("malformed {what}: {:?}", String::from_utf8_lossy(b)),
        }
        n += 1;
    }
    n
}

/// Commands that may answer with other than exactly one frame.
fn replies_vary(name: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        &lower[..],
        b"subscribe"
            | b"unsubscribe"
            | b"psubscribe"
            | b"punsubscribe"
            | b"ssubscribe"
            | b"sunsubscribe"
            | b"client"
            | b"hello"
            | b"reset"
    )
}

/// The shard's settings, built once: parsing the defaults of every setting cost more than
/// a typical run of commands. Each run still gets a fresh `Server` with its own copy.
fn config() -> &'static ShardConfig {
    static CONFIG: OnceLock<ShardConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut config = ShardConfig::default();
        config.proto_max_bulk_len = 1 << 20;
        config
    })
}

fuzz_target!(|data: &[u8]| {
    let mut srv = Server::new(config().clone());
    let clients: Vec<Rc<RefCell<Client>>> = (0..CLIENTS)
        .map(|_| {
            let id = srv.clients.next_id();
            let c = Rc::new(RefCell::new(Client::new(
                id,
                format!("127.0.0.1:{}", 40000 + id),
                "127.0.0.1:6379".into(),
                false,
                true,
            )));
            srv.clients.add(c.clone(), id);
            c
        })
        .collect();
    let mut outs: Vec<Reply> = (0..CLIENTS).map(|_| Reply::default()).collect();
    for line in data.split(|&b| b == b'\n').take(MAX_COMMANDS) {
        let (who, args) = parse_line(line);
        if args.is_empty() || denied(&args) {
            continue;
        }
        let id = clients[who].borrow().id;
        if srv.blocking.is_blocked(id) {
            // A blocked connection runs nothing until its wait ends: time it out.
            srv.blocking.time_out(id);
        }
        if let Some(done) = srv.blocking.take_outcome(id) {
            assert_eq!(frames(&done.reply, "blocked reply"), 1);
        }
        let out = &mut outs[who];
        out.buf.clear();
        {
            let mut client = clients[who].borrow_mut();
            let reply_off = client.reply_off || client.reply_skip_next;
            cmd::execute(&mut srv, &mut client, out, &args);
            let n = frames(&out.buf, "reply");
            let blocked = srv.blocking.is_blocked(id);
            if !reply_off && !blocked && !replies_vary(&args[0]) {
                assert_eq!(n, 1, "{} replies to {:?}", n, args);
            }
            out.proto = client.proto;
        }
        blocking::handle_ready(&mut srv);
        for c in &clients {
            let c = c.borrow();
            let pushed = c.outbox.take();
            frames(&pushed, "pushed message");
        }
    }
});
