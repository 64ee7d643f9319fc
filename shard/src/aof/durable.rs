//! What a connection waits on: the durable offset published by the writer threads.
//!
//! Waiters are kept in offset order and a publish wakes only those it satisfies. Under
//! `always` with several syncs in flight, each sync releases one cohort of connections; a
//! broadcast (a `watch` channel) would wake every waiting connection at each sync, most of
//! them only to go back to sleep, and each of those wake-ups crosses threads.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::error::AofError;

/// A snapshot of the durable state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durable {
    /// Offset (bytes of commands appended since this writer started) covered by the last
    /// `fdatasync` (under `no`: by the last write).
    pub offset: u64,
    /// Set once the writer is poisoned.
    pub failed: Option<String>,
}

/// The durable offset and the connections waiting for it, shared by the loop and the
/// writer threads.
#[derive(Default)]
pub(crate) struct DurableState {
    offset: AtomicU64,
    failed_flag: AtomicBool,
    failed: Mutex<Option<String>>,
    waiters: Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    next_id: u64,
    /// (offset waited for, id) → waker: the smallest offsets are released first.
    by_offset: BTreeMap<(u64, u64), Waker>,
}

/// Locks that only ever guard plain data: a thread that panicked holding one left nothing
/// half-done that a reader could trip on, so a poisoned lock is still used.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DurableState {
    /// Everything up to `offset` is durable; wakes the waiters it satisfies.
    pub(crate) fn publish(&self, offset: u64) {
        // Publish before taking the waiters' lock: a waiter that registers after we drain
        // checks the offset under that lock and sees it.
        if self.offset.fetch_max(offset, Ordering::AcqRel) >= offset {
            return;
        }
        let woken = {
            let mut w = lock(&self.waiters);
            let later = w.by_offset.split_off(&(offset + 1, 0));
            std::mem::replace(&mut w.by_offset, later)
        };
        // Woken outside the lock: a waker may run arbitrary scheduler code.
        for (_, waker) in woken {
            waker.wake();
        }
    }

    /// The writer failed: every waiter gets the error.
    pub(crate) fn fail(&self, msg: String) {
        *lock(&self.failed) = Some(msg);
        self.failed_flag.store(true, Ordering::Release);
        let woken = std::mem::take(&mut lock(&self.waiters).by_offset);
        for (_, waker) in woken {
            waker.wake();
        }
    }

    /// A new file covers everything applied: the failure is over and `offset` durable.
    pub(crate) fn recover(&self, offset: u64) {
        *lock(&self.failed) = None;
        self.failed_flag.store(false, Ordering::Release);
        self.publish(offset);
    }

    pub(crate) fn offset(&self) -> u64 {
        self.offset.load(Ordering::Acquire)
    }

    fn snapshot(&self) -> Durable {
        Durable {
            offset: self.offset(),
            failed: if self.failed_flag.load(Ordering::Acquire) {
                lock(&self.failed).clone()
            } else {
                None
            },
        }
    }
}

/// A connection's handle for waiting until its commands are durable.
#[derive(Clone)]
pub struct DurableWait(pub(crate) Arc<DurableState>);

impl DurableWait {
    /// Resolves once `offset` is durable; an error if the writer failed first. An error
    /// means the reply must not claim success.
    pub fn wait(&mut self, offset: u64) -> WaitFor {
        WaitFor {
            state: self.0.clone(),
            offset,
            id: None,
        }
    }

    /// The current value, without waiting.
    pub fn current(&self) -> Durable {
        self.0.snapshot()
    }
}

/// The future of [`DurableWait::wait`]. Dropping it (a connection closed while waiting)
/// takes its entry out of the queue.
pub struct WaitFor {
    state: Arc<DurableState>,
    offset: u64,
    id: Option<u64>,
}

impl Future for WaitFor {
    type Output = Result<(), AofError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let state = this.state.clone();
        let mut w = lock(&state.waiters);
        let done = if state.offset() >= this.offset {
            Some(Ok(()))
        } else if state.failed_flag.load(Ordering::Acquire) {
            let msg = lock(&state.failed).clone().unwrap_or_default();
            Some(Err(AofError::Poisoned(msg)))
        } else {
            None
        };
        if let Some(res) = done {
            if let Some(id) = this.id.take() {
                w.by_offset.remove(&(this.offset, id));
            }
            return Poll::Ready(res);
        }
        let id = *this.id.get_or_insert_with(|| {
            w.next_id += 1;
            w.next_id
        });
        match w.by_offset.get_mut(&(this.offset, id)) {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                w.by_offset.insert((this.offset, id), cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for WaitFor {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock(&self.state.waiters)
                .by_offset
                .remove(&(self.offset, id));
        }
    }
}

/// Health of the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterState {
    Ok,
    /// A write or sync failed; the message names the file and the error.
    Poisoned(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(f: &mut WaitFor, waker: &Waker) -> Poll<Result<(), AofError>> {
        Pin::new(f).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_publish_wakes_only_the_waiters_it_satisfies() {
        let state = Arc::new(DurableState::default());
        let mut d = DurableWait(state.clone());
        let counts: Vec<Arc<Count>> = (0..3).map(|_| Arc::new(Count(0.into()))).collect();
        let wakers: Vec<Waker> = counts.iter().map(|c| Waker::from(c.clone())).collect();
        let mut futs = [d.wait(10), d.wait(20), d.wait(30)];
        for (f, w) in futs.iter_mut().zip(&wakers) {
            assert!(poll(f, w).is_pending());
        }
        state.publish(20);
        let woken: Vec<usize> = counts.iter().map(|c| c.0.load(Ordering::SeqCst)).collect();
        assert_eq!(woken, [1, 1, 0]);
        assert!(matches!(
            poll(&mut futs[0], &wakers[0]),
            Poll::Ready(Ok(()))
        ));
        assert!(poll(&mut futs[2], &wakers[2]).is_pending());
        // An older offset never moves it back.
        state.publish(5);
        assert_eq!(d.current().offset, 20);
        state.fail("fdatasync f: EIO".into());
        assert_eq!(counts[2].0.load(Ordering::SeqCst), 1);
        assert!(matches!(
            poll(&mut futs[2], &wakers[2]),
            Poll::Ready(Err(AofError::Poisoned(m))) if m.contains("EIO")
        ));
        // What was durable before the failure stays so.
        assert!(matches!(
            poll(&mut d.wait(15), &wakers[0]),
            Poll::Ready(Ok(()))
        ));
        state.recover(40);
        assert_eq!(
            d.current(),
            Durable {
                offset: 40,
                failed: None
            }
        );
    }

    #[test]
    fn a_dropped_wait_leaves_the_queue() {
        let state = Arc::new(DurableState::default());
        let mut d = DurableWait(state.clone());
        let waker = Waker::from(Arc::new(Count(0.into())));
        let mut f = d.wait(10);
        assert!(poll(&mut f, &waker).is_pending());
        assert!(
            poll(&mut f, &waker).is_pending(),
            "polled again: still one entry"
        );
        assert_eq!(lock(&state.waiters).by_offset.len(), 1);
        drop(f);
        assert!(lock(&state.waiters).by_offset.is_empty());
    }
}
