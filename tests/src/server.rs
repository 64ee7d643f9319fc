//! Child servers for tests: a shoal shard or a reference `redis-server`.
//!
//! Each listens on 127.0.0.1 only, on a port nobody else uses: never 6379, where a
//! distribution's own `redis-server` service may be running. A port is chosen by
//! binding it first; another process could still take it before the child binds, so
//! a child that exits during start-up is retried on a fresh port.

use std::env;
use std::fs::{self, File};
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::client::RawClient;
use crate::resp::Reply;

/// How long a child may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Port races are rare; three tries make a flaky start vanishingly unlikely.
const START_ATTEMPTS: usize = 3;

/// A free TCP port on 127.0.0.1.
///
/// With `SHOAL_TEST_PORTS=LO-HI` the port comes from that range; otherwise the kernel
/// picks one from its ephemeral range (which no fixed-port service uses).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let range = env::var("SHOAL_TEST_PORTS").ok().and_then(|r| {
        let (lo, hi) = r.split_once('-')?;
        Some((
            lo.trim().parse::<u16>().ok()?,
            hi.trim().parse::<u16>().ok()?,
        ))
    });
    match range {
        Some((lo, hi)) => {
            // Start at an offset that differs per process, so that concurrent test
            // binaries do not all race for the lowest port.
            let span = u32::from(hi.saturating_sub(lo)) + 1;
            let start = std::process::id() % span;
            for i in 0..span {
                let port = lo + ((start + i) % span) as u16;
                if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                    given.push(port);
                    return port;
                }
            }
            panic!("no free port in SHOAL_TEST_PORTS={lo}-{hi}");
        }
        None => loop {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("bind 127.0.0.1:0")
                .port();
            if !given.contains(&port) {
                given.push(port);
                return port;
            }
        },
    }
}

/// A scratch directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = env::temp_dir().join(format!("shoal-test-{}-{tag}-{n}", std::process::id()));
        // A leftover from a crashed run with the same pid is stale by definition.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running child server, killed on drop.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    port: u16,
    dir: TempDir,
    name: &'static str,
}

impl ChildServer {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A new raw connection to this server.
    pub fn connect(&self) -> RawClient {
        RawClient::connect(self.port)
            .unwrap_or_else(|e| panic!("connect to {} on {}: {e}", self.name, self.port))
    }

    /// The server's log so far (stdout and stderr), for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The child's process id (for /proc measurements).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process is alive.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn start(
        name: &'static str,
        build: impl Fn(u16, &Path) -> Command,
    ) -> Result<ChildServer, String> {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let dir = TempDir::new(name);
            let log = File::create(dir.path().join("server.log"))
                .map_err(|e| format!("create log: {e}"))?;
            let log2 = log.try_clone().map_err(|e| format!("clone log: {e}"))?;
            let mut cmd = build(port, dir.path());
            cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
            let child = cmd
                .spawn()
                .map_err(|e| format!("spawn {name} ({cmd:?}): {e}"))?;
            let mut server = ChildServer {
                child,
                port,
                dir,
                name,
            };
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                Err(e) => last = format!("{name} on port {port}: {e}\n{}", server.log()),
            }
        }
        Err(last)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited during start-up: {status}"));
            }
            if let Ok(mut c) = RawClient::connect(self.port) {
                match c.call(&["PING"]) {
                    Ok(f) if f.reply == Reply::Simple(b"PONG".to_vec()) => return Ok(()),
                    Ok(f) => return Err(format!("PING answered {}", f.escaped())),
                    Err(_) => {}
                }
            }
            if Instant::now() > deadline {
                return Err("no PONG in time".into());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A shoal shard (`shoal shard --port P`) in its own data directory.
pub struct Shard;

impl Shard {
    /// Starts a shard and waits until it answers PING. Panics if it cannot.
    pub fn start() -> ChildServer {
        Shard::start_with(&[])
    }

    /// Like [`Shard::start`], with extra `shoal shard` flags.
    pub fn start_with(extra: &[&str]) -> ChildServer {
        Shard::start_for_port(|_| extra.iter().map(|s| s.to_string()).collect())
    }

    /// Like [`Shard::start_with`], with flags that depend on the shard's port (e.g. a
    /// cluster topology naming it).
    pub fn start_for_port(extra: impl Fn(u16) -> Vec<String>) -> ChildServer {
        let bin = crate::bin::shoal_bin();
        ChildServer::start("shoal", |port, dir| {
            let mut cmd = Command::new(&bin);
            cmd.arg("shard")
                .arg("--port")
                .arg(port.to_string())
                .arg("--bind")
                .arg("127.0.0.1")
                .arg("--data-dir")
                .arg(dir)
                .arg("--log-level")
                .arg("warn")
                .args(extra(port));
            cmd
        })
        .unwrap_or_else(|e| panic!("start shoal shard: {e}"))
    }
}

/// The agent (`shoal run`) with `shards` shards, reached through its proxy port.
pub struct Proxy;

impl Proxy {
    /// Starts the agent and waits until every shard behind its proxy serves (the proxy
    /// answers PING itself, and says -LOADING for a shard still starting). Panics if it
    /// cannot.
    pub fn start(shards: usize) -> ChildServer {
        let bin = crate::bin::shoal_bin();
        let server = ChildServer::start("shoal-agent", |port, dir| {
            let mut cmd = Command::new(&bin);
            cmd.arg("run")
                .arg("--port")
                .arg(port.to_string())
                .arg("--shards")
                .arg(shards.to_string())
                .arg("--admin-port")
                .arg(free_port().to_string())
                .arg("--data-dir")
                .arg(dir.join("data"))
                .env("SHOAL_LOG_LEVEL", "warn")
                .env("SHOAL_APPENDFSYNC", "no");
            cmd
        })
        .unwrap_or_else(|e| panic!("start shoal agent: {e}"));
        let deadline = Instant::now() + START_TIMEOUT;
        let mut c = server.connect();
        loop {
            // DBSIZE asks every shard.
            match c.call(&["DBSIZE"]) {
                Ok(f) if !f.reply.is_error() => return server,
                _ if Instant::now() > deadline => {
                    panic!("shards behind the proxy never served:\n{}", server.log())
                }
                Ok(_) => thread::sleep(Duration::from_millis(20)),
                Err(_) => c = server.connect(),
            }
        }
    }
}

/// A reference `redis-server` with persistence off.
pub struct RedisServer;

impl RedisServer {
    /// Starts `redis-server` (or `$REDIS_SERVER`) and waits until it answers PING.
    pub fn start() -> ChildServer {
        RedisServer::try_start().unwrap_or_else(|e| {
            panic!("start redis-server (install redis-server 7.0, or set REDIS_SERVER): {e}")
        })
    }

    pub fn try_start() -> Result<ChildServer, String> {
        RedisServer::try_start_with(&[])
    }

    /// Starts `redis-server` with extra flags (e.g. `--cluster-enabled yes`).
    pub fn start_with(extra: &[&str]) -> ChildServer {
        RedisServer::try_start_with(extra).unwrap_or_else(|e| panic!("start redis-server: {e}"))
    }

    pub fn try_start_with(extra: &[&str]) -> Result<ChildServer, String> {
        let bin = env::var_os("REDIS_SERVER").unwrap_or_else(|| "redis-server".into());
        ChildServer::start("redis", |port, dir| {
            let mut cmd = Command::new(&bin);
            cmd.arg("--port")
                .arg(port.to_string())
                .arg("--bind")
                .arg("127.0.0.1")
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(dir)
                .args(extra);
            cmd
        })
    }
}

/// Whether `redis-server` can be run at all (for a clear skip message).
pub fn redis_available() -> io::Result<()> {
    let bin = env::var_os("REDIS_SERVER").unwrap_or_else(|| "redis-server".into());
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let a = free_port();
        let b = free_port();
        assert_ne!(a, b);
        assert_ne!(a, 6379);
        TcpListener::bind(("127.0.0.1", b)).expect("the port is free");
    }

    #[test]
    fn temp_dirs_are_removed_on_drop() {
        let path = {
            let d = TempDir::new("unit");
            fs::write(d.path().join("f"), b"x").unwrap();
            d.path().to_path_buf()
        };
        assert!(!path.exists());
    }
}
