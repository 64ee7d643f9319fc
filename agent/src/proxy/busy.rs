//! A script past `busy-reply-threshold` makes a Redis server answer `-BUSY` to every other
//! client until it ends or SCRIPT KILL stops it. Behind the proxy the script holds only
//! its own shard, whose clients get `-BUSY` from the shard itself; this makes the rest of
//! the database answer the same, so a client sees one server whatever shard its keys are
//! on (and a MULTI queued at the proxy is flagged as Redis flags it).
//!
//! Scripts run on a [`super::dedicated`] connection; the client holds a [`Running`] for
//! as long as it waits for the script's reply.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoal_proto::number::parse_i64;

/// The shard's reply to every command while a script is busy.
pub const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// The shards' default `busy-reply-threshold`, in milliseconds.
const DEFAULT_THRESHOLD_MS: u64 = 5000;

pub struct Scripts {
    /// Scripts in flight: a lock-free test on every command while there are none.
    running: AtomicUsize,
    starts: Mutex<BTreeMap<u64, Instant>>,
    next: AtomicU64,
    threshold_ms: AtomicU64,
}

impl Default for Scripts {
    fn default() -> Scripts {
        Scripts {
            running: AtomicUsize::new(0),
            starts: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            threshold_ms: AtomicU64::new(DEFAULT_THRESHOLD_MS),
        }
    }
}

impl Scripts {
    /// A script was sent to a shard; it counts until the guard drops.
    pub fn begin(self: &Arc<Self>) -> Running {
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        self.with_starts(|m| m.insert(token, Instant::now()));
        self.running.fetch_add(1, Ordering::SeqCst);
        Running {
            scripts: self.clone(),
            token,
        }
    }

    /// Whether some script has run past the threshold. A threshold of 0 never makes a
    /// script busy (the shard then runs it to its end, as inside EXEC).
    pub fn busy(&self, now: Instant) -> bool {
        if self.running.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let ms = self.threshold_ms.load(Ordering::Relaxed);
        if ms == 0 {
            return false;
        }
        let oldest = self.with_starts(|m| m.values().min().copied());
        oldest.is_some_and(|t| now.saturating_duration_since(t) >= Duration::from_millis(ms))
    }

    /// Follows a `CONFIG SET` the shards are given: `busy-reply-threshold` (alias
    /// `lua-time-limit`) is the shards' setting, mirrored here.
    pub fn config_set(&self, args: &[&[u8]]) {
        let pairs = args.get(2..).unwrap_or_default();
        if pairs.len() % 2 != 0 {
            return;
        }
        for pair in pairs.chunks(2) {
            let name = pair[0];
            if name.eq_ignore_ascii_case(b"busy-reply-threshold")
                || name.eq_ignore_ascii_case(b"lua-time-limit")
            {
                if let Some(ms) = parse_i64(pair[1]).and_then(|n| u64::try_from(n).ok()) {
                    self.threshold_ms.store(ms, Ordering::Relaxed);
                }
            }
        }
    }

    fn with_starts<T>(&self, f: impl FnOnce(&mut BTreeMap<u64, Instant>) -> T) -> T {
        match self.starts.lock() {
            Ok(mut m) => f(&mut m),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// One script in flight.
pub struct Running {
    scripts: Arc<Scripts>,
    token: u64,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.scripts.with_starts(|m| m.remove(&self.token));
        self.scripts.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether a command is a script the proxy runs on a dedicated connection.
pub fn is_script(name: &str) -> bool {
    matches!(name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_after_the_threshold_until_the_script_ends() {
        let s = Arc::new(Scripts::default());
        let t0 = Instant::now();
        assert!(!s.busy(t0));
        s.config_set(&[b"config", b"set", b"lua-time-limit", b"10"]);
        let r = s.begin();
        assert!(!s.busy(Instant::now()));
        assert!(s.busy(Instant::now() + Duration::from_millis(20)));
        drop(r);
        assert!(!s.busy(Instant::now() + Duration::from_millis(20)));
    }

    #[test]
    fn zero_threshold_and_bad_values() {
        let s = Arc::new(Scripts::default());
        s.config_set(&[b"config", b"set", b"busy-reply-threshold", b"0"]);
        let _r = s.begin();
        assert!(!s.busy(Instant::now() + Duration::from_secs(60)));
        // A value the shards refuse leaves the setting as it was.
        s.config_set(&[b"config", b"set", b"busy-reply-threshold", b"-5"]);
        s.config_set(&[b"config", b"set", b"busy-reply-threshold", b"x"]);
        assert!(!s.busy(Instant::now() + Duration::from_secs(60)));
        s.config_set(&[
            b"config",
            b"set",
            b"maxmemory",
            b"1",
            b"lua-time-limit",
            b"5",
        ]);
        assert!(s.busy(Instant::now() + Duration::from_millis(10)));
    }
}
