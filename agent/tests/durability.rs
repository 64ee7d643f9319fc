//! The agent's half of the durability contract: under `appendfsync always`, a write that
//! was acknowledged survives the agent being killed (`kill -9`, shards taken down by
//! their death signal) or stopped (SIGTERM) in the middle of a write load, once the agent
//! is started again on the same data directory.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;

const WRITERS: usize = 8;

/// Runs `WRITERS` clients doing SET until `stop`, one request in flight each, spread
/// over both shards; returns each acknowledged (port, key, value).
fn write_load(
    ports: [u16; 2],
    stop: Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<Vec<(u16, String, String)>>> {
    (0..WRITERS)
        .map(|w| {
            let stop = stop.clone();
            thread::spawn(move || {
                let port = ports[w % 2];
                let mut acked = Vec::new();
                let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
                    return acked;
                };
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                let mut s = s;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (k, v) = (format!("w{w}:{n}"), format!("{n}"));
                    let req = format!(
                        "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                        k.len(),
                        v.len()
                    );
                    if s.write_all(req.as_bytes()).is_err() {
                        break;
                    }
                    let mut line = String::new();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line == "+OK\r\n" => acked.push((port, k, v)),
                        Ok(_) => break,
                    }
                    n += 1;
                }
                acked
            })
        })
        .collect()
}

fn check_all_present(acked: &[(u16, String, String)]) {
    let mut missing = 0;
    for (port, k, v) in acked {
        let got = redis(*port, &["GET", k]).unwrap_or_default();
        if got != format!("${}", v.len()) {
            missing += 1;
        }
    }
    eprintln!(
        "{} acknowledged writes checked, {missing} missing",
        acked.len()
    );
    assert_eq!(missing, 0);
}

fn run(signal: i32, tag: &str, admin: u16, port: u16) {
    let _s = serial();
    let args_owned = [
        "--shards".to_string(),
        "2".to_string(),
        "--port".to_string(),
        port.to_string(),
        "--appendfsync".to_string(),
        "always".to_string(),
    ];
    let args: Vec<&str> = args_owned.iter().map(String::as_str).collect();
    let dir = temp_dir(tag);
    let mut agent = Agent::spawn_in(dir.clone(), admin, &[], &args, &[]);
    agent.wait_ready(Duration::from_secs(10));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = write_load([port, port + 1], stop.clone());
    thread::sleep(Duration::from_millis(800));
    agent.signal(signal);
    let (status, took) = agent
        .wait_exit(Duration::from_secs(10))
        .expect("agent exits");
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<_> = writers
        .into_iter()
        .flat_map(|h| h.join().expect("writer"))
        .collect();
    eprintln!("agent exited with {status:?} after {} ms", took.as_millis());
    if signal == 15 {
        assert_eq!(status.code(), Some(0));
        assert!(took < Duration::from_secs(10), "within shutdown_timeout");
    }
    assert!(acked.len() > 100, "the load made progress: {}", acked.len());
    // The killed agent's shards die with it; wait for their ports to close.
    wait_until(Duration::from_secs(2), || !pings(port) && !pings(port + 1));
    let again = Agent::spawn_in(dir, admin, &[], &args, &[]);
    again.wait_ready(Duration::from_secs(20));
    check_all_present(&acked);
}

#[test]
fn acknowledged_writes_survive_a_killed_agent() {
    run(9, "durable-kill", 7947, 7945);
}

#[test]
fn sigterm_under_load_exits_zero_and_loses_nothing() {
    run(15, "durable-term", 7957, 7955);
}
