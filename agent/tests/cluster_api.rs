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

    // The proxy port describes the same shards, so a cluster client may start there.
    let at_proxy = whole_reply(PORT, &["CLUSTER", "SLOTS"]);
    assert!(
        at_proxy.starts_with("*4\r\n*3\r\n:0\r\n:4095\r\n"),
        "{at_proxy}"
    );
    assert_eq!(at_proxy, whole_reply(PORT + 2, &["CLUSTER", "SLOTS"]));
    let nodes = whole_reply(PORT, &["CLUSTER", "NODES"]);
    assert_eq!(nodes.matches(" master - ").count(), 4, "{nodes}");
    assert!(
        !nodes.contains("myself"),
        "the proxy serves no slot itself: {nodes}"
    );
    assert!(whole_reply(PORT, &["CLUSTER", "INFO"]).contains("cluster_state:ok"));
    assert_eq!(whole_reply(PORT, &["READONLY"]), "+OK\r\n");
    assert_eq!(whole_reply(PORT, &["SET", "{x}1", "v"]), "+OK\r\n");
    let slot = shoal_slot("x");
    assert_eq!(
        whole_reply(PORT, &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]),
        ":1\r\n",
        "counted by the shard owning the slot"
    );

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

/// True once `buf` holds a whole bulk string reply (`$len\r\n…\r\n`).
fn bulk_complete(buf: &[u8]) -> bool {
    let text = String::from_utf8_lossy(buf);
    let Some((head, _)) = text.strip_prefix('$').and_then(|t| t.split_once("\r\n")) else {
        return false;
    };
    head.parse::<usize>()
        .is_ok_and(|len| buf.len() >= 1 + head.len() + 2 + len + 2)
}

/// Sends one command and reads a whole bulk reply, or until the server has been quiet
/// for 500 ms.
fn whole_reply(port: u16, args: &[&str]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if bulk_complete(&out) {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The hash slot of `key` as the shards compute it (CLUSTER KEYSLOT on shard 0).
fn shoal_slot(key: &str) -> u16 {
    let r = whole_reply(PORT + 1, &["CLUSTER", "KEYSLOT", key]);
    r.trim_start_matches(':').trim().parse().unwrap()
}
