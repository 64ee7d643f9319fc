//! The order-statistic tree behind large sorted sets: a treap keyed by (score, member),
//! with subtree sizes so that rank, select and range bounds cost O(log n).
//!
//! Nodes live in one arena `Vec` and link by index, which keeps the structure free of
//! `unsafe` and of per-node boxes; freed slots are reused through a free list. A treap
//! was chosen over a skiplist because it needs no parent pointers and its split/merge
//! operations make insert and delete a few lines each. Priorities come from a private
//! xorshift generator, so a client cannot shape the tree by choosing members or scores.

use std::cmp::Ordering;

use super::super::sds::Sds;

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    score: f64,
    member: Sds,
    prio: u32,
    left: u32,
    right: u32,
    size: u32,
}

#[derive(Debug, Clone)]
pub struct Tree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    seed: u64,
}

/// The total order of a sorted set: by score, then by member bytes. Scores are never NaN
/// (every write path rejects it), so `partial_cmp` always answers.
pub fn cmp_entry(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    a_score
        .partial_cmp(&b_score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a_member.cmp(b_member))
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

impl Tree {
    pub fn new() -> Tree {
        let seed = rand::random::<u64>() | 1;
        Tree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            seed,
        }
    }

    pub fn len(&self) -> usize {
        self.size(self.root) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.root == NIL
    }

    fn size(&self, n: u32) -> u32 {
        if n == NIL {
            0
        } else {
            self.nodes[n as usize].size
        }
    }

    fn fix(&mut self, n: u32) {
        let (l, r) = {
            let node = &self.nodes[n as usize];
            (node.left, node.right)
        };
        let s = 1 + self.size(l) + self.size(r);
        self.nodes[n as usize].size = s;
    }

    fn next_prio(&mut self) -> u32 {
        let mut x = self.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed = x;
        (x >> 32) as u32
    }

    fn alloc(&mut self, score: f64, member: Sds) -> u32 {
        let node = Node {
            score,
            member,
            prio: self.next_prio(),
            left: NIL,
            right: NIL,
            size: 1,
        };
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, n: u32) {
        // Drop the member's heap block now rather than when the slot is reused.
        self.nodes[n as usize].member = Sds::new(b"");
        self.free.push(n);
    }

    /// Splits `t` into the nodes ordered before (score, member) and the rest.
    fn split(&mut self, t: u32, score: f64, member: &[u8]) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let goes_left = {
            let n = &self.nodes[t as usize];
            cmp_entry(n.score, &n.member, score, member) == Ordering::Less
        };
        if goes_left {
            let right = self.nodes[t as usize].right;
            let (a, b) = self.split(right, score, member);
            self.nodes[t as usize].right = a;
            self.fix(t);
            (t, b)
        } else {
            let left = self.nodes[t as usize].left;
            let (a, b) = self.split(left, score, member);
            self.nodes[t as usize].left = b;
            self.fix(t);
            (a, t)
        }
    }

    /// Joins two treaps where every node of `a` orders before every node of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio >= self.nodes[b as usize].prio {
            let r = self.nodes[a as usize].right;
            let m = self.merge(r, b);
            self.nodes[a as usize].right = m;
            self.fix(a);
            a
        } else {
            let l = self.nodes[b as usize].left;
            let m = self.merge(a, l);
            self.nodes[b as usize].left = m;
            self.fix(b);
            b
        }
    }

    /// Inserts an entry that must not be present yet.
    pub fn insert(&mut self, score: f64, member: Sds) {
        let (a, b) = self.split(self.root, score, &member);
        let n = self.alloc(score, member);
        let left = self.merge(a, n);
        self.root = self.merge(left, b);
    }

    /// Removes the entry (score, member); returns whether it was present.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        let root = self.root;
        let (root, found) = self.remove_at(root, score, member);
        self.root = root;
        found
    }

    fn remove_at(&mut self, t: u32, score: f64, member: &[u8]) -> (u32, bool) {
        if t == NIL {
            return (NIL, false);
        }
        let ord = {
            let n = &self.nodes[t as usize];
            cmp_entry(score, member, n.score, &n.member)
        };
        match ord {
            Ordering::Equal => {
                let (l, r) = {
                    let n = &self.nodes[t as usize];
                    (n.left, n.right)
                };
                let m = self.merge(l, r);
                self.release(t);
                (m, true)
            }
            Ordering::Less => {
                let l = self.nodes[t as usize].left;
                let (nl, found) = self.remove_at(l, score, member);
                self.nodes[t as usize].left = nl;
                self.fix(t);
                (t, found)
            }
            Ordering::Greater => {
                let r = self.nodes[t as usize].right;
                let (nr, found) = self.remove_at(r, score, member);
                self.nodes[t as usize].right = nr;
                self.fix(t);
                (t, found)
            }
        }
    }

    /// The number of leading entries for which `before` holds. `before` must be monotone
    /// over the order (true, then false); this is how ranks and range bounds are found.
    pub fn count_prefix(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut t = self.root;
        let mut count = 0usize;
        while t != NIL {
            let n = &self.nodes[t as usize];
            if before(n.score, &n.member) {
                count += self.size(n.left) as usize + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        count
    }

    /// The entry at 0-based `rank`.
    pub fn select(&self, rank: usize) -> Option<(f64, &Sds)> {
        let mut t = self.root;
        let mut rank = rank;
        while t != NIL {
            let n = &self.nodes[t as usize];
            let ls = self.size(n.left) as usize;
            match rank.cmp(&ls) {
                Ordering::Less => t = n.left,
                Ordering::Equal => return Some((n.score, &n.member)),
                Ordering::Greater => {
                    rank -= ls + 1;
                    t = n.right;
                }
            }
        }
        None
    }

    /// Calls `f` for the entries of ranks `start..end`, in order.
    pub fn for_range(&self, start: usize, end: usize, f: &mut impl FnMut(f64, &Sds)) {
        // An explicit stack walk: find the start by descending, then continue in order.
        let mut stack: Vec<u32> = Vec::new();
        let mut t = self.root;
        let mut rank = start;
        while t != NIL {
            let n = &self.nodes[t as usize];
            let ls = self.size(n.left) as usize;
            if rank < ls {
                stack.push(t);
                t = n.left;
            } else if rank == ls {
                stack.push(t);
                break;
            } else {
                rank -= ls + 1;
                t = n.right;
            }
        }
        let mut left = end.saturating_sub(start);
        while left > 0 {
            let Some(t) = stack.pop() else { break };
            let n = &self.nodes[t as usize];
            f(n.score, &n.member);
            left -= 1;
            let mut c = n.right;
            while c != NIL {
                stack.push(c);
                c = self.nodes[c as usize].left;
            }
        }
    }

    /// Every entry in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        let mut it = Iter {
            tree: self,
            stack: Vec::new(),
        };
        it.push_left(self.root);
        it
    }

    /// Approximate heap bytes owned, for memory accounting.
    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.free.capacity() * 4
            + self
                .nodes
                .iter()
                .map(|n| n.member.heap_size())
                .sum::<usize>()
    }
}

/// An in-order walk with an explicit stack, so no recursion and no allocation per step.
pub struct Iter<'a> {
    tree: &'a Tree,
    stack: Vec<u32>,
}

impl Iter<'_> {
    fn push_left(&mut self, mut t: u32) {
        while t != NIL {
            self.stack.push(t);
            t = self.tree.nodes[t as usize].left;
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (f64, &'a Sds);

    fn next(&mut self) -> Option<(f64, &'a Sds)> {
        let t = self.stack.pop()?;
        let tree = self.tree;
        let n = &tree.nodes[t as usize];
        self.push_left(n.right);
        Some((n.score, &n.member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn model_sort(m: &mut [(f64, Vec<u8>)]) {
        m.sort_by(|a, b| cmp_entry(a.0, &a.1, b.0, &b.1));
    }

    #[test]
    fn matches_a_sorted_vec() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut tree = Tree::new();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        for step in 0..4000 {
            let member = format!("m{}", rng.gen_range(0..300)).into_bytes();
            let score = rng.gen_range(0..50) as f64;
            match model.iter().position(|(_, m)| *m == member) {
                Some(i) => {
                    let (s, m) = model.remove(i);
                    assert!(tree.remove(s, &m));
                    assert!(!tree.remove(s, &m));
                }
                None => {
                    tree.insert(score, Sds::new(&member));
                    model.push((score, member));
                    model_sort(&mut model);
                }
            }
            assert_eq!(tree.len(), model.len());
            if step % 50 == 0 {
                for (i, (s, m)) in model.iter().enumerate() {
                    let got = tree.select(i).map(|(s, m)| (s, m.to_vec()));
                    assert_eq!(got, Some((*s, m.clone())));
                    let rank = tree.count_prefix(|ts, tm| cmp_entry(ts, tm, *s, m).is_lt());
                    assert_eq!(rank, i);
                }
                assert!(tree.select(model.len()).is_none());
                let below = tree.count_prefix(|s, _| s < 25.0);
                assert_eq!(below, model.iter().filter(|(s, _)| *s < 25.0).count());
                let a = rng.gen_range(0..=model.len());
                let b = rng.gen_range(0..=model.len() + 3);
                let mut seen = Vec::new();
                tree.for_range(a, b, &mut |s, m| seen.push((s, m.to_vec())));
                let want: Vec<_> = model
                    .iter()
                    .skip(a)
                    .take(b.saturating_sub(a))
                    .cloned()
                    .collect();
                assert_eq!(seen, want);
                let all: Vec<_> = tree.iter().map(|(s, m)| (s, m.to_vec())).collect();
                assert_eq!(all, model);
            }
        }
    }

    #[test]
    fn reuses_freed_slots() {
        let mut tree = Tree::new();
        for i in 0..100 {
            tree.insert(i as f64, Sds::new(b"x"));
        }
        for i in 0..100 {
            assert!(tree.remove(i as f64, b"x"));
        }
        assert!(tree.is_empty());
        for i in 0..100 {
            tree.insert(i as f64, Sds::new(b"y"));
        }
        assert_eq!(tree.nodes.len(), 100);
        assert_eq!(tree.len(), 100);
    }
}
