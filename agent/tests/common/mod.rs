//! Helpers for the agent's integration tests: start the real `shoal` binary, talk HTTP to
//! its admin port and RESP to its shards, and look at processes through /proc.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const SHOAL: &str = env!("CARGO_BIN_EXE_shoal");

/// The tests measure restart and shutdown times; running them one at a time keeps those
/// figures about the agent rather than about the other tests.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shoal-agent-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Agent {
    pub child: Child,
    pub admin: u16,
    pub dir: PathBuf,
}

impl Agent {
    /// Starts `shoal` (plus `args`) with its data in a fresh directory and the admin port
    /// given; `prefix` runs it under another program (taskset, unshare).
    pub fn spawn(
        tag: &str,
        admin: u16,
        prefix: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Agent {
        Agent::spawn_in(temp_dir(tag), admin, prefix, args, env)
    }

    /// Like [`Agent::spawn`], on an existing directory: a restart on the same data.
    pub fn spawn_in(
        dir: PathBuf,
        admin: u16,
        prefix: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Agent {
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(SHOAL);
                c
            }
            None => Command::new(SHOAL),
        };
        cmd.args(args)
            .arg("--admin-port")
            .arg(admin.to_string())
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("SHOAL_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("agent.log"))
                    .unwrap(),
            ));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Agent { child, admin, dir }
    }

    pub fn start(tag: &str, admin: u16, args: &[&str]) -> Agent {
        let a = Agent::spawn(tag, admin, &[], args, &[]);
        a.wait_ready(Duration::from_secs(10));
        a
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path).unwrap_or((0, String::new()))
    }

    pub fn wait_ready(&self, within: Duration) {
        let t = Instant::now();
        while t.elapsed() < within {
            if self.get("/readyz").0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("agent not ready within {within:?}; log:\n{}", self.log());
    }

    /// Waits until the admin port answers (the shards may still be starting).
    pub fn wait_admin(&self) {
        let up = wait_until(Duration::from_secs(10), || self.get("/livez").0 == 200);
        assert!(
            up.is_some(),
            "admin port never answered; log:\n{}",
            self.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    pub fn status(&self) -> serde_json::Value {
        let (code, body) = self.get("/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// (pid, TCP port) of every shard, as /status reports them. A shard listens on TCP only
    /// under `cluster_api`; otherwise the agent reaches it on its Unix socket alone and the
    /// port is None.
    pub fn shards(&self) -> Vec<(Option<i32>, Option<u16>)> {
        self.status()["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["pid"].as_i64().map(|p| p as i32),
                    s["port"].as_u64().map(|p| u16::try_from(p).unwrap()),
                )
            })
            .collect()
    }

    /// The Unix socket of every shard, as /status reports them.
    pub fn shard_sockets(&self) -> Vec<PathBuf> {
        self.status()["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| PathBuf::from(s["socket"].as_str().unwrap()))
            .collect()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        unsafe_free_kill(self.pid(), sig);
    }

    /// Waits for the agent to exit, up to `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<(ExitStatus, Duration)> {
        let t = Instant::now();
        while t.elapsed() < within {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some((st, t.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Shards die with the agent (PR_SET_PDEATHSIG).
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn unsafe_free_kill(pid: i32, sig: i32) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let _ = st;
}

pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// Sends one command over TCP and returns the first reply line, e.g. `+PONG`.
pub fn redis(port: u16, args: &[&str]) -> std::io::Result<String> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    exchange(s, args)
}

/// Sends one command on a shard's Unix socket and returns the first reply line.
pub fn redis_socket(path: &Path, args: &[&str]) -> std::io::Result<String> {
    let s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    exchange(s, args)
}

fn exchange(mut s: impl Read + Write, args: &[&str]) -> std::io::Result<String> {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes())?;
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string())
}

pub fn pings(port: u16) -> bool {
    matches!(redis(port, &["PING"]).as_deref(), Ok("+PONG"))
}

pub fn pings_socket(path: &Path) -> bool {
    matches!(redis_socket(path, &["PING"]).as_deref(), Ok("+PONG"))
}

/// `Cpus_allowed_list` of a process.
pub fn cpus_allowed(pid: i32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string()
}

/// The process state letter from /proc/<pid>/stat (`Z` for a zombie), or None if gone.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(") ")?.1;
    after.chars().next()
}

/// A process that is gone or a zombie no longer runs.
pub fn running(pid: i32) -> bool {
    !matches!(proc_state(pid), None | Some('Z'))
}

/// Direct children of `pid` (from /proc/<pid>/task/*/children).
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// Every descendant of `pid`.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = children(pid);
    while let Some(p) = todo.pop() {
        todo.extend(children(p));
        out.push(p);
    }
    out
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < within {
        if f() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}
