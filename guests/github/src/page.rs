//! Fetching pages of issues and single issues from the API.

use connector_sdk::fetch::{self, Fetched};
use connector_sdk::host::log;
use connector_sdk::http_util::{header, link_next, resolve_url};
use connector_sdk::{ConnectorError, Page, SkippedRecord, SourceRecord};
use serde_json::value::RawValue;

use crate::config::Settings;
use crate::{cursor, issue};

/// The headers of every request. The token is the host's to add (`[[http.secrets]]`).
const HEADERS: &[(&str, &str)] =
    &[("Accept", "application/vnd.github.v3+json"), ("User-Agent", "partner-connector-github")];

/// Below this many requests left in the rate-limit window, each page logs a warning.
const LOW_RATE_LIMIT: u64 = 10;

/// One page of issues: the first of a pass when `cursor` is none.
pub fn list(s: &Settings, cursor: Option<&str>, limit: Option<u32>) -> Result<Page, ConnectorError> {
    let url = match cursor {
        Some(text) => cursor::parse(text)?,
        None => s.first_url(limit),
    };
    let first_page = cursor.is_none();
    let response = match fetch::get(&url, HEADERS, first_page).map_err(|e| not_found_hint(s, e))? {
        Fetched::NotModified => return Ok(Page { records: Vec::new(), next_cursor: None, skipped: Vec::new() }),
        Fetched::Fresh(response) => response,
    };
    warn_if_rate_limit_low(&response.headers);
    let items: Vec<&RawValue> = parse(&url, &response.body)?;
    let mut records = Vec::with_capacity(items.len());
    let mut skipped = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match issue::record(item, |n| s.issue_url(n)) {
            Ok(r) => records.push(r),
            Err(reason) => skipped.push(SkippedRecord { locator: format!("item {} of {url}", index + 1), reason }),
        }
    }
    let next = link_next(&response.headers).map(|next| cursor::encode(&resolve_url(&url, &next)));
    if first_page {
        fetch::remember_etag(&url, &response.headers);
    }
    Ok(Page { records, next_cursor: next, skipped })
}

/// Issue `id` (its number).
pub fn get(s: &Settings, id: &str) -> Result<SourceRecord, ConnectorError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConnectorError::NotFound(format!(
            "no issue `{id}` in {}/{}: issue ids are their numbers",
            s.owner, s.repo
        )));
    }
    let url = s.issue_url(id);
    let response = fetch::get_fresh(&url, HEADERS)?;
    warn_if_rate_limit_low(&response.headers);
    let item: &RawValue = parse(&url, &response.body)?;
    issue::record(item, |n| s.issue_url(n))
        .map_err(|reason| ConnectorError::Parse(format!("response from {url}: {reason}")))
}

/// The response body as JSON of the expected shape.
fn parse<'a, T: serde::Deserialize<'a>>(url: &str, body: &'a [u8]) -> Result<T, ConnectorError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ConnectorError::Parse(format!("response from {url} is not UTF-8 text: {e}")))?;
    serde_json::from_str(text)
        .map_err(|e| ConnectorError::Parse(format!("response from {url} is not the JSON expected: {e}")))
}

/// A 404 on the list usually means a misspelt repository or a token that cannot see it.
fn not_found_hint(s: &Settings, e: ConnectorError) -> ConnectorError {
    match e {
        ConnectorError::NotFound(m) => ConnectorError::NotFound(format!(
            "{m} (does the repository {}/{} exist, and may the token read it?)",
            s.owner, s.repo
        )),
        other => other,
    }
}

/// Logs a warning when few requests are left in GitHub's rate-limit window. The host
/// pauses by itself when none are left; the guest never sleeps.
fn warn_if_rate_limit_low(headers: &[(String, String)]) {
    let Some(remaining) = header(headers, "x-ratelimit-remaining").and_then(|v| v.trim().parse::<u64>().ok()) else {
        return;
    };
    if remaining < LOW_RATE_LIMIT {
        let reset = header(headers, "x-ratelimit-reset").map(|r| format!(" (the window resets at Unix time {r})"));
        log::log(
            log::Level::Warn,
            &format!("GitHub rate limit nearly used up: {remaining} requests left{}", reset.unwrap_or_default()),
        );
    }
}
