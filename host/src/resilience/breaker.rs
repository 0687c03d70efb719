//! Circuit breakers: stop sending to an upstream that keeps failing, then probe it.
//!
//! A [`CircuitBreaker`] is closed while requests succeed. After
//! `failure_threshold` consecutive failures it opens, and requests fail fast
//! without reaching the network. Once `reset_after` has passed it turns half-open
//! and lets a few probe requests through: a probe that succeeds closes it, one that
//! fails opens it again for another `reset_after`.
//!
//! Which outcomes count as failures is the caller's call; this module only counts.
//! Every `Ok` from [`CircuitBreaker::acquire`] must be followed by exactly one of
//! [`on_success`](CircuitBreaker::on_success), [`on_failure`](CircuitBreaker::on_failure)
//! or [`on_neutral`](CircuitBreaker::on_neutral), including when the request is
//! abandoned, so that half-open probe slots are given back.
//!
//! [`Breakers`] keeps one breaker per connector and upstream, shared by all runs:
//! an upstream that is down for one run is down for the next one too.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// When a breaker opens, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open a closed breaker (0 is taken as 1).
    pub failure_threshold: u32,
    /// How long an open breaker rejects requests before it lets a probe through.
    pub reset_after: Duration,
    /// Requests let through at once while half-open (0 is taken as 1, or the
    /// breaker could never close again).
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> BreakerConfig {
        BreakerConfig { failure_threshold: 5, reset_after: Duration::from_secs(30), half_open_probes: 1 }
    }
}

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    /// Requests go through; consecutive failures are counted.
    Closed,
    /// Requests are rejected until the reset window has passed.
    Open,
    /// A limited number of probe requests go through to test the upstream.
    HalfOpen,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        })
    }
}

/// Most transitions kept for [`CircuitBreaker::take_transitions`]. A breaker shared
/// by a long-lived process may never be drained; the total count stays exact.
const MAX_PENDING_TRANSITIONS: usize = 64;

/// A circuit breaker for one upstream.
#[derive(Debug)]
pub struct CircuitBreaker {
    cfg: BreakerConfig,
    state: BreakerState,
    consecutive_failures: u32,
    /// When the breaker last opened; meaningful while open.
    opened_at: Instant,
    /// Probes let through and not yet reported; meaningful while half-open.
    probes_in_flight: u32,
    /// When the last probe was let through; meaningful while half-open.
    last_probe_at: Instant,
    transitions: u64,
    pending: Vec<(BreakerState, BreakerState)>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(cfg: BreakerConfig) -> CircuitBreaker {
        // Placeholder instants, never read before being set (see the field docs).
        let now = Instant::now();
        CircuitBreaker {
            cfg,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            opened_at: now,
            probes_in_flight: 0,
            last_probe_at: now,
            transitions: 0,
            pending: Vec::new(),
        }
    }

    /// Asks to send a request at `now`: `Ok` if it may go, or `Err` with how long
    /// until it is worth asking again.
    ///
    /// An open breaker whose reset window has passed turns half-open here, and the
    /// request that found it so is the first probe. While half-open and all probe
    /// slots are taken, the wait is the time until the oldest probe is presumed
    /// lost: a probe that never reports back (its outcome dropped by a bug) would
    /// otherwise keep the breaker half-open, and rejecting, forever.
    pub fn acquire(&mut self, now: Instant) -> Result<(), Duration> {
        match self.state {
            BreakerState::Closed => Ok(()),
            BreakerState::Open => {
                let open_for = now.saturating_duration_since(self.opened_at);
                if open_for < self.cfg.reset_after {
                    return Err(self.cfg.reset_after - open_for);
                }
                self.transition(BreakerState::HalfOpen);
                self.probes_in_flight = 1;
                self.last_probe_at = now;
                Ok(())
            }
            BreakerState::HalfOpen => {
                if self.probes_in_flight < self.cfg.half_open_probes.max(1) {
                    self.probes_in_flight += 1;
                    self.last_probe_at = now;
                    return Ok(());
                }
                let probing_for = now.saturating_duration_since(self.last_probe_at);
                if probing_for < self.cfg.reset_after {
                    return Err(self.cfg.reset_after - probing_for);
                }
                // The probes in flight have been out for a whole reset window; take
                // them as lost and let this request probe instead.
                self.probes_in_flight = 1;
                self.last_probe_at = now;
                Ok(())
            }
        }
    }

    /// Reports that a request succeeded.
    ///
    /// A success while open is ignored: it was sent before the breaker opened, and
    /// says less about the upstream now than the failures that opened it.
    /// `now` is taken for symmetry with [`Self::on_failure`], so that callers pass the
    /// same arguments to every report.
    pub fn on_success(&mut self, _now: Instant) {
        match self.state {
            BreakerState::Closed => self.consecutive_failures = 0,
            BreakerState::HalfOpen => {
                self.transition(BreakerState::Closed);
                self.consecutive_failures = 0;
                self.probes_in_flight = 0;
            }
            BreakerState::Open => {}
        }
    }

    /// Reports that a request failed at `now`.
    ///
    /// A failure while open is ignored, so that late failures of requests sent
    /// before the breaker opened do not keep pushing its reset window back.
    pub fn on_failure(&mut self, now: Instant) {
        match self.state {
            BreakerState::Closed => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                if self.consecutive_failures >= self.cfg.failure_threshold.max(1) {
                    self.open(now);
                }
            }
            BreakerState::HalfOpen => self.open(now),
            BreakerState::Open => {}
        }
    }

    /// Reports an outcome that says nothing about the upstream's health (a 4xx, a
    /// request the host denied): it neither counts as a failure nor resets the
    /// count, and gives back a half-open probe slot.
    pub fn on_neutral(&mut self) {
        if self.state == BreakerState::HalfOpen {
            self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
        }
    }

    /// The current state. An open breaker whose window has passed still reads open
    /// until the next [`Self::acquire`].
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// How many state changes this breaker has made in its life.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// The state changes made since the last call, oldest first, as `(from, to)`.
    /// Only the latest few are kept if nobody asks.
    pub fn take_transitions(&mut self) -> Vec<(BreakerState, BreakerState)> {
        std::mem::take(&mut self.pending)
    }

    fn open(&mut self, now: Instant) {
        self.transition(BreakerState::Open);
        self.opened_at = now;
        self.consecutive_failures = 0;
        self.probes_in_flight = 0;
    }

    fn transition(&mut self, to: BreakerState) {
        let from = std::mem::replace(&mut self.state, to);
        self.transitions += 1;
        if self.pending.len() == MAX_PENDING_TRANSITIONS {
            self.pending.remove(0);
        }
        self.pending.push((from, to));
    }
}

/// The circuit breakers of all connectors, one per connector and upstream, shared
/// by all runs (put it in an `Arc`).
#[derive(Debug, Default)]
pub struct Breakers {
    cfg: BreakerConfig,
    breakers: Mutex<HashMap<(String, String), CircuitBreaker>>,
}

impl Breakers {
    /// An empty registry; breakers are created closed, with `cfg`, on first use.
    pub fn new(cfg: BreakerConfig) -> Breakers {
        Breakers { cfg, breakers: Mutex::new(HashMap::new()) }
    }

    /// Runs `f` on the breaker of `connector` talking to `upstream` (a host name, or
    /// whatever key the caller groups requests by), creating it if needed.
    ///
    /// The registry is locked while `f` runs, so `f` should only decide, never wait.
    pub fn with<R>(&self, connector: &str, upstream: &str, f: impl FnOnce(&mut CircuitBreaker) -> R) -> R {
        let mut breakers = self.lock();
        let breaker = breakers
            .entry((connector.to_owned(), upstream.to_owned()))
            .or_insert_with(|| CircuitBreaker::new(self.cfg));
        f(breaker)
    }

    /// Every breaker's state as `(connector, upstream, state)`, sorted, for metrics.
    pub fn snapshot(&self) -> Vec<(String, String, BreakerState)> {
        let mut states: Vec<_> = self
            .lock()
            .iter()
            .map(|((connector, upstream), b)| (connector.clone(), upstream.clone(), b.state))
            .collect();
        // Keys are unique, so the order of the states never matters.
        states.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        states
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), CircuitBreaker>> {
        // A panic in a caller's closure can leave one breaker with a request
        // unreported, which `acquire` already recovers from; refusing every
        // later request to every upstream would be worse.
        self.breakers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn config() -> BreakerConfig {
        BreakerConfig { failure_threshold: 3, reset_after: 10 * SECOND, half_open_probes: 1 }
    }

    /// A breaker opened at `t0` by `cfg.failure_threshold` failures.
    fn opened(cfg: BreakerConfig, t0: Instant) -> CircuitBreaker {
        let mut breaker = CircuitBreaker::new(cfg);
        for _ in 0..cfg.failure_threshold {
            breaker.acquire(t0).unwrap();
            breaker.on_failure(t0);
        }
        assert_eq!(breaker.state(), BreakerState::Open);
        breaker
    }

    #[test]
    fn defaults() {
        let cfg = BreakerConfig::default();
        assert_eq!((cfg.failure_threshold, cfg.reset_after, cfg.half_open_probes), (5, 30 * SECOND, 1));
    }

    #[test]
    fn state_display_and_serialization() {
        assert_eq!(BreakerState::Closed.to_string(), "closed");
        assert_eq!(BreakerState::Open.to_string(), "open");
        assert_eq!(BreakerState::HalfOpen.to_string(), "half-open");
        assert_eq!(serde_json::to_string(&BreakerState::HalfOpen).unwrap(), r#""half-open""#);
    }

    #[test]
    fn closed_breaker_lets_requests_through() {
        let mut breaker = CircuitBreaker::new(config());
        let t0 = Instant::now();
        for _ in 0..100 {
            assert_eq!(breaker.acquire(t0), Ok(()));
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.transitions(), 0);
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let mut breaker = CircuitBreaker::new(config());
        let t0 = Instant::now();
        breaker.on_failure(t0);
        breaker.on_failure(t0);
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.on_failure(t0);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.take_transitions(), [(BreakerState::Closed, BreakerState::Open)]);
    }

    #[test]
    fn success_resets_the_consecutive_count() {
        let mut breaker = CircuitBreaker::new(config());
        let t0 = Instant::now();
        breaker.on_failure(t0);
        breaker.on_failure(t0);
        breaker.on_success(t0);
        breaker.on_failure(t0);
        breaker.on_failure(t0);
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.on_failure(t0);
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn zero_threshold_opens_on_the_first_failure() {
        let mut breaker = CircuitBreaker::new(BreakerConfig { failure_threshold: 0, ..config() });
        breaker.on_failure(Instant::now());
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn open_breaker_rejects_with_the_remaining_time() {
        let t0 = Instant::now();
        let mut breaker = opened(config(), t0);
        assert_eq!(breaker.acquire(t0), Err(10 * SECOND));
        assert_eq!(breaker.acquire(t0 + 4 * SECOND), Err(6 * SECOND));
        assert_eq!(breaker.acquire(t0 + Duration::from_millis(9_999)), Err(Duration::from_millis(1)));
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn open_breaker_ignores_late_outcomes() {
        let t0 = Instant::now();
        let mut breaker = opened(config(), t0);
        breaker.on_success(t0 + SECOND);
        breaker.on_failure(t0 + 5 * SECOND);
        breaker.on_neutral();
        assert_eq!(breaker.state(), BreakerState::Open);
        // The window still runs from the opening, not from the late failure.
        assert_eq!(breaker.acquire(t0 + 6 * SECOND), Err(4 * SECOND));
    }

    #[test]
    fn turns_half_open_after_the_reset_window_and_limits_probes() {
        let t0 = Instant::now();
        let mut breaker = opened(config(), t0);
        let t1 = t0 + 10 * SECOND;
        assert_eq!(breaker.acquire(t1), Ok(()));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        // The one probe slot is taken: others wait until it could be presumed lost.
        assert_eq!(breaker.acquire(t1), Err(10 * SECOND));
        assert_eq!(breaker.acquire(t1 + 3 * SECOND), Err(7 * SECOND));
    }

    #[test]
    fn several_probes_when_configured() {
        let t0 = Instant::now();
        let mut breaker = opened(BreakerConfig { half_open_probes: 3, ..config() }, t0);
        let t1 = t0 + 10 * SECOND;
        for _ in 0..3 {
            assert_eq!(breaker.acquire(t1), Ok(()));
        }
        assert!(breaker.acquire(t1).is_err());
    }

    #[test]
    fn zero_probes_is_taken_as_one() {
        let t0 = Instant::now();
        let mut breaker = opened(BreakerConfig { half_open_probes: 0, ..config() }, t0);
        let t1 = t0 + 10 * SECOND;
        assert_eq!(breaker.acquire(t1), Ok(()));
        assert!(breaker.acquire(t1).is_err());
        breaker.on_success(t1);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn probe_success_closes() {
        let t0 = Instant::now();
        let mut breaker = opened(config(), t0);
        let t1 = t0 + 10 * SECOND;
        breaker.acquire(t1).unwrap();
        breaker.on_success(t1);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.acquire(t1), Ok(()));
        // The failure count starts again from zero.
        breaker.on_failure(t1);
        breaker.on_failure(t1);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn probe_failure_reopens_with_a_fresh_window() {
        let t0 = Instant::now();
        let mut breaker = opened(config(), t0);
        let t1 = t0 + 12 * SECOND;
        breaker.acquire(t1).unwrap();
        breaker.on_failure(t1 + SECOND);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.acquire(t1 + 2 * SECOND), Err(9 * SECOND));
        assert_eq!(breaker.acquire(t1 + 11 * SECOND), Ok(()));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn neutral_outcome_frees_a_probe_slot_without_changing_state() {
        let t0 = Instant::now();
        let mut breaker = opened(config(), t0);
        let t1 = t0 + 10 * SECOND;
        breaker.acquire(t1).unwrap();
        assert!(breaker.acquire(t1).is_err());
        breaker.on_neutral();
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert_eq!(breaker.acquire(t1), Ok(()));
    }

    #[test]
    fn neutral_outcome_does_not_touch_the_failure_count() {
        let mut breaker = CircuitBreaker::new(config());
        let t0 = Instant::now();
        breaker.on_failure(t0);
        breaker.on_failure(t0);
        breaker.on_neutral();
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.on_failure(t0);
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn a_lost_probe_is_replaced_after_a_reset_window() {
        let t0 = Instant::now();
        let mut breaker = opened(config(), t0);
        let t1 = t0 + 10 * SECOND;
        breaker.acquire(t1).unwrap();
        // The probe never reports back.
        assert!(breaker.acquire(t1 + 9 * SECOND).is_err());
        assert_eq!(breaker.acquire(t1 + 10 * SECOND), Ok(()));
        assert!(breaker.acquire(t1 + 10 * SECOND).is_err());
        breaker.on_success(t1 + 11 * SECOND);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn transitions_are_counted_and_drained() {
        let t0 = Instant::now();
        let mut breaker = opened(config(), t0);
        let t1 = t0 + 10 * SECOND;
        breaker.acquire(t1).unwrap();
        breaker.on_failure(t1);
        breaker.acquire(t1 + 10 * SECOND).unwrap();
        breaker.on_success(t1 + 10 * SECOND);
        use BreakerState::{Closed, HalfOpen, Open};
        assert_eq!(breaker.transitions(), 5);
        assert_eq!(
            breaker.take_transitions(),
            [(Closed, Open), (Open, HalfOpen), (HalfOpen, Open), (Open, HalfOpen), (HalfOpen, Closed)]
        );
        assert!(breaker.take_transitions().is_empty());
        assert_eq!(breaker.transitions(), 5);
    }

    #[test]
    fn undrained_transitions_keep_only_the_latest() {
        let cfg = BreakerConfig { failure_threshold: 1, reset_after: SECOND, half_open_probes: 1 };
        let mut breaker = CircuitBreaker::new(cfg);
        let mut t = Instant::now();
        // Each round: closed -> open -> half-open -> closed.
        for _ in 0..100 {
            breaker.on_failure(t);
            t += SECOND;
            breaker.acquire(t).unwrap();
            breaker.on_success(t);
        }
        assert_eq!(breaker.transitions(), 300);
        let pending = breaker.take_transitions();
        assert_eq!(pending.len(), MAX_PENDING_TRANSITIONS);
        assert_eq!(pending.last(), Some(&(BreakerState::HalfOpen, BreakerState::Closed)));
    }

    #[test]
    fn registry_keeps_one_breaker_per_connector_and_upstream() {
        let breakers = Breakers::new(BreakerConfig { failure_threshold: 1, ..config() });
        let t0 = Instant::now();
        breakers.with("crm", "api.example.com", |b| b.on_failure(t0));
        assert_eq!(breakers.with("crm", "api.example.com", |b| b.acquire(t0)), Err(10 * SECOND));
        assert_eq!(breakers.with("crm", "auth.example.com", |b| b.acquire(t0)), Ok(()));
        assert_eq!(breakers.with("billing", "api.example.com", |b| b.acquire(t0)), Ok(()));
        assert_eq!(
            breakers.snapshot(),
            [
                ("billing".to_owned(), "api.example.com".to_owned(), BreakerState::Closed),
                ("crm".to_owned(), "api.example.com".to_owned(), BreakerState::Open),
                ("crm".to_owned(), "auth.example.com".to_owned(), BreakerState::Closed),
            ]
        );
    }

    #[test]
    fn registry_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Breakers>();
        let breakers = std::sync::Arc::new(Breakers::new(config()));
        let t0 = Instant::now();
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let breakers = breakers.clone();
                std::thread::spawn(move || breakers.with("crm", "api", |b| b.on_failure(t0)))
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(breakers.snapshot(), [("crm".to_owned(), "api".to_owned(), BreakerState::Open)]);
    }

    #[test]
    fn registry_survives_a_panicking_closure() {
        let breakers = Breakers::new(config());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            breakers.with("crm", "api", |_| panic!("caller bug"));
        }));
        assert!(result.is_err());
        assert_eq!(breakers.with("crm", "api", |b| b.acquire(Instant::now())), Ok(()));
    }
}
