//! Turns a validated [`Config`] into the list of shards to run: how many per database,
//! which CPU, port, directories, socket and memory limit each one gets.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use shoal_config::{Config, ConfigError, Shards};

use super::resources;

/// Linux's `sun_path` holds 108 bytes, the terminating NUL included.
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSpec {
    pub database: String,
    pub index: usize,
    /// Until the proxy exists each shard serves clients on `database port + index`: the
    /// port layout of the future cluster-API mode.
    pub port: u16,
    pub bind: String,
    pub cpu: Option<usize>,
    pub data_dir: PathBuf,
    pub socket: PathBuf,
    pub password: Option<String>,
    /// Bytes; 0 = no limit.
    pub maxmemory: u64,
    pub maxmemory_policy: &'static str,
    pub appendonly: bool,
    pub appendfsync: &'static str,
}

#[derive(Debug)]
pub struct Plan {
    pub shards: Vec<ShardSpec>,
    pub run_dir: PathBuf,
    pub allowed_cpus: Vec<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("sched_getaffinity: {0}")]
    Affinity(nix::Error),
    #[error("socket path {0} is longer than 107 bytes; choose a shorter data_dir")]
    SocketPath(PathBuf),
}

impl PlanError {
    /// Mistakes of the operator exit `EX_USAGE`; the system refusing is `EX_OSERR`.
    pub fn is_usage(&self) -> bool {
        matches!(self, PlanError::Config(_) | PlanError::SocketPath(_))
    }
}

/// What the machine offers, separated out so planning can be tested with any numbers.
#[derive(Debug, Clone)]
pub struct Resources {
    pub allowed_cpus: Vec<usize>,
    pub cpu_quota: Option<usize>,
    pub memory_limit: Option<u64>,
}

impl Resources {
    pub fn detect() -> Result<Resources, PlanError> {
        Ok(Resources {
            allowed_cpus: resources::allowed_cpus().map_err(PlanError::Affinity)?,
            cpu_quota: resources::cgroup_cpu_limit(),
            memory_limit: resources::cgroup_memory_limit(),
        })
    }
}

pub fn plan(config: &Config, res: &Resources) -> Result<Plan, PlanError> {
    let cpus = &res.allowed_cpus;
    let counts: Vec<u16> = config
        .databases
        .iter()
        .map(|db| match db.shards {
            Shards::Count(n) => n,
            Shards::Auto => {
                let n = resources::auto_shards(cpus.len(), res.cpu_quota);
                u16::try_from(n).unwrap_or(shoal_config::validate::MAX_SHARDS)
            }
        })
        .collect();
    config.check_port_ranges(&counts)?;
    let total: usize = counts.iter().map(|&n| usize::from(n)).sum();
    let run_dir = config.data_dir.join("run");

    let mut shards = Vec::with_capacity(total);
    for (db, &n) in config.databases.iter().zip(&counts) {
        let n = usize::from(n);
        let maxmemory = match (db.maxmemory, res.memory_limit) {
            (Some(m), _) => m / n as u64,
            (None, Some(limit)) => resources::shard_memory(limit, total),
            (None, None) => 0,
        };
        for i in 0..n {
            let socket = run_dir.join(format!("{}-{i}.sock", db.name));
            if socket.as_os_str().len() > MAX_SOCKET_PATH {
                return Err(PlanError::SocketPath(socket));
            }
            shards.push(ShardSpec {
                database: db.name.clone(),
                index: i,
                // check_port_ranges proved port + i <= 65535.
                port: db.port.saturating_add(i as u16),
                bind: config.bind.clone(),
                // Round robin over the allowed set only: a shard pinned outside the
                // container's cpuset would fail sched_setaffinity.
                cpu: (!cpus.is_empty()).then(|| cpus[shards.len() % cpus.len()]),
                data_dir: config.data_dir.join(&db.name).join(format!("shard-{i}")),
                socket,
                password: db.password.clone(),
                maxmemory,
                maxmemory_policy: db.maxmemory_policy.as_str(),
                appendonly: db.appendonly,
                appendfsync: db.appendfsync.as_str(),
            });
        }
    }
    Ok(Plan {
        shards,
        run_dir,
        allowed_cpus: cpus.clone(),
    })
}

/// Creates the data directories and the socket directory. The socket directory is 0700:
/// a shard's Unix socket skips protected mode, so only the agent's user may reach it.
pub fn prepare_dirs(plan: &Plan) -> Result<(), PlanError> {
    let io = |path: &Path, op, source| PlanError::Io {
        path: path.to_path_buf(),
        op,
        source,
    };
    std::fs::create_dir_all(&plan.run_dir).map_err(|e| io(&plan.run_dir, "create", e))?;
    std::fs::set_permissions(&plan.run_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io(&plan.run_dir, "chmod 0700", e))?;
    for s in &plan.shards {
        std::fs::create_dir_all(&s.data_dir).map_err(|e| io(&s.data_dir, "create", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_config::{Overrides, RawConfig};

    fn config(toml: &str) -> Config {
        let mut raw = RawConfig::from_toml(toml).unwrap();
        Overrides::default().apply(&mut raw);
        Config::from_raw(raw).unwrap()
    }

    fn res(cpus: &[usize], quota: Option<usize>, mem: Option<u64>) -> Resources {
        Resources {
            allowed_cpus: cpus.to_vec(),
            cpu_quota: quota,
            memory_limit: mem,
        }
    }

    #[test]
    fn auto_uses_allowed_cpus_capped_by_quota() {
        let c = config("data_dir = \"/d\"");
        let p = plan(&c, &res(&[2, 5, 7], None, None)).unwrap();
        let cpus: Vec<_> = p.shards.iter().map(|s| s.cpu).collect();
        assert_eq!(cpus, [Some(2), Some(5), Some(7)]);
        let p = plan(&c, &res(&[2, 5, 7], Some(2), None)).unwrap();
        assert_eq!(p.shards.len(), 2);
    }

    #[test]
    fn layout_of_ports_dirs_and_sockets() {
        let c = config(
            "data_dir = \"/d\"\nshards = 3\n[[database]]\nname = \"a\"\nport = 7000\n\
             [[database]]\nname = \"b\"\nport = 7100\nshards = 2\nmaxmemory = \"100mb\"\n",
        );
        let p = plan(&c, &res(&[0, 1], None, Some(1 << 30))).unwrap();
        assert_eq!(p.shards.len(), 5);
        let s = &p.shards[4];
        assert_eq!((s.database.as_str(), s.index, s.port), ("b", 1, 7101));
        assert_eq!(s.data_dir, PathBuf::from("/d/b/shard-1"));
        assert_eq!(s.socket, PathBuf::from("/d/run/b-1.sock"));
        assert_eq!(s.maxmemory, (100 << 20) / 2);
        // More shards than CPUs: round robin, never outside the set.
        let cpus: Vec<_> = p.shards.iter().map(|s| s.cpu.unwrap()).collect();
        assert_eq!(cpus, [0, 1, 0, 1, 0]);
        // Database a has no maxmemory: the cgroup limit less headroom, over all 5 shards.
        assert_eq!(p.shards[0].maxmemory, resources::shard_memory(1 << 30, 5));
    }

    #[test]
    fn overlapping_shard_ports_are_a_config_error() {
        // Valid on its own; with "auto" = 4 CPUs, database a needs 7000-7003.
        let c = config("[[database]]\nname = \"a\"\nport = 7000\n[[database]]\nname = \"b\"\nport = 7002\nshards = 1\n");
        assert!(plan(&c, &res(&[0, 1], None, None)).is_ok());
        let e = plan(&c, &res(&[0, 1, 2, 3], None, None)).unwrap_err();
        assert!(e.is_usage());
        assert!(e.to_string().starts_with("database[1].port: "), "{e}");
    }

    #[test]
    fn long_socket_paths_are_refused() {
        let dir = "/x".repeat(60);
        let c = config(&format!("data_dir = \"{dir}\""));
        assert!(matches!(
            plan(&c, &res(&[0], None, None)),
            Err(PlanError::SocketPath(_))
        ));
    }
}
