//! A client's reply slots: one per request of the batch being served, in request order.
//! Local answers fill theirs at once; upstreams fill the others as replies arrive, in any
//! order across shards. The client writes when every slot is full, so a pipelined batch
//! gets one write and its replies stay in order.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::Bytes;
use tokio::sync::Notify;

use super::obuf::Obuf;

#[derive(Default)]
pub struct Replies {
    inner: RefCell<Inner>,
    /// Signalled when the last empty slot is filled.
    pub done: Notify,
    /// The client's output-buffer count, shared with the parts of its split requests.
    obuf: Rc<Obuf>,
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
    pub fn new(obuf: Rc<Obuf>) -> Replies {
        Replies {
            obuf,
            ..Replies::default()
        }
    }

    pub fn obuf(&self) -> &Rc<Obuf> {
        &self.obuf
    }

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
        let reply = self.count(reply);
        self.inner.borrow_mut().slots.push_back(Some(reply));
    }

    pub fn fill(&self, seq: u64, reply: Bytes) {
        let Some(idx) = self.open_slot(seq) else {
            return;
        };
        let reply = self.count(reply);
        let mut i = self.inner.borrow_mut();
        if let Some(slot) = i.slots.get_mut(idx) {
            *slot = Some(reply);
            i.missing -= 1;
            if i.missing == 0 {
                drop(i);
                self.done.notify_one();
            }
        }
    }

    /// The index of slot `seq` if it is still waiting for its reply.
    fn open_slot(&self, seq: u64) -> Option<usize> {
        let i = self.inner.borrow();
        let idx = usize::try_from(seq.checked_sub(i.base)?).ok()?;
        i.slots.get(idx)?.is_none().then_some(idx)
    }

    /// Counts a reply against the output-buffer limit. Past it, the client is closing:
    /// what it holds is freed now and the reply is replaced by nothing.
    fn count(&self, reply: Bytes) -> Bytes {
        if self.obuf.over() || self.obuf.add(reply.len()) {
            for s in self.inner.borrow_mut().slots.iter_mut().flatten() {
                *s = Bytes::new();
            }
            return Bytes::new();
        }
        reply
    }

    pub fn missing(&self) -> usize {
        self.inner.borrow().missing
    }

    /// Waits until every reserved slot is filled, or the client went over its
    /// output-buffer limit (it is then closed without its replies).
    pub async fn wait_all(&self) {
        while self.missing() > 0 && !self.obuf.over() {
            tokio::select! {
                _ = self.done.notified() => {}
                _ = self.obuf.closed() => {}
            }
        }
    }

    /// Moves every reply (all slots must be full) into `out`, in order. They no longer
    /// count as held; the caller counts what it has not written.
    pub fn drain_into(&self, out: &mut bytes::BytesMut) {
        let mut i = self.inner.borrow_mut();
        let n = i.slots.len() as u64;
        let before = out.len();
        let base = i.base;
        let muted = std::mem::take(&mut i.muted);
        // Muted replies leave the count too, though they are never written.
        let mut dropped = 0;
        for (k, r) in i.slots.drain(..).enumerate() {
            let seq = base + k as u64;
            match r {
                Some(r) if muted.iter().any(|m| m.contains(&seq)) => dropped += r.len(),
                Some(r) => out.extend_from_slice(&r),
                None => {}
            }
        }
        i.base += n;
        self.obuf.remove(out.len() - before + dropped);
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
    fn over_the_limit_frees_held_replies_and_wakes_the_waiter() {
        let limits = crate::proxy::limits::Limits::new(&shoal_config::ClientLimits {
            output_normal: shoal_config::BufferLimit {
                hard: 64 * 1024,
                soft: 0,
                soft_seconds: 0,
            },
            ..shoal_config::ClientLimits::default()
        });
        let obuf = Obuf::new(limits);
        let r = Rc::new(Replies::new(obuf.clone()));
        // A split request's parts share the client's count.
        let parts = Replies::new(obuf.clone());
        let a = r.reserve();
        let b = r.reserve();
        let p = parts.reserve();
        r.fill(a, Bytes::from(vec![b'x'; 40 * 1024]));
        parts.fill(p, Bytes::from(vec![b'y'; 30 * 1024]));
        assert!(!obuf.over());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let waiter = tokio::task::spawn_local({
                let r = r.clone();
                async move { r.wait_all().await }
            });
            tokio::task::yield_now().await;
            assert!(!waiter.is_finished(), "slot b is still empty");
            // The second part pushes the shared count past 64 KiB + the 16 KiB Redis
            // does not count.
            let p2 = parts.reserve();
            parts.fill(p2, Bytes::from(vec![b'z'; 20 * 1024]));
            tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
                .await
                .expect("woken")
                .unwrap();
        });
        assert!(obuf.over());
        assert_eq!(r.missing(), 1);
        // A late reply is dropped, and the slots hold nothing any more.
        r.fill(b, Bytes::from(vec![b'w'; 1024]));
        let mut out = bytes::BytesMut::new();
        r.drain_into(&mut out);
        assert!(out.is_empty());
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
