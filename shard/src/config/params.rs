//! Every CONFIG parameter, in Redis 7.0's order, one line each. Settings the shard acts
//! on name their [`ShardConfig`] field; the rest are passive (accepted, validated,
//! reported). The value syntaxes and custom accessors are in [`super::special`].
//!
//! `port` and `bind` are pinned here, unlike Redis: a shard's listeners belong to the
//! agent that started it, which routes to that address, so only their current values
//! are accepted.

use super::special::*;
use super::table::flag::{HIDDEN, IMMUTABLE, PINNED, PROTECTED};
use super::table::{Access, Kind, NumFmt, Param, Val};
use super::{AppendFsync, MaxmemoryPolicy, ShardConfig};

const INT_MAX: i128 = i32::MAX as i128;
const INT_MIN: i128 = i32::MIN as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;

const POLICIES: &[&str] = MaxmemoryPolicy::NAMES;
const FSYNCS: &[&str] = AppendFsync::NAMES;
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];
const PROTECTED_ACTION: &[&str] = &["no", "yes", "local"];

macro_rules! p {
    ($name:expr, $alias:expr, $flags:expr, $kind:expr, $access:expr) => {
        Param {
            name: $name,
            alias: $alias,
            flags: $flags,
            kind: $kind,
            access: $access,
        }
    };
}

/// A bool backed by a field.
macro_rules! fbool {
    ($name:expr, $alias:expr, $f:ident) => {
        p!(
            $name,
            $alias,
            0,
            Kind::Bool,
            Access::Field {
                get: |c: &ShardConfig| Val::Bool(c.$f),
                set: |c: &mut ShardConfig, v| if let Val::Bool(b) = v {
                    c.$f = b;
                },
            }
        )
    };
}

/// An integer backed by a field.
macro_rules! fint {
    ($name:expr, $alias:expr, $min:expr, $max:expr, $fmt:ident, $f:ident) => {
        p!(
            $name,
            $alias,
            0,
            Kind::Int {
                min: $min,
                max: $max,
                fmt: NumFmt::$fmt
            },
            Access::Field {
                get: |c: &ShardConfig| Val::Int(c.$f as i128),
                set: |c: &mut ShardConfig, v| if let Val::Int(n) = v {
                    c.$f = n as _;
                },
            }
        )
    };
}

/// A string backed by a field.
macro_rules! fstr {
    ($name:expr, $flags:expr, $f:ident) => {
        p!(
            $name,
            None,
            $flags,
            Kind::Str,
            Access::Field {
                get: |c: &ShardConfig| Val::Str(c.$f.clone()),
                set: |c: &mut ShardConfig, v| if let Val::Str(s) = v {
                    c.$f = s;
                },
            }
        )
    };
}

/// A setting with its own accessors in [`super::special`].
macro_rules! custom {
    ($name:expr, $alias:expr, $flags:expr, $kind:expr, $get:ident, $set:ident) => {
        p!(
            $name,
            $alias,
            $flags,
            $kind,
            Access::Field {
                get: $get,
                set: $set
            }
        )
    };
}

macro_rules! pbool {
    ($name:expr, $alias:expr, $flags:expr, $default:expr) => {
        p!($name, $alias, $flags, Kind::Bool, Access::Passive($default))
    };
}

macro_rules! pint {
    ($name:expr, $alias:expr, $flags:expr, $min:expr, $max:expr, $fmt:ident, $default:expr) => {
        p!(
            $name,
            $alias,
            $flags,
            Kind::Int {
                min: $min,
                max: $max,
                fmt: NumFmt::$fmt
            },
            Access::Passive($default)
        )
    };
}

macro_rules! pstr {
    ($name:expr, $alias:expr, $flags:expr, $default:expr) => {
        p!($name, $alias, $flags, Kind::Str, Access::Passive($default))
    };
}

macro_rules! penum {
    ($name:expr, $flags:expr, $names:expr, $default:expr) => {
        p!(
            $name,
            None,
            $flags,
            Kind::Enum($names),
            Access::Passive($default)
        )
    };
}

/// A value with its own syntax: its parser and printer.
macro_rules! special {
    ($name:expr, $alias:expr, $flags:expr, $parse:ident, $show:ident, $access:expr) => {
        p!(
            $name,
            $alias,
            $flags,
            Kind::Special {
                parse: $parse,
                show: $show
            },
            $access
        )
    };
}

const INT: Kind = Kind::Int {
    min: 0,
    max: INT_MAX,
    fmt: NumFmt::Plain,
};

// One line per parameter reads as the table it is; rustfmt would spread each over many.
#[rustfmt::skip]
pub static PARAMS: &[Param] = &[
    pbool!("rdbchecksum", None, IMMUTABLE, "yes"),
    pbool!("daemonize", None, IMMUTABLE, "no"),
    pbool!("io-threads-do-reads", None, IMMUTABLE, "no"),
    pbool!("always-show-logo", None, IMMUTABLE, "no"),
    fbool!("protected-mode", None, protected_mode),
    pbool!("rdbcompression", None, 0, "yes"),
    pbool!("rdb-del-sync-files", None, 0, "no"),
    pbool!("activerehashing", None, 0, "yes"),
    pbool!("stop-writes-on-bgsave-error", None, 0, "yes"),
    pbool!("set-proc-title", None, IMMUTABLE, "yes"),
    fbool!("dynamic-hz", None, dynamic_hz),
    fbool!("lazyfree-lazy-eviction", None, lazyfree_lazy_eviction),
    fbool!("lazyfree-lazy-expire", None, lazyfree_lazy_expire),
    fbool!("lazyfree-lazy-server-del", None, lazyfree_lazy_server_del),
    fbool!("lazyfree-lazy-user-del", None, lazyfree_lazy_user_del),
    fbool!("lazyfree-lazy-user-flush", None, lazyfree_lazy_user_flush),
    pbool!("repl-disable-tcp-nodelay", None, 0, "no"),
    pbool!("repl-diskless-sync", None, 0, "yes"),
    pbool!("aof-rewrite-incremental-fsync", None, 0, "yes"),
    fbool!("no-appendfsync-on-rewrite", None, no_appendfsync_on_rewrite),
    pbool!("cluster-require-full-coverage", None, 0, "yes"),
    pbool!("rdb-save-incremental-fsync", None, 0, "yes"),
    fbool!("aof-load-truncated", None, aof_load_truncated),
    fbool!("aof-use-rdb-preamble", None, aof_use_rdb_preamble),
    fbool!("aof-timestamp-enabled", None, aof_timestamp_enabled),
    pbool!("cluster-replica-no-failover", Some("cluster-slave-no-failover"), 0, "no"),
    pbool!("replica-lazy-flush", Some("slave-lazy-flush"), 0, "no"),
    pbool!("replica-serve-stale-data", Some("slave-serve-stale-data"), 0, "yes"),
    pbool!("replica-read-only", Some("slave-read-only"), 0, "yes"),
    pbool!("replica-ignore-maxmemory", Some("slave-ignore-maxmemory"), 0, "yes"),
    pbool!("jemalloc-bg-thread", None, 0, "yes"),
    pbool!("activedefrag", None, 0, "no"),
    pbool!("syslog-enabled", None, IMMUTABLE, "no"),
    pbool!("cluster-enabled", None, IMMUTABLE, "no"),
    fbool!("appendonly", None, appendonly),
    pbool!("cluster-allow-reads-when-down", None, 0, "no"),
    pbool!("cluster-allow-pubsubshard-when-down", None, 0, "yes"),
    pbool!("crash-log-enabled", None, 0, "yes"),
    pbool!("crash-memcheck-enabled", None, 0, "yes"),
    pbool!("use-exit-on-panic", None, HIDDEN, "no"),
    pbool!("disable-thp", None, IMMUTABLE, "yes"),
    pbool!("cluster-allow-replica-migration", None, 0, "yes"),
    pbool!("replica-announced", None, 0, "yes"),
    fbool!("latency-tracking", None, latency_tracking),
    pbool!("aof-disable-auto-gc", None, 0, "no"),
    pbool!("replica-ignore-disk-write-errors", None, 0, "no"),
    pstr!("aclfile", None, IMMUTABLE, ""),
    custom!("unixsocket", None, IMMUTABLE, Kind::Str, get_unixsocket, set_unixsocket),
    pstr!("pidfile", None, IMMUTABLE, ""),
    pstr!("replica-announce-ip", Some("slave-announce-ip"), 0, ""),
    pstr!("masteruser", None, 0, ""),
    pstr!("cluster-announce-ip", None, 0, ""),
    pstr!("cluster-config-file", None, IMMUTABLE, "nodes.conf"),
    pstr!("cluster-announce-hostname", None, 0, ""),
    pstr!("syslog-ident", None, IMMUTABLE, "redis"),
    fstr!("dbfilename", PROTECTED, dbfilename),
    fstr!("appendfilename", IMMUTABLE, appendfilename),
    fstr!("appenddirname", IMMUTABLE, appenddirname),
    pstr!("server_cpulist", None, IMMUTABLE, ""),
    pstr!("bio_cpulist", None, IMMUTABLE, ""),
    pstr!("aof_rewrite_cpulist", None, IMMUTABLE, ""),
    pstr!("bgsave_cpulist", None, IMMUTABLE, ""),
    pstr!("ignore-warnings", None, 0, ""),
    pstr!("proc-title-template", None, 0, "{title} {listen-addr} {server-mode}"),
    pstr!("bind-source-addr", None, 0, ""),
    pstr!("logfile", None, IMMUTABLE, ""),
    pstr!("masterauth", None, 0, ""),
    custom!("requirepass", None, 0, Kind::Str, get_requirepass, set_requirepass),
    penum!("supervised", IMMUTABLE, &["upstart", "systemd", "auto", "no"], "no"),
    penum!("syslog-facility", IMMUTABLE, &["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"], "local0"),
    penum!("repl-diskless-load", 0, &["disabled", "on-empty-db", "swapdb"], "disabled"),
    custom!("loglevel", None, 0, Kind::Enum(LOGLEVELS), get_loglevel, set_loglevel),
    custom!("maxmemory-policy", None, 0, Kind::Enum(POLICIES), get_policy, set_policy),
    custom!("appendfsync", None, 0, Kind::Enum(FSYNCS), get_fsync, set_fsync),
    penum!("oom-score-adj", 0, &["no", "yes", "relative", "absolute"], "no"),
    penum!("acl-pubsub-default", 0, &["allchannels", "resetchannels"], "resetchannels"),
    penum!("sanitize-dump-payload", 0, &["no", "yes", "clients"], "no"),
    penum!("enable-protected-configs", IMMUTABLE, PROTECTED_ACTION, "no"),
    penum!("enable-debug-command", IMMUTABLE, PROTECTED_ACTION, "no"),
    penum!("enable-module-command", IMMUTABLE, PROTECTED_ACTION, "no"),
    penum!("cluster-preferred-endpoint-type", 0, &["ip", "hostname", "unknown-endpoint"], "ip"),
    penum!("propagation-error-behavior", 0, &["ignore", "panic", "panic-on-replicas"], "ignore"),
    special!("shutdown-on-sigint", None, 0, parse_shutdown_flags, show_str, Access::Passive("default")),
    special!("shutdown-on-sigterm", None, 0, parse_shutdown_flags, show_str, Access::Passive("default")),
    pint!("databases", None, IMMUTABLE, 1, INT_MAX, Plain, "1"),
    custom!("port", None, PINNED, Kind::Int { min: 0, max: 65535, fmt: NumFmt::Plain }, get_port, set_port),
    pint!("io-threads", None, IMMUTABLE, 1, 128, Plain, "1"),
    fint!("auto-aof-rewrite-percentage", None, 0, INT_MAX, Plain, auto_aof_rewrite_percentage),
    pint!("cluster-replica-validity-factor", Some("cluster-slave-validity-factor"), 0, 0, INT_MAX, Plain, "10"),
    fint!("list-max-listpack-size", Some("list-max-ziplist-size"), INT_MIN, INT_MAX, Plain, list_max_listpack_size),
    fint!("tcp-keepalive", None, 0, INT_MAX, Plain, tcp_keepalive),
    pint!("cluster-migration-barrier", None, 0, 0, INT_MAX, Plain, "1"),
    pint!("active-defrag-cycle-min", None, 0, 1, 99, Plain, "1"),
    pint!("active-defrag-cycle-max", None, 0, 1, 99, Plain, "25"),
    pint!("active-defrag-threshold-lower", None, 0, 0, 1000, Plain, "10"),
    pint!("active-defrag-threshold-upper", None, 0, 0, 1000, Plain, "100"),
    fint!("lfu-log-factor", None, 0, INT_MAX, Plain, lfu_log_factor),
    fint!("lfu-decay-time", None, 0, INT_MAX, Plain, lfu_decay_time),
    pint!("replica-priority", Some("slave-priority"), 0, 0, INT_MAX, Plain, "100"),
    pint!("repl-diskless-sync-delay", None, 0, 0, INT_MAX, Plain, "5"),
    fint!("maxmemory-samples", None, 1, INT_MAX, Plain, maxmemory_samples),
    fint!("maxmemory-eviction-tenacity", None, 0, 100, Plain, maxmemory_eviction_tenacity),
    fint!("timeout", None, 0, INT_MAX, Plain, timeout),
    pint!("replica-announce-port", Some("slave-announce-port"), 0, 0, 65535, Plain, "0"),
    pint!("tcp-backlog", None, IMMUTABLE, 0, INT_MAX, Plain, "511"),
    pint!("cluster-port", None, IMMUTABLE, 0, 65535, Plain, "0"),
    pint!("cluster-announce-bus-port", None, 0, 0, 65535, Plain, "0"),
    pint!("cluster-announce-port", None, 0, 0, 65535, Plain, "0"),
    pint!("cluster-announce-tls-port", None, 0, 0, 65535, Plain, "0"),
    pint!("repl-timeout", None, 0, 1, INT_MAX, Plain, "60"),
    pint!("repl-ping-replica-period", Some("repl-ping-slave-period"), 0, 1, INT_MAX, Plain, "10"),
    fint!("list-compress-depth", None, 0, INT_MAX, Plain, list_compress_depth),
    pint!("rdb-key-save-delay", None, HIDDEN, INT_MIN, INT_MAX, Plain, "0"),
    pint!("key-load-delay", None, HIDDEN, INT_MIN, INT_MAX, Plain, "0"),
    fint!("active-expire-effort", None, 1, 10, Plain, active_expire_effort),
    custom!("hz", None, 0, INT, get_hz, set_hz),
    pint!("min-replicas-to-write", Some("min-slaves-to-write"), 0, 0, INT_MAX, Plain, "0"),
    pint!("min-replicas-max-lag", Some("min-slaves-max-lag"), 0, 0, INT_MAX, Plain, "10"),
    pint!("watchdog-period", None, HIDDEN, 0, INT_MAX, Plain, "0"),
    pint!("shutdown-timeout", None, 0, 0, INT_MAX, Plain, "10"),
    pint!("repl-diskless-sync-max-replicas", None, 0, 0, INT_MAX, Plain, "0"),
    fint!("maxclients", None, 1, UINT_MAX, Plain, maxclients),
    pint!("unixsocketperm", None, IMMUTABLE, 0, 0o777, Octal, "0"),
    pint!("socket-mark-id", None, IMMUTABLE, 0, UINT_MAX, Plain, "0"),
    pint!("active-defrag-max-scan-fields", None, 0, 1, LONG_MAX, Plain, "1000"),
    fint!("slowlog-max-len", None, 0, LONG_MAX, Plain, slowlog_max_len),
    pint!("acllog-max-len", None, 0, 0, LONG_MAX, Plain, "128"),
    fint!("busy-reply-threshold", Some("lua-time-limit"), 0, LONG_MAX, Plain, busy_reply_threshold),
    pint!("cluster-node-timeout", None, 0, 0, LONG_MAX, Plain, "15000"),
    fint!("slowlog-log-slower-than", None, -1, LONG_MAX, Plain, slowlog_log_slower_than),
    fint!("latency-monitor-threshold", None, 0, LONG_MAX, Plain, latency_monitor_threshold),
    fint!("proto-max-bulk-len", None, 1024 * 1024, LONG_MAX, Memory, proto_max_bulk_len),
    fint!("stream-node-max-entries", None, 0, LONG_MAX, Plain, stream_node_max_entries),
    pint!("repl-backlog-size", None, 0, 1, LONG_MAX, Memory, "1048576"),
    fint!("maxmemory", None, 0, ULLONG_MAX, Memory, maxmemory),
    pint!("cluster-link-sendbuf-limit", None, 0, 0, ULLONG_MAX, Memory, "0"),
    fint!("hash-max-listpack-entries", Some("hash-max-ziplist-entries"), 0, LONG_MAX, Plain, hash_max_listpack_entries),
    fint!("set-max-intset-entries", None, 0, LONG_MAX, Plain, set_max_intset_entries),
    fint!("zset-max-listpack-entries", Some("zset-max-ziplist-entries"), 0, LONG_MAX, Plain, zset_max_listpack_entries),
    pint!("active-defrag-ignore-bytes", None, 0, 1, LONG_MAX, Memory, "104857600"),
    fint!("hash-max-listpack-value", Some("hash-max-ziplist-value"), 0, LONG_MAX, Memory, hash_max_listpack_value),
    fint!("stream-node-max-bytes", None, 0, LONG_MAX, Memory, stream_node_max_bytes),
    fint!("zset-max-listpack-value", Some("zset-max-ziplist-value"), 0, LONG_MAX, Memory, zset_max_listpack_value),
    fint!("hll-sparse-max-bytes", None, 0, LONG_MAX, Memory, hll_sparse_max_bytes),
    fint!("tracking-table-max-keys", None, 0, LONG_MAX, Plain, tracking_table_max_keys),
    fint!("client-query-buffer-limit", None, 1024 * 1024, LONG_MAX, Memory, client_query_buffer_limit),
    pint!("maxmemory-clients", None, 0, -100, LONG_MAX, MemoryPercent, "0"),
    pint!("repl-backlog-ttl", None, 0, 0, LONG_MAX, Plain, "3600"),
    fint!("auto-aof-rewrite-min-size", None, 0, LONG_MAX, Memory, auto_aof_rewrite_min_size),
    pint!("loading-process-events-interval-bytes", None, HIDDEN, 1024, INT_MAX, Plain, "2097152"),
    special!("dir", None, PROTECTED, parse_dir, show_str, Access::Field { get: get_dir, set: set_dir }),
    special!("save", None, 0, parse_save, show_str, Access::Field { get: get_save, set: set_save }),
    special!("client-output-buffer-limit", None, 0, parse_obuf, show_str, Access::Field { get: get_obuf, set: set_obuf }),
    special!("oom-score-adj-values", None, 0, parse_oom_values, show_str, Access::Passive("0 200 800")),
    special!("notify-keyspace-events", None, 0, parse_events, show_events, Access::Field { get: get_events, set: set_events }),
    special!("bind", None, PINNED, parse_bind, show_str, Access::Field { get: get_bind, set: set_bind }),
    special!("replicaof", Some("slaveof"), IMMUTABLE, parse_replicaof, show_str, Access::Passive("")),
    special!("latency-tracking-info-percentiles", None, 0, parse_percentiles, show_str, Access::Passive("50 99 99.9")),
];
