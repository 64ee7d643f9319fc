//! Set commands: SADD, SREM, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS, SMOVE, SPOP,
//! SRANDMEMBER, SINTER, SUNION, SDIFF, SINTERSTORE, SUNIONSTORE, SDIFFSTORE,
//! SINTERCARD.

use super::gen::OTHER_TYPE_KEY;
use super::{foreign, Cmd, Cmp, Gen};

pub const KEYS: &[&str] = &["s0", "s1", "s2", "s3", "s4", OTHER_TYPE_KEY];

pub fn command(g: &mut Gen) -> Cmd {
    match g.below(32) {
        0..=5 => Cmd::new("SADD").arg(g.key()).args(g.members(1, 5)),
        6 | 7 => Cmd::new("SREM").arg(g.key()).args(g.members(1, 3)),
        8 => Cmd::new("SCARD").arg(g.key()),
        9 | 10 => Cmd::new("SISMEMBER").arg(g.key()).arg(g.member()),
        11 => Cmd::new("SMISMEMBER").arg(g.key()).args(g.members(1, 4)),
        12 | 13 => Cmd::new("SMEMBERS").arg(g.key()).cmp(Cmp::Unordered),
        14 => Cmd::new("SMOVE").arg(g.key()).arg(g.key()).arg(g.member()),
        15 => spop(g),
        16 => srandmember(g),
        17..=19 => Cmd::new(g.pick(&["SINTER", "SUNION", "SDIFF"]))
            .args(g.keys(1, 3))
            .cmp(Cmp::Unordered),
        20 | 21 => Cmd::new(g.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]))
            .arg(g.key())
            .args(g.keys(1, 3)),
        22 => sintercard(g),
        _ => foreign_or_fill(g),
    }
}

/// SPOP key [count]: which members go is random, so only the shape is compared, and
/// the key is then dropped on both servers so that they agree again.
fn spop(g: &mut Gen) -> Cmd {
    let key = g.key();
    let c = Cmd::new("SPOP").arg(&key).cmp(Cmp::Shape);
    let c = match g.below(4) {
        0 | 1 => c,
        2 => c.arg(g.range(0, 8).to_string()),
        _ => c.arg(g.count()),
    };
    c.then(Cmd::new("DEL").arg(key))
}

/// SRANDMEMBER key [count]; a huge negative count would ask for that many members,
/// so counts stay small apart from the ones Redis rejects.
fn srandmember(g: &mut Gen) -> Cmd {
    let c = Cmd::new("SRANDMEMBER").arg(g.key()).cmp(Cmp::Shape);
    match g.below(5) {
        0 => c,
        1 | 2 => c.arg(g.range(-8, 8).to_string()),
        3 => c.arg(g.pick(&["-9223372036854775808", "abc", "9223372036854775807", ""])),
        _ => c.arg("2").arg(g.junk()),
    }
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(g: &mut Gen) -> Cmd {
    let keys = g.keys(1, 3);
    let numkeys = match g.below(10) {
        0 => g.pick(&["0", "-1", "abc", "9"]).to_string(),
        _ => keys.len().to_string(),
    };
    let mut c = Cmd::new("SINTERCARD").arg(numkeys).args(keys);
    if g.chance(0.4) {
        c.push(g.opt("LIMIT"));
        c.push(g.pick(&["0", "1", "2", "-1", "abc"]));
    }
    c
}

fn foreign_or_fill(g: &mut Gen) -> Cmd {
    if g.chance(0.6) {
        return foreign(g);
    }
    // Enough members to leave the integer and compact encodings, numeric or not.
    let n = 20 + g.below(600);
    let numeric = g.chance(0.5);
    Cmd::new("SADD").arg(g.key()).args((0..n).map(|i| {
        if numeric {
            i.to_string()
        } else {
            format!("m{i}")
        }
    }))
}
