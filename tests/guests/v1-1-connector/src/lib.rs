//! Built against `partner:connector@1.1.0` (`wit/v1.1`): the host loads it beside
//! 1.0 components through the same bindings. It lists one record, the text of the
//! file at config `path`, read through `wasi:filesystem` (which 1.1's world imports),
//! so a test sees both the version and the granted directory at work.

wit_bindgen::generate!({ world: "connector", path: "../../../wit/v1.1", generate_all });

use exports::partner::connector::source::Guest;
use partner::connector::config;
use partner::connector::types::{
    ConnectorError, DraftPage, EnvelopeDraft, Page, PageRequest, Provenance, RecordType, SourceRecord,
};

struct V11;

fn record() -> Result<SourceRecord, ConnectorError> {
    let path = config::get("path").ok_or_else(|| ConnectorError::InvalidConfig("set `path`".into()))?;
    let text = std::fs::read_to_string(&path).map_err(|e| ConnectorError::Other(format!("{path}: {e}")))?;
    Ok(SourceRecord {
        id: "the-file".into(),
        raw: serde_json::json!({ "text": text }).to_string(),
        provenance: Provenance { uri: format!("file://{path}"), etag: None, last_modified: None, author: None },
    })
}

fn draft(r: SourceRecord) -> EnvelopeDraft {
    EnvelopeDraft {
        record_id: r.id,
        record_type: RecordType::Document,
        source_instance: "v1-1".into(),
        provenance: r.provenance,
        acl_tags: vec![],
        raw: r.raw,
        metadata: None,
    }
}

impl Guest for V11 {
    fn source_name() -> String {
        "v1-1".into()
    }

    fn list_records(_: PageRequest) -> Result<Page, ConnectorError> {
        Ok(Page { records: vec![record()?], next_cursor: None, skipped: vec![] })
    }

    fn get_record(id: String) -> Result<SourceRecord, ConnectorError> {
        let r = record()?;
        if r.id == id { Ok(r) } else { Err(ConnectorError::NotFound(id)) }
    }

    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        Ok(records.into_iter().map(draft).collect())
    }

    fn list_drafts(_: PageRequest) -> Result<DraftPage, ConnectorError> {
        Ok(DraftPage { drafts: vec![draft(record()?)], next_cursor: None, skipped: vec![] })
    }
}

export!(V11);
