//! The enumerated settings and their names in the file: shard counts, log formats, fsync
//! and eviction policies. Each parses its own text so the file, the flags and the
//! environment all accept (and reject) the same spellings.

use crate::validate::MAX_SHARDS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shards {
    /// One per CPU the agent may run on (affinity mask, capped by the cgroup CPU quota).
    Auto,
    Count(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendFsync {
    Always,
    Everysec,
    No,
}

/// Redis's eviction policies, by Redis's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxmemoryPolicy {
    NoEviction,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Shards {
    pub fn parse_str(text: &str) -> Result<Shards, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("auto") {
            return Ok(Shards::Auto);
        }
        match t.parse::<i64>() {
            Ok(n) => Shards::from_int(n),
            Err(_) => Err(format!(
                "{text:?} is neither \"auto\" nor a number of shards"
            )),
        }
    }

    pub(crate) fn from_int(n: i64) -> Result<Shards, String> {
        match u16::try_from(n) {
            Ok(c) if (1..=MAX_SHARDS).contains(&c) => Ok(Shards::Count(c)),
            _ => Err(format!(
                "{n} is not a valid shard count (1-{MAX_SHARDS} or \"auto\")"
            )),
        }
    }

    pub(crate) fn from_value(v: &toml::Value) -> Result<Shards, String> {
        match v {
            toml::Value::String(s) => Shards::parse_str(s),
            toml::Value::Integer(n) => Shards::from_int(*n),
            other => Err(format!(
                "expected \"auto\" or an integer, found {}",
                other.type_str()
            )),
        }
    }
}

impl LogFormat {
    pub fn parse_str(text: &str) -> Result<LogFormat, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("{text:?} is not a log format (text or json)")),
        }
    }
}

impl AppendFsync {
    pub fn parse_str(text: &str) -> Result<AppendFsync, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "always" => Ok(AppendFsync::Always),
            "everysec" => Ok(AppendFsync::Everysec),
            "no" => Ok(AppendFsync::No),
            _ => Err(format!(
                "{text:?} is not an appendfsync policy (always, everysec or no)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::Everysec => "everysec",
            AppendFsync::No => "no",
        }
    }
}

impl MaxmemoryPolicy {
    pub(crate) const ALL: [(&'static str, MaxmemoryPolicy); 8] = [
        ("noeviction", MaxmemoryPolicy::NoEviction),
        ("allkeys-lru", MaxmemoryPolicy::AllkeysLru),
        ("allkeys-lfu", MaxmemoryPolicy::AllkeysLfu),
        ("allkeys-random", MaxmemoryPolicy::AllkeysRandom),
        ("volatile-lru", MaxmemoryPolicy::VolatileLru),
        ("volatile-lfu", MaxmemoryPolicy::VolatileLfu),
        ("volatile-random", MaxmemoryPolicy::VolatileRandom),
        ("volatile-ttl", MaxmemoryPolicy::VolatileTtl),
    ];

    pub fn parse_str(text: &str) -> Result<MaxmemoryPolicy, String> {
        let t = text.trim().to_ascii_lowercase();
        Self::ALL
            .iter()
            .find(|(name, _)| *name == t)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
                format!("{text:?} is not a maxmemory policy ({})", names.join(", "))
            })
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .unwrap_or("noeviction")
    }
}
