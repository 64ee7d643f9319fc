//! `maxmemory` against the real binary: a write flood stays within the limit under
//! allkeys-lru, and under noeviction writes are refused with Redis's text while reads go on.

use shoal_tests::client::RawClient;
use shoal_tests::{Reply, Shard};

const LIMIT: u64 = 20 * 1024 * 1024;
/// Slack above the limit: one command's allocation may land before the next check.
const MARGIN: u64 = 512 * 1024;

fn info_field(c: &mut RawClient, section: &str, field: &str) -> u64 {
    let Reply::Bulk(text) = c.cmd(&["INFO", section]) else {
        panic!("INFO {section} did not answer a bulk string");
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

/// Writes `total` bytes of 10 KB values in pipelined batches; returns the highest
/// `used_memory` seen between batches and the replies that were errors.
fn flood(c: &mut RawClient, total: usize) -> (u64, Vec<Vec<u8>>) {
    let value = vec![b'v'; 10 * 1024];
    let mut peak = 0;
    let mut errors = Vec::new();
    let n = total / value.len();
    for batch in 0..n / 100 {
        for i in 0..100 {
            let key = format!("key:{}", batch * 100 + i);
            c.send(&[b"SET" as &[u8], key.as_bytes(), &value]).unwrap();
        }
        for _ in 0..100 {
            let frame = c.read_reply().unwrap();
            if frame.raw.first() == Some(&b'-') {
                errors.push(frame.raw);
            }
        }
        peak = peak.max(info_field(c, "memory", "used_memory"));
    }
    (peak, errors)
}

#[test]
fn allkeys_lru_keeps_memory_under_the_limit() {
    let shard = Shard::start_with(&["--maxmemory", "20mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = shard.connect();
    let (peak, errors) = flood(&mut c, 100 * 1024 * 1024);
    assert!(errors.is_empty(), "writes refused: {:?}", errors.first());
    assert!(
        peak <= LIMIT + MARGIN,
        "used_memory peaked at {peak}, limit {LIMIT}"
    );
    assert!(info_field(&mut c, "stats", "evicted_keys") > 0);
    // The newest keys are the least idle and survive.
    assert!(matches!(c.cmd(&["EXISTS", "key:10199"]), Reply::Int(1)));
}

#[test]
fn noeviction_refuses_writes_and_serves_reads() {
    let shard = Shard::start_with(&["--maxmemory", "20mb", "--maxmemory-policy", "noeviction"]);
    let mut c = shard.connect();
    let (peak, errors) = flood(&mut c, 40 * 1024 * 1024);
    assert!(!errors.is_empty(), "no write was refused");
    assert_eq!(
        errors[0],
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert!(peak <= LIMIT + MARGIN, "used_memory peaked at {peak}");
    assert_eq!(info_field(&mut c, "stats", "evicted_keys"), 0);
    assert!(matches!(c.cmd(&["GET", "key:0"]), Reply::Bulk(v) if v.len() == 10 * 1024));
    // Commands that free memory still run.
    assert!(matches!(c.cmd(&["DEL", "key:0"]), Reply::Int(1)));
}
