//! The same-slot rule: a multi-key command that is not split by the proxy must have all
//! its keys in one hash slot, as in Redis Cluster, so it can run on one shard atomically
//! and keeps working when slots later move between shards or pods.
//!
//! [`key_slot`] is the rule written straight from the key specifications, for any
//! command. The request path uses [`super::route::key_slot`], which skips the
//! allocation for fixed-position keys; a test holds the two to the same answers.

use bytes::Bytes;
use shoal_proto::command::CommandSpec;

/// The reply to a command whose keys span slots, byte for byte as Redis Cluster sends it.
pub const CROSSSLOT: &[u8] = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n";

/// Where a command's keys hash.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySlot {
    /// The command names no key (or its key arguments are malformed, which the shard will
    /// report with the command's own error).
    NoKeys,
    /// Every key hashes to this slot.
    Slot(u16),
    /// The keys hash to at least two slots.
    CrossSlot,
}

// Only the tests call it on the request path's behalf (see the module comment).
#[cfg_attr(not(test), allow(dead_code))]
/// The slot all of the command's keys hash to. `args[0]` is the command name; `spec` is
/// its table entry (the container, for commands with subcommands such as OBJECT or XINFO:
/// the subcommand's key specification is looked up here).
pub fn key_slot(spec: &CommandSpec, args: &[Bytes]) -> KeySlot {
    let spec = match (spec.subcommands.is_empty(), args.get(1)) {
        (false, Some(sub)) => match shoal_proto::lookup_subcommand(spec, sub) {
            Some(s) => s,
            None => return KeySlot::NoKeys,
        },
        (false, None) => return KeySlot::NoKeys,
        (true, _) => spec,
    };
    let Ok(positions) = spec.key_positions(args) else {
        return KeySlot::NoKeys;
    };
    let mut slot = None;
    for pos in positions {
        let Some(key) = args.get(pos) else { continue };
        let s = shoal_proto::key_hash_slot(key);
        match slot {
            None => slot = Some(s),
            Some(prev) if prev != s => return KeySlot::CrossSlot,
            Some(_) => {}
        }
    }
    slot.map_or(KeySlot::NoKeys, KeySlot::Slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    fn slot_of(cmd: &str) -> KeySlot {
        let a = args(cmd);
        let spec = shoal_proto::lookup(&a[0]).expect("known command");
        key_slot(spec, &a)
    }

    fn s(key: &str) -> KeySlot {
        KeySlot::Slot(shoal_proto::key_hash_slot(key.as_bytes()))
    }

    #[test]
    fn error_text_is_redis_cluster_s() {
        assert_eq!(
            CROSSSLOT,
            b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
        );
    }

    #[test]
    fn single_and_tagged_keys() {
        assert_eq!(slot_of("get foo"), s("foo"));
        assert_eq!(slot_of("rename {u}a {u}b"), s("u"));
        assert_eq!(slot_of("rename foo bar"), KeySlot::CrossSlot);
        assert_eq!(slot_of("sinterstore {t}d {t}a {t}b"), s("t"));
        assert_eq!(slot_of("sinterstore {t}d {t}a b"), KeySlot::CrossSlot);
        assert_eq!(slot_of("lmove {q}a {q}b left right"), s("q"));
        assert_eq!(slot_of("smove a b m"), KeySlot::CrossSlot);
        // The same key twice is one slot.
        assert_eq!(slot_of("rpoplpush k k"), s("k"));
        assert_eq!(slot_of("ping"), KeySlot::NoKeys);
        assert_eq!(slot_of("dbsize"), KeySlot::NoKeys);
    }

    #[test]
    fn numkeys_commands() {
        assert_eq!(slot_of("zunionstore {z}d 2 {z}a {z}b weights 1 2"), s("z"));
        assert_eq!(slot_of("zunionstore {z}d 2 {z}a b"), KeySlot::CrossSlot);
        // Arguments after the keys are not keys, even when they look like other slots.
        assert_eq!(slot_of("zunion 1 {z}a weights 2"), s("z"));
        assert_eq!(slot_of("eval s 2 {e}a {e}b x y"), s("e"));
        assert_eq!(slot_of("eval s 2 a b"), KeySlot::CrossSlot);
        assert_eq!(slot_of("eval s 1 a b c"), s("a"));
        assert_eq!(slot_of("eval s 0 a b"), KeySlot::NoKeys);
        assert_eq!(slot_of("evalsha abc 2 {e}x {e}y"), s("e"));
        assert_eq!(slot_of("fcall f 2 a b"), KeySlot::CrossSlot);
        assert_eq!(slot_of("lmpop 2 {l}a {l}b left count 2"), s("l"));
        assert_eq!(slot_of("lmpop 2 a b left"), KeySlot::CrossSlot);
        assert_eq!(slot_of("zmpop 2 {l}a {l}b min"), s("l"));
        assert_eq!(slot_of("blmpop 0 2 a b left"), KeySlot::CrossSlot);
        assert_eq!(slot_of("sintercard 2 {x}a {x}b limit 3"), s("x"));
        // A numkeys that is not a number is the command's error to report.
        assert_eq!(slot_of("zunionstore d x a"), KeySlot::NoKeys);
    }

    #[test]
    fn keyword_commands() {
        assert_eq!(slot_of("xread count 2 streams {s}a {s}b 0 0"), s("s"));
        assert_eq!(slot_of("xread streams a b 0 0"), KeySlot::CrossSlot);
        assert_eq!(slot_of("xread streams a 0"), s("a"));
        assert_eq!(
            slot_of("xreadgroup group g c streams {s}a {s}b > >"),
            s("s")
        );
        assert_eq!(slot_of("migrate h 1 \"\" 0 5 keys a b"), KeySlot::CrossSlot);
        assert_eq!(slot_of("georadius {g}a 0 0 1 m store {g}b"), s("g"));
        assert_eq!(
            slot_of("georadius {g}a 0 0 1 m store b"),
            KeySlot::CrossSlot
        );
        assert_eq!(slot_of("sort {s}l by w_* store {s}d"), s("s"));
        assert_eq!(slot_of("sort a store b"), KeySlot::CrossSlot);
    }

    #[test]
    fn subcommand_keys() {
        assert_eq!(slot_of("object encoding foo"), s("foo"));
        assert_eq!(slot_of("xinfo stream foo"), s("foo"));
        assert_eq!(slot_of("memory usage foo"), s("foo"));
        assert_eq!(slot_of("object help"), KeySlot::NoKeys);
        assert_eq!(slot_of("object nosuch foo"), KeySlot::NoKeys);
        assert_eq!(slot_of("object"), KeySlot::NoKeys);
    }

    /// The request path's version of the rule gives the same answers.
    #[test]
    fn route_agrees() {
        use crate::proxy::route;
        let db = crate::proxy::tests_support::db(4);
        for cmd in [
            "get foo",
            "rename {u}a {u}b",
            "rename foo bar",
            "sinterstore {t}d {t}a b",
            "zunionstore {z}d 2 {z}a {z}b weights 1 2",
            "zunionstore {z}d 2 {z}a b",
            "eval s 2 a b",
            "eval s 1 a b c",
            "lmpop 2 {l}a {l}b left count 2",
            "xread count 2 streams {s}a b 0 0",
            "object encoding foo",
            "georadius {g}a 0 0 1 m store b",
            "ping",
        ] {
            let a = args(cmd);
            let refs: Vec<&[u8]> = a.iter().map(|x| &x[..]).collect();
            let spec = route::resolve(&refs).expect("known");
            let theirs = match route::key_slot(&db, spec, &refs) {
                route::KeySlot::Keyless => KeySlot::NoKeys,
                route::KeySlot::One(s) => KeySlot::Slot(s),
                route::KeySlot::Cross { .. } => KeySlot::CrossSlot,
            };
            assert_eq!(theirs, slot_of(cmd), "{cmd}");
        }
    }
}
