//! The event loop's side of a running script.
//!
//! EVAL hands the script to the engine thread and then serves its `redis.call`s, each
//! through `cmd::call` as the script client, until the engine reports the result. The
//! event loop does nothing else meanwhile, which is what makes a script atomic.
//!
//! A script still running after `busy-reply-threshold` becomes *busy*: EVAL returns
//! without a reply, and the caller's connection task awaits the rest (`finish`), so the
//! event loop serves other connections again. They get `-BUSY` for every command but the
//! few Redis allows (SCRIPT KILL, SHUTDOWN NOSAVE, MULTI …), which keeps the keyspace
//! untouched until the script ends. Inside EXEC (and with the threshold at 0) a script
//! is never left busy: it runs to its end there and then.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shoal_proto::{Flags, Protocol, Reply};

use super::engine::{self, Event, Job};
use super::shebang::ScriptFlags;
use super::{Scripts, Worker};
use crate::client::Client;
use crate::cmd::{self, CmdError};
use crate::state::Server;

pub const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// A script between its EVAL and its reply.
pub struct Running {
    started: Instant,
    /// The script ran a write command, so SCRIPT KILL may no longer stop it.
    pub wrote: bool,
    read_only: bool,
    allow_oom: bool,
    /// Memory was over `maxmemory` when the script started.
    oom_at_start: bool,
    /// The script's single clock, as EXEC has one.
    now: i64,
    /// The script opened the AOF's MULTI wrapping (it was not already inside EXEC).
    wraps: bool,
    sha: String,
    body: Bytes,
    /// The caller's user when it is restricted: each `redis.call` is checked against it.
    user: Option<std::sync::Arc<crate::acl::User>>,
}

/// What a script produced: its reply in the caller's protocol, and the text of a
/// top-level error reply.
pub struct Finished {
    pub reply: Vec<u8>,
    pub error: Option<String>,
}

/// What a caller gets from `start`.
pub enum Outcome {
    Done(Finished),
    /// Still running past the threshold; the connection must await `finish`.
    Busy,
}

/// Everything EVAL has checked about one invocation.
pub struct Invocation {
    pub sha: String,
    pub body: Bytes,
    pub flags: ScriptFlags,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
    pub read_only: bool,
    pub now: i64,
    /// The caller's user when it is restricted (see [`crate::client::Client::acl_user`]).
    pub user: Option<std::sync::Arc<crate::acl::User>>,
}

impl Scripts {
    /// The engine thread, started on first use.
    fn worker(&mut self) -> Result<&Worker, CmdError> {
        if self.worker.is_none() {
            let (jobs, job_rx) = mpsc::channel();
            let (ev_tx, events) = mpsc::channel();
            let wake = Arc::new(tokio::sync::Notify::new());
            let kill = Arc::new(AtomicBool::new(false));
            engine::spawn(job_rx, ev_tx, wake.clone(), kill.clone()).map_err(|e| {
                tracing::error!(error = %e, "starting the Lua thread failed");
                CmdError::Static("ERR could not start the script engine")
            })?;
            self.worker = Some(Worker {
                jobs,
                events,
                wake,
                kill,
            });
        }
        self.worker
            .as_ref()
            .ok_or(CmdError::Static("ERR could not start the script engine"))
    }

    /// Compiles a script without running it (SCRIPT LOAD); the error is the reply.
    pub fn load(&mut self, sha: &str, body: &Bytes, skip: usize) -> Result<(), CmdError> {
        let w = self.worker()?;
        let job = Job::Load {
            sha: sha.to_string(),
            body: body.clone(),
            skip,
        };
        if w.jobs.send(job).is_err() {
            self.worker = None;
            return Err(CmdError::Static("ERR the script engine stopped"));
        }
        loop {
            match w.events.recv() {
                Ok(Event::Loaded(r)) => {
                    r.map_err(CmdError::Owned)?;
                    break;
                }
                Ok(_) => continue,
                Err(_) => {
                    self.worker = None;
                    return Err(CmdError::Static("ERR the script engine stopped"));
                }
            }
        }
        self.remember(sha, body);
        Ok(())
    }

    fn remember(&mut self, sha: &str, body: &Bytes) {
        if !self.cache.contains_key(sha) {
            self.cache_bytes += sha.len() + body.len();
            self.cache.insert(sha.to_string(), body.clone());
        }
    }

    /// Forgets every script (SCRIPT FLUSH); the engine starts a new Lua state.
    pub fn flush(&mut self) {
        self.cache.clear();
        self.cache_bytes = 0;
        if let Some(w) = &self.worker {
            if w.jobs.send(Job::Flush).is_err() {
                self.worker = None;
            }
        }
    }

    /// SCRIPT KILL.
    pub fn kill(&mut self) -> Result<(), CmdError> {
        let Some(running) = &self.running else {
            return Err("NOTBUSY No scripts in execution right now.".into());
        };
        if running.wrote {
            return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.".into());
        }
        if let Some(w) = &self.worker {
            w.kill.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Starts a script and serves it until it ends, or until it turns busy when `may_yield`.
pub fn start(
    srv: &mut Server,
    inv: Invocation,
    caller: Protocol,
    may_yield: bool,
) -> Result<Outcome, CmdError> {
    let oom_at_start = srv.config.maxmemory > 0 && srv.evict.pre_command_oom;
    let job = Job::Run {
        sha: inv.sha.clone(),
        body: inv.body.clone(),
        skip: inv.flags.shebang_len,
        keys: inv.keys,
        args: inv.args,
        caller,
    };
    let w = srv.scripts.worker()?;
    w.kill.store(false, Ordering::Relaxed);
    if w.jobs.send(job).is_err() {
        srv.scripts.worker = None;
        return Err(CmdError::Static("ERR the script engine stopped"));
    }
    let wraps = !srv.persist.in_exec;
    if wraps {
        srv.persist.in_exec = true;
        srv.persist.multi_open = false;
    }
    let started = Instant::now();
    srv.scripts.running = Some(Running {
        started,
        wrote: false,
        read_only: inv.read_only || (!inv.flags.compat && inv.flags.no_writes),
        allow_oom: !inv.flags.compat && inv.flags.allow_oom,
        oom_at_start,
        now: inv.now,
        wraps,
        sha: inv.sha,
        body: inv.body,
        user: inv.user,
    });
    let threshold = srv.config.busy_reply_threshold;
    let deadline = (may_yield && threshold > 0).then(|| started + Duration::from_millis(threshold));
    match pump(srv, Wait::Until(deadline)) {
        Some(done) => Ok(Outcome::Done(done)),
        None => {
            srv.scripts.busy = true;
            Ok(Outcome::Busy)
        }
    }
}

enum Wait {
    /// Block until the script ends, or until the instant passes.
    Until(Option<Instant>),
    /// Serve what the engine has sent so far.
    Poll,
}

/// Serves the running script's requests; Some when it has finished.
fn pump(srv: &mut Server, wait: Wait) -> Option<Finished> {
    loop {
        let Some(w) = srv.scripts.worker.as_ref() else {
            return Some(abandon(srv));
        };
        let ev = match wait {
            Wait::Until(None) => w.events.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Wait::Until(Some(at)) => w
                .events
                .recv_timeout(at.saturating_duration_since(Instant::now())),
            Wait::Poll => w.events.try_recv().map_err(|e| match e {
                mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            }),
        };
        match ev {
            Ok(Event::Call { argv, resp3 }) => {
                let reply = script_call(srv, &argv, resp3);
                let sent = srv
                    .scripts
                    .worker
                    .as_ref()
                    .is_some_and(|w| w.jobs.send(Job::CallReply(reply)).is_ok());
                if !sent {
                    return Some(abandon(srv));
                }
            }
            Ok(Event::Done {
                reply,
                error,
                compiled,
            }) => return Some(end(srv, reply, error, compiled)),
            Ok(Event::Loaded(_)) => {}
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => return Some(abandon(srv)),
        }
    }
}

/// The engine thread is gone (it panicked): the script fails, the next one starts a new
/// engine.
fn abandon(srv: &mut Server) -> Finished {
    tracing::error!("the Lua thread stopped");
    srv.scripts.worker = None;
    let text = "ERR the script engine stopped".to_string();
    let mut out = Reply::default();
    out.error(&text);
    end(srv, out.buf.to_vec(), Some(text), false)
}

fn end(srv: &mut Server, reply: Vec<u8>, error: Option<String>, compiled: bool) -> Finished {
    srv.scripts.busy = false;
    if let Some(r) = srv.scripts.running.take() {
        if r.wraps {
            srv.persist.in_exec = false;
            if std::mem::take(&mut srv.persist.multi_open) {
                srv.persist.append(&["EXEC"]);
            }
        }
        if compiled {
            srv.scripts.remember(&r.sha, &r.body);
        }
    }
    Finished { reply, error }
}

/// Awaits a busy script on its caller's connection, serving its requests as they come.
pub async fn finish(shared: &Rc<RefCell<Server>>) -> Finished {
    loop {
        let wake = {
            let mut srv = shared.borrow_mut();
            if let Some(done) = pump(&mut srv, Wait::Poll) {
                crate::blocking::handle_ready(&mut srv);
                return done;
            }
            match srv.scripts.worker.as_ref() {
                Some(w) => w.wake.clone(),
                None => return abandon(&mut srv),
            }
        };
        wake.notified().await;
    }
}

fn error_reply(text: &str) -> Vec<u8> {
    let mut out = Reply::default();
    out.error(text);
    out.buf.to_vec()
}

/// Runs one `redis.call` after the checks Redis makes for commands from scripts, and
/// returns its reply as RESP in the protocol the script chose.
fn script_call(srv: &mut Server, argv: &[Bytes], resp3: bool) -> Vec<u8> {
    let (spec, handler) = match cmd::resolve_in_script(argv) {
        Ok(found) => found,
        Err(e) => return error_reply(e),
    };
    let Some(running) = srv.scripts.running.as_ref() else {
        return error_reply("ERR redis.call/pcall can only be called inside a script invocation");
    };
    if spec.flags.has(Flags::NOSCRIPT) {
        return error_reply("ERR This Redis command is not allowed from script");
    }
    if let Some(user) = running.user.as_deref() {
        let args: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
        if let Err(d) = crate::acl::check::check(user, spec, &args) {
            return error_reply(&format!("ERR {}", d.script_message()));
        }
    }
    let writes = spec.flags.has(Flags::WRITE);
    if running.read_only && (writes || spec.flags.has(Flags::MAY_REPLICATE)) {
        return error_reply("ERR Write commands are not allowed from read-only scripts.");
    }
    if writes && !running.wrote {
        if let Some(text) = srv.persist.misconf() {
            return error_reply(&text);
        }
    }
    if !running.allow_oom
        && !running.wrote
        && running.oom_at_start
        && spec.flags.has(Flags::DENYOOM)
    {
        return error_reply(crate::evict::OOM);
    }
    let now = running.now;
    let user = running.user.clone();
    if writes {
        if let Some(r) = srv.scripts.running.as_mut() {
            r.wrote = true;
        }
    }
    let mut client = srv
        .scripts
        .client
        .take()
        .unwrap_or_else(|| Box::new(script_client()));
    client.proto = if resp3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    let mut out = Reply::new(client.proto);
    // What the command checks itself (SORT's patterns) sees the caller's user too.
    client.run_as = user;
    cmd::call(
        srv,
        &mut client,
        &mut out,
        spec,
        handler,
        argv,
        now,
        std::time::Instant::now(),
    );
    client.run_as = None;
    // Blocking is denied to scripts: a blocking command answered at once.
    client.block = None;
    srv.scripts.client = Some(client);
    out.buf.to_vec()
}

/// Redis's Lua client: always authenticated, never blocks.
fn script_client() -> Client {
    let mut c = Client::new(0, String::new(), String::new(), false, true);
    c.deny_blocking = true;
    c.script = true;
    c
}

/// How long the running script has run, for INFO and logs.
pub fn running_for(scripts: &Scripts) -> Option<Duration> {
    scripts.running.as_ref().map(|r| r.started.elapsed())
}
