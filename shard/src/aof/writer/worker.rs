//! A writer thread. When the gather rule says so, a free thread takes the writer's turn,
//! writes the batch with one `write`, and (under `always`) then syncs it itself: the
//! thread that wrote a batch is the one that waits for the disk, so no hand-off between
//! threads sits in a command's path. [`MAX_IN_FLIGHT`](super::super::syncs::MAX_IN_FLIGHT)
//! threads run, one per sync that may be in flight.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::super::record::{encode_annotation, BatchCrc};
use super::super::sink::AofSink;
use super::super::AppendFsync;
use super::shared::{Inner, Next, Seg, Shared, IDLE_POLL};

/// Redis's threshold for counting `aof_delayed_fsync`.
const DELAYED_FSYNC: Duration = Duration::from_secs(2);

/// The file being appended to; only the thread whose turn it is to write touches it.
pub(super) struct FileState {
    pub sink: Box<dyn AofSink>,
    /// Checksum state of the bytes since the file's last annotation.
    pub crc: BatchCrc,
}

pub(super) fn run(shared: &Shared, file: &Mutex<FileState>) {
    let mut g = shared.lock();
    loop {
        shared.stats.helper_wakeups.fetch_add(1, Relaxed);
        g = match shared.next(&g, Instant::now()) {
            Next::Exit => {
                g.stop = true;
                shared.work.notify_all();
                return;
            }
            Next::Write => write(shared, file, g),
            Next::Sync => {
                g.last_sync = Instant::now();
                let upto = g.written;
                sync(shared, g, upto)
            }
            Next::Wait(Some(t)) => shared.wait(g, Some(t.min(IDLE_POLL))),
            Next::Wait(None) if !g.idle_poller => {
                g.idle_poller = true;
                let mut g = shared.wait(g, Some(IDLE_POLL));
                g.idle_poller = false;
                g
            }
            Next::Wait(None) => shared.wait(g, None),
        };
    }
}

fn lock_file(file: &Mutex<FileState>) -> MutexGuard<'_, FileState> {
    // Only the writing thread holds it; a panic there left the sink as usable as any.
    file.lock().unwrap_or_else(|p| p.into_inner())
}

/// The writer's turn: everything handed over goes out, one `write` per batch (file
/// switches split it), and under `always` this thread then syncs it.
fn write<'a>(
    shared: &'a Shared,
    file: &Mutex<FileState>,
    mut g: MutexGuard<'a, Inner>,
) -> MutexGuard<'a, Inner> {
    g.writing = true;
    let segs = std::mem::take(&mut g.segs);
    g.seg_bytes = 0;
    g.since = None;
    let mut end = g.written;
    drop(g);
    {
        let mut f = lock_file(file);
        for seg in segs {
            match seg {
                Seg::Data(buf) => {
                    // Offsets advance even for a dropped batch, so they stay in step with
                    // what the loop appended.
                    end += buf.len() as u64;
                    if !shared.poisoned.load(Relaxed) {
                        f.write_batch(shared, buf);
                    }
                }
                Seg::Switch {
                    sink,
                    clear_poison,
                    done,
                } => {
                    let mut g = shared.lock();
                    g.written = end;
                    drop(switch(shared, &mut f, g, sink, clear_poison, done));
                }
            }
        }
    }
    let mut g = shared.lock();
    g.written = end;
    g.writing = false;
    if !g.segs.is_empty() {
        // More arrived while this thread wrote; another one takes it from here.
        shared.work.notify_one();
    }
    if g.poisoned.is_some() {
        return g;
    }
    match shared.policy() {
        AppendFsync::Always if end > g.syncs.started() => sync(shared, g, end),
        AppendFsync::No => {
            shared.durable.publish(end);
            g
        }
        _ => g,
    }
}

/// Syncs the current file up to `upto` (already written) on this thread, then publishes
/// what is durable, in the order the syncs started.
fn sync<'a>(shared: &'a Shared, mut g: MutexGuard<'a, Inner>, upto: u64) -> MutexGuard<'a, Inner> {
    let Some((syncer, path)) = g.syncs.begin(upto) else {
        return g;
    };
    let batches_before = shared.stats.batches.load(Relaxed);
    drop(g);
    let start = Instant::now();
    let res = syncer.sync_data();
    let took = start.elapsed();
    shared.stats.record_fsync(took);
    let mut g = shared.lock();
    g.sync_estimate = (g.sync_estimate * 7 + took) / 8;
    let durable = match res {
        Ok(()) => {
            // Redis counts a write that waited over 2 s for an fsync in progress. Writes do
            // not wait for syncs here, so count a slow sync that writes came in behind.
            let behind = shared.stats.batches.load(Relaxed) > batches_before;
            if took > DELAYED_FSYNC && (behind || !g.segs.is_empty()) {
                shared.stats.delayed_fsync.fetch_add(1, Relaxed);
            }
            g.syncs.succeeded(upto)
        }
        Err(e) => {
            g.syncs.failed();
            shared.poison(&mut g, format!("fdatasync {}: {e}", path.display()));
            None
        }
    };
    if g.writing {
        // The writing thread may be waiting for the syncs on its old file to finish.
        shared.work.notify_all();
    }
    match durable {
        Some(offset) => {
            // Published without the lock: waking the waiters must not hold up the loop's
            // next hand-over.
            drop(g);
            shared.durable.publish(offset);
            shared.lock()
        }
        None => g,
    }
}

/// Makes later data go to `sink`, once every byte of the current file is on disk.
fn switch<'a>(
    shared: &'a Shared,
    f: &mut FileState,
    mut g: MutexGuard<'a, Inner>,
    sink: Box<dyn AofSink>,
    clear_poison: bool,
    done: mpsc::Sender<Result<(), String>>,
) -> MutexGuard<'a, Inner> {
    // IMPORTANT: the old file stops receiving writes, so it must be complete on disk first.
    while g.syncs.running() > 0 {
        g = shared.wait(g, Some(IDLE_POLL));
    }
    if g.poisoned.is_none() && g.written > g.syncs.started() {
        let upto = g.written;
        g = sync(shared, g, upto);
    }
    if let (Some(e), false) = (&g.poisoned, clear_poison) {
        // Nobody may be waiting any more; the loop learns of it through `state()`.
        let _ = done.send(Err(e.clone()));
        return g;
    }
    g.syncs.set_file(sink.syncer(), sink.path().to_path_buf());
    f.sink = sink;
    f.crc = BatchCrc::default();
    if clear_poison {
        g.poisoned = None;
        shared.poisoned.store(false, Relaxed);
        shared.stats.last_write_ok.store(true, Relaxed);
        shared.durable.recover(g.written);
    }
    // The requester may have given up waiting; the switch stands either way.
    let _ = done.send(Ok(()));
    g
}

impl FileState {
    /// One `write` of the batch plus its annotation (more only if the kernel writes
    /// short). A failure poisons the writer.
    fn write_batch(&mut self, shared: &Shared, mut buf: BytesMut) {
        self.crc.update(&buf);
        encode_annotation(&mut buf, self.crc.crc);
        self.crc = BatchCrc::default();
        let stats = &shared.stats;
        let mut off = 0;
        while off < buf.len() {
            let err = match self.sink.write(&buf[off..]) {
                Ok(0) => std::io::Error::new(std::io::ErrorKind::WriteZero, "wrote 0 bytes"),
                Ok(n) => {
                    stats.write_syscalls.fetch_add(1, Relaxed);
                    stats.bytes_written.fetch_add(n as u64, Relaxed);
                    off += n;
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    stats.write_syscalls.fetch_add(1, Relaxed);
                    e
                }
            };
            let msg = format!("write {}: {err}", self.sink.path().display());
            shared.poison(&mut shared.lock(), msg);
            return;
        }
        stats.batches.fetch_add(1, Relaxed);
    }
}
