//! A connection's queue of out-of-band frames (pub/sub messages), with Redis's pubsub
//! output-buffer limit: a subscriber that stops reading is disconnected instead of making
//! the server buffer without bound.

use std::cell::{Cell, RefCell};

use bytes::{Bytes, BytesMut};
use shoal_proto::Protocol;
use tokio::sync::Notify;

use super::Sink;

/// Redis's default hard limit for pubsub clients (`client-output-buffer-limit pubsub 32mb`).
pub const PUBSUB_HARD_LIMIT: usize = 32 * 1024 * 1024;

pub struct Outbox {
    queue: RefCell<BytesMut>,
    proto: Cell<Protocol>,
    limit: usize,
    overflowed: Cell<bool>,
    /// Wakes the connection task so it writes the queued frames.
    pub ready: Notify,
}

impl Outbox {
    pub fn new(proto: Protocol, limit: usize) -> Outbox {
        Outbox {
            queue: RefCell::new(BytesMut::new()),
            proto: Cell::new(proto),
            limit,
            overflowed: Cell::new(false),
            ready: Notify::new(),
        }
    }

    pub fn set_protocol(&self, proto: Protocol) {
        self.proto.set(proto);
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
        if q.len() + frame.len() > self.limit {
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
}
