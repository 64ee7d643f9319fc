//! Restart delays: capped exponential backoff with jitter.
//!
//! A shard that dies is restarted at once the first time (most crashes are one-offs and
//! the shard's AOF replay is the only cost); from the second consecutive failure on it
//! waits `min * 2^(n-1)`, capped at `max`, with up to `jitter` of that added at random so
//! that shards which crash together (a bad volume, say) do not retry in lockstep.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    jitter: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidBackoff {
    #[error("minimum backoff {min:?} is greater than the maximum {max:?}")]
    MinAboveMax { min: Duration, max: Duration },
    #[error("minimum backoff must be above zero")]
    ZeroMin,
    #[error("jitter {0} is not in 0.0..=1.0")]
    Jitter(f64),
}

impl Backoff {
    pub fn try_new(min: Duration, max: Duration, jitter: f64) -> Result<Backoff, InvalidBackoff> {
        if min.is_zero() {
            return Err(InvalidBackoff::ZeroMin);
        }
        if min > max {
            return Err(InvalidBackoff::MinAboveMax { min, max });
        }
        if !(0.0..=1.0).contains(&jitter) {
            return Err(InvalidBackoff::Jitter(jitter));
        }
        Ok(Backoff { min, max, jitter })
    }

    /// The delay before restart number `failures` of a run of consecutive failures
    /// (`failures = 0` is the first restart, which is immediate). `roll` in `0.0..1.0`
    /// picks the jitter.
    pub fn delay_with(&self, failures: u32, roll: f64) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let exp = failures.saturating_sub(1).min(32);
        let base = self
            .min
            .checked_mul(1u32 << exp.min(31))
            .unwrap_or(self.max)
            .min(self.max);
        let extra = base.mul_f64(self.jitter * roll.clamp(0.0, 1.0));
        // Jitter never takes a delay past the cap: the cap is what the operator promised.
        (base + extra).min(self.max)
    }

    pub fn delay(&self, failures: u32) -> Duration {
        self.delay_with(failures, rand::thread_rng().gen::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rejects_bad_parameters() {
        assert_eq!(
            Backoff::try_new(ms(10), ms(5), 0.1),
            Err(InvalidBackoff::MinAboveMax {
                min: ms(10),
                max: ms(5)
            })
        );
        assert_eq!(
            Backoff::try_new(ms(0), ms(5), 0.1),
            Err(InvalidBackoff::ZeroMin)
        );
        assert!(Backoff::try_new(ms(1), ms(5), 1.5).is_err());
        assert!(Backoff::try_new(ms(1), ms(5), f64::NAN).is_err());
    }

    #[test]
    fn first_restart_is_immediate_then_doubles() {
        let b = Backoff::try_new(ms(100), ms(10_000), 0.0).unwrap();
        let d: Vec<u64> = (0..9)
            .map(|n| b.delay_with(n, 0.5).as_millis() as u64)
            .collect();
        assert_eq!(d, [0, 100, 200, 400, 800, 1600, 3200, 6400, 10_000]);
        assert_eq!(b.delay_with(u32::MAX, 0.9), ms(10_000));
    }

    proptest! {
        #[test]
        fn delays_stay_within_bounds_and_grow(
            min_ms in 1u64..5_000,
            extra_ms in 0u64..60_000,
            jitter in 0.0f64..=1.0,
            n in 1u32..200,
            roll in 0.0f64..1.0,
        ) {
            let b = Backoff::try_new(ms(min_ms), ms(min_ms + extra_ms), jitter).unwrap();
            let d = b.delay_with(n, roll);
            prop_assert!(d >= ms(min_ms));
            prop_assert!(d <= ms(min_ms + extra_ms));
            // Without jitter the sequence never shrinks.
            prop_assert!(b.delay_with(n + 1, 0.0) >= b.delay_with(n, 0.0));
        }
    }
}
