//! The connector's settings, read once per run from the host's `config` interface.

use connector_sdk::settings::{ConfigReader, SettingsCell, bad_value};
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

/// The settings of this run, read from the host on first use.
pub static SETTINGS: SettingsCell<Settings> = SettingsCell::new(Settings::read);

impl Settings {
    /// Reads the settings from the connector's config values (an empty one counts as
    /// not set).
    pub fn read(cfg: &ConfigReader<'_>) -> Result<Settings, ConnectorError> {
        let path = cfg.required("path", "the feed file to read")?;
        let format = match cfg.opt("format").as_deref() {
            Some("json") => Format::Json,
            Some("jsonl") | Some("ndjson") => Format::Jsonl,
            Some(other) => return Err(bad_value("format", other, "`json` or `jsonl`")),
            None if path.ends_with(".jsonl") || path.ends_with(".ndjson") => Format::Jsonl,
            None if path.ends_with(".json") => Format::Json,
            None => {
                return Err(ConnectorError::InvalidConfig(format!(
                    "cannot tell the format of `{path}` from its extension; set config `format` to `json` or `jsonl`"
                )));
            }
        };
        let source_instance =
            cfg.opt("source_instance").unwrap_or_else(|| path.rsplit('/').next().unwrap_or(&path).to_string());
        Ok(Settings {
            format,
            id_field: cfg.opt_or("id_field", "id"),
            record_type: cfg.record_type("record_type", RecordType::Claim)?,
            source_instance,
            last_modified_field: cfg.opt("last_modified_field"),
            author_field: cfg.opt("author_field"),
            acl_tags: cfg.list("acl_tags"),
            page_size: cfg.positive_u32("page_size")?.unwrap_or(1000),
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::settings::from_pairs;

    /// The `invalid-config` message that `pairs` are refused with.
    fn refused(pairs: &[(&str, &str)]) -> String {
        match from_pairs(Settings::read, pairs) {
            Err(ConnectorError::InvalidConfig(m)) => m,
            Err(other) => panic!("expected invalid-config, got {other:?}"),
            Ok(_) => panic!("expected invalid-config, got settings"),
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let s = from_pairs(Settings::read, &[("path", "/data/feeds/claims.jsonl")]).unwrap();
        assert_eq!((s.format, s.id_field.as_str(), s.record_type), (Format::Jsonl, "id", RecordType::Claim));
        assert_eq!((s.source_instance.as_str(), s.page_size), ("claims.jsonl", 1000));
        assert!(s.acl_tags.is_empty() && s.author_field.is_none());

        let pairs =
            [("path", "/d/x.data"), ("format", "json"), ("acl_tags", "a, b"), ("page_size", "5"), ("id_field", " ")];
        let s = from_pairs(Settings::read, &pairs).unwrap();
        assert_eq!((s.format, s.id_field.as_str(), s.page_size), (Format::Json, "id", 5));
        assert_eq!(s.acl_tags, ["a", "b"]);
    }

    #[test]
    fn errors_keep_their_wording() {
        assert_eq!(refused(&[]), "config `path` is required: the feed file to read");
        assert_eq!(
            refused(&[("path", "/d/x.csv"), ("format", "csv")]),
            "config `format` is `csv`; expected `json` or `jsonl`"
        );
        assert_eq!(
            refused(&[("path", "/d/x.csv")]),
            "cannot tell the format of `/d/x.csv` from its extension; set config `format` to `json` or `jsonl`"
        );
        assert_eq!(
            refused(&[("path", "/d/x.json"), ("record_type", "issue")]),
            "config `record_type` is `issue`; expected one of document, event, entity, claim, metric"
        );
        assert_eq!(
            refused(&[("path", "/d/x.json"), ("page_size", "0")]),
            "config `page_size` is `0`; expected a positive whole number"
        );
    }
}
