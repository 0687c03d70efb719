//! Committing one page, in one transaction on the writer connection: its envelopes,
//! a queue entry for each new or changed one, its lifecycle events and dead
//! letters, the cursor after it and the connector's state.
//!
//! Every statement runs on the committing thread, on the writer connection, through
//! [`prepared`]: sent to sqlx's worker thread, each cost a thread wake-up each way,
//! and on a machine whose cores are busy with the guest and the sealer each
//! wake-up waited for a core.
//!
//! [`prepared`]: super::prepared

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::LazyLock;

use sha2::Digest;

use super::prepared::{Connection, Failure};
use super::{PageCommit, PageOutcome, StoreError};
use crate::lifecycle::{Event, EventKind};

/// Upserts an envelope; changes no row when the stored one has the same hash.
const UPSERT_ENVELOPE: &str = "INSERT INTO envelopes \
     (source, record_id, raw_sha256, envelope, connector_digest, first_seen, last_seen) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) \
     ON CONFLICT (source, record_id) DO UPDATE SET raw_sha256 = excluded.raw_sha256, \
     envelope = excluded.envelope, connector_digest = excluded.connector_digest, last_seen = excluded.last_seen \
     WHERE envelopes.raw_sha256 <> excluded.raw_sha256";

/// Changes queued per statement. The queue's `seq` is AUTOINCREMENT, whose counter
/// SQLite writes back once per statement: a statement per change made that a
/// sixth of the first run's work in SQLite.
const QUEUE_ROWS: usize = 64;

/// Queues `rows` changes (`$1` the source, `$2` the time, then a record id and a
/// hash per change); a version queued already is skipped.
fn enqueue_sql(rows: usize) -> Cow<'static, str> {
    fn build(rows: usize) -> String {
        let mut sql = String::from("INSERT INTO queue (source, enqueued_at, record_id, raw_sha256) VALUES ");
        for i in 0..rows {
            let _ = write!(sql, "{}($1, $2, ${}, ${})", if i == 0 { "" } else { ", " }, 3 + 2 * i, 4 + 2 * i);
        }
        sql + " ON CONFLICT (source, record_id, raw_sha256) DO NOTHING"
    }
    static FULL: LazyLock<String> = LazyLock::new(|| build(QUEUE_ROWS));
    if rows == QUEUE_ROWS { Cow::Borrowed(FULL.as_str()) } else { Cow::Owned(build(rows)) }
}

/// Records looked up per statement by the check for unchanged records.
const LOOKUP_ROWS: usize = 64;

/// The stored hashes of `rows` records of a source (`$1` the source, then the ids).
fn lookup_sql(rows: usize) -> Cow<'static, str> {
    fn build(rows: usize) -> String {
        let mut sql = String::from("SELECT record_id, raw_sha256 FROM envelopes WHERE source = $1 AND record_id IN (");
        for i in 0..rows {
            let _ = write!(sql, "{}${}", if i == 0 { "" } else { ", " }, 2 + i);
        }
        sql + ")"
    }
    static FULL: LazyLock<String> = LazyLock::new(|| build(LOOKUP_ROWS));
    if rows == LOOKUP_ROWS { Cow::Borrowed(FULL.as_str()) } else { Cow::Owned(build(rows)) }
}

/// Records a lifecycle event; a repeat of its `(delivery_id, fingerprint)` is ignored.
pub(super) const INSERT_EVENT: &str = "INSERT INTO events (connector, event_type, delivery_id, fingerprint, recorded_at, payload) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, fingerprint) DO NOTHING";

pub(super) const INSERT_DEAD_LETTER: &str = "INSERT INTO dead_letters \
     (connector, source, record_id, reason, draft, connector_digest, created_at, package) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(super) const SAVE_CURSOR: &str = "INSERT INTO cursors (connector, cursor, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (connector) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at";

pub(super) const CLEAR_STATE: &str = "DELETE FROM state WHERE connector = $1";

const SAVE_STATE: &str = "INSERT INTO state (connector, key, value) VALUES ($1, $2, $3)";

/// Commits `page` on `conn`, the writer connection; returns what it did and which
/// of the page's records (by index) are new or changed in the store.
pub(super) fn commit(conn: &Connection, page: &PageCommit<'_>) -> Result<(PageOutcome, Vec<usize>), StoreError> {
    let tx = conn.begin().map_err(failed("starting a transaction"))?;
    let (mut outcome, fresh) = write_records(conn, page)?;

    let events = events(page, &fresh);
    if !events.is_empty() {
        let what = "recording a lifecycle event";
        let mut insert = conn.prepare(INSERT_EVENT).map_err(failed(what))?;
        for e in &events {
            let payload = e.payload.to_string();
            let row = [&e.connector, &e.event_type, &e.delivery_id, &e.fingerprint, &e.recorded_at, &payload];
            insert.execute(&row.map(|v| Some(v.as_bytes()))).map_err(failed(what))?;
        }
    }

    if !page.dead_letters.is_empty() {
        let what = "keeping a dead letter";
        let mut insert = conn.prepare(INSERT_DEAD_LETTER).map_err(failed(what))?;
        for d in &page.dead_letters {
            let row =
                [page.connector, page.source, &d.record_id, &d.reason, &d.draft, page.digest, page.now, page.package];
            insert.execute(&row.map(|v| Some(v.as_bytes()))).map_err(failed(what))?;
            outcome.dead_lettered += 1;
        }
    }

    if page.save_cursor {
        let (connector, now) = (Some(page.connector.as_bytes()), Some(page.now.as_bytes()));
        let what = "saving the cursor";
        let mut save = conn.prepare(SAVE_CURSOR).map_err(failed(what))?;
        save.execute(&[connector, page.cursor.map(str::as_bytes), now]).map_err(failed(what))?;
        let what = "saving state";
        conn.prepare(CLEAR_STATE).and_then(|mut s| s.execute(&[connector])).map_err(failed(what))?;
        if !page.state.is_empty() {
            let mut save = conn.prepare(SAVE_STATE).map_err(failed(what))?;
            for (k, v) in page.state {
                save.execute(&[connector, Some(k.as_bytes()), Some(v.as_bytes())]).map_err(failed(what))?;
            }
        }
    }
    crate::faults::point(crate::faults::CrashPoint::StoreCursor);
    tx.commit().map_err(failed("committing a page"))?;
    crate::faults::point(crate::faults::CrashPoint::StoreCommitted);
    Ok((outcome, fresh))
}

/// The lifecycle events of a page whose records `fresh` (by index) were new or
/// changed: one `SyncIngestAccepted` for those, one `SyncDeadLettered` per refused
/// draft. The same on either backend.
pub(super) fn events(page: &PageCommit<'_>, fresh: &[usize]) -> Vec<Event> {
    let mut events = Vec::new();
    if !fresh.is_empty() {
        let mut h = sha2::Sha256::new();
        for &i in fresh {
            h.update(page.records[i].raw_sha256.as_bytes());
        }
        let accepted = EventKind::SyncIngestAccepted {
            ingest_batch_id: page.delivery_id.clone(),
            ingested_count: fresh.len(),
            records_sha256: hex::encode(h.finalize()),
        };
        events.push(accepted.event(page.connector, page.delivery_id.clone(), page.now));
    }
    for d in &page.dead_letters {
        let dead_lettered = EventKind::SyncDeadLettered {
            failure_reason: d.reason.clone(),
            total_attempts: 1,
            dead_letter_ref: d.record_id.clone(),
        };
        events.push(dead_lettered.event(page.connector, format!("{}#{}", page.delivery_id, d.record_id), page.now));
    }
    events
}

/// Writes a page's envelopes and queues the new and changed ones; returns the
/// indices of those.
///
/// Change detection is the upsert itself: its `WHERE` leaves a record with an
/// unchanged hash alone, and the count of rows it changed says which case it was,
/// so nothing is read before it is written. But when a source is read again, most
/// records are unchanged, and a statement per record is then mostly overhead; so
/// the page's records are first looked up many at a time, and those stored with
/// the same hash skip the upsert. The first lookup of a page decides: when it finds
/// less than half of its records unchanged (a first run finds none), the rest of
/// the page goes straight to the upsert.
fn write_records(conn: &Connection, page: &PageCommit<'_>) -> Result<(PageOutcome, Vec<usize>), StoreError> {
    let mut upsert = conn.prepare(UPSERT_ENVELOPE).map_err(failed("upserting envelopes"))?;
    let (source, digest, now) = (Some(page.source.as_bytes()), Some(page.digest.as_bytes()), Some(page.now.as_bytes()));
    let mut outcome = PageOutcome::default();
    let mut fresh = Vec::new();
    let half = page.records.len() / 2;
    let mut looking = true;
    let mut params = Vec::with_capacity(1 + LOOKUP_ROWS);
    let mut same = [false; LOOKUP_ROWS];
    for (c, chunk) in page.records.chunks(LOOKUP_ROWS).enumerate() {
        same.fill(false);
        if looking {
            let what = "looking records up";
            let mut lookup = conn.prepare(&lookup_sql(chunk.len())).map_err(failed(what))?;
            params.clear();
            params.push(source);
            params.extend(chunk.iter().map(|r| Some(r.record_id.as_bytes())));
            let index: HashMap<&[u8], usize> =
                chunk.iter().enumerate().map(|(j, r)| (r.record_id.as_bytes(), j)).collect();
            lookup
                .query(&params, |id, hash| {
                    if let Some(&j) = index.get(id) {
                        same[j] = chunk[j].raw_sha256.as_bytes() == hash;
                    }
                })
                .map_err(failed(what))?;
            looking = same.iter().filter(|s| **s).count() * 2 >= chunk.len();
        }
        for (j, r) in chunk.iter().enumerate() {
            if c * LOOKUP_ROWS + j == half && half > 0 {
                crate::faults::point(crate::faults::CrashPoint::StoreRows);
            }
            if same[j] {
                outcome.unchanged += 1;
                continue;
            }
            // The sealer writes UTF-8 (the envelope is JSON it serialised from strings).
            debug_assert!(std::str::from_utf8(r.envelope).is_ok());
            let row =
                [source, Some(r.record_id.as_bytes()), Some(r.raw_sha256.as_bytes()), Some(r.envelope), digest, now];
            match upsert.execute(&row).map_err(failed("upserting envelopes"))? {
                0 => outcome.unchanged += 1,
                _ => fresh.push(c * LOOKUP_ROWS + j),
            }
        }
    }

    let what = "queueing changes";
    for chunk in fresh.chunks(QUEUE_ROWS) {
        let mut enqueue = conn.prepare(&enqueue_sql(chunk.len())).map_err(failed(what))?;
        params.clear();
        params.extend([source, now]);
        for r in chunk.iter().map(|&i| &page.records[i]) {
            params.extend([Some(r.record_id.as_bytes()), Some(r.raw_sha256.as_bytes())]);
        }
        let queued = enqueue.execute(&params).map_err(failed(what))?;
        outcome.published += queued;
        outcome.deduplicated += chunk.len() as u64 - queued;
    }
    Ok((outcome, fresh))
}

fn failed(what: &'static str) -> impl Fn(Failure) -> StoreError {
    move |f| StoreError::Sqlite { what, message: f.message }
}
