//! A compact latency histogram for INFO LATENCYSTATS: log-linear buckets with 32 steps
//! per power of two, so any recorded value is reported within about 3%, which is finer
//! than the two significant digits Redis keeps.

/// Steps per power of two, as a power of two.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Values up to 2^31 ns (about 2 s) are kept apart; slower ones share the last bucket,
/// as Redis caps its histogram at one second.
const MAX_EXP: u32 = 31;
const BUCKETS: usize = (MAX_EXP as usize - SUB_BITS as usize + 2) * SUB;

#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Histogram({} values)", self.total)
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
        }
    }
}

fn index(v: u64) -> usize {
    let v = v.clamp(1, (1 << (MAX_EXP + 1)) - 1);
    let exp = 63 - v.leading_zeros();
    if exp < SUB_BITS {
        return v as usize;
    }
    let sub = ((v >> (exp - SUB_BITS)) as usize) & (SUB - 1);
    (exp - SUB_BITS + 1) as usize * SUB + sub
}

/// The largest value that falls in bucket `i`.
fn highest(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let exp = (i / SUB) as u32 + SUB_BITS - 1;
    let sub = (i % SUB) as u64;
    let low = (SUB as u64 + sub) << (exp - SUB_BITS);
    low + (1 << (exp - SUB_BITS)) - 1
}

impl Histogram {
    pub fn record(&mut self, nanos: u64) {
        if let Some(c) = self.counts.get_mut(index(nanos)) {
            *c += 1;
            self.total += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many recorded values are at or below `v` (to the bucket's resolution).
    pub fn count_at_or_below(&self, v: u64) -> u64 {
        let last = index(v);
        let last = if highest(last) > v {
            last.saturating_sub(1)
        } else {
            last
        };
        self.counts.iter().take(last + 1).sum()
    }

    /// The value at or below which `pct` percent of the recorded values fall.
    pub fn percentile(&self, pct: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let want = ((pct / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return highest(i);
            }
        }
        highest(BUCKETS - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_tight_and_ordered() {
        let mut last = 0;
        for v in [
            1u64,
            7,
            31,
            32,
            33,
            100,
            1000,
            12345,
            1_000_000,
            999_999_999,
        ] {
            let h = highest(index(v));
            assert!(h >= v, "{v} -> {h}");
            assert!((h - v) as f64 <= v as f64 * 0.04, "{v} -> {h}");
            assert!(h >= last);
            last = h;
        }
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.percentile(50.0);
        assert!((500_000..=516_000).contains(&p50), "{p50}");
        let p99 = h.percentile(99.0);
        assert!((990_000..=1_022_000).contains(&p99), "{p99}");
        assert_eq!(Histogram::default().percentile(50.0), 0);
        assert_eq!(h.count_at_or_below(1_000_000_000), 1000);
        let half = h.count_at_or_below(500_000);
        assert!((480..=500).contains(&half), "{half}");
    }
}
