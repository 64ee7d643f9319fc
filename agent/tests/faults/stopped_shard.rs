//! A shard stopped with SIGSTOP: its requests get `-TRYAGAIN` after the deadline, the
//! other shard is unaffected, and it serves again after SIGCONT.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{self, serial};
use crate::support::*;

#[test]
fn a_stopped_shard_gets_tryagain_after_the_deadline_and_comes_back() {
    let _g = serial();
    let dir = common::temp_dir("faults-stop");
    let a = agent_in(
        &dir,
        30101,
        30102,
        2,
        "restart_deadline = \"1s\"\n",
        // everysec: the other shard's latency is then the CPU's, not the disk's.
        &[("SHOAL_APPENDFSYNC", "everysec")],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let w0 = writer(30101, tag_on(0, 2, 0), stop.clone());
    let w1 = writer(30101, tag_on(1, 2, 0), stop.clone());
    std::thread::sleep(Duration::from_millis(300));
    let pid = shard_pids(&a)[1];
    common::unsafe_free_kill(pid, 19); // SIGSTOP
    let stopped_at = Instant::now();
    let mut livez_bad = 0;
    let mut readyz_503 = false;
    // Longer than the INFO scrape interval (5 s) plus its timeout (2 s), so the health
    // checker sees the shard hang.
    while stopped_at.elapsed() < Duration::from_secs(8) {
        livez_bad += usize::from(a.get("/livez").0 != 200);
        readyz_503 |= a.get("/readyz").0 == 503;
        std::thread::sleep(Duration::from_millis(100));
    }
    common::unsafe_free_kill(pid, 18); // SIGCONT
    let back = common::wait_until(Duration::from_secs(10), || a.get("/readyz").0 == 200);
    assert!(back.is_some(), "shard 1 ready again; log:\n{}", a.log());
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Relaxed);
    let (s0, s1) = (w0.join().unwrap(), w1.join().unwrap());
    let after = shard_pids(&a);
    println!(
        "stopped shard: ok={} tryagain={} waits={:?}; other shard: ok={} tryagain={} max_latency={:?}; \
         readyz 503 while stopped: {readyz_503}; ready again {:?} after SIGCONT; pid {} -> {}",
        s1.ok,
        s1.tryagain,
        s1.tryagain_waits,
        s0.ok,
        s0.tryagain,
        s0.max_ok_latency,
        back.unwrap_or_default(),
        pid,
        after[1],
    );
    assert!(s0.other_errors.is_empty() && s1.other_errors.is_empty());
    assert_eq!(livez_bad, 0, "/livez stays 200");
    assert!(
        readyz_503,
        "the health checker marks the hung shard not ready"
    );
    // The other shard's client never noticed: no error, and never near the deadline (the
    // bound is loose: the tests share two CPUs with builds).
    assert_eq!(s0.tryagain, 0);
    assert!(
        s0.max_ok_latency < Duration::from_millis(600),
        "{:?}",
        s0.max_ok_latency
    );
    assert!(s0.ok > 500, "{}", s0.ok);
    // The stopped shard's client got -TRYAGAIN, each after the deadline and not much later.
    assert!(s1.tryagain >= 4, "{}", s1.tryagain);
    for w in &s1.tryagain_waits {
        assert!(
            *w >= Duration::from_millis(980) && *w < Duration::from_millis(3000),
            "{:?}",
            s1.tryagain_waits
        );
    }
    // After SIGCONT it is served again by the same process (hung is not restarted) ...
    assert_eq!(after[1], pid, "a stopped shard is not restarted");
    assert!(s1.ok > 50, "{}", s1.ok);
    let mut c = tcp(30101);
    assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
    // ... with every acknowledged write on both shards.
    let n = check_acked(30101, &s0.acked) + check_acked(30101, &s1.acked);
    println!("acknowledged writes checked: {n}, lost: 0");
}
