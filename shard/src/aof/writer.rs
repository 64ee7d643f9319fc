//! Group commit. The event loop encodes each applied write into a shared pending buffer
//! ([`AofWriter::append`], no I/O, cannot fail); one helper OS thread per shard takes the
//! whole buffer, adds its `#CRC:` line, and issues one `write` and then (under `always`) one
//! `fdatasync`. Commands applied while that sync is in flight pile up in the buffer and go
//! out together in the next single write + sync: one IOPS per batch, whatever the load.
//!
//! The durable offset is published on a `tokio::sync::watch`, so a connection awaits "durable
//! ≥ the offset my reply depends on" while the loop keeps executing other clients.
//!
//! A failed write or sync is never retried in place: after a failed `fsync`, Linux may
//! report the next one as successful without the data ever reaching the disk. The writer is
//! poisoned instead: waiters get an error, later appends are dropped, and only switching to
//! a new file (a rewrite) clears it.
//!
//! Why a `Mutex` + `Condvar` rather than a channel: the loop appends into the very buffer the
//! helper will write, so each command is copied once, and the lock is held only to encode
//! one command or to swap the buffer out.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::watch;

use super::durable::{Durable, DurableWait, WriterState};
use super::error::AofError;
use super::record::{encode_annotation, encode_command, BatchCrc};
use super::sink::AofSink;
use super::stats::AofStats;
use super::syncs::{Slots, IN_FLIGHT};
use super::AppendFsync;

/// How long an idle helper sleeps before looking for appends nobody flushed.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Redis's threshold for counting `aof_delayed_fsync`.
const DELAYED_FSYNC: Duration = Duration::from_secs(2);
const EVERYSEC: Duration = Duration::from_secs(1);

enum Seg {
    Data(BytesMut),
    /// Later data goes to a new file; `done` hears when the switch happened.
    Switch {
        sink: Box<dyn AofSink>,
        clear_poison: bool,
        done: mpsc::Sender<Result<(), String>>,
    },
}

#[derive(Default)]
struct Inner {
    segs: VecDeque<Seg>,
    /// Logical offset at the end of `segs`.
    appended: u64,
    busy: bool,
    woken: bool,
    shutdown: bool,
    poisoned: Option<String>,
    /// The syncs of `always`, run by the sync threads.
    syncs: Slots,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the helper: appends, shutdown, and a sync slot coming free.
    wake: Condvar,
    /// Wakes the sync threads.
    sync_wake: Condvar,
    stats: Arc<AofStats>,
    durable: watch::Sender<Durable>,
    /// `appendfsync`, changeable at run time (CONFIG SET).
    policy: AtomicU8,
}

impl Shared {
    fn policy(&self) -> AppendFsync {
        match self.policy.load(Relaxed) {
            0 => AppendFsync::Always,
            1 => AppendFsync::Everysec,
            _ => AppendFsync::No,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic on the helper thread while holding the lock leaves data we can still
        // read; refusing it would only turn one failure into two.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The event loop's side of the writer.
pub struct AofWriter {
    shared: Arc<Shared>,
    helper: Option<JoinHandle<()>>,
    syncers: Vec<JoinHandle<()>>,
    applied: u64,
}

impl AofWriter {
    /// Starts the helper thread writing to `sink`. `resume` is the checksum state of the
    /// bytes already in the file after its last annotation.
    pub fn start(
        sink: Box<dyn AofSink>,
        policy: AppendFsync,
        resume: BatchCrc,
    ) -> Result<AofWriter, AofError> {
        let (tx, _) = watch::channel(Durable::default());
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            wake: Condvar::new(),
            sync_wake: Condvar::new(),
            stats: Arc::new(AofStats::default()),
            durable: tx,
            policy: AtomicU8::new(policy as u8),
        });
        let path = sink.path().to_path_buf();
        shared.lock().syncs.set_file(sink.syncer(), path.clone());
        let mut writer = AofWriter {
            shared: shared.clone(),
            helper: None,
            syncers: Vec::new(),
            applied: 0,
        };
        for i in 0..IN_FLIGHT {
            let sync_shared = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("aof-sync-{i}"))
                .spawn(move || sync_loop(&sync_shared))
                .map_err(|e| AofError::io("spawn aof sync thread for", path.clone(), e))?;
            writer.syncers.push(handle);
        }
        let helper = std::thread::Builder::new()
            .name("aof-helper".into())
            .spawn(move || Helper::new(shared, sink, resume).run())
            .map_err(|e| AofError::io("spawn aof helper for", path, e))?;
        writer.helper = Some(helper);
        Ok(writer)
    }

    /// Queues one command. Never blocks on the disk and never fails: a poisoned writer drops
    /// it (check [`writable`](Self::writable) before executing a write).
    pub fn append<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        if args.is_empty() {
            // `*0` is not a command: Redis (and our reader) refuse it in a file.
            return;
        }
        let mut g = self.shared.lock();
        if g.poisoned.is_some() {
            self.shared.stats.dropped.fetch_add(1, Relaxed);
            return;
        }
        if !matches!(g.segs.back(), Some(Seg::Data(_))) {
            g.segs.push_back(Seg::Data(BytesMut::new()));
        }
        let n = match g.segs.back_mut() {
            Some(Seg::Data(buf)) => encode_command(buf, args) as u64,
            _ => 0,
        };
        g.appended += n;
        self.applied = g.appended;
    }

    /// Offset just past the last appended command.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Wakes the helper if it is idle and there is something to write. Call after each
    /// batch of commands; while the helper is busy this costs one uncontended lock.
    pub fn flush(&self) {
        wake_if_idle(&self.shared)
    }

    pub fn flusher(&self) -> Flusher {
        Flusher(self.shared.clone())
    }

    /// A handle to await durability with; clone it per connection.
    pub fn durable(&self) -> DurableWait {
        DurableWait(self.shared.durable.subscribe())
    }

    pub fn state(&self) -> WriterState {
        match &self.shared.lock().poisoned {
            None => WriterState::Ok,
            Some(e) => WriterState::Poisoned(e.clone()),
        }
    }

    /// False once poisoned: the server replies `-MISCONF` to writes.
    pub fn writable(&self) -> bool {
        self.shared.lock().poisoned.is_none()
    }

    /// True when the process must exit with [`super::EXIT_AOF_FAILED`].
    pub fn must_exit(&self) -> bool {
        self.shared.policy() == AppendFsync::Always && !self.writable()
    }

    pub fn policy(&self) -> AppendFsync {
        self.shared.policy()
    }

    /// CONFIG SET appendfsync. Switching to `always` makes the helper sync what was written
    /// under the old policy at its next batch, so waiters never see an unsynced offset.
    pub fn set_policy(&self, policy: AppendFsync) {
        self.shared.policy.store(policy as u8, Relaxed);
        let _guard = self.shared.lock();
        self.shared.wake.notify_one();
    }

    pub fn stats(&self) -> &Arc<AofStats> {
        &self.shared.stats
    }

    /// Bytes appended but not yet handed to `write` (for back-pressure and INFO's
    /// `aof_buffer_length`).
    pub fn pending_bytes(&self) -> usize {
        self.shared
            .lock()
            .segs
            .iter()
            .map(|s| match s {
                Seg::Data(b) => b.len(),
                Seg::Switch { .. } => 0,
            })
            .sum()
    }

    /// Makes later appends go to `sink`, after everything appended so far has gone to the
    /// current file (which is synced first). Returns a receiver that hears when the switch
    /// has happened. With `clear_poison`, the switch also ends a poisoned state: the caller
    /// has made a new base that covers everything applied.
    pub(crate) fn switch_to(
        &mut self,
        sink: Box<dyn AofSink>,
        clear_poison: bool,
    ) -> mpsc::Receiver<Result<(), String>> {
        let (done, rx) = mpsc::channel();
        let mut g = self.shared.lock();
        g.segs.push_back(Seg::Switch {
            sink,
            clear_poison,
            done,
        });
        if !g.busy {
            g.woken = true;
            self.shared.wake.notify_one();
        }
        rx
    }

    /// Writes and syncs everything appended, then stops the helper.
    pub fn close(mut self) -> Result<(), AofError> {
        self.stop();
        match self.state() {
            WriterState::Ok => Ok(()),
            WriterState::Poisoned(e) => Err(AofError::Poisoned(e)),
        }
    }

    fn stop(&mut self) {
        {
            let mut g = self.shared.lock();
            g.shutdown = true;
            self.shared.wake.notify_one();
        }
        if let Some(h) = self.helper.take() {
            if h.join().is_err() {
                tracing::error!("AOF helper thread panicked");
            }
        }
        // The helper drained the syncs before it returned.
        self.shared.lock().syncs.stop = true;
        self.shared.sync_wake.notify_all();
        for h in self.syncers.drain(..) {
            if h.join().is_err() {
                tracing::error!("AOF sync thread panicked");
            }
        }
    }
}

impl Drop for AofWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// [`AofWriter::flush`], held apart from the writer so the event loop can call it when it
/// goes idle (see `persist::flush_at_park`).
#[derive(Clone)]
pub struct Flusher(Arc<Shared>);

impl Flusher {
    pub fn flush(&self) {
        wake_if_idle(&self.0)
    }
}

/// While the helper is busy its loop takes whatever piled up, so only an idle helper needs
/// a wake-up.
fn wake_if_idle(shared: &Shared) {
    let mut g = shared.lock();
    if !g.busy && !g.woken && !g.segs.is_empty() {
        g.woken = true;
        shared.wake.notify_one();
    }
}

/// The helper thread's state: the file and the checksum of its current batch.
struct Helper {
    shared: Arc<Shared>,
    sink: Box<dyn AofSink>,
    crc: BatchCrc,
    written: u64,
    synced: u64,
    /// Written but not yet `fdatasync`ed (under `no`, `synced` follows writes instead).
    dirty: bool,
    last_sync: Instant,
}

impl Helper {
    fn new(shared: Arc<Shared>, sink: Box<dyn AofSink>, crc: BatchCrc) -> Self {
        Helper {
            shared,
            sink,
            crc,
            written: 0,
            synced: 0,
            dirty: false,
            last_sync: Instant::now(),
        }
    }

    fn run(mut self) {
        loop {
            let (segs, end, shutdown) = {
                let mut g = self.shared.lock();
                loop {
                    let policy = self.shared.policy();
                    let sync_due = self.dirty
                        && match policy {
                            AppendFsync::Always => true,
                            AppendFsync::Everysec => self.last_sync.elapsed() >= EVERYSEC,
                            AppendFsync::No => false,
                        };
                    self.shared.stats.helper_wakeups.fetch_add(1, Relaxed);
                    // Under `always` a batch is written when a sync can start on it at
                    // once; until then it grows in `segs` (see `syncs`).
                    let slot = policy != AppendFsync::Always || g.syncs.free();
                    let switch = matches!(g.segs.front(), Some(Seg::Switch { .. }));
                    if g.shutdown || sync_due || (!g.segs.is_empty() && (slot || switch)) {
                        break;
                    }
                    // Appends waiting for a slot are taken when a sync finishes: the loop's
                    // flushes need not wake us for them.
                    g.busy = !g.segs.is_empty();
                    let timeout = if self.dirty && policy == AppendFsync::Everysec {
                        EVERYSEC.saturating_sub(self.last_sync.elapsed())
                    } else {
                        IDLE_POLL
                    };
                    g = match self.shared.wake.wait_timeout(g, timeout) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    };
                }
                g.busy = true;
                g.woken = false;
                (std::mem::take(&mut g.segs), g.appended, g.shutdown)
            };
            let mut end_of_data = self.written;
            for seg in segs {
                match seg {
                    Seg::Data(buf) => {
                        end_of_data += buf.len() as u64;
                        self.write_batch(buf, end_of_data);
                    }
                    Seg::Switch {
                        sink,
                        clear_poison,
                        done,
                    } => self.switch(sink, clear_poison, done),
                }
            }
            debug_assert_eq!(end_of_data, end);
            match self.shared.policy() {
                AppendFsync::Always if self.dirty => self.request_sync(),
                AppendFsync::Everysec
                    if self.dirty && (shutdown || self.last_sync.elapsed() >= EVERYSEC) =>
                {
                    self.sync()
                }
                AppendFsync::No if self.dirty && shutdown => self.sync(),
                _ => {}
            }
            if shutdown {
                self.drain();
                if self.shared.lock().segs.is_empty() {
                    return;
                }
            }
        }
    }

    /// Hands everything written to the sync threads (under `always`).
    fn request_sync(&mut self) {
        self.shared.lock().syncs.request(self.written);
        self.shared.sync_wake.notify_one();
        self.dirty = false;
    }

    /// Waits until no sync is running or waiting: before a sync on this thread, a switch to
    /// another file, or exit.
    fn drain(&self) {
        let mut g = self.shared.lock();
        while !g.syncs.idle() && g.poisoned.is_none() {
            g = match self.shared.wake.wait_timeout(g, IDLE_POLL) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    fn poisoned(&self) -> bool {
        self.shared.lock().poisoned.is_some()
    }

    fn poison(&mut self, op: &str, err: std::io::Error) {
        let msg = format!("{op} {}: {err}", self.sink.path().display());
        // Nothing more is written or synced to this file; a pending "dirty" would make the
        // loop spin on a sync it must not retry.
        self.dirty = false;
        poison_locked(&self.shared, &mut self.shared.lock(), msg);
    }

    /// One `write` of the whole batch plus its annotation (more only if the kernel writes
    /// short).
    fn write_batch(&mut self, buf: BytesMut, end: u64) {
        let ok = !self.poisoned() && self.write_all(buf);
        // Offsets advance even for a dropped batch, so they stay in step with `appended`.
        self.written = end;
        if !ok {
            self.synced = end;
            return;
        }
        self.shared.stats.batches.fetch_add(1, Relaxed);
        self.dirty = true;
        if self.shared.policy() == AppendFsync::No {
            self.synced = end;
            self.shared.durable.send_modify(|d| d.offset = end);
        }
    }

    fn write_all(&mut self, mut buf: BytesMut) -> bool {
        self.crc.update(&buf);
        encode_annotation(&mut buf, self.crc.crc);
        self.crc = BatchCrc::default();
        let stats = self.shared.stats.clone();
        let mut off = 0;
        while off < buf.len() {
            match self.sink.write(&buf[off..]) {
                Ok(0) => {
                    let e = std::io::Error::new(std::io::ErrorKind::WriteZero, "wrote 0 bytes");
                    self.poison("write", e);
                    return false;
                }
                Ok(n) => {
                    stats.write_syscalls.fetch_add(1, Relaxed);
                    stats.bytes_written.fetch_add(n as u64, Relaxed);
                    off += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    stats.write_syscalls.fetch_add(1, Relaxed);
                    self.poison("write", e);
                    return false;
                }
            }
        }
        true
    }

    /// A sync on this thread (`everysec`, `no` at close, a switch of files).
    fn sync(&mut self) {
        self.drain();
        if self.poisoned() {
            self.dirty = false;
            return;
        }
        let start = Instant::now();
        let res = self.sink.sync_data();
        let took = start.elapsed();
        self.shared.stats.record_fsync(took);
        self.last_sync = Instant::now();
        if let Err(e) = res {
            return self.poison("fdatasync", e);
        }
        if took > DELAYED_FSYNC && !self.shared.lock().segs.is_empty() {
            self.shared.stats.delayed_fsync.fetch_add(1, Relaxed);
        }
        self.dirty = false;
        self.synced = self.written;
        let end = self.written;
        self.shared
            .durable
            .send_modify(|d| d.offset = d.offset.max(end));
    }

    fn switch(
        &mut self,
        sink: Box<dyn AofSink>,
        clear_poison: bool,
        done: mpsc::Sender<Result<(), String>>,
    ) {
        // The old file is about to stop receiving writes: make it complete first.
        self.drain();
        if self.dirty {
            self.sync();
        }
        let failed = self.shared.lock().poisoned.clone();
        if let (Some(e), false) = (&failed, clear_poison) {
            // Nobody may be waiting any more; the loop learns of it through `state()`.
            let _ = done.send(Err(e.clone()));
            return;
        }
        self.shared
            .lock()
            .syncs
            .set_file(sink.syncer(), sink.path().to_path_buf());
        self.sink = sink;
        self.crc = BatchCrc::default();
        self.dirty = false;
        if clear_poison {
            self.shared.lock().poisoned = None;
            self.shared.stats.last_write_ok.store(true, Relaxed);
            let end = self.written;
            self.shared.durable.send_modify(|d| {
                d.failed = None;
                d.offset = d.offset.max(end);
            });
        }
        // The requester may have given up waiting; the switch stands either way.
        let _ = done.send(Ok(()));
    }
}

/// Marks the writer failed: waiters get the error, and nothing is written or synced again
/// until a switch to a new file clears it.
fn poison_locked(shared: &Shared, g: &mut Inner, msg: String) {
    tracing::error!(error = %msg, "AOF writer poisoned; it will not retry on this file");
    shared.stats.last_write_ok.store(false, Relaxed);
    g.poisoned = Some(msg.clone());
    shared.durable.send_modify(|d| d.failed = Some(msg));
}

/// One sync thread: syncs what the helper wrote, [`IN_FLIGHT`] threads side by side.
fn sync_loop(shared: &Shared) {
    let mut g = shared.lock();
    loop {
        if g.syncs.stop {
            return;
        }
        let job = match g.poisoned {
            None if g.syncs.wanted() && g.syncs.can_start() => g.syncs.begin(),
            _ => None,
        };
        let Some((upto, syncer, path)) = job else {
            g = match shared.sync_wake.wait(g) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            continue;
        };
        drop(g);
        let start = Instant::now();
        let res = syncer.sync_data();
        let took = start.elapsed();
        shared.stats.record_fsync(took);
        g = shared.lock();
        match res {
            Ok(()) => {
                if let Some(durable) = g.syncs.succeeded(upto) {
                    shared
                        .durable
                        .send_modify(|d| d.offset = d.offset.max(durable));
                }
                if took > DELAYED_FSYNC && g.syncs.wanted() {
                    shared.stats.delayed_fsync.fetch_add(1, Relaxed);
                }
            }
            Err(e) => {
                g.syncs.failed();
                poison_locked(shared, &mut g, format!("fdatasync {}: {e}", path.display()));
            }
        }
        // A slot came free: the helper may write what piled up, or finish a drain.
        shared.wake.notify_all();
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
pub(crate) mod tests;
