//! A connection to one shard owned by one client, for state that lives in the shard's
//! connection: WATCH (until EXEC, DISCARD or UNWATCH), blocking commands (until they
//! are served or time out) and scripts. Requests go one batch at a time and the client
//! waits for the answers, so ordering is trivially kept.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use shoal_proto::reply_scan::reply_len;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::upstream::{connect, tryagain};
use super::{Database, Settings};

pub struct Dedicated {
    pub shard: usize,
    pub resp3: bool,
    /// The shard's CLIENT ID of this connection, for CLIENT UNBLOCK; `None` if the shard
    /// did not say.
    pub shard_client_id: Option<i64>,
    stream: UnixStream,
    rbuf: BytesMut,
}

impl Dedicated {
    /// Connects, retrying while the shard is down, up to the restart deadline; the error
    /// is the `-TRYAGAIN` reply.
    pub async fn open(
        db: &Arc<Database>,
        shard: usize,
        resp3: bool,
        settings: Settings,
    ) -> Result<Dedicated, Bytes> {
        let until = Instant::now() + settings.deadline;
        loop {
            match connect(db, shard, resp3).await {
                Ok(stream) => {
                    let mut d = Dedicated {
                        shard,
                        resp3,
                        shard_client_id: None,
                        stream,
                        rbuf: BytesMut::with_capacity(4096),
                    };
                    d.shard_client_id = d.client_id().await;
                    return Ok(d);
                }
                Err(e) if Instant::now() >= until => {
                    tracing::debug!(database = %db.name, shard, error = %e, "dedicated connection failed");
                    return Err(tryagain(db, shard));
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }

    /// Asks the shard for this connection's id. A failure only leaves CLIENT UNBLOCK
    /// without a target; the next request reports a broken connection.
    async fn client_id(&mut self) -> Option<i64> {
        self.send(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
            .await
            .ok()?;
        let r = self.recv().await.ok()?;
        let digits = r.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
        shoal_proto::number::parse_i64(digits)
    }

    pub async fn send(&mut self, req: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(req).await
    }

    /// Reads the next reply frame. Cancel-safe: bytes read stay in the buffer.
    pub async fn recv(&mut self) -> std::io::Result<Bytes> {
        loop {
            match reply_len(&self.rbuf) {
                Ok(Some(n)) => {
                    let f = self.rbuf.split_to(n).freeze();
                    if f.first() == Some(&b'>') {
                        continue;
                    }
                    return Ok(f);
                }
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::other(e)),
            }
            if self.rbuf.capacity() - self.rbuf.len() < 1024 {
                self.rbuf.reserve(16 * 1024);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
        }
    }
}
