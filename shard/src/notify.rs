//! Keyspace notifications (`notify-keyspace-events`): a change to a key is published on
//! `__keyspace@0__:<key>` (message: the event) and `__keyevent@0__:<event>` (message: the
//! key), through the shard's own pub/sub broker.
//!
//! Commands call [`notify`] at each point where Redis 7.0 does, with its class and event
//! name. The call sits on hot paths (every SET), so the disabled case is one test of a
//! config word; the publishing itself is out of line.
//!
//! Three events are not raised by commands but by the keyspace, as Redis raises them from
//! its lookup, add and expiry functions: `new` (class `n`, a key was created), `keymiss`
//! (class `m`, a read found nothing) and `expired` (class `x`, lazy or active expiry).
//! [`crate::db::Db`] records them in order while their class is on ([`arm`]), and
//! [`publish_pending`] publishes them before the next command event and at the end of
//! each command, so they keep their place among a command's events.
//!
//! Streams (class `t`) use the same call; Redis's events are `xadd`, `xtrim`, `xdel`,
//! `xsetid`, `xgroup-create`, `xgroup-createconsumer` (also when XREADGROUP, XCLAIM or
//! XAUTOCLAIM create a consumer), `xgroup-delconsumer`, `xgroup-destroy` and
//! `xgroup-setid`. An emptied stream stays, so no stream command raises `del`.

use bytes::{BufMut, Bytes, BytesMut};

pub use crate::config::parse::{
    NOTIFY_EVICTED as EVICTED, NOTIFY_EXPIRED as EXPIRED, NOTIFY_GENERIC as GENERIC,
    NOTIFY_HASH as HASH, NOTIFY_KEYEVENT as KEYEVENT, NOTIFY_KEYSPACE as KEYSPACE,
    NOTIFY_KEY_MISS as KEY_MISS, NOTIFY_LIST as LIST, NOTIFY_NEW as NEW, NOTIFY_SET as SET,
    NOTIFY_STREAM as STREAM, NOTIFY_STRING as STRING, NOTIFY_ZSET as ZSET,
};
use crate::db::KeyEvent;
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
    publish_pending(srv);
    publish(srv, event, key);
}

/// Tells the keyspace which of its own events to record, from the current classes. Run
/// around each command and before active expiry, so CONFIG SET takes effect at once.
#[inline]
pub fn arm(srv: &mut Server) {
    let flags = srv.config.notify_keyspace_events;
    let mut record = 0;
    for (class, event) in [
        (NEW, KeyEvent::New),
        (KEY_MISS, KeyEvent::Miss),
        (EXPIRED, KeyEvent::Expired),
    ] {
        if flags & class != 0 {
            record |= event as u8;
        }
    }
    srv.db.record = record;
}

/// Publishes the events the keyspace recorded since the last call.
#[inline]
pub fn publish_pending(srv: &mut Server) {
    if srv.db.events.is_empty() {
        return;
    }
    let events = std::mem::take(&mut srv.db.events);
    for (event, key) in &events {
        let (class, name) = match event {
            KeyEvent::New => (NEW, "new"),
            KeyEvent::Miss => (KEY_MISS, "keymiss"),
            KeyEvent::Expired => (EXPIRED, "expired"),
        };
        if srv.config.notify_keyspace_events & class != 0 {
            publish(srv, name, key);
        }
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
