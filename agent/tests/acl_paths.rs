//! Security of every command path, on the real binary: ACL users through each kind of
//! proxy route (plain, split, fan-out, MULTI, scripts, pub/sub, blocking), the same users
//! on the shards' own TCP ports (`cluster_api`), no key names in logs or metrics, and
//! owner-only Unix sockets between the agent and its shards.
//! Ports 32000-32499.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::Duration;

use common::{serial, write_file, Agent};
use shoal_proto::reply_scan::reply_len;

const NOPERM_KEY: &str =
    "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";
const NOPERM_CHANNEL: &str =
    "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n";

fn noperm_cmd(name: &str) -> String {
    format!("-NOPERM this user has no permissions to run the '{name}' command\r\n")
}

struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(ip: IpAddr, port: u16) -> Raw {
        let s = TcpStream::connect((ip, port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { s, buf: Vec::new() }
    }

    fn tcp(port: u16) -> Raw {
        Raw::connect(IpAddr::from([127, 0, 0, 1]), port)
    }

    fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.s.write_all(&out).unwrap();
    }

    fn try_read(&mut self) -> Option<String> {
        loop {
            if let Some(n) = reply_len(&self.buf).unwrap() {
                let f: Vec<u8> = self.buf.drain(..n).collect();
                return Some(String::from_utf8_lossy(&f).into_owned());
            }
            let mut chunk = [0u8; 65536];
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        self.send(args);
        self.try_read().expect("connection closed")
    }

    /// Everything the server sends before it closes the connection.
    fn rest(&mut self) -> String {
        let mut all = std::mem::take(&mut self.buf);
        let _ = self.s.read_to_end(&mut all);
        String::from_utf8_lossy(&all).into_owned()
    }
}

fn start_with(tag: &str, admin: u16, toml: &str, env: &[(&str, &str)]) -> Agent {
    let dir = common::temp_dir(tag);
    let file = write_file(&dir, "shoal.toml", toml);
    let mut all = vec![("SHOAL_APPENDFSYNC", "no")];
    all.extend_from_slice(env);
    let a = Agent::spawn_in(dir, admin, &[], &["--config", file.to_str().unwrap()], &all);
    a.wait_ready(Duration::from_secs(20));
    a
}

/// A key named `{prefix}{n}` whose slot is in `range`.
fn key_in(prefix: &str, range: std::ops::Range<u16>) -> String {
    (0..10_000)
        .map(|n| format!("{prefix}{n}"))
        .find(|k| range.contains(&shoal_proto::key_hash_slot(k.as_bytes())))
        .unwrap()
}

const SCRIPT_KEY_DENIED: &str = "-ERR The user executing the script can't access at least one of the keys mentioned in the command arguments";
const SCRIPT_CMD_DENIED: &str =
    "-ERR The user executing the script can't run this command or subcommand";

#[test]
fn every_proxy_path_checks_the_user() {
    let _g = serial();
    let a = start_with(
        "acl-paths",
        32002,
        r#"
[[database]]
port = 32010
shards = 2
password = "pw"
[[database.user]]
name = "app"
rules = "on >apw ~app:* &app:* +@all -@dangerous +sort +sort_ro"
[[database.user]]
name = "ro"
rules = "on >rpw %R~ro:* +@all"
[[database.user]]
name = "news"
rules = "on >npw &news resetkeys +@all"
"#,
        &[],
    );
    let mut admin = Raw::tcp(32010);
    assert_eq!(admin.cmd(&["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(admin.cmd(&["SET", "other", "secret"]), "+OK\r\n");
    let mut u = Raw::tcp(32010);
    assert_eq!(u.cmd(&["AUTH", "app", "apw"]), "+OK\r\n");

    // Plain routed commands.
    assert_eq!(u.cmd(&["SET", "app:1", "a"]), "+OK\r\n");
    assert_eq!(u.cmd(&["GET", "other"]), NOPERM_KEY);
    assert_eq!(u.cmd(&["APPEND", "other", "x"]), NOPERM_KEY);

    // Split commands: one key outside the patterns refuses the whole command.
    assert_eq!(u.cmd(&["MSET", "app:2", "b", "app:3", "c"]), "+OK\r\n");
    for cmd in [
        &["MSET", "app:1", "a", "other", "b"][..],
        &["MSETNX", "app:9", "a", "other", "b"],
        &["MGET", "app:1", "other"],
        &["DEL", "app:1", "other"],
        &["UNLINK", "other", "app:1"],
        &["EXISTS", "app:1", "other"],
        &["TOUCH", "app:1", "other"],
    ] {
        assert_eq!(u.cmd(cmd), NOPERM_KEY, "{cmd:?}");
    }
    assert_eq!(admin.cmd(&["GET", "other"]), "$6\r\nsecret\r\n");
    assert_eq!(u.cmd(&["EXISTS", "app:1", "app:2", "app:3"]), ":3\r\n");

    // Fan-out commands: the command check (none has key arguments).
    for (cmd, name) in [
        (&["KEYS", "*"][..], "keys"),
        (&["FLUSHALL"], "flushall"),
        (&["FLUSHDB"], "flushdb"),
        (&["INFO"], "info"),
        (&["CONFIG", "SET", "maxclients", "5"], "config|set"),
        (&["CONFIG", "GET", "maxclients"], "config|get"),
    ] {
        assert_eq!(u.cmd(cmd), noperm_cmd(name), "{cmd:?}");
    }
    assert_eq!(u.cmd(&["DBSIZE"]), ":4\r\n");
    assert!(u.cmd(&["SCAN", "0"]).starts_with("*2\r\n"));

    // MULTI: a refused command is not queued and dooms the transaction.
    assert_eq!(u.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(u.cmd(&["SET", "app:1", "x"]), "+QUEUED\r\n");
    assert_eq!(u.cmd(&["GET", "other"]), NOPERM_KEY);
    assert_eq!(u.cmd(&["FLUSHALL"]), noperm_cmd("flushall"));
    assert_eq!(
        u.cmd(&["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(u.cmd(&["GET", "app:1"]), "$1\r\na\r\n");
    assert_eq!(u.cmd(&["WATCH", "other"]), NOPERM_KEY);

    // Scripts: the declared keys, then every redis.call inside against the user.
    let get_other = "return redis.call('get', 'other')";
    assert_eq!(u.cmd(&["EVAL", "return 1", "1", "other"]), NOPERM_KEY);
    assert_eq!(
        u.cmd(&["EVAL", "return redis.call('get', KEYS[1])", "1", "app:1"]),
        "$1\r\na\r\n"
    );
    let r = u.cmd(&["EVAL", get_other, "0"]);
    assert!(r.starts_with(SCRIPT_KEY_DENIED), "{r}");
    let r = u.cmd(&["EVAL", get_other, "1", "app:1"]);
    assert!(r.starts_with(SCRIPT_KEY_DENIED), "{r}");
    let r = u.cmd(&["EVAL", "return redis.call('flushall')", "0"]);
    assert!(r.starts_with(SCRIPT_CMD_DENIED), "{r}");
    let r = u.cmd(&["EVAL_RO", get_other, "0"]);
    assert!(r.starts_with(SCRIPT_KEY_DENIED), "{r}");
    let sha = admin.cmd(&["SCRIPT", "LOAD", get_other]);
    let sha = sha.lines().nth(1).unwrap().to_string();
    let r = u.cmd(&["EVALSHA", &sha, "0"]);
    assert!(r.starts_with(SCRIPT_KEY_DENIED), "{r}");
    assert_eq!(u.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(u.cmd(&["EVAL", get_other, "0"]), "+QUEUED\r\n");
    let r = u.cmd(&["EXEC"]);
    assert!(
        r.starts_with("*1\r\n") && r.contains(&SCRIPT_KEY_DENIED[1..]),
        "{r}"
    );
    // The same script by a user with every permission reads the key (declared, so that
    // it runs on the key's shard).
    assert_eq!(
        admin.cmd(&["EVAL", get_other, "1", "other"]),
        "$6\r\nsecret\r\n"
    );

    // Pub/sub channels; a PSUBSCRIBE pattern must equal a channel rule literally.
    for cmd in [
        &["SUBSCRIBE", "app:a", "news"][..],
        &["PSUBSCRIBE", "news*"],
        &["PSUBSCRIBE", "app:a*"],
        &["SSUBSCRIBE", "news"],
        &["PUBLISH", "news", "m"],
        &["SPUBLISH", "news", "m"],
    ] {
        assert_eq!(u.cmd(cmd), NOPERM_CHANNEL, "{cmd:?}");
    }
    assert_eq!(u.cmd(&["PUBLISH", "app:a", "m"]), ":0\r\n");
    let mut n = Raw::tcp(32010);
    assert_eq!(n.cmd(&["AUTH", "news", "npw"]), "+OK\r\n");
    // A shard channel is no key: a user with channels and no keys may use it.
    assert_eq!(n.cmd(&["SPUBLISH", "news", "m"]), ":0\r\n");
    assert_eq!(n.cmd(&["SPUBLISH", "app:a", "m"]), NOPERM_CHANNEL);
    assert_eq!(
        n.cmd(&["SSUBSCRIBE", "news"]),
        "*3\r\n$10\r\nssubscribe\r\n$4\r\nnews\r\n:1\r\n"
    );
    let mut p = Raw::tcp(32010);
    assert_eq!(p.cmd(&["AUTH", "app", "apw"]), "+OK\r\n");
    assert_eq!(
        p.cmd(&["PSUBSCRIBE", "app:*"]),
        "*3\r\n$10\r\npsubscribe\r\n$5\r\napp:*\r\n:1\r\n"
    );

    // Blocking commands, on their dedicated connections.
    assert_eq!(u.cmd(&["BLPOP", "other", "0.1"]), NOPERM_KEY);
    assert_eq!(u.cmd(&["BLPOP", "app:l", "other", "0.1"]), NOPERM_KEY);
    assert_eq!(
        u.cmd(&["BLMOVE", "app:l", "other", "LEFT", "LEFT", "0.1"]),
        NOPERM_KEY
    );
    assert_eq!(
        u.cmd(&["XREAD", "BLOCK", "10", "STREAMS", "other", "0"]),
        NOPERM_KEY
    );
    assert_eq!(u.cmd(&["BLPOP", "app:l", "0.05"]), "*-1\r\n");

    // SORT's BY and GET patterns name keys that are not arguments: refused for a user
    // who may not read every key, in a script too.
    assert_eq!(u.cmd(&["RPUSH", "app:l", "1", "2"]), ":2\r\n");
    assert_eq!(
        u.cmd(&["SORT", "app:l", "BY", "other*"]),
        "-ERR BY option of SORT denied due to insufficient ACL permissions.\r\n"
    );
    assert_eq!(
        u.cmd(&["SORT_RO", "app:l", "GET", "other"]),
        "-ERR GET option of SORT denied due to insufficient ACL permissions.\r\n"
    );
    let r = u.cmd(&[
        "EVAL",
        "return redis.call('sort', KEYS[1], 'GET', 'other')",
        "1",
        "app:l",
    ]);
    assert!(
        r.starts_with("-ERR GET option of SORT denied due to insufficient ACL permissions."),
        "{r}"
    );
    assert_eq!(
        u.cmd(&["SORT", "app:l", "BY", "nosort"]),
        "*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        admin.cmd(&["SORT", "app:l", "GET", "#"]),
        "*2\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );

    // Read-only key patterns (%R~).
    let mut r = Raw::tcp(32010);
    assert_eq!(r.cmd(&["AUTH", "ro", "rpw"]), "+OK\r\n");
    assert_eq!(r.cmd(&["GET", "ro:1"]), "$-1\r\n");
    assert_eq!(r.cmd(&["SET", "ro:1", "x"]), NOPERM_KEY);
    assert_eq!(r.cmd(&["COPY", "ro:1", "ro:2"]), NOPERM_KEY);
    drop(a);
}

#[test]
fn shard_ports_enforce_users_and_protected_mode() {
    let _g = serial();
    let a = start_with(
        "acl-shards",
        32102,
        r#"
bind = "0.0.0.0"
[[database]]
name = "sec"
port = 32110
shards = 2
cluster_api = true
password = "pw"
[[database.user]]
name = "app"
rules = "on >apw ~app:* &app:* +@all -@dangerous"

[[database]]
name = "open"
port = 32120
shards = 1
cluster_api = true
"#,
        &[],
    );
    // Shard 0 of "sec" listens on 32111 and serves slots 0-8191.
    let mine = key_in("app:", 0..8192);
    let other = key_in("other:", 0..8192);
    let mut s = Raw::tcp(32111);
    assert_eq!(
        s.cmd(&["GET", &mine]),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        s.cmd(&["AUTH", "app", "wrong"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        s.cmd(&["AUTH", "nosuch", "apw"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(s.cmd(&["AUTH", "app", "apw"]), "+OK\r\n");
    assert_eq!(s.cmd(&["ACL", "WHOAMI"]), "$3\r\napp\r\n");
    assert_eq!(s.cmd(&["SET", &mine, "v"]), "+OK\r\n");
    assert_eq!(s.cmd(&["GET", &mine]), "$1\r\nv\r\n");
    assert_eq!(s.cmd(&["SET", &other, "v"]), NOPERM_KEY);
    assert_eq!(s.cmd(&["FLUSHALL"]), noperm_cmd("flushall"));
    assert_eq!(s.cmd(&["PUBLISH", "news", "m"]), NOPERM_CHANNEL);
    let r = s.cmd(&["EVAL", &format!("return redis.call('get', '{other}')"), "0"]);
    assert!(r.starts_with(SCRIPT_KEY_DENIED), "{r}");
    // The refusal is in the shard's ACL LOG, seen by the default user.
    let mut d = Raw::tcp(32111);
    assert_eq!(d.cmd(&["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(d.cmd(&["SET", &other, "x"]), "+OK\r\n");
    // In cluster mode SORT's patterns may not reach other keys, whoever asks.
    assert_eq!(
        d.cmd(&["SORT", &mine, "GET", "#"]),
        "-ERR GET option of SORT denied in Cluster mode.\r\n"
    );
    let log = d.cmd(&["ACL", "LOG"]);
    assert!(
        log.contains("$3\r\nkey\r\n") && log.contains("$3\r\napp\r\n"),
        "{log}"
    );

    // Users are per node: ACL SETUSER on a shard's port changes that shard, and a
    // transaction queued before the change is checked again at EXEC.
    assert_eq!(s.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(s.cmd(&["SET", &mine, "w"]), "+QUEUED\r\n");
    assert_eq!(s.cmd(&["GET", &mine]), "+QUEUED\r\n");
    assert_eq!(d.cmd(&["ACL", "SETUSER", "app", "-set"]), "+OK\r\n");
    assert_eq!(
        s.cmd(&["EXEC"]),
        "*2\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand\r\n$1\r\nv\r\n"
    );
    assert_eq!(Raw::tcp(32112).cmd(&["AUTH", "app", "apw"]), "+OK\r\n");

    // ACL SETUSER through the proxy reaches every shard.
    let mut p = Raw::tcp(32110);
    assert_eq!(p.cmd(&["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(p.cmd(&["ACL", "SETUSER", "app", "~other:*"]), "+OK\r\n");
    let seen = common::wait_until(Duration::from_secs(5), || {
        s.cmd(&["GET", &other]) == "$1\r\nx\r\n"
    });
    assert!(
        seen.is_some(),
        "the shard port never saw the new key pattern"
    );
    assert_eq!(
        p.cmd(&["ACL", "SETUSER", "late", "on", ">lpw", "~*", "+get"]),
        "+OK\r\n"
    );
    let late = common::wait_until(Duration::from_secs(5), || {
        Raw::tcp(32112).cmd(&["AUTH", "late", "lpw"]) == "+OK\r\n"
    });
    assert!(
        late.is_some(),
        "a user made through the proxy reaches shard 1"
    );
    assert_eq!(p.cmd(&["ACL", "DELUSER", "late"]), ":1\r\n");
    let gone = common::wait_until(Duration::from_secs(5), || {
        Raw::tcp(32112)
            .cmd(&["AUTH", "late", "lpw"])
            .starts_with("-WRONGPASS")
    });
    assert!(
        gone.is_some(),
        "ACL DELUSER through the proxy reaches shard 1"
    );

    // Protected mode: "open" has no password, so only loopback clients are served.
    let mut local = Raw::tcp(32121);
    assert_eq!(local.cmd(&["PING"]), "+PONG\r\n");
    let outside: IpAddr = outside_ip();
    let mut far = Raw::connect(outside, 32121);
    let text = far.rest();
    assert!(
        text.starts_with("-DENIED Redis is running in protected mode"),
        "{text}"
    );
    // With a password the shard serves any address (after AUTH).
    let mut far = Raw::connect(outside, 32111);
    assert_eq!(far.cmd(&["AUTH", "pw"]), "+OK\r\n");
    drop(a);
}

/// This machine's address on its default route: not loopback.
fn outside_ip() -> IpAddr {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    s.connect("192.0.2.1:9").unwrap();
    let ip = s.local_addr().unwrap().ip();
    assert!(!ip.is_loopback(), "no non-loopback address");
    ip
}

#[test]
fn no_key_names_in_logs_or_metrics() {
    let _g = serial();
    const KEY: &str = "zebra-ocelot-4711";
    let a = start_with(
        "acl-logs",
        32202,
        "[[database]]\nport = 32210\nshards = 2\n[[database.user]]\nname = \"app\"\nrules = \"on >apw ~app:* +@all\"\n",
        &[("SHOAL_LOG_LEVEL", "info")],
    );
    let mut c = Raw::tcp(32210);
    let k2 = format!("{KEY}-2");
    assert_eq!(c.cmd(&["SET", KEY, "v"]), "+OK\r\n");
    assert_eq!(c.cmd(&["MSET", KEY, KEY, &k2, KEY]), "+OK\r\n");
    assert_eq!(c.cmd(&["MGET", KEY, &k2]).matches(KEY).count(), 2);
    assert!(c.cmd(&["LPUSH", KEY, "x"]).starts_with("-WRONGTYPE"));
    assert!(c
        .cmd(&["EVAL", &format!("return redis.call('get', '{KEY}')"), "0"])
        .starts_with("$"));
    assert!(c
        .cmd(&["EVAL", "return redis.call('lpush', KEYS[1], 'x')", "1", KEY])
        .starts_with("-"));
    assert!(c.cmd(&["SUBSCRIBE", KEY]).contains(KEY));
    let mut u = Raw::tcp(32210);
    assert_eq!(u.cmd(&["AUTH", "app", "apw"]), "+OK\r\n");
    assert_eq!(u.cmd(&["GET", KEY]), NOPERM_KEY);
    assert_eq!(u.cmd(&["BLPOP", KEY, "0.05"]), NOPERM_KEY);
    assert_eq!(u.cmd(&[KEY, KEY]).get(..4), Some("-ERR"));
    let (code, metrics) = a.get("/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("shoal_"), "{metrics}");
    drop(u);
    drop(c);
    // The agent's directory goes with it: read its log first.
    std::thread::sleep(Duration::from_millis(200));
    let log = a.log();
    drop(a);
    assert!(
        log.contains("INFO") || log.contains("info"),
        "info lines are logged: {log}"
    );
    assert!(!log.contains("zebra"), "a key name in the log:\n{log}");
    assert!(!metrics.contains("zebra"), "a key name in /metrics");
}

#[test]
fn unix_sockets_are_owner_only() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let _g = serial();
    let a = start_with(
        "acl-sockets",
        32302,
        "[[database]]\nport = 32310\nshards = 2\n",
        &[],
    );
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    let sockets = a.shard_sockets();
    assert_eq!(sockets.len(), 2);
    let run_dir = sockets[0].parent().unwrap().to_path_buf();
    let mode = std::fs::metadata(&run_dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{}", run_dir.display());
    for s in &sockets {
        let m = std::fs::metadata(s).unwrap();
        assert_eq!(m.permissions().mode() & 0o077, 0, "{}", s.display());
        assert_eq!(m.uid(), me);
        assert!(common::pings_socket(s), "the owner reaches {}", s.display());
    }
    // Another user cannot connect. As root, a child that becomes `nobody` tries.
    if me == 0 {
        let eacces = nix::errno::Errno::EACCES as i32;
        for s in &sockets {
            assert_eq!(try_connect(s, false), Some(0), "{}", s.display());
            assert_eq!(try_connect(s, true), Some(eacces), "{}", s.display());
        }
    }
    drop(a);
}

/// Connects to `path` from a child process, as uid/gid 65534 (`nobody`) when `as_nobody`;
/// the child's exit code is the errno of the attempt (0 if it connected).
fn try_connect(path: &std::path::Path, as_nobody: bool) -> Option<i32> {
    let mut cmd = if as_nobody {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        c.arg("/usr/bin/python3");
        c
    } else {
        std::process::Command::new("/usr/bin/python3")
    };
    let out = cmd
        .arg("-c")
        .arg(
            "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n s.connect(sys.argv[1]); sys.exit(0)\nexcept OSError as e:\n sys.exit(e.errno)",
        )
        .arg(path)
        .output()
        .ok()?;
    out.status.code()
}
