//! Pacing below the API's rate limit: a shared schedule of evenly spaced start times.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spaces request starts at least `1/rate` seconds apart, across every task sharing it.
///
/// There is no burst: a client that has been idle starts its next request at once, and the ones
/// after it one interval apart. That keeps a client below a sliding one-second window of
/// `rate` requests, which is how gateways like Lark's count.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Mutex<Option<Duration>>,
    /// Whether the server's `x-ogw-ratelimit-limit` may set the interval (the caller chose no rate).
    adaptive: bool,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter at `per_second` requests per second; `None` (or a non-positive or non-finite
    /// rate) does not limit. An `adaptive` limiter starts at `per_second` and then paces at the
    /// rate the server announces ([`RateLimiter::observe`]).
    pub fn new(per_second: Option<f64>, adaptive: bool) -> Self {
        let interval =
            per_second.filter(|r| r.is_finite() && *r > 0.0).map(|r| Duration::from_secs_f64(1.0 / r));
        RateLimiter { interval: Mutex::new(interval), adaptive, next: Mutex::new(Instant::now()) }
    }

    /// Reserves the next start time and sleeps until it.
    pub async fn acquire(&self) {
        let Some(interval) = *self.interval.lock().unwrap_or_else(|p| p.into_inner()) else { return };
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let at = (*next).max(Instant::now());
            *next = at + interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }

    /// Holds every later start until `until` (the server said the window is spent).
    pub fn pause_until(&self, until: Instant) {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        *next = (*next).max(until);
    }

    /// Learns from an answer's quota headers (`x-ogw-ratelimit-limit`, `-remaining`, `-reset`):
    /// an adaptive limiter paces at the announced limit, and no request starts while the server
    /// says none remains, until its reset. An answer without them changes nothing.
    pub fn observe(&self, limit: Option<u32>, remaining: Option<u32>, reset_secs: Option<u64>) {
        if let Some(limit) = limit.filter(|&l| self.adaptive && l > 0) {
            *self.interval.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Duration::from_secs_f64(1.0 / f64::from(limit)));
        }
        if remaining == Some(0) {
            self.pause_until(Instant::now() + Duration::from_secs(reset_secs.unwrap_or(1).max(1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_adaptive_limiter_paces_at_the_announced_rate_and_waits_when_none_remains() {
        let l = RateLimiter::new(Some(15.0), true);
        l.observe(Some(4), Some(3), Some(0));
        let t0 = Instant::now();
        for _ in 0..3 {
            l.acquire().await;
        }
        assert_eq!((Instant::now() - t0).as_millis(), 500, "250 ms apart at 4/s");
        l.observe(Some(4), Some(0), Some(2));
        l.acquire().await;
        assert_eq!((Instant::now() - t0).as_millis(), 2500, "nothing before the reset");
        let fixed = RateLimiter::new(Some(10.0), false);
        fixed.observe(Some(1), Some(5), Some(0));
        let t1 = Instant::now();
        fixed.acquire().await;
        fixed.acquire().await;
        assert_eq!((Instant::now() - t1).as_millis(), 100, "a rate the caller chose stays");
    }

    #[tokio::test(start_paused = true)]
    async fn starts_are_spaced_by_the_interval() {
        let l = RateLimiter::new(Some(10.0), false);
        let t0 = Instant::now();
        let mut starts = vec![];
        for _ in 0..5 {
            l.acquire().await;
            starts.push(Instant::now() - t0);
        }
        let ms: Vec<u128> = starts.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [0, 100, 200, 300, 400]);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_tasks_share_one_schedule() {
        let l = std::sync::Arc::new(RateLimiter::new(Some(20.0), false));
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    l.acquire().await;
                    Instant::now()
                })
            })
            .collect();
        let mut done = vec![];
        for t in tasks {
            done.push(t.await.unwrap());
        }
        // 40 requests at 20/s: the last starts at 1.95 s, and no second holds more than 20.
        let last = done.iter().max().unwrap().duration_since(t0);
        assert_eq!(last.as_millis(), 1950);
        for w in 0..2 {
            let lo = t0 + Duration::from_secs(w);
            let n = done.iter().filter(|t| **t >= lo && **t < lo + Duration::from_secs(1)).count();
            assert!(n <= 20, "{n} starts in second {w}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_later_starts_and_none_limits_nothing() {
        let l = RateLimiter::new(Some(100.0), false);
        let t0 = Instant::now();
        l.pause_until(t0 + Duration::from_secs(2));
        l.acquire().await;
        assert_eq!((Instant::now() - t0).as_secs(), 2);
        let free = RateLimiter::new(None, false);
        let t1 = Instant::now();
        for _ in 0..1000 {
            free.acquire().await;
        }
        assert_eq!(Instant::now(), t1);
        assert!(RateLimiter::new(Some(0.0), false).interval.lock().unwrap().is_none());
    }
}
