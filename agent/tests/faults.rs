//! Fault injection against the real agent: a stopped shard, a stalled disk, a second agent
//! on the same data, a full disk during an AOF rewrite, and the agent killed while it
//! stops. Each test prints its figures. Ports 30100-30599.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{serial, Agent};
use shoal_proto::reply_scan::reply_len;

/// A RESP connection that returns whole reply frames as text.
struct Conn<S: Read + Write> {
    s: S,
    buf: Vec<u8>,
}

fn tcp(port: u16) -> Conn<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    Conn { s, buf: Vec::new() }
}

fn unix(path: &Path) -> Conn<UnixStream> {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    Conn { s, buf: Vec::new() }
}

impl<S: Read + Write> Conn<S> {
    /// The reply, or None when the connection failed or closed.
    fn try_cmd(&mut self, args: &[&str]) -> Option<String> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.s.write_all(&req).ok()?;
        loop {
            if let Some(n) = reply_len(&self.buf).ok()? {
                let f: Vec<u8> = self.buf.drain(..n).collect();
                return Some(String::from_utf8_lossy(&f).into_owned());
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        self.try_cmd(args).expect("connection failed")
    }

    /// One `field:value` of INFO.
    fn info(&mut self, field: &str) -> Option<String> {
        let text = self.cmd(&["INFO", "persistence"]);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
    }
}

fn bulk(v: &str) -> String {
    format!("${}\r\n{v}\r\n", v.len())
}

/// The `nth` hash tag whose keys all live on `shard` of `shards`.
fn tag_on(shard: usize, shards: usize, nth: usize) -> String {
    let map = shoal_proto::SlotMap::even(shards);
    (0..)
        .map(|i| format!("{{t{i}}}"))
        .filter(|t| map.key_owner(t.as_bytes()) == shard)
        .nth(nth)
        .unwrap()
}

/// Starts an agent with `toml` as its config file, on `dir` (kept across restarts).
fn agent_in(
    dir: &Path,
    port: u16,
    admin: u16,
    shards: u16,
    toml: &str,
    env: &[(&str, &str)],
) -> Agent {
    let conf = dir.join("shoal.toml");
    std::fs::write(&conf, toml).unwrap();
    let a = Agent::spawn_in(
        dir.to_path_buf(),
        admin,
        &[],
        &[
            "--port",
            &port.to_string(),
            "--shards",
            &shards.to_string(),
            "--config",
            conf.to_str().unwrap(),
        ],
        env,
    );
    a.wait_ready(Duration::from_secs(30));
    a
}

/// Stops an agent with SIGTERM and waits for it, keeping its directory for the next one.
fn stop_agent(mut a: Agent) -> PathBuf {
    a.signal(15);
    let exited = a.wait_exit(Duration::from_secs(20));
    assert!(exited.is_some(), "agent did not stop; log:\n{}", a.log());
    keep_dir(a)
}

/// The directory of an agent that has exited, which its Drop would remove.
fn keep_dir(a: Agent) -> PathBuf {
    let dir = a.dir.clone();
    std::mem::forget(a);
    dir
}

/// Checks that every acknowledged `key → value` reads back, with MGET in batches (keys of
/// one writer share a hash tag, so a batch is one slot). Returns the number checked.
fn check_acked(port: u16, acked: &BTreeMap<String, String>) -> usize {
    let mut c = tcp(port);
    let keys: Vec<(&String, &String)> = acked.iter().collect();
    let mut lost = Vec::new();
    for chunk in keys.chunks(200) {
        // Group by tag (the part up to '}') so each MGET is one slot.
        let mut by_tag: BTreeMap<&str, Vec<(&String, &String)>> = BTreeMap::new();
        for (k, v) in chunk {
            let tag = k.split_once('}').map(|(t, _)| t).unwrap_or(k);
            by_tag.entry(tag).or_default().push((k, v));
        }
        for group in by_tag.values() {
            let mut args = vec!["MGET"];
            args.extend(group.iter().map(|(k, _)| k.as_str()));
            let reply = c.cmd(&args);
            let want: String = std::iter::once(format!("*{}\r\n", group.len()))
                .chain(group.iter().map(|(_, v)| bulk(v)))
                .collect();
            if reply != want {
                for (k, v) in group {
                    let got = c.cmd(&["GET", k]);
                    if got != bulk(v) {
                        lost.push(format!("{k}={v} got {got:?}"));
                    }
                }
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    acked.len()
}

/// What one writer thread saw.
#[derive(Default, Debug)]
struct Seen {
    acked: BTreeMap<String, String>,
    ok: u64,
    tryagain: u64,
    /// How long each `-TRYAGAIN` took to come.
    tryagain_waits: Vec<Duration>,
    max_ok_latency: Duration,
    other_errors: Vec<String>,
}

/// SET `{tag}:n n` in a loop until `stop`, one command at a time, recording acks.
fn writer(port: u16, tag: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || write_loop(tcp(port), tag, stop))
}

/// Like [`writer`], straight to a shard's socket, as a cluster-API client would.
fn socket_writer(
    path: PathBuf,
    tag: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || write_loop(unix(&path), tag, stop))
}

fn write_loop<S: Read + Write>(mut c: Conn<S>, tag: String, stop: Arc<AtomicBool>) -> Seen {
    {
        let mut seen = Seen::default();
        let mut n = 0u64;
        while !stop.load(Relaxed) {
            n += 1;
            let (k, v) = (format!("{tag}:{n}"), n.to_string());
            let t = Instant::now();
            let Some(r) = c.try_cmd(&["SET", &k, &v]) else {
                break;
            };
            let took = t.elapsed();
            if r == "+OK\r\n" {
                seen.ok += 1;
                seen.max_ok_latency = seen.max_ok_latency.max(took);
                seen.acked.insert(k, v);
            } else if r.starts_with("-TRYAGAIN") {
                seen.tryagain += 1;
                seen.tryagain_waits.push(took);
            } else {
                seen.other_errors.push(r);
            }
        }
        seen
    }
}

fn shard_pids(a: &Agent) -> Vec<i32> {
    a.shards().iter().filter_map(|s| s.0).collect()
}

fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_stopped_shard_gets_tryagain_after_the_deadline_and_comes_back() {
    let _g = serial();
    let dir = common::temp_dir("faults-stop");
    let a = agent_in(
        &dir,
        30101,
        30102,
        2,
        "restart_deadline = \"1s\"\n",
        // everysec: the other shard's latency is then the CPU's, not the disk's.
        &[("SHOAL_APPENDFSYNC", "everysec")],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let w0 = writer(30101, tag_on(0, 2, 0), stop.clone());
    let w1 = writer(30101, tag_on(1, 2, 0), stop.clone());
    std::thread::sleep(Duration::from_millis(300));
    let pid = shard_pids(&a)[1];
    common::unsafe_free_kill(pid, 19); // SIGSTOP
    let stopped_at = Instant::now();
    let mut livez_bad = 0;
    let mut readyz_503 = false;
    // Longer than the INFO scrape interval (5 s) plus its timeout (2 s), so the health
    // checker sees the shard hang.
    while stopped_at.elapsed() < Duration::from_secs(8) {
        livez_bad += usize::from(a.get("/livez").0 != 200);
        readyz_503 |= a.get("/readyz").0 == 503;
        std::thread::sleep(Duration::from_millis(100));
    }
    common::unsafe_free_kill(pid, 18); // SIGCONT
    let back = common::wait_until(Duration::from_secs(10), || a.get("/readyz").0 == 200);
    assert!(back.is_some(), "shard 1 ready again; log:\n{}", a.log());
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Relaxed);
    let (s0, s1) = (w0.join().unwrap(), w1.join().unwrap());
    let after = shard_pids(&a);
    println!(
        "stopped shard: ok={} tryagain={} waits={:?}; other shard: ok={} tryagain={} max_latency={:?}; \
         readyz 503 while stopped: {readyz_503}; ready again {:?} after SIGCONT; pid {} -> {}",
        s1.ok,
        s1.tryagain,
        s1.tryagain_waits,
        s0.ok,
        s0.tryagain,
        s0.max_ok_latency,
        back.unwrap_or_default(),
        pid,
        after[1],
    );
    assert!(s0.other_errors.is_empty() && s1.other_errors.is_empty());
    assert_eq!(livez_bad, 0, "/livez stays 200");
    assert!(
        readyz_503,
        "the health checker marks the hung shard not ready"
    );
    // The other shard's client never noticed: no error, and never near the deadline (the
    // bound is loose: the tests share two CPUs with builds).
    assert_eq!(s0.tryagain, 0);
    assert!(
        s0.max_ok_latency < Duration::from_millis(600),
        "{:?}",
        s0.max_ok_latency
    );
    assert!(s0.ok > 500, "{}", s0.ok);
    // The stopped shard's client got -TRYAGAIN, each after the deadline and not much later.
    assert!(s1.tryagain >= 4, "{}", s1.tryagain);
    for w in &s1.tryagain_waits {
        assert!(
            *w >= Duration::from_millis(980) && *w < Duration::from_millis(3000),
            "{:?}",
            s1.tryagain_waits
        );
    }
    // After SIGCONT it is served again by the same process (hung is not restarted) ...
    assert_eq!(after[1], pid, "a stopped shard is not restarted");
    assert!(s1.ok > 50, "{}", s1.ok);
    let mut c = tcp(30101);
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
    // ... with every acknowledged write on both shards.
    let n = check_acked(30101, &s0.acked) + check_acked(30101, &s1.acked);
    println!("acknowledged writes checked: {n}, lost: 0");
}

/// An `LD_PRELOAD` shim that sleeps after each fsync/fdatasync for the microseconds
/// written in the file named by `SHOAL_FSYNC_DELAY_FILE`, read at every call, so a test
/// can start and end a stall while the shards run.
const STALL_SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static long delay_us(void) {
    const char *path = getenv("SHOAL_FSYNC_DELAY_FILE");
    if (!path) return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    long v = atol(buf);
    return v > 0 ? v : 0;
}
static void stall(void) {
    int saved = errno;
    long us = delay_us();
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (us > 0 && nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
    errno = saved;
}
int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int r = real(fd);
    stall();
    return r;
}
int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int r = real(fd);
    stall();
    return r;
}
"#;

fn build_stall_shim(dir: &Path) -> PathBuf {
    let src = dir.join("stall.c");
    let so = dir.join("stall.so");
    std::fs::write(&src, STALL_SHIM).unwrap();
    let st = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .status();
    // A C compiler is part of the test setup (scripts/test); without one this is a broken
    // setup, not a pass.
    assert!(
        matches!(st, Ok(s) if s.success()),
        "cannot build the shim with cc: {st:?}"
    );
    so
}

/// Reads a key in a loop, recording the slowest answer and the answers that came while
/// `window` was set.
fn reader(
    port: u16,
    key: String,
    stop: Arc<AtomicBool>,
    window: Arc<AtomicBool>,
    max_in_window_us: Arc<AtomicU64>,
) -> std::thread::JoinHandle<(u64, u64, Duration)> {
    std::thread::spawn(move || {
        let mut c = tcp(port);
        let (mut n, mut during, mut max) = (0u64, 0u64, Duration::ZERO);
        while !stop.load(Relaxed) {
            let t = Instant::now();
            let r = c.cmd(&["GET", &key]);
            let took = t.elapsed();
            assert_eq!(r, bulk("v"), "GET during the stall");
            n += 1;
            max = max.max(took);
            if window.load(Relaxed) {
                during += 1;
                max_in_window_us.fetch_max(took.as_micros() as u64, Relaxed);
            }
        }
        (n, during, max)
    })
}

#[test]
fn an_fsync_stall_delays_replies_without_a_restart_or_a_lost_write() {
    let _g = serial();
    let dir = common::temp_dir("faults-stall");
    let shim = build_stall_shim(&dir);
    let delay_file = dir.join("fsync-delay-us");
    std::fs::write(&delay_file, "0").unwrap();
    let preload = shim.to_str().unwrap().to_string();
    let delay_env = delay_file.to_str().unwrap().to_string();
    // The deadline is above the longest stall, so clients wait it out rather than get
    // -TRYAGAIN; every stalled write is then acknowledged once it is on disk.
    let a = agent_in(
        &dir,
        30201,
        30202,
        2,
        "restart_deadline = \"20s\"\n",
        &[
            ("SHOAL_APPENDFSYNC", "always"),
            ("LD_PRELOAD", &preload),
            ("SHOAL_FSYNC_DELAY_FILE", &delay_env),
        ],
    );
    let pids = shard_pids(&a);
    let mut c = tcp(30201);
    assert_eq!(c.cmd(&["SET", "rkey", "v"]), "+OK\r\n");
    let stop = Arc::new(AtomicBool::new(false));
    let window = Arc::new(AtomicBool::new(false));
    let livez_bad = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|i| writer(30201, tag_on(i % 2, 2, i / 2), stop.clone()))
        .collect();
    let read_max = Arc::new(AtomicU64::new(0));
    let r = reader(
        30201,
        "rkey".into(),
        stop.clone(),
        window.clone(),
        read_max.clone(),
    );
    let live = {
        let (stop, bad) = (stop.clone(), livez_bad.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                if !matches!(common::http_get(30202, "/livez"), Ok((200, _))) {
                    bad.fetch_add(1, Relaxed);
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut figures = Vec::new();
    for stall_ms in [200u64, 1000, 5000] {
        read_max.store(0, Relaxed);
        window.store(true, Relaxed);
        std::fs::write(&delay_file, (stall_ms * 1000).to_string()).unwrap();
        let t = Instant::now();
        std::thread::sleep(Duration::from_millis(stall_ms));
        std::fs::write(&delay_file, "0").unwrap();
        // The fsync in flight when the stall ends still takes its full delay.
        std::thread::sleep(Duration::from_millis(stall_ms + 300));
        window.store(false, Relaxed);
        figures.push((stall_ms, t.elapsed(), read_max.load(Relaxed)));
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Relaxed);
    let seen: Vec<Seen> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let (reads, reads_in_stalls, read_max_all) = r.join().unwrap();
    let livez_checks = live.join().unwrap();
    let max_write = seen.iter().map(|s| s.max_ok_latency).max().unwrap();
    // The fsync histogram reaches /metrics with the next INFO scrape.
    let mut metrics = String::new();
    let scraped = common::wait_until(Duration::from_secs(20), || {
        metrics = a.get("/metrics").1;
        let at = |le: &str| {
            metric(
                &metrics,
                &format!(
                    "shoal_aof_fsync_duration_seconds_bucket{{database=\"default\",shard=\"{}\",le=\"{le}\"}}",
                    0
                ),
            )
        };
        matches!((at("4.194304"), at("8.388608")), (Some(a), Some(b)) if b > a)
    });
    for (stall_ms, window_len, read_max_us) in &figures {
        println!(
            "stall {stall_ms} ms: window {window_len:?}, slowest GET in it {:?}",
            Duration::from_micros(*read_max_us)
        );
    }
    let hist: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("shoal_aof_fsync_duration_seconds"))
        .filter(|l| l.contains("shard=\"0\""))
        .collect();
    let set_hist: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("shoal_proxy_command_duration_seconds_bucket"))
        .filter(|l| {
            l.contains("command=\"set\"")
                && (l.contains("le=\"1\"") || l.contains("le=\"5\"") || l.contains("+Inf"))
        })
        .collect();
    println!(
        "writes acked {} (max latency {max_write:?}), tryagain {}; GETs {reads} ({reads_in_stalls} in stall windows, max {read_max_all:?}); /livez checks {livez_checks}, non-200 {}",
        seen.iter().map(|s| s.ok).sum::<u64>(),
        seen.iter().map(|s| s.tryagain).sum::<u64>(),
        livez_bad.load(Relaxed)
    );
    println!("{}\n{}", hist.join("\n"), set_hist.join("\n"));
    assert!(
        scraped.is_some(),
        "a 5 s fsync in the histogram; metrics:\n{metrics}"
    );
    assert_eq!(livez_bad.load(Relaxed), 0, "/livez stays 200");
    assert_eq!(shard_pids(&a), pids, "no shard was restarted");
    assert!(metrics.contains("shoal_shard_restarts_total{database=\"default\",shard=\"0\"} 0"));
    for s in &seen {
        assert!(s.other_errors.is_empty(), "{:?}", s.other_errors);
        assert_eq!(s.tryagain, 0);
        assert!(s.ok > 20, "{}", s.ok);
    }
    // The stall shows in the write latency, and reads were answered through it: under
    // `always` a read waits for the writes before it, so no slower than the stall itself.
    assert!(max_write >= Duration::from_millis(4900), "{max_write:?}");
    assert!(max_write < Duration::from_millis(11_000), "{max_write:?}");
    assert!(reads_in_stalls > 10, "{reads_in_stalls}");
    assert!(
        read_max_all < Duration::from_millis(11_000),
        "{read_max_all:?}"
    );
    // The 200 ms and 1 s stalls show too. A stalled sync also carries its real fsync and
    // scheduling delay, and two syncs may be in flight, so each is looked for up to the
    // next bucket as well.
    let at = |le: &str| {
        metric(
            &metrics,
            &format!("shoal_aof_fsync_duration_seconds_bucket{{database=\"default\",shard=\"0\",le=\"{le}\"}}"),
        )
        .unwrap_or(0.0)
    };
    assert!(at("0.524288") > at("0.131072"), "a 200 ms sync");
    assert!(at("2.097152") > at("0.524288"), "a 1 s sync");
    // Nothing acknowledged is lost: a new agent (no shim) on the same data reads it all.
    let dir = stop_agent(a);
    let a = agent_in(&dir, 30201, 30202, 2, "restart_deadline = \"20s\"\n", &[]);
    let mut all = BTreeMap::new();
    for s in seen {
        all.extend(s.acked);
    }
    let n = check_acked(30201, &all);
    println!("acknowledged writes checked after restart: {n}, lost: 0");
    drop(a);
}

#[test]
fn a_second_agent_on_the_same_data_dir_refuses_to_start() {
    let _g = serial();
    let dir = common::temp_dir("faults-twin");
    let a = agent_in(&dir, 30301, 30302, 2, "", &[]);
    let mut c = tcp(30301);
    for i in 0..100 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), &i.to_string()]), "+OK\r\n");
    }
    let pids = shard_pids(&a);
    let sockets = a.shard_sockets();
    let data = dir.join("data");
    // Not through Agent: its Drop would remove the directory the first agent runs on.
    let log = dir.join("twin.log");
    let t = Instant::now();
    let mut twin = Command::new(common::SHOAL)
        .args(["--port", "30311", "--admin-port", "30312", "--shards", "2"])
        .arg("--data-dir")
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(st) = twin.try_wait().unwrap() {
            break Some(st);
        }
        if t.elapsed() > Duration::from_secs(10) {
            let _ = twin.kill();
            let _ = twin.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = t.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    println!("second agent: {status:?} after {took:?}: {}", text.trim());
    let status = status.expect("the second agent must exit on its own");
    assert_eq!(status.code(), Some(69), "EX_UNAVAILABLE; {text}");
    assert!(
        text.contains(&data.display().to_string()) && text.contains("agent.lock"),
        "the message names the dir and the lock: {text}"
    );
    assert!(text.contains(&format!("pid {}", a.pid())), "{text}");
    // It never got as far as its ports.
    assert!(!common::pings(30311));
    // The first agent is untouched: same shards, same sockets, same data, still serving.
    assert_eq!(a.get("/readyz").0, 200);
    assert_eq!(shard_pids(&a), pids);
    for s in &sockets {
        assert!(common::pings_socket(s), "{}", s.display());
    }
    let mut c = tcp(30301);
    for i in 0..100 {
        assert_eq!(c.cmd(&["GET", &format!("k{i}")]), bulk(&i.to_string()));
    }
    assert_eq!(c.cmd(&["SET", "after", "1"]), "+OK\r\n");
    // Once the first has stopped, the directory is free again.
    let dir = stop_agent(a);
    let _a = agent_in(&dir, 30301, 30302, 2, "", &[]);
    let mut c = tcp(30301);
    assert_eq!(c.cmd(&["GET", "after"]), bulk("1"));
}

/// Mounts a tmpfs of `size` on `at` for the life of the guard (the tests run as root).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output();
        match out {
            Ok(o) if o.status.success() => Tmpfs(at.to_path_buf()),
            other => panic!("cannot mount a small tmpfs (the test runs as root): {other:?}"),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes to `path` until the file system is full, then gives back `leave` bytes.
fn fill_disk(path: &Path, leave: u64) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![b'f'; 64 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let keep = written.saturating_sub(leave);
    f.set_len(keep).unwrap();
    keep
}

/// The files of an appendonlydir that its manifest does not name (the lock and the
/// manifest itself aside).
fn unlisted_files(aof_dir: &Path) -> Vec<String> {
    let manifest =
        std::fs::read_to_string(aof_dir.join("appendonly.aof.manifest")).unwrap_or_default();
    let listed: Vec<&str> = manifest
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            (parts.next() == Some("file"))
                .then(|| parts.next())
                .flatten()
        })
        .collect();
    std::fs::read_dir(aof_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "appendonly.aof.manifest" && n != "shoal.lock")
        .filter(|n| !listed.contains(&n.as_str()))
        .collect()
}

#[test]
fn a_full_disk_during_an_aof_rewrite_fails_it_cleanly() {
    let _g = serial();
    let dir = common::temp_dir("faults-full");
    let _mnt = Tmpfs::mount(&dir.join("data"), "8m");
    let a = agent_in(
        &dir,
        30401,
        30402,
        1,
        "",
        &[("SHOAL_APPENDFSYNC", "always")],
    );
    let mut c = tcp(30401);
    let mut acked = BTreeMap::new();
    // About 2.5 MiB of data in the AOF.
    for i in 0..160 {
        let v = format!("{i:05}{}", "x".repeat(16 * 1024));
        assert_eq!(c.cmd(&["SET", &format!("{{f}}:{i}"), &v]), "+OK\r\n");
        acked.insert(format!("{{f}}:{i}"), v);
    }
    let aof_dir = dir.join("data/default/shard-0/appendonlydir");
    assert!(aof_dir.is_dir(), "{}", aof_dir.display());
    let before = std::fs::read_to_string(aof_dir.join("appendonly.aof.manifest")).unwrap();
    // Leave 1 MiB: less than the new base needs, so the rewrite fails part way.
    let filler = dir.join("data/filler");
    let filled = fill_disk(&filler, 1 << 20);
    let socket = a.shard_sockets()[0].clone();
    let mut s = unix(&socket);
    let t = Instant::now();
    let started = s.cmd(&["BGREWRITEAOF"]);
    assert_eq!(
        started,
        "+Background append only file rewriting started\r\n"
    );
    let done = common::wait_until(Duration::from_secs(20), || {
        s.info("aof_rewrite_in_progress").as_deref() == Some("0")
            && s.info("aof_rewrite_scheduled").as_deref() == Some("0")
    });
    assert!(done.is_some(), "the rewrite finished");
    let status = s.info("aof_last_bgrewrite_status");
    let failures = s.info("aof_rewrites_consecutive_failures");
    let log = a.log();
    let logged = log
        .lines()
        .find(|l| {
            l.contains("AOF rewrite failed") || l.contains("rewrite") && l.contains("No space")
        })
        .unwrap_or("")
        .to_string();
    let unlisted = unlisted_files(&aof_dir);
    println!(
        "filler {filled} bytes; rewrite ended after {:?}: status {status:?}, consecutive failures {failures:?}; log: {logged}; unlisted files {unlisted:?}",
        t.elapsed()
    );
    assert_eq!(status.as_deref(), Some("err"));
    assert!(
        logged.contains("No space left on device"),
        "the failure is logged:\n{log}"
    );
    assert!(
        unlisted.is_empty(),
        "no partial temp file is left: {unlisted:?}"
    );
    // The shard keeps serving: reads, and (with the temp base gone) small writes.
    assert_eq!(a.get("/readyz").0, 200);
    assert_eq!(c.cmd(&["GET", "{f}:7"]), bulk(&acked["{f}:7"]));
    assert_eq!(c.cmd(&["SET", "{f}:after", "1"]), "+OK\r\n");
    acked.insert("{f}:after".into(), "1".into());
    let after = std::fs::read_to_string(aof_dir.join("appendonly.aof.manifest")).unwrap();
    println!("manifest before:\n{before}manifest after:\n{after}");
    // The previous state loads after a restart, with the space back.
    std::fs::remove_file(&filler).unwrap();
    let dir = stop_agent(a);
    let a = agent_in(
        &dir,
        30401,
        30402,
        1,
        "",
        &[("SHOAL_APPENDFSYNC", "always")],
    );
    let n = check_acked(30401, &acked);
    println!("acknowledged writes checked after restart: {n}, lost: 0");
    drop(a);
}

#[test]
fn an_agent_killed_while_stopping_leaves_no_shard_and_loses_no_write() {
    let _g = serial();
    let dir = common::temp_dir("faults-kill");
    let shim = build_stall_shim(&dir);
    let delay_file = dir.join("fsync-delay-us");
    std::fs::write(&delay_file, "0").unwrap();
    let preload = shim.to_str().unwrap().to_string();
    let delay_env = delay_file.to_str().unwrap().to_string();
    let mut a = agent_in(
        &dir,
        30501,
        30502,
        2,
        "",
        &[
            ("SHOAL_APPENDFSYNC", "always"),
            ("LD_PRELOAD", &preload),
            ("SHOAL_FSYNC_DELAY_FILE", &delay_env),
            // "stopping shards" (info) marks the moment the shards get SIGTERM.
            ("SHOAL_LOG_LEVEL", "info"),
        ],
    );
    let pids = shard_pids(&a);
    let stop_flag = Arc::new(AtomicBool::new(false));
    // Two clients through the proxy, and one straight to each shard: the proxy's drain
    // ends the first two, the others keep the shards writing until they get SIGTERM.
    let sockets = a.shard_sockets();
    let mut writers: Vec<_> = (0..2)
        .map(|i| writer(30501, tag_on(i, 2, 0), stop_flag.clone()))
        .collect();
    writers.extend(
        (0..2).map(|i| socket_writer(sockets[i].clone(), tag_on(i, 2, 1), stop_flag.clone())),
    );
    std::thread::sleep(Duration::from_millis(1000));
    // Slow syncs (a slow volume) keep the shards flushing when the stop begins.
    std::fs::write(&delay_file, "300000").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    a.signal(15);
    let term = Instant::now();
    // /readyz says "stopping" from the start; the proxy drains, then the shards get
    // SIGTERM (logged as "stopping shards"): kill the agent right then, while the shards
    // close their AOFs on the slow disk with writes still coming in.
    let stopping = common::wait_until(Duration::from_secs(10), || {
        a.get("/readyz").1.starts_with("stopping")
    });
    let flushing = common::wait_until(Duration::from_secs(10), || {
        a.log().contains("stopping shards")
    });
    let alive_at_kill = pids.iter().filter(|p| common::running(**p)).count();
    a.signal(9);
    let killed = Instant::now();
    assert!(a.wait_exit(Duration::from_secs(5)).is_some());
    let gone = common::wait_until(Duration::from_secs(5), || {
        pids.iter().all(|p| !common::running(*p))
    });
    stop_flag.store(true, Relaxed);
    let seen: Vec<Seen> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    println!(
        "SIGKILL {:?} after SIGTERM (/readyz stopping after {stopping:?}, shards told to stop after {flushing:?}), {alive_at_kill}/{} shards still running then; all gone {:?} after the kill",
        killed - term,
        pids.len(),
        gone
    );
    assert!(
        stopping.is_some() && flushing.is_some(),
        "the agent stopped its shards; log:\n{}",
        a.log()
    );
    assert!(
        alive_at_kill > 0,
        "the kill came while shards were still stopping"
    );
    assert!(gone.is_some(), "orphaned shards still running: {pids:?}");
    // A new agent on the same directory (no shim) loads every acknowledged write.
    let dir = keep_dir(a);
    let a = agent_in(&dir, 30501, 30502, 2, "", &[]);
    let mut all = BTreeMap::new();
    for s in &seen {
        assert!(s.other_errors.iter().all(|e| !e.starts_with("+OK")));
    }
    let acked: u64 = seen.iter().map(|s| s.ok).sum();
    for s in seen {
        all.extend(s.acked);
    }
    assert!(acked > 100, "{acked}");
    let n = check_acked(30501, &all);
    println!("acknowledged writes {acked}, checked after restart {n}, lost: 0");
    drop(a);
}
