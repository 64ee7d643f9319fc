//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! While a client is inside MULTI the dispatcher queues its commands (see
//! `cmd::execute`) after the checks Redis makes before queueing; a failed check marks the
//! transaction so EXEC aborts it with EXECABORT. WATCH state lives on the server, not on
//! the client, because any client's write must be able to mark a watcher dirty while
//! that watcher's own `Client` may be borrowed elsewhere.
//!
//! Propagation (for the AOF): the queued commands run through `cmd::call` like any other,
//! so each write is seen there; Redis wraps the writes of one EXEC in MULTI … EXEC when
//! there is more than one, so a replay applies them together.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use shoal_proto::command::CommandSpec;

use super::{CmdResult, Ctx, Handler};
use crate::db::Sds;
use crate::state::Server;

pub static COMMANDS: &[(&str, Handler)] = &[
    ("multi", multi),
    ("exec", exec),
    ("discard", discard),
    ("watch", watch),
    ("unwatch", unwatch),
];

/// A transaction being accumulated.
#[derive(Default)]
pub struct Queue {
    pub cmds: Vec<(&'static CommandSpec, Handler, Vec<Bytes>)>,
    /// Beside each command, the user the proxy queued it for (`Client::run_as`), which its
    /// scripts are held to at EXEC.
    pub run_as: Vec<Option<std::sync::Arc<crate::acl::User>>>,
    /// A command failed its pre-queue checks: EXEC must abort (Redis's DIRTY_EXEC).
    pub failed: bool,
}

/// Every WATCH of every client.
#[derive(Default)]
pub struct Watches {
    by_key: HashMap<Sds, Vec<u64>>,
    /// Per client: the keys it watches, each with whether it was already logically
    /// expired when watched (such a key's deletion is no change).
    clients: HashMap<u64, Vec<(Sds, bool)>>,
    /// Clients whose watched keys changed (Redis's DIRTY_CAS).
    dirty: HashSet<u64>,
}

impl Watches {
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    fn unwatch_all(&mut self, id: u64) {
        let Some(keys) = self.clients.remove(&id) else {
            return;
        };
        for (key, _) in keys {
            if let Some(ids) = self.by_key.get_mut(&key) {
                ids.retain(|&c| c != id);
                if ids.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }

    /// True when a key `id` watches has changed, so its EXEC will fail.
    pub fn is_dirty(&self, id: u64) -> bool {
        self.dirty.contains(&id)
    }

    /// Forgets a client that disconnected.
    pub fn remove_client(&mut self, id: u64) {
        self.unwatch_all(id);
        self.dirty.remove(&id);
    }

    /// Keys some client watches that exist right now (for FLUSHALL's invalidation).
    pub fn watched_keys(&self) -> Vec<Sds> {
        self.by_key.keys().cloned().collect()
    }
}

/// Marks the watchers of `key` dirty after it changed (Redis's `touchWatchedKey`).
pub fn touch(srv: &mut Server, key: &[u8]) {
    let w = &mut srv.watches;
    let Some(ids) = w.by_key.get(key).cloned() else {
        return;
    };
    for id in ids {
        let expired_at_watch = w
            .clients
            .get(&id)
            .and_then(|ks| ks.iter().find(|(k, _)| &**k == key))
            .map(|(_, e)| *e)
            .unwrap_or(false);
        if expired_at_watch {
            // Deleting a key that was already expired when watched is no logical change.
            if !srv.db.contains_raw(key) {
                if let Some(ks) = w.clients.get_mut(&id) {
                    for (k, e) in ks.iter_mut() {
                        if &**k == key {
                            *e = false;
                        }
                    }
                }
                continue;
            }
        }
        w.dirty.insert(id);
        w.unwatch_all(id);
    }
}

/// Marks dirty every watcher of a key in `existed` (FLUSHALL / FLUSHDB), except watchers
/// that saw the key already expired.
pub fn touch_flushed(srv: &mut Server, existed: &[Sds]) {
    let w = &mut srv.watches;
    for key in existed {
        let Some(ids) = w.by_key.get(key).cloned() else {
            continue;
        };
        for id in ids {
            let Some(ks) = w.clients.get_mut(&id) else {
                continue;
            };
            let mut was_expired = false;
            for (k, e) in ks.iter_mut() {
                if k == key && *e {
                    was_expired = true;
                    *e = false;
                }
            }
            if !was_expired {
                w.dirty.insert(id);
            }
        }
    }
}

/// Leaves MULTI and forgets every WATCH of `client` (DISCARD, EXEC, and RESET).
pub fn discard_transaction(srv: &mut Server, client: &mut crate::client::Client) {
    client.tx = None;
    srv.watches.remove_client(client.id);
}

/// MULTI
fn multi(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    if ctx.client.tx.is_some() {
        return Err("ERR MULTI calls can not be nested".into());
    }
    ctx.client.tx = Some(Box::default());
    ctx.out.ok();
    Ok(())
}

/// DISCARD
fn discard(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    if ctx.client.tx.is_none() {
        return Err("ERR DISCARD without MULTI".into());
    }
    discard_transaction(ctx.srv, ctx.client);
    ctx.out.ok();
    Ok(())
}

/// A key watched while live that has since expired aborts EXEC, even before anything
/// deleted it.
fn watched_key_expired(srv: &Server, id: u64, now: i64) -> bool {
    srv.watches.clients.get(&id).is_some_and(|ks| {
        ks.iter()
            .any(|(k, expired)| !expired && srv.db.expire_at(k).is_some_and(|at| at <= now))
    })
}

/// EXEC
fn exec(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let Some(queue) = ctx.client.tx.take() else {
        return Err("ERR EXEC without MULTI".into());
    };
    let id = ctx.client.id;
    let dirty = ctx.srv.watches.dirty.contains(&id) || watched_key_expired(ctx.srv, id, ctx.now);
    discard_transaction(ctx.srv, ctx.client);
    if queue.failed {
        return Err("EXECABORT Transaction discarded because of previous errors.".into());
    }
    if dirty {
        ctx.out.null_array();
        return Ok(());
    }
    let before = ctx.client.deny_blocking;
    ctx.client.deny_blocking = true;
    ctx.out.array(queue.cmds.len());
    for (i, (spec, handler, args)) in queue.cmds.iter().enumerate() {
        if let Some(reason) = acl_changed(ctx, spec, args) {
            ctx.out.error(&format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}"));
            continue;
        }
        ctx.client.run_as = queue.run_as.get(i).cloned().flatten();
        super::call(
            ctx.srv,
            ctx.client,
            ctx.out,
            spec,
            *handler,
            args,
            ctx.now,
            std::time::Instant::now(),
        );
        ctx.client.run_as = None;
        // Blocking is denied here; a stray request must not outlive the command.
        ctx.client.block = None;
    }
    ctx.client.deny_blocking = before;
    Ok(())
}

/// A TCP client's queued command checked again at EXEC, in case `ACL SETUSER` changed its
/// user meanwhile (Redis's `execCommand`): why it may no longer run.
fn acl_changed(
    ctx: &mut Ctx<'_>,
    spec: &'static CommandSpec,
    args: &[Bytes],
) -> Option<&'static str> {
    use crate::acl::{Denied, Refusal};
    let session = ctx.client.session.as_mut()?;
    let argv: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    let refusal = ctx.srv.acl.admit(session, spec, &argv).err()?;
    if let Refusal::Denied(_) = refusal {
        let s = session.clone();
        let info = ctx.client.info_line();
        ctx.srv
            .acl
            .log_refusal(&s, refusal, spec, &argv, true, info);
    }
    Some(match refusal {
        Refusal::Denied(Denied::Command) => "no permission to execute the command or subcommand",
        Refusal::Denied(Denied::Key(_)) => "no permission to touch the specified keys",
        Refusal::Denied(Denied::Channel(_)) => {
            "no permission to access one of the channels used as arguments"
        }
        Refusal::NoAuth | Refusal::UserGone => "no permission",
    })
}

/// WATCH key [key ...]
fn watch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if ctx.client.tx.is_some() {
        return Err("ERR WATCH inside MULTI is not allowed".into());
    }
    let id = ctx.client.id;
    // Already dirty: the next EXEC fails whatever is watched now.
    if !ctx.srv.watches.dirty.contains(&id) {
        for key in &argv[1..] {
            let expired = ctx.srv.db.expire_at(key).is_some_and(|at| at <= ctx.now)
                && ctx.srv.db.contains_raw(key);
            let w = &mut ctx.srv.watches;
            let mine = w.clients.entry(id).or_default();
            if mine.iter().any(|(k, _)| **k == key[..]) {
                continue;
            }
            mine.push((Sds::new(key), expired));
            w.by_key.entry(Sds::new(key)).or_default().push(id);
        }
    }
    ctx.out.ok();
    Ok(())
}

/// UNWATCH
fn unwatch(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.srv.watches.remove_client(ctx.client.id);
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_marks_watchers_and_unwatches() {
        let mut srv = Server::new(crate::config::ShardConfig::default());
        for id in [1, 2] {
            srv.watches
                .clients
                .entry(id)
                .or_default()
                .push((Sds::new(b"k"), false));
            srv.watches
                .by_key
                .entry(Sds::new(b"k"))
                .or_default()
                .push(id);
        }
        touch(&mut srv, b"other");
        assert!(srv.watches.dirty.is_empty());
        touch(&mut srv, b"k");
        assert!(srv.watches.dirty.contains(&1) && srv.watches.dirty.contains(&2));
        assert!(srv.watches.is_empty());
        srv.watches.remove_client(1);
        assert!(!srv.watches.dirty.contains(&1));
    }
}
