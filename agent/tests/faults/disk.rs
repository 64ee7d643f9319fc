//! The disk misbehaving: fsync stalls of a slow network volume, and a disk that fills up
//! during an AOF rewrite.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{self, serial};
use crate::support::*;

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

/// The stall shim built into a test's directory, with its delay file at 0 (no stall).
pub(crate) struct StallShim {
    /// For `LD_PRELOAD`.
    pub(crate) preload: String,
    /// For `SHOAL_FSYNC_DELAY_FILE`.
    pub(crate) delay_env: String,
    delay_file: PathBuf,
}

impl StallShim {
    pub(crate) fn build(dir: &Path) -> StallShim {
        let so = build_stall_shim(dir);
        let delay_file = dir.join("fsync-delay-us");
        std::fs::write(&delay_file, "0").unwrap();
        StallShim {
            preload: so.to_str().unwrap().to_string(),
            delay_env: delay_file.to_str().unwrap().to_string(),
            delay_file,
        }
    }

    /// Every fsync from now on stalls for `us` microseconds (0: none).
    pub(crate) fn stall_us(&self, us: u64) {
        std::fs::write(&self.delay_file, us.to_string()).unwrap();
    }
}

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
    let shim = StallShim::build(&dir);
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
            ("LD_PRELOAD", &shim.preload),
            ("SHOAL_FSYNC_DELAY_FILE", &shim.delay_env),
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
        shim.stall_us(stall_ms * 1000);
        let t = Instant::now();
        std::thread::sleep(Duration::from_millis(stall_ms));
        shim.stall_us(0);
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
