//! Turns a validated [`Config`] into the list of shards to run: how many per database,
//! which CPU, port, directories, socket and memory limit each one gets.
//!
//! Ports: clients reach a database on its `port`, where the agent's proxy listens; the
//! proxy reaches each shard over the shard's Unix socket. With `cluster_api = true`,
//! shard `i` also listens on TCP `port + 1 + i` in Redis Cluster mode, for clients that
//! route by slot themselves. The offset of one keeps the database port for the proxy.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shoal_config::{Config, ConfigError, Shards};
use shoal_proto::cluster::Topology;
use shoal_proto::SlotMap;

use super::resources;

/// Linux's `sun_path` holds 108 bytes, the terminating NUL included.
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSpec {
    pub database: String,
    pub index: usize,
    /// TCP port, only with `cluster_api`: `database port + 1 + index`.
    pub port: Option<u16>,
    pub bind: String,
    pub cpu: Option<usize>,
    pub data_dir: PathBuf,
    pub socket: PathBuf,
    pub password: Option<String>,
    /// The database's `[[database.user]]` users (name, rules): a shard's TCP port
    /// (`cluster_api`) enforces them as the proxy does.
    pub users: Vec<(String, String)>,
    /// The database's `protected_mode`, for the shard's TCP port.
    pub protected_mode: bool,
    /// Bytes; 0 = no limit.
    pub maxmemory: u64,
    pub maxmemory_policy: &'static str,
    pub appendonly: bool,
    pub appendfsync: &'static str,
    /// Cluster mode (only with `cluster_api`): the database's nodes, shared by its shards.
    pub cluster: Option<Arc<Topology>>,
    /// Stable per (database, shard index): the SHA-1 of the shard's data directory.
    pub node_id: String,
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
    let announce = announce_host(config);
    let run_dir = config.data_dir.join("run");

    let mut shards = Vec::with_capacity(total);
    for (db, &n) in config.databases.iter().zip(&counts) {
        let n = usize::from(n);
        let maxmemory = match (db.maxmemory, res.memory_limit) {
            (Some(m), _) => m / n as u64,
            (None, Some(limit)) => resources::shard_memory(limit, total),
            (None, None) => 0,
        };
        let data_dirs: Vec<PathBuf> = (0..n)
            .map(|i| config.data_dir.join(&db.name).join(format!("shard-{i}")))
            .collect();
        let ids: Vec<String> = data_dirs.iter().map(|d| node_id(d)).collect();
        // check_port_ranges proved port + n <= 65535 for cluster_api databases.
        let tcp_port = |i: usize| {
            db.cluster_api
                .then(|| db.port.saturating_add(1).saturating_add(i as u16))
        };
        let cluster = db.cluster_api.then(|| {
            let addrs: Vec<(String, u16)> = (0..n)
                .map(|i| (announce.clone(), tcp_port(i).unwrap_or(0)))
                .collect();
            Arc::new(Topology::from_slotmap(&SlotMap::even(n), &ids, &addrs))
        });
        for (i, (data_dir, node_id)) in data_dirs.into_iter().zip(ids).enumerate() {
            let socket = run_dir.join(format!("{}-{i}.sock", db.name));
            if socket.as_os_str().len() > MAX_SOCKET_PATH {
                return Err(PlanError::SocketPath(socket));
            }
            shards.push(ShardSpec {
                database: db.name.clone(),
                index: i,
                port: tcp_port(i),
                bind: config.bind.clone(),
                // Round robin over the allowed set only: a shard pinned outside the
                // container's cpuset would fail sched_setaffinity.
                cpu: (!cpus.is_empty()).then(|| cpus[shards.len() % cpus.len()]),
                data_dir,
                socket,
                password: db.password.clone(),
                users: crate::proxy::acl::configured_users(db),
                protected_mode: db.limits.protected_mode,
                maxmemory,
                maxmemory_policy: db.maxmemory_policy.as_str(),
                appendonly: db.appendonly,
                appendfsync: db.appendfsync.as_str(),
                cluster: cluster.clone(),
                node_id,
            });
        }
    }
    Ok(Plan {
        shards,
        run_dir,
        allowed_cpus: cpus.clone(),
    })
}

/// A Redis Cluster node ID (40 hex digits) that stays the same across restarts of the
/// agent for the same data: the SHA-1 of the directory path.
pub fn node_id(dir: &Path) -> String {
    sha1_smol::Sha1::from(dir.as_os_str().as_encoded_bytes())
        .digest()
        .to_string()
}

/// The host clients are told to connect to: `announce_host`, else `bind` unless it is a
/// wildcard, which is not an address anyone can connect to.
pub fn announce_host(config: &Config) -> String {
    if let Some(h) = &config.announce_host {
        return h.clone();
    }
    match config.bind.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        _ => config.bind.clone(),
    }
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
        assert_eq!((s.database.as_str(), s.index, s.port), ("b", 1, None));
        assert!(s.cluster.is_none());
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
    fn cluster_api_shards_listen_after_the_database_port() {
        let c = config(
            "data_dir = \"/d\"\nbind = \"0.0.0.0\"\nshards = 3\n\
             [[database]]\nname = \"a\"\nport = 7000\ncluster_api = true\n",
        );
        let p = plan(&c, &res(&[0], None, None)).unwrap();
        let ports: Vec<_> = p.shards.iter().map(|s| s.port).collect();
        assert_eq!(ports, [Some(7001), Some(7002), Some(7003)]);
        let topo = p.shards[0].cluster.as_deref().unwrap();
        assert!(p.shards.iter().all(|s| s.cluster.as_deref() == Some(topo)));
        // The wildcard bind is not connectable: clients are sent to 127.0.0.1.
        let addrs: Vec<_> = topo
            .nodes
            .iter()
            .map(|n| (n.host.as_str(), n.port))
            .collect();
        assert_eq!(
            addrs,
            [
                ("127.0.0.1", 7001),
                ("127.0.0.1", 7002),
                ("127.0.0.1", 7003)
            ]
        );
        assert_eq!((topo.nodes[1].start, topo.nodes[1].end), (5461, 10922));
        // IDs: 40 hex digits, one per shard, the same on every plan.
        assert_eq!(topo.nodes[2].id, p.shards[2].node_id);
        assert_eq!(p.shards[2].node_id, node_id(Path::new("/d/a/shard-2")));
        assert!(shoal_proto::cluster::is_node_id(&p.shards[0].node_id));
        assert_ne!(p.shards[0].node_id, p.shards[1].node_id);
        let again = plan(&c, &res(&[0], None, None)).unwrap();
        assert_eq!(again.shards[0].node_id, p.shards[0].node_id);

        let c =
            config("announce_host = \"10.1.2.3\"\n[[database]]\nport = 7000\ncluster_api = true\n");
        let p = plan(&c, &res(&[0, 1], None, None)).unwrap();
        let topo = p.shards[0].cluster.as_deref().unwrap();
        assert!(topo.nodes.iter().all(|n| n.host == "10.1.2.3"));
    }

    #[test]
    fn overlapping_shard_ports_are_a_config_error() {
        // Valid on its own; with "auto" = 4 CPUs, database a needs 7000-7004.
        let c = config("[[database]]\nname = \"a\"\nport = 7000\ncluster_api = true\n[[database]]\nname = \"b\"\nport = 7003\nshards = 1\n");
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
