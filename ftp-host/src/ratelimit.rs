//! Transfer rate limits: a pure token bucket ([`RateLimit`]) that is told the time and says
//! how long to wait, and the slice size that keeps a limited transfer smooth.
//!
//! The bucket reads no clock: the transfer's file side passes `Instant::now()` and sleeps for
//! what it is told, so the arithmetic is tested with made-up instants. It keeps at most
//! [`CATCH_UP`] of credit from time not used (a sleep that overslept on a busy machine, a
//! pause), so a transfer of `n` bytes at `rate` bytes per second takes at least
//! `n / rate - CATCH_UP` seconds from its first byte, and a pause buys no burst beyond that.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

/// Smallest slice a limited transfer moves at once: below this the per-slice overhead (a
/// sleep, a channel send) outweighs the smoothness.
const MIN_SLICE: usize = 1024;

/// Slices per second a limited transfer aims for: each waits about 1/8 s, smooth enough for
/// a client's rate display, coarse enough to cost nothing.
const SLICES_PER_SECOND: u64 = 8;

/// Most time a limited transfer may make up after falling behind its rate: sleeps overshoot
/// (more so on a loaded machine), and without it every overshoot would be lost for good.
pub const CATCH_UP: Duration = Duration::from_millis(100);

/// A token bucket of `rate` bytes per second, driven by the caller's clock, whose burst is
/// at most [`CATCH_UP`] worth of bytes.
#[derive(Debug, Clone)]
pub struct RateLimit {
    rate: NonZeroU64,
    /// When the bytes taken so far are paid for; `None` before the first take.
    paid_until: Option<Instant>,
}

impl RateLimit {
    /// A limit of `rate` bytes per second.
    pub fn new(rate: NonZeroU64) -> RateLimit {
        RateLimit {
            rate,
            paid_until: None,
        }
    }

    /// The rate in bytes per second.
    pub fn rate(&self) -> NonZeroU64 {
        self.rate
    }

    /// How many bytes to move between two calls of [`take`](Self::take): about an eighth of a
    /// second's worth, at least 1 KiB, at most `max`.
    pub fn slice(&self, max: usize) -> usize {
        let per_slice = self.rate.get() / SLICES_PER_SECOND;
        usize::try_from(per_slice)
            .unwrap_or(usize::MAX)
            .max(MIN_SLICE)
            .min(max.max(1))
    }

    /// Accounts for `n` bytes about to move at `now` and returns how long to wait before
    /// moving them, so that the bytes taken so far never run ahead of the rate by more than
    /// [`CATCH_UP`]. The first take waits its whole cost.
    pub fn take(&mut self, now: Instant, n: usize) -> Duration {
        let start = match self.paid_until {
            Some(t) => t.max(now.checked_sub(CATCH_UP).unwrap_or(now)),
            None => now,
        };
        let cost = Duration::from_nanos(
            (n as u128 * 1_000_000_000 / u128::from(self.rate.get()))
                .try_into()
                .unwrap_or(u64::MAX),
        );
        let Some(until) = start.checked_add(cost) else {
            // Past what an Instant can hold: wait the cost, as good as for ever.
            return cost;
        };
        self.paid_until = Some(until);
        until.saturating_duration_since(now)
    }
}

/// Takes `n` bytes from `limit`, if any, and sleeps for the wait: for a blocking thread.
pub(crate) fn pace(limit: Option<&mut RateLimit>, n: usize) {
    if let Some(limit) = limit {
        let wait = limit.take(Instant::now(), n);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(r: u64) -> RateLimit {
        RateLimit::new(NonZeroU64::new(r).unwrap())
    }

    #[test]
    fn the_first_bytes_wait_their_cost() {
        let t0 = Instant::now();
        let mut l = rate(1000);
        assert_eq!(l.take(t0, 500), Duration::from_millis(500));
    }

    #[test]
    fn back_to_back_takes_add_up_to_the_rate() {
        let t0 = Instant::now();
        let mut l = rate(1000);
        // A caller that sleeps exactly as told moves 10 x 100 bytes in 1 s.
        let mut now = t0;
        for _ in 0..10 {
            now += l.take(now, 100);
        }
        assert_eq!(now - t0, Duration::from_secs(1));
        // One that takes all at once is told to wait the whole cost.
        let mut l = rate(1000);
        assert_eq!(l.take(t0, 100), Duration::from_millis(100));
        assert_eq!(l.take(t0, 100), Duration::from_millis(200));
        assert_eq!(
            l.take(t0 + Duration::from_millis(50), 100),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn idle_time_earns_no_more_than_the_catch_up() {
        let t0 = Instant::now();
        let mut l = rate(1000);
        l.take(t0, 100);
        // Ten seconds idle, then a take pays its cost less CATCH_UP.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(l.take(later, 1000), Duration::from_secs(1) - CATCH_UP);
    }

    #[test]
    fn a_late_caller_makes_up_for_an_overslept_wait() {
        let t0 = Instant::now();
        let mut l = rate(1000);
        assert_eq!(l.take(t0, 100), Duration::from_millis(100));
        // Woke up 50 ms late: the next slice waits that much less.
        let late = t0 + Duration::from_millis(150);
        assert_eq!(l.take(late, 100), Duration::from_millis(50));
        // Far behind: no more than CATCH_UP is made up.
        let later = late + Duration::from_secs(5);
        assert_eq!(l.take(later, 100), Duration::ZERO);
        assert_eq!(l.take(later, 100), Duration::from_millis(100));
        assert_eq!(l.take(later, 100), Duration::from_millis(200));
        // 1 s worth of 100-byte slices at a caller that always oversleeps by 30 ms still
        // ends close to 1 s (the CATCH_UP absorbs each overshoot).
        let mut l = rate(1000);
        let t = Instant::now();
        let mut now = t;
        for _ in 0..10 {
            now += l.take(now, 100) + Duration::from_millis(30);
        }
        assert!(now - t <= Duration::from_millis(1030), "{:?}", now - t);
    }

    #[test]
    fn huge_counts_and_rates_do_not_overflow() {
        let t0 = Instant::now();
        let mut l = rate(1);
        let w = l.take(t0, usize::MAX);
        assert!(w >= Duration::from_secs(1 << 30));
        let mut l = rate(u64::MAX);
        assert_eq!(l.take(t0, 1), Duration::ZERO);
    }

    #[test]
    fn slices_are_an_eighth_of_a_second_within_bounds() {
        assert_eq!(rate(256 * 1024).slice(256 * 1024), 32 * 1024);
        assert_eq!(rate(100).slice(256 * 1024), 1024);
        assert_eq!(rate(u64::MAX).slice(256 * 1024), 256 * 1024);
        assert_eq!(rate(100).slice(10), 10);
        assert_eq!(rate(100).slice(0), 1);
    }
}
