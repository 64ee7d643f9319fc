//! String commands: GET/SET (every option), SETNX, SETEX, PSETEX, GETSET, GETDEL,
//! GETEX, MGET, MSET, MSETNX, APPEND, STRLEN, GETRANGE, SETRANGE, SUBSTR, INCR, DECR,
//! INCRBY, DECRBY, INCRBYFLOAT, LCS.

use super::{Cmd, Gen};

/// Key space for the strings/keys/expiry stream.
pub const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "k4", "k5", "n1", "n2"];

pub fn command(g: &mut Gen) -> Cmd {
    match g.below(30) {
        0..=2 => Cmd::new("GET").arg(g.key()),
        3..=5 => set(g),
        6 => Cmd::new("SETNX").arg(g.key()).arg(g.value()),
        7 => Cmd::new("SETEX")
            .arg(g.key())
            .arg(g.rel_secs())
            .arg(g.value()),
        8 => Cmd::new("PSETEX")
            .arg(g.key())
            .arg(g.rel_ms())
            .arg(g.value()),
        9 => Cmd::new("GETSET").arg(g.key()).arg(g.value()),
        10 => Cmd::new("GETDEL").arg(g.key()),
        11 => getex(g),
        12 => Cmd::new("MGET").args(g.keys(1, 4)),
        13 => {
            let mut c = Cmd::new(g.pick(&["MSET", "MSETNX"]));
            for _ in 0..1 + g.below(3) {
                c.push(g.key());
                c.push(g.value());
            }
            c
        }
        14 | 15 => Cmd::new("APPEND").arg(g.key()).arg(g.value()),
        16 => Cmd::new("STRLEN").arg(g.key()),
        17 => Cmd::new(g.pick(&["GETRANGE", "SUBSTR"]))
            .arg(g.key())
            .arg(g.index())
            .arg(g.index()),
        18 => setrange(g),
        19 | 20 => Cmd::new(g.pick(&["INCR", "DECR"])).arg(g.key()),
        21 | 22 => Cmd::new(g.pick(&["INCRBY", "DECRBY"]))
            .arg(g.key())
            .arg(g.int()),
        23 | 24 => Cmd::new("INCRBYFLOAT").arg(g.key()).arg(g.float()),
        25 => lcs(g),
        _ => Cmd::new("SET").arg(g.key()).arg(g.value()),
    }
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT ts | PXAT ms-ts | KEEPTTL],
/// with options in random order and, now and then, conflicting or unknown ones.
fn set(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("SET").arg(g.key()).arg(g.value());
    let mut opts: Vec<Vec<Vec<u8>>> = Vec::new();
    if g.chance(0.25) {
        let w = g.pick(&["NX", "XX"]);
        opts.push(vec![g.opt(w)]);
    }
    if g.chance(0.2) {
        opts.push(vec![g.opt("GET")]);
    }
    if g.chance(0.4) {
        opts.push(expiry(g, true));
    }
    // Conflicts and junk: Redis answers each with a syntax error.
    match g.below(25) {
        0 => opts.push(vec![g.opt("NX"), g.opt("XX")]),
        1 => opts.push(expiry(g, true)),
        2 => opts.push(vec![g.junk()]),
        3 => opts.push(vec![g.opt("EX")]),
        _ => {}
    }
    shuffle(g, &mut opts);
    for o in opts {
        c = c.args(o);
    }
    c
}

/// One expiry option for SET (`keepttl`) or GETEX (`PERSIST` instead).
fn expiry(g: &mut Gen, keepttl: bool) -> Vec<Vec<u8>> {
    match g.below(5) {
        0 => vec![g.opt("EX"), g.rel_secs()],
        1 => vec![g.opt("PX"), g.rel_ms()],
        2 => vec![g.opt("EXAT"), g.abs_secs()],
        3 => vec![g.opt("PXAT"), g.abs_ms()],
        _ if keepttl => vec![g.opt("KEEPTTL")],
        _ => vec![g.opt("PERSIST")],
    }
}

/// GETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST]
fn getex(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("GETEX").arg(g.key());
    if g.chance(0.7) {
        c = c.args(expiry(g, false));
    }
    match g.below(10) {
        0 => c.args(expiry(g, false)),
        1 => c.arg(g.junk()),
        _ => c,
    }
}

/// SETRANGE key offset value; offsets stay small (the 512 MB limit is tested
/// through its error, never by allocating).
fn setrange(g: &mut Gen) -> Cmd {
    let c = Cmd::new("SETRANGE").arg(g.key());
    match g.below(12) {
        0 => c.arg("-1").arg(g.value()),
        1 => c.arg("536870912").arg("x"),
        2 => c.arg("536870911").arg(""),
        3 => c.arg(g.int()).arg(g.value()),
        _ => c.arg(g.range(0, 40).to_string()).arg(g.value()),
    }
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
fn lcs(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("LCS").arg(g.key()).arg(g.key());
    if g.chance(0.3) {
        c.push(g.opt("LEN"));
    }
    if g.chance(0.4) {
        c.push(g.opt("IDX"));
    }
    if g.chance(0.3) {
        c.push(g.opt("MINMATCHLEN"));
        c.push(g.pick(&["0", "1", "2", "4", "-1", "abc"]));
    }
    if g.chance(0.3) {
        c.push(g.opt("WITHMATCHLEN"));
    }
    if g.chance(0.05) {
        c.push(g.junk());
    }
    c
}

pub(crate) fn shuffle<T>(g: &mut Gen, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = g.below(i + 1);
        items.swap(i, j);
    }
}
