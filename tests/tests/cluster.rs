//! `shoal shard` in cluster mode against a Redis 7.0 cluster node: CLUSTER replies,
//! -MOVED, -CROSSSLOT, and no redirection on the Unix socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use shoal_tests::client::RawClient;
use shoal_tests::resp::{self, Reply};
use shoal_tests::server::ChildServer;
use shoal_tests::{RedisServer, Shard};

const ME: &str = "0123456789abcdef0123456789abcdef01234567";
const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba98";

/// A shard owning `slots` of a two-node database whose other node is 127.0.0.1:1.
fn shard(slots: &str, other: &str, extra: &[&str]) -> ChildServer {
    let (slots, other) = (slots.to_string(), other.to_string());
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    Shard::start_for_port(move |port| {
        let mut nodes = format!("{ME},127.0.0.1,{port},{slots}");
        if !other.is_empty() {
            nodes.push_str(&format!(";{OTHER},127.0.0.1,1,{other}"));
        }
        let mut args = vec![
            "--cluster-nodes".to_string(),
            nodes,
            "--cluster-myid".to_string(),
            ME.to_string(),
        ];
        args.extend(extra.iter().cloned());
        args
    })
}

/// A Redis cluster node owning every slot, once it says `cluster_state:ok`.
fn redis_cluster() -> ChildServer {
    let r = RedisServer::start_with(&["--cluster-enabled", "yes"]);
    let mut c = r.connect();
    assert_eq!(
        c.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]),
        Reply::Simple(b"OK".to_vec())
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = c.cmd(&["CLUSTER", "INFO"]);
        if String::from_utf8_lossy(info.as_bytes().unwrap_or_default()).contains("cluster_state:ok")
        {
            return r;
        }
        assert!(Instant::now() < deadline, "redis cluster never became ok");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn err(text: &str) -> Reply {
    Reply::Error(text.as_bytes().to_vec())
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(r.as_bytes().unwrap_or_default()).into_owned()
}

/// The names of an INFO-style text's fields.
fn fields(r: &Reply) -> Vec<String> {
    let t = text(r);
    let t = t.strip_prefix("txt:").unwrap_or(&t).to_string();
    t.lines()
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
        .collect()
}

/// The keys of a map, or of a RESP2 flat key-value array.
fn map_keys(r: &Reply) -> Vec<Reply> {
    match r {
        Reply::Map(pairs) => pairs.iter().map(|(k, _)| k.clone()).collect(),
        Reply::Array(v) => v.iter().step_by(2).cloned().collect(),
        other => panic!("not a map: {other:?}"),
    }
}

#[test]
fn standalone_shard_has_cluster_support_disabled() {
    let s = Shard::start();
    let r = RedisServer::start();
    let (mut s, mut r) = (s.connect(), r.connect());
    for cmd in [
        &["CLUSTER", "INFO"][..],
        &["CLUSTER", "SLOTS"],
        &["CLUSTER", "KEYSLOT", "foo"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
    ] {
        let want = r.cmd(cmd);
        assert_eq!(want, err("ERR This instance has cluster support disabled"));
        assert_eq!(s.cmd(cmd), want, "{cmd:?}");
    }
    assert_eq!(s.cmd(&["GET", "foo"]), Reply::NullBulk);
}

#[test]
fn cluster_replies_have_redis_shapes() {
    let ours = shard("0-16383", "", &[]);
    let redis = redis_cluster();
    for proto in ["2", "3"] {
        let (mut s, mut r) = (ours.connect(), redis.connect());
        assert!(!s.cmd(&["HELLO", proto]).is_error());
        assert!(!r.cmd(&["HELLO", proto]).is_error());
        let (a, b) = (s.cmd(&["CLUSTER", "SLOTS"]), r.cmd(&["CLUSTER", "SLOTS"]));
        assert_eq!(
            a.shape(),
            b.shape(),
            "CLUSTER SLOTS over RESP{proto}: {a:?} vs {b:?}"
        );
        let row = &a.as_items().unwrap()[0].as_items().unwrap()[..];
        assert_eq!(row[0], Reply::Int(0));
        assert_eq!(row[1], Reply::Int(16383));
        let node = row[2].as_items().unwrap();
        assert_eq!(node[0], Reply::Bulk(b"127.0.0.1".to_vec()));
        assert_eq!(node[1], Reply::Int(i64::from(ours.port())));
        assert_eq!(node[2], Reply::Bulk(ME.as_bytes().to_vec()));

        let (a, b) = (s.cmd(&["CLUSTER", "SHARDS"]), r.cmd(&["CLUSTER", "SHARDS"]));
        assert_eq!(
            a.shape(),
            b.shape(),
            "CLUSTER SHARDS over RESP{proto}: {a:?} vs {b:?}"
        );
        let shard_of = |r: &Reply| match r {
            Reply::Array(v) => v[0].clone(),
            other => panic!("{other:?}"),
        };
        let node_of = |shard: &Reply| {
            let nodes = match shard {
                Reply::Map(p) => p[1].1.clone(),
                Reply::Array(v) => v[3].clone(),
                other => panic!("{other:?}"),
            };
            nodes.as_items().unwrap()[0].clone()
        };
        assert_eq!(map_keys(&shard_of(&a)), map_keys(&shard_of(&b)));
        assert_eq!(
            map_keys(&node_of(&shard_of(&a))),
            map_keys(&node_of(&shard_of(&b)))
        );

        for cmd in [
            &["CLUSTER", "INFO"][..],
            &["CLUSTER", "NODES"],
            &["CLUSTER", "MYID"],
        ] {
            // Bulk in RESP2, verbatim text in RESP3 (whose payload `shape` keeps).
            let (a, b) = (s.cmd(cmd), r.cmd(cmd));
            assert_eq!(
                std::mem::discriminant(&a),
                std::mem::discriminant(&b),
                "{cmd:?}: {a:?} vs {b:?}"
            );
        }
        let (a, b) = (s.cmd(&["CLUSTER", "INFO"]), r.cmd(&["CLUSTER", "INFO"]));
        assert_eq!(fields(&a), fields(&b));
        assert!(text(&a).contains("cluster_state:ok\r\ncluster_slots_assigned:16384\r\n"));
        let (a, b) = (s.cmd(&["CLUSTER", "NODES"]), r.cmd(&["CLUSTER", "NODES"]));
        let (a, b) = (text(&a), text(&b));
        let cols = |t: &str| -> Vec<String> { t.split(' ').map(str::to_string).collect() };
        let (ca, cb) = (cols(&a), cols(&b));
        assert_eq!(ca.len(), cb.len(), "{a:?} vs {b:?}");
        assert_eq!(ca[0].trim_start_matches("txt:"), ME);
        assert_eq!(ca[1], format!("127.0.0.1:{}@0", ours.port()));
        assert_eq!(ca[2..4], cb[2..4], "flags and master");
        assert_eq!(ca[7..], cb[7..], "link state and slots");
        assert_eq!(
            s.cmd(&["CLUSTER", "MYID"]),
            Reply::Bulk(ME.as_bytes().to_vec())
        );
    }
}

#[test]
fn slot_commands_match_redis() {
    let ours = shard("0-16383", "", &[]);
    let redis = redis_cluster();
    let (mut s, mut r) = (ours.connect(), redis.connect());
    for c in [&mut s, &mut r] {
        for k in ["{a}1", "{a}2", "{a}3", "b", "{b}x"] {
            assert_eq!(c.cmd(&["SET", k, "v"]), Reply::Simple(b"OK".to_vec()));
        }
    }
    let slot_a = resp_int(&mut r, &["CLUSTER", "KEYSLOT", "a"]).to_string();
    let cmds: Vec<Vec<String>> = [
        vec!["CLUSTER", "KEYSLOT", "foo"],
        vec!["CLUSTER", "KEYSLOT", "{user1000}.following"],
        vec!["CLUSTER", "KEYSLOT", ""],
        vec!["CLUSTER", "COUNTKEYSINSLOT", &slot_a],
        vec!["CLUSTER", "COUNTKEYSINSLOT", "0"],
        vec!["CLUSTER", "COUNTKEYSINSLOT", "16384"],
        vec!["CLUSTER", "COUNTKEYSINSLOT", "-1"],
        vec!["CLUSTER", "COUNTKEYSINSLOT", "x"],
        vec!["CLUSTER", "GETKEYSINSLOT", &slot_a, "0"],
        vec!["CLUSTER", "GETKEYSINSLOT", &slot_a, "-1"],
        vec!["CLUSTER", "GETKEYSINSLOT", "16384", "1"],
        vec!["CLUSTER", "GETKEYSINSLOT", "1", "x"],
        vec!["CLUSTER", "KEYSLOT"],
        vec!["READONLY"],
        vec!["READWRITE"],
        vec!["ASKING"],
        vec!["MSET", "a", "1", "b", "2"],
        vec!["MGET", "{a}1", "{a}2"],
        vec!["DEL", "{a}1", "b"],
        vec!["SELECT", "1"],
        vec!["SELECT", "0"],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    for cmd in &cmds {
        assert_eq!(s.cmd(cmd), r.cmd(cmd), "{cmd:?}");
    }
    let get = |c: &mut RawClient| {
        let mut keys = c
            .cmd(&["CLUSTER", "GETKEYSINSLOT", &slot_a, "10"])
            .as_items()
            .unwrap()
            .to_vec();
        keys.sort();
        keys
    };
    assert_eq!(get(&mut s).len(), 3);
    assert_eq!(get(&mut s), get(&mut r));
    // A transaction over two slots fails at EXEC, as in Redis.
    for c in [&mut s, &mut r] {
        c.cmd(&["MULTI"]);
        c.cmd(&["SET", "{a}1", "x"]);
        c.cmd(&["SET", "b", "x"]);
    }
    let want = r.cmd(&["EXEC"]);
    assert_eq!(
        want,
        err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(s.cmd(&["EXEC"]), want);
    assert_eq!(
        s.cmd(&["EXEC"]),
        r.cmd(&["EXEC"]),
        "the transaction is gone"
    );
    let info = s.cmd(&["INFO", "cluster"]);
    assert!(text(&info).contains("cluster_enabled:1"), "{info:?}");
}

fn resp_int(c: &mut RawClient, cmd: &[&str]) -> i64 {
    c.cmd(cmd).as_int().unwrap()
}

#[test]
fn other_shards_slots_are_moved() {
    // foo is in slot 12182, bar in 5061.
    let dir = tempdir_socket();
    let sock = dir.join("s.sock");
    let sock_arg = sock.to_string_lossy().into_owned();
    let ours = shard("0-8191", "8192-16383", &["--unixsocket", &sock_arg]);
    let mut c = ours.connect();
    let moved = err("MOVED 12182 127.0.0.1:1");
    assert_eq!(c.cmd(&["GET", "foo"]), moved);
    assert_eq!(c.cmd(&["SET", "foo", "1"]), moved);
    assert_eq!(c.cmd(&["SET", "bar", "1"]), Reply::Simple(b"OK".to_vec()));
    assert_eq!(c.cmd(&["MGET", "foo", "{foo}x"]), moved);
    assert_eq!(
        c.cmd(&["MGET", "foo", "bar"]),
        err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    // Commands without keys are this shard's to run.
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(1));
    assert_eq!(c.cmd(&["PING"]), Reply::Simple(b"PONG".to_vec()));
    assert_eq!(
        c.cmd(&["SPUBLISH", "foo", "m"]),
        moved,
        "shard channels route like keys"
    );
    // Inside MULTI a redirection dooms the transaction.
    c.cmd(&["MULTI"]);
    assert_eq!(c.cmd(&["SET", "foo", "1"]), moved);
    let exec = c.cmd(&["EXEC"]);
    assert!(text_err(&exec).starts_with("EXECABORT"), "{exec:?}");
    let info = c.cmd(&["CLUSTER", "INFO"]);
    assert!(text(&info).contains("cluster_known_nodes:2\r\ncluster_size:2\r\n"));

    // The proxy's Unix socket is never redirected: it already routed the command.
    let mut u = UnixStream::connect(&sock).unwrap();
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o700
    );
    u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    u.write_all(&resp::encode_command(&["SET", "foo", "via-socket"]))
        .unwrap();
    u.write_all(&resp::encode_command(&["MGET", "foo", "bar"]))
        .unwrap();
    let want = b"+OK\r\n*2\r\n$10\r\nvia-socket\r\n$1\r\n1\r\n";
    let mut got = vec![0u8; want.len()];
    u.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    let _ = std::fs::remove_dir_all(dir);
}

fn text_err(r: &Reply) -> String {
    match r {
        Reply::Error(e) => String::from_utf8_lossy(e).into_owned(),
        other => format!("{other:?}"),
    }
}

/// A short directory for a Unix socket (paths are limited to 107 bytes).
fn tempdir_socket() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("shoal-cl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn bad_topologies_are_a_usage_error() {
    let bin = shoal_tests::shoal_bin();
    for (nodes, myid) in [
        (format!("{ME},127.0.0.1,7000,0-100"), ME),
        (format!("{ME},127.0.0.1,7000,0-16383"), OTHER),
        ("x".to_string(), ME),
    ] {
        let out = std::process::Command::new(&bin)
            .args([
                "shard",
                "--port",
                "0",
                "--cluster-nodes",
                &nodes,
                "--cluster-myid",
                myid,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{nodes}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--cluster-nodes"));
    }
}
