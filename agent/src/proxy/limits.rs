//! Client limits of one database, the decisions only (the client loop asks; it does the
//! closing): protected mode and `maxclients` at accept, the query buffer (1 MB before
//! AUTH, `client-query-buffer-limit` after) at read, the output-buffer limits of normal
//! and pub/sub clients at write, and the idle `timeout`. The values live in atomics so
//! `CONFIG SET` changes them for every connection at once.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_config::{BufferLimit, ClientLimits};
use shoal_shard::glob;

/// Sent, then the connection is closed, to a non-loopback client of a database whose
/// `default` user has no password while protected mode is on (Redis's exact text).
pub use shoal_shard::acl::DENIED;

/// Sent, then the connection is closed, past `maxclients`.
pub const MAX_CLIENTS: &[u8] = b"-ERR max number of clients reached\r\n";

/// Query buffer bound before AUTH: an unauthenticated peer cannot make the proxy buffer
/// more than this (with at most 10 arguments of 16 KiB each, enforced by the frame
/// scanner's `auth_required` flag).
pub const PRE_AUTH_QUERY_BUFFER: usize = 1024 * 1024;

/// One output-buffer class, live.
#[derive(Debug)]
struct LiveBufferLimit {
    hard: AtomicU64,
    soft: AtomicU64,
    soft_seconds: AtomicU64,
}

impl LiveBufferLimit {
    fn new(l: BufferLimit) -> Self {
        LiveBufferLimit {
            hard: AtomicU64::new(l.hard),
            soft: AtomicU64::new(l.soft),
            soft_seconds: AtomicU64::new(l.soft_seconds),
        }
    }

    fn get(&self) -> BufferLimit {
        BufferLimit {
            hard: self.hard.load(Ordering::Relaxed),
            soft: self.soft.load(Ordering::Relaxed),
            soft_seconds: self.soft_seconds.load(Ordering::Relaxed),
        }
    }

    fn set(&self, l: BufferLimit) {
        self.hard.store(l.hard, Ordering::Relaxed);
        self.soft.store(l.soft, Ordering::Relaxed);
        self.soft_seconds.store(l.soft_seconds, Ordering::Relaxed);
    }
}

/// The limits of one database, shared by its connections.
#[derive(Debug)]
pub struct Limits {
    protected_mode: AtomicBool,
    maxclients: AtomicU64,
    timeout: AtomicU64,
    query_buffer: AtomicU64,
    normal: LiveBufferLimit,
    pubsub: LiveBufferLimit,
    connected: AtomicUsize,
}

/// Holds one of the `maxclients` places until dropped.
#[derive(Debug)]
pub struct ClientSlot(Arc<Limits>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether an output buffer is over its class's limit. Keeps the time the soft limit was
/// first reached, as Redis's `obuf_soft_limit_reached_time`.
#[derive(Debug, Default, Clone, Copy)]
pub struct OutputState {
    soft_since: Option<Instant>,
}

impl Limits {
    pub fn new(c: &ClientLimits) -> Arc<Limits> {
        Arc::new(Limits {
            protected_mode: AtomicBool::new(c.protected_mode),
            maxclients: AtomicU64::new(u64::from(c.maxclients)),
            timeout: AtomicU64::new(c.timeout),
            query_buffer: AtomicU64::new(c.query_buffer_limit),
            normal: LiveBufferLimit::new(c.output_normal),
            pubsub: LiveBufferLimit::new(c.output_pubsub),
            connected: AtomicUsize::new(0),
        })
    }

    /// Protected mode refuses a client when `default` has no password and the peer is
    /// neither loopback nor a Unix socket (`peer = None`). Like Redis, loopback means
    /// 127.0.0.1 and ::1 (and 127.0.0.1 mapped into IPv6).
    pub fn protected_mode_denies(
        &self,
        default_has_no_password: bool,
        peer: Option<IpAddr>,
    ) -> bool {
        shoal_shard::acl::protected_mode_denies(
            self.protected_mode.load(Ordering::Relaxed),
            default_has_no_password,
            peer,
        )
    }

    /// Takes a `maxclients` place, or `None` when all are taken: the client then gets
    /// [`MAX_CLIENTS`] and is closed.
    pub fn try_connect(self: &Arc<Self>) -> Option<ClientSlot> {
        let max = usize::try_from(self.maxclients.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        let mut now = self.connected.load(Ordering::Acquire);
        loop {
            if now >= max {
                return None;
            }
            match self.connected.compare_exchange_weak(
                now,
                now + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(ClientSlot(Arc::clone(self))),
                Err(seen) => now = seen,
            }
        }
    }

    #[cfg(test)]
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Acquire)
    }

    /// The most a client's unparsed input may hold: 1 MB before AUTH, else
    /// `client-query-buffer-limit`. Past it, Redis closes the client without a reply.
    pub fn query_buffer_limit(&self, auth_required: bool) -> usize {
        if auth_required {
            PRE_AUTH_QUERY_BUFFER
        } else {
            usize::try_from(self.query_buffer.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
        }
    }

    /// The idle timeout; `None` when clients are never closed for idling.
    pub fn idle_timeout(&self) -> Option<Duration> {
        match self.timeout.load(Ordering::Relaxed) {
            0 => None,
            s => Some(Duration::from_secs(s)),
        }
    }

    /// Whether the class has any output limit; the default normal class (`0 0 0`) has
    /// none, so its clients skip the check.
    pub fn output_limited(&self, pubsub: bool) -> bool {
        let l = if pubsub { &self.pubsub } else { &self.normal };
        l.hard.load(Ordering::Relaxed) != 0 || l.soft.load(Ordering::Relaxed) != 0
    }

    /// Should a client whose pending output is `used` bytes be closed? Call on every
    /// growth of the buffer and when it drains (Redis's `checkClientOutputBufferLimits`):
    /// the hard limit closes at once, the soft one after more than its seconds above it.
    pub fn output_exceeded(
        &self,
        st: &mut OutputState,
        used: u64,
        pubsub: bool,
        now: Instant,
    ) -> bool {
        let l = if pubsub {
            self.pubsub.get()
        } else {
            self.normal.get()
        };
        let hard = l.hard != 0 && used >= l.hard;
        let mut soft = l.soft != 0 && used >= l.soft;
        if soft {
            match st.soft_since {
                None => {
                    st.soft_since = Some(now);
                    soft = false;
                }
                Some(since) => {
                    if now.saturating_duration_since(since).as_secs() <= l.soft_seconds {
                        soft = false;
                    }
                }
            }
        } else {
            st.soft_since = None;
        }
        hard || soft
    }

    /// `CONFIG GET` for the names these limits answer: (name, value) for each name that
    /// matches `pattern` (a glob, case-insensitive).
    pub fn config_get(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let fmt = |c: &str, l: BufferLimit| format!("{c} {} {} {}", l.hard, l.soft, l.soft_seconds);
        let all = [
            (
                "protected-mode",
                yes_no(self.protected_mode.load(Ordering::Relaxed)),
            ),
            (
                "maxclients",
                self.maxclients.load(Ordering::Relaxed).to_string(),
            ),
            ("timeout", self.timeout.load(Ordering::Relaxed).to_string()),
            (
                "client-query-buffer-limit",
                self.query_buffer.load(Ordering::Relaxed).to_string(),
            ),
            (
                "client-output-buffer-limit",
                // Redis lists the replica class too; shoal has no replicas yet, so it
                // shows Redis's default for it.
                format!(
                    "{} slave 268435456 67108864 60 {}",
                    fmt("normal", self.normal.get()),
                    fmt("pubsub", self.pubsub.get())
                ),
            ),
        ];
        all.into_iter()
            .filter(|(name, _)| glob::matches(pattern, name.as_bytes(), true))
            .collect()
    }

    /// `CONFIG SET name value` for a name these limits own; `None` when the name is not
    /// one of them. The error is the text after Redis's
    /// `ERR CONFIG SET failed (possibly related to argument '<name>') - `.
    pub fn config_set(&self, name: &[u8], value: &[u8]) -> Option<Result<(), String>> {
        let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        let value = String::from_utf8_lossy(value);
        let v = value.trim();
        let int = |lo: i64, hi: i64| -> Result<u64, String> {
            let n: i64 = v
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < lo || n > hi {
                return Err(format!("argument must be between {lo} and {hi} inclusive"));
            }
            Ok(n as u64)
        };
        let r = match name.as_str() {
            "protected-mode" => match v.to_ascii_lowercase().as_str() {
                "yes" => Ok(true),
                "no" => Ok(false),
                _ => Err("argument must be 'yes' or 'no'".to_string()),
            }
            .map(|on| self.protected_mode.store(on, Ordering::Relaxed)),
            "maxclients" => {
                int(1, i64::from(u32::MAX)).map(|n| self.maxclients.store(n, Ordering::Relaxed))
            }
            "timeout" => {
                int(0, i64::from(i32::MAX)).map(|n| self.timeout.store(n, Ordering::Relaxed))
            }
            "client-query-buffer-limit" => shoal_config::units::parse_bytes(v)
                .filter(|&n| n >= 1024 * 1024 && n <= i64::MAX as u64)
                .map(|n| self.query_buffer.store(n, Ordering::Relaxed))
                .ok_or_else(|| {
                    "argument must be between 1048576 and 9223372036854775807 inclusive".to_string()
                }),
            "client-output-buffer-limit" => self.set_output_limits(v),
            _ => return None,
        };
        Some(r)
    }

    /// `"<class> <hard> <soft> <seconds>"` repeated, all checked before any applies.
    fn set_output_limits(&self, v: &str) -> Result<(), String> {
        let words: Vec<&str> = v.split_ascii_whitespace().collect();
        if words.is_empty() || !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".to_string());
        }
        let mut staged = Vec::new();
        for w in words.chunks_exact(4) {
            let class = w[0].to_ascii_lowercase();
            if !["normal", "pubsub", "slave", "replica"].contains(&class.as_str()) {
                return Err(
                    "Invalid client class specified in buffer limit configuration.".to_string(),
                );
            }
            let limit = BufferLimit::parse_str(&w[1..].join(" ")).map_err(|_| {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    .to_string()
            })?;
            staged.push((class, limit));
        }
        for (class, limit) in staged {
            match class.as_str() {
                "normal" => self.normal.set(limit),
                "pubsub" => self.pubsub.set(limit),
                // No replica clients: accepted so scripts written for Redis still run.
                _ => {}
            }
        }
        Ok(())
    }
}

fn yes_no(b: bool) -> String {
    (if b { "yes" } else { "no" }).to_string()
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
