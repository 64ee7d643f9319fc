//! Per-connection client state, and the registry behind CLIENT LIST / KILL.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use shoal_proto::Protocol;
use tokio::sync::Notify;

/// What the server knows about one connection.
pub struct Client {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub name: Option<Bytes>,
    pub proto: Protocol,
    pub created: Instant,
    pub last_interaction: Instant,
    /// Full name of the last command run (`client|list`), for CLIENT LIST's `cmd=`.
    pub last_cmd: &'static str,
    /// The spec of the command `cmd::execute` is running (None if it named no command).
    pub running: Option<&'static shoal_proto::command::CommandSpec>,
    /// The last plain command (one without subcommands) this client ran, and its handler:
    /// a pipeline mostly repeats one command, so it is resolved without a table lookup.
    pub last_resolved: Option<(
        &'static shoal_proto::command::CommandSpec,
        crate::cmd::Handler,
    )>,
    /// The AOF offset this connection's pending replies must see durable under
    /// `appendfsync always` (`persist::dirty::ALL`: everything applied).
    pub durable_need: u64,
    /// True when no password is required or the client has authenticated.
    pub authenticated: bool,
    /// Reply, then close (QUIT, CLIENT KILL of oneself, protocol errors).
    pub close_after_reply: bool,
    /// Set by CLIENT KILL from another connection; the connection task stops at its next
    /// wake-up, which `kill_signal` triggers.
    pub killed: bool,
    pub kill_signal: Rc<Notify>,
    /// Bytes waiting in the query buffer, and in the reply buffer, for CLIENT LIST.
    pub qbuf: usize,
    pub obuf: usize,
    pub is_unix: bool,
    /// Set by a blocking command that found nothing to serve; the dispatcher turns it into
    /// a wait (see `blocking`).
    pub block: Option<crate::blocking::BlockSpec>,
    /// True while blocking is not allowed (inside EXEC), so blocking commands answer at
    /// once.
    pub deny_blocking: bool,
    /// The queued transaction, while the client is inside MULTI.
    pub tx: Option<Box<crate::cmd::multi::Queue>>,
    /// Pub/sub messages waiting to be written to this connection.
    pub outbox: Rc<crate::pubsub::outbox::Outbox>,
    /// CLIENT REPLY OFF: replies are dropped until CLIENT REPLY ON.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: the next command's reply is dropped.
    pub reply_skip_next: bool,
    /// The running command's reply is being dropped (the one after a SKIP); CLIENT
    /// REPLY ON clears it, so its own OK is still sent.
    pub reply_skip: bool,
    /// CLIENT NO-EVICT ON.
    pub no_evict: bool,
    /// This client's script turned busy; the connection awaits its end (`script::run`).
    pub script_wait: bool,
    /// The client scripts run their commands as.
    pub script: bool,
    /// The user a TCP client runs as, checked before each command; `None` where no check
    /// applies (the Unix socket the agent's proxy uses, which checked already; the AOF
    /// loader).
    pub session: Option<crate::acl::Session>,
    /// The user the agent's proxy runs this command for (see [`crate::cmd::RUN_AS`]):
    /// what a script the command starts is checked against.
    pub run_as: Option<std::sync::Arc<crate::acl::User>>,
}

impl Client {
    pub fn new(id: u64, addr: String, laddr: String, is_unix: bool, authenticated: bool) -> Client {
        let now = Instant::now();
        Client {
            id,
            addr,
            laddr,
            name: None,
            proto: Protocol::Resp2,
            created: now,
            last_interaction: now,
            last_cmd: "NULL",
            last_resolved: None,
            running: None,
            durable_need: 0,
            authenticated,
            close_after_reply: false,
            killed: false,
            kill_signal: Rc::new(Notify::new()),
            qbuf: 0,
            obuf: 0,
            is_unix,
            block: None,
            deny_blocking: false,
            tx: None,
            outbox: Rc::new(crate::pubsub::outbox::Outbox::new(
                Protocol::Resp2,
                crate::pubsub::outbox::PUBSUB_HARD_LIMIT,
            )),
            reply_off: false,
            reply_skip_next: false,
            reply_skip: false,
            no_evict: false,
            script_wait: false,
            script: false,
            session: None,
            run_as: None,
        }
    }

    /// The user whose permissions the running command's scripts are held to: the TCP
    /// client's own, or the one the proxy named; `None` when it may do everything.
    pub fn acl_user(&self) -> Option<std::sync::Arc<crate::acl::User>> {
        let user = match &self.session {
            Some(s) => Some(s.user.clone()),
            None => self.run_as.clone(),
        };
        user.filter(|u| !u.unrestricted())
    }

    /// One line of CLIENT LIST / CLIENT INFO, with Redis's field names and order.
    pub fn info_line(&self) -> String {
        let age = self.created.elapsed().as_secs();
        let idle = self.last_interaction.elapsed().as_secs();
        let name = self
            .name
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let resp = match self.proto {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        };
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db=0 sub=0 psub=0 ssub=0 multi=-1 \
             qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 \
             events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            name,
            age,
            idle,
            self.flags(),
            self.qbuf,
            self.last_cmd,
            resp
        )
    }

    /// The `flags=` letters of CLIENT LIST, in Redis's order; `N` when none apply.
    pub fn flags(&self) -> String {
        let mut f = String::new();
        if self.close_after_reply {
            f.push('c');
        }
        if self.is_unix {
            f.push('U');
        }
        if self.no_evict {
            f.push('e');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }
}

/// Every connected client, by id. A connection's own entry is mutably borrowed while it
/// runs a command, so code that walks the registry uses the command's own `Client` for
/// that id instead of borrowing the registry's.
#[derive(Default)]
pub struct Registry {
    pub clients: BTreeMap<u64, Rc<RefCell<Client>>>,
    next_id: u64,
}

impl Registry {
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn add(&mut self, client: Rc<RefCell<Client>>, id: u64) {
        self.clients.insert(id, client);
    }

    pub fn remove(&mut self, id: u64) {
        self.clients.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}
