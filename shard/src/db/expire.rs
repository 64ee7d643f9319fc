//! Active expiry, the way Redis's `activeExpireCycle` does it: look at volatile keys in
//! rounds of twenty, delete the expired ones, and go on while more than a tenth of a round
//! was expired, within a time budget. Lazy expiry alone would let keys that are never read
//! again pile up.
//!
//! Rounds walk `expires` by position from a cursor kept between cycles (Redis keeps
//! `expires_cursor` the same way) instead of sampling at random: a walk reaches every
//! volatile key once per pass, so a few expired keys among many live ones cannot hide for
//! long. Deleting at a position moves the last entry into it, and that entry has not been
//! visited in this pass yet, so the walk re-examines the same position instead of moving on.

use std::time::{Duration, Instant};

use rand::Rng;

use super::Db;

/// Keys examined per round (Redis's `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const ROUND: usize = 20;
/// Stop once at most this percentage of a round was expired.
const ACCEPTABLE_STALE_PCT: usize = 10;

/// What INFO reports about the cycle (`expired_stale_perc`,
/// `expired_time_cap_reached_count`, `expire_cycle_cpu_milliseconds`).
#[derive(Debug, Default, Clone)]
pub struct ExpireStats {
    /// Running estimate of the share of volatile keys already expired, in percent.
    pub stale_perc: f64,
    /// Cycles that stopped because they ran out of time rather than of stale keys.
    pub time_cap_reached_count: u64,
    pub cycle_time_us: u64,
}

impl ExpireStats {
    pub fn cycle_cpu_ms(&self) -> u64 {
        self.cycle_time_us / 1000
    }
}

impl Db {
    /// Runs one cycle bounded by `budget`, unless DEBUG SET-ACTIVE-EXPIRE turned active
    /// expiry off. Returns the number of keys expired. `_rng` stays in the signature for
    /// callers; the walk itself needs no randomness.
    pub fn active_expire_cycle(
        &mut self,
        now: i64,
        budget: Duration,
        _rng: &mut impl Rng,
    ) -> usize {
        if !self.active_expire_enabled {
            return 0;
        }
        let start = Instant::now();
        let (mut total_sampled, mut total) = (0, 0);
        loop {
            let (sampled, expired) = self.expire_round(now);
            total_sampled += sampled;
            total += expired;
            if sampled == 0 || expired * 100 <= sampled * ACCEPTABLE_STALE_PCT {
                break;
            }
            if start.elapsed() >= budget {
                self.expire_stats.time_cap_reached_count += 1;
                break;
            }
        }
        let stats = &mut self.expire_stats;
        stats.cycle_time_us += start.elapsed().as_micros() as u64;
        // Smoothed like Redis's, so one unlucky cycle does not swing the figure.
        let current = if total_sampled == 0 {
            0.0
        } else {
            total as f64 * 100.0 / total_sampled as f64
        };
        stats.stale_perc = current * 0.05 + stats.stale_perc * 0.95;
        total
    }

    /// Examines up to [`ROUND`] volatile keys from the cursor on. Returns (examined,
    /// expired).
    fn expire_round(&mut self, now: i64) -> (usize, usize) {
        let want = ROUND.min(self.expires.len());
        let (mut sampled, mut expired) = (0, 0);
        while sampled < want {
            let len = self.expires.len();
            if len == 0 {
                break;
            }
            if self.expire_cursor >= len {
                self.expire_cursor = 0;
            }
            sampled += 1;
            let key = match self.expires.get_index(self.expire_cursor) {
                Some((k, &at)) if at <= now => k.clone(),
                Some(_) => {
                    self.expire_cursor += 1;
                    continue;
                }
                None => break,
            };
            if self.expire_if_needed(&key, now) {
                expired += 1;
            }
        }
        (sampled, expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Value;

    fn volatile_db(n: usize, expired_every: usize) -> Db {
        let mut db = Db::new();
        for i in 0..n {
            let k = format!("k{i}");
            db.set(k.as_bytes(), Value::str(b"v"), false);
            let at = if i % expired_every == 0 {
                10
            } else {
                1_000_000
            };
            db.set_expire(k.as_bytes(), at);
        }
        db
    }

    #[test]
    fn cycle_removes_expired_keys() {
        let mut db = volatile_db(1000, 2);
        let mut rng = rand::thread_rng();
        let mut removed = 0;
        for _ in 0..200 {
            removed += db.active_expire_cycle(100, Duration::from_millis(25), &mut rng);
        }
        assert_eq!(removed, 500);
        assert_eq!(db.len(), 500);
        assert_eq!(db.stats.expired_keys, 500);
        assert_eq!(db.expired.len(), 500);
    }

    #[test]
    fn sparse_expired_keys_are_found_by_the_walk() {
        // One expired key in a hundred: each cycle stops after a round, yet the cursor
        // carries on, so a full pass (50 rounds of 20) finds all of them.
        let mut db = volatile_db(1000, 100);
        let mut rng = rand::thread_rng();
        for _ in 0..60 {
            db.active_expire_cycle(100, Duration::from_millis(25), &mut rng);
        }
        assert_eq!(db.len(), 990);
        assert_eq!(db.expires_len(), 990);
    }

    #[test]
    fn stale_estimate_follows_the_keyspace() {
        let mut db = volatile_db(1000, 1);
        let mut rng = rand::thread_rng();
        db.active_expire_cycle(100, Duration::from_secs(5), &mut rng);
        assert!(db.expire_stats.stale_perc > 4.0, "{:?}", db.expire_stats);
        assert_eq!(db.len(), 0);
        // A budget of zero stops after the first round while keys are still stale.
        let mut db = volatile_db(1000, 1);
        db.active_expire_cycle(100, Duration::ZERO, &mut rng);
        assert_eq!(db.len(), 980);
        assert_eq!(db.expire_stats.time_cap_reached_count, 1);
    }

    #[test]
    fn disabled_cycle_expires_nothing() {
        let mut db = volatile_db(100, 1);
        db.active_expire_enabled = false;
        let mut rng = rand::thread_rng();
        assert_eq!(
            db.active_expire_cycle(100, Duration::from_millis(25), &mut rng),
            0
        );
        assert_eq!(db.len(), 100);
        // Lazy expiry still works.
        assert!(db.get(b"k0", 100).is_none());
    }
}
