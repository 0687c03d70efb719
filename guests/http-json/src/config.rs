//! The connector's settings, read once per run from the host's `config` interface.

use connector_sdk::http_util::append_query;
use connector_sdk::settings::{ConfigReader, SettingsCell, bad_value, missing};
use connector_sdk::{ConnectorError, RecordType};

use crate::json::{Field, check_pointer};

/// Items asked for per request when config `page_size` is not set.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// How the source splits its list into pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pagination {
    /// One request: the whole list.
    None,
    /// Follow the `Link` header's `rel="next"` URL.
    Link,
    /// The body holds the next page's cursor at `pointer`; send it back in `param`.
    Cursor {
        /// JSON pointer of the next cursor in the body.
        pointer: String,
        /// The query parameter that carries it.
        param: String,
    },
    /// Numbered pages in query parameter `param`, the first numbered `start`.
    Page {
        /// The page-number query parameter.
        param: String,
        /// The first page's number.
        start: u64,
    },
    /// An item offset and a page length in query parameters.
    Offset {
        /// The offset query parameter.
        offset_param: String,
        /// The page-length query parameter.
        limit_param: String,
    },
}

/// Everything the connector was configured with.
#[derive(Debug)]
pub struct Settings {
    /// `base_url` without a trailing `/`.
    pub base_url: String,
    /// The list's URL without paging parameters: `base_url`, `path` and `query`.
    pub list_url: String,
    pub items_pointer: String,
    pub id_field: Field,
    pub record_type: RecordType,
    pub source_instance: String,
    pub last_modified_field: Option<Field>,
    pub author_field: Option<Field>,
    pub title_field: Option<Field>,
    pub url_field: Option<Field>,
    pub acl_tags: Vec<String>,
    /// Config `page_size`, if set.
    pub page_size: Option<u32>,
    /// The query parameter that carries the page length (not in `offset` mode).
    pub per_page_param: Option<String>,
    pub pagination: Pagination,
    /// Path of one record, with `{id}` in it.
    pub record_path: Option<String>,
    pub record_pointer: String,
}

/// The settings of this run, read from the host on first use.
pub static SETTINGS: SettingsCell<Settings> = SettingsCell::new(Settings::read);

impl Settings {
    /// Reads the settings from the connector's config values (an empty one counts as
    /// not set).
    pub fn read(cfg: &ConfigReader<'_>) -> Result<Settings, ConnectorError> {
        let invalid = ConnectorError::InvalidConfig;
        let field = |key: &str| cfg.opt(key).map(|v| Field::parse(key, &v).map_err(invalid)).transpose();
        let pointer = |key: &str| {
            let v = cfg.opt(key).unwrap_or_default();
            check_pointer(key, &v).map_err(invalid)?;
            Ok::<_, ConnectorError>(v)
        };

        let base_url = cfg
            .http_url("base_url")?
            .ok_or_else(|| missing("base_url", "the API's address, such as `http://127.0.0.1:8089`"))?;
        let path = cfg.required("path", "the list's path under `base_url`, such as `/items`")?;
        let list_url = append_query(&join(&base_url, &path), &cfg.opt("query").unwrap_or_default());
        let id_field = field("id_field")?.ok_or_else(|| {
            missing("id_field", "the field holding each item's id (`id`, or a pointer such as `/meta/id`)")
        })?;
        let record_type = cfg.record_type("record_type", RecordType::Document)?;
        let page_size = cfg.positive_u32("page_size")?;
        let pagination = match cfg.opt("pagination").as_deref().unwrap_or("link") {
            "none" => Pagination::None,
            "link" => Pagination::Link,
            "cursor" => {
                let pointer = pointer("cursor_pointer")?;
                if pointer.is_empty() {
                    return Err(invalid(
                        "config `cursor_pointer` is required with `pagination = cursor`: the JSON pointer of the next cursor in the body, such as `/next_cursor`".into(),
                    ));
                }
                let param = cfg.required(
                    "cursor_param",
                    "with `pagination = cursor`, the query parameter to send the cursor in",
                )?;
                Pagination::Cursor { pointer, param }
            }
            "page" => {
                let start = match cfg.opt("start_page") {
                    None => 1,
                    Some(s) => {
                        s.parse::<u64>().map_err(|_| bad_value("start_page", &s, "a whole number such as 0 or 1"))?
                    }
                };
                Pagination::Page { param: cfg.opt_or("page_param", "page"), start }
            }
            "offset" => Pagination::Offset {
                offset_param: cfg.opt_or("offset_param", "offset"),
                limit_param: cfg.opt_or("limit_param", "limit"),
            },
            other => return Err(bad_value("pagination", other, "one of link, cursor, page, offset, none")),
        };
        let record_path = cfg.opt("record_path");
        if let Some(p) = &record_path
            && !p.contains("{id}")
        {
            return Err(invalid(format!(
                "config `record_path` is `{p}`; it must contain `{{id}}` where the record's id goes, such as `/items/{{id}}`"
            )));
        }
        let source_instance = cfg.opt("source_instance").unwrap_or_else(|| {
            let without_scheme = base_url.split_once("://").map_or(base_url.as_str(), |(_, rest)| rest);
            join(without_scheme, &path)
        });
        Ok(Settings {
            items_pointer: pointer("items_pointer")?,
            record_pointer: pointer("record_pointer")?,
            id_field,
            record_type,
            source_instance,
            last_modified_field: field("last_modified_field")?,
            author_field: field("author_field")?,
            title_field: field("title_field")?,
            url_field: field("url_field")?,
            acl_tags: cfg.list("acl_tags"),
            page_size,
            per_page_param: cfg.opt("per_page_param"),
            pagination,
            record_path,
            list_url,
            base_url,
        })
    }

    /// Items to ask for per request: config `page_size` (default
    /// [`DEFAULT_PAGE_SIZE`]), no more than the host's `limit`.
    pub fn request_size(&self, limit: Option<u32>) -> u32 {
        self.page_size.unwrap_or(DEFAULT_PAGE_SIZE).min(limit.unwrap_or(u32::MAX)).max(1)
    }
}

/// `base` and `path` joined with exactly one `/`.
fn join(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::settings::from_pairs;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, ConnectorError> {
        from_pairs(Settings::read, pairs)
    }

    fn message(r: Result<Settings, ConnectorError>) -> String {
        match r {
            Err(ConnectorError::InvalidConfig(m)) => m,
            other => panic!("expected invalid-config, got {other:?}"),
        }
    }

    const MINIMAL: [(&str, &str); 3] = [("base_url", "http://127.0.0.1:8089/"), ("path", "items"), ("id_field", "id")];

    #[test]
    fn defaults() {
        let s = read(&MINIMAL).unwrap();
        assert_eq!(s.base_url, "http://127.0.0.1:8089");
        assert_eq!(s.list_url, "http://127.0.0.1:8089/items");
        assert_eq!(s.pagination, Pagination::Link);
        assert_eq!(s.record_type, RecordType::Document);
        assert_eq!(s.source_instance, "127.0.0.1:8089/items");
        assert_eq!(s.id_field, Field::Key("id".into()));
        assert_eq!(s.items_pointer, "");
        assert_eq!(s.request_size(Some(1000)), 100);
        assert_eq!(s.request_size(Some(10)), 10);
        assert_eq!(s.request_size(None), 100);
    }

    #[test]
    fn every_mode() {
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = MINIMAL.to_vec();
            pairs.extend_from_slice(extra);
            read(&pairs)
        };
        let s = with(&[("pagination", "page"), ("start_page", "0"), ("query", "a=1&b=2")]).unwrap();
        assert_eq!(s.pagination, Pagination::Page { param: "page".into(), start: 0 });
        assert_eq!(s.list_url, "http://127.0.0.1:8089/items?a=1&b=2");
        let s = with(&[("pagination", "offset"), ("limit_param", "count")]).unwrap();
        assert_eq!(s.pagination, Pagination::Offset { offset_param: "offset".into(), limit_param: "count".into() });
        let s = with(&[("pagination", "cursor"), ("cursor_pointer", "/meta/next"), ("cursor_param", "after")]).unwrap();
        assert_eq!(s.pagination, Pagination::Cursor { pointer: "/meta/next".into(), param: "after".into() });
        assert_eq!(with(&[("pagination", "none")]).unwrap().pagination, Pagination::None);
    }

    #[test]
    fn errors_name_the_key() {
        assert!(message(read(&[("path", "/x"), ("id_field", "id")])).contains("config `base_url` is required"));
        assert!(message(read(&[("base_url", "ftp://h"), ("path", "/x"), ("id_field", "id")])).contains("`http://`"));
        assert!(message(read(&[("base_url", "http://h"), ("id_field", "id")])).contains("config `path` is required"));
        assert!(message(read(&[("base_url", "http://h"), ("path", "/x")])).contains("config `id_field` is required"));
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = MINIMAL.to_vec();
            pairs.extend_from_slice(extra);
            message(read(&pairs))
        };
        assert!(with(&[("pagination", "pages")]).contains("config `pagination` is `pages`"));
        assert!(
            with(&[("pagination", "cursor"), ("cursor_param", "c")]).contains("config `cursor_pointer` is required")
        );
        assert!(
            with(&[("pagination", "cursor"), ("cursor_pointer", "/n")]).contains("config `cursor_param` is required")
        );
        assert!(with(&[("pagination", "cursor"), ("cursor_pointer", "n"), ("cursor_param", "c")]).contains("`/n`"));
        assert!(with(&[("page_size", "0")]).contains("config `page_size` is `0`"));
        assert!(with(&[("start_page", "one"), ("pagination", "page")]).contains("config `start_page` is `one`"));
        assert!(with(&[("record_type", "issue")]).contains("config `record_type` is `issue`"));
        assert!(with(&[("record_path", "/items")]).contains("must contain `{id}`"));
        assert!(with(&[("items_pointer", "data")]).contains("did you mean `/data`?"));
    }
}
