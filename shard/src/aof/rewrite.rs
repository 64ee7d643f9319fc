//! The file side of a rewrite (compaction), and of recovering a poisoned writer.
//!
//! Order, chosen so that every crash point leaves a manifest that loads the same data:
//! 1. start: create the next incr file, list it in the manifest (atomic swap), then switch
//!    appends to it. The old files plus the new incr still hold everything.
//! 2. the caller's serializer writes the keyspace as it was at the switch into a temp base;
//!    it is synced, then renamed to its final name.
//! 3. finish: a manifest listing the new base and the new incr (old files as history)
//!    replaces the old one: temp, fsync, rename, fsync folder.
//! 4. only then are the history files deleted, and the manifest rewritten without them.
//!
//! A failure before 3 deletes the temp base and leaves the manifest of step 1.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;

use super::dir::{delete_history, new_incr, Aof};
use super::error::AofError;
use super::manifest::{base_name, AofInfo, FileKind, Manifest};
use super::record::{encode_annotation, encode_command, BatchCrc};
use super::sink::AofSink;
use super::{sync_dir, TEMP_PREFIX};

/// Bytes the base writer buffers per `write`; each flush is one annotated batch, so the
/// loader never holds more than this waiting for a checksum.
const BASE_BATCH: usize = 1 << 20;
/// How long a reopen waits for the writer to switch files before giving up (the writer may
/// be stuck in a sync on a dead disk).
const SWITCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A rewrite in progress, from [`Aof::rewrite_start`]. Dropping it abandons the rewrite:
/// its temp file is removed and another rewrite may start.
#[derive(Debug)]
pub struct Rewrite {
    dir: PathBuf,
    base: AofInfo,
    temp: PathBuf,
    /// The incr file opened at the start; it and later ones stay incr.
    incr_seq: i64,
    base_done: bool,
    /// `bytes_written` of the writer at the start, to size the new incr file afterwards.
    written_at_start: u64,
    base_len: u64,
    in_progress: Arc<AtomicBool>,
}

impl Drop for Rewrite {
    fn drop(&mut self) {
        if self.temp.exists() {
            remove_temp(&self.temp);
        }
        self.in_progress.store(false, Ordering::Release);
    }
}

/// Where a serializer emits the commands that rebuild the keyspace.
pub struct BaseWriter {
    file: File,
    path: PathBuf,
    buf: BytesMut,
    crc: BatchCrc,
    pub commands: u64,
}

impl BaseWriter {
    /// Adds one command to the base.
    pub fn emit<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), AofError> {
        encode_command(&mut self.buf, args);
        self.commands += 1;
        if self.buf.len() >= BASE_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Adds `commands` commands already encoded as RESP (whole records only).
    pub fn emit_encoded(&mut self, resp: &[u8], commands: u64) -> Result<(), AofError> {
        self.buf.extend_from_slice(resp);
        self.commands += commands;
        if self.buf.len() >= BASE_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), AofError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.crc.update(&self.buf);
        encode_annotation(&mut self.buf, self.crc.crc);
        self.crc = BatchCrc::default();
        self.file
            .write_all(&self.buf)
            .map_err(|e| AofError::io("write", &self.path, e))?;
        self.buf.clear();
        Ok(())
    }
}

impl Rewrite {
    /// Writes the new base to its temp file with `serializer`, which emits the commands
    /// that rebuild the keyspace as of the start of the rewrite. May run off the event loop.
    pub fn write_base<F>(&mut self, serializer: F) -> Result<u64, AofError>
    where
        F: FnOnce(&mut BaseWriter) -> Result<(), AofError>,
    {
        let res = write_base_file(&self.temp, serializer);
        if res.is_err() {
            remove_temp(&self.temp);
        }
        let (n, len) = res?;
        self.base_done = true;
        self.base_len = len;
        Ok(n)
    }

    /// The base file this rewrite produces.
    pub fn base_name(&self) -> &str {
        &self.base.name
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Returns the number of commands and the file's length.
fn write_base_file<F>(temp: &Path, serializer: F) -> Result<(u64, u64), AofError>
where
    F: FnOnce(&mut BaseWriter) -> Result<(), AofError>,
{
    let file = File::create(temp).map_err(|e| AofError::io("create", temp, e))?;
    let mut w = BaseWriter {
        file,
        path: temp.to_path_buf(),
        buf: BytesMut::with_capacity(BASE_BATCH + 1024),
        crc: BatchCrc::default(),
        commands: 0,
    };
    serializer(&mut w)?;
    w.flush()?;
    // IMPORTANT: the base must be on disk before a manifest names it.
    w.file
        .sync_data()
        .map_err(|e| AofError::io("fsync", temp, e))?;
    let len = w
        .file
        .metadata()
        .map_err(|e| AofError::io("stat", temp, e))?
        .len();
    Ok((w.commands, len))
}

fn remove_temp(temp: &Path) {
    if let Err(e) = fs::remove_file(temp) {
        tracing::warn!(path = %temp.display(), error = %e, "could not remove temp base file");
    }
}

/// Moves the synced temp base to its final name, durably.
fn install_base(dir: &Path, temp: &Path, name: &str) -> Result<(), AofError> {
    fs::rename(temp, dir.join(name)).map_err(|e| AofError::io("rename", temp, e))?;
    // IMPORTANT: fsync folder, so the base exists under its name once the manifest says so.
    sync_dir(dir)
}

/// The manifest after a rewrite: the new base, incr files from `incr_seq` on, and every
/// other file as history.
fn swapped(old: &Manifest, base: AofInfo, incr_seq: i64) -> Manifest {
    let mut history = old.history.clone();
    let as_history = |i: &AofInfo| AofInfo {
        kind: FileKind::History,
        ..i.clone()
    };
    history.extend(old.base.iter().map(as_history));
    history.extend(old.incr.iter().filter(|i| i.seq < incr_seq).map(as_history));
    Manifest {
        base: Some(base),
        history,
        incr: old
            .incr
            .iter()
            .filter(|i| i.seq >= incr_seq)
            .cloned()
            .collect(),
    }
}

impl Aof {
    /// Starts a rewrite: appends go to a new incr file from now on. The caller must take
    /// its point-in-time view of the keyspace now, before applying another command.
    pub fn rewrite_start(&mut self) -> Result<Rewrite, AofError> {
        if !self.writable() {
            return Err(AofError::Rewrite(
                "the writer is poisoned; use reopen_and_rewrite".into(),
            ));
        }
        if self.rewriting.swap(true, Ordering::AcqRel) {
            return Err(AofError::Rewrite(
                "Background append only file rewriting already in progress".into(),
            ));
        }
        let rw = self.start_rewrite_files();
        if rw.is_err() {
            self.rewriting.store(false, Ordering::Release);
        }
        rw
    }

    fn start_rewrite_files(&mut self) -> Result<Rewrite, AofError> {
        let dir = self.dir().to_path_buf();
        let (info, sink) = new_incr(&dir, &self.manifest)?;
        let mut next = self.manifest.clone();
        let incr_seq = info.seq;
        next.incr.push(info);
        // IMPORTANT: the new incr is listed durably before anything is written to it.
        next.store(&dir)?;
        self.manifest = next;
        // The switch completes on a writer thread; nothing here needs to wait for it.
        drop(self.writer.switch_to(Box::new(sink), false));
        let seq = self.manifest.next_base_seq();
        let name = base_name(seq);
        Ok(Rewrite {
            temp: dir.join(format!("{TEMP_PREFIX}{name}")),
            dir,
            base: AofInfo {
                name,
                seq,
                kind: FileKind::Base,
            },
            incr_seq,
            base_done: false,
            written_at_start: self.stats().bytes_written.load(Ordering::Relaxed),
            base_len: 0,
            in_progress: self.rewriting.clone(),
        })
    }

    /// Completes a rewrite whose base has been written: swaps the manifest, then deletes
    /// the replaced files.
    pub fn rewrite_finish(&mut self, rw: Rewrite) -> Result<(), AofError> {
        if !rw.base_done {
            return Err(AofError::Rewrite("the base file was not written".into()));
        }
        install_base(&rw.dir, &rw.temp, &rw.base.name)?;
        let mut next = swapped(&self.manifest, rw.base.clone(), rw.incr_seq);
        next.store(&rw.dir)?;
        self.manifest = next.clone();
        let since = self
            .stats()
            .bytes_written
            .load(Ordering::Relaxed)
            .saturating_sub(rw.written_at_start);
        self.sizes.reset(
            rw.base_len,
            since,
            self.stats().bytes_written.load(Ordering::Relaxed),
        );
        delete_history(&rw.dir, &mut next)?;
        self.manifest = next;
        tracing::info!(base = %rw.base.name, "AOF rewrite complete");
        Ok(())
    }

    /// Abandons a rewrite; the manifest of its start stays valid. (Dropping it does the same.)
    pub fn rewrite_abort(&mut self, rw: Rewrite) {
        drop(rw);
    }

    /// True between `rewrite_start` and the end of that rewrite (INFO's
    /// `aof_rewrite_in_progress`).
    pub fn rewrite_in_progress(&self) -> bool {
        self.rewriting.load(Ordering::Acquire)
    }

    /// Recovers a poisoned writer (or a full disk): writes a new base from the keyspace, which
    /// already holds every applied command, and a new empty incr file, swaps the manifest, and
    /// only then lets appends resume. Runs on the calling thread; writes are refused (MISCONF)
    /// meanwhile, so the keyspace it serializes cannot change under it.
    pub fn reopen_and_rewrite<F>(&mut self, serializer: F) -> Result<(), AofError>
    where
        F: FnOnce(&mut BaseWriter) -> Result<(), AofError>,
    {
        if self.rewriting.swap(true, Ordering::AcqRel) {
            // Its base predates the lost writes; it must not be installed after this one.
            return Err(AofError::Rewrite(
                "a rewrite is in progress; abort it before reopening".into(),
            ));
        }
        let res = self.reopen_files(serializer);
        self.rewriting.store(false, Ordering::Release);
        res
    }

    fn reopen_files<F>(&mut self, serializer: F) -> Result<(), AofError>
    where
        F: FnOnce(&mut BaseWriter) -> Result<(), AofError>,
    {
        let dir = self.dir().to_path_buf();
        let (info, sink) = new_incr(&dir, &self.manifest)?;
        let base = AofInfo {
            name: base_name(self.manifest.next_base_seq()),
            seq: self.manifest.next_base_seq(),
            kind: FileKind::Base,
        };
        let temp = dir.join(format!("{TEMP_PREFIX}{}", base.name));
        let base_len = match write_base_file(&temp, serializer) {
            Ok((_, len)) => len,
            Err(e) => {
                remove_temp(&temp);
                remove_unlisted(&dir.join(&info.name));
                return Err(e);
            }
        };
        install_base(&dir, &temp, &base.name)?;
        let incr_seq = info.seq;
        let mut with_incr = self.manifest.clone();
        with_incr.incr.push(info);
        let mut next = swapped(&with_incr, base, incr_seq);
        next.store(&dir)?;
        self.manifest = next.clone();
        self.switch_and_clear(Box::new(sink))?;
        self.sizes.reset(
            base_len,
            0,
            self.stats().bytes_written.load(Ordering::Relaxed),
        );
        delete_history(&dir, &mut next)?;
        self.manifest = next;
        tracing::info!("AOF reopened on a new base and incr file; writes accepted again");
        Ok(())
    }

    fn switch_and_clear(&mut self, sink: Box<dyn AofSink>) -> Result<(), AofError> {
        let rx = self.writer.switch_to(sink, true);
        match rx.recv_timeout(SWITCH_TIMEOUT) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AofError::Rewrite(e)),
            Err(_) => Err(AofError::Rewrite(
                "the AOF writer did not switch files in time".into(),
            )),
        }
    }
}

/// Removes an incr file that was created but never listed.
fn remove_unlisted(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "could not remove unlisted incr file");
    }
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
