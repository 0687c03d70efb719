//! Time sources for the tests of the resilience layers: the real clock, and a fake
//! one that only moves when told to.
//!
//! Retry, breaker and rate limit decisions take the current time as an argument
//! instead of reading it themselves, so that their tests need not sleep.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// A source of the current time, both monotonic and wall-clock.
///
/// Both are needed: waits and windows are measured on the monotonic clock, which
/// never jumps, but upstream servers state times on the wall clock (an HTTP-date in
/// `Retry-After`, a Unix time in `x-ratelimit-reset`).
pub trait Clock: Send + Sync + 'static {
    /// The current monotonic time.
    fn now(&self) -> Instant;
    /// The current wall-clock time.
    fn wall(&self) -> SystemTime;
}

/// The real clock of the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until [`FakeClock::advance`] moves it.
///
/// Clones share one time, so a test can keep a handle while the code under test
/// holds another. The monotonic and wall-clock readings always move together.
#[derive(Debug, Clone)]
pub struct FakeClock {
    inner: Arc<Mutex<FakeTime>>,
}

#[derive(Debug)]
struct FakeTime {
    now: Instant,
    wall: SystemTime,
}

impl FakeClock {
    /// The wall-clock time a new fake clock starts at, in seconds since the Unix
    /// epoch: 2026-01-01T00:00:00Z. Fixed so that tests can write HTTP-dates and
    /// reset times relative to a known instant.
    pub const WALL_START_UNIX_SECS: u64 = 1_767_225_600;

    /// A clock reading [`Self::WALL_START_UNIX_SECS`] on the wall clock.
    ///
    /// The monotonic reading starts at the real `Instant::now()`: an `Instant`
    /// cannot be built from nothing, and its absolute value means nothing anyway.
    pub fn new() -> FakeClock {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(Self::WALL_START_UNIX_SECS);
        FakeClock { inner: Arc::new(Mutex::new(FakeTime { now: Instant::now(), wall })) }
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut time = self.lock();
        time.now += by;
        time.wall += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeTime> {
        // The two fields are only ever updated together under the lock by code that
        // cannot panic halfway, so a poisoned lock still holds a consistent time.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for FakeClock {
    fn default() -> FakeClock {
        FakeClock::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.lock().now
    }

    fn wall(&self) -> SystemTime {
        self.lock().wall
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_starts_at_2026() {
        let clock = FakeClock::new();
        let since_epoch = clock.wall().duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(since_epoch, Duration::from_secs(1_767_225_600));
    }

    #[test]
    fn fake_clock_stands_still_until_advanced() {
        let clock = FakeClock::new();
        let (now, wall) = (clock.now(), clock.wall());
        assert_eq!(clock.now(), now);
        assert_eq!(clock.wall(), wall);
    }

    #[test]
    fn advance_moves_both_readings_and_all_clones() {
        let clock = FakeClock::new();
        let other = clock.clone();
        let (now, wall) = (clock.now(), clock.wall());
        other.advance(Duration::from_millis(1500));
        assert_eq!(clock.now() - now, Duration::from_millis(1500));
        assert_eq!(clock.wall().duration_since(wall).unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn clocks_are_usable_as_trait_objects() {
        let clocks: Vec<Box<dyn Clock>> = vec![Box::new(SystemClock), Box::new(FakeClock::new())];
        for clock in &clocks {
            let before = clock.now();
            assert!(clock.now() >= before);
        }
    }
}
