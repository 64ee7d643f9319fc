//! Command execution: the handler table, the per-command context, and dispatch.
//!
//! # Layout
//! - [`args`]: argument parsing helpers with Redis's error texts.
//! - one module per command family; each exports `COMMANDS`, a list of
//!   `(full name, handler)` pairs. Adding a command touches its family and, if Redis
//!   gained it, the generated table in `shoal_proto` only.
//!
//! A handler writes its whole reply into `ctx.out` and returns `Ok(())`, or returns an
//! error whose text becomes the reply. It must not write anything before returning an
//! error. A handler that changes the dataset adds to `ctx.srv.dirty`, which is how the
//! AOF and WATCH learn that it did.
//!
//! # Propagation to the AOF
//! After a command that moved `dirty`, `call` appends it to the AOF as it came, except for
//! the clock- and chance-dependent commands `persist::propagate` rewrites from the
//! keyspace. A handler that knows better says so on its `Ctx`:
//! - `ctx.propagate_as(argv)`: record this instead of the request (call it once per
//!   command to record several, e.g. SPOP → SREM of the popped members);
//! - `ctx.also_propagate(argv)`: record this after the request (or its replacement);
//! - `ctx.no_propagate()`: record nothing.
//!
//! Inside EXEC the recorded commands are wrapped in MULTI … EXEC.

pub mod args;
pub mod cluster;
pub mod connection;
pub mod dump;
pub mod hash;
pub mod keys;
pub mod list;
pub mod multi;
pub mod persist;
pub mod pubsub;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod strings;
pub mod zset;

use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use shoal_proto::command::{self, CommandSpec};
use shoal_proto::Reply;

use crate::client::Client;
use crate::state::{now_ms, Server};

/// A command's error reply, without the leading `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    Static(&'static str),
    Owned(String),
}

impl CmdError {
    pub fn text(&self) -> &str {
        match self {
            CmdError::Static(s) => s,
            CmdError::Owned(s) => s,
        }
    }
}

impl From<String> for CmdError {
    fn from(s: String) -> Self {
        CmdError::Owned(s)
    }
}

impl From<&'static str> for CmdError {
    fn from(s: &'static str) -> Self {
        CmdError::Static(s)
    }
}

pub type CmdResult = Result<(), CmdError>;
pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> CmdResult;

/// Redis 7.0's error texts, shared by every family.
pub mod err {
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const SYNTAX: &str = "ERR syntax error";
    pub const NOT_INT: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const OUT_OF_RANGE: &str = "ERR index out of range";
    pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
    pub const NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";
    pub const STRING_TOO_LONG: &str =
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    pub const NOAUTH: &str = "NOAUTH Authentication required.";
}

/// Everything a handler may touch while it runs one command.
pub struct Ctx<'a> {
    pub srv: &'a mut Server,
    pub client: &'a mut Client,
    pub out: &'a mut Reply,
    /// The command's clock in Unix milliseconds, read once so that one command (or one
    /// EXEC) sees a single instant, as in Redis.
    pub now: i64,
    pub spec: &'static CommandSpec,
    /// What the AOF records for this command; see the module doc.
    pub prop: Propagation,
    /// Keys of the command that it left as they were while changing others: a change
    /// signals every key of the command (WATCH, blocked clients) except these, as Redis
    /// signals only the keys a command really modified (SMOVE to a set that has the
    /// member already).
    pub unchanged_keys: Vec<Bytes>,
}

/// A handler's say on what the AOF records for its command.
#[derive(Debug, Default)]
pub struct Propagation {
    /// Replaces the request when not empty.
    pub instead: Vec<Vec<Bytes>>,
    /// Recorded after the request or its replacement.
    pub also: Vec<Vec<Bytes>>,
    pub nothing: bool,
}

impl Ctx<'_> {
    pub fn db(&mut self) -> &mut crate::db::Db {
        &mut self.srv.db
    }

    /// Records `argv` in the AOF instead of the request (several calls record several).
    pub fn propagate_as(&mut self, argv: Vec<Bytes>) {
        self.prop.instead.push(argv);
    }

    /// Records `argv` in the AOF after the request (or its replacement).
    pub fn also_propagate(&mut self, argv: Vec<Bytes>) {
        self.prop.also.push(argv);
    }

    /// Records nothing for this command.
    pub fn no_propagate(&mut self) {
        self.prop.nothing = true;
    }
}

/// Every family's handlers; one line per family.
static FAMILIES: &[&[(&str, Handler)]] = &[
    cluster::COMMANDS,
    connection::COMMANDS,
    dump::COMMANDS,
    hash::COMMANDS,
    keys::COMMANDS,
    list::COMMANDS,
    list::blocking::COMMANDS,
    multi::COMMANDS,
    persist::COMMANDS,
    pubsub::COMMANDS,
    server::COMMANDS,
    set::COMMANDS,
    sort::COMMANDS,
    stream::COMMANDS,
    strings::COMMANDS,
    zset::COMMANDS,
    crate::script::commands::COMMANDS,
];

fn families() -> &'static [&'static [(&'static str, Handler)]] {
    FAMILIES
}

/// Handlers by full command name.
fn table() -> &'static command::NameMap<Handler> {
    static TABLE: OnceLock<command::NameMap<Handler>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = command::NameMap::default();
        for family in families() {
            for &(name, handler) in family.iter() {
                match command::lookup(name.as_bytes()) {
                    Some(spec) => {
                        map.insert(spec.name, handler);
                    }
                    None => {
                        tracing::error!(command = name, "handler without a command-table entry")
                    }
                }
            }
        }
        map
    })
}

/// True when shoal implements `spec` (full name); `COMMAND` lists only these.
pub fn implemented(spec: &CommandSpec) -> bool {
    if spec.subcommands.is_empty() {
        table().contains_key(spec.name)
    } else {
        spec.subcommands
            .iter()
            .any(|s| table().contains_key(s.name))
    }
}

/// Resolves a request to its command (or subcommand) spec and handler, or the exact
/// error Redis gives for an unknown command, unknown subcommand or wrong arity.
pub fn resolve(args: &[Bytes]) -> Result<(&'static CommandSpec, Handler), CmdError> {
    match find(args)? {
        (spec, Some(handler)) if spec.arity_ok(args.len()) => Ok((spec, handler)),
        (spec, _) => Err(wrong_arity(spec.name)),
    }
}

/// The command or subcommand a request names, before its arity is checked. A container
/// named without a subcommand resolves to itself, whose arity then rejects it.
/// The command (or subcommand) a request names, with its handler; the handler is None
/// only for a container command named without a subcommand, which is an arity error.
/// One probe of the handler table per command: this runs for every request.
fn find(args: &[Bytes]) -> Result<(&'static CommandSpec, Option<Handler>), CmdError> {
    let Some(name) = args.first() else {
        return Err(CmdError::Static("ERR empty command"));
    };
    // A subcommand's full name (`config|get`) is not a command name, as in Redis.
    let Some(spec) = command::lookup(name).filter(|s| !s.name.contains('|')) else {
        return Err(unknown_command(args));
    };
    if spec.subcommands.is_empty() {
        return match table().get(spec.name) {
            Some(&handler) => Ok((spec, Some(handler))),
            None => Err(unknown_command(args)),
        };
    }
    if !implemented(spec) {
        return Err(unknown_command(args));
    }
    if args.len() < 2 {
        // COMMAND alone is a command of its own; other containers then fail their arity.
        return Ok((spec, table().get(spec.name).copied()));
    }
    let sub = command::lookup_subcommand(spec, &args[1])
        .and_then(|s| table().get(s.name).map(|&handler| (s, handler)));
    match sub {
        Some((sub, handler)) => Ok((sub, Some(handler))),
        None => Err(CmdError::Owned(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            trunc(&args[1], 128),
            spec.name.to_ascii_uppercase()
        ))),
    }
}

/// Resolves a command a script calls, with the errors Redis gives scripts.
pub fn resolve_in_script(args: &[Bytes]) -> Result<(&'static CommandSpec, Handler), &'static str> {
    match find(args) {
        Ok((spec, Some(handler))) if spec.arity_ok(args.len()) => Ok((spec, handler)),
        Ok(_) => Err("ERR Wrong number of args calling Redis command from script"),
        // A command shoal does not serve, but that Redis keeps from scripts anyway
        // (CLUSTER RESET …), gets the refusal scripts check for.
        Err(_) if known_noscript(args) => Err("ERR This Redis command is not allowed from script"),
        Err(_) => Err("ERR Unknown Redis command called from script"),
    }
}

fn known_noscript(args: &[Bytes]) -> bool {
    let Some(spec) = args.first().and_then(|name| command::lookup(name)) else {
        return false;
    };
    let spec = match args.get(1) {
        Some(sub) if !spec.subcommands.is_empty() => match command::lookup_subcommand(spec, sub) {
            Some(s) => s,
            None => return false,
        },
        _ => spec,
    };
    spec.flags.has(shoal_proto::Flags::NOSCRIPT)
}

pub fn wrong_arity(full_name: &str) -> CmdError {
    CmdError::Owned(format!(
        "ERR wrong number of arguments for '{full_name}' command"
    ))
}

/// Redis formats these with `%s`, which stops at the first NUL byte.
fn trunc(b: &[u8], max: usize) -> String {
    let b = &b[..b.len().min(max)];
    let b = b.iter().position(|&c| c == 0).map_or(b, |nul| &b[..nul]);
    String::from_utf8_lossy(b).into_owned()
}

fn unknown_command(args: &[Bytes]) -> CmdError {
    let mut list = String::new();
    for a in &args[1..] {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push_str(&format!("'{}' ", trunc(a, room)));
    }
    CmdError::Owned(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        trunc(&args[0], 128),
        list
    ))
}

/// Runs one request and writes its reply, keeping Redis's per-command statistics: a
/// request refused before it runs (arity, authentication) counts as rejected, one whose
/// handler returns an error as failed. Inside MULTI the request is queued instead; a
/// blocking command's request to wait becomes a registered waiter. Clients made ready by
/// the command are served by the caller (`blocking::handle_ready`) once this returns.
/// A RESP2 connection with subscriptions carries pushed messages, so it may only run the
/// commands that manage subscriptions (and PING, QUIT, RESET), as in Redis.
fn allowed_while_subscribed(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// `__shoal_runas <name> <rules> <command...>`: the agent's proxy runs a script command for a
/// restricted user. The shard checks each `redis.call` of the script against a user built
/// from `rules` (the user as `ACL LIST` describes it), so no shard-side user list has to
/// be in step with the proxy's. Only the Unix socket, which only the agent reaches,
/// accepts it.
pub const RUN_AS: &[u8] = b"__shoal_runas";

pub fn execute(srv: &mut Server, client: &mut Client, out: &mut Reply, args: &[Bytes]) {
    if client.is_unix && args.first().is_some_and(|a| a.eq_ignore_ascii_case(RUN_AS)) {
        let (Some(name), Some(rules), Some(rest)) = (args.get(1), args.get(2), args.get(3..))
        else {
            out.error("ERR wrong number of arguments for '__shoal_runas' command");
            return;
        };
        let mut user = crate::acl::User::new(name);
        // A user the shard cannot rebuild may do nothing: fail closed.
        if user
            .apply_all(rules.split(|b| *b == b' ').filter(|r| !r.is_empty()))
            .is_err()
        {
            user = crate::acl::User::new(name);
        }
        client.run_as = Some(std::sync::Arc::new(user));
        execute(srv, client, out, rest);
        client.run_as = None;
        return;
    }
    // CLIENT REPLY OFF/SKIP: the command runs, its reply (even an error) is dropped.
    let start = out.len();
    client.reply_skip = std::mem::take(&mut client.reply_skip_next);
    client.running = None;
    let before = srv.persist.applied();
    run(srv, client, out, args);
    let need = srv.persist.reply_need(client.running, args, before);
    client.durable_need = client.durable_need.max(need);
    if client.reply_off || std::mem::take(&mut client.reply_skip) {
        out.truncate(start);
    }
}

/// [`find`], through the client's last resolved command.
fn find_for(
    client: &mut Client,
    args: &[Bytes],
) -> Result<(&'static CommandSpec, Option<Handler>), CmdError> {
    if let (Some((spec, handler)), Some(name)) = (client.last_resolved, args.first()) {
        if name.eq_ignore_ascii_case(spec.name.as_bytes()) {
            return Ok((spec, Some(handler)));
        }
    }
    let found = find(args)?;
    if let (spec, Some(handler)) = found {
        if spec.subcommands.is_empty() && !spec.name.contains('|') {
            client.last_resolved = Some((spec, handler));
        }
    }
    Ok(found)
}

fn run(srv: &mut Server, client: &mut Client, out: &mut Reply, args: &[Bytes]) {
    let (spec, handler) = match find_for(client, args) {
        Ok(found) => found,
        Err(e) => {
            reject(srv, client, out, args, None, &e);
            return;
        }
    };
    client.last_cmd = spec.name;
    client.running = Some(spec);
    let handler = match handler {
        Some(handler) if spec.arity_ok(args.len()) => handler,
        _ => {
            reject(srv, client, out, args, Some(spec), &wrong_arity(spec.name));
            return;
        }
    };
    if !client.authenticated && !spec.flags.has(shoal_proto::Flags::NO_AUTH) {
        reject(
            srv,
            client,
            out,
            args,
            Some(spec),
            &CmdError::Static(err::NOAUTH),
        );
        return;
    }
    if client.session.is_some() && !admitted(srv, client, out, args, spec) {
        return;
    }
    // Where Redis checks: after authentication, before loading, memory and MULTI.
    if let Some(topo) = srv.config.cluster.as_deref() {
        if !client.is_unix {
            if let Some(e) = cluster::redirect(topo, client, spec, args) {
                redirected(srv, client, out, spec, &e);
                return;
            }
        }
    }
    if srv.persist.loading.is_some()
        && client.id != crate::persist::load::LOAD_CLIENT_ID
        && !spec.flags.has(shoal_proto::Flags::LOADING)
    {
        let e = CmdError::Static("LOADING Redis is loading the dataset in memory");
        reject(srv, client, out, args, Some(spec), &e);
        return;
    }
    if srv.config.maxmemory > 0 && client.id != crate::persist::load::LOAD_CLIENT_ID {
        let oom = crate::evict::perform(srv) == crate::evict::Outcome::Fail;
        srv.evict.pre_command_oom = oom;
        if oom && refused_on_oom(client, spec) {
            let e = CmdError::Static(crate::evict::OOM);
            reject(srv, client, out, args, Some(spec), &e);
            return;
        }
    }
    if srv.scripts.busy && !spec.flags.has(shoal_proto::Flags::ALLOW_BUSY) {
        let e = CmdError::Static(crate::script::run::BUSY);
        reject(srv, client, out, args, Some(spec), &e);
        return;
    }
    if spec.flags.has(shoal_proto::Flags::WRITE) {
        if let Some(text) = srv.persist.misconf() {
            reject(srv, client, out, args, Some(spec), &CmdError::Owned(text));
            return;
        }
    }
    if client.proto == shoal_proto::Protocol::Resp2
        && srv.pubsub.is_subscribed(client.id)
        && !allowed_while_subscribed(spec)
    {
        let e = CmdError::Owned(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        ));
        reject(srv, client, out, args, Some(spec), &e);
        return;
    }
    if client.tx.is_some() && !runs_inside_multi(spec) {
        if spec.flags.has(shoal_proto::Flags::NO_MULTI) {
            let e = CmdError::Static("ERR Command not allowed inside a transaction");
            reject(srv, client, out, args, Some(spec), &e);
            return;
        }
        let doomed = srv.watches.is_dirty(client.id);
        if let Some(tx) = client.tx.as_mut() {
            // A doomed transaction keeps no commands: EXEC will discard them anyway.
            if !tx.failed && !doomed {
                tx.cmds.push((spec, handler, args.to_vec()));
                tx.run_as.push(client.run_as.clone());
            }
        }
        out.simple("QUEUED");
        return;
    }
    let started = Instant::now();
    let now = srv.wall.ms_at(started);
    call(srv, client, out, spec, handler, args, now, started);
    if let Some(wait) = client.block.take() {
        if spec.flags.has(shoal_proto::Flags::BLOCKING) {
            crate::blocking::block(srv, client.id, client.proto, wait, args);
        }
    }
}

/// Whether a command is refused while memory is over `maxmemory` and nothing can be
/// evicted: commands that may grow memory, an EXEC holding one, and anything queued
/// inside MULTI (queueing itself takes memory) except what ends the transaction.
fn refused_on_oom(client: &Client, spec: &CommandSpec) -> bool {
    if spec.flags.has(shoal_proto::Flags::DENYOOM) {
        return true;
    }
    let Some(tx) = client.tx.as_ref() else {
        return false;
    };
    match spec.name {
        "exec" => tx
            .cmds
            .iter()
            .any(|(s, _, _)| s.flags.has(shoal_proto::Flags::DENYOOM)),
        "discard" | "quit" | "reset" => false,
        _ => true,
    }
}

/// The commands MULTI runs at once instead of queueing.
fn runs_inside_multi(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Replies with a check's error (counting a rejected call of a known command); inside
/// MULTI it also dooms the transaction, and a rejected EXEC ends it at once.
/// The ACL check of a TCP client (Redis's `ACLCheckAllPerm` in `processCommand`): its
/// user's commands, key patterns and channels. A refusal is logged for `ACL LOG`; a
/// client whose user was deleted is closed without a reply, as Redis closes it.
fn admitted(
    srv: &mut Server,
    client: &mut Client,
    out: &mut Reply,
    args: &[Bytes],
    spec: &'static CommandSpec,
) -> bool {
    let Some(session) = client.session.as_mut() else {
        return true;
    };
    if srv.acl.admits_anything(session) {
        return true;
    }
    let argv: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    let refusal = match srv.acl.admit(session, spec, &argv) {
        Ok(()) => return true,
        Err(r) => r,
    };
    let multi = client.tx.is_some();
    let Some(text) = refusal.message(spec) else {
        client.killed = true;
        client.kill_signal.notify_one();
        return false;
    };
    let session = client.session.clone();
    if let Some(s) = &session {
        srv.acl
            .log_refusal(s, refusal, spec, &argv, multi, client.info_line());
    }
    reject(srv, client, out, args, Some(spec), &CmdError::Owned(text));
    false
}

fn reject(
    srv: &mut Server,
    client: &mut Client,
    out: &mut Reply,
    args: &[Bytes],
    spec: Option<&'static CommandSpec>,
    e: &CmdError,
) {
    if let Some(spec) = spec {
        srv.stats
            .commands
            .entry(spec.name)
            .or_default()
            .rejected_calls += 1;
    }
    // A command shoal does not serve but that Redis forbids in MULTI (SAVE, SHUTDOWN …)
    // gets the transaction error, which is what a client inside MULTI checks for.
    let no_multi = client.tx.is_some()
        && args
            .first()
            .and_then(|name| command::lookup(name))
            .is_some_and(|s| !implemented(s) && s.flags.has(shoal_proto::Flags::NO_MULTI));
    let no_multi_err = CmdError::Static("ERR Command not allowed inside a transaction");
    let e = if no_multi { &no_multi_err } else { e };
    if let Some(tx) = client.tx.as_mut() {
        tx.failed = true;
        if args
            .first()
            .is_some_and(|a| a.eq_ignore_ascii_case(b"exec"))
        {
            client.tx = None;
            srv.watches.remove_client(client.id);
            let text = format!(
                "EXECABORT Transaction discarded because of: {}",
                // Redis builds these reasons without the "ERR" code; other codes stay.
                e.text().strip_prefix("ERR ").unwrap_or(e.text())
            );
            reply_error(srv, out, &CmdError::Owned(text));
            return;
        }
    }
    reply_error(srv, out, e);
}

/// Replies with a cluster redirection. Inside MULTI it dooms the transaction like any
/// rejection; a redirected EXEC discards the transaction and sends the redirection itself
/// (not EXECABORT), so the client can retry the whole transaction where it belongs.
fn redirected(
    srv: &mut Server,
    client: &mut Client,
    out: &mut Reply,
    spec: &'static CommandSpec,
    e: &CmdError,
) {
    if spec.name != "exec" {
        reject(srv, client, out, &[], Some(spec), e);
        return;
    }
    srv.stats
        .commands
        .entry(spec.name)
        .or_default()
        .rejected_calls += 1;
    multi::discard_transaction(srv, client);
    reply_error(srv, out, e);
}

/// Runs one resolved command, with its statistics and after-effects: a change to the
/// dataset invalidates WATCHes on the command's keys and wakes clients blocked on them.
/// EXEC runs each queued command through here, under EXEC's single clock `now`;
/// `started` is when the command began, for its duration.
#[allow(clippy::too_many_arguments)]
pub fn call(
    srv: &mut Server,
    client: &mut Client,
    out: &mut Reply,
    spec: &'static CommandSpec,
    handler: Handler,
    args: &[Bytes],
    now: i64,
    started: Instant,
) {
    srv.stats.total_commands_processed += 1;
    after_expiry(srv);
    crate::notify::arm(srv);
    let dirty_before = srv.dirty;
    let flushed = if matches!(spec.name, "flushall" | "flushdb" | "swapdb") {
        srv.watches
            .watched_keys()
            .into_iter()
            .filter(|k| srv.db.contains_raw(k))
            .collect()
    } else {
        Vec::new()
    };
    if srv.persist.rewrite.walk.is_some() && spec.flags.has(shoal_proto::Flags::WRITE) {
        crate::persist::walk::before_write(srv, spec, args);
    }
    let mark = out.len();
    let is_exec = spec.name == "exec";
    if is_exec {
        srv.persist.in_exec = true;
        srv.persist.multi_open = false;
    }
    let mut ctx = Ctx {
        srv,
        client,
        out,
        now,
        spec,
        prop: Propagation::default(),
        unchanged_keys: Vec::new(),
    };
    let result = handler(&mut ctx, args);
    let prop = std::mem::take(&mut ctx.prop);
    let unchanged = std::mem::take(&mut ctx.unchanged_keys);
    crate::notify::publish_pending(srv);
    crate::notify::arm(srv);
    let nanos = started.elapsed().as_nanos() as u64;
    let usec = nanos / 1000;
    let failed = result.is_err();
    if let Err(e) = result {
        out.truncate(mark);
        reply_error(srv, out, &e);
    }
    let track = srv.config.latency_tracking;
    srv.stats.record_call(spec.name, nanos, failed, track);
    server::slowlog::record(srv, client, spec, args, usec);
    let event = if spec.flags.has(shoal_proto::Flags::FAST) {
        "fast-command"
    } else {
        "command"
    };
    let threshold = srv.config.latency_monitor_threshold;
    srv.latency.add_if_needed(threshold, event, usec / 1000);
    if srv.dirty != dirty_before {
        if matches!(spec.name, "flushall" | "flushdb" | "swapdb") {
            srv.blocking.signal_all();
        }
        if !flushed.is_empty() {
            multi::touch_flushed(srv, &flushed);
        }
        signal_modified(srv, spec, args, &unchanged);
        if !is_exec {
            propagate(srv, spec, args, prop);
        }
    }
    if is_exec {
        // Out of the transaction first, or the EXEC would open another MULTI.
        srv.persist.in_exec = false;
        if std::mem::take(&mut srv.persist.multi_open) {
            srv.persist.append(&["EXEC"]);
        }
    }
    after_expiry(srv);
}

/// Appends what a command that changed the dataset leaves in the AOF.
fn propagate(srv: &mut Server, spec: &CommandSpec, args: &[Bytes], prop: Propagation) {
    if srv.persist.aof.is_none() || prop.nothing {
        return;
    }
    if !prop.instead.is_empty() {
        for c in &prop.instead {
            srv.persist.append(c);
        }
    } else {
        match crate::persist::propagate::rewrite(&srv.db, spec.name, args) {
            Some(cmds) => {
                for c in &cmds {
                    srv.persist.append(c);
                }
            }
            None => srv.persist.append_as(Some(spec), args),
        }
    }
    for c in &prop.also {
        srv.persist.append(c);
    }
}

/// Re-runs the command of a blocked client whose key became ready.
pub fn rerun_blocked(srv: &mut Server, client: &mut Client, out: &mut Reply, args: &[Bytes]) {
    match resolve(args) {
        Ok((spec, handler)) => {
            call(
                srv,
                client,
                out,
                spec,
                handler,
                args,
                now_ms(),
                Instant::now(),
            );
            // The waiter's command was counted once, when it blocked; serving it (or
            // finding it must wait on) is the same call, as in Redis's statistics.
            if let Some(stat) = srv.stats.commands.get_mut(spec.name) {
                stat.calls = stat.calls.saturating_sub(1);
            }
        }
        Err(e) => reply_error(srv, out, &e),
    }
}

/// Redis's `signalModifiedKey` for every key of a command that changed the dataset.
fn signal_modified(srv: &mut Server, spec: &CommandSpec, args: &[Bytes], unchanged: &[Bytes]) {
    if srv.watches.is_empty() && !srv.blocking.has_waiters() {
        return;
    }
    let Ok(positions) = spec.key_positions(args) else {
        return;
    };
    for p in positions {
        if let Some(key) = args.get(p) {
            if unchanged.contains(key) {
                continue;
            }
            multi::touch(srv, key);
            srv.blocking.signal_ready(key);
        }
    }
}

/// Consumes the keys that lazy or active expiry deleted: each deletion is a change that
/// invalidates WATCHes on the key. (This is where expiry DELs reach the AOF.)
pub fn after_expiry(srv: &mut Server) {
    if srv.db.expired.is_empty() {
        return;
    }
    let expired = std::mem::take(&mut srv.db.expired);
    for key in &expired {
        multi::touch(srv, key);
        srv.persist.append(&[b"DEL" as &[u8], key.as_ref()]);
    }
}

fn reply_error(srv: &mut Server, out: &mut Reply, e: &CmdError) {
    srv.stats.count_error(e.text());
    out.error(e.text());
}

/// Client names may not contain spaces, newlines or other special characters, since they
/// appear in CLIENT LIST's space-separated lines.
pub fn client_name_ok(name: &[u8]) -> CmdResult {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(
            "ERR Client names cannot contain spaces, newlines or special characters.".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_has_a_spec() {
        for family in families() {
            for (name, _) in family.iter() {
                assert!(
                    command::lookup(name.as_bytes()).is_some(),
                    "{name} missing from the table"
                );
            }
        }
    }

    #[test]
    fn errors_match_redis() {
        let a = |s: &str| {
            s.split(' ')
                .map(|x| Bytes::copy_from_slice(x.as_bytes()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            resolve(&a("foo bar baz"))
                .err()
                .map(|e| e.text().to_string()),
            Some("ERR unknown command 'foo', with args beginning with: 'bar' 'baz' ".to_string())
        );
        assert_eq!(
            resolve(&a("get")).err().map(|e| e.text().to_string()),
            Some("ERR wrong number of arguments for 'get' command".to_string())
        );
        // COMMAND alone lists every command (cluster clients start with it); CLIENT
        // alone is an arity error.
        assert_eq!(resolve(&a("command")).map(|(s, _)| s.name), Ok("command"));
        assert_eq!(
            resolve(&a("client")).err().map(|e| e.text().to_string()),
            Some("ERR wrong number of arguments for 'client' command".to_string())
        );
    }

    #[test]
    fn unknown_command_args_end_at_nul() {
        let args = [
            Bytes::from_static(b"fo\x00o"),
            Bytes::from_static(b"k"),
            Bytes::from_static(b"\x00\xfe\xff"),
        ];
        assert_eq!(
            resolve(&args).err().map(|e| e.text().to_string()),
            Some("ERR unknown command 'fo', with args beginning with: 'k' '' ".to_string())
        );
    }
}
