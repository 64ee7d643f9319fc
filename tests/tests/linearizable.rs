//! Linearizability under SIGKILL and simulated power loss.
//!
//! Client threads run GET, SET and INCR on a few shared keys against a shard with
//! `appendfsync always`, recording every operation's invocation and completion. The shard
//! is killed with SIGKILL at random moments, its incr files are cut back to their last
//! successful sync (what a power cut keeps), and it restarts on the same directory. The
//! recorded history must be linearizable, counting an operation whose reply was lost as
//! "maybe happened"; and each client's own counter must hold every increment that was
//! acknowledged.
//!
//! `SHOAL_LIN_KILLS` sets the number of kills (default 5), `SHOAL_LIN_CLIENTS` the number
//! of client threads (default 8).

use std::thread;
use std::time::{Duration, Instant};

use rand::Rng;
use shoal_tests::aof::AofShard;
use shoal_tests::linearize::{self, Event};
use shoal_tests::powerloss::{build_shim, power_loss};
use shoal_tests::server::TempDir;
use shoal_tests::workload::{self, Run};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn kills_and_power_loss_keep_the_history_linearizable() {
    let kills = env_usize("SHOAL_LIN_KILLS", 5);
    let clients = env_usize("SHOAL_LIN_CLIENTS", 8);
    let dir = TempDir::new("linearizable");
    let so = build_shim(dir.path()).expect("the fsync shim");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let sync_log = dir.path().join("syncs.log");
    let env = [
        ("LD_PRELOAD", so.to_str().expect("utf-8 path")),
        ("SHOAL_SYNC_LOG", sync_log.to_str().expect("utf-8 path")),
    ];
    let mut shard = AofShard::start_env(&data, "always", &env);
    let run = Run::new(shard.port, clients);
    let handles: Vec<_> = (0..clients)
        .map(|id| {
            let run = run.clone();
            thread::spawn(move || workload::client(run, id))
        })
        .collect();
    let mut rng = rand::thread_rng();
    // After each restart, each client's counter holds at least every increment
    // acknowledged before the kill (an ack read after the kill was sent before it).
    let mut lost = 0i64;
    for _ in 0..kills {
        thread::sleep(Duration::from_millis(rng.gen_range(100..600)));
        shard.kill9();
        let acked = run.acked();
        power_loss(&shard.aof_dir(), &sync_log);
        shard.restart();
        lost += workload::lost(shard.port, &acked);
    }
    thread::sleep(Duration::from_millis(200));
    run.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let events: Vec<Vec<Event>> = handles
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect();
    let acked = run.acked();
    lost += workload::lost(shard.port, &acked);
    let own_acks: i64 = acked.iter().sum();
    let history: Vec<Event> = events.into_iter().flatten().collect();
    let t = workload::tally(&history);
    let checked = Instant::now();
    let report = linearize::check(&history);
    println!(
        "kills={kills} clients={clients} ops={} acknowledged writes={} \
         own-counter acks={own_acks} maybe-happened={} lost={lost} \
         violations={} (searched {} configurations in {:?})",
        t.ops,
        t.acked_writes,
        t.unknown,
        report.violations.len(),
        report.explored,
        checked.elapsed()
    );
    assert_eq!(lost, 0, "acknowledged increments were lost");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(t.acked_writes > 0, "no write was acknowledged");
}
