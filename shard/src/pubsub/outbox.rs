//! A connection's queue of out-of-band frames (pub/sub messages), with Redis's pubsub
//! output-buffer limit: a subscriber that stops reading is disconnected instead of making
//! the server buffer without bound.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use shoal_proto::Protocol;
use tokio::sync::Notify;

use super::Sink;
use crate::config::ObufLimit;

/// Redis's default hard limit for pubsub clients (`client-output-buffer-limit pubsub 32mb`).
pub const PUBSUB_HARD_LIMIT: usize = 32 * 1024 * 1024;

pub struct Outbox {
    queue: RefCell<BytesMut>,
    proto: Cell<Protocol>,
    /// The `pubsub` class of `client-output-buffer-limit`, refreshed by the connection.
    limit: Cell<ObufLimit>,
    /// Bytes the connection has taken but not yet written: they count towards the limit,
    /// since a subscriber that stops reading leaves them stuck in memory too.
    in_flight: Cell<usize>,
    /// Since when the pending bytes have been above the soft limit.
    soft_since: Cell<Option<Instant>>,
    overflowed: Cell<bool>,
    /// Wakes the connection task so it writes the queued frames.
    pub ready: Notify,
}

impl Outbox {
    /// An outbox whose only limit is `hard` bytes.
    pub fn new(proto: Protocol, hard: usize) -> Outbox {
        Outbox {
            queue: RefCell::new(BytesMut::new()),
            proto: Cell::new(proto),
            limit: Cell::new(ObufLimit {
                hard: hard as u64,
                soft: 0,
                soft_seconds: 0,
            }),
            in_flight: Cell::new(0),
            soft_since: Cell::new(None),
            overflowed: Cell::new(false),
            ready: Notify::new(),
        }
    }

    pub fn set_protocol(&self, proto: Protocol) {
        self.proto.set(proto);
    }

    pub fn set_limit(&self, limit: ObufLimit) {
        self.limit.set(limit);
    }

    /// Records how many taken bytes are still unwritten.
    pub fn set_in_flight(&self, n: usize) {
        self.in_flight.set(n);
    }

    /// Bytes queued or taken but not yet written.
    pub fn pending(&self) -> usize {
        self.queue.borrow().len() + self.in_flight.get()
    }

    /// Applies the limit to `pending` bytes, as Redis does each time output is added:
    /// over the hard limit at once, or over the soft limit for `soft_seconds` in a row.
    fn breaks_limit(&self, pending: usize) -> bool {
        let limit = self.limit.get();
        if limit.over_hard(pending) {
            return true;
        }
        if !limit.over_soft(pending) {
            self.soft_since.set(None);
            return false;
        }
        let since = *self.soft_since.get().get_or_insert_with(Instant::now);
        self.soft_since.set(Some(since));
        since.elapsed().as_secs() >= limit.soft_seconds
    }

    /// Takes everything queued so far.
    pub fn take(&self) -> BytesMut {
        std::mem::take(&mut *self.queue.borrow_mut())
    }

    pub fn len(&self) -> usize {
        self.queue.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.borrow().is_empty()
    }

    /// True once the limit was passed; the connection must then close.
    pub fn overflowed(&self) -> bool {
        self.overflowed.get()
    }
}

impl Sink for std::rc::Rc<Outbox> {
    fn protocol(&self) -> Protocol {
        self.proto.get()
    }

    fn deliver(&self, frame: &Bytes) -> bool {
        if self.overflowed.get() {
            return false;
        }
        let mut q = self.queue.borrow_mut();
        if self.breaks_limit(q.len() + self.in_flight.get() + frame.len()) {
            self.overflowed.set(true);
            q.clear();
            drop(q);
            self.ready.notify_one();
            return false;
        }
        q.extend_from_slice(frame);
        drop(q);
        self.ready.notify_one();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn limit_disconnects_slow_reader() {
        let o = Rc::new(Outbox::new(Protocol::Resp2, 100));
        let frame = Bytes::from(vec![b'x'; 60]);
        assert!(o.deliver(&frame));
        assert!(!o.deliver(&frame));
        assert!(o.overflowed());
        assert!(o.is_empty());
    }

    #[test]
    fn unwritten_bytes_count_towards_the_limit() {
        let o = Rc::new(Outbox::new(Protocol::Resp2, 100));
        let frame = Bytes::from(vec![b'x'; 60]);
        assert!(o.deliver(&frame));
        let taken = o.take();
        o.set_in_flight(taken.len());
        assert!(
            !o.deliver(&frame),
            "60 stuck in the socket + 60 queued > 100"
        );
        assert!(o.overflowed());
    }

    #[test]
    fn soft_limit_needs_to_last() {
        let o = Rc::new(Outbox::new(Protocol::Resp2, 0));
        o.set_limit(ObufLimit {
            hard: 0,
            soft: 50,
            soft_seconds: 0,
        });
        assert!(o.deliver(&Bytes::from(vec![b'x'; 40])));
        assert!(
            !o.deliver(&Bytes::from(vec![b'x'; 40])),
            "over soft for 0 s"
        );
        let o = Rc::new(Outbox::new(Protocol::Resp2, 0));
        o.set_limit(ObufLimit {
            hard: 0,
            soft: 50,
            soft_seconds: 60,
        });
        for _ in 0..10 {
            assert!(o.deliver(&Bytes::from(vec![b'x'; 40])));
        }
        assert!(!o.overflowed());
    }
}
