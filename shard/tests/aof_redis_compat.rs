//! Redis 7.0 must load what shoal's AOF writes (annotations included), and shoal must load
//! what Redis then appends. Needs `redis-server` on PATH; scripts/test installs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_shard::aof::{self, AppendFsync, DirLock, LoadOptions};

const PORT: u16 = 7801;

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("shoal-aof-it-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn load_keys(dir: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    aof::load_dir::<()>(
        dir,
        &LoadOptions::default(),
        |a| {
            if a[0].eq_ignore_ascii_case(b"set") {
                out.push((a[1].to_vec(), a[2].to_vec()));
            }
            Ok(())
        },
        |_, _| {},
    )
    .unwrap();
    out
}

fn command(stream: &mut TcpStream, args: &[&[u8]]) -> Vec<u8> {
    let mut req = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        req.extend_from_slice(a);
        req.extend_from_slice(b"\r\n");
    }
    stream.write_all(&req).unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).unwrap();
    if line[0] == b'$' {
        let n: i64 = std::str::from_utf8(&line[1..line.len() - 2])
            .unwrap()
            .parse()
            .unwrap();
        if n < 0 {
            return b"(nil)".to_vec();
        }
        let mut body = vec![0; n as usize + 2];
        r.read_exact(&mut body).unwrap();
        body.truncate(n as usize);
        return body;
    }
    line
}

fn start_redis(dir: &Path) -> Option<(Redis, TcpStream)> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &PORT.to_string(),
            "--appendonly",
            "yes",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    // scripts/test installs redis-server; without it this check cannot pass.
    let child = child.expect("redis-server is required (apt-get install redis-server)");
    let redis = Redis(child);
    let start = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", PORT)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            if command(&mut s, &[b"PING"]).starts_with(b"+PONG") {
                return Some((redis, s));
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn redis_loads_shoal_files_and_shoal_loads_redis_appends() {
    let scratch = Scratch::new("compat");
    let dir = scratch.0.join(aof::DIR_NAME);
    let big = vec![b'x'; 3 << 20];
    {
        let lock = DirLock::acquire(&dir).unwrap();
        let mut a = aof::Aof::open(lock, &Default::default(), AppendFsync::Always).unwrap();
        a.append(&[&b"SET"[..], b"k1", b"v1"]);
        a.flush();
        a.append(&[&b"SET"[..], b"crlf", b"a\r\nb"]);
        // A rewrite, so the directory has a base and an incr file.
        let mut rw = a.rewrite_start().unwrap();
        a.append(&[&b"SET"[..], b"k2", b"v2"]);
        a.flush();
        rw.write_base(|w| {
            w.emit(&[&b"SET"[..], b"k1", b"v1"])?;
            w.emit(&[&b"SET"[..], b"crlf", b"a\r\nb"])?;
            w.emit(&[&b"SET"[..], b"big", &big])
        })
        .unwrap();
        a.rewrite_finish(rw).unwrap();
        for i in 0..100 {
            a.append(&[b"SET".to_vec(), format!("n{i}").into_bytes(), b"x".to_vec()]);
            if i % 10 == 0 {
                a.flush();
            }
        }
        a.close().unwrap();
    }
    let text = std::fs::read(dir.join("appendonly.aof.2.incr.aof")).unwrap();
    assert!(text.windows(5).filter(|w| w == b"#CRC:").count() >= 2);

    // Redis's own checker accepts the files, annotations and all.
    if let Ok(out) = Command::new("redis-check-aof")
        .arg(dir.join(aof::MANIFEST_NAME))
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("is valid"), "{text}");
    }
    let Some((redis, mut s)) = start_redis(&scratch.0) else {
        return;
    };
    assert_eq!(command(&mut s, &[b"DBSIZE"]), b":104\r\n");
    assert_eq!(command(&mut s, &[b"GET", b"k2"]), b"v2");
    assert_eq!(command(&mut s, &[b"GET", b"crlf"]), b"a\r\nb");
    assert_eq!(command(&mut s, &[b"STRLEN", b"big"]), b":3145728\r\n");
    // Redis appends to the same incr file; shoal must read that back.
    assert_eq!(
        command(&mut s, &[b"SET", b"from-redis", b"yes"]),
        b"+OK\r\n"
    );
    s.write_all(b"*1\r\n$8\r\nSHUTDOWN\r\n").unwrap();
    let mut redis = redis;
    let start = Instant::now();
    while redis.0.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redis-server did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let keys = load_keys(&dir);
    assert_eq!(keys.len(), 105);
    assert!(keys.contains(&(b"from-redis".to_vec(), b"yes".to_vec())));
    assert_eq!(aof::check(&dir, |_, _| {}).unwrap().problem, None);
}
