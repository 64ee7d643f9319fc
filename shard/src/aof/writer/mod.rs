//! Group commit. The event loop encodes each applied write into a buffer of its own
//! ([`AofWriter::append`]: no lock, no I/O, cannot fail) and hands the buffer over when it
//! goes idle ([`AofWriter::flush`], once per loop turn). Writer threads take what was handed
//! over, add its `#CRC:` line, and issue one `write` and then (under `always`) one
//! `fdatasync`. Commands applied while syncs are in flight pile up and go out together:
//! one IOPS per batch, whatever the load. When a batch goes is the gather rule of
//! [`shared`].
//!
//! The durable offset is published to [`DurableWait`]ers, so a connection awaits
//! "durable ≥ the offset my reply depends on" while the loop keeps executing other clients.
//!
//! A failed write or sync is never retried in place: after a failed `fsync`, Linux may
//! report the next one as successful without the data ever reaching the disk. The writer is
//! poisoned instead: waiters get an error, later appends are dropped, and only switching to
//! a new file (a rewrite) clears it.
//!
//! # Layout
//! - [`shared`]: the state the loop and the threads share, and the gather rule.
//! - [`worker`]: a writer thread: write, sync, publish, switch files.

mod shared;
mod worker;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::durable::{DurableWait, WriterState};
use super::error::AofError;
use super::record::{encode_command, BatchCrc};
use super::sink::AofSink;
use super::stats::AofStats;
use super::syncs::MAX_IN_FLIGHT;
use super::AppendFsync;
use shared::{Next, Seg, Shared};
use worker::FileState;

/// The loop's append buffer grows by this much when less than `STAGE_SPARE` is left.
const STAGE_CHUNK: usize = 64 * 1024;
const STAGE_SPARE: usize = 4 * 1024;
/// Stack of a writer thread: it only formats an error message at most.
const WORKER_STACK: usize = 256 * 1024;

/// The event loop's side of the writer.
pub struct AofWriter {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Appended, not yet handed over.
    stage: BytesMut,
    /// When the first command now in `stage` was appended.
    staged_since: Option<Instant>,
    applied: u64,
}

impl AofWriter {
    /// Starts the writer threads on `sink`. `resume` is the checksum state of the bytes
    /// already in the file after its last annotation.
    pub fn start(
        sink: Box<dyn AofSink>,
        policy: AppendFsync,
        resume: BatchCrc,
    ) -> Result<AofWriter, AofError> {
        let shared = Arc::new(Shared::new(policy));
        let path = sink.path().to_path_buf();
        shared.lock().syncs.set_file(sink.syncer(), path.clone());
        let file = Arc::new(Mutex::new(FileState { sink, crc: resume }));
        let mut writer = AofWriter {
            shared: shared.clone(),
            workers: Vec::with_capacity(MAX_IN_FLIGHT),
            stage: BytesMut::new(),
            staged_since: None,
            applied: 0,
        };
        for i in 0..MAX_IN_FLIGHT {
            let (shared, file) = (shared.clone(), file.clone());
            let handle = std::thread::Builder::new()
                .name(format!("aof-writer-{i}"))
                .stack_size(WORKER_STACK)
                .spawn(move || worker::run(&shared, &file))
                // Dropping `writer` stops the threads already started.
                .map_err(|e| AofError::io("spawn aof writer thread for", path.clone(), e))?;
            writer.workers.push(handle);
        }
        Ok(writer)
    }

    /// Queues one command. Never blocks and never fails: a poisoned writer drops it
    /// (check [`writable`](Self::writable) before executing a write).
    pub fn append<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        if args.is_empty() {
            // `*0` is not a command: Redis (and our reader) refuse it in a file.
            return;
        }
        if self.shared.poisoned.load(Relaxed) {
            self.shared.stats.dropped.fetch_add(1, Relaxed);
            return;
        }
        if self.stage.is_empty() {
            self.staged_since = Some(Instant::now());
        }
        if self.stage.capacity() - self.stage.len() < STAGE_SPARE {
            // Room for a turn's appends at once: growing the buffer command by command
            // would copy it over and over.
            self.stage.reserve(STAGE_CHUNK);
        }
        self.applied += encode_command(&mut self.stage, args) as u64;
    }

    /// Offset just past the last appended command.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// How long the oldest command not yet handed over has waited.
    pub fn staged_for(&self) -> Option<Duration> {
        self.staged_since.map(|t| t.elapsed())
    }

    /// Hands everything appended to the writer threads, waking one if the gather rule now
    /// lets a batch go, or if someone must time the gather. Call when the loop goes idle.
    pub fn flush(&mut self) {
        if self.stage.is_empty() {
            return;
        }
        let data = self.stage.split();
        self.staged_since = None;
        let len = data.len() as u64;
        let mut g = self.shared.lock();
        let was_empty = g.segs.is_empty();
        match g.segs.back_mut() {
            // Contiguous with the previous hand-over (split from the same buffer), this
            // costs nothing; otherwise it copies this turn's bytes.
            Some(Seg::Data(back)) => back.unsplit(data),
            _ => g.segs.push_back(Seg::Data(data)),
        }
        g.seg_bytes += len;
        g.appended += len;
        let now = Instant::now();
        g.since.get_or_insert(now);
        if was_empty || matches!(self.shared.next(&g, now), Next::Write | Next::Sync) {
            self.shared.work.notify_one();
        }
    }

    /// A handle to await durability with; clone it per connection.
    pub fn durable(&self) -> DurableWait {
        DurableWait(self.shared.durable.clone())
    }

    /// The offset made durable so far.
    pub fn durable_offset(&self) -> u64 {
        self.shared.durable.offset()
    }

    pub fn state(&self) -> WriterState {
        match &self.shared.lock().poisoned {
            None => WriterState::Ok,
            Some(e) => WriterState::Poisoned(e.clone()),
        }
    }

    /// False once poisoned: the server replies `-MISCONF` to writes.
    pub fn writable(&self) -> bool {
        !self.shared.poisoned.load(Relaxed)
    }

    /// True when the process must exit with [`super::EXIT_AOF_FAILED`].
    pub fn must_exit(&self) -> bool {
        self.shared.policy() == AppendFsync::Always && !self.writable()
    }

    pub fn policy(&self) -> AppendFsync {
        self.shared.policy()
    }

    /// CONFIG SET appendfsync. Switching to `always` makes a writer thread sync what was
    /// written under the old policy, so waiters never see an unsynced offset.
    pub fn set_policy(&self, policy: AppendFsync) {
        self.shared.policy.store(policy as u8, Relaxed);
        let _guard = self.shared.lock();
        self.shared.work.notify_all();
    }

    pub fn stats(&self) -> &Arc<AofStats> {
        &self.shared.stats
    }

    /// Bytes appended but not yet handed to `write` (INFO's `aof_buffer_length`).
    pub fn pending_bytes(&self) -> usize {
        self.stage.len() + self.shared.lock().seg_bytes as usize
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
        self.flush();
        let (done, rx) = mpsc::channel();
        let mut g = self.shared.lock();
        g.segs.push_back(Seg::Switch {
            sink,
            clear_poison,
            done,
        });
        self.shared.work.notify_one();
        rx
    }

    /// Writes and syncs everything appended, then stops the writer threads.
    pub fn close(mut self) -> Result<(), AofError> {
        self.stop();
        match self.state() {
            WriterState::Ok => Ok(()),
            WriterState::Poisoned(e) => Err(AofError::Poisoned(e)),
        }
    }

    fn stop(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        self.flush();
        {
            let mut g = self.shared.lock();
            g.shutdown = true;
            self.shared.work.notify_all();
        }
        for h in self.workers.drain(..) {
            if h.join().is_err() {
                tracing::error!("AOF writer thread panicked");
            }
        }
    }
}

impl Drop for AofWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
pub(crate) mod tests;
