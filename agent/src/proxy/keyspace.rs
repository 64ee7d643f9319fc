//! Keyspace notifications through the proxy. Each shard publishes the events of its own
//! keys (`notify-keyspace-events`, which CONFIG SET gives every shard) on its own pub/sub;
//! the proxy's clients subscribe at the proxy's broker. One connection per shard
//! pattern-subscribes to the shard's `__keyspace@…__` and `__keyevent@…__` channels and
//! publishes what arrives to the broker, so a subscriber sees the events of every shard,
//! as on one Redis. With notifications off (the default) the shards send nothing.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use shoal_proto::reply_value::{self, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::upstream::{connect, push_command};
use super::{pubsub, Database, Shared};

/// The shard channels relayed.
const PATTERNS: [&[u8]; 2] = [b"__keyspace@*__:*", b"__keyevent@*__:*"];

/// How long to wait before reconnecting to a shard that is down or restarting: short,
/// as the events published meanwhile are lost (a subscriber to one Redis would miss
/// none).
const RETRY: Duration = Duration::from_millis(20);

/// Relays shard `shard`'s notifications until the proxy stops.
pub async fn relay(db: Arc<Database>, shard: usize, shared: Arc<Shared>) {
    while !shared.stopping.load(Ordering::Relaxed) {
        if let Err(e) = relay_once(&db, shard).await {
            tracing::debug!(database = %db.name, shard, error = %e, "keyspace relay reconnects");
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn relay_once(db: &Database, shard: usize) -> std::io::Result<()> {
    let mut s = connect(db, shard, false).await?;
    let mut req = BytesMut::new();
    let mut cmd: Vec<&[u8]> = vec![b"PSUBSCRIBE"];
    cmd.extend(PATTERNS);
    push_command(&mut req, &cmd);
    s.write_all(&req).await?;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        while let Some(n) = relay_frame(db, &buf)? {
            let _ = buf.split_to(n);
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(16 * 1024);
        }
        if s.read_buf(&mut buf).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
    }
}

/// Publishes the first frame of `buf` if it is a `pmessage`; returns its length, or
/// `None` while it is incomplete.
fn relay_frame(db: &Database, buf: &[u8]) -> std::io::Result<Option<usize>> {
    let Some((v, n)) = reply_value::decode(buf).map_err(std::io::Error::other)? else {
        return Ok(None);
    };
    if let Some((channel, message)) = pmessage(&v) {
        pubsub::publish(db, false, channel, message);
    }
    Ok(Some(n))
}

/// The channel and payload of a `pmessage` push; `None` for anything else (the
/// subscription confirmations).
fn pmessage<'a>(v: &'a Value<'a>) -> Option<(&'a [u8], &'a [u8])> {
    let [kind, _pattern, channel, message] = v.items()? else {
        return None;
    };
    if kind.as_bytes()? != b"pmessage" {
        return None;
    }
    Some((channel.as_bytes()?, message.as_bytes()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pmessages_are_relayed() {
        let msg = b"*4\r\n$8\r\npmessage\r\n$16\r\n__keyspace@*__:*\r\n$18\r\n__keyspace@0__:foo\r\n$3\r\nset\r\n";
        let (v, n) = reply_value::decode(msg).unwrap().unwrap();
        assert_eq!(n, msg.len());
        assert_eq!(
            pmessage(&v),
            Some((&b"__keyspace@0__:foo"[..], &b"set"[..]))
        );
        let confirm = b"*3\r\n$10\r\npsubscribe\r\n$16\r\n__keyspace@*__:*\r\n:1\r\n";
        let (v, _) = reply_value::decode(confirm).unwrap().unwrap();
        assert_eq!(pmessage(&v), None);
        // Incomplete: wait for more.
        assert!(reply_value::decode(&msg[..10]).unwrap().is_none());
    }
}
