//! Accepting clients: one listener per database on the agent's main runtime, dealing the
//! accepted sockets to the proxy threads in turn. A thread then owns the socket for its
//! whole life, so no client state ever crosses threads.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};

use super::thread::{NewClient, ThreadSender};
use super::{Database, Shared};

pub fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let sa: SocketAddr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let sock = if sa.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // A restarted agent must not wait out TIME_WAIT to get its port back.
    sock.set_reuseaddr(true)?;
    sock.bind(sa)?;
    sock.listen(1024)
}

pub async fn accept_loop(
    listener: TcpListener,
    db: Arc<Database>,
    shared: Arc<Shared>,
    threads: Arc<Vec<ThreadSender>>,
) {
    let mut next = 0usize;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on the error.
                tracing::warn!(database = %db.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if shared.stopping.load(Ordering::Relaxed) {
            db.metrics.rejected("stopping");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        let std_stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "socket hand-off failed");
                continue;
            }
        };
        let Some(t) = threads.get(next % threads.len().max(1)) else {
            return;
        };
        next = next.wrapping_add(1);
        t.send(NewClient {
            stream: std_stream,
            peer,
            local,
            db: db.clone(),
        });
    }
}
