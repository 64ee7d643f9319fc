//! DUMP payloads must cross between shoal and Redis 7.0 in both directions: Redis must
//! RESTORE what shoal's codec writes, and shoal must load what Redis DUMPs, in the compact
//! encodings too (intset, listpack, quicklist, LZF strings). Needs `redis-server` on PATH;
//! scripts/test installs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_shard::db::hash::{Hash, HashLimits};
use shoal_shard::db::list::{End, List};
use shoal_shard::db::set::Set;
use shoal_shard::db::stream::{Group, NodeLimits, Stream, StreamId};
use shoal_shard::db::zset::{self, ZSet};
use shoal_shard::db::Sds;
use shoal_shard::db::Value;
use shoal_shard::rdb;

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

struct Conn(BufReader<TcpStream>);

impl Conn {
    fn call(&mut self, args: &[&[u8]]) -> Resp {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        self.0.get_mut().write_all(&req).unwrap();
        self.read()
    }

    fn read(&mut self) -> Resp {
        let mut line = String::new();
        self.0.read_line(&mut line).unwrap();
        let line = line.trim_end();
        let (tag, rest) = line.split_at(1);
        match tag {
            "+" => Resp::Simple(rest.into()),
            "-" => Resp::Error(rest.into()),
            ":" => Resp::Int(rest.parse().unwrap()),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Resp::Bulk(None);
                }
                let mut buf = vec![0; n as usize + 2];
                std::io::Read::read_exact(&mut self.0, &mut buf).unwrap();
                buf.truncate(n as usize);
                Resp::Bulk(Some(buf))
            }
            "*" => {
                let n: usize = rest.parse().unwrap();
                Resp::Array((0..n).map(|_| self.read()).collect())
            }
            _ => panic!("unexpected reply {line:?}"),
        }
    }

    fn cmd(&mut self, line: &str) -> Resp {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.call(&args)
    }
}

/// True when the server answering on `port` is process `pid`. Uses a connection of its
/// own and never panics: any error means "not this test's server".
fn answers_as(port: u16, pid: u32) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    if s.set_read_timeout(Some(Duration::from_secs(2))).is_err()
        || s.write_all(b"*2\r\n$4\r\ninfo\r\n$6\r\nserver\r\n")
            .is_err()
    {
        return false;
    }
    let want = format!("process_id:{pid}\r\n");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while seen.len() < 64 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&seen);
        if text.contains(&want) {
            return true;
        }
        if text.contains("process_id:") && text.contains("run_id:") {
            return false;
        }
    }
    false
}

fn start_redis() -> Option<(Redis, Conn)> {
    // Tests run in parallel and each needs a free port. Ports are drawn below the
    // ephemeral range, so no client socket can hold one, and each try checks that the
    // server answering is its own child before using it.
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    for _ in 0..10 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 2000;
        let port = 20000 + (std::process::id() % 4000) as u16 * 2 + n;
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        // scripts/test installs redis-server; without it this check cannot pass.
        let child = child.expect("redis-server is required (apt-get install redis-server)");
        let pid = child.id();
        let mut redis = Redis(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = redis.0.try_wait() {
                break;
            }
            if answers_as(port, pid) {
                let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to redis-server");
                return Some((redis, Conn(BufReader::new(s))));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("could not start a redis-server of this test's own");
}

fn bulks(r: Resp) -> Vec<Vec<u8>> {
    match r {
        Resp::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Resp::Bulk(Some(b)) => b,
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// A value's contents in a comparable form: strings and lists in order, sets and hashes
/// sorted, sorted sets as (member, score) in rank order.
fn contents_of_value(v: &Value) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = match v {
        Value::Str(s) => vec![s.as_slice().to_vec()],
        Value::List(l) => return l.iter().map(|e| e.as_slice().to_vec()).collect(),
        Value::Set(s) => s.iter().map(|m| m.to_sds().into_vec()).collect(),
        Value::Hash(h) => h.iter().map(|(f, v)| [f, b"=", v].concat()).collect(),
        Value::ZSet(z) => {
            return z
                .iter()
                .flat_map(|(s, m)| [m.as_slice().to_vec(), zset::d2string(s).into_bytes()])
                .collect()
        }
        Value::Stream(s) => {
            return s
                .entries()
                .flat_map(|(id, fields)| {
                    std::iter::once(id.to_bytes()).chain(fields.iter().map(|f| f.to_vec()))
                })
                .collect()
        }
    };
    out.sort();
    out
}

fn contents_in_redis(c: &mut Conn, key: &str) -> Vec<Vec<u8>> {
    let ty = match c.call(&[b"type", key.as_bytes()]) {
        Resp::Simple(t) => t,
        other => panic!("{other:?}"),
    };
    let k = key.as_bytes();
    let mut out = match ty.as_str() {
        "string" => match c.call(&[b"get", k]) {
            Resp::Bulk(Some(b)) => vec![b],
            other => panic!("{other:?}"),
        },
        "list" => return bulks(c.call(&[b"lrange", k, b"0", b"-1"])),
        "set" => bulks(c.call(&[b"smembers", k])),
        "hash" => bulks(c.call(&[b"hgetall", k]))
            .chunks(2)
            .map(|p| [&p[0][..], b"=", &p[1][..]].concat())
            .collect(),
        "zset" => return bulks(c.call(&[b"zrange", k, b"0", b"-1", b"withscores"])),
        "stream" => {
            let Resp::Array(entries) = c.call(&[b"xrange", k, b"-", b"+"]) else {
                panic!("xrange {key}");
            };
            return entries
                .into_iter()
                .flat_map(|e| match e {
                    Resp::Array(mut parts) if parts.len() == 2 => {
                        let fields = bulks(parts.pop().unwrap_or(Resp::Array(vec![])));
                        let Some(Resp::Bulk(Some(id))) = parts.pop() else {
                            panic!("entry id");
                        };
                        std::iter::once(id).chain(fields).collect::<Vec<_>>()
                    }
                    other => panic!("{other:?}"),
                })
                .collect();
        }
        other => panic!("type {other}"),
    };
    out.sort();
    out
}

fn shoal_values() -> Vec<(&'static str, Value)> {
    let mut list = List::new();
    for i in 0..300 {
        list.push(format!("item-{i}").as_bytes(), End::Tail);
    }
    list.push(&[b'q'; 5000], End::Head);
    let mut ints = Set::new();
    let mut words = Set::new();
    for i in -50..50 {
        ints.add((i * 1000).to_string().as_bytes(), 512);
        words.add(format!("w{i}").as_bytes(), 512);
    }
    let zl = zset::Limits::default();
    let mut z = ZSet::default();
    for i in 0..200 {
        z.insert(f64::from(i) / 3.0, format!("m{i}").as_bytes(), zl);
    }
    z.insert(f64::INFINITY, b"top", zl);
    let mut h = Hash::new();
    for i in 0..20 {
        h.set(
            format!("f{i}").as_bytes(),
            i.to_string().as_bytes(),
            HashLimits::default(),
        );
    }
    h.set(b"long", &[b'v'; 300], HashLimits::default());
    let node = NodeLimits {
        max_bytes: 4096,
        max_entries: 5,
    };
    let mut x = Stream::new();
    for i in 1..=13u64 {
        let fields = if i % 4 == 0 {
            vec![Sds::new(b"other"), Sds::new(&i.to_string().into_bytes())]
        } else {
            vec![
                Sds::new(b"f"),
                Sds::new(&[b'v'; 30]),
                Sds::new(b"n"),
                Sds::new(&(i * 1000).to_string().into_bytes()),
            ]
        };
        x.add(fields, Some((StreamId::new(i, i), true)), 0, node)
            .expect("rising IDs");
    }
    x.delete(&[StreamId::new(3, 3), StreamId::new(7, 7)]);
    let mut g = Group::new(StreamId::new(5, 5), Some(5));
    g.consumer_or_create(b"idle", 1_700_000_000_000);
    g.consumer_or_create(b"busy", 1_700_000_000_000);
    g.deliver(StreamId::new(4, 4), b"busy", 1_700_000_000_123);
    g.deliver(StreamId::new(5, 5), b"busy", 1_700_000_000_456);
    x.groups.insert(Sds::new(b"grp"), g);
    x.groups
        .insert(Sds::new(b"42"), Group::new(StreamId::ZERO, None));
    vec![
        ("x", Value::Stream(Box::new(x))),
        ("s:small", Value::str(b"hello")),
        ("s:int", Value::str(b"-123456")),
        ("s:long", Value::str("abcdefgh".repeat(500).as_bytes())),
        ("l", Value::List(Box::new(list))),
        ("set:ints", Value::Set(Box::new(ints))),
        ("set:words", Value::Set(Box::new(words))),
        ("z", Value::ZSet(Box::new(z))),
        ("h", Value::Hash(Box::new(h))),
    ]
}

#[test]
fn redis_restores_shoal_dumps() {
    let Some((_redis, mut c)) = start_redis() else {
        return;
    };
    for (key, v) in shoal_values() {
        let payload = rdb::dump(&v);
        let r = c.call(&[b"restore", key.as_bytes(), b"0", &payload]);
        assert_eq!(r, Resp::Simple("OK".into()), "{key}");
        assert_eq!(
            contents_in_redis(&mut c, key),
            contents_of_value(&v),
            "{key}"
        );
    }
}

#[test]
fn shoal_loads_redis_dumps_in_every_encoding() {
    let Some((_redis, mut c)) = start_redis() else {
        return;
    };
    // Small thresholds so the big keys below take the non-compact encodings, while the
    // small ones stay listpack / intset, and lists span several quicklist nodes.
    c.cmd("config set list-max-listpack-size 4");
    c.cmd("config set set-max-intset-entries 16");
    c.cmd("config set zset-max-listpack-entries 16");
    c.cmd("config set hash-max-listpack-entries 16");
    c.cmd("rpush l:small a 1 -70000 4294967296 b");
    for i in 0..50 {
        c.cmd(&format!("rpush l:big element-{i} {i}"));
    }
    c.call(&[b"rpush", b"l:big", &[b'p'; 9000]]);
    c.cmd("sadd s:ints 1 -2 300 70000 5000000000");
    for i in 0..40 {
        c.cmd(&format!("sadd s:big {i} x{i}"));
    }
    c.cmd("zadd z:small 1.5 a -2 b inf c 3 d");
    for i in 0..40 {
        c.cmd(&format!("zadd z:big {i}.25 m{i}"));
    }
    c.cmd("hset h:small f v n 42 neg -5");
    for i in 0..40 {
        c.cmd(&format!("hset h:big f{i} {}", "x".repeat(i)));
    }
    c.call(&[b"set", b"str:lzf", "0123456789".repeat(100).as_bytes()]);
    c.cmd("set str:int 987654");
    // A stream over several nodes, with tombstones, entries whose fields differ from
    // their node's master entry, and a group with pending entries.
    c.cmd("config set stream-node-max-entries 4");
    for i in 1..=11 {
        c.cmd(&format!("xadd x:s {i}-{i} f {i} g x"));
    }
    c.cmd("xadd x:s 20-0 other 1");
    c.cmd("xdel x:s 2-2 6-6");
    c.cmd("xgroup create x:s g 0");
    c.cmd("xreadgroup group g alice count 3 streams x:s >");
    let keys = [
        "l:small", "l:big", "s:ints", "s:big", "z:small", "z:big", "h:small", "h:big", "str:lzf",
        "str:int", "x:s",
    ];
    let limits = rdb::Limits {
        set_max_intset_entries: 512,
        ..rdb::Limits::default()
    };
    for key in keys {
        let payload = match c.call(&[b"dump", key.as_bytes()]) {
            Resp::Bulk(Some(p)) => p,
            other => panic!("{key}: {other:?}"),
        };
        rdb::verify(&payload).unwrap_or_else(|e| panic!("{key}: {e:?}"));
        let v = rdb::load(&payload, &limits).unwrap_or_else(|e| panic!("{key}: {e:?}"));
        assert_eq!(
            contents_of_value(&v),
            contents_in_redis(&mut c, key),
            "{key}"
        );
        // A flipped byte must fail the checksum.
        let mut bad = payload.clone();
        bad[1] ^= 0x40;
        assert_eq!(rdb::verify(&bad), Err(rdb::Error::Footer), "{key}");
    }
}

/// Corrupted payloads (with a valid checksum) must be refused by shoal exactly when Redis
/// with `sanitize-dump-payload yes` refuses them, and load to the same contents otherwise.
#[test]
fn corrupt_payloads_are_judged_like_redis() {
    let Some((_redis, mut c)) = start_redis() else {
        return;
    };
    c.cmd("config set sanitize-dump-payload yes");
    c.cmd("config set list-max-listpack-size 4");
    c.cmd("rpush l a 1 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 0 1 2 3 4 5 6 7 8 9");
    c.cmd("sadd i 1 2 3");
    c.cmd("sadd s x y");
    c.cmd("zadd z 1 a 2 b");
    c.cmd("hset h f v g 1");
    c.call(&[b"set", b"t", "hello".repeat(10).as_bytes()]);
    let limits = rdb::Limits {
        set_max_intset_entries: 512,
        ..rdb::Limits::default()
    };
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut loaded = 0;
    for key in ["l", "i", "s", "z", "h", "t"] {
        let Resp::Bulk(Some(p)) = c.call(&[b"dump", key.as_bytes()]) else {
            panic!("dump {key}");
        };
        let body = &p[..p.len() - 10];
        for _ in 0..150 {
            let mut b = body.to_vec();
            for _ in 0..1 + rand(3) {
                match rand(10) {
                    0..=5 => {
                        let at = rand(b.len());
                        b[at] = rand(256) as u8;
                    }
                    6 | 7 if b.len() > 2 => {
                        b.remove(1 + rand(b.len() - 1));
                    }
                    _ => b.insert(1 + rand(b.len()), rand(256) as u8),
                }
            }
            b.extend_from_slice(&rdb::RDB_VERSION.to_le_bytes());
            let crc = rdb::crc64::crc64(0, &b);
            b.extend_from_slice(&crc.to_le_bytes());
            c.cmd("del x");
            let theirs = c.call(&[b"restore", b"x", b"0", &b]);
            let ours = rdb::load(&b, &limits);
            match (&theirs, &ours) {
                (Resp::Simple(_), Ok(v)) => {
                    loaded += 1;
                    // Redis keeps a compact sorted set's entries in the order given, even
                    // when they are out of order; shoal sorts them. Compare as pairs.
                    let pairs = |v: Vec<Vec<u8>>| {
                        let mut p: Vec<Vec<Vec<u8>>> = v.chunks(2).map(<[_]>::to_vec).collect();
                        p.sort();
                        p
                    };
                    assert_eq!(
                        pairs(contents_of_value(v)),
                        pairs(contents_in_redis(&mut c, "x"))
                    );
                }
                (Resp::Error(e), Err(_)) => assert!(e.contains("Bad data format"), "{e}"),
                _ => panic!("{key}: redis {theirs:?}, shoal {ours:?}, payload {b:02x?}"),
            }
        }
    }
    assert!(
        loaded > 0,
        "no mutation loaded at all; the test lost its power"
    );
}
