//! Generic key commands: the ones that work on a key whatever its type.
//!
//! # Layout
//! - this module: DEL, UNLINK, EXISTS, TYPE, TOUCH, RENAME, RENAMENX, COPY, MOVE.
//! - [`expire`]: EXPIRE and friends, TTL and friends, PERSIST.
//! - [`scan`]: KEYS, SCAN, RANDOMKEY.
//! - [`object`]: OBJECT and its subcommands.

mod expire;
mod object;
mod scan;

use bytes::Bytes;

use super::{args, err, CmdError, CmdResult, Ctx, Handler};
use crate::db::Entry;
use crate::notify;

pub static COMMANDS: &[(&str, Handler)] = &[
    ("del", del),
    ("unlink", unlink),
    ("exists", exists),
    ("type", type_),
    ("touch", touch),
    ("rename", rename),
    ("renamenx", renamenx),
    ("copy", copy),
    ("move", move_),
    ("keys", scan::keys),
    ("scan", scan::scan),
    ("randomkey", scan::randomkey),
    ("object|encoding", object::encoding),
    ("object|freq", object::freq),
    ("object|idletime", object::idletime),
    ("object|refcount", object::refcount),
    ("object|help", object::help),
    ("expire", expire::expire),
    ("pexpire", expire::pexpire),
    ("expireat", expire::expireat),
    ("pexpireat", expire::pexpireat),
    ("ttl", expire::ttl),
    ("pttl", expire::pttl),
    ("expiretime", expire::expiretime),
    ("pexpiretime", expire::pexpiretime),
    ("persist", expire::persist),
];

/// DEL key [key ...]
fn del(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    delete_keys(ctx, argv)
}

/// UNLINK key [key ...] — values are freed in place; there is no lazy-free thread.
fn unlink(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    delete_keys(ctx, argv)
}

fn delete_keys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let mut n = 0;
    for key in &argv[1..] {
        // The lookup first expires a stale key, so it is not counted as deleted.
        if ctx.srv.db.contains(key, now) && ctx.srv.db.remove(key).is_some() {
            n += 1;
            notify::notify(ctx.srv, notify::GENERIC, "del", key);
        }
    }
    ctx.srv.dirty += n;
    ctx.out.int(n as i64);
    Ok(())
}

/// EXISTS key [key ...] — a key named twice counts twice.
fn exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let n = argv[1..]
        .iter()
        .filter(|k| ctx.srv.db.lookup_notouch(k, now).is_some())
        .count();
    ctx.out.int(n as i64);
    Ok(())
}

/// TYPE key
fn type_(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let name = match ctx.srv.db.lookup_notouch(&argv[1], ctx.now) {
        Some(e) => e.value.type_name(),
        None => "none",
    };
    ctx.out.simple(name);
    Ok(())
}

/// TOUCH key [key ...] — updates the access clock of each existing key.
fn touch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let n = argv[1..]
        .iter()
        .filter(|k| ctx.srv.db.get(k, now).is_some())
        .count();
    ctx.out.int(n as i64);
    Ok(())
}

/// RENAME key newkey
fn rename(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    rename_key(ctx, &argv[1], &argv[2], false)?;
    ctx.out.ok();
    Ok(())
}

/// RENAMENX key newkey
fn renamenx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let done = rename_key(ctx, &argv[1], &argv[2], true)?;
    ctx.out.int(i64::from(done));
    Ok(())
}

/// Moves `src` to `dst` with its TTL and access clock; the TTL of a replaced `dst` is
/// dropped with it. Returns whether the key moved: renaming a key to its own name
/// changes nothing, which RENAME reports as success and RENAMENX as 0.
fn rename_key(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], nx: bool) -> Result<bool, CmdError> {
    let now = ctx.now;
    let db = &mut ctx.srv.db;
    // A write lookup, so the moved key's access clock is refreshed as in Redis.
    if db.get_mut(src, now).is_none() {
        return Err(err::NO_SUCH_KEY.into());
    }
    if src == dst {
        return Ok(false);
    }
    if db.contains(dst, now) {
        if nx {
            return Ok(false);
        }
        db.remove(dst);
    }
    let Some((entry, ttl)) = db.take(src, now) else {
        return Err(err::NO_SUCH_KEY.into());
    };
    db.put_entry(dst, entry, ttl);
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, notify::GENERIC, "rename_from", src);
    notify::notify(ctx.srv, notify::GENERIC, "rename_to", dst);
    Ok(true)
}

const SAME_OBJECT: &str = "ERR source and destination objects are the same";

/// A database-index argument: an `int`, and 0, the only keyspace a shard has.
fn db_index(arg: &[u8]) -> CmdResult {
    let db = args::int(arg)?;
    if i32::try_from(db).is_err() {
        return Err(
            "ERR value is out of range, value must between -2147483648 and 2147483647".into(),
        );
    }
    if db != 0 {
        return Err("ERR DB index is out of range".into());
    }
    Ok(())
}

/// MOVE key db — with a single keyspace the only valid target is the source itself.
fn move_(_ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    db_index(&argv[2])?;
    Err(SAME_OBJECT.into())
}

/// COPY source destination [DB destination-db] [REPLACE]
fn copy(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        if args::is(&argv[i], "replace") {
            replace = true;
        } else if args::is(&argv[i], "db") && i + 1 < argv.len() {
            db_index(&argv[i + 1])?;
            i += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    let (src, dst) = (&argv[1], &argv[2]);
    if src == dst {
        return Err(SAME_OBJECT.into());
    }
    let now = ctx.now;
    let db = &mut ctx.srv.db;
    let Some(value) = db.get(src, now).cloned() else {
        ctx.out.int(0);
        return Ok(());
    };
    let ttl = db.expire_at(src);
    if db.contains(dst, now) {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        db.remove(dst);
    }
    // The copy is a new object, so its access clock starts now.
    let entry = Entry {
        value,
        lru: db.lru_clock,
    };
    db.put_entry(dst, entry, ttl);
    ctx.srv.dirty += 1;
    notify::notify(ctx.srv, notify::GENERIC, "copy_to", dst);
    ctx.out.int(1);
    Ok(())
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Runs handlers against a fresh server, for this family's unit tests.

    use bytes::Bytes;
    use shoal_proto::{Protocol, Reply};

    use crate::client::Client;
    use crate::cmd::execute;
    use crate::config::ShardConfig;
    use crate::state::Server;

    pub struct Harness {
        pub srv: Server,
        client: Client,
    }

    impl Harness {
        pub fn new() -> Harness {
            Harness {
                srv: Server::new(ShardConfig::default()),
                client: Client::new(1, "test".into(), "test".into(), false, true),
            }
        }

        /// Runs one command (space-separated words) and returns its RESP2 reply.
        pub fn run(&mut self, line: &str) -> String {
            let argv: Vec<Bytes> = line
                .split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            let mut out = Reply::new(Protocol::Resp2);
            execute(&mut self.srv, &mut self.client, &mut out, &argv);
            String::from_utf8_lossy(&out.buf).into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::Harness;

    #[test]
    fn exists_counts_duplicates() {
        let mut h = Harness::new();
        h.run("set a 1");
        assert_eq!(h.run("exists a a b"), ":2\r\n");
    }

    #[test]
    fn rename_moves_ttl_and_drops_target_ttl() {
        let mut h = Harness::new();
        h.run("set src v");
        h.run("expire src 100");
        h.run("set dst old");
        h.run("expire dst 1000");
        assert_eq!(h.run("rename src dst"), "+OK\r\n");
        assert_eq!(h.run("get dst"), "$1\r\nv\r\n");
        assert_eq!(h.run("ttl dst"), ":100\r\n");
        assert_eq!(h.run("exists src"), ":0\r\n");
        h.run("set plain v");
        assert_eq!(h.run("rename plain dst"), "+OK\r\n");
        assert_eq!(h.run("ttl dst"), ":-1\r\n");
    }

    #[test]
    fn rename_same_key_and_missing() {
        let mut h = Harness::new();
        assert_eq!(h.run("rename k k"), "-ERR no such key\r\n");
        assert_eq!(h.run("renamenx k j"), "-ERR no such key\r\n");
        h.run("set k v");
        assert_eq!(h.run("rename k k"), "+OK\r\n");
        assert_eq!(h.run("renamenx k k"), ":0\r\n");
        h.run("set j w");
        assert_eq!(h.run("renamenx k j"), ":0\r\n");
        assert_eq!(h.run("get j"), "$1\r\nw\r\n");
        assert_eq!(h.run("renamenx k z"), ":1\r\n");
    }

    #[test]
    fn copy_options_and_ttl() {
        let mut h = Harness::new();
        h.run("set a v");
        h.run("pexpire a 50000");
        assert_eq!(
            h.run("copy a a"),
            "-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(h.run("copy a b db 1"), "-ERR DB index is out of range\r\n");
        assert_eq!(
            h.run("copy a b db x"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(h.run("copy a b db"), "-ERR syntax error\r\n");
        assert_eq!(h.run("copy a b db 0"), ":1\r\n");
        let pttl: i64 = h
            .run("pttl b")
            .trim_matches([':', '\r', '\n'])
            .parse()
            .unwrap();
        assert!((49_000..=50_000).contains(&pttl), "{pttl}");
        assert_eq!(h.run("copy a b"), ":0\r\n");
        h.run("persist a");
        assert_eq!(h.run("copy a b REPLACE"), ":1\r\n");
        assert_eq!(h.run("ttl b"), ":-1\r\n");
        assert_eq!(h.run("copy missing b replace"), ":0\r\n");
        assert_eq!(
            h.run("copy a b db 4294967296"),
            "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"
        );
        assert_eq!(h.run("move a 3"), "-ERR DB index is out of range\r\n");
        assert_eq!(
            h.run("move a 0"),
            "-ERR source and destination objects are the same\r\n"
        );
    }

    #[test]
    fn writes_count_as_dirty() {
        let mut h = Harness::new();
        h.run("set a v");
        let before = h.srv.dirty;
        h.run("rename a b");
        h.run("copy b c");
        h.run("del b c nope");
        assert_eq!(h.srv.dirty - before, 4);
    }
}
