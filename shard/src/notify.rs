//! Keyspace notifications (`notify-keyspace-events`): a change to a key is published on
//! `__keyspace@0__:<key>` (message: the event) and `__keyevent@0__:<event>` (message: the
//! key), through the shard's own pub/sub broker.
//!
//! Commands call [`notify`] at each point where Redis 7.0 does, with its class and event
//! name. The call sits on hot paths (every SET), so the disabled case is one test of a
//! config word; the publishing itself is out of line.
//!
//! Two events are not raised by commands directly, because the keyspace produces them:
//! - `new` (class `n`): [`crate::db::Db`] records keys it creates while `track_new` is on,
//!   and the next [`notify`] (or the end of the command) publishes them first, so `new`
//!   comes before the command's own event, as in Redis.
//! - `expired` (class `x`): lazy and active expiry record the keys in `Db::expired`;
//!   [`expired`] publishes them when the server drains that list.

use bytes::{BufMut, Bytes, BytesMut};

pub use crate::config::parse::{
    NOTIFY_EVICTED as EVICTED, NOTIFY_EXPIRED as EXPIRED, NOTIFY_GENERIC as GENERIC,
    NOTIFY_HASH as HASH, NOTIFY_KEYEVENT as KEYEVENT, NOTIFY_KEYSPACE as KEYSPACE,
    NOTIFY_LIST as LIST, NOTIFY_NEW as NEW, NOTIFY_SET as SET, NOTIFY_STREAM as STREAM,
    NOTIFY_STRING as STRING, NOTIFY_ZSET as ZSET,
};
use crate::db::Sds;
use crate::state::Server;

/// Shoal serves database 0 only.
const KEYSPACE_PREFIX: &[u8] = b"__keyspace@0__:";
const KEYEVENT_PREFIX: &[u8] = b"__keyevent@0__:";

/// Publishes `event` on `key` when its class is enabled (Redis's `notifyKeyspaceEvent`).
#[inline]
pub fn notify(srv: &mut Server, class: u32, event: &str, key: &[u8]) {
    if srv.config.notify_keyspace_events & class == 0 {
        return;
    }
    publish_new_keys(srv);
    publish(srv, event, key);
}

/// Called before each command: tells the keyspace whether to record the keys it
/// creates, so that `new` events cost nothing while the class is off.
#[inline]
pub fn arm(srv: &mut Server) {
    srv.db.track_new = srv.config.notify_keyspace_events & NEW != 0;
}

/// Publishes the `new` events of keys created since the last call.
#[inline]
pub fn publish_new_keys(srv: &mut Server) {
    if srv.db.new_keys.is_empty() {
        return;
    }
    let keys = std::mem::take(&mut srv.db.new_keys);
    for key in &keys {
        if srv.config.notify_keyspace_events & NEW != 0 {
            publish(srv, "new", key.as_slice());
        }
    }
}

/// `expired` events for keys that lazy or active expiry deleted.
pub fn expired(srv: &mut Server, keys: &[Sds]) {
    if srv.config.notify_keyspace_events & EXPIRED == 0 {
        return;
    }
    for key in keys {
        publish(srv, "expired", key.as_slice());
    }
}

#[cold]
fn publish(srv: &mut Server, event: &str, key: &[u8]) {
    let flags = srv.config.notify_keyspace_events;
    if flags & (KEYSPACE | KEYEVENT) == 0 {
        return;
    }
    let event_b = Bytes::copy_from_slice(event.as_bytes());
    let key_b = Bytes::copy_from_slice(key);
    if flags & KEYSPACE != 0 {
        let chan = channel(KEYSPACE_PREFIX, key);
        srv.pubsub.publish(&chan, &event_b);
    }
    if flags & KEYEVENT != 0 {
        let chan = channel(KEYEVENT_PREFIX, event.as_bytes());
        srv.pubsub.publish(&chan, &key_b);
    }
}

fn channel(prefix: &[u8], name: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(prefix.len() + name.len());
    b.put_slice(prefix);
    b.put_slice(name);
    b.freeze()
}

#[cfg(test)]
#[path = "notify_tests.rs"]
mod tests;
