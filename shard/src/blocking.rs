//! Clients blocked on keys (BLPOP, BLMOVE, BLMPOP …), served in the order they blocked.
//!
//! # How a blocking command plugs in
//! The command must carry the `blocking` flag in the command table. A handler that finds
//! nothing to pop, when [`may_block`] allows it, parses its timeout with
//! [`parse_timeout`], sets `ctx.client.block = Some(BlockSpec { .. })` and returns
//! `Ok(())` without writing a reply. The dispatcher then registers the client as a waiter
//! on every key of the spec, and the connection task parks until one of these happens:
//! - a command changes one of the keys (the dispatcher calls `signal_ready` for the keys
//!   of every command that made the dataset dirty). After that command, [`handle_ready`]
//!   re-runs the waiting command, first come first served, while the key holds a value
//!   of the awaited type. A command over several keys should then take from
//!   [`serving_key`] only, when it is one of its keys. A re-run that would block again
//!   leaves the client waiting in its place; any other reply ends the wait;
//! - its deadline passes: the reply is a null array, as Redis replies to a timed-out pop;
//! - CLIENT UNBLOCK ([`unblock`]), CLIENT KILL or a disconnect.
//!
//! Where blocking is denied (inside EXEC; scripts must set `client.deny_blocking` too),
//! `may_block` is false and the handler must reply as on a timeout instead. Sorted-set
//! (BZPOPMIN …) and stream commands use the same API with their own `type_name`.
//! INFO's `blocked_clients` is [`Blocking::blocked_clients`]; CLIENT LIST's `b` flag is
//! [`Blocking::is_blocked`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use shoal_proto::{Protocol, Reply};
use tokio::sync::Notify;

use crate::cmd::{self, CmdError, Ctx};
use crate::db::Sds;
use crate::state::Server;

/// A handler's request to block: the keys to wait on, when to give up, and the type a
/// key must hold for the command to be worth re-running.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    pub keys: Vec<Bytes>,
    /// Absolute Unix milliseconds; 0 waits forever.
    pub deadline_ms: i64,
    /// `TYPE`'s name of the awaited value: "list", "zset", "stream".
    pub type_name: &'static str,
    /// The request to re-run instead of the original, when the original's meaning
    /// depends on the moment it blocked (XREAD's `$` becomes the ID it stood for).
    pub rerun_argv: Option<Vec<Bytes>>,
}

/// How a blocked client's wait ended; the connection task writes `reply` as-is.
pub struct Outcome {
    pub reply: BytesMut,
}

struct Waiter {
    keys: Vec<Sds>,
    deadline_ms: i64,
    type_name: &'static str,
    argv: Vec<Bytes>,
    proto: Protocol,
    notify: Rc<Notify>,
    outcome: Option<Outcome>,
}

/// The server-wide registry of blocked clients.
#[derive(Default)]
pub struct Blocking {
    by_key: HashMap<Sds, VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
    ready: Vec<Sds>,
    ready_set: HashSet<Sds>,
    /// The key being served while a waiter's command re-runs.
    serving: Option<Sds>,
}

impl Blocking {
    /// Clients still waiting (INFO's `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.waiters
            .values()
            .filter(|w| w.outcome.is_none())
            .count()
    }

    /// True while `id` waits (or has a reply not yet collected by its connection).
    pub fn is_blocked(&self, id: u64) -> bool {
        !self.waiters.is_empty() && self.waiters.contains_key(&id)
    }

    /// True when some client waits on `key`; cheap enough for every write.
    pub fn has_waiters(&self) -> bool {
        !self.by_key.is_empty()
    }

    /// Marks `key` as possibly able to serve its waiters (Redis's `signalKeyAsReady`).
    pub fn signal_ready(&mut self, key: &[u8]) {
        if self.by_key.contains_key(key) && !self.ready_set.contains(key) {
            let k = Sds::new(key);
            self.ready_set.insert(k.clone());
            self.ready.push(k);
        }
    }

    /// Marks every key with waiters as ready (FLUSHALL, FLUSHDB, SWAPDB), so waiters
    /// whose key vanished are looked at again.
    pub fn signal_all(&mut self) {
        let keys: Vec<Sds> = self.by_key.keys().cloned().collect();
        for k in keys {
            self.signal_ready(&k);
        }
    }

    /// What the connection of a blocked client waits on: its wake-up and its deadline.
    pub fn wait_info(&self, id: u64) -> Option<(Rc<Notify>, i64)> {
        self.waiters
            .get(&id)
            .map(|w| (w.notify.clone(), w.deadline_ms))
    }

    /// Collects the reply of a client whose wait ended, and forgets it.
    pub fn take_outcome(&mut self, id: u64) -> Option<Outcome> {
        self.waiters.get(&id)?.outcome.as_ref()?;
        self.waiters.remove(&id).and_then(|w| w.outcome)
    }

    fn detach(&mut self, id: u64) {
        let Some(w) = self.waiters.get(&id) else {
            return;
        };
        for key in &w.keys {
            if let Some(q) = self.by_key.get_mut(key) {
                q.retain(|&c| c != id);
                if q.is_empty() {
                    self.by_key.remove(key);
                }
            }
        }
    }

    /// Ends a wait with `reply`, waking the client's connection.
    fn finish(&mut self, id: u64, reply: BytesMut) {
        self.detach(id);
        if let Some(w) = self.waiters.get_mut(&id) {
            w.outcome = Some(Outcome { reply });
            w.notify.notify_one();
        }
    }

    /// Ends the wait of `id` as a timeout would (null array). False when not blocked.
    pub fn time_out(&mut self, id: u64) -> bool {
        let Some(w) = self.waiters.get(&id) else {
            return false;
        };
        if w.outcome.is_some() {
            return false;
        }
        let mut r = Reply::new(w.proto);
        r.null_array();
        self.finish(id, r.buf);
        true
    }

    /// Forgets a client that disconnected or was killed.
    pub fn remove_client(&mut self, id: u64) {
        self.detach(id);
        self.waiters.remove(&id);
    }
}

/// While a waiter's command re-runs, the ready key it is being served from. A command
/// over several keys pops from this one only, as Redis serves a waiter from the key
/// that became ready rather than from the first of its keys.
pub fn serving_key<'a>(ctx: &'a Ctx<'_>) -> Option<&'a [u8]> {
    ctx.srv.blocking.serving.as_deref()
}

/// False where a blocking command must answer at once instead (MULTI/EXEC, scripts).
pub fn may_block(ctx: &Ctx<'_>) -> bool {
    !ctx.client.deny_blocking
}

/// A blocking command's timeout in seconds (fractions allowed), as an absolute deadline
/// in Unix milliseconds, 0 for none.
pub fn parse_timeout(arg: &[u8], now_ms: i64) -> Result<i64, CmdError> {
    let secs = shoal_proto::number::parse_f64(arg).ok_or(CmdError::Static(
        "ERR timeout is not a float or out of range",
    ))?;
    let ms = (secs * 1000.0).ceil();
    // A value beyond i64 (or infinite) wraps to a negative number in Redis's C cast.
    if ms < 0.0 || !ms.is_finite() || ms >= i64::MAX as f64 {
        return Err("ERR timeout is negative".into());
    }
    let ms = ms as i64;
    Ok(if ms > 0 { ms.saturating_add(now_ms) } else { 0 })
}

/// Registers `id` as waiting on the spec's keys, at the back of each key's queue.
pub fn block(srv: &mut Server, id: u64, proto: Protocol, spec: BlockSpec, argv: &[Bytes]) {
    let b = &mut srv.blocking;
    b.remove_client(id);
    let mut keys: Vec<Sds> = Vec::with_capacity(spec.keys.len().min(64));
    for k in &spec.keys {
        let k = Sds::new(k);
        // BLPOP k k: one place in the queue, not two.
        if keys.contains(&k) {
            continue;
        }
        b.by_key.entry(k.clone()).or_default().push_back(id);
        keys.push(k);
    }
    b.waiters.insert(
        id,
        Waiter {
            keys,
            deadline_ms: spec.deadline_ms,
            type_name: spec.type_name,
            argv: spec.rerun_argv.unwrap_or_else(|| argv.to_vec()),
            proto,
            notify: Rc::new(Notify::new()),
            outcome: None,
        },
    );
}

/// Ends the wait of `id` for CLIENT UNBLOCK: as a timeout, or with an UNBLOCKED error.
/// False when the client is not blocked.
pub fn unblock(srv: &mut Server, id: u64, error: bool) -> bool {
    let b = &mut srv.blocking;
    let Some(w) = b.waiters.get(&id) else {
        return false;
    };
    if w.outcome.is_some() {
        return false;
    }
    if !error {
        return b.time_out(id);
    }
    let mut r = Reply::new(w.proto);
    r.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    b.finish(id, r.buf);
    true
}

/// Serves the clients waiting on keys that the last command made ready, in the order
/// they blocked; a served BLMOVE may make its destination ready in turn, so this loops
/// until nothing is left (Redis's `handleClientsBlockedOnKeys`).
pub fn handle_ready(srv: &mut Server) {
    // Serving a waiter runs its command; never in the middle of a script, which must
    // look atomic. The script's connection serves them when it ends.
    if srv.scripts.running.is_some() {
        return;
    }
    while !srv.blocking.ready.is_empty() {
        let keys = std::mem::take(&mut srv.blocking.ready);
        srv.blocking.ready_set.clear();
        for key in keys {
            serve_key(srv, &key);
        }
    }
}

fn serve_key(srv: &mut Server, key: &Sds) {
    let ids: Vec<u64> = match srv.blocking.by_key.get(key) {
        Some(q) => q.iter().copied().collect(),
        None => return,
    };
    for id in ids {
        let Some(w) = srv.blocking.waiters.get(&id) else {
            continue;
        };
        if w.outcome.is_some() {
            continue;
        }
        let wanted = w.type_name;
        let now = crate::state::now_ms();
        match srv.db.peek(key, now) {
            Some(e) if e.value.type_name() == wanted => {}
            // A consumer group lives in its stream: once the key is gone or holds
            // another type, XREADGROUP can never be served, so its wait ends.
            _ if wanted == "stream"
                && w.argv
                    .first()
                    .is_some_and(|c| c.eq_ignore_ascii_case(b"xreadgroup")) =>
            {
                let mut r = Reply::new(w.proto);
                r.error("UNBLOCKED the stream key no longer exists");
                srv.blocking.finish(id, r.buf);
                continue;
            }
            // Nothing (left) for this waiter; one waiting for another type may still be
            // served.
            _ => continue,
        }
        let argv = w.argv.clone();
        let proto = w.proto;
        let Some(client_rc) = srv.clients.clients.get(&id).cloned() else {
            srv.blocking.remove_client(id);
            continue;
        };
        // The only client borrowed right now is the one whose command made the key
        // ready, and it is not waiting; a failed borrow would mean a stale entry.
        let Ok(mut client) = client_rc.try_borrow_mut() else {
            continue;
        };
        let mut out = Reply::new(proto);
        srv.blocking.serving = Some(key.clone());
        cmd::rerun_blocked(srv, &mut client, &mut out, &argv);
        srv.blocking.serving = None;
        if client.block.take().is_some() {
            // Still nothing for this client (another key type, an emptied list): it
            // keeps its original deadline and place.
            continue;
        }
        srv.blocking.finish(id, out.buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_parsing() {
        assert_eq!(parse_timeout(b"0", 1000), Ok(0));
        assert_eq!(parse_timeout(b"0.001", 1000), Ok(1001));
        assert_eq!(parse_timeout(b"1.5", 1000), Ok(2500));
        assert_eq!(
            parse_timeout(b"-1", 0).map_err(|e| e.text().to_string()),
            Err("ERR timeout is negative".to_string())
        );
        assert_eq!(
            parse_timeout(b"abc", 0).map_err(|e| e.text().to_string()),
            Err("ERR timeout is not a float or out of range".to_string())
        );
    }

    #[test]
    fn queues_are_fifo_and_detach_cleanly() {
        let mut b = Blocking::default();
        for id in [3, 1, 2] {
            b.by_key.entry(Sds::new(b"k")).or_default().push_back(id);
            b.waiters.insert(
                id,
                Waiter {
                    keys: vec![Sds::new(b"k")],
                    deadline_ms: 0,
                    type_name: "list",
                    argv: vec![],
                    proto: Protocol::Resp2,
                    notify: Rc::new(Notify::new()),
                    outcome: None,
                },
            );
        }
        assert_eq!(b.blocked_clients(), 3);
        assert!(b.time_out(1));
        assert_eq!(b.blocked_clients(), 2);
        let q: Vec<u64> = b.by_key[&Sds::new(b"k")].iter().copied().collect();
        assert_eq!(q, [3, 2]);
        assert_eq!(
            b.take_outcome(1).map(|o| o.reply.to_vec()),
            Some(b"*-1\r\n".to_vec())
        );
        b.remove_client(3);
        b.remove_client(2);
        assert!(!b.has_waiters());
        assert!(b.waiters.is_empty());
    }
}
