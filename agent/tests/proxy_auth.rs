//! AUTH, ACL users and client limits through the proxy, on the real binary.
//! Ports 26000-26499.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{serial, write_file, Agent};
use shoal_proto::reply_scan::reply_len;

struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(ip: IpAddr, port: u16) -> Raw {
        let s = TcpStream::connect((ip, port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { s, buf: Vec::new() }
    }

    fn tcp(port: u16) -> Raw {
        Raw::connect(IpAddr::from([127, 0, 0, 1]), port)
    }

    fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.s.write_all(&out).unwrap();
    }

    /// The next reply, or `None` once the server closed the connection.
    fn try_read(&mut self) -> Option<String> {
        loop {
            if let Some(n) = reply_len(&self.buf).unwrap() {
                let f: Vec<u8> = self.buf.drain(..n).collect();
                return Some(String::from_utf8_lossy(&f).into_owned());
            }
            let mut chunk = [0u8; 65536];
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn read(&mut self) -> String {
        self.try_read().expect("connection closed")
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.read()
    }

    /// True once the server has closed the connection (reads EOF or reset).
    fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    }
}

fn start_with(tag: &str, admin: u16, toml: &str) -> Agent {
    let dir = common::temp_dir(tag);
    let file = write_file(&dir, "shoal.toml", toml);
    let a = Agent::spawn_in(
        dir,
        admin,
        &[],
        &["--config", file.to_str().unwrap()],
        &[("SHOAL_APPENDFSYNC", "no")],
    );
    a.wait_ready(Duration::from_secs(20));
    a
}

fn vm_rss_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// This machine's address on its default route: not loopback.
fn outside_ip() -> IpAddr {
    let s = UdpSocket::bind("0.0.0.0:0").unwrap();
    s.connect("192.0.2.1:9").unwrap();
    let ip = s.local_addr().unwrap().ip();
    assert!(!ip.is_loopback(), "no non-loopback address");
    ip
}

#[test]
fn passwords_users_and_isolated_databases() {
    let _g = serial();
    let a = start_with(
        "acl-users",
        26002,
        r#"
[[database]]
name = "a"
port = 26010
shards = 2
password = "pa"
[[database.user]]
name = "app"
rules = "on >apw ~app:* &app:* +@read +@write -@dangerous"

[[database]]
name = "b"
port = 26020
shards = 1
password = "pb"
"#,
    );
    let mut c = Raw::tcp(26010);
    assert_eq!(c.cmd(&["GET", "k"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(
        c.cmd(&["AUTH", "pb"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.cmd(&["AUTH", "pa"]), "+OK\r\n");
    assert_eq!(c.cmd(&["SET", "k", "in-a"]), "+OK\r\n");
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]), "$7\r\ndefault\r\n");

    let mut b = Raw::tcp(26020);
    assert_eq!(b.cmd(&["AUTH", "default", "pb"]), "+OK\r\n");
    assert_eq!(
        b.cmd(&["GET", "k"]),
        "$-1\r\n",
        "databases do not share keys"
    );
    assert_eq!(b.cmd(&["SET", "k", "in-b"]), "+OK\r\n");
    assert_eq!(c.cmd(&["GET", "k"]), "$4\r\nin-a\r\n");
    assert_eq!(b.cmd(&["ACL", "USERS"]), "*1\r\n$7\r\ndefault\r\n");

    let mut u = Raw::tcp(26010);
    assert_eq!(u.cmd(&["AUTH", "app", "apw"]), "+OK\r\n");
    assert_eq!(u.cmd(&["SET", "app:1", "x"]), "+OK\r\n");
    assert_eq!(
        u.cmd(&["SET", "other", "x"]),
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
    );
    // Split commands: every key is checked before the command is split.
    assert_eq!(
        u.cmd(&["MGET", "app:1", "other"]),
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
    );
    assert_eq!(u.cmd(&["SET", "app:{t}1", "x"]), "+OK\r\n");
    assert_eq!(
        u.cmd(&["MGET", "app:{t}1", "app:{t}2"]),
        "*2\r\n$1\r\nx\r\n$-1\r\n"
    );
    assert_eq!(
        u.cmd(&["FLUSHALL"]),
        "-NOPERM this user has no permissions to run the 'flushall' command\r\n"
    );
    // Pub/sub is not in the user's categories; once it is, only its channels.
    assert_eq!(
        u.cmd(&["PUBLISH", "app:n", "m"]),
        "-NOPERM this user has no permissions to run the 'publish' command\r\n"
    );
    // ACL SETUSER changes the live session; ACL LOG has the denials.
    assert_eq!(c.cmd(&["ACL", "SETUSER", "app", "+@pubsub"]), "+OK\r\n");
    assert_eq!(u.cmd(&["PUBLISH", "app:n", "m"]), ":0\r\n");
    assert_eq!(
        u.cmd(&["PUBLISH", "news", "m"]),
        "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"
    );
    let log = c.cmd(&["ACL", "LOG", "1"]);
    assert!(
        log.contains("$7\r\nchannel\r\n") || log.contains("$7\r\ncommand\r\n"),
        "{log}"
    );
    let list = c.cmd(&["ACL", "LIST"]);
    assert!(list.contains("user app on #"), "{list}");
    assert!(list.contains("user default on #"), "{list}");
    assert_eq!(c.cmd(&["ACL", "DELUSER", "app"]), ":1\r\n");
    u.send(&["GET", "app:1"]);
    assert!(u.closed(), "a deleted user's connections are closed");
    drop(a);
}

#[test]
fn protected_mode_maxclients_and_timeout() {
    let _g = serial();
    let a = start_with(
        "acl-limits",
        26032,
        r#"
bind = "0.0.0.0"
[[database]]
port = 26030
shards = 1
maxclients = 3
timeout = 1
"#,
    );
    let mut outside = Raw::connect(outside_ip(), 26030);
    let denied = outside.try_read().expect("a reply before the close");
    assert!(
        denied.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."),
        "{denied}"
    );
    assert!(outside.closed());

    let mut c1 = Raw::tcp(26030);
    assert_eq!(c1.cmd(&["PING"]), "+PONG\r\n");
    let mut c2 = Raw::tcp(26030);
    let mut c3 = Raw::tcp(26030);
    assert_eq!(c2.cmd(&["PING"]), "+PONG\r\n");
    assert_eq!(c3.cmd(&["PING"]), "+PONG\r\n");
    let mut c4 = Raw::tcp(26030);
    assert_eq!(
        c4.try_read().as_deref(),
        Some("-ERR max number of clients reached\r\n")
    );
    assert!(c4.closed());
    assert_eq!(
        c1.cmd(&["CONFIG", "GET", "maxclients"]),
        "*2\r\n$10\r\nmaxclients\r\n$1\r\n3\r\n"
    );

    // timeout 1: idle clients go after about two seconds.
    let t = Instant::now();
    assert!(c2.closed());
    let idle = t.elapsed();
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "{idle:?}"
    );
    // Their places are free again.
    drop((c1, c3));
    std::thread::sleep(Duration::from_millis(200));
    let mut c5 = Raw::tcp(26030);
    assert_eq!(c5.cmd(&["CONFIG", "SET", "timeout", "0"]), "+OK\r\n");
    assert_eq!(
        c5.cmd(&["CONFIG", "SET", "protected-mode", "no"]),
        "+OK\r\n"
    );
    let mut outside = Raw::connect(outside_ip(), 26030);
    assert_eq!(outside.cmd(&["PING"]), "+PONG\r\n");
    drop(a);
}

#[test]
fn abusive_clients_are_bounded() {
    let _g = serial();
    let a = start_with(
        "acl-abuse",
        26042,
        r#"
[[database]]
port = 26040
shards = 1
password = "pw"
client_output_buffer_limit_pubsub = "1mb 256kb 1"
"#,
    );
    let pid = a.pid();
    let base = vm_rss_kb(pid);

    // Before AUTH: more than 10 arguments, or a bulk over 16 KiB, closes the connection.
    let mut c = Raw::tcp(26040);
    let many: Vec<String> = (0..11).map(|i| i.to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    c.send(&many);
    assert!(c
        .read()
        .starts_with("-ERR Protocol error: unauthenticated multibulk length"));
    assert!(c.closed());
    let mut c = Raw::tcp(26040);
    c.s.write_all(b"*2\r\n$3\r\nGET\r\n$100000000\r\n").unwrap();
    assert!(c
        .read()
        .starts_with("-ERR Protocol error: unauthenticated bulk length"));
    assert!(c.closed());
    // Pipelined NOAUTH requests with no end: the 1 MB pre-AUTH buffer bound holds. An
    // inline line with no newline is the worst case.
    let mut peak = base;
    for _ in 0..4 {
        let mut c = Raw::tcp(26040);
        let junk = vec![b'a'; 60 * 1024];
        let _ = c.s.set_write_timeout(Some(Duration::from_secs(5)));
        let mut sent = 0usize;
        while sent < 64 * 1024 * 1024 {
            if c.s.write_all(&junk).is_err() {
                break;
            }
            sent += junk.len();
        }
        assert!(
            sent < 64 * 1024 * 1024,
            "the proxy kept reading {sent} bytes"
        );
        peak = peak.max(vm_rss_kb(pid));
    }
    eprintln!("pre-auth abuse: VmRSS {base} kB before, peak {peak} kB");
    assert!(
        peak < base + 32 * 1024,
        "VmRSS grew from {base} kB to {peak} kB"
    );

    // After AUTH, client-query-buffer-limit bounds one request: a 64 MB bulk is refused
    // once 1 MB of it is buffered.
    let mut c = Raw::tcp(26040);
    assert_eq!(c.cmd(&["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]),
        "+OK\r\n"
    );
    c.s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$67108864\r\n")
        .unwrap();
    let chunk = vec![b'v'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 64 * 1024 * 1024 {
        if c.s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    assert!(
        sent < 64 * 1024 * 1024,
        "the proxy buffered all {sent} bytes"
    );
    let peak_query = vm_rss_kb(pid);
    eprintln!("query buffer limit: closed after {sent} bytes sent; VmRSS {peak_query} kB");
    assert!(peak_query < base + 32 * 1024);

    // A subscriber that never reads is closed at the pubsub output-buffer limit.
    let mut sub = Raw::tcp(26040);
    assert_eq!(sub.cmd(&["AUTH", "pw"]), "+OK\r\n");
    let confirm = sub.cmd(&["SUBSCRIBE", "ch"]);
    assert!(
        confirm.starts_with("*3\r\n$9\r\nsubscribe\r\n"),
        "{confirm:?}"
    );
    let mut publ = Raw::tcp(26040);
    assert_eq!(publ.cmd(&["AUTH", "pw"]), "+OK\r\n");
    let msg = "x".repeat(64 * 1024);
    let mut receivers_seen = Vec::new();
    for _ in 0..2000 {
        let r = publ.cmd(&["PUBLISH", "ch", &msg]);
        receivers_seen.push(r.clone());
        if r == ":0\r\n" {
            break;
        }
    }
    assert_eq!(
        receivers_seen.last().map(String::as_str),
        Some(":0\r\n"),
        "the subscriber was dropped after {} messages",
        receivers_seen.len()
    );
    let peak_pubsub = vm_rss_kb(pid);
    eprintln!(
        "slow subscriber: dropped after {} messages of 64 KiB; VmRSS {peak_pubsub} kB",
        receivers_seen.len()
    );
    assert!(peak_pubsub < base + 64 * 1024);
    drop(a);
}
