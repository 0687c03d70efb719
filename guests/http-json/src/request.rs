//! The list request for a page: its method, URL and body, and sending it through the
//! host (which checks every URL against the manifest's grants, follows redirects,
//! retries and injects credentials).

use connector_sdk::fetch::with_context;
use connector_sdk::host::http;
use connector_sdk::http_util::add_param;
use connector_sdk::{ApiError, ConnectorError};
use serde_json::Value;

use crate::config::{Method, Pagination, Settings};
use crate::cursor::Position;
use crate::json::{kind, scalar};
use crate::template::Fill;

/// The headers of every request. `Authorization` and the like are the host's to add.
pub const HEADERS: &[(&str, &str)] = &[("Accept", "application/json"), ("User-Agent", "partner-connector-http-json")];

/// One list request.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// Its method.
    pub method: Method,
    /// Its URL.
    pub url: String,
    /// Its JSON body (`POST` only).
    pub body: Option<String>,
}

impl Request {
    /// `GET https://...`, for messages.
    pub fn label(&self) -> String {
        let m = match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        format!("{m} {}", self.url)
    }
}

/// The request for the page at `position` (the first page when none), `size` items
/// long, with the incremental lower bound `since` if there is one.
pub fn build(
    s: &Settings,
    position: Option<&Position>,
    size: u32,
    since: Option<&Value>,
) -> Result<Request, ConnectorError> {
    let per_page = |url: String| match &s.per_page_param {
        Some(param) => add_param(&url, param, &size.to_string()),
        None => url,
    };
    // A followed URL (`Link`, `next_url`) is the source's own: it already carries
    // every parameter the source wants.
    let followed = matches!(position, Some(Position::Link(_) | Position::Url(_)));
    let with_since = |url: String| -> Result<String, ConnectorError> {
        match (s.incremental.as_ref().and_then(|i| i.param.as_ref()), since) {
            (Some(param), Some(v)) if !followed => {
                let text = scalar(v).ok_or_else(|| {
                    ConnectorError::Other(format!("the kept high-water mark is {}, not a string or number", kind(v)))
                })?;
                Ok(add_param(&url, param, &text))
            }
            _ => Ok(url),
        }
    };
    let cursor = match position {
        Some(Position::Token(v)) => Some(v),
        _ => None,
    };
    let url = match (&s.pagination, position) {
        (_, Some(Position::Link(url) | Position::Url(url))) => url.clone(),
        (Pagination::Cursor { param: Some(param), .. }, Some(Position::Token(value))) => {
            // Checked when the cursor was read: a cursor sent in a query is a scalar.
            add_param(&per_page(s.list_url.clone()), param, &scalar(value).unwrap_or_default())
        }
        (Pagination::Page { param, start }, position) => {
            let n = match position {
                Some(Position::Page(n)) => *n,
                _ => *start,
            };
            per_page(add_param(&s.list_url, param, &n.to_string()))
        }
        (Pagination::Offset { offset_param, limit_param }, position) => {
            let offset = match position {
                Some(Position::Offset(n)) => *n,
                _ => 0,
            };
            let url = add_param(&s.list_url, offset_param, &offset.to_string());
            add_param(&url, limit_param, &size.to_string())
        }
        // The first page of `none`, `link`, `next_url` and `cursor`, and a body-only
        // cursor: `Cursor::parse` lets no other position through for these modes.
        _ => per_page(s.list_url.clone()),
    };
    let url = with_since(url)?;
    let body = s.body_template.as_ref().map(|t| t.render(&Fill { cursor, page_size: size, since }));
    Ok(Request { method: s.method, url, body })
}

/// Sends `req`, with `If-None-Match: etag` when an ETag is given. A `2xx` comes back
/// as the response, and so does a `304` to a conditional request; any other status
/// is an `api` error.
pub fn send(req: &Request, etag: Option<&str>) -> Result<http::Response, ConnectorError> {
    let mut headers: Vec<(String, String)> = HEADERS.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    if req.body.is_some() {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    if let Some(etag) = etag {
        headers.push(("If-None-Match".into(), etag.to_string()));
    }
    let request = http::Request {
        method: match req.method {
            Method::Get => http::Method::Get,
            Method::Post => http::Method::Post,
        },
        url: req.url.clone(),
        headers,
        body: req.body.as_ref().map(|b| b.as_bytes().to_vec()),
        timeout_ms: None,
    };
    let label = req.label();
    let response = http::send(&request).map_err(|e| with_context(e, &label))?;
    match response.status {
        200..=299 => Ok(response),
        304 if etag.is_some() => Ok(response),
        status => Err(ConnectorError::Api(ApiError {
            status,
            message: format!("{label}: unexpected status {status} (expected 2xx)"),
        })),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    use crate::config::test_settings as settings;

    fn url(s: &Settings, position: Option<&Position>) -> String {
        build(s, position, 50, None).unwrap().url
    }

    #[test]
    fn request_urls_by_mode() {
        let s = settings(&[("query", "a=1"), ("per_page_param", "per_page")]);
        assert_eq!(url(&s, None), "http://127.0.0.1:8089/items?a=1&per_page=50");
        let link = Position::Link("http://127.0.0.1:8089/items?after=x".into());
        assert_eq!(url(&s, Some(&link)), "http://127.0.0.1:8089/items?after=x");

        let s = settings(&[("pagination", "cursor"), ("cursor_pointer", "/next"), ("cursor_param", "after")]);
        assert_eq!(url(&s, None), "http://127.0.0.1:8089/items");
        assert_eq!(url(&s, Some(&Position::Token(json!("a b/c")))), "http://127.0.0.1:8089/items?after=a%20b%2Fc");
        assert_eq!(url(&s, Some(&Position::Token(json!(42)))), "http://127.0.0.1:8089/items?after=42");

        let s =
            settings(&[("pagination", "has_more"), ("last_id_param", "starting_after"), ("per_page_param", "limit")]);
        assert_eq!(url(&s, None), "http://127.0.0.1:8089/items?limit=50");
        assert_eq!(
            url(&s, Some(&Position::Token(json!("cus_9")))),
            "http://127.0.0.1:8089/items?limit=50&starting_after=cus_9"
        );

        let s = settings(&[("pagination", "page"), ("per_page_param", "size")]);
        assert_eq!(url(&s, None), "http://127.0.0.1:8089/items?page=1&size=50");
        assert_eq!(url(&s, Some(&Position::Page(3))), "http://127.0.0.1:8089/items?page=3&size=50");

        let s = settings(&[("pagination", "offset"), ("offset_param", "skip"), ("limit_param", "take")]);
        assert_eq!(url(&s, None), "http://127.0.0.1:8089/items?skip=0&take=50");
        assert_eq!(url(&s, Some(&Position::Offset(100))), "http://127.0.0.1:8089/items?skip=100&take=50");

        let s = settings(&[("pagination", "next_url"), ("next_url_pointer", "/@odata.nextLink")]);
        assert_eq!(url(&s, None), "http://127.0.0.1:8089/items");
        let next = Position::Url("http://127.0.0.1:8089/items?$skiptoken=abc".into());
        assert_eq!(url(&s, Some(&next)), "http://127.0.0.1:8089/items?$skiptoken=abc");

        let s = settings(&[("pagination", "none")]);
        assert_eq!(url(&s, None), "http://127.0.0.1:8089/items");
    }

    #[test]
    fn incremental_bounds_go_in_the_query_except_on_followed_urls() {
        let s = settings(&[("incremental_field", "updated_at"), ("incremental_param", "updated_since")]);
        let since = json!("2026-01-01T00:00:00Z");
        assert_eq!(build(&s, None, 5, None).unwrap().url, "http://127.0.0.1:8089/items");
        assert_eq!(
            build(&s, None, 5, Some(&since)).unwrap().url,
            "http://127.0.0.1:8089/items?updated_since=2026-01-01T00%3A00%3A00Z"
        );
        let link = Position::Link("http://127.0.0.1:8089/items?updated_since=x&page=2".into());
        assert_eq!(
            build(&s, Some(&link), 5, Some(&since)).unwrap().url,
            "http://127.0.0.1:8089/items?updated_since=x&page=2"
        );
    }

    #[test]
    fn post_bodies_carry_the_cursor_as_json() {
        let s = settings(&[
            ("method", "POST"),
            ("pagination", "cursor"),
            ("cursor_pointer", "/next_cursor"),
            ("has_more_pointer", "/has_more"),
            (
                "body_template",
                r#"{"start_cursor": "$cursor", "page_size": "$page_size", "filter": {"value": "$config.kind"}}"#,
            ),
            ("kind", "page"),
        ]);
        let first = build(&s, None, 10, None).unwrap();
        assert_eq!(first.method, Method::Post);
        assert_eq!(first.url, "http://127.0.0.1:8089/items");
        assert_eq!(
            serde_json::from_str::<Value>(first.body.as_deref().unwrap()).unwrap(),
            json!({"page_size": 10, "filter": {"value": "page"}})
        );
        let next = build(&s, Some(&Position::Token(json!("c-2"))), 10, None).unwrap();
        assert_eq!(next.url, "http://127.0.0.1:8089/items", "the cursor goes in the body only");
        assert_eq!(
            serde_json::from_str::<Value>(next.body.as_deref().unwrap()).unwrap(),
            json!({"start_cursor": "c-2", "page_size": 10, "filter": {"value": "page"}})
        );
        assert_eq!(next.label(), "POST http://127.0.0.1:8089/items");
    }
}
