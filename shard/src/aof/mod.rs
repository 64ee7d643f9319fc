//! The shard's append-only file: Redis 7's multi-part layout in `DIR/appendonlydir/`, RESP
//! records with `#CRC:` batch annotations, group commit on writer threads, and rewrite.
//!
//! # Layout
//! - [`manifest`]: `appendonly.aof.manifest`, parsed and checked as Redis 7.0 does; atomic
//!   replace.
//! - [`record`]: a command as a RESP multibulk; the `#CRC:` annotation.
//! - [`reader`]: one file as a stream of verified commands (1 MiB reads, zero copy).
//! - [`loader`]: recovery: the whole directory per manifest, torn-tail truncation, and
//!   `check`/`fix` for `shoal aof check|fix PATH`.
//! - [`writer`]: group commit: the event loop appends, writer threads write and sync,
//!   a `watch` publishes the durable offset; poisoning.
//! - [`durable`]: the durable-offset watch a reply waits on, and the writer's health.
//! - [`sink`]: the file the writer threads write to, behind a trait so tests can inject slow or
//!   failing syncs.
//! - [`stats`]: counters for INFO and `/metrics`.
//! - [`dir`]: [`Aof`], the directory: exclusive lock, open/resume, new incr files.
//! - [`rewrite`]: the file side of a rewrite: new base, new incr, manifest swap.
//! - [`error`]: [`AofError`], [`Problem`], [`LoadError`].
//!
//! # Wiring (for the server)
//!
//! Start-up, on the shard's thread, before serving (lock first, so a twin never replays a
//! directory another process is still writing):
//! ```text
//! let dir = data_dir.join(aof::DIR_NAME);
//! let lock = aof::DirLock::acquire(&dir)?;          // Err(Locked{pid}) → refuse to start
//! let report = aof::load_dir(&dir, &LoadOptions { load_truncated, truncate_corrupt: false },
//!     |argv| replay(argv),                          // execute with no reply and no append
//!     |loaded, total| loading_progress(loaded, total))?;   // INFO loading_loaded_perc
//! let mut aof = aof::Aof::open(lock, &report, AppendFsync::Always)?;  // resumes the last incr
//! ```
//! `load_dir` errors name the file and byte offset; print them and exit (EX_CONFIG-like).
//!
//! Per command, on the event loop (never blocks on the disk):
//! - before a write command: `if !aof.writable()` reply `-MISCONF …` (reads still served);
//! - after applying it, when it changed the dataset (`dirty` moved): `aof.append(&argv)`,
//!   with non-deterministic commands rewritten first as Redis propagates them (relative
//!   EXPIRE → PEXPIREAT, SPOP → SREM, …), and lazy-expiry deletions as `DEL`;
//! - remember `let need = aof.applied()` for that command's reply, for reads too: under
//!   `always` a read must not show state that a crash could take back.
//!
//! When the loop goes idle (every ready connection has run, as at the end of a Redis
//! event-loop turn): `aof.flush()`. It hands the turn's appends to the writer threads, which
//! write them with one `write` and sync them with one `fdatasync` when the gather rule lets
//! them go; appends made while syncs are in flight go out together (group commit).
//!
//! Replies under `always`: hold a `DurableWait` per connection (`aof.durable()`, cloneable)
//! and `wait(need).await` before writing the replies of the batch. `Err` means the writer is
//! poisoned: reply `-ERR` (never `+OK`) to every waiting command and exit the process with
//! [`EXIT_AOF_FAILED`]; the supervisor restarts the shard and it replays. The cron can also
//! poll `aof.must_exit()`. Offsets are bytes of commands appended by this process, not file
//! offsets.
//!
//! Under `everysec`/`no`, replies do not wait. A poisoned writer (failed write or sync,
//! ENOSPC) makes `writable()` false; the cron retries `aof.reopen_and_rewrite(|w| emit the
//! keyspace with w.emit(&argv))` until it succeeds, which writes a new base and a new incr
//! file, swaps the manifest and clears the poison. It runs on the loop thread, which is what
//! makes its view of the keyspace point-in-time.
//!
//! Rewrite (`BGREWRITEAOF`, `auto-aof-rewrite-percentage`/`-min-size` against
//! [`Aof::base_size`]/[`Aof::current_size`]): `let rw = aof.rewrite_start()?` switches
//! appends to a new incr file, so the base must be a point-in-time view of the keyspace taken
//! right then; `rw.write_base(serializer)` writes it (may run off the loop: `Rewrite` is
//! `Send`); `aof.rewrite_finish(rw)` swaps the manifest and deletes the replaced files.
//! Dropping `rw` (or `rewrite_abort`) abandons it; the manifest stays loadable. One rewrite at
//! a time (`rewrite_in_progress()`).
//!
//! `CONFIG SET appendfsync`: `aof.set_policy(..)`. INFO and `/metrics`: [`Aof::stats`]
//! (fsyncs, write syscalls, bytes, batches, fsync latency histogram, `aof_delayed_fsync`,
//! `aof_last_write_status`), `pending_bytes()` (`aof_buffer_length`), `state()`.
//!
//! Shutdown: `aof.close()` writes and syncs everything appended, then joins the writer threads.
//!
//! `shoal aof check|fix PATH` (PATH: the appendonlydir, its manifest, or one `.aof` file):
//! [`check`] / [`fix`] with a `(done, total)` progress callback; [`Report`] displays as one
//! line.

pub mod dir;
pub mod durable;
pub mod error;
pub mod loader;
pub mod manifest;
pub mod reader;
pub mod record;
pub mod rewrite;
pub mod sink;
pub mod stats;
pub mod syncs;
pub mod writer;

#[cfg(test)]
pub(crate) mod testdir;

use std::fs::File;
use std::path::Path;

pub use dir::{Aof, DirLock};
pub use durable::{Durable, DurableWait, WriterState};
pub use error::{AofError, LoadError, Problem};
pub use loader::{check, fix, load_dir, LoadOptions, LoadReport, Report};
pub use manifest::{AofInfo, FileKind, Manifest};
pub use rewrite::Rewrite;
pub use stats::AofStats;
pub use writer::AofWriter;

/// Folder of the AOF inside a shard's data directory.
pub const DIR_NAME: &str = "appendonlydir";
/// `appendfilename`: the stem of every file name.
pub const BASE_NAME: &str = "appendonly.aof";
/// The manifest's file name.
pub const MANIFEST_NAME: &str = "appendonly.aof.manifest";
/// Prefix of files that are not yet part of the AOF.
pub const TEMP_PREFIX: &str = "temp-";

/// Exit code of a shard whose AOF failed under `appendfsync always`: the supervisor tells it
/// from a crash (it restarts it either way) and logs that the disk failed. 75 is `EX_TEMPFAIL`:
/// a restart may well succeed once the volume is back.
pub const EXIT_AOF_FAILED: i32 = 75;

/// `appendfsync`: what a reply promises about the commands before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AppendFsync {
    /// A reply (to a read or a write) is sent only after every write applied before it has
    /// been `fdatasync`ed. No client ever sees state that a crash could take back. A failed
    /// write or sync ends the process.
    Always = 0,
    /// Written at once, synced at most once a second: a crash loses
    /// about the last 2 s. A failure refuses writes until a rewrite succeeds.
    Everysec = 1,
    /// Written at once, never synced by shoal: the OS decides when
    /// data reaches the disk. A failure refuses writes until a rewrite succeeds.
    No = 2,
}

impl AppendFsync {
    /// Parses the `appendfsync` config value.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(AppendFsync::Always),
            "everysec" => Some(AppendFsync::Everysec),
            "no" => Some(AppendFsync::No),
            _ => None,
        }
    }
}

/// Makes the entries of `dir` (creations, renames, deletions) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AofError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AofError::io("fsync dir", dir, e))
}
