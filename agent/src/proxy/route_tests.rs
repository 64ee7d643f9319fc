//! The routing rules, and the same-slot rule (CROSSSLOT) straight from the key
//! specifications of every kind of command.

use super::*;
use crate::proxy::tests_support::db;

fn r(d: &Database, line: &str) -> Route {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    let spec = resolve(&args);
    route(d, spec, spec.and_then(special), &args)
}

#[test]
fn keys_pick_their_shard() {
    let d = db(4);
    let foo = d.slots.key_owner(b"foo");
    assert_eq!(r(&d, "GET foo"), Route::Shard(foo));
    assert_eq!(r(&d, "set foo 1 EX 10"), Route::Shard(foo));
    assert_eq!(r(&d, "OBJECT ENCODING foo"), Route::Shard(foo));
    assert_eq!(
        r(&d, "SUNIONSTORE {a}x {a}y {a}z"),
        Route::Shard(d.slots.key_owner(b"a"))
    );
    assert_eq!(r(&d, "SUNIONSTORE a b c"), Route::CrossSlot);
    // Scripts run on their own connection to the shard owning their keys.
    assert_eq!(
        r(&d, "EVAL s 2 {t}1 {t}2"),
        Route::Dedicated(d.slots.key_owner(b"t"))
    );
    assert_eq!(r(&d, "EVAL s 0"), Route::Dedicated(0));
    assert_eq!(r(&d, "EVAL s 2 a b"), Route::CrossSlot);
    assert_eq!(r(&d, "TIME"), Route::Shard(0));
    assert_eq!(r(&d, "NOSUCH a"), Route::Shard(0));
    assert_eq!(r(&d, "GET"), Route::Shard(0));
    assert_eq!(r(&d, "PING"), Route::Local(Special::Ping));
    assert_eq!(r(&d, "BLPOP foo 0"), Route::Dedicated(foo));
    assert_eq!(r(&d, "XREAD STREAMS foo 0"), Route::Shard(foo));
    assert_eq!(r(&d, "XREAD BLOCK 0 STREAMS foo 0"), Route::Dedicated(foo));
    assert_eq!(r(&d, "DBSIZE"), Route::FanOut);
    // A subcommand named in the table is routed as named, not as its container.
    assert_eq!(r(&d, "SCRIPT KILL"), Route::FanOut);
    assert_eq!(r(&d, "script load x"), Route::FanOut);
    assert_eq!(r(&d, "SLOWLOG LEN"), Route::FanOut);
    assert_eq!(r(&d, "SCRIPT HELP"), Route::Shard(0));
    // CONFIG stays the proxy's (its client limits), which fans the rest out.
    assert_eq!(r(&d, "CONFIG SET a b"), Route::Local(Special::Config));
    assert_eq!(r(&d, "CLIENT LIST"), Route::Local(Special::Client));
    // One shard: no slot rule at all.
    let one = db(1);
    assert_eq!(r(&one, "SUNIONSTORE a b c"), Route::Shard(0));
    assert_eq!(r(&one, "MGET a b c"), Route::Shard(0));
    assert_eq!(r(&one, "DBSIZE"), Route::Shard(0));
}

#[test]
fn split_commands_on_one_shard_pass() {
    let d = db(2);
    // Find two keys in different slots of the same shard, and two on different shards.
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    let s0: Vec<&String> = keys
        .iter()
        .filter(|k| d.slots.key_owner(k.as_bytes()) == 0)
        .collect();
    let s1: Vec<&String> = keys
        .iter()
        .filter(|k| d.slots.key_owner(k.as_bytes()) == 1)
        .collect();
    assert_eq!(r(&d, &format!("MGET {} {}", s0[0], s0[1])), Route::Shard(0));
    assert_eq!(r(&d, &format!("MGET {} {}", s0[0], s1[0])), Route::Split);
}

/// The same-slot rule's answer, by name.
#[derive(Debug, PartialEq, Eq)]
enum Rule {
    NoKeys,
    Slot(u16),
    CrossSlot,
}

fn slot_of(cmd: &str) -> Rule {
    let d = db(4);
    let args: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
    let spec = resolve(&args).expect("known command");
    match key_slot(&d, spec, &args) {
        KeySlot::Keyless => Rule::NoKeys,
        KeySlot::One(s) => Rule::Slot(s),
        KeySlot::Cross { .. } => Rule::CrossSlot,
    }
}

fn s(key: &str) -> Rule {
    Rule::Slot(key_hash_slot(key.as_bytes()))
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
    assert_eq!(slot_of("rename foo bar"), Rule::CrossSlot);
    assert_eq!(slot_of("sinterstore {t}d {t}a {t}b"), s("t"));
    assert_eq!(slot_of("sinterstore {t}d {t}a b"), Rule::CrossSlot);
    assert_eq!(slot_of("lmove {q}a {q}b left right"), s("q"));
    assert_eq!(slot_of("smove a b m"), Rule::CrossSlot);
    // The same key twice is one slot.
    assert_eq!(slot_of("rpoplpush k k"), s("k"));
    assert_eq!(slot_of("ping"), Rule::NoKeys);
    assert_eq!(slot_of("dbsize"), Rule::NoKeys);
}

#[test]
fn numkeys_commands() {
    assert_eq!(slot_of("zunionstore {z}d 2 {z}a {z}b weights 1 2"), s("z"));
    assert_eq!(slot_of("zunionstore {z}d 2 {z}a b"), Rule::CrossSlot);
    // Arguments after the keys are not keys, even when they look like other slots.
    assert_eq!(slot_of("zunion 1 {z}a weights 2"), s("z"));
    assert_eq!(slot_of("eval s 2 {e}a {e}b x y"), s("e"));
    assert_eq!(slot_of("eval s 2 a b"), Rule::CrossSlot);
    assert_eq!(slot_of("eval s 1 a b c"), s("a"));
    assert_eq!(slot_of("eval s 0 a b"), Rule::NoKeys);
    assert_eq!(slot_of("evalsha abc 2 {e}x {e}y"), s("e"));
    assert_eq!(slot_of("fcall f 2 a b"), Rule::CrossSlot);
    assert_eq!(slot_of("lmpop 2 {l}a {l}b left count 2"), s("l"));
    assert_eq!(slot_of("lmpop 2 a b left"), Rule::CrossSlot);
    assert_eq!(slot_of("zmpop 2 {l}a {l}b min"), s("l"));
    assert_eq!(slot_of("blmpop 0 2 a b left"), Rule::CrossSlot);
    assert_eq!(slot_of("sintercard 2 {x}a {x}b limit 3"), s("x"));
    // A numkeys that is not a number is the command's error to report.
    assert_eq!(slot_of("zunionstore d x a"), Rule::NoKeys);
}

#[test]
fn keyword_commands() {
    assert_eq!(slot_of("xread count 2 streams {s}a {s}b 0 0"), s("s"));
    assert_eq!(slot_of("xread streams a b 0 0"), Rule::CrossSlot);
    assert_eq!(slot_of("xread streams a 0"), s("a"));
    assert_eq!(
        slot_of("xreadgroup group g c streams {s}a {s}b > >"),
        s("s")
    );
    assert_eq!(slot_of("migrate h 1 \"\" 0 5 keys a b"), Rule::CrossSlot);
    assert_eq!(slot_of("georadius {g}a 0 0 1 m store {g}b"), s("g"));
    assert_eq!(slot_of("georadius {g}a 0 0 1 m store b"), Rule::CrossSlot);
    assert_eq!(slot_of("sort {s}l by w_* store {s}d"), s("s"));
    assert_eq!(slot_of("sort a store b"), Rule::CrossSlot);
}

#[test]
fn subcommand_keys() {
    assert_eq!(slot_of("object encoding foo"), s("foo"));
    assert_eq!(slot_of("xinfo stream foo"), s("foo"));
    assert_eq!(slot_of("memory usage foo"), s("foo"));
    assert_eq!(slot_of("object help"), Rule::NoKeys);
    assert_eq!(slot_of("object nosuch foo"), Rule::NoKeys);
    assert_eq!(slot_of("object"), Rule::NoKeys);
}
