//! Split and fan-out commands end to end: a real agent with 4 shards, clients on its
//! proxy port. Ports 25600-25639.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{serial, Agent};
use shoal_proto::reply_value::{decode, Value};
use shoal_proto::SlotMap;

const SHARDS: usize = 4;
const CROSSSLOT: &str = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn { s, buf: Vec::new() }
    }

    fn raw(&mut self, args: &[&str]) -> Vec<u8> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.s.write_all(&req).unwrap();
        loop {
            if let Some((_, n)) = decode(&self.buf).unwrap() {
                return self.buf.drain(..n).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.raw(args)).into_owned()
    }

    /// The reply's strings (an array of bulks, or one string).
    fn strings(&mut self, args: &[&str]) -> Vec<String> {
        let r = self.raw(args);
        let (v, _) = decode(&r).unwrap().unwrap();
        let text =
            |v: &Value<'_>| String::from_utf8_lossy(v.as_bytes().unwrap_or(b"")).into_owned();
        match v.items() {
            Some(items) => items.iter().map(text).collect(),
            None => vec![text(&v)],
        }
    }

    fn scan_all(&mut self, opts: &[&str]) -> Vec<String> {
        let mut cursor = "0".to_string();
        let mut keys = Vec::new();
        for _ in 0..100_000 {
            let mut args = vec!["SCAN", cursor.as_str()];
            args.extend_from_slice(opts);
            let r = self.raw(&args);
            let (v, _) = decode(&r).unwrap().unwrap();
            let items = v.items().expect("SCAN replies [cursor, keys]");
            let next = String::from_utf8_lossy(items[0].as_bytes().unwrap()).into_owned();
            for k in items[1].items().unwrap() {
                keys.push(String::from_utf8_lossy(k.as_bytes().unwrap()).into_owned());
            }
            if next == "0" {
                return keys;
            }
            cursor = next;
        }
        panic!("SCAN {opts:?} never finished");
    }
}

fn start(tag: &str, port: u16, admin: u16) -> Agent {
    let a = Agent::spawn(
        tag,
        admin,
        &[],
        &["--port", &port.to_string(), "--shards", &SHARDS.to_string()],
        &[("SHOAL_APPENDFSYNC", "no")],
    );
    a.wait_ready(Duration::from_secs(20));
    a
}

/// `n` keys named `prefix:i` and how many land on each shard.
fn keys(prefix: &str, n: usize) -> (Vec<String>, [usize; SHARDS]) {
    let map = SlotMap::even(SHARDS);
    let mut per = [0; SHARDS];
    let keys: Vec<String> = (0..n).map(|i| format!("{prefix}:{i}")).collect();
    for k in &keys {
        per[map.key_owner(k.as_bytes())] += 1;
    }
    (keys, per)
}

#[test]
fn multi_key_commands_split_across_shards() {
    let _g = serial();
    let _a = start("split", 25600, 25610);
    let mut c = Conn::open(25600);
    let (ks, per) = keys("k", 40);
    assert!(per.iter().all(|&n| n > 0), "keys on every shard: {per:?}");
    let mut mset = vec!["MSET"];
    let vals: Vec<String> = (0..ks.len()).map(|i| format!("v{i}")).collect();
    for (k, v) in ks.iter().zip(&vals) {
        mset.push(k);
        mset.push(v);
    }
    assert_eq!(c.cmd(&mset), "+OK\r\n");
    // MGET in the original order, with duplicates and a missing key.
    let mut mget = vec!["MGET", "nosuch"];
    mget.extend(ks.iter().map(String::as_str));
    mget.push(&ks[3]);
    let mut want = format!("*{}\r\n$-1\r\n", ks.len() + 2);
    for v in vals.iter().chain(std::iter::once(&vals[3])) {
        want.push_str(&format!("${}\r\n{v}\r\n", v.len()));
    }
    assert_eq!(c.cmd(&mget), want);
    // RESP3: nulls are `_`.
    let mut c3 = Conn::open(25600);
    assert!(c3.cmd(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(
        c3.cmd(&["MGET", &ks[0], "nosuch", &ks[1]]),
        "*3\r\n$2\r\nv0\r\n_\r\n$2\r\nv1\r\n"
    );
    // Counts: duplicates count twice for EXISTS and TOUCH, once for DEL.
    let mut exists = vec!["EXISTS"];
    exists.extend(ks.iter().map(String::as_str));
    exists.extend([ks[0].as_str(), "nosuch"]);
    assert_eq!(c.cmd(&exists), format!(":{}\r\n", ks.len() + 1));
    assert_eq!(c.cmd(&["TOUCH", &ks[0], &ks[1], &ks[2], &ks[0]]), ":4\r\n");
    assert_eq!(c.cmd(&["DEL", &ks[0], &ks[1], &ks[0], "nosuch"]), ":2\r\n");
    assert_eq!(c.cmd(&["UNLINK", &ks[2], &ks[3], &ks[4]]), ":3\r\n");
    assert_eq!(c.cmd(&["EXISTS", &ks[0], &ks[2], &ks[5]]), ":1\r\n");
    // MSETNX is all-or-nothing: one shard only.
    assert_eq!(c.cmd(&["MSETNX", "{t}a", "1", "{t}b", "2"]), ":1\r\n");
    assert_eq!(
        c.cmd(&["MSETNX", &ks[10], "1", &ks[11], "2", &ks[12], "3"]),
        CROSSSLOT
    );
    // A type error inside a part is that part's reply, as on one server.
    assert_eq!(c.cmd(&["LPUSH", "list", "x"]), ":1\r\n");
    assert_eq!(
        c.cmd(&["MGET", "list", &ks[6]]),
        "*2\r\n$-1\r\n$2\r\nv6\r\n"
    );
    // Wrong arity keeps Redis's error.
    assert_eq!(
        c.cmd(&["MSET", "a", "1", "b"]),
        "-ERR wrong number of arguments for 'mset' command\r\n"
    );
    // Other multi-key commands must stay in one slot.
    assert_eq!(c.cmd(&["RENAME", &ks[6], &ks[7]]), CROSSSLOT);
    assert_eq!(c.cmd(&["SUNIONSTORE", "{t}d", "{t}x", "{t}y"]), ":0\r\n");
    assert_eq!(c.cmd(&["EVAL", "return 1", "2", "a", "b"]), CROSSSLOT);
}

#[test]
fn keyspace_commands_fan_out() {
    let _g = serial();
    let _a = start("fanout", 25620, 25630);
    let mut c = Conn::open(25620);
    let (strs, per) = keys("s", 120);
    assert!(per.iter().all(|&n| n > 0), "keys on every shard: {per:?}");
    for k in &strs {
        assert_eq!(c.cmd(&["SET", k, "v"]), "+OK\r\n");
    }
    let (hashes, _) = keys("h", 30);
    for k in &hashes {
        assert_eq!(c.cmd(&["HSET", k, "f", "v"]), ":1\r\n");
    }
    for k in strs.iter().take(10) {
        assert_eq!(c.cmd(&["EXPIRE", k, "1000"]), ":1\r\n");
    }
    let total = strs.len() + hashes.len();
    assert_eq!(c.cmd(&["DBSIZE"]), format!(":{total}\r\n"));
    let all: BTreeSet<String> = strs.iter().chain(&hashes).cloned().collect();
    let listed = c.strings(&["KEYS", "*"]);
    assert_eq!(listed.len(), total);
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), all);
    assert_eq!(c.strings(&["KEYS", "h:*"]).len(), hashes.len());
    // SCAN visits every key exactly once, whatever the options.
    for (opts, want) in [
        (&[][..], total),
        (&["COUNT", "7"][..], total),
        (
            &["MATCH", "s:1*", "COUNT", "3"][..],
            strs.iter().filter(|k| k.starts_with("s:1")).count(),
        ),
        (&["TYPE", "hash"][..], hashes.len()),
        (&["TYPE", "string", "COUNT", "1000"][..], strs.len()),
    ] {
        let seen = c.scan_all(opts);
        assert_eq!(seen.len(), want, "SCAN {opts:?}");
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), want, "SCAN {opts:?} repeated a key");
        assert!(seen.iter().all(|k| all.contains(k)));
    }
    assert_eq!(c.cmd(&["SCAN", "x"]), "-ERR invalid cursor\r\n");
    assert_eq!(c.cmd(&["SCAN", "0", "COUNT", "0"]), "-ERR syntax error\r\n");
    // RANDOMKEY gives one of the keys.
    let k = c.strings(&["RANDOMKEY"]);
    assert!(all.contains(&k[0]), "{k:?}");
    // INFO keyspace adds up the shards.
    let info = c.strings(&["INFO", "keyspace"]).join("");
    assert!(
        info.contains(&format!("db0:keys={total},expires=10,avg_ttl=")),
        "{info}"
    );
    let info = c.strings(&["INFO"]).join("");
    assert!(
        info.contains("# Stats\r\n") && info.contains("# Keyspace\r\n"),
        "{info}"
    );
    // Server commands every shard must take.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog-max-len", "77"]),
        "+OK\r\n"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "slowlog-max-len"]),
        "*2\r\n$15\r\nslowlog-max-len\r\n$2\r\n77\r\n"
    );
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), "+OK\r\n");
    assert!(c.cmd(&["LASTSAVE"]).starts_with(':'));
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), "+OK\r\n");
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), ":0\r\n");
    // FLUSHALL empties every shard.
    assert_eq!(c.cmd(&["FLUSHALL"]), "+OK\r\n");
    assert_eq!(c.cmd(&["DBSIZE"]), ":0\r\n");
    assert_eq!(c.cmd(&["KEYS", "*"]), "*0\r\n");
    assert_eq!(c.cmd(&["RANDOMKEY"]), "$-1\r\n");
    assert!(c.scan_all(&[]).is_empty());
}
