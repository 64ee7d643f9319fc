//! The state one shard's event loop owns: keyspace, clients, settings and counters.
//! It lives in an `Rc<RefCell<…>>` shared by the connection tasks of the single thread;
//! no borrow is ever held across an `.await`, so borrows never conflict.

use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::client::Registry;
use crate::config::ShardConfig;
use crate::db::Db;

#[derive(Debug, Default)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub rejected_connections: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub total_error_replies: u64,
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
    pub run_id: String,
    pub rng: SmallRng,
    /// Clients blocked on keys; `blocking.blocked_clients()` is INFO's `blocked_clients`.
    pub blocking: crate::blocking::Blocking,
    /// WATCHed keys of every client.
    pub watches: crate::cmd::multi::Watches,
    /// Channel and pattern subscriptions; messages go to each client's outbox.
    pub pubsub: crate::pubsub::Broker<Rc<crate::pubsub::outbox::Outbox>>,
}

impl Server {
    pub fn new(config: ShardConfig) -> Server {
        let mut rng = SmallRng::from_entropy();
        let run_id = (0..40)
            .map(|_| format!("{:x}", rand::Rng::gen_range(&mut rng, 0..16)))
            .collect();
        Server {
            db: Db::new(),
            clients: Registry::default(),
            config,
            stats: Stats::default(),
            dirty: 0,
            started: Instant::now(),
            run_id,
            rng,
            blocking: Default::default(),
            watches: Default::default(),
            pubsub: Default::default(),
        }
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
