//! The connector's cursor: what it needs to fetch the next page, by pagination mode,
//! and the number of that page in the pass (for "page N" in logs and reports).
//!
//! Format `v2:<page number>:<kind>:<payload>`:
//!
//! | mode | kind | payload |
//! |---|---|---|
//! | `link` | `link` | the URL of the next page |
//! | `next_url` | `url` | the URL of the next page |
//! | `cursor`, `has_more` | `cursor` | the cursor as JSON text (`"abc"`, `42`, `[1700000000, "x"]`) |
//! | `page` | `page` | the page number sent to the source |
//! | `offset` | `offset` | the item offset |
//! | `none` | | never issued: one request is the whole pass |
//!
//! A URL on the origin (scheme, host and port) of `base_url` is written as its path
//! and query (`/items?page=2`) and read against the `base_url` of the run that reads
//! it, so that a stored cursor survives a move of the API to another host; a URL on
//! another origin is written whole.
//!
//! Cursors of format `v1` (an earlier http-json: `v1:<kind>:<payload>`, without the
//! page number and with a cursor token as plain text) are still read, so an upgrade
//! loses no place; their page number in the pass was not recorded, and the pages
//! after them are numbered from 2.

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
    /// The cursor text, a URL on `origin` (the origin of `base_url`) written as its
    /// path and query.
    pub fn encode(&self, origin: &str) -> String {
        let n = self.page;
        let local = |url: &str| match url.strip_prefix(origin) {
            Some(rest) if rest.starts_with('/') && !rest.starts_with("//") => rest.to_string(),
            _ => url.to_string(),
        };
        match &self.at {
            Position::Link(url) => format!("v2:{n}:link:{}", local(url)),
            Position::Url(url) => format!("v2:{n}:url:{}", local(url)),
            Position::Token(value) => format!("v2:{n}:cursor:{value}"),
            Position::Page(p) => format!("v2:{n}:page:{p}"),
            Position::Offset(o) => format!("v2:{n}:offset:{o}"),
        }
    }

    /// Parses a cursor this connector issued under pagination `mode`, a path read
    /// against `origin` (the origin of `base_url`).
    pub fn parse(text: &str, mode: &Pagination, origin: &str) -> Result<Cursor, ConnectorError> {
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
        let bad = || {
            ConnectorError::InvalidConfig(format!(
                "cursor `{text}` was not issued by this connector (expected `v2:<page>:{kind}:...`)"
            ))
        };
        let url = |u: &str| {
            if u.starts_with("http://") || u.starts_with("https://") {
                Some(u.to_string())
            } else if u.starts_with('/') && !u.starts_with("//") {
                Some(format!("{origin}{u}"))
            } else {
                None
            }
        };
        if let Some(rest) = text.strip_prefix("v1:") {
            // v1 wrote the URL whole and the source's token as it came.
            let payload = rest.strip_prefix(kind).and_then(|r| r.strip_prefix(':')).ok_or_else(bad)?;
            let at = match kind {
                "link" => Some(payload)
                    .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                    .map(|u| Position::Link(u.into())),
                "cursor" => Some(payload).filter(|p| !p.is_empty()).map(|p| Position::Token(Value::String(p.into()))),
                "page" => number(payload).map(Position::Page),
                "offset" => number(payload).map(Position::Offset),
                // v1 had no `next_url` mode.
                _ => None,
            };
            return Ok(Cursor { page: 2, at: at.ok_or_else(bad)? });
        }
        let rest = text.strip_prefix("v2:").ok_or_else(bad)?;
        let (page, rest) = rest.split_once(':').ok_or_else(bad)?;
        let page = number(page).filter(|n| *n >= 2).ok_or_else(bad)?;
        let payload = rest.strip_prefix(kind).and_then(|r| r.strip_prefix(':')).ok_or_else(bad)?;
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
            assert_eq!(Cursor::parse(&cursor.encode(ORIGIN), &mode, ORIGIN).unwrap(), cursor);
        }
        assert_eq!(at(3, Position::Page(3)).encode(ORIGIN), "v2:3:page:3");
        assert_eq!(at(2, Position::Token(json!("a"))).encode(ORIGIN), "v2:2:cursor:\"a\"");
        assert_eq!(at(2, Position::Link("https://h.test/x".into())).encode(ORIGIN), "v2:2:link:https://h.test/x");
    }

    #[test]
    fn urls_on_the_base_origin_are_kept_as_paths_and_follow_a_move_of_base_url() {
        let link = at(2, Position::Link(format!("{ORIGIN}/items?page=2")));
        assert_eq!(link.encode(ORIGIN), "v2:2:link:/items?page=2");
        let moved = Cursor::parse(&link.encode(ORIGIN), &Pagination::Link, "https://api.example.com").unwrap();
        assert_eq!(moved.at, Position::Link("https://api.example.com/items?page=2".into()));
        // Another origin, or one that only starts like it, is written whole.
        for other in
            ["http://127.0.0.1:80890/items", "http://127.0.0.1:8089.evil.test/items", "https://127.0.0.1:8089/x"]
        {
            let text = at(2, Position::Url(other.into())).encode(ORIGIN);
            assert_eq!(text, format!("v2:2:url:{other}"));
            assert_eq!(Cursor::parse(&text, &url_mode(), ORIGIN).unwrap().at, Position::Url(other.into()));
        }
        assert!(error("v2:2:url://evil.test/x", &url_mode()).contains("was not issued"), "scheme-relative");
    }

    const ORIGIN: &str = "http://127.0.0.1:8089";

    fn error(text: &str, mode: &Pagination) -> String {
        match Cursor::parse(text, mode, ORIGIN) {
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
        assert!(error("v2:2:url:relative", &url_mode()).contains("`v2:<page>:url:...`"));
        assert!(error("v2:2:page:2", &Pagination::None).contains("issues no cursors"));
    }

    #[test]
    fn cursors_of_format_v1_are_read_so_an_upgrade_keeps_its_place() {
        let read = |text: &str, mode: &Pagination| Cursor::parse(text, mode, ORIGIN).unwrap();
        assert_eq!(read("v1:page:3", &page_mode()), at(2, Position::Page(3)));
        assert_eq!(read("v1:offset:200", &offset_mode()), at(2, Position::Offset(200)));
        // v1 kept a token as it came, colons and all.
        assert_eq!(read("v1:cursor:eyJ:x", &cursor_mode()), at(2, Position::Token(json!("eyJ:x"))));
        let link = "http://127.0.0.1:8089/items?page=7";
        assert_eq!(read(&format!("v1:link:{link}"), &Pagination::Link), at(2, Position::Link(link.into())));
        // Written again in v2, with the page number from here on.
        assert_eq!(read("v1:page:3", &page_mode()).encode(ORIGIN), "v2:2:page:3");
        assert!(error("v1:page:x", &page_mode()).contains("cursor `v1:page:x` was not issued"));
        assert!(error("v1:cursor:", &cursor_mode()).contains("was not issued"));
        assert!(error("v1:link:/items", &Pagination::Link).contains("was not issued"), "v1 links were whole");
        assert!(error("v1:page:3", &offset_mode()).contains("expected `v2:<page>:offset:...`"));
        assert!(error("v1:url:http://h.test/x", &url_mode()).contains("was not issued"), "v1 had no next_url");
    }

    #[test]
    fn a_cursor_of_another_mode_is_refused() {
        // The configuration changed between runs: the stored cursor does not fit.
        assert!(error("v2:2:page:2", &offset_mode()).contains("expected `v2:<page>:offset:...`"));
        assert!(error("v2:2:link:https://h.test/x", &page_mode()).contains("expected `v2:<page>:page:...`"));
        assert!(error("v2:2:link:https://h.test/x", &url_mode()).contains("expected `v2:<page>:url:...`"));
    }
}
