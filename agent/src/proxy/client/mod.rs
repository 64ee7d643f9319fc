//! One client connection: read what the client sent, route every complete request of the
//! batch (forwarding most to their shard's shared upstream), wait for every reply, and
//! write them back in one call, in request order.
//!
//! Per request the steps are: auth gate → RESP2 subscribed-mode gate → transaction
//! queueing → [`route`] (the ACL check and the split/fan-out/cluster plans hook in there)
//! → forward, answer locally, or use a dedicated connection.
//!
//! # Layout
//! - this module: the connection's loop, batching, routing and forwarding.
//! - [`stateful`]: blocking commands, MULTI/EXEC and WATCH (dedicated connections).
//! - [`special`]: the requests the proxy answers or adapts itself.

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
use super::route::{self, Route, Special, CROSSSLOT};
use super::thread::{NewClient, ThreadCtx};
use super::upstream::{push_command, Waiter};
use super::{acl, busy, local, plan_exec, Database};

mod special;
mod stateful;

use stateful::{Multi, Watch};

const READ_CHUNK: usize = 16 * 1024;
/// How often a client that is not reading is checked against the soft output limit.
const OBUF_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

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
}

/// Resolves once a client has idled past `timeout` (Redis closes after more than that
/// many whole seconds); never without a timeout.
async fn idle_expiry(timeout: Option<std::time::Duration>) {
    match timeout {
        Some(t) => tokio::time::sleep(t + std::time::Duration::from_secs(1)).await,
        None => std::future::pending().await,
    }
}
