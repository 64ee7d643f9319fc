//! Hash commands: HSET, HSETNX, HMSET, HGET, HMGET, HDEL, HLEN, HSTRLEN, HEXISTS,
//! HINCRBY, HINCRBYFLOAT, HKEYS, HVALS, HGETALL, HRANDFIELD.

use super::gen::OTHER_TYPE_KEY;
use super::{foreign, Cmd, Cmp, Gen};

pub const KEYS: &[&str] = &["h0", "h1", "h2", "h3", "h4", OTHER_TYPE_KEY];

pub fn command(g: &mut Gen) -> Cmd {
    match g.below(32) {
        0..=4 => {
            let mut c = Cmd::new(g.pick(&["HSET", "HSET", "HMSET"])).arg(g.key());
            for _ in 0..1 + g.below(4) {
                c.push(g.member());
                c.push(g.value());
            }
            c
        }
        5 => Cmd::new("HSETNX")
            .arg(g.key())
            .arg(g.member())
            .arg(g.value()),
        6..=8 => Cmd::new("HGET").arg(g.key()).arg(g.member()),
        9 => Cmd::new("HMGET").arg(g.key()).args(g.members(1, 4)),
        10 | 11 => Cmd::new("HDEL").arg(g.key()).args(g.members(1, 3)),
        12 => Cmd::new("HLEN").arg(g.key()),
        13 => Cmd::new("HSTRLEN").arg(g.key()).arg(g.member()),
        14 => Cmd::new("HEXISTS").arg(g.key()).arg(g.member()),
        15 | 16 => Cmd::new("HINCRBY")
            .arg(g.key())
            .arg(g.member())
            .arg(g.int()),
        17 | 18 => Cmd::new("HINCRBYFLOAT")
            .arg(g.key())
            .arg(g.member())
            .arg(g.float()),
        19 => Cmd::new("HKEYS").arg(g.key()).cmp(Cmp::Unordered),
        20 => Cmd::new("HVALS").arg(g.key()).cmp(Cmp::Unordered),
        21 | 22 => Cmd::new("HGETALL").arg(g.key()).cmp(Cmp::UnorderedPairs),
        23 => hrandfield(g),
        _ => foreign_or_fill(g),
    }
}

/// HRANDFIELD key [count [WITHVALUES]]: random, so only the shape is compared.
/// Counts stay small: a huge negative count asks for that many fields.
fn hrandfield(g: &mut Gen) -> Cmd {
    let c = Cmd::new("HRANDFIELD").arg(g.key()).cmp(Cmp::Shape);
    match g.below(6) {
        0 => c,
        1 => c.arg(g.range(-8, 8).to_string()),
        2 => c.arg(g.range(-8, 8).to_string()).arg(g.opt("WITHVALUES")),
        3 => c
            .arg(g.pick(&[
                "-9223372036854775808",
                "-4611686018427387904",
                "abc",
                "9223372036854775807",
            ]))
            .arg(g.opt("WITHVALUES"))
            .fixed(),
        4 => c.arg("3").arg(g.junk()),
        _ => c.arg(g.pick(&["0", "100"])),
    }
}

/// Commands of other families now and then; otherwise a hash write, so that hashes
/// grow past their compact encoding.
fn foreign_or_fill(g: &mut Gen) -> Cmd {
    if g.chance(0.6) {
        return foreign(g);
    }
    let mut c = Cmd::new("HSET").arg(g.key());
    for i in 0..20 + g.below(120) {
        c.push(format!("f{i}"));
        c.push(g.value());
    }
    c
}
