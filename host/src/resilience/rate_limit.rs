//! Client-side rate limiting: a token bucket per upstream, and pauses the upstream
//! asks for.
//!
//! [`RateLimiter::reserve`] tells the caller how long to wait before sending; it
//! never sleeps itself. Callers that reserve while the bucket is empty are queued:
//! each is told a later time than the one before, so they go out one per
//! `1 / requests_per_second` instead of all at once when a token frees up.
//!
//! An upstream can also say that it will refuse everything until some time (the
//! `x-ratelimit-*` headers read by [`upstream_pause`], or a 429's `Retry-After`);
//! [`RateLimiter::pause_until`] makes the bucket hold every request until then.

use std::time::{Duration, Instant, SystemTime};

/// How fast requests to one upstream may go out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Sustained rate. Zero, negative or NaN means no local limit: a manifest that
    /// wants to forbid requests should not grant the host at all.
    pub requests_per_second: f64,
    /// Requests that may go out back to back after a quiet spell (0 is taken as 1).
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> RateLimitConfig {
        RateLimitConfig { requests_per_second: 10.0, burst: 20 }
    }
}

/// A token bucket that starts full.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    /// Tokens added per second; infinite when there is no local limit.
    rate: f64,
    burst: f64,
    /// Tokens in the bucket at `at`; negative when callers are queued.
    tokens: f64,
    /// The time `tokens` was last brought up to date. After a pause it lies in the
    /// future: no tokens accrue until the pause ends.
    at: Instant,
    paused_until: Option<Instant>,
}

impl RateLimiter {
    /// A full bucket at `now`.
    pub fn new(cfg: RateLimitConfig, now: Instant) -> RateLimiter {
        let rate = if cfg.requests_per_second > 0.0 { cfg.requests_per_second } else { f64::INFINITY };
        let burst = f64::from(cfg.burst.max(1));
        RateLimiter { rate, burst, tokens: burst, at: now, paused_until: None }
    }

    /// Takes a token at `now` and returns how long the caller must wait before
    /// sending: zero if a token was free, otherwise the time until its turn, and
    /// never less than the time until a pause ends.
    ///
    /// The token is taken even if the caller then decides not to wait; that errs
    /// on the side of sending less.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        if now > self.at {
            let earned = (now - self.at).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + earned).min(self.burst);
            self.at = now;
        }
        self.tokens -= 1.0;
        let deficit = if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-self.tokens / self.rate).unwrap_or(Duration::MAX)
        };
        let token_wait = self.at.saturating_duration_since(now).saturating_add(deficit);
        let pause_wait = match self.paused_until {
            Some(until) if until > now => until - now,
            Some(_) => {
                self.paused_until = None;
                Duration::ZERO
            }
            None => Duration::ZERO,
        };
        token_wait.max(pause_wait)
    }

    /// Holds every request until `until`, or until a later pause already set.
    ///
    /// The bucket restarts from at most one token when the pause ends, so that the
    /// callers queued behind the pause go out paced rather than in one burst, which
    /// an upstream that just ran out of quota would likely refuse again.
    pub fn pause_until(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |current| current.max(until)));
        if until > self.at {
            self.tokens = self.tokens.min(1.0);
            self.at = until;
        }
    }

    /// The end of the current pause, if any. A pause that has ended is forgotten at
    /// the next [`Self::reserve`].
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }
}

/// Reset times above this are in milliseconds: as seconds they would be past the
/// year 5000, as milliseconds they are after 1973.
const RESET_MILLIS_ABOVE: u64 = 100_000_000_000;

/// The time until which the upstream says it will refuse requests, from the
/// headers of a response (names in lower case), or `None` if it says nothing of
/// the kind.
///
/// That is `x-ratelimit-remaining: 0` together with `x-ratelimit-reset` holding a
/// future Unix time, in seconds or milliseconds. The reset is given on the wall
/// clock and returned on the monotonic one, measured from `wall` = `now`. A reset
/// that is missing, unreadable or not in the future gives `None`: the upstream
/// will say so again, with a 429, if it really means to refuse.
pub fn upstream_pause(headers: &[(String, String)], now: Instant, wall: SystemTime) -> Option<Instant> {
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, value)| value.trim());
    let remaining: u64 = header("x-ratelimit-remaining")?.parse().ok()?;
    if remaining > 0 {
        return None;
    }
    let reset: u64 = header("x-ratelimit-reset")?.parse().ok()?;
    let reset = if reset > RESET_MILLIS_ABOVE { Duration::from_millis(reset) } else { Duration::from_secs(reset) };
    let wait = SystemTime::UNIX_EPOCH.checked_add(reset)?.duration_since(wall).ok()?;
    if wait.is_zero() {
        return None;
    }
    now.checked_add(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resilience::clock::{Clock, FakeClock};

    const MS: Duration = Duration::from_millis(1);

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults() {
        assert_eq!(RateLimitConfig::default(), RateLimitConfig { requests_per_second: 10.0, burst: 20 });
    }

    #[test]
    fn burst_goes_out_at_once_then_waits_grow_by_one_interval() {
        let clock = FakeClock::new();
        let mut limiter = RateLimiter::new(RateLimitConfig::default(), clock.now());
        for n in 0..20 {
            assert_eq!(limiter.reserve(clock.now()), Duration::ZERO, "request {n} of the burst");
        }
        assert_eq!(limiter.reserve(clock.now()), 100 * MS);
        assert_eq!(limiter.reserve(clock.now()), 200 * MS);
        assert_eq!(limiter.reserve(clock.now()), 300 * MS);
    }

    #[test]
    fn queued_callers_keep_their_turns_as_time_passes() {
        let clock = FakeClock::new();
        let mut limiter = RateLimiter::new(RateLimitConfig { requests_per_second: 10.0, burst: 1 }, clock.now());
        assert_eq!(limiter.reserve(clock.now()), Duration::ZERO);
        assert_eq!(limiter.reserve(clock.now()), 100 * MS);
        clock.advance(50 * MS);
        // The caller before is due at 100 ms, so this one at 200 ms: 150 ms from now.
        assert_eq!(limiter.reserve(clock.now()), 150 * MS);
    }

    #[test]
    fn steady_callers_are_paced_at_the_rate() {
        let clock = FakeClock::new();
        let mut limiter = RateLimiter::new(RateLimitConfig { requests_per_second: 4.0, burst: 1 }, clock.now());
        assert_eq!(limiter.reserve(clock.now()), Duration::ZERO);
        for _ in 0..10 {
            let wait = limiter.reserve(clock.now());
            assert_eq!(wait, 250 * MS);
            clock.advance(wait);
        }
    }

    #[test]
    fn bucket_refills_up_to_the_burst() {
        let clock = FakeClock::new();
        let mut limiter = RateLimiter::new(RateLimitConfig { requests_per_second: 10.0, burst: 5 }, clock.now());
        for _ in 0..5 {
            limiter.reserve(clock.now());
        }
        clock.advance(Duration::from_secs(60));
        for _ in 0..5 {
            assert_eq!(limiter.reserve(clock.now()), Duration::ZERO);
        }
        assert_eq!(limiter.reserve(clock.now()), 100 * MS);
    }

    #[test]
    fn partial_refill() {
        let clock = FakeClock::new();
        let mut limiter = RateLimiter::new(RateLimitConfig { requests_per_second: 10.0, burst: 5 }, clock.now());
        for _ in 0..5 {
            limiter.reserve(clock.now());
        }
        clock.advance(200 * MS);
        assert_eq!(limiter.reserve(clock.now()), Duration::ZERO);
        assert_eq!(limiter.reserve(clock.now()), Duration::ZERO);
        assert_eq!(limiter.reserve(clock.now()), 100 * MS);
    }

    #[test]
    fn zero_burst_is_taken_as_one() {
        let clock = FakeClock::new();
        let mut limiter = RateLimiter::new(RateLimitConfig { requests_per_second: 10.0, burst: 0 }, clock.now());
        assert_eq!(limiter.reserve(clock.now()), Duration::ZERO);
        assert_eq!(limiter.reserve(clock.now()), 100 * MS);
    }

    #[test]
    fn non_positive_rate_means_no_limit() {
        let clock = FakeClock::new();
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut limiter = RateLimiter::new(RateLimitConfig { requests_per_second: rate, burst: 1 }, clock.now());
            for _ in 0..100 {
                assert_eq!(limiter.reserve(clock.now()), Duration::ZERO, "rate {rate}");
            }
        }
    }

    #[test]
    fn pause_is_honoured() {
        let clock = FakeClock::new();
        let mut limiter = RateLimiter::new(RateLimitConfig::default(), clock.now());
        let until = clock.now() + Duration::from_secs(5);
        limiter.pause_until(until);
        assert_eq!(limiter.paused_until(), Some(until));
        assert_eq!(limiter.reserve(clock.now()), Duration::from_secs(5));
        clock.advance(Duration::from_secs(2));
        assert!(limiter.reserve(clock.now()) >= Duration::from_secs(3));
    }

    #[test]
    fn pause_keeps_the_later_end() {
        let clock = FakeClock::new();
        let mut limiter = RateLimiter::new(RateLimitConfig::default(), clock.now());
        let later = clock.now() + Duration::from_secs(10);
        limiter.pause_until(later);
        limiter.pause_until(clock.now() + Duration::from_secs(3));
        assert_eq!(limiter.paused_until(), Some(later));
        assert_eq!(limiter.reserve(clock.now()), Duration::from_secs(10));
    }

    #[test]
    fn callers_queued_behind_a_pause_are_paced_after_it() {
        let clock = FakeClock::new();
        let mut limiter = RateLimiter::new(RateLimitConfig::default(), clock.now());
        limiter.pause_until(clock.now() + Duration::from_secs(5));
        let waits: Vec<Duration> = (0..3).map(|_| limiter.reserve(clock.now())).collect();
        assert_eq!(waits, [5000 * MS, 5100 * MS, 5200 * MS]);
    }

    #[test]
    fn an_ended_pause_is_forgotten() {
        let clock = FakeClock::new();
        let mut limiter = RateLimiter::new(RateLimitConfig::default(), clock.now());
        limiter.pause_until(clock.now() + Duration::from_secs(1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(limiter.reserve(clock.now()), Duration::ZERO);
        assert_eq!(limiter.paused_until(), None);
    }

    #[test]
    fn a_pause_in_the_past_does_not_hold_requests() {
        let clock = FakeClock::new();
        let start = clock.now();
        clock.advance(Duration::from_secs(10));
        let mut limiter = RateLimiter::new(RateLimitConfig::default(), clock.now());
        limiter.pause_until(start);
        assert_eq!(limiter.reserve(clock.now()), Duration::ZERO);
    }

    #[test]
    fn upstream_pause_in_unix_seconds() {
        let clock = FakeClock::new();
        let reset = (FakeClock::WALL_START_UNIX_SECS + 30).to_string();
        let h = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)]);
        assert_eq!(upstream_pause(&h, clock.now(), clock.wall()), Some(clock.now() + Duration::from_secs(30)));
    }

    #[test]
    fn upstream_pause_in_unix_milliseconds() {
        let clock = FakeClock::new();
        let reset = (FakeClock::WALL_START_UNIX_SECS * 1000 + 1500).to_string();
        let h = headers(&[("x-ratelimit-reset", &reset), ("x-ratelimit-remaining", " 0 ")]);
        assert_eq!(upstream_pause(&h, clock.now(), clock.wall()), Some(clock.now() + 1500 * MS));
    }

    #[test]
    fn upstream_pause_measures_from_a_fractional_wall_time() {
        let clock = FakeClock::new();
        clock.advance(250 * MS);
        let reset = (FakeClock::WALL_START_UNIX_SECS + 2).to_string();
        let h = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)]);
        assert_eq!(upstream_pause(&h, clock.now(), clock.wall()), Some(clock.now() + 1750 * MS));
    }

    #[test]
    fn upstream_reset_in_the_past_or_now_is_no_pause() {
        let clock = FakeClock::new();
        for reset in [FakeClock::WALL_START_UNIX_SECS - 1, FakeClock::WALL_START_UNIX_SECS, 30, 0] {
            let h = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset.to_string())]);
            assert_eq!(upstream_pause(&h, clock.now(), clock.wall()), None, "reset {reset}");
        }
    }

    #[test]
    fn upstream_with_requests_remaining_is_no_pause() {
        let clock = FakeClock::new();
        let reset = (FakeClock::WALL_START_UNIX_SECS + 30).to_string();
        let h = headers(&[("x-ratelimit-remaining", "1"), ("x-ratelimit-reset", &reset)]);
        assert_eq!(upstream_pause(&h, clock.now(), clock.wall()), None);
    }

    #[test]
    fn upstream_headers_missing_or_garbled_are_no_pause() {
        let clock = FakeClock::new();
        let reset = (FakeClock::WALL_START_UNIX_SECS + 30).to_string();
        for h in [
            headers(&[]),
            headers(&[("x-ratelimit-remaining", "0")]),
            headers(&[("x-ratelimit-reset", &reset)]),
            headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "soon")]),
            headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "-30")]),
            headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1767225630.5")]),
            headers(&[("x-ratelimit-remaining", "none"), ("x-ratelimit-reset", &reset)]),
            headers(&[("x-ratelimit-remaining", "-1"), ("x-ratelimit-reset", &reset)]),
            headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "99999999999999999999999")]),
        ] {
            assert_eq!(upstream_pause(&h, clock.now(), clock.wall()), None, "{h:?}");
        }
    }

    #[test]
    fn upstream_pause_feeds_the_limiter() {
        let clock = FakeClock::new();
        let mut limiter = RateLimiter::new(RateLimitConfig::default(), clock.now());
        let reset = (FakeClock::WALL_START_UNIX_SECS + 7).to_string();
        let h = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)]);
        limiter.pause_until(upstream_pause(&h, clock.now(), clock.wall()).unwrap());
        assert_eq!(limiter.reserve(clock.now()), Duration::from_secs(7));
    }
}
