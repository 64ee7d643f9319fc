//! Rewrites: BGREWRITEAOF and the automatic trigger write a new base off the loop thread;
//! the cron finishes them, and recovers a poisoned writer under `everysec`/`no`.
//!
//! The point-in-time view is the keyspace at `rewrite_start` (which switches appends to a
//! new incr file), serialized a slice per loop turn by [`super::walk`]; a helper thread
//! writes and syncs the base as the slices arrive.

use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Instant;

use crate::aof::{AofError, Rewrite};
use crate::state::{now_ms, Server};

use super::serialize::{self, Encoded};
use super::walk::{Msg, Walk};

/// Rewrite bookkeeping for INFO persistence.
pub struct RewriteState {
    running: Option<Running>,
    /// The keyspace walk feeding the running rewrite's base.
    pub walk: Option<super::walk::Walk>,
    /// Wakes the task that drives the walk.
    pub kick: std::rc::Rc<tokio::sync::Notify>,
    /// Requested while another was running; starts when that one ends.
    pub scheduled: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_time_sec: i64,
    pub last_ok: bool,
    /// The last recovery attempt: a full serialization is not retried more than once a
    /// second.
    last_recover: Option<Instant>,
}

impl Default for RewriteState {
    fn default() -> Self {
        RewriteState {
            running: None,
            walk: None,
            kick: Default::default(),
            scheduled: false,
            rewrites: 0,
            consecutive_failures: 0,
            last_time_sec: -1,
            last_ok: true,
            last_recover: None,
        }
    }
}

struct Running {
    started: Instant,
    done: Receiver<Result<Rewrite, AofError>>,
}

impl RewriteState {
    pub fn in_progress(&self) -> bool {
        self.running.is_some()
    }

    /// Seconds the running rewrite has taken so far (-1 when none runs).
    pub fn current_time_sec(&self) -> i64 {
        self.running
            .as_ref()
            .map_or(-1, |r| r.started.elapsed().as_secs() as i64)
    }
}

/// Writes an encoded keyspace through a base writer.
pub fn write_encoded(
    w: &mut crate::aof::rewrite::BaseWriter,
    enc: &Encoded,
) -> Result<(), AofError> {
    let per = enc.commands / (enc.chunks.len().max(1) as u64);
    for (i, c) in enc.chunks.iter().enumerate() {
        // Only the count is approximate per chunk; the total is exact.
        let n = if i + 1 == enc.chunks.len() {
            enc.commands - per * (enc.chunks.len() as u64 - 1)
        } else {
            per
        };
        w.emit_encoded(c, n)?;
    }
    Ok(())
}

/// BGREWRITEAOF: starts a rewrite now, or schedules one behind the running one. The error
/// is the reply text.
pub fn start(srv: &mut Server) -> Result<(), String> {
    let state = &mut srv.persist.rewrite;
    if state.running.is_some() {
        return Err("ERR Background append only file rewriting already in progress".into());
    }
    let Some(aof) = srv.persist.aof.as_mut() else {
        // Redis rewrites into a file it will not use; shoal has nothing to rewrite into.
        return Ok(());
    };
    let mut rw = aof.rewrite_start().map_err(|e| format!("ERR {e}"))?;
    let (parts_tx, parts) = mpsc::channel::<Msg>();
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("shoal-aof-rewrite".into())
        .spawn(move || {
            let res = rw
                .write_base(|w| {
                    for msg in parts {
                        match msg {
                            Msg::Part(enc) => write_encoded(w, &enc)?,
                            Msg::End => return Ok(()),
                        }
                    }
                    Err(AofError::Rewrite("the keyspace walk was abandoned".into()))
                })
                .map(|_| rw);
            // The loop may have gone (shutdown); nothing is left to tell.
            let _ = tx.send(res);
        });
    if let Err(e) = spawned {
        return Err(format!(
            "ERR Can't rewrite append only file in background: {e}"
        ));
    }
    srv.persist.rewrite.walk = Some(Walk::new(parts_tx, srv.db.len()));
    srv.persist.rewrite.kick.notify_one();
    tracing::info!("Background append only file rewriting started");
    srv.persist.rewrite.running = Some(Running {
        started: Instant::now(),
        done: rx,
    });
    Ok(())
}

/// Cron work: finish a rewrite whose base is written, start a scheduled or automatic one,
/// recover a poisoned writer.
pub fn cron(srv: &mut Server) {
    finish_if_done(srv);
    let Some(aof) = srv.persist.aof.as_ref() else {
        return;
    };
    if !aof.writable() {
        recover(srv);
        return;
    }
    if srv.persist.rewrite.running.is_some() {
        return;
    }
    let pct = srv.config.auto_aof_rewrite_percentage as u64;
    let base = aof.base_size();
    let cur = aof.current_size();
    let auto = pct > 0
        && cur >= srv.config.auto_aof_rewrite_min_size
        && cur.saturating_sub(base) * 100 >= base.max(1) * pct;
    if srv.persist.rewrite.scheduled || auto {
        srv.persist.rewrite.scheduled = false;
        if auto {
            tracing::info!(current = cur, base, "starting automatic AOF rewrite");
        }
        if let Err(e) = start(srv) {
            tracing::warn!(error = %e, "AOF rewrite did not start");
            srv.persist.rewrite.last_ok = false;
            srv.persist.rewrite.consecutive_failures += 1;
        }
    }
}

fn finish_if_done(srv: &mut Server) {
    let Some(running) = srv.persist.rewrite.running.as_ref() else {
        return;
    };
    if srv.persist.rewrite.walk.is_some() {
        return;
    }
    let res = match running.done.try_recv() {
        Ok(r) => r,
        Err(TryRecvError::Empty) => return,
        Err(TryRecvError::Disconnected) => Err(AofError::Rewrite("rewrite thread died".into())),
    };
    let started = running.started;
    srv.persist.rewrite.running = None;
    let res = match (res, srv.persist.aof.as_mut()) {
        (Ok(rw), Some(aof)) => aof.rewrite_finish(rw),
        (Ok(_), None) => Ok(()),
        (Err(e), _) => Err(e),
    };
    let st = &mut srv.persist.rewrite;
    st.last_time_sec = started.elapsed().as_secs() as i64;
    match res {
        Ok(()) => {
            st.rewrites += 1;
            st.last_ok = true;
            st.consecutive_failures = 0;
            tracing::info!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            st.last_ok = false;
            st.consecutive_failures += 1;
            tracing::warn!(error = %e, "Background AOF rewrite failed");
        }
    }
}

/// A poisoned writer under `everysec`/`no`: abandon any rewrite (its base predates the
/// lost writes), then write a new base from memory and resume. Retried every tick.
fn recover(srv: &mut Server) {
    if let Some(aof) = srv.persist.aof.as_ref() {
        if aof.must_exit() {
            return;
        }
    }
    let st = &mut srv.persist.rewrite;
    if st
        .last_recover
        .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(900))
    {
        return;
    }
    st.last_recover = Some(Instant::now());
    // Dropping the receiver abandons the running rewrite once its thread ends.
    srv.persist.rewrite.walk = None;
    if srv.persist.rewrite.running.take().is_some() {
        srv.persist.rewrite.last_ok = false;
    }
    let Some(aof) = srv.persist.aof.as_mut() else {
        return;
    };
    if aof.rewrite_in_progress() {
        return;
    }
    let enc = serialize::keyspace(&srv.db, now_ms());
    match aof.reopen_and_rewrite(|w| write_encoded(w, &enc)) {
        Ok(()) => tracing::info!("AOF writer recovered; writes accepted again"),
        Err(e) => tracing::debug!(error = %e, "AOF recovery failed; retrying"),
    }
}

/// Drives the keyspace walk of each rewrite, a slice per loop turn, for the life of the
/// shard.
pub async fn drive(shared: std::rc::Rc<std::cell::RefCell<Server>>) {
    let kick = shared.borrow().persist.rewrite.kick.clone();
    loop {
        kick.notified().await;
        loop {
            let over = super::walk::step(&mut shared.borrow_mut(), super::walk::STEP_KEYS);
            if over {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}
