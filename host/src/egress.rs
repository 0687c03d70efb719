//! Outbound HTTP on a connector's behalf: the only way a guest reaches a network.
//!
//! Every request a guest makes through `partner:connector/http` goes through
//! [`Egress::send`], in this order:
//!
//! 1. **Bounds and grant**: the request's sizes are checked before anything of it
//!    is parsed ([`bounds`]); the URL's scheme, host and port must match an
//!    `http.allow` entry, and the guest's headers must not touch what the host owns
//!    ([`exchange`]).
//! 2. **Rate limit**: the connector's token bucket, and any pause an upstream asked
//!    for (429 `Retry-After`, `X-RateLimit-Remaining: 0`).
//! 3. **Circuit breaker** per upstream host: while it is open, no request is sent.
//! 4. **Exchange**: names resolved and checked ([`address`]), the manifest's plain
//!    headers and secrets added for their host only (secrets resolved, cached and
//!    refreshed by [`credentials`], OAuth2 tokens fetched by [`token`]), redirects
//!    followed and re-checked, timeouts and body caps; the connector's own secret
//!    values redacted from the answer and counted.
//! 5. **Retry** of transient failures with backoff and jitter, `Retry-After`
//!    honoured, never past the guest call's deadline.
//!
//! With `--record`, each exchange is written to a file; with `--replay`, answered
//! from one ([`recording`]). The decisions of steps 2, 3 and 5 are plain functions in
//! [`crate::resilience`].
//!
//! Work on guest data that can take long (decompressing, redacting and recording
//! bodies of up to `http.max_body_bytes`) runs on tokio's blocking pool, never on an
//! async worker, so one connector's large bodies cannot stall `serve`'s API. The
//! host's log lines about a run's requests (denials, retries, breaker changes) are
//! sampled per run ([`RequestLog`]); the run report counts them all.

pub mod address;
pub mod bounds;
pub mod credentials;
pub mod exchange;
pub mod failed;
pub mod failure;
pub mod recording;
pub mod token;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::contract::http::{Request, Response};
use crate::contract::{ConnectorError, ErrorCase};
use crate::manifest::Manifest;
use crate::manifest::http::HttpGrant;
use crate::resilience::breaker::{BreakerConfig, Breakers, CircuitBreaker};
use crate::resilience::rate_limit::{RateLimitConfig, RateLimiter, upstream_pause};
use crate::resilience::retry::{self, Decision, Failure, RetryPolicy};
use crate::untrusted::{Sampler, Shown};
use exchange::Prepared;
use failure::AttemptError;
use recording::{Body, Exchange, Recorded, Recorder, Replay, Replayed, TapeError};

/// Whether exchanges are recorded, replayed, or neither.
#[derive(Clone, Debug, Default)]
pub enum Tape {
    /// Live, nothing written.
    #[default]
    Off,
    /// Live, every exchange appended to this file.
    Record(PathBuf),
    /// No network: every answer comes from this file.
    Replay(PathBuf),
}

/// What a run's HTTP did, for the run report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HttpStats {
    /// Requests the guest made.
    pub requests: u64,
    /// Attempts sent over the network (retries and redirects' first hops included).
    pub sent: u64,
    /// Retries after transient failures.
    pub retries: u64,
    /// Requests the host refused (not granted, a forbidden header, a refused address).
    pub denied: u64,
    /// Requests that ended in an error for the guest (denials included).
    pub failed: u64,
    /// Time spent waiting for the rate limit, an upstream's pause or `Retry-After`.
    pub rate_limit_wait_ms: u64,
    /// Circuit breaker state changes.
    pub breaker_transitions: u64,
    /// Secret values of this connector found in responses (an upstream echoing a
    /// credential) and replaced by `[REDACTED]` before the guest saw them.
    pub redacted: u64,
    /// Requests to OAuth2 token endpoints.
    pub token_requests: u64,
    /// Requests sent again with fresh credentials after a 401.
    pub auth_refreshes: u64,
    /// Requests answered from a recording.
    pub replayed: u64,
    /// The host's log lines about these requests (denials, retries, breaker changes)
    /// left out of the log after the first few of each kind; the counts above hold
    /// them all.
    pub log_lines_suppressed: u64,
    /// The last request that ended in an error for the guest: what an operator
    /// debugging a failed run wants to see (the console shows it). Cut, redacted and
    /// escaped where it is made ([`failed`]); absent when none failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failed_request: Option<failed::FailedRequest>,
}

/// The host's log lines about one run's requests, sampled per kind: a guest that
/// makes a million denied requests gets [`Sampler::SHOWN`] lines about them, one line
/// saying the rest are left out, and the counts in the run report.
#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    denied: Sampler,
    retries: Sampler,
    breaker: Sampler,
    redacted: Sampler,
}

/// A kind of line the [`RequestLog`] samples.
#[derive(Clone, Copy, Debug)]
enum Line {
    Denied,
    Retry,
    Breaker,
    Redacted,
}

impl RequestLog {
    /// Whether the next line of `kind` is written. The first one past the sample is
    /// replaced by a line saying that the rest are only counted.
    fn allow(&mut self, kind: Line, connector: &str, stats: &mut HttpStats) -> bool {
        let (sampler, what, counted) = match kind {
            Line::Denied => (&mut self.denied, "denied HTTP requests", "http.denied"),
            Line::Retry => (&mut self.retries, "HTTP retries", "http.retries"),
            Line::Breaker => (&mut self.breaker, "circuit breaker changes", "http.breaker_transitions"),
            Line::Redacted => (&mut self.redacted, "responses holding a secret", "http.redacted"),
        };
        if sampler.allow() {
            return true;
        }
        stats.log_lines_suppressed += 1;
        if sampler.suppressed() == 1 {
            tracing::warn!(
                connector,
                "more than {} {what} in this run: the rest are left out of the log and counted in the run report ({counted})",
                Sampler::SHOWN
            );
        }
        false
    }
}

/// A recording or replay file could not be opened.
pub type EgressError = TapeError;

/// The HTTP side of one connector: its grant, client, breakers and rate limiter.
/// Shared by all of the connector's runs, so that a breaker opened by one run is
/// still open for the next.
pub struct Egress {
    connector: String,
    grant: HttpGrant,
    credentials: credentials::Credentials,
    client: OnceLock<reqwest::Client>,
    policy: RetryPolicy,
    breakers: Arc<Breakers>,
    limiter: Mutex<RateLimiter>,
    recorder: Option<Arc<Recorder>>,
    replay: Option<Replay>,
}

impl Egress {
    /// The egress of `manifest`'s connector, live.
    pub fn new(manifest: &Manifest) -> Arc<Egress> {
        Arc::new(Egress::build(manifest, None, None))
    }

    /// The egress of `manifest`'s connector, recording or replaying as `tape` says.
    pub fn with_tape(manifest: &Manifest, tape: &Tape) -> Result<Arc<Egress>, EgressError> {
        let (recorder, replay) = match tape {
            Tape::Off => (None, None),
            Tape::Record(path) => (Some(Arc::new(Recorder::create(path)?)), None),
            Tape::Replay(path) => (None, Some(Replay::open(path)?)),
        };
        Ok(Arc::new(Egress::build(manifest, recorder, replay)))
    }

    fn build(manifest: &Manifest, recorder: Option<Arc<Recorder>>, replay: Option<Replay>) -> Egress {
        let s = &manifest.http.settings;
        let policy = RetryPolicy {
            max_retries: s.retry.max_retries,
            base_delay: Duration::from_millis(s.retry.base_delay_ms),
            max_delay: Duration::from_millis(s.retry.max_delay_ms),
            max_retry_after: Duration::from_millis(s.retry.max_retry_after_ms),
            jitter: s.retry.jitter,
            retry_non_idempotent: s.retry.retry_non_idempotent,
        };
        let breakers = Arc::new(Breakers::new(BreakerConfig {
            failure_threshold: s.breaker.failure_threshold,
            reset_after: Duration::from_millis(s.breaker.reset_ms),
            half_open_probes: s.breaker.half_open_probes,
        }));
        let limiter = RateLimiter::new(
            RateLimitConfig { requests_per_second: s.rate_limit.requests_per_second, burst: s.rate_limit.burst },
            Instant::now(),
        );
        Egress {
            connector: manifest.name.clone(),
            grant: manifest.http.clone(),
            credentials: credentials::Credentials::new(&manifest.http.secrets),
            client: OnceLock::new(),
            policy,
            breakers,
            limiter: Mutex::new(limiter),
            recorder,
            replay,
        }
    }

    /// With a replay, the recorded requests the connector never made.
    pub fn replay_unused(&self) -> Vec<String> {
        self.replay.as_ref().map(Replay::unused).unwrap_or_default()
    }

    /// The breakers of this connector's upstreams, for metrics.
    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    /// The HTTP client, built on first use (a run that makes no request pays nothing).
    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            let mut builder = reqwest::Client::builder();
            // The operator's extra certificate authorities, for this connector only.
            for root in &self.grant.extra_roots {
                for certificate in &root.certificates {
                    builder = builder.add_root_certificate(certificate.clone());
                }
            }
            builder
                .dns_resolver(Arc::new(address::CheckedResolver))
                // Egress goes where the grant says, never through a proxy from the
                // environment; redirects are followed (and checked) by the host.
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .referer(false)
                .connect_timeout(Duration::from_millis(self.grant.settings.connect_timeout_ms))
                .user_agent(concat!("connector-host/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("the HTTP client's settings are valid")
        })
    }

    /// Sends the guest's `req`, by `call_deadline` at the latest (the guest call's
    /// deadline: waiting past it would only get the guest interrupted). `stats` and
    /// `log` are the run's.
    pub async fn send(
        &self,
        req: Request,
        call_deadline: Option<Instant>,
        stats: &mut HttpStats,
        log: &mut RequestLog,
    ) -> Result<Response, ConnectorError> {
        stats.requests += 1;
        // Kept for the report, should the request fail: cut before it is copied.
        let (method, url) = (req.method.as_reqwest(), crate::untrusted::capped(&req.url, failed::MAX_URL));
        let mut answered = None;
        let result = self.send_checked(req, call_deadline, stats, log, &mut answered).await;
        if let Err(e) = &result {
            stats.failed += 1;
            if e.case == ErrorCase::Denied {
                stats.denied += 1;
            }
            let own = self.credentials.own();
            stats.last_failed_request = Some(failed::FailedRequest::new(method.as_str(), &url, e, answered, &own));
        }
        result
    }

    /// A denial of a request, logged (sampled) with `why`.
    fn deny(&self, stats: &mut HttpStats, log: &mut RequestLog, why: &str, message: String) -> ConnectorError {
        if log.allow(Line::Denied, &self.connector, stats) {
            tracing::warn!(connector = %self.connector, "denied an HTTP request: {why}");
        }
        ConnectorError::new(ErrorCase::Denied, message)
    }

    async fn send_checked(
        &self,
        req: Request,
        call_deadline: Option<Instant>,
        stats: &mut HttpStats,
        log: &mut RequestLog,
        answered: &mut Option<failed::LastAnswer>,
    ) -> Result<Response, ConnectorError> {
        // Sizes first: nothing of the request is parsed before they are known to be
        // within bounds.
        if let Err(m) = bounds::check(&req, self.grant.settings.max_body_bytes) {
            return Err(self.deny(stats, log, &m, format!("HTTP request refused: {m}")));
        }
        let shown = Shown::id(&req.url);
        let url = match url::Url::parse(&req.url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => u,
            Ok(_) => {
                let m = format!("`{shown}`: only http and https URLs are allowed");
                return Err(self.deny(stats, log, &m, m.clone()));
            }
            Err(e) => {
                let m = format!("`{shown}` is not an absolute URL: {e}");
                return Err(self.deny(stats, log, &m, m.clone()));
            }
        };
        let origin = url.origin().ascii_serialization();
        let target = Shown::text(&origin);
        if self.grant.allows(&url).is_none() {
            let message = if self.grant.allow.is_empty() {
                format!("HTTP to {target} is not granted: the manifest allows no HTTP hosts")
            } else {
                let granted: Vec<&str> = self.grant.allow.iter().map(|r| r.text.as_str()).collect();
                format!("HTTP to {target} is not granted (http.allow: {})", granted.join(", "))
            };
            return Err(self.deny(stats, log, &format!("{target} is not granted"), message));
        }
        let host = url.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
        let injected: Vec<&str> =
            self.grant.secrets.iter().filter(|s| s.host == host).map(|s| s.header.as_str()).collect();
        let headers = match exchange::check_headers(&req.headers, &injected) {
            Ok(h) => h,
            Err(m) => {
                return Err(self.deny(stats, log, &format!("{target}: {m}"), format!("request to {target}: {m}")));
            }
        };
        let method = req.method.as_reqwest();

        if let Some(replay) = &self.replay {
            stats.replayed += 1;
            return match replay.answer(method.as_str(), url.as_str(), req.body.as_deref()) {
                Ok(Replayed::Response { status, headers, body }) => Ok(Response { status, headers, body }),
                Ok(Replayed::Error(e)) => Err(e),
                Err(message) => Err(ConnectorError::new(ErrorCase::Other, message)),
            };
        }

        let mut total = Duration::from_millis(self.grant.settings.total_timeout_ms);
        if let Some(ms) = req.timeout_ms {
            total = total.min(Duration::from_millis(u64::from(ms)));
        }
        let now = Instant::now();
        let budget = match call_deadline {
            Some(d) => total.min(d.saturating_duration_since(now)),
            None => total,
        };
        let deadline = now + budget;
        let prepared = Prepared { method, url, headers, body: req.body, budget_ms: millis(budget) };
        let result = self.with_retries(&prepared, &host, deadline, stats, log, answered).await;
        if let Some(recorder) = &self.recorder {
            // Serialising, base64-encoding and redacting bodies of up to
            // http.max_body_bytes is work for the blocking pool, not an async worker.
            let recorder = Arc::clone(recorder);
            let answer = result.clone();
            let (method, url, headers, body) =
                (prepared.method.to_string(), prepared.url.to_string(), req.headers, prepared.body);
            let written = tokio::task::spawn_blocking(move || {
                let answer = match &answer {
                    Ok(r) => {
                        Recorded::Response { status: r.status, headers: r.headers.clone(), body: Body::of(&r.body) }
                    }
                    Err(e) => Recorded::error(e),
                };
                let body = body.as_deref().map(Body::of);
                recorder.write(&Exchange { method, url, headers, body, answer })
            })
            .await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(ConnectorError::new(ErrorCase::Other, e.to_string())),
                Err(e) => {
                    return Err(ConnectorError::new(ErrorCase::Other, format!("recording the exchange failed: {e}")));
                }
            }
        }
        result
    }

    /// Attempts `req` until it succeeds, fails for good, or time runs out;
    /// `answered` keeps the upstream's last answer that was an error, if the last
    /// attempt got one.
    async fn with_retries(
        &self,
        req: &Prepared,
        host: &str,
        deadline: Instant,
        stats: &mut HttpStats,
        log: &mut RequestLog,
        answered: &mut Option<failed::LastAnswer>,
    ) -> Result<Response, ConnectorError> {
        let what = format!("{} {}", req.method, Shown::id(req.url.as_str()));
        let idempotent = retry::is_idempotent(req.method.as_str());
        let mut retries = 0;
        let mut refreshed = false;
        loop {
            let wait = self.limiter.lock().unwrap_or_else(|e| e.into_inner()).reserve(Instant::now());
            if !wait.is_zero() {
                if wait > self.policy.max_retry_after || Instant::now() + wait > deadline {
                    return Err(ConnectorError::wait(
                        ErrorCase::RateLimited,
                        Some(millis(wait)),
                        format!(
                            "{what}: the rate limit (http.rate_limit, or the upstream's pause) allows the next request in {} ms",
                            millis(wait)
                        ),
                    ));
                }
                tokio::time::sleep(wait).await;
                stats.rate_limit_wait_ms += millis(wait);
            }
            let acquired = self.breaker(host, stats, log, |b| b.acquire(Instant::now()));
            if let Err(remaining) = acquired {
                return Err(ConnectorError::wait(
                    ErrorCase::CircuitOpen,
                    Some(millis(remaining)),
                    format!(
                        "{what}: the circuit breaker for {host} is open after repeated failures; no request was sent (retry in {} ms)",
                        millis(remaining)
                    ),
                ));
            }
            stats.sent += 1;
            let mut used = credentials::Used::default();
            let outcome = exchange::attempt(self, req, deadline, &mut used).await;
            stats.token_requests += used.token_requests;
            let (failure, message, retry_after) = match outcome {
                Ok(answer) => {
                    if answer.redacted > 0 {
                        stats.redacted += answer.redacted;
                        if log.allow(Line::Redacted, &self.connector, stats) {
                            tracing::warn!(connector = %self.connector, redacted = answer.redacted,
                                "the answer to {what} holds a secret this connector sends (the upstream echoed a credential); \
                                 it was replaced by [REDACTED] before the connector saw it (counted in http.redacted)");
                        }
                    }
                    // A 401 may mean the token expired early or the helper's value
                    // rotated: once per request, fresh credentials and again.
                    if answer.status == 401 && !refreshed && self.credentials.invalidate(host).await {
                        refreshed = true;
                        stats.auth_refreshes += 1;
                        tracing::info!(connector = %self.connector, "{what}: 401; sending it again with fresh credentials");
                        continue;
                    }
                    let now = Instant::now();
                    if let Some(until) = upstream_pause(&answer.headers, now, SystemTime::now()) {
                        self.limiter.lock().unwrap_or_else(|e| e.into_inner()).pause_until(until);
                    }
                    if answer.status < 400 {
                        self.breaker(host, stats, log, |b| b.on_success(now));
                        return Ok(Response { status: answer.status, headers: answer.headers, body: answer.body });
                    }
                    let retry_after = header(&answer.headers, "retry-after")
                        .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
                    if answer.status == 429
                        && let Some(ra) = retry_after
                        && let Some(until) = now.checked_add(ra)
                    {
                        self.limiter.lock().unwrap_or_else(|e| e.into_inner()).pause_until(until);
                    }
                    if answer.status >= 500 {
                        self.breaker(host, stats, log, |b| b.on_failure(now));
                    } else {
                        self.breaker(host, stats, log, CircuitBreaker::on_neutral);
                    }
                    let message = status_message(&what, answer.status, &answer.body);
                    *answered = Some(failed::LastAnswer::of(answer.status, &answer.headers, &answer.body));
                    (Failure::Status(answer.status), message, retry_after)
                }
                Err(AttemptError::Denied(m)) => {
                    self.breaker(host, stats, log, CircuitBreaker::on_neutral);
                    return Err(self.deny(stats, log, &m, m.clone()));
                }
                Err(AttemptError::TooLarge(m)) => {
                    self.breaker(host, stats, log, CircuitBreaker::on_neutral);
                    return Err(ConnectorError::new(ErrorCase::Other, format!("{what}: {m}")));
                }
                Err(AttemptError::Credential(m)) => {
                    // Nothing was sent to the upstream: not its failure.
                    self.breaker(host, stats, log, CircuitBreaker::on_neutral);
                    tracing::warn!(connector = %self.connector, "no credentials for {what}: {m}");
                    return Err(ConnectorError::new(ErrorCase::Auth, format!("{what}: {m}")));
                }
                Err(AttemptError::Failed(f, m)) => {
                    // An earlier attempt's answer is not this failure's.
                    *answered = None;
                    if matches!(f, Failure::Other) {
                        self.breaker(host, stats, log, CircuitBreaker::on_neutral);
                    } else {
                        self.breaker(host, stats, log, |b| b.on_failure(Instant::now()));
                    }
                    (f, format!("{what}: {m}"), None)
                }
            };
            match self.policy.decide(retries, idempotent, &failure, retry_after, retry::jitter_sample()) {
                Decision::Retry(delay) if Instant::now() + delay < deadline => {
                    if log.allow(Line::Retry, &self.connector, stats) {
                        tracing::info!(connector = %self.connector, failure = %failure, delay_ms = millis(delay),
                            "retrying {what}");
                    }
                    tokio::time::sleep(delay).await;
                    if retry_after.is_some() {
                        stats.rate_limit_wait_ms += millis(delay);
                    }
                    retries += 1;
                    stats.retries += 1;
                }
                Decision::RateLimited(wait) => {
                    return Err(ConnectorError::wait(
                        ErrorCase::RateLimited,
                        Some(millis(wait)),
                        format!(
                            "{message}; the upstream asks to wait {} ms, longer than the host waits (http.retry.max_retry_after_ms)",
                            millis(wait)
                        ),
                    ));
                }
                Decision::Retry(_) | Decision::GiveUp => {
                    let message = if retries > 0 { format!("{message} (after {retries} retries)") } else { message };
                    return Err(final_error(&failure, message, retry_after));
                }
            }
        }
    }

    /// Runs `f` on the breaker of `host`, logging (sampled) and counting its
    /// transitions.
    fn breaker<R>(
        &self,
        host: &str,
        stats: &mut HttpStats,
        log: &mut RequestLog,
        f: impl FnOnce(&mut CircuitBreaker) -> R,
    ) -> R {
        self.breakers.with(&self.connector, host, |b| {
            let r = f(b);
            for (from, to) in b.take_transitions() {
                stats.breaker_transitions += 1;
                if log.allow(Line::Breaker, &self.connector, stats) {
                    tracing::warn!(connector = %self.connector, upstream = %Shown::id(host), %from, %to, "circuit breaker");
                }
            }
            r
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// `GET url: 503 Service Unavailable: <start of the body>`.
fn status_message(what: &str, status: u16, body: &[u8]) -> String {
    let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    let excerpt = crate::untrusted::sanitize(body, 200);
    if excerpt.is_empty() {
        format!("{what}: {status} {reason}")
    } else {
        format!("{what}: {status} {reason}: {excerpt}")
    }
}

/// The error the guest gets when the host stops trying.
fn final_error(failure: &Failure, message: String, retry_after: Option<Duration>) -> ConnectorError {
    match failure {
        Failure::Status(401 | 403) => ConnectorError::new(ErrorCase::Auth, message),
        Failure::Status(404) => ConnectorError::new(ErrorCase::NotFound, message),
        Failure::Status(429) => ConnectorError::wait(ErrorCase::RateLimited, retry_after.map(millis), message),
        Failure::Status(s) => ConnectorError::api(*s, message),
        Failure::Timeout => ConnectorError::new(ErrorCase::Timeout, message),
        Failure::ConnectionReset | Failure::ConnectionRefused | Failure::TruncatedBody | Failure::Other => {
            ConnectorError::new(ErrorCase::Network, message)
        }
    }
}
