//! A client's output buffer as `client-output-buffer-limit` sees it: the replies the proxy
//! holds for the client (in its reply slots, including the parts of a split or fan-out
//! request not merged yet) plus the bytes of the last write the socket has not taken.
//!
//! Upstreams read every reply from the shards whether or not the client reads its own,
//! so without this count a client that pipelines big requests and never reads would make
//! the proxy hold all their replies. Each reply is counted as it arrives (Redis checks on
//! every addition to the buffer too); once over the limit the client is marked closed,
//! what it held is dropped and later replies for it are dropped on arrival.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use super::limits::{Limits, OutputState};

/// Redis keeps the first 16 KiB of a client's replies in a fixed buffer its limit does
/// not count (`PROTO_REPLY_CHUNK_BYTES`); only the rest is counted here too, so a small
/// limit does not close clients that a Redis server would keep.
const UNCOUNTED: u64 = 16 * 1024;

#[derive(Default)]
pub struct Obuf {
    /// `None`: never limited (tests, internal use).
    limits: Option<Arc<Limits>>,
    /// Subscribed clients are held to the pubsub class, as in Redis.
    pubsub: Cell<bool>,
    /// Reply bytes held in reply slots.
    held: Cell<u64>,
    /// Bytes of the write in progress the socket has not taken yet.
    unsent: Cell<u64>,
    state: Cell<OutputState>,
    over: Cell<bool>,
    /// Woken (all waiters) when the limit is crossed.
    closed: Notify,
}

impl Obuf {
    pub fn new(limits: Arc<Limits>) -> Rc<Obuf> {
        Rc::new(Obuf {
            limits: Some(limits),
            ..Obuf::default()
        })
    }

    pub fn set_pubsub(&self, on: bool) {
        self.pubsub.set(on);
    }

    /// The client went over its limit: it is to be closed with nothing more written.
    pub fn over(&self) -> bool {
        self.over.get()
    }

    /// A reply of `n` bytes is now held. True when that crossed the limit.
    pub fn add(&self, n: usize) -> bool {
        self.held.set(self.held.get().saturating_add(n as u64));
        self.check()
    }

    /// `n` held bytes left the slots (merged, or moved to the write buffer).
    pub fn remove(&self, n: usize) {
        self.held.set(self.held.get().saturating_sub(n as u64));
    }

    /// The socket has not taken `n` bytes of the current write. True when over the limit
    /// (the soft limit counts time, so it is asked again while the client does not read).
    pub fn set_unsent(&self, n: usize) -> bool {
        self.unsent.set(n as u64);
        self.check()
    }

    /// Resolves once the client is over its limit.
    pub async fn closed(&self) {
        // Single-threaded: nothing can cross the limit between the check and the wait.
        while !self.over() {
            self.closed.notified().await;
        }
    }

    fn check(&self) -> bool {
        if self.over() {
            return true;
        }
        let Some(limits) = &self.limits else {
            return false;
        };
        let pubsub = self.pubsub.get();
        if !limits.output_limited(pubsub) {
            return false;
        }
        let used = (self.held.get() + self.unsent.get()).saturating_sub(UNCOUNTED);
        let mut st = self.state.get();
        let over = limits.output_exceeded(&mut st, used, pubsub, Instant::now());
        self.state.set(st);
        if over {
            self.over.set(true);
            self.closed.notify_waiters();
        }
        over
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_config::{BufferLimit, ClientLimits};

    fn obuf(normal: BufferLimit) -> Rc<Obuf> {
        Obuf::new(Limits::new(&ClientLimits {
            output_normal: normal,
            ..ClientLimits::default()
        }))
    }

    #[test]
    fn hard_limit_counts_held_and_unsent_past_the_fixed_buffer() {
        let o = obuf(BufferLimit {
            hard: 100_000,
            soft: 0,
            soft_seconds: 0,
        });
        assert!(!o.add(60_000));
        assert!(!o.add(40_000), "16 KiB are not counted, as in Redis");
        o.remove(100_000);
        assert!(!o.set_unsent(100_000));
        assert!(o.add(20_000));
        assert!(o.over());
        // Once over, always over.
        o.remove(1_000_000);
        assert!(o.set_unsent(0));
    }

    #[test]
    fn default_normal_class_is_unlimited_and_pubsub_class_applies_when_subscribed() {
        let o = obuf(BufferLimit::NORMAL);
        assert!(!o.add(1 << 40));
        o.set_pubsub(true);
        // The pubsub default is 32 MB hard.
        assert!(o.add(1));
    }

    #[test]
    fn soft_limit_needs_its_seconds() {
        let o = obuf(BufferLimit {
            hard: 0,
            soft: 1,
            soft_seconds: 0,
        });
        assert!(
            !o.add(UNCOUNTED as usize + 10),
            "first time over soft: noted"
        );
        // Below the soft limit again: the clock restarts.
        o.remove(UNCOUNTED as usize + 10);
        assert!(!o.set_unsent(0));
        assert!(!o.set_unsent(UNCOUNTED as usize + 10));
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(o.set_unsent(UNCOUNTED as usize + 10));
    }

    #[test]
    fn unlimited_without_limits() {
        let o = Obuf::default();
        assert!(!o.add(usize::MAX));
        assert!(!o.over());
    }
}
