//! Protocol abuse against `shoal shard`: each case must end within a time bound, keep the
//! shard's peak memory (VmHWM from /proc) within a bound, get Redis 7.0's exact error text
//! where Redis sends one, and leave the shard serving others.
//!
//! Each test prints `abuse <case>: peak RSS <n> MiB` for RELIABILITY.md.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use shoal_tests::server::ChildServer;
use shoal_tests::{Reply, Shard};

/// A field of /proc/PID/status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Peak resident memory of the shard so far, in MiB.
fn peak_mib(s: &ChildServer) -> u64 {
    status_kib(s.pid(), "VmHWM:") / 1024
}

/// Checks the case's bounds and prints its figure.
fn finish(case: &str, s: &mut ChildServer, started: Instant, max_secs: u64, max_mib: u64) {
    let peak = peak_mib(s);
    let rss = status_kib(s.pid(), "VmRSS:") / 1024;
    println!(
        "abuse {case}: peak RSS {peak} MiB, RSS after {rss} MiB, {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert!(s.is_running(), "{case}: the shard died\n{}", s.log());
    let mut c = s.connect();
    assert_eq!(c.cmd(&["PING"]), Reply::Simple(b"PONG".to_vec()), "{case}");
    assert!(
        started.elapsed() < Duration::from_secs(max_secs),
        "{case} took {:?}",
        started.elapsed()
    );
    assert!(
        peak <= max_mib,
        "{case}: peak RSS {peak} MiB > {max_mib} MiB"
    );
}

fn connect(s: &ChildServer) -> TcpStream {
    let t = TcpStream::connect(s.addr()).expect("connect");
    t.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    t.set_nodelay(true).expect("nodelay");
    t
}

/// Reads until the server closes the connection; returns what it sent. Fails if the
/// server keeps it open past the read timeout.
fn read_to_close(t: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match t.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) => panic!(
                "the connection stayed open ({e}); got {:?}",
                String::from_utf8_lossy(&out[..out.len().min(200)])
            ),
        }
    }
}

/// Sends `bytes` and expects exactly `reply`, then the connection closed.
fn expect_error_and_close(s: &ChildServer, bytes: &[u8], reply: &str) {
    let mut t = connect(s);
    // The server may close before it has read everything; that is fine.
    let _ = t.write_all(bytes);
    let got = read_to_close(&mut t);
    assert_eq!(
        String::from_utf8_lossy(&got),
        reply,
        "for {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
    );
}

#[test]
fn multibulk_count_over_two_gigs() {
    let mut s = Shard::start();
    let started = Instant::now();
    expect_error_and_close(
        &s,
        b"*2147483648\r\n",
        "-ERR Protocol error: invalid multibulk length\r\n",
    );
    // The largest legal count allocates nothing up front.
    let mut t = connect(&s);
    t.write_all(b"*2147483647\r\n$1\r\na\r\n").expect("write");
    thread::sleep(Duration::from_millis(200));
    drop(t);
    finish("*2147483648", &mut s, started, 10, 64);
}

#[test]
fn bulk_length_over_proto_max_bulk_len() {
    let mut s = Shard::start();
    let started = Instant::now();
    expect_error_and_close(
        &s,
        b"*1\r\n$536870913\r\n",
        "-ERR Protocol error: invalid bulk length\r\n",
    );
    // The largest legal length reserves its buffer (as Redis does) but touches none of
    // it until the bytes come.
    let mut t = connect(&s);
    t.write_all(b"*1\r\n$536870912\r\nabc").expect("write");
    thread::sleep(Duration::from_millis(200));
    drop(t);
    finish("$536870913", &mut s, started, 10, 64);
}

#[test]
fn negative_and_non_numeric_headers() {
    let mut s = Shard::start();
    let started = Instant::now();
    let cases: &[(&[u8], &str)] = &[
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1x\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*+1\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$-1\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$abc\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$ 3\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n+PING\r\n",
            "-ERR Protocol error: expected '$', got '+'\r\n",
        ),
    ];
    for (bytes, reply) in cases {
        expect_error_and_close(&s, bytes, reply);
    }
    // A negative count is an empty request, as in Redis: skipped, not an error.
    let mut c = s.connect();
    c.write_raw(b"*-5\r\n*1\r\n$4\r\nPING\r\n").expect("write");
    assert_eq!(
        c.read_reply().expect("reply").reply,
        Reply::Simple(b"PONG".to_vec())
    );
    finish("negative/non-numeric headers", &mut s, started, 10, 64);
}

#[test]
fn a_64k_line_without_crlf() {
    let mut s = Shard::start();
    let started = Instant::now();
    let long = |prefix: &[u8]| [prefix, &vec![b'1'; 64 * 1024 + 10][..]].concat();
    expect_error_and_close(
        &s,
        &vec![b'a'; 64 * 1024 + 10],
        "-ERR Protocol error: too big inline request\r\n",
    );
    expect_error_and_close(
        &s,
        &long(b"*"),
        "-ERR Protocol error: too big mbulk count string\r\n",
    );
    expect_error_and_close(
        &s,
        &long(b"*1\r\n$"),
        "-ERR Protocol error: too big bulk count string\r\n",
    );
    finish("64 KiB line without CRLF", &mut s, started, 10, 64);
}

#[test]
fn a_trickled_bulk_does_not_stall_other_clients() {
    let mut s = Shard::start();
    let started = Instant::now();
    let body = vec![b'x'; 400];
    let addr = s.addr();
    let trickler = {
        let body = body.clone();
        thread::spawn(move || {
            let mut t = TcpStream::connect(addr).expect("connect");
            t.set_nodelay(true).expect("nodelay");
            t.write_all(
                format!("*3\r\n$3\r\nSET\r\n$7\r\ntrickle\r\n${}\r\n", body.len()).as_bytes(),
            )
            .expect("write");
            for b in body.iter().chain(b"\r\n") {
                t.write_all(&[*b]).expect("write");
                thread::sleep(Duration::from_millis(5));
            }
            let mut reply = [0u8; 5];
            t.read_exact(&mut reply).expect("reply");
            reply
        })
    };
    let mut c = s.connect();
    let mut worst = Duration::ZERO;
    let mut n = 0;
    while !trickler.is_finished() {
        let t = Instant::now();
        assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::Simple(b"OK".to_vec()));
        assert_eq!(c.cmd(&["GET", "k"]), Reply::Bulk(b"v".to_vec()));
        worst = worst.max(t.elapsed());
        n += 1;
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(&trickler.join().expect("trickler"), b"+OK\r\n");
    assert_eq!(c.cmd(&["GET", "trickle"]), Reply::Bulk(body));
    println!("trickle: {n} round trips of the other client, worst {worst:?}");
    assert!(
        worst < Duration::from_millis(500),
        "worst round trip {worst:?}"
    );
    assert!(n > 10);
    finish("bulk trickled a byte at a time", &mut s, started, 30, 64);
}

/// Fills the shard with `n` keys of about 50 bytes.
fn fill(s: &ChildServer, n: usize) {
    let mut c = s.connect();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut args = vec!["MSET".to_string()];
        for i in chunk {
            args.push(format!("key:{i:08}:{}", "p".repeat(36)));
            args.push("v".into());
        }
        assert_eq!(c.cmd(&args), Reply::Simple(b"OK".to_vec()));
    }
}

#[test]
fn a_client_that_never_reads_big_keys_replies_is_disconnected() {
    let mut s = Shard::start();
    fill(&s, 20_000);
    let mut c = s.connect();
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 4mb 2mb 2"
        ]),
        Reply::Simple(b"OK".to_vec())
    );
    let started = Instant::now();
    // Each reply is about 1.2 MB; fifty of them pipelined would be 60 MB of output. The
    // hard limit drops the client as the fourth reply is added, before any is sent.
    let mut t = connect(&s);
    let one = b"*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n";
    t.write_all(&one.repeat(50)).expect("write");
    thread::sleep(Duration::from_secs(1));
    let got = read_to_close(&mut t);
    println!("hard limit: {} bytes sent before the close", got.len());
    assert!(
        got.len() < 5 << 20,
        "{} bytes sent past a 4 MB hard limit",
        got.len()
    );
    // Under the hard limit but above the soft one for longer than its seconds while the
    // client does not read: dropped too. (The kernel's socket buffers take a few MB
    // first, so the pipeline is longer than the soft limit by that much.)
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 2mb 1"
        ]),
        Reply::Simple(b"OK".to_vec())
    );
    let mut t = connect(&s);
    t.write_all(&one.repeat(20)).expect("write");
    // Long enough for a debug build under load to run the 20 KEYS, then the soft second.
    thread::sleep(Duration::from_secs(6));
    let got = read_to_close(&mut t);
    println!("soft limit: {} bytes sent before the close", got.len());
    assert!(
        got.len() < 20 * 1_200_000,
        "all {} bytes were sent",
        got.len()
    );
    finish("client never reading KEYS replies", &mut s, started, 20, 96);
}

#[test]
fn a_subscriber_that_never_reads_is_disconnected() {
    let mut s = Shard::start();
    let started = Instant::now();
    let mut sub = connect(&s);
    sub.write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n")
        .expect("subscribe");
    let mut confirm = [0u8; 32];
    let n = sub.read(&mut confirm).expect("confirmation");
    assert!(confirm[..n].starts_with(b"*3\r\n$9\r\nsubscribe"));
    // The subscriber reads nothing more. Publish 1 KB messages until nobody receives.
    let mut publisher = s.connect();
    let payload = "m".repeat(1024);
    let mut published = 0u64;
    loop {
        let batch = 1000;
        let mut wire = Vec::new();
        for _ in 0..batch {
            wire.extend_from_slice(&shoal_tests::resp::encode_command(&[
                "PUBLISH", "ch", &payload,
            ]));
        }
        publisher.write_raw(&wire).expect("publish");
        let mut receivers = 0;
        for _ in 0..batch {
            match publisher.read_reply().expect("reply").reply {
                Reply::Int(n) => receivers += n,
                other => panic!("PUBLISH: {other:?}"),
            }
        }
        published += batch;
        if receivers == 0 {
            break;
        }
        assert!(published < 200_000, "the subscriber was never dropped");
    }
    println!("subscriber dropped after {published} messages of 1 KB");
    // 32 MB hard limit, plus what the kernel's socket buffers took.
    assert!(published < 80_000, "{published}");
    let _ = read_to_close(&mut sub);
    finish(
        "pubsub flood to a non-reading subscriber",
        &mut s,
        started,
        60,
        160,
    );
}

#[test]
fn ten_thousand_idle_connections_then_one_more() {
    let mut s = Shard::start();
    let started = Instant::now();
    let before = peak_mib(&s);
    let mut conns = Vec::with_capacity(10_000);
    // The test's own connection counts: 9,999 more fill maxclients 10000.
    let mut c = s.connect();
    for i in 0..9_999 {
        match TcpStream::connect(s.addr()) {
            Ok(t) => conns.push(t),
            Err(e) => panic!("connection {i}: {e} (raise `ulimit -n` above 20100)"),
        }
    }
    // Every accepted connection is registered before the next is refused.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let Reply::Bulk(info) = c.cmd(&["INFO", "clients"]) else {
            panic!("INFO");
        };
        if String::from_utf8_lossy(&info).contains("connected_clients:10000") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&info)
        );
        thread::sleep(Duration::from_millis(50));
    }
    let mut extra = connect(&s);
    let got = read_to_close(&mut extra);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR max number of clients reached\r\n"
    );
    let peak = peak_mib(&s);
    println!(
        "10,000 idle connections: {} MiB over the idle shard",
        peak - before
    );
    drop(conns);
    drop(c);
    // Room again once they are gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    while shoal_tests::RawClient::connect(s.port())
        .and_then(|mut c| c.call(&["PING"]))
        .map_or(true, |f| f.reply != Reply::Simple(b"PONG".to_vec()))
    {
        assert!(
            Instant::now() < deadline,
            "no room after the connections closed"
        );
        thread::sleep(Duration::from_millis(50));
    }
    finish("10,000 idle connections + 1", &mut s, started, 120, 400);
}

#[test]
fn glob_patterns_built_to_blow_up() {
    let mut s = Shard::start();
    let mut c = s.connect();
    let long = "a".repeat(5_000);
    for i in 0..50 {
        assert_eq!(
            c.cmd(&["SET", &format!("{long}{i}"), "v"]),
            Reply::Simple(b"OK".to_vec())
        );
    }
    let started = Instant::now();
    let pattern = "*a*a*a*a*a*a*a*a*a*b";
    let t = Instant::now();
    assert_eq!(c.cmd(&["KEYS", pattern]), Reply::Array(vec![]));
    let keys = t.elapsed();
    let t = Instant::now();
    let Reply::Array(scan) = c.cmd(&["SCAN", "0", "MATCH", pattern, "COUNT", "1000"]) else {
        panic!("SCAN");
    };
    assert_eq!(scan[1], Reply::Array(vec![]));
    let scan = t.elapsed();
    // A pattern subscription tried against a long channel name on every PUBLISH.
    let mut sub = s.connect();
    sub.cmd(&["PSUBSCRIBE", pattern]);
    let t = Instant::now();
    for _ in 0..50 {
        assert_eq!(c.cmd(&["PUBLISH", &long, "x"]), Reply::Int(0));
    }
    let publish = t.elapsed();
    // A pattern of 100,000 stars nests too deep for a recursive matcher's stack.
    let deep = "*a".repeat(100_000) + "b";
    let t = Instant::now();
    assert_eq!(c.cmd(&["KEYS", &deep]), Reply::Array(vec![]));
    let deep_keys = t.elapsed();
    println!(
        "glob: KEYS {keys:?}, SCAN {scan:?}, 50 PUBLISH {publish:?}, 100k-star KEYS {deep_keys:?}"
    );
    for d in [keys, scan, publish, deep_keys] {
        assert!(d < Duration::from_secs(2), "{d:?}");
    }
    finish("glob blow-up patterns", &mut s, started, 20, 64);
}

#[test]
fn ten_megabytes_pipelined_before_auth() {
    let mut s = Shard::start();
    let mut admin = s.connect();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "requirepass", "secret"]),
        Reply::Simple(b"OK".to_vec())
    );
    let started = Instant::now();
    let one = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    let count = (10 << 20) / one.len();
    let mut t = connect(&s);
    let writer = {
        let mut t = t.try_clone().expect("clone");
        thread::spawn(move || {
            let wire = one.repeat(count);
            t.write_all(&wire).expect("write 10 MB");
        })
    };
    // Not reading for a while: the shard must stop reading too, not buffer.
    thread::sleep(Duration::from_secs(1));
    let noauth = b"-NOAUTH Authentication required.\r\n";
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let mut tail = Vec::new();
    while got < count * noauth.len() {
        let n = t.read(&mut buf).expect("read replies");
        assert!(n > 0, "closed after {got} bytes");
        tail.extend_from_slice(&buf[..n]);
        let whole = tail.len() / noauth.len() * noauth.len();
        assert!(tail[..whole].chunks(noauth.len()).all(|r| r == noauth));
        tail.drain(..whole);
        got += n;
    }
    writer.join().expect("writer");
    // One oversized argument, and too many, are refused before AUTH and close.
    expect_error_and_close(
        &s,
        b"*2\r\n$3\r\nGET\r\n$10485760\r\n",
        "-ERR Protocol error: unauthenticated bulk length\r\n",
    );
    expect_error_and_close(
        &s,
        b"*11\r\n",
        "-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
    let mut c = s.connect();
    assert_eq!(c.cmd(&["AUTH", "secret"]), Reply::Simple(b"OK".to_vec()));
    // `finish` connects without a password.
    admin.cmd(&["CONFIG", "SET", "requirepass", ""]);
    finish("10 MB pipelined before AUTH", &mut s, started, 120, 64);
}
