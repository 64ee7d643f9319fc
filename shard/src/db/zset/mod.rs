//! The sorted-set value type.
//!
//! # Layout
//! - this module: [`ZSet`], which picks one of two representations the way Redis does and
//!   reports Redis's encoding names for them;
//! - [`tree`]: the order-statistic treap used by large sets.
//!
//! Small sets ("listpack") are one `Vec` sorted by (score, member): for a few dozen
//! entries a linear scan beats any pointer structure and costs no per-entry overhead.
//! A set that outgrows `zset-max-listpack-entries` or gets a member longer than
//! `zset-max-listpack-value` becomes a "skiplist": an `IndexMap` member → score for O(1)
//! lookups and O(1) random picks, plus the [`tree::Tree`] for rank and range queries.
//! As in Redis, a set never shrinks back on its own; only the store commands build a
//! compact result when it fits.

pub mod tree;

use ahash::RandomState;
use indexmap::IndexMap;

use super::sds::Sds;
use tree::{cmp_entry, Tree};

/// The conversion thresholds, read from the server's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            entries: 128,
            value: 64,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Big {
    dict: IndexMap<Sds, f64, RandomState>,
    tree: Tree,
}

#[derive(Debug, Clone)]
pub enum ZSet {
    Listpack(Vec<(f64, Sds)>),
    Skiplist(Box<Big>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Listpack(Vec::new())
    }
}

impl ZSet {
    /// An empty set for a key created by ZADD whose first member has length `first_len`.
    pub fn for_first(first_len: usize, limits: Limits) -> ZSet {
        if limits.entries == 0 || first_len > limits.value {
            ZSet::skiplist()
        } else {
            ZSet::Listpack(Vec::new())
        }
    }

    /// An empty set sized for `len` entries whose longest member is `max_len` bytes.
    pub fn for_size(len: usize, max_len: usize, limits: Limits) -> ZSet {
        if len > limits.entries || max_len > limits.value {
            ZSet::skiplist()
        } else {
            ZSet::Listpack(Vec::with_capacity(len.min(limits.entries)))
        }
    }

    fn skiplist() -> ZSet {
        ZSet::Skiplist(Box::new(Big {
            dict: IndexMap::with_hasher(RandomState::new()),
            tree: Tree::new(),
        }))
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Listpack(_) => "listpack",
            ZSet::Skiplist(_) => "skiplist",
        }
    }

    /// Approximate heap bytes owned, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            ZSet::Listpack(v) => {
                v.capacity() * std::mem::size_of::<(f64, Sds)>()
                    + v.iter().map(|(_, m)| m.heap_size()).sum::<usize>()
            }
            ZSet::Skiplist(b) => {
                b.dict.capacity() * (std::mem::size_of::<(Sds, f64)>() + 8)
                    + b.dict.keys().map(|m| m.heap_size()).sum::<usize>()
                    + b.tree.heap_size()
            }
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Listpack(v) => v.len(),
            ZSet::Skiplist(b) => b.dict.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(v) => v.iter().find(|(_, m)| &**m == member).map(|(s, _)| *s),
            ZSet::Skiplist(b) => b.dict.get(member).copied(),
        }
    }

    fn convert_to_skiplist(&mut self) {
        if let ZSet::Listpack(v) = self {
            let entries = std::mem::take(v);
            let mut big = Big {
                dict: IndexMap::with_capacity_and_hasher(entries.len(), RandomState::new()),
                tree: Tree::new(),
            };
            for (s, m) in entries {
                big.dict.insert(m.clone(), s);
                big.tree.insert(s, m);
            }
            *self = ZSet::Skiplist(Box::new(big));
        }
    }

    /// Builds the compact form again when the set fits `limits` (the store commands).
    pub fn shrink_if_fits(&mut self, limits: Limits) {
        if let ZSet::Skiplist(b) = self {
            let len = b.dict.len();
            if len > limits.entries || b.dict.keys().any(|m| m.len() > limits.value) {
                return;
            }
            let mut v = Vec::with_capacity(len);
            b.tree
                .for_range(0, len, &mut |s, m| v.push((compact_score(s), m.clone())));
            *self = ZSet::Listpack(v);
        }
    }

    /// Sets `member`'s score, adding it when absent. Returns the previous score.
    pub fn insert(&mut self, score: f64, member: &[u8], limits: Limits) -> Option<f64> {
        let old = self.remove(member);
        // Only a new member can make a compact set convert; a score update never does,
        // even after the limits were lowered.
        if let (ZSet::Listpack(v), None) = (&*self, old) {
            if v.len() + 1 > limits.entries || member.len() > limits.value {
                self.convert_to_skiplist();
            }
        }
        match self {
            ZSet::Listpack(v) => {
                let score = compact_score(score);
                let at = v.partition_point(|(s, m)| cmp_entry(*s, m, score, member).is_lt());
                v.insert(at, (score, Sds::new(member)));
            }
            ZSet::Skiplist(b) => {
                let m = Sds::new(member);
                b.dict.insert(m.clone(), score);
                b.tree.insert(score, m);
            }
        }
        old
    }

    /// Removes `member`; returns its score when it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(v) => {
                let i = v.iter().position(|(_, m)| &**m == member)?;
                Some(v.remove(i).0)
            }
            ZSet::Skiplist(b) => {
                let s = b.dict.swap_remove(member)?;
                b.tree.remove(s, member);
                Some(s)
            }
        }
    }

    /// The number of leading entries (in score order) for which `before` holds; `before`
    /// must be true for a prefix of the order and false after it.
    pub fn count_prefix(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Listpack(v) => v.partition_point(|(s, m)| before(*s, m)),
            ZSet::Skiplist(b) => b.tree.count_prefix(before),
        }
    }

    /// The 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Listpack(v) => v.iter().position(|(_, m)| &**m == member),
            ZSet::Skiplist(b) => {
                let score = *b.dict.get(member)?;
                Some(
                    b.tree
                        .count_prefix(|s, m| cmp_entry(s, m, score, member).is_lt()),
                )
            }
        }
    }

    /// The entry at 0-based ascending `rank`.
    pub fn select(&self, rank: usize) -> Option<(f64, &Sds)> {
        match self {
            ZSet::Listpack(v) => v.get(rank).map(|(s, m)| (*s, m)),
            ZSet::Skiplist(b) => b.tree.select(rank),
        }
    }

    /// Calls `f` for the entries of ascending ranks `start..end`, in order.
    pub fn for_range(&self, start: usize, end: usize, mut f: impl FnMut(f64, &Sds)) {
        match self {
            ZSet::Listpack(v) => {
                let end = end.min(v.len());
                for (s, m) in v.get(start.min(end)..end).unwrap_or(&[]) {
                    f(*s, m);
                }
            }
            ZSet::Skiplist(b) => b.tree.for_range(start, end, &mut f),
        }
    }

    /// Every entry in ascending order (AOF rewrite, DUMP, SORT, COPY-like walks).
    pub fn iter(&self) -> Box<dyn Iterator<Item = (f64, &Sds)> + '_> {
        match self {
            ZSet::Listpack(v) => Box::new(v.iter().map(|(s, m)| (*s, m))),
            ZSet::Skiplist(b) => Box::new(b.tree.iter()),
        }
    }

    /// The entries of ranks `start..end` in ascending order, or descending when `rev`
    /// (then ranks count from the highest score).
    pub fn collect_range(&self, start: usize, end: usize, rev: bool) -> Vec<(f64, Sds)> {
        let len = self.len();
        let end = end.min(len);
        let start = start.min(end);
        let mut out = Vec::with_capacity(end - start);
        if rev {
            self.for_range(len - end, len - start, |s, m| out.push((s, m.clone())));
            out.reverse();
        } else {
            self.for_range(start, end, |s, m| out.push((s, m.clone())));
        }
        out
    }

    /// Some entry chosen by position `i < len()` in an order that does not matter (random
    /// picks): O(1) in both forms.
    pub fn nth_any(&self, i: usize) -> Option<(f64, &Sds)> {
        match self {
            ZSet::Listpack(v) => v.get(i).map(|(s, m)| (*s, m)),
            ZSet::Skiplist(b) => b.dict.get_index(i).map(|(m, s)| (*s, m)),
        }
    }

    /// One ZSCAN step. The compact form returns everything at once with cursor 0, as
    /// Redis does; the large form walks dictionary positions downwards from `cursor`
    /// (0 starts), the same scheme as the keyspace's SCAN, so a member present for the
    /// whole scan is never missed. Calls `f(member, score text)`.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&Sds, String)) -> u64 {
        match self {
            ZSet::Listpack(v) => {
                for (s, m) in v {
                    f(m, d2string(*s));
                }
                0
            }
            ZSet::Skiplist(b) => {
                let len = b.dict.len() as u64;
                let mut pos = if cursor == 0 || cursor > len {
                    len
                } else {
                    cursor
                };
                let mut seen = 0;
                while pos > 0 && seen < count.max(1) {
                    pos -= 1;
                    if let Some((m, s)) = b.dict.get_index(pos as usize) {
                        f(m, shoal_proto::number::fmt_g17(*s));
                    }
                    seen += 1;
                }
                pos
            }
        }
    }
}

/// The score a compact set keeps. Redis stores integral scores there as integers, which
/// turns -0 into 0; doing the same keeps ZSCORE and ZRANGE replies identical.
pub fn compact_score(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// Redis's `d2string`: integral values in the safe range print as integers, anything else
/// as `%.17g`. This is how compact sets store (and ZSCAN returns) their scores.
pub fn d2string(d: f64) -> String {
    const HALF: f64 = (i64::MAX / 2) as f64;
    if d.is_finite() && d != 0.0 && (-HALF..=HALF).contains(&d) && d.fract() == 0.0 {
        return (d as i64).to_string();
    }
    shoal_proto::number::fmt_g17(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn members(z: &ZSet) -> Vec<(f64, Vec<u8>)> {
        let ranged: Vec<(f64, Vec<u8>)> = z
            .collect_range(0, z.len(), false)
            .into_iter()
            .map(|(s, m)| (s, m.to_vec()))
            .collect();
        let walked: Vec<(f64, Vec<u8>)> = z.iter().map(|(s, m)| (s, m.to_vec())).collect();
        assert_eq!(ranged, walked);
        ranged
    }

    #[test]
    fn both_forms_agree_with_a_model() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let small = Limits {
            entries: 16,
            value: 8,
        };
        let mut z = ZSet::for_first(2, small);
        let mut model: std::collections::BTreeMap<Vec<u8>, f64> = Default::default();
        for _ in 0..3000 {
            let m = format!("k{}", rng.gen_range(0..40)).into_bytes();
            if rng.gen_bool(0.6) {
                let s = rng.gen_range(-5..5) as f64;
                assert_eq!(z.insert(s, &m, small), model.insert(m, s));
            } else {
                assert_eq!(z.remove(&m), model.remove(&m));
            }
            let mut want: Vec<(f64, Vec<u8>)> =
                model.iter().map(|(m, s)| (*s, m.clone())).collect();
            want.sort_by(|a, b| cmp_entry(a.0, &a.1, b.0, &b.1));
            assert_eq!(members(&z), want);
            for (i, (s, m)) in want.iter().enumerate() {
                assert_eq!(z.rank(m), Some(i));
                assert_eq!(z.score(m), Some(*s));
            }
            let rev = z.collect_range(1, 3, true);
            let want_rev: Vec<_> = want.iter().rev().skip(1).take(2).cloned().collect();
            assert_eq!(
                rev.into_iter()
                    .map(|(s, m)| (s, m.to_vec()))
                    .collect::<Vec<_>>(),
                want_rev
            );
        }
        assert_eq!(z.encoding(), "skiplist");
    }

    #[test]
    fn converts_on_long_member_and_shrinks_back() {
        let limits = Limits::default();
        let mut z = ZSet::for_first(1, limits);
        z.insert(1.0, b"a", limits);
        assert_eq!(z.encoding(), "listpack");
        z.insert(2.0, &[b'x'; 65], limits);
        assert_eq!(z.encoding(), "skiplist");
        z.remove(&[b'x'; 65]);
        z.shrink_if_fits(limits);
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(members(&z), vec![(1.0, b"a".to_vec())]);
    }

    #[test]
    fn scan_sees_every_member() {
        let limits = Limits {
            entries: 0,
            value: 64,
        };
        let mut z = ZSet::for_first(1, limits);
        for i in 0..500 {
            z.insert(i as f64, format!("m{i}").as_bytes(), limits);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = z.scan(cursor, 10, |m, _| {
                seen.insert(m.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
    }

    #[test]
    fn d2string_like_redis() {
        assert_eq!(d2string(1.0), "1");
        assert_eq!(d2string(-0.0), "-0");
        assert_eq!(d2string(1.5), "1.5");
        assert_eq!(d2string(1e17), "100000000000000000");
        assert_eq!(d2string(f64::INFINITY), "inf");
        assert_eq!(d2string(1e300), "1.0000000000000001e+300");
    }
}
