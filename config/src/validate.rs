//! The second stage: a [`RawConfig`] becomes a [`Config`] in which every value has been
//! checked and every default filled in, so the agent never re-checks a setting.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::raw::{RawConfig, RawDatabase};
use crate::units::{parse_bytes, parse_duration};
pub use crate::values::{AppendFsync, LogFormat, MaxmemoryPolicy, Shards};
use crate::ConfigError;

pub const DEFAULT_PORT: u16 = 6379;
pub const DEFAULT_ADMIN_PORT: u16 = 8070;
pub const DEFAULT_BIND: &str = "127.0.0.1";
pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_DATABASE: &str = "default";
/// Below Kubernetes' 30 s grace period, so the agent, not the kubelet, decides how shards stop.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// One shard per CPU makes sense well past any machine we run on; the bound stops a typo
/// (`shards = 40000`) from forking a process storm.
pub const MAX_SHARDS: u16 = 1024;
/// The second restart in a row waits this long, the third twice as long, and so on.
pub const DEFAULT_RESTART_DELAY_MIN: Duration = Duration::from_millis(100);
/// A shard that cannot start costs a few processes a minute, not a fork storm.
pub const DEFAULT_RESTART_DELAY_MAX: Duration = Duration::from_secs(30);
/// Up this long, a shard's past failures are forgiven and its next crash restarts at once.
pub const DEFAULT_RESTART_RESET_AFTER: Duration = Duration::from_secs(10);
/// How long the proxy holds a request for a shard that is down before `-TRYAGAIN`.
pub const DEFAULT_RESTART_DELAY_DEADLINE: Duration = Duration::from_secs(5);
/// Requests held per proxy thread and shard while the shard is down; past it, new ones get
/// `-TRYAGAIN` at once, so a long outage cannot grow the agent's memory without bound.
pub const DEFAULT_RESTART_QUEUE: usize = 10_000;
/// More proxy threads than this only add context switches on any machine we run on.
pub const MAX_PROXY_THREADS: u16 = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub bind: String,
    pub admin_bind: String,
    pub admin_port: u16,
    /// The host cluster clients are told to connect to (CLUSTER SLOTS, MOVED); `None`
    /// means `bind`, or 127.0.0.1 when `bind` is a wildcard, which no client can reach.
    pub announce_host: Option<String>,
    pub data_dir: PathBuf,
    pub shards: Shards,
    pub log_format: LogFormat,
    pub log_level: String,
    pub shutdown_timeout: Duration,
    pub restart_delay_min: Duration,
    pub restart_delay_max: Duration,
    pub restart_reset_after: Duration,
    /// Proxy threads; `None` = "auto", half the CPUs the agent may use (at least 1).
    pub proxy_threads: Option<u16>,
    /// How long a request waits for a shard that is down.
    pub restart_deadline: Duration,
    /// Requests held per proxy thread and shard while it is down.
    pub restart_queue: usize,
    /// Never empty: with no `[[database]]` table there is one database named `default`.
    pub databases: Vec<Database>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub name: String,
    pub port: u16,
    /// The top-level `shards` unless the table sets its own.
    pub shards: Shards,
    /// `requirepass` of every shard of this database; `None` when unset or empty.
    pub password: Option<String>,
    pub appendonly: bool,
    pub appendfsync: AppendFsync,
    /// The whole database's budget, split across its shards; `None` means the cgroup limit
    /// (if any) decides.
    pub maxmemory: Option<u64>,
    pub maxmemory_policy: MaxmemoryPolicy,
    pub cluster_api: bool,
}

/// A TCP port from the file; 0 is refused because an agent that picks a random port for a
/// database cannot be found by its clients.
pub(crate) fn port(key: &str, n: i64) -> Result<u16, ConfigError> {
    match u16::try_from(n) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(ConfigError::invalid(
            key,
            format!("{n} is not a valid port (1-65535)"),
        )),
    }
}

fn ip(key: &str, text: &str) -> Result<String, ConfigError> {
    text.trim()
        .parse::<IpAddr>()
        .map(|a| a.to_string())
        .map_err(|_| ConfigError::invalid(key, format!("{text:?} is not an IP address")))
}

/// An IP address or a host name: it is written into CLUSTER replies and the shards'
/// `--cluster-nodes`, whose separators it must not contain.
fn announce_host(text: &str) -> Result<String, ConfigError> {
    let ok = text.len() <= 255
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if ok {
        Ok(text.to_string())
    } else {
        Err(ConfigError::invalid(
            "announce_host",
            format!("{text:?} is not an IP address or host name"),
        ))
    }
}

fn log_level(text: &str) -> Result<String, ConfigError> {
    let t = text.trim();
    let plain = ["trace", "debug", "info", "warn", "error", "off"];
    // `target=level` directives pass through to the log filter as written.
    if plain.contains(&t.to_ascii_lowercase().as_str()) || t.contains('=') {
        Ok(t.to_string())
    } else {
        Err(ConfigError::invalid(
            "log_level",
            format!("{text:?} is not a log level (trace, debug, info, warn, error or off)"),
        ))
    }
}

fn database_name(key: &str, text: &str) -> Result<String, ConfigError> {
    // The name becomes a directory under data_dir and a metrics label.
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !text.starts_with('-');
    if ok && text != "run" {
        Ok(text.to_string())
    } else if text == "run" {
        Err(ConfigError::invalid(
            key,
            "\"run\" is reserved for the shards' socket directory",
        ))
    } else {
        Err(ConfigError::invalid(
            key,
            format!("{text:?} is not a valid name (1-64 of a-z, A-Z, 0-9, '-', '_')"),
        ))
    }
}

impl Config {
    pub fn from_raw(raw: RawConfig) -> Result<Config, ConfigError> {
        let bind = ip("bind", raw.bind.as_deref().unwrap_or(DEFAULT_BIND))?;
        let admin_bind = ip(
            "admin_bind",
            raw.admin_bind.as_deref().unwrap_or(DEFAULT_BIND),
        )?;
        let admin_port = match raw.admin_port {
            Some(n) => port("admin_port", n)?,
            None => DEFAULT_ADMIN_PORT,
        };
        let announce_host = match raw.announce_host.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(h) => Some(announce_host(h)?),
        };
        let data_dir = match raw.data_dir.as_deref() {
            Some("") => return Err(ConfigError::invalid("data_dir", "must not be empty")),
            Some(d) => PathBuf::from(d),
            None => PathBuf::from(DEFAULT_DATA_DIR),
        };
        let shards = match &raw.shards {
            Some(v) => Shards::from_value(v).map_err(|m| ConfigError::invalid("shards", m))?,
            None => Shards::Auto,
        };
        let log_format = match raw.log_format.as_deref() {
            Some(f) => {
                LogFormat::parse_str(f).map_err(|m| ConfigError::invalid("log_format", m))?
            }
            None => LogFormat::Text,
        };
        let log_level = log_level(raw.log_level.as_deref().unwrap_or("info"))?;
        let shutdown_timeout = match &raw.shutdown_timeout {
            Some(v) => duration("shutdown_timeout", v)?,
            None => DEFAULT_SHUTDOWN_TIMEOUT,
        };
        let restart_delay_min = match &raw.restart_delay_min {
            Some(v) => duration("restart_delay_min", v)?,
            None => DEFAULT_RESTART_DELAY_MIN,
        };
        let restart_delay_max = match &raw.restart_delay_max {
            Some(v) => duration("restart_delay_max", v)?,
            None => DEFAULT_RESTART_DELAY_MAX.max(restart_delay_min),
        };
        if restart_delay_max < restart_delay_min {
            return Err(ConfigError::invalid(
                "restart_delay_max",
                format!("{restart_delay_max:?} is below restart_delay_min ({restart_delay_min:?})"),
            ));
        }
        let restart_reset_after = match &raw.restart_reset_after {
            Some(v) => duration("restart_reset_after", v)?,
            None => DEFAULT_RESTART_RESET_AFTER,
        };
        let proxy_threads = match &raw.proxy_threads {
            None => None,
            Some(toml::Value::String(s)) if s.trim().eq_ignore_ascii_case("auto") => None,
            Some(v) => match v.as_integer().map(u16::try_from) {
                Some(Ok(n)) if (1..=MAX_PROXY_THREADS).contains(&n) => Some(n),
                _ => {
                    return Err(ConfigError::invalid(
                        "proxy_threads",
                        format!("{v} is neither \"auto\" nor a thread count (1-{MAX_PROXY_THREADS})"),
                    ))
                }
            },
        };
        let restart_deadline = match &raw.restart_deadline {
            Some(v) => duration("restart_deadline", v)?,
            None => DEFAULT_RESTART_DELAY_DEADLINE,
        };
        let restart_queue = match raw.restart_queue {
            None => DEFAULT_RESTART_QUEUE,
            Some(n) => match usize::try_from(n) {
                Ok(n) if (1..=10_000_000).contains(&n) => n,
                _ => {
                    return Err(ConfigError::invalid(
                        "restart_queue",
                        format!("{n} is not a request count (1-10000000)"),
                    ))
                }
            },
        };

        let raw_dbs = if raw.database.is_empty() {
            vec![RawDatabase::default()]
        } else {
            raw.database
        };
        let mut databases = Vec::with_capacity(raw_dbs.len());
        for (i, db) in raw_dbs.into_iter().enumerate() {
            databases.push(database(i, db, shards)?);
        }
        let config = Config {
            bind,
            admin_bind,
            admin_port,
            announce_host,
            data_dir,
            shards,
            log_format,
            log_level,
            shutdown_timeout,
            restart_delay_min,
            restart_delay_max,
            restart_reset_after,
            proxy_threads,
            restart_deadline,
            restart_queue,
            databases,
        };
        config.check_unique()?;
        // Fixed shard counts already decide the port ranges; "auto" can only widen a
        // range, so counting it as 1 here catches every overlap that is certain.
        let known: Vec<u16> = config
            .databases
            .iter()
            .map(|d| match d.shards {
                Shards::Count(n) => n,
                Shards::Auto => 1,
            })
            .collect();
        config.check_port_ranges(&known)?;
        Ok(config)
    }

    fn check_unique(&self) -> Result<(), ConfigError> {
        for (i, db) in self.databases.iter().enumerate() {
            if db.port == self.admin_port {
                return Err(ConfigError::invalid(
                    format!("database[{i}].port"),
                    format!("{} is also admin_port", db.port),
                ));
            }
            for (j, other) in self.databases[..i].iter().enumerate() {
                if other.name == db.name {
                    return Err(ConfigError::invalid(
                        format!("database[{i}].name"),
                        format!("{:?} is already the name of database[{j}]", db.name),
                    ));
                }
                if other.port == db.port {
                    return Err(ConfigError::invalid(
                        format!("database[{i}].port"),
                        format!("{} is already the port of database[{j}]", db.port),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A database takes its `port` (the proxy); with `cluster_api` its shard `i` also
    /// listens on `port + 1 + i`. Once the shard counts are known (`auto` resolved) the
    /// ranges must neither overlap nor pass 65535 nor take the admin port.
    pub fn check_port_ranges(&self, counts: &[u16]) -> Result<(), ConfigError> {
        let ranges: Vec<(u32, u32)> = self
            .databases
            .iter()
            .zip(counts)
            .map(|(db, &n)| {
                let shard_ports = if db.cluster_api {
                    u32::from(n.max(1))
                } else {
                    0
                };
                (u32::from(db.port), u32::from(db.port) + shard_ports)
            })
            .collect();
        for (i, &(lo, hi)) in ranges.iter().enumerate() {
            let key = format!("database[{i}].port");
            if hi > 65535 {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "{lo} with {} cluster_api shards needs ports up to {hi}, past 65535",
                        hi - lo
                    ),
                ));
            }
            let admin = u32::from(self.admin_port);
            if (lo..=hi).contains(&admin) {
                return Err(ConfigError::invalid(
                    key,
                    format!("ports {lo}-{hi} include admin_port {admin}"),
                ));
            }
            for (j, &(olo, ohi)) in ranges[..i].iter().enumerate() {
                if lo <= ohi && olo <= hi {
                    return Err(ConfigError::invalid(
                        key,
                        format!("ports {lo}-{hi} overlap database[{j}]'s {olo}-{ohi}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn duration(key: &str, v: &toml::Value) -> Result<Duration, ConfigError> {
    let d = match v {
        toml::Value::Integer(n) if *n > 0 => u64::try_from(*n).ok().map(Duration::from_secs),
        toml::Value::String(s) => parse_duration(s),
        _ => None,
    };
    match d {
        Some(d) if d > Duration::ZERO && d <= Duration::from_secs(3600) => Ok(d),
        _ => Err(ConfigError::invalid(
            key,
            format!("{v} is not a duration between 1ms and 1h (e.g. \"10s\", \"500ms\")"),
        )),
    }
}

fn database(i: usize, raw: RawDatabase, top_shards: Shards) -> Result<Database, ConfigError> {
    let key = |k: &str| format!("database[{i}].{k}");
    let name = match raw.name.as_deref() {
        Some(n) => database_name(&key("name"), n)?,
        None if i == 0 => DEFAULT_DATABASE.to_string(),
        None => {
            return Err(ConfigError::invalid(
                key("name"),
                "is required after the first database",
            ))
        }
    };
    let port = match raw.port {
        Some(n) => port(&key("port"), n)?,
        None if i == 0 => DEFAULT_PORT,
        None => {
            return Err(ConfigError::invalid(
                key("port"),
                "is required after the first database",
            ))
        }
    };
    let shards = match &raw.shards {
        Some(v) => Shards::from_value(v).map_err(|m| ConfigError::invalid(key("shards"), m))?,
        None => top_shards,
    };
    let appendfsync = match raw.appendfsync.as_deref() {
        Some(s) => {
            AppendFsync::parse_str(s).map_err(|m| ConfigError::invalid(key("appendfsync"), m))?
        }
        None => AppendFsync::Everysec,
    };
    let maxmemory = match &raw.maxmemory {
        None => None,
        Some(v) => {
            let n = match v {
                toml::Value::Integer(n) => u64::try_from(*n).ok(),
                toml::Value::String(s) => parse_bytes(s),
                _ => None,
            };
            match n {
                Some(0) => None,
                Some(n) => Some(n),
                None => {
                    return Err(ConfigError::invalid(
                        key("maxmemory"),
                        format!("{v} is not a size (bytes, or e.g. \"512mb\", \"1gb\")"),
                    ))
                }
            }
        }
    };
    let maxmemory_policy = match raw.maxmemory_policy.as_deref() {
        Some(p) => MaxmemoryPolicy::parse_str(p)
            .map_err(|m| ConfigError::invalid(key("maxmemory_policy"), m))?,
        None => MaxmemoryPolicy::NoEviction,
    };
    Ok(Database {
        name,
        port,
        shards,
        password: raw.password.filter(|p| !p.is_empty()),
        appendonly: raw.appendonly.unwrap_or(true),
        appendfsync,
        maxmemory,
        maxmemory_policy,
        cluster_api: raw.cluster_api.unwrap_or(false),
    })
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
