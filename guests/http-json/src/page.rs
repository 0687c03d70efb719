//! Fetching pages and single records from the source and turning items into records.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use connector_sdk::fetch;
use connector_sdk::host::{info, warn};
use connector_sdk::http_util::{header, link_next, percent_encode, resolve_url};
use connector_sdk::{ConnectorError, Provenance, SkippedRecord, SourceRecord};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::{CursorFrom, Method, Pagination, Settings};
use crate::cursor::{Cursor, Position};
use crate::json::{kind, raw_at, scalar};
use crate::request::{self, HEADERS, Request};
use crate::{etags, incremental, signals};

/// One item read as a record, with what its envelope draft needs besides.
pub struct Item {
    /// The record.
    pub record: SourceRecord,
    /// Its `title_field`, for the draft's metadata.
    pub title: Option<String>,
}

/// One page of items.
pub struct Listed {
    /// The records, in the source's order.
    pub items: Vec<Item>,
    /// The cursor of the next page, none at the end of the pass.
    pub next_cursor: Option<String>,
    /// Items that could not be read, and a pass that stopped although the source said there was more.
    pub skipped: Vec<SkippedRecord>,
}

/// One page of records: the first of a pass when `cursor` is none. Pages that come
/// back `304 Not Modified` are passed over within the call, up to the next page
/// that changed (or the end of the pass).
pub fn list(s: &Settings, cursor: Option<&str>, limit: Option<u32>) -> Result<Listed, ConnectorError> {
    let mut position = cursor.map(|c| Cursor::parse(c, &s.pagination, &s.origin)).transpose()?;
    if position.is_none() && s.incremental.is_some() {
        incremental::start_pass();
    }
    let since = s.incremental.as_ref().and_then(incremental::since);
    let size = s.request_size(limit);
    let mut not_modified = 0;
    loop {
        let page = position.as_ref().map_or(1, |c| c.page);
        let req = request::build(s, position.as_ref().map(|c| &c.at), size, since.as_ref())?;
        // A kept page whose next cursor this configuration cannot read is fetched in full.
        let kept = (s.etag_pages > 0 && s.method == Method::Get)
            .then(|| etags::kept(&req.url))
            .flatten()
            .filter(|k| k.next.as_deref().is_none_or(|n| Cursor::parse(n, &s.pagination, &s.origin).is_ok()));
        let response = request::send(&req, kept.as_ref().map(|k| k.etag.as_str()))?;
        let Some(kept) = kept.filter(|_| response.status == 304) else {
            return fresh(s, position.as_ref(), page, size, &req, response);
        };
        not_modified += 1;
        info(&format!(
            "page {page} ({}): not modified since the last pass (304); its records are as they were",
            req.label()
        ));
        match kept.next {
            None => {
                if s.incremental.is_some() {
                    incremental::end_pass();
                }
                return Ok(Listed { items: Vec::new(), next_cursor: None, skipped: Vec::new() });
            }
            // Kept cursors that lead back to a page already passed over would loop.
            Some(_) if not_modified > s.etag_pages => {
                return Err(ConnectorError::Other(format!(
                    "{} pages in a row were not modified, more than config `etag_pages` ({}) keeps: the kept ETags loop",
                    not_modified, s.etag_pages
                )));
            }
            Some(next) => position = Some(Cursor::parse(&next, &s.pagination, &s.origin)?),
        }
    }
}

/// The page `req` fetched, read.
fn fresh(
    s: &Settings,
    position: Option<&Cursor>,
    page: u64,
    size: u32,
    req: &Request,
    response: connector_sdk::host::http::Response,
) -> Result<Listed, ConnectorError> {
    let url = &req.url;
    let body = parse_body(url, &response.body)?;
    signals::body_error(&s.body_errors, &req.label(), response.status, body)?;
    let raw_items = items(s, url, body)?;
    let progress_key = match &req.body {
        Some(b) => format!("{} {b}", req.label()),
        None => url.clone(),
    };
    check_progress(s, &progress_key, &response.body, raw_items.len())?;

    let mut items = Vec::with_capacity(raw_items.len());
    let mut marks = Vec::new();
    let mut skipped = Vec::new();
    for (index, item) in raw_items.iter().enumerate() {
        match record(s, item) {
            Ok((item, mark)) => {
                items.push(item);
                marks.extend(mark);
            }
            Err(reason) => skipped.push(SkippedRecord { locator: format!("item {} of {url}", index + 1), reason }),
        }
    }
    let next = next_cursor(s, position.map(|c| &c.at), size, url, &response.headers, body, &raw_items)?
        .map(|at| Cursor { page: page + 1, at });
    if next.is_none()
        && let Some(marker) = signals::ignored_more(s, &response.headers, body)
    {
        let reason = format!(
            "the body says there is more ({marker}) but pagination = {} ignores it: the pass stopped at this page (check the connector's pagination config)",
            s.pagination_name
        );
        warn(&format!("page {page} ({}): {reason}", req.label()));
        skipped.push(SkippedRecord { locator: format!("page {page}"), reason });
    }
    if s.incremental.is_some() {
        incremental::observe(marks.iter());
        if next.is_none() {
            incremental::end_pass();
        }
    }
    let next = next.map(|c| c.encode(&s.origin));
    if s.etag_pages > 0 && s.method == Method::Get {
        etags::remember(url, header(&response.headers, "etag"), next.clone(), s.etag_pages);
    }
    Ok(Listed { items, next_cursor: next, skipped })
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
    signals::body_error(&s.body_errors, &format!("GET {url}"), response.status, body)?;
    let item = raw_at(body, &s.record_pointer)
        .map_err(|e| ConnectorError::Parse(format!("response from {url} is not JSON: {e}")))?
        .ok_or_else(|| {
            ConnectorError::Parse(format!("response from {url} has nothing at `record_pointer` `{}`", s.record_pointer))
        })?;
    record(s, item)
        .map(|(item, _)| item.record)
        .map_err(|reason| ConnectorError::Parse(format!("response from {url}: {reason}")))
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

/// Turns one item into a record (parsed once: its title and its incremental mark are
/// read here too), or says why it cannot be one.
fn record(s: &Settings, item: &RawValue) -> Result<(Item, Option<Value>), String> {
    let value = Members::of(item)?;
    let id = value
        .get(&s.id_field)
        .as_ref()
        .and_then(scalar)
        .ok_or_else(|| format!("no `{}` field with a non-empty string or number", s.id_field.as_str()))?;
    let text = |field: &Option<crate::json::Field>| field.as_ref().and_then(|f| value.get(f)).as_ref().and_then(scalar);
    // A relative `url_field` (`/items/7`) is taken relative to the list's URL.
    let uri = text(&s.url_field)
        .filter(|u| !u.contains(char::is_whitespace))
        .map(|u| resolve_url(&s.list_url, &u))
        .or_else(|| record_url(s, &id))
        .unwrap_or_else(|| format!("{}#{}", s.list_url, percent_encode(&id)));
    let mark = s.incremental.as_ref().and_then(|i| value.get(&i.field));
    let record = SourceRecord {
        raw: item.get().to_string(),
        provenance: Provenance {
            uri,
            etag: text(&s.etag_field),
            last_modified: text(&s.last_modified_field),
            author: text(&s.author_field),
        },
        id,
    };
    Ok((Item { record, title: text(&s.title_field) }, mark))
}

/// An item's top-level members, each kept as raw text and parsed only when a field
/// asks for it: an item of a dozen members, of which the connector reads four, is
/// not built into a tree of values (in the sandbox that was most of a page's time).
enum Members<'a> {
    /// The members by name (the last of a repeated name, as `serde_json::Value`).
    Raw(std::collections::BTreeMap<&'a str, &'a RawValue>),
    /// An object whose member names hold escapes, which cannot be borrowed: parsed whole.
    Parsed(Value),
}

impl<'a> Members<'a> {
    /// The members of `item`, which must be a JSON object.
    fn of(item: &'a RawValue) -> Result<Members<'a>, String> {
        if let Ok(members) = serde_json::from_str(item.get()) {
            return Ok(Members::Raw(members));
        }
        let value: Value = serde_json::from_str(item.get()).map_err(|e| format!("not JSON: {e}"))?;
        if !value.is_object() {
            return Err(format!("not a JSON object but {}", kind(&value)));
        }
        Ok(Members::Parsed(value))
    }

    /// The value of `field`, if the item has it.
    fn get(&self, field: &crate::json::Field) -> Option<Value> {
        use crate::json::Field;
        match self {
            Members::Parsed(value) => field.get(value).cloned(),
            Members::Raw(members) => {
                let (name, rest) = match field {
                    Field::Key(key) => (std::borrow::Cow::Borrowed(key.as_str()), ""),
                    Field::Pointer(pointer) => {
                        let tail = &pointer[1..];
                        let (first, rest) = tail.find('/').map_or((tail, ""), |i| (&tail[..i], &tail[i..]));
                        (std::borrow::Cow::Owned(first.replace("~1", "/").replace("~0", "~")), rest)
                    }
                };
                let member: Value = serde_json::from_str(members.get(name.as_ref())?.get()).ok()?;
                if rest.is_empty() { Some(member) } else { member.pointer(rest).cloned() }
            }
        }
    }
}

/// The URL of record `id`, if config `record_path` is set.
fn record_url(s: &Settings, id: &str) -> Option<String> {
    let path = s.record_path.as_ref()?.replace("{id}", &percent_encode(id));
    Some(format!("{}/{}", s.base_url, path.trim_start_matches('/')))
}

/// The position of the page after this one, if there is one.
fn next_cursor(
    s: &Settings,
    position: Option<&Position>,
    size: u32,
    url: &str,
    headers: &[(String, String)],
    body: &RawValue,
    items: &[&RawValue],
) -> Result<Option<Position>, ConnectorError> {
    let count = items.len() as u64;
    let parse = |e: serde_json::Error| ConnectorError::Parse(format!("response from {url} is not JSON: {e}"));
    let at = |pointer: &str| -> Result<Option<Value>, ConnectorError> {
        raw_at(body, pointer)
            .map_err(parse)?
            .map(|raw| serde_json::from_str::<Value>(raw.get()).map_err(parse))
            .transpose()
    };
    Ok(match &s.pagination {
        Pagination::None => None,
        Pagination::Link => link_next(headers).map(|next| Position::Link(resolve_url(url, &next))),
        Pagination::NextUrl { pointer } => {
            let link = match at(pointer)? {
                None | Some(Value::Null) => None,
                Some(Value::String(u)) => Some(u),
                // JSON:API and HAL may write a link as `{"href": "..."}`.
                Some(Value::Object(o)) if o.get("href").is_some_and(|h| h.is_string() || h.is_null()) => {
                    o.get("href").and_then(Value::as_str).map(String::from)
                }
                Some(v) => {
                    return Err(ConnectorError::Parse(format!(
                        "response from {url}: the next URL at `next_url_pointer` `{pointer}` is {}, not a URL",
                        kind(&v)
                    )));
                }
            };
            match link.map(|l| l.trim().to_string()).filter(|l| !l.is_empty()) {
                None => None,
                Some(l) => {
                    let next = resolve_url(url, &l);
                    if !(next.starts_with("http://") || next.starts_with("https://")) {
                        return Err(ConnectorError::Parse(format!(
                            "response from {url}: the next URL at `next_url_pointer` `{pointer}` is `{l}`, not an http(s) URL"
                        )));
                    }
                    Some(Position::Url(next))
                }
            }
        }
        Pagination::Cursor { from, param, more } => {
            let says_more = match more {
                None => true,
                Some(p) => at(p)? == Some(Value::Bool(true)),
            };
            let (value, place) = match from {
                CursorFrom::Body(pointer) => (at(pointer)?, format!("`cursor_pointer` `{pointer}`")),
                CursorFrom::LastItem(field) => {
                    let last = match items.last() {
                        Some(raw) => serde_json::from_str::<Value>(raw.get()).map_err(parse)?,
                        None => Value::Null,
                    };
                    (field.get(&last).cloned(), format!("`{}` of the last item", field.as_str()))
                }
            };
            match value {
                _ if !says_more => None,
                None | Some(Value::Null) => None,
                Some(Value::String(v)) if v.is_empty() => None,
                Some(v) if param.is_some() && scalar(&v).is_none() => {
                    return Err(ConnectorError::Parse(format!(
                        "response from {url}: the next cursor at {place} is {}, not a string or number",
                        kind(&v)
                    )));
                }
                Some(v) => Some(Position::Token(v)),
            }
        }
        Pagination::Page { start, .. } => {
            // Without a page length sent or configured, only an empty page ends the pass.
            let expected = if s.per_page_param.is_some() { Some(size) } else { s.page_size };
            let current = match position {
                Some(Position::Page(n)) => *n,
                _ => *start,
            };
            let short = expected.is_some_and(|e| count < u64::from(e));
            (count > 0 && !short).then(|| Position::Page(current + 1))
        }
        Pagination::Offset { .. } => {
            let current = match position {
                Some(Position::Offset(n)) => *n,
                _ => 0,
            };
            (count > 0 && count >= u64::from(size)).then(|| Position::Offset(current + count))
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
    use serde_json::json;

    use super::*;

    use crate::config::test_settings as settings;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    /// The next position after a page of `count` items `{"id": n}` and `body`, as
    /// `Cursor` text (page 2).
    fn next(
        s: &Settings,
        position: Option<&Position>,
        headers: &[(&str, &str)],
        body: &str,
        count: usize,
    ) -> Option<String> {
        next_err(s, position, headers, body, count).unwrap()
    }

    fn next_err(
        s: &Settings,
        position: Option<&Position>,
        headers: &[(&str, &str)],
        body: &str,
        count: usize,
    ) -> Result<Option<String>, ConnectorError> {
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let url = request::build(s, position, 2, None).unwrap().url;
        let texts: Vec<String> = (1..=count).map(|n| format!(r#"{{"id": {n}, "sort": [{n}, "x"]}}"#)).collect();
        let items: Vec<&RawValue> = texts.iter().map(|t| raw(t)).collect();
        Ok(next_cursor(s, position, 2, &url, &headers, raw(body), &items)?
            .map(|at| Cursor { page: 2, at }.encode(&s.origin)))
    }

    #[test]
    fn next_cursors_by_mode() {
        let s = settings(&[]);
        let link = [("link", "</items?page=2>; rel=\"next\"")];
        assert_eq!(next(&s, None, &link, "[]", 0).as_deref(), Some("v2:2:link:/items?page=2"));
        assert_eq!(next(&s, None, &[("link", "</items?page=1>; rel=prev")], "[]", 2), None);
        assert_eq!(next(&s, None, &[], "[]", 2), None);

        let s = settings(&[("pagination", "cursor"), ("cursor_pointer", "/meta/next"), ("cursor_param", "after")]);
        assert_eq!(next(&s, None, &[], r#"{"meta":{"next":"abc"}}"#, 2).as_deref(), Some("v2:2:cursor:\"abc\""));
        assert_eq!(next(&s, None, &[], r#"{"meta":{"next":42}}"#, 2).as_deref(), Some("v2:2:cursor:42"));
        assert_eq!(next(&s, None, &[], r#"{"meta":{"next":null}}"#, 2), None);
        assert_eq!(next(&s, None, &[], r#"{"meta":{"next":""}}"#, 2), None);
        assert_eq!(next(&s, None, &[], r#"{"meta":{}}"#, 2), None);
        let err = next_err(&s, None, &[], r#"{"meta":{"next":[1]}}"#, 2).unwrap_err();
        assert!(matches!(err, ConnectorError::Parse(m) if m.contains("is an array, not a string or number")));

        // Page length sent (2): a short page ends the pass.
        let s = settings(&[("pagination", "page"), ("per_page_param", "size")]);
        assert_eq!(next(&s, None, &[], "[]", 2).as_deref(), Some("v2:2:page:2"));
        assert_eq!(next(&s, Some(&Position::Page(2)), &[], "[]", 2).as_deref(), Some("v2:2:page:3"));
        assert_eq!(next(&s, Some(&Position::Page(2)), &[], "[]", 1), None);
        assert_eq!(next(&s, Some(&Position::Page(2)), &[], "[]", 0), None);
        // Page length unknown: only an empty page ends it.
        let s = settings(&[("pagination", "page"), ("start_page", "0")]);
        assert_eq!(next(&s, None, &[], "[]", 1).as_deref(), Some("v2:2:page:1"));
        assert_eq!(next(&s, None, &[], "[]", 0), None);
        // Page length configured but not sent: the source's own length.
        let s = settings(&[("pagination", "page"), ("page_size", "30")]);
        assert_eq!(next(&s, None, &[], "[]", 29), None);
        assert_eq!(next(&s, None, &[], "[]", 30).as_deref(), Some("v2:2:page:2"));

        let s = settings(&[("pagination", "offset")]);
        assert_eq!(next(&s, None, &[], "[]", 2).as_deref(), Some("v2:2:offset:2"));
        assert_eq!(next(&s, Some(&Position::Offset(4)), &[], "[]", 2).as_deref(), Some("v2:2:offset:6"));
        assert_eq!(next(&s, Some(&Position::Offset(4)), &[], "[]", 1), None);

        let s = settings(&[("pagination", "none")]);
        assert_eq!(next(&s, None, &[("link", "</x>; rel=next")], "[]", 2), None);
    }

    #[test]
    fn next_urls_in_the_body_resolve_against_the_page_fetched() {
        let s = settings(&[("pagination", "next_url"), ("next_url_pointer", "/@odata.nextLink")]);
        let body = r#"{"value": [], "@odata.nextLink": "https://h.test/_api/web/lists/items?$skiptoken=Paged%3DTRUE%26p_ID%3D2"}"#;
        assert_eq!(
            next(&s, None, &[], body, 0).as_deref(),
            Some("v2:2:url:https://h.test/_api/web/lists/items?$skiptoken=Paged%3DTRUE%26p_ID%3D2")
        );
        let current = Position::Url("http://127.0.0.1:8089/api/items?$skiptoken=1".into());
        assert_eq!(
            next(&s, Some(&current), &[], r#"{"@odata.nextLink": "items?$skiptoken=2"}"#, 0).as_deref(),
            Some("v2:2:url:/api/items?$skiptoken=2")
        );
        assert_eq!(next(&s, None, &[], r#"{"value": []}"#, 0), None);
        assert_eq!(next(&s, None, &[], r#"{"@odata.nextLink": null}"#, 0), None);
        assert_eq!(next(&s, None, &[], r#"{"@odata.nextLink": " "}"#, 0), None);
        let err = next_err(&s, None, &[], r#"{"@odata.nextLink": 3}"#, 0).unwrap_err();
        assert!(
            matches!(err, ConnectorError::Parse(m) if m.ends_with("`next_url_pointer` `/@odata.nextLink` is a number, not a URL"))
        );
        let err = next_err(&s, None, &[], r#"{"@odata.nextLink": "mailto:x@y"}"#, 0).unwrap_err();
        assert!(matches!(err, ConnectorError::Parse(m) if m.contains("not an http(s) URL")), "scheme checked");

        let hal = settings(&[("pagination", "next_url"), ("next_url_pointer", "/links/next")]);
        assert_eq!(
            next(&hal, None, &[], r#"{"links": {"next": {"href": "/items?page[number]=2"}}}"#, 0).as_deref(),
            Some("v2:2:url:/items?page[number]=2")
        );
        assert_eq!(next(&hal, None, &[], r#"{"links": {"next": {"href": null}}}"#, 0), None);
    }

    #[test]
    fn has_more_and_the_last_items_field() {
        let s = settings(&[("pagination", "has_more"), ("last_id_param", "starting_after")]);
        assert_eq!(next(&s, None, &[], r#"{"has_more": true}"#, 3).as_deref(), Some("v2:2:cursor:3"));
        assert_eq!(next(&s, None, &[], r#"{"has_more": false}"#, 3), None);
        assert_eq!(next(&s, None, &[], r#"{}"#, 3), None);
        assert_eq!(next(&s, None, &[], r#"{"has_more": true}"#, 0), None, "an empty page has no last id");

        // Elasticsearch: `search_after` is the last hit's `sort`, any JSON, in the body.
        let es = settings(&[
            ("method", "POST"),
            ("pagination", "cursor"),
            ("cursor_field", "sort"),
            ("body_template", r#"{"size": "$page_size", "search_after": "$cursor"}"#),
        ]);
        assert_eq!(next(&es, None, &[], r#"{}"#, 2).as_deref(), Some("v2:2:cursor:[2,\"x\"]"));
        assert_eq!(next(&es, None, &[], r#"{}"#, 0), None);

        // GraphQL: the cursor until `hasNextPage` is false.
        let gql = settings(&[
            ("method", "POST"),
            ("pagination", "cursor"),
            ("cursor_pointer", "/data/items/pageInfo/endCursor"),
            ("has_more_pointer", "/data/items/pageInfo/hasNextPage"),
            ("body_template", r#"{"query": "q", "variables": {"after": "$cursor"}}"#),
        ]);
        let body = |more: bool| {
            format!(r#"{{"data": {{"items": {{"pageInfo": {{"endCursor": "Y3I6Mg==", "hasNextPage": {more}}}}}}}}}"#)
        };
        assert_eq!(next(&gql, None, &[], &body(true), 2).as_deref(), Some("v2:2:cursor:\"Y3I6Mg==\""));
        assert_eq!(next(&gql, None, &[], &body(false), 2), None);
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
    fn fields_read_from_raw_members_match_a_parsed_item() {
        // Names with escapes, `~` and `/` in pointers, a repeated name (the last wins,
        // as with a parsed value), and nested pointers give what the whole parse gives.
        let items = [
            r#"{"id": 1, "a\u0062": "esc", "x/y": {"z~w": 5}, "id": 2, "n": [10, {"m": "deep"}]}"#,
            r#"{"id": "q", "x/y": {"z~w": 6}, "n": [0, {"m": "d2"}], "ab": null}"#,
        ];
        let fields = ["id", "ab", "/x~1y/z~0w", "/n/1/m", "/n/0", "missing", "/missing/x", "/id"];
        for item in items {
            let whole: Value = serde_json::from_str(item).unwrap();
            let members = Members::of(raw(item)).unwrap();
            for f in fields {
                let field = crate::json::Field::parse("f", f).unwrap();
                assert_eq!(members.get(&field), field.get(&whole).cloned(), "{f} in {item}");
            }
        }
        assert!(matches!(Members::of(raw(items[0])).unwrap(), Members::Parsed(_)), "escaped names are parsed whole");
        assert!(matches!(Members::of(raw(items[1])).unwrap(), Members::Raw(_)));
        assert_eq!(Members::of(raw("[1]")).err().unwrap(), "not a JSON object but an array");
    }

    #[test]
    fn records_from_items() {
        let s = settings(&[
            ("id_field", "/meta/id"),
            ("last_modified_field", "updated"),
            ("author_field", "/by/name"),
            ("record_path", "/items/{id}"),
            ("title_field", "title"),
            ("etag_field", "@odata.etag"),
            ("incremental_field", "updated"),
            ("incremental_param", "since"),
        ]);
        let item = r#"{"meta": {"id": 12}, "updated": "2024-01-02T03:04:05Z", "by": {"name": "ada"},  "x": 1.50, "title": "T", "@odata.etag": "\"4\""}"#;
        let (Item { record: r, title }, mark) = record(&s, raw(item)).unwrap();
        assert_eq!(r.id, "12");
        assert_eq!(r.raw, item);
        assert_eq!(r.provenance.uri, "http://127.0.0.1:8089/items/12");
        assert_eq!(r.provenance.last_modified.as_deref(), Some("2024-01-02T03:04:05Z"));
        assert_eq!(r.provenance.author.as_deref(), Some("ada"));
        assert_eq!(r.provenance.etag.as_deref(), Some("\"4\""));
        assert_eq!(title.as_deref(), Some("T"));
        assert_eq!(mark, Some(json!("2024-01-02T03:04:05Z")));

        let s = settings(&[("url_field", "href")]);
        let uri = |item: &str| record(&s, raw(item)).unwrap().0.record.provenance.uri;
        assert_eq!(uri(r#"{"id": "a/b", "href": "https://site.test/a"}"#), "https://site.test/a");
        assert_eq!(uri(r#"{"id": 1, "href": "/items/1"}"#), "http://127.0.0.1:8089/items/1");
        assert_eq!(uri(r#"{"id": "a/b"}"#), "http://127.0.0.1:8089/items#a%2Fb");

        let err = |item: &str| record(&s, raw(item)).err().unwrap();
        assert_eq!(err("[1]"), "not a JSON object but an array");
        assert_eq!(err(r#"{"name": "x"}"#), "no `id` field with a non-empty string or number");
        assert_eq!(err(r#"{"id": ""}"#), "no `id` field with a non-empty string or number");
        assert_eq!(err(r#"{"id": true}"#), "no `id` field with a non-empty string or number");
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
