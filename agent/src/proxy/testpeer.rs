//! Test support: real `redis-server`s standing in for a reference server and for shards,
//! so merged replies can be compared byte for byte with what Redis itself answers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal_proto::reply_value;
use shoal_proto::Protocol;

use super::split::{frame, Route};

pub struct Redis {
    child: Child,
    conn: TcpStream,
    buf: Vec<u8>,
}

impl Redis {
    /// Starts `redis-server` on `port` with no persistence; panics if it is missing.
    pub fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--bind", "127.0.0.1", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for these tests");
        let deadline = Instant::now() + Duration::from_secs(10);
        let conn = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("redis-server on {port}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Redis {
            child,
            conn,
            buf: Vec::new(),
        }
    }

    /// Sends one request frame and returns the raw reply frame.
    pub fn raw(&mut self, req: &[u8]) -> Vec<u8> {
        self.conn.write_all(req).unwrap();
        loop {
            if let Some((_, n)) = reply_value::decode(&self.buf).unwrap() {
                return self.buf.drain(..n).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self.conn.read(&mut chunk).unwrap();
            assert!(n > 0, "redis-server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.raw(&frame(args.iter().copied()))
    }

    pub fn set_proto(&mut self, proto: Protocol) {
        let v: &[u8] = if proto == Protocol::Resp3 { b"3" } else { b"2" };
        let reply = self.cmd(&[b"HELLO", v]);
        assert!(
            !reply.starts_with(b"-"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reference server plus one server per shard.
pub struct Cluster {
    pub reference: Redis,
    pub shards: Vec<Redis>,
}

impl Cluster {
    pub fn start(base_port: u16, shards: usize) -> Cluster {
        Cluster {
            reference: Redis::start(base_port),
            shards: (0..shards)
                .map(|i| Redis::start(base_port + 1 + i as u16))
                .collect(),
        }
    }

    /// Uses the first `n` shard servers, empties every server, and sets the protocol.
    pub fn reset(&mut self, proto: Protocol) {
        for r in std::iter::once(&mut self.reference).chain(self.shards.iter_mut()) {
            r.set_proto(proto);
            assert_eq!(r.cmd(&[b"FLUSHALL"]), b"+OK\r\n");
            r.cmd(&[b"SLOWLOG", b"RESET"]);
            r.cmd(&[b"SCRIPT", b"FLUSH"]);
        }
    }

    /// What the proxy would answer for `route`, with these servers as its shards.
    pub fn through(&mut self, args: &[Bytes], route: Route, proto: Protocol) -> Vec<u8> {
        match route {
            Route::Shard(s) => self.shards[s].raw(&frame(args.iter().map(|a| &a[..]))),
            Route::Reply(r) => r,
            Route::Plan(plan) => {
                let replies: Vec<Vec<u8>> = plan
                    .parts
                    .iter()
                    .map(|p| self.shards[p.shard].raw(&p.frame))
                    .collect();
                let refs: Vec<&[u8]> = replies.iter().map(|r| &r[..]).collect();
                plan.merger.merge(&refs, proto)
            }
        }
    }
}

pub fn args(s: &str) -> Vec<Bytes> {
    s.split(' ')
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect()
}
