//! Durability of a shard's AOF, end to end: restarts, SIGKILL under load, simulated power
//! loss (files cut back to their last successful sync), rewrites under load, group commit,
//! injected disk failures, and Redis loading shoal's files.
//!
//! `SHOAL_AOF_KILLS` sets the number of kills of the kill tests (default 10).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng;
use shoal_tests::aof::AofShard;
use shoal_tests::powerloss::{build_shim, power_loss};
use shoal_tests::server::TempDir;
use shoal_tests::{RawClient, Reply};

/// The group-commit measurement runs alone: the other tests' writers would starve its
/// clients and make fewer writes share each sync.
static EXCLUSIVE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner())
}

fn kills() -> usize {
    std::env::var("SHOAL_AOF_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

fn ok(r: &Reply) -> bool {
    *r == Reply::Simple(b"OK".to_vec())
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// Writers: `n` threads each SET `w{t}:{i}` = `i` in order until told to stop or the
/// connection fails; returns the highest acknowledged `i` per thread (-1: none).
struct Writers {
    stop: Arc<AtomicBool>,
    handles: Vec<thread::JoinHandle<i64>>,
    acked: Arc<Mutex<Vec<(usize, i64, Instant)>>>,
}

impl Writers {
    fn start(port: u16, n: usize, round: usize, log_acks: bool) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let handles = (0..n)
            .map(|t| {
                let stop = stop.clone();
                let acked = acked.clone();
                thread::spawn(move || {
                    let Ok(mut c) = RawClient::connect(port) else {
                        return -1;
                    };
                    let mut last = -1;
                    let mut i = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("r{round}:w{t}:{i}");
                        match c.call(&["SET", key.as_str(), &i.to_string()]) {
                            Ok(f) if ok(&f.reply) => {
                                last = i;
                                if log_acks {
                                    acked.lock().unwrap().push((t, i, Instant::now()));
                                }
                            }
                            _ => break,
                        }
                        i += 1;
                    }
                    last
                })
            })
            .collect();
        Writers {
            stop,
            handles,
            acked,
        }
    }

    fn join(self) -> Vec<i64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    }
}

/// Keys `r{round}:w{t}:{0..=last}` missing from the shard.
fn missing(c: &mut RawClient, round: usize, t: usize, last: i64) -> Vec<i64> {
    let mut gone = Vec::new();
    let mut i = 0;
    while i <= last {
        let end = (i + 500).min(last + 1);
        let mut args = vec!["MGET".to_string()];
        args.extend((i..end).map(|j| format!("r{round}:w{t}:{j}")));
        let Reply::Array(vals) = c.cmd(&args) else {
            panic!("MGET failed");
        };
        for (j, v) in (i..end).zip(vals) {
            if v != bulk(&j.to_string()) {
                gone.push(j);
            }
        }
        i = end;
    }
    gone
}

#[test]
fn restart_keeps_data_and_absolute_expiries() {
    let _shared = shared();
    let dir = TempDir::new("aof-restart");
    let mut s = AofShard::start(dir.path(), "always");
    let mut c = s.client();
    assert!(ok(&c.cmd(&["SET", "a", "1"])));
    assert!(ok(&c.cmd(&["SET", "t", "v", "EX", "1000"])));
    assert_eq!(c.cmd(&["RPUSH", "l", "x", "y"]), Reply::Int(2));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "1.25"]), bulk("1.25"));
    assert_eq!(c.cmd(&["ZADD", "z", "1.5", "m"]), Reply::Int(1));
    assert_eq!(c.cmd(&["PEXPIRE", "l", "1000000"]), Reply::Int(1));
    let pttl_before = match c.cmd(&["PEXPIRETIME", "t"]) {
        Reply::Int(n) => n,
        other => panic!("{other:?}"),
    };
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "n"]);
    c.cmd(&["INCR", "n"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(2)])
    );
    assert_eq!(s.term().and_then(|st| st.code()), Some(0), "{}", s.log());
    let aof: Vec<u8> = std::fs::read_dir(s.aof_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".incr.aof"))
        .flat_map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    let text = String::from_utf8_lossy(&aof).replace("\r\n", " ");
    assert!(
        text.contains("*1 $5 MULTI *2 $4 INCR $1 n *2 $4 INCR $1 n *1 $4 EXEC"),
        "{text}"
    );
    // Time passes between runs: a relative expiry replayed as-is would move.
    thread::sleep(Duration::from_millis(1100));
    s.restart();
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "a"]), bulk("1"));
    assert_eq!(c.cmd(&["GET", "f"]), bulk("1.25"));
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        Reply::Array(vec![bulk("x"), bulk("y")])
    );
    assert_eq!(c.cmd(&["ZSCORE", "z", "m"]), bulk("1.5"));
    assert_eq!(c.cmd(&["PEXPIRETIME", "t"]), Reply::Int(pttl_before));
    assert_eq!(s.info("aof_enabled").as_deref(), Some("1"));
}

#[test]
fn second_process_on_the_same_directory_is_refused() {
    let _shared = shared();
    let dir = TempDir::new("aof-lock");
    let s = AofShard::start(dir.path(), "everysec");
    let twin = AofShard::new_stopped(dir.path(), "everysec");
    let st = twin.run_to_exit();
    assert_eq!(st.code(), Some(73), "{}", twin.log());
    assert!(twin.log().contains("is locked by another process"));
    drop(s);
}

#[test]
fn corruption_in_the_middle_refuses_to_start() {
    let _shared = shared();
    let dir = TempDir::new("aof-corrupt");
    let mut s = AofShard::start(dir.path(), "always");
    let mut c = s.client();
    for i in 0..50 {
        assert!(ok(&c.cmd(&["SET", &format!("k{i}"), "value"])));
    }
    s.term();
    let incr = std::fs::read_dir(s.aof_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .unwrap();
    let mut bytes = std::fs::read(&incr).unwrap();
    let mid = bytes.len() / 2;
    // Inside a value: only the checksum can tell.
    let at = mid + bytes[mid..].windows(5).position(|w| w == b"value").unwrap();
    bytes[at] = b'V';
    std::fs::write(&incr, &bytes).unwrap();
    let st = s.run_to_exit();
    assert_eq!(st.code(), Some(65), "{}", s.log());
    let log = s.log();
    assert!(
        log.contains(&*incr.file_name().unwrap().to_string_lossy()),
        "{log}"
    );
    assert!(log.contains("CRC mismatch"), "{log}");
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_write() {
    let _shared = shared();
    let dir = TempDir::new("aof-kill");
    let mut s = AofShard::start(dir.path(), "always");
    let mut rng = rand::thread_rng();
    let mut checked = 0;
    for round in 0..kills() {
        let w = Writers::start(s.port, 16, round, false);
        thread::sleep(Duration::from_millis(rng.gen_range(100..400)));
        s.kill9();
        let last = w.join();
        s.restart();
        let mut c = s.client();
        for (t, &l) in last.iter().enumerate() {
            let gone = missing(&mut c, round, t, l);
            assert!(gone.is_empty(), "round {round} writer {t}: lost {gone:?}");
            checked += (l + 1) as u64;
        }
    }
    println!(
        "kills={} acknowledged writes checked={checked} lost=0",
        kills()
    );
}

fn power_loss_run(fsync: &str, rounds: usize) -> Option<(u64, u64, Duration)> {
    let dir = TempDir::new("aof-power");
    let so = build_shim(dir.path())?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let log = dir.path().join("syncs.log");
    let env = [
        ("LD_PRELOAD", so.to_str().unwrap()),
        ("SHOAL_SYNC_LOG", log.to_str().unwrap()),
    ];
    let mut s = AofShard::start_env(&data, fsync, &env);
    let mut rng = rand::thread_rng();
    let (mut checked, mut lost) = (0u64, 0u64);
    let mut worst = Duration::ZERO;
    for round in 0..rounds {
        let w = Writers::start(s.port, 16, round, true);
        thread::sleep(Duration::from_millis(rng.gen_range(300..1500)));
        s.kill9();
        let killed = Instant::now();
        let acked = w.acked.clone();
        let last = w.join();
        power_loss(&s.aof_dir(), &log);
        s.restart();
        let mut c = s.client();
        let acks = acked.lock().unwrap();
        for (t, &l) in last.iter().enumerate() {
            checked += (l + 1) as u64;
            for i in missing(&mut c, round, t, l) {
                lost += 1;
                if let Some((_, _, at)) = acks.iter().find(|(tt, ii, _)| *tt == t && *ii == i) {
                    worst = worst.max(killed.duration_since(*at));
                }
            }
        }
    }
    Some((checked, lost, worst))
}

#[test]
fn power_loss_under_always_loses_no_acknowledged_write() {
    let _shared = shared();
    let Some((checked, lost, _)) = power_loss_run("always", kills()) else {
        return;
    };
    println!(
        "power-loss kills={} acknowledged={checked} lost={lost}",
        kills()
    );
    assert_eq!(lost, 0);
}

#[test]
fn power_loss_under_everysec_loses_at_most_two_seconds() {
    let _shared = shared();
    let Some((checked, lost, worst)) = power_loss_run("everysec", 3) else {
        return;
    };
    println!("everysec power-loss: acknowledged={checked} lost={lost} oldest lost ack {worst:?} before the kill");
    assert!(worst <= Duration::from_millis(2500), "{worst:?}");
}

#[test]
fn rewrite_under_load_keeps_every_increment() {
    let _shared = shared();
    let dir = TempDir::new("aof-rewrite");
    let mut s = AofShard::start(dir.path(), "always");
    let mut c = s.client();
    for i in 0..2000 {
        c.cmd(&["RPUSH", &format!("list{}", i % 10), &i.to_string()]);
    }
    // Enough keys that the rewrite's walk takes many loop turns.
    for chunk in 0..50 {
        let mut args = vec!["MSET".to_string()];
        for i in 0..1000 {
            args.push(format!("filler:{chunk}:{i}"));
            args.push(format!("{i}"));
        }
        assert!(ok(&c.cmd(&args)));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let port = s.port;
    // Writers to keys the walk has not reached yet: their pre-images must be what the base
    // gets.
    let pushed: Vec<Arc<AtomicU64>> = (0..5).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let pushers: Vec<_> = pushed
        .iter()
        .enumerate()
        .map(|(t, n)| {
            let (stop, n) = (stop.clone(), n.clone());
            thread::spawn(move || {
                let mut c = RawClient::connect(port).unwrap();
                let key = format!("list{t}");
                while !stop.load(Ordering::Relaxed) {
                    match c.call(&["RPUSH", key.as_str(), "x"]) {
                        Ok(f) if matches!(f.reply, Reply::Int(_)) => {
                            n.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => break,
                    }
                    if c.call(&["DEL", &format!("filler:{t}:{}", n.load(Ordering::Relaxed))])
                        .is_err()
                    {
                        break;
                    }
                }
            })
        })
        .collect();
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (stop, total) = (stop.clone(), total.clone());
            thread::spawn(move || {
                let mut c = RawClient::connect(port).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    match c.call(&["INCR", "counter"]) {
                        Ok(f) if matches!(f.reply, Reply::Int(_)) => {
                            total.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(150));
        let r = c.cmd(&["BGREWRITEAOF"]);
        assert!(
            r == Reply::Simple(b"Background append only file rewriting started".to_vec())
                || matches!(&r, Reply::Error(e) if e.starts_with(b"ERR Background append only file rewriting already in progress")),
            "{r:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while s.info("aof_rewrite_in_progress").as_deref() == Some("1") {
            assert!(Instant::now() < deadline);
            thread::sleep(Duration::from_millis(20));
        }
    }
    thread::sleep(Duration::from_millis(150));
    assert!(s.info_u64("aof_rewrites") >= 1);
    s.kill9();
    stop.store(true, Ordering::Relaxed);
    for h in handles.into_iter().chain(pushers) {
        h.join().unwrap();
    }
    let acked = total.load(Ordering::Relaxed);
    s.restart();
    let mut c = s.client();
    let got = match c.cmd(&["GET", "counter"]) {
        Reply::Bulk(b) => String::from_utf8(b).unwrap().parse::<u64>().unwrap(),
        other => panic!("{other:?}"),
    };
    // Under always every acknowledged INCR is on disk; one in flight may be too.
    assert!(
        got >= acked && got <= acked + 20,
        "counter {got}, acknowledged {acked}"
    );
    for (t, n) in pushed.iter().enumerate() {
        let n = n.load(Ordering::Relaxed) as i64;
        match c.cmd(&["LLEN", &format!("list{t}")]) {
            Reply::Int(len) => assert!(
                len == 200 + n || len == 201 + n,
                "list{t}: {len} vs 200+{n}"
            ),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(c.cmd(&["LLEN", "list7"]), Reply::Int(200));
    assert_eq!(c.cmd(&["GET", "filler:49:999"]), bulk("999"));
}

#[test]
fn group_commit_and_reads_cost_no_disk() {
    let _alone = EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("aof-group");
    let s = AofShard::start_release(dir.path(), "always");
    let port = s.port;
    let fsyncs0 = s.info_u64("aof_fsyncs");
    let run = |cmd: &'static str| {
        // All 50 connected before any sends, so the run measures 50 writers at once.
        let start = Arc::new(std::sync::Barrier::new(50));
        let handles: Vec<_> = (0..50)
            .map(|t| {
                let start = start.clone();
                thread::spawn(move || {
                    let mut c = RawClient::connect(port).unwrap();
                    start.wait();
                    for i in 0..200 {
                        let key = format!("g{t}:{i}");
                        let r = if cmd == "SET" {
                            c.cmd(&["SET", key.as_str(), "v"])
                        } else {
                            c.cmd(&["GET", key.as_str()])
                        };
                        assert!(!matches!(r, Reply::Error(_)), "{r:?}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    };
    run("SET");
    let fsyncs = s.info_u64("aof_fsyncs") - fsyncs0;
    let per_write = fsyncs as f64 / 10_000.0;
    println!(
        "group commit: {fsyncs} fsyncs for 10000 SETs from 50 clients = {per_write:.4} per write"
    );
    assert!(per_write <= 0.1, "{per_write}");
    let (f1, b1) = (s.info_u64("aof_fsyncs"), s.info_u64("aof_written_bytes"));
    run("GET");
    let (f2, b2) = (s.info_u64("aof_fsyncs"), s.info_u64("aof_written_bytes"));
    println!("GET run: {} fsyncs, {} AOF bytes", f2 - f1, b2 - b1);
    assert_eq!((f2 - f1, b2 - b1), (0, 0));
}

#[test]
fn failed_fsync_under_always_never_acknowledges_and_exits() {
    let _shared = shared();
    assert!(
        Command::new("strace").arg("-V").output().is_ok(),
        "strace is required (scripts/test installs it)"
    );
    let dir = TempDir::new("aof-eio");
    let mut s = AofShard::new_stopped(dir.path(), "always");
    s.wrap = [
        "strace",
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        "trace=fdatasync",
    ]
    .iter()
    .map(|x| x.to_string())
    .chain([
        "-e".to_string(),
        "inject=fdatasync:error=EIO:when=40".to_string(),
    ])
    .collect();
    s.restart();
    let mut c = s.client();
    let mut acked = Vec::new();
    for i in 0..500 {
        match c.call(&["SET", &format!("e{i}"), "v"]) {
            Ok(f) if ok(&f.reply) => acked.push(i),
            Ok(f) => {
                assert!(matches!(f.reply, Reply::Error(_)), "{:?}", f.reply);
                break;
            }
            Err(_) => break,
        }
    }
    assert!(acked.len() < 500, "the injected failure was never seen");
    let st = s
        .wait_exit(Duration::from_secs(10))
        .expect("the shard must exit");
    assert_eq!(st.code(), Some(75), "{}", s.log());
    s.wrap.clear();
    s.restart();
    let mut c = s.client();
    for i in acked {
        assert_eq!(c.cmd(&["GET", &format!("e{i}")]), bulk("v"));
    }
}

#[test]
fn full_disk_under_everysec_refuses_writes_then_recovers() {
    let _shared = shared();
    let dir = TempDir::new("aof-enospc");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mnt)
        .output();
    match mounted {
        Ok(o) if o.status.success() => {}
        other => panic!("cannot mount a small tmpfs (the test runs as root): {other:?}"),
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let s = AofShard::start(&mnt, "everysec");
    let mut c = s.client();
    let val = "x".repeat(16 * 1024);
    let mut refused = None;
    for i in 0..1000 {
        match c.cmd(&["SET", &format!("big{i}"), val.as_str()]) {
            Reply::Error(e) => {
                refused = Some(String::from_utf8_lossy(&e).into_owned());
                break;
            }
            _ => thread::sleep(Duration::from_millis(2)),
        }
    }
    let refused = refused.expect("writes must be refused once the disk is full");
    assert!(
        refused.starts_with("MISCONF Errors writing to the AOF file:"),
        "{refused}"
    );
    assert!(
        matches!(c.cmd(&["GET", "big0"]), Reply::Bulk(_)),
        "reads keep working"
    );
    assert_eq!(s.info("aof_last_write_status").as_deref(), Some("err"));
    // Space comes back.
    let st = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(st.success());
    let back = Instant::now();
    loop {
        if ok(&c.cmd(&["SET", "after", "1"])) {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "writes did not resume"
        );
        thread::sleep(Duration::from_millis(50));
    }
    println!("writes resumed {:?} after space returned", back.elapsed());
}

#[test]
fn redis_loads_a_shards_appendonlydir() {
    let _shared = shared();
    assert!(
        shoal_tests::server::redis_available().is_ok(),
        "redis-server is required (scripts/test installs it)"
    );
    let dir = TempDir::new("aof-interop");
    let mut s = AofShard::start(dir.path(), "everysec");
    let mut c = s.client();
    c.cmd(&["SET", "s", "v", "PX", "100000000"]);
    c.cmd(&["RPUSH", "l", "a", "b", "c"]);
    c.cmd(&["ZADD", "z", "1.5", "m", "-inf", "n"]);
    c.cmd(&["INCRBYFLOAT", "f", "3.75"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "n"]);
    c.cmd(&["INCR", "n"]);
    c.cmd(&["EXEC"]);
    assert!(ok(&c.cmd(&["SET", "x", "1"])));
    c.cmd(&["SADD", "st", "a", "b", "c", "d", "e"]);
    c.cmd(&["HSET", "h", "f", "1", "g", "2"]);
    c.cmd(&["BGREWRITEAOF"]);
    thread::sleep(Duration::from_millis(300));
    // Chance picks the members; the AOF must record which.
    c.cmd(&["SPOP", "st"]);
    c.cmd(&["SPOP", "st", "2"]);
    c.cmd(&["HINCRBYFLOAT", "h", "f", "0.25"]);
    let sorted = |r: Reply| match r {
        Reply::Array(mut v) | Reply::Set(mut v) => {
            v.sort_by_key(|x| format!("{x:?}"));
            v
        }
        other => panic!("{other:?}"),
    };
    let members = sorted(c.cmd(&["SMEMBERS", "st"]));
    thread::sleep(Duration::from_millis(300));
    c.cmd(&["SET", "after", "rewrite"]);
    let dbsize = c.cmd(&["DBSIZE"]);
    s.term();
    let copy = TempDir::new("aof-interop-redis");
    let dst = copy.path().join("appendonlydir");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(s.aof_dir()).unwrap().flatten() {
        if e.file_name() != "shoal.lock" {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    let port = shoal_tests::server::free_port();
    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args([
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            "no",
            "--dir",
        ])
        .arg(copy.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut r = loop {
        if let Ok(mut r) = RawClient::connect(port) {
            if r.cmd(&["PING"]) == Reply::Simple(b"PONG".to_vec()) {
                break r;
            }
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(r.cmd(&["DBSIZE"]), dbsize);
    assert_eq!(r.cmd(&["GET", "s"]), bulk("v"));
    assert_eq!(r.cmd(&["GET", "n"]), bulk("2"));
    assert_eq!(r.cmd(&["GET", "f"]), bulk("3.75"));
    assert_eq!(r.cmd(&["GET", "after"]), bulk("rewrite"));
    assert_eq!(
        r.cmd(&["LRANGE", "l", "0", "-1"]),
        Reply::Array(vec![bulk("a"), bulk("b"), bulk("c")])
    );
    assert_eq!(r.cmd(&["ZSCORE", "z", "n"]), bulk("-inf"));
    assert!(matches!(r.cmd(&["PTTL", "s"]), Reply::Int(n) if n > 1000));
    assert_eq!(sorted(r.cmd(&["SMEMBERS", "st"])), members);
    assert_eq!(r.cmd(&["HGET", "h", "f"]), bulk("1.25"));
    assert_eq!(r.cmd(&["HGET", "h", "g"]), bulk("2"));
    let _ = redis.kill();
    let _ = redis.wait();
}

#[test]
fn clients_get_loading_while_a_redis_written_aof_loads() {
    let _shared = shared();
    let dir = TempDir::new("aof-loading");
    let aof_dir = dir.path().join("appendonlydir");
    std::fs::create_dir_all(&aof_dir).unwrap();
    // As redis-server writes it: no checksum annotations.
    std::fs::write(
        aof_dir.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap();
    let n = 400_000;
    let mut body = Vec::with_capacity(n * 40);
    for i in 0..n {
        let (k, v) = (format!("key:{i}"), format!("v{i}"));
        body.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )
            .as_bytes(),
        );
    }
    std::fs::write(aof_dir.join("appendonly.aof.1.incr.aof"), &body).unwrap();
    let mut s = AofShard::new_stopped(dir.path(), "always");
    let mut child = s.spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut saw_loading, mut saw_info) = (false, false);
    loop {
        assert!(Instant::now() < deadline, "never loaded\n{}", s.log());
        assert!(matches!(child.try_wait(), Ok(None)), "{}", s.log());
        let Ok(mut c) = RawClient::connect(s.port) else {
            thread::sleep(Duration::from_millis(5));
            continue;
        };
        match c.cmd(&["GET", "key:7"]) {
            Reply::Error(e) => {
                assert_eq!(e, b"LOADING Redis is loading the dataset in memory");
                saw_loading = true;
                if let Reply::Bulk(info) = c.cmd(&["INFO", "persistence"]) {
                    let info = String::from_utf8_lossy(&info).into_owned();
                    if info.contains("loading:1\r\n") {
                        assert!(info.contains("loading_total_bytes:"), "{info}");
                        assert!(info.contains("loading_loaded_perc:"), "{info}");
                        saw_info = true;
                    }
                }
            }
            r => {
                assert_eq!(r, bulk("v7"));
                break;
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(saw_loading && saw_info, "the load was too quick to observe");
    let mut c = RawClient::connect(s.port).unwrap();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(n as i64));
    let _ = child.kill();
    let _ = child.wait();
    s.kill9();
}

#[test]
fn config_set_appendonly_turns_the_aof_on_and_off() {
    let _shared = shared();
    let dir = TempDir::new("aof-config");
    let mut s = AofShard::start(dir.path(), "everysec");
    let mut c = s.client();
    assert!(ok(&c.cmd(&["CONFIG", "SET", "appendonly", "no"])));
    assert_eq!(s.info("aof_enabled").as_deref(), Some("0"));
    assert!(ok(&c.cmd(&["SET", "while-off", "1"])));
    // Turning it on writes what memory holds into a new base.
    assert!(ok(&c.cmd(&["CONFIG", "SET", "appendonly", "yes"])));
    assert!(ok(&c.cmd(&["CONFIG", "SET", "appendfsync", "always"])));
    let f0 = s.info_u64("aof_fsyncs");
    assert!(ok(&c.cmd(&["SET", "after", "2"])));
    assert!(
        s.info_u64("aof_fsyncs") > f0,
        "always syncs before the reply"
    );
    s.kill9();
    s.restart();
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "while-off"]), bulk("1"));
    assert_eq!(c.cmd(&["GET", "after"]), bulk("2"));
}

#[test]
fn a_torn_tail_is_cut_and_logged() {
    let _shared = shared();
    let dir = TempDir::new("aof-torn");
    let mut s = AofShard::start(dir.path(), "always");
    let mut c = s.client();
    assert!(ok(&c.cmd(&["SET", "kept", "1"])));
    s.term();
    let incr = std::fs::read_dir(s.aof_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .unwrap();
    let len = std::fs::metadata(&incr).unwrap().len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .unwrap();
    std::io::Write::write_all(&mut f, b"*3\r\n$3\r\nSET\r\n$4\r\nlost").unwrap();
    drop(f);
    let check = Command::new(shoal_tests::shoal_bin())
        .args(["aof", "check"])
        .arg(s.aof_dir())
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let report = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(report.contains(&format!("byte {len}")), "{report}");
    s.restart();
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "kept"]), bulk("1"));
    assert_eq!(std::fs::metadata(&incr).unwrap().len(), len);
    assert!(s.log().contains("truncat"), "{}", s.log());
}
