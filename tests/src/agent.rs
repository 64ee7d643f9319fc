//! The agent (`shoal run`) from a configuration file, on a data directory that outlives
//! it: start, SIGKILL (the shards die with it), restart on the same directory and ports,
//! and find its shard processes, for the kill and soak tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::RawClient;
use crate::resp::Reply;
use crate::server::free_port;

/// How long a (re)started agent may take until every shard serves: a debug build
/// replaying a long AOF under load is slow.
const SERVE_TIMEOUT: Duration = Duration::from_secs(120);

/// A `shoal run --config FILE` process with one database named `default`.
pub struct Agent {
    child: Option<Child>,
    /// The proxy's client port.
    pub port: u16,
    pub admin_port: u16,
    /// Holds `shoal.toml`, `agent.log` and `data/`.
    pub dir: PathBuf,
    pub shards: usize,
    env: Vec<(String, String)>,
    bin: PathBuf,
}

impl Agent {
    /// Writes a configuration with `shards` shards and `database` (extra TOML lines for
    /// the `[[database]]` table, e.g. `appendfsync = "always"`), starts the agent with
    /// `env` (inherited by its shards) and waits until every shard serves.
    pub fn start(
        dir: &Path,
        bin: PathBuf,
        shards: usize,
        database: &str,
        env: &[(&str, &str)],
    ) -> Agent {
        let port = free_port();
        let admin_port = free_port();
        let data = dir.join("data");
        // Restarts stay short: a test kills shards far more often than
        // `restart_reset_after` forgives, and the default backoff (up to 30 s) would turn
        // each kill into a long wait.
        let config = format!(
            "bind = \"127.0.0.1\"\n\
             admin_port = {admin_port}\n\
             data_dir = \"{}\"\n\
             shards = {shards}\n\
             log_level = \"warn\"\n\
             restart_delay_min = \"10ms\"\n\
             restart_delay_max = \"100ms\"\n\
             restart_reset_after = \"1s\"\n\
             [[database]]\n\
             name = \"default\"\n\
             port = {port}\n\
             {database}\n",
            data.display()
        );
        std::fs::write(dir.join("shoal.toml"), config).expect("write shoal.toml");
        let mut agent = Agent {
            child: None,
            port,
            admin_port,
            dir: dir.to_path_buf(),
            shards,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            bin,
        };
        agent.restart();
        agent
    }

    /// (Re)starts the agent on the same directory and ports and waits until every shard
    /// serves.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("agent.log"))
            .expect("open agent.log");
        let log2 = log.try_clone().expect("clone log");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("run")
            .arg("--config")
            .arg(self.dir.join("shoal.toml"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn shoal run"));
        self.wait_serving();
    }

    /// Waits until DBSIZE, which the proxy sends to every shard, is answered without an
    /// error. Panics if the agent exits or takes too long.
    pub fn wait_serving(&mut self) {
        let deadline = Instant::now() + SERVE_TIMEOUT;
        let mut conn: Option<RawClient> = None;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("the agent exited: {st}\n{}", self.log());
                }
            }
            assert!(
                Instant::now() < deadline,
                "the shards never served:\n{}",
                self.log()
            );
            let Some(c) = conn.as_mut() else {
                conn = RawClient::connect(self.port).ok();
                if conn.is_none() {
                    thread::sleep(Duration::from_millis(10));
                }
                continue;
            };
            match c.call(&["DBSIZE"]) {
                Ok(f) if matches!(f.reply, Reply::Int(_)) => return,
                Ok(_) => thread::sleep(Duration::from_millis(10)),
                Err(_) => conn = None,
            }
        }
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port).expect("connect to the proxy")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The pids of the agent's running shard processes.
    pub fn shard_pids(&self) -> Vec<u32> {
        let Some(agent) = self.pid() else {
            return Vec::new();
        };
        children(agent)
            .into_iter()
            .filter(|&p| running(p) && is_shard(p))
            .collect()
    }

    /// SIGKILLs one shard process and waits until it is gone (the agent restarts it).
    pub fn kill9_shard(&self, pid: u32) {
        kill9(pid);
        wait_gone(pid);
    }

    /// SIGKILLs the agent and waits until its shards have died with it.
    pub fn kill9(&mut self) {
        let shards = self.shard_pids();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in shards {
            wait_gone(pid);
        }
    }

    /// `data/default/shard-<i>`.
    pub fn shard_dir(&self, i: usize) -> PathBuf {
        self.dir
            .join("data")
            .join("default")
            .join(format!("shard-{i}"))
    }

    /// Every shard's `appendonlydir`.
    pub fn aof_dirs(&self) -> Vec<PathBuf> {
        (0..self.shards)
            .map(|i| self.shard_dir(i).join("appendonlydir"))
            .collect()
    }

    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default();
        // The end is what explains a failure; a long run's whole log is not.
        let cut = text.len().saturating_sub(16 * 1024);
        let cut = (cut..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[cut..].to_string()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn kill9(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Waits (up to 10 s) until `pid` is gone or a zombie: a SIGKILLed process can still be
/// writing for a moment, and its files must be left alone until it stops.
fn wait_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(pid) {
        assert!(Instant::now() < deadline, "process {pid} outlived SIGKILL");
        thread::sleep(Duration::from_millis(2));
    }
}

/// The process state letter from /proc/<pid>/stat (`Z` for a zombie), or None if gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

pub fn running(pid: u32) -> bool {
    !matches!(proc_state(pid), None | Some('Z'))
}

fn is_shard(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|&b| b == 0).nth(1) == Some(b"shard"))
        .unwrap_or(false)
}

/// Direct children of `pid` (from /proc/<pid>/task/*/children).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// Resident set size of `pid` in bytes (VmRSS), or 0 if it is gone.
pub fn rss_bytes(pid: u32) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
