//! Helpers shared by shoal's integration and differential tests.
//!
//! Every test here runs the real `shoal` binary as a child process and speaks RESP to
//! it over TCP; the differential tests run the same commands against a real
//! `redis-server` (7.0, from `PATH`) and compare the replies byte for byte.
//!
//! # Layout
//! - [`agent`]: the agent from a configuration file on a directory that outlives it.
//! - [`aof`]: a shard with an AOF on a directory that outlives it (kill, restart).
//! - [`powerloss`]: the fsync-recording shim and the cut back to the last sync.
//! - [`latency`]: a latency histogram for percentiles.
//! - [`linearize`]: a linearizability checker for GET/SET/INCR register histories.
//! - [`workload`]: the GET/SET/INCR clients whose histories it checks.
//! - [`bin`]: finds (and keeps fresh) the `shoal` binary the tests run.
//! - [`traffic`]: mixed commands over every data type, for the soak test.
//! - [`server`]: starts a shard or a `redis-server` on a free port; both die on drop.
//! - [`resp`]: a small, order-preserving RESP2/RESP3 reply parser and encoder.
//! - [`client`]: a raw RESP client that reads back exactly one reply at a time.
//! - [`diff`]: the differential harness: command generators per family, the reply
//!   normalisation, and the runner that reports mismatches.
//!
//! # Environment
//! - `SHOAL_BIN`: run this binary instead of building `target/<profile>/shoal`.
//! - `SHOAL_TEST_PORTS=LO-HI`: take ports from this range instead of the kernel's
//!   ephemeral ones (useful when several people share one machine).
//! - `REDIS_SERVER`: the reference server's path (default `redis-server`).
//! - `SHOAL_DIFF_SEED`, `SHOAL_DIFF_COMMANDS`: see [`diff`].
#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]

pub mod agent;
pub mod aof;
pub mod bin;
pub mod client;
pub mod diff;
pub mod latency;
pub mod linearize;
pub mod powerloss;
pub mod resp;
pub mod server;
pub mod traffic;
pub mod workload;

pub use bin::shoal_bin;
pub use client::{Frame, RawClient};
pub use resp::Reply;
pub use server::{Proxy, RedisServer, Shard};
