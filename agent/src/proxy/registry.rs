//! The clients of one database as CLIENT LIST, CLIENT INFO and CLIENT KILL see them,
//! across every proxy thread. Each client updates its own entry once per batch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

/// Client ids are unique across databases and threads, as Redis's are per server.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

pub struct ClientMeta {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub name: Mutex<Option<String>>,
    pub last_cmd: Mutex<&'static str>,
    /// Milliseconds since `created` at the last command.
    pub last_active_ms: AtomicU64,
    pub resp: AtomicU8,
    pub killed: AtomicBool,
    pub kill: Notify,
    /// While the client waits on a dedicated connection: its shard and the connection's
    /// id there, which CLIENT UNBLOCK passes on.
    pub blocked_on: Mutex<Option<(usize, i64)>>,
}

impl ClientMeta {
    pub fn new(id: u64, addr: String, laddr: String) -> ClientMeta {
        ClientMeta {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(None),
            last_cmd: Mutex::new("NULL"),
            last_active_ms: AtomicU64::new(0),
            resp: AtomicU8::new(2),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            blocked_on: Mutex::new(None),
        }
    }

    pub fn name(&self) -> Option<String> {
        match self.name.lock() {
            Ok(n) => n.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn set_name(&self, name: Option<String>) {
        match self.name.lock() {
            Ok(mut n) => *n = name,
            Err(p) => *p.into_inner() = name,
        }
    }

    pub fn touch(&self, cmd: &'static str) {
        let ms = u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active_ms.store(ms, Ordering::Relaxed);
        match self.last_cmd.lock() {
            Ok(mut c) => *c = cmd,
            Err(p) => *p.into_inner() = cmd,
        }
    }

    pub fn set_blocked_on(&self, on: Option<(usize, i64)>) {
        match self.blocked_on.lock() {
            Ok(mut b) => *b = on,
            Err(p) => *p.into_inner() = on,
        }
    }

    pub fn blocked_on(&self) -> Option<(usize, i64)> {
        match self.blocked_on.lock() {
            Ok(b) => *b,
            Err(p) => *p.into_inner(),
        }
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.kill.notify_one();
    }

    /// One CLIENT LIST line, in Redis's field order (fields the proxy has no notion of
    /// keep Redis's neutral values).
    pub fn line(&self, subs: (usize, usize), multi: i64) -> String {
        let age = self.created.elapsed().as_secs();
        let idle_ms = u64::try_from(self.created.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_sub(self.last_active_ms.load(Ordering::Relaxed));
        let cmd = match self.last_cmd.lock() {
            Ok(c) => *c,
            Err(p) => *p.into_inner(),
        };
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db=0 sub={} psub=0 ssub={} \
             multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 \
             tot-mem=0 events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.name().unwrap_or_default(),
            age,
            idle_ms / 1000,
            if subs.0 + subs.1 > 0 {
                "P"
            } else if multi >= 0 {
                "x"
            } else if self.blocked_on().is_some() {
                "b"
            } else {
                "N"
            },
            subs.0,
            subs.1,
            multi,
            cmd,
            self.resp.load(Ordering::Relaxed),
        )
    }
}

#[derive(Default)]
pub struct Registry {
    clients: Mutex<BTreeMap<u64, Arc<ClientMeta>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<ClientMeta>>> {
        match self.clients.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        }
    }

    pub fn add(&self, c: Arc<ClientMeta>) -> usize {
        let mut m = self.lock();
        m.insert(c.id, c);
        m.len()
    }

    pub fn remove(&self, id: u64) -> usize {
        let mut m = self.lock();
        m.remove(&id);
        m.len()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientMeta>> {
        self.lock().get(&id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<ClientMeta>> {
        self.lock().values().cloned().collect()
    }
}
