//! Scripts: EVAL, EVALSHA and EVAL_RO running a few fixed scripts over random keys and
//! values, so that the conversions (integers, nulls, arrays, status and error tables,
//! raised command errors) meet every reply shape of the commands they call.

use super::{Cmd, Gen};

/// Key space for the scripts stream.
pub const KEYS: &[&str] = &["s1", "s2", "h1", "l1", "n1"];

/// Scripts with the number of keys each takes; each is also loaded by SHA-1 on the
/// fly, as EVALSHA of a script EVAL ran is how clients use the cache.
const SCRIPTS: &[(&str, usize)] = &[
    ("return redis.call('GET', KEYS[1])", 1),
    ("return redis.call('SET', KEYS[1], ARGV[1])", 1),
    ("return redis.pcall('INCR', KEYS[1])", 1),
    ("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1),
    ("redis.call('RPUSH', KEYS[1], ARGV[1], ARGV[2]) return redis.call('LRANGE', KEYS[1], 0, -1)", 1),
    ("return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])", 1),
    ("return redis.call('HGETALL', KEYS[1])", 1),
    ("return {redis.call('EXISTS', KEYS[1]), redis.call('TYPE', KEYS[2])}", 2),
    ("local v = redis.call('GET', KEYS[1]) if v then return tonumber(v) end return false", 1),
    ("return redis.call('DEL', KEYS[1], KEYS[2])", 2),
    ("return {ARGV[1], tonumber(ARGV[2]), #KEYS}", 0),
    ("return redis.status_reply(ARGV[1])", 0),
    ("return redis.error_reply(ARGV[1])", 0),
];

pub fn command(g: &mut Gen) -> Cmd {
    let (body, nkeys) = SCRIPTS[g.below(SCRIPTS.len())];
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
    c.fixed()
}

/// Script names, as Redis computes them (the harness cannot depend on the shard crate).
fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
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
