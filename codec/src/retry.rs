//! Retry policy: which failures are worth another try, and how long to wait.
//!
//! Pure: the random source is a seeded generator and time is passed in by
//! the caller, so tests replay exact schedules.

pub use crate::error::status_is_retryable;
use crate::text::whole_number;

/// Exponential backoff with jitter.
///
/// The n-th delay (n from 1) is `min(base * 2^(n-1), max)` scaled into
/// `[(1 - jitter) * d, d]`. After `max_attempts` consecutive failures
/// [`Backoff::next_delay`] returns `None`: give up.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
    /// Fraction of the delay that may be taken off at random, 0.0..=1.0.
    pub jitter: f64,
    pub max_attempts: u32,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(seed: u64) -> Self {
        Backoff {
            base_ms: 100,
            max_ms: 5_000,
            jitter: 0.5,
            max_attempts: 12,
            attempt: 0,
            // xorshift must not start at zero.
            rng: seed | 1,
        }
    }

    /// Consecutive failures so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Progress was made: the next failure starts the schedule again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The wait before the next try, or `None` when it is time to give up.
    pub fn next_delay(&mut self) -> Option<u64> {
        if self.attempt >= self.max_attempts {
            return None;
        }
        self.attempt += 1;
        let exp = self.attempt.saturating_sub(1).min(32);
        let full = self.base_ms.saturating_mul(1u64 << exp).min(self.max_ms);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let cut = (full as f64 * jitter * self.next_unit()) as u64;
        Some(full - cut.min(full))
    }

    /// A uniform number in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How long to wait before retrying a 429, from `x-ratelimit-reset` (a Unix
/// time in milliseconds) or `retry-after` (seconds). Capped at one minute.
pub fn rate_limit_wait_ms(
    reset_ms: Option<&str>,
    retry_after: Option<&str>,
    now_ms: u64,
) -> Option<u64> {
    const CAP: u64 = 60_000;
    if let Some(reset) = reset_ms.and_then(|v| whole_number(v.trim_ascii())) {
        return Some(reset.saturating_sub(now_ms).min(CAP));
    }
    retry_after
        .and_then(|v| whole_number(v.trim_ascii()))
        .map(|s| s.saturating_mul(1000).min(CAP))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

    #[test]
    fn delays_grow_then_cap_and_stay_within_jitter() {
        let mut b = Backoff::new(42);
        let mut prev_full = 0;
        for n in 1..=12u32 {
            let d = b.next_delay().unwrap();
            let full = (100u64 << (n - 1)).min(5_000);
            assert!(
                d <= full && d >= full / 2,
                "attempt {n}: {d} not in [{}, {full}]",
                full / 2
            );
            assert!(full >= prev_full);
            prev_full = full;
        }
        assert_eq!(b.next_delay(), None, "gives up after max_attempts");
        b.reset();
        assert!(b.next_delay().unwrap() <= 100);
    }

    #[test]
    fn same_seed_same_schedule() {
        let a: Vec<_> = {
            let mut b = Backoff::new(7);
            (0..6).map(|_| b.next_delay()).collect()
        };
        let mut b = Backoff::new(7);
        let again: Vec<_> = (0..6).map(|_| b.next_delay()).collect();
        assert_eq!(a, again);
    }

    #[test]
    fn no_jitter_is_exact() {
        let mut b = Backoff::new(1);
        b.jitter = 0.0;
        assert_eq!(b.next_delay(), Some(100));
        assert_eq!(b.next_delay(), Some(200));
    }

    #[test]
    fn status_classes() {
        assert!(status_is_retryable(500) && status_is_retryable(429) && status_is_retryable(503));
        assert!(!status_is_retryable(401) && !status_is_retryable(404));
    }

    #[test]
    fn rate_limit_headers() {
        assert_eq!(rate_limit_wait_ms(Some("1500"), None, 1000), Some(500));
        assert_eq!(rate_limit_wait_ms(Some("10"), None, 1000), Some(0));
        assert_eq!(rate_limit_wait_ms(None, Some("2"), 0), Some(2000));
        assert_eq!(rate_limit_wait_ms(None, Some("99999"), 0), Some(60_000));
        assert_eq!(rate_limit_wait_ms(Some("x"), None, 0), None);
    }
}
