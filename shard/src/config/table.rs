//! The CONFIG parameter table's types and the logic of CONFIG GET/SET over it.
//!
//! Each parameter is data: its name, alias, flags, value type with bounds, and either the
//! typed [`ShardConfig`] field it reads and writes or, for settings shoal accepts but does
//! not act on, a default kept in [`ShardConfig::passive`]. The entries themselves are in
//! [`super::params`].

use std::fmt;

pub use super::params::PARAMS;
use super::ShardConfig;

/// A parsed parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Bool(bool),
    /// Wide enough for every Redis numeric type, from `-100%` to `ULLONG_MAX`.
    Int(i128),
    Str(String),
}

/// How a numeric parameter is written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumFmt {
    Plain,
    /// Accepts units (`1gb`); shown in bytes.
    Memory,
    /// A memory value or a percentage (`10%`, kept negative as Redis does).
    MemoryPercent,
    Octal,
}

pub enum Kind {
    Bool,
    Int {
        min: i128,
        max: i128,
        fmt: NumFmt,
    },
    Enum(&'static [&'static str]),
    Str,
    /// Values with their own syntax (`save`, `bind`, `notify-keyspace-events` …).
    Special {
        parse: fn(&str) -> Result<Val, String>,
        show: fn(&Val) -> String,
    },
}

pub enum Access {
    Field {
        get: fn(&ShardConfig) -> Val,
        set: fn(&mut ShardConfig, Val),
    },
    /// Accepted and reported but not acted on; the text is Redis's default.
    Passive(&'static str),
}

pub mod flag {
    /// Only settable at startup.
    pub const IMMUTABLE: u8 = 1;
    /// Left out of pattern matches; reachable by exact name only.
    pub const HIDDEN: u8 = 2;
    /// Redis refuses to set these unless `enable-protected-configs` allows it.
    pub const PROTECTED: u8 = 4;
    /// Settable in Redis but fixed for a shard (its listeners belong to the agent):
    /// setting the current value succeeds as a no-op; another value fails the way Redis
    /// fails when it cannot open the new listener.
    pub const PINNED: u8 = 8;
}

pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub flags: u8,
    pub kind: Kind,
    pub access: Access,
}

impl Param {
    /// Parses a CONFIG SET value, with Redis's error text on failure.
    pub fn parse(&self, s: &str) -> Result<Val, String> {
        use super::parse;
        match &self.kind {
            Kind::Bool => parse::yes_no(s)
                .map(Val::Bool)
                .ok_or_else(|| "argument must be 'yes' or 'no'".to_string()),
            Kind::Int { min, max, fmt } => {
                let n = parse_number(s, *fmt)?;
                if *fmt == NumFmt::MemoryPercent && n < 0 {
                    if n < *min {
                        return Err(format!(
                            "percentage argument must be less or equal to {}",
                            -min
                        ));
                    }
                } else if n < *min || n > *max {
                    return Err(if *fmt == NumFmt::Octal {
                        format!("argument must be between {min:o} and {max:o} inclusive")
                    } else {
                        format!("argument must be between {min} and {max} inclusive")
                    });
                }
                Ok(Val::Int(n))
            }
            Kind::Enum(names) => names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(s))
                .map(|n| Val::Str(n.to_string()))
                .ok_or_else(|| {
                    format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    )
                }),
            Kind::Str => Ok(Val::Str(s.to_string())),
            Kind::Special { parse, .. } => parse(s),
        }
    }

    /// Formats a value as CONFIG GET shows it.
    pub fn show(&self, v: &Val) -> String {
        match (&self.kind, v) {
            (Kind::Special { show, .. }, v) => show(v),
            (_, Val::Bool(b)) => if *b { "yes" } else { "no" }.to_string(),
            (Kind::Int { fmt, .. }, Val::Int(n)) => match fmt {
                NumFmt::MemoryPercent if *n < 0 => format!("{}%", -n),
                NumFmt::Octal => format!("{n:o}"),
                _ => n.to_string(),
            },
            (_, Val::Int(n)) => n.to_string(),
            (_, Val::Str(s)) => s.clone(),
        }
    }

    pub fn value(&self, c: &ShardConfig) -> Val {
        match &self.access {
            Access::Field { get, .. } => get(c),
            Access::Passive(default) => match c.passive.get(self.name) {
                Some(v) => v.clone(),
                None => self.parse(default).unwrap_or(Val::Str(default.to_string())),
            },
        }
    }

    pub fn get(&self, c: &ShardConfig) -> String {
        self.show(&self.value(c))
    }

    fn store(&self, c: &mut ShardConfig, v: Val) {
        match &self.access {
            Access::Field { set, .. } => set(c, v),
            Access::Passive(_) => {
                c.passive.insert(self.name, v);
            }
        }
    }

    pub fn is_immutable(&self) -> bool {
        self.flags & flag::IMMUTABLE != 0
    }
}

fn parse_number(s: &str, fmt: NumFmt) -> Result<i128, String> {
    use super::parse;
    match fmt {
        NumFmt::Plain => {
            parse::strict_int(s).ok_or_else(|| "argument couldn't be parsed into an integer".into())
        }
        NumFmt::Memory => parse::memory(s)
            .map(|n| n as i128)
            .ok_or_else(|| "argument must be a memory value".into()),
        NumFmt::MemoryPercent => {
            if let Some(n) = parse::memory(s) {
                return Ok(n as i128);
            }
            match s.strip_suffix('%').and_then(parse::strict_int) {
                Some(p) if p >= 0 && s.len() > 1 => Ok(-p),
                _ => Err("argument must be a memory or percent value".into()),
            }
        }
        NumFmt::Octal => i128::from_str_radix(s, 8)
            .map_err(|_| "argument couldn't be parsed as an octal number".into()),
    }
}

/// Finds a parameter by name or alias, case-insensitively. The second value is the name
/// that matched, which Redis uses in its error texts.
pub fn lookup(name: &str) -> Option<&'static Param> {
    lookup_named(name).map(|(p, _)| p)
}

pub fn lookup_named(name: &str) -> Option<(&'static Param, &'static str)> {
    PARAMS.iter().find_map(|p| {
        if p.name.eq_ignore_ascii_case(name) {
            Some((p, p.name))
        } else {
            match p.alias {
                Some(a) if a.eq_ignore_ascii_case(name) => Some((p, a)),
                _ => None,
            }
        }
    })
}

/// `CONFIG GET` for several patterns: (name as shown, value) pairs, each parameter once.
/// A pattern without glob characters is an exact lookup and is echoed as typed, as in
/// Redis; a pattern also matches aliases but never hidden parameters.
pub fn get_matching(c: &ShardConfig, patterns: &[&[u8]]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let seen =
        |out: &Vec<(String, String)>, n: &str| out.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    for pat in patterns {
        let is_glob = pat.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
        if !is_glob {
            let name = String::from_utf8_lossy(pat).into_owned();
            if seen(&out, &name) {
                continue;
            }
            if let Some(p) = lookup(&name) {
                let v = p.get(c);
                out.push((name, v));
            }
            continue;
        }
        for p in PARAMS.iter().filter(|p| p.flags & flag::HIDDEN == 0) {
            for n in std::iter::once(p.name).chain(p.alias) {
                if !seen(&out, n) && crate::glob::matches(pat, n.as_bytes(), true) {
                    out.push((n.to_string(), p.get(c)));
                }
            }
        }
    }
    out
}

/// Why a CONFIG SET was refused; `Display` gives Redis's reply text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Unknown(String),
    Failed { name: String, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unknown(n) => write!(
                f,
                "ERR Unknown option or number of arguments for CONFIG SET - '{n}'"
            ),
            ConfigError::Failed { name, reason } => write!(
                f,
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// `CONFIG SET` of several pairs, all or nothing: every name is checked first, then the
/// values are applied in order, and the first bad value restores the settings as they
/// were. Returns the canonical names of the parameters set.
pub fn set_many(
    c: &mut ShardConfig,
    pairs: &[(&str, &str)],
) -> Result<Vec<&'static str>, ConfigError> {
    let mut unknown = None;
    let mut refused = None;
    let mut found: Vec<(&'static Param, &'static str)> = Vec::with_capacity(pairs.len());
    for (name, _) in pairs {
        let Some((p, matched)) = lookup_named(name) else {
            unknown.get_or_insert_with(|| name.to_string());
            continue;
        };
        if p.is_immutable() || p.flags & flag::PROTECTED != 0 {
            let why = if p.is_immutable() {
                "can't set immutable config"
            } else {
                "can't set protected config"
            };
            refused = Some(ConfigError::Failed {
                name: name.to_string(),
                reason: why.into(),
            });
        } else if found.iter().any(|(q, _)| std::ptr::eq(*q, p)) {
            refused = Some(ConfigError::Failed {
                name: name.to_string(),
                reason: "duplicate parameter".into(),
            });
        }
        found.push((p, matched));
    }
    if let Some(n) = unknown {
        return Err(ConfigError::Unknown(n));
    }
    if let Some(e) = refused {
        return Err(e);
    }
    let backup = c.clone();
    for ((p, matched), (_, value)) in found.iter().zip(pairs) {
        match p.parse(value) {
            Ok(v) if p.flags & flag::PINNED != 0 && v != p.value(c) => {
                *c = backup;
                tracing::warn!(param = p.name, "a shard's listeners are set by its agent");
                let reason = if p.name == "port" {
                    "Unable to listen on this port. Check server logs."
                } else {
                    "Failed to bind to specified addresses."
                };
                return Err(ConfigError::Failed {
                    name: matched.to_string(),
                    reason: reason.into(),
                });
            }
            Ok(v) => p.store(c, v),
            Err(reason) => {
                *c = backup;
                return Err(ConfigError::Failed {
                    name: matched.to_string(),
                    reason,
                });
            }
        }
    }
    Ok(found.iter().map(|(p, _)| p.name).collect())
}

/// Fills [`ShardConfig::passive`] with each passive parameter's default.
pub fn init_passive(c: &mut ShardConfig) {
    for p in PARAMS.iter() {
        if let Access::Passive(default) = p.access {
            match p.parse(default) {
                Ok(v) => {
                    c.passive.insert(p.name, v);
                }
                Err(e) => tracing::error!(param = p.name, error = %e, "bad built-in default"),
            }
        }
    }
}
