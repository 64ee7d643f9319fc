//! A client's reply slots: one per request of the batch being served, in request order.
//! Local answers fill theirs at once; upstreams fill the others as replies arrive, in any
//! order across shards. The client writes when every slot is full, so a pipelined batch
//! gets one write and its replies stay in order.

use std::cell::RefCell;
use std::collections::VecDeque;

use bytes::Bytes;
use tokio::sync::Notify;

#[derive(Default)]
pub struct Replies {
    inner: RefCell<Inner>,
    /// Signalled when the last empty slot is filled.
    pub done: Notify,
}

#[derive(Default)]
struct Inner {
    slots: VecDeque<Option<Bytes>>,
    /// Sequence number of `slots[0]`.
    base: u64,
    missing: usize,
    /// Slots whose replies are dropped (CLIENT REPLY OFF/SKIP), as sequence ranges.
    muted: Vec<std::ops::Range<u64>>,
}

impl Replies {
    /// Reserves the next slot; returns its sequence number for [`Replies::fill`].
    pub fn reserve(&self) -> u64 {
        let mut i = self.inner.borrow_mut();
        i.slots.push_back(None);
        i.missing += 1;
        i.base + i.slots.len() as u64 - 1
    }

    /// The sequence number the next slot will have.
    pub fn next_seq(&self) -> u64 {
        let i = self.inner.borrow();
        i.base + i.slots.len() as u64
    }

    /// Drops the replies of the slots from `seq` on, as they are now: a command's replies
    /// that the client asked not to get.
    pub fn mute_from(&self, seq: u64) {
        let mut i = self.inner.borrow_mut();
        let end = i.base + i.slots.len() as u64;
        if seq < end {
            i.muted.push(seq..end);
        }
    }

    /// A reply known now.
    pub fn push_ready(&self, reply: Bytes) {
        self.inner.borrow_mut().slots.push_back(Some(reply));
    }

    pub fn fill(&self, seq: u64, reply: Bytes) {
        let mut i = self.inner.borrow_mut();
        let Some(idx) = seq.checked_sub(i.base) else {
            return;
        };
        let Some(slot) = i.slots.get_mut(idx as usize) else {
            return;
        };
        if slot.is_none() {
            *slot = Some(reply);
            i.missing -= 1;
            if i.missing == 0 {
                drop(i);
                self.done.notify_one();
            }
        }
    }

    pub fn missing(&self) -> usize {
        self.inner.borrow().missing
    }

    /// Waits until every reserved slot is filled.
    pub async fn wait_all(&self) {
        while self.missing() > 0 {
            self.done.notified().await;
        }
    }

    /// Moves every reply (all slots must be full) into `out`, in order.
    pub fn drain_into(&self, out: &mut bytes::BytesMut) {
        let mut i = self.inner.borrow_mut();
        let n = i.slots.len() as u64;
        let base = i.base;
        let muted = std::mem::take(&mut i.muted);
        for (k, r) in i.slots.drain(..).enumerate() {
            let seq = base + k as u64;
            if let Some(r) = r.filter(|_| !muted.iter().any(|m| m.contains(&seq))) {
                out.extend_from_slice(&r);
            }
        }
        i.base += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_fills_come_out_in_order() {
        let r = Replies::default();
        let a = r.reserve();
        r.push_ready(Bytes::from_static(b"+L\r\n"));
        let b = r.reserve();
        r.fill(b, Bytes::from_static(b"+B\r\n"));
        assert_eq!(r.missing(), 1);
        r.fill(a, Bytes::from_static(b"+A\r\n"));
        assert_eq!(r.missing(), 0);
        let mut out = bytes::BytesMut::new();
        r.drain_into(&mut out);
        assert_eq!(&out[..], b"+A\r\n+L\r\n+B\r\n");
        // Sequence numbers keep counting across batches; a stale fill is ignored.
        let c = r.reserve();
        r.fill(a, Bytes::from_static(b"+X\r\n"));
        assert_eq!(r.missing(), 1);
        r.fill(c, Bytes::from_static(b"+C\r\n"));
        assert_eq!(r.missing(), 0);
    }

    #[test]
    fn muted_slots_are_dropped() {
        let r = Replies::default();
        r.push_ready(Bytes::from_static(b"+A\r\n"));
        let from = r.next_seq();
        let b = r.reserve();
        r.push_ready(Bytes::from_static(b"+C\r\n"));
        r.mute_from(from);
        r.push_ready(Bytes::from_static(b"+D\r\n"));
        r.fill(b, Bytes::from_static(b"+B\r\n"));
        let mut out = bytes::BytesMut::new();
        r.drain_into(&mut out);
        assert_eq!(&out[..], b"+A\r\n+D\r\n");
        // The muting ends with the batch.
        r.push_ready(Bytes::from_static(b"+E\r\n"));
        out.clear();
        r.drain_into(&mut out);
        assert_eq!(&out[..], b"+E\r\n");
    }
}
