//! The connector's cursor: what it needs to fetch the next page, by pagination mode.
//!
//! | mode | cursor |
//! |---|---|
//! | `link` | `v1:link:<absolute URL of the next page>` |
//! | `cursor` | `v1:cursor:<the source's cursor value>` |
//! | `page` | `v1:page:<page number>` |
//! | `offset` | `v1:offset:<item offset>` |
//! | `none` | never issued: one request is the whole pass |

use connector_sdk::ConnectorError;

use crate::config::Pagination;

/// Where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// The URL of the next page, from a `Link` header.
    Link(String),
    /// The source's own cursor, sent back in `cursor_param`.
    Token(String),
    /// The number of the next page, sent in `page_param`.
    Page(u64),
    /// The offset of the next item, sent in `offset_param`.
    Offset(u64),
}

impl Cursor {
    /// The cursor text.
    pub fn encode(&self) -> String {
        match self {
            Cursor::Link(url) => format!("v1:link:{url}"),
            Cursor::Token(value) => format!("v1:cursor:{value}"),
            Cursor::Page(n) => format!("v1:page:{n}"),
            Cursor::Offset(n) => format!("v1:offset:{n}"),
        }
    }

    /// Parses a cursor this connector issued under pagination `mode`.
    pub fn parse(text: &str, mode: &Pagination) -> Result<Cursor, ConnectorError> {
        let expected = match mode {
            Pagination::None => "none: with `pagination = none` this connector issues no cursors",
            Pagination::Link => "`v1:link:<url>`",
            Pagination::Cursor { .. } => "`v1:cursor:<value>`",
            Pagination::Page { .. } => "`v1:page:<n>`",
            Pagination::Offset { .. } => "`v1:offset:<n>`",
        };
        let bad = || {
            ConnectorError::InvalidConfig(format!(
                "cursor `{text}` was not issued by this connector (expected {expected})"
            ))
        };
        let parsed = match mode {
            Pagination::None => None,
            Pagination::Link => text
                .strip_prefix("v1:link:")
                .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
                .map(|url| Cursor::Link(url.to_string())),
            Pagination::Cursor { .. } => {
                text.strip_prefix("v1:cursor:").filter(|v| !v.is_empty()).map(|v| Cursor::Token(v.to_string()))
            }
            Pagination::Page { .. } => text.strip_prefix("v1:page:").and_then(number).map(Cursor::Page),
            Pagination::Offset { .. } => text.strip_prefix("v1:offset:").and_then(number).map(Cursor::Offset),
        };
        parsed.ok_or_else(bad)
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
    use super::*;

    fn cursor_mode() -> Pagination {
        Pagination::Cursor { pointer: "/next".into(), param: "after".into() }
    }
    fn page_mode() -> Pagination {
        Pagination::Page { param: "page".into(), start: 1 }
    }
    fn offset_mode() -> Pagination {
        Pagination::Offset { offset_param: "offset".into(), limit_param: "limit".into() }
    }

    #[test]
    fn round_trips() {
        let cases = [
            (Cursor::Link("http://127.0.0.1:8089/items?page=2&x=a:b".into()), Pagination::Link),
            (Cursor::Token("eyJpZCI6NDJ9:with:colons".into()), cursor_mode()),
            (Cursor::Page(0), page_mode()),
            (Cursor::Page(17), page_mode()),
            (Cursor::Offset(200), offset_mode()),
        ];
        for (cursor, mode) in cases {
            assert_eq!(Cursor::parse(&cursor.encode(), &mode).unwrap(), cursor);
        }
        assert_eq!(Cursor::Page(3).encode(), "v1:page:3");
        assert_eq!(Cursor::Link("https://h.test/x".into()).encode(), "v1:link:https://h.test/x");
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
            error("v1:12:3", &page_mode()),
            "cursor `v1:12:3` was not issued by this connector (expected `v1:page:<n>`)"
        );
        assert!(error("v1:page:-1", &page_mode()).contains("`v1:page:-1`"));
        assert!(error("v1:page:", &page_mode()).contains("`v1:page:<n>`"));
        assert!(error("v1:page:+2", &page_mode()).contains("`v1:page:+2`"));
        assert!(error("v1:offset:1x", &offset_mode()).contains("`v1:offset:<n>`"));
        assert!(error("v1:cursor:", &cursor_mode()).contains("`v1:cursor:<value>`"));
        assert!(error("v1:link:ftp://h/x", &Pagination::Link).contains("`v1:link:<url>`"));
        assert!(error("v1:link:/relative", &Pagination::Link).contains("`v1:link:<url>`"));
        assert!(error("v1:page:2", &Pagination::None).contains("issues no cursors"));
    }

    #[test]
    fn a_cursor_of_another_mode_is_refused() {
        // The configuration changed between runs: the stored cursor does not fit.
        assert!(error("v1:page:2", &offset_mode()).contains("expected `v1:offset:<n>`"));
        assert!(error("v1:link:https://h.test/x", &page_mode()).contains("expected `v1:page:<n>`"));
    }
}
