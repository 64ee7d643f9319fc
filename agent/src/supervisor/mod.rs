//! The supervisor: runs every shard as a child process, restarts the ones that exit, and
//! stops them all on SIGTERM/SIGINT.
//!
//! One loop on the main thread owns every child (see [`pre_exec`] for why the thread
//! matters). It waits for a signal, a probe result or a tick, in the way tini waits for
//! signals: on SIGCHLD it reaps every exited child ([`reaper`]), then decides for each
//! shard whether to restart it now or after a [`backoff`] delay.
//!
//! # Layout
//! - [`plan`]: config → the shards to run (counts, CPUs, ports, directories, memory).
//! - [`resources`]: the affinity mask and cgroup CPU and memory limits.
//! - [`spawn`]: the `shoal shard …` command line; [`pre_exec`]: its death signal.
//! - [`reaper`]: `waitpid` loop and subreaper registration.
//! - [`backoff`]: restart delays.
//! - [`slot`]: one shard's state; [`probe`]: PING and INFO over the shard's socket.

pub mod backoff;
pub mod plan;
#[allow(unsafe_code)]
mod pre_exec;
pub mod probe;
pub mod reaper;
pub mod resources;
pub mod slot;
pub mod spawn;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::sync::mpsc;

use self::backoff::Backoff;
use self::plan::Plan;
use self::reaper::Exit;
use self::slot::{Slot, State};
use self::spawn::Launch;
use crate::info::Info;
use crate::signals::{Event, Signals};
use crate::state::{Shared, Status};
use shoal_config::LogFormat;

/// How often starting shards are probed and backoff deadlines checked; it bounds the
/// time from "shard listening" to "ready", so it is short.
const TICK: Duration = Duration::from_millis(25);
/// How often each running shard's INFO is read for /metrics and /status.
const SCRAPE_EVERY: Duration = Duration::from_secs(5);

pub struct Options {
    pub exe: PathBuf,
    pub arg0: std::ffi::OsString,
    pub log_level: String,
    pub log_format: LogFormat,
    pub shutdown_timeout: Duration,
    pub backoff: Backoff,
    /// Up this long, a shard's past failures are forgiven.
    pub healthy_after: Duration,
    /// Stopped (no new clients, in-flight requests answered) before the shards are.
    pub proxy: Option<crate::proxy::Handle>,
}

enum ProbeKind {
    Ping,
    Info,
}

struct ProbeDone {
    slot: usize,
    pid: Pid,
    result: Result<Option<Info>, probe::ProbeError>,
}

struct Supervisor {
    slots: Vec<Slot>,
    shared: Arc<Shared>,
    opts: Options,
    probe_tx: mpsc::UnboundedSender<ProbeDone>,
    notified_ready: bool,
}

/// Runs the shards until SIGTERM or SIGINT, then stops them. Returns once every shard has
/// exited (or been killed after `shutdown_timeout`).
pub async fn run(plan: Plan, shared: Arc<Shared>, opts: Options, mut signals: Signals) {
    let (probe_tx, mut probe_rx) = mpsc::unbounded_channel();
    let slots: Vec<Slot> = plan.shards.into_iter().map(Slot::new).collect();
    for s in &slots {
        shared.metrics.register_shard(&s.spec.database, &s.label);
    }
    let mut sup = Supervisor {
        slots,
        shared,
        opts,
        probe_tx,
        notified_ready: false,
    };
    sup.start_due();
    sup.publish();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let why = loop {
        tokio::select! {
            ev = signals.next() => match ev {
                Event::Child => sup.reap(),
                Event::Terminate(name) => break name,
            },
            Some(done) = probe_rx.recv() => sup.on_probe(done),
            _ = tick.tick() => sup.on_tick(),
        }
        sup.publish();
    };
    // Not ready from the first moment of the stop, while the proxy drains, so that a load
    // balancer stops sending clients here.
    sup.mark_stopping();
    if let Some(p) = &sup.opts.proxy {
        p.stop(sup.opts.shutdown_timeout / 2).await;
    }
    sup.shutdown(why, &mut signals).await;
}

impl Supervisor {
    fn launch(&self) -> Launch<'_> {
        Launch {
            exe: &self.opts.exe,
            arg0: &self.opts.arg0,
            log_level: &self.opts.log_level,
            log_format: self.opts.log_format,
        }
    }

    fn on_tick(&mut self) {
        self.shared.beat();
        // SIGCHLD is coalesced and reaping is cheap: a periodic pass makes sure no exit
        // is ever missed.
        self.reap();
        self.start_due();
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let s = &self.slots[i];
            if s.probing || s.pid.is_none() {
                continue;
            }
            match s.state {
                State::Starting => self.probe(i, ProbeKind::Ping),
                State::Up if s.last_scrape.is_none_or(|t| now - t >= SCRAPE_EVERY) => {
                    self.probe(i, ProbeKind::Info)
                }
                _ => {}
            }
        }
    }

    fn start_due(&mut self) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            if matches!(self.slots[i].state, State::Backoff { until, .. } if until <= now) {
                self.start(i);
            }
        }
    }

    fn start(&mut self, i: usize) {
        let result = spawn::spawn(&self.launch(), &self.slots[i].spec);
        let s = &mut self.slots[i];
        s.started_at = Instant::now();
        let is_restart = std::mem::replace(&mut s.attempted, true);
        if is_restart {
            s.restarts += 1;
            self.shared
                .metrics
                .restarts
                .with_label_values(&[&s.spec.database, &s.label])
                .inc();
        }
        match result {
            Ok(pid) => {
                // A span per process, so the pid field names this run only.
                s.span = slot::span(&s.spec, Some(pid));
                s.pid = Some(pid);
                s.state = State::Starting;
                s.probing = false;
                let _g = s.span.enter();
                tracing::info!(
                    port = s.spec.port,
                    cpu = s.spec.cpu,
                    restarts = s.restarts,
                    "shard started"
                );
            }
            Err(e) => {
                let _g = s.span.enter();
                tracing::error!(error = %e, exe = %self.opts.exe.display(), "spawn failed");
                s.pid = None;
                let delay = self.opts.backoff.delay(s.failures.max(1));
                s.failures = s.failures.saturating_add(1);
                s.state = State::Backoff {
                    until: Instant::now() + delay,
                    delay,
                };
            }
        }
    }

    fn reap(&mut self) {
        for exit in reaper::reap_all() {
            match self.slots.iter().position(|s| s.pid == Some(exit.pid)) {
                Some(i) => self.on_exit(i, exit),
                None => tracing::debug!(pid = exit.pid.as_raw(), code = exit.code, "reaped orphan"),
            }
        }
    }

    fn on_exit(&mut self, i: usize, exit: Exit) {
        let s = &mut self.slots[i];
        let up_for = s.started_at.elapsed();
        s.pid = None;
        s.probing = false;
        s.last_exit = Some(exit.code);
        self.shared
            .metrics
            .up
            .with_label_values(&[&s.spec.database, &s.label])
            .set(0);
        if up_for >= self.opts.healthy_after {
            s.failures = 0;
        }
        let delay = self.opts.backoff.delay(s.failures);
        s.failures = s.failures.saturating_add(1);
        {
            let _g = s.span.enter();
            tracing::warn!(
                pid = exit.pid.as_raw(),
                code = exit.code,
                signal = exit.signal,
                up_ms = up_for.as_millis() as u64,
                restart_in_ms = delay.as_millis() as u64,
                failures = s.failures,
                "shard exited"
            );
        }
        s.state = State::Backoff {
            until: Instant::now() + delay,
            delay,
        };
        if delay.is_zero() {
            self.start(i);
        }
    }

    fn probe(&mut self, i: usize, kind: ProbeKind) {
        let s = &mut self.slots[i];
        let Some(pid) = s.pid else { return };
        s.probing = true;
        if matches!(kind, ProbeKind::Info) {
            s.last_scrape = Some(Instant::now());
        }
        let socket = s.spec.socket.clone();
        let password = s.spec.password.clone();
        let tx = self.probe_tx.clone();
        tokio::spawn(async move {
            let result = match kind {
                ProbeKind::Ping => probe::ping(&socket, password.as_deref())
                    .await
                    .map(|()| None),
                ProbeKind::Info => probe::info(&socket, password.as_deref())
                    .await
                    .map(|t| Some(Info::parse(&t))),
            };
            // The receiver is gone only when the supervisor has stopped.
            let _ = tx.send(ProbeDone {
                slot: i,
                pid,
                result,
            });
        });
    }

    fn on_probe(&mut self, done: ProbeDone) {
        let Some(s) = self.slots.get_mut(done.slot) else {
            return;
        };
        if s.pid != Some(done.pid) {
            return; // An answer about a process that has since exited.
        }
        s.probing = false;
        let labels = [s.spec.database.as_str(), s.label.as_str()];
        match done.result {
            Ok(None) => {
                if s.state == State::Starting {
                    s.state = State::Up;
                    self.shared.metrics.up.with_label_values(&labels).set(1);
                    let _g = s.span.enter();
                    tracing::info!(
                        start_ms = s.started_at.elapsed().as_millis() as u64,
                        "shard ready"
                    );
                    // Read its figures right away rather than on the next scrape.
                    s.last_scrape = None;
                }
            }
            Ok(Some(info)) => {
                s.keys = Some(info.keyspace().0);
                s.memory = info.get_u64("used_memory");
                s.clients = info.get_u64("connected_clients");
                self.shared
                    .metrics
                    .record_info(&s.spec.database, &s.label, &info);
            }
            // A starting shard is probed again on the next tick.
            Err(_) if s.state == State::Starting => {}
            // A running shard that cannot be reached (hung, or its socket gone) is not
            // ready until it answers PING again; it is not killed: a long command or a
            // slow disk looks the same, and a restart would only add an AOF replay.
            Err(e @ (probe::ProbeError::Timeout | probe::ProbeError::Connect(_))) => {
                s.state = State::Starting;
                self.shared.metrics.up.with_label_values(&labels).set(0);
                let _g = s.span.enter();
                tracing::warn!(error = %e, "shard stopped answering");
            }
            // An error reply only leaves the figures stale.
            Err(e) => {
                let _g = s.span.enter();
                tracing::debug!(error = %e, "scrape failed");
            }
        }
    }

    fn publish(&mut self) {
        let ready = self.slots.iter().all(|s| s.state == State::Up);
        if ready && !self.notified_ready {
            self.notified_ready = true;
            tracing::info!(shards = self.slots.len(), "all shards ready");
            crate::notify::send("READY=1\nSTATUS=all shards ready");
        }
        self.shared.publish(Status {
            ready,
            stopping: false,
            shards: self.slots.iter().map(Slot::status).collect(),
        });
    }

    /// SIGTERM every shard, wait for them, SIGKILL whatever is left at the deadline.
    async fn shutdown(&mut self, why: &'static str, signals: &mut Signals) {
        let began = Instant::now();
        tracing::info!(signal = why, "stopping shards");
        crate::notify::send("STOPPING=1");
        self.mark_stopping();
        for s in &mut self.slots {
            if let Some(pid) = s.pid {
                signal(pid, Signal::SIGTERM);
            }
            if !matches!(s.state, State::Starting | State::Up) {
                s.state = State::Stopped;
            }
        }
        // Keep a little of the budget for the kill and the final reap, so the agent
        // itself exits within shutdown_timeout.
        let margin = (self.opts.shutdown_timeout / 10).min(Duration::from_millis(500));
        let deadline = began + self.opts.shutdown_timeout.saturating_sub(margin);
        while self.any_running() && Instant::now() < deadline {
            tokio::select! {
                ev = signals.next() => if let Event::Terminate(name) = ev {
                    tracing::info!(signal = name, "already stopping");
                },
                _ = tokio::time::sleep(Duration::from_millis(20)) => {},
            }
            self.reap_stopping();
        }
        if self.any_running() {
            for s in &self.slots {
                if let Some(pid) = s.pid {
                    let _g = s.span.enter();
                    tracing::warn!(pid = pid.as_raw(), "shard did not stop in time; killing");
                    signal(pid, Signal::SIGKILL);
                }
            }
            let until = Instant::now() + margin;
            while self.any_running() && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(5)).await;
                self.reap_stopping();
            }
        }
        tracing::info!(
            took_ms = began.elapsed().as_millis() as u64,
            "all shards stopped"
        );
    }

    fn mark_stopping(&self) {
        let mut status = self.shared.snapshot();
        status.ready = false;
        status.stopping = true;
        self.shared.publish(status);
    }

    fn any_running(&self) -> bool {
        self.slots.iter().any(|s| s.pid.is_some())
    }

    fn reap_stopping(&mut self) {
        for exit in reaper::reap_all() {
            if let Some(s) = self.slots.iter_mut().find(|s| s.pid == Some(exit.pid)) {
                s.pid = None;
                s.state = State::Stopped;
                s.last_exit = Some(exit.code);
                let _g = s.span.enter();
                tracing::info!(pid = exit.pid.as_raw(), code = exit.code, "shard stopped");
            }
        }
    }
}

fn signal(pid: Pid, sig: Signal) {
    if let Err(e) = kill(pid, sig) {
        // ESRCH: it exited already and will be reaped.
        tracing::debug!(pid = pid.as_raw(), signal = %sig, error = %e, "kill");
    }
}
