//! Retry, circuit breaking and rate limiting for the requests connectors send.
//!
//! These are decisions only, free of wasmtime, tokio and HTTP client types: each
//! layer is told the time and the outcome of an attempt, and answers with what to
//! do next. Sleeping, sending and the mapping to guest-visible errors stay with
//! the egress (`crate::egress`), which reads the machine's clock (`Instant::now()`)
//! and passes it in. Because every decision takes the time as an argument, the
//! layers' own tests drive them with a fake clock (`clock`, test builds only) and
//! never sleep; the egress is tested end to end against real loopback servers.
//!
//! Around one request, the layers go in this order:
//! 1. [`breaker`]: `acquire`; an open breaker fails the request fast.
//! 2. [`rate_limit`]: `reserve`, and wait what it says.
//! 3. Send; report the outcome to the breaker, and feed any `x-ratelimit-*` or
//!    `Retry-After` pause to the rate limiter.
//! 4. [`retry`]: on failure, `decide` whether to go round again from 1.
//!
//! The breaker comes first so that a request to a dead upstream does not take a
//! rate-limit token, and every retry goes through all of it again, so that retries
//! are paced and counted like any other request.

pub mod breaker;
#[cfg(test)]
mod clock;
pub mod rate_limit;
pub mod retry;
