//! The Lua side of scripting: one thread per shard that owns the shard's Lua state.
//!
//! Why a thread: a script may run for longer than `busy-reply-threshold`, and then the
//! shard must answer other clients (`-BUSY`, SCRIPT KILL) while it runs. The shard's event
//! loop is one tokio task set on one thread, and a Lua hook cannot hand control back to
//! it (Lua 5.1 cannot yield from a hook through mlua). So the script runs here, and every
//! `redis.call` is a request back to the event loop, which runs the command through the
//! normal dispatch and answers with its RESP reply. The event loop serves nothing else
//! while it waits, except once the script is busy, which keeps scripts atomic.
//!
//! A script that is killed notices at the next count hook (every 100000 instructions).

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use shoal_proto::{Protocol, Reply};

use super::convert;

/// What the event loop asks of the engine.
pub enum Job {
    /// Runs a script, compiling it first if this Lua state has not seen it.
    Run {
        sha: String,
        body: Bytes,
        /// Bytes of the shebang line, skipped when compiling.
        skip: usize,
        keys: Vec<Bytes>,
        args: Vec<Bytes>,
        caller: Protocol,
    },
    /// Compiles a script without running it (SCRIPT LOAD).
    Load {
        sha: String,
        body: Bytes,
        skip: usize,
    },
    /// The reply to the running script's last `Event::Call`.
    CallReply(Vec<u8>),
    /// Forgets every script: a new Lua state (SCRIPT FLUSH).
    Flush,
}

/// What the engine tells the event loop.
pub enum Event {
    /// The running script calls a command; the loop answers with `Job::CallReply`.
    Call { argv: Vec<Bytes>, resp3: bool },
    /// The script finished; `reply` is in the caller's protocol. `error` is the text of
    /// a top-level error reply; `compiled` says whether the body compiled.
    Done {
        reply: Vec<u8>,
        error: Option<String>,
        compiled: bool,
    },
    /// The result of a `Job::Load`: the compile error's reply text on failure.
    Loaded(Result<(), String>),
}

/// The engine thread's end of the channels, shared with the `redis.*` functions.
struct Link {
    jobs: Receiver<Job>,
    events: Sender<Event>,
    wake: Arc<tokio::sync::Notify>,
    kill: Arc<AtomicBool>,
    /// The script chose RESP3 with `redis.setresp(3)`.
    resp3: Cell<bool>,
}

impl Link {
    fn send(&self, ev: Event) -> bool {
        let sent = self.events.send(ev).is_ok();
        self.wake.notify_one();
        sent
    }
}

/// Starts the engine thread.
pub fn spawn(
    jobs: Receiver<Job>,
    events: Sender<Event>,
    wake: Arc<tokio::sync::Notify>,
    kill: Arc<AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("shoal-lua".into())
        // Converting a deeply nested reply recurses; Redis bounds it by the Lua stack.
        .stack_size(16 << 20)
        .spawn(move || {
            let link = Rc::new(Link {
                jobs,
                events,
                wake,
                kill,
                resp3: Cell::new(false),
            });
            serve(link)
        })
        .map(|_| ())
}

fn serve(link: Rc<Link>) {
    let mut engine = match Engine::new(link.clone()) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "creating the Lua state failed");
            return;
        }
    };
    while let Ok(job) = link.jobs.recv() {
        match job {
            Job::Run {
                sha,
                body,
                skip,
                keys,
                args,
                caller,
            } => {
                let ev = engine.run(&sha, &body, skip, &keys, &args, caller);
                if !link.send(ev) {
                    return;
                }
            }
            Job::Load { sha, body, skip } => {
                let r = engine.function(&sha, &body, skip).map(|_| ());
                if !link.send(Event::Loaded(r)) {
                    return;
                }
            }
            Job::Flush => match Engine::new(link.clone()) {
                Ok(e) => engine = e,
                Err(e) => tracing::error!(error = %e, "recreating the Lua state failed"),
            },
            Job::CallReply(_) => {}
        }
    }
}

struct Engine {
    lua: Lua,
    link: Rc<Link>,
    globals: Table,
    env: Table,
    runner: Function,
    functions: HashMap<String, Function>,
}

impl Engine {
    fn new(link: Rc<Link>) -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let raw = super::api::raw_functions(&lua, link_calls(link.clone()))?;
        let (env, runner): (Table, Function) = lua
            .load(include_str!("bootstrap.lua"))
            .set_name("=bootstrap")
            .call(raw)?;
        let kill = link.kill.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(100_000),
            move |_, _| {
                if kill.load(Ordering::Relaxed) {
                    Err(super::api::killed_error())
                } else {
                    Ok(VmState::Continue)
                }
            },
        );
        Ok(Engine {
            globals: lua.globals(),
            lua,
            link,
            env,
            runner,
            functions: HashMap::new(),
        })
    }

    /// The compiled script, compiling it on first use; the error is the reply text.
    fn function(&mut self, sha: &str, body: &[u8], skip: usize) -> Result<Function, String> {
        if let Some(f) = self.functions.get(sha) {
            return Ok(f.clone());
        }
        let code = body.get(skip..).unwrap_or_default();
        let f = self
            .lua
            .load(code)
            .set_name("@user_script")
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| {
                format!(
                    "ERR Error compiling script (new function): {}",
                    compile_message(&e)
                )
            })?;
        self.functions.insert(sha.to_string(), f.clone());
        Ok(f)
    }

    fn run(
        &mut self,
        sha: &str,
        body: &[u8],
        skip: usize,
        keys: &[Bytes],
        args: &[Bytes],
        caller: Protocol,
    ) -> Event {
        let mut out = Reply::new(caller);
        let f = match self.function(sha, body, skip) {
            Ok(f) => f,
            Err(e) => {
                out.error(&e);
                return Event::Done {
                    reply: out.buf.to_vec(),
                    error: Some(e),
                    compiled: false,
                };
            }
        };
        self.link.resp3.set(false);
        self.link.kill.store(false, Ordering::Relaxed);
        let set = |name: &str, items: &[Bytes]| -> mlua::Result<()> {
            let t = self.lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, self.lua.create_string(item)?)?;
            }
            self.globals.raw_set(name, t)
        };
        let result = set("KEYS", keys)
            .and_then(|()| set("ARGV", args))
            .and_then(|()| self.runner.call::<(bool, Value)>(f));
        let error = match result {
            Ok((true, v)) => convert::lua_to_reply(&mut out, &v, self.link.resp3.get()),
            Ok((false, e)) => {
                let text = failure_text(sha, &e);
                out.error(&text);
                Some(text)
            }
            Err(e) => {
                let text = format!("ERR Error running script {sha}, {}", root_message(&e));
                out.error(&text);
                Some(text)
            }
        };
        Event::Done {
            reply: out.buf.to_vec(),
            error,
            compiled: true,
        }
    }
}

/// The `redis.call` transport: sends the command to the event loop and waits for its
/// reply, or None when the loop has gone away.
pub type CallFn = Rc<dyn Fn(Vec<Bytes>) -> Option<Vec<u8>>>;

/// What `redis.*` needs from the link: the call transport, the RESP choice and the kill flag.
pub struct Calls {
    pub call: CallFn,
    pub resp3: Rc<dyn Fn(Option<bool>) -> bool>,
    pub killed: Rc<dyn Fn() -> bool>,
}

fn link_calls(link: Rc<Link>) -> Calls {
    let l1 = link.clone();
    let l2 = link.clone();
    Calls {
        call: Rc::new(move |argv| {
            let resp3 = link.resp3.get();
            if !link.send(Event::Call { argv, resp3 }) {
                return None;
            }
            loop {
                match link.jobs.recv() {
                    Ok(Job::CallReply(r)) => return Some(r),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
        }),
        resp3: Rc::new(move |set| {
            if let Some(v) = set {
                l1.resp3.set(v);
            }
            l1.resp3.get()
        }),
        killed: Rc::new(move || l2.kill.load(Ordering::Relaxed)),
    }
}

/// The reply text of a script that raised `e` (already shaped by the error handler):
/// `<err> script: <sha>, on <source>:<line>.`
fn failure_text(sha: &str, e: &Value) -> String {
    let Value::Table(t) = e else {
        return format!("ERR Error running script {sha}, execution failure");
    };
    let text = |k: &str| -> Option<String> {
        match t.raw_get::<Value>(k) {
            Ok(Value::String(s)) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
            Ok(Value::Number(n)) => Some(format!("{}", n as i64)),
            Ok(Value::Integer(n)) => Some(n.to_string()),
            _ => None,
        }
    };
    let msg = text("err").unwrap_or_default();
    match (text("source"), text("line")) {
        (Some(src), Some(line)) => format!("{msg} script: {sha}, on {src}:{line}."),
        _ => msg,
    }
}

/// The innermost message of an mlua error (a Rust callback's error arrives wrapped).
pub fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(s) => s.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn compile_message(e: &mlua::Error) -> String {
    root_message(e)
}

/// Shapes any error value into Redis's error table, with the user script's source and
/// line of the innermost frame that is in the script (Redis reports the caller of a C
/// function, which for our Lua-written `redis.*` wrappers is the script).
pub fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let t = match err {
        Value::Table(t) => t,
        Value::String(s) => {
            let mut msg = b"ERR ".to_vec();
            msg.extend_from_slice(&s.as_bytes());
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(msg)?)?;
            t
        }
        Value::Error(e) => {
            let t = lua.create_table()?;
            match super::api::raised(&e) {
                Some(r) => t.raw_set("err", r.0.as_str())?,
                None => t.raw_set("err", format!("ERR {}", root_message(&e)))?,
            }
            t
        }
        other => {
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {}", other.to_string()?))?;
            t
        }
    };
    for level in 1..64 {
        let Some(frame) = lua.inspect_stack(level) else {
            break;
        };
        let src = frame.source();
        if src.source.as_deref() == Some("@user_script") {
            t.raw_set("source", "@user_script")?;
            t.raw_set("line", frame.curr_line())?;
            break;
        }
    }
    Ok(t)
}
