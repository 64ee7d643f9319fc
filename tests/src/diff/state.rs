//! A canonical dump of a server's whole keyspace, as a list of commands and replies.
//!
//! The dump is made of ordinary commands (KEYS, TYPE, GET, LRANGE, SMEMBERS, HGETALL,
//! ZRANGE … WITHSCORES, PTTL), so it compares the two servers through the same
//! normalisation as the stream itself.

use super::Cmp;

/// The commands that read `key`'s content, given the type Redis reported for it.
pub fn content_commands(key: &[u8], kind: &[u8]) -> Vec<(Vec<Vec<u8>>, Cmp)> {
    let k = key.to_vec();
    let c = |args: &[&[u8]], cmp: Cmp| {
        let mut v: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
        v.insert(1, k.clone());
        (v, cmp)
    };
    let mut out = match kind {
        b"string" => vec![c(&[b"GET"], Cmp::Exact)],
        b"list" => vec![c(&[b"LRANGE", b"0", b"-1"], Cmp::Exact)],
        b"set" => vec![c(&[b"SMEMBERS"], Cmp::Unordered)],
        b"hash" => vec![c(&[b"HGETALL"], Cmp::UnorderedPairs)],
        b"zset" => vec![c(&[b"ZRANGE", b"0", b"-1", b"WITHSCORES"], Cmp::Exact)],
        _ => Vec::new(),
    };
    out.push(c(&[b"PTTL"], Cmp::TTL_MS));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_read_and_ttl_always() {
        for kind in [&b"string"[..], b"list", b"set", b"hash", b"zset"] {
            let cmds = content_commands(b"k", kind);
            assert_eq!(cmds.len(), 2, "{}", String::from_utf8_lossy(kind));
            assert_eq!(cmds[0].0[1], b"k");
            assert_eq!(cmds[1].0[0], b"PTTL");
        }
        assert_eq!(content_commands(b"k", b"none").len(), 1);
    }
}
