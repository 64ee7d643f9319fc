//! Pub/sub through the proxy: one [`Broker`](shoal_shard::pubsub::Broker) per database,
//! shared by every proxy thread, with each subscribed client's [`PushBox`] as its sink.
//!
//! A publish on one thread appends the encoded message to each receiver's box and wakes
//! the receiver's task, which writes it between batches. Redis's pubsub output-buffer
//! limit applies: a subscriber that stops reading is disconnected.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use shoal_proto::{Protocol, Reply};
use shoal_shard::pubsub::outbox::PUBSUB_HARD_LIMIT;
use shoal_shard::pubsub::{Kind, Sink};
use tokio::sync::Notify;

use super::Database;

pub struct PushBox {
    queue: Mutex<BytesMut>,
    resp3: AtomicBool,
    overflowed: AtomicBool,
    pub ready: Notify,
}

/// A client's box as the broker holds it.
#[derive(Clone)]
pub struct PushSink(Arc<PushBox>);

impl std::ops::Deref for PushSink {
    type Target = PushBox;
    fn deref(&self) -> &PushBox {
        &self.0
    }
}

impl PushBox {
    pub fn new() -> PushSink {
        PushSink(Arc::new(PushBox {
            queue: Mutex::new(BytesMut::new()),
            resp3: AtomicBool::new(false),
            overflowed: AtomicBool::new(false),
            ready: Notify::new(),
        }))
    }

    pub fn set_protocol(&self, p: Protocol) {
        self.resp3.store(p == Protocol::Resp3, Ordering::Relaxed);
    }

    pub fn take(&self) -> BytesMut {
        match self.queue.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }
}

impl Sink for PushSink {
    fn protocol(&self) -> Protocol {
        if self.resp3.load(Ordering::Relaxed) {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        }
    }

    fn deliver(&self, frame: &Bytes) -> bool {
        if self.overflowed() {
            return false;
        }
        let mut q = match self.queue.lock() {
            Ok(q) => q,
            Err(p) => p.into_inner(),
        };
        if q.len() + frame.len() > PUBSUB_HARD_LIMIT {
            q.clear();
            drop(q);
            self.overflowed.store(true, Ordering::Relaxed);
            self.ready.notify_one();
            return false;
        }
        q.extend_from_slice(frame);
        drop(q);
        self.ready.notify_one();
        true
    }
}

fn kind_of(name: &str) -> Kind {
    match name.as_bytes().first() {
        Some(b'p') => Kind::Pattern,
        Some(b's') => Kind::Shard,
        _ => Kind::Channel,
    }
}

fn lock(db: &Database) -> std::sync::MutexGuard<'_, shoal_shard::pubsub::Broker<PushSink>> {
    match db.broker.lock() {
        Ok(b) => b,
        Err(p) => p.into_inner(),
    }
}

fn confirm(out: &mut Reply, word: &[u8], name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(word);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

/// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE channel [channel …]
pub fn subscribe(db: &Database, id: u64, sink: &PushSink, cmd: &str, names: &[&[u8]], out: &mut Reply) {
    let kind = kind_of(cmd);
    let mut broker = lock(db);
    for n in names {
        let name = Bytes::copy_from_slice(n);
        let count = broker.subscribe(id, || sink.clone(), kind, &name);
        confirm(out, kind.subscribe_word(), Some(n), count);
    }
}

/// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE [channel …]: none named means all.
pub fn unsubscribe(db: &Database, id: u64, cmd: &str, names: &[&[u8]], out: &mut Reply) {
    // `unsubscribe` → channel, `punsubscribe` → pattern, `sunsubscribe` → shard.
    let kind = kind_of(cmd);
    let mut broker = lock(db);
    let names: Vec<Bytes> = if names.is_empty() {
        broker.subscriptions(id, kind)
    } else {
        names.iter().map(|n| Bytes::copy_from_slice(n)).collect()
    };
    if names.is_empty() {
        let count = match kind {
            Kind::Shard => broker.counts(id).1,
            _ => broker.counts(id).0,
        };
        confirm(out, kind.unsubscribe_word(), None, count);
    }
    for n in &names {
        let count = broker.unsubscribe(id, kind, n);
        confirm(out, kind.unsubscribe_word(), Some(n), count);
    }
}

pub fn publish(db: &Database, shard_kind: bool, channel: &[u8], msg: &[u8]) -> usize {
    let ch = Bytes::copy_from_slice(channel);
    let m = Bytes::copy_from_slice(msg);
    let mut broker = lock(db);
    if shard_kind {
        broker.spublish(&ch, &m)
    } else {
        broker.publish(&ch, &m)
    }
}

pub fn is_subscribed(db: &Database, id: u64) -> bool {
    lock(db).is_subscribed(id)
}

pub fn remove_client(db: &Database, id: u64) {
    lock(db).remove_client(id);
}

/// PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB …; false for an unknown
/// subcommand (the caller answers the error).
pub fn pubsub_command(db: &Database, args: &[&[u8]], out: &mut Reply) -> bool {
    let Some(sub) = args.get(1) else {
        return false;
    };
    let sub = sub.to_ascii_lowercase();
    let broker = lock(db);
    match (sub.as_slice(), args.len()) {
        (b"channels" | b"shardchannels", 2 | 3) => {
            let kind = if sub.starts_with(b"shard") {
                Kind::Shard
            } else {
                Kind::Channel
            };
            let names = broker.channel_names(kind, args.get(2).copied());
            out.array(names.len());
            for n in names {
                out.bulk(&n);
            }
        }
        (b"numsub" | b"shardnumsub", _) => {
            let kind = if sub.starts_with(b"shard") {
                Kind::Shard
            } else {
                Kind::Channel
            };
            // A flat array even for RESP3 clients, as Redis 7.0 replies.
            out.array(2 * (args.len() - 2));
            for ch in &args[2..] {
                out.bulk(ch);
                out.int(broker.numsub(kind, ch) as i64);
            }
        }
        (b"numpat", 2) => out.int(broker.numpat() as i64),
        _ => return false,
    }
    true
}
