//! Soak: mixed traffic over every data type, with expiry, through the proxy of an agent
//! with 2 shards and a `maxmemory` small enough that eviction runs all along, while one
//! shard at random is SIGKILLed (and restarted by the agent) about every minute.
//!
//! Every few seconds a sample is taken: throughput, p50/p99 latency, the RSS of the agent
//! and of its shards, `used_memory`, keys, evictions and expirations. The samples go to
//! `target/soak/samples.csv` and a summary to `target/soak/summary.txt`. The test fails
//! if the RSS grows in the second half of the run (once the data set is at `maxmemory`)
//! by more than 1% of itself per minute, which a real leak does and allocator noise does
//! not, or if a client saw an error other than `-TRYAGAIN`, `-LOADING` or `-OOM`.
//!
//! Ignored by default (it runs 10 minutes): `scripts/soak`, or
//! `SOAK_SECONDS=90 cargo test --release -p shoal-tests --test soak -- --ignored --nocapture`.
//! `SOAK_SECONDS` (600), `SOAK_SAMPLE_SECONDS` (5), `SOAK_KILL_SECONDS` (60, at most a
//! quarter of the run), `SOAK_CLIENTS` (4), `SOAK_KEYS` per type (50000) and
//! `SOAK_MAXMEMORY` ("32mb") change the run.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;
use shoal_tests::agent::{rss_bytes, Agent};
use shoal_tests::latency::Histogram;
use shoal_tests::server::TempDir;
use shoal_tests::traffic;
use shoal_tests::{RawClient, Reply};

const SHARDS: usize = 2;
/// Samples this soon after a kill (or a third of the time between kills, if less) are left
/// out of the RSS fit: the restarted shard is still replaying its AOF and growing back to
/// its size.
const SETTLE: Duration = Duration::from_secs(20);
/// The largest RSS growth of the stable half, per minute, as a share of the RSS.
const LEAK_TOLERANCE: f64 = 0.01;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the client threads share with the sampler.
struct Shared {
    stop: AtomicBool,
    latency: Vec<Mutex<Histogram>>,
    allowed_errors: AtomicU64,
    unexpected_errors: AtomicU64,
    /// The first few unexpected errors, for the failure message.
    unexpected: Mutex<Vec<String>>,
}

impl Shared {
    fn unexpected(&self, what: String) {
        self.unexpected_errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.unexpected.lock().unwrap_or_else(|e| e.into_inner());
        if first.len() < 10 {
            first.push(what);
        }
    }
}

fn client(port: u16, id: usize, keys: u64, shared: Arc<Shared>) {
    let mut rng = rand::thread_rng();
    let mut conn: Option<RawClient> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(c) = conn.as_mut() else {
            match RawClient::connect(port) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    shared.unexpected(format!("connect: {e}"));
                    thread::sleep(Duration::from_millis(100));
                }
            }
            continue;
        };
        let cmd = traffic::command(&mut rng, keys);
        let sent = Instant::now();
        let reply = c.call(&cmd);
        let us = sent.elapsed().as_micros() as u64;
        match reply {
            Ok(f) => {
                if let Reply::Error(e) = &f.reply {
                    if traffic::allowed_error(e) {
                        shared.allowed_errors.fetch_add(1, Ordering::Relaxed);
                    } else {
                        shared.unexpected(format!("{cmd:?}: {}", String::from_utf8_lossy(e)));
                    }
                }
                shared.latency[id]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record(us);
            }
            // The proxy stays up while shards restart: it must not drop its clients.
            Err(e) => {
                shared.unexpected(format!("{cmd:?}: connection: {e}"));
                conn = None;
            }
        }
    }
}

/// INFO fields summed over the shards by the proxy.
#[derive(Default, Clone, Copy)]
struct Info {
    used_memory: u64,
    keys: u64,
    evicted: u64,
    expired: u64,
}

/// INFO through the proxy; None while a shard is restarting.
fn info(port: u16) -> Option<Info> {
    let mut c = RawClient::connect(port).ok()?;
    let Reply::Bulk(text) = c.call(&["INFO", "everything"]).ok()?.reply else {
        return None;
    };
    let text = String::from_utf8_lossy(&text);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let Reply::Int(keys) = c.call(&["DBSIZE"]).ok()?.reply else {
        return None;
    };
    Some(Info {
        used_memory: field("used_memory")?,
        keys: keys as u64,
        evicted: field("evicted_keys")?,
        expired: field("expired_keys")?,
    })
}

struct Sample {
    t: f64,
    ops_per_s: f64,
    p50_us: u64,
    p99_us: u64,
    rss_agent: u64,
    rss_shards: u64,
    info: Option<Info>,
    allowed: u64,
    unexpected: u64,
    kills: u64,
    /// Taken within `SETTLE` of a kill.
    settling: bool,
}

impl Sample {
    const HEADER: &'static str = "t_s,ops_per_s,p50_us,p99_us,rss_agent_kib,rss_shards_kib,\
        rss_total_kib,used_memory_kib,keys,evicted_keys,expired_keys,allowed_errors,\
        unexpected_errors,shard_kills,settling";

    fn rss_kib(&self) -> f64 {
        (self.rss_agent + self.rss_shards) as f64 / 1024.0
    }

    fn csv(&self) -> String {
        let i = self.info;
        let opt = |f: fn(&Info) -> u64| i.as_ref().map(|i| f(i).to_string()).unwrap_or_default();
        format!(
            "{:.1},{:.0},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.t,
            self.ops_per_s,
            self.p50_us,
            self.p99_us,
            self.rss_agent / 1024,
            self.rss_shards / 1024,
            (self.rss_agent + self.rss_shards) / 1024,
            opt(|i| i.used_memory / 1024),
            opt(|i| i.keys),
            opt(|i| i.evicted),
            opt(|i| i.expired),
            self.allowed,
            self.unexpected,
            self.kills,
            u8::from(self.settling),
        )
    }
}

/// Least-squares slope of `y` over `x`; None with fewer than 3 points.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

#[test]
#[ignore = "a 10-minute soak; run it with scripts/soak"]
fn soak_mixed_traffic_with_eviction_and_shard_kills() {
    let run_for = Duration::from_secs(env_or("SOAK_SECONDS", 600));
    let every = Duration::from_secs(env_or("SOAK_SAMPLE_SECONDS", 5));
    let kill_every = Duration::from_secs(env_or("SOAK_KILL_SECONDS", 60)).min(run_for / 4);
    let clients: usize = env_or("SOAK_CLIENTS", 4);
    let keys: u64 = env_or("SOAK_KEYS", 50_000);
    let maxmemory: String = env_or("SOAK_MAXMEMORY", "32mb".to_string());
    let settle = SETTLE.min(kill_every / 3);
    let out_dir = shoal_tests::bin::target_dir().join("soak");
    std::fs::create_dir_all(&out_dir).expect("create target/soak");
    let mut csv = std::fs::File::create(out_dir.join("samples.csv")).expect("samples.csv");
    writeln!(csv, "{}", Sample::HEADER).expect("write samples.csv");

    let dir = TempDir::new("soak");
    let database = format!("maxmemory = \"{maxmemory}\"\nmaxmemory_policy = \"allkeys-lru\"");
    let agent = Agent::start(dir.path(), shoal_tests::shoal_bin(), SHARDS, &database, &[]);
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        latency: (0..clients).map(|_| Mutex::default()).collect(),
        allowed_errors: AtomicU64::new(0),
        unexpected_errors: AtomicU64::new(0),
        unexpected: Mutex::new(Vec::new()),
    });
    let handles: Vec<_> = (0..clients)
        .map(|id| {
            let (shared, port) = (shared.clone(), agent.port);
            thread::spawn(move || client(port, id, keys, shared))
        })
        .collect();

    let mut rng = rand::thread_rng();
    let start = Instant::now();
    let jitter = |rng: &mut rand::rngs::ThreadRng| kill_every.mul_f64(rng.gen_range(0.75..1.25));
    let mut next_kill = start + jitter(&mut rng);
    let mut last_kill: Option<Instant> = None;
    let mut kills = 0u64;
    let mut last = start;
    let mut all = Histogram::default();
    let mut samples: Vec<Sample> = Vec::new();
    while start.elapsed() < run_for {
        thread::sleep(every.saturating_sub(last.elapsed()));
        let now = Instant::now();
        if now >= next_kill {
            let pids = agent.shard_pids();
            if let Some(&pid) = pids.choose(&mut rng) {
                agent.kill9_shard(pid);
                kills += 1;
                last_kill = Some(Instant::now());
            }
            next_kill = now + jitter(&mut rng);
        }
        let mut h = Histogram::default();
        for l in &shared.latency {
            let mut l = l.lock().unwrap_or_else(|e| e.into_inner());
            h.merge(&l);
            *l = Histogram::default();
        }
        all.merge(&h);
        let dt = last.elapsed().as_secs_f64();
        last = Instant::now();
        let agent_pid = agent.pid().expect("the agent runs");
        let s = Sample {
            t: start.elapsed().as_secs_f64(),
            ops_per_s: h.count() as f64 / dt,
            p50_us: h.quantile(0.5),
            p99_us: h.quantile(0.99),
            rss_agent: rss_bytes(agent_pid),
            rss_shards: agent.shard_pids().into_iter().map(rss_bytes).sum(),
            info: info(agent.port),
            allowed: shared.allowed_errors.load(Ordering::Relaxed),
            unexpected: shared.unexpected_errors.load(Ordering::Relaxed),
            kills,
            settling: last_kill.is_some_and(|k| k.elapsed() < settle),
        };
        writeln!(csv, "{}", s.csv()).expect("write samples.csv");
        samples.push(s);
    }
    shared.stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("client thread");
    }
    let elapsed = start.elapsed();

    // The stable half: the second half of the run, without the samples right after kills.
    let half = run_for.as_secs_f64() / 2.0;
    let stable: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.t >= half && !s.settling)
        .collect();
    let rss: Vec<(f64, f64)> = stable.iter().map(|s| (s.t / 60.0, s.rss_kib())).collect();
    let used: Vec<(f64, f64)> = stable
        .iter()
        .filter_map(|s| Some((s.t / 60.0, s.info?.used_memory as f64 / 1024.0)))
        .collect();
    let rss_slope = slope(&rss);
    let used_slope = slope(&used);
    let mean_rss = rss.iter().map(|p| p.1).sum::<f64>() / rss.len().max(1) as f64;
    let max_p99 = samples.iter().map(|s| s.p99_us).max().unwrap_or(0);
    let evicted = samples
        .iter()
        .filter_map(|s| s.info.map(|i| i.evicted))
        .max()
        .unwrap_or(0);
    let expired = samples
        .iter()
        .filter_map(|s| s.info.map(|i| i.expired))
        .max()
        .unwrap_or(0);
    let keys_seen: Vec<u64> = stable
        .iter()
        .filter_map(|s| s.info.map(|i| i.keys))
        .collect();
    let unexpected = shared.unexpected_errors.load(Ordering::Relaxed);
    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "soak: {:.0} s, {clients} clients, {keys} keys per type, maxmemory {maxmemory}, \
         {kills} shard kills",
        elapsed.as_secs_f64()
    );
    let _ = writeln!(
        summary,
        "throughput: {:.0} ops/s ({} ops); latency p50 {} us, p99 {} us (worst 5 s p99 {} us)",
        all.count() as f64 / elapsed.as_secs_f64(),
        all.count(),
        all.quantile(0.5),
        all.quantile(0.99),
        max_p99
    );
    let _ = writeln!(
        summary,
        "RSS (agent + shards), stable half: mean {:.0} KiB, slope {} KiB/min \
         (tolerance {:.0}); used_memory slope {} KiB/min; {} samples",
        mean_rss,
        rss_slope.map_or("n/a".into(), |s| format!("{s:.1}")),
        mean_rss * LEAK_TOLERANCE,
        used_slope.map_or("n/a".into(), |s| format!("{s:.1}")),
        rss.len()
    );
    let _ = writeln!(
        summary,
        "keys in the stable half: {} to {}",
        keys_seen.iter().min().unwrap_or(&0),
        keys_seen.iter().max().unwrap_or(&0)
    );
    let _ = writeln!(
        summary,
        "evicted keys {evicted}, expired keys {expired} (largest counts seen; a restarted \
         shard starts over); allowed errors (TRYAGAIN/LOADING/OOM) {}; unexpected errors \
         {unexpected}",
        shared.allowed_errors.load(Ordering::Relaxed)
    );
    std::fs::write(out_dir.join("summary.txt"), &summary).expect("write summary.txt");
    print!("{summary}");
    println!("samples: {}", out_dir.join("samples.csv").display());

    let first = shared
        .unexpected
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert_eq!(unexpected, 0, "unexpected errors, the first: {first:?}");
    assert!(all.count() > 0, "no operation completed");
    assert!(
        evicted > 0,
        "maxmemory {maxmemory} never evicted: a bigger SOAK_KEYS?"
    );
    assert!(expired > 0, "no key expired");
    assert!(
        kills > 0,
        "no shard was killed: SOAK_SECONDS too short for SOAK_KILL_SECONDS?"
    );
    let rss_slope = rss_slope.expect("at least 3 stable samples: a longer SOAK_SECONDS");
    assert!(
        rss_slope.abs() < mean_rss * LEAK_TOLERANCE,
        "RSS drifts {rss_slope:.1} KiB/min in the stable half (mean {mean_rss:.0} KiB)"
    );
}
