//! Fetching pages and single records from the source and turning items into records.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use connector_sdk::fetch::{self, Fetched};
use connector_sdk::http_util::{add_param, link_next, percent_encode, resolve_url};
use connector_sdk::{ConnectorError, Page, Provenance, SkippedRecord, SourceRecord};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::{Pagination, Settings};
use crate::cursor::Cursor;
use crate::json::{kind, raw_at, scalar};

/// The headers of every request. `Authorization` and the like are the host's to add.
const HEADERS: &[(&str, &str)] = &[("Accept", "application/json"), ("User-Agent", "partner-connector-http-json")];

/// One page of records: the first of a pass when `cursor` is none.
pub fn list(s: &Settings, cursor: Option<&str>, limit: Option<u32>) -> Result<Page, ConnectorError> {
    let position = cursor.map(|c| Cursor::parse(c, &s.pagination)).transpose()?;
    let size = s.request_size(limit);
    let url = request_url(s, position.as_ref(), size);
    let first_page = position.is_none();
    let response = match fetch::get(&url, HEADERS, first_page)? {
        Fetched::NotModified => return Ok(Page { records: Vec::new(), next_cursor: None, skipped: Vec::new() }),
        Fetched::Fresh(response) => response,
    };
    let body = parse_body(&url, &response.body)?;
    let items = items(s, &url, body)?;
    check_progress(s, &url, &response.body, items.len())?;

    let mut records = Vec::with_capacity(items.len());
    let mut skipped = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match record(s, item) {
            Ok(r) => records.push(r),
            Err(reason) => skipped.push(SkippedRecord { locator: format!("item {} of {url}", index + 1), reason }),
        }
    }
    let next = next_cursor(s, position.as_ref(), size, &url, &response.headers, body, items.len())?;
    if first_page {
        fetch::remember_etag(&url, &response.headers);
    }
    Ok(Page { records, next_cursor: next.map(|c| c.encode()), skipped })
}

/// The record with id `id`, from config `record_path`.
pub fn get(s: &Settings, id: &str) -> Result<SourceRecord, ConnectorError> {
    let url = record_url(s, id).ok_or_else(|| {
        ConnectorError::Unsupported(
            "connector `http-json` offers get-record only when config `record_path` is set (such as `/items/{id}`)"
                .into(),
        )
    })?;
    let response = fetch::get_fresh(&url, HEADERS)?;
    let body = parse_body(&url, &response.body)?;
    let item = raw_at(body, &s.record_pointer)
        .map_err(|e| ConnectorError::Parse(format!("response from {url} is not JSON: {e}")))?
        .ok_or_else(|| {
            ConnectorError::Parse(format!("response from {url} has nothing at `record_pointer` `{}`", s.record_pointer))
        })?;
    record(s, item).map_err(|reason| ConnectorError::Parse(format!("response from {url}: {reason}")))
}

/// The URL of the page at `position` (the first page when none).
fn request_url(s: &Settings, position: Option<&Cursor>, size: u32) -> String {
    let per_page = |url: String| match &s.per_page_param {
        Some(param) => add_param(&url, param, &size.to_string()),
        None => url,
    };
    match (&s.pagination, position) {
        (_, Some(Cursor::Link(url))) => url.clone(),
        (Pagination::Cursor { param, .. }, Some(Cursor::Token(value))) => {
            add_param(&per_page(s.list_url.clone()), param, value)
        }
        (Pagination::Page { param, start }, position) => {
            let n = match position {
                Some(Cursor::Page(n)) => *n,
                _ => *start,
            };
            per_page(add_param(&s.list_url, param, &n.to_string()))
        }
        (Pagination::Offset { offset_param, limit_param }, position) => {
            let offset = match position {
                Some(Cursor::Offset(n)) => *n,
                _ => 0,
            };
            let url = add_param(&s.list_url, offset_param, &offset.to_string());
            add_param(&url, limit_param, &size.to_string())
        }
        // The first page of `none`, `link` and `cursor`: `Cursor::parse` lets no other
        // cursor through for these modes.
        _ => per_page(s.list_url.clone()),
    }
}

/// The response body as a JSON document, still as text.
fn parse_body<'a>(url: &str, body: &'a [u8]) -> Result<&'a RawValue, ConnectorError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ConnectorError::Parse(format!("response from {url} is not UTF-8 text: {e}")))?;
    serde_json::from_str(text).map_err(|e| ConnectorError::Parse(format!("response from {url} is not JSON: {e}")))
}

/// The items of a page: the array at `items_pointer` (`null` counts as no items).
fn items<'a>(s: &Settings, url: &str, body: &'a RawValue) -> Result<Vec<&'a RawValue>, ConnectorError> {
    let parse = |e: serde_json::Error| ConnectorError::Parse(format!("response from {url} is not JSON: {e}"));
    let where_ = || {
        if s.items_pointer.is_empty() {
            "the body".to_string()
        } else {
            format!("`items_pointer` `{}`", s.items_pointer)
        }
    };
    let array = raw_at(body, &s.items_pointer)
        .map_err(parse)?
        .ok_or_else(|| ConnectorError::Parse(format!("response from {url} has nothing at {}", where_())))?;
    match array.get().trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_str(array.get()).map_err(parse),
        Some(b'n') => Ok(Vec::new()),
        _ => {
            let value: Value = serde_json::from_str(array.get()).map_err(parse)?;
            Err(ConnectorError::Parse(format!(
                "response from {url}: {} is {}, not an array of items (check config `items_pointer`)",
                where_(),
                kind(&value)
            )))
        }
    }
}

/// Turns one item into a record, or says why it cannot be one.
fn record(s: &Settings, item: &RawValue) -> Result<SourceRecord, String> {
    let value: Value = serde_json::from_str(item.get()).map_err(|e| format!("not JSON: {e}"))?;
    if !value.is_object() {
        return Err(format!("not a JSON object but {}", kind(&value)));
    }
    let id = s
        .id_field
        .get(&value)
        .and_then(scalar)
        .ok_or_else(|| format!("no `{}` field with a non-empty string or number", s.id_field.as_str()))?;
    let text = |field: &Option<crate::json::Field>| field.as_ref().and_then(|f| f.get(&value)).and_then(scalar);
    // A relative `url_field` (`/items/7`) is taken relative to the list's URL.
    let uri = text(&s.url_field)
        .filter(|u| !u.contains(char::is_whitespace))
        .map(|u| resolve_url(&s.list_url, &u))
        .or_else(|| record_url(s, &id))
        .unwrap_or_else(|| format!("{}#{}", s.list_url, percent_encode(&id)));
    Ok(SourceRecord {
        raw: item.get().to_string(),
        provenance: Provenance {
            uri,
            etag: None,
            last_modified: text(&s.last_modified_field),
            author: text(&s.author_field),
        },
        id,
    })
}

/// The URL of record `id`, if config `record_path` is set.
fn record_url(s: &Settings, id: &str) -> Option<String> {
    let path = s.record_path.as_ref()?.replace("{id}", &percent_encode(id));
    Some(format!("{}/{}", s.base_url, path.trim_start_matches('/')))
}

/// The cursor of the page after this one, if there is one.
fn next_cursor(
    s: &Settings,
    position: Option<&Cursor>,
    size: u32,
    url: &str,
    headers: &[(String, String)],
    body: &RawValue,
    count: usize,
) -> Result<Option<Cursor>, ConnectorError> {
    let count = count as u64;
    Ok(match &s.pagination {
        Pagination::None => None,
        Pagination::Link => link_next(headers).map(|next| Cursor::Link(resolve_url(url, &next))),
        Pagination::Cursor { pointer, .. } => {
            let parse = |e: serde_json::Error| ConnectorError::Parse(format!("response from {url} is not JSON: {e}"));
            match raw_at(body, pointer).map_err(parse)? {
                None => None,
                Some(raw) => match serde_json::from_str::<Value>(raw.get()).map_err(parse)? {
                    Value::Null => None,
                    Value::String(v) if v.is_empty() => None,
                    v => Some(Cursor::Token(scalar(&v).ok_or_else(|| {
                        ConnectorError::Parse(format!(
                            "response from {url}: the next cursor at `cursor_pointer` `{pointer}` is {}, not a string or number",
                            kind(&v)
                        ))
                    })?)),
                },
            }
        }
        Pagination::Page { start, .. } => {
            // Without a page length sent or configured, only an empty page ends the pass.
            let expected = if s.per_page_param.is_some() { Some(size) } else { s.page_size };
            let current = match position {
                Some(Cursor::Page(n)) => *n,
                _ => *start,
            };
            let short = expected.is_some_and(|e| count < u64::from(e));
            (count > 0 && !short).then(|| Cursor::Page(current + 1))
        }
        Pagination::Offset { .. } => {
            let current = match position {
                Some(Cursor::Offset(n)) => *n,
                _ => 0,
            };
            (count > 0 && count >= u64::from(size)).then(|| Cursor::Offset(current + count))
        }
    })
}

/// In `page` and `offset` modes, stops a pass whose pages do not move on: a source
/// that ignores the page parameter (a misnamed `page_param`, say) returns the same
/// full page forever, under a new cursor every time.
fn check_progress(s: &Settings, url: &str, body: &[u8], count: usize) -> Result<(), ConnectorError> {
    // The previous page of this run: a hash of its body and its URL.
    static PREVIOUS: Mutex<Option<(u64, String)>> = Mutex::new(None);
    let param = match &s.pagination {
        Pagination::Page { param, .. } => param,
        Pagination::Offset { offset_param, .. } => offset_param,
        _ => return Ok(()),
    };
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    let hash = hasher.finish();
    let mut previous = PREVIOUS.lock().unwrap_or_else(|e| e.into_inner());
    if count > 0
        && let Some((h, previous_url)) = previous.as_ref()
        && *h == hash
        && previous_url != url
    {
        return Err(ConnectorError::InvalidConfig(format!(
            "{url} returned the same items as {previous_url}: the source seems to ignore the query parameter `{param}` (check the connector's pagination config)"
        )));
    }
    *previous = Some((hash, url.to_string()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use connector_sdk::settings::from_pairs;

    use super::*;

    fn settings(extra: &[(&str, &str)]) -> Settings {
        let mut pairs = vec![("base_url", "http://127.0.0.1:8089"), ("path", "/items"), ("id_field", "id")];
        pairs.extend_from_slice(extra);
        from_pairs(Settings::read, &pairs).unwrap()
    }

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    fn next(
        s: &Settings,
        position: Option<&Cursor>,
        headers: &[(&str, &str)],
        body: &str,
        count: usize,
    ) -> Option<String> {
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let url = request_url(s, position, 2);
        next_cursor(s, position, 2, &url, &headers, raw(body), count).unwrap().map(|c| c.encode())
    }

    #[test]
    fn request_urls_by_mode() {
        let s = settings(&[("query", "a=1"), ("per_page_param", "per_page")]);
        assert_eq!(request_url(&s, None, 50), "http://127.0.0.1:8089/items?a=1&per_page=50");
        let link = Cursor::Link("http://127.0.0.1:8089/items?after=x".into());
        assert_eq!(request_url(&s, Some(&link), 50), "http://127.0.0.1:8089/items?after=x");

        let s = settings(&[("pagination", "cursor"), ("cursor_pointer", "/next"), ("cursor_param", "after")]);
        assert_eq!(request_url(&s, None, 50), "http://127.0.0.1:8089/items");
        let c = Cursor::Token("a b/c".into());
        assert_eq!(request_url(&s, Some(&c), 50), "http://127.0.0.1:8089/items?after=a%20b%2Fc");

        let s = settings(&[("pagination", "page"), ("per_page_param", "size")]);
        assert_eq!(request_url(&s, None, 50), "http://127.0.0.1:8089/items?page=1&size=50");
        assert_eq!(request_url(&s, Some(&Cursor::Page(3)), 50), "http://127.0.0.1:8089/items?page=3&size=50");

        let s = settings(&[("pagination", "offset"), ("offset_param", "skip"), ("limit_param", "take")]);
        assert_eq!(request_url(&s, None, 50), "http://127.0.0.1:8089/items?skip=0&take=50");
        assert_eq!(request_url(&s, Some(&Cursor::Offset(100)), 50), "http://127.0.0.1:8089/items?skip=100&take=50");

        let s = settings(&[("pagination", "none")]);
        assert_eq!(request_url(&s, None, 50), "http://127.0.0.1:8089/items");
    }

    #[test]
    fn next_cursors_by_mode() {
        let s = settings(&[]);
        let link = [("link", "</items?page=2>; rel=\"next\"")];
        assert_eq!(next(&s, None, &link, "[]", 0).as_deref(), Some("v1:link:http://127.0.0.1:8089/items?page=2"));
        assert_eq!(next(&s, None, &[("link", "</items?page=1>; rel=prev")], "[]", 2), None);
        assert_eq!(next(&s, None, &[], "[]", 2), None);

        let s = settings(&[("pagination", "cursor"), ("cursor_pointer", "/meta/next"), ("cursor_param", "after")]);
        assert_eq!(next(&s, None, &[], r#"{"meta":{"next":"abc"}}"#, 2).as_deref(), Some("v1:cursor:abc"));
        assert_eq!(next(&s, None, &[], r#"{"meta":{"next":42}}"#, 2).as_deref(), Some("v1:cursor:42"));
        assert_eq!(next(&s, None, &[], r#"{"meta":{"next":null}}"#, 2), None);
        assert_eq!(next(&s, None, &[], r#"{"meta":{"next":""}}"#, 2), None);
        assert_eq!(next(&s, None, &[], r#"{"meta":{}}"#, 2), None);
        let err = next_cursor(&s, None, 2, "u", &[], raw(r#"{"meta":{"next":[1]}}"#), 2).unwrap_err();
        assert!(matches!(err, ConnectorError::Parse(m) if m.contains("is an array, not a string or number")));

        // Page length sent (2): a short page ends the pass.
        let s = settings(&[("pagination", "page"), ("per_page_param", "size")]);
        assert_eq!(next(&s, None, &[], "[]", 2).as_deref(), Some("v1:page:2"));
        assert_eq!(next(&s, Some(&Cursor::Page(2)), &[], "[]", 2).as_deref(), Some("v1:page:3"));
        assert_eq!(next(&s, Some(&Cursor::Page(2)), &[], "[]", 1), None);
        assert_eq!(next(&s, Some(&Cursor::Page(2)), &[], "[]", 0), None);
        // Page length unknown: only an empty page ends it.
        let s = settings(&[("pagination", "page"), ("start_page", "0")]);
        assert_eq!(next(&s, None, &[], "[]", 1).as_deref(), Some("v1:page:1"));
        assert_eq!(next(&s, None, &[], "[]", 0), None);
        // Page length configured but not sent: the source's own length.
        let s = settings(&[("pagination", "page"), ("page_size", "30")]);
        assert_eq!(next(&s, None, &[], "[]", 29), None);
        assert_eq!(next(&s, None, &[], "[]", 30).as_deref(), Some("v1:page:2"));

        let s = settings(&[("pagination", "offset")]);
        assert_eq!(next(&s, None, &[], "[]", 2).as_deref(), Some("v1:offset:2"));
        assert_eq!(next(&s, Some(&Cursor::Offset(4)), &[], "[]", 2).as_deref(), Some("v1:offset:6"));
        assert_eq!(next(&s, Some(&Cursor::Offset(4)), &[], "[]", 1), None);

        let s = settings(&[("pagination", "none")]);
        assert_eq!(next(&s, None, &[("link", "</x>; rel=next")], "[]", 2), None);
    }

    #[test]
    fn items_at_the_pointer() {
        let s = settings(&[("items_pointer", "/data")]);
        let texts =
            |body: &str| items(&s, "u", raw(body)).map(|v| v.iter().map(|r| r.get().to_string()).collect::<Vec<_>>());
        assert_eq!(texts(r#"{"data": [{"id": 1}, 2]}"#).unwrap(), vec![r#"{"id": 1}"#, "2"]);
        assert_eq!(texts(r#"{"data": null}"#).unwrap(), Vec::<String>::new());
        let err = texts(r#"{"other": []}"#).unwrap_err();
        assert!(
            matches!(err, ConnectorError::Parse(m) if m == "response from u has nothing at `items_pointer` `/data`")
        );
        let err = texts(r#"{"data": {"id": 1}}"#).unwrap_err();
        assert!(
            matches!(err, ConnectorError::Parse(m) if m.contains("`items_pointer` `/data` is an object, not an array"))
        );
        let s = settings(&[]);
        let err = items(&s, "u", raw(r#"{"id": 1}"#)).unwrap_err();
        assert!(matches!(err, ConnectorError::Parse(m) if m.contains("the body is an object, not an array")));
    }

    #[test]
    fn malformed_json_names_the_url() {
        let err = parse_body("http://127.0.0.1:8089/items", b"[{\"id\": 1},").unwrap_err();
        assert!(
            matches!(err, ConnectorError::Parse(m) if m.starts_with("response from http://127.0.0.1:8089/items is not JSON"))
        );
        let err = parse_body("u", b"\xff").unwrap_err();
        assert!(matches!(err, ConnectorError::Parse(m) if m.contains("not UTF-8")));
    }

    #[test]
    fn records_from_items() {
        let s = settings(&[
            ("id_field", "/meta/id"),
            ("last_modified_field", "updated"),
            ("author_field", "/by/name"),
            ("record_path", "/items/{id}"),
        ]);
        let item = r#"{"meta": {"id": 12}, "updated": "2024-01-02T03:04:05Z", "by": {"name": "ada"},  "x": 1.50}"#;
        let r = record(&s, raw(item)).unwrap();
        assert_eq!(r.id, "12");
        assert_eq!(r.raw, item);
        assert_eq!(r.provenance.uri, "http://127.0.0.1:8089/items/12");
        assert_eq!(r.provenance.last_modified.as_deref(), Some("2024-01-02T03:04:05Z"));
        assert_eq!(r.provenance.author.as_deref(), Some("ada"));

        let s = settings(&[("url_field", "href")]);
        let r = record(&s, raw(r#"{"id": "a/b", "href": "https://site.test/a"}"#)).unwrap();
        assert_eq!(r.provenance.uri, "https://site.test/a");
        let r = record(&s, raw(r#"{"id": 1, "href": "/items/1"}"#)).unwrap();
        assert_eq!(r.provenance.uri, "http://127.0.0.1:8089/items/1");
        let r = record(&s, raw(r#"{"id": "a/b"}"#)).unwrap();
        assert_eq!(r.provenance.uri, "http://127.0.0.1:8089/items#a%2Fb");

        assert_eq!(record(&s, raw("[1]")).unwrap_err(), "not a JSON object but an array");
        assert_eq!(record(&s, raw(r#"{"name": "x"}"#)).unwrap_err(), "no `id` field with a non-empty string or number");
        assert_eq!(record(&s, raw(r#"{"id": ""}"#)).unwrap_err(), "no `id` field with a non-empty string or number");
        assert_eq!(record(&s, raw(r#"{"id": true}"#)).unwrap_err(), "no `id` field with a non-empty string or number");
    }

    #[test]
    fn a_page_that_does_not_move_on_is_refused() {
        let s = settings(&[("pagination", "page"), ("page_param", "p")]);
        check_progress(&s, "http://h/items?p=1", b"[{\"id\":1}]", 1).unwrap();
        let err = check_progress(&s, "http://h/items?p=2", b"[{\"id\":1}]", 1).unwrap_err();
        assert!(
            matches!(err, ConnectorError::InvalidConfig(m) if m.contains("seems to ignore the query parameter `p`"))
        );
    }
}
