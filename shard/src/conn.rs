//! One client connection: read, parse every complete request in the buffer, run them
//! back to back, then send all their replies in one write. A pipelined batch therefore
//! costs one read and one write system call, however many commands it holds.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::BytesMut;
use shoal_proto::{Reply, RequestParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::client::Client;
use crate::cmd;
use crate::state::Server;

const READ_CHUNK: usize = 16 * 1024;

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
        let auth_needed = srv.config.requirepass.is_some();
        let client = Rc::new(RefCell::new(Client::new(
            id,
            addr,
            laddr,
            is_unix,
            !auth_needed,
        )));
        srv.clients.add(client.clone(), id);
        srv.stats.total_connections_received += 1;
        let mut parser = RequestParser::new();
        parser.max_bulk_len = srv.config.proto_max_bulk_len as usize;
        parser.auth_required = auth_needed;
        (client, parser)
    };
    let (id, kill) = {
        let c = client_rc.borrow();
        (c.id, c.kill_signal.clone())
    };
    let span = tracing::debug_span!("conn", client.id = id);
    let _enter = span.enter();
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Reply::default();
    loop {
        match parser.pending_bulk() {
            Some(need) => inbuf.reserve(need.saturating_sub(inbuf.len())),
            None if inbuf.capacity() - inbuf.len() < READ_CHUNK / 4 => inbuf.reserve(READ_CHUNK),
            None => {}
        }
        let read = tokio::select! {
            r = stream.read_buf(&mut inbuf) => r,
            _ = kill.notified() => break,
        };
        match read {
            Ok(0) => break,
            Ok(n) => shared.borrow_mut().stats.total_net_input_bytes += n as u64,
            Err(e) => {
                tracing::debug!(error = %e, "read failed");
                break;
            }
        }
        let close = {
            let mut srv = shared.borrow_mut();
            let mut client = client_rc.borrow_mut();
            if client.killed {
                break;
            }
            client.last_interaction = std::time::Instant::now();
            loop {
                parser.auth_required = !client.authenticated;
                parser.max_bulk_len = srv.config.proto_max_bulk_len as usize;
                // CLIENT LIST's qbuf counts the running command's bytes, as in Redis.
                client.qbuf = inbuf.len();
                match parser.next(&mut inbuf) {
                    Ok(Some(args)) => {
                        cmd::execute(&mut srv, &mut client, &mut out, &args);
                        if client.close_after_reply || client.killed {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        out.error(&e.0);
                        client.close_after_reply = true;
                        tracing::debug!(error = %e, "protocol error");
                        break;
                    }
                }
            }
            client.qbuf = inbuf.len();
            let over_limit = inbuf.len() as u64 > srv.config.client_query_buffer_limit;
            if over_limit {
                tracing::warn!(
                    client.id = id,
                    qbuf = inbuf.len(),
                    "closing client that reached max query buffer length"
                );
            }
            srv.stats.total_net_output_bytes += out.buf.len() as u64;
            client.close_after_reply || client.killed || over_limit
        };
        if !out.buf.is_empty() {
            if let Err(e) = stream.write_all(&out.buf).await {
                tracing::debug!(error = %e, "write failed");
                break;
            }
            out.buf.clear();
            // A reply far bigger than usual (KEYS, LRANGE of a huge list) should not pin
            // its buffer for the connection's lifetime.
            if out.buf.capacity() > 1024 * 1024 {
                out.buf = BytesMut::new();
            }
        }
        if close {
            break;
        }
    }
    let _ = stream.shutdown().await;
    shared.borrow_mut().clients.remove(id);
}
