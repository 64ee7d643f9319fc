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
//! - [`park`]: appends go to the writer when the loop goes idle.

pub mod dirty;
pub mod info;
pub mod load;
pub mod park;
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
    /// What each key's last unsynced write was, for the reply gate of reads.
    pub dirty: dirty::DirtyKeys,
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
        self.append_as(None, args)
    }

    /// [`append`](Self::append) of a command whose spec the caller already has (the
    /// request itself, propagated as it came), so its keys are found without a lookup.
    pub fn append_as<A: AsRef<[u8]>>(
        &mut self,
        spec: Option<&shoal_proto::command::CommandSpec>,
        args: &[A],
    ) {
        let Some(aof) = self.aof.as_mut() else {
            return;
        };
        // Only `always` gates reads; switching to it makes reads wait for all that came
        // before (see `config_changed`), so other policies need not track keys.
        let track = aof.policy() == aof::AppendFsync::Always;
        if self.in_exec && !self.multi_open {
            self.multi_open = true;
            aof.append(&["MULTI"]);
            if track {
                // A transaction's keys are not known here: every read waits for it.
                self.dirty
                    .wrote(None, &["MULTI"], aof.applied(), aof.durable_offset());
            }
        }
        aof.append(args);
        if track {
            let spec = spec.or_else(|| {
                args.first()
                    .and_then(|n| shoal_proto::command::lookup(n.as_ref()))
            });
            self.dirty
                .wrote(spec, args, aof.applied(), aof.durable_offset());
        }
    }

    /// Offset just past the last command appended (0 without an AOF).
    pub fn applied(&self) -> u64 {
        self.aof.as_ref().map_or(0, Aof::applied)
    }

    /// The offset the reply of a command that just ran must see durable: `before` is
    /// [`applied`](Self::applied) from just before it ran. A command that appended, or is
    /// not a plain read of declared keys, needs everything ([`dirty::ALL`]).
    pub fn reply_need(
        &self,
        spec: Option<&shoal_proto::command::CommandSpec>,
        args: &[bytes::Bytes],
        before: u64,
    ) -> u64 {
        match (spec, self.aof.as_ref()) {
            (_, None) => 0,
            (Some(spec), Some(aof)) if aof.applied() == before => self.dirty.read_need(spec, args),
            _ => dirty::ALL,
        }
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

    /// What a reply must wait for under `always` (None: it need not wait), given the
    /// offset its commands need ([`reply_need`](Self::reply_need), clamped to what was
    /// applied). This turn's appends go to the writer when the loop next goes idle
    /// ([`park`]), so every connection served in one turn shares one fsync.
    pub fn reply_gate(&mut self, need: u64) -> Option<(u64, aof::DurableWait)> {
        let aof = self.aof.as_mut()?;
        park::flush_if_stale(aof);
        if aof.policy() != aof::AppendFsync::Always {
            return None;
        }
        let need = need.min(aof.applied());
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
        let new = policy(srv.config.appendfsync);
        if new == aof::AppendFsync::Always && aof.policy() != new {
            // Writes made under the old policy were not tracked by key.
            srv.persist.dirty.wait_all(aof.applied());
        }
        aof.set_policy(new);
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
            // The new writer counts offsets from zero again.
            srv.persist.dirty = Default::default();
            srv.persist.aof = Some(a);
            Ok(())
        }
    }
}
