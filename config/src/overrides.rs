//! Overrides of the file by flags and by `SHOAL_*` environment variables.
//!
//! Precedence, lowest first: the file, then flags, then the environment. The environment
//! wins because in a pod the spec's `env:` is what an operator edits, while flags are
//! baked into the image's command line.
//!
//! Per-database keys (`port`, `password`, `shards`) go to the first database, which is the
//! only one in the single-database setups a pod spec describes. `appendfsync` goes to every
//! database: it is a property of the volume.

use std::path::PathBuf;

use crate::raw::{RawConfig, RawDatabase};
use crate::validate::{port, AppendFsync, LogFormat, Shards};
use crate::ConfigError;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Overrides {
    pub bind: Option<String>,
    pub announce_host: Option<String>,
    pub port: Option<u16>,
    pub shards: Option<Shards>,
    pub data_dir: Option<PathBuf>,
    pub password: Option<String>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub admin_port: Option<u16>,
    pub appendfsync: Option<AppendFsync>,
}

impl Overrides {
    /// Reads the `SHOAL_*` variables from `vars` (normally `std::env::vars()`). An empty
    /// value counts as unset, as pod specs often template one in.
    pub fn from_env<I>(vars: I) -> Result<Overrides, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut o = Overrides::default();
        let bad = |var: &str, m: String| ConfigError::invalid(var, m);
        for (name, value) in vars {
            if value.is_empty() || !name.starts_with("SHOAL_") {
                continue;
            }
            match name.as_str() {
                "SHOAL_BIND" => o.bind = Some(value),
                // In a pod: `valueFrom: fieldRef: status.podIP`.
                "SHOAL_ANNOUNCE_HOST" => o.announce_host = Some(value),
                "SHOAL_PORT" => o.port = Some(env_port(&name, &value)?),
                "SHOAL_ADMIN_PORT" => o.admin_port = Some(env_port(&name, &value)?),
                "SHOAL_DATA_DIR" => o.data_dir = Some(PathBuf::from(value)),
                "SHOAL_SHARDS" => {
                    o.shards = Some(Shards::parse_str(&value).map_err(|m| bad(&name, m))?)
                }
                "SHOAL_PASSWORD" | "SHOAL_REQUIREPASS" => o.password = Some(value),
                "SHOAL_LOG_FORMAT" => {
                    o.log_format = Some(LogFormat::parse_str(&value).map_err(|m| bad(&name, m))?)
                }
                "SHOAL_LOG_LEVEL" => o.log_level = Some(value),
                "SHOAL_APPENDFSYNC" => {
                    o.appendfsync = Some(AppendFsync::parse_str(&value).map_err(|m| bad(&name, m))?)
                }
                // Other SHOAL_ names belong to other parts (e.g. the shard's own variables).
                _ => {}
            }
        }
        Ok(o)
    }

    /// `other`'s values win over `self`'s.
    pub fn then(self, other: Overrides) -> Overrides {
        Overrides {
            bind: other.bind.or(self.bind),
            announce_host: other.announce_host.or(self.announce_host),
            port: other.port.or(self.port),
            shards: other.shards.or(self.shards),
            data_dir: other.data_dir.or(self.data_dir),
            password: other.password.or(self.password),
            log_format: other.log_format.or(self.log_format),
            log_level: other.log_level.or(self.log_level),
            admin_port: other.admin_port.or(self.admin_port),
            appendfsync: other.appendfsync.or(self.appendfsync),
        }
    }

    pub fn apply(&self, raw: &mut RawConfig) {
        if let Some(b) = &self.bind {
            raw.bind = Some(b.clone());
        }
        if let Some(h) = &self.announce_host {
            raw.announce_host = Some(h.clone());
        }
        if let Some(d) = &self.data_dir {
            raw.data_dir = Some(d.to_string_lossy().into_owned());
        }
        if let Some(f) = self.log_format {
            raw.log_format = Some(match f {
                LogFormat::Text => "text".into(),
                LogFormat::Json => "json".into(),
            });
        }
        if let Some(l) = &self.log_level {
            raw.log_level = Some(l.clone());
        }
        if let Some(p) = self.admin_port {
            raw.admin_port = Some(i64::from(p));
        }
        let shards = self.shards.map(|s| match s {
            Shards::Auto => toml::Value::String("auto".into()),
            Shards::Count(n) => toml::Value::Integer(i64::from(n)),
        });
        if let Some(s) = &shards {
            raw.shards = Some(s.clone());
        }
        let touches_first = self.port.is_some() || self.password.is_some() || shards.is_some();
        if touches_first && raw.database.is_empty() {
            raw.database.push(RawDatabase::default());
        }
        if let Some(first) = raw.database.first_mut() {
            if let Some(p) = self.port {
                first.port = Some(i64::from(p));
            }
            if let Some(pw) = &self.password {
                first.password = Some(pw.clone());
            }
            if let Some(s) = shards {
                first.shards = Some(s);
            }
        }
        if let Some(f) = self.appendfsync {
            if raw.database.is_empty() {
                raw.database.push(RawDatabase::default());
            }
            for db in &mut raw.database {
                db.appendfsync = Some(f.as_str().to_string());
            }
        }
    }
}

fn env_port(var: &str, value: &str) -> Result<u16, ConfigError> {
    match value.trim().parse::<i64>() {
        Ok(n) => port(var, n),
        Err(_) => Err(ConfigError::invalid(
            var,
            format!("{value:?} is not a valid port (1-65535)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_parses_and_names_the_variable() {
        let o = Overrides::from_env(env(&[
            ("SHOAL_PORT", "7000"),
            ("SHOAL_SHARDS", "auto"),
            ("SHOAL_REQUIREPASS", "pw"),
            ("SHOAL_LOG_FORMAT", "json"),
            ("SHOAL_BIND", ""),
            ("SHOAL_ANNOUNCE_HOST", "10.1.2.3"),
            ("HOME", "/root"),
        ]))
        .unwrap();
        assert_eq!(o.announce_host.as_deref(), Some("10.1.2.3"));
        let mut raw = RawConfig::default();
        o.apply(&mut raw);
        assert_eq!(
            Config::from_raw(raw).unwrap().announce_host.as_deref(),
            Some("10.1.2.3")
        );
        assert_eq!(o.port, Some(7000));
        assert_eq!(o.shards, Some(Shards::Auto));
        assert_eq!(o.password.as_deref(), Some("pw"));
        assert_eq!(o.log_format, Some(LogFormat::Json));
        assert_eq!(o.bind, None, "an empty variable is unset");

        let e = Overrides::from_env(env(&[("SHOAL_PORT", "70000")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SHOAL_PORT: 70000 is not a valid port (1-65535)"
        );
        let e = Overrides::from_env(env(&[("SHOAL_APPENDFSYNC", "sometimes")])).unwrap_err();
        assert!(e.to_string().starts_with("SHOAL_APPENDFSYNC: "), "{e}");
    }

    #[test]
    fn env_beats_flags_beats_file() {
        let mut raw = RawConfig::from_toml(
            "bind = \"10.0.0.1\"\nshards = 2\n[[database]]\nname = \"a\"\nport = 7001\nshards = 3\n\
             [[database]]\nname = \"b\"\nport = 7101\n",
        )
        .unwrap();
        let flags = Overrides {
            port: Some(7010),
            shards: Some(Shards::Count(4)),
            appendfsync: Some(AppendFsync::Always),
            ..Overrides::default()
        };
        let env = Overrides {
            port: Some(7020),
            ..Overrides::default()
        };
        flags.then(env).apply(&mut raw);
        let c = Config::from_raw(raw).unwrap();
        assert_eq!(c.bind, "10.0.0.1");
        assert_eq!(c.databases[0].port, 7020);
        assert_eq!(c.databases[0].shards, Shards::Count(4));
        assert_eq!(c.databases[1].port, 7101);
        assert_eq!(
            c.databases[1].shards,
            Shards::Count(4),
            "inherits the top level"
        );
        assert!(c
            .databases
            .iter()
            .all(|d| d.appendfsync == AppendFsync::Always));
    }

    #[test]
    fn overrides_with_no_file_make_the_default_database() {
        let mut raw = RawConfig::default();
        Overrides {
            port: Some(7300),
            password: Some("s3cret".into()),
            ..Overrides::default()
        }
        .apply(&mut raw);
        let c = Config::from_raw(raw).unwrap();
        assert_eq!(c.databases.len(), 1);
        assert_eq!(c.databases[0].name, "default");
        assert_eq!(c.databases[0].port, 7300);
        assert_eq!(c.databases[0].password.as_deref(), Some("s3cret"));
    }
}
