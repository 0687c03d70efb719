//! A connector that attacks the host through what it returns, as a hostile partner
//! would: config `case` picks the attack, and `in`, `at`, `ms`, `depth`, `mib`,
//! `count` and `text` tune it. Written against `wit/v1` only (through the SDK).
//!
//! | case | what it does |
//! |---|---|
//! | `sleep` | sleeps `ms` in a WASI call inside export `in` (`list`, `get-record`, `source-name`, `to-envelopes`) |
//! | `short-pages` | pages for ever, one record each, every call short |
//! | `growing-cursor` | empty pages for ever, each cursor one byte longer |
//! | `cycle` | cursors `A → B → A → …`, one record a page |
//! | `deep` | `raw` (or `metadata`, `at`) nested `depth` levels |
//! | `big` | a first draft whose `raw`, `metadata` or array `raw` (`at`) is `mib` MiB |
//! | `text` | `text` as the error, cursor, skipped locator, record id, source name or provenance URI (`at`) |
//! | `huge-error` | an error message of `mib` MiB |
//! | `many-rejected` | `count` drafts whose `raw` is not JSON, a page of 10,000 at a time |
//! | `many-skipped` | `count` skipped items, a page of 10,000 at a time |
//! | `log` | logs `text` through the `log` import, stdout and stderr |
//! | `wrong-id`, `many-drafts`, `no-drafts` | a lookup that returns another record, three drafts, none |
//! | `repeated` | record ids repeated within a page and across pages: `x` three times then once more on page 2, `z` twice on page 2 |
//! | `stale-cursor` | two pages; the second (cursor `page-2`) fails with `invalid-config` when config `fail` is `yes`, as a cursor from before a change of `base_url` would |
//!
//! `deep` also applies to `get-record`.

use connector_sdk::host::{config, log};
use connector_sdk::{
    Connector, ConnectorError, DraftPage, EnvelopeDraft, Page, PageRequest, Provenance, RecordType, SkippedRecord,
    SourceRecord, export,
};
use serde_json::json;

struct Hostile;

fn get(key: &str) -> Option<String> {
    config::get(key)
}

fn number(key: &str, default: u64) -> u64 {
    get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn case() -> String {
    get("case").unwrap_or_default()
}

fn at() -> String {
    get("at").unwrap_or_default()
}

fn text() -> String {
    get("text").unwrap_or_default()
}

/// Sleeps when the case is `sleep` and `export` is the one it targets.
fn maybe_sleep(export: &str) {
    if case() == "sleep" && get("in").as_deref().unwrap_or("list") == export {
        std::thread::sleep(std::time::Duration::from_millis(number("ms", 30_000)));
    }
}

fn draft(id: &str, raw: String) -> EnvelopeDraft {
    EnvelopeDraft {
        record_id: id.to_string(),
        record_type: RecordType::Event,
        source_instance: "hostile".into(),
        provenance: Provenance { uri: format!("hostile://{id}"), etag: None, last_modified: None, author: None },
        acl_tags: vec![],
        raw,
        metadata: None,
    }
}

fn plain(id: &str) -> EnvelopeDraft {
    draft(id, json!({ "id": id }).to_string())
}

fn page(drafts: Vec<EnvelopeDraft>, next: Option<String>) -> DraftPage {
    DraftPage { drafts, next_cursor: next, skipped: vec![] }
}

fn nested(depth: u64) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth as usize), "}".repeat(depth as usize))
}

fn drafts(req: PageRequest) -> Result<DraftPage, ConnectorError> {
    maybe_sleep("list");
    let cursor = req.cursor.unwrap_or_default();
    let n: u64 = cursor.parse().unwrap_or(0);
    Ok(match case().as_str() {
        "short-pages" => page(vec![plain(&format!("r{n}"))], Some((n + 1).to_string())),
        "growing-cursor" => page(vec![], Some(format!("{cursor}x"))),
        "cycle" => {
            let next = if cursor == "A" { "B" } else { "A" };
            page(vec![plain(&format!("at-{cursor}"))], Some(next.into()))
        }
        "deep" => {
            let mut d = plain("deep");
            match at().as_str() {
                "metadata" => d.metadata = Some(format!("{{\"x\":{}}}", nested(number("depth", 127)))),
                _ => d.raw = nested(number("depth", 127)),
            }
            page(vec![d, plain("after")], None)
        }
        "big" => {
            let bytes = (number("mib", 64) << 20) as usize;
            let mut d = plain("big");
            match at().as_str() {
                "metadata" => d.metadata = Some(format!("{{\"s\":\"{}\"}}", "m".repeat(bytes))),
                "array" => d.raw = format!("[{}0]", "0,".repeat(bytes / 2)),
                _ => d.raw = format!("{{\"s\":\"{}\"}}", "r".repeat(bytes)),
            }
            page(vec![d, plain("after")], None)
        }
        "text" => {
            let evil = text();
            match at().as_str() {
                "error" => return Err(ConnectorError::Other(evil)),
                "cursor" if cursor.is_empty() => page(vec![plain("first")], Some(evil)),
                "cursor" => page(vec![plain("second")], Some("end".into())).with_end_after(&cursor),
                "locator" => DraftPage {
                    drafts: vec![plain("kept")],
                    next_cursor: None,
                    skipped: vec![SkippedRecord { locator: evil.clone(), reason: evil }],
                },
                "record-id" => page(vec![plain(&evil)], None),
                "uri" => {
                    let mut d = plain("linked");
                    d.provenance.uri = evil;
                    page(vec![d, plain("after")], None)
                }
                _ => page(vec![plain("plain")], None),
            }
        }
        "log" => {
            let evil = text();
            log::log(log::Level::Warn, &evil);
            println!("{evil}");
            eprintln!("{evil}");
            page(vec![plain("logged")], None)
        }
        "huge-error" => {
            return Err(ConnectorError::Api(connector_sdk::ApiError {
                status: 500,
                message: "e".repeat((number("mib", 100) << 20) as usize),
            }));
        }
        "many-rejected" | "many-skipped" => {
            let total = number("count", 200_000);
            let per_page = 10_000;
            let done = n * per_page;
            let here = per_page.min(total.saturating_sub(done));
            let next = (done + here < total).then(|| (n + 1).to_string());
            if case() == "many-rejected" {
                page((0..here).map(|i| draft(&format!("bad-{}", done + i), "{not json".into())).collect(), next)
            } else {
                let skipped = (0..here)
                    .map(|i| SkippedRecord { locator: format!("item {}", done + i), reason: "unreadable".into() })
                    .collect();
                DraftPage { drafts: vec![], next_cursor: next, skipped }
            }
        }
        "repeated" => {
            let v = |id: &str, v: u32| draft(id, json!({ "id": id, "v": v }).to_string());
            match cursor.as_str() {
                "" => page(vec![v("x", 1), v("y", 1), v("x", 2), v("x", 3)], Some("2".into())),
                _ => page(vec![v("x", 4), v("z", 1), v("z", 2)], None),
            }
        }
        "stale-cursor" => match cursor.as_str() {
            "" => page(vec![plain("first")], Some("page-2".into())),
            "page-2" if get("fail").as_deref() == Some("yes") => {
                return Err(ConnectorError::InvalidConfig("cursor `page-2` was issued for another base_url".into()));
            }
            _ => page(vec![plain("second")], None),
        },
        _ => page(vec![plain("plain")], None),
    })
}

trait EndAfter {
    fn with_end_after(self, cursor: &str) -> Self;
}

impl EndAfter for DraftPage {
    /// The page after the evil cursor ends the feed (`end` is the last cursor).
    fn with_end_after(mut self, cursor: &str) -> DraftPage {
        if cursor == "end" {
            self.next_cursor = None;
            self.drafts = vec![plain("last")];
        }
        self
    }
}

impl Connector for Hostile {
    fn source_name() -> String {
        maybe_sleep("source-name");
        if case() == "text" && at() == "source-name" {
            return text();
        }
        "hostile".into()
    }

    fn list_records(_req: PageRequest) -> Result<Page, ConnectorError> {
        Err(ConnectorError::Unsupported("list-drafts only".into()))
    }

    fn list_drafts(req: PageRequest) -> Result<DraftPage, ConnectorError> {
        drafts(req)
    }

    fn get_record(id: String) -> Result<SourceRecord, ConnectorError> {
        maybe_sleep("get-record");
        let id = if case() == "wrong-id" { "admin".to_string() } else { id };
        let raw = if case() == "deep" { nested(number("depth", 127)) } else { json!({ "id": id }).to_string() };
        Ok(SourceRecord {
            raw,
            provenance: Provenance { uri: format!("hostile://{id}"), etag: None, last_modified: None, author: None },
            id,
        })
    }

    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        maybe_sleep("to-envelopes");
        let one = |r: &SourceRecord| draft(&r.id, r.raw.clone());
        Ok(match case().as_str() {
            "many-drafts" => records.iter().flat_map(|r| [one(r), one(r), plain("extra")]).collect(),
            "no-drafts" => vec![],
            _ => records.iter().map(one).collect(),
        })
    }
}

export!(Hostile);
