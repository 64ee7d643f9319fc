//! Mixed traffic over every data type, for the soak test: strings (with `SET EX`),
//! counters, hashes, lists, sets, sorted sets and streams, with `EXPIRE`, `TTL` and `DEL`.
//! Each type has its own key prefix, so no command meets a key of another type and the
//! only errors a healthy server gives are those of a shard restarting or of a full memory.
//! Collections are kept small (lists trimmed, streams capped, members from a small
//! range), so memory grows with the number of keys, which `maxmemory` bounds.

use rand::Rng;

/// One command, as owned arguments.
pub type Command = Vec<String>;

fn value(rng: &mut impl Rng) -> String {
    let len = rng.gen_range(8..256);
    let c = char::from(b'a' + rng.gen_range(0..26u8));
    std::iter::repeat_n(c, len).collect()
}

/// A random command on one of `keys` keys per type.
pub fn command(rng: &mut impl Rng, keys: u64) -> Command {
    let n = rng.gen_range(0..keys);
    let member = rng.gen_range(0..32);
    let v = |rng: &mut _| value(rng);
    let args: Vec<String> = match rng.gen_range(0..24) {
        0 => vec!["SET".into(), format!("s:{n}"), v(rng)],
        1 => {
            let ttl = rng.gen_range(1..120);
            vec![
                "SET".into(),
                format!("s:{n}"),
                v(rng),
                "EX".into(),
                ttl.to_string(),
            ]
        }
        2 | 3 => vec!["GET".into(), format!("s:{n}")],
        4 => vec!["INCR".into(), format!("c:{n}")],
        5 => vec![
            "HSET".into(),
            format!("h:{n}"),
            format!("f{member}"),
            v(rng),
        ],
        6 => vec!["HGET".into(), format!("h:{n}"), format!("f{member}")],
        7 => vec!["HGETALL".into(), format!("h:{n}")],
        8 => vec!["HDEL".into(), format!("h:{n}"), format!("f{member}")],
        9 => vec!["LPUSH".into(), format!("l:{n}"), v(rng)],
        10 => vec!["LTRIM".into(), format!("l:{n}"), "0".into(), "15".into()],
        11 => vec!["LRANGE".into(), format!("l:{n}"), "0".into(), "9".into()],
        12 => vec!["RPOP".into(), format!("l:{n}")],
        13 => vec!["SADD".into(), format!("t:{n}"), format!("m{member}")],
        14 => vec!["SREM".into(), format!("t:{n}"), format!("m{member}")],
        15 => vec!["SMEMBERS".into(), format!("t:{n}")],
        16 => vec![
            "ZADD".into(),
            format!("z:{n}"),
            rng.gen_range(0..1000).to_string(),
            format!("m{member}"),
        ],
        17 => vec![
            "ZRANGE".into(),
            format!("z:{n}"),
            "0".into(),
            "9".into(),
            "WITHSCORES".into(),
        ],
        18 => vec!["ZREM".into(), format!("z:{n}"), format!("m{member}")],
        19 => vec![
            "XADD".into(),
            format!("x:{n}"),
            "MAXLEN".into(),
            "~".into(),
            "20".into(),
            "*".into(),
            "f".into(),
            v(rng),
        ],
        20 => vec![
            "XRANGE".into(),
            format!("x:{n}"),
            "-".into(),
            "+".into(),
            "COUNT".into(),
            "5".into(),
        ],
        21 => {
            let prefix = ["s", "c", "h", "l", "t", "z", "x"][rng.gen_range(0..7)];
            vec![
                "EXPIRE".into(),
                format!("{prefix}:{n}"),
                rng.gen_range(1..120).to_string(),
            ]
        }
        22 => {
            let prefix = ["s", "h", "l", "z"][rng.gen_range(0..4)];
            vec!["TTL".into(), format!("{prefix}:{n}")]
        }
        _ => {
            let prefix = ["s", "c", "h", "l", "t", "z", "x"][rng.gen_range(0..7)];
            vec!["DEL".into(), format!("{prefix}:{n}")]
        }
    };
    args
}

/// Whether an error reply is one the soak test allows: a shard restarting behind the
/// proxy (`-TRYAGAIN`, `-LOADING`) or memory full (`-OOM`, which a write can meet while
/// eviction catches up).
pub fn allowed_error(e: &[u8]) -> bool {
    e.starts_with(b"TRYAGAIN") || e.starts_with(b"LOADING") || e.starts_with(b"OOM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_keep_each_type_on_its_own_prefix() {
        let mut rng = rand::thread_rng();
        for _ in 0..2000 {
            let c = command(&mut rng, 10);
            let key = &c[1];
            let prefix = key.split(':').next().unwrap_or_default();
            let ok = match c[0].as_str() {
                "GET" => prefix == "s",
                "SET" => prefix == "s",
                "INCR" => prefix == "c",
                n if n.starts_with('H') => prefix == "h",
                "LPUSH" | "LTRIM" | "LRANGE" | "RPOP" => prefix == "l",
                n if n.starts_with('S') => prefix == "t",
                n if n.starts_with('Z') => prefix == "z",
                n if n.starts_with('X') => prefix == "x",
                "EXPIRE" | "TTL" | "DEL" => true,
                other => panic!("unexpected command {other}"),
            };
            assert!(ok, "{c:?}");
        }
        assert!(allowed_error(b"OOM command not allowed"));
        assert!(!allowed_error(b"WRONGTYPE Operation"));
    }
}
