//! Starting the agent: plan the shards, open the admin port, then hand over to the
//! supervisor until a stop signal.

use std::path::PathBuf;
use std::sync::Arc;

use shoal_config::Config;

use crate::metrics::Metrics;
use crate::signals::Signals;
use crate::state::Shared;
use crate::supervisor::backoff::Backoff;
use crate::supervisor::plan::{self, PlanError, Resources};
use crate::supervisor::{self, reaper};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("admin port {addr}: {source}")]
    AdminBind {
        addr: String,
        source: std::io::Error,
    },
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    #[error("signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Proxy(#[from] crate::proxy::ProxyError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
}

/// The running binary, for re-executing as `shoal shard`. `/proc/self/exe` still works when
/// the file has been replaced on disk (an upgrade in place), so the shards always match
/// the agent's version.
fn own_exe() -> PathBuf {
    let proc_exe = PathBuf::from("/proc/self/exe");
    if proc_exe.exists() {
        return proc_exe;
    }
    std::env::current_exe().unwrap_or(proc_exe)
}

/// Clients reach a database through the proxy on its port; a shard listens on TCP only
/// for the cluster API, and otherwise on its Unix socket alone (an empty bind list).
fn proxy_only(config: &Config, plan: &mut plan::Plan) {
    for s in &mut plan.shards {
        let cluster = config
            .databases
            .iter()
            .any(|d| d.name == s.database && d.cluster_api);
        if !cluster {
            s.bind = String::new();
        }
    }
}

pub fn run(config: Config) -> Result<(), RunError> {
    // First, before anything in the directory is created or unlinked: another agent's
    // sockets and AOFs there must stay untouched.
    let _lock = crate::lock::AgentLock::acquire(&config.data_dir)?;
    let resources = Resources::detect()?;
    let mut plan = plan::plan(&config, &resources)?;
    proxy_only(&config, &mut plan);
    plan::prepare_dirs(&plan)?;
    tracing::info!(
        shards = plan.shards.len(),
        databases = config.databases.len(),
        cpus = ?plan.allowed_cpus,
        cpu_quota = resources.cpu_quota,
        memory_limit = resources.memory_limit,
        data_dir = %config.data_dir.display(),
        "starting agent"
    );
    if resources.memory_limit.is_some() && plan.shards.iter().any(|s| s.maxmemory == 0) {
        tracing::warn!(
            memory_limit = resources.memory_limit,
            "the cgroup memory limit leaves nothing for the shards after the agent's headroom; \
             they run without maxmemory"
        );
    }
    reaper::become_subreaper();

    // One thread: PR_SET_PDEATHSIG follows the thread that forked, and the supervisor's
    // work (a few syscalls per event) needs no more.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;
    rt.block_on(async {
        // Handlers first: a shard that dies at once must still produce a SIGCHLD we see.
        let signals = Signals::install().map_err(RunError::Signals)?;
        let admin_addr = format!("{}:{}", config.admin_bind, config.admin_port);
        let listener = tokio::net::TcpListener::bind(&admin_addr)
            .await
            .map_err(|source| RunError::AdminBind {
                addr: admin_addr.clone(),
                source,
            })?;
        tracing::info!(addr = %admin_addr, "admin endpoints listening");
        let shared = Arc::new(Shared::new(Metrics::new()?));
        shared.beat();
        let proxy = crate::proxy::start(&config, &plan, &shared.metrics).await?;
        let admin = tokio::spawn(crate::admin::serve(listener, shared.clone()));
        let opts = supervisor::Options {
            exe: own_exe(),
            arg0: std::env::args_os().next().unwrap_or_else(|| "shoal".into()),
            log_level: config.log_level.clone(),
            log_format: config.log_format,
            shutdown_timeout: config.shutdown_timeout,
            // The config crate checked 0 < min <= max; the jitter is a constant in range.
            backoff: Backoff::try_new(config.restart_delay_min, config.restart_delay_max, 0.2)
                .map_err(|e| {
                    PlanError::Config(shoal_config::ConfigError::Invalid {
                        key: "restart_delay_min".into(),
                        message: e.to_string(),
                    })
                })?,
            healthy_after: config.restart_reset_after,
            proxy: Some(proxy),
        };
        supervisor::run(plan, shared, opts, signals).await;
        admin.abort();
        Ok(())
    })
}
