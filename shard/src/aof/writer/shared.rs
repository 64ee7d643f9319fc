//! The state the event loop and the writer threads share, and the gather rule: when the
//! batch handed over so far goes to the disk.
//!
//! # The gather rule (`appendfsync always`)
//! - No sync in flight: write and sync at once. An idle disk gains nothing from waiting.
//! - Otherwise a new batch joins the syncs in flight once it holds at least a `k`th of
//!   everything not yet durable, or once it has waited a `k`th of a sync (the recent
//!   average), whichever comes first. `k`, the number of syncs the rule aims to keep in
//!   flight, is the sync time over [`OVERLAP_WORTH`], from 2 to [`MAX_COHORTS`].
//!
//! Why gather: with clients that wait for each reply (nearly all of them), each finished
//! sync releases a cohort of clients, whose next commands come back within a few tens of
//! microseconds. A sync started on the first of them holds a handful of commands and
//! takes a slot that the rest of the cohort then waits a whole sync for; batches fragment
//! and every command pays about two round trips. Waiting for a fair share of the
//! outstanding work keeps about `k` syncs in flight, each holding a whole cohort, so a
//! command pays one round trip plus a short gather, and a loaded shard spends one IOPS on
//! many commands. The time bound keeps a lone client from waiting long for company that
//! never comes.
//!
//! Why `k` follows the sync time: each sync in flight shortens the wait for the next one
//! to start, to a `k`th of a sync, but costs the shard's CPU some 50-70 µs (the write, the
//! `fdatasync`, the wake-ups). On a network volume (a millisecond per sync) four
//! overlapping syncs cut the wait by far more than they cost; on a local disk (a fifth of
//! that) the same overlap mostly burns CPU the event loop needed, and two is better.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::super::durable::DurableState;
use super::super::sink::AofSink;
use super::super::stats::AofStats;
use super::super::syncs::{Slots, MAX_IN_FLIGHT};
use super::super::AppendFsync;

/// Another sync in flight is worth it when it shortens the wait for the next sync to
/// start by at least this much, about three times what a sync costs the CPU.
const OVERLAP_WORTH: Duration = Duration::from_micros(200);
/// Most syncs the gather rule aims to keep in flight: past four, a network volume's
/// latency hardly improves while its IOPS budget (3,000 on a gp3 volume by default)
/// drains faster.
pub(super) const MAX_COHORTS: u32 = 4;
/// Bounds of the gather time: below the lower one a timed wait costs more than it saves;
/// the upper one caps the latency a slow disk's average could add.
const MIN_GATHER: Duration = Duration::from_micros(20);
const MAX_GATHER: Duration = Duration::from_millis(1);
/// A batch this large goes at once: waiting would only grow the write.
const MAX_BATCH: u64 = 1 << 20;
/// How often one idle writer thread looks round, in case a wake-up was missed.
pub(super) const IDLE_POLL: Duration = Duration::from_millis(100);
pub(super) const EVERYSEC: Duration = Duration::from_secs(1);

pub(super) enum Seg {
    Data(BytesMut),
    /// Later data goes to a new file; `done` hears when the switch happened.
    Switch {
        sink: Box<dyn AofSink>,
        clear_poison: bool,
        done: mpsc::Sender<Result<(), String>>,
    },
}

pub(super) struct Inner {
    /// Handed over by the loop, not yet written.
    pub segs: VecDeque<Seg>,
    /// Data bytes in `segs`.
    pub seg_bytes: u64,
    /// Offset at the end of `segs`.
    pub appended: u64,
    /// Offset at the end of what was written (or dropped, while poisoned).
    pub written: u64,
    /// When `segs` last became non-empty.
    pub since: Option<Instant>,
    /// A writer thread is writing `segs` out; only one at a time, so the file's bytes are
    /// in append order and each batch's sync starts in write order.
    pub writing: bool,
    /// One idle writer thread polls every [`IDLE_POLL`]; the others sleep until woken.
    pub idle_poller: bool,
    pub shutdown: bool,
    /// Everything is written and synced after a shutdown: the threads exit.
    pub stop: bool,
    pub poisoned: Option<String>,
    pub syncs: Slots,
    /// Recent average `fdatasync` time, for the gather bound.
    pub sync_estimate: Duration,
    /// When the last sync under `everysec` started.
    pub last_sync: Instant,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            segs: VecDeque::new(),
            seg_bytes: 0,
            appended: 0,
            written: 0,
            since: None,
            writing: false,
            idle_poller: false,
            shutdown: false,
            stop: false,
            poisoned: None,
            syncs: Slots::default(),
            sync_estimate: Duration::ZERO,
            last_sync: Instant::now(),
        }
    }
}

/// What a writer thread does next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Take the writer's turn: write what was handed over (and sync it, under `always`).
    Write,
    /// Sync what was written.
    Sync,
    /// Sleep until woken, or at most this long.
    Wait(Option<Duration>),
    Exit,
}

pub(super) struct Shared {
    pub inner: Mutex<Inner>,
    /// Wakes writer threads: hand-overs, finished syncs, shutdown, policy changes.
    pub work: Condvar,
    pub stats: Arc<AofStats>,
    pub durable: Arc<DurableState>,
    /// `appendfsync`, changeable at run time (CONFIG SET).
    pub policy: AtomicU8,
    /// Mirrors `Inner::poisoned`, so an append checks it without the lock.
    pub poisoned: AtomicBool,
}

impl Shared {
    pub fn new(policy: AppendFsync) -> Shared {
        Shared {
            inner: Mutex::new(Inner::default()),
            work: Condvar::new(),
            stats: Arc::new(AofStats::default()),
            durable: Arc::new(DurableState::default()),
            policy: AtomicU8::new(policy as u8),
            poisoned: AtomicBool::new(false),
        }
    }

    pub fn policy(&self) -> AppendFsync {
        match self.policy.load(Relaxed) {
            0 => AppendFsync::Always,
            1 => AppendFsync::Everysec,
            _ => AppendFsync::No,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic on a writer thread while holding the lock leaves data we can still
        // read; refusing it would only turn one failure into two.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn wait<'a>(
        &self,
        g: MutexGuard<'a, Inner>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, Inner> {
        match timeout {
            Some(t) => match self.work.wait_timeout(g, t) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            },
            None => self.work.wait(g).unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Marks the writer failed: waiters get the error, and nothing is written or synced
    /// again until a switch to a new file clears it.
    pub fn poison(&self, g: &mut Inner, msg: String) {
        tracing::error!(error = %msg, "AOF writer poisoned; it will not retry on this file");
        self.stats.last_write_ok.store(false, Relaxed);
        self.poisoned.store(true, Relaxed);
        g.poisoned = Some(msg.clone());
        self.durable.fail(msg);
    }

    /// The next step for a free writer thread (see the module docs for the rule).
    pub fn next(&self, g: &Inner, now: Instant) -> Next {
        if g.stop {
            return Next::Exit;
        }
        if g.writing {
            // The writing thread decides again when it is done.
            return Next::Wait(None);
        }
        let policy = self.policy();
        let free = g.syncs.running() < MAX_IN_FLIGHT;
        if !g.segs.is_empty() {
            if policy != AppendFsync::Always || g.poisoned.is_some() || has_switch(g) {
                return Next::Write;
            }
            if !free {
                // A finishing sync decides again.
                return Next::Wait(None);
            }
            if g.shutdown || g.syncs.running() == 0 {
                return Next::Write;
            }
            let unsynced = g.appended.saturating_sub(self.durable.offset());
            let k = cohorts(g.sync_estimate);
            if g.seg_bytes * k as u64 >= unsynced || g.seg_bytes >= MAX_BATCH {
                return Next::Write;
            }
            let gather = (g.sync_estimate / k).clamp(MIN_GATHER, MAX_GATHER);
            let waited = now.saturating_duration_since(g.since.unwrap_or(now));
            return match gather.checked_sub(waited) {
                Some(left) if !left.is_zero() => Next::Wait(Some(left)),
                _ => Next::Write,
            };
        }
        let dirty = g.poisoned.is_none() && g.written > g.syncs.started();
        if dirty {
            if !free {
                return Next::Wait(None);
            }
            match policy {
                // Written under another policy before CONFIG SET made it `always`.
                AppendFsync::Always => return Next::Sync,
                _ if g.shutdown => return Next::Sync,
                // One at a time, as Redis does: a slow disk is not handed a second sync.
                AppendFsync::Everysec if g.syncs.running() > 0 => {}
                AppendFsync::Everysec => {
                    let due = g.last_sync + EVERYSEC;
                    return match due.checked_duration_since(now) {
                        Some(left) if !left.is_zero() => Next::Wait(Some(left)),
                        _ => Next::Sync,
                    };
                }
                AppendFsync::No => {}
            }
        }
        if g.shutdown && g.syncs.running() == 0 {
            return Next::Exit;
        }
        Next::Wait(None)
    }
}

/// How many syncs the gather rule aims to keep in flight, given the recent sync time.
pub(super) fn cohorts(sync: Duration) -> u32 {
    let k = sync.as_micros() / OVERLAP_WORTH.as_micros();
    (k as u32).clamp(2, MAX_COHORTS)
}

fn has_switch(g: &Inner) -> bool {
    g.segs.iter().any(|s| matches!(s, Seg::Switch { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::syncs::tests::NopSyncer;
    use std::path::PathBuf;

    fn loaded(running: usize, pending: u64, unsynced: u64) -> Inner {
        let mut inner = Inner {
            segs: VecDeque::from([Seg::Data(BytesMut::from(&vec![b'x'; pending as usize][..]))]),
            seg_bytes: pending,
            appended: unsynced,
            written: unsynced - pending,
            sync_estimate: Duration::from_millis(1),
            ..Inner::default()
        };
        inner
            .syncs
            .set_file(Arc::new(NopSyncer), PathBuf::from("f"));
        for i in 0..running {
            inner.syncs.begin(i as u64 + 1);
        }
        inner
    }

    #[test]
    fn an_idle_disk_gets_the_batch_at_once() {
        let s = Shared::new(AppendFsync::Always);
        let g = loaded(0, 10, 10);
        assert_eq!(s.next(&g, Instant::now()), Next::Write);
    }

    #[test]
    fn a_small_batch_gathers_while_syncs_are_in_flight() {
        let s = Shared::new(AppendFsync::Always);
        let now = Instant::now();
        let mut g = loaded(2, 10, 1000);
        g.since = Some(now);
        // A 1 ms average sync aims at 4 in flight. 10 of 1000 unsynced bytes: wait up to a
        // quarter of a sync.
        assert_eq!(
            s.next(&g, now),
            Next::Wait(Some(Duration::from_micros(250)))
        );
        assert_eq!(
            s.next(&g, now + Duration::from_micros(100)),
            Next::Wait(Some(Duration::from_micros(150)))
        );
        assert_eq!(s.next(&g, now + Duration::from_micros(250)), Next::Write);
        // A quarter of the unsynced bytes is a full cohort: no waiting.
        let g = loaded(2, 250, 1000);
        assert_eq!(s.next(&g, now), Next::Write);
    }

    #[test]
    fn slow_syncs_overlap_more_than_fast_ones() {
        assert_eq!(cohorts(Duration::ZERO), 2);
        assert_eq!(cohorts(Duration::from_micros(150)), 2, "a local disk");
        assert_eq!(cohorts(Duration::from_micros(700)), 3);
        assert_eq!(cohorts(Duration::from_micros(1300)), 4, "a network volume");
        assert_eq!(cohorts(Duration::from_secs(5)), MAX_COHORTS);
        // On a fast disk a batch must be half of what is unsynced to go at once.
        let s = Shared::new(AppendFsync::Always);
        let mut g = loaded(1, 400, 1000);
        g.sync_estimate = Duration::from_micros(150);
        g.since = Some(Instant::now());
        assert!(matches!(s.next(&g, Instant::now()), Next::Wait(Some(_))));
        let mut g = loaded(1, 500, 1000);
        g.sync_estimate = Duration::from_micros(150);
        assert_eq!(s.next(&g, Instant::now()), Next::Write);
    }

    #[test]
    fn every_slot_busy_means_wait_for_one() {
        let s = Shared::new(AppendFsync::Always);
        let g = loaded(MAX_IN_FLIGHT, 500, 1000);
        assert_eq!(s.next(&g, Instant::now()), Next::Wait(None));
    }

    #[test]
    fn other_policies_write_at_once_and_everysec_syncs_on_time() {
        let s = Shared::new(AppendFsync::Everysec);
        let now = Instant::now();
        let g = loaded(2, 10, 1000);
        assert_eq!(s.next(&g, now), Next::Write);
        let mut g = loaded(0, 0, 1000);
        g.segs.clear();
        g.last_sync = now;
        assert_eq!(s.next(&g, now), Next::Wait(Some(EVERYSEC)));
        assert_eq!(s.next(&g, now + EVERYSEC), Next::Sync);
        s.policy.store(AppendFsync::No as u8, Relaxed);
        assert_eq!(s.next(&g, now + EVERYSEC), Next::Wait(None));
        g.shutdown = true;
        assert_eq!(
            s.next(&g, now),
            Next::Sync,
            "shutdown syncs under every policy"
        );
        g.syncs.begin(g.written);
        g.syncs.succeeded(g.written);
        assert_eq!(s.next(&g, now), Next::Exit);
    }
}
