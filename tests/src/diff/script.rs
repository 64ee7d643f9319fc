//! Scripts: EVAL, EVALSHA and EVAL_RO running a few fixed scripts over random keys and
//! values, so that the conversions (integers, nulls, arrays, status and error tables,
//! raised command errors) meet every reply shape of the commands they call.

use super::{Cmd, Cmp, Gen};

/// Key space for the scripts stream.
pub const KEYS: &[&str] = &["s1", "s2", "h1", "l1", "n1"];

/// Scripts with the number of keys each takes and how its reply compares; each is also
/// loaded by SHA-1 on the fly, as EVALSHA of a script EVAL ran is how clients use the
/// cache. HGETALL's order is open: a hash with a value over 64 bytes leaves Redis's
/// insertion-ordered listpack for a hash table.
const SCRIPTS: &[(&str, usize, Cmp)] = &[
    ("return redis.call('GET', KEYS[1])", 1, Cmp::Exact),
    ("return redis.call('SET', KEYS[1], ARGV[1])", 1, Cmp::Exact),
    ("return redis.pcall('INCR', KEYS[1])", 1, Cmp::Exact),
    ("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, Cmp::Exact),
    ("redis.call('RPUSH', KEYS[1], ARGV[1], ARGV[2]) return redis.call('LRANGE', KEYS[1], 0, -1)", 1, Cmp::Exact),
    ("return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])", 1, Cmp::Exact),
    ("return redis.call('HGETALL', KEYS[1])", 1, Cmp::UnorderedPairs),
    ("return {redis.call('EXISTS', KEYS[1]), redis.call('TYPE', KEYS[2])}", 2, Cmp::Exact),
    ("local v = redis.call('GET', KEYS[1]) if v then return tonumber(v) end return false", 1, Cmp::Exact),
    ("return redis.call('DEL', KEYS[1], KEYS[2])", 2, Cmp::Exact),
    ("return {ARGV[1], tonumber(ARGV[2]), #KEYS}", 0, Cmp::Exact),
    ("return redis.status_reply(ARGV[1])", 0, Cmp::Exact),
    ("return redis.error_reply(ARGV[1])", 0, Cmp::Exact),
];

pub fn command(g: &mut Gen) -> Cmd {
    let (body, nkeys, cmp) = SCRIPTS[g.below(SCRIPTS.len())];
    let name = match g.below(10) {
        0..=6 => "EVAL",
        7 => "EVAL_RO",
        _ => "EVALSHA",
    };
    let script = if name == "EVALSHA" {
        sha1_hex(body.as_bytes())
    } else {
        body.to_string()
    };
    let mut c = Cmd::new(name).arg(script).arg(nkeys.to_string());
    for _ in 0..nkeys {
        c.push(g.key());
    }
    c.push(g.value());
    c.push(g.int());
    c.fixed().cmp(cmp)
}

/// Script names, as Redis computes them (the harness cannot depend on the shard crate).
fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha1_names() {
        assert_eq!(
            super::sha1_hex(b""),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }
}
