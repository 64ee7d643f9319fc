//! The proxy end to end: a real agent with several shards, clients on the database port.
//! Ports 25000-25499.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{serial, Agent};
use shoal_proto::reply_scan::reply_len;

/// A raw RESP connection that returns whole reply frames as text.
struct Raw<S: Read + Write> {
    s: S,
    buf: Vec<u8>,
}

impl Raw<TcpStream> {
    fn tcp(port: u16) -> Raw<TcpStream> {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { s, buf: Vec::new() }
    }
}

impl Raw<UnixStream> {
    fn unix(path: &Path) -> Raw<UnixStream> {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { s, buf: Vec::new() }
    }
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

impl<S: Read + Write> Raw<S> {
    fn send(&mut self, args: &[&str]) {
        self.s.write_all(&encode(args)).unwrap();
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    fn read(&mut self) -> String {
        loop {
            if let Some(n) = reply_len(&self.buf).unwrap() {
                let f: Vec<u8> = self.buf.drain(..n).collect();
                return String::from_utf8_lossy(&f).into_owned();
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).expect("reply");
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.read()
    }
}

fn start(tag: &str, port: u16, admin: u16, shards: u16) -> Agent {
    let a = Agent::spawn(
        tag,
        admin,
        &[],
        &["--port", &port.to_string(), "--shards", &shards.to_string()],
        &[("SHOAL_APPENDFSYNC", "no")],
    );
    a.wait_ready(Duration::from_secs(20));
    a
}

fn socket(a: &Agent, shard: usize) -> PathBuf {
    a.dir.join("data").join("run").join(format!("default-{shard}.sock"))
}

#[test]
fn keys_are_routed_to_the_shard_owning_their_slot() {
    let _g = serial();
    let a = start("route", 25001, 25002, 4);
    let map = shoal_proto::SlotMap::even(4);
    let mut c = Raw::tcp(25001);
    let mut seen = [0usize; 4];
    for i in 0..200 {
        let k = format!("key:{i}");
        assert_eq!(c.cmd(&["SET", &k, &format!("v{i}")]), "+OK\r\n");
        seen[map.key_owner(k.as_bytes())] += 1;
    }
    assert!(seen.iter().all(|&n| n > 10), "keys spread over all shards: {seen:?}");
    let mut shards: Vec<_> = (0..4).map(|i| Raw::unix(&socket(&a, i))).collect();
    for i in 0..200 {
        let k = format!("key:{i}");
        let v = format!("v{i}");
        assert_eq!(c.cmd(&["GET", &k]), format!("${}\r\n{v}\r\n", v.len()));
        let owner = map.key_owner(k.as_bytes());
        for (s, conn) in shards.iter_mut().enumerate() {
            let got = conn.cmd(&["GET", &k]);
            if s == owner {
                assert_eq!(got, format!("${}\r\n{v}\r\n", v.len()), "owner {s} of {k}");
            } else {
                assert_eq!(got, "$-1\r\n", "shard {s} must not hold {k}");
            }
        }
    }
    // Multi-key commands: one slot is fine, several are refused.
    assert_eq!(c.cmd(&["SADD", "{t}a", "1", "2"]), ":2\r\n");
    assert_eq!(c.cmd(&["SADD", "{t}b", "2", "3"]), ":2\r\n");
    assert_eq!(c.cmd(&["SINTERSTORE", "{t}c", "{t}a", "{t}b"]), ":1\r\n");
    assert_eq!(
        c.cmd(&["SINTERSTORE", "c", "a", "b"]),
        "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    assert_eq!(c.cmd(&["MSET", "{t}x", "1", "{t}y", "2"]), "+OK\r\n");
    // Keyless commands and errors keep Redis's answers.
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
    assert_eq!(c.cmd(&["ECHO", "hi"]), "$2\r\nhi\r\n");
    assert_eq!(
        c.cmd(&["NOSUCH", "x"]),
        "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n"
    );
    assert_eq!(
        c.cmd(&["GET"]),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(c.cmd(&["SELECT", "0"]), "+OK\r\n");
    assert_eq!(
        c.cmd(&["SELECT", "1"]),
        "-ERR SELECT is not allowed in cluster mode\r\n"
    );
    // Inline commands are re-encoded and routed like the others.
    c.send_raw(b"get key:7\r\n");
    assert_eq!(c.read(), "$2\r\nv7\r\n");
    // A malformed frame gets Redis's protocol error and the connection closes.
    c.send_raw(b"*1\r\nfoo\r\n");
    assert_eq!(c.read(), "-ERR Protocol error: expected '$', got 'f'\r\n");
    let (_, metrics) = a.get("/metrics");
    assert!(
        metrics.contains("shoal_proxy_commands_total{database=\"default\",command=\"get\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("shoal_proxy_connected_clients{database=\"default\"}"));
    assert!(metrics.contains("shoal_proxy_command_duration_seconds_bucket{database=\"default\",command=\"set\",le=\"+Inf\"} 2"));
}

#[test]
fn pipelines_of_many_clients_keep_their_order() {
    let _g = serial();
    let _a = start("pipe", 25011, 25012, 4);
    let mut c = Raw::tcp(25011);
    for i in 0..300 {
        assert_eq!(c.cmd(&["SET", &format!("p{i}"), &i.to_string()]), "+OK\r\n");
    }
    let threads: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Raw::tcp(25011);
                for round in 0..20 {
                    let mut batch = Vec::new();
                    for j in 0..300 {
                        let i = (j * 7 + t * 13 + round) % 300;
                        batch.extend_from_slice(&encode(&["GET", &format!("p{i}")]));
                        if j % 50 == 0 {
                            batch.extend_from_slice(&encode(&["PING"]));
                        }
                    }
                    c.send_raw(&batch);
                    for j in 0..300 {
                        let i = (j * 7 + t * 13 + round) % 300;
                        let v = i.to_string();
                        assert_eq!(c.read(), format!("${}\r\n{v}\r\n", v.len()));
                        if j % 50 == 0 {
                            assert_eq!(c.read(), "+PONG\r\n");
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn transactions_and_watch() {
    let _g = serial();
    let _a = start("multi", 25021, 25022, 4);
    let mut c = Raw::tcp(25021);
    let mut other = Raw::tcp(25021);
    assert_eq!(c.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.cmd(&["SET", "{u}a", "1"]), "+QUEUED\r\n");
    assert_eq!(c.cmd(&["INCR", "{u}b"]), "+QUEUED\r\n");
    assert_eq!(c.cmd(&["EXEC"]), "*2\r\n+OK\r\n:1\r\n");
    // Keys of several slots in one transaction abort it.
    assert_eq!(c.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.cmd(&["SET", "{u}a", "2"]), "+QUEUED\r\n");
    assert_eq!(
        c.cmd(&["SET", "{v}a", "2"]),
        "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    assert_eq!(
        c.cmd(&["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(c.cmd(&["GET", "{u}a"]), "$1\r\n1\r\n");
    assert_eq!(c.cmd(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(c.cmd(&["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
    // WATCH: another client's write makes EXEC fail.
    assert_eq!(c.cmd(&["WATCH", "{u}a"]), "+OK\r\n");
    assert_eq!(other.cmd(&["SET", "{u}a", "changed"]), "+OK\r\n");
    assert_eq!(c.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.cmd(&["SET", "{u}a", "mine"]), "+QUEUED\r\n");
    assert_eq!(c.cmd(&["EXEC"]), "*-1\r\n");
    assert_eq!(c.cmd(&["GET", "{u}a"]), "$7\r\nchanged\r\n");
    // Untouched, the watched transaction runs.
    assert_eq!(c.cmd(&["WATCH", "{u}a"]), "+OK\r\n");
    assert_eq!(c.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.cmd(&["SET", "{u}a", "mine"]), "+QUEUED\r\n");
    assert_eq!(c.cmd(&["EXEC"]), "*1\r\n+OK\r\n");
    assert_eq!(other.cmd(&["GET", "{u}a"]), "$4\r\nmine\r\n");
    assert_eq!(
        c.cmd(&["WATCH", "a", "b"]),
        "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
}

#[test]
fn blocking_pop_is_woken_by_another_client() {
    let _g = serial();
    let _a = start("block", 25031, 25032, 4);
    let waiter = std::thread::spawn(|| {
        let mut c = Raw::tcp(25031);
        let t = Instant::now();
        let got = c.cmd(&["BLPOP", "jobs", "5"]);
        // The connection keeps working afterwards, on the shared pipeline.
        assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
        (got, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut p = Raw::tcp(25031);
    // Other clients are not held up by the blocked one.
    assert_eq!(p.cmd(&["SET", "x", "1"]), "+OK\r\n");
    assert_eq!(p.cmd(&["RPUSH", "jobs", "j1"]), ":1\r\n");
    let (got, took) = waiter.join().unwrap();
    assert_eq!(got, "*2\r\n$4\r\njobs\r\n$2\r\nj1\r\n");
    assert!(took < Duration::from_secs(4), "{took:?}");
    // A timeout answers the null array.
    let mut c = Raw::tcp(25031);
    assert_eq!(c.cmd(&["BLPOP", "nothing", "0.1"]), "*-1\r\n");
}

#[test]
fn pubsub_across_clients_in_resp2_and_resp3() {
    let _g = serial();
    let _a = start("pubsub", 25041, 25042, 2);
    let mut s2 = Raw::tcp(25041);
    let mut s3 = Raw::tcp(25041);
    let mut p = Raw::tcp(25041);
    assert_eq!(
        s2.cmd(&["SUBSCRIBE", "news"]),
        "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
    );
    assert!(s3.cmd(&["HELLO", "3"]).starts_with("%7\r\n"));
    assert_eq!(
        s3.cmd(&["PSUBSCRIBE", "n*"]),
        ">3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:1\r\n"
    );
    assert_eq!(p.cmd(&["PUBLISH", "news", "hello"]), ":2\r\n");
    assert_eq!(
        s2.read(),
        "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
    );
    assert_eq!(
        s3.read(),
        ">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
    );
    // RESP2 subscribed mode allows only the subscription commands; RESP3 has no limit.
    assert_eq!(
        s2.cmd(&["GET", "x"]),
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    );
    assert_eq!(s2.cmd(&["PING"]), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert_eq!(s3.cmd(&["SET", "x", "1"]), "+OK\r\n");
    assert_eq!(
        p.cmd(&["PUBSUB", "NUMSUB", "news", "none"]),
        "*4\r\n$4\r\nnews\r\n:1\r\n$4\r\nnone\r\n:0\r\n"
    );
    assert_eq!(p.cmd(&["PUBSUB", "NUMPAT"]), ":1\r\n");
    assert_eq!(
        s2.cmd(&["UNSUBSCRIBE"]),
        "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n"
    );
    assert_eq!(s2.cmd(&["GET", "x"]), "$1\r\n1\r\n");
    assert_eq!(p.cmd(&["PUBLISH", "news", "again"]), ":1\r\n");
    // Shard channels.
    assert_eq!(
        s2.cmd(&["SSUBSCRIBE", "sc"]),
        "*3\r\n$10\r\nssubscribe\r\n$2\r\nsc\r\n:1\r\n"
    );
    assert_eq!(p.cmd(&["SPUBLISH", "sc", "m"]), ":1\r\n");
    assert_eq!(s2.read(), "*3\r\n$8\r\nsmessage\r\n$2\r\nsc\r\n$1\r\nm\r\n");
}

#[test]
fn hello_3_gives_resp3_end_to_end() {
    let _g = serial();
    let _a = start("hello", 25051, 25052, 2);
    let mut c = Raw::tcp(25051);
    let hello = c.cmd(&["HELLO", "3"]);
    assert!(hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), "{hello}");
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"));
    assert_eq!(c.cmd(&["HSET", "h", "f", "v"]), ":1\r\n");
    assert_eq!(c.cmd(&["HGETALL", "h"]), "%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
    assert_eq!(c.cmd(&["GET", "missing"]), "_\r\n");
    assert_eq!(c.cmd(&["HELLO", "4"]), "-NOPROTO unsupported protocol version\r\n");
    // Back to RESP2 on the same connection: the RESP2 upstream answers again.
    assert!(c.cmd(&["HELLO", "2"]).starts_with("*14\r\n"));
    assert_eq!(c.cmd(&["HGETALL", "h"]), "*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", "me"]), "+OK\r\n");
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), "$2\r\nme\r\n");
    let id = c.cmd(&["CLIENT", "ID"]);
    let list = c.cmd(&["CLIENT", "LIST"]);
    assert!(list.contains(&format!("id={} ", id.trim_start_matches(':').trim())), "{list}");
    assert!(list.contains("name=me"));
    let mut other = Raw::tcp(25051);
    let kill = other.cmd(&["CLIENT", "KILL", "ID", id.trim_start_matches(':').trim()]);
    assert_eq!(kill, ":1\r\n");
    let mut b = [0u8; 16];
    c.s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert_eq!(c.s.read(&mut b).unwrap_or(0), 0, "killed client is closed");
}

#[test]
fn redis_crate_through_the_proxy() {
    let _g = serial();
    let _a = start("crate", 25061, 25062, 4);
    let client = redis::Client::open("redis://127.0.0.1:25061/").unwrap();
    let mut con = client.get_connection().unwrap();
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.set(format!("c{i}"), i).ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    for i in (0..500).step_by(37) {
        let v: i64 = redis::cmd("GET").arg(format!("c{i}")).query(&mut con).unwrap();
        assert_eq!(v, i);
    }
    let n: i64 = redis::cmd("INCRBY").arg("c1").arg(10).query(&mut con).unwrap();
    assert_eq!(n, 11);
    let _: () = redis::cmd("RPUSH").arg("l").arg(&["a", "b", "c"]).query(&mut con).unwrap();
    let l: Vec<String> = redis::cmd("LRANGE").arg("l").arg(0).arg(-1).query(&mut con).unwrap();
    assert_eq!(l, ["a", "b", "c"]);
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("{z}n")
        .cmd("INCR")
        .arg("{z}n")
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b), (1, 2));
}

#[test]
fn a_killed_shard_only_delays_its_own_clients() {
    let _g = serial();
    let a = start("kill", 25071, 25072, 2);
    let map = shoal_proto::SlotMap::even(2);
    let key_on = |shard: usize| {
        (0..)
            .map(|i| format!("k{i}"))
            .find(|k| map.key_owner(k.as_bytes()) == shard)
            .unwrap()
    };
    let (k0, k1) = (key_on(0), key_on(1));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = |key: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>| {
        std::thread::spawn(move || {
            let mut c = Raw::tcp(25071);
            let (mut ok, mut tryagain, mut max_wait) = (0u64, 0u64, Duration::ZERO);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                let r = c.cmd(&["INCR", &key]);
                max_wait = max_wait.max(t.elapsed());
                if r.starts_with(':') {
                    ok += 1;
                } else if r.starts_with("-TRYAGAIN") {
                    tryagain += 1;
                } else {
                    panic!("unexpected reply {r}");
                }
            }
            (ok, tryagain, max_wait)
        })
    };
    let l0 = load(k0.clone(), stop.clone());
    let l1 = load(k1.clone(), stop.clone());
    std::thread::sleep(Duration::from_millis(300));
    let pid = a.shards()[1].0.expect("shard 1 pid");
    common::unsafe_free_kill(pid, 9);
    // Wait for the restart, then let the load run on it a little.
    let back = common::wait_until(Duration::from_secs(10), || {
        matches!(a.shards()[1].0, Some(p) if p != pid) && a.get("/readyz").0 == 200
    });
    assert!(back.is_some(), "shard 1 restarted; log:\n{}", a.log());
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok0, again0, wait0) = l0.join().unwrap();
    let (ok1, _again1, _) = l1.join().unwrap();
    assert_eq!(again0, 0, "shard 0's client never noticed");
    assert!(wait0 < Duration::from_millis(500), "shard 0's client waited {wait0:?}");
    assert!(ok0 > 100 && ok1 > 10, "{ok0} {ok1}");
    let mut c = Raw::tcp(25071);
    assert!(c.cmd(&["GET", &k1]).starts_with('$'));
}

#[test]
fn a_shard_down_past_the_deadline_gets_tryagain() {
    let _g = serial();
    let dir = common::temp_dir("deadline");
    std::fs::write(
        dir.join("shoal.toml"),
        "restart_deadline = \"300ms\"\nrestart_delay_min = \"3s\"\nrestart_delay_max = \"3s\"\nrestart_reset_after = \"1h\"\n",
    )
    .unwrap();
    let a = Agent::spawn_in(
        dir.clone(),
        25082,
        &[],
        &[
            "--port",
            "25081",
            "--shards",
            "2",
            "--config",
            dir.join("shoal.toml").to_str().unwrap(),
        ],
        &[("SHOAL_APPENDFSYNC", "no")],
    );
    a.wait_ready(Duration::from_secs(20));
    let map = shoal_proto::SlotMap::even(2);
    let k1 = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| map.key_owner(k.as_bytes()) == 1)
        .unwrap();
    let mut c = Raw::tcp(25081);
    assert_eq!(c.cmd(&["SET", &k1, "1"]), "+OK\r\n");
    // Kill it twice quickly: the second restart waits restart_delay_min.
    for _ in 0..2 {
        let pid = a.shards()[1].0.expect("pid");
        common::unsafe_free_kill(pid, 9);
        common::wait_until(Duration::from_secs(5), || {
            a.shards()[1].0.is_some_and(|p| p != pid) || a.shards()[1].0.is_none()
        });
        std::thread::sleep(Duration::from_millis(50));
    }
    let t = Instant::now();
    let r = c.cmd(&["GET", &k1]);
    assert!(r.starts_with("-TRYAGAIN"), "{r}");
    assert!(t.elapsed() >= Duration::from_millis(250), "{:?}", t.elapsed());
    // Once it is back, the same connection is served again.
    let back = common::wait_until(Duration::from_secs(10), || {
        !c.cmd(&["GET", &k1]).starts_with("-TRYAGAIN")
    });
    assert!(back.is_some());
}
