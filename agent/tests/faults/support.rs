//! What the fault tests share: a RESP connection, writer threads that record what was
//! acknowledged, the check that every acknowledged write reads back, and agent helpers.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::Agent;
use shoal_proto::reply_scan::reply_len;

/// A RESP connection that returns whole reply frames as text.
pub(crate) struct Conn<S: Read + Write> {
    pub(crate) s: S,
    pub(crate) buf: Vec<u8>,
}

pub(crate) fn tcp(port: u16) -> Conn<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    Conn { s, buf: Vec::new() }
}

pub(crate) fn unix(path: &Path) -> Conn<UnixStream> {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    Conn { s, buf: Vec::new() }
}

impl<S: Read + Write> Conn<S> {
    /// The reply, or None when the connection failed or closed.
    pub(crate) fn try_cmd(&mut self, args: &[&str]) -> Option<String> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.s.write_all(&req).ok()?;
        loop {
            if let Some(n) = reply_len(&self.buf).ok()? {
                let f: Vec<u8> = self.buf.drain(..n).collect();
                return Some(String::from_utf8_lossy(&f).into_owned());
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub(crate) fn cmd(&mut self, args: &[&str]) -> String {
        self.try_cmd(args).expect("connection failed")
    }

    /// One `field:value` of INFO.
    pub(crate) fn info(&mut self, field: &str) -> Option<String> {
        let text = self.cmd(&["INFO", "persistence"]);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
    }
}

pub(crate) fn bulk(v: &str) -> String {
    format!("${}\r\n{v}\r\n", v.len())
}

/// The `nth` hash tag whose keys all live on `shard` of `shards`.
pub(crate) fn tag_on(shard: usize, shards: usize, nth: usize) -> String {
    let map = shoal_proto::SlotMap::even(shards);
    (0..)
        .map(|i| format!("{{t{i}}}"))
        .filter(|t| map.key_owner(t.as_bytes()) == shard)
        .nth(nth)
        .unwrap()
}

/// Starts an agent with `toml` as its config file, on `dir` (kept across restarts).
pub(crate) fn agent_in(
    dir: &Path,
    port: u16,
    admin: u16,
    shards: u16,
    toml: &str,
    env: &[(&str, &str)],
) -> Agent {
    let conf = dir.join("shoal.toml");
    std::fs::write(&conf, toml).unwrap();
    let a = Agent::spawn_in(
        dir.to_path_buf(),
        admin,
        &[],
        &[
            "--port",
            &port.to_string(),
            "--shards",
            &shards.to_string(),
            "--config",
            conf.to_str().unwrap(),
        ],
        env,
    );
    a.wait_ready(Duration::from_secs(30));
    a
}

/// Stops an agent with SIGTERM and waits for it, keeping its directory for the next one.
pub(crate) fn stop_agent(mut a: Agent) -> PathBuf {
    a.signal(15);
    let exited = a.wait_exit(Duration::from_secs(20));
    assert!(exited.is_some(), "agent did not stop; log:\n{}", a.log());
    keep_dir(a)
}

/// The directory of an agent that has exited, which its Drop would remove.
pub(crate) fn keep_dir(a: Agent) -> PathBuf {
    let dir = a.dir.clone();
    std::mem::forget(a);
    dir
}

/// Checks that every acknowledged `key → value` reads back, with MGET in batches (keys of
/// one writer share a hash tag, so a batch is one slot). Returns the number checked.
pub(crate) fn check_acked(port: u16, acked: &BTreeMap<String, String>) -> usize {
    let mut c = tcp(port);
    let keys: Vec<(&String, &String)> = acked.iter().collect();
    let mut lost = Vec::new();
    for chunk in keys.chunks(200) {
        // Group by tag (the part up to '}') so each MGET is one slot.
        let mut by_tag: BTreeMap<&str, Vec<(&String, &String)>> = BTreeMap::new();
        for (k, v) in chunk {
            let tag = k.split_once('}').map(|(t, _)| t).unwrap_or(k);
            by_tag.entry(tag).or_default().push((k, v));
        }
        for group in by_tag.values() {
            let mut args = vec!["MGET"];
            args.extend(group.iter().map(|(k, _)| k.as_str()));
            let reply = c.cmd(&args);
            let want: String = std::iter::once(format!("*{}\r\n", group.len()))
                .chain(group.iter().map(|(_, v)| bulk(v)))
                .collect();
            if reply != want {
                for (k, v) in group {
                    let got = c.cmd(&["GET", k]);
                    if got != bulk(v) {
                        lost.push(format!("{k}={v} got {got:?}"));
                    }
                }
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    acked.len()
}

/// What one writer thread saw.
#[derive(Default, Debug)]
pub(crate) struct Seen {
    pub(crate) acked: BTreeMap<String, String>,
    pub(crate) ok: u64,
    pub(crate) tryagain: u64,
    /// How long each `-TRYAGAIN` took to come.
    pub(crate) tryagain_waits: Vec<Duration>,
    pub(crate) max_ok_latency: Duration,
    pub(crate) other_errors: Vec<String>,
}

/// SET `{tag}:n n` in a loop until `stop`, one command at a time, recording acks.
pub(crate) fn writer(
    port: u16,
    tag: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || write_loop(tcp(port), tag, stop))
}

/// Like [`writer`], straight to a shard's socket, as a cluster-API client would.
pub(crate) fn socket_writer(
    path: PathBuf,
    tag: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || write_loop(unix(&path), tag, stop))
}

pub(crate) fn write_loop<S: Read + Write>(
    mut c: Conn<S>,
    tag: String,
    stop: Arc<AtomicBool>,
) -> Seen {
    {
        let mut seen = Seen::default();
        let mut n = 0u64;
        while !stop.load(Relaxed) {
            n += 1;
            let (k, v) = (format!("{tag}:{n}"), n.to_string());
            let t = Instant::now();
            let Some(r) = c.try_cmd(&["SET", &k, &v]) else {
                break;
            };
            let took = t.elapsed();
            if r == "+OK\r\n" {
                seen.ok += 1;
                seen.max_ok_latency = seen.max_ok_latency.max(took);
                seen.acked.insert(k, v);
            } else if r.starts_with("-TRYAGAIN") {
                seen.tryagain += 1;
                seen.tryagain_waits.push(took);
            } else {
                seen.other_errors.push(r);
            }
        }
        seen
    }
}

pub(crate) fn shard_pids(a: &Agent) -> Vec<i32> {
    a.shards().iter().filter_map(|s| s.0).collect()
}

pub(crate) fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
