//! The agent's lock on its data directory: an exclusive `flock` on `<data_dir>/agent.lock`,
//! held for the agent's life.
//!
//! Two agents on one directory would each start shards on the same AOF directories and
//! the same socket paths. Each shard's own lock refuses its twin, but only after the
//! second agent has already unlinked and re-created the first one's sockets, so its proxy
//! can no longer reach its shards. Locking before anything in the directory is touched
//! keeps the first agent untouched. The kernel drops the lock however the agent dies, so a
//! crash never blocks its restart.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;

pub const LOCK_NAME: &str = "agent.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "data dir {dir} is in use by another shoal agent{}: {lock} is locked; \
         stop that agent or choose another data_dir",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Held {
        dir: PathBuf,
        lock: PathBuf,
        pid: Option<u32>,
    },
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
}

/// Held while the agent runs; dropping it (or the process ending) releases the directory.
pub struct AgentLock {
    _lock: Flock<File>,
}

impl AgentLock {
    /// Creates `data_dir` if needed and locks it, or says which agent holds it.
    pub fn acquire(data_dir: &Path) -> Result<AgentLock, LockError> {
        let io = |path: &Path, op, source| LockError::Io {
            path: path.to_path_buf(),
            op,
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| io(data_dir, "create", e))?;
        let path = data_dir.join(LOCK_NAME);
        let lock = shoal_shard::pidlock::lock(&path).map_err(|e| match e {
            shoal_shard::pidlock::PidLockError::Held { path, pid } => LockError::Held {
                dir: data_dir.to_path_buf(),
                lock: path,
                pid,
            },
            shoal_shard::pidlock::PidLockError::Io { op, path, source } => {
                LockError::Io { path, op, source }
            }
        })?;
        Ok(AgentLock { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused() {
        let dir = std::env::temp_dir().join(format!("shoal-agent-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = AgentLock::acquire(&dir).unwrap();
        let err = AgentLock::acquire(&dir).err().unwrap();
        let text = err.to_string();
        assert!(text.contains(&dir.display().to_string()), "{text}");
        assert!(text.contains("agent.lock"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        assert!(AgentLock::acquire(&dir).is_ok(), "released on drop");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
