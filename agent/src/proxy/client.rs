//! One client connection: read what the client sent, route every complete request of the
//! batch (forwarding most to their shard's shared upstream), wait for every reply, and
//! write them back in one call, in request order.
//!
//! Per request the steps are: auth gate → RESP2 subscribed-mode gate → transaction
//! queueing → [`route`] (the ACL check and the split/fan-out/cluster plans hook in there)
//! → forward, answer locally, or use a dedicated connection.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use shoal_proto::frame::{Limits, Scanned, Scanner};
use shoal_proto::{CommandSpec, Flags, Protocol, Reply};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::access::Verdict;
use super::dedicated::Dedicated;
use super::obuf::Obuf;
use super::pubsub::{self, PushBox, PushSink};
use super::registry::{self, ClientMeta};
use super::replies::Replies;
use super::route::{self, KeySlot, Route, Special, CROSSSLOT};
use super::thread::{NewClient, ThreadCtx};
use super::upstream::{push_command, Waiter};
use super::{acl, busy, local, plan_exec, Database};

const READ_CHUNK: usize = 16 * 1024;
/// How often a client that is not reading is checked against the soft output limit.
const OBUF_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// A MULTI block being queued at the proxy; it goes to the shard whole at EXEC.
#[derive(Default)]
struct Multi {
    frames: BytesMut,
    count: usize,
    slot: Option<u16>,
    /// An error while queueing: EXEC answers EXECABORT.
    dirty: bool,
}

/// WATCH holds its shard connection until EXEC, DISCARD or UNWATCH.
struct Watch {
    conn: Dedicated,
    slot: u16,
}

pub struct Client {
    ctx: Rc<ThreadCtx>,
    db: Arc<Database>,
    meta: Arc<ClientMeta>,
    stream: TcpStream,
    proto: Protocol,
    session: super::acl::Session,
    replies: Rc<Replies>,
    push: PushSink,
    /// Has a subscription (RESP2 then only allows the subscription commands).
    subscribed: bool,
    multi: Option<Multi>,
    watch: Option<Watch>,
    /// The connection used by the last blocking command, kept for the next one.
    blocking: Option<Dedicated>,
    close: bool,
    /// CLIENT REPLY: OFF, SKIP for the command after this one, SKIP for this one.
    reply_off: bool,
    reply_skip_next: bool,
    reply_skip: bool,
    /// Names of the batch's commands, for the metrics.
    batch: Vec<&'static str>,
    /// How far the frame at the front of the input was scanned, and its arguments so
    /// far: a frame arriving in many reads is not walked again from its start each time.
    scanner: Scanner,
    ranges: Vec<(usize, usize)>,
    now: Instant,
}

pub async fn serve(ctx: Rc<ThreadCtx>, nc: NewClient) {
    let stream = match TcpStream::from_std(nc.stream) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "client socket unusable");
            return;
        }
    };
    let id = registry::next_id();
    let meta = Arc::new(ClientMeta::new(
        id,
        nc.peer.to_string(),
        nc.local.map(|a| a.to_string()).unwrap_or_default(),
    ));
    let db = nc.db;
    // Held for the client's life: its `maxclients` place.
    let _slot = nc.slot;
    db.clients.add(meta.clone());
    db.metrics.connected.inc();
    let mut c = Client {
        session: db.access.acl.session(),
        ctx,
        db: db.clone(),
        meta,
        stream,
        proto: Protocol::Resp2,
        replies: Rc::new(Replies::new(Obuf::new(db.access.limits.clone()))),
        push: {
            let p = PushBox::new_sink();
            p.set_limits(db.access.limits.clone());
            p
        },
        subscribed: false,
        multi: None,
        watch: None,
        blocking: None,
        close: false,
        reply_off: false,
        reply_skip_next: false,
        reply_skip: false,
        batch: Vec::with_capacity(16),
        scanner: Scanner::default(),
        ranges: Vec::with_capacity(8),
        now: Instant::now(),
    };
    c.run().await;
    pubsub::remove_client(&db, id);
    db.clients.remove(id);
    db.metrics.connected.dec();
}

impl Client {
    async fn run(&mut self) {
        let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
        let mut out = BytesMut::with_capacity(READ_CHUNK);
        loop {
            if inbuf.capacity() - inbuf.len() < READ_CHUNK / 4 {
                let want = self.scanner.pending_bulk(inbuf.len()).unwrap_or(READ_CHUNK);
                inbuf.reserve(want.max(READ_CHUNK));
            }
            if self.meta.killed.load(Ordering::Relaxed) {
                return;
            }
            // `timeout`: an idle client goes, unless subscribed (Redis spares those).
            let idle = self
                .db
                .access
                .limits
                .idle_timeout()
                .filter(|_| !self.subscribed);
            let read = tokio::select! {
                r = self.stream.read_buf(&mut inbuf) => r,
                _ = idle_expiry(idle) => return,
                _ = self.push.ready.notified() => {
                    if !self.write_pushes(&mut out).await {
                        return;
                    }
                    continue;
                }
                _ = self.meta.kill.notified() => return,
            };
            match read {
                Ok(0) => return,
                // Past the query buffer limit (1 MB before AUTH), Redis closes the client.
                Ok(_) if inbuf.len() > self.db.access.read_limits(&self.session).1 => return,
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "client read failed");
                    return;
                }
            }
            // Busy first, then the stop flag (both SeqCst, mirroring the stop's store then
            // load): either the stop waits for this batch, or the batch sees the stop.
            // During a stop no new batch starts, so the drain ends once the batches
            // already read are answered, however busy the clients are; the connection
            // closes with the unexecuted requests unanswered.
            self.ctx.shared.busy.fetch_add(1, Ordering::SeqCst);
            if self.ctx.shared.stopping.load(Ordering::SeqCst) {
                self.ctx.shared.busy.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            self.now = Instant::now();
            let used = self.batch(&inbuf).await;
            inbuf.advance(used);
            self.replies.wait_all().await;
            let ok = if self.replies.obuf().over() {
                // Over client-output-buffer-limit: closed with none of the batch's replies.
                self.log_obuf_close();
                false
            } else {
                self.replies.drain_into(&mut out);
                self.flush(&mut out).await
            };
            self.ctx.shared.busy.fetch_sub(1, Ordering::Relaxed);
            self.ctx
                .stats
                .record(self.db.index, &self.batch, self.now.elapsed());
            if let Some(last) = self.batch.last().copied() {
                self.meta.touch(last);
            }
            self.batch.clear();
            if !ok || self.close {
                return;
            }
        }
    }

    async fn flush(&mut self, out: &mut BytesMut) -> bool {
        if self.push.overflowed() {
            return false;
        }
        let pushed = self.push.take();
        out.extend_from_slice(&pushed);
        if out.is_empty() {
            return true;
        }
        let ok = self.write_out(out).await;
        out.clear();
        if out.capacity() > 1024 * 1024 {
            *out = BytesMut::with_capacity(READ_CHUNK);
        }
        ok
    }

    /// Writes `out` whole. What the socket does not take at once is the client's output
    /// buffer: while it waits, the output-buffer limit still applies (the soft one is
    /// checked again every second), as does a subscriber's push box overflowing, and
    /// CLIENT KILL.
    async fn write_out(&mut self, out: &[u8]) -> bool {
        let obuf = self.replies.obuf().clone();
        let mut done = 0;
        let mut blocked = false;
        let mut recheck = None;
        loop {
            while done < out.len() {
                match self.stream.try_write(&out[done..]) {
                    Ok(0) => return false,
                    Ok(n) => done += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            if done == out.len() {
                if blocked {
                    obuf.set_unsent(0);
                }
                return true;
            }
            blocked = true;
            if obuf.set_unsent(out.len() - done) {
                self.log_obuf_close();
                return false;
            }
            let at = *recheck.get_or_insert_with(|| Instant::now() + OBUF_RECHECK);
            let push = &self.push;
            let meta = &self.meta;
            tokio::select! {
                r = self.stream.writable() => {
                    if r.is_err() {
                        return false;
                    }
                }
                _ = tokio::time::sleep_until(at.into()) => recheck = None,
                _ = async {
                    loop {
                        push.ready.notified().await;
                        if push.overflowed() {
                            break;
                        }
                    }
                } => return false,
                _ = meta.kill.notified() => return false,
            }
        }
    }

    fn log_obuf_close(&self) {
        tracing::warn!(
            client = %self.meta.line((0, 0), -1),
            "client closed for overcoming of output buffer limits"
        );
    }

    async fn write_pushes(&mut self, out: &mut BytesMut) -> bool {
        self.flush(out).await
    }

    /// Runs every complete request in `buf`; returns the bytes consumed.
    async fn batch(&mut self, buf: &[u8]) -> usize {
        let mut pos = 0;
        // Taken for the batch, as running a command needs `self` whole.
        let mut scanner = std::mem::take(&mut self.scanner);
        let mut ranges = std::mem::take(&mut self.ranges);
        let mut args: Vec<&[u8]> = Vec::with_capacity(8);
        // A client over its output limit runs nothing more of the batch, as in Redis.
        while !self.close && !self.replies.obuf().over() {
            let limits = Limits {
                auth_required: self.db.access.acl.auth_required(&self.session),
                ..Limits::default()
            };
            let rest = &buf[pos..];
            match scanner.scan(rest, limits, &mut ranges) {
                Ok(None) => break,
                Ok(Some(Scanned::Empty { len })) => pos += len,
                Ok(Some(Scanned::Multibulk { len })) => {
                    let f = &rest[..len];
                    args.clear();
                    args.extend(ranges.iter().map(|&(a, b)| &f[a..b]));
                    self.command(f, &args).await;
                    pos += len;
                }
                Ok(Some(Scanned::Inline { len, encoded })) => {
                    let inline_args: Vec<&[u8]> =
                        ranges.iter().map(|&(a, b)| &encoded[a..b]).collect();
                    self.command(&encoded, &inline_args).await;
                    pos += len;
                }
                Err(e) => {
                    self.error(&format!("ERR {}", e.0));
                    self.close = true;
                    tracing::debug!(error = %e, "protocol error");
                    return buf.len();
                }
            }
        }
        // The frame left incomplete at `pos` moves to the front of the input; the
        // scanner's positions are relative to its start, so they still hold.
        self.scanner = scanner;
        self.ranges = ranges;
        pos
    }

    fn ready(&self, reply: Bytes) {
        self.replies.push_ready(reply);
    }

    fn error(&self, msg: &str) {
        let mut r = Reply::new(self.proto);
        r.error(msg);
        self.ready(r.buf.freeze());
    }

    fn reply(&self) -> Reply {
        Reply {
            buf: BytesMut::with_capacity(64),
            proto: self.proto,
        }
    }

    /// Runs one request, then drops its replies if CLIENT REPLY says so (pub/sub
    /// confirmations are pushes, which Redis sends regardless).
    async fn command(&mut self, frame: &[u8], args: &[&[u8]]) {
        let from = self.replies.next_seq();
        let skip = std::mem::take(&mut self.reply_skip);
        self.run_command(frame, args).await;
        if self.reply_off || skip {
            let push = matches!(
                route::resolve(args).and_then(route::special),
                Some(Special::Subscribe | Special::Unsubscribe)
            );
            if !push {
                self.replies.mute_from(from);
            }
        }
        self.reply_skip = std::mem::take(&mut self.reply_skip_next);
    }

    async fn run_command(&mut self, frame: &[u8], args: &[&[u8]]) {
        let spec = route::resolve(args);
        self.batch.push(spec.map_or("unknown", |s| s.name));
        let special = spec.and_then(route::special);
        match spec {
            Some(spec) => {
                let multi = self.multi.is_some();
                let meta = &self.meta;
                let verdict = self
                    .db
                    .access
                    .admit(&mut self.session, spec, args, multi, || {
                        meta.line((0, 0), -1)
                    });
                if let Err(v) = verdict {
                    match v {
                        Verdict::Error(m) => self.error(&m),
                        Verdict::Close => self.close = true,
                    }
                    if let Some(m) = self.multi.as_mut() {
                        m.dirty = true;
                    }
                    return;
                }
            }
            None if self.db.access.acl.auth_required(&self.session) => {
                self.ready(Bytes::from_static(local::NOAUTH));
                return;
            }
            None => {}
        }
        let wrapped;
        let frame = match spec.and_then(|s| self.run_as(s, args)) {
            Some(w) => {
                wrapped = w;
                &wrapped[..]
            }
            None => frame,
        };
        if self.subscribed && self.proto == Protocol::Resp2 {
            let allowed = matches!(
                special,
                Some(
                    Special::Ping
                        | Special::Subscribe
                        | Special::Unsubscribe
                        | Special::Quit
                        | Special::Reset
                )
            );
            if !allowed {
                let name = spec.map_or_else(
                    || {
                        String::from_utf8_lossy(args.first().copied().unwrap_or_default())
                            .into_owned()
                    },
                    |s| s.name.to_string(),
                );
                self.error(&format!(
                    "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                ));
                return;
            }
        }
        // A script past its threshold on any shard: the database answers as a busy Redis.
        if let Some(spec) = spec {
            if !spec.flags.has(Flags::ALLOW_BUSY) && self.db.scripts.busy(self.now) {
                return self.reject_busy(special);
            }
        }
        if self.multi.is_some()
            && !matches!(
                special,
                Some(
                    Special::Exec
                        | Special::Discard
                        | Special::Multi
                        | Special::Watch
                        | Special::Quit
                        | Special::Reset
                )
            )
        {
            self.queue(spec, frame, args);
            return;
        }
        match route::route(&self.db, spec, special, args) {
            Route::Shard(i) => self.forward(i, frame),
            Route::Local(s) => self.local(s, frame, args).await,
            Route::Dedicated(i) => {
                let script = spec.is_some_and(|s| busy::is_script(s.name));
                self.blocking(i, frame, script).await
            }
            Route::CrossSlot => self.ready(Bytes::from_static(CROSSSLOT)),
            Route::Split | Route::FanOut => plan_exec::run(self.plan_exec(), frame, args),
        }
    }

    /// Redis's answer to a command refused while a script is busy: it flags an open
    /// transaction, and EXEC discards it.
    fn reject_busy(&mut self, special: Option<Special>) {
        if special == Some(Special::Exec) {
            self.multi = None;
            self.watch = None;
            return self.error(&format!(
                "EXECABORT Transaction discarded because of: {}",
                busy::BUSY
            ));
        }
        if let Some(m) = self.multi.as_mut() {
            m.dirty = true;
        }
        self.error(busy::BUSY)
    }

    fn plan_exec(&self) -> plan_exec::Exec<'_> {
        plan_exec::Exec {
            ctx: &self.ctx,
            db: &self.db,
            proto: self.proto,
            replies: &self.replies,
            now: self.now,
        }
    }

    fn forward(&self, shard: usize, frame: &[u8]) {
        let seq = self.replies.reserve();
        let Some(up) = self
            .ctx
            .upstream(&self.db, shard, self.proto == Protocol::Resp3)
        else {
            self.replies
                .fill(seq, super::upstream::tryagain(&self.db, shard));
            return;
        };
        let w = Waiter {
            to: Some((self.replies.clone(), seq)),
            len: frame.len() as u32,
            since: self.now,
        };
        if up.send(frame, [w], 1).is_err() {
            self.replies.fill(seq, up.tryagain());
        }
    }

    /// A command whose reach is wider than its key arguments, run by a restricted user,
    /// goes to the shard as `__shoal_runas <name> <rules> <command...>`: each `redis.call`
    /// of a script is held to the user's permissions, and SORT's BY and GET patterns are
    /// refused unless the user may read every key, as Redis checks them. The key check
    /// above only saw the key arguments.
    fn run_as(&self, spec: &CommandSpec, args: &[&[u8]]) -> Option<BytesMut> {
        let wide = matches!(
            spec.name,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "sort" | "sort_ro"
        );
        if !wide {
            return None;
        }
        let user = &self.session.user;
        if user.unrestricted() {
            return None;
        }
        let rules = acl::describe::describe(user);
        let mut all: Vec<&[u8]> = Vec::with_capacity(args.len() + 3);
        all.extend_from_slice(&[shoal_shard::cmd::RUN_AS, &user.name, &rules]);
        all.extend_from_slice(args);
        let mut buf = BytesMut::new();
        push_command(&mut buf, &all);
        Some(buf)
    }

    /// A successful `ACL SETUSER`/`DELUSER` is applied to every shard too, so that their
    /// TCP ports (`cluster_api`) hold the same users. In Redis Cluster users are per node;
    /// here one command changes the whole database, which is what a client of the proxy
    /// means. The shards' replies are dropped: the proxy has already answered.
    fn acl_to_shards(&self, args: &[&[u8]], reply: &Reply, frame: &[u8]) {
        let changes = args.get(1).is_some_and(|s| {
            s.eq_ignore_ascii_case(b"setuser") || s.eq_ignore_ascii_case(b"deluser")
        });
        if !changes || !matches!(reply.buf.first(), Some(b'+' | b':')) {
            return;
        }
        for shard in 0..self.db.shards() {
            let Some(up) = self.ctx.upstream(&self.db, shard, false) else {
                tracing::warn!(shard, "ACL change not applied to a shard that is down");
                continue;
            };
            let w = Waiter {
                to: None,
                len: frame.len() as u32,
                since: self.now,
            };
            if up.send(frame, [w], 1).is_err() {
                tracing::warn!(shard, "ACL change not applied to a shard that is down");
            }
        }
    }

    /// Waits for this client's replies so far, before it uses a dedicated connection: its
    /// earlier requests must have run first.
    /// False when the client went over its output-buffer limit meanwhile: it is closing.
    async fn barrier(&mut self) -> bool {
        self.replies.wait_all().await;
        if self.replies.obuf().over() {
            self.close = true;
            return false;
        }
        true
    }

    async fn blocking(&mut self, shard: usize, frame: &[u8], script: bool) {
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
            return self.ready(super::upstream::tryagain(&self.db, shard));
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
            Err(_) => self.ready(super::upstream::tryagain(&self.db, shard)),
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

    fn queue(&mut self, spec: Option<&'static CommandSpec>, frame: &[u8], args: &[&[u8]]) {
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

    async fn exec(&mut self) {
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
                return self.ready(super::upstream::tryagain(&self.db, shard));
            }
            let mut last = None;
            for _ in 0..m.count + 2 {
                match w.conn.recv().await {
                    Ok(r) => last = Some(r),
                    Err(_) => return self.ready(super::upstream::tryagain(&self.db, shard)),
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
                .fill(seq, super::upstream::tryagain(&self.db, shard));
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

    async fn watch(&mut self, frame: &[u8], args: &[&[u8]]) {
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
            return self.ready(super::upstream::tryagain(&self.db, shard));
        }
        match w.conn.recv().await {
            Ok(r) => {
                self.ready(r);
                self.watch = Some(w);
            }
            Err(_) => self.ready(super::upstream::tryagain(&self.db, shard)),
        }
    }

    async fn local(&mut self, s: Special, frame: &[u8], args: &[&[u8]]) {
        let mut out = self.reply();
        match s {
            Special::Ping => local::ping(
                args,
                self.subscribed && self.proto == Protocol::Resp2,
                &mut out,
            ),
            Special::Echo => match args {
                [_, m] => out.bulk(m),
                _ => out.error(&local::wrong_arity("echo")),
            },
            Special::Select => local::select(args, &mut out),
            Special::Auth => {
                let meta = &self.meta;
                acl::command::auth(
                    &self.db.access.acl,
                    &mut self.session,
                    args,
                    &mut out,
                    &|| meta.line((0, 0), -1),
                );
            }
            Special::Acl => {
                acl::command::acl(&self.db.access.acl, &self.session, args, &mut out);
                self.acl_to_shards(args, &out, frame);
            }
            Special::Config => {
                if !local_config(&self.db.access.limits, args, &mut out) {
                    if args.get(1).is_some_and(|s| s.eq_ignore_ascii_case(b"set")) {
                        self.db.scripts.config_set(args);
                    }
                    // Every shard gets a CONFIG SET, RESETSTAT or REWRITE; shard 0 answers
                    // the rest.
                    return plan_exec::run(self.plan_exec(), frame, args);
                }
            }
            Special::Hello => {
                let now = local::hello(
                    &self.db,
                    &self.meta,
                    args,
                    self.proto,
                    &mut self.session,
                    &mut out,
                );
                self.set_proto(now.proto);
            }
            Special::Client => {
                if let Some((shard, f)) = self.unblock_target(args) {
                    return self.forward(shard, &f);
                }
                if args.len() == 3 && args[1].eq_ignore_ascii_case(b"reply") {
                    return self.client_reply(args[2]);
                }
                let multi = self.multi.as_ref().map_or(-1, |m| m.count as i64);
                let db = self.db.clone();
                let subs = move |id: u64| match db.broker.lock() {
                    Ok(b) => b.counts(id),
                    Err(p) => p.into_inner().counts(id),
                };
                let o = local::client(&self.db, &self.meta, args, multi, &subs, &mut out);
                if o.close_self {
                    self.close = true;
                }
            }
            Special::Quit => {
                out.ok();
                self.close = true;
            }
            Special::Reset => {
                self.multi = None;
                self.watch = None;
                self.blocking = None;
                pubsub::remove_client(&self.db, self.meta.id);
                self.set_subscribed(false);
                self.set_proto(Protocol::Resp2);
                out.proto = Protocol::Resp2;
                self.meta.set_name(None);
                self.session = self.db.access.acl.session();
                out.simple("RESET");
            }
            Special::Multi => match &self.multi {
                Some(_) => out.error("ERR MULTI calls can not be nested"),
                None => {
                    self.multi = Some(Multi::default());
                    out.ok();
                }
            },
            Special::Exec => return self.exec().await,
            Special::Discard => match self.multi.take() {
                None => out.error("ERR DISCARD without MULTI"),
                Some(_) => {
                    self.watch = None;
                    out.ok();
                }
            },
            Special::Watch => return self.watch(frame, args).await,
            Special::Unwatch => {
                self.watch = None;
                out.ok();
            }
            Special::Subscribe => {
                if args.len() < 2 {
                    out.error(&local::wrong_arity(
                        &String::from_utf8_lossy(args[0]).to_ascii_lowercase(),
                    ));
                } else {
                    let cmd = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
                    pubsub::subscribe(
                        &self.db,
                        self.meta.id,
                        &self.push,
                        &cmd,
                        &args[1..],
                        &mut out,
                    );
                }
                self.set_subscribed(pubsub::is_subscribed(&self.db, self.meta.id));
            }
            Special::Unsubscribe => {
                let cmd = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
                pubsub::unsubscribe(&self.db, self.meta.id, &cmd, &args[1..], &mut out);
                self.set_subscribed(pubsub::is_subscribed(&self.db, self.meta.id));
            }
            Special::Publish => match args {
                [cmd, ch, msg] => {
                    let shard_kind = cmd.first().is_some_and(|c| c.eq_ignore_ascii_case(&b's'));
                    let n = pubsub::publish(&self.db, shard_kind, ch, msg);
                    out.int(n as i64);
                }
                _ => out.error(&local::wrong_arity(
                    &String::from_utf8_lossy(args[0]).to_ascii_lowercase(),
                )),
            },
            Special::PubSub => {
                if !pubsub::pubsub_command(&self.db, args, &mut out) {
                    let sub = args
                        .get(1)
                        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
                    match sub {
                        None => out.error(&local::wrong_arity("pubsub")),
                        Some(s) => out.error(&format!(
                            "ERR unknown subcommand or wrong number of arguments for '{s}'. Try PUBSUB HELP."
                        )),
                    }
                }
            }
            Special::Cluster => match self.db.cluster.answer(args, self.proto) {
                super::cluster::Answer::Reply(bytes) => out.raw(&bytes),
                super::cluster::Answer::Shard(i) => return self.forward(i, frame),
            },
            Special::Blocking
            | Special::BlockOption
            | Special::Wait
            | Special::Split
            | Special::FanOut => {
                // Routed before reaching here; answer as the shard would.
                return self.forward(0, frame);
            }
        }
        self.ready(out.buf.freeze());
    }

    /// A subscribed client's output is held to the pubsub class, as in Redis.
    fn set_subscribed(&mut self, on: bool) {
        self.subscribed = on;
        self.replies.obuf().set_pubsub(on);
    }

    /// CLIENT REPLY ON|OFF|SKIP: only ON is answered.
    fn client_reply(&mut self, mode: &[u8]) {
        if mode.eq_ignore_ascii_case(b"on") {
            self.reply_off = false;
            self.reply_skip = false;
            self.reply_skip_next = false;
            self.ready(Bytes::from_static(b"+OK\r\n"));
        } else if mode.eq_ignore_ascii_case(b"off") {
            self.reply_off = true;
        } else if mode.eq_ignore_ascii_case(b"skip") {
            self.reply_skip_next = !self.reply_off;
        } else {
            self.error("ERR syntax error");
        }
    }

    /// CLIENT UNBLOCK of a client waiting on a dedicated connection: the request for its
    /// shard, naming the connection there. Anything else is answered locally.
    fn unblock_target(&self, args: &[&[u8]]) -> Option<(usize, Vec<u8>)> {
        if !args.get(1)?.eq_ignore_ascii_case(b"unblock") || !(3..=4).contains(&args.len()) {
            return None;
        }
        if let Some(mode) = args.get(3) {
            if !mode.eq_ignore_ascii_case(b"timeout") && !mode.eq_ignore_ascii_case(b"error") {
                return None;
            }
        }
        let id = shoal_proto::number::parse_i64(args[2])?;
        let target = self.db.clients.get(u64::try_from(id).ok()?)?;
        let (shard, shard_id) = target.blocked_on()?;
        let id_text = shard_id.to_string();
        let mut f = BytesMut::new();
        let mut parts: Vec<&[u8]> = vec![b"CLIENT", b"UNBLOCK", id_text.as_bytes()];
        parts.extend(args.get(3));
        push_command(&mut f, &parts);
        Some((shard, f.to_vec()))
    }

    fn set_proto(&mut self, p: Protocol) {
        self.proto = p;
        self.push.set_protocol(p);
        self.meta
            .resp
            .store(if p == Protocol::Resp3 { 3 } else { 2 }, Ordering::Relaxed);
    }
}

/// CONFIG GET/SET of a client limit (`maxclients`, `timeout`, `protected-mode`, the
/// buffer limits) is the proxy's; false leaves the command to the shard.
fn local_config(limits: &super::limits::Limits, args: &[&[u8]], out: &mut Reply) -> bool {
    let sub = args.get(1).copied().unwrap_or_default();
    if sub.eq_ignore_ascii_case(b"get") && args.len() == 3 {
        let pattern = args[2];
        // A pattern could match shard settings too; only exact names are answered here.
        if pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            return false;
        }
        let found = limits.config_get(pattern);
        if found.is_empty() {
            return false;
        }
        out.map(found.len());
        for (name, value) in found {
            out.bulk(name.as_bytes());
            out.bulk(value.as_bytes());
        }
        return true;
    }
    if sub.eq_ignore_ascii_case(b"set") && args.len() == 4 {
        return match limits.config_set(args[2], args[3]) {
            None => false,
            Some(Ok(())) => {
                out.ok();
                true
            }
            Some(Err(e)) => {
                out.error(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - {e}",
                    String::from_utf8_lossy(args[2])
                ));
                true
            }
        };
    }
    false
}

/// Resolves once a client has idled past `timeout` (Redis closes after more than that
/// many whole seconds); never without a timeout.
async fn idle_expiry(timeout: Option<std::time::Duration>) {
    match timeout {
        Some(t) => tokio::time::sleep(t + std::time::Duration::from_secs(1)).await,
        None => std::future::pending().await,
    }
}
