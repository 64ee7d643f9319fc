//! One client connection: read, parse every complete request in the buffer, run them
//! back to back, then send all their replies in one write. A pipelined batch therefore
//! costs one read and one write system call, however many commands it holds. (Past
//! [`PARTIAL_FLUSH`] of replies, a client with no output limit gets them written before
//! the rest of its batch runs.)
//!
//! After each command, clients blocked on keys that the command made ready are served
//! (see [`crate::blocking`]). A connection whose own command blocked stops running its
//! pipeline and parks until it is served, times out, is unblocked or killed; input that
//! arrives meanwhile is buffered, and runs once the wait is over.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use shoal_proto::{Reply, RequestParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use crate::blocking;
use crate::client::Client;
use crate::cmd;
use crate::state::{now_ms, Server};

const READ_CHUNK: usize = 16 * 1024;
/// Replies a pipeline may pile up before they are written and the pipeline resumes, for
/// a client with no output limit to close it (the proxy's shared connection has none):
/// 16 KiB of pipelined GETs of a 1 MB value would otherwise be 700 MB here. A client with
/// a limit keeps Redis's behaviour, all replies buffered, so the limit closes it.
const PARTIAL_FLUSH: usize = 1024 * 1024;

/// Serves one accepted connection until it closes or is killed.
pub async fn serve<S>(
    shared: Rc<RefCell<Server>>,
    mut stream: S,
    addr: String,
    laddr: String,
    is_unix: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (client_rc, mut parser) = {
        let mut srv = shared.borrow_mut();
        let id = srv.clients.next_id();
        let session = srv.acl.session();
        let auth_needed = srv.acl.auth_required(&session);
        let mut client = Client::new(id, addr, laddr, is_unix, !auth_needed);
        // TCP clients (cluster_api) are checked against the users; the Unix socket is the
        // agent's, whose proxy has checked already.
        if !is_unix {
            client.session = Some(session);
        }
        let client = Rc::new(RefCell::new(client));
        srv.clients.add(client.clone(), id);
        srv.stats.total_connections_received += 1;
        let mut parser = RequestParser::new();
        parser.max_bulk_len = srv.config.proto_max_bulk_len as usize;
        parser.auth_required = auth_needed;
        (client, parser)
    };
    let (id, kill, outbox) = {
        let c = client_rc.borrow();
        (c.id, c.kill_signal.clone(), c.outbox.clone())
    };
    let span = tracing::debug_span!("conn", client.id = id);
    let _enter = span.enter();
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Reply::default();
    // One argument vector for the connection's life (the parser swaps it with its own).
    let mut args: Vec<Bytes> = Vec::new();
    loop {
        let (close, blocked, scripting, more) = {
            let mut srv = shared.borrow_mut();
            let mut client = client_rc.borrow_mut();
            if client.killed {
                break;
            }
            let mut blocked = false;
            let mut scripting = false;
            let mut more = false;
            loop {
                parser.auth_required = !client.authenticated;
                parser.max_bulk_len = srv.config.proto_max_bulk_len as usize;
                // CLIENT LIST's qbuf counts the running command's bytes, as in Redis.
                client.qbuf = inbuf.len();
                match parser.next_into(&mut inbuf, &mut args) {
                    Ok(true) => {
                        let mark = out.len();
                        cmd::execute(&mut srv, &mut client, &mut out, &args);
                        // The arguments share the read buffer: let go of them now, so a
                        // later read can reuse its space.
                        args.clear();
                        // The command may have published to this very connection; Redis
                        // puts such a message before the command's own reply.
                        if !outbox.is_empty() {
                            let tail = out.buf.split_off(mark);
                            out.buf.extend_from_slice(&outbox.take());
                            out.buf.extend_from_slice(&tail);
                        }
                        outbox.set_protocol(client.proto);
                        if obuf_class(&srv, id).over_hard(out.len() + outbox.pending()) {
                            // As Redis does: the client is dropped and nothing more is
                            // sent to it, so its replies stop taking memory at once.
                            tracing::warn!(
                                client.id = id,
                                obuf = out.len() + outbox.pending(),
                                "closing client over its output buffer hard limit"
                            );
                            out.buf = BytesMut::new();
                            client.killed = true;
                            break;
                        }
                        blocking::handle_ready(&mut srv);
                        // A blocked client runs nothing else until its wait ends; the rest
                        // of its pipeline stays in the buffer.
                        if srv.blocking.is_blocked(id) {
                            blocked = true;
                            break;
                        }
                        // A busy script: its reply comes once the rest of it has run.
                        if client.script_wait {
                            scripting = true;
                            break;
                        }
                        if client.close_after_reply || client.killed {
                            break;
                        }
                        if out.len() >= PARTIAL_FLUSH && obuf_class(&srv, id).is_none() {
                            more = true;
                            break;
                        }
                    }
                    Ok(false) => break,
                    Err(e) => {
                        // Redis sends protocol errors with the generic ERR code.
                        out.error(&format!("ERR {}", e.0));
                        client.close_after_reply = true;
                        tracing::debug!(error = %e, "protocol error");
                        break;
                    }
                }
            }
            client.qbuf = inbuf.len();
            outbox.set_limit(srv.config.obuf_limits.pubsub);
            let over_limit = over_query_limit(&srv, id, inbuf.len(), client.authenticated);
            srv.stats.total_net_output_bytes += out.buf.len() as u64;
            (
                client.close_after_reply || client.killed || over_limit || outbox.overflowed(),
                blocked,
                scripting,
                more,
            )
        };
        if !durable_gate(&shared, &client_rc, &mut stream).await {
            break;
        }
        if client_rc.borrow().killed {
            break;
        }
        let limit = obuf_class(&shared.borrow(), id);
        if !flush(&mut stream, &mut out, &Guard::new(&kill, &outbox, limit)).await {
            break;
        }
        if close {
            break;
        }
        if !outbox.is_empty() || outbox.overflowed() {
            // Pushes that arrived while the replies were written: that write may have
            // taken their wake-up.
            outbox.ready.notify_one();
        }
        if more {
            // The rest of the pipeline is already in the buffer.
            continue;
        }
        if scripting {
            let done = crate::script::run::finish(&shared).await;
            let mut srv = shared.borrow_mut();
            let mut client = client_rc.borrow_mut();
            client.script_wait = false;
            // The script ran on after EVAL returned; its reply needs all it did.
            client.durable_need = crate::persist::dirty::ALL;
            if let Some(text) = &done.error {
                srv.stats.count_error(text);
            }
            if !client.reply_off {
                out.buf.extend_from_slice(&done.reply);
            }
            // Back to the top: the reply goes out with whatever the client pipelined.
            continue;
        }
        if blocked {
            match wait_unblocked(&shared, &client_rc, id, &mut stream, &mut inbuf, &kill).await {
                Some(reply) => {
                    // The waking command ran on another connection's turn.
                    client_rc.borrow_mut().durable_need = crate::persist::dirty::ALL;
                    if !durable_gate(&shared, &client_rc, &mut stream).await {
                        break;
                    }
                    shared.borrow_mut().stats.total_net_output_bytes += reply.len() as u64;
                    if let Err(e) = stream.write_all(&reply).await {
                        tracing::debug!(error = %e, "write failed");
                        break;
                    }
                    // Run whatever the client pipelined behind its blocking command.
                    continue;
                }
                None => break,
            }
        }
        match parser.pending_bulk() {
            Some(need) => inbuf.reserve(need.saturating_sub(inbuf.len())),
            None if inbuf.capacity() - inbuf.len() < READ_CHUNK / 4 => inbuf.reserve(READ_CHUNK),
            None => {}
        }
        let read = tokio::select! {
            r = stream.read_buf(&mut inbuf) => r,
            _ = kill.notified() => break,
            _ = outbox.ready.notified() => {
                let limit = shared.borrow().config.obuf_limits.pubsub;
                if !write_pushed(&mut stream, &outbox, &Guard::new(&kill, &outbox, limit)).await {
                    break;
                }
                continue;
            }
        };
        match read {
            Ok(0) => break,
            Ok(n) => {
                shared.borrow_mut().stats.total_net_input_bytes += n as u64;
                // Per read, as Redis stamps `lastinteraction`: CLIENT LIST's idle and the
                // `timeout` close count from the last data a client sent.
                client_rc.borrow_mut().last_interaction = std::time::Instant::now();
            }
            Err(e) => {
                tracing::debug!(error = %e, "read failed");
                break;
            }
        }
    }
    let _ = stream.shutdown().await;
    let mut srv = shared.borrow_mut();
    srv.pubsub.remove_client(id);
    srv.blocking.remove_client(id);
    srv.watches.remove_client(id);
    srv.clients.remove(id);
}

/// Under `appendfsync always`, holds this connection's replies until every write applied
/// so far is on disk (other connections are served meanwhile). A failed sync means a reply
/// could claim what a crash would take back: the client gets an error instead and the
/// process exits for its supervisor to restart it. False when the connection must close.
async fn durable_gate<S: AsyncWrite + Unpin>(
    shared: &Rc<RefCell<Server>>,
    client: &RefCell<Client>,
    stream: &mut S,
) -> bool {
    let need = std::mem::take(&mut client.borrow_mut().durable_need);
    let gate = shared.borrow_mut().persist.reply_gate(need);
    let Some((need, mut wait)) = gate else {
        return true;
    };
    match wait.wait(need).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "AOF failed under appendfsync always; exiting");
            let text = format!("-ERR AOF write failed, command not durable: {e}\r\n");
            let _ = stream.write_all(text.as_bytes()).await;
            let _ = stream.flush().await;
            std::process::exit(crate::aof::EXIT_AOF_FAILED);
        }
    }
}

/// Most bytes an unauthenticated client may have buffered: with a password set, nobody
/// who has not proven they know it may make the shard hold much (the per-request limits
/// already keep one request to 10 arguments of 16 KiB).
const UNAUTHENTICATED_QUERY_LIMIT: usize = 1024 * 1024;

fn over_query_limit(srv: &Server, id: u64, len: usize, authenticated: bool) -> bool {
    let over = len as u64 > srv.config.client_query_buffer_limit
        || (!authenticated && len > UNAUTHENTICATED_QUERY_LIMIT);
    if over {
        tracing::warn!(
            client.id = id,
            qbuf = len,
            authenticated,
            "closing client that reached max query buffer length"
        );
    }
    over
}

/// The output-buffer limit class of a client: subscribers are `pubsub`, everyone else
/// `normal`, as in Redis.
fn obuf_class(srv: &Server, id: u64) -> crate::config::ObufLimit {
    if srv.pubsub.is_subscribed(id) {
        srv.config.obuf_limits.pubsub
    } else {
        srv.config.obuf_limits.normal
    }
}

/// What may cut a write short: CLIENT KILL, the subscriber's queue passing its limit, and
/// the output-buffer limit of the client's class.
struct Guard<'a> {
    kill: &'a Notify,
    outbox: &'a crate::pubsub::outbox::Outbox,
    limit: crate::config::ObufLimit,
}

impl<'a> Guard<'a> {
    fn new(
        kill: &'a Notify,
        outbox: &'a crate::pubsub::outbox::Outbox,
        limit: crate::config::ObufLimit,
    ) -> Self {
        Guard {
            kill,
            outbox,
            limit,
        }
    }
}

/// Writes all of `buf` unless the connection must close first. A client that does not
/// read would otherwise park this task in a write forever, holding `buf` and deaf to
/// CLIENT KILL and to the output-buffer limits; here the write races them, and pending
/// output that stays above the soft limit for `soft_seconds` closes the connection.
/// False when the connection must close.
async fn write_guarded<S: AsyncWrite + Unpin>(stream: &mut S, buf: &[u8], g: &Guard<'_>) -> bool {
    let mut pos = 0;
    let mut soft_since: Option<tokio::time::Instant> = None;
    while pos < buf.len() {
        g.outbox.set_in_flight(buf.len() - pos);
        let pending = g.outbox.pending();
        if g.limit.over_hard(pending) {
            tracing::warn!(
                obuf = pending,
                "closing client over its output buffer hard limit"
            );
            return false;
        }
        soft_since = if g.limit.over_soft(pending) {
            Some(soft_since.unwrap_or_else(tokio::time::Instant::now))
        } else {
            None
        };
        let deadline = soft_since.map(|t| t + Duration::from_secs(g.limit.soft_seconds));
        let soft_expired = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = stream.write(&buf[pos..]) => match r {
                Ok(0) => return false,
                Ok(n) => pos += n,
                Err(e) => {
                    tracing::debug!(error = %e, "write failed");
                    return false;
                }
            },
            _ = g.kill.notified() => return false,
            _ = g.outbox.ready.notified() => {
                if g.outbox.overflowed() {
                    tracing::warn!("closing subscriber over the pubsub output buffer limit");
                    return false;
                }
            }
            _ = soft_expired => {
                tracing::warn!(obuf = pending, "closing client over its output buffer soft limit for too long");
                return false;
            }
        }
    }
    g.outbox.set_in_flight(0);
    true
}

/// Writes the pub/sub messages queued for this connection. False when the connection is
/// gone, or must close because the subscriber fell too far behind.
async fn write_pushed<S: AsyncWrite + Unpin>(
    stream: &mut S,
    outbox: &crate::pubsub::outbox::Outbox,
    guard: &Guard<'_>,
) -> bool {
    if outbox.overflowed() {
        tracing::warn!("closing subscriber over the pubsub output buffer limit");
        return false;
    }
    let pending = outbox.take();
    if pending.is_empty() {
        return true;
    }
    if !write_guarded(stream, &pending, guard).await {
        return false;
    }
    if !outbox.is_empty() {
        // More arrived meanwhile, and the write may have taken their wake-up.
        outbox.ready.notify_one();
    }
    true
}

/// Writes and clears the pending replies. False when the connection is gone or must close.
async fn flush<S: AsyncWrite + Unpin>(stream: &mut S, out: &mut Reply, guard: &Guard<'_>) -> bool {
    if out.buf.is_empty() {
        return true;
    }
    if !write_guarded(stream, &out.buf, guard).await {
        return false;
    }
    out.buf.clear();
    // A reply far bigger than usual (KEYS, LRANGE of a huge list) should not pin its
    // buffer for the connection's lifetime.
    if out.buf.capacity() > 1024 * 1024 {
        out.buf = BytesMut::new();
    }
    true
}

/// Parks a blocked client until it is served, times out or is unblocked, and returns
/// the reply to send; None when the client went away or was killed meanwhile. Input
/// that arrives in the meantime is buffered (not run), as Redis does, which is also how
/// a disconnect is noticed.
async fn wait_unblocked<S>(
    shared: &Rc<RefCell<Server>>,
    client_rc: &Rc<RefCell<Client>>,
    id: u64,
    stream: &mut S,
    inbuf: &mut BytesMut,
    kill: &Notify,
) -> Option<BytesMut>
where
    S: AsyncRead + Unpin,
{
    loop {
        let (notify, deadline_ms) = {
            let mut srv = shared.borrow_mut();
            if client_rc.borrow().killed {
                return None;
            }
            if let Some(done) = srv.blocking.take_outcome(id) {
                return Some(done.reply);
            }
            srv.blocking.wait_info(id)?
        };
        let sleep = async {
            if deadline_ms == 0 {
                std::future::pending::<()>().await;
            }
            let left = deadline_ms.saturating_sub(now_ms()).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(left)).await;
        };
        if inbuf.capacity() - inbuf.len() < READ_CHUNK / 4 {
            inbuf.reserve(READ_CHUNK);
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = sleep => {
                shared.borrow_mut().blocking.time_out(id);
            }
            _ = kill.notified() => return None,
            r = stream.read_buf(inbuf) => match r {
                Ok(0) | Err(_) => return None,
                Ok(n) => {
                    let mut srv = shared.borrow_mut();
                    srv.stats.total_net_input_bytes += n as u64;
                    let authenticated = client_rc.borrow().authenticated;
                    if over_query_limit(&srv, id, inbuf.len(), authenticated) {
                        return None;
                    }
                }
            },
        }
    }
}

// Beside this file rather than in a `conn/` folder, so the connection loop keeps its path.
#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
