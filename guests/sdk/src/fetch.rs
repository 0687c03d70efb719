//! GET requests through the host, with the ETag of a pass's first page kept in state.
//!
//! A pass over a paged source starts with no cursor. Its first request carries the
//! ETag the previous pass's first page returned (`If-None-Match`); a `304 Not
//! Modified` then ends the pass at once with nothing to do. After a first page has
//! been read successfully the connector calls [`remember_etag`] to keep the new ETag
//! (or forget the old one if the source sent none). Only the first page's ETag is
//! kept: later pages are fetched unconditionally.
//!
//! The ETag is kept together with the URL it belongs to, so that a changed
//! configuration (another repository, another path, another page size) never sends
//! an ETag that was issued for a different resource.
//!
//! The host follows redirects, retries transient failures and injects credentials
//! itself; its errors are passed on with the request named in their message.

use crate::host::{http, log, state};
use crate::http_util::header;
use crate::{ApiError, ConnectorError, RetryInfo};

/// The state key holding the first page's ETag.
pub const ETAG_KEY: &str = "etag";
/// The state key holding the URL the ETag under [`ETAG_KEY`] was returned for.
pub const ETAG_URL_KEY: &str = "etag_url";

/// What a GET returned.
pub enum Fetched {
    /// `304 Not Modified`: the first page is as it was when the kept ETag was issued.
    NotModified,
    /// A `2xx` response.
    Fresh(http::Response),
}

/// GETs `url` with `headers`. When `first_page` is set and an ETag is kept for this
/// very URL, it is sent as `If-None-Match` and a `304` comes back as
/// [`Fetched::NotModified`]; any other status that is not `2xx` is an `api` error.
pub fn get(url: &str, headers: &[(&str, &str)], first_page: bool) -> Result<Fetched, ConnectorError> {
    let kept = if first_page { kept_etag(url) } else { None };
    let mut request_headers: Vec<(String, String)> =
        headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    if let Some(etag) = &kept {
        request_headers.push(("If-None-Match".to_string(), etag.clone()));
    }
    let request = http::Request {
        method: http::Method::Get,
        url: url.to_string(),
        headers: request_headers,
        body: None,
        timeout_ms: None,
    };
    let response = http::send(&request).map_err(|e| with_context(e, &format!("GET {url}")))?;
    match response.status {
        200..=299 => Ok(Fetched::Fresh(response)),
        304 if kept.is_some() => {
            log::log(log::Level::Info, &format!("GET {url}: not modified since the last pass (304); nothing to do"));
            Ok(Fetched::NotModified)
        }
        status => Err(ConnectorError::Api(ApiError {
            status,
            message: format!("GET {url}: unexpected status {status} (expected 2xx)"),
        })),
    }
}

/// GETs `url` and requires a `2xx` response: for requests that are never conditional
/// (one record by id, a later page).
pub fn get_fresh(url: &str, headers: &[(&str, &str)]) -> Result<http::Response, ConnectorError> {
    match get(url, headers, false)? {
        Fetched::Fresh(response) => Ok(response),
        // Unreachable: without a kept ETag no `If-None-Match` was sent, and `get`
        // reports a 304 it did not ask for as an error.
        Fetched::NotModified => Err(ConnectorError::Other(format!("GET {url}: unexpected 304 Not Modified"))),
    }
}

/// Keeps the ETag of the first page just read from `url` (from `headers`, the
/// response's), or forgets the kept one if the response has none. Call it only once
/// the page has been read without error, so that a page that failed is fetched in
/// full again next time rather than answered with `304`.
pub fn remember_etag(url: &str, headers: &[(String, String)]) {
    match header(headers, "etag").map(str::trim).filter(|e| !e.is_empty()) {
        Some(etag) => {
            state::set(ETAG_KEY, etag);
            state::set(ETAG_URL_KEY, url);
        }
        None => {
            state::delete(ETAG_KEY);
            state::delete(ETAG_URL_KEY);
        }
    }
}

/// The ETag kept for `url`, if the one kept was returned for that URL.
fn kept_etag(url: &str) -> Option<String> {
    let etag = state::get(ETAG_KEY)?;
    (state::get(ETAG_URL_KEY).as_deref() == Some(url)).then_some(etag)
}

/// `e` with `context` put before its message (`GET https://...: not found`).
pub fn with_context(e: ConnectorError, context: &str) -> ConnectorError {
    // The host's own messages already name the request; do not say it twice.
    let text = |m: String| if m.starts_with(context) { m } else { format!("{context}: {m}") };
    let retry = |r: RetryInfo| RetryInfo { retry_after_ms: r.retry_after_ms, message: text(r.message) };
    match e {
        ConnectorError::Auth(m) => ConnectorError::Auth(text(m)),
        ConnectorError::RateLimited(r) => ConnectorError::RateLimited(retry(r)),
        ConnectorError::Timeout(m) => ConnectorError::Timeout(text(m)),
        ConnectorError::Network(m) => ConnectorError::Network(text(m)),
        ConnectorError::NotFound(m) => ConnectorError::NotFound(text(m)),
        ConnectorError::Api(a) => ConnectorError::Api(ApiError { status: a.status, message: text(a.message) }),
        ConnectorError::InvalidConfig(m) => ConnectorError::InvalidConfig(text(m)),
        ConnectorError::Parse(m) => ConnectorError::Parse(text(m)),
        ConnectorError::Quota(m) => ConnectorError::Quota(text(m)),
        ConnectorError::CircuitOpen(r) => ConnectorError::CircuitOpen(retry(r)),
        ConnectorError::Denied(m) => ConnectorError::Denied(text(m)),
        ConnectorError::Unsupported(m) => ConnectorError::Unsupported(text(m)),
        ConnectorError::Other(m) => ConnectorError::Other(text(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_goes_before_the_message_and_keeps_the_case() {
        let e = with_context(ConnectorError::NotFound("404 Not Found".into()), "GET http://h.test/x");
        assert!(matches!(&e, ConnectorError::NotFound(m) if m == "GET http://h.test/x: 404 Not Found"));
        let e = with_context(
            ConnectorError::RateLimited(RetryInfo { retry_after_ms: Some(5), message: "slow down".into() }),
            "GET u",
        );
        assert!(
            matches!(&e, ConnectorError::RateLimited(r) if r.retry_after_ms == Some(5) && r.message == "GET u: slow down")
        );
        let e = with_context(ConnectorError::Api(ApiError { status: 500, message: "boom".into() }), "GET u");
        assert!(matches!(&e, ConnectorError::Api(a) if a.status == 500 && a.message == "GET u: boom"));
    }
}
