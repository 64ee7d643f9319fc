//! Errors of the append-only file, each naming the file (and offset) it is about, so the log
//! line alone tells an operator what to run (`shoal aof check PATH`).

use std::io;
use std::path::PathBuf;

/// Why a file's contents cannot be trusted past a point. Offsets are bytes from the start of
/// the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// End of file in the middle of a record: a write that a crash cut short.
    #[error("unexpected end of file in the record that starts at byte {offset}")]
    TornTail { offset: u64 },
    /// The batch that starts at `offset` does not match the `#CRC:` line at `annotation`.
    #[error(
        "CRC mismatch: the batch at bytes {offset}..{annotation} has crc32c {actual:08x}, \
         its annotation says {expected:08x}"
    )]
    CrcMismatch {
        offset: u64,
        annotation: u64,
        expected: u32,
        actual: u32,
    },
    /// Bytes that are not a RESP command or an annotation where a record should start, or a
    /// record that does not parse.
    #[error("bad format at byte {offset}: {reason}")]
    Garbage { offset: u64, reason: String },
    /// A base file in RDB format (`aof-use-rdb-preamble`): shoal writes and reads RESP only.
    #[error("file starts with an RDB preamble, which shoal cannot load")]
    RdbPreamble,
}

impl Problem {
    /// Byte offset the problem was found at.
    pub fn offset(&self) -> u64 {
        match self {
            Problem::TornTail { offset }
            | Problem::CrcMismatch { offset, .. }
            | Problem::Garbage { offset, .. } => *offset,
            Problem::RdbPreamble => 0,
        }
    }
}

/// Errors of the AOF engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AofError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("AOF manifest {path}, line {line} '{text}': {msg}")]
    Manifest {
        path: PathBuf,
        /// 1-based; 0 when the error is not about one line (e.g. an empty manifest).
        line: usize,
        text: String,
        msg: &'static str,
    },
    #[error("The AOF file {path} doesn't exist (it is listed in the manifest)")]
    Missing { path: PathBuf },
    #[error("AOF file {path}: {problem} (run `shoal aof check {path}`; `shoal aof fix` truncates there)")]
    Corrupt { path: PathBuf, problem: Problem },
    #[error("AOF file {path} is truncated at byte {offset} but it is not the last file")]
    TruncatedNotLast { path: PathBuf, offset: u64 },
    #[error("appendonlydir {path} is locked by another process{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { path: PathBuf, pid: Option<u32> },
    #[error("the AOF writer is poisoned by an earlier failure: {0}")]
    Poisoned(String),
    #[error("cannot fix {path}: {reason}")]
    CannotFix { path: PathBuf, reason: String },
    #[error("rewrite: {0}")]
    Rewrite(String),
}

impl AofError {
    /// Wraps an I/O error with the operation and path, and logs it once here so no caller
    /// can drop it silently.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        tracing::warn!(op, path = %path.display(), error = %source, "aof i/o error");
        AofError::Io { op, path, source }
    }

    /// True for ENOSPC, which clears once space is freed (a rewrite can then succeed).
    pub fn is_no_space(&self) -> bool {
        matches!(self, AofError::Io { source, .. } if source.raw_os_error() == Some(nix::libc::ENOSPC))
    }
}

/// A load failure: either the AOF itself, or the caller's command closure refused a command.
#[derive(Debug, thiserror::Error)]
pub enum LoadError<E> {
    #[error(transparent)]
    Aof(#[from] AofError),
    #[error("AOF file {path}, command at byte {offset}: {source}")]
    Command {
        path: PathBuf,
        offset: u64,
        source: E,
    },
}
