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

pub mod dirty;
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
        let Some(aof) = self.aof.as_mut() else {
            return;
        };
        if self.in_exec && !self.multi_open {
            self.multi_open = true;
            aof.append(&["MULTI"]);
            self.dirty.wrote(&["MULTI"], aof.applied());
        }
        aof.append(args);
        // Recorded under every policy: CONFIG SET appendfsync always may come next.
        self.dirty.wrote(args, aof.applied());
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
    /// applied). This batch's appends go to the helper when the loop next goes idle
    /// ([`flush_at_park`]), so every connection served in one turn shares one fsync.
    pub fn reply_gate(&self, need: u64) -> Option<(u64, aof::DurableWait)> {
        let aof = self.aof.as_ref()?;
        flush_at_park(aof);
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

/// Longest a flush waits for the loop to go idle. A loop that never parks (every turn
/// finds more ready connections) still hands its writes over this often.
const MAX_GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// The loop thread's pending hand-over, taken by [`on_park`].
#[derive(Default)]
struct ParkFlush {
    /// [`install_park_hook`] ran on this thread: the runtime calls [`on_park`].
    hooked: bool,
    pending: Option<(aof::Flusher, Instant)>,
}

thread_local! {
    static PARK: std::cell::RefCell<ParkFlush> = std::cell::RefCell::default();
}

/// Makes this thread's flushes wait for [`on_park`]; call on the loop thread before it
/// runs, and have the runtime call `on_park` before it parks.
pub fn install_park_hook() {
    PARK.with(|p| p.borrow_mut().hooked = true);
}

/// The runtime is about to wait for events: every connection that was ready has run, as
/// at the end of a Redis event-loop turn, so their writes go to the helper together and
/// share one `write` + `fdatasync`. Waking the helper at the first connection's reply
/// instead gives it a batch of one while the rest of the turn queues behind its fsync.
pub fn on_park() {
    let pending = PARK.with(|p| p.borrow_mut().pending.take());
    if let Some((flusher, _)) = pending {
        flusher.flush();
    }
}

/// Hands this turn's appends to the helper when the loop next parks (at once on a thread
/// without the hook, or when the loop has not parked for [`MAX_GATHER`]).
fn flush_at_park(aof: &Aof) {
    PARK.with(|p| {
        let mut p = p.borrow_mut();
        let since = match &p.pending {
            _ if !p.hooked => None,
            Some((_, since)) if since.elapsed() < MAX_GATHER => Some(*since),
            Some(_) => None,
            None => Some(Instant::now()),
        };
        match since {
            // The writer may have been replaced (CONFIG SET appendonly): keep the current.
            Some(since) => p.pending = Some((aof.flusher(), since)),
            None => {
                p.pending = None;
                aof.flush();
            }
        }
    });
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
