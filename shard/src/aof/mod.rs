//! The shard's append-only file: Redis 7's multi-part layout in `DIR/appendonlydir/`, RESP
//! records with `#CRC:` batch annotations, group commit on a helper thread, and rewrite.
//!
//! # Layout
//! - [`manifest`]: `appendonly.aof.manifest`, parsed and checked as Redis 7.0 does; atomic
//!   replace.
//! - [`record`]: a command as a RESP multibulk; the `#CRC:` annotation.
//! - [`reader`]: one file as a stream of verified commands (1 MiB reads, zero copy).
//! - [`loader`]: recovery: the whole directory per manifest, torn-tail truncation, and
//!   `check`/`fix` for `shoal aof check|fix PATH`.
//! - [`writer`]: group commit: the event loop appends, the helper thread writes and syncs,
//!   a `watch` publishes the durable offset; poisoning.
//! - [`sink`]: the file the helper writes to, behind a trait so tests can inject slow or
//!   failing syncs.
//! - [`stats`]: counters for INFO and `/metrics`.
//! - [`dir`]: [`Aof`], the directory: exclusive lock, open/resume, new incr files.
//! - [`rewrite`]: the file side of a rewrite: new base, new incr, manifest swap.
//! - [`error`]: [`AofError`], [`Problem`], [`LoadError`].
//!
//! # Wiring (for the server)
//!
//! Start-up, on the shard's thread, before serving:
//! ```text
//! let dir = data_dir.join(aof::DIR_NAME);
//! let lock = aof::DirLock::acquire(&dir)?;                  // refuse a twin process
//! let report = aof::loader::load_dir(&dir, &LoadOptions::default(),
//!     |argv| execute_without_reply(argv),                   // replay, no AOF append
//!     |loaded, total| set_loading_perc(loaded, total))?;
//! let aof = aof::Aof::open(lock, &report, AppendFsync::Always)?;  // resumes the last incr
//! ```
//! Per command, on the event loop (never blocks):
//! - before a write command: `if !aof.writable() { reply -MISCONF }`;
//! - after applying it (when `dirty` moved): `aof.append(&argv)` — rewrite non-deterministic
//!   commands first (relative EXPIRE to PEXPIREAT, …), as Redis propagates them;
//! - note `let need = aof.applied()` after the command (reads too: under `always` a read
//!   must not show state that a crash could take back).
//!
//! After each batch of commands (end of a read event, before replies are flushed):
//! `aof.flush()` wakes the helper if it is idle; while it is syncing, appends accumulate and
//! go out together in the next single `write` + `fdatasync`.
//!
//! Replies under `always`: `aof.durable().wait(need).await` (a clone of the watch, held per
//! connection) resolves once `fdatasync` has covered `need`, or with an error once the writer is
//! poisoned: send `-ERR` (never `+OK`) and exit the process with [`EXIT_AOF_FAILED`]; the
//! supervisor restarts the shard and it replays. `aof.must_exit()` says the same to the cron.
//!
//! Under `everysec`/`no`, replies do not wait. A poisoned writer makes `writable()` false
//! (reply `-MISCONF`); the cron retries `aof.reopen_and_rewrite(serializer)` (new base from the
//! keyspace, new incr, manifest swap) until it succeeds, which clears the poison.
//!
//! Rewrite (`BGREWRITEAOF`, auto-rewrite): `let rw = aof.rewrite_start()?` switches appends to a
//! new incr file; the base is written from a point-in-time view of the keyspace taken at that
//! moment with `rw.write_base(serializer)` (may run off the loop); `aof.rewrite_finish(rw)`
//! swaps the manifest and deletes the replaced files.
//!
//! INFO/metrics: [`Aof::stats`] (fsyncs, write syscalls, bytes, fsync latency histogram,
//! `aof_delayed_fsync`, last write status).
//!
//! Shutdown: `aof.close()` syncs what was appended and joins the helper.

pub mod dir;
pub mod error;
pub mod loader;
pub mod manifest;
pub mod reader;
pub mod record;
pub mod rewrite;
pub mod sink;
pub mod stats;
pub mod writer;

#[cfg(test)]
pub(crate) mod testdir;

use std::fs::File;
use std::path::Path;

pub use dir::{Aof, DirLock};
pub use error::{AofError, LoadError, Problem};
pub use loader::{check, fix, load_dir, LoadOptions, LoadReport, Report};
pub use manifest::{AofInfo, FileKind, Manifest};
pub use rewrite::Rewrite;
pub use stats::AofStats;
pub use writer::{AofWriter, Durable, DurableWait, WriterState};

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
pub enum AppendFsync {
    /// A reply (to a read or a write) is sent only after every write applied before it has
    /// been `fdatasync`ed. No client ever sees state that a crash could take back. A failed
    /// write or sync ends the process.
    Always,
    /// Written as soon as the helper is free, synced at most once a second: a crash loses
    /// about the last 2 s. A failure refuses writes until a rewrite succeeds.
    Everysec,
    /// Written as soon as the helper is free, never synced by shoal: the OS decides when
    /// data reaches the disk. A failure refuses writes until a rewrite succeeds.
    No,
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
