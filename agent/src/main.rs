//! The `shoal` binary: the node agent (`shoal`, `shoal run`), one shard (`shoal shard`),
//! and the tools `shoal config check|default` and `shoal health`.
//!
//! # Layout
//! - [`cli`]: flags, subcommands and exit codes.
//! - [`run`]: agent start-up: plan, admin port, proxy, then the supervisor.
//! - [`lock`]: the agent's exclusive lock on its data directory.
//! - [`proxy`]: the client port of each database, routing to the shards by slot.
//! - [`supervisor`]: spawning, pinning, reaping and restarting shards.
//! - [`admin`]: the HTTP endpoints `/livez` `/readyz` `/status` `/metrics`.
//! - [`metrics`]: Prometheus series; [`info`]: the shard INFO fields they come from.
//! - [`state`]: what the supervisor publishes to the admin endpoints.
//! - [`signals`], [`notify`] (systemd), [`logging`], [`health`] (`shoal health`).
#![deny(rust_2018_idioms)]
// `deny`, not `forbid`: forbid cannot be lifted for the one module that must run code
// between fork and exec (supervisor::pre_exec); every other module is held to it.
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod admin;
mod cli;
mod health;
mod info;
mod lock;
mod logging;
mod metrics;
mod notify;
mod proxy;
mod run;
mod signals;
mod state;
mod supervisor;

use std::process::ExitCode;

// jemalloc both keeps fragmentation low for many small keys and gives INFO's
// `used_memory` an exact figure.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    cli::main()
}
