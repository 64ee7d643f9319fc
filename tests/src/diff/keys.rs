//! Generic key commands and expiry: DEL, UNLINK, EXISTS, TYPE, RENAME, RENAMENX, COPY,
//! TOUCH, DBSIZE, KEYS, RANDOMKEY, EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT (NX, XX, GT, LT),
//! TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST.

use super::{Cmd, Cmp, Gen};

pub fn command(g: &mut Gen) -> Cmd {
    match g.below(24) {
        0 | 1 => Cmd::new(g.pick(&["DEL", "UNLINK"])).args(g.keys(1, 4)),
        2 | 3 => Cmd::new("EXISTS").args(g.keys(1, 4)),
        4 => Cmd::new("TYPE").arg(g.key()),
        5 => Cmd::new(g.pick(&["RENAME", "RENAMENX"]))
            .arg(g.key())
            .arg(g.key()),
        6 => copy(g),
        7 => Cmd::new("TOUCH").args(g.keys(1, 3)),
        8 => Cmd::new("DBSIZE"),
        9 => keys_pattern(g),
        10 => Cmd::new("RANDOMKEY").cmp(Cmp::Shape),
        11..=13 => relative_expire(g),
        14..=16 => absolute_expire(g),
        17 | 18 => Cmd::new("TTL").arg(g.key()).cmp(Cmp::TTL_S),
        19 => Cmd::new("PTTL").arg(g.key()).cmp(Cmp::TTL_MS),
        20 => Cmd::new("EXPIRETIME").arg(g.key()).cmp(Cmp::TTL_S),
        21 => Cmd::new("PEXPIRETIME").arg(g.key()).cmp(Cmp::TTL_MS),
        _ => Cmd::new("PERSIST").arg(g.key()),
    }
}

/// COPY source destination [DB destination-db] [REPLACE]; only DB 0 is valid, since
/// a shard serves one database.
fn copy(g: &mut Gen) -> Cmd {
    let mut c = Cmd::new("COPY").arg(g.key()).arg(g.key());
    if g.chance(0.2) {
        c.push(g.opt("DB"));
        c.push(g.pick(&["0", "0", "abc", "-1", "99999"]));
    }
    if g.chance(0.4) {
        c.push(g.opt("REPLACE"));
    }
    if g.chance(0.05) {
        c.push(g.junk());
    }
    c
}

fn keys_pattern(g: &mut Gen) -> Cmd {
    let pattern = g.pick(&[
        "*", "*", "k*", "k?", "k[0-2]", "k[^0]", "n*", "*1", "?", "\\k*", "[", "k[", "*\\", "k[a-",
        "[!k]*", "",
    ]);
    Cmd::new("KEYS").arg(pattern).cmp(Cmp::Unordered)
}

/// The options that make sense for a relative time: NX and XX (GT and LT would
/// compare two relative times set milliseconds apart, which is a race), plus
/// conflicting pairs now and then.
fn expire_flags(g: &mut Gen, ordered: bool) -> Vec<Vec<u8>> {
    let choices: &[&[&str]] = if ordered {
        &[
            &[],
            &[],
            &["NX"],
            &["XX"],
            &["GT"],
            &["LT"],
            &["XX", "GT"],
            &["LT", "XX"],
        ]
    } else {
        &[&[], &[], &["NX"], &["XX"]]
    };
    let mut flags: Vec<Vec<u8>> = g.pick(choices).iter().map(|f| g.opt(f)).collect();
    match g.below(16) {
        0 => flags.extend([g.opt("NX"), g.opt("XX")]),
        1 => flags.extend([g.opt("GT"), g.opt("LT")]),
        2 => flags.extend([g.opt("NX"), g.opt("GT")]),
        3 => flags.push(g.junk()),
        _ => {}
    }
    flags
}

fn relative_expire(g: &mut Gen) -> Cmd {
    let (name, time) = if g.chance(0.5) {
        ("EXPIRE", g.rel_secs())
    } else {
        ("PEXPIRE", g.rel_ms())
    };
    let flags = expire_flags(g, false);
    Cmd::new(name).arg(g.key()).arg(time).args(flags)
}

fn absolute_expire(g: &mut Gen) -> Cmd {
    let (name, time) = if g.chance(0.5) {
        ("EXPIREAT", g.abs_secs())
    } else {
        ("PEXPIREAT", g.abs_ms())
    };
    let flags = expire_flags(g, true);
    Cmd::new(name).arg(g.key()).arg(time).args(flags)
}
