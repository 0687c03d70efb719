//! A test connector of the world `connector-with-evidence` (`partner:connector@1.1.0`):
//! it exports both `source` and `evidence`, and answers what its config says.
//!
//! - `items`: a JSON array of evidence objects (`id`, `title`, `content`, `url`,
//!   `author`, `created_at`, `confidence`, `authority`, `metadata`). A claim may be a
//!   string that Rust parses as a float (`"NaN"`, `"inf"`), for what JSON cannot say.
//! - `stamp = true`: each answer's contents end with the time of the call, so a test
//!   tells an answer from the cache (the same time) from a fresh one.
//! - `fetch_other = true`: `fetch` returns another item than the one asked for.
//! - `fail`: `rate-limited` or `other`, the error every evidence call returns.
//! - `overflow = true`: `search` returns every item, whatever the limit.
//!
//! Its `source` export lists the same items as records, in one page.

wit_bindgen::generate!({ world: "connector-with-evidence", path: "../../../wit/v1.1", generate_all });

use exports::partner::connector::evidence::{Evidence, Guest as EvidenceGuest};
use exports::partner::connector::source::Guest as SourceGuest;
use partner::connector::config;
use partner::connector::types::{
    ConnectorError, DraftPage, EnvelopeDraft, Page, PageRequest, Provenance, RecordType, RetryInfo, SourceRecord,
};
use serde_json::Value;

struct Probe;

fn flag(key: &str) -> bool {
    config::get(key).as_deref() == Some("true")
}

fn claim(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.5,
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn items() -> Result<Vec<Evidence>, ConnectorError> {
    let raw = config::get("items").unwrap_or_else(|| "[]".into());
    let list: Vec<Value> = serde_json::from_str(&raw)
        .map_err(|e| ConnectorError::InvalidConfig(format!("`items` is not a JSON array: {e}")))?;
    let stamp = if flag("stamp") {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!(" @{}", t.as_nanos())
    } else {
        String::new()
    };
    Ok(list
        .iter()
        .map(|v| Evidence {
            id: text(v, "id").unwrap_or_default(),
            title: text(v, "title").unwrap_or_default(),
            content: format!("{}{stamp}", text(v, "content").unwrap_or_default()),
            url: text(v, "url").unwrap_or_default(),
            author: text(v, "author"),
            created_at: text(v, "created_at"),
            confidence: claim(&v["confidence"]),
            authority: claim(&v["authority"]),
            metadata: v.get("metadata").map(Value::to_string),
        })
        .collect())
}

fn failure() -> Option<ConnectorError> {
    match config::get("fail").as_deref() {
        Some("rate-limited") => {
            Some(ConnectorError::RateLimited(RetryInfo { retry_after_ms: Some(1000), message: "slow down".into() }))
        }
        Some(other) => Some(ConnectorError::Other(format!("asked to fail: {other}"))),
        None => None,
    }
}

impl EvidenceGuest for Probe {
    fn search(query: String, limit: u32) -> Result<Vec<Evidence>, ConnectorError> {
        if let Some(e) = failure() {
            return Err(e);
        }
        let words: Vec<String> = query.to_lowercase().split_whitespace().map(str::to_string).collect();
        let matching = items()?.into_iter().filter(|e| {
            let hay = format!("{} {}", e.title, e.content).to_lowercase();
            words.iter().any(|w| w == "*" || hay.contains(w.as_str()))
        });
        if flag("overflow") {
            return Ok(matching.collect());
        }
        Ok(matching.take(limit as usize).collect())
    }

    fn fetch(id: String) -> Result<Option<Evidence>, ConnectorError> {
        if let Some(e) = failure() {
            return Err(e);
        }
        let all = items()?;
        if flag("fetch_other") {
            return Ok(all.into_iter().find(|e| e.id != id));
        }
        Ok(all.into_iter().find(|e| e.id == id))
    }
}

fn record(e: Evidence) -> SourceRecord {
    SourceRecord {
        id: e.id.clone(),
        raw: serde_json::json!({ "title": e.title, "content": e.content }).to_string(),
        provenance: Provenance { uri: e.url, etag: None, last_modified: e.created_at, author: e.author },
    }
}

fn draft(r: SourceRecord) -> EnvelopeDraft {
    EnvelopeDraft {
        record_id: r.id,
        record_type: RecordType::Document,
        source_instance: "evidence-probe".into(),
        provenance: r.provenance,
        acl_tags: vec![],
        raw: r.raw,
        metadata: None,
    }
}

impl SourceGuest for Probe {
    fn source_name() -> String {
        "evidence-probe".into()
    }

    fn list_records(_: PageRequest) -> Result<Page, ConnectorError> {
        Ok(Page { records: items()?.into_iter().map(record).collect(), next_cursor: None, skipped: vec![] })
    }

    fn get_record(id: String) -> Result<SourceRecord, ConnectorError> {
        items()?.into_iter().find(|e| e.id == id).map(record).ok_or(ConnectorError::NotFound(id))
    }

    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        Ok(records.into_iter().map(draft).collect())
    }

    fn list_drafts(req: PageRequest) -> Result<DraftPage, ConnectorError> {
        let page = Self::list_records(req)?;
        Ok(DraftPage { drafts: page.records.into_iter().map(draft).collect(), next_cursor: None, skipped: vec![] })
    }
}

export!(Probe);
