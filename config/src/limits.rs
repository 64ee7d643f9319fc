//! Per-database client limits and ACL users, as Redis names them: `protected_mode`,
//! `maxclients`, `timeout`, `client_query_buffer_limit`, the output-buffer limits of
//! normal and pub/sub clients, and `[[database.user]]` tables.

use crate::units::parse_bytes;
use crate::ConfigError;

/// Redis's `maxclients` default.
pub const DEFAULT_MAXCLIENTS: u32 = 10000;
/// Redis's `client-query-buffer-limit` default.
pub const DEFAULT_QUERY_BUFFER_LIMIT: u64 = 1024 * 1024 * 1024;

/// One `client-output-buffer-limit` class: close at `hard` bytes, or after more than
/// `soft_seconds` spent at or over `soft` bytes; 0 disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

impl BufferLimit {
    /// Normal clients: no limit.
    pub const NORMAL: BufferLimit = BufferLimit {
        hard: 0,
        soft: 0,
        soft_seconds: 0,
    };
    /// Pub/sub clients: 32mb hard, 8mb for 60 s.
    pub const PUBSUB: BufferLimit = BufferLimit {
        hard: 32 * 1024 * 1024,
        soft: 8 * 1024 * 1024,
        soft_seconds: 60,
    };

    /// `"<hard> <soft> <soft seconds>"`, sizes with Redis's units (`"32mb 8mb 60"`).
    pub fn parse_str(text: &str) -> Result<BufferLimit, String> {
        let parts: Vec<&str> = text.split_ascii_whitespace().collect();
        let [hard, soft, secs] = parts[..] else {
            return Err(format!(
                "{text:?} is not \"<hard> <soft> <soft seconds>\" (e.g. \"32mb 8mb 60\")"
            ));
        };
        let size = |s: &str| parse_bytes(s).ok_or_else(|| format!("{s:?} is not a size"));
        let soft_seconds = secs
            .parse::<u64>()
            .map_err(|_| format!("{secs:?} is not a number of seconds"))?;
        Ok(BufferLimit {
            hard: size(hard)?,
            soft: size(soft)?,
            soft_seconds,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits {
    /// With no password on `default`, serve only loopback and Unix-socket clients.
    pub protected_mode: bool,
    pub maxclients: u32,
    /// Close a client idle this many seconds; 0 never does.
    pub timeout: u64,
    pub query_buffer_limit: u64,
    pub output_normal: BufferLimit,
    pub output_pubsub: BufferLimit,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            protected_mode: true,
            maxclients: DEFAULT_MAXCLIENTS,
            timeout: 0,
            query_buffer_limit: DEFAULT_QUERY_BUFFER_LIMIT,
            output_normal: BufferLimit::NORMAL,
            output_pubsub: BufferLimit::PUBSUB,
        }
    }
}

/// A `[[database.user]]` table: `ACL SETUSER name <rules>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConfig {
    pub name: String,
    /// Space-separated `ACL SETUSER` rules, e.g. `"on >secret ~app:* +@read"`; the agent
    /// checks each rule when it builds the database's users.
    pub rules: String,
}

/// The raw keys of one database's limits.
pub(crate) struct RawLimits<'a> {
    pub protected_mode: Option<bool>,
    pub maxclients: Option<i64>,
    pub timeout: Option<&'a toml::Value>,
    pub client_query_buffer_limit: Option<&'a toml::Value>,
    pub client_output_buffer_limit_normal: Option<&'a str>,
    pub client_output_buffer_limit_pubsub: Option<&'a str>,
}

pub(crate) fn client_limits(
    key: impl Fn(&str) -> String,
    raw: RawLimits<'_>,
) -> Result<ClientLimits, ConfigError> {
    let mut l = ClientLimits::default();
    if let Some(p) = raw.protected_mode {
        l.protected_mode = p;
    }
    if let Some(n) = raw.maxclients {
        l.maxclients = u32::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
            ConfigError::invalid(
                key("maxclients"),
                format!("{n} is not between 1 and {}", u32::MAX),
            )
        })?;
    }
    if let Some(v) = raw.timeout {
        let secs = match v {
            toml::Value::Integer(n) => u64::try_from(*n).ok(),
            toml::Value::String(s) => crate::units::parse_duration(s)
                .filter(|d| d.subsec_nanos() == 0)
                .map(|d| d.as_secs()),
            _ => None,
        };
        l.timeout = secs.ok_or_else(|| {
            ConfigError::invalid(
                key("timeout"),
                format!("{v} is not a number of seconds (0 = never close idle clients)"),
            )
        })?;
    }
    if let Some(v) = raw.client_query_buffer_limit {
        let n = match v {
            toml::Value::Integer(n) => u64::try_from(*n).ok(),
            toml::Value::String(s) => parse_bytes(s),
            _ => None,
        };
        // Redis's own bounds: at least 1mb, at most the 4gb its buffers can address.
        l.query_buffer_limit = n
            .filter(|n| (1024 * 1024..=4 * 1024 * 1024 * 1024).contains(n))
            .ok_or_else(|| {
                ConfigError::invalid(
                    key("client_query_buffer_limit"),
                    format!("{v} is not a size between 1mb and 4gb"),
                )
            })?;
    }
    if let Some(s) = raw.client_output_buffer_limit_normal {
        l.output_normal = BufferLimit::parse_str(s)
            .map_err(|m| ConfigError::invalid(key("client_output_buffer_limit_normal"), m))?;
    }
    if let Some(s) = raw.client_output_buffer_limit_pubsub {
        l.output_pubsub = BufferLimit::parse_str(s)
            .map_err(|m| ConfigError::invalid(key("client_output_buffer_limit_pubsub"), m))?;
    }
    Ok(l)
}

/// Names as `ACL SETUSER` accepts them, each once.
pub(crate) fn users(
    key: impl Fn(&str) -> String,
    raw: Vec<crate::raw::RawUser>,
) -> Result<Vec<UserConfig>, ConfigError> {
    let mut out: Vec<UserConfig> = Vec::with_capacity(raw.len());
    for (j, u) in raw.into_iter().enumerate() {
        let k = key(&format!("user[{j}].name"));
        let name = u
            .name
            .ok_or_else(|| ConfigError::invalid(k.clone(), "is required"))?;
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b == 0) {
            return Err(ConfigError::invalid(
                k,
                format!("{name:?} is not a user name (no spaces, not empty)"),
            ));
        }
        if let Some(i) = out.iter().position(|o| o.name == name) {
            return Err(ConfigError::invalid(
                k,
                format!("{name:?} is already the name of user[{i}]"),
            ));
        }
        out.push(UserConfig {
            name,
            rules: u.rules.unwrap_or_default(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_limits_parse_redis_style() {
        assert_eq!(
            BufferLimit::parse_str("32mb 8mb 60"),
            Ok(BufferLimit::PUBSUB)
        );
        assert_eq!(BufferLimit::parse_str("0 0 0"), Ok(BufferLimit::NORMAL));
        assert!(BufferLimit::parse_str("1mb 2mb").is_err());
        assert!(BufferLimit::parse_str("1xb 2mb 3").is_err());
    }

    fn load(text: &str) -> Result<crate::Config, ConfigError> {
        crate::Config::from_raw(crate::RawConfig::from_toml(text).unwrap())
    }

    #[test]
    fn limits_and_users_from_the_file() {
        let c = load(
            r#"
            [[database]]
            maxclients = 5
            timeout = "30s"
            protected_mode = false
            client_query_buffer_limit = "2mb"
            client_output_buffer_limit_pubsub = "1mb 512kb 10"
            [[database.user]]
            name = "app"
            rules = "on >pw ~app:* +@read"
            "#,
        )
        .unwrap();
        let db = &c.databases[0];
        assert_eq!(db.limits.maxclients, 5);
        assert_eq!(db.limits.timeout, 30);
        assert!(!db.limits.protected_mode);
        assert_eq!(db.limits.query_buffer_limit, 2 * 1024 * 1024);
        assert_eq!(db.limits.output_pubsub.soft, 512 * 1024);
        assert_eq!(db.limits.output_normal, BufferLimit::NORMAL);
        assert_eq!(db.users[0].name, "app");
        assert_eq!(db.users[0].rules, "on >pw ~app:* +@read");
        assert_eq!(
            load("").unwrap().databases[0].limits,
            ClientLimits::default()
        );
    }

    #[test]
    fn bad_limits_and_users_name_the_key() {
        let err = |t: &str| load(t).unwrap_err().to_string();
        assert!(err("[[database]]\nmaxclients = 0").starts_with("database[0].maxclients:"));
        assert!(err("[[database]]\ntimeout = -1").starts_with("database[0].timeout:"));
        assert!(err("[[database]]\nclient_query_buffer_limit = \"10\"")
            .starts_with("database[0].client_query_buffer_limit:"));
        assert!(
            err("[[database]]\nclient_output_buffer_limit_normal = \"1 2\"")
                .starts_with("database[0].client_output_buffer_limit_normal:")
        );
        assert!(err("[[database]]\n[[database.user]]\nrules = \"on\"")
            .starts_with("database[0].user[0].name: is required"));
        assert!(err("[[database]]\n[[database.user]]\nname = \"a b\"")
            .starts_with("database[0].user[0].name:"));
        assert!(err(
            "[[database]]\n[[database.user]]\nname = \"a\"\n[[database.user]]\nname = \"a\""
        )
        .contains("already the name of user[0]"));
        let parse = crate::RawConfig::from_toml("[[database]]\n[[database.user]]\nnme = \"a\"");
        assert!(parse.unwrap_err().contains("nme"));
    }
}
