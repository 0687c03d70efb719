//! Reading the feed file page by page.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::sync::OnceLock;

use connector_sdk::{ConnectorError, Page, Provenance, SkippedRecord, SourceRecord};
use serde_json::value::RawValue;

use crate::config::{Format, Settings};
use crate::cursor::Position;
use crate::fields::{self, Wanted};

/// One page of records starting at `cursor`, at most `limit` records long.
pub fn page(s: &Settings, cursor: Option<&str>, limit: usize) -> Result<Page, ConnectorError> {
    let pos = Position::parse(cursor)?;
    match s.format {
        Format::Jsonl => jsonl_page(s, pos, limit),
        Format::Json => json_page(s, pos, limit),
    }
}

/// The record with id `id`, if the feed has one.
pub fn find(s: &Settings, id: &str) -> Result<Option<SourceRecord>, ConnectorError> {
    let mut cursor = None;
    loop {
        let page = page(s, cursor.as_deref(), 10_000)?;
        if let Some(found) = page.records.into_iter().find(|r| r.id == id) {
            return Ok(Some(found));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(None),
        }
    }
}

fn jsonl_page(s: &Settings, pos: Position, limit: usize) -> Result<Page, ConnectorError> {
    let mut file = File::open(&s.path).map_err(|e| io_error(&s.path, e))?;
    file.seek(SeekFrom::Start(pos.offset)).map_err(|e| io_error(&s.path, e))?;
    let mut reader = BufReader::with_capacity(256 << 10, file);
    let wanted = wanted(s);
    let mut records = Vec::with_capacity(limit.min(4096));
    let mut skipped = Vec::new();
    let mut next = pos;
    let mut line = Vec::with_capacity(1024);
    // Skipped lines count toward the page too, so that a file of nothing but broken
    // lines still comes back in bounded pages.
    while records.len() + skipped.len() < limit {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| io_error(&s.path, e))?;
        if n == 0 {
            return Ok(Page { records, next_cursor: None, skipped });
        }
        let number = next.line;
        next = Position { offset: next.offset + n as u64, line: next.line + 1 };
        let locator = || format!("line {number}");
        match std::str::from_utf8(&line) {
            Err(e) => skipped.push(SkippedRecord { locator: locator(), reason: format!("not UTF-8 ({e})") }),
            Ok(text) => match record(s, &wanted, text) {
                Ok(Some(r)) => records.push(r),
                Ok(None) => {}
                Err(reason) => skipped.push(SkippedRecord { locator: locator(), reason }),
            },
        }
    }
    let more = !reader.fill_buf().map_err(|e| io_error(&s.path, e))?.is_empty();
    Ok(Page { records, next_cursor: more.then(|| next.encode()), skipped })
}

fn json_page(s: &Settings, pos: Position, limit: usize) -> Result<Page, ConnectorError> {
    static ITEMS: OnceLock<Result<Vec<String>, ConnectorError>> = OnceLock::new();
    let items = ITEMS.get_or_init(|| read_array(s)).as_ref().map_err(Clone::clone)?;
    let wanted = wanted(s);
    let start = usize::try_from(pos.offset).unwrap_or(usize::MAX).min(items.len());
    let end = start.saturating_add(limit).min(items.len());
    let mut records = Vec::with_capacity(end - start);
    let mut skipped = Vec::new();
    for (index, text) in items[start..end].iter().enumerate() {
        match record(s, &wanted, text) {
            Ok(Some(r)) => records.push(r),
            Ok(None) => {}
            Err(reason) => skipped.push(SkippedRecord { locator: format!("item {}", start + index + 1), reason }),
        }
    }
    let next_cursor = (end < items.len()).then(|| Position { offset: end as u64, line: end as u64 + 1 }.encode());
    Ok(Page { records, next_cursor, skipped })
}

/// Reads a JSON array file into the text of each of its items.
fn read_array(s: &Settings) -> Result<Vec<String>, ConnectorError> {
    let text = std::fs::read_to_string(&s.path).map_err(|e| io_error(&s.path, e))?;
    let items: Vec<&RawValue> = serde_json::from_str(&text)
        .map_err(|e| ConnectorError::Parse(format!("{} is not a JSON array of records: {e}", s.path)))?;
    Ok(items.into_iter().map(|v| v.get().to_string()).collect())
}

fn wanted(s: &Settings) -> Wanted<'_> {
    Wanted { id: &s.id_field, last_modified: s.last_modified_field.as_deref(), author: s.author_field.as_deref() }
}

/// Turns one line or item into a record; `Ok(None)` for a blank line.
fn record(s: &Settings, wanted: &Wanted<'_>, text: &str) -> Result<Option<SourceRecord>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let found = fields::pick(text, wanted)
        .map_err(|e| format!("not a JSON object: {}", e.replace(" at line 1 column ", " at column ")))?;
    let id = found
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("no `{}` field with a non-empty string or number", s.id_field))?;
    let uri = format!("file://{}#{}", s.path, fragment(&id));
    Ok(Some(SourceRecord {
        id,
        raw: text.to_string(),
        provenance: Provenance { uri, etag: None, last_modified: found.last_modified, author: found.author },
    }))
}

/// Percent-encodes an id for use as a URI fragment.
fn fragment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn io_error(path: &str, e: io::Error) -> ConnectorError {
    match e.kind() {
        io::ErrorKind::NotFound => {
            ConnectorError::NotFound(format!("cannot open {path}: {e} (is its directory granted in the manifest?)"))
        }
        io::ErrorKind::PermissionDenied => ConnectorError::Denied(format!("cannot open {path}: {e}")),
        _ => ConnectorError::Other(format!("cannot read {path}: {e}")),
    }
}
