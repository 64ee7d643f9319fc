//! One shard's place in the supervisor: its spec, its current process and its history.

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::plan::ShardSpec;
use crate::state::ShardStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Spawned; not yet answering PING (starting, or loading its AOF).
    Starting,
    /// Answered PING.
    Up,
    /// Exited; restarts at `until`.
    Backoff { until: Instant, delay: Duration },
    /// Stopped by the agent's shutdown.
    Stopped,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Up => "up",
            State::Backoff { .. } => "backoff",
            State::Stopped => "stopped",
        }
    }
}

pub struct Slot {
    pub spec: ShardSpec,
    pub label: String,
    pub span: tracing::Span,
    pub state: State,
    pub pid: Option<Pid>,
    pub started_at: Instant,
    /// Respawns after an exit (the first start is not one).
    pub restarts: u64,
    /// Some start was tried before, so the next one counts as a restart.
    pub attempted: bool,
    /// Consecutive failures since the last healthy period; drives the backoff.
    pub failures: u32,
    pub last_exit: Option<i32>,
    /// A probe is in flight: don't start another.
    pub probing: bool,
    pub last_scrape: Option<Instant>,
    pub keys: Option<u64>,
    pub memory: Option<u64>,
    pub clients: Option<u64>,
}

pub fn span(spec: &ShardSpec, pid: Option<Pid>) -> tracing::Span {
    tracing::info_span!(
        "shard",
        database = %spec.database,
        shard = spec.index,
        pid = pid.map(Pid::as_raw),
    )
}

impl Slot {
    pub fn new(spec: ShardSpec) -> Slot {
        let span = span(&spec, None);
        Slot {
            label: spec.index.to_string(),
            span,
            spec,
            state: State::Backoff {
                until: Instant::now(),
                delay: Duration::ZERO,
            },
            pid: None,
            started_at: Instant::now(),
            restarts: 0,
            attempted: false,
            failures: 0,
            last_exit: None,
            probing: false,
            last_scrape: None,
            keys: None,
            memory: None,
            clients: None,
        }
    }

    pub fn status(&self) -> ShardStatus {
        ShardStatus {
            database: self.spec.database.clone(),
            shard: self.spec.index,
            pid: self.pid.map(Pid::as_raw),
            cpu: self.spec.cpu,
            state: self.state.name(),
            restarts: self.restarts,
            port: self.spec.port,
            socket: self.spec.socket.display().to_string(),
            last_exit: self.last_exit,
            backoff_ms: match self.state {
                State::Backoff { delay, .. } => {
                    Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
                }
                _ => None,
            },
            keys: self.keys,
            memory_used_bytes: self.memory,
            connected_clients: self.clients,
        }
    }
}
