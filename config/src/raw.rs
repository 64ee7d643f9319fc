//! The file as written: every key optional, unknown keys rejected. Values whose type can
//! vary (`shards = "auto"` or `4`, `maxmemory = "1gb"` or bytes, durations) stay
//! [`toml::Value`] here so that validation can say precisely what is wrong with them.

use std::path::Path;

use serde::Deserialize;

use crate::ConfigError;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub bind: Option<String>,
    pub admin_bind: Option<String>,
    pub admin_port: Option<i64>,
    pub announce_host: Option<String>,
    pub data_dir: Option<String>,
    pub shards: Option<toml::Value>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub shutdown_timeout: Option<toml::Value>,
    pub restart_delay_min: Option<toml::Value>,
    pub restart_delay_max: Option<toml::Value>,
    pub restart_reset_after: Option<toml::Value>,
    pub proxy_threads: Option<toml::Value>,
    pub restart_deadline: Option<toml::Value>,
    pub restart_queue: Option<i64>,
    #[serde(default)]
    pub database: Vec<RawDatabase>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub name: Option<String>,
    pub port: Option<i64>,
    pub shards: Option<toml::Value>,
    pub password: Option<String>,
    pub appendonly: Option<bool>,
    pub appendfsync: Option<String>,
    pub maxmemory: Option<toml::Value>,
    pub maxmemory_policy: Option<String>,
    pub cluster_api: Option<bool>,
}

impl RawConfig {
    pub fn from_file(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        RawConfig::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text; the error is toml's message, which names the key and the line.
    pub fn from_toml(text: &str) -> Result<RawConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }
}
