//! The keyspace walk of a rewrite: the new base is a point-in-time view of the keyspace as
//! it was at `rewrite_start`, serialized a slice per event-loop turn instead of all at once.
//!
//! - The walk visits positions downwards (as `Db::scan` does), so a deletion's
//!   `swap_remove`, which moves the last key into the hole, never moves an unvisited key
//!   past the cursor.
//! - Before a write command runs, every key it names that the walk has not dumped yet is
//!   dumped as it is (its pre-image), so what the base holds is always the value at the
//!   start. Keys created after the start are marked the same way and never dumped: the new
//!   incr file has them.
//! - `done` holds every key dumped or marked, so a key the walk meets twice (moved by a
//!   deletion) is dumped once.
//! - Keys removed without a command naming them (expiry) are simply absent from the base;
//!   the incr file records their `DEL`.
//!
//! The encoded slices go to a helper thread that writes and syncs the base.

use std::collections::HashSet;
use std::sync::mpsc::Sender;

use bytes::Bytes;
use shoal_proto::command::CommandSpec;

use crate::db::Sds;
use crate::state::{now_ms, Server};

use super::serialize::{self, Encoded};

/// Keys visited per turn: about a millisecond of work for small values.
pub const STEP_KEYS: usize = 2000;

pub enum Msg {
    Part(Encoded),
    End,
}

pub struct Walk {
    /// Next position to visit is `cursor - 1`; 0 before the first step.
    cursor: u64,
    started: bool,
    done: HashSet<Sds>,
    /// Pre-images dumped since the last step.
    pending: Encoded,
    tx: Sender<Msg>,
}

impl Walk {
    /// `keys`: the keyspace's size, so the set never rehashes mid-walk (a stall of tens of
    /// milliseconds at a million keys).
    pub fn new(tx: Sender<Msg>, keys: usize) -> Walk {
        Walk {
            cursor: 0,
            started: false,
            done: HashSet::with_capacity(keys + keys / 8),
            pending: Encoded::default(),
            tx,
        }
    }
}

/// Dumps the pre-images of the keys a write command is about to change. A command whose
/// keys cannot be found abandons the rewrite rather than risk a wrong base.
pub fn before_write(srv: &mut Server, spec: &CommandSpec, args: &[Bytes]) {
    let Some(walk) = srv.persist.rewrite.walk.as_mut() else {
        return;
    };
    let Ok(positions) = spec.key_positions(args) else {
        tracing::warn!(
            command = spec.name,
            "AOF rewrite abandoned: keys of a write unknown"
        );
        srv.persist.rewrite.walk = None;
        return;
    };
    let now = now_ms();
    for p in positions {
        let Some(key) = args.get(p) else { continue };
        if walk.done.contains(&key[..]) {
            continue;
        }
        walk.done.insert(Sds::new(key));
        if let Some(v) = srv.db.value_ref(key) {
            let at = srv.db.expire_at(key);
            if at.is_none_or(|at| at > now) {
                serialize::one(&mut walk.pending, key, v, at);
            }
        }
    }
}

/// One slice of the walk. True when the walk is over (finished or abandoned).
pub fn step(srv: &mut Server, budget: usize) -> bool {
    let Some(walk) = srv.persist.rewrite.walk.as_mut() else {
        return true;
    };
    let now = now_ms();
    let mut enc = std::mem::take(&mut walk.pending);
    let db = &srv.db;
    let start = if walk.started { walk.cursor } else { 0 };
    walk.started = true;
    let done = &mut walk.done;
    let next = db.scan(start, budget, |k, e| {
        if done.contains(&k[..]) {
            return;
        }
        done.insert(k.clone());
        let at = db.expire_at(k);
        if at.is_none_or(|at| at > now) {
            serialize::one(&mut enc, k, &e.value, at);
        }
    });
    walk.cursor = next;
    let mut ok = enc.is_empty() || walk.tx.send(Msg::Part(enc)).is_ok();
    let finished = next == 0;
    if finished && ok {
        ok = walk.tx.send(Msg::End).is_ok();
    }
    if finished || !ok {
        if !ok {
            tracing::warn!("AOF rewrite abandoned: its writer thread stopped");
        }
        srv.persist.rewrite.walk = None;
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Value;
    use crate::ShardConfig;

    fn text(parts: &std::sync::mpsc::Receiver<Msg>) -> (String, bool) {
        let mut s = String::new();
        let mut ended = false;
        while let Ok(m) = parts.try_recv() {
            match m {
                Msg::Part(enc) => {
                    for c in enc.chunks {
                        s.push_str(&String::from_utf8_lossy(&c));
                    }
                }
                Msg::End => ended = true,
            }
        }
        (s.replace("\r\n", " "), ended)
    }

    #[test]
    fn the_base_gets_pre_images_once_and_never_new_keys() {
        let mut srv = Server::new(ShardConfig::default());
        for i in 0..10 {
            let k = format!("k{i}");
            srv.db.set(k.as_bytes(), Value::str(b"old"), false);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        srv.persist.rewrite.walk = Some(Walk::new(tx, 10));
        assert!(!step(&mut srv, 3), "three of ten keys visited");
        let set = shoal_proto::command::lookup(b"set").unwrap();
        // k0 sits at the bottom, not visited yet: its pre-image goes first.
        for key in ["k0", "new"] {
            let args = [Bytes::from("SET"), Bytes::from(key), Bytes::from("changed")];
            before_write(&mut srv, set, &args);
            srv.db.set(key.as_bytes(), Value::str(b"changed"), false);
        }
        // A deletion moves the last key (visited) into an unvisited slot.
        srv.db.remove(b"k1");
        while !step(&mut srv, 3) {}
        let (base, ended) = text(&rx);
        assert!(ended);
        assert!(base.contains("$2 k0 $3 old"), "{base}");
        assert!(!base.contains("changed"), "{base}");
        assert!(!base.contains("new"), "{base}");
        for i in 2..10 {
            let k = format!("$2 k{i} $3 old");
            assert_eq!(base.matches(&k).count(), 1, "k{i} once: {base}");
        }
        assert!(srv.persist.rewrite.walk.is_none());
    }
}
