//! The connector's settings, read once per run from the host's `config` interface.

use connector_sdk::http_util::append_query;
use connector_sdk::settings::{ConfigReader, SettingsCell, bad_value, missing};
use connector_sdk::{ConnectorError, RecordType};

use crate::json::{Field, check_pointer};
use crate::template::{Placeholder, Template};

/// Items asked for per request when config `page_size` is not set.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// How the source splits its list into pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pagination {
    /// One request: the whole list.
    None,
    /// Follow the `Link` header's `rel="next"` URL.
    Link,
    /// Follow the next page's URL found in the body at `pointer` (OData
    /// `@odata.nextLink`, JSON:API `links.next`, HAL `_links.next.href`).
    NextUrl {
        /// JSON pointer of the next URL (or of an object with an `href`) in the body.
        pointer: String,
    },
    /// A cursor taken from each page and sent back in `param` and/or as `$cursor` in
    /// the body template (`cursor` and `has_more` modes).
    Cursor {
        /// Where the next cursor is.
        from: CursorFrom,
        /// The query parameter that carries it, if any.
        param: Option<String>,
        /// JSON pointer of a "there is more" flag: the pass ends when it is not `true`.
        more: Option<String>,
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

/// Where a page's next cursor is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CursorFrom {
    /// At a JSON pointer in the body (`/next_cursor`, `/data/x/pageInfo/endCursor`).
    Body(String),
    /// In a field of the page's last item (Stripe's `id`, Elasticsearch's `sort`).
    LastItem(Field),
}

/// The HTTP method of list requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`, conditional with per-page ETags.
    Get,
    /// `POST` with `body_template` (never conditional).
    Post,
}

/// How errors that come inside a `2xx` body are recognised.
#[derive(Debug, Default)]
pub struct BodyErrors {
    /// JSON pointer of an error (Slack `/error`, GraphQL `/errors`): present and not
    /// `null`, `false`, empty, means the request failed.
    pub error_pointer: Option<String>,
    /// JSON pointer of a success flag (Slack `/ok`): `false` means the request failed.
    pub ok_pointer: Option<String>,
    /// Error codes that mean the credentials were refused.
    pub auth_codes: Vec<String>,
}

/// Incremental sync: the high-water mark of a record field, kept in state.
#[derive(Debug, PartialEq, Eq)]
pub struct Incremental {
    /// The field holding each record's change time (`updated_at`).
    pub field: Field,
    /// The query parameter that sends the mark, if any (`$since` may carry it in the body).
    pub param: Option<String>,
    /// How far before the mark the next run starts, in seconds.
    pub lookback_secs: u64,
}

/// Default auth-like error codes inside a `2xx` body (Slack, GraphQL servers, and
/// common API styles), compared without regard to case.
pub const DEFAULT_AUTH_CODES: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "no_permission",
    "missing_scope",
    "unauthenticated",
    "unauthorized",
    "forbidden",
    "invalid_token",
    "auth_error",
];

/// At most this many pages' ETags are kept (config `etag_pages`).
pub const MAX_ETAG_PAGES: usize = 500;
/// Pages whose ETags are kept when config `etag_pages` is not set.
pub const DEFAULT_ETAG_PAGES: usize = 50;

/// The settings of a connector reading `/items` of a local API by `id`, with `extra`
/// pairs: what the unit tests of the other modules start from.
#[cfg(test)]
pub fn test_settings(extra: &[(&str, &str)]) -> Settings {
    let mut pairs = vec![("base_url", "http://127.0.0.1:8089"), ("path", "/items"), ("id_field", "id")];
    pairs.extend_from_slice(extra);
    connector_sdk::settings::from_pairs(Settings::read, &pairs).unwrap()
}

/// The scheme and authority of `url`, an `http(s)://` URL.
fn origin(url: &str) -> String {
    let authority_at = url.find("://").map_or(0, |i| i + 3);
    let end = url[authority_at..].find(['/', '?', '#']).map_or(url.len(), |i| authority_at + i);
    url[..end].to_string()
}

/// Everything the connector was configured with.
#[derive(Debug)]
pub struct Settings {
    /// `base_url` without a trailing `/`.
    pub base_url: String,
    /// The scheme, host and port of `base_url` (`https://h.test:8443`), against which
    /// stored cursors hold their URLs.
    pub origin: String,
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
    /// The field copied to `provenance.etag` (OData `@odata.etag`).
    pub etag_field: Option<Field>,
    pub acl_tags: Vec<String>,
    /// Config `page_size`, if set.
    pub page_size: Option<u32>,
    /// The query parameter that carries the page length (not in `offset` mode).
    pub per_page_param: Option<String>,
    pub pagination: Pagination,
    /// Config `pagination` as written (`has_more`, `cursor` ...), for messages.
    pub pagination_name: String,
    /// The list requests' method.
    pub method: Method,
    /// The list requests' body (`POST` only), config values already in it.
    pub body_template: Option<Template>,
    /// Errors inside a `2xx` body.
    pub body_errors: BodyErrors,
    /// Pages whose ETags are kept for conditional requests (0: none are made).
    pub etag_pages: usize,
    pub incremental: Option<Incremental>,
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
        let opt_pointer = |key: &str| pointer(key).map(|p| Some(p).filter(|p| !p.is_empty()));

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

        let method = match cfg.opt("method").map(|m| m.to_ascii_uppercase()).as_deref() {
            None | Some("GET") => Method::Get,
            Some("POST") => Method::Post,
            Some(_) => return Err(bad_value("method", &cfg.opt_or("method", ""), "GET or POST")),
        };
        let body_template = match cfg.opt("body_template") {
            None if method == Method::Post => {
                return Err(missing(
                    "body_template",
                    "with `method = POST`, the JSON body of each list request, such as `{\"start_cursor\": \"$cursor\", \"page_size\": \"$page_size\"}`",
                ));
            }
            None => None,
            Some(_) if method == Method::Get => {
                return Err(invalid(
                    "config `body_template` is set but `method` is GET; set `method = \"POST\"` to send a body".into(),
                ));
            }
            Some(text) => Some(Template::parse("body_template", &text, &|key| cfg.opt(key)).map_err(invalid)?),
        };
        let in_body = |p: Placeholder| body_template.as_ref().is_some_and(|t| t.uses(p));

        let mode = cfg.opt("pagination").unwrap_or_else(|| "link".into());
        let pagination = match mode.as_str() {
            "none" => Pagination::None,
            "link" => Pagination::Link,
            "next_url" => {
                let pointer = pointer("next_url_pointer")?;
                if pointer.is_empty() {
                    return Err(missing(
                        "next_url_pointer",
                        "with `pagination = next_url`, the JSON pointer of the next page's URL in the body, such as `/@odata.nextLink`, `/links/next` or `/_links/next/href`",
                    ));
                }
                Pagination::NextUrl { pointer }
            }
            "cursor" => {
                let from = match (pointer("cursor_pointer")?, field("cursor_field")?) {
                    (p, None) if p.is_empty() => {
                        return Err(invalid(
                            "config `cursor_pointer` is required with `pagination = cursor`: the JSON pointer of the next cursor in the body, such as `/next_cursor` (or set `cursor_field` to take it from the last item)".into(),
                        ));
                    }
                    (p, None) => CursorFrom::Body(p),
                    (p, Some(f)) if p.is_empty() => CursorFrom::LastItem(f),
                    _ => {
                        return Err(invalid(
                            "config `cursor_pointer` and `cursor_field` are both set; set one: the cursor is either in the body or in the last item".into(),
                        ));
                    }
                };
                let param = cfg.opt("cursor_param");
                if param.is_none() && !in_body(Placeholder::Cursor) {
                    return Err(missing(
                        "cursor_param",
                        "with `pagination = cursor`, the query parameter to send the cursor in (or put `\"$cursor\"` in `body_template`)",
                    ));
                }
                Pagination::Cursor { from, param, more: opt_pointer("has_more_pointer")? }
            }
            "has_more" => {
                let param = cfg.opt("last_id_param");
                if param.is_none() && !in_body(Placeholder::Cursor) {
                    return Err(missing(
                        "last_id_param",
                        "with `pagination = has_more`, the query parameter that sends the last item's id, such as `starting_after` (or put `\"$cursor\"` in `body_template`)",
                    ));
                }
                let more = opt_pointer("has_more_pointer")?.unwrap_or_else(|| "/has_more".into());
                let from = CursorFrom::LastItem(field("last_id_field")?.unwrap_or_else(|| id_field.clone()));
                Pagination::Cursor { from, param, more: Some(more) }
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
            other => {
                return Err(bad_value(
                    "pagination",
                    other,
                    "one of link, next_url, cursor, has_more, page, offset, none",
                ));
            }
        };
        if in_body(Placeholder::Cursor) && !matches!(pagination, Pagination::Cursor { .. }) {
            return Err(invalid(format!(
                "config `body_template` uses `$cursor`, but `pagination = {mode}` has no cursor to put there (use `cursor` or `has_more`)"
            )));
        }

        let incremental = match field("incremental_field")? {
            None => {
                if cfg.opt("incremental_param").is_some() || in_body(Placeholder::Since) {
                    return Err(missing(
                        "incremental_field",
                        "with `incremental_param` or `$since` in `body_template`, the record field whose highest value is kept between runs, such as `updated_at`",
                    ));
                }
                None
            }
            Some(field) => {
                let param = cfg.opt("incremental_param");
                if param.is_none() && !in_body(Placeholder::Since) {
                    return Err(missing(
                        "incremental_param",
                        "with `incremental_field`, the query parameter that sends the high-water mark, such as `updated_since` (or put `\"$since\"` in `body_template`)",
                    ));
                }
                let lookback_secs = match cfg.opt("incremental_lookback") {
                    None => 0,
                    Some(text) => parse_duration(&text).ok_or_else(|| {
                        bad_value("incremental_lookback", &text, "a duration such as `300`, `90s`, `15m`, `2h` or `1d`")
                    })?,
                };
                Some(Incremental { field, param, lookback_secs })
            }
        };

        let etag_pages = match cfg.opt("etag_pages") {
            None => DEFAULT_ETAG_PAGES,
            Some(text) => text.parse::<usize>().ok().filter(|n| *n <= MAX_ETAG_PAGES).ok_or_else(|| {
                bad_value(
                    "etag_pages",
                    &text,
                    &format!("a whole number from 0 (no conditional requests) to {MAX_ETAG_PAGES}"),
                )
            })?,
        };
        let body_errors = BodyErrors {
            error_pointer: opt_pointer("error_pointer")?,
            ok_pointer: opt_pointer("ok_pointer")?,
            auth_codes: match cfg.opt("auth_error_codes") {
                Some(_) => cfg.list("auth_error_codes"),
                None => DEFAULT_AUTH_CODES.iter().map(|c| c.to_string()).collect(),
            },
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
            etag_field: field("etag_field")?,
            acl_tags: cfg.list("acl_tags"),
            page_size,
            per_page_param: cfg.opt("per_page_param"),
            pagination,
            pagination_name: mode,
            method,
            body_template,
            body_errors,
            etag_pages,
            incremental,
            record_path,
            list_url,
            origin: origin(&base_url),
            base_url,
        })
    }

    /// Items to ask for per request: config `page_size` (default
    /// [`DEFAULT_PAGE_SIZE`]), no more than the host's `limit`.
    pub fn request_size(&self, limit: Option<u32>) -> u32 {
        self.page_size.unwrap_or(DEFAULT_PAGE_SIZE).min(limit.unwrap_or(u32::MAX)).max(1)
    }
}

/// A duration in seconds: a whole number, optionally followed by `s`, `m`, `h` or `d`.
fn parse_duration(text: &str) -> Option<u64> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = if digits.is_empty() { return None } else { digits.parse().ok()? };
    let scale = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(scale)
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
        assert_eq!(
            s.pagination,
            Pagination::Cursor { from: CursorFrom::Body("/meta/next".into()), param: Some("after".into()), more: None }
        );
        assert_eq!(with(&[("pagination", "none")]).unwrap().pagination, Pagination::None);
        let s = with(&[("pagination", "next_url"), ("next_url_pointer", "/_links/next/href")]).unwrap();
        assert_eq!(s.pagination, Pagination::NextUrl { pointer: "/_links/next/href".into() });
        let s = with(&[("pagination", "has_more"), ("last_id_param", "starting_after")]).unwrap();
        assert_eq!(
            s.pagination,
            Pagination::Cursor {
                from: CursorFrom::LastItem(Field::Key("id".into())),
                param: Some("starting_after".into()),
                more: Some("/has_more".into())
            }
        );
        assert_eq!(s.pagination_name, "has_more");
        let s = with(&[
            ("method", "post"),
            ("pagination", "cursor"),
            ("cursor_pointer", "/next_cursor"),
            ("has_more_pointer", "/has_more"),
            ("body_template", r#"{"start_cursor": "$cursor"}"#),
        ])
        .unwrap();
        assert_eq!(s.method, Method::Post);
        assert!(matches!(s.pagination, Pagination::Cursor { param: None, more: Some(_), .. }));
        let s = with(&[
            ("incremental_field", "updated_at"),
            ("incremental_param", "updated_since"),
            ("incremental_lookback", "15m"),
            ("etag_pages", "0"),
            ("error_pointer", "/errors"),
            ("auth_error_codes", "BAD_KEY, expired"),
        ])
        .unwrap();
        assert_eq!(
            s.incremental,
            Some(Incremental {
                field: Field::Key("updated_at".into()),
                param: Some("updated_since".into()),
                lookback_secs: 900
            })
        );
        assert_eq!(s.etag_pages, 0);
        assert_eq!(s.body_errors.error_pointer.as_deref(), Some("/errors"));
        assert_eq!(s.body_errors.auth_codes, ["BAD_KEY", "expired"]);
        assert_eq!(with(&[]).unwrap().etag_pages, DEFAULT_ETAG_PAGES);
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("2h"), Some(7200));
        assert_eq!(parse_duration("1d"), Some(86400));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5 weeks"), None);
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

    #[test]
    fn errors_of_the_api_family_keys() {
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = MINIMAL.to_vec();
            pairs.extend_from_slice(extra);
            message(read(&pairs))
        };
        let post = |extra: &[(&str, &str)]| {
            let mut pairs = vec![("method", "POST")];
            pairs.extend_from_slice(extra);
            with(&pairs)
        };
        assert_eq!(
            with(&[("pagination", "pages")]),
            "config `pagination` is `pages`; expected one of link, next_url, cursor, has_more, page, offset, none"
        );
        assert!(
            with(&[("pagination", "next_url")])
                .starts_with("config `next_url_pointer` is required: with `pagination = next_url`")
        );
        assert!(
            with(&[("pagination", "next_url"), ("next_url_pointer", "@odata.nextLink")])
                .contains("did you mean `/@odata.nextLink`?")
        );
        assert!(
            with(&[("pagination", "has_more")])
                .starts_with("config `last_id_param` is required: with `pagination = has_more`")
        );
        assert!(
            with(&[("pagination", "has_more"), ("last_id_param", "a"), ("has_more_pointer", "more")])
                .contains("did you mean `/more`?")
        );
        assert!(
            with(&[("pagination", "cursor"), ("cursor_pointer", "/n"), ("cursor_field", "id"), ("cursor_param", "c")])
                .starts_with("config `cursor_pointer` and `cursor_field` are both set")
        );
        assert!(
            with(&[("pagination", "cursor"), ("cursor_pointer", "/n")])
                .contains("(or put `\"$cursor\"` in `body_template`)")
        );
        assert_eq!(with(&[("method", "PUT")]), "config `method` is `PUT`; expected GET or POST");
        assert!(post(&[]).starts_with("config `body_template` is required: with `method = POST`"));
        assert_eq!(
            with(&[("body_template", "{}")]),
            "config `body_template` is set but `method` is GET; set `method = \"POST\"` to send a body"
        );
        assert!(post(&[("body_template", "{\"a\": ")]).starts_with("config `body_template` is not JSON"));
        assert_eq!(
            post(&[("body_template", r#"{"q": "$config.search"}"#)]),
            "config `body_template` uses `$config.search`, but config `search` is not set"
        );
        assert_eq!(
            post(&[("body_template", r#"{"c": "$cursor"}"#), ("pagination", "page")]),
            "config `body_template` uses `$cursor`, but `pagination = page` has no cursor to put there (use `cursor` or `has_more`)"
        );
        assert!(with(&[("incremental_param", "since")]).starts_with("config `incremental_field` is required"));
        assert!(post(&[("body_template", r#"{"s": "$since"}"#)]).starts_with("config `incremental_field` is required"));
        assert!(with(&[("incremental_field", "updated_at")]).starts_with("config `incremental_param` is required"));
        assert_eq!(
            with(&[
                ("incremental_field", "updated_at"),
                ("incremental_param", "s"),
                ("incremental_lookback", "an hour")
            ]),
            "config `incremental_lookback` is `an hour`; expected a duration such as `300`, `90s`, `15m`, `2h` or `1d`"
        );
        assert_eq!(
            with(&[("etag_pages", "1000")]),
            "config `etag_pages` is `1000`; expected a whole number from 0 (no conditional requests) to 500"
        );
        assert!(with(&[("error_pointer", "errors")]).contains("did you mean `/errors`?"));
        assert!(with(&[("ok_pointer", "ok")]).contains("did you mean `/ok`?"));
    }
}
