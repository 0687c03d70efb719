//! Whether and when to send a request again after an attempt failed.
//!
//! [`RetryPolicy::decide`] turns one failed attempt into a [`Decision`]: retry after
//! a delay, give up, or stop and tell the guest it is rate limited. It does not
//! sleep and reads no clock; the caller passes in everything (the attempt count,
//! the parsed `Retry-After`, a jitter sample), which keeps every branch testable.
//!
//! Only transient failures are retried, and only for idempotent methods unless the
//! manifest says otherwise: repeating a `POST` the server may already have acted on
//! could create a record twice.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

/// How a connector's requests are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Most retries after the first attempt (so at most `max_retries + 1` attempts).
    pub max_retries: u32,
    /// Delay before the first retry; it doubles with each retry after that.
    pub base_delay: Duration,
    /// Longest delay between two attempts, jitter included.
    pub max_delay: Duration,
    /// Longest `Retry-After` the host waits out itself. A longer one is handed to
    /// the guest as a rate-limit error with the wait, rather than holding the run.
    pub max_retry_after: Duration,
    /// Relative spread of the backoff delay: 0.2 spreads it over ±20%, so that
    /// clients that failed together do not all come back at the same instant.
    pub jitter: f64,
    /// Retry methods that are not idempotent (`POST`, `PATCH`) too.
    pub retry_non_idempotent: bool,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            jitter: 0.2,
            retry_non_idempotent: false,
        }
    }
}

/// What one attempt ended with, as far as retrying cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The upstream answered with this (unsuccessful) HTTP status.
    Status(u16),
    /// No complete answer arrived in time.
    Timeout,
    /// The connection was reset by the peer.
    ConnectionReset,
    /// The connection was refused.
    ConnectionRefused,
    /// The response body ended before its declared length.
    TruncatedBody,
    /// Any other network failure that another attempt would not fix, such as a
    /// name that does not resolve or a TLS certificate that does not verify.
    Other,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status(status) => write!(f, "status {status}"),
            Failure::Timeout => f.write_str("timeout"),
            Failure::ConnectionReset => f.write_str("connection reset"),
            Failure::ConnectionRefused => f.write_str("connection refused"),
            Failure::TruncatedBody => f.write_str("truncated body"),
            Failure::Other => f.write_str("network failure"),
        }
    }
}

/// Whether another attempt might succeed where this one failed.
///
/// The list is deliberately short. A plain 500 is not on it: it usually means the
/// request itself trips a bug upstream, and repeating it only repeats the bug.
pub fn is_transient(failure: &Failure) -> bool {
    matches!(
        failure,
        Failure::Status(408 | 429 | 502 | 503 | 504)
            | Failure::Timeout
            | Failure::ConnectionReset
            | Failure::ConnectionRefused
            | Failure::TruncatedBody
    )
}

/// Whether sending a request with this method twice has the same effect as sending
/// it once (RFC 9110 §9.2.2). Case-insensitive, although methods are case-sensitive
/// on the wire, because a guest writing `get` surely means `GET`.
pub fn is_idempotent(method: &str) -> bool {
    ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"].iter().any(|m| m.eq_ignore_ascii_case(method))
}

/// The wait a `Retry-After` header value asks for, measured from the wall-clock
/// time `now`.
///
/// Accepts delta-seconds (`120`) and the three HTTP-date forms of RFC 9110 §5.6.7:
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`). A
/// date already past gives [`Duration::ZERO`]; anything else gives `None`. Delta
/// seconds too large for a `u64` saturate, so callers adding the result to an
/// `Instant` should use `checked_add`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Only digits, so the parse can fail only by overflowing.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(value, now)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An HTTP-date in any of its three forms; `now` resolves the century of a
/// two-digit RFC 850 year.
///
/// Not the `httpdate` crate (which hyper brings in), because it reads what servers
/// send differently from RFC 9110 in ways that matter for a wait: it puts a
/// two-digit year below 70 in 20xx instead of the 50-years-ahead rule, refuses a
/// leap second (`23:59:60`), a date before 1970 and a weekday that does not match
/// the date, where a server still meant that time. On the IMF-fixdate every
/// current server sends, the two agree (a test compares them over a century).
fn parse_http_date(value: &str, now: SystemTime) -> Option<SystemTime> {
    let fields: Vec<&str> = value.split_whitespace().collect();
    // The weekday is checked to be a weekday name but not checked against the date:
    // the date alone is unambiguous, and a server that names the wrong day still
    // meant that date.
    let (year, month, day, clock) = match fields.as_slice() {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [weekday, day, month, year, clock, "GMT"] => {
            let weekday = weekday.strip_suffix(',')?;
            (is_weekday(weekday, 3) && day.len() == 2 && year.len() == 4).then_some(())?;
            (year.parse().ok()?, month_number(month)?, day.parse().ok()?, *clock)
        }
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        [weekday, date, clock, "GMT"] => {
            let weekday = weekday.strip_suffix(',')?;
            let mut parts = date.split('-');
            let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
            let full_weekday = weekday.len() > 3 && is_weekday(weekday, weekday.len());
            (full_weekday && parts.next().is_none() && day.len() == 2 && year.len() == 2).then_some(())?;
            (two_digit_year(year.parse().ok()?, now), month_number(month)?, day.parse().ok()?, *clock)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [weekday, month, day, clock, year] => {
            (is_weekday(weekday, 3) && (1..=2).contains(&day.len()) && year.len() == 4).then_some(())?;
            (year.parse().ok()?, month_number(month)?, day.parse().ok()?, *clock)
        }
        _ => return None,
    };
    let (hour, minute, second) = parse_clock(clock)?;
    let date = time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let time = time::Time::from_hms(hour, minute, second).ok()?;
    let unix = time::PrimitiveDateTime::new(date, time).assume_utc().unix_timestamp();
    match u64::try_from(unix) {
        Ok(secs) => SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)),
        Err(_) => SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(unix.unsigned_abs())),
    }
}

/// Whether `name` is a weekday name cut to `len` letters (3 for `Sun`, the full
/// length for `Sunday`).
fn is_weekday(name: &str, len: usize) -> bool {
    ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        .iter()
        .any(|day| day.get(..len).is_some_and(|day| day.eq_ignore_ascii_case(name)))
}

/// 1 for `Jan` to 12 for `Dec`.
fn month_number(name: &str) -> Option<u8> {
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let index = months.iter().position(|m| m.eq_ignore_ascii_case(name))?;
    u8::try_from(index + 1).ok()
}

/// `HH:MM:SS`, two digits each.
fn parse_clock(clock: &str) -> Option<(u8, u8, u8)> {
    let mut parts = clock.split(':');
    let mut next = || parts.next().filter(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))?.parse().ok();
    let (hour, minute, second) = (next()?, next()?, next()?);
    if parts.next().is_some() {
        return None;
    }
    // The grammar allows a leap second; `time` does not represent one, and one
    // second early is harmless for a retry time.
    Some((hour, minute, if second == 60 { 59 } else { second }))
}

/// The full year of a two-digit RFC 850 year: RFC 9110 §5.6.7 says a year that
/// would be more than 50 years in the future is the most recent past one instead.
fn two_digit_year(yy: i32, now: SystemTime) -> i32 {
    let now_secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let this_year = i64::try_from(now_secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .map_or(1970, |t| t.year());
    let year = this_year - this_year.rem_euclid(100) + yy;
    if year > this_year + 50 { year - 100 } else { year }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then send the request again.
    Retry(Duration),
    /// Do not retry; hand the failure to the guest.
    GiveUp,
    /// Do not retry; tell the guest it is rate limited and must wait this long.
    RateLimited(Duration),
}

impl RetryPolicy {
    /// What to do after an attempt ended with `failure`.
    ///
    /// `retries_done` counts the retries already made (0 after the first attempt),
    /// `retry_after` is the parsed `Retry-After` of the response if it had one, and
    /// `jitter_sample` is a number in `[0, 1)`, normally from [`jitter_sample`].
    pub fn decide(
        &self,
        retries_done: u32,
        idempotent: bool,
        failure: &Failure,
        retry_after: Option<Duration>,
        jitter_sample: f64,
    ) -> Decision {
        if !is_transient(failure) || (!idempotent && !self.retry_non_idempotent) {
            return Decision::GiveUp;
        }
        if let Some(wait) = retry_after
            && wait > self.max_retry_after
        {
            // Holding the run for minutes would look like a hang; the guest can
            // decide to checkpoint and stop, or wait itself.
            return Decision::RateLimited(wait);
        }
        if retries_done >= self.max_retries {
            return match (failure, retry_after) {
                // The guest can do something useful with the wait a 429 named.
                (Failure::Status(429), Some(wait)) => Decision::RateLimited(wait),
                _ => Decision::GiveUp,
            };
        }
        match retry_after {
            // Exactly as asked: jitter could make the retry early, which a server
            // that rate limits would answer with another 429.
            Some(wait) => Decision::Retry(wait),
            None => Decision::Retry(self.backoff(retries_done, jitter_sample)),
        }
    }

    /// The delay before retry number `retries_done + 1` when the server named none:
    /// `base_delay * 2^retries_done`, capped at `max_delay`, spread by `jitter`
    /// according to `jitter_sample` in `[0, 1)`, and capped again.
    ///
    /// Out-of-range inputs are clamped rather than trusted, because
    /// `Duration` arithmetic panics on negative or non-finite factors.
    pub fn backoff(&self, retries_done: u32, jitter_sample: f64) -> Duration {
        let exponential = 2u32
            .checked_pow(retries_done)
            .and_then(|factor| self.base_delay.checked_mul(factor))
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let jitter = if self.jitter.is_finite() { self.jitter.clamp(0.0, 1.0) } else { 0.0 };
        let sample = if jitter_sample.is_finite() { jitter_sample.clamp(0.0, 1.0) } else { 0.5 };
        let factor = 1.0 - jitter + 2.0 * jitter * sample;
        Duration::try_from_secs_f64(exponential.as_secs_f64() * factor).unwrap_or(self.max_delay).min(self.max_delay)
    }
}

thread_local! {
    static JITTER_STATE: Cell<u64> = Cell::new(jitter_seed());
}

/// A number in `[0, 1)` for [`RetryPolicy::decide`], from a per-thread xorshift
/// generator.
///
/// Jitter only has to differ between clients and between retries, not resist
/// prediction, so this avoids a dependency on a random-number crate.
pub fn jitter_sample() -> f64 {
    JITTER_STATE.with(|state| {
        // xorshift64* (Vigna, 2016).
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        let out = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        // The top 53 bits fill an f64 mantissa exactly, so the result stays below 1.
        (out >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// A seed that differs between processes and threads: `RandomState` is seeded by
/// the operating system, and the time is mixed in for good measure.
fn jitter_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    // xorshift has a fixed point at zero.
    hasher.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// 2026-01-01T00:00:00Z, the start of the fake clock.
    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    fn no_jitter() -> RetryPolicy {
        RetryPolicy { jitter: 0.0, ..RetryPolicy::default() }
    }

    #[test]
    fn defaults() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_retries, 3);
        assert_eq!(policy.base_delay, SECOND);
        assert_eq!(policy.max_delay, 30 * SECOND);
        assert_eq!(policy.max_retry_after, 60 * SECOND);
        assert_eq!(policy.jitter, 0.2);
        assert!(!policy.retry_non_idempotent);
    }

    #[test]
    fn transient_statuses() {
        for status in [408, 429, 502, 503, 504] {
            assert!(is_transient(&Failure::Status(status)), "{status} should be transient");
        }
    }

    #[test]
    fn other_statuses_are_not_transient() {
        for status in [200, 301, 400, 401, 403, 404, 409, 422, 500, 501, 505, 599] {
            assert!(!is_transient(&Failure::Status(status)), "{status} should not be transient");
        }
    }

    #[test]
    fn transient_network_failures() {
        for failure in [Failure::Timeout, Failure::ConnectionReset, Failure::ConnectionRefused, Failure::TruncatedBody]
        {
            assert!(is_transient(&failure), "{failure} should be transient");
        }
        assert!(!is_transient(&Failure::Other));
    }

    #[test]
    fn idempotent_methods() {
        for method in ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "get", "Put"] {
            assert!(is_idempotent(method), "{method}");
        }
        for method in ["POST", "PATCH", "CONNECT", "post", "", "GETX"] {
            assert!(!is_idempotent(method), "{method}");
        }
    }

    #[test]
    fn failures_display() {
        assert_eq!(Failure::Status(503).to_string(), "status 503");
        assert_eq!(Failure::TruncatedBody.to_string(), "truncated body");
    }

    #[test]
    fn retry_after_delta_seconds() {
        assert_eq!(parse_retry_after("120", now()), Some(120 * SECOND));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("99999999999999999999999", now()), Some(Duration::from_secs(u64::MAX)));
    }

    #[test]
    fn retry_after_imf_fixdate() {
        assert_eq!(parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now()), Some(30 * SECOND));
        assert_eq!(
            parse_retry_after("Fri, 02 Jan 2026 01:02:03 GMT", now()),
            Some(Duration::from_secs(86_400 + 3_723))
        );
    }

    #[test]
    fn retry_after_date_is_measured_from_a_fractional_now() {
        let now = now() + Duration::from_millis(250);
        assert_eq!(parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now), Some(Duration::from_millis(29_750)));
    }

    #[test]
    fn retry_after_obsolete_date_forms() {
        assert_eq!(parse_retry_after("Thursday, 01-Jan-26 00:01:00 GMT", now()), Some(60 * SECOND));
        assert_eq!(parse_retry_after("Thu Jan  1 00:01:00 2026", now()), Some(60 * SECOND));
    }

    #[test]
    fn retry_after_rfc850_year_more_than_50_years_ahead_is_in_the_past() {
        // 2094 would be 68 years ahead, so `94` means 1994.
        assert_eq!(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now()), Some(Duration::ZERO));
        assert_eq!(two_digit_year(94, now()), 1994);
        assert_eq!(two_digit_year(76, now()), 2076);
        assert_eq!(two_digit_year(77, now()), 1977);
    }

    #[test]
    fn retry_after_date_in_the_past_is_zero() {
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now()), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 31 Dec 2025 23:59:59 GMT", now()), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", now()), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_leap_second_is_accepted() {
        assert_eq!(parse_retry_after("Thu, 01 Jan 2026 00:00:60 GMT", now()), Some(59 * SECOND));
    }

    #[test]
    fn retry_after_garbage_is_none() {
        for value in [
            "",
            "   ",
            "soon",
            "-5",
            "+5",
            "1.5",
            "5s",
            "Thu, 01 Jan 2026 00:00:30",
            "Thu, 01 Jan 2026 00:00:30 UTC",
            "Thu, 01 Jan 2026 00:00:30 +0000",
            "Thu 01 Jan 2026 00:00:30 GMT",
            "Xyz, 01 Jan 2026 00:00:30 GMT",
            "Thu, 1 Jan 2026 00:00:30 GMT",
            "Thu, 01 Foo 2026 00:00:30 GMT",
            "Thu, 01 Jan 26 00:00:30 GMT",
            "Thu, 32 Jan 2026 00:00:30 GMT",
            "Thu, 30 Feb 2026 00:00:30 GMT",
            "Thu, 01 Jan 2026 24:00:00 GMT",
            "Thu, 01 Jan 2026 0:00:30 GMT",
            "Thu, 01 Jan 2026 00:00 GMT",
            "Thu, 01 Jan 2026 00:00:30:00 GMT",
            "Thu, 01 Jan 2026 00:00:+1 GMT",
            "Thu, 01-Jan-26 00:01:00 GMT",
            "Thursday, 01-Jan-2026 00:01:00 GMT",
            "Thursday, 01-Jan-26-1 00:01:00 GMT",
            "Thu Jan 1 00:01:00 26",
        ] {
            assert_eq!(parse_retry_after(value, now()), None, "{value:?}");
        }
    }

    #[test]
    fn non_transient_failures_give_up() {
        let policy = RetryPolicy::default();
        for failure in [Failure::Status(500), Failure::Status(404), Failure::Other] {
            assert_eq!(policy.decide(0, true, &failure, None, 0.5), Decision::GiveUp, "{failure}");
        }
        // Even with a Retry-After: a 500 is not retried whatever the server says.
        assert_eq!(policy.decide(0, true, &Failure::Status(500), Some(SECOND), 0.5), Decision::GiveUp);
    }

    #[test]
    fn non_idempotent_requests_are_not_retried() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.decide(0, false, &Failure::Status(503), None, 0.5), Decision::GiveUp);
        assert_eq!(policy.decide(0, false, &Failure::Timeout, None, 0.5), Decision::GiveUp);
        assert_eq!(policy.decide(0, false, &Failure::Status(429), Some(120 * SECOND), 0.5), Decision::GiveUp);
    }

    #[test]
    fn non_idempotent_requests_are_retried_when_allowed() {
        let policy = RetryPolicy { retry_non_idempotent: true, ..no_jitter() };
        assert_eq!(policy.decide(0, false, &Failure::Status(503), None, 0.5), Decision::Retry(SECOND));
    }

    #[test]
    fn exponential_backoff_without_jitter() {
        let policy = no_jitter();
        let delays: Vec<Decision> = (0..3).map(|n| policy.decide(n, true, &Failure::Timeout, None, 0.9)).collect();
        assert_eq!(delays, [Decision::Retry(SECOND), Decision::Retry(2 * SECOND), Decision::Retry(4 * SECOND)]);
    }

    #[test]
    fn gives_up_after_max_retries() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.decide(3, true, &Failure::Status(503), None, 0.5), Decision::GiveUp);
        assert_eq!(policy.decide(4, true, &Failure::Timeout, None, 0.5), Decision::GiveUp);
        assert_eq!(policy.decide(3, true, &Failure::Status(503), Some(5 * SECOND), 0.5), Decision::GiveUp);
    }

    #[test]
    fn exhausted_429_with_retry_after_is_rate_limited() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.decide(3, true, &Failure::Status(429), Some(5 * SECOND), 0.5),
            Decision::RateLimited(5 * SECOND)
        );
        assert_eq!(policy.decide(3, true, &Failure::Status(429), None, 0.5), Decision::GiveUp);
    }

    #[test]
    fn zero_max_retries_never_retries() {
        let policy = RetryPolicy { max_retries: 0, ..RetryPolicy::default() };
        assert_eq!(policy.decide(0, true, &Failure::Status(503), None, 0.5), Decision::GiveUp);
    }

    #[test]
    fn retry_after_is_used_exactly() {
        let policy = RetryPolicy::default();
        for sample in [0.0, 0.5, 0.999] {
            assert_eq!(
                policy.decide(0, true, &Failure::Status(429), Some(7 * SECOND), sample),
                Decision::Retry(7 * SECOND)
            );
        }
        // Longer than `max_delay` but within `max_retry_after`: still waited out, because
        // retrying earlier than asked would only earn another 429.
        assert_eq!(policy.decide(2, true, &Failure::Status(503), Some(45 * SECOND), 0.5), Decision::Retry(45 * SECOND));
        assert_eq!(
            policy.decide(0, true, &Failure::Status(429), Some(Duration::ZERO), 0.5),
            Decision::Retry(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_at_the_limit_is_waited_out() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.decide(0, true, &Failure::Status(429), Some(60 * SECOND), 0.5), Decision::Retry(60 * SECOND));
    }

    #[test]
    fn retry_after_over_the_limit_is_rate_limited_even_with_retries_left() {
        let policy = RetryPolicy::default();
        let wait = 61 * SECOND;
        assert_eq!(policy.decide(0, true, &Failure::Status(429), Some(wait), 0.5), Decision::RateLimited(wait));
        assert_eq!(policy.decide(0, true, &Failure::Status(503), Some(wait), 0.5), Decision::RateLimited(wait));
        assert_eq!(policy.decide(3, true, &Failure::Status(503), Some(wait), 0.5), Decision::RateLimited(wait));
    }

    #[test]
    fn backoff_is_capped_at_max_delay() {
        let policy = no_jitter();
        assert_eq!(policy.backoff(4, 0.5), 16 * SECOND);
        assert_eq!(policy.backoff(5, 0.5), 30 * SECOND);
        assert_eq!(policy.backoff(31, 0.5), 30 * SECOND);
        assert_eq!(policy.backoff(32, 0.5), 30 * SECOND);
        assert_eq!(policy.backoff(u32::MAX, 0.5), 30 * SECOND);
        let huge = RetryPolicy { base_delay: Duration::MAX, max_delay: Duration::MAX, ..no_jitter() };
        assert_eq!(huge.backoff(3, 0.5), Duration::MAX);
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(1600));
        assert_eq!(policy.backoff(1, 0.5), 2 * SECOND);
        let high = policy.backoff(1, 0.999_999);
        assert!(high < Duration::from_millis(2400) && high > Duration::from_millis(2399), "{high:?}");
        for _ in 0..1000 {
            let delay = policy.backoff(2, jitter_sample());
            assert!(delay >= Duration::from_millis(3200) && delay < Duration::from_millis(4800), "{delay:?}");
        }
    }

    #[test]
    fn jitter_never_exceeds_max_delay() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(10, 0.999), 30 * SECOND);
        assert_eq!(policy.backoff(10, 0.0), 24 * SECOND);
    }

    #[test]
    fn out_of_range_jitter_inputs_are_clamped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(0, -3.0), Duration::from_millis(800));
        assert_eq!(policy.backoff(0, f64::NAN), SECOND);
        let wild = RetryPolicy { jitter: 5.0, ..RetryPolicy::default() };
        assert_eq!(wild.backoff(0, 0.0), Duration::ZERO);
        let nan = RetryPolicy { jitter: f64::NAN, ..RetryPolicy::default() };
        assert_eq!(nan.backoff(0, 0.0), SECOND);
    }

    #[test]
    fn jitter_samples_are_in_range_and_vary() {
        let samples: Vec<f64> = (0..1000).map(|_| jitter_sample()).collect();
        assert!(samples.iter().all(|s| (0.0..1.0).contains(s)));
        let low = samples.iter().filter(|s| **s < 0.5).count();
        // A fair coin lands outside 400..600 of 1000 with a probability around 1e-10.
        assert!((400..600).contains(&low), "{low} of 1000 below 0.5");
    }

    /// On the form servers send today, this parser and the `httpdate` crate agree,
    /// every day and at every hour over a century.
    #[test]
    fn imf_fixdates_parse_as_the_httpdate_crate_reads_them() {
        let mut at = SystemTime::UNIX_EPOCH + Duration::from_secs(13 * 3600 + 7 * 60 + 9);
        let end = SystemTime::UNIX_EPOCH + Duration::from_secs(100 * 365 * 86_400);
        let mut checked = 0;
        while at < end {
            let text = httpdate::fmt_http_date(at);
            assert_eq!(parse_http_date(&text, at), Some(at), "{text}");
            assert_eq!(httpdate::parse_http_date(&text).ok(), Some(at), "{text}");
            at += Duration::from_secs(86_400 + 3_607);
            checked += 1;
        }
        assert!(checked > 35_000, "{checked}");
    }
}
