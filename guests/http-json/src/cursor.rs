//! The connector's cursor: what it needs to fetch the next page, by pagination mode,
//! and the number of that page in the pass (for "page N" in logs and reports).
//!
//! Format `v2:<page number>:<kind>:<payload>`:
//!
//! | mode | kind | payload |
//! |---|---|---|
//! | `link` | `link` | the absolute URL of the next page |
//! | `next_url` | `url` | the absolute URL of the next page |
//! | `cursor`, `has_more` | `cursor` | the cursor as JSON text (`"abc"`, `42`, `[1700000000, "x"]`) |
//! | `page` | `page` | the page number sent to the source |
//! | `offset` | `offset` | the item offset |
//! | `none` | | never issued: one request is the whole pass |
//!
//! Cursors of format `v1` (an earlier http-json, without the page number and with the
//! cursor as plain text) are refused with a message saying so: the operator resets the
//! connector's cursor and the next pass starts from the first page (records that did
//! not change are counted as unchanged, not published again).

use connector_sdk::ConnectorError;
use serde_json::Value;

use crate::config::Pagination;

/// Where the next page starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Position {
    /// The URL of the next page, from a `Link` header.
    Link(String),
    /// The URL of the next page, from the body (`next_url`).
    Url(String),
    /// The source's own cursor (or the last item's id), sent back as configured.
    Token(Value),
    /// The number of the next page, sent in `page_param`.
    Page(u64),
    /// The offset of the next item, sent in `offset_param`.
    Offset(u64),
}

/// A cursor this connector issued: the page it points to, and its number in the pass
/// (the first page is 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    /// The number of the page this cursor points to.
    pub page: u64,
    /// Where that page starts.
    pub at: Position,
}

impl Cursor {
    /// The cursor text.
    pub fn encode(&self) -> String {
        let n = self.page;
        match &self.at {
            Position::Link(url) => format!("v2:{n}:link:{url}"),
            Position::Url(url) => format!("v2:{n}:url:{url}"),
            Position::Token(value) => format!("v2:{n}:cursor:{value}"),
            Position::Page(p) => format!("v2:{n}:page:{p}"),
            Position::Offset(o) => format!("v2:{n}:offset:{o}"),
        }
    }

    /// Parses a cursor this connector issued under pagination `mode`.
    pub fn parse(text: &str, mode: &Pagination) -> Result<Cursor, ConnectorError> {
        let kind = match mode {
            Pagination::None => {
                return Err(ConnectorError::InvalidConfig(format!(
                    "cursor `{text}` was not issued by this connector (with `pagination = none` it issues no cursors)"
                )));
            }
            Pagination::Link => "link",
            Pagination::NextUrl { .. } => "url",
            Pagination::Cursor { .. } => "cursor",
            Pagination::Page { .. } => "page",
            Pagination::Offset { .. } => "offset",
        };
        if text.starts_with("v1:") {
            return Err(ConnectorError::InvalidConfig(format!(
                "cursor `{text}` is in format v1, from an earlier version of this connector; this version reads only v2 cursors (`v2:<page>:{kind}:...`): reset the connector's cursor so that the next pass starts from the first page"
            )));
        }
        let bad = || {
            ConnectorError::InvalidConfig(format!(
                "cursor `{text}` was not issued by this connector (expected `v2:<page>:{kind}:...`)"
            ))
        };
        let rest = text.strip_prefix("v2:").ok_or_else(bad)?;
        let (page, rest) = rest.split_once(':').ok_or_else(bad)?;
        let page = number(page).filter(|n| *n >= 2).ok_or_else(bad)?;
        let payload = rest.strip_prefix(kind).and_then(|r| r.strip_prefix(':')).ok_or_else(bad)?;
        let url = |u: &str| (u.starts_with("http://") || u.starts_with("https://")).then(|| u.to_string());
        let at = match kind {
            "link" => url(payload).map(Position::Link),
            "url" => url(payload).map(Position::Url),
            "cursor" => serde_json::from_str::<Value>(payload)
                .ok()
                .filter(|v| !v.is_null() && v.as_str() != Some(""))
                .map(Position::Token),
            "page" => number(payload).map(Position::Page),
            _ => number(payload).map(Position::Offset),
        };
        Ok(Cursor { page, at: at.ok_or_else(bad)? })
    }
}

/// A whole number written in plain digits.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::CursorFrom;

    fn cursor_mode() -> Pagination {
        Pagination::Cursor { from: CursorFrom::Body("/next".into()), param: Some("after".into()), more: None }
    }
    fn page_mode() -> Pagination {
        Pagination::Page { param: "page".into(), start: 1 }
    }
    fn offset_mode() -> Pagination {
        Pagination::Offset { offset_param: "offset".into(), limit_param: "limit".into() }
    }
    fn url_mode() -> Pagination {
        Pagination::NextUrl { pointer: "/@odata.nextLink".into() }
    }
    fn at(page: u64, at: Position) -> Cursor {
        Cursor { page, at }
    }

    #[test]
    fn round_trips() {
        let cases = [
            (at(2, Position::Link("http://127.0.0.1:8089/items?page=2&x=a:b".into())), Pagination::Link),
            (at(3, Position::Url("https://h.test/_api/items?$skiptoken=Paged%3DTRUE".into())), url_mode()),
            (at(2, Position::Token(json!("eyJpZCI6NDJ9:with:colons"))), cursor_mode()),
            (at(9, Position::Token(json!(42))), cursor_mode()),
            (at(4, Position::Token(json!([1700000000, "doc#7"]))), cursor_mode()),
            (at(2, Position::Page(0)), page_mode()),
            (at(17, Position::Page(17)), page_mode()),
            (at(3, Position::Offset(200)), offset_mode()),
        ];
        for (cursor, mode) in cases {
            assert_eq!(Cursor::parse(&cursor.encode(), &mode).unwrap(), cursor);
        }
        assert_eq!(at(3, Position::Page(3)).encode(), "v2:3:page:3");
        assert_eq!(at(2, Position::Token(json!("a"))).encode(), "v2:2:cursor:\"a\"");
        assert_eq!(at(2, Position::Link("https://h.test/x".into())).encode(), "v2:2:link:https://h.test/x");
    }

    fn error(text: &str, mode: &Pagination) -> String {
        match Cursor::parse(text, mode) {
            Err(ConnectorError::InvalidConfig(m)) => m,
            other => panic!("expected invalid-config for `{text}`, got {other:?}"),
        }
    }

    #[test]
    fn foreign_cursors_are_invalid_config_naming_the_cursor() {
        assert_eq!(
            error("v2:2:12:3", &page_mode()),
            "cursor `v2:2:12:3` was not issued by this connector (expected `v2:<page>:page:...`)"
        );
        assert!(error("v2:2:page:-1", &page_mode()).contains("`v2:2:page:-1`"));
        assert!(error("v2:2:page:", &page_mode()).contains("`v2:<page>:page:...`"));
        assert!(error("v2:x:page:2", &page_mode()).contains("`v2:<page>:page:...`"));
        assert!(error("v2:1:page:2", &page_mode()).contains("was not issued"), "page 1 never has a cursor");
        assert!(error("v2:2:offset:1x", &offset_mode()).contains("`v2:<page>:offset:...`"));
        assert!(error("v2:2:cursor:", &cursor_mode()).contains("`v2:<page>:cursor:...`"));
        assert!(error("v2:2:cursor:null", &cursor_mode()).contains("was not issued"));
        assert!(error("v2:2:cursor:abc", &cursor_mode()).contains("was not issued"), "not JSON");
        assert!(error("v2:2:link:ftp://h/x", &Pagination::Link).contains("`v2:<page>:link:...`"));
        assert!(error("v2:2:url:/relative", &url_mode()).contains("`v2:<page>:url:...`"));
        assert!(error("v2:2:page:2", &Pagination::None).contains("issues no cursors"));
    }

    #[test]
    fn old_cursors_are_refused_saying_what_to_do() {
        let m = error("v1:page:3", &page_mode());
        assert!(m.contains("cursor `v1:page:3` is in format v1, from an earlier version"), "{m}");
        assert!(m.contains("reset the connector's cursor"), "{m}");
        assert!(error("v1:cursor:abc", &cursor_mode()).contains("format v1"));
    }

    #[test]
    fn a_cursor_of_another_mode_is_refused() {
        // The configuration changed between runs: the stored cursor does not fit.
        assert!(error("v2:2:page:2", &offset_mode()).contains("expected `v2:<page>:offset:...`"));
        assert!(error("v2:2:link:https://h.test/x", &page_mode()).contains("expected `v2:<page>:page:...`"));
        assert!(error("v2:2:link:https://h.test/x", &url_mode()).contains("expected `v2:<page>:url:...`"));
    }
}
