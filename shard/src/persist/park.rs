//! Appends go to the AOF writer when the event loop goes idle.
//!
//! The runtime calls [`on_park`] just before it waits for events: every connection that was
//! ready has run, as at the end of a Redis event-loop turn, so the turn's writes reach the
//! writer together and can share one `write` + `fdatasync`. Handing them over at the first
//! connection's reply instead would start a sync on a batch of one while the rest of the
//! turn queued behind it.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::aof::Aof;
use crate::state::Server;

/// Longest an append waits for the loop to go idle. A loop that never parks (every turn
/// finds more ready connections) still hands its writes over this often; the writer
/// threads do their own gathering, so a short bound costs little.
const MAX_STAGE: Duration = Duration::from_micros(200);

thread_local! {
    /// The server whose AOF [`on_park`] flushes; set on the loop thread.
    static SERVER: RefCell<Option<Weak<RefCell<Server>>>> = const { RefCell::new(None) };
}

/// Makes this thread's runtime hand `srv`'s appends over when it parks; call on the loop
/// thread, whose runtime calls [`on_park`].
pub fn install(srv: &Rc<RefCell<Server>>) {
    SERVER.with(|s| *s.borrow_mut() = Some(Rc::downgrade(srv)));
}

/// The runtime is about to wait for events.
pub fn on_park() {
    let Some(srv) = SERVER.with(|s| s.borrow().as_ref().and_then(Weak::upgrade)) else {
        return;
    };
    // No task runs while the runtime parks, so nothing holds the borrow; `try_` only
    // guards against a runtime that parks from inside a task.
    let Ok(mut srv) = srv.try_borrow_mut() else {
        return;
    };
    if let Some(aof) = srv.persist.aof.as_mut() {
        aof.flush();
    }
}

/// Hands the appends over now if the loop has kept them for [`MAX_STAGE`], or if no
/// runtime on this thread will call [`on_park`].
pub(crate) fn flush_if_stale(aof: &mut Aof) {
    let hooked = SERVER.with(|s| s.borrow().is_some());
    if !hooked || aof.staged_for().is_some_and(|t| t >= MAX_STAGE) {
        aof.flush();
    }
}
