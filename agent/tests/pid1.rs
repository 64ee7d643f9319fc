//! The agent as PID 1 of its own PID namespace (as in a container without an init):
//! shards killed over and over are restarted and reaped, and orphans re-parented to the
//! agent are reaped too. Needs root (for `unshare --pid`).
//!
//! `SHOAL_PID1_CYCLES` sets the number of kill cycles (default 200).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The Unix socket a shard process was started with (`--unixsocket`).
fn socket_of(pid: i32) -> Option<PathBuf> {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmd
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let i = args.iter().position(|a| a == "--unixsocket")?;
    args.get(i + 1).map(PathBuf::from)
}

fn shard_on(agent: i32, socket: &Path) -> Option<i32> {
    children(agent)
        .into_iter()
        .find(|&p| running(p) && socket_of(p).as_deref() == Some(socket))
}

fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn as_pid_1_restarted_shards_and_orphans_leave_no_zombies() {
    let _s = serial();
    // The tests run as root (as CI does); a namespace that cannot be made is a broken
    // setup, not a pass.
    assert!(can_unshare(), "unshare --pid is not permitted here");
    let cycles: usize = std::env::var("SHOAL_PID1_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // Kills come faster than the healthy period, so the default backoff would slow the
    // cycles down to its cap; this test is about reaping, so restarts stay immediate.
    let conf_dir = temp_dir("pid1-conf");
    let conf = write_file(
        &conf_dir,
        "shoal.toml",
        "restart_delay_min = \"1ms\"\nrestart_delay_max = \"1ms\"\n",
    );
    let a = Agent::spawn(
        "pid1",
        7987,
        &["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"],
        &[
            "--shards",
            "2",
            "--port",
            "7985",
            "--config",
            conf.to_str().unwrap(),
        ],
        &[],
    );
    a.wait_ready(Duration::from_secs(10));
    let agent = children(a.pid())[0];
    let status = std::fs::read_to_string(format!("/proc/{agent}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(
        nspid.trim_end().ends_with("\t1"),
        "agent is PID 1 in its namespace: {nspid}"
    );

    let sockets = a.shard_sockets();
    assert_eq!(sockets.len(), 2);
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    for cycle in 0..cycles {
        let socket = &sockets[cycle % 2];
        let old = shard_on(agent, socket).expect("shard running");
        unsafe_free_kill(old, 9);
        let t = Instant::now();
        let back = wait_until(Duration::from_secs(5), || {
            matches!(shard_on(agent, socket), Some(p) if p != old) && pings_socket(socket)
        });
        assert!(
            back.is_some(),
            "cycle {cycle}: shard on {socket:?} not back; log:\n{}",
            a.log()
        );
        let took = t.elapsed();
        worst = worst.max(took);
        total += took;
        if cycle % 20 == 0 {
            // Orphans: the shell exits at once, its two children are re-parented to the
            // namespace's PID 1, the agent, which must reap them when they exit.
            let st = Command::new("nsenter")
                .args([
                    "-t",
                    &agent.to_string(),
                    "-p",
                    "-m",
                    "--",
                    "sh",
                    "-c",
                    "sleep 0.05 & sleep 0.05 & exit 0",
                ])
                .status()
                .unwrap();
            assert!(st.success());
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let procs = descendants(agent);
    let zombies: Vec<i32> = procs
        .iter()
        .copied()
        .filter(|&p| proc_state(p) == Some('Z'))
        .collect();
    eprintln!(
        "PID 1: {cycles} kill cycles, restart mean {} ms, worst {} ms; {} processes left, {} zombies",
        total.as_millis() / cycles.max(1) as u128,
        worst.as_millis(),
        procs.len(),
        zombies.len()
    );
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
    assert_eq!(procs.len(), 2, "only the two shards remain: {procs:?}");
    let metrics = a.get("/metrics").1;
    let restarts: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("shoal_shard_restarts_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(restarts, cycles as u64);
    std::fs::remove_dir_all(conf_dir).unwrap();
}
