//! The shard's event loop: one thread, one tokio current-thread runtime, listeners for TCP
//! and an optional Unix socket, and the periodic cron (expiry, clocks).

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::task::LocalSet;

use crate::config::ShardConfig;
use crate::conn;
use crate::state::{now_ms, Server};

/// Errors that stop a shard from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("pin to cpu {cpu}: {source}")]
    Pin { cpu: usize, source: nix::Error },
    /// Another live process owns the appendonlydir.
    #[error("{0}")]
    AofLocked(String),
    /// The AOF could not be loaded (damage names the file and offset).
    #[error(
        "Bad file format reading the append only file: {0} (inspect it with `shoal aof check`)"
    )]
    AofLoad(String),
    #[error("closing the AOF: {0}")]
    AofClose(String),
}

impl ShardError {
    /// The process exit code for this error: a locked directory and a damaged AOF are told
    /// apart from other failures so a supervisor need not parse the log.
    pub fn exit_code(&self) -> u8 {
        match self {
            // EX_CANTCREAT: the directory is someone else's.
            ShardError::AofLocked(_) => 73,
            // EX_DATAERR: the data needs an operator (`shoal aof check`).
            ShardError::AofLoad(_) => 65,
            ShardError::AofClose(_) => crate::aof::EXIT_AOF_FAILED as u8,
            _ => 70,
        }
    }
}

/// Runs a shard until it is told to stop.
pub fn run(config: ShardConfig) -> Result<(), ShardError> {
    if let Some(cpu) = config.cpu {
        pin_to_cpu(cpu)?;
    }
    // The current-thread runtime parks on this thread, the one `serve` installs the
    // server on, so the hook can hand the loop's appends to the AOF writer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(crate::persist::park::on_park)
        .build()
        .map_err(ShardError::Runtime)?;
    let local = LocalSet::new();
    local.block_on(&rt, serve(config))
}

fn pin_to_cpu(cpu: usize) -> Result<(), ShardError> {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    set.set(cpu)
        .map_err(|source| ShardError::Pin { cpu, source })?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|source| ShardError::Pin { cpu, source })
}

async fn serve(config: ShardConfig) -> Result<(), ShardError> {
    let shared = Rc::new(RefCell::new(Server::new(config.clone())));
    crate::persist::park::install(&shared);
    let mut tcp = Vec::new();
    // Port 0 means no TCP at all, as in Redis: a shard behind the agent's proxy is
    // reached over its Unix socket only.
    let addrs = if config.port == 0 { "" } else { &config.bind };
    for addr in addrs.split_whitespace() {
        // Redis's "-" prefix marks an optional address: skip it if unavailable.
        let (optional, host) = match addr.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, addr),
        };
        let target = if host.contains(':') {
            format!("[{host}]:{}", config.port)
        } else {
            format!("{host}:{}", config.port)
        };
        match TcpListener::bind(&target).await {
            Ok(l) => tcp.push(l),
            Err(e) if optional => {
                tracing::warn!(addr = %target, error = %e, "optional bind address unavailable")
            }
            Err(source) => {
                return Err(ShardError::Listen {
                    addr: target,
                    source,
                })
            }
        }
    }
    if let Some(path) = &config.unixsocket {
        let listener = bind_unix(path)?;
        tokio::task::spawn_local(accept_unix(shared.clone(), listener));
    }
    let mut tasks = Vec::new();
    for l in tcp {
        tasks.push(tokio::task::spawn_local(accept_tcp(shared.clone(), l)));
    }
    let stop = shared.borrow().shutdown.clone();
    if config.appendonly {
        // Connections are accepted meanwhile and answered -LOADING.
        let loaded = tokio::select! {
            r = crate::persist::load::load(&shared) => r,
            _ = shutdown_signal() => return Ok(()),
        };
        match loaded {
            Ok(()) => {}
            Err(crate::persist::load::StartError::Locked(e)) => {
                return Err(ShardError::AofLocked(e.to_string()))
            }
            Err(e) => return Err(ShardError::AofLoad(e.to_string())),
        }
    }
    tracing::info!(port = config.port, bind = %config.bind, "shard ready to accept connections");
    tokio::task::spawn_local(cron(shared.clone()));
    tokio::task::spawn_local(crate::persist::rewrite::drive(shared.clone()));
    tokio::select! {
        _ = shutdown_signal() => {}
        _ = stop.notified() => {}
    }
    tracing::info!("shard shutting down");
    let aof = shared.borrow_mut().persist.aof.take();
    if let Some(aof) = aof {
        aof.close()
            .map_err(|e| ShardError::AofClose(e.to_string()))?;
        tracing::info!("AOF synced and closed");
    }
    Ok(())
}

/// Binds the Unix socket and makes it owner-only (0700) before it starts listening, so
/// no other user can connect even for an instant: the socket skips protected mode, and
/// behind the agent it is the proxy's trusted upstream.
fn bind_unix(path: &Path) -> Result<UnixListener, ShardError> {
    use nix::sys::socket::UnixAddr;
    use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType};
    use std::os::unix::fs::PermissionsExt;
    let err = |source: std::io::Error| ShardError::Listen {
        addr: path.display().to_string(),
        source,
    };
    // A socket file left by a previous run of this shard would make bind fail.
    if path.exists() {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "remove stale unix socket");
        }
    }
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| err(e.into()))?;
    let addr = UnixAddr::new(path).map_err(|e| err(e.into()))?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).map_err(|e| err(e.into()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    listen(&fd, Backlog::new(511).unwrap_or(Backlog::MAXCONN)).map_err(|e| err(e.into()))?;
    UnixListener::from_std(std::os::unix::net::UnixListener::from(fd)).map_err(err)
}

async fn accept_tcp(shared: Rc<RefCell<Server>>, listener: TcpListener) {
    let laddr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Replies are written in whole batches; Nagle would only add latency.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "set TCP_NODELAY");
                }
                if protected(&shared, peer.ip()) {
                    tokio::task::spawn_local(refuse_with(stream, crate::acl::DENIED));
                    continue;
                }
                if !admit(&shared) {
                    tokio::task::spawn_local(refuse(stream));
                    continue;
                }
                tokio::task::spawn_local(conn::serve(
                    shared.clone(),
                    stream,
                    peer.to_string(),
                    laddr.clone(),
                    false,
                ));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn accept_unix(shared: Rc<RefCell<Server>>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                if !admit(&shared) {
                    tokio::task::spawn_local(refuse(stream));
                    continue;
                }
                let path = shared
                    .borrow()
                    .config
                    .unixsocket
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                tokio::task::spawn_local(conn::serve(
                    shared.clone(),
                    stream,
                    format!("{path}:0"),
                    path,
                    true,
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Tells a client over `maxclients` why it is being turned away, then closes.
async fn refuse<S: tokio::io::AsyncWrite + Unpin>(stream: S) {
    refuse_with(stream, b"-ERR max number of clients reached\r\n").await
}

/// Writes `text` and closes.
async fn refuse_with<S: tokio::io::AsyncWrite + Unpin>(mut stream: S, text: &'static [u8]) {
    use tokio::io::AsyncWriteExt;
    // Best effort with a bound: a peer that does not read must not hold the task.
    let write = stream.write_all(text);
    if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(1), write).await {
        tracing::debug!(error = %e, "refusing client");
    }
}

/// Protected mode on a TCP connection from `peer` (see
/// [`crate::acl::protected_mode_denies`]).
fn protected(shared: &Rc<RefCell<Server>>, peer: std::net::IpAddr) -> bool {
    let srv = shared.borrow();
    crate::acl::protected_mode_denies(
        srv.config.protected_mode,
        srv.acl.default_is_open(),
        Some(peer),
    )
}

/// Enforces `maxclients`.
fn admit(shared: &Rc<RefCell<Server>>) -> bool {
    let mut srv = shared.borrow_mut();
    if srv.clients.len() as u64 >= srv.config.maxclients {
        srv.stats.rejected_connections += 1;
        return false;
    }
    true
}

/// Periodic work, `hz` times a second: the LRU clock, the instantaneous metrics and
/// active expiry (a quarter of each period at most, as Redis budgets it). `hz` is read
/// each tick so CONFIG SET hz takes effect at once.
async fn cron(shared: Rc<RefCell<Server>>) {
    let mut hz = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last_sample = 0;
    loop {
        let want = shared.borrow().config.hz.clamp(1, 500);
        if want != hz {
            hz = want;
            tick = tokio::time::interval(Duration::from_millis(1000 / hz as u64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
        }
        tick.tick().await;
        let period = Duration::from_millis(1000 / hz as u64);
        let mut srv = shared.borrow_mut();
        let srv = &mut *srv;
        let now = now_ms();
        srv.wall = crate::state::WallClock::new();
        srv.db.lru_clock = (srv.started.elapsed().as_secs() & 0xFF_FFFF) as u32;
        // Redis samples its instantaneous metrics every 100 ms whatever hz is.
        if now - last_sample >= 100 {
            last_sample = now;
            let s = &mut srv.stats;
            s.ops_rate.sample(s.total_commands_processed, now);
            s.input_rate.sample(s.total_net_input_bytes, now);
            s.output_rate.sample(s.total_net_output_bytes, now);
            let used = crate::state::used_memory();
            s.peak_memory = s.peak_memory.max(used);
        }
        if srv.config.timeout > 0 {
            close_idle_clients(srv);
        }
        // Nothing may change the keyspace while a (busy) script runs, and a rewrite
        // must not split its effects from their MULTI.
        let scripting = srv.scripts.running.is_some();
        if srv.db.active_expire_enabled && !scripting {
            crate::notify::arm(srv);
            srv.db.active_expire_cycle(now, period / 4, &mut srv.rng);
            crate::cmd::after_expiry(srv);
            crate::notify::publish_pending(srv);
        }
        // Eviction a command's budget cut short, or a lowered `maxmemory`, goes on here.
        if srv.config.maxmemory > 0 && !scripting {
            crate::notify::arm(srv);
            crate::evict::perform(srv);
            crate::notify::publish_pending(srv);
        }
        if let Some(aof) = srv.persist.aof.as_mut() {
            if aof.must_exit() {
                tracing::error!(state = ?aof.state(), "AOF failed under appendfsync always; exiting");
                std::process::exit(crate::aof::EXIT_AOF_FAILED);
            }
            aof.flush();
        }
        if !scripting {
            crate::persist::rewrite::cron(srv);
        }
    }
}

/// Closes clients idle for longer than `timeout` seconds, as Redis's client cron does.
/// The connection running a command is never idle, and its entry is borrowed, so
/// `try_borrow_mut` skips it.
fn close_idle_clients(srv: &mut Server) {
    let limit = Duration::from_secs(srv.config.timeout);
    let idle: Vec<u64> = srv
        .clients
        .clients
        .iter()
        .filter_map(|(id, c)| {
            let c = c.try_borrow().ok()?;
            // A blocked client waits on its own timeout, and a subscriber on messages, as
            // in Redis.
            let idle = c.last_interaction.elapsed() > limit && !c.killed;
            let waiting = srv.blocking.is_blocked(*id) || srv.pubsub.is_subscribed(*id);
            (idle && !waiting).then_some(*id)
        })
        .collect();
    for id in idle {
        if let Some(rc) = srv.clients.clients.remove(&id) {
            if let Ok(mut c) = rc.try_borrow_mut() {
                tracing::debug!(client.id = id, "closing idle client");
                c.killed = true;
                c.kill_signal.notify_one();
            }
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => std::future::pending::<()>().await,
    }
}
