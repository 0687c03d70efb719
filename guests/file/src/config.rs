//! The connector's settings, read once per run from the host's `config` interface.

use std::sync::OnceLock;

use connector_sdk::host::config;
use connector_sdk::{ConnectorError, RecordType};

/// How the feed file is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
}

/// Everything the connector was configured with.
pub struct Settings {
    pub path: String,
    pub format: Format,
    pub id_field: String,
    pub record_type: RecordType,
    pub source_instance: String,
    pub last_modified_field: Option<String>,
    pub author_field: Option<String>,
    pub acl_tags: Vec<String>,
    pub page_size: u32,
}

static SETTINGS: OnceLock<Result<Settings, ConnectorError>> = OnceLock::new();

impl Settings {
    /// The settings of this run, read from the host on first use.
    pub fn get() -> Result<&'static Settings, ConnectorError> {
        SETTINGS.get_or_init(Settings::read).as_ref().map_err(Clone::clone)
    }

    fn read() -> Result<Settings, ConnectorError> {
        let path = config::get("path")
            .ok_or_else(|| ConnectorError::InvalidConfig("config `path` is required: the feed file to read".into()))?;
        let format = match config::get("format").as_deref() {
            Some("json") => Format::Json,
            Some("jsonl") | Some("ndjson") => Format::Jsonl,
            Some(other) => {
                return Err(ConnectorError::InvalidConfig(format!(
                    "config `format` is `{other}`; expected `json` or `jsonl`"
                )));
            }
            None if path.ends_with(".jsonl") || path.ends_with(".ndjson") => Format::Jsonl,
            None if path.ends_with(".json") => Format::Json,
            None => {
                return Err(ConnectorError::InvalidConfig(format!(
                    "cannot tell the format of `{path}` from its extension; set config `format` to `json` or `jsonl`"
                )));
            }
        };
        let record_type = match config::get("record_type").as_deref().unwrap_or("claim") {
            "document" | "Document" => RecordType::Document,
            "event" | "Event" => RecordType::Event,
            "entity" | "Entity" => RecordType::Entity,
            "claim" | "Claim" => RecordType::Claim,
            "metric" | "Metric" => RecordType::Metric,
            other => {
                return Err(ConnectorError::InvalidConfig(format!(
                    "config `record_type` is `{other}`; expected one of document, event, entity, claim, metric"
                )));
            }
        };
        let page_size = match config::get("page_size") {
            None => 1000,
            Some(s) => s.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ConnectorError::InvalidConfig(format!("config `page_size` is `{s}`; expected a positive whole number"))
            })?,
        };
        let source_instance =
            config::get("source_instance").unwrap_or_else(|| path.rsplit('/').next().unwrap_or(&path).to_string());
        let acl_tags = config::get("acl_tags")
            .map(|s| s.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect())
            .unwrap_or_default();
        Ok(Settings {
            format,
            id_field: config::get("id_field").unwrap_or_else(|| "id".to_string()),
            record_type,
            source_instance,
            last_modified_field: config::get("last_modified_field"),
            author_field: config::get("author_field"),
            acl_tags,
            page_size,
            path,
        })
    }
}
