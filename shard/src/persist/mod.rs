//! The shard's side of durability: the open AOF and its status, loading at start-up,
//! what each command appends, rewrites (BGREWRITEAOF, the automatic trigger, recovery of a
//! poisoned writer) and the reply gate of `appendfsync always`.
//!
//! # Layout
//! - [`load`]: start-up: lock, replay on the loop thread while a reader thread parses,
//!   `-LOADING` meanwhile.
//! - [`propagate`]: how an applied command is written to the AOF (relative expiries made
//!   absolute, results of non-deterministic commands, MULTI/EXEC around a transaction).
//! - [`serialize`]: the keyspace as commands, for a new base file.
//! - [`info`]: INFO persistence.
//! - [`walk`]: the point-in-time keyspace walk of a rewrite, with pre-images.
//! - [`rewrite`]: BGREWRITEAOF, the automatic trigger and the cron's recovery.

pub mod info;
pub mod load;
pub mod propagate;
pub mod rewrite;
pub mod serialize;
pub mod walk;

use std::time::Instant;

use crate::aof::{self, Aof};
use crate::config::AppendFsync as ConfFsync;

/// Durability state the event loop owns.
#[derive(Default)]
pub struct Persist {
    /// The open AOF; None with `appendonly no`, and while loading.
    pub aof: Option<Aof>,
    /// Set while the AOF is being replayed: commands without the `loading` flag get
    /// `-LOADING`.
    pub loading: Option<Loading>,
    /// Inside EXEC: the first propagated command opens a MULTI in the AOF.
    pub in_exec: bool,
    pub multi_open: bool,
    pub rewrite: rewrite::RewriteState,
}

/// Progress of the start-up load, for INFO.
#[derive(Debug, Clone, Copy)]
pub struct Loading {
    pub started: Instant,
    pub start_unix: i64,
    pub loaded: u64,
    pub total: u64,
}

/// The engine's policy for the config value.
pub fn policy(f: ConfFsync) -> aof::AppendFsync {
    match f {
        ConfFsync::Always => aof::AppendFsync::Always,
        ConfFsync::Everysec => aof::AppendFsync::Everysec,
        ConfFsync::No => aof::AppendFsync::No,
    }
}

impl Persist {
    /// Appends one command to the AOF, if there is one.
    pub fn append<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let Some(aof) = self.aof.as_mut() else {
            return;
        };
        if self.in_exec && !self.multi_open {
            self.multi_open = true;
            aof.append(&["MULTI"]);
        }
        aof.append(args);
    }

    /// The `-MISCONF` error a write command gets while the writer is poisoned.
    pub fn misconf(&self) -> Option<String> {
        let aof = self.aof.as_ref()?;
        if aof.writable() {
            return None;
        }
        let reason = match aof.state() {
            aof::WriterState::Poisoned(r) => r,
            aof::WriterState::Ok => "unknown error".to_string(),
        };
        Some(format!("MISCONF Errors writing to the AOF file: {reason}"))
    }

    /// What a reply must wait for under `always` (None: it need not wait), after handing
    /// this batch's appends to the helper.
    pub fn reply_gate(&self) -> Option<(u64, aof::DurableWait)> {
        let aof = self.aof.as_ref()?;
        aof.flush();
        if aof.policy() != aof::AppendFsync::Always {
            return None;
        }
        let need = aof.applied();
        let wait = aof.durable();
        let now = wait.current();
        if now.offset >= need && now.failed.is_none() {
            return None;
        }
        Some((need, wait))
    }
}

/// CONFIG SET appendfsync / appendonly took effect in the config: apply it. Turning the AOF
/// on writes a base from memory at once (the directory's old contents are superseded);
/// turning it off syncs and closes it.
pub fn config_changed(srv: &mut crate::state::Server) -> Result<(), String> {
    if let Some(aof) = srv.persist.aof.as_ref() {
        aof.set_policy(policy(srv.config.appendfsync));
    }
    if srv.persist.loading.is_some() {
        return Ok(());
    }
    match (srv.config.appendonly, srv.persist.aof.is_some()) {
        (false, true) => {
            srv.persist.rewrite = Default::default();
            if let Some(aof) = srv.persist.aof.take() {
                aof.close()
                    .map_err(|e| format!("ERR closing the AOF: {e}"))?;
            }
            Ok(())
        }
        (true, false) => enable(srv).inspect_err(|_| srv.config.appendonly = false),
        _ => Ok(()),
    }
}

fn enable(srv: &mut crate::state::Server) -> Result<(), String> {
    {
        {
            let fail = |e: aof::AofError| format!("ERR Failed to enable the AOF: {e}");
            let lock = aof::DirLock::acquire(&load::aof_dir(srv)).map_err(fail)?;
            let mut a = Aof::open(
                lock,
                &aof::LoadReport::default(),
                policy(srv.config.appendfsync),
            )
            .map_err(fail)?;
            let enc = serialize::keyspace(&srv.db, crate::state::now_ms());
            a.reopen_and_rewrite(|w| rewrite::write_encoded(w, &enc))
                .map_err(fail)?;
            srv.persist.aof = Some(a);
            Ok(())
        }
    }
}
