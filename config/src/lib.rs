//! shoal's configuration: the TOML schema, its validation, and the overrides from flags
//! and `SHOAL_*` environment variables.
//!
//! Parsing is done in two stages. [`raw`] mirrors the file exactly (every field optional,
//! unknown keys rejected by serde); [`Config`] is what the agent runs with, every value
//! checked and every default filled in. A mistake is a [`ConfigError`] that names the key.
//!
//! # Layout
//! - [`raw`]: the serde structs for `shoal.toml`.
//! - [`validate`]: raw → [`Config`], with the defaults.
//! - [`overrides`]: flag and environment overrides, applied to the raw file.
//! - [`limits`]: client limits (`maxclients`, buffers, `timeout`) and ACL users.
//! - [`values`]: the enumerated settings (`shards`, `log_format`, policies).
//! - [`units`]: byte sizes (`"1gb"`) and durations (`"10s"`).
//! - [`error`]: the error type, [`ConfigError`].
//! - [`template`]: the commented default file printed by `shoal config default`.
#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod error;
pub mod limits;
pub mod overrides;
pub mod raw;
pub mod template;
pub mod units;
pub mod validate;
pub mod values;

pub use error::ConfigError;
pub use limits::{BufferLimit, ClientLimits, UserConfig};
pub use overrides::Overrides;
pub use raw::RawConfig;
pub use validate::{
    AppendFsync, Config, Database, LogFormat, MaxmemoryPolicy, Shards, DEFAULT_ADMIN_PORT,
    DEFAULT_PORT,
};

use std::path::Path;

/// Reads, overrides and validates a configuration. `path = None` means "no file": every key
/// takes its default.
pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
    let mut raw = match path {
        Some(p) => RawConfig::from_file(p)?,
        None => RawConfig::default(),
    };
    overrides.apply(&mut raw);
    Config::from_raw(raw)
}
