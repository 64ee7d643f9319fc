//! The agent's lock on its data directory: an exclusive `flock` on `<data_dir>/agent.lock`,
//! held for the agent's life.
//!
//! Two agents on one directory would each start shards on the same AOF directories and
//! the same socket paths. Each shard's own lock refuses its twin, but only after the
//! second agent has already unlinked and re-created the first one's sockets, so its proxy
//! can no longer reach its shards. Locking before anything in the directory is touched
//! keeps the first agent untouched. The kernel drops the lock however the agent dies, so a
//! crash never blocks its restart.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

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
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io(&path, "open", e))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                // The pid only makes the message more useful; an unreadable one is left out.
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse().ok());
                return Err(LockError::Held {
                    dir: data_dir.to_path_buf(),
                    lock: path,
                    pid,
                });
            }
            Err((_, errno)) => return Err(io(&path, "flock", errno.into())),
        };
        let pid = format!("{}\n", std::process::id());
        lock.set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| lock.write_all(pid.as_bytes()))
            .map_err(|e| io(&path, "write pid to", e))?;
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
