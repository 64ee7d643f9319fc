//! What the supervisor publishes for the admin endpoints: a status snapshot behind a
//! mutex, the metrics, and a heartbeat that shows the supervisor's loop is turning.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::metrics::Metrics;

pub struct Shared {
    pub metrics: Metrics,
    /// A std mutex: it is held only to copy a snapshot in or out, never across an await.
    pub status: Mutex<Status>,
    pub ready: AtomicBool,
    started: Instant,
    heartbeat_ms: AtomicU64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub ready: bool,
    pub stopping: bool,
    pub shards: Vec<ShardStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShardStatus {
    pub database: String,
    pub shard: usize,
    pub pid: Option<i32>,
    pub cpu: Option<usize>,
    pub state: &'static str,
    pub restarts: u64,
    /// The shard's own TCP port (cluster_api only); null otherwise.
    pub port: Option<u16>,
    pub socket: String,
    pub last_exit: Option<i32>,
    /// The delay before the pending restart, while backing off.
    pub backoff_ms: Option<u64>,
    pub keys: Option<u64>,
    pub memory_used_bytes: Option<u64>,
    pub connected_clients: Option<u64>,
}

/// `/livez` fails when the supervisor has not turned its loop for this long.
pub const LIVENESS_STALE: Duration = Duration::from_secs(5);

impl Shared {
    pub fn new(metrics: Metrics) -> Shared {
        Shared {
            metrics,
            status: Mutex::new(Status::default()),
            ready: AtomicBool::new(false),
            started: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
        }
    }

    pub fn beat(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
    }

    pub fn is_live(&self) -> bool {
        let now = self.started.elapsed();
        let last = Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        now.saturating_sub(last) < LIVENESS_STALE
    }

    pub fn publish(&self, status: Status) {
        self.ready.store(status.ready, Ordering::Relaxed);
        self.metrics.ready.set(i64::from(status.ready));
        match self.status.lock() {
            Ok(mut s) => *s = status,
            // A panic while holding the lock left a whole old snapshot; replace it anyway.
            Err(poisoned) => *poisoned.into_inner() = status,
        }
    }

    pub fn snapshot(&self) -> Status {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}
