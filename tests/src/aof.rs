//! A shard with an AOF in a data directory that outlives it: start, SIGKILL, SIGTERM and
//! restart on the same directory, for the durability tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::RawClient;
use crate::resp::Reply;
use crate::server::free_port;

/// A `shoal shard --appendonly yes` process on `dir`.
pub struct AofShard {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    fsync: String,
    env: Vec<(String, String)>,
    /// A command line the shard runs under (e.g. `strace -f -e inject=…`).
    pub wrap: Vec<String>,
    /// The binary to run; the test build's own unless a test asks for the release one.
    bin: PathBuf,
}

impl AofShard {
    /// Starts a shard and waits until it has loaded its AOF. Panics if it cannot.
    pub fn start(dir: &Path, fsync: &str) -> AofShard {
        AofShard::start_env(dir, fsync, &[])
    }

    /// Like [`AofShard::start`], with extra environment (e.g. `LD_PRELOAD`).
    pub fn start_env(dir: &Path, fsync: &str, env: &[(&str, &str)]) -> AofShard {
        let mut s = AofShard {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            fsync: fsync.to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            wrap: Vec::new(),
            bin: crate::bin::shoal_bin(),
        };
        s.restart();
        s
    }

    /// Like [`AofShard::start`], running the release build (see
    /// [`crate::bin::shoal_release_bin`]).
    pub fn start_release(dir: &Path, fsync: &str) -> AofShard {
        let mut s = AofShard {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            fsync: fsync.to_string(),
            env: Vec::new(),
            wrap: Vec::new(),
            bin: crate::bin::shoal_release_bin(),
        };
        s.restart();
        s
    }

    /// Spawns the process without waiting for it.
    pub fn spawn(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("open server.log");
        let log2 = log.try_clone().expect("clone log");
        let mut cmd = match self.wrap.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        cmd.args(["shard", "--bind", "127.0.0.1", "--log-level", "info"])
            .args(["--port", &self.port.to_string()])
            .arg("--data-dir")
            .arg(&self.dir)
            .args(["--appendonly", "yes", "--appendfsync", &self.fsync])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("spawn shoal")
    }

    /// (Re)starts the process on the same directory and port, and waits for PONG.
    pub fn restart(&mut self) {
        let mut child = self.spawn();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("shard exited during start-up: {st}\n{}", self.log());
            }
            if let Ok(mut c) = RawClient::connect(self.port) {
                if let Ok(f) = c.call(&["PING"]) {
                    if f.reply == Reply::Simple(b"PONG".to_vec()) {
                        break;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no PONG in time\n{}", self.log());
            thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port).expect("connect to shard")
    }

    /// SIGKILL: nothing is flushed.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and the exit status.
    pub fn term(&mut self) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        c.wait().ok()
    }

    /// Waits for the process to exit by itself, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let c = self.child.as_mut()?;
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the shard on this directory once more and returns its exit status, for a start
    /// that must fail.
    pub fn run_to_exit(&self) -> ExitStatus {
        let mut c = self.spawn();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("the shard kept running\n{}", self.log());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Builds a handle without starting the process.
    pub fn new_stopped(dir: &Path, fsync: &str) -> AofShard {
        AofShard {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            fsync: fsync.to_string(),
            env: Vec::new(),
            wrap: Vec::new(),
            bin: crate::bin::shoal_bin(),
        }
    }

    /// One field of INFO, as text.
    pub fn info(&self, field: &str) -> Option<String> {
        let mut c = self.client();
        let Reply::Bulk(text) = c.cmd(&["INFO", "everything"]) else {
            return None;
        };
        let text = String::from_utf8_lossy(&text).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
    }

    pub fn info_u64(&self, field: &str) -> u64 {
        self.info(field)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("INFO field {field}"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn aof_dir(&self) -> PathBuf {
        self.dir.join("appendonlydir")
    }
}

impl Drop for AofShard {
    fn drop(&mut self) {
        self.kill9();
    }
}
