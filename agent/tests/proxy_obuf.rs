//! `client-output-buffer-limit` for normal clients through the proxy, on the real binary:
//! a client that pipelines big replies and does not read them is closed at the hard
//! limit (or after the soft limit's seconds), and the agent's memory stays bounded by
//! the limit rather than by what the client asked for. Ports 29700-29799 (below the kernel's ephemeral range, so no outgoing connection holds them).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{serial, write_file, Agent};
use shoal_proto::reply_scan::reply_len;

const PORT: u16 = 29700;
const ADMIN: u16 = 29702;
const MB: usize = 1024 * 1024;

struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn new() -> Raw {
        let s = TcpStream::connect(("127.0.0.1", PORT)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { s, buf: Vec::new() }
    }

    fn encode(args: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        out
    }

    /// The next reply, or `None` once the server closed the connection.
    fn try_read(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(n) = reply_len(&self.buf).unwrap() {
                return Some(self.buf.drain(..n).collect());
            }
            let mut chunk = vec![0u8; 256 * 1024];
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        self.s.write_all(&Raw::encode(args)).unwrap();
        let r = self.try_read().expect("connection closed");
        String::from_utf8_lossy(&r).into_owned()
    }

    /// Sends `args` `n` times in one go; a write error (the proxy closed the connection
    /// while it was still sending) is the point of the test, not a failure.
    fn pipeline(&mut self, args: &[&str], n: usize) {
        let one = Raw::encode(args);
        let all: Vec<u8> = one.iter().copied().cycle().take(one.len() * n).collect();
        let _ = self.s.write_all(&all);
    }

    /// Reads until the server closes the connection; the bytes that came first.
    fn drain_until_closed(&mut self) -> usize {
        let mut got = std::mem::take(&mut self.buf).len();
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return got,
                Ok(n) => got += n,
            }
        }
    }
}

fn status_kb(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Waits until CLIENT LIST no longer shows a client of that name.
fn gone(admin: &mut Raw, name: &str, within: Duration) -> Option<Duration> {
    let needle = format!("name={name} ");
    common::wait_until(within, || {
        !admin.cmd(&["CLIENT", "LIST"]).contains(needle.as_str())
    })
}

#[test]
fn normal_clients_are_held_to_the_output_buffer_limit() {
    let _g = serial();
    let dir = common::temp_dir("obuf");
    let file = write_file(
        &dir,
        "shoal.toml",
        &format!(
            "[[database]]\nport = {PORT}\nshards = 2\nclient_output_buffer_limit_normal = \"0 0 0\"\n"
        ),
    );
    let a = Agent::spawn_in(
        dir,
        ADMIN,
        &[],
        &["--config", file.to_str().unwrap()],
        &[("SHOAL_APPENDFSYNC", "no")],
    );
    a.wait_ready(Duration::from_secs(20));
    let pid = a.pid();
    let mut admin = Raw::new();
    let get = admin.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]);
    assert!(get.contains("normal 0 0 0 "), "{get:?}");

    // A 1 MB value, and 20000 keys of 100-byte names (a 2.2 MB KEYS reply, from both
    // shards).
    let big = "v".repeat(MB);
    assert_eq!(admin.cmd(&["SET", "big", &big]), "+OK\r\n");
    let prefix = "k".repeat(90);
    for batch in 0..40 {
        let names: Vec<String> = (0..500)
            .map(|i| format!("{prefix}{:010}", batch * 500 + i))
            .collect();
        let mut args = vec!["MSET"];
        for n in &names {
            args.push(n);
            args.push("1");
        }
        assert_eq!(admin.cmd(&args), "+OK\r\n");
    }
    assert_eq!(admin.cmd(&["DBSIZE"]), ":20001\r\n");

    // The limit is live: CONFIG SET changes it for every client.
    assert_eq!(
        admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 8mb 0 0"
        ]),
        "+OK\r\n"
    );
    let get = admin.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]);
    assert!(get.contains("normal 8388608 0 0 "), "{get:?}");

    let rss0 = status_kb(pid, "VmRSS:");
    let hwm0 = status_kb(pid, "VmHWM:");
    let shard_pids: Vec<i32> = a.shards().into_iter().filter_map(|(p, _)| p).collect();
    assert_eq!(shard_pids.len(), 2);
    let shard_hwm = || -> Vec<u64> { shard_pids.iter().map(|&p| status_kb(p, "VmHWM:")).collect() };
    let shards0 = shard_hwm();

    // Hard limit: 4000 pipelined GETs of 1 MB (4 GB of replies) from a client that does
    // not read. It is closed with none of its replies, three times over.
    for round in 0..3 {
        let mut flood = Raw::new();
        let name = format!("flood{round}");
        assert_eq!(flood.cmd(&["CLIENT", "SETNAME", &name]), "+OK\r\n");
        let t = Instant::now();
        flood.pipeline(&["GET", "big"], 4000);
        let took = gone(&mut admin, &name, Duration::from_secs(10));
        assert!(took.is_some(), "{name} still connected");
        assert_eq!(
            flood.drain_until_closed(),
            0,
            "no reply at all, as in Redis"
        );
        eprintln!("hard limit: {name} closed {:?} after sending", t.elapsed());
    }
    let hwm1 = status_kb(pid, "VmHWM:");
    let rss1 = status_kb(pid, "VmRSS:");
    eprintln!(
        "hard limit 8mb, 3 x 4000 GETs of 1 MB: VmRSS {rss0} -> {rss1} kB, VmHWM {hwm0} -> {hwm1} kB"
    );
    assert!(
        hwm1 < rss0 + 64 * 1024,
        "peak VmHWM {hwm1} kB, from VmRSS {rss0} kB"
    );
    // The shard writes a long pipeline's replies in parts rather than all at once.
    let shards1 = shard_hwm();
    eprintln!("shards' VmHWM {shards0:?} -> {shards1:?} kB");
    for (before, after) in shards0.iter().zip(&shards1) {
        assert!(
            after < &(before + 64 * 1024),
            "shard VmHWM {before} -> {after} kB"
        );
    }

    // A fan-out reply counts too: KEYS over 2.2 MB of names, limit 1 MB.
    assert_eq!(
        admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 1mb 0 0"
        ]),
        "+OK\r\n"
    );
    let mut keys = Raw::new();
    assert_eq!(keys.cmd(&["CLIENT", "SETNAME", "keys"]), "+OK\r\n");
    keys.pipeline(&["KEYS", "*"], 1);
    assert_eq!(keys.try_read(), None, "KEYS stopped, the client closed");
    assert!(gone(&mut admin, "keys", Duration::from_secs(5)).is_some());
    // Replies under the limit are untouched.
    assert_eq!(admin.cmd(&["GET", "nosuch"]), "$-1\r\n");
    let r = admin.cmd(&["KEYS", &format!("{prefix}000000001*")]);
    assert!(r.starts_with("*10\r\n"), "{r:?}");

    // Soft limit: 32 MB of replies left unread stay over 4 MB for more than a second.
    assert_eq!(
        admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 4mb 1"
        ]),
        "+OK\r\n"
    );
    let mut slow = Raw::new();
    assert_eq!(slow.cmd(&["CLIENT", "SETNAME", "slow"]), "+OK\r\n");
    let t = Instant::now();
    slow.pipeline(&["GET", "big"], 32);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        admin.cmd(&["CLIENT", "LIST"]).contains("name=slow "),
        "closed before the soft limit's seconds"
    );
    assert!(gone(&mut admin, "slow", Duration::from_secs(10)).is_some());
    let took = t.elapsed();
    let got = slow.drain_until_closed();
    eprintln!("soft limit 4mb/1s: closed within {took:?}, having received {got} bytes");
    assert!(got < 32 * MB, "all replies went out: {got}");

    // No limit (the default): a client that reads late gets every reply, in order.
    assert_eq!(
        admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 0 0"
        ]),
        "+OK\r\n"
    );
    let mut late = Raw::new();
    late.pipeline(&["GET", "big"], 32);
    std::thread::sleep(Duration::from_millis(1500));
    for i in 0..32 {
        let r = late
            .try_read()
            .unwrap_or_else(|| panic!("closed at reply {i}"));
        assert_eq!(r.len(), MB + format!("${MB}\r\n\r\n").len(), "reply {i}");
    }
    assert_eq!(late.cmd(&["PING"]), "+PONG\r\n");

    // And with no limit, the same unread pipeline costs the agent the replies' size:
    // the bound above is the limit's doing.
    let hwm2 = status_kb(pid, "VmHWM:");
    let mut unbounded = Raw::new();
    unbounded.pipeline(&["GET", "big"], 128);
    let grew = common::wait_until(Duration::from_secs(20), || {
        status_kb(pid, "VmHWM:") > hwm2 + 96 * 1024
    });
    let hwm3 = status_kb(pid, "VmHWM:");
    eprintln!("no limit, 128 GETs of 1 MB unread: VmHWM {hwm2} -> {hwm3} kB");
    assert!(grew.is_some(), "VmHWM only {hwm2} -> {hwm3} kB");
    drop(unbounded);
    assert_eq!(admin.cmd(&["PING"]), "+PONG\r\n");
    drop(a);
}
