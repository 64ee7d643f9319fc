//! Lua scripting: EVAL, EVALSHA, their `_RO` forms and SCRIPT, as in Redis 7.0.
//!
//! # Layout
//! - [`commands`]: the command handlers.
//! - [`run`]: the event loop's side of a running script: starting it, serving its
//!   `redis.call`s through the normal dispatch, busy scripts, SCRIPT KILL.
//! - [`engine`]: the thread that owns the shard's Lua state (created on first use).
//! - [`api`], `bootstrap.lua`: the `redis` table and the sandbox.
//! - [`convert`]: Lua ⇄ RESP conversions.
//! - [`cjson`], [`cmsgpack`], [`bit`]: the libraries Redis bundles.
//! - [`shebang`], [`sha1`]: script flags and names.
//!
//! # Effects, not scripts, reach the AOF
//! As in Redis 7.0, a script is recorded by the write commands it ran, wrapped in
//! MULTI … EXEC, so a replay never runs Lua and never depends on the script cache.

pub mod api;
pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod commands;
pub mod convert;
pub mod engine;
pub mod run;
pub mod sha1;
pub mod shebang;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use bytes::Bytes;

/// The shard's scripting state.
#[derive(Default)]
pub struct Scripts {
    /// Script bodies by SHA-1 (lower-case hex), for EVALSHA and SCRIPT EXISTS.
    pub cache: HashMap<String, Bytes>,
    /// Bytes of the cached bodies, for INFO's `used_memory_scripts_eval`.
    pub cache_bytes: usize,
    worker: Option<Worker>,
    /// The script being run, from its EVAL until its reply.
    pub running: Option<run::Running>,
    /// A running script passed `busy-reply-threshold`: other clients get `-BUSY` for all
    /// but a few commands. Read by the dispatcher for every command, so a plain field.
    pub busy: bool,
    /// The client scripts run their commands as (Redis's Lua client).
    client: Option<Box<crate::client::Client>>,
}

/// The event loop's end of the engine thread.
struct Worker {
    jobs: Sender<engine::Job>,
    events: Receiver<engine::Event>,
    /// Signalled by the engine after each event, for a connection awaiting a busy script.
    wake: Arc<tokio::sync::Notify>,
    /// Set by SCRIPT KILL; the engine's count hook raises an error when it sees it.
    kill: Arc<AtomicBool>,
}

impl Scripts {
    /// Scripts known by name (INFO's `number_of_cached_scripts`).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}
