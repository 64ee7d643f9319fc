//! The proxy: one client port per database, each command routed to the shard that owns
//! its key's slot over the shards' Unix sockets.
//!
//! Each proxy thread runs a current-thread tokio runtime that owns its clients and one
//! pipelined upstream connection per shard and RESP version ([`upstream`]). Clients on a
//! thread append their request frames, as they came, to the upstream's write buffer; the
//! upstream writes what accumulated in one call and splits the replies it reads by frame
//! length ([`shoal_proto::reply_scan`]) back to each client's ordered reply slots. All of
//! it is single-threaded per thread (`Rc`/`RefCell`), so the hot path takes no lock.
//!
//! Stateful clients leave the shared pipeline: WATCH and blocking commands get a
//! [`dedicated`] connection to their shard; a MULTI … EXEC block is sent as one contiguous
//! run on the shared upstream (the shard runs a connection's commands in order, so
//! nothing can interleave with it). Pub/sub is served by one broker per database shared
//! by all proxy threads ([`pubsub`]); keyspace notifications, the shards' own pub/sub,
//! are relayed into it ([`keyspace`]).
//!
//! # Layout
//! - [`access`]: a database's users and client limits, as the client loop calls them;
//!   [`acl`]: users, `AUTH`, `ACL` and the permission check; [`limits`]: protected mode,
//!   `maxclients`, query/output buffer limits, `timeout`.
//! - [`listener`]: accepts on each database's port and deals sockets to the threads.
//! - [`thread`]: one proxy thread: its runtime, clients and upstreams.
//! - [`client`]: one client connection: read a batch, route, wait, write once.
//! - [`route`]: command → shard, local answer, dedicated connection or CROSSSLOT (the
//!   same-slot rule); the hook where split/fan-out plans plug in.
//! - [`local`]: commands the proxy answers itself (HELLO, AUTH, CLIENT, SELECT …).
//! - [`upstream`]: the shared pipelined connection to a shard, its reconnects and the
//!   queue of requests held while the shard is down.
//! - [`dedicated`]: a connection one client owns (WATCH, blocking commands, scripts).
//! - [`busy`]: a script past `busy-reply-threshold` makes the whole database `-BUSY`.
//! - [`replies`]: a client's ordered reply slots, filled by upstreams; [`obuf`]: what
//!   they and the unwritten output hold, against `client-output-buffer-limit`.
//! - [`pubsub`]: the agent's broker sink and the (P|S)SUBSCRIBE family.
//! - [`registry`]: the clients CLIENT LIST/KILL see.
//! - [`metrics`]: shoal_proxy_* series, counted per thread and merged when scraped.
//! - [`cluster`]: the agent's own answers to CLUSTER, READONLY, READWRITE and ASKING.
//! - [`split`]: MGET/MSET/DEL/UNLINK/EXISTS/TOUCH split by shard, replies merged;
//!   [`fanout`]: DBSIZE, KEYS, SCAN, INFO, CONFIG SET … to every shard, merged;
//!   [`plan_exec`] runs either plan on the upstreams.

pub mod access;
pub mod acl;
pub mod busy;
pub mod client;
// Until the proxy's client loop calls it, only the tests do.
#[cfg_attr(not(test), allow(dead_code))]
pub mod cluster;
pub mod dedicated;
pub mod fanout;
mod info_merge;
pub mod keyspace;
pub mod limits;
pub mod listener;
pub mod local;
pub mod metrics;
pub mod obuf;
mod plan_exec;
pub mod pubsub;
pub mod registry;
pub mod replies;
pub mod route;
pub mod split;
#[cfg(test)]
mod testpeer;
pub mod thread;
pub mod upstream;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoal_config::Config;
use shoal_proto::SlotMap;
use shoal_shard::pubsub::Broker;

use crate::supervisor::plan::Plan;

/// One database as every proxy thread sees it.
pub struct Database {
    pub index: usize,
    pub name: String,
    pub port: u16,
    /// Shard `i`'s Unix socket.
    pub sockets: Vec<PathBuf>,
    pub slots: SlotMap,
    pub password: Option<String>,
    /// Users, AUTH/ACL and the client limits.
    pub access: access::Access,
    /// A std mutex: held only for a subscribe or a publish's fan-out, never across an
    /// await.
    pub broker: Mutex<Broker<pubsub::PushSink>>,
    pub clients: registry::Registry,
    pub metrics: metrics::DbMetrics,
    /// The answers to CLUSTER, READONLY, READWRITE and ASKING.
    pub cluster: cluster::ClusterView,
    /// Scripts in flight, for the database-wide `-BUSY`.
    pub scripts: Arc<busy::Scripts>,
}

impl Database {
    pub fn shards(&self) -> usize {
        self.sockets.len()
    }
}

/// Settings every proxy thread reads.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a request waits for a shard that is down before `-TRYAGAIN`.
    pub deadline: Duration,
    /// Requests held per thread and shard while it is down.
    pub queue: usize,
}

/// State shared by the listeners, the threads and the stop sequence.
pub struct Shared {
    pub dbs: Vec<Arc<Database>>,
    pub settings: Settings,
    pub stopping: AtomicBool,
    /// Clients between reading a batch and writing its replies; the stop waits for 0.
    pub busy: AtomicUsize,
}

/// What the agent keeps to stop the proxy.
pub struct Handle {
    shared: Arc<Shared>,
    listeners: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("database {database} port {addr}: {source}")]
    Bind {
        database: String,
        addr: String,
        source: std::io::Error,
    },
    #[error("database {database}: {source}")]
    Users {
        database: String,
        source: acl::UserConfigError,
    },
    #[error("proxy thread: {0}")]
    Thread(std::io::Error),
}

/// `proxy_threads = "auto"`: half the CPUs the agent may use, the shards having the
/// rest, and at least one.
pub fn thread_count(config: &Config, cpus: usize) -> usize {
    match config.proxy_threads {
        Some(n) => usize::from(n),
        None => (cpus / 2).max(1),
    }
}

/// Binds every database's port, starts the proxy threads and the accept loops (on the
/// caller's runtime). Returns once every port is listening.
pub async fn start(
    config: &Config,
    plan: &Plan,
    agent_metrics: &crate::metrics::Metrics,
) -> Result<Handle, ProxyError> {
    let mut dbs = Vec::with_capacity(config.databases.len());
    for (index, db) in config.databases.iter().enumerate() {
        let sockets: Vec<PathBuf> = plan
            .shards
            .iter()
            .filter(|s| s.database == db.name)
            .map(|s| s.socket.clone())
            .collect();
        let specs: Vec<&crate::supervisor::plan::ShardSpec> = plan
            .shards
            .iter()
            .filter(|s| s.database == db.name)
            .collect();
        let cluster = cluster::ClusterView::new(&specs, &config.data_dir.join(&db.name));
        dbs.push(Arc::new(Database {
            cluster,
            index,
            name: db.name.clone(),
            port: db.port,
            slots: SlotMap::even(sockets.len()),
            sockets,
            password: db.password.clone(),
            access: access::Access::new(db).map_err(|source| ProxyError::Users {
                database: db.name.clone(),
                source,
            })?,
            broker: Mutex::new(Broker::default()),
            clients: registry::Registry::default(),
            metrics: metrics::DbMetrics::new(agent_metrics, &db.name),
            scripts: Arc::default(),
        }));
    }
    let shared = Arc::new(Shared {
        dbs,
        settings: Settings {
            deadline: config.restart_deadline,
            queue: config.restart_queue,
        },
        stopping: AtomicBool::new(false),
        busy: AtomicUsize::new(0),
    });
    for db in &shared.dbs {
        for shard in 0..db.shards() {
            tokio::spawn(keyspace::relay(db.clone(), shard, shared.clone()));
        }
    }
    let threads = thread_count(config, plan.allowed_cpus.len());
    let stats = metrics::ThreadStats::register(agent_metrics, &shared, threads);
    let mut senders = Vec::with_capacity(threads);
    for (i, st) in stats.into_iter().enumerate() {
        senders.push(thread::spawn(i, shared.clone(), st).map_err(ProxyError::Thread)?);
    }
    let senders = Arc::new(senders);
    let mut listeners = Vec::new();
    for db in &shared.dbs {
        let addr = format!("{}:{}", config.bind, db.port);
        let l = listener::bind(&addr).map_err(|source| ProxyError::Bind {
            database: db.name.clone(),
            addr: addr.clone(),
            source,
        })?;
        tracing::info!(database = %db.name, addr = %addr, shards = db.shards(), threads, "proxy listening");
        listeners.push(tokio::spawn(listener::accept_loop(
            l,
            db.clone(),
            shared.clone(),
            senders.clone(),
        )));
    }
    Ok(Handle { shared, listeners })
}

impl Handle {
    /// Stops accepting, then waits (up to `within`) for the requests in flight to be
    /// answered, so the shards stop only after their last replies went out.
    pub async fn stop(&self, within: Duration) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for l in &self.listeners {
            l.abort();
        }
        let until = Instant::now() + within;
        while self.shared.busy.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tracing::info!(
            busy = self.shared.busy.load(Ordering::SeqCst),
            "proxy stopped accepting; in-flight requests drained"
        );
    }
}

#[cfg(test)]
pub mod tests_support {
    use super::*;

    /// A database of `n` shards whose sockets do not exist, for routing tests.
    pub fn db(n: usize) -> Database {
        let m = crate::metrics::Metrics::new().expect("metrics");
        Database {
            index: 0,
            name: "t".into(),
            port: 0,
            sockets: (0..n)
                .map(|i| PathBuf::from(format!("/nonexistent/{i}")))
                .collect(),
            slots: SlotMap::even(n),
            password: None,
            access: access::Access::new(
                &shoal_config::Config::from_raw(Default::default())
                    .expect("config")
                    .databases[0],
            )
            .expect("users"),
            broker: Mutex::new(Broker::default()),
            clients: registry::Registry::default(),
            metrics: metrics::DbMetrics::new(&m, "t"),
            cluster: cluster::ClusterView::new(&[], std::path::Path::new("/nonexistent")),
            scripts: Arc::default(),
        }
    }
}
