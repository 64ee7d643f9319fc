//! `ACL LOG`: the most recent denials and failed logins, newest first, with repeats of
//! the same denial within a minute folded into one entry (Redis's `addACLLogEntry`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shoal_proto::Reply;

use super::check::Denied;

/// Redis's `acllog-max-len` default.
pub const MAX_ENTRIES: usize = 128;
/// Repeats closer than this fold into one entry.
const GROUPING: Duration = Duration::from_secs(60);
/// How many recent entries a new one is compared with.
const SCAN: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

impl From<Denied> for Reason {
    fn from(d: Denied) -> Reason {
        match d {
            Denied::Command => Reason::Command,
            Denied::Key(_) => Reason::Key,
            Denied::Channel(_) => Reason::Channel,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    count: u64,
    reason: Reason,
    /// Inside MULTI (`multi`) or not (`toplevel`).
    multi: bool,
    object: Vec<u8>,
    username: Vec<u8>,
    at: Instant,
    client_info: String,
}

#[derive(Debug, Default)]
pub struct AclLog {
    entries: Mutex<VecDeque<Entry>>,
}

impl AclLog {
    /// Records one denial. `object` is the command name, key or channel (or, for
    /// `Auth`, the command that tried to log in); `client_info` is the client's
    /// `CLIENT LIST` line.
    pub fn add(
        &self,
        reason: Reason,
        multi: bool,
        object: &[u8],
        username: &[u8],
        client_info: String,
    ) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let found = entries.iter().take(SCAN).position(|e| {
            e.reason == reason
                && e.multi == multi
                && now.saturating_duration_since(e.at) <= GROUPING
                && e.object == object
                && e.username == username
        });
        if let Some(mut e) = found.and_then(|i| entries.remove(i)) {
            e.count += 1;
            e.at = now;
            e.client_info = client_info;
            entries.push_front(e);
            return;
        }
        entries.push_front(Entry {
            count: 1,
            reason,
            multi,
            object: object.to_vec(),
            username: username.to_vec(),
            at: now,
            client_info,
        });
        entries.truncate(MAX_ENTRIES);
    }

    pub fn reset(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// `ACL LOG [count]`: up to `count` entries, newest first.
    pub fn reply(&self, count: usize, out: &mut Reply) {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let n = count.min(entries.len());
        out.array(n);
        for e in entries.iter().take(n) {
            out.map(7);
            out.bulk(b"count");
            out.int(e.count as i64);
            out.bulk(b"reason");
            out.bulk(e.reason.as_str().as_bytes());
            out.bulk(b"context");
            out.bulk(if e.multi { b"multi" } else { b"toplevel" });
            out.bulk(b"object");
            out.bulk(&e.object);
            out.bulk(b"username");
            out.bulk(&e.username);
            out.bulk(b"age-seconds");
            out.double(now.saturating_duration_since(e.at).as_millis() as f64 / 1000.0);
            out.bulk(b"client-info");
            out.bulk(e.client_info.as_bytes());
        }
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use shoal_proto::Protocol;

    use super::*;

    #[test]
    fn repeats_fold_and_the_log_is_bounded() {
        let log = AclLog::default();
        log.add(Reason::Key, false, b"k", b"alice", "id=1".into());
        log.add(Reason::Key, false, b"k", b"alice", "id=2".into());
        log.add(Reason::Command, false, b"set", b"alice", "id=3".into());
        assert_eq!(log.len(), 2);
        let mut out = Reply::new(Protocol::Resp2);
        log.reply(10, &mut out);
        let text = String::from_utf8_lossy(&out.buf).into_owned();
        assert!(
            text.starts_with("*2\r\n*14\r\n$5\r\ncount\r\n:1\r\n$6\r\nreason\r\n$7\r\ncommand\r\n"),
            "{text}"
        );
        assert!(
            text.contains(":2\r\n$6\r\nreason\r\n$3\r\nkey\r\n"),
            "{text}"
        );
        assert!(text.contains("$4\r\nid=2\r\n"), "{text}");
        for i in 0..200 {
            log.add(
                Reason::Auth,
                false,
                b"AUTH",
                format!("u{i}").as_bytes(),
                String::new(),
            );
        }
        assert_eq!(log.len(), MAX_ENTRIES);
        log.reset();
        assert_eq!(log.len(), 0);
    }
}
