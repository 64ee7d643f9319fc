//! Configuration mistakes exit 64 and name the key; `config default` is a valid file;
//! `shoal health` answers for a container HEALTHCHECK.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn shoal(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(SHOAL);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn config_default_passes_config_check() {
    let out = shoal(&["config", "default"], &[]);
    assert!(out.status.success());
    let dir = temp_dir("default-conf");
    let file = write_file(&dir, "shoal.toml", &String::from_utf8(out.stdout).unwrap());
    let check = shoal(&["config", "check", file.to_str().unwrap()], &[]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert!(String::from_utf8_lossy(&check.stdout).contains("ok (1 database)"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_configs_exit_64_naming_the_key() {
    let dir = temp_dir("bad-conf");
    let cases = [
        (
            "[[database]]\nport = 7000\n[[database]]\nname = \"b\"\nport = 70000\n",
            "database[1].port: 70000 is not a valid port (1-65535)",
        ),
        ("shards = 0\n", "shards: 0 is not a valid shard count"),
        ("colour = \"blue\"\n", "unknown field `colour`"),
        (
            "[[database]]\nappendfsync = \"often\"\n",
            "database[0].appendfsync: \"often\"",
        ),
        ("shutdown_timeout = \"soon\"\n", "shutdown_timeout: "),
        ("bind = [\n", "TOML parse error"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let file = write_file(&dir, &format!("bad{i}.toml"), text);
        let path = file.to_str().unwrap();
        let check = shoal(&["config", "check", path], &[]);
        assert_eq!(check.status.code(), Some(64), "check {text:?}");
        assert!(
            stderr(&check).contains(want),
            "check {text:?}: {}",
            stderr(&check)
        );
        // The agent refuses the same file before starting anything.
        let run = shoal(&["--config", path, "--admin-port", "7960"], &[]);
        assert_eq!(run.status.code(), Some(64), "run {text:?}");
        assert!(
            stderr(&run).contains(want),
            "run {text:?}: {}",
            stderr(&run)
        );
    }
    let missing = shoal(&["config", "check", "/nonexistent/shoal.toml"], &[]);
    assert_eq!(missing.status.code(), Some(64));
    assert!(stderr(&missing).contains("/nonexistent/shoal.toml"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_environment_and_flags_exit_64() {
    let o = shoal(&["--admin-port", "7961"], &[("SHOAL_PORT", "70000")]);
    assert_eq!(o.status.code(), Some(64));
    assert!(
        stderr(&o).contains("SHOAL_PORT: 70000 is not a valid port (1-65535)"),
        "{}",
        stderr(&o)
    );
    let o = shoal(&["--admin-port", "7961"], &[("SHOAL_SHARDS", "lots")]);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("SHOAL_SHARDS"));
    let o = shoal(&["--shards", "zero"], &[]);
    assert_eq!(o.status.code(), Some(64));
    assert!(stderr(&o).contains("--shards"), "{}", stderr(&o));
    // Cluster-API shard ports past 65535 are only known once counts are: still a usage
    // error.
    let dir = temp_dir("cluster-ports");
    let file = write_file(&dir, "shoal.toml", "[[database]]\ncluster_api = true\n");
    let o = shoal(
        &[
            "--config",
            file.to_str().unwrap(),
            "--port",
            "65534",
            "--shards",
            "2",
            "--admin-port",
            "7961",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(64));
    assert!(
        stderr(&o).contains("database[0].port: 65534 with 2 cluster_api shards"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn environment_overrides_flags() {
    let _s = serial();
    // The flag says 7962; the environment wins with 7963.
    let a = Agent::spawn(
        "env",
        7965,
        &[],
        &["--shards", "1", "--port", "7962"],
        &[
            ("SHOAL_PORT", "7963"),
            ("SHOAL_LOG_FORMAT", "json"),
            ("SHOAL_LOG_LEVEL", "info"),
        ],
    );
    a.wait_ready(Duration::from_secs(10));
    // The database port is the proxy's; the shard itself has no TCP port.
    assert_eq!(a.shards()[0].1, None);
    assert!(pings(7963));
    assert!(!pings(7962), "the flag's port is not used");
    let line = a.log().lines().next().unwrap_or("").to_string();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "INFO");
}

#[test]
fn health_reports_readiness() {
    let _s = serial();
    let down = shoal(&["health", "--admin-port", "7969"], &[]);
    assert_eq!(down.status.code(), Some(1));
    let a = Agent::start("health", 7969, &["--shards", "1", "--port", "7968"]);
    let up = shoal(&["health", "--admin-port", "7969"], &[]);
    assert_eq!(
        up.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&up.stdout)
    );
    let live = shoal(&["health", "--live"], &[("SHOAL_ADMIN_PORT", "7969")]);
    assert_eq!(live.status.code(), Some(0));
    drop(a);
}
