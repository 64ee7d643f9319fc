//! Where a command goes: which shard owns its keys, or whether the proxy answers it, or
//! needs a dedicated connection, or must refuse it with CROSSSLOT.
//!
//! Hooks: [`Route::Split`] (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH over several shards)
//! and [`Route::FanOut`] (DBSIZE, KEYS, SCAN, RANDOMKEY, FLUSHDB, FLUSHALL) are where the
//! split and fan-out plans plug in; [`Special::Cluster`] is where the agent's CLUSTER
//! answers plug in; an ACL check goes in front of [`route`] in the client loop.
//!
//! The same-slot rule ([`key_slot`]): a multi-key command that the proxy does not split
//! must have all its keys in one hash slot, as in Redis Cluster, so it runs on one shard
//! atomically and keeps working when slots later move between shards or pods.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use shoal_proto::{key_hash_slot, lookup, lookup_subcommand, CommandSpec, Flags};

use super::Database;

/// Commands that are not simply forwarded to their key's shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Ping,
    Echo,
    Hello,
    Auth,
    Client,
    Select,
    Quit,
    Reset,
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
    Subscribe,
    Unsubscribe,
    Publish,
    PubSub,
    /// Always blocks (BLPOP …): a dedicated connection to the key's shard.
    Blocking,
    /// Blocks only with a BLOCK option (XREAD, XREADGROUP).
    BlockOption,
    /// WAIT: no key; a dedicated connection to shard 0.
    Wait,
    Split,
    FanOut,
    Cluster,
    /// ACL <subcommand>: the database's users live in the proxy.
    Acl,
    /// CONFIG: the client limits are answered by the proxy, the rest by the shards.
    Config,
}

fn specials() -> &'static HashMap<usize, Special> {
    static MAP: OnceLock<HashMap<usize, Special>> = OnceLock::new();
    MAP.get_or_init(|| {
        use Special::*;
        let table: &[(&str, Special)] = &[
            ("ping", Ping),
            ("echo", Echo),
            ("hello", Hello),
            ("auth", Auth),
            ("client", Client),
            ("select", Select),
            ("quit", Quit),
            ("reset", Reset),
            ("multi", Multi),
            ("exec", Exec),
            ("discard", Discard),
            ("watch", Watch),
            ("unwatch", Unwatch),
            ("subscribe", Subscribe),
            ("psubscribe", Subscribe),
            ("ssubscribe", Subscribe),
            ("unsubscribe", Unsubscribe),
            ("punsubscribe", Unsubscribe),
            ("sunsubscribe", Unsubscribe),
            ("publish", Publish),
            ("spublish", Publish),
            ("pubsub", PubSub),
            ("blpop", Blocking),
            ("brpop", Blocking),
            ("brpoplpush", Blocking),
            ("blmove", Blocking),
            ("blmpop", Blocking),
            ("bzpopmin", Blocking),
            ("bzpopmax", Blocking),
            ("bzmpop", Blocking),
            // A script may run past busy-reply-threshold; on the shared upstream it would
            // hold every other client's request to that shard behind it, and SCRIPT KILL
            // too. On its own connection the shard answers the others -BUSY meanwhile.
            ("eval", Blocking),
            ("evalsha", Blocking),
            ("eval_ro", Blocking),
            ("evalsha_ro", Blocking),
            ("xread", BlockOption),
            ("xreadgroup", BlockOption),
            ("wait", Wait),
            ("mget", Split),
            ("mset", Split),
            ("del", Split),
            ("unlink", Split),
            ("exists", Split),
            ("touch", Split),
            ("msetnx", Split),
            ("dbsize", FanOut),
            ("keys", FanOut),
            ("scan", FanOut),
            ("randomkey", FanOut),
            ("flushdb", FanOut),
            ("flushall", FanOut),
            ("info", FanOut),
            ("lastsave", FanOut),
            ("save", FanOut),
            ("bgsave", FanOut),
            ("bgrewriteaof", FanOut),
            ("script|load", FanOut),
            ("script|flush", FanOut),
            ("script|exists", FanOut),
            // The script to kill runs on whichever shard owns its keys.
            ("script|kill", FanOut),
            ("slowlog|get", FanOut),
            ("slowlog|len", FanOut),
            ("slowlog|reset", FanOut),
            ("latency|reset", FanOut),
            ("cluster", Cluster),
            ("readonly", Cluster),
            ("readwrite", Cluster),
            ("asking", Cluster),
            ("acl", Acl),
            ("config", Config),
        ];
        // A container's subcommands (CLIENT SETNAME, ACL SETUSER …) resolve to their own
        // specs, so they are entered too; a subcommand named on its own (`script|kill`)
        // is entered last, so it overrides its container's entry.
        let mut map: HashMap<usize, Special> = table
            .iter()
            .filter(|(n, _)| !n.contains('|'))
            .filter_map(|(n, s)| lookup(n.as_bytes()).map(|spec| (spec, *s)))
            .flat_map(|(spec, s)| {
                std::iter::once(spec)
                    .chain(spec.subcommands.iter())
                    .map(move |x| (spec_id(x), s))
            })
            .collect();
        for (n, s) in table.iter().filter(|(n, _)| n.contains('|')) {
            if let Some(spec) = lookup(n.as_bytes()) {
                map.insert(spec_id(spec), *s);
            }
        }
        map
    })
}

fn spec_id(spec: &'static CommandSpec) -> usize {
    spec as *const CommandSpec as usize
}

/// A subcommand (`cluster|nodes`, `client|list`) is special when its container is, or
/// when it is named itself (`script|kill`, `config|set`).
pub fn special(spec: &'static CommandSpec) -> Option<Special> {
    if let Some(s) = specials().get(&spec_id(spec)) {
        return Some(*s);
    }
    let parent = lookup(spec.name.split_once('|')?.0.as_bytes())?;
    specials().get(&spec_id(parent)).copied()
}

/// The command's spec, resolving a container's subcommand (`OBJECT ENCODING` → its own
/// key positions).
pub fn resolve(args: &[&[u8]]) -> Option<&'static CommandSpec> {
    let spec = lookup(args.first()?)?;
    if !spec.subcommands.is_empty() {
        if let Some(sub) = args.get(1).and_then(|s| lookup_subcommand(spec, s)) {
            return Some(sub);
        }
    }
    Some(spec)
}

/// The slot every key of the command hashes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySlot {
    Keyless,
    One(u16),
    /// Keys in different slots; `same_shard` tells whether one shard still holds them all.
    Cross {
        same_shard: Option<usize>,
    },
}

/// The slot all of the command's keys hash to, from its key specifications. `spec` is
/// the resolved entry ([`resolve`]: a subcommand's own, for OBJECT ENCODING or XINFO);
/// key arguments that do not fit them count as no key, the shard reporting the
/// command's own error.
pub fn key_slot(db: &Database, spec: &CommandSpec, args: &[&[u8]]) -> KeySlot {
    let mut acc = Acc::default();
    if spec.flags.has(Flags::MOVABLEKEYS) || spec.first_key <= 0 {
        if spec.key_specs.is_empty() {
            return KeySlot::Keyless;
        }
        let owned: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        // Arguments that do not fit the key specs get their error from the shard.
        if let Ok(pos) = spec.key_positions(&owned) {
            for p in pos {
                if let Some(k) = args.get(p) {
                    acc.add(db, k);
                }
            }
        }
    } else {
        let argc = args.len() as i64;
        let first = i64::from(spec.first_key);
        let last = if spec.last_key < 0 {
            argc + i64::from(spec.last_key)
        } else {
            i64::from(spec.last_key)
        };
        let step = i64::from(spec.step.max(1));
        let mut i = first;
        while i <= last && i < argc {
            if let Some(k) = args.get(i as usize) {
                acc.add(db, k);
            }
            i += step;
        }
    }
    acc.result()
}

#[derive(Default)]
struct Acc {
    slot: Option<u16>,
    shard: Option<usize>,
    cross: bool,
    same_shard: bool,
}

impl Acc {
    fn add(&mut self, db: &Database, key: &[u8]) {
        let s = key_hash_slot(key);
        match self.slot {
            None => {
                self.slot = Some(s);
                self.shard = Some(db.slots.owner(s));
                self.same_shard = true;
            }
            Some(prev) if prev == s => {}
            Some(_) => {
                self.cross = true;
                if self.shard != Some(db.slots.owner(s)) {
                    self.same_shard = false;
                }
            }
        }
    }

    fn result(self) -> KeySlot {
        match (self.slot, self.cross) {
            (None, _) => KeySlot::Keyless,
            (Some(s), false) => KeySlot::One(s),
            (Some(_), true) => KeySlot::Cross {
                same_shard: self.shard.filter(|_| self.same_shard),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Forward to this shard over the shared pipeline.
    Shard(usize),
    /// The proxy answers (or needs the client's state).
    Local(Special),
    /// A dedicated connection to this shard.
    Dedicated(usize),
    CrossSlot,
    /// A split plan's place; until it exists, keys in several shards are refused.
    Split,
    /// A fan-out plan's place; until it exists, a database of several shards refuses.
    FanOut,
}

/// The reply to a command whose keys span slots, byte for byte as Redis Cluster sends it.
pub const CROSSSLOT: &[u8] = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n";

/// Routes one command. `spec` is `None` for an unknown command, which shard 0 answers
/// with Redis's own error text, as it does for a wrong arity.
pub fn route(
    db: &Database,
    spec: Option<&'static CommandSpec>,
    sp: Option<Special>,
    args: &[&[u8]],
) -> Route {
    let Some(spec) = spec else {
        return Route::Shard(0);
    };
    if let Some(s) = sp {
        match s {
            Special::Blocking
            | Special::BlockOption
            | Special::Wait
            | Special::Split
            | Special::FanOut => {}
            other => return Route::Local(other),
        }
    }
    if !spec.arity_ok(args.len()) {
        return Route::Shard(0);
    }
    let one_shard = db.shards() == 1;
    let target = if one_shard {
        Ok(0)
    } else {
        match key_slot(db, spec, args) {
            KeySlot::Keyless => Ok(0),
            KeySlot::One(s) => Ok(db.slots.owner(s)),
            KeySlot::Cross { same_shard } => Err(same_shard),
        }
    };
    match sp {
        None => match target {
            Ok(shard) => Route::Shard(shard),
            Err(_) => Route::CrossSlot,
        },
        Some(Special::Blocking) => match target {
            Ok(shard) => Route::Dedicated(shard),
            Err(_) => Route::CrossSlot,
        },
        Some(Special::BlockOption) => {
            let blocks = args.iter().any(|a| a.eq_ignore_ascii_case(b"block"));
            match (target, blocks) {
                (Ok(shard), true) => Route::Dedicated(shard),
                (Ok(shard), false) => Route::Shard(shard),
                (Err(_), _) => Route::CrossSlot,
            }
        }
        Some(Special::Wait) => Route::Dedicated(0),
        Some(Special::Split) => match target {
            Ok(shard) => Route::Shard(shard),
            // All keys on one shard: that shard alone gives the right answer.
            Err(Some(shard)) => Route::Shard(shard),
            Err(None) => Route::Split,
        },
        Some(Special::FanOut) if one_shard => Route::Shard(0),
        Some(Special::FanOut) => Route::FanOut,
        Some(other) => Route::Local(other),
    }
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
