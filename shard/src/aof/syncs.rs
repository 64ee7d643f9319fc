//! Overlapping fsyncs under `appendfsync always`.
//!
//! On a network volume a sync is a round trip (about a millisecond on EBS), and the volume
//! serves several at once. With one sync at a time, the commands that arrive during a sync
//! wait for it and then for their own: two round trips. Here the helper writes a batch as
//! soon as a sync slot is free and a sync thread starts on it at once, so a command waits
//! about one round trip, and CPU work overlaps the disk.
//!
//! Slots are few ([`IN_FLIGHT`]): while all are busy, appends pile up in one batch, so
//! under load each sync still covers many commands (one IOPS per batch, not per write).
//!
//! Durability is published in start order. `fdatasync` covers every byte written before
//! it began, so a later sync finishing first would cover the earlier one's bytes too; but
//! if that earlier sync then failed, Linux may already have dropped the pages it failed to
//! write. A reply is therefore released only when every sync that started before its own
//! has succeeded.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use super::sink::Syncer;

/// Syncs in flight at most: enough to overlap a batch's sync with the next batch, few
/// enough that a loaded shard spends one IOPS on many commands.
pub const IN_FLIGHT: usize = 2;

#[derive(Default)]
pub struct Slots {
    running: usize,
    /// Highest written offset a sync was asked for.
    target: u64,
    /// Highest offset a sync has started on.
    started: u64,
    /// Syncs in start order, and whether each has succeeded.
    order: VecDeque<(u64, bool)>,
    /// The file being written, and its path for errors.
    file: Option<(Arc<dyn Syncer>, PathBuf)>,
    pub stop: bool,
}

impl Slots {
    /// The helper may write another batch: a sync could start on it at once. A request no
    /// sync thread has picked up yet holds a slot too, so each write gets its own sync
    /// rather than several writes racing ahead of a slow-to-wake thread.
    pub fn free(&self) -> bool {
        !self.wanted() && self.running < IN_FLIGHT
    }

    /// A sync thread may start a sync now.
    pub fn can_start(&self) -> bool {
        self.running < IN_FLIGHT
    }

    /// Asks for everything up to `offset` (already written) to be synced.
    pub fn request(&mut self, offset: u64) {
        self.target = self.target.max(offset);
    }

    /// Something written is waiting for a sync thread.
    pub fn wanted(&self) -> bool {
        self.target > self.started && self.file.is_some()
    }

    /// No sync running or waiting to start.
    pub fn idle(&self) -> bool {
        self.running == 0 && !self.wanted()
    }

    pub fn set_file(&mut self, syncer: Arc<dyn Syncer>, path: PathBuf) {
        self.file = Some((syncer, path));
    }

    /// Starts a sync of everything requested; call when [`wanted`](Self::wanted).
    pub fn begin(&mut self) -> Option<(u64, Arc<dyn Syncer>, PathBuf)> {
        let (syncer, path) = self.file.clone()?;
        let upto = self.target;
        self.started = upto;
        self.running += 1;
        self.order.push_back((upto, false));
        Some((upto, syncer, path))
    }

    /// Records a finished sync. Returns the offset that is now durable, if the syncs that
    /// started before it have all succeeded too.
    pub fn succeeded(&mut self, upto: u64) -> Option<u64> {
        self.running -= 1;
        if let Some(entry) = self.order.iter_mut().find(|(o, _)| *o == upto) {
            entry.1 = true;
        }
        let mut durable = None;
        while let Some(&(o, true)) = self.order.front() {
            durable = Some(o);
            self.order.pop_front();
        }
        durable
    }

    /// Records a failed sync: nothing it or a later sync covers may ever be published.
    pub fn failed(&mut self) {
        self.running -= 1;
        self.order.clear();
        self.target = self.started;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nop;
    impl Syncer for Nop {
        fn sync_data(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn slots() -> Slots {
        let mut s = Slots::default();
        s.set_file(Arc::new(Nop), PathBuf::from("f"));
        s
    }

    #[test]
    fn a_later_sync_is_published_only_after_the_earlier_one() {
        let mut s = slots();
        s.request(10);
        assert!(!s.free(), "a request not yet started holds a slot");
        let (a, ..) = s.begin().unwrap();
        assert!(s.free());
        s.request(20);
        let (b, ..) = s.begin().unwrap();
        assert!(!s.free() && !s.can_start(), "{IN_FLIGHT} slots");
        assert_eq!(
            s.succeeded(b),
            None,
            "20 finished first: 10 is still running"
        );
        assert_eq!(s.succeeded(a), Some(20));
        assert!(s.idle());
    }

    #[test]
    fn requests_while_busy_merge_into_one_sync() {
        let mut s = slots();
        s.request(5);
        s.begin();
        s.request(7);
        s.begin();
        s.request(8);
        s.request(9);
        assert!(s.wanted());
        assert!(!s.free());
        assert_eq!(s.succeeded(5), Some(5));
        let (c, ..) = s.begin().unwrap();
        assert_eq!(c, 9);
        assert!(!s.wanted());
    }

    #[test]
    fn nothing_after_a_failure_is_published() {
        let mut s = slots();
        s.request(10);
        let (a, ..) = s.begin().unwrap();
        s.request(20);
        let (b, ..) = s.begin().unwrap();
        assert_eq!(s.succeeded(b), None);
        s.failed();
        let _ = a;
        assert!(s.idle());
    }
}
