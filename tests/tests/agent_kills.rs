//! Linearizability and no lost acknowledged write through the agent's proxy, while
//! shards and the whole agent are SIGKILLed.
//!
//! The real agent (`shoal run`, 2 shards, `appendfsync always`) runs with the fsync
//! recording shim in its environment, which its shards inherit. Client threads run the
//! GET/SET/INCR workload of `linearizable.rs` through the proxy port. At random moments
//! either one shard is SIGKILLed (the agent restarts it; the machine stays up, so
//! nothing written is lost), or the agent is SIGKILLed (its shards die with it), every
//! shard's incr files are cut back to their last successful sync (a power cut), and a new
//! agent starts on the same directory. The recorded history must be linearizable, and
//! each client's own counter must hold every increment that was acknowledged.
//!
//! `SHOAL_AGENT_KILLS` sets the number of kills (default 6), `SHOAL_LIN_CLIENTS` the
//! number of client threads (default 8). The full run:
//! `SHOAL_AGENT_KILLS=100 cargo test --release -p shoal-tests --test agent_kills -- --nocapture`.

use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;
use shoal_proto::slotmap::SlotMap;
use shoal_tests::agent::Agent;
use shoal_tests::linearize::{self, Event};
use shoal_tests::powerloss::{build_shim, power_loss};
use shoal_tests::server::TempDir;
use shoal_tests::workload::{self, Run, KEYS};

const SHARDS: usize = 2;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kill {
    Shard,
    Agent,
}

#[test]
fn shard_and_agent_kills_through_the_proxy_keep_the_history_linearizable() {
    let kills = env_usize("SHOAL_AGENT_KILLS", 6);
    let clients = env_usize("SHOAL_LIN_CLIENTS", 8);
    // Both shards hold shared keys, or a shard kill would test nothing but counters.
    let owners: Vec<usize> = (0..KEYS)
        .map(|k| SlotMap::even(SHARDS).key_owner(format!("lin:{k}").as_bytes()))
        .collect();
    assert!(
        (0..SHARDS).all(|s| owners.contains(&s)),
        "shared keys all on one shard: {owners:?}"
    );
    let dir = TempDir::new("agent-kills");
    let so = build_shim(dir.path()).expect("the fsync shim");
    let sync_log = dir.path().join("syncs.log");
    let env = [
        ("LD_PRELOAD", so.to_str().expect("utf-8 path")),
        ("SHOAL_SYNC_LOG", sync_log.to_str().expect("utf-8 path")),
    ];
    let started = Instant::now();
    let mut agent = Agent::start(
        dir.path(),
        shoal_tests::shoal_bin(),
        SHARDS,
        "appendfsync = \"always\"",
        &env,
    );
    let run = Run::new(agent.port, clients);
    let handles: Vec<_> = (0..clients)
        .map(|id| {
            let run = run.clone();
            thread::spawn(move || workload::client(run, id))
        })
        .collect();
    let mut rng = rand::thread_rng();
    let mut lost = 0i64;
    let (mut shard_kills, mut agent_kills) = (0, 0);
    for i in 0..kills {
        thread::sleep(Duration::from_millis(rng.gen_range(100..600)));
        // The first two kills are one of each, so even a short run tries both.
        let kind = match i {
            0 => Kill::Shard,
            1 => Kill::Agent,
            _ if rng.gen_bool(0.5) => Kill::Shard,
            _ => Kill::Agent,
        };
        match kind {
            Kill::Shard => {
                let pids = agent.shard_pids();
                assert_eq!(pids.len(), SHARDS, "shards running: {pids:?}");
                let pid = *pids.choose(&mut rng).expect("a shard");
                agent.kill9_shard(pid);
                // An acknowledgement read after the kill was sent before it.
                let acked = run.acked();
                agent.wait_serving();
                assert!(
                    !agent.shard_pids().contains(&pid),
                    "shard {pid} still listed after SIGKILL"
                );
                lost += workload::lost(agent.port, &acked);
                shard_kills += 1;
            }
            Kill::Agent => {
                agent.kill9();
                let acked = run.acked();
                for aof in agent.aof_dirs() {
                    power_loss(&aof, &sync_log);
                }
                agent.restart();
                lost += workload::lost(agent.port, &acked);
                agent_kills += 1;
            }
        }
    }
    thread::sleep(Duration::from_millis(200));
    run.stop.store(true, Ordering::Relaxed);
    let events: Vec<Vec<Event>> = handles
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect();
    let acked = run.acked();
    lost += workload::lost(agent.port, &acked);
    let own_acks: i64 = acked.iter().sum();
    let history: Vec<Event> = events.into_iter().flatten().collect();
    let t = workload::tally(&history);
    let elapsed = started.elapsed();
    let checked = Instant::now();
    let report = linearize::check(&history);
    println!(
        "kills={kills} (shard {shard_kills}, agent {agent_kills}) clients={clients} \
         ops={} acknowledged writes={} own-counter acks={own_acks} maybe-happened={} \
         lost={lost} violations={} run {elapsed:?}, checked in {:?} ({} configurations)",
        t.ops,
        t.acked_writes,
        t.unknown,
        report.violations.len(),
        checked.elapsed(),
        report.explored,
    );
    assert_eq!(lost, 0, "acknowledged increments were lost");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(t.acked_writes > 0, "no write was acknowledged");
    assert!(own_acks > 0, "no counter increment was acknowledged");
}
