//! The state one shard's event loop owns: keyspace, clients, settings and counters.
//! It lives in an `Rc<RefCell<…>>` shared by the connection tasks of the single thread;
//! no borrow is ever held across an `.await`, so borrows never conflict.

use std::rc::Rc;
pub mod histogram;

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::client::Registry;
use crate::config::ShardConfig;
use crate::db::Db;

/// One command's counters, as INFO COMMANDSTATS reports them.
#[derive(Debug, Default, Clone)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    /// Refused before running (arity, authentication …).
    pub rejected_calls: u64,
    /// Ran and replied with an error.
    pub failed_calls: u64,
    /// Run times in nanoseconds while `latency-tracking` is on (INFO LATENCYSTATS).
    pub latency: Option<histogram::Histogram>,
}

/// How many samples the instantaneous metrics average over, as in Redis.
const METRIC_SAMPLES: usize = 16;

/// A per-second rate averaged over the last few cron samples (INFO's `instantaneous_*`).
#[derive(Debug, Default)]
pub struct Rate {
    last_value: u64,
    last_ms: i64,
    samples: [u64; METRIC_SAMPLES],
    idx: usize,
}

impl Rate {
    pub fn sample(&mut self, value: u64, now_ms: i64) {
        if self.last_ms != 0 {
            let dt = (now_ms - self.last_ms).max(1) as u64;
            self.samples[self.idx] = value.saturating_sub(self.last_value) * 1000 / dt;
            self.idx = (self.idx + 1) % METRIC_SAMPLES;
        }
        self.last_value = value;
        self.last_ms = now_ms;
    }

    pub fn per_sec(&self) -> u64 {
        self.samples.iter().sum::<u64>() / METRIC_SAMPLES as u64
    }
}

/// Per-command statistics, in the order commands were first run.
pub type CommandStats = indexmap::IndexMap<
    &'static str,
    CmdStat,
    std::hash::BuildHasherDefault<shoal_proto::command::NameHasher>,
>;

#[derive(Debug, Default)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub rejected_connections: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub total_error_replies: u64,
    pub evicted_keys: u64,
    pub total_reads_processed: u64,
    pub total_writes_processed: u64,
    /// By full command name (`client|list`).
    pub commands: CommandStats,
    /// Where the last command counted sits in `commands`: a pipeline repeats one command,
    /// so most counts skip the lookup.
    last_counted: Option<(&'static str, usize)>,
    /// By error code, the first word of the error (`ERR`, `WRONGTYPE` …).
    pub errors: BTreeMap<String, u64>,
    pub ops_rate: Rate,
    pub input_rate: Rate,
    pub output_rate: Rate,
    pub peak_memory: u64,
}

impl Stats {
    /// Counts one error reply under its code, as Redis's error stats do: the text up to
    /// the first space within the first 32 bytes, or `ERR` when there is none.
    pub fn count_error(&mut self, text: &str) {
        self.total_error_replies += 1;
        let head = &text.as_bytes()[..text.len().min(31)];
        let code = match head.iter().position(|&b| b == b' ') {
            Some(i) => &text[..i],
            None => "ERR",
        };
        match self.errors.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                self.errors.insert(code.to_string(), 1);
            }
        }
    }

    /// Counts one executed command that ran for `nanos`; MULTI/EXEC and scripts call
    /// this for the commands they run, as Redis counts those too.
    pub fn record_call(&mut self, name: &'static str, nanos: u64, failed: bool, track: bool) {
        let at = match self.last_counted {
            Some((last, at)) if std::ptr::eq(last, name) => at,
            _ => {
                let entry = self.commands.entry(name);
                let at = entry.index();
                entry.or_default();
                self.last_counted = Some((name, at));
                at
            }
        };
        // Entries are never removed (a reset replaces the whole `Stats`), so `at` holds.
        let Some((_, stat)) = self.commands.get_index_mut(at) else {
            return;
        };
        stat.calls += 1;
        stat.usec += nanos / 1000;
        stat.failed_calls += failed as u64;
        if track {
            stat.latency
                .get_or_insert_with(Default::default)
                .record(nanos);
        }
    }

    /// CONFIG RESETSTAT: clears the counters, keeping what describes the present.
    pub fn reset(&mut self) {
        let peak = self.peak_memory;
        *self = Stats::default();
        self.peak_memory = peak;
    }
}

pub struct Server {
    pub db: Db,
    pub clients: Registry,
    pub config: ShardConfig,
    pub stats: Stats,
    /// Changes since start, as Redis's `server.dirty`: a command that changes the dataset
    /// adds to it, which is what decides propagation to the AOF and WATCH invalidation.
    pub dirty: u64,
    pub started: Instant,
    /// Unix time for commands, from their start instant.
    pub wall: WallClock,
    /// Unix seconds of the last successful save (LASTSAVE); the start time until the
    /// durability layer records one.
    pub lastsave: i64,
    pub run_id: String,
    /// The replication ID INFO reports; DEBUG CHANGE-REPL-ID draws a new one.
    pub replid: String,
    /// Allocated bytes once the shard was ready, before any data (`used_memory_startup`).
    pub startup_memory: u64,
    pub slowlog: crate::cmd::server::slowlog::SlowLog,
    pub latency: crate::cmd::server::latency::Monitor,
    /// Signalled by SHUTDOWN; the event loop then stops as it does on SIGTERM.
    pub shutdown: std::rc::Rc<tokio::sync::Notify>,
    pub rng: SmallRng,
    /// Clients blocked on keys; `blocking.blocked_clients()` is INFO's `blocked_clients`.
    pub blocking: crate::blocking::Blocking,
    /// WATCHed keys of every client.
    pub watches: crate::cmd::multi::Watches,
    /// Channel and pattern subscriptions; messages go to each client's outbox.
    pub pubsub: crate::pubsub::Broker<Rc<crate::pubsub::outbox::Outbox>>,
    /// The AOF and its status.
    pub persist: crate::persist::Persist,
    /// `maxmemory` enforcement: the eviction pool and the memory meter.
    pub evict: crate::evict::Evictor,
    /// The script cache, the Lua engine and the running script.
    pub scripts: crate::script::Scripts,
    /// The users TCP clients authenticate as and are checked against.
    pub acl: crate::acl::Acl,
}

impl Server {
    pub fn new(config: ShardConfig) -> Server {
        let mut rng = SmallRng::from_entropy();
        let run_id = random_hex(&mut rng);
        let replid = random_hex(&mut rng);
        let acl = acl_of(&config);
        Server {
            db: Db::new(),
            clients: Registry::default(),
            config,
            stats: Stats::default(),
            dirty: 0,
            started: Instant::now(),
            wall: WallClock::new(),
            lastsave: now_ms() / 1000,
            run_id,
            replid,
            startup_memory: used_memory(),
            slowlog: Default::default(),
            latency: Default::default(),
            shutdown: Default::default(),
            rng,
            blocking: Default::default(),
            watches: Default::default(),
            pubsub: Default::default(),
            persist: Default::default(),
            evict: Default::default(),
            scripts: Default::default(),
            acl,
        }
    }
}

/// The `default` user (with `requirepass`) and the configured users. The agent checks the
/// rules before it starts a shard; should one still not apply, the shard starts without
/// the extra users, so nobody gets in as a user whose rules were not all applied.
fn acl_of(config: &ShardConfig) -> crate::acl::Acl {
    let pass = config
        .requirepass
        .as_ref()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    crate::acl::Acl::new(pass.as_deref(), &config.users).unwrap_or_else(|e| {
        tracing::error!(error = %e, "ACL user rules refused; starting with `default` only");
        crate::acl::Acl::default_only(pass.as_deref())
    })
}

/// 40 random hex digits, the shape of Redis's run and replication IDs.
pub fn random_hex(rng: &mut SmallRng) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..40)
        .map(|_| char::from(HEX[rand::Rng::gen_range(rng, 0..16)]))
        .collect()
}

/// The allocator's view of this process's memory, in bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryStats {
    /// Bytes the program holds (Redis's `used_memory`).
    pub allocated: u64,
    /// Bytes in pages the allocator has in use, including fragmentation.
    pub active: u64,
    pub resident: u64,
    /// The process's resident set size from the kernel.
    pub rss: u64,
}

fn refresh_allocator_stats() {
    if let Err(e) = tikv_jemalloc_ctl::epoch::advance() {
        tracing::debug!(error = %e, "jemalloc epoch advance failed");
    }
}

/// Bytes the program holds (Redis's `used_memory`), fresh from the allocator.
pub fn used_memory() -> u64 {
    refresh_allocator_stats();
    tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64
}

/// Reads jemalloc's counters, refreshing them first (they are cached per epoch).
pub fn memory_stats() -> MemoryStats {
    use tikv_jemalloc_ctl::stats;
    refresh_allocator_stats();
    MemoryStats {
        allocated: stats::allocated::read().unwrap_or(0) as u64,
        active: stats::active::read().unwrap_or(0) as u64,
        resident: stats::resident::read().unwrap_or(0) as u64,
        rss: proc_kib("/proc/self/status", "VmRSS:") * 1024,
    }
}

/// Physical memory of the machine (INFO's `total_system_memory`).
pub fn total_system_memory() -> u64 {
    proc_kib("/proc/meminfo", "MemTotal:") * 1024
}

/// A `Name:   123 kB` field of a /proc file, in KiB; 0 when unavailable.
fn proc_kib(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Unix time read off the monotonic clock. A command reads `Instant::now()` anyway to time
/// itself; its `now` for expiry then needs no second clock read, which on a VM costs tens
/// of nanoseconds and showed up as several percent of a pipelined SET. The cron re-anchors
/// it, so a step of the wall clock shows within one cron period.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    at: Instant,
    unix_us: i64,
}

impl WallClock {
    pub fn new() -> Self {
        WallClock {
            at: Instant::now(),
            unix_us: now_us(),
        }
    }

    /// Unix milliseconds at `t`.
    pub fn ms_at(&self, t: Instant) -> i64 {
        let since = t.saturating_duration_since(self.at);
        let us = since.as_secs() as i64 * 1_000_000 + since.subsec_micros() as i64;
        (self.unix_us + us) / 1000
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix time in microseconds.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
