//! A shard's runtime settings: what its flags set and what CONFIG GET/SET reach.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct ShardConfig {
    pub port: u16,
    pub bind: String,
    pub unixsocket: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub cpu: Option<usize>,
    pub requirepass: Option<Vec<u8>>,
    pub hz: u32,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub maxclients: u64,
    pub timeout: u64,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig {
            port: 6379,
            bind: "127.0.0.1".into(),
            unixsocket: None,
            data_dir: PathBuf::from("."),
            cpu: None,
            requirepass: None,
            hz: 10,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            maxclients: 10000,
            timeout: 0,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
        }
    }
}
