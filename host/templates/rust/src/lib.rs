//! The `{{name}}` connector: the items of a paged REST/JSON API.
//!
//! Each page is `GET {base_url}/items?page=N` (N from 1), answered with
//!
//! ```json
//! {"items": [{"id": 1, "title": "...", "updated_at": "2026-01-01T00:00:00Z"}], "next": 2}
//! ```
//!
//! where `next` is the next page's number, or `null` on the last page. Each item is one
//! record; its `raw` is the item as the API sent it. One record is `GET
//! {base_url}/items/{id}`.
//!
//! Every request goes through the host (`connector_sdk::fetch`): only to the origins
//! the manifest allows, with the host's retries, and any credential added by the host
//! (the connector never sees it). The host's failures come back as typed errors (a
//! 404 `not-found`, a 429 `rate-limited`, a 5xx `api` with its status, an origin
//! that is not allowed `denied`) and are passed on as they are.
//!
//! Configuration (the manifest's `[config]`, declared in `capabilities.toml`):
//!
//! | key           | meaning                                     | default    |
//! |---------------|---------------------------------------------|------------|
//! | `base_url`    | the API, `http://` or `https://`            | required   |
//! | `record_type` | document, event, entity, claim or metric    | `document` |

use connector_sdk::fetch::get_fresh;
use connector_sdk::http_util::percent_encode;
use connector_sdk::settings::{ConfigReader, SettingsCell, missing};
use connector_sdk::{
    Connector, ConnectorError, EnvelopeDraft, Page, PageRequest, Provenance, RecordType, SkippedRecord, SourceRecord,
    export,
};
use serde_json::Value;

/// What the connector was configured with.
pub struct Settings {
    /// The API's base URL, without a trailing `/`.
    pub base_url: String,
    /// The envelopes' record type.
    pub record_type: RecordType,
}

impl Settings {
    /// Reads the settings from the config values; every error is `invalid-config`.
    pub fn read(cfg: &ConfigReader<'_>) -> Result<Settings, ConnectorError> {
        let base_url = cfg
            .http_url("base_url")?
            .ok_or_else(|| missing("base_url", "the API to read, such as https://api.example.com"))?;
        Ok(Settings { base_url, record_type: cfg.record_type("record_type", RecordType::Document)? })
    }

    /// The envelopes' `source_instance`: the API's host (and port).
    fn source_instance(&self) -> &str {
        let rest = self.base_url.split_once("://").map_or(self.base_url.as_str(), |(_, rest)| rest);
        rest.split('/').next().unwrap_or(rest)
    }

    fn item_url(&self, id: &str) -> String {
        format!("{}/items/{}", self.base_url, percent_encode(id))
    }
}

/// The settings of this run, read from the host on first use.
static SETTINGS: SettingsCell<Settings> = SettingsCell::new(Settings::read);

/// The page a cursor names: the first page without one, else the page number this
/// connector returned as its next cursor.
pub fn page_of(cursor: Option<&str>) -> Result<u64, ConnectorError> {
    match cursor {
        None => Ok(1),
        Some(c) => c.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            ConnectorError::InvalidConfig(format!(
                "cursor `{c}` was not issued by this connector (expected a page number)"
            ))
        }),
    }
}

/// One item as a record, or why it cannot be one.
pub fn record_of(s: &Settings, item: &Value) -> Result<SourceRecord, String> {
    let id = match item.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ if !item.is_object() => return Err("not a JSON object".into()),
        _ => return Err("no `id` that is a non-empty string or a number".into()),
    };
    Ok(SourceRecord {
        raw: item.to_string(),
        provenance: Provenance {
            uri: s.item_url(&id),
            etag: None,
            last_modified: item.get("updated_at").and_then(Value::as_str).map(String::from),
            author: None,
        },
        id,
    })
}

/// Reads one page's body (`url` names it in errors): its records, the items it
/// skipped, and the next page's cursor.
pub fn parse_page(s: &Settings, url: &str, body: &[u8]) -> Result<Page, ConnectorError> {
    let parse = |what: String| ConnectorError::Parse(format!("GET {url}: {what}"));
    let body: Value = serde_json::from_slice(body).map_err(|e| parse(format!("the body is not JSON: {e}")))?;
    let items = body.get("items").and_then(Value::as_array).ok_or_else(|| parse("no `items` array".into()))?;
    let next_cursor = match body.get("next") {
        None | Some(Value::Null) => None,
        Some(next) => {
            Some(next.as_u64().ok_or_else(|| parse(format!("`next` is {next}, not a page number")))?.to_string())
        }
    };
    let mut page = Page { records: Vec::new(), next_cursor, skipped: Vec::new() };
    for (i, item) in items.iter().enumerate() {
        match record_of(s, item) {
            Ok(record) => page.records.push(record),
            Err(reason) => page.skipped.push(SkippedRecord { locator: format!("item {} of {url}", i + 1), reason }),
        }
    }
    Ok(page)
}

const ACCEPT: &[(&str, &str)] = &[("Accept", "application/json")];

struct ThisConnector;

impl Connector for ThisConnector {
    fn source_name() -> String {
        "{{name}}".to_string()
    }

    /// The API's pages have a size of their own: the host's `limit` is not sent.
    fn list_records(req: PageRequest) -> Result<Page, ConnectorError> {
        let s = SETTINGS.get()?;
        let url = format!("{}/items?page={}", s.base_url, page_of(req.cursor.as_deref())?);
        let response = get_fresh(&url, ACCEPT)?;
        parse_page(s, &url, &response.body)
    }

    fn get_record(id: String) -> Result<SourceRecord, ConnectorError> {
        let s = SETTINGS.get()?;
        let url = s.item_url(&id);
        let response = get_fresh(&url, ACCEPT)?;
        let item: Value = serde_json::from_slice(&response.body)
            .map_err(|e| ConnectorError::Parse(format!("GET {url}: the body is not JSON: {e}")))?;
        record_of(s, &item).map_err(|why| ConnectorError::Parse(format!("GET {url}: {why}")))
    }

    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        let s = SETTINGS.get()?;
        Ok(records
            .into_iter()
            .map(|r| EnvelopeDraft {
                record_id: r.id,
                record_type: s.record_type,
                source_instance: s.source_instance().to_string(),
                provenance: r.provenance,
                acl_tags: Vec::new(),
                raw: r.raw,
                metadata: None,
            })
            .collect())
    }
}

export!(ThisConnector);

#[cfg(test)]
mod tests {
    use connector_sdk::settings::from_pairs;

    use super::*;

    fn settings() -> Settings {
        from_pairs(Settings::read, &[("base_url", "https://api.example.com/")]).unwrap()
    }

    #[test]
    fn a_page_gives_its_records_skipped_items_and_next_page() {
        let body = br#"{"items": [{"id": 1, "title": "One", "updated_at": "2026-01-01T00:00:00Z"},
                                 {"title": "no id"}, {"id": "b-2"}], "next": 2}"#;
        let page = parse_page(&settings(), "https://api.example.com/items?page=1", body).unwrap();
        let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["1", "b-2"]);
        assert_eq!(page.records[0].provenance.uri, "https://api.example.com/items/1");
        assert_eq!(page.records[0].provenance.last_modified.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(page.skipped.len(), 1);
        assert_eq!(page.skipped[0].locator, "item 2 of https://api.example.com/items?page=1");
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
    }

    #[test]
    fn the_last_page_has_no_next_cursor() {
        let page = parse_page(&settings(), "u", br#"{"items": [], "next": null}"#).unwrap();
        assert!(page.records.is_empty() && page.next_cursor.is_none());
    }

    #[test]
    fn a_body_that_is_not_a_page_is_a_parse_error() {
        for body in [&b"<html>"[..], br#"{"data": []}"#, br#"{"items": [], "next": "soon"}"#] {
            assert!(matches!(parse_page(&settings(), "u", body), Err(ConnectorError::Parse(_))));
        }
    }

    #[test]
    fn cursors_are_page_numbers() {
        assert_eq!(page_of(None).unwrap(), 1);
        assert_eq!(page_of(Some("3")).unwrap(), 3);
        assert!(matches!(page_of(Some("x")), Err(ConnectorError::InvalidConfig(_))));
        assert!(matches!(page_of(Some("0")), Err(ConnectorError::InvalidConfig(_))));
    }

    #[test]
    fn config_errors_name_the_key() {
        let e = from_pairs(Settings::read, &[]).err().unwrap();
        assert!(matches!(e, ConnectorError::InvalidConfig(m) if m.starts_with("config `base_url` is required")));
        let e = from_pairs(Settings::read, &[("base_url", "https://h"), ("record_type", "x")]).err().unwrap();
        assert!(matches!(e, ConnectorError::InvalidConfig(m) if m.contains("record_type")));
    }
}
