//! The supervisor, on the real binary: pinning, restarts, backoff, death signal, shutdown.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn allowed_here() -> Vec<usize> {
    let list = cpus_allowed(std::process::id() as i32);
    parse_list(&list)
}

fn parse_list(list: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()),
            None => out.push(part.parse().unwrap()),
        }
    }
    out
}

#[test]
fn four_shards_are_pinned_round_robin_within_the_allowed_set() {
    let _s = serial();
    let agent = Agent::start("four", 7904, &["--shards", "4", "--port", "7900"]);
    let shards = agent.shards();
    let sockets = agent.shard_sockets();
    assert_eq!(shards.len(), 4);
    assert!(pings(7900), "the database port serves");
    let allowed = allowed_here();
    let mut cpus = Vec::new();
    for (i, ((pid, port), socket)) in shards.iter().zip(&sockets).enumerate() {
        // Without cluster_api a shard has no TCP port: only the agent reaches it.
        assert_eq!(*port, None, "shard {i}");
        assert!(pings_socket(socket), "shard {i} serves on {socket:?}");
        let list = cpus_allowed(pid.unwrap());
        let cpu: usize = list
            .parse()
            .unwrap_or_else(|_| panic!("one CPU, got {list}"));
        assert!(allowed.contains(&cpu), "cpu {cpu} outside {allowed:?}");
        cpus.push(cpu);
    }
    // Shard k gets the k-th allowed CPU (mod the set): as many distinct CPUs as possible.
    let expect: Vec<usize> = (0..4).map(|k| allowed[k % allowed.len()]).collect();
    assert_eq!(cpus, expect);
    let distinct: std::collections::BTreeSet<_> = cpus.iter().collect();
    assert_eq!(distinct.len(), 4.min(allowed.len()));
}

#[test]
fn taskset_confines_every_shard() {
    let _s = serial();
    let a = Agent::spawn(
        "taskset",
        7912,
        &["taskset", "-c", "0"],
        &["--shards", "2", "--port", "7910"],
        &[],
    );
    a.wait_ready(Duration::from_secs(10));
    let shards = a.shards();
    assert_eq!(shards.len(), 2);
    for (pid, _) in &shards {
        assert_eq!(cpus_allowed(pid.unwrap()), "0");
    }
    drop(a);
    // "auto" under a one-CPU mask is one shard.
    let a = Agent::spawn(
        "taskset-auto",
        7912,
        &["taskset", "-c", "0"],
        &["--port", "7910"],
        &[],
    );
    a.wait_ready(Duration::from_secs(10));
    assert_eq!(a.shards().len(), 1);
}

#[test]
fn a_killed_shard_serves_again_quickly_and_alone() {
    let _s = serial();
    let agent = Agent::start("kill9", 7922, &["--shards", "2", "--port", "7920"]);
    let before = agent.shards();
    let sockets = agent.shard_sockets();
    let (victim, other) = (before[0].0.unwrap(), before[1].0.unwrap());
    unsafe_free_kill(victim, 9);
    let t = Instant::now();
    let back = wait_until(Duration::from_secs(2), || {
        matches!(agent.shards()[0].0, Some(p) if p != victim) && pings_socket(&sockets[0])
    });
    let took = back.unwrap_or_else(|| panic!("shard 0 not back; log:\n{}", agent.log()));
    eprintln!("restart latency: {} ms", t.elapsed().as_millis());
    assert!(took < Duration::from_millis(500), "took {took:?}");
    agent.wait_ready(Duration::from_secs(2));
    // The other shard never noticed.
    assert_eq!(agent.shards()[1].0, Some(other));
    assert!(pings_socket(&sockets[1]));
    assert!(pings(7920), "the database port serves");
    let (_, metrics) = agent.get("/metrics");
    assert!(
        metrics.contains("shoal_shard_restarts_total{database=\"default\",shard=\"0\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("shoal_shard_restarts_total{database=\"default\",shard=\"1\"} 0"));
    assert!(metrics.contains("shoal_shard_up{database=\"default\",shard=\"0\"} 1"));
    // The exit is logged as 128 + SIGKILL.
    assert_eq!(agent.status()["shards"][0]["last_exit"], 137);
}

#[test]
fn shards_die_with_a_killed_agent() {
    let _s = serial();
    let mut agent = Agent::start("pdeathsig", 7927, &["--shards", "2", "--port", "7925"]);
    let pids: Vec<i32> = agent.shards().iter().map(|s| s.0.unwrap()).collect();
    let sockets = agent.shard_sockets();
    assert!(sockets.iter().all(|s| pings_socket(s)));
    agent.signal(9);
    agent.wait_exit(Duration::from_secs(1)).unwrap();
    let t = Instant::now();
    let gone = wait_until(Duration::from_secs(1), || pids.iter().all(|&p| !running(p)));
    eprintln!("shards gone {} ms after the agent", t.elapsed().as_millis());
    assert!(gone.is_some(), "shards {pids:?} outlived the agent");
    assert!(!pings(7925));
    assert!(
        sockets.iter().all(|s| !pings_socket(s)),
        "a shard still answers on its socket"
    );
}

#[test]
fn a_crash_loop_backs_off_while_the_others_serve() {
    let _s = serial();
    // A regular file where shard 1's appendonlydir must be: it cannot create its AOF
    // directory, so it exits as soon as it starts.
    let dir = temp_dir("crashloop");
    let shard1 = dir.join("data").join("default").join("shard-1");
    std::fs::create_dir_all(&shard1).unwrap();
    let blocker = write_file(&shard1, "appendonlydir", "not a directory");
    let agent = Agent::spawn_in(dir, 7932, &[], &["--shards", "2", "--port", "7930"], &[]);
    agent.wait_admin();
    let mut delays = Vec::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(4) {
        let st = agent.status();
        if let Some(d) = st["shards"][1]["backoff_ms"].as_u64() {
            if delays.last() != Some(&d) {
                delays.push(d);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("backoff delays seen: {delays:?}");
    let restarts = agent.status()["shards"][1]["restarts"].as_u64().unwrap();
    // 0, ~100, ~200, ~400, ~800, ~1600 ms: a handful in 4 s, not hundreds.
    assert!((3..=10).contains(&restarts), "restarts {restarts}");
    let nonzero: Vec<u64> = delays.iter().copied().filter(|&d| d > 0).collect();
    assert!(nonzero.len() >= 3, "{delays:?}");
    assert!(
        nonzero.windows(2).all(|w| w[1] > w[0]),
        "delays grow: {delays:?}"
    );
    assert_eq!(agent.get("/readyz").0, 503);
    let sockets = agent.shard_sockets();
    assert!(pings_socket(&sockets[0]), "the healthy shard serves");
    assert!(!pings_socket(&sockets[1]), "the failing shard does not");
    assert_eq!(agent.status()["shards"][0]["restarts"], 0);
    // Through the proxy, a key on the healthy shard is served.
    let map = shoal_proto::SlotMap::even(2);
    let key_on = |shard: usize| {
        (0..)
            .map(|i| format!("k{i}"))
            .find(|k| map.key_owner(k.as_bytes()) == shard)
            .unwrap()
    };
    assert_eq!(redis(7930, &["SET", &key_on(0), "v"]).unwrap(), "+OK");
    // Once the way is clear the shard comes up and the agent turns ready.
    std::fs::remove_file(blocker).unwrap();
    agent.wait_ready(Duration::from_secs(10));
    assert!(pings_socket(&sockets[1]));
    assert_eq!(redis(7930, &["SET", &key_on(1), "v"]).unwrap(), "+OK");
}

#[test]
fn sigterm_stops_everything_and_exits_zero() {
    let _s = serial();
    let dir = temp_dir("sigterm-conf");
    let conf = write_file(
        &dir,
        "shoal.toml",
        "shutdown_timeout = \"2s\"\nshards = 2\n[[database]]\nport = 7935\n",
    );
    let mut agent = Agent::spawn(
        "sigterm",
        7937,
        &[],
        &["--config", conf.to_str().unwrap()],
        &[],
    );
    agent.wait_ready(Duration::from_secs(10));
    let pids: Vec<i32> = agent.shards().iter().map(|s| s.0.unwrap()).collect();
    agent.signal(15);
    let (status, took) = agent
        .wait_exit(Duration::from_secs(3))
        .expect("agent exits");
    eprintln!("graceful shutdown: {} ms", took.as_millis());
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(2));
    assert!(pids.iter().all(|&p| !running(p)));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_stuck_shard_is_killed_at_the_shutdown_deadline() {
    let _s = serial();
    let dir = temp_dir("stuck-conf");
    let conf = write_file(
        &dir,
        "shoal.toml",
        "shutdown_timeout = \"1s\"\nshards = 2\n[[database]]\nport = 7938\n",
    );
    let mut agent = Agent::spawn(
        "stuck",
        7940,
        &[],
        &["--config", conf.to_str().unwrap()],
        &[],
    );
    agent.wait_ready(Duration::from_secs(10));
    let pids: Vec<i32> = agent.shards().iter().map(|s| s.0.unwrap()).collect();
    // A stopped process cannot act on SIGTERM; only SIGKILL ends it.
    unsafe_free_kill(pids[0], 19);
    agent.signal(2);
    let (status, took) = agent
        .wait_exit(Duration::from_secs(3))
        .expect("agent exits");
    eprintln!("shutdown with a stuck shard: {} ms", took.as_millis());
    assert_eq!(status.code(), Some(0));
    assert!(took <= Duration::from_millis(1100), "{took:?}");
    assert!(
        took >= Duration::from_millis(800),
        "waited for the shard: {took:?}"
    );
    assert!(pids.iter().all(|&p| !running(p)));
    assert!(agent.log().contains("did not stop in time"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_hung_shard_is_not_ready_until_it_answers_again() {
    let _s = serial();
    let agent = Agent::start("hung", 7944, &["--shards", "2", "--port", "7942"]);
    let pid = agent.shards()[0].0.unwrap();
    unsafe_free_kill(pid, 19); // SIGSTOP
                               // Noticed at the next INFO scrape (every 5 s) once its 2 s timeout passes.
    let noticed = wait_until(Duration::from_secs(10), || agent.get("/readyz").0 == 503);
    assert!(noticed.is_some(), "log:\n{}", agent.log());
    assert_eq!(agent.status()["shards"][0]["state"], "starting");
    assert_eq!(agent.shards()[0].0, Some(pid), "not restarted");
    unsafe_free_kill(pid, 18); // SIGCONT
    agent.wait_ready(Duration::from_secs(5));
    assert_eq!(agent.status()["shards"][0]["restarts"], 0);
}
