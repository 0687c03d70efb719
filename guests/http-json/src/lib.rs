//! A generic connector for paginated REST/JSON APIs, configured by its manifest alone.
//!
//! Each request is a GET through the host (which holds the credentials, follows
//! redirects and retries); each item of the response's array becomes one record
//! whose `raw` is the item's text, passed on untouched.
//!
//! Configuration (the manifest's `[config]`; every value is a string, an empty one
//! counts as not set):
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `base_url` | the API's address, `http://` or `https://` | required |
//! | `path` | the list's path under `base_url` (`/items`) | required |
//! | `query` | extra query string for the list, already encoded (`a=1&b=2`) | none |
//! | `items_pointer` | JSON pointer of the items array in the body (`/data`); `null` there is an empty page | the body itself |
//! | `id_field` | the field holding each item's id; a string or number (numbers become text) | required |
//! | `record_type` | `document`, `event`, `entity`, `claim` or `metric` | `document` |
//! | `source_instance` | the envelope's `source_instance` | `base_url` without scheme + `path` |
//! | `last_modified_field` | the field copied to `provenance.last_modified` | none |
//! | `author_field` | the field copied to `provenance.author` | none |
//! | `title_field` | the field copied to the envelope's `metadata.title` | none |
//! | `url_field` | the field holding the item's own URL (absolute or relative), for `provenance.uri` | see below |
//! | `acl_tags` | comma-separated tags put on every record | none |
//! | `pagination` | `link`, `cursor`, `page`, `offset` or `none` | `link` |
//! | `page_size` | items per request (capped by the host's page limit) | 100 |
//! | `per_page_param` | query parameter that sends `page_size` (`link`, `cursor`, `page`, `none`) | not sent |
//! | `cursor_pointer` | `cursor` mode: JSON pointer of the next cursor in the body | required there |
//! | `cursor_param` | `cursor` mode: query parameter to send that cursor in | required there |
//! | `page_param` | `page` mode: the page-number parameter | `page` |
//! | `start_page` | `page` mode: the first page's number | 1 |
//! | `offset_param`, `limit_param` | `offset` mode: the item offset and page length parameters | `offset`, `limit` |
//! | `record_path` | path of one record, with `{id}` in it (`/items/{id}`), for `get-record` | none: unsupported |
//! | `record_pointer` | JSON pointer of the record in `record_path`'s body | the body itself |
//!
//! A *field* (`id_field`, `last_modified_field`, ...) is a top-level key taken
//! literally (`id`, even `a.b`), or a JSON pointer when it starts with `/`
//! (`/meta/id`). Items that are not JSON objects, or have no id, are reported as
//! skipped records and the page goes on.
//!
//! Pagination: `link` follows the `Link` header's `rel="next"` URL (absolute, or
//! resolved against the URL just fetched); `cursor` reads the next cursor at
//! `cursor_pointer` and sends it in `cursor_param`, ending at a missing, `null` or
//! empty cursor; `page` and `offset` end at an empty page or one shorter than the
//! page length (in `page` mode only when the length is known: `per_page_param` or
//! `page_size` set; otherwise only an empty page ends it). For `page` and `offset`,
//! `page_size` must not exceed what the source serves per page, or the first short
//! page ends the pass early. The cursors are described in `cursor.rs`.
//!
//! ETag: the first request of a pass carries the ETag the previous pass's first page
//! returned, and a `304` ends the pass with an empty page (see
//! [`connector_sdk::fetch`]). Only the first page is compared, so a change the
//! source makes on a later page alone is seen once the first page changes too; a
//! source sorted by last change shows every change on its first page.
//!
//! `provenance.uri` is the item's `url_field` (a relative one resolved against the
//! list's URL), else its `record_path` URL, else the list's URL with the id as
//! fragment. `metadata` is `{"title": ...}` when `title_field` is set and present.

mod config;
mod cursor;
mod json;
mod page;

use connector_sdk::{Connector, ConnectorError, EnvelopeDraft, Page, PageRequest, SourceRecord, export};
use serde_json::Value;

use crate::config::{SETTINGS, Settings};
use crate::json::scalar;

struct HttpJsonConnector;

impl Connector for HttpJsonConnector {
    fn source_name() -> String {
        "http-json".to_string()
    }

    fn list_records(req: PageRequest) -> Result<Page, ConnectorError> {
        page::list(SETTINGS.get()?, req.cursor.as_deref(), req.limit)
    }

    fn get_record(id: String) -> Result<SourceRecord, ConnectorError> {
        page::get(SETTINGS.get()?, &id)
    }

    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        let settings = SETTINGS.get()?;
        records.into_iter().map(|r| draft(settings, r)).collect()
    }
}

fn draft(s: &Settings, r: SourceRecord) -> Result<EnvelopeDraft, ConnectorError> {
    let metadata = match &s.title_field {
        None => None,
        Some(field) => {
            let value: Value = serde_json::from_str(&r.raw)
                .map_err(|e| ConnectorError::Parse(format!("record `{}` is not JSON: {e}", r.id)))?;
            field.get(&value).and_then(scalar).map(|title| serde_json::json!({ "title": title }).to_string())
        }
    };
    Ok(EnvelopeDraft {
        record_id: r.id,
        record_type: s.record_type,
        source_instance: s.source_instance.clone(),
        provenance: r.provenance,
        acl_tags: s.acl_tags.clone(),
        raw: r.raw,
        metadata,
    })
}

export!(HttpJsonConnector);
