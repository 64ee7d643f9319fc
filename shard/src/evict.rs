//! `maxmemory` enforcement: before a command runs (and from the cron while a bounded run
//! left work over), keys are evicted by the configured policy until the allocator's figure
//! is back under the limit; when nothing can go, commands that may grow memory are refused.
//!
//! # Memory figure
//! jemalloc's `stats.allocated` is only current after an epoch advance, which merges every
//! arena's counters and is far too slow to run per command. The meter therefore keeps the
//! figure from the last advance (at most ~1 ms old) and adds this thread's own net
//! allocation since then, read from jemalloc's per-thread counters through a cached pointer
//! (two loads). The shard's data lives on its one event-loop thread, so the sum follows
//! every write and every eviction at once; other threads only drift it until the next
//! advance.
//!
//! # Choosing victims
//! As in Redis, LRU is approximated: each round samples `maxmemory-samples` keys (from all
//! keys, or from the volatile ones for `volatile-*`) into a pool of the 16 best candidates
//! seen so far, ranked by idle time from the entry's seconds clock, and the best one still
//! present is evicted. `volatile-ttl` ranks by nearest expiry. Shoal keeps no LFU counter,
//! so the LFU policies rank by the same access clock (least recently used stands in for
//! least frequently used); this is the one place they differ from Redis.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::config::MaxmemoryPolicy;
use crate::db::{Db, Sds};
use crate::state::Server;

/// Candidates kept between rounds (Redis's `EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;
/// How old the allocator's global figure may get before it is refreshed.
const REFRESH: Duration = Duration::from_millis(1);
/// Keys evicted between checks of the time budget.
const KEYS_PER_CHECK: u64 = 16;

/// Redis's exact refusal text.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// What one eviction run achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Under the limit (or no limit).
    Ok,
    /// Still over, the time budget ran out; the cron continues. Commands are not refused.
    Running,
    /// Still over and nothing (more) can be evicted.
    Fail,
}

/// Eviction state kept by the server between commands.
#[derive(Default)]
pub struct Evictor {
    pub pool: Pool,
    meter: Meter,
    /// A run stopped on its time budget while still over the limit.
    pub pending: bool,
    /// The last command found memory over the limit with nothing left to evict (Redis's
    /// `pre_command_oom_state`); scripts check it for their first write.
    pub pre_command_oom: bool,
}

/// The figure `used_memory` would show, kept cheap (see the module notes).
#[derive(Default)]
struct Meter {
    base: u64,
    thread_at_base: i64,
    at: Option<Instant>,
}

thread_local! {
    static THREAD_COUNTERS: Option<(
        tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
        tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
    )> = tikv_jemalloc_ctl::thread::allocatedp::read()
        .and_then(|a| tikv_jemalloc_ctl::thread::deallocatedp::read().map(|d| (a, d)))
        .ok();
}

/// This thread's allocated minus freed bytes since it started.
fn thread_net() -> i64 {
    THREAD_COUNTERS.with(|c| match c {
        Some((a, d)) => a.get() as i64 - d.get() as i64,
        None => 0,
    })
}

impl Meter {
    fn used(&mut self) -> u64 {
        let stale = self.at.is_none_or(|at| at.elapsed() >= REFRESH);
        if stale {
            self.base = crate::state::used_memory();
            self.thread_at_base = thread_net();
            self.at = Some(Instant::now());
            return self.base;
        }
        let delta = thread_net() - self.thread_at_base;
        (self.base as i64 + delta).max(0) as u64
    }
}

/// Redis's `evictionTimeLimitUs`: how long one run may evict, from the tenacity setting
/// (0..=100; 100 means no limit).
pub fn time_limit(tenacity: u32) -> Option<Duration> {
    if tenacity <= 10 {
        return Some(Duration::from_micros(50 * tenacity as u64));
    }
    if tenacity < 100 {
        let us = 500.0 * 1.15f64.powi(tenacity as i32 - 10);
        return Some(Duration::from_micros(us as u64));
    }
    None
}

/// One candidate: a key and its score (higher is evicted first).
#[derive(Debug, Clone)]
struct Candidate {
    score: u64,
    key: Sds,
}

/// The best candidates seen, sorted by ascending score.
#[derive(Debug, Default)]
pub struct Pool {
    items: Vec<Candidate>,
}

/// Seconds a key has been idle by the 24-bit LRU clock, which wraps.
fn idle(clock: u32, lru: u32) -> u64 {
    if clock >= lru {
        (clock - lru) as u64
    } else {
        (0xFF_FFFF - lru as u64) + clock as u64
    }
}

impl Pool {
    /// Samples `samples` keys and merges them into the pool (Redis's
    /// `evictionPoolPopulate`).
    pub fn populate(&mut self, db: &Db, policy: MaxmemoryPolicy, samples: u32, rng: &mut impl Rng) {
        let volatile = policy.volatile_only();
        let len = if volatile { db.expires_len() } else { db.len() };
        if len == 0 {
            return;
        }
        for _ in 0..samples.max(1) {
            let i = rng.gen_range(0..len);
            let (key, score) = if volatile {
                let Some((key, at)) = db.volatile_at(i) else {
                    continue;
                };
                let score = if policy == MaxmemoryPolicy::VolatileTtl {
                    u64::MAX - at.max(0) as u64
                } else {
                    match db.entry_raw(key) {
                        Some(e) => idle(db.lru_clock, e.lru),
                        None => continue,
                    }
                };
                (key, score)
            } else {
                let Some((key, e)) = db.entry_at(i) else {
                    continue;
                };
                (key, idle(db.lru_clock, e.lru))
            };
            self.insert(key, score);
        }
    }

    fn insert(&mut self, key: &Sds, score: u64) {
        if self.items.iter().any(|c| c.key == *key) {
            return;
        }
        let pos = self.items.partition_point(|c| c.score < score);
        if self.items.len() >= POOL_SIZE {
            if pos == 0 {
                // Worse than everything kept, and there is no room.
                return;
            }
            // Drop the weakest candidate to make room.
            self.items.remove(0);
            self.items.insert(
                pos - 1,
                Candidate {
                    score,
                    key: key.clone(),
                },
            );
            return;
        }
        self.items.insert(
            pos,
            Candidate {
                score,
                key: key.clone(),
            },
        );
    }

    /// Takes the best candidate that still exists (and, for volatile policies, still has
    /// a TTL); stale entries are dropped on the way.
    pub fn pop_best(&mut self, db: &Db, volatile: bool) -> Option<Sds> {
        while let Some(c) = self.items.pop() {
            let present = if volatile {
                db.expire_at(&c.key).is_some()
            } else {
                db.entry_raw(&c.key).is_some()
            };
            if present {
                return Some(c.key);
            }
        }
        None
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Picks the next key to evict under `policy`, or None when there is none.
fn pick(srv: &mut Server, policy: MaxmemoryPolicy) -> Option<Sds> {
    let db = &srv.db;
    match policy {
        MaxmemoryPolicy::Noeviction => None,
        MaxmemoryPolicy::AllkeysRandom => {
            let len = db.len();
            (len > 0)
                .then(|| srv.rng.gen_range(0..len))
                .and_then(|i| db.entry_at(i).map(|(k, _)| k.clone()))
        }
        MaxmemoryPolicy::VolatileRandom => {
            let len = db.expires_len();
            (len > 0)
                .then(|| srv.rng.gen_range(0..len))
                .and_then(|i| db.volatile_at(i).map(|(k, _)| k.clone()))
        }
        _ => {
            let volatile = policy.volatile_only();
            let samples = srv.config.maxmemory_samples;
            // A pool emptied of stale keys gets refilled; a few tries cover a keyspace
            // that keeps shrinking under us.
            for _ in 0..4 {
                let ev = &mut srv.evict;
                ev.pool.populate(&srv.db, policy, samples, &mut srv.rng);
                if let Some(k) = ev.pool.pop_best(&srv.db, volatile) {
                    return Some(k);
                }
                if (volatile && srv.db.expires_len() == 0) || srv.db.is_empty() {
                    return None;
                }
            }
            None
        }
    }
}

/// The current memory figure the limit is checked against.
pub fn used(srv: &mut Server) -> u64 {
    srv.evict.meter.used()
}

/// Redis's `performEvictions`: evicts until under `maxmemory`, within the tenacity budget.
pub fn perform(srv: &mut Server) -> Outcome {
    let limit = srv.config.maxmemory;
    if limit == 0 {
        srv.evict.pending = false;
        return Outcome::Ok;
    }
    let used = srv.evict.meter.used();
    if used <= limit {
        srv.evict.pending = false;
        return Outcome::Ok;
    }
    let policy = srv.config.policy();
    if policy == MaxmemoryPolicy::Noeviction {
        return Outcome::Fail;
    }
    let to_free = used - limit;
    let budget = time_limit(srv.config.maxmemory_eviction_tenacity);
    let start = Instant::now();
    let mut freed: u64 = 0;
    let mut keys: u64 = 0;
    while freed < to_free {
        let Some(key) = pick(srv, policy) else {
            srv.evict.pending = false;
            // The tables keep their size after removals; giving that back may be enough.
            if srv.db.shrink_if_sparse(true) && srv.evict.meter.used() <= limit {
                return Outcome::Ok;
            }
            return Outcome::Fail;
        };
        let before = thread_net();
        evict_key(srv, &key);
        let after = thread_net();
        freed += (before - after).max(0) as u64;
        keys += 1;
        if keys.is_multiple_of(KEYS_PER_CHECK) {
            srv.db.shrink_if_sparse(false);
            if srv.evict.meter.used() <= limit {
                break;
            }
            if budget.is_some_and(|b| start.elapsed() >= b) {
                srv.evict.pending = true;
                return Outcome::Running;
            }
        }
    }
    srv.evict.pending = false;
    Outcome::Ok
}

/// Deletes one key the way Redis evicts: a DEL to the AOF, the `evicted` event, WATCH
/// invalidation and the statistic.
fn evict_key(srv: &mut Server, key: &Sds) {
    if srv.db.remove(key).is_none() {
        return;
    }
    srv.persist.append(&[b"DEL" as &[u8], key.as_ref()]);
    srv.stats.evicted_keys += 1;
    crate::cmd::multi::touch(srv, key);
    crate::notify::notify(srv, crate::notify::EVICTED, "evicted", key);
}

#[cfg(test)]
#[path = "evict_tests.rs"]
mod tests;
