//! An exclusive, non-blocking `flock` on a lock file that names its holder's pid: the
//! one-writer rule of a shard's appendonlydir and of an agent's data directory.
//!
//! The kernel drops the lock when the process dies, however it dies, so a crash never
//! blocks a restart, while a second live process is refused at once and told who holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

#[derive(Debug, thiserror::Error)]
pub enum PidLockError {
    /// Another live process holds the lock; `pid` is what it wrote, if readable.
    #[error("{path} is locked{}", pid.map(|p| format!(" by pid {p}")).unwrap_or_default())]
    Held { path: PathBuf, pid: Option<u32> },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Locks `path` (creating it) and writes this process's pid into it. Hold the returned
/// lock for as long as the directory is yours.
pub fn lock(path: &Path) -> Result<Flock<File>, PidLockError> {
    let io = |op, source| PidLockError::Io {
        op,
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| io("open lock file", e))?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            // The pid only makes the message more useful; an unreadable one is left out.
            let pid = file
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.trim().parse().ok());
            return Err(PidLockError::Held {
                path: path.to_path_buf(),
                pid,
            });
        }
        Err((_, errno)) => return Err(io("flock", errno.into())),
    };
    let pid = format!("{}\n", std::process::id());
    lock.set_len(0)
        .and_then(|()| lock.rewind())
        .and_then(|()| lock.write_all(pid.as_bytes()))
        .map_err(|e| io("write pid to", e))?;
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("shoal-pidlock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.lock");
        let first = lock(&path).unwrap();
        match lock(&path) {
            Err(PidLockError::Held { path: p, pid }) => {
                assert_eq!(p, path);
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        assert!(lock(&path).is_ok(), "released on drop");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
