//! The shared, pipelined connection from one proxy thread to one shard (per RESP
//! version).
//!
//! Clients append request frames to `wbuf` and a [`Waiter`] per frame; the writer sends
//! whatever accumulated in one call, so every client served in one turn of the thread's
//! loop shares a write. The reader splits each read into reply frames by length and hands
//! each to the oldest waiter: the shard answers a connection's requests in order.
//!
//! While the shard is down (killed, restarting) requests stay queued, up to
//! `restart_queue` per thread, and are sent as soon as it is back; a request that has
//! waited `restart_deadline` gets `-TRYAGAIN`. Requests already written when a connection
//! broke may or may not have run, so they get `-TRYAGAIN` at once rather than a resend.
//!
//! A shard can also hang with its connection open (SIGSTOP, a stalled disk under
//! `appendfsync always`): requests written to it then wait for replies that do not come.
//! Each one that has waited `restart_deadline` gets `-TRYAGAIN` too, and its reply, when
//! the shard resumes, is read and dropped; the connection is kept, since the shard will
//! answer in order. While any such reply is outstanding the shard counts as down for
//! `restart_queue`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use shoal_proto::reply_scan::reply_len;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::Notify;

use super::replies::Replies;
use super::{Database, Settings};

/// Between reconnect attempts to a shard that is down.
const RETRY: Duration = Duration::from_millis(20);
/// A shard that accepted the connection but does not answer AUTH/HELLO within this is
/// treated as down.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
const READ_CHUNK: usize = 64 * 1024;

/// Who gets a reply: a client's slot, or nobody (the MULTI and +QUEUED replies of a
/// transaction the proxy already answered).
pub struct Waiter {
    pub to: Option<(Rc<Replies>, u64)>,
    /// Bytes of the request in `wbuf` while unsent.
    pub len: u32,
    pub since: Instant,
}

#[derive(Default)]
struct State {
    wbuf: BytesMut,
    waiters: VecDeque<Waiter>,
    /// `waiters[..sent]` have been written and await their replies.
    sent: usize,
    /// `waiters[..expired]` (within the sent ones) were answered `-TRYAGAIN` while the
    /// shard did not reply; their late replies are dropped.
    expired: usize,
    up: bool,
}

pub struct Upstream {
    st: RefCell<State>,
    wake: Notify,
    /// Wakes the hang watchdog when requests are written.
    in_flight: Notify,
    db: Arc<Database>,
    shard: usize,
    resp3: bool,
    settings: Settings,
}

/// The shard cannot take the request now; the text is the error reply.
pub struct Unavailable;

impl Upstream {
    pub fn start(db: Arc<Database>, shard: usize, resp3: bool, settings: Settings) -> Rc<Upstream> {
        let up = Rc::new(Upstream {
            st: RefCell::new(State {
                wbuf: BytesMut::with_capacity(READ_CHUNK),
                ..State::default()
            }),
            wake: Notify::new(),
            in_flight: Notify::new(),
            db,
            shard,
            resp3,
            settings,
        });
        tokio::task::spawn_local(drive(up.clone()));
        up
    }

    /// Queues requests (one or more whole frames in `frame`) whose replies go to
    /// `waiters` in order. Fails when the shard is down and its queue is full.
    pub fn send(
        &self,
        frame: &[u8],
        waiters: impl IntoIterator<Item = Waiter>,
        extra: usize,
    ) -> Result<(), Unavailable> {
        let mut st = self.st.borrow_mut();
        let down = !st.up || st.expired > 0;
        if down && st.waiters.len() + extra >= self.settings.queue {
            return Err(Unavailable);
        }
        let was_empty = st.wbuf.is_empty();
        st.wbuf.extend_from_slice(frame);
        st.waiters.extend(waiters);
        drop(st);
        if was_empty {
            self.wake.notify_one();
        }
        Ok(())
    }

    pub fn tryagain(&self) -> Bytes {
        tryagain(&self.db, self.shard)
    }

    fn deliver(&self, frame: Bytes) -> bool {
        let mut st = self.st.borrow_mut();
        if st.sent == 0 {
            return false;
        }
        st.sent -= 1;
        st.expired = st.expired.saturating_sub(1);
        let Some(w) = st.waiters.pop_front() else {
            return false;
        };
        drop(st);
        if let Some((r, seq)) = w.to {
            r.fill(seq, frame);
        }
        true
    }

    /// The connection broke: requests in flight get `-TRYAGAIN`; unsent ones stay queued.
    fn broken(&self) {
        let mut st = self.st.borrow_mut();
        st.up = false;
        let sent = std::mem::take(&mut st.sent);
        // Those already answered have no `to` left and get nothing more.
        st.expired = 0;
        let lost: Vec<Waiter> = st.waiters.drain(..sent).collect();
        drop(st);
        let err = self.tryagain();
        for w in lost {
            if let Some((r, seq)) = w.to {
                r.fill(seq, err.clone());
            }
        }
    }

    /// Answers `-TRYAGAIN` to the queued requests that waited past the deadline.
    fn expire(&self, now: Instant) {
        let err = self.tryagain();
        loop {
            let mut st = self.st.borrow_mut();
            let due = st
                .waiters
                .front()
                .is_some_and(|w| now.duration_since(w.since) >= self.settings.deadline);
            if !due || st.sent > 0 {
                return;
            }
            let Some(w) = st.waiters.pop_front() else {
                return;
            };
            let n = (w.len as usize).min(st.wbuf.len());
            st.wbuf.advance(n);
            drop(st);
            if let Some((r, seq)) = w.to {
                r.fill(seq, err.clone());
            }
        }
    }
}

impl Upstream {
    /// Answers `-TRYAGAIN` to the written requests that have waited past the deadline
    /// for a reply, keeping their places so their late replies are dropped in order.
    /// Returns when the next written request falls due, if any is waiting.
    fn expire_in_flight(&self, now: Instant) -> Option<Instant> {
        let deadline = self.settings.deadline;
        let mut due = Vec::new();
        let next = {
            let mut st = self.st.borrow_mut();
            let st = &mut *st;
            let mut next = None;
            while st.expired < st.sent {
                let Some(w) = st.waiters.get_mut(st.expired) else {
                    break;
                };
                let at = w.since + deadline;
                if at > now {
                    next = Some(at);
                    break;
                }
                if let Some(to) = w.to.take() {
                    due.push(to);
                }
                st.expired += 1;
            }
            next
        };
        if !due.is_empty() {
            tracing::warn!(
                database = %self.db.name,
                shard = self.shard,
                requests = due.len(),
                deadline_ms = deadline.as_millis() as u64,
                "shard did not answer within restart_deadline"
            );
            let err = self.tryagain();
            for (r, seq) in due {
                r.fill(seq, err.clone());
            }
        }
        next
    }
}

/// Times out the requests a connected shard does not answer (see the module doc).
async fn watchdog(up: &Upstream) -> std::io::Error {
    loop {
        match up.expire_in_flight(Instant::now()) {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => up.in_flight.notified().await,
        }
    }
}

pub fn tryagain(db: &Database, shard: usize) -> Bytes {
    Bytes::from(format!(
        "-TRYAGAIN shard {shard} of database {} is unavailable, try again later\r\n",
        db.name
    ))
}

/// Connects to a shard's socket and sets the connection up: AUTH when the database has a
/// password, HELLO 3 for a RESP3 upstream. Returns the stream and any bytes read past the
/// handshake replies (none, as nothing else was sent).
pub async fn connect(db: &Database, shard: usize, resp3: bool) -> std::io::Result<UnixStream> {
    let path = db
        .sockets
        .get(shard)
        .ok_or_else(|| std::io::Error::other("no such shard"))?;
    let mut s = UnixStream::connect(path).await?;
    let mut hello = BytesMut::new();
    let mut expect = 0;
    if let Some(pw) = &db.password {
        push_command(&mut hello, &[b"AUTH", pw.as_bytes()]);
        expect += 1;
    }
    if resp3 {
        push_command(&mut hello, &[b"HELLO", b"3"]);
        expect += 1;
    }
    if expect == 0 {
        return Ok(s);
    }
    let done = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        s.write_all(&hello).await?;
        let mut buf = BytesMut::with_capacity(1024);
        let mut got = 0;
        while got < expect {
            if s.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            while let Some(n) = reply_len(&buf).map_err(std::io::Error::other)? {
                let frame = buf.split_to(n);
                if frame.first() == Some(&b'-') {
                    return Err(std::io::Error::other(
                        String::from_utf8_lossy(&frame).trim_end().to_string(),
                    ));
                }
                got += 1;
            }
        }
        Ok(())
    })
    .await;
    match done {
        Ok(Ok(())) => Ok(s),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut)),
    }
}

pub fn push_command(buf: &mut BytesMut, args: &[&[u8]]) {
    let mut b = itoa::Buffer::new();
    buf.extend_from_slice(b"*");
    buf.extend_from_slice(b.format(args.len()).as_bytes());
    buf.extend_from_slice(b"\r\n");
    for a in args {
        buf.extend_from_slice(b"$");
        buf.extend_from_slice(b.format(a.len()).as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

async fn drive(up: Rc<Upstream>) {
    let mut logged_down = false;
    loop {
        match connect(&up.db, up.shard, up.resp3).await {
            Ok(stream) => {
                if logged_down {
                    tracing::info!(database = %up.db.name, shard = up.shard, "shard reachable again");
                }
                up.st.borrow_mut().up = true;
                let why = serve(&up, stream).await;
                up.broken();
                tracing::warn!(database = %up.db.name, shard = up.shard, error = %why, "shard connection lost");
                logged_down = true;
            }
            Err(e) => {
                if !logged_down {
                    tracing::debug!(database = %up.db.name, shard = up.shard, error = %e, "shard unreachable");
                    logged_down = true;
                }
            }
        }
        up.expire(Instant::now());
        // Wait for the next attempt, or for work if nothing is queued.
        if up.st.borrow().waiters.is_empty() {
            tokio::select! {
                _ = up.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        } else {
            tokio::time::sleep(RETRY).await;
        }
    }
}

async fn serve(up: &Upstream, mut stream: UnixStream) -> std::io::Error {
    let (mut r, mut w) = stream.split();
    let reader = async {
        let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
        loop {
            if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
                rbuf.reserve(READ_CHUNK);
            }
            match r.read_buf(&mut rbuf).await {
                Ok(0) => return std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                Ok(_) => {}
                Err(e) => return e,
            }
            loop {
                match reply_len(&rbuf) {
                    Ok(Some(n)) => {
                        let frame = rbuf.split_to(n).freeze();
                        // Out-of-band pushes (RESP3) belong to no request.
                        if frame.first() == Some(&b'>') {
                            continue;
                        }
                        if !up.deliver(frame) {
                            return std::io::Error::other("reply with no request");
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return std::io::Error::other(e),
                }
            }
        }
    };
    let writer = async {
        let mut spare = BytesMut::new();
        loop {
            let out = {
                let mut st = up.st.borrow_mut();
                if st.wbuf.is_empty() {
                    None
                } else {
                    st.sent = st.waiters.len();
                    up.in_flight.notify_one();
                    Some(std::mem::replace(&mut st.wbuf, std::mem::take(&mut spare)))
                }
            };
            match out {
                None => up.wake.notified().await,
                Some(mut buf) => {
                    if let Err(e) = w.write_all(&buf).await {
                        return e;
                    }
                    buf.clear();
                    // Keep one buffer in reserve so steady traffic allocates nothing.
                    if buf.capacity() <= 4 * READ_CHUNK {
                        spare = buf;
                    }
                }
            }
        }
    };
    tokio::select! {
        e = reader => e,
        e = writer => e,
        e = watchdog(up) => e,
    }
}
