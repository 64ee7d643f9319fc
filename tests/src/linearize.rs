//! A linearizability checker for single-key registers under GET, SET and INCR.
//!
//! A history is what clients recorded: for each operation its client, key, operation,
//! result, and when it was invoked and when its reply came back. An operation whose reply
//! was lost (the server died first) "maybe happened": it took effect at most once, at some
//! point between its invocation and the moment the client saw the connection fail, or not
//! at all. Keys are independent registers, so each key is checked on its own.
//!
//! The search is Wing & Gong's, with Lowe's memoization as in Knossos: a configuration is
//! the set of operations already linearized plus the register's value, and each
//! configuration is explored once. Operations are sorted by invocation; the linearized set
//! is kept as "every operation before `prefix`" plus the few later ones linearized out of
//! order, which stays small because only operations that overlap in time can be reordered.

use std::collections::{HashMap, HashSet};

/// An operation on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Set(i64),
    Incr,
}

/// What the client saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// GET's reply (`None`: the key did not exist).
    Value(Option<i64>),
    /// SET's `+OK`.
    Ok,
    /// INCR's reply.
    Int(i64),
    /// No reply: the operation may or may not have taken effect.
    Unknown,
}

/// One recorded operation.
#[derive(Debug, Clone)]
pub struct Event {
    pub client: usize,
    pub key: String,
    pub op: Op,
    pub outcome: Outcome,
    /// Nanoseconds since the start of the run, before the request was sent.
    pub invoke: u64,
    /// After the reply was read, or after the failure was seen for `Unknown`.
    pub complete: u64,
}

/// A key whose history has no linearization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub key: String,
    /// Operations on the key.
    pub ops: usize,
    /// How far the longest linearized prefix got, in operations sorted by invocation.
    pub stuck_at: usize,
}

/// Per-key outcome of [`check`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub keys: usize,
    pub ops: usize,
    /// Configurations explored, summed over keys (how hard the search worked).
    pub explored: usize,
    pub violations: Vec<Violation>,
}

/// Checks every key of `history`.
pub fn check(history: &[Event]) -> Report {
    let mut by_key: HashMap<&str, Vec<&Event>> = HashMap::new();
    for e in history {
        by_key.entry(&e.key).or_default().push(e);
    }
    let mut report = Report {
        keys: by_key.len(),
        ops: history.len(),
        ..Report::default()
    };
    let mut keys: Vec<_> = by_key.into_iter().collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    for (key, events) in keys {
        let (ok, explored, stuck_at) = check_key(&events);
        report.explored += explored;
        if !ok {
            report.violations.push(Violation {
                key: key.to_string(),
                ops: events.len(),
                stuck_at,
            });
        }
    }
    report
}

/// The register: `None` while the key does not exist.
type State = Option<i64>;

/// Applies `op` to `state` if that is consistent with what the client saw.
fn step(state: State, op: Op, outcome: Outcome) -> Option<State> {
    match (op, outcome) {
        (Op::Get, Outcome::Value(v)) => (v == state).then_some(state),
        (Op::Get, Outcome::Unknown) => Some(state),
        (Op::Set(v), Outcome::Ok | Outcome::Unknown) => Some(Some(v)),
        (Op::Incr, Outcome::Int(n)) => {
            let next = state.unwrap_or(0).checked_add(1)?;
            (next == n).then_some(Some(next))
        }
        (Op::Incr, Outcome::Unknown) => Some(Some(state.unwrap_or(0).checked_add(1)?)),
        _ => None,
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Config {
    /// Every operation before this index is linearized.
    prefix: usize,
    /// Linearized operations at or after `prefix`, sorted.
    extra: Vec<usize>,
    state: State,
}

impl Config {
    fn done(&self, i: usize) -> bool {
        i < self.prefix || self.extra.binary_search(&i).is_ok()
    }

    fn with(&self, i: usize, state: State) -> Config {
        let mut next = self.clone();
        next.state = state;
        if let Err(pos) = next.extra.binary_search(&i) {
            next.extra.insert(pos, i);
        }
        while next.extra.first() == Some(&next.prefix) {
            next.extra.remove(0);
            next.prefix += 1;
        }
        next
    }
}

/// Searches one key's history; returns (linearizable, configurations explored, longest
/// prefix reached).
fn check_key(events: &[&Event]) -> (bool, usize, usize) {
    let mut ops: Vec<&Event> = events.to_vec();
    ops.sort_by_key(|e| (e.invoke, e.complete));
    let n = ops.len();
    let start = Config {
        prefix: 0,
        extra: Vec::new(),
        state: None,
    };
    let mut seen: HashSet<Config> = HashSet::new();
    let mut stack = vec![start];
    let mut best = 0;
    while let Some(cfg) = stack.pop() {
        if cfg.prefix == n {
            return (true, seen.len(), n);
        }
        if !seen.insert(cfg.clone()) {
            continue;
        }
        best = best.max(cfg.prefix);
        // The candidates: operations not yet linearized that were invoked before every
        // other pending operation returned. Since ret >= invoke, the scan can stop at
        // the first operation invoked after the earliest pending return.
        let mut min_ret = u64::MAX;
        let mut candidates = Vec::new();
        for (i, e) in ops.iter().enumerate().skip(cfg.prefix) {
            if e.invoke > min_ret {
                break;
            }
            if cfg.done(i) {
                continue;
            }
            candidates.push(i);
            min_ret = min_ret.min(e.complete);
        }
        // Pushed in reverse so the earliest-invoked candidate is tried first.
        for &i in candidates.iter().rev() {
            let e = ops[i];
            // A candidate must also have been invoked before every *other* pending
            // operation returned; the scan above only bounded it by those before it.
            let blocked = candidates
                .iter()
                .any(|&j| j != i && ops[j].complete < e.invoke);
            if blocked {
                continue;
            }
            if e.outcome == Outcome::Unknown {
                // Never took effect.
                stack.push(cfg.with(i, cfg.state));
            }
            if let Some(next) = step(cfg.state, e.op, e.outcome) {
                stack.push(cfg.with(i, next));
            }
        }
    }
    (false, seen.len(), best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(client: usize, op: Op, outcome: Outcome, invoke: u64, complete: u64) -> Event {
        Event {
            client,
            key: "k".into(),
            op,
            outcome,
            invoke,
            complete,
        }
    }

    use Op::*;
    use Outcome::*;

    #[test]
    fn sequential_history_is_linearizable() {
        let h = vec![
            ev(0, Get, Value(None), 0, 1),
            ev(0, Set(5), Ok, 2, 3),
            ev(1, Incr, Int(6), 4, 5),
            ev(0, Get, Value(Some(6)), 6, 7),
        ];
        let r = check(&h);
        assert!(r.violations.is_empty(), "{r:?}");
        assert_eq!(r.ops, 4);
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // SET 1 and SET 2 overlap; a later read may see either, but two sequential reads
        // after both returned must agree.
        let h = vec![
            ev(0, Set(1), Ok, 0, 10),
            ev(1, Set(2), Ok, 1, 9),
            ev(2, Get, Value(Some(1)), 11, 12),
            ev(2, Get, Value(Some(1)), 13, 14),
        ];
        assert!(check(&h).violations.is_empty());
        let h2 = vec![
            ev(0, Set(1), Ok, 0, 10),
            ev(1, Set(2), Ok, 1, 9),
            ev(2, Get, Value(Some(1)), 11, 12),
            ev(2, Get, Value(Some(2)), 13, 14),
        ];
        assert_eq!(check(&h2).violations.len(), 1);
    }

    #[test]
    fn a_lost_acknowledged_write_is_a_violation() {
        // SET 7 was acknowledged; a read that starts after it sees the old value.
        let h = vec![
            ev(0, Set(3), Ok, 0, 1),
            ev(0, Set(7), Ok, 2, 3),
            ev(1, Get, Value(Some(3)), 4, 5),
        ];
        let r = check(&h);
        assert_eq!(
            r.violations,
            vec![Violation {
                key: "k".into(),
                ops: 3,
                stuck_at: 2
            }]
        );
    }

    #[test]
    fn a_stale_read_overlapping_the_write_is_fine() {
        let h = vec![
            ev(0, Set(3), Ok, 0, 1),
            ev(0, Set(7), Ok, 2, 6),
            ev(1, Get, Value(Some(3)), 3, 5),
        ];
        assert!(check(&h).violations.is_empty());
    }

    #[test]
    fn an_unknown_write_may_or_may_not_have_happened() {
        let happened = vec![
            ev(0, Incr, Int(1), 0, 1),
            ev(0, Incr, Unknown, 2, 3),
            ev(1, Get, Value(Some(2)), 4, 5),
        ];
        assert!(check(&happened).violations.is_empty());
        let did_not = vec![
            ev(0, Incr, Int(1), 0, 1),
            ev(0, Incr, Unknown, 2, 3),
            ev(1, Get, Value(Some(1)), 4, 5),
        ];
        assert!(check(&did_not).violations.is_empty());
        // But at most once, and not after the failure was seen.
        let twice = vec![
            ev(0, Incr, Int(1), 0, 1),
            ev(0, Incr, Unknown, 2, 3),
            ev(1, Get, Value(Some(3)), 4, 5),
        ];
        assert_eq!(check(&twice).violations.len(), 1);
        let late = vec![
            ev(0, Incr, Int(1), 0, 1),
            ev(1, Get, Value(Some(1)), 4, 5),
            ev(0, Incr, Unknown, 2, 3),
            ev(1, Get, Value(Some(2)), 6, 7),
        ];
        assert_eq!(check(&late).violations.len(), 1);
    }

    #[test]
    fn incr_results_must_chain() {
        // Two INCRs cannot both return 1.
        let h = vec![ev(0, Incr, Int(1), 0, 10), ev(1, Incr, Int(1), 1, 9)];
        assert_eq!(check(&h).violations.len(), 1);
        let ok = vec![ev(0, Incr, Int(2), 0, 10), ev(1, Incr, Int(1), 1, 9)];
        assert!(check(&ok).violations.is_empty());
    }

    #[test]
    fn keys_are_independent() {
        let mut h = vec![ev(0, Set(1), Ok, 0, 1), ev(0, Get, Value(Some(1)), 2, 3)];
        let mut other = ev(1, Get, Value(None), 4, 5);
        other.key = "other".into();
        h.push(other);
        let r = check(&h);
        assert_eq!(r.keys, 2);
        assert!(r.violations.is_empty());
    }

    #[test]
    fn a_long_concurrent_history_checks_quickly() {
        // 8 clients, 20,000 overlapping INCRs and reads: the search must stay linear-ish.
        let mut h = Vec::new();
        let mut value = 0i64;
        for i in 0..20_000u64 {
            let client = (i % 8) as usize;
            let t = i * 10;
            if i % 3 == 0 {
                h.push(ev(
                    client,
                    Get,
                    Value(Some(value).filter(|_| i > 0)),
                    t,
                    t + 25,
                ));
            } else {
                value += 1;
                h.push(ev(client, Incr, Int(value), t, t + 25));
            }
        }
        let started = std::time::Instant::now();
        let r = check(&h);
        assert!(r.violations.is_empty(), "{r:?}");
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    }
}
