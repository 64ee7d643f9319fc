//! The requests that need a connection of their own to a shard, or state kept across
//! requests: blocking commands and scripts on a dedicated connection, MULTI queued at the
//! proxy and sent whole at EXEC, and WATCH holding its connection until the transaction.

use bytes::{Bytes, BytesMut};
use shoal_proto::{CommandSpec, Flags, Protocol};

use super::super::dedicated::Dedicated;
use super::super::local;
use super::super::route::{self, KeySlot, CROSSSLOT};
use super::super::upstream::{push_command, Waiter};
use super::Client;

/// A MULTI block being queued at the proxy; it goes to the shard whole at EXEC.
#[derive(Default)]
pub(super) struct Multi {
    pub(super) frames: BytesMut,
    pub(super) count: usize,
    pub(super) slot: Option<u16>,
    /// An error while queueing: EXEC answers EXECABORT.
    pub(super) dirty: bool,
}

/// WATCH holds its shard connection until EXEC, DISCARD or UNWATCH.
pub(super) struct Watch {
    pub(super) conn: Dedicated,
    pub(super) slot: u16,
}

impl Client {
    /// Waits for this client's replies so far, before it uses a dedicated connection: its
    /// earlier requests must have run first.
    /// False when the client went over its output-buffer limit meanwhile: it is closing.
    pub(super) async fn barrier(&mut self) -> bool {
        self.replies.wait_all().await;
        if self.replies.obuf().over() {
            self.close = true;
            return false;
        }
        true
    }

    pub(super) async fn blocking(&mut self, shard: usize, frame: &[u8], script: bool) {
        if !self.barrier().await {
            return;
        }
        let resp3 = self.proto == Protocol::Resp3;
        let mut conn = match self.blocking.take() {
            Some(c) if c.shard == shard && c.resp3 == resp3 => c,
            _ => match Dedicated::open(&self.db, shard, resp3, self.ctx.shared.settings).await {
                Ok(c) => c,
                Err(e) => return self.ready(e),
            },
        };
        // Counted from before the send, so a script is never busy at the shard unseen here.
        let _running = script.then(|| self.db.scripts.begin());
        if conn.send(frame).await.is_err() {
            return self.ready(super::super::upstream::tryagain(&self.db, shard));
        }
        // A script is not a blocked client (CLIENT LIST, CLIENT UNBLOCK).
        if !script {
            self.meta
                .set_blocked_on(conn.shard_client_id.map(|id| (shard, id)));
        }
        let reply = self.wait_blocked(&mut conn).await;
        self.meta.set_blocked_on(None);
        let Some(reply) = reply else {
            self.close = true;
            return;
        };
        match reply {
            Ok(r) => {
                self.ready(r);
                self.blocking = Some(conn);
            }
            Err(_) => self.ready(super::super::upstream::tryagain(&self.db, shard)),
        }
    }

    /// The reply on a dedicated connection, or `None` when the client left or was killed
    /// meanwhile.
    async fn wait_blocked(&mut self, conn: &mut Dedicated) -> Option<std::io::Result<Bytes>> {
        // While blocked, watch the client: if it goes away the dedicated connection is
        // dropped, which unblocks it in the shard (it must not pop an element for nobody).
        let mut peek = [0u8; 1];
        let mut client_sent = false;
        loop {
            tokio::select! {
                r = conn.recv() => return Some(r),
                p = self.stream.peek(&mut peek), if !client_sent => match p {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => client_sent = true,
                },
                _ = self.meta.kill.notified() => return None,
            }
        }
    }

    pub(super) fn queue(
        &mut self,
        spec: Option<&'static CommandSpec>,
        frame: &[u8],
        args: &[&[u8]],
    ) {
        let multi_shard = self.db.shards() > 1;
        let watch_slot = self.watch.as_ref().map(|w| w.slot);
        let Some(m) = self.multi.as_mut() else {
            return;
        };
        let Some(spec) = spec else {
            m.dirty = true;
            return self.error(&local::unknown_command(args));
        };
        if !spec.arity_ok(args.len()) {
            m.dirty = true;
            return self.error(&local::wrong_arity(spec.name));
        }
        if spec.flags.has(Flags::NO_MULTI) {
            m.dirty = true;
            return self.error("ERR Command not allowed inside a transaction");
        }
        if multi_shard {
            let slot = match route::key_slot(&self.db, spec, args) {
                KeySlot::Keyless => None,
                KeySlot::One(s) => Some(s),
                KeySlot::Cross { .. } => {
                    m.dirty = true;
                    return self.ready(Bytes::from_static(CROSSSLOT));
                }
            };
            if let Some(s) = slot {
                let first = m.slot.or(watch_slot).unwrap_or(s);
                if first != s {
                    m.dirty = true;
                    return self.ready(Bytes::from_static(CROSSSLOT));
                }
                m.slot = Some(s);
            }
        }
        m.frames.extend_from_slice(frame);
        m.count += 1;
        self.ready(Bytes::from_static(b"+QUEUED\r\n"));
    }

    pub(super) async fn exec(&mut self) {
        let Some(m) = self.multi.take() else {
            return self.error("ERR EXEC without MULTI");
        };
        let watch = self.watch.take();
        if m.dirty {
            return self.error("EXECABORT Transaction discarded because of previous errors.");
        }
        let mut block = BytesMut::with_capacity(m.frames.len() + 32);
        push_command(&mut block, &[b"MULTI"]);
        block.extend_from_slice(&m.frames);
        push_command(&mut block, &[b"EXEC"]);
        if let Some(mut w) = watch {
            // The watch lives in its connection: the transaction must run there.
            if !self.barrier().await {
                return;
            }
            let shard = w.conn.shard;
            if w.conn.send(&block).await.is_err() {
                return self.ready(super::super::upstream::tryagain(&self.db, shard));
            }
            let mut last = None;
            for _ in 0..m.count + 2 {
                match w.conn.recv().await {
                    Ok(r) => last = Some(r),
                    Err(_) => return self.ready(super::super::upstream::tryagain(&self.db, shard)),
                }
            }
            if let Some(r) = last {
                self.ready(r);
            }
            return;
        }
        let shard = m.slot.map_or(0, |s| self.db.slots.owner(s));
        // One contiguous run on the shared pipeline: the shard executes a connection's
        // requests in order, so no other client's command can land inside the block.
        let seq = self.replies.reserve();
        let Some(up) = self
            .ctx
            .upstream(&self.db, shard, self.proto == Protocol::Resp3)
        else {
            return self
                .replies
                .fill(seq, super::super::upstream::tryagain(&self.db, shard));
        };
        let n = m.count + 2;
        let mut waiters = Vec::with_capacity(n);
        for i in 0..n {
            waiters.push(Waiter {
                to: (i + 1 == n).then(|| (self.replies.clone(), seq)),
                len: if i == 0 { block.len() as u32 } else { 0 },
                since: self.now,
            });
        }
        if up.send(&block, waiters, n).is_err() {
            self.replies.fill(seq, up.tryagain());
        }
    }

    pub(super) async fn watch(&mut self, frame: &[u8], args: &[&[u8]]) {
        if self.multi.is_some() {
            return self.error("ERR WATCH inside MULTI is not allowed");
        }
        if args.len() < 2 {
            return self.error(&local::wrong_arity("watch"));
        }
        let slot = if self.db.shards() == 1 {
            0
        } else {
            let Some(spec) = route::resolve(args) else {
                return;
            };
            match route::key_slot(&self.db, spec, args) {
                KeySlot::One(s) => s,
                _ => return self.ready(Bytes::from_static(CROSSSLOT)),
            }
        };
        let shard = self.db.slots.owner(slot);
        if let Some(w) = &self.watch {
            if self.db.shards() > 1 && w.slot != slot {
                return self.ready(Bytes::from_static(CROSSSLOT));
            }
        }
        if !self.barrier().await {
            return;
        }
        let resp3 = self.proto == Protocol::Resp3;
        let mut w = match self.watch.take() {
            Some(w) => w,
            None => match Dedicated::open(&self.db, shard, resp3, self.ctx.shared.settings).await {
                Ok(conn) => Watch { conn, slot },
                Err(e) => return self.ready(e),
            },
        };
        if w.conn.send(frame).await.is_err() {
            return self.ready(super::super::upstream::tryagain(&self.db, shard));
        }
        match w.conn.recv().await {
            Ok(r) => {
                self.ready(r);
                self.watch = Some(w);
            }
            Err(_) => self.ready(super::super::upstream::tryagain(&self.db, shard)),
        }
    }
}
