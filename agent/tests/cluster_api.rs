//! `cluster_api = true`: each shard also listens on TCP in Redis Cluster mode, and a
//! cluster-aware client (redis-py's RedisCluster) routes by slot across them without
//! a single error. Ports 26500-26519.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const PORT: u16 = 26500;
const ADMIN: u16 = 26510;

fn start(tag: &str) -> Agent {
    let dir = temp_dir(tag);
    let conf = write_file(
        &dir,
        "shoal.toml",
        &format!(
            "[[database]]\nport = {PORT}\nshards = 4\ncluster_api = true\nappendonly = false\n"
        ),
    );
    let a = Agent::spawn_in(
        dir.clone(),
        ADMIN,
        &[],
        &["--config", conf.to_str().unwrap()],
        &[],
    );
    a.wait_ready(Duration::from_secs(20));
    a
}

#[test]
fn redis_py_cluster_client_runs_mixed_ops_without_error() {
    let _s = serial();
    let agent = start("cluster-api");
    // Shard i listens on PORT + 1 + i, in cluster mode.
    for i in 0..4u16 {
        assert!(pings(PORT + 1 + i), "shard {i}; log:\n{}", agent.log());
    }
    let slots = redis(PORT + 1, &["CLUSTER", "INFO"]).unwrap();
    assert!(slots.starts_with('$'), "{slots}");
    let moved = redis(PORT + 1, &["GET", "foo"]).unwrap();
    // foo is slot 12182: the third shard's (8192-12287), on PORT + 1 + 2.
    assert_eq!(moved, format!("-MOVED 12182 127.0.0.1:{}", PORT + 3));

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cluster_api/mixed_ops.py"
    );
    let out = Command::new("python3")
        .args([script, "127.0.0.1", &(PORT + 1).to_string(), "10000"])
        .output()
        .expect("run python3 (scripts/test installs it with redis-py)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-py run failed: {stdout}\n{stderr}\nagent log:\n{}",
        agent.log()
    );
    eprintln!("redis-py RedisCluster: {}", stdout.trim());
    assert!(stdout.contains("ops=10000 errors=0"), "{stdout}");
    assert!(stdout.contains("nodes=4"), "{stdout}");
    // Every shard got keys: the client really routed across all four.
    let per_node = stdout.split("keys_per_node=").nth(1).unwrap_or("").trim();
    let counts: Vec<u64> = per_node.split(',').filter_map(|n| n.parse().ok()).collect();
    assert_eq!(counts.len(), 4, "{stdout}");
    assert!(counts.iter().all(|&n| n > 100), "{stdout}");
}
