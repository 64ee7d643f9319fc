//! A shard's runtime settings: what its flags set and what CONFIG GET/SET reach.
//!
//! # Layout
//! - this file: [`ShardConfig`], the typed settings the shard acts on, and their enums.
//! - [`parse`]: Redis's value syntaxes (memory units, yes/no, event classes, save points).
//! - [`params`]: the CONFIG parameter table itself, as data.
//! - `special`: parsers of the values with their own syntax, and custom accessors.
//! - [`table`]: the parameter types (name, alias, type, bounds, field) and the
//!   all-or-nothing [`table::set_many`] behind CONFIG SET.
//!
//! Settings the shard acts on are typed fields here, so the code that reads them
//! (eviction, encodings, expiry, durability) never parses text. Settings Redis has but
//! shoal does not act on are still accepted, validated and reported (clients and tools
//! set them blindly); they live in [`ShardConfig::passive`] as canonical values.

pub mod params;
pub mod parse;
mod special;
pub mod table;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use table::{ConfigError, Val};

/// Redis's eviction policies, with their CONFIG names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxmemoryPolicy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    #[default]
    Noeviction,
}

impl MaxmemoryPolicy {
    pub const NAMES: &'static [&'static str] = &[
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "noeviction",
    ];
    const ALL: [MaxmemoryPolicy; 8] = [
        MaxmemoryPolicy::VolatileLru,
        MaxmemoryPolicy::VolatileLfu,
        MaxmemoryPolicy::VolatileRandom,
        MaxmemoryPolicy::VolatileTtl,
        MaxmemoryPolicy::AllkeysLru,
        MaxmemoryPolicy::AllkeysLfu,
        MaxmemoryPolicy::AllkeysRandom,
        MaxmemoryPolicy::Noeviction,
    ];

    pub fn name(self) -> &'static str {
        let i = Self::ALL.iter().position(|&p| p == self).unwrap_or(7);
        Self::NAMES[i]
    }

    pub fn from_name(name: &str) -> Option<MaxmemoryPolicy> {
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| Self::ALL[i])
    }

    /// True for the LFU policies, which change what OBJECT FREQ may report.
    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::VolatileLfu | MaxmemoryPolicy::AllkeysLfu
        )
    }

    /// True for the policies that only evict keys with a TTL.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::VolatileLru
                | MaxmemoryPolicy::VolatileLfu
                | MaxmemoryPolicy::VolatileRandom
                | MaxmemoryPolicy::VolatileTtl
        )
    }
}

/// When the AOF is synced; see the durability contract in DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppendFsync {
    Always,
    #[default]
    Everysec,
    No,
}

impl AppendFsync {
    pub const NAMES: &'static [&'static str] = &["everysec", "always", "no"];

    pub fn name(self) -> &'static str {
        match self {
            AppendFsync::Everysec => "everysec",
            AppendFsync::Always => "always",
            AppendFsync::No => "no",
        }
    }

    pub fn from_name(name: &str) -> Option<AppendFsync> {
        match name.to_ascii_lowercase().as_str() {
            "everysec" => Some(AppendFsync::Everysec),
            "always" => Some(AppendFsync::Always),
            "no" => Some(AppendFsync::No),
            _ => None,
        }
    }
}

/// One class's `client-output-buffer-limit`: a client whose pending output passes `hard`
/// bytes, or stays above `soft` bytes for `soft_seconds`, is disconnected. 0 disables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObufLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

impl ObufLimit {
    /// No limit at all (`0 0 0`, the normal class's default).
    pub fn is_none(&self) -> bool {
        self.hard == 0 && self.soft == 0
    }

    /// True when `pending` bytes break the hard limit.
    pub fn over_hard(&self, pending: usize) -> bool {
        self.hard > 0 && pending as u64 > self.hard
    }

    /// True when `pending` bytes are above the soft limit (which may last a while).
    pub fn over_soft(&self, pending: usize) -> bool {
        self.soft > 0 && pending as u64 > self.soft
    }
}

/// `client-output-buffer-limit` for each client class, with Redis's defaults: normal
/// clients unlimited, replicas 256mb/64mb/60s, pub/sub subscribers 32mb/8mb/60s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObufLimits {
    pub normal: ObufLimit,
    pub replica: ObufLimit,
    pub pubsub: ObufLimit,
}

impl Default for ObufLimits {
    fn default() -> Self {
        ObufLimits {
            normal: ObufLimit::default(),
            replica: ObufLimit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            pubsub: ObufLimit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct ShardConfig {
    // Network and process.
    pub port: u16,
    /// Space-separated addresses, as Redis's `bind`.
    pub bind: String,
    pub unixsocket: Option<PathBuf>,
    /// Redis's `dir`: where persistence files live.
    pub data_dir: PathBuf,
    pub cpu: Option<usize>,
    /// The config file CONFIG REWRITE writes to; shards started by flags have none.
    pub config_file: Option<PathBuf>,
    pub requirepass: Option<Vec<u8>>,
    /// Users besides `default`, as (name, rules): what `[[database.user]]` configures.
    pub users: Vec<(String, String)>,
    pub protected_mode: bool,
    pub maxclients: u64,
    /// Idle seconds before a client is closed; 0 never.
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    /// `client-output-buffer-limit`, by class.
    pub obuf_limits: ObufLimits,

    // Event loop.
    pub hz: u32,
    pub dynamic_hz: bool,
    pub active_expire_effort: u32,
    pub latency_tracking: bool,
    pub busy_reply_threshold: u64,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    pub latency_monitor_threshold: u64,
    pub loglevel: String,

    // Memory and eviction.
    pub maxmemory: u64,
    /// The policy's CONFIG name (`allkeys-lru` …), always one of
    /// [`MaxmemoryPolicy::NAMES`]; [`ShardConfig::policy`] gives it typed.
    pub maxmemory_policy: String,
    pub maxmemory_samples: u32,
    pub maxmemory_eviction_tenacity: u32,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    pub lazyfree_lazy_eviction: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_server_del: bool,
    pub lazyfree_lazy_user_del: bool,
    pub lazyfree_lazy_user_flush: bool,

    // Encodings: the thresholds at which a compact encoding converts to the general one.
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    /// Positive: entries per quicklist node; negative: -1..-5 for 4 KiB..64 KiB nodes.
    pub list_max_listpack_size: i64,
    pub list_compress_depth: u32,
    pub stream_node_max_bytes: u64,
    pub stream_node_max_entries: i64,
    pub hll_sparse_max_bytes: u64,

    // Persistence.
    pub appendonly: bool,
    pub appendfsync: AppendFsync,
    pub appendfilename: String,
    pub appenddirname: String,
    pub aof_load_truncated: bool,
    pub aof_use_rdb_preamble: bool,
    pub aof_timestamp_enabled: bool,
    pub auto_aof_rewrite_percentage: u32,
    pub auto_aof_rewrite_min_size: u64,
    pub no_appendfsync_on_rewrite: bool,
    /// RDB save points as (seconds, changes).
    pub save: Vec<(u64, u64)>,
    pub dbfilename: String,

    // Features.
    /// NOTIFY_* bits, as Redis keeps them.
    pub notify_keyspace_events: u32,
    pub tracking_table_max_keys: u64,

    /// Cluster mode: the database's nodes and which one this shard is. `None` is a
    /// standalone shard, which answers CLUSTER with "cluster support disabled".
    pub cluster: Option<std::sync::Arc<shoal_proto::cluster::Topology>>,

    /// Accepted-but-inert settings by name, as canonical values.
    pub passive: BTreeMap<&'static str, Val>,
}

impl Default for ShardConfig {
    fn default() -> Self {
        let mut c = ShardConfig {
            port: 6379,
            bind: "127.0.0.1".into(),
            unixsocket: None,
            data_dir: PathBuf::from("."),
            cpu: None,
            config_file: None,
            requirepass: None,
            users: Vec::new(),
            protected_mode: true,
            maxclients: 10000,
            timeout: 0,
            tcp_keepalive: 300,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            obuf_limits: ObufLimits::default(),
            hz: 10,
            dynamic_hz: true,
            active_expire_effort: 1,
            latency_tracking: true,
            busy_reply_threshold: 5000,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            loglevel: "notice".into(),
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            lazyfree_lazy_eviction: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_server_del: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_user_flush: false,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            hll_sparse_max_bytes: 3000,
            appendonly: false,
            appendfsync: AppendFsync::Everysec,
            appendfilename: "appendonly.aof".into(),
            appenddirname: "appendonlydir".into(),
            aof_load_truncated: true,
            aof_use_rdb_preamble: true,
            aof_timestamp_enabled: false,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            no_appendfsync_on_rewrite: false,
            save: vec![(3600, 1), (300, 100), (60, 10000)],
            dbfilename: "dump.rdb".into(),
            notify_keyspace_events: 0,
            tracking_table_max_keys: 1_000_000,
            cluster: None,
            passive: BTreeMap::new(),
        };
        table::init_passive(&mut c);
        c
    }
}

impl ShardConfig {
    /// The eviction policy, typed.
    pub fn policy(&self) -> MaxmemoryPolicy {
        MaxmemoryPolicy::from_name(&self.maxmemory_policy).unwrap_or_default()
    }

    /// `CONFIG GET name` for one exact parameter name or alias.
    pub fn get(&self, name: &str) -> Option<String> {
        table::lookup(name).map(|p| p.get(self))
    }

    /// `CONFIG SET name value` for one parameter; see [`table::set_many`] for several.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        table::set_many(self, &[(name, value)]).map(|_| ())
    }
}

#[cfg(test)]
mod tests;
