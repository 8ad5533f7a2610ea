//! How long to wait before trying again, and how many times: jittered exponential backoff with
//! a bound.

use std::time::Duration;

use rand::Rng;

/// When and how often a failed request is sent again.
///
/// Attempt `n` (the first retry is `n = 1`) waits a random time in `[d/2, d]` where
/// `d = min(max_delay, base_delay · 2^(n-1))` ("equal jitter": never zero, so a crowd of clients
/// spreads out, never more than the cap). A 429 waits at least the server's
/// `x-ogw-ratelimit-reset` seconds instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; at least 1.
    pub max_attempts: u32,
    /// The delay before the first retry (before jitter).
    pub base_delay: Duration,
    /// No delay is longer than this, the server's reset hint aside.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The ceiling of the delay before retry `attempt` (1-based), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(31);
        self.base_delay.saturating_mul(1u32 << shift).min(self.max_delay)
    }

    /// The delay before retry `attempt` (1-based): random in `[ceiling/2, ceiling]`, or the
    /// server's `retry_after` plus up to 10% of jitter when that is longer.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let backoff = half + rng.gen_range(Duration::ZERO..=ceiling - half);
        match retry_after {
            Some(after) if after > backoff => after + rng.gen_range(Duration::ZERO..=after / 10),
            _ => backoff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn ceiling_doubles_then_stops_at_the_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let got: Vec<u128> = (1..=7).map(|a| p.ceiling(a).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(1), "no overflow on absurd attempts");
    }

    #[test]
    fn delay_is_jittered_within_half_to_full_ceiling() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..=12 {
            let c = p.ceiling(attempt);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..200 {
                let d = p.delay(attempt, None, &mut rng);
                assert!(d >= c / 2 && d <= c, "attempt {attempt}: {d:?} outside [{:?}, {c:?}]", c / 2);
                seen.insert(d);
            }
            assert!(seen.len() > 10, "no jitter at attempt {attempt}");
        }
    }

    #[test]
    fn server_reset_hint_wins_when_longer() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..100 {
            let d = p.delay(1, Some(Duration::from_secs(2)), &mut rng);
            assert!(d >= Duration::from_secs(2) && d <= Duration::from_millis(2200), "{d:?}");
        }
        // A hint shorter than the backoff is no reason to hurry.
        let d = p.delay(10, Some(Duration::from_millis(1)), &mut rng);
        assert!(d >= p.ceiling(10) / 2);
    }
}
