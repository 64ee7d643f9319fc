//! The agent itself: a second agent on the same data dir, and an agent killed while it
//! stops.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{self, serial};
use crate::disk::StallShim;
use crate::support::*;

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

#[test]
fn an_agent_killed_while_stopping_leaves_no_shard_and_loses_no_write() {
    let _g = serial();
    let dir = common::temp_dir("faults-kill");
    let shim = StallShim::build(&dir);
    let mut a = agent_in(
        &dir,
        30501,
        30502,
        2,
        "",
        &[
            ("SHOAL_APPENDFSYNC", "always"),
            ("LD_PRELOAD", &shim.preload),
            ("SHOAL_FSYNC_DELAY_FILE", &shim.delay_env),
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
    shim.stall_us(300_000);
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
