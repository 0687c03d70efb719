//! The JSON/JSONL partner-feed connector.
//!
//! Reads a feed file from a directory the operator granted: a JSON array of
//! objects, or one JSON object per line (JSONL). Each object becomes one record whose
//! `raw` is the object's text, passed through untouched: the host canonicalises and
//! hashes it, so the connector only picks out the few fields it needs (the id, the
//! last-modified time, the author) and never rebuilds the record.
//!
//! Configuration (the manifest's `[config]`; every value is a string, an empty one
//! counts as not set):
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `path` | the feed file, as the guest sees it (under a granted directory) | required |
//! | `format` | `json` (an array) or `jsonl` | by the file's extension |
//! | `id_field` | the field holding each record's id (a string or a number) | `id` |
//! | `record_type` | `document`, `event`, `entity`, `claim` or `metric` | `claim` |
//! | `source_instance` | the envelope's `source_instance` | the file's name |
//! | `last_modified_field` | the field copied to `provenance.last_modified` | none |
//! | `author_field` | the field copied to `provenance.author` | none |
//! | `acl_tags` | comma-separated tags put on every record | none |
//! | `page_size` | records per page when the host does not say | 1000 |
//!
//! A line (or array item) that is not a JSON object, or has no id, is reported as a
//! skipped record with its line number and the run goes on.

mod config;
mod cursor;
mod fields;
mod read;

use connector_sdk::{Connector, ConnectorError, EnvelopeDraft, Page, PageRequest, SourceRecord, export};

use crate::config::SETTINGS;

/// The most records one page may hold, whatever the host asks for.
const MAX_PAGE: u32 = 10_000;

struct FileConnector;

impl Connector for FileConnector {
    fn source_name() -> String {
        "file".to_string()
    }

    fn list_records(req: PageRequest) -> Result<Page, ConnectorError> {
        let settings = SETTINGS.get()?;
        let limit = req.limit.unwrap_or(settings.page_size).clamp(1, MAX_PAGE) as usize;
        read::page(settings, req.cursor.as_deref(), limit)
    }

    fn get_record(id: String) -> Result<SourceRecord, ConnectorError> {
        let settings = SETTINGS.get()?;
        read::find(settings, &id)?
            .ok_or_else(|| ConnectorError::NotFound(format!("no record with id `{id}` in {}", settings.path)))
    }

    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        let settings = SETTINGS.get()?;
        Ok(records
            .into_iter()
            .map(|r| EnvelopeDraft {
                record_id: r.id,
                record_type: settings.record_type,
                source_instance: settings.source_instance.clone(),
                provenance: r.provenance,
                acl_tags: settings.acl_tags.clone(),
                raw: r.raw,
                metadata: None,
            })
            .collect())
    }
}

export!(FileConnector);
