//! DUMP and RESTORE: a key's value as a Redis RDB payload, so values move between shoal
//! and Redis in either direction.

use bytes::Bytes;

use super::{args, err, CmdResult, Ctx, Handler};
use crate::db::hash::HashLimits;
use crate::rdb;

pub static COMMANDS: &[(&str, Handler)] = &[("dump", dump), ("restore", restore)];

/// Redis's 24-bit LRU clock wraps here.
const LRU_CLOCK_MAX: i64 = 0xFF_FFFF;

/// `DUMP key`
fn dump(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match ctx.srv.db.get(&argv[1], ctx.now) {
        None => ctx.out.null(),
        Some(v) => ctx.out.bulk(&rdb::dump(v)),
    }
    Ok(())
}

fn limits(ctx: &Ctx<'_>) -> rdb::Limits {
    let c = &ctx.srv.config;
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    rdb::Limits {
        set_max_intset_entries: size(c.set_max_intset_entries),
        hash: HashLimits {
            entries: size(c.hash_max_listpack_entries),
            value: size(c.hash_max_listpack_value),
        },
        zset: super::zset::limits(c),
    }
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`
fn restore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let key = &argv[1][..];
    let (mut replace, mut absttl) = (false, false);
    let mut idle: Option<i64> = None;
    let mut freq: Option<i64> = None;
    let mut j = 4;
    while j < argv.len() {
        let a = &argv[j][..];
        let more = j + 1 < argv.len();
        if args::is(a, "replace") {
            replace = true;
        } else if args::is(a, "absttl") {
            absttl = true;
        } else if args::is(a, "idletime") && more && freq.is_none() {
            let v = args::int(&argv[j + 1])?;
            if v < 0 {
                return Err("ERR Invalid IDLETIME value, must be >= 0".into());
            }
            idle = Some(v);
            j += 1;
        } else if args::is(a, "freq") && more && idle.is_none() {
            let v = args::int(&argv[j + 1])?;
            if !(0..=255).contains(&v) {
                return Err("ERR Invalid FREQ value, must be >= 0 and <= 255".into());
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    if !replace && ctx.srv.db.contains(key, ctx.now) {
        return Err("BUSYKEY Target key name already exists.".into());
    }
    let mut ttl = args::int(&argv[2])?;
    if ttl < 0 {
        return Err("ERR Invalid TTL value, must be >= 0".into());
    }
    let payload = &argv[3][..];
    rdb::verify(payload).map_err(|e| e.text())?;
    let value = rdb::load(payload, &limits(ctx)).map_err(|e| e.text())?;

    let deleted = replace && ctx.srv.db.remove(key).is_some();
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(ctx.now);
    }
    if ttl != 0 && ttl <= ctx.now {
        // Already expired: the key is gone, which is a change only if it existed.
        if deleted {
            ctx.srv.dirty += 1;
        }
        ctx.out.ok();
        return Ok(());
    }
    ctx.srv.db.set(key, value, false);
    if ttl != 0 {
        ctx.srv.db.set_expire(key, ttl);
    }
    if let Some(idle) = idle {
        // FREQ has nothing to set until shoal keeps LFU counters; IDLETIME backdates
        // the access clock the way Redis does.
        let clock = i64::from(ctx.srv.db.lru_clock);
        let lru = (clock - idle).rem_euclid(LRU_CLOCK_MAX);
        if let Some((entry, at)) = ctx.srv.db.take(key, ctx.now) {
            let mut entry = entry;
            entry.lru = u32::try_from(lru).unwrap_or(0);
            ctx.srv.db.put_entry(key, entry, at);
        }
    }
    let _ = freq;
    ctx.srv.dirty += 1;
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use shoal_proto::{Protocol, Reply};

    use crate::client::Client;
    use crate::cmd::execute;
    use crate::config::ShardConfig;
    use crate::state::Server;

    struct H(Server, Client);

    impl H {
        fn run(&mut self, argv: &[&[u8]]) -> Vec<u8> {
            let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
            let mut out = Reply::new(Protocol::Resp2);
            execute(&mut self.0, &mut self.1, &mut out, &argv);
            out.buf.to_vec()
        }

        fn line(&mut self, line: &str) -> String {
            let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            String::from_utf8_lossy(&self.run(&argv)).into_owned()
        }
    }

    fn payload_of(reply: &[u8]) -> Vec<u8> {
        let nl = reply.iter().position(|&b| b == b'\n').unwrap();
        reply[nl + 1..reply.len() - 2].to_vec()
    }

    #[test]
    fn dump_and_restore() {
        let mut h = H(
            Server::new(ShardConfig::default()),
            Client::new(1, "t".into(), "t".into(), false, true),
        );
        assert_eq!(h.line("dump nope"), "$-1\r\n");
        h.line("rpush l a b c");
        let p = payload_of(&h.run(&[b"dump", b"l"]));
        assert_eq!(
            String::from_utf8_lossy(&h.run(&[b"restore", b"l", b"0", &p])),
            "-BUSYKEY Target key name already exists.\r\n"
        );
        assert_eq!(h.run(&[b"restore", b"m", b"0", &p]), b"+OK\r\n");
        assert_eq!(
            h.line("lrange m 0 -1"),
            "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(
            h.run(&[b"restore", b"l", b"5000", &p, b"replace"]),
            b"+OK\r\n"
        );
        let pttl: i64 = h.line("pttl l")[1..].trim_end().parse().unwrap();
        assert!((4000..=5000).contains(&pttl), "{pttl}");
        // An absolute time in the past: OK, and the replaced key is gone.
        assert_eq!(
            h.run(&[b"restore", b"l", b"1", &p, b"replace", b"absttl"]),
            b"+OK\r\n"
        );
        assert_eq!(h.line("exists l"), ":0\r\n");
        let mut bad = p.clone();
        bad[2] ^= 1;
        assert_eq!(
            String::from_utf8_lossy(&h.run(&[b"restore", b"x", b"0", &bad])),
            "-ERR DUMP payload version or checksum are wrong\r\n"
        );
        assert_eq!(
            String::from_utf8_lossy(&h.run(&[b"restore", b"x", b"-1", &p])),
            "-ERR Invalid TTL value, must be >= 0\r\n"
        );
        assert_eq!(
            String::from_utf8_lossy(&h.run(&[b"restore", b"x", b"0", &p, b"idletime", b"10"])),
            "+OK\r\n"
        );
        h.0.db.lru_clock += 5;
        assert_eq!(h.line("object idletime x"), ":15\r\n");
    }
}
