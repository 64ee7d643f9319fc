//! Scan time of one request frame delivered in small reads: scanning it again from its
//! start on each read (`frame::scan`) against resuming where the last read stopped
//! (`frame::Scanner`, what the proxy does).
//!
//! `cargo run --release -p shoal-proto --example scan_trickle`

use std::time::{Duration, Instant};

use shoal_proto::frame::{self, Limits, Scanned, Scanner};

const READ: usize = 4096;

/// `SET k <n bytes>`.
fn big_bulk(n: usize) -> Vec<u8> {
    let mut f = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${n}\r\n").into_bytes();
    f.resize(f.len() + n, b'v');
    f.extend_from_slice(b"\r\n");
    f
}

/// `RPUSH l` and `n` 8-byte elements.
fn many_args(n: usize) -> Vec<u8> {
    let mut f = format!("*{}\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n", n + 2).into_bytes();
    for i in 0..n {
        f.extend_from_slice(format!("$8\r\n{i:08}\r\n").as_bytes());
    }
    f
}

/// Scans `f` as it arrives `READ` bytes at a time; the time spent scanning.
fn trickle(f: &[u8], resume: bool) -> Duration {
    let mut sc = Scanner::default();
    let mut args = Vec::new();
    let mut spent = Duration::ZERO;
    let mut end = 0;
    loop {
        end = (end + READ).min(f.len());
        let t = Instant::now();
        let r = if resume {
            sc.scan(&f[..end], Limits::default(), &mut args)
        } else {
            frame::scan(&f[..end], Limits::default(), &mut args)
        };
        spent += t.elapsed();
        match r {
            Ok(None) => {}
            Ok(Some(Scanned::Multibulk { len })) if len == f.len() => return spent,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn main() {
    let cases = [
        ("64 MB bulk", big_bulk(64 << 20)),
        ("RPUSH of 100k elements", many_args(100_000)),
        ("RPUSH of 1M elements", many_args(1_000_000)),
    ];
    for (name, f) in &cases {
        let reads = f.len().div_ceil(READ);
        let fresh = trickle(f, false);
        let resumed = trickle(f, true);
        println!(
            "{name} ({} bytes, {reads} reads of 4 KiB): from the start {:.1} ms, resumed {:.1} ms",
            f.len(),
            fresh.as_secs_f64() * 1e3,
            resumed.as_secs_f64() * 1e3
        );
    }
}
