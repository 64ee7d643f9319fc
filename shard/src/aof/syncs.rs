//! Overlapping fsyncs, and the order in which they may release replies.
//!
//! On a network volume a sync is a round trip (about a millisecond on EBS), and the volume
//! serves several at once. With one sync at a time, the commands that arrive during a sync
//! wait for it and then for their own: two round trips. With several in flight, a command
//! waits about one round trip, and CPU work overlaps the disk. How many start, and when, is
//! the writer's gather rule (`writer::shared`); this module only keeps the books.
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

/// Syncs in flight at most, counting the batch being written (its sync starts right
/// after): one writer thread each.
pub const MAX_IN_FLIGHT: usize = 8;

#[derive(Default)]
pub struct Slots {
    running: usize,
    /// Highest offset a sync has started on.
    started: u64,
    /// Syncs in start order, and whether each has succeeded.
    order: VecDeque<(u64, bool)>,
    /// The file being written, and its path for errors.
    file: Option<(Arc<dyn Syncer>, PathBuf)>,
}

impl Slots {
    /// Syncs running now.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Highest offset a sync has started on: bytes written past it are not being synced.
    pub fn started(&self) -> u64 {
        self.started
    }

    pub fn set_file(&mut self, syncer: Arc<dyn Syncer>, path: PathBuf) {
        self.file = Some((syncer, path));
    }

    /// Starts a sync of everything written up to `upto`.
    pub fn begin(&mut self, upto: u64) -> Option<(Arc<dyn Syncer>, PathBuf)> {
        let (syncer, path) = self.file.clone()?;
        self.started = self.started.max(upto);
        self.running += 1;
        self.order.push_back((upto, false));
        Some((syncer, path))
    }

    /// Records a finished sync. Returns the offset that is now durable, if the syncs that
    /// started before it have all succeeded too.
    pub fn succeeded(&mut self, upto: u64) -> Option<u64> {
        self.running = self.running.saturating_sub(1);
        if let Some(entry) = self.order.iter_mut().find(|(o, done)| *o == upto && !done) {
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
        self.running = self.running.saturating_sub(1);
        self.order.clear();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A sync that always succeeds at once.
    pub(crate) struct NopSyncer;
    impl Syncer for NopSyncer {
        fn sync_data(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn slots() -> Slots {
        let mut s = Slots::default();
        s.set_file(Arc::new(NopSyncer), PathBuf::from("f"));
        s
    }

    #[test]
    fn a_later_sync_is_published_only_after_the_earlier_one() {
        let mut s = slots();
        s.begin(10).unwrap();
        s.begin(20).unwrap();
        assert_eq!(s.running(), 2);
        assert_eq!(s.started(), 20);
        assert_eq!(
            s.succeeded(20),
            None,
            "20 finished first: 10 is still running"
        );
        assert_eq!(s.succeeded(10), Some(20));
        assert_eq!(s.running(), 0);
    }

    #[test]
    fn in_order_completions_publish_each() {
        let mut s = slots();
        s.begin(5).unwrap();
        s.begin(9).unwrap();
        assert_eq!(s.succeeded(5), Some(5));
        assert_eq!(s.succeeded(9), Some(9));
    }

    #[test]
    fn nothing_after_a_failure_is_published() {
        let mut s = slots();
        s.begin(10).unwrap();
        s.begin(20).unwrap();
        assert_eq!(s.succeeded(20), None);
        s.failed();
        assert_eq!(s.running(), 0);
        s.begin(30).unwrap();
        assert_eq!(s.succeeded(30), Some(30), "only a sync started later");
    }

    #[test]
    fn no_file_no_sync() {
        let mut s = Slots::default();
        assert!(s.begin(1).is_none());
        assert_eq!(s.running(), 0);
    }
}
