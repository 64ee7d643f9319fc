//! Reply comparison. Everything is compared byte for byte, except what Redis itself
//! does not fix: the order of unordered collections, the content of random replies,
//! and remaining times to live, which move between the two servers' clocks.

use crate::resp::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// The raw bytes must be equal.
    Exact,
    /// An array, set or map whose order Redis leaves open (SMEMBERS, KEYS, HKEYS …):
    /// elements (map entries) are sorted first.
    Unordered,
    /// A flat array of pairs in open order (HGETALL in RESP2); a map is sorted by entry.
    UnorderedPairs,
    /// Random content (SRANDMEMBER, HRANDFIELD, SPOP …): types and lengths only.
    Shape,
    /// A non-negative integer that may differ by this much (TTL, PTTL, EXPIRETIME …);
    /// negative values (-1, -2) must be equal.
    Within(i64),
    /// Both replies must succeed or both fail; content is not compared (HELLO).
    Outcome,
}

impl Cmp {
    /// Seconds: both servers set the expiry a few milliseconds apart and may round on
    /// opposite sides of a second.
    pub const TTL_S: Cmp = Cmp::Within(2);
    pub const TTL_MS: Cmp = Cmp::Within(2000);

    /// Whether `a` (from Redis) and `b` (from shoal), with raw bytes `ra` and `rb`,
    /// count as the same reply.
    pub fn same(self, a: &Reply, ra: &[u8], b: &Reply, rb: &[u8]) -> bool {
        if ra == rb {
            return true;
        }
        // An error must always match exactly; so must any reply of another type.
        if a.is_error() || b.is_error() {
            return self == Cmp::Outcome && a.is_error() && b.is_error();
        }
        match self {
            Cmp::Exact => false,
            Cmp::Unordered => normalize(a, false) == normalize(b, false),
            Cmp::UnorderedPairs => normalize(a, true) == normalize(b, true),
            Cmp::Shape => a.shape() == b.shape(),
            Cmp::Within(tol) => match (a, b) {
                (Reply::Int(x), Reply::Int(y)) if *x >= 0 && *y >= 0 => {
                    x.abs_diff(*y) <= tol.unsigned_abs()
                }
                _ => false,
            },
            Cmp::Outcome => true,
        }
    }
}

/// `r` with its top-level elements (or pairs) sorted by their encoding.
pub fn normalize(r: &Reply, pairs: bool) -> Reply {
    fn sorted(mut v: Vec<Reply>) -> Vec<Reply> {
        v.sort_by_key(Reply::encode);
        v
    }
    match r {
        Reply::Array(v) if pairs && v.len() % 2 == 0 => {
            let mut chunks: Vec<Vec<Reply>> = v.chunks(2).map(<[Reply]>::to_vec).collect();
            chunks.sort_by_key(|c| c.iter().flat_map(Reply::encode).collect::<Vec<u8>>());
            Reply::Array(chunks.into_iter().flatten().collect())
        }
        Reply::Array(v) => Reply::Array(sorted(v.clone())),
        Reply::Set(v) => Reply::Set(sorted(v.clone())),
        Reply::Map(p) => {
            let mut p = p.clone();
            p.sort_by_key(|(k, v)| {
                let mut e = k.encode();
                e.extend(v.encode());
                e
            });
            Reply::Map(p)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    fn check(cmp: Cmp, a: &Reply, b: &Reply) -> bool {
        cmp.same(a, &a.encode(), b, &b.encode())
    }

    #[test]
    fn unordered_sorts_but_keeps_content() {
        let a = Reply::Array(vec![bulk("b"), bulk("a")]);
        let b = Reply::Array(vec![bulk("a"), bulk("b")]);
        let c = Reply::Array(vec![bulk("a"), bulk("c")]);
        assert!(check(Cmp::Unordered, &a, &b));
        assert!(!check(Cmp::Exact, &a, &b));
        assert!(!check(Cmp::Unordered, &a, &c));
        // A RESP3 set and a RESP2 array with the same members are different replies.
        let s = Reply::Set(vec![bulk("a"), bulk("b")]);
        assert!(!check(Cmp::Unordered, &a, &s));
    }

    #[test]
    fn pairs_stay_together() {
        let a = Reply::Array(vec![bulk("f1"), bulk("1"), bulk("f2"), bulk("2")]);
        let b = Reply::Array(vec![bulk("f2"), bulk("2"), bulk("f1"), bulk("1")]);
        let swapped = Reply::Array(vec![bulk("f1"), bulk("2"), bulk("f2"), bulk("1")]);
        assert!(check(Cmp::UnorderedPairs, &a, &b));
        assert!(!check(Cmp::UnorderedPairs, &a, &swapped));
        let m1 = Reply::Map(vec![(bulk("x"), bulk("1")), (bulk("y"), bulk("2"))]);
        let m2 = Reply::Map(vec![(bulk("y"), bulk("2")), (bulk("x"), bulk("1"))]);
        assert!(check(Cmp::UnorderedPairs, &m1, &m2));
    }

    #[test]
    fn within_tolerates_small_drift_only() {
        assert!(check(Cmp::TTL_S, &Reply::Int(100), &Reply::Int(99)));
        assert!(!check(Cmp::TTL_S, &Reply::Int(100), &Reply::Int(90)));
        assert!(!check(Cmp::TTL_S, &Reply::Int(-1), &Reply::Int(-2)));
        assert!(!check(Cmp::TTL_S, &Reply::Int(1), &Reply::Int(-1)));
    }

    #[test]
    fn errors_match_exactly_except_for_outcome() {
        let e1 = Reply::Error(b"ERR a".to_vec());
        let e2 = Reply::Error(b"ERR b".to_vec());
        assert!(!check(Cmp::Shape, &e1, &e2));
        assert!(!check(Cmp::Shape, &e1, &bulk("x")));
        assert!(check(Cmp::Outcome, &e1, &e2));
        assert!(!check(Cmp::Outcome, &e1, &bulk("x")));
        assert!(check(Cmp::Shape, &bulk("x"), &bulk("yy")));
    }
}
