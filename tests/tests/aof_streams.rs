//! Consumer groups survive an AOF replay: XREADGROUP, XCLAIM and XAUTOCLAIM are recorded
//! as the idempotent commands Redis propagates (XCLAIM … TIME … RETRYCOUNT … FORCE JUSTID
//! LASTID, XGROUP SETID … ENTRIESREAD, XGROUP CREATECONSUMER), so a restarted shard has
//! the same groups, pending entries, owners, delivery counts and delivery times.

use std::thread;
use std::time::Duration;

use shoal_tests::aof::AofShard;
use shoal_tests::server::TempDir;
use shoal_tests::{RawClient, Reply};

fn cmd(c: &mut RawClient, line: &str) -> Reply {
    let args: Vec<&str> = line.split(' ').collect();
    let r = c.cmd(&args);
    assert!(!r.is_error(), "{line}: {r:?}");
    r
}

/// XPENDING's extended form without the idle times, which move with the clock; the
/// idle times come back separately.
fn pending(c: &mut RawClient, group: &str) -> (Vec<Reply>, Vec<i64>) {
    let r = cmd(c, &format!("XPENDING s {group} - + 100"));
    let mut rows = Vec::new();
    let mut idle = Vec::new();
    for row in r.as_items().unwrap_or(&[]) {
        let items = row.as_items().unwrap_or(&[]);
        assert_eq!(items.len(), 4, "{row:?}");
        rows.push(Reply::Array(vec![
            items[0].clone(),
            items[1].clone(),
            items[3].clone(),
        ]));
        idle.push(items[2].as_int().unwrap_or(-1));
    }
    (rows, idle)
}

/// Each consumer's name and pending count (XINFO CONSUMERS without the idle times).
fn consumers(c: &mut RawClient, group: &str) -> Vec<Reply> {
    let r = cmd(c, &format!("XINFO CONSUMERS s {group}"));
    r.as_items()
        .unwrap_or(&[])
        .iter()
        .map(|row| {
            let items = row.as_items().unwrap_or(&[]);
            Reply::Array(vec![items[1].clone(), items[3].clone()])
        })
        .collect()
}

struct Snapshot {
    groups: Reply,
    pending: Vec<Vec<Reply>>,
    idle: Vec<Vec<i64>>,
    consumers: Vec<Vec<Reply>>,
}

fn snapshot(c: &mut RawClient) -> Snapshot {
    let mut s = Snapshot {
        groups: cmd(c, "XINFO GROUPS s"),
        pending: Vec::new(),
        idle: Vec::new(),
        consumers: Vec::new(),
    };
    for g in ["g1", "g2", "g3"] {
        let (rows, idle) = pending(c, g);
        s.pending.push(rows);
        s.idle.push(idle);
        s.consumers.push(consumers(c, g));
    }
    s
}

#[test]
fn consumer_groups_replay_to_the_same_state() {
    let dir = TempDir::new("aof-streams");
    let mut s = AofShard::start(dir.path(), "always");
    let mut c = s.client();
    for i in 1..=8 {
        cmd(&mut c, &format!("XADD s {i}-0 f v{i}"));
    }
    cmd(&mut c, "XGROUP CREATE s g1 0");
    cmd(&mut c, "XGROUP CREATE s g2 0");
    cmd(&mut c, "XGROUP CREATE s g3 $");
    cmd(&mut c, "XREADGROUP GROUP g1 alice COUNT 3 STREAMS s >");
    cmd(&mut c, "XREADGROUP GROUP g1 bob COUNT 2 STREAMS s >");
    // NOACK moves the group on without pending entries; its consumer must still exist.
    cmd(
        &mut c,
        "XREADGROUP GROUP g2 nobody NOACK COUNT 4 STREAMS s >",
    );
    // A new consumer reading only its (empty) history.
    cmd(&mut c, "XREADGROUP GROUP g1 reader STREAMS s 0");
    thread::sleep(Duration::from_millis(30));
    cmd(&mut c, "XCLAIM s g1 carol 0 1-0 2-0 RETRYCOUNT 7");
    cmd(&mut c, "XCLAIM s g1 carol 0 3-0 IDLE 5000");
    cmd(&mut c, "XAUTOCLAIM s g1 dave 0 4-0 COUNT 1");
    // A pending entry whose stream entry is gone leaves the PEL when claimed.
    cmd(&mut c, "XDEL s 5-0");
    cmd(&mut c, "XAUTOCLAIM s g1 dave 100000 0 COUNT 10 JUSTID");
    // LASTID alone moves the group.
    cmd(&mut c, "XCLAIM s g3 erin 0 99-0 LASTID 6-0");
    let before = snapshot(&mut c);
    assert_eq!(before.pending[0].len(), 4, "{:?}", before.pending);
    assert!(
        before.idle[0].iter().any(|&i| i >= 5000),
        "{:?}",
        before.idle
    );

    assert_eq!(s.term().and_then(|st| st.code()), Some(0), "{}", s.log());
    thread::sleep(Duration::from_millis(50));
    s.restart();
    let mut c = s.client();
    let after = snapshot(&mut c);
    assert_eq!(after.groups, before.groups);
    assert_eq!(after.pending, before.pending);
    assert_eq!(after.consumers, before.consumers);
    // Delivery times are absolute in the file, so idle times only grew.
    for (b, a) in before
        .idle
        .iter()
        .flatten()
        .zip(after.idle.iter().flatten())
    {
        assert!(a >= b, "idle went from {b} to {a}");
    }
    // The incremental file holds no XREADGROUP/XAUTOCLAIM: they would replay with
    // another clock.
    let aof: Vec<u8> = std::fs::read_dir(s.aof_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".incr.aof"))
        .flat_map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    let text = String::from_utf8_lossy(&aof).to_ascii_uppercase();
    assert!(!text.contains("XREADGROUP"), "{text}");
    assert!(!text.contains("XAUTOCLAIM"), "{text}");
    assert!(text.contains("CREATECONSUMER"), "{text}");
}
