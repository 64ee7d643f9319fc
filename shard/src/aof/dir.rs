//! The appendonlydir as a whole: the exclusive lock that makes one process its only writer,
//! and [`Aof`], which ties the manifest to the group-commit writer.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::fcntl::Flock;

use super::durable::{DurableWait, WriterState};
use super::error::AofError;
use super::loader::LoadReport;
use super::manifest::{incr_name, AofInfo, FileKind, Manifest};
use super::record::BatchCrc;
use super::sink::FileSink;
use super::stats::AofStats;
use super::writer::AofWriter;
use super::{sync_dir, AppendFsync};

/// Name of the lock file inside the appendonlydir (Redis ignores files it does not list).
pub const LOCK_NAME: &str = "shoal.lock";

/// An exclusive `flock` on an appendonlydir, held for the life of the process. The kernel
/// drops it when the process dies, however it dies, so a crashed shard never blocks its
/// restart; a second live process (a force-deleted pod's twin on the same volume) is refused.
pub struct DirLock {
    dir: PathBuf,
    _lock: Flock<File>,
}

impl DirLock {
    /// Creates `dir` if needed and locks it.
    pub fn acquire(dir: &Path) -> Result<DirLock, AofError> {
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(|e| AofError::io("create dir", dir, e))?;
            // IMPORTANT: fsync folder: the new directory's entry must survive a crash
            // before files inside it are relied on.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let lock = crate::pidlock::lock(&dir.join(LOCK_NAME)).map_err(|e| match e {
            crate::pidlock::PidLockError::Held { pid, .. } => AofError::Locked {
                path: dir.to_path_buf(),
                pid,
            },
            crate::pidlock::PidLockError::Io { op, path, source } => {
                AofError::io(op, &path, source)
            }
        })?;
        Ok(DirLock {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A shard's open AOF: the locked directory, its manifest and the writer.
pub struct Aof {
    pub(crate) lock: DirLock,
    pub(crate) manifest: Manifest,
    pub(crate) writer: AofWriter,
    pub(crate) rewriting: Arc<AtomicBool>,
    pub(crate) sizes: Sizes,
}

/// File sizes for INFO (`aof_base_size`, `aof_current_size`) and the auto-rewrite trigger,
/// kept from counters rather than `stat` calls on every cron tick.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Sizes {
    base: u64,
    /// Bytes of the listed files when the counters were last reset.
    at_mark: u64,
    /// The writer's `bytes_written` at that moment.
    written_at_mark: u64,
}

impl Sizes {
    pub(crate) fn reset(&mut self, base: u64, incr: u64, written_now: u64) {
        *self = Sizes {
            base,
            at_mark: base + incr,
            written_at_mark: written_now,
        };
    }
}

impl Aof {
    /// Opens the AOF for appending after [`load_dir`](super::load_dir): keeps appending to
    /// the last incr file, or starts a new one (recorded in the manifest before any write
    /// goes to it).
    pub fn open(lock: DirLock, report: &LoadReport, policy: AppendFsync) -> Result<Aof, AofError> {
        let dir = lock.dir().to_path_buf();
        let mut manifest = report.manifest.clone();
        let (sink, resume) = match &report.tail {
            Some(tail) => {
                let path = dir.join(&tail.name);
                let file = OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|e| AofError::io("open for append", &path, e))?;
                (FileSink::new(file, path), tail.crc)
            }
            None => {
                let (info, sink) = new_incr(&dir, &manifest)?;
                manifest.incr.push(info);
                manifest.store(&dir)?;
                (sink, BatchCrc::default())
            }
        };
        remove_temp_files(&dir);
        // History left by a rewrite that finished its swap but not its cleanup.
        delete_history(&dir, &mut manifest)?;
        let size_of = |info: &AofInfo| fs::metadata(dir.join(&info.name)).map_or(0, |m| m.len());
        let base = manifest.base.as_ref().map_or(0, size_of);
        let incr = manifest.incr.iter().map(size_of).sum();
        let writer = AofWriter::start(Box::new(sink), policy, resume)?;
        let mut sizes = Sizes::default();
        sizes.reset(base, incr, 0);
        Ok(Aof {
            lock,
            manifest,
            writer,
            rewriting: Arc::new(AtomicBool::new(false)),
            sizes,
        })
    }

    /// Size of the base file (`aof_base_size`).
    pub fn base_size(&self) -> u64 {
        self.sizes.base
    }

    /// Size of the base and incr files, including what the writer threads have written since
    /// (`aof_current_size`).
    pub fn current_size(&self) -> u64 {
        let written = self.stats().bytes_written.load(Ordering::Relaxed);
        self.sizes.at_mark + written.saturating_sub(self.sizes.written_at_mark)
    }

    /// Queues a command that was applied (see [`AofWriter::append`]). `args` must not be
    /// empty.
    pub fn append<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        self.writer.append(args)
    }

    /// Offset just past the last appended command: what a reply must wait for under
    /// `always`.
    pub fn applied(&self) -> u64 {
        self.writer.applied()
    }

    /// Hands what was appended to the writer threads; call when the loop goes idle.
    pub fn flush(&mut self) {
        self.writer.flush()
    }

    /// How long the oldest command not yet handed over has waited.
    pub fn staged_for(&self) -> Option<std::time::Duration> {
        self.writer.staged_for()
    }

    pub fn durable(&self) -> DurableWait {
        self.writer.durable()
    }

    /// The offset the writer has made durable so far.
    pub fn durable_offset(&self) -> u64 {
        self.writer.durable_offset()
    }

    pub fn writable(&self) -> bool {
        self.writer.writable()
    }

    pub fn must_exit(&self) -> bool {
        self.writer.must_exit()
    }

    pub fn state(&self) -> WriterState {
        self.writer.state()
    }

    pub fn stats(&self) -> &Arc<AofStats> {
        self.writer.stats()
    }

    pub fn pending_bytes(&self) -> usize {
        self.writer.pending_bytes()
    }

    pub fn policy(&self) -> AppendFsync {
        self.writer.policy()
    }

    /// CONFIG SET appendfsync.
    pub fn set_policy(&self, policy: AppendFsync) {
        self.writer.set_policy(policy)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        self.lock.dir()
    }

    /// Syncs everything appended and stops the writer threads; the lock is released.
    pub fn close(self) -> Result<(), AofError> {
        self.writer.close()
    }
}

/// Removes `temp-*` files left by a rewrite or manifest swap that a crash interrupted; no
/// manifest names them, so they hold nothing that was acknowledged.
fn remove_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(super::TEMP_PREFIX)
        {
            if let Err(e) = fs::remove_file(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "could not remove temp file");
            }
        }
    }
}

/// Creates the next incr file (empty, its directory entry durable) without listing it yet.
pub(crate) fn new_incr(dir: &Path, manifest: &Manifest) -> Result<(AofInfo, FileSink), AofError> {
    let seq = manifest.next_incr_seq();
    let name = incr_name(seq);
    let path = dir.join(&name);
    // A file by this name that the manifest does not list is a leftover of a start-up that
    // crashed before storing the manifest: nothing in it was ever acknowledged.
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| AofError::io("create", &path, e))?;
    file.set_len(0)
        .map_err(|e| AofError::io("truncate", &path, e))?;
    // IMPORTANT: fsync folder, so the file exists after a crash once the manifest names it.
    sync_dir(dir)?;
    let info = AofInfo {
        name,
        seq,
        kind: FileKind::Incr,
    };
    Ok((info, FileSink::new(file, path)))
}

/// Deletes the history files, then lists them no more. Deleting only after the manifest that
/// made them history is durable means a crash never leaves a manifest naming a deleted file.
pub(crate) fn delete_history(dir: &Path, manifest: &mut Manifest) -> Result<(), AofError> {
    if manifest.history.is_empty() {
        return Ok(());
    }
    for h in &manifest.history {
        let path = dir.join(&h.name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(AofError::io("delete history file", path, e)),
        }
    }
    sync_dir(dir)?;
    manifest.history.clear();
    manifest.store(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::testdir::TestDir;

    #[test]
    fn second_lock_is_refused_with_the_holders_pid() {
        let t = TestDir::new("lock");
        let dir = t.path().join("appendonlydir");
        let first = DirLock::acquire(&dir).unwrap();
        match DirLock::acquire(&dir) {
            Err(e @ AofError::Locked { pid, .. }) => {
                assert_eq!(pid, Some(std::process::id()));
                let msg = e.to_string();
                assert!(msg.contains("is locked by another process"), "{msg}");
                assert!(msg.contains("appendonlydir"), "{msg}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        drop(first);
        DirLock::acquire(&dir).unwrap();
    }

    #[test]
    fn open_starts_an_incr_file_and_lists_it() {
        let t = TestDir::new("open");
        let dir = t.path().join("appendonlydir");
        let lock = DirLock::acquire(&dir).unwrap();
        fs::write(dir.join("old.aof"), b"").unwrap();
        let report = LoadReport {
            manifest: Manifest {
                history: vec![AofInfo {
                    name: "old.aof".into(),
                    seq: 1,
                    kind: FileKind::History,
                }],
                ..Manifest::default()
            },
            ..LoadReport::default()
        };
        let mut aof = Aof::open(lock, &report, AppendFsync::Always).unwrap();
        assert!(!dir.join("old.aof").exists(), "history is deleted at open");
        assert!(aof.manifest().history.is_empty());
        aof.append(&["SET", "k", "v"]);
        aof.close().unwrap();
        let m = Manifest::load(&dir).unwrap().unwrap();
        assert_eq!(m.incr.len(), 1);
        assert_eq!(m.incr[0].name, "appendonly.aof.1.incr.aof");
        let text = fs::read_to_string(dir.join(&m.incr[0].name)).unwrap();
        assert!(text.starts_with("*3\r\n$3\r\nSET\r\n"), "{text}");
    }
}
