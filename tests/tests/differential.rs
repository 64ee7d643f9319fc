//! Differential tests: the same random command stream goes to a real `redis-server`
//! and to a shoal shard, and every reply must match (see `shoal_tests::diff`).
//!
//! `SHOAL_DIFF_SEED=<n>` replays a run; `SHOAL_DIFF_COMMANDS=<n>` (or
//! `SHOAL_DIFF_COMMANDS_<TEST NAME>`) changes its length. Run one with its report:
//! `cargo test -p shoal-tests --test differential hashes -- --nocapture`.
//! `SHOAL_DIFF_FOREIGN=basic` keeps the generic key commands out of the data-type
//! streams, and `SHOAL_BIN=<path>` runs them against another build (for example a
//! family's branch before it is merged).

use shoal_tests::diff::{self, hash, keys, list, script, set, strings, zset, Cmd, Gen, Peer};

type Family = (&'static str, &'static [&'static str], fn(&mut Gen) -> Cmd);

/// Every family: its test name, key space and generator.
const FAMILIES: &[Family] = &[
    ("strings_keys_expiry", strings::KEYS, strings_and_keys),
    ("hashes", hash::KEYS, hash::command),
    ("lists", list::KEYS, list::command),
    ("sets", set::KEYS, set::command),
    ("zsets", zset::KEYS, zset::command),
    ("mixed", MIXED_KEYS, mixed),
    ("scripts", script::KEYS, script::command),
];

/// Runs a family's stream and fails with the report if anything differed.
fn check(family: &str, default_commands: usize) {
    let &(_, keys, gen) = FAMILIES
        .iter()
        .find(|f| f.0 == family)
        .expect("a listed family");
    let outcome = diff::run(family, default_commands, keys, gen);
    eprintln!("{}", outcome.summary());
    assert!(
        outcome.commands >= default_commands.min(1),
        "{family}: nothing sent"
    );
    assert!(outcome.passed(), "{}", outcome.report());
}

/// Every family over one key space, so that each type meets every other one.
const MIXED_KEYS: &[&str] = &["a", "b", "c", "d", "e", "f", "str"];

fn mixed(g: &mut Gen) -> Cmd {
    match g.below(6) {
        0 => strings::command(g),
        1 => keys::command(g),
        2 => hash::command(g),
        3 => list::command(g),
        4 => set::command(g),
        _ => zset::command(g),
    }
}

fn strings_and_keys(g: &mut Gen) -> Cmd {
    if g.below(10) < 6 {
        strings::command(g)
    } else {
        keys::command(g)
    }
}

/// Smoke run over what every shard has served from the start (GET, SET without
/// options, DEL, EXISTS, DBSIZE), so the harness itself runs in CI before the
/// families land.
fn basic(g: &mut Gen) -> Cmd {
    match g.below(6) {
        0 | 1 => Cmd::new("SET").arg(g.key()).arg(g.value()),
        2 => Cmd::new("GET").arg(g.key()),
        3 => Cmd::new("DEL").args(g.keys(1, 3)),
        4 => Cmd::new("EXISTS").args(g.keys(1, 3)),
        _ => Cmd::new("DBSIZE"),
    }
}

/// The harness checked against itself: every family's stream, sent to two Redis
/// servers, must compare equal. A difference here is a generator or a comparison
/// that depends on timing or randomness, and would make the shoal tests flaky.
#[test]
fn generators_are_deterministic_against_redis() {
    let mut failures = Vec::new();
    for &(family, keys, gen) in FAMILIES {
        let outcome = diff::run_against(Peer::Redis, family, 1_500, keys, gen);
        eprintln!("self-check {}", outcome.summary());
        // A stream that is mostly errors would test little but error paths. The mixed
        // stream is mostly WRONGTYPE by design.
        let max_errors = if family == "mixed" { 0.75 } else { 0.5 };
        assert!(
            (outcome.redis_errors as f64) < max_errors * outcome.commands as f64,
            "{}: too many errors",
            outcome.summary()
        );
        if !outcome.passed() {
            failures.push(outcome.report());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn basic_get_set() {
    let outcome = diff::run("basic_get_set", 1_000, strings::KEYS, basic);
    let report = outcome.report();
    eprintln!("{report}");
    assert!(outcome.commands >= 1_000, "{report}");
    // The keyspace dump uses KEYS/TYPE, which this smoke run does not require; only
    // the replies to its own commands must all match.
    assert_eq!(outcome.identical, outcome.commands, "{report}");
    assert!(outcome.crashed.is_none(), "{report}");
}

// Enabled when the strings and keys families land.
#[test]
fn strings_keys_expiry() {
    check("strings_keys_expiry", 10_000);
}

// Enabled when the family lands.
#[test]
fn hashes() {
    check("hashes", 2_500);
}

// Enabled when the family lands.
#[test]
fn lists() {
    check("lists", 2_500);
}

// Enabled when the family lands.
#[test]
fn sets() {
    check("sets", 2_500);
}

// Enabled when the family lands.
#[test]
fn zsets() {
    check("zsets", 2_500);
}

// Enabled when every family above has landed.
#[test]
fn mixed_types() {
    check("mixed", 2_500);
}

/// Every family through the agent's proxy in front of 4 shards: keys spread over the
/// shards, half of them sharing a hash tag so multi-key commands run too (those the
/// proxy must refuse with CROSSSLOT are sent to neither server). The same streams can
/// also run one family at a time with `SHOAL_DIFF_TARGET=proxy`.
#[test]
fn through_proxy() {
    let mut failures = Vec::new();
    let mut total = 0;
    // Scripts are compared on one shard (`scripts()`): a generated script touches keys it
    // does not declare, which only a single keyspace can serve.
    for &(family, keys, gen) in FAMILIES.iter().filter(|f| f.0 != "scripts") {
        let default = if family == "strings_keys_expiry" {
            6_500
        } else {
            3_300
        };
        let outcome = diff::run_against(Peer::Proxy, family, default, keys, gen);
        eprintln!("proxy {}", outcome.summary());
        total += outcome.commands;
        if !outcome.passed() {
            failures.push(outcome.report());
        }
    }
    assert!(total >= 20_000, "only {total} commands sent");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn scripts() {
    check("scripts", 2_000);
}
