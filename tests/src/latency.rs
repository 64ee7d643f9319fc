//! A latency histogram with log-linear buckets (about 3% wide), small enough to keep one
//! per client thread and merge every few seconds for a percentile.

/// Microseconds below this get one bucket each.
const LINEAR: u64 = 64;
/// Sub-buckets per power of two above `LINEAR`.
const SUB_BITS: u32 = 5;
const BUCKETS: usize = LINEAR as usize + (64 - 6) * (1 << SUB_BITS);

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

fn bucket(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let msb = 63 - us.leading_zeros();
    let sub = (us >> (msb - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    LINEAR as usize + (msb as usize - 6) * (1 << SUB_BITS) + sub as usize
}

/// The smallest value in bucket `i`.
fn lower(i: usize) -> u64 {
    if (i as u64) < LINEAR {
        return i as u64;
    }
    let j = i - LINEAR as usize;
    let msb = (j >> SUB_BITS) as u32 + 6;
    let sub = (j & ((1 << SUB_BITS) - 1)) as u64;
    (1 << msb) | (sub << (msb - SUB_BITS))
}

impl Histogram {
    pub fn record(&mut self, us: u64) {
        self.counts[bucket(us)] += 1;
        self.total += 1;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// The value at quantile `q` (0..=1), as its bucket's lower bound; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let rank = ((self.total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return lower(i);
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_within_their_width() {
        for us in [0u64, 1, 63, 64, 65, 100, 1000, 12_345, 1 << 40] {
            let lo = lower(bucket(us));
            assert!(lo <= us, "{us}: {lo}");
            assert!(us - lo <= us / 32, "{us}: {lo}");
        }
        assert!(bucket(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles_follow_the_recorded_values() {
        let mut h = Histogram::default();
        for us in 1..=100 {
            h.record(us);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), 50);
        let p99 = h.quantile(0.99);
        assert!((96..=99).contains(&p99), "{p99}");
        let mut m = Histogram::default();
        m.merge(&h);
        assert_eq!(m.quantile(1.0), h.quantile(1.0));
        assert_eq!(Histogram::default().quantile(0.99), 0);
    }
}
