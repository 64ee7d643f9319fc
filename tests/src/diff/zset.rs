//! Sorted-set commands: ZADD (every flag), ZINCRBY, ZSCORE, ZMSCORE, ZCARD, ZCOUNT,
//! ZLEXCOUNT, ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZRANGEBYSCORE,
//! ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE, ZRANGESTORE, ZRANK,
//! ZREVRANK, ZREM, ZREMRANGEBYRANK/SCORE/LEX, ZPOPMIN, ZPOPMAX, ZMPOP, ZRANDMEMBER,
//! ZUNION, ZINTER, ZDIFF (and their STORE forms), ZINTERCARD.

use super::gen::OTHER_TYPE_KEY;
use super::{foreign, Cmd, Cmp, Gen};

pub const KEYS: &[&str] = &["z0", "z1", "z2", "z3", LEX_KEY, OTHER_TYPE_KEY];
const LEX_KEY: &str = "z4";

pub fn command(g: &mut Gen) -> Cmd {
    match g.below(44) {
        0..=5 => zadd(g),
        6 => Cmd::new("ZINCRBY")
            .arg(g.key())
            .arg(g.score())
            .arg(g.member()),
        7 | 8 => Cmd::new("ZSCORE").arg(g.key()).arg(g.member()),
        9 => Cmd::new("ZMSCORE").arg(g.key()).args(g.members(1, 4)),
        10 => Cmd::new("ZCARD").arg(g.key()),
        11 => Cmd::new("ZCOUNT")
            .arg(g.key())
            .arg(g.score_bound())
            .arg(g.score_bound()),
        12 => Cmd::new("ZLEXCOUNT")
            .arg(g.key())
            .arg(g.lex_bound())
            .arg(g.lex_bound())
            .lex(1),
        13..=16 => zrange(g, "ZRANGE"),
        17 => zrange(g, "ZRANGESTORE"),
        18 | 19 => by_score(g),
        20 => by_lex(g),
        21 => Cmd::new("ZREVRANGE")
            .arg(g.key())
            .arg(g.index())
            .arg(g.index())
            .args(withscores(g)),
        22 => Cmd::new(g.pick(&["ZRANK", "ZREVRANK"]))
            .arg(g.key())
            .arg(g.member()),
        23 | 24 => Cmd::new("ZREM").arg(g.key()).args(g.members(1, 3)),
        25 => Cmd::new("ZREMRANGEBYRANK")
            .arg(g.key())
            .arg(g.index())
            .arg(g.index()),
        26 => Cmd::new("ZREMRANGEBYSCORE")
            .arg(g.key())
            .arg(g.score_bound())
            .arg(g.score_bound()),
        27 => Cmd::new("ZREMRANGEBYLEX")
            .arg(g.key())
            .arg(g.lex_bound())
            .arg(g.lex_bound())
            .lex(1),
        28 | 29 => {
            let c = Cmd::new(g.pick(&["ZPOPMIN", "ZPOPMAX"])).arg(g.key());
            if g.chance(0.5) {
                c.arg(g.count())
            } else {
                c
            }
        }
        30 => zmpop(g),
        31 => zrandmember(g),
        32..=34 => combine(g),
        35 => zintercard(g),
        _ => foreign_or_fill(g),
    }
}

/// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
fn zadd(g: &mut Gen) -> Cmd {
    let key = g.key();
    // The key space's lex key keeps equal scores, so that lexicographic ranges over
    // it are defined.
    let lex = key == LEX_KEY.as_bytes();
    let mut c = Cmd::new("ZADD").arg(key);
    let flags: &[&str] = g.pick(&[
        &[][..],
        &[],
        &[],
        &["NX"],
        &["XX"],
        &["GT"],
        &["LT"],
        &["CH"],
        &["XX", "CH"],
        &["GT", "CH"],
        &["INCR"],
        &["NX", "INCR"],
        &["XX", "INCR"],
        &["LT", "INCR"],
        &["NX", "XX"],
        &["NX", "GT"],
        &["GT", "LT"],
    ]);
    for f in flags {
        c.push(g.opt(f));
    }
    let incr = flags.contains(&"INCR");
    let pairs = if incr && g.chance(0.85) {
        1
    } else {
        1 + g.below(4)
    };
    for _ in 0..pairs {
        let score = if lex && g.chance(0.9) {
            b"0".to_vec()
        } else {
            g.score()
        };
        c.push(score);
        c.push(g.member());
    }
    if g.chance(0.03) {
        c.push(g.score());
    }
    c
}

fn withscores(g: &mut Gen) -> Vec<Vec<u8>> {
    if g.chance(0.5) {
        vec![g.opt("WITHSCORES")]
    } else {
        Vec::new()
    }
}

fn limit(g: &mut Gen) -> Vec<Vec<u8>> {
    if g.chance(0.3) {
        let off = g.pick(&["0", "1", "2", "-1", "5", "abc"]);
        let cnt = g.pick(&["0", "1", "2", "-1", "-5", "3", "x"]);
        vec![g.opt("LIMIT"), off.into(), cnt.into()]
    } else {
        Vec::new()
    }
}

/// ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES],
/// or ZRANGESTORE dst src … (which takes no WITHSCORES).
fn zrange(g: &mut Gen, name: &str) -> Cmd {
    let mut c = Cmd::new(name);
    if name == "ZRANGESTORE" {
        c.push(g.key());
    }
    let src = c.args.len();
    c.push(g.key());
    let mode = g.below(3);
    let (lo, hi) = match mode {
        0 => (g.index(), g.index()),
        1 => (g.score_bound(), g.score_bound()),
        _ => (g.lex_bound(), g.lex_bound()),
    };
    c = c.arg(lo).arg(hi);
    match mode {
        1 => c.push(g.opt("BYSCORE")),
        2 => c.push(g.opt("BYLEX")),
        _ => {}
    }
    // LIMIT needs BYSCORE or BYLEX, and BYLEX takes no WITHSCORES: mostly obeyed.
    let mut opts = Vec::new();
    if mode != 0 || g.chance(0.05) {
        opts.push(limit(g));
    }
    if g.chance(0.3) {
        opts.push(vec![g.opt("REV")]);
    }
    if (name == "ZRANGE" && mode != 2) || g.chance(0.05) {
        opts.push(withscores(g));
    }
    super::strings::shuffle(g, &mut opts);
    for o in opts {
        c = c.args(o);
    }
    if mode == 2 {
        c = c.lex(src);
    }
    c
}

fn by_score(g: &mut Gen) -> Cmd {
    let name = g.pick(&["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]);
    let mut c = Cmd::new(name)
        .arg(g.key())
        .arg(g.score_bound())
        .arg(g.score_bound());
    let mut opts = vec![withscores(g), limit(g)];
    super::strings::shuffle(g, &mut opts);
    for o in opts {
        c = c.args(o);
    }
    c
}

fn by_lex(g: &mut Gen) -> Cmd {
    let name = g.pick(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]);
    Cmd::new(name)
        .arg(g.key())
        .arg(g.lex_bound())
        .arg(g.lex_bound())
        .args(limit(g))
        .lex(1)
}

fn numkeys(g: &mut Gen, keys: &[Vec<u8>]) -> String {
    match g.below(12) {
        0 => g.pick(&["0", "-1", "abc", "9"]).to_string(),
        _ => keys.len().to_string(),
    }
}

/// ZMPOP numkeys key [key ...] MIN | MAX [COUNT count]
fn zmpop(g: &mut Gen) -> Cmd {
    let keys = g.keys(1, 3);
    let n = numkeys(g, &keys);
    let side = g.pick(&["MIN", "MAX", "MIN", "MAX", "MID"]);
    let mut c = Cmd::new("ZMPOP").arg(n).args(keys).arg(g.opt(side));
    if g.chance(0.4) {
        c.push(g.opt("COUNT"));
        c.push(g.count());
    }
    c
}

/// ZRANDMEMBER key [count [WITHSCORES]]: shape only.
fn zrandmember(g: &mut Gen) -> Cmd {
    let c = Cmd::new("ZRANDMEMBER").arg(g.key()).cmp(Cmp::Shape);
    match g.below(5) {
        0 => c,
        1 => c.arg(g.range(-8, 8).to_string()),
        2 => c.arg(g.range(-8, 8).to_string()).arg(g.opt("WITHSCORES")),
        // Rejected only with WITHSCORES; kept whole so that it stays rejected.
        3 => c
            .arg(g.pick(&["-9223372036854775808", "-4611686018427387904", "abc"]))
            .arg(g.opt("WITHSCORES"))
            .fixed(),
        _ => c.arg("2").arg(g.junk()),
    }
}

/// ZUNION/ZINTER/ZDIFF numkeys key … [WEIGHTS w …] [AGGREGATE SUM|MIN|MAX]
/// [WITHSCORES], and the STORE forms.
fn combine(g: &mut Gen) -> Cmd {
    let name = g.pick(&[
        "ZUNION",
        "ZINTER",
        "ZDIFF",
        "ZUNIONSTORE",
        "ZINTERSTORE",
        "ZDIFFSTORE",
    ]);
    let store = name.ends_with("STORE");
    let mut c = Cmd::new(name);
    if store {
        c.push(g.key());
    }
    let keys = g.keys(1, 3);
    let n = numkeys(g, &keys);
    let nkeys = keys.len();
    c = c.arg(n).args(keys);
    let diff = name.starts_with("ZDIFF");
    let mut opts = Vec::new();
    if (!diff && g.chance(0.4)) || g.chance(0.03) {
        let mut w = vec![g.opt("WEIGHTS")];
        let count = if g.chance(0.9) { nkeys } else { nkeys + 1 };
        for _ in 0..count {
            w.push(
                g.pick(&["1", "2", "0", "-1", "0.5", "inf", "-inf", "abc"])
                    .into(),
            );
        }
        opts.push(w);
    }
    if (!diff && g.chance(0.4)) || g.chance(0.03) {
        let agg = g.pick(&["SUM", "MIN", "MAX", "AVG"]);
        opts.push(vec![g.opt("AGGREGATE"), g.opt(agg)]);
    }
    if !store || g.chance(0.05) {
        opts.push(withscores(g));
    }
    super::strings::shuffle(g, &mut opts);
    for o in opts {
        c = c.args(o);
    }
    c
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
fn zintercard(g: &mut Gen) -> Cmd {
    let keys = g.keys(1, 3);
    let n = numkeys(g, &keys);
    let mut c = Cmd::new("ZINTERCARD").arg(n).args(keys);
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
    // Past the compact encoding's 128 entries, with ties so that members order them.
    let n = 20 + g.below(200);
    let key = g.key();
    let flat = key == LEX_KEY.as_bytes() || g.chance(0.3);
    let mut c = Cmd::new("ZADD").arg(key);
    for i in 0..n {
        c.push(if flat {
            "0".to_string()
        } else {
            (i % 17).to_string()
        });
        c.push(format!("m{i}"));
    }
    c
}
