//! Per-page conditional requests: the ETag of each page a pass read, with the cursor of
//! the page after it, kept in state (at most config `etag_pages` pages).
//!
//! A page requested again with its kept ETag (`If-None-Match`) that comes back `304 Not
//! Modified` is as it was: its records are not sent again, and the pass goes on with
//! the next page's kept cursor. So an edit on page 5 is seen on the next run while
//! pages 1–4 cost a `304` each. Only `GET` requests are conditional.
//!
//! The map is bounded: the most recently used pages are kept, the others are fetched
//! in full. An entry is keyed by the page's URL, so another configuration (path,
//! query, page size) never gets an ETag issued for another resource.

use std::sync::Mutex;

use connector_sdk::host::state;
use serde_json::{Value, json};

/// The state key of the map.
pub const KEY: &str = "http_json.etags";
/// An entry longer than this (URL + ETag + cursor) is not kept.
const MAX_ENTRY_BYTES: usize = 8 << 10;

/// What is kept of one page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    /// The ETag the page came with.
    pub etag: String,
    /// The cursor of the page after it, none if it was the last.
    pub next: Option<String>,
}

/// The map of this run, read from state on first use: `(url, kept)`, least recently
/// used first.
static MAP: Mutex<Option<Vec<(String, Kept)>>> = Mutex::new(None);

fn with_map<R>(f: impl FnOnce(&mut Vec<(String, Kept)>) -> R) -> R {
    let mut guard = MAP.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(|| state::get(KEY).map(|t| decode(&t)).unwrap_or_default());
    f(map)
}

/// What is kept for the page at `url`.
pub fn kept(url: &str) -> Option<Kept> {
    with_map(|map| map.iter().find(|(u, _)| u == url).map(|(_, k)| k.clone()))
}

/// Keeps (or, without an ETag, forgets) the page just read from `url`, keeping at most
/// `bound` pages.
pub fn remember(url: &str, etag: Option<&str>, next: Option<String>, bound: usize) {
    with_map(|map| {
        let before = map.clone();
        map.retain(|(u, _)| u != url);
        if let Some(etag) = etag.map(str::trim).filter(|e| !e.is_empty())
            && url.len() + etag.len() + next.as_ref().map_or(0, String::len) <= MAX_ENTRY_BYTES
        {
            map.push((url.to_string(), Kept { etag: etag.to_string(), next }));
        }
        let excess = map.len().saturating_sub(bound);
        map.drain(..excess);
        if *map != before {
            if map.is_empty() { state::delete(KEY) } else { state::set(KEY, &encode(map)) }
        }
    });
    // The first-page ETag of earlier versions (`connector_sdk::fetch`) is not used.
    state::delete(connector_sdk::fetch::ETAG_KEY);
    state::delete(connector_sdk::fetch::ETAG_URL_KEY);
}

fn encode(map: &[(String, Kept)]) -> String {
    let pages: Vec<Value> = map.iter().map(|(u, k)| json!([u, k.etag, k.next])).collect();
    json!({"v": 1, "pages": pages}).to_string()
}

/// The map in `text`; empty when it is not one this version wrote.
fn decode(text: &str) -> Vec<(String, Kept)> {
    let Ok(v) = serde_json::from_str::<Value>(text) else { return Vec::new() };
    if v["v"] != 1 {
        return Vec::new();
    }
    let entry = |e: &Value| {
        let url = e.get(0)?.as_str()?.to_string();
        let etag = e.get(1)?.as_str()?.to_string();
        let next = e.get(2)?.as_str().map(String::from);
        Some((url, Kept { etag, next }))
    };
    v["pages"].as_array().map(|a| a.iter().filter_map(entry).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_round_trips_and_refuses_other_formats() {
        let map = vec![
            ("http://h/a?page=1".to_string(), Kept { etag: "\"1\"".into(), next: Some("v2:2:page:2".into()) }),
            ("http://h/a?page=2".to_string(), Kept { etag: "W/\"2\"".into(), next: None }),
        ];
        assert_eq!(decode(&encode(&map)), map);
        assert!(decode(r#"{"v": 2, "pages": [["u", "e", null]]}"#).is_empty());
        assert!(decode("not json").is_empty());
    }
}
