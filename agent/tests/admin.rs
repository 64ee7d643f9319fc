//! The admin endpoints, systemd notification and multi-database layout on the real binary.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn metrics_pass_promtool() {
    let _s = serial();
    let a = Agent::start("promtool", 7972, &["--shards", "2", "--port", "7970"]);
    let (code, body) = a.get("/metrics");
    assert_eq!(code, 200);
    for name in [
        "shoal_shard_restarts_total",
        "shoal_shard_up",
        "shoal_ready 1",
    ] {
        assert!(body.contains(name), "{name} missing:\n{body}");
    }
    // Every series names its database first; the only other labels are the shard, the
    // command name, the rejection reason or a histogram bucket, never anything a client
    // chose such as a key.
    for line in body
        .lines()
        .filter(|l| l.starts_with("shoal_") && l.contains('{'))
    {
        let labels = &line[line.find('{').unwrap() + 1..line.find('}').unwrap()];
        assert!(labels.starts_with("database=\"default\""), "{line}");
        for label in labels.split(',').skip(1) {
            let name = label.split('=').next().unwrap();
            assert!(
                ["shard", "command", "reason", "le"].contains(&name),
                "{line}"
            );
        }
    }
    // scripts/test installs promtool (Debian's prometheus package); a missing one is a
    // broken test setup, not a reason to pass.
    let promtool = std::path::Path::new("/usr/bin/promtool");
    assert!(
        promtool.exists(),
        "promtool is not installed (apt-get install prometheus)"
    );
    let file = write_file(&a.dir, "metrics.txt", &body);
    let out = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn readiness_is_sent_to_notify_socket() {
    let _s = serial();
    let dir = temp_dir("notify-sock");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let a = Agent::spawn(
        "notify",
        7975,
        &[],
        &["--shards", "2", "--port", "7973"],
        &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())],
    );
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.starts_with("READY=1"), "{msg}");
    // READY=1 comes only once every shard answers.
    assert_eq!(a.get("/readyz").0, 200);
    a.signal(15);
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn databases_get_their_own_dirs_ports_and_passwords() {
    let _s = serial();
    let dir = temp_dir("multi-conf");
    let conf = write_file(
        &dir,
        "shoal.toml",
        "[[database]]\nname = \"cache\"\nport = 7976\nshards = 2\nmaxmemory = \"64mb\"\n\
         maxmemory_policy = \"allkeys-lru\"\n\
         [[database]]\nname = \"queue\"\nport = 7979\nshards = 1\npassword = \"s3cret\"\n",
    );
    let a = Agent::spawn(
        "multi",
        7980,
        &[],
        &["--config", conf.to_str().unwrap()],
        &[],
    );
    a.wait_ready(Duration::from_secs(10));
    let st = a.status();
    let shards = st["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3);
    assert_eq!(shards[2]["database"], "queue");
    let data = a.dir.join("data");
    for d in ["cache/shard-0", "cache/shard-1", "queue/shard-0"] {
        assert!(data.join(d).is_dir(), "{d}");
    }
    let run = std::fs::metadata(data.join("run")).unwrap();
    assert_eq!(run.permissions().mode() & 0o777, 0o700);
    // The password protects the shard (and the agent's own probe got through it).
    assert!(redis(7979, &["PING"]).unwrap().starts_with("-NOAUTH"));
    assert!(pings(7976));
    // ... and is not on any command line.
    let pid = shards[2]["pid"].as_i64().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("s3cret"));
    // Each cache shard gets half of the database's maxmemory.
    let pid0 = shards[0]["pid"].as_i64().unwrap();
    let cmd0 = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid0}/cmdline")).unwrap())
        .replace('\0', " ");
    assert!(
        cmd0.contains(&format!("--maxmemory {}", (64u64 << 20) / 2)),
        "{cmd0}"
    );
    assert!(cmd0.contains("--maxmemory-policy allkeys-lru"), "{cmd0}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn livez_and_status_answer_while_shards_start() {
    let _s = serial();
    let a = Agent::spawn(
        "livez",
        7983,
        &[],
        &["run", "--shards", "1", "--port", "7982"],
        &[],
    );
    a.wait_admin();
    assert_eq!(a.get("/livez").0, 200);
    a.wait_ready(Duration::from_secs(10));
    let st = a.status();
    assert_eq!(st["ready"], true);
    assert_eq!(st["shards"][0]["state"], "up");
    assert!(st["shards"][0]["cpu"].is_u64());
    assert_eq!(a.get("/nothing").0, 404);
}
