//! `partner:connector@1.x` at the edge: its WIT types converted to and from the
//! host's own ([`crate::contract`]), those of 1.0 and what 1.1 adds (evidence, pages
//! as columns).
//! Nothing behind the edge sees a WIT type.

use super::bindings::v1::partner::connector::{http as wit_http, types as wit};
use super::bindings::v1_1::columnar::exports::partner::connector::columnar as wit_columnar;
use super::bindings::v1_1::exports::partner::connector::evidence as wit_evidence;
use crate::contract::http::{Method, Request, Response};
use crate::contract::{
    ConnectorError, Draft, DraftPage, ErrorCase, Evidence, PageRequest, Provenance, RecordType, Skipped, SourceRecord,
};

impl From<wit::ConnectorError> for ConnectorError {
    fn from(e: wit::ConnectorError) -> ConnectorError {
        use wit::ConnectorError as W;
        let (case, message) = match e {
            W::RateLimited(r) => return ConnectorError::wait(ErrorCase::RateLimited, r.retry_after_ms, r.message),
            W::CircuitOpen(r) => return ConnectorError::wait(ErrorCase::CircuitOpen, r.retry_after_ms, r.message),
            W::Api(a) => return ConnectorError::api(a.status, a.message),
            W::Auth(m) => (ErrorCase::Auth, m),
            W::Timeout(m) => (ErrorCase::Timeout, m),
            W::Network(m) => (ErrorCase::Network, m),
            W::NotFound(m) => (ErrorCase::NotFound, m),
            W::InvalidConfig(m) => (ErrorCase::InvalidConfig, m),
            W::Parse(m) => (ErrorCase::Parse, m),
            W::Quota(m) => (ErrorCase::Quota, m),
            W::Denied(m) => (ErrorCase::Denied, m),
            W::Unsupported(m) => (ErrorCase::Unsupported, m),
            W::Other(m) => (ErrorCase::Other, m),
        };
        ConnectorError::new(case, message)
    }
}

impl From<ConnectorError> for wit::ConnectorError {
    fn from(e: ConnectorError) -> wit::ConnectorError {
        use wit::ConnectorError as W;
        let ConnectorError { case, message, retry_after_ms, status } = e;
        let retry = |message| wit::RetryInfo { retry_after_ms, message };
        match case {
            ErrorCase::Auth => W::Auth(message),
            ErrorCase::RateLimited => W::RateLimited(retry(message)),
            ErrorCase::Timeout => W::Timeout(message),
            ErrorCase::Network => W::Network(message),
            ErrorCase::NotFound => W::NotFound(message),
            ErrorCase::Api => W::Api(wit::ApiError { status: status.unwrap_or(0), message }),
            ErrorCase::InvalidConfig => W::InvalidConfig(message),
            ErrorCase::Parse => W::Parse(message),
            ErrorCase::Quota => W::Quota(message),
            ErrorCase::CircuitOpen => W::CircuitOpen(retry(message)),
            ErrorCase::Denied => W::Denied(message),
            ErrorCase::Unsupported => W::Unsupported(message),
            ErrorCase::Other => W::Other(message),
        }
    }
}

impl From<wit::RecordType> for RecordType {
    fn from(t: wit::RecordType) -> RecordType {
        match t {
            wit::RecordType::Document => RecordType::Document,
            wit::RecordType::Event => RecordType::Event,
            wit::RecordType::Entity => RecordType::Entity,
            wit::RecordType::Claim => RecordType::Claim,
            wit::RecordType::Metric => RecordType::Metric,
        }
    }
}

impl From<wit::Provenance> for Provenance {
    fn from(p: wit::Provenance) -> Provenance {
        Provenance { uri: p.uri, etag: p.etag, last_modified: p.last_modified, author: p.author }
    }
}

impl From<Provenance> for wit::Provenance {
    fn from(p: Provenance) -> wit::Provenance {
        wit::Provenance { uri: p.uri, etag: p.etag, last_modified: p.last_modified, author: p.author }
    }
}

impl From<wit::SourceRecord> for SourceRecord {
    fn from(r: wit::SourceRecord) -> SourceRecord {
        SourceRecord { id: r.id, raw: r.raw, provenance: r.provenance.into() }
    }
}

impl From<SourceRecord> for wit::SourceRecord {
    fn from(r: SourceRecord) -> wit::SourceRecord {
        wit::SourceRecord { id: r.id, raw: r.raw, provenance: r.provenance.into() }
    }
}

impl From<PageRequest> for wit::PageRequest {
    fn from(r: PageRequest) -> wit::PageRequest {
        wit::PageRequest { cursor: r.cursor, limit: r.limit }
    }
}

impl From<wit::SkippedRecord> for Skipped {
    fn from(s: wit::SkippedRecord) -> Skipped {
        Skipped { locator: s.locator, reason: s.reason }
    }
}

impl From<wit::EnvelopeDraft> for Draft {
    fn from(d: wit::EnvelopeDraft) -> Draft {
        Draft {
            record_id: d.record_id,
            record_type: d.record_type.into(),
            source_instance: d.source_instance,
            provenance: d.provenance.into(),
            acl_tags: d.acl_tags,
            raw: d.raw,
            metadata: d.metadata,
        }
    }
}

impl From<wit::DraftPage> for DraftPage {
    fn from(p: wit::DraftPage) -> DraftPage {
        DraftPage {
            drafts: p.drafts.into_iter().map(Draft::from).collect(),
            next_cursor: p.next_cursor,
            skipped: p.skipped.into_iter().map(Skipped::from).collect(),
        }
    }
}

/// Why a page given as columns cannot be taken as drafts.
#[derive(Debug, PartialEq)]
pub(super) enum ColumnsError {
    /// Its columns do not line up, or a text is not UTF-8: the call broke the
    /// contract.
    Misaligned(String),
    /// It holds more drafts, or would take more memory as drafts, than the limits.
    Limit(String),
}

/// What ends each text of a column, and what stands for none: bytes that UTF-8
/// never holds.
const END: u8 = 0xFF;
const NONE: &[u8] = &[0xFE];

/// How many texts a column holds.
fn count(column: &[u8]) -> usize {
    memchr::memchr_iter(END, column).count()
}

/// The texts of one column, `count` of them (`optional`: or none at all), each
/// checked as UTF-8.
fn texts(
    column: &[u8],
    count: usize,
    optional: bool,
    block: usize,
    name: &str,
) -> Result<Vec<Option<String>>, ColumnsError> {
    let wrong = |why: String| ColumnsError::Misaligned(format!("block {block}: `{name}` {why}"));
    // An empty column: no texts (a block of no drafts), or none for every draft.
    if column.is_empty() && (optional || count == 0) {
        return Ok(vec![None; count]);
    }
    let Some(body) = column.strip_suffix(&[END]) else {
        return Err(wrong(format!("does not end with the byte 0xFF that ends each text ({} bytes)", column.len())));
    };
    let mut out = Vec::with_capacity(count);
    for (i, text) in body.split(|&b| b == END).enumerate() {
        if out.len() == count {
            return Err(wrong(format!("has more texts than the block's {count} record ids")));
        }
        if text == NONE {
            if !optional {
                return Err(wrong(format!("has none for draft {}, and every draft needs one", i + 1)));
            }
            out.push(None);
            continue;
        }
        let text = std::str::from_utf8(text)
            .map_err(|e| wrong(format!("holds text that is not UTF-8 for draft {}: {e}", i + 1)))?;
        out.push(Some(text.to_string()));
    }
    if out.len() != count {
        return Err(wrong(format!("has {} texts for {count} record ids", out.len())));
    }
    Ok(out)
}

/// A page given as columns, as drafts: at most `max_drafts` (with the skipped ones),
/// taking at most `max_bytes` once each draft has its own copy of its block's shared
/// values. The guest's memory held those values once per block; without the second
/// bound a block of a thousand ids and one megabyte of tags would become a gigabyte
/// of drafts in the host.
pub(super) fn columns_to_page(
    p: wit_columnar::DraftColumns,
    max_drafts: usize,
    max_bytes: u64,
) -> Result<DraftPage, ColumnsError> {
    let counts: Vec<usize> = p.blocks.iter().map(|b| count(&b.record_ids)).collect();
    let total: usize = counts.iter().fold(0, |a, &b| a.saturating_add(b));
    if total.saturating_add(p.skipped.len()) > max_drafts {
        return Err(ColumnsError::Limit(format!(
            "it returned {} records, more than limits.max_records_per_page ({max_drafts})",
            total.saturating_add(p.skipped.len())
        )));
    }
    let shared: u64 = p
        .blocks
        .iter()
        .zip(&counts)
        .map(|(b, &count)| {
            let each = b.source_instance.len() + b.acl_tags.iter().map(|t| t.len() + 24).sum::<usize>();
            (each as u64).saturating_mul(count as u64)
        })
        .fold(0, u64::saturating_add);
    if shared > max_bytes {
        return Err(ColumnsError::Limit(format!(
            "its blocks' source instances and tags, copied into each of their drafts, take {shared} bytes, more than limits.max_page_bytes ({max_bytes})"
        )));
    }
    let mut drafts = Vec::with_capacity(total);
    for (n, (b, count)) in p.blocks.into_iter().zip(counts).enumerate() {
        let block = n + 1;
        let required = |column: &[u8], name: &str| {
            texts(column, count, false, block, name)?.into_iter().collect::<Option<Vec<String>>>().ok_or_else(|| {
                ColumnsError::Misaligned(format!("block {block}: `{name}` has none for a draft that needs one"))
            })
        };
        let optional = |column: &[u8], name| texts(column, count, true, block, name);
        let ids = required(&b.record_ids, "record-ids")?;
        let raws = required(&b.raws, "raws")?;
        let uris = required(&b.uris, "uris")?;
        let etags = optional(&b.etags, "etags")?;
        let modified = optional(&b.last_modified, "last-modified")?;
        let authors = optional(&b.authors, "authors")?;
        let metadata = optional(&b.metadata, "metadata")?;
        let record_type = RecordType::from(b.record_type);
        let columns = ids.into_iter().zip(raws).zip(uris).zip(etags).zip(modified).zip(authors).zip(metadata);
        for ((((((record_id, raw), uri), etag), last_modified), author), metadata) in columns {
            drafts.push(Draft {
                record_id,
                record_type,
                source_instance: b.source_instance.clone(),
                provenance: Provenance { uri, etag, last_modified, author },
                acl_tags: b.acl_tags.clone(),
                raw,
                metadata,
            });
        }
    }
    Ok(DraftPage { drafts, next_cursor: p.next_cursor, skipped: p.skipped.into_iter().map(Skipped::from).collect() })
}

impl From<wit_evidence::Evidence> for Evidence {
    fn from(e: wit_evidence::Evidence) -> Evidence {
        Evidence {
            id: e.id,
            title: e.title,
            content: e.content,
            url: e.url,
            author: e.author,
            created_at: e.created_at,
            confidence: e.confidence,
            authority: e.authority,
            metadata: e.metadata,
        }
    }
}

impl From<wit_http::Request> for Request {
    fn from(r: wit_http::Request) -> Request {
        let method = match r.method {
            wit_http::Method::Get => Method::Get,
            wit_http::Method::Head => Method::Head,
            wit_http::Method::Post => Method::Post,
            wit_http::Method::Put => Method::Put,
            wit_http::Method::Patch => Method::Patch,
            wit_http::Method::Delete => Method::Delete,
            wit_http::Method::Options => Method::Options,
        };
        Request { method, url: r.url, headers: r.headers, body: r.body, timeout_ms: r.timeout_ms }
    }
}

impl From<Response> for wit_http::Response {
    fn from(r: Response) -> wit_http::Response {
        wit_http::Response { status: r.status, headers: r.headers, body: r.body }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column of `texts` (`None`: none) as the guest sends it.
    fn column(texts: &[Option<&str>]) -> Vec<u8> {
        let mut out = Vec::new();
        for t in texts {
            out.extend_from_slice(t.map(str::as_bytes).unwrap_or(NONE));
            out.push(END);
        }
        out
    }

    fn block(ids: &[&str]) -> wit_columnar::DraftBlock {
        let all = |f: &dyn Fn(&str) -> String| {
            column(&ids.iter().map(|i| Some(f(i))).collect::<Vec<_>>().iter().map(|s| s.as_deref()).collect::<Vec<_>>())
        };
        wit_columnar::DraftBlock {
            record_type: wit::RecordType::Claim,
            source_instance: "feed".into(),
            acl_tags: vec!["public".into()],
            record_ids: all(&|i| i.to_string()),
            raws: all(&|i| format!("{{\"id\":\"{i}\"}}")),
            uris: all(&|i| format!("file:///f#{i}")),
            etags: Vec::new(),
            last_modified: Vec::new(),
            authors: Vec::new(),
            metadata: Vec::new(),
        }
    }

    fn page(blocks: Vec<wit_columnar::DraftBlock>) -> wit_columnar::DraftColumns {
        wit_columnar::DraftColumns { blocks, next_cursor: Some("c2".into()), skipped: Vec::new() }
    }

    fn misaligned(p: wit_columnar::DraftColumns) -> String {
        match columns_to_page(p, 1000, 1 << 20) {
            Err(ColumnsError::Misaligned(why)) => why,
            other => panic!("not refused as misaligned: {other:?}"),
        }
    }

    #[test]
    fn columns_become_the_drafts_they_describe_in_order() {
        let mut second = block(&["c"]);
        second.record_type = wit::RecordType::Event;
        second.acl_tags = Vec::new();
        second.last_modified = column(&[Some("2026-01-01")]);
        let mut first = block(&["a", "b"]);
        first.authors = column(&[None, Some("ü@example.org")]);
        let got = columns_to_page(page(vec![first, second]), 1000, 1 << 20).unwrap();
        let ids: Vec<&str> = got.drafts.iter().map(|d| d.record_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(got.next_cursor.as_deref(), Some("c2"));
        let b = &got.drafts[1];
        assert_eq!((b.raw.as_str(), b.provenance.uri.as_str()), ("{\"id\":\"b\"}", "file:///f#b"));
        assert_eq!(b.provenance.author.as_deref(), Some("ü@example.org"));
        assert_eq!(got.drafts[0].provenance.author, None);
        assert_eq!(
            (b.record_type, b.acl_tags.as_slice(), b.source_instance.as_str()),
            (RecordType::Claim, &["public".to_string()][..], "feed")
        );
        let c = &got.drafts[2];
        assert_eq!((c.record_type, c.acl_tags.len()), (RecordType::Event, 0));
        assert_eq!(c.provenance.last_modified.as_deref(), Some("2026-01-01"));
        assert_eq!((c.provenance.etag.as_deref(), c.metadata.as_deref()), (None, None));
        // An empty text is a text; a block of no drafts is no drafts.
        let mut empty = block(&[""]);
        empty.raws = column(&[Some("")]);
        let got = columns_to_page(page(vec![empty, block(&[])]), 1000, 1 << 20).unwrap();
        assert_eq!((got.drafts.len(), got.drafts[0].record_id.as_str(), got.drafts[0].raw.as_str()), (1, "", ""));
    }

    #[test]
    fn columns_that_do_not_line_up_are_refused_naming_the_block_and_column() {
        let mut b = block(&["a", "b"]);
        b.raws = column(&[Some("{}")]);
        assert_eq!(misaligned(page(vec![block(&["x"]), b])), "block 2: `raws` has 1 texts for 2 record ids");
        let mut b = block(&["a"]);
        b.uris = column(&[Some("u"), Some("v")]);
        assert_eq!(misaligned(page(vec![b])), "block 1: `uris` has more texts than the block's 1 record ids");
        let mut b = block(&["a"]);
        b.raws = column(&[None]);
        assert_eq!(misaligned(page(vec![b])), "block 1: `raws` has none for draft 1, and every draft needs one");
        let mut b = block(&["a"]);
        b.raws = b"{}".to_vec();
        assert_eq!(
            misaligned(page(vec![b])),
            "block 1: `raws` does not end with the byte 0xFF that ends each text (2 bytes)"
        );
        let mut b = block(&["a", "b"]);
        b.etags = column(&[Some("e")]);
        assert_eq!(misaligned(page(vec![b])), "block 1: `etags` has 1 texts for 2 record ids");
        let mut b = block(&["a"]);
        b.authors = vec![0xC3, 0x28, END];
        assert!(
            misaligned(page(vec![b]))
                .starts_with("block 1: `authors` holds text that is not UTF-8 for draft 1: invalid utf-8"),
        );
    }

    #[test]
    fn columns_are_bounded_before_they_are_copied_into_drafts() {
        let ids: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        match columns_to_page(page(vec![block(&ids)]), 9, 1 << 20) {
            Err(ColumnsError::Limit(why)) => {
                assert_eq!(why, "it returned 10 records, more than limits.max_records_per_page (9)")
            }
            other => panic!("{other:?}"),
        }
        // Tags written once per block are copied into every draft: that is counted.
        let mut b = block(&ids);
        b.acl_tags = vec!["t".repeat(1000)];
        match columns_to_page(page(vec![b]), 1000, 5000) {
            Err(ColumnsError::Limit(why)) => {
                assert!(why.contains("take 10280 bytes, more than limits.max_page_bytes (5000)"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// Every case survives the way out to the guest and back, with its wait or status.
    #[test]
    fn errors_convert_both_ways_without_loss() {
        for case in ErrorCase::ALL {
            let e = match case {
                ErrorCase::Api => ConnectorError::api(418, "teapot"),
                c if c.has_retry_after() => ConnectorError::wait(c, Some(250), "later"),
                c => ConnectorError::new(c, "why"),
            };
            let back = ConnectorError::from(wit::ConnectorError::from(e.clone()));
            assert_eq!(back, e, "{case}");
        }
    }
}
