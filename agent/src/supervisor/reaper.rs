//! Reaping children, PID-1 style: after each SIGCHLD, `waitpid(-1, WNOHANG)` until no
//! exited child is left, which also collects orphans re-parented to the agent (as PID 1,
//! or as a subreaper).

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How a child ended. `code` follows the shell: the exit status, or `128 + signal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub pid: Pid,
    pub code: i32,
    pub signal: Option<i32>,
}

impl Exit {
    pub fn from_status(status: WaitStatus) -> Option<Exit> {
        match status {
            WaitStatus::Exited(pid, code) => Some(Exit {
                pid,
                code,
                signal: None,
            }),
            WaitStatus::Signaled(pid, sig, _) => Some(Exit {
                pid,
                code: 128 + sig as i32,
                signal: Some(sig as i32),
            }),
            // Stops and continues are not exits; the child is still ours.
            _ => None,
        }
    }
}

/// Collects every child that has exited, without blocking.
pub fn reap_all() -> Vec<Exit> {
    let mut out = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => break,
            Ok(status) => out.extend(Exit::from_status(status)),
            Err(Errno::EINTR) => continue,
            // ECHILD: no children at all.
            Err(_) => break,
        }
    }
    out
}

/// When the agent is not PID 1, orphans of its shards (e.g. a helper a shard forked)
/// would go to the real init; as a subreaper they come to the agent instead.
pub fn become_subreaper() {
    if nix::unistd::getpid() == Pid::from_raw(1) {
        tracing::info!("running as PID 1: reaping all orphans");
        return;
    }
    match nix::sys::prctl::set_child_subreaper(true) {
        Ok(()) => tracing::debug!("registered as child subreaper"),
        Err(e) => tracing::warn!(error = %e, "PR_SET_CHILD_SUBREAPER failed; orphans go to init"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    #[test]
    fn signals_are_reported_as_128_plus_signal() {
        let pid = Pid::from_raw(42);
        let e = Exit::from_status(WaitStatus::Signaled(pid, Signal::SIGKILL, false)).unwrap();
        assert_eq!((e.code, e.signal), (137, Some(9)));
        let e = Exit::from_status(WaitStatus::Exited(pid, 70)).unwrap();
        assert_eq!((e.code, e.signal), (70, None));
        assert_eq!(Exit::from_status(WaitStatus::StillAlive), None);
    }
}
