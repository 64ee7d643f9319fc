//! Counters of the AOF writer, shared by the writer threads (which update them) and the
//! event loop (which reports them in INFO and `/metrics`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Buckets of the fsync latency histogram: bucket `i` counts syncs that took less than
/// `2^i` µs (and at least `2^(i-1)`); the last one also counts everything slower.
pub const FSYNC_BUCKETS: usize = 26;

/// The writer's counters. All monotonic except `last_write_ok`.
#[derive(Debug)]
pub struct AofStats {
    /// `fdatasync` calls (`shoal_aof_fsyncs_total`).
    pub fsyncs: AtomicU64,
    /// `write` calls (`shoal_aof_write_syscalls_total`).
    pub write_syscalls: AtomicU64,
    /// Bytes written, annotations included.
    pub bytes_written: AtomicU64,
    /// Group-commit batches written.
    pub batches: AtomicU64,
    /// Redis's `aof_delayed_fsync`: batches that had to wait for an fsync in flight for
    /// more than 2 s.
    pub delayed_fsync: AtomicU64,
    /// Total fsync time, for the histogram's sum.
    pub fsync_micros: AtomicU64,
    pub fsync_hist: [AtomicU64; FSYNC_BUCKETS],
    /// Redis's `aof_last_write_status`.
    pub last_write_ok: AtomicBool,
    /// Commands refused or dropped because the writer was poisoned.
    pub dropped: AtomicU64,
    /// Times a writer thread woke up (idle polls included): shows they never spin.
    pub helper_wakeups: AtomicU64,
}

impl Default for AofStats {
    fn default() -> Self {
        AofStats {
            fsyncs: AtomicU64::new(0),
            write_syscalls: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            delayed_fsync: AtomicU64::new(0),
            fsync_micros: AtomicU64::new(0),
            fsync_hist: std::array::from_fn(|_| AtomicU64::new(0)),
            last_write_ok: AtomicBool::new(true),
            dropped: AtomicU64::new(0),
            helper_wakeups: AtomicU64::new(0),
        }
    }
}

impl AofStats {
    pub(crate) fn record_fsync(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.fsyncs.fetch_add(1, Relaxed);
        self.fsync_micros.fetch_add(us, Relaxed);
        self.fsync_hist[bucket(us)].fetch_add(1, Relaxed);
    }

    /// Upper bound (exclusive, µs) of histogram bucket `i`; `None` for the last (+Inf).
    pub fn bucket_upper_micros(i: usize) -> Option<u64> {
        (i + 1 < FSYNC_BUCKETS).then(|| 1u64 << i)
    }

    /// A copy of the histogram counts.
    pub fn fsync_histogram(&self) -> [u64; FSYNC_BUCKETS] {
        std::array::from_fn(|i| self.fsync_hist[i].load(Relaxed))
    }
}

fn bucket(us: u64) -> usize {
    ((64 - us.leading_zeros()) as usize).min(FSYNC_BUCKETS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log2_micros() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1), 1);
        assert_eq!(bucket(3), 2);
        assert_eq!(bucket(1000), 10);
        assert_eq!(bucket(u64::MAX), FSYNC_BUCKETS - 1);
        let s = AofStats::default();
        s.record_fsync(Duration::from_micros(1500));
        assert_eq!(s.fsyncs.load(Relaxed), 1);
        assert_eq!(s.fsync_histogram()[11], 1);
        assert_eq!(AofStats::bucket_upper_micros(11), Some(2048));
        assert_eq!(AofStats::bucket_upper_micros(FSYNC_BUCKETS - 1), None);
    }
}
