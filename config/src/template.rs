//! The commented default configuration printed by `shoal config default`. Every value in
//! it is the default, so running with it is the same as running with no file; a test
//! keeps the two in step.

pub const DEFAULT_TOML: &str = r#"# shoal.toml: the node agent's configuration.
# Every key is optional; the values below are the defaults.
# SHOAL_BIND, SHOAL_ANNOUNCE_HOST, SHOAL_PORT, SHOAL_DATA_DIR, SHOAL_SHARDS, SHOAL_PASSWORD
# (or SHOAL_REQUIREPASS), SHOAL_LOG_FORMAT, SHOAL_LOG_LEVEL, SHOAL_ADMIN_PORT and
# SHOAL_APPENDFSYNC override this file and the command-line flags. Sizes take Redis's units (512mb, 1gb); durations "10s", "500ms".

# Address the databases listen on.
bind = "127.0.0.1"
# The host cluster clients are sent to (CLUSTER SLOTS, -MOVED): an IP or host name, e.g.
# the pod IP via SHOAL_ANNOUNCE_HOST. Default: bind, or 127.0.0.1 when bind is 0.0.0.0/::.
# announce_host = "10.0.0.5"

# Admin HTTP endpoints: /metrics /livez /readyz /status.
admin_bind = "127.0.0.1"
admin_port = 8070

# Shard data lives in <data_dir>/<database>/shard-<i>/; sockets in <data_dir>/run/.
data_dir = "./data"

# "auto" = one shard per CPU the agent may use (affinity, capped by the cgroup CPU quota),
# or a fixed number. A [[database]] table may set its own.
shards = "auto"

# text or json.
log_format = "text"
# trace, debug, info, warn, error, or directives such as "shoal=debug".
log_level = "info"

# How long SIGTERM waits for the shards before they are killed.
shutdown_timeout = "10s"

# A shard that exits is restarted at once; if it fails again, after restart_delay_min,
# doubling each time up to restart_delay_max. Up restart_reset_after, it starts afresh.
restart_delay_min = "100ms"
restart_delay_max = "30s"
restart_reset_after = "10s"

# Proxy threads: "auto" = half the CPUs the agent may use (at least 1).
proxy_threads = "auto"
# A request for a shard that is down waits up to restart_deadline for it to come back,
# then gets -TRYAGAIN; at most restart_queue requests wait per proxy thread and shard.
restart_deadline = "5s"
restart_queue = 10000

# One table per database; with none, one database named "default" on port 6379.
# Clients use `port` (the agent's proxy); the shards sit behind it on Unix sockets.
# cluster_api = true also opens shard i on TCP port + 1 + i, in Redis Cluster mode
# (CLUSTER SLOTS/NODES/SHARDS, -MOVED, -CROSSSLOT), for cluster-aware clients that
# talk to the shards directly; the proxy then answers CLUSTER with those shards.
[[database]]
name = "default"
port = 6379
# shards = 4
# password = "change-me"           # requirepass of every shard
appendonly = true
appendfsync = "everysec"           # always | everysec | no
# maxmemory = "1gb"                # split across the shards; default: the cgroup limit
maxmemory_policy = "noeviction"    # Redis's policy names
cluster_api = false
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, RawConfig};

    #[test]
    fn default_file_is_valid_and_equals_no_file() {
        let from_file = Config::from_raw(RawConfig::from_toml(DEFAULT_TOML).unwrap()).unwrap();
        let from_nothing = Config::from_raw(RawConfig::default()).unwrap();
        assert_eq!(from_file, from_nothing);
    }
}
