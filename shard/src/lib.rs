//! One shoal shard: a single-threaded, Redis-compatible server that owns one keyspace.
//!
//! # Layout
//! - [`aof`]: the append-only file: manifest, records, loading, group-commit writer, rewrite.
//! - [`server`]: the event loop, listeners and cron; [`run`] is the entry point.
//! - [`conn`]: one client connection (read, parse, execute a batch, write).
//! - [`client`]: per-connection state and the client registry.
//! - [`state`]: the `Server` state the loop owns, and clocks.
//! - [`config`]: the shard's settings.
//! - [`db`]: the keyspace and value types.
//! - [`cmd`]: the commands, one module per family, and dispatch.
//! - [`blocking`]: clients blocked on keys (BLPOP and friends), served in order.
//! - [`glob`]: Redis's glob matching.
//! - [`notify`]: keyspace notifications (`notify-keyspace-events`).
//! - [`rdb`]: the RDB serialization of single values (DUMP, RESTORE).
//! - [`script`]: Lua scripting (EVAL, SCRIPT), run on a thread of its own.
//! - [`persist`]: the shard's use of the AOF: loading, propagation, rewrites, reply gating.
//! - [`pidlock`]: the exclusive lock file that keeps a directory to one process.
#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]
// Tests may unwrap: a panic there is a failed assertion, not a crashed server.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod acl;
pub mod aof;
pub mod blocking;
pub mod client;
pub mod cmd;
pub mod config;
pub mod conn;
pub mod db;
pub mod evict;
pub mod glob;
pub mod notify;
pub mod persist;
pub mod pidlock;
pub mod pubsub;
pub mod rdb;
pub mod script;
pub mod server;
pub mod state;

pub use config::ShardConfig;
pub use server::{run, ShardError};
pub use shoal_proto::cluster::Topology;

/// The Redis version shoal reports, since clients gate features on it.
pub const REDIS_VERSION: &str = "7.0.15";
