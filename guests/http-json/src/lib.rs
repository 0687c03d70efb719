//! A generic connector for paginated REST/JSON APIs, configured by its manifest alone.
//!
//! Each request is a GET (or a POST with `body_template`) through the host (which holds the credentials, follows
//! redirects and retries); each item of the response's array becomes one record
//! whose `raw` is the item's text, passed on untouched.
//!
//! Configuration (the manifest's `[config]`; every value is a string, an empty one
//! counts as not set):
//!
//! The key table, with an example per API family, is in `docs/http.md`
//! ("The http-json connector").
//!
//! A *field* (`id_field`, `last_modified_field`, ...) is a top-level key taken
//! literally (`id`, even `a.b` or `@odata.etag`), or a JSON pointer when it starts
//! with `/` (`/meta/id`). Items that are not JSON objects, or have no id, are reported
//! as skipped records and the page goes on.
//!
//! Pagination: `link` follows the `Link` header's `rel="next"` URL; `next_url` follows
//! the URL at `next_url_pointer` (both absolute, or resolved against the URL just
//! fetched; every URL followed still passes the host's egress checks); `cursor` reads
//! the next cursor at `cursor_pointer` (or the last item's `cursor_field`) and sends it
//! in `cursor_param` and/or the body, ending at a missing, `null` or empty cursor or a
//! `has_more_pointer` that is not `true`; `has_more` sends the last item's id while
//! `has_more_pointer` is `true`; `page` and `offset` end at an empty page or one
//! shorter than the page length (in `page` mode only when the length is known:
//! `per_page_param` or `page_size` set). The cursors are described in `cursor.rs`.
//!
//! Silent truncation: when a page ends the pass but its response carries a usual
//! "there is more" marker that the configured mode does not read (`has_more: true`,
//! `@odata.nextLink`, `links.next`, `_links.next`, `pagination.next`, `next_cursor`,
//! `pageInfo.hasNextPage: true`, a `Link: rel="next"` header, ...), the page reports a
//! skipped record with locator `page N` and a warning in the log (WIT v1 has no other
//! way for a guest to report a problem that is not an error).
//!
//! Errors in a `2xx` body (`ok_pointer`, `error_pointer`) fail the page with the
//! upstream's code in the message: `auth` for a code in `auth_error_codes`,
//! `rate-limited` for a rate-limit code, `api` with the HTTP status otherwise.
//!
//! ETags: every `GET` page's ETag is kept with the cursor of the page after it (at
//! most `etag_pages` pages, see `etags.rs`); a page that comes back `304` is passed
//! over (a log line says "page N ... not modified") and the pass goes on from its kept
//! next cursor, so an edit on any page is seen on the next run.
//!
//! Incremental sync (see `incremental.rs`): the highest `incremental_field` of a whole
//! pass is kept in state; the next pass sends it minus `incremental_lookback`; the first
//! pass is a full read.
//!
//! `provenance.uri` is the item's `url_field` (a relative one resolved against the
//! list's URL), else its `record_path` URL, else the list's URL with the id as
//! fragment. `metadata` is `{"title": ...}` when `title_field` is set and present.

mod config;
mod cursor;
mod etags;
mod incremental;
mod json;
mod page;
mod request;
mod signals;
mod template;

use connector_sdk::{Connector, ConnectorError, DraftPage, EnvelopeDraft, Page, PageRequest, SourceRecord, export};
use serde_json::Value;

use crate::config::{SETTINGS, Settings};
use crate::json::scalar;

struct HttpJsonConnector;

impl Connector for HttpJsonConnector {
    fn source_name() -> String {
        "http-json".to_string()
    }

    fn list_records(req: PageRequest) -> Result<Page, ConnectorError> {
        let listed = page::list(SETTINGS.get()?, req.cursor.as_deref(), req.limit)?;
        let records = listed.items.into_iter().map(|i| i.record).collect();
        Ok(Page { records, next_cursor: listed.next_cursor, skipped: listed.skipped })
    }

    fn get_record(id: String) -> Result<SourceRecord, ConnectorError> {
        page::get(SETTINGS.get()?, &id)
    }

    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        let settings = SETTINGS.get()?;
        records
            .into_iter()
            .map(|r| {
                let title = title(settings, &r)?;
                Ok(draft(settings, r, title))
            })
            .collect()
    }

    /// The host's path: each item is parsed once, in `page::list`, which reads its
    /// title there too (re-parsing every record for `title_field` cost about 30% of a run).
    fn list_drafts(req: PageRequest) -> Result<DraftPage, ConnectorError> {
        let settings = SETTINGS.get()?;
        let listed = page::list(settings, req.cursor.as_deref(), req.limit)?;
        let drafts = listed.items.into_iter().map(|i| draft(settings, i.record, i.title)).collect();
        Ok(DraftPage { drafts, next_cursor: listed.next_cursor, skipped: listed.skipped })
    }
}

/// The `title_field` of a record that comes back from the host (`to-envelopes`).
fn title(s: &Settings, r: &SourceRecord) -> Result<Option<String>, ConnectorError> {
    let Some(field) = &s.title_field else { return Ok(None) };
    let value: Value = serde_json::from_str(&r.raw)
        .map_err(|e| ConnectorError::Parse(format!("record `{}` is not JSON: {e}", r.id)))?;
    Ok(field.get(&value).and_then(scalar))
}

fn draft(s: &Settings, r: SourceRecord, title: Option<String>) -> EnvelopeDraft {
    EnvelopeDraft {
        record_id: r.id,
        record_type: s.record_type,
        source_instance: s.source_instance.clone(),
        provenance: r.provenance,
        acl_tags: s.acl_tags.clone(),
        raw: r.raw,
        metadata: title.map(|title| serde_json::json!({ "title": title }).to_string()),
    }
}

export!(HttpJsonConnector);
