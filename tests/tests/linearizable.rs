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

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng;
use shoal_tests::aof::AofShard;
use shoal_tests::linearize::{self, Event, Op, Outcome};
use shoal_tests::powerloss::{build_shim, power_loss};
use shoal_tests::server::TempDir;
use shoal_tests::{RawClient, Reply};

const KEYS: usize = 3;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs operations until `stop`, reconnecting while the shard restarts; returns its
/// operations on the shared keys. `own_acked` gets the highest acknowledged value of the
/// client's own counter.
fn client(
    port: u16,
    id: usize,
    start: Instant,
    stop: Arc<AtomicBool>,
    own_acked: Arc<Vec<AtomicI64>>,
) -> Vec<Event> {
    let mut rng = rand::thread_rng();
    let mut events = Vec::new();
    let own = format!("own:{id}");
    let mut conn: Option<RawClient> = None;
    let mut seq = 0i64;
    let ns = |t: Instant| t.duration_since(start).as_nanos() as u64;
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = conn.as_mut() else {
            match RawClient::connect(port) {
                Ok(c) => conn = Some(c),
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
            continue;
        };
        // A client's own counter: only it increments it, so every acknowledged value
        // must survive.
        if rng.gen_ratio(1, 8) {
            match c.call(&["INCR", own.as_str()]) {
                Ok(f) => match f.reply {
                    Reply::Int(n) => {
                        own_acked[id].fetch_max(n, Ordering::SeqCst);
                    }
                    ref e if loading(e) => thread::sleep(Duration::from_millis(5)),
                    other => panic!("INCR {own}: {other:?}"),
                },
                Err(_) => conn = None,
            }
            continue;
        }
        let key = format!("lin:{}", rng.gen_range(0..KEYS));
        let op = match rng.gen_range(0..10) {
            0..=3 => Op::Get,
            4..=6 => {
                seq += 1;
                Op::Set(id as i64 * 1_000_000_000 + seq)
            }
            _ => Op::Incr,
        };
        let value;
        let args: Vec<&str> = match op {
            Op::Get => vec!["GET", &key],
            Op::Set(v) => {
                value = v.to_string();
                vec!["SET", &key, &value]
            }
            Op::Incr => vec!["INCR", &key],
        };
        let invoke = ns(Instant::now());
        let reply = c.call(&args);
        let complete = ns(Instant::now());
        let outcome = match reply {
            Ok(f) => match (op, f.reply) {
                (Op::Get, Reply::NullBulk) => Outcome::Value(None),
                (Op::Get, Reply::Bulk(b)) => Outcome::Value(Some(
                    String::from_utf8_lossy(&b)
                        .parse()
                        .unwrap_or_else(|_| panic!("GET {key} gave {b:?}")),
                )),
                (Op::Set(_), Reply::Simple(s)) if s == b"OK" => Outcome::Ok,
                (Op::Incr, Reply::Int(n)) => Outcome::Int(n),
                // Refused while the restarted shard replays its AOF: it did not run.
                (_, ref e) if loading(e) => {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                }
                (_, other) => panic!("{args:?} answered {other:?}"),
            },
            Err(_) => {
                conn = None;
                // A read with no reply constrains nothing.
                if op == Op::Get {
                    continue;
                }
                Outcome::Unknown
            }
        };
        events.push(Event {
            client: id,
            key,
            op,
            outcome,
            invoke,
            complete,
        });
    }
    events
}

fn loading(r: &Reply) -> bool {
    matches!(r, Reply::Error(e) if e.starts_with(b"LOADING"))
}

fn counter(c: &mut RawClient, id: usize) -> i64 {
    match c.cmd(&["GET", &format!("own:{id}")]) {
        Reply::NullBulk => 0,
        Reply::Bulk(b) => String::from_utf8_lossy(&b).parse().expect("a counter"),
        other => panic!("GET own:{id}: {other:?}"),
    }
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
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let own_acked: Arc<Vec<AtomicI64>> =
        Arc::new((0..clients).map(|_| AtomicI64::new(0)).collect());
    let handles: Vec<_> = (0..clients)
        .map(|id| {
            let (stop, own_acked) = (stop.clone(), own_acked.clone());
            let port = shard.port;
            thread::spawn(move || client(port, id, start, stop, own_acked))
        })
        .collect();
    let mut rng = rand::thread_rng();
    // After each restart, each client's counter holds at least every increment
    // acknowledged before the kill (an ack read after the kill was sent before it).
    let mut lost = 0i64;
    for _ in 0..kills {
        thread::sleep(Duration::from_millis(rng.gen_range(100..600)));
        shard.kill9();
        let acked: Vec<i64> = own_acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
        power_loss(&shard.aof_dir(), &sync_log);
        shard.restart();
        let mut c = shard.client();
        for (id, &a) in acked.iter().enumerate() {
            lost += (a - counter(&mut c, id)).max(0);
        }
    }
    thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let events: Vec<Vec<Event>> = handles
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect();
    let mut c = shard.client();
    let mut own_acks = 0i64;
    for (id, a) in own_acked.iter().enumerate() {
        let a = a.load(Ordering::SeqCst);
        lost += (a - counter(&mut c, id)).max(0);
        own_acks += a;
    }
    let history: Vec<Event> = events.into_iter().flatten().collect();
    let acked_writes = history
        .iter()
        .filter(|e| e.op != Op::Get && e.outcome != Outcome::Unknown)
        .count();
    let unknown = history
        .iter()
        .filter(|e| e.outcome == Outcome::Unknown)
        .count();
    let checked = Instant::now();
    let report = linearize::check(&history);
    println!(
        "kills={kills} clients={clients} ops={} acknowledged writes={acked_writes} \
         own-counter acks={own_acks} maybe-happened={unknown} lost={lost} \
         violations={} (searched {} configurations in {:?})",
        report.ops,
        report.violations.len(),
        report.explored,
        checked.elapsed()
    );
    assert_eq!(lost, 0, "acknowledged increments were lost");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(acked_writes > 0, "no write was acknowledged");
}
