//! Active expiry, the way Redis's `activeExpireCycle` does it: sample volatile keys at
//! random, delete the expired ones, and go on while more than a tenth of a sample was
//! expired, within a time budget. Lazy expiry alone would let keys that are never read
//! again pile up.

use std::time::{Duration, Instant};

use rand::Rng;

use super::Db;

/// Keys sampled per round (Redis's `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const SAMPLE: usize = 20;
/// Stop once at most this percentage of a sample was expired.
const ACCEPTABLE_STALE_PCT: usize = 10;

impl Db {
    /// Runs one cycle bounded by `budget`. Returns the number of keys expired.
    pub fn active_expire_cycle(&mut self, now: i64, budget: Duration, rng: &mut impl Rng) -> usize {
        let start = Instant::now();
        let mut total = 0;
        loop {
            let n = self.expires_len();
            if n == 0 {
                break;
            }
            let sample = SAMPLE.min(n);
            let mut expired = 0;
            for _ in 0..sample {
                let len = self.expires_len();
                if len == 0 {
                    break;
                }
                let i = rng.gen_range(0..len);
                let due = match self.expires_map().get_index(i) {
                    Some((k, &at)) if at <= now => Some(k.clone()),
                    _ => None,
                };
                if let Some(key) = due {
                    self.expire_key_if_due(&key, now);
                    expired += 1;
                }
            }
            total += expired;
            if expired * 100 <= sample * ACCEPTABLE_STALE_PCT || start.elapsed() >= budget {
                break;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Value;

    #[test]
    fn cycle_removes_expired_keys() {
        let mut db = Db::new();
        let mut rng = rand::thread_rng();
        for i in 0..1000 {
            let k = format!("k{i}");
            db.set(k.as_bytes(), Value::str(b"v"), false);
            db.set_expire(k.as_bytes(), if i % 2 == 0 { 10 } else { 1_000_000 });
        }
        let mut removed = 0;
        for _ in 0..200 {
            removed += db.active_expire_cycle(100, Duration::from_millis(25), &mut rng);
        }
        assert!(removed >= 450, "only {removed} of 500 expired keys removed");
        assert_eq!(db.len(), 1000 - removed);
    }
}
