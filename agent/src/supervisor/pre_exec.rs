//! The agent's only `unsafe`: the code that runs in a forked child before it execs the
//! shard. It lives here alone so that every other module can stay `forbid(unsafe_code)`.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sys::signal::Signal;
use nix::unistd::{getppid, Pid};

/// Makes the kernel SIGKILL the child when the agent dies, so no shard outlives its agent
/// (and none keeps the AOF lock a restarted agent's shard needs).
///
/// The death signal fires when the *thread* that forked the child exits, not the process:
/// children must be spawned from the agent's main thread, which the supervisor's
/// single-threaded runtime guarantees.
pub fn die_with_parent(cmd: &mut Command) {
    let agent = nix::unistd::getpid();
    // SAFETY: the closure runs between fork and exec in the child, where only
    // async-signal-safe work is allowed. It calls prctl(2) and getppid(2), both plain
    // system calls that neither allocate nor take locks; nix's wrappers only convert
    // the result, and the errors returned are plain OS error codes (no allocation).
    // `agent` is a copied integer, so no parent memory is shared.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Some(Signal::SIGKILL)).map_err(io::Error::from)?;
            // The agent may have died between fork and prctl; then the death signal
            // would never come, so give up instead of running as an orphan.
            // ESRCH ("no such process"): the parent is gone. An OS error, because
            // building a custom one would allocate, which is not safe after fork.
            if getppid() != agent && agent != Pid::from_raw(1) {
                return Err(io::Error::from(nix::errno::Errno::ESRCH));
            }
            Ok(())
        });
    }
}
