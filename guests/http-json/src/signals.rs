//! What a `2xx` body says besides its items: an error reported inside it (Slack's
//! `{"ok": false, "error": "invalid_auth"}`, GraphQL's `errors`), and the usual "there
//! is more" markers that a pass ending on this page would otherwise ignore.

use connector_sdk::http_util::link_next;
use connector_sdk::{ApiError, ConnectorError, RetryInfo};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::{BodyErrors, CursorFrom, Pagination, Settings};
use crate::json::raw_at;

/// The value at `pointer` in `body`, parsed; none if absent or not JSON.
fn value_at(body: &RawValue, pointer: &str) -> Option<Value> {
    raw_at(body, pointer).ok().flatten().and_then(|r| serde_json::from_str(r.get()).ok())
}

/// Whether `v` says something: not `null`, `false`, `""`, `[]` or `{}`.
fn present(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Fails with the upstream's error when the body reports one (config `ok_pointer`,
/// `error_pointer`): `auth` for an auth-like code, `rate-limited` for a rate-limit
/// code, `api` with the HTTP status otherwise.
pub fn body_error(e: &BodyErrors, request: &str, status: u16, body: &RawValue) -> Result<(), ConnectorError> {
    let not_ok = e.ok_pointer.as_deref().is_some_and(|p| value_at(body, p) == Some(Value::Bool(false)));
    // With only `ok_pointer` set, the code is looked for at `/error` (Slack's place).
    let error = value_at(body, e.error_pointer.as_deref().unwrap_or("/error")).filter(present);
    let failed = not_ok || (e.error_pointer.is_some() && error.is_some());
    if !failed {
        return Ok(());
    }
    let (code, text) = error.as_ref().map(describe).unwrap_or_default();
    let what = match (&code, &text) {
        (Some(c), Some(t)) if t != c => format!("`{c}`: {t}"),
        (Some(c), _) => format!("`{c}`"),
        (None, Some(t)) => t.clone(),
        (None, None) => "no error code".to_string(),
    };
    let message = format!("{request}: the upstream answered {status} but its body reports an error: {what}");
    let code = code.unwrap_or_default().to_ascii_lowercase().replace('-', "_");
    if e.auth_codes.iter().any(|a| a.to_ascii_lowercase().replace('-', "_") == code) {
        return Err(ConnectorError::Auth(message));
    }
    if code.contains("ratelimit") || code.contains("rate_limit") || code == "throttled" {
        return Err(ConnectorError::RateLimited(RetryInfo { retry_after_ms: None, message }));
    }
    Err(ConnectorError::Api(ApiError { status, message }))
}

/// The error's code and message: a string is a code; an object's `code`, `error`,
/// `extensions.code` or `type` is, and its `message`; an array's first error.
fn describe(v: &Value) -> (Option<String>, Option<String>) {
    let text =
        |v: Option<&Value>| v.and_then(|v| v.as_str().map(String::from).or_else(|| v.as_i64().map(|n| n.to_string())));
    match v {
        Value::String(s) => (Some(s.clone()), None),
        Value::Array(a) => a.first().map(describe).unwrap_or_default(),
        Value::Object(o) => {
            let code = ["code", "error", "type"]
                .iter()
                .find_map(|k| text(o.get(*k)))
                .or_else(|| text(v.pointer("/extensions/code")));
            (code, text(o.get("message")).map(|m| m.chars().take(300).collect()))
        }
        other => (Some(other.to_string()), None),
    }
}

/// The usual places where a body says there is another page: (pointer, what is shown).
const MARKERS: &[(&str, &str)] = &[
    ("/has_more", "`has_more: true`"),
    ("/hasMore", "`hasMore: true`"),
    ("/meta/has_more", "`meta.has_more: true`"),
    ("/@odata.nextLink", "`@odata.nextLink`"),
    ("/odata.nextLink", "`odata.nextLink`"),
    ("/nextLink", "`nextLink`"),
    ("/links/next", "`links.next`"),
    ("/_links/next", "`_links.next`"),
    ("/pagination/next", "`pagination.next`"),
    ("/next", "`next`"),
    ("/next_page_url", "`next_page_url`"),
    ("/next_cursor", "`next_cursor`"),
    ("/nextCursor", "`nextCursor`"),
    ("/meta/next_cursor", "`meta.next_cursor`"),
    ("/response_metadata/next_cursor", "`response_metadata.next_cursor`"),
    ("/nextPageToken", "`nextPageToken`"),
    ("/next_page_token", "`next_page_token`"),
];

/// On a page that ends the pass: the first "there is more" marker that the
/// configured pagination does not read, if the response has one.
pub fn ignored_more(s: &Settings, headers: &[(String, String)], body: &RawValue) -> Option<String> {
    let own: Vec<&str> = match &s.pagination {
        Pagination::NextUrl { pointer } => vec![pointer],
        Pagination::Cursor { from, more, .. } => {
            let mut own: Vec<&str> = more.iter().map(String::as_str).collect();
            if let CursorFrom::Body(p) = from {
                own.push(p);
            }
            own
        }
        _ => Vec::new(),
    };
    if s.pagination != Pagination::Link && link_next(headers).is_some() {
        return Some("a `Link: rel=\"next\"` header".into());
    }
    if !body.get().trim_start().starts_with('{') {
        return None;
    }
    for (pointer, shown) in MARKERS {
        if own.iter().any(|o| o == pointer || o.starts_with(&format!("{pointer}/"))) {
            continue;
        }
        let says_more = match value_at(body, pointer) {
            Some(Value::Bool(b)) => b,
            Some(Value::String(t)) => !t.is_empty(),
            Some(Value::Object(o)) => o.get("href").and_then(Value::as_str).is_some_and(|h| !h.is_empty()),
            Some(Value::Number(_)) => !pointer.contains("more"),
            _ => false,
        };
        if says_more {
            return Some(shown.to_string());
        }
    }
    // GraphQL connections: `pageInfo { hasNextPage }`, wherever the query put it.
    if body.get().contains("\"hasNextPage\"")
        && !own.iter().any(|o| o.ends_with("/hasNextPage"))
        && let Ok(v) = serde_json::from_str::<Value>(body.get())
        && has_next_page(&v, 8)
    {
        return Some("`pageInfo.hasNextPage: true`".into());
    }
    None
}

fn has_next_page(v: &Value, depth: u32) -> bool {
    if depth == 0 {
        return false;
    }
    match v {
        Value::Object(o) => {
            o.get("hasNextPage") == Some(&Value::Bool(true)) || o.values().any(|v| has_next_page(v, depth - 1))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use connector_sdk::settings::from_pairs;

    use super::*;
    use crate::config::DEFAULT_AUTH_CODES;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    fn errors(ok: Option<&str>, error: Option<&str>) -> BodyErrors {
        BodyErrors {
            ok_pointer: ok.map(String::from),
            error_pointer: error.map(String::from),
            auth_codes: DEFAULT_AUTH_CODES.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn slack_style_errors() {
        let e = errors(Some("/ok"), None);
        body_error(&e, "GET u", 200, raw(r#"{"ok": true, "messages": []}"#)).unwrap();
        let err = body_error(&e, "GET u", 200, raw(r#"{"ok": false, "error": "invalid_auth"}"#)).unwrap_err();
        assert!(
            matches!(&err, ConnectorError::Auth(m) if m == "GET u: the upstream answered 200 but its body reports an error: `invalid_auth`"),
            "{err:?}"
        );
        let err = body_error(&e, "GET u", 200, raw(r#"{"ok": false, "error": "ratelimited"}"#)).unwrap_err();
        assert!(matches!(&err, ConnectorError::RateLimited(r) if r.message.contains("`ratelimited`")));
        let err = body_error(&e, "GET u", 200, raw(r#"{"ok": false, "error": "channel_not_found"}"#)).unwrap_err();
        assert!(matches!(&err, ConnectorError::Api(a) if a.status == 200 && a.message.contains("`channel_not_found`")));
        let err = body_error(&e, "GET u", 200, raw(r#"{"ok": false}"#)).unwrap_err();
        assert!(matches!(&err, ConnectorError::Api(a) if a.message.ends_with("no error code")));
    }

    #[test]
    fn graphql_errors() {
        let e = errors(None, Some("/errors"));
        body_error(&e, "POST u", 200, raw(r#"{"data": {"x": 1}}"#)).unwrap();
        body_error(&e, "POST u", 200, raw(r#"{"data": {"x": 1}, "errors": []}"#)).unwrap();
        let body = r#"{"errors": [{"message": "token expired", "extensions": {"code": "UNAUTHENTICATED"}}]}"#;
        let err = body_error(&e, "POST u", 200, raw(body)).unwrap_err();
        assert!(matches!(&err, ConnectorError::Auth(m) if m.ends_with("`UNAUTHENTICATED`: token expired")), "{err:?}");
        let body = r#"{"errors": [{"message": "Field 'x' doesn't exist"}]}"#;
        let err = body_error(&e, "POST u", 200, raw(body)).unwrap_err();
        assert!(matches!(&err, ConnectorError::Api(a) if a.message.ends_with("Field 'x' doesn't exist")), "{err:?}");
        let mut custom = errors(None, Some("/errors"));
        custom.auth_codes = vec!["BAD_KEY".into()];
        let err = body_error(&custom, "POST u", 200, raw(r#"{"errors": [{"code": "bad-key"}]}"#)).unwrap_err();
        assert!(matches!(&err, ConnectorError::Auth(_)), "{err:?}");
    }

    fn settings(extra: &[(&str, &str)]) -> Settings {
        let mut pairs = vec![("base_url", "http://127.0.0.1:8089"), ("path", "/items"), ("id_field", "id")];
        pairs.extend_from_slice(extra);
        from_pairs(Settings::read, &pairs).unwrap()
    }

    #[test]
    fn markers_that_the_mode_ignores() {
        let none = settings(&[("pagination", "none"), ("items_pointer", "/data")]);
        let more = |s: &Settings, body: &str| ignored_more(s, &[], raw(body));
        assert_eq!(more(&none, r#"{"data": [], "has_more": true}"#).as_deref(), Some("`has_more: true`"));
        assert_eq!(more(&none, r#"{"data": [], "has_more": false}"#), None);
        assert_eq!(
            more(&none, r#"{"value": [], "@odata.nextLink": "https://x/y?$skiptoken=1"}"#).as_deref(),
            Some("`@odata.nextLink`")
        );
        assert_eq!(more(&none, r#"{"_links": {"next": {"href": "/items?page=2"}}}"#).as_deref(), Some("`_links.next`"));
        assert_eq!(more(&none, r#"{"links": {"next": null}}"#), None);
        assert_eq!(more(&none, r#"{"response_metadata": {"next_cursor": ""}}"#), None);
        assert_eq!(
            more(&none, r#"{"data": {"search": {"pageInfo": {"hasNextPage": true, "endCursor": "x"}}}}"#).as_deref(),
            Some("`pageInfo.hasNextPage: true`")
        );
        assert_eq!(more(&none, "[1, 2]"), None);
        let link = [("link".to_string(), "</items?page=2>; rel=\"next\"".to_string())];
        assert_eq!(ignored_more(&none, &link, raw("[]")).as_deref(), Some("a `Link: rel=\"next\"` header"));
        assert_eq!(ignored_more(&settings(&[]), &link, raw("[]")), None, "link mode reads it");

        // The mode's own pointers are not markers it ignores.
        let stripe = settings(&[("pagination", "has_more"), ("last_id_param", "starting_after")]);
        assert_eq!(more(&stripe, r#"{"has_more": false, "next_cursor": null}"#), None);
        let odata = settings(&[("pagination", "next_url"), ("next_url_pointer", "/@odata.nextLink")]);
        assert_eq!(more(&odata, r#"{"value": []}"#), None);
    }
}
