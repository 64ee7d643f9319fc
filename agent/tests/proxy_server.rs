//! Server-wide behaviour through the proxy with several shards, as one Redis shows it:
//! a busy script, CONFIG SET and SCRIPT on every shard, commands refused in MULTI,
//! CLIENT UNBLOCK / REPLY, and keyspace notifications from every shard. Ports 29600-29619.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::{serial, Agent};
use shoal_proto::reply_value::decode;
use shoal_proto::SlotMap;

const SHARDS: usize = 2;

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

    fn send(&mut self, args: &[&str]) {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.s.write_all(&req).unwrap();
    }

    fn read(&mut self) -> String {
        loop {
            if let Some((_, n)) = decode(&self.buf).unwrap() {
                let f: Vec<u8> = self.buf.drain(..n).collect();
                return String::from_utf8_lossy(&f).into_owned();
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.read()
    }
}

/// One command on a shard's own socket; the whole reply.
fn shard_cmd(path: &Path, args: &[&str]) -> String {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    s.write_all(&req).unwrap();
    let mut buf = Vec::new();
    loop {
        if let Some((_, n)) = decode(&buf).unwrap() {
            return String::from_utf8_lossy(&buf[..n]).into_owned();
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "shard closed");
        buf.extend_from_slice(&chunk[..n]);
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

/// A key of shard `shard`.
fn key_on(shard: usize, prefix: &str) -> String {
    let map = SlotMap::even(SHARDS);
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| map.key_owner(k.as_bytes()) == shard)
        .unwrap()
}

#[test]
fn a_busy_script_makes_every_shard_busy() {
    let _g = serial();
    let a = start("busy", 29600, 29601);
    let mut r = Conn::open(29600);
    // CONFIG SET reaches every shard.
    assert_eq!(r.cmd(&["CONFIG", "SET", "lua-time-limit", "10"]), "+OK\r\n");
    for s in a.shard_sockets() {
        let got = shard_cmd(&s, &["CONFIG", "GET", "busy-reply-threshold"]);
        assert!(got.ends_with("$2\r\n10\r\n"), "{got:?}");
    }
    // A keyless script runs on shard 0; the key is on shard 1.
    let xx = key_on(1, "xx");
    assert_eq!(r.cmd(&["SET", &xx, "1"]), "+OK\r\n");
    let mut script = Conn::open(29600);
    let mut r2 = Conn::open(29600);

    // MULTI is allowed while busy, the command is refused and flags the transaction.
    script.send(&["EVAL", "while true do end", "0"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(r2.cmd(&["MULTI"]), "+OK\r\n");
    assert!(r2.cmd(&["INCR", &xx]).starts_with("-BUSY "));
    assert!(r.cmd(&["GET", &xx]).starts_with("-BUSY "));
    // SCRIPT KILL finds the script on whichever shard runs it.
    assert_eq!(r.cmd(&["SCRIPT", "KILL"]), "+OK\r\n");
    assert!(script.read().contains("killed by user"));
    assert_eq!(r2.cmd(&["INCR", &xx]), "+QUEUED\r\n");
    assert!(r2
        .cmd(&["EXEC"])
        .starts_with("-EXECABORT Transaction discarded because of previous errors"));
    assert_eq!(r.cmd(&["GET", &xx]), "$1\r\n1\r\n");
    assert_eq!(r.cmd(&["SCRIPT", "KILL"]).get(..8), Some("-NOTBUSY"));

    // EXEC while busy discards the transaction with the BUSY reason.
    assert_eq!(r2.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(r2.cmd(&["INCR", &xx]), "+QUEUED\r\n");
    script.send(&["EVAL", "while true do end", "0"]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(r2
        .cmd(&["EXEC"])
        .starts_with("-EXECABORT Transaction discarded because of: BUSY "));
    assert_eq!(r.cmd(&["SCRIPT", "KILL"]), "+OK\r\n");
    assert!(script.read().contains("killed by user"));
    assert_eq!(r2.cmd(&["PING", "asdf"]), "$4\r\nasdf\r\n");
    assert_eq!(r.cmd(&["GET", &xx]), "$1\r\n1\r\n");
}

#[test]
fn script_load_and_config_reach_every_shard_and_multi_refuses_save() {
    let _g = serial();
    let a = start("scriptload", 29602, 29603);
    let mut r = Conn::open(29602);
    let sha = r.cmd(&["SCRIPT", "LOAD", "return 1"]);
    let sha = sha.lines().nth(1).unwrap().to_string();
    for s in a.shard_sockets() {
        assert_eq!(shard_cmd(&s, &["SCRIPT", "EXISTS", &sha]), "*1\r\n:1\r\n");
    }
    // Each key's shard knows the script.
    for shard in 0..SHARDS {
        let k = key_on(shard, "k");
        assert_eq!(r.cmd(&["EVALSHA", &sha, "1", &k]), ":1\r\n");
    }
    assert_eq!(r.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(
        r.cmd(&["SAVE"]),
        "-ERR Command not allowed inside a transaction\r\n"
    );
    assert!(r.cmd(&["EXEC"]).starts_with("-EXECABORT"));
}

#[test]
fn client_unblock_reaches_the_blocked_client() {
    let _g = serial();
    let _a = start("unblock", 29604, 29605);
    let mut r = Conn::open(29604);
    let mut b = Conn::open(29604);
    let id = b.cmd(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim_end().to_string();
    for shard in 0..SHARDS {
        let l = key_on(shard, "list");
        b.send(&["BLPOP", &l, "0"]);
        std::thread::sleep(Duration::from_millis(100));
        assert!(r.cmd(&["CLIENT", "LIST", "ID", &id]).contains("flags=b"));
        assert_eq!(r.cmd(&["CLIENT", "UNBLOCK", &id]), ":1\r\n");
        assert_eq!(b.read(), "*-1\r\n");
        b.send(&["BLPOP", &l, "0"]);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(r.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1\r\n");
        assert_eq!(
            b.read(),
            "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
        );
    }
    // Not blocked, or not a number.
    assert_eq!(r.cmd(&["CLIENT", "UNBLOCK", &id]), ":0\r\n");
    assert_eq!(
        r.cmd(&["CLIENT", "UNBLOCK", "asd"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        r.cmd(&["CLIENT", "UNBLOCK", &id, "NOW"]),
        "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
    );
}

#[test]
fn client_reply_off_skip_on() {
    let _g = serial();
    let _a = start("reply", 29606, 29607);
    let mut c = Conn::open(29606);
    let k = key_on(1, "r");
    c.send(&["CLIENT", "REPLY", "OFF"]);
    c.send(&["SET", &k, "v"]);
    c.send(&["PING"]);
    assert_eq!(c.cmd(&["CLIENT", "REPLY", "ON"]), "+OK\r\n");
    assert_eq!(c.cmd(&["GET", &k]), "$1\r\nv\r\n");
    // SKIP drops the next command's reply only.
    c.send(&["CLIENT", "REPLY", "SKIP"]);
    c.send(&["GET", &k]);
    assert_eq!(c.cmd(&["ECHO", "after"]), "$5\r\nafter\r\n");
    // Subscription confirmations are pushes: REPLY OFF keeps them.
    c.send(&["CLIENT", "REPLY", "OFF"]);
    assert!(c.cmd(&["SUBSCRIBE", "ch"]).contains("subscribe"));
}

#[test]
fn keyspace_notifications_come_from_every_shard() {
    let _g = serial();
    let _a = start("notify", 29608, 29609);
    // The relay connects to each shard once it is up, which /readyz does not wait for.
    std::thread::sleep(Duration::from_millis(300));
    let mut r = Conn::open(29608);
    assert_eq!(
        r.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        "+OK\r\n"
    );
    let mut sub = Conn::open(29608);
    assert!(sub
        .cmd(&["PSUBSCRIBE", "__key*__:*"])
        .contains("psubscribe"));
    for shard in 0..SHARDS {
        let k = key_on(shard, "n");
        assert_eq!(r.cmd(&["SET", &k, "v"]), "+OK\r\n");
        let space = sub.read();
        assert!(
            space.contains(&format!("__keyspace@0__:{k}")) && space.contains("set"),
            "{space:?}"
        );
        let event = sub.read();
        assert!(
            event.contains("__keyevent@0__:set") && event.contains(&k),
            "{event:?}"
        );
    }
}
