//! List commands (non-blocking): LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LLEN,
//! LINDEX, LSET, LRANGE, LTRIM, LREM, LINSERT, LPOS, LMOVE, RPOPLPUSH, LMPOP.

use super::gen::OTHER_TYPE_KEY;
use super::{foreign, Cmd, Gen};

pub const KEYS: &[&str] = &["l0", "l1", "l2", "l3", "l4", OTHER_TYPE_KEY];

pub fn command(g: &mut Gen) -> Cmd {
    match g.below(34) {
        0..=5 => Cmd::new(g.pick(&["LPUSH", "RPUSH", "LPUSHX", "RPUSHX", "RPUSH", "LPUSH"]))
            .arg(g.key())
            .args(g.members(1, 5)),
        6..=8 => {
            let c = Cmd::new(g.pick(&["LPOP", "RPOP"])).arg(g.key());
            if g.chance(0.4) {
                c.arg(g.count())
            } else {
                c
            }
        }
        9 => Cmd::new("LLEN").arg(g.key()),
        10 | 11 => Cmd::new("LINDEX").arg(g.key()).arg(g.index()),
        12 => Cmd::new("LSET").arg(g.key()).arg(g.index()).arg(g.member()),
        13..=15 => Cmd::new("LRANGE")
            .arg(g.key())
            .arg(g.index())
            .arg(g.index()),
        16 => Cmd::new("LTRIM").arg(g.key()).arg(g.index()).arg(g.index()),
        17 | 18 => Cmd::new("LREM")
            .arg(g.key())
            .arg(g.pick(&[
                "0",
                "1",
                "2",
                "-1",
                "-2",
                "5",
                "abc",
                "-9223372036854775808",
            ]))
            .arg(g.member()),
        19 | 20 => {
            let dir = g.pick(&["BEFORE", "AFTER", "BEFORE", "AFTER", "MIDDLE"]);
            Cmd::new("LINSERT")
                .arg(g.key())
                .arg(g.opt(dir))
                .arg(g.member())
                .arg(g.member())
        }
        21 | 22 => lpos(g),
        23 | 24 => {
            let (from, to) = (g.pick(&["LEFT", "RIGHT", "UP"]), g.pick(&["LEFT", "RIGHT"]));
            Cmd::new("LMOVE")
                .arg(g.key())
                .arg(g.key())
                .arg(g.opt(from))
                .arg(g.opt(to))
        }
        25 => Cmd::new("RPOPLPUSH").arg(g.key()).arg(g.key()),
        26 | 27 => lmpop(g),
        28 => Cmd::new("LRANGE").arg(g.key()).arg("0").arg("-1"),
        _ => foreign_or_fill(g),
    }
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("LPOS").arg(g.key()).arg(g.member());
    if g.chance(0.4) {
        c.push(g.opt("RANK"));
        c.push(g.pick(&["1", "2", "-1", "-2", "0", "abc", "-9223372036854775808"]));
    }
    if g.chance(0.4) {
        c.push(g.opt("COUNT"));
        c.push(g.pick(&["0", "1", "2", "5", "-1", "abc"]));
    }
    if g.chance(0.3) {
        c.push(g.opt("MAXLEN"));
        c.push(g.pick(&["0", "1", "3", "-1", "abc"]));
    }
    if g.chance(0.05) {
        c.push(g.junk());
    }
    c
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count], with numkeys that may not
/// match the keys given.
fn lmpop(g: &mut Gen) -> Cmd {
    let keys = g.keys(1, 3);
    let numkeys = match g.below(10) {
        0 => g.pick(&["0", "-1", "abc", "5"]).to_string(),
        _ => keys.len().to_string(),
    };
    let dir = g.pick(&["LEFT", "RIGHT", "LEFT", "RIGHT", "MIDDLE"]);
    let mut c = Cmd::new("LMPOP").arg(numkeys).args(keys).arg(g.opt(dir));
    if g.chance(0.4) {
        c.push(g.opt("COUNT"));
        c.push(g.count());
    }
    c
}

fn foreign_or_fill(g: &mut Gen) -> Cmd {
    if g.chance(0.6) {
        return foreign(g);
    }
    // Long runs push lists past their compact encoding.
    let n = 20 + g.below(200);
    Cmd::new("RPUSH")
        .arg(g.key())
        .args((0..n).map(|i| format!("e{}", i % 13)))
}
