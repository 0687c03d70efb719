//! The PostgreSQL backend: one database shared by several hosts (`host serve` on
//! more than one machine), or by one host and the consumers of its queue.
//!
//! A page commits in one transaction of about ten statements, whatever its size:
//! the page's columns go to the server as arrays (`unnest($2::text[], …)`). One
//! statement, sent the ids and hashes only, says which records are stored
//! unchanged; one upserts the rest with their envelopes; one queues those written.
//! Measured (`just bench-pg-commit`, 200,000 records of 1 KiB): a statement per
//! record, as on SQLite, took six times as long (a round trip per record), and
//! `COPY` into a temporary table with one merge seven times.
//!
//! Two rules that a single SQLite writer never needed:
//! - **The queue is appended in commit order.** A consumer reads `seq > last` and
//!   acknowledges up to what it read; if two hosts' transactions took sequence
//!   numbers 10 and 11 and 11 committed first, a consumer could read and acknowledge
//!   11 and never see 10. So a page takes a transaction-scoped advisory lock just
//!   before it appends to the queue and holds it to its commit: appends commit one
//!   after another. What comes before (the envelopes, the bulk of the work) still
//!   runs side by side.
//! - **A leased run's page is fenced** (see [`super::leases`]): its first statement
//!   locks the connector's lease row and checks that the run's epoch is still the
//!   current one, so a host that lost its lease while paused commits nothing.
//!
//! A page that queued something `NOTIFY`s [`QUEUE_CHANNEL`] as it commits, for
//! `host queue --follow`.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};

use super::{PageCommit, PageOutcome, StoreError, migrations, page, q};
use crate::faults::{CrashPoint, point};

/// The channel a commit that queued entries notifies.
pub const QUEUE_CHANNEL: &str = "host_queue";

/// The advisory lock key that orders appends to the queue (any constant).
const QUEUE_LOCK: i64 = 0x686f_7374_7175_6575;

/// Connections per host: runs commit side by side, and the lease keeper, the admin
/// API and the run records need their own.
const MAX_CONNECTIONS: u32 = 16;

/// The 1-based positions (in the page) of the records stored with the same hash:
/// `$1` the source, `$2` and `$3` the page's record ids and hashes. Only ids and
/// hashes travel: an unchanged re-run sent every envelope to the server to be
/// compared (200 MB for 200,000 records) when it had asked this first.
const UNCHANGED: &str = "SELECT t.ord FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(record_id, raw_sha256, ord) \
     JOIN envelopes e ON e.record_id = t.record_id AND e.source = $1 AND e.raw_sha256 = t.raw_sha256";

/// Upserts the rest of a page; returns the record ids of the rows it wrote (one
/// changed meanwhile by another writer to the same hash is left alone). `$1` the
/// source, `$2`–`$4` the record ids, hashes and envelopes, `$5` the digest, `$6`
/// the time.
const UPSERT: &str = "INSERT INTO envelopes (source, record_id, raw_sha256, envelope, connector_digest, first_seen, last_seen) \
     SELECT $1, t.record_id, t.raw_sha256, t.envelope, $5, $6, $6 FROM unnest($2::text[], $3::text[], $4::text[]) AS t(record_id, raw_sha256, envelope) \
     ON CONFLICT (record_id, source) DO UPDATE SET raw_sha256 = excluded.raw_sha256, \
       envelope = excluded.envelope, connector_digest = excluded.connector_digest, last_seen = excluded.last_seen \
     WHERE envelopes.raw_sha256 <> excluded.raw_sha256 \
     RETURNING record_id";

/// Queues changed records in page order (`$1` the source, `$2` the time, `$3` and
/// `$4` ids and hashes); a version queued already is skipped.
const ENQUEUE: &str = "INSERT INTO queue (source, enqueued_at, record_id, raw_sha256) \
     SELECT $1, $2, t.record_id, t.raw_sha256 \
     FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS t(record_id, raw_sha256, ord) ORDER BY t.ord \
     ON CONFLICT (record_id, raw_sha256, source) DO NOTHING";

const INSERT_EVENTS: &str = "INSERT INTO events (connector, event_type, delivery_id, fingerprint, recorded_at, payload) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
     ON CONFLICT (delivery_id, fingerprint) DO NOTHING";

const INSERT_DEAD_LETTERS: &str = "INSERT INTO dead_letters \
     (connector, source, record_id, reason, draft, connector_digest, created_at, package) \
     SELECT $1, $2, t.record_id, t.reason, t.draft, $3, $4, $5 \
     FROM unnest($6::text[], $7::text[], $8::text[]) WITH ORDINALITY AS t(record_id, reason, draft, ord) ORDER BY t.ord";

const SAVE_STATE: &str =
    "INSERT INTO state (connector, key, value) SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v)";

/// Checks a leased run's fence and locks the lease row to the commit (`$1` the
/// connector, `$2` the owner, `$3` the epoch): a host taking the lease over waits
/// for this commit, and this commit finds a lease taken over already.
const FENCE: &str = "SELECT 1 FROM leases WHERE connector = $1 AND owner = $2 AND epoch = $3 FOR UPDATE";

/// Whether the lease is still the run's, asked after its page failed (no lock:
/// the page's transaction is gone).
const STILL_HELD: &str = "SELECT 1 FROM leases WHERE connector = $1 AND owner = $2 AND epoch = $3";

/// An open PostgreSQL store.
#[derive(Clone)]
pub(crate) struct Postgres {
    pub(crate) pool: PgPool,
    /// The runtime the store was opened on, where the committer thread's commits
    /// are waited for.
    runtime: tokio::runtime::Handle,
    /// The URL, its password hidden.
    shown: String,
}

impl Postgres {
    /// Connects to the database at `url` and applies pending migrations. The
    /// errors say which of the usual three it is: no server there, credentials
    /// refused, no such database.
    pub(super) async fn open(url: &str, shown: &str) -> Result<Postgres, StoreError> {
        let options: PgConnectOptions =
            url.parse().map_err(|source| StoreError::Open { url: shown.to_string(), source })?;
        let database = options.get_database().unwrap_or("postgres").to_string();
        // Named in `pg_stat_activity`; a URL's own `application_name` (one per host,
        // say) is kept.
        let options = match options.get_application_name() {
            Some(_) => options,
            None => options.application_name("host"),
        };
        // No transaction of the host waits for anything but the server, so one left
        // idle is a host that stopped (SIGSTOP, a partition) in the middle of it:
        // the server ends it, and the locks it held (a lease row, the queue's order)
        // go with it. A lock held longer than that fails the statement waiting for
        // it, rather than stalling it.
        let options = options.options([("idle_in_transaction_session_timeout", "5s"), ("lock_timeout", "10s")]);
        // One connection first, for its error: the pool retries a refused
        // connection until its timeout and then says only that it timed out.
        let first = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect_with(&options))
            .await
            .map_err(|_| StoreError::Unreachable { url: shown.to_string(), source: sqlx::Error::PoolTimedOut })?
            .map_err(|source| classify(shown, &database, source))?;
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // A dead server is reported rather than waited for; a restarted one is
            // found again by the pool at the next statement.
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|source| classify(shown, &database, source))?;
        migrations::apply_postgres(&pool, shown).await?;
        Ok(Postgres { pool, runtime: tokio::runtime::Handle::current(), shown: shown.to_string() })
    }

    /// A listener on `channel`, or `None` (logged) if it cannot listen.
    pub(super) async fn listen(&self, channel: &str) -> Option<PgListener> {
        let listening = async {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!("cannot listen on {} for `{channel}` ({e}); polling instead", self.shown);
                None
            }
        }
    }

    /// [`Postgres::commit_page`] from a thread outside the async runtime.
    pub(super) fn commit_page_blocking(&self, page: &PageCommit<'_>) -> Result<(PageOutcome, Vec<usize>), StoreError> {
        self.runtime.block_on(self.commit_page(page))
    }

    /// Commits one page in one transaction (see the module's docs).
    ///
    /// A leased run's page that fails part-way is asked about once more: a host
    /// paused inside the transaction finds, when it wakes, that the server ended
    /// it (`idle_in_transaction_session_timeout`) and that another host took the
    /// lease meanwhile. That page was fenced, not lost to a store fault, and is
    /// reported so: the run ends `fenced`, and the new owner resumes it.
    pub(super) async fn commit_page(&self, page: &PageCommit<'_>) -> Result<(PageOutcome, Vec<usize>), StoreError> {
        let failed = match self.commit_page_once(page).await {
            Err(e @ StoreError::Query { .. }) => e,
            done => return done,
        };
        let Some(fence) = page.fence else { return Err(failed) };
        let held = sqlx::query(STILL_HELD)
            .bind(page.connector)
            .bind(&fence.owner)
            .bind(fence.epoch)
            .fetch_optional(&self.pool);
        match tokio::time::timeout(Duration::from_secs(5), held).await {
            Ok(Ok(None)) => Err(StoreError::Fenced { connector: page.connector.to_string(), epoch: fence.epoch }),
            // Still held, or the server cannot say: the failure is the store's.
            _ => Err(failed),
        }
    }

    /// One attempt of [`Postgres::commit_page`].
    async fn commit_page_once(&self, page: &PageCommit<'_>) -> Result<(PageOutcome, Vec<usize>), StoreError> {
        let mut tx = self.pool.begin().await.map_err(q("starting a transaction"))?;
        if let Some(fence) = page.fence {
            let held = sqlx::query(FENCE)
                .bind(page.connector)
                .bind(&fence.owner)
                .bind(fence.epoch)
                .fetch_optional(&mut *tx)
                .await
                .map_err(q("checking the lease"))?;
            if held.is_none() {
                // Dropping the transaction rolls it back: nothing of the page is kept.
                return Err(StoreError::Fenced { connector: page.connector.to_string(), epoch: fence.epoch });
            }
        }
        let mut outcome = PageOutcome::default();
        let mut fresh = Vec::new();
        if !page.records.is_empty() {
            let ids: Vec<&str> = page.records.iter().map(|r| r.record_id).collect();
            let hashes: Vec<&str> = page.records.iter().map(|r| r.raw_sha256).collect();
            let mut same = vec![false; page.records.len()];
            let unchanged = sqlx::query(UNCHANGED)
                .bind(page.source)
                .bind(&ids)
                .bind(&hashes)
                .fetch_all(&mut *tx)
                .await
                .map_err(q("looking records up"))?;
            for r in &unchanged {
                same[r.get::<i64, _>(0) as usize - 1] = true;
            }
            let rest: Vec<usize> = (0..page.records.len()).filter(|&i| !same[i]).collect();
            if !rest.is_empty() {
                // The sealer writes UTF-8 (the envelope is JSON it serialised from strings).
                let envelopes: Vec<&str> = rest
                    .iter()
                    .map(|&i| std::str::from_utf8(page.records[i].envelope).expect("the sealer writes UTF-8"))
                    .collect();
                let written = sqlx::query(UPSERT)
                    .bind(page.source)
                    .bind(rest.iter().map(|&i| ids[i]).collect::<Vec<&str>>())
                    .bind(rest.iter().map(|&i| hashes[i]).collect::<Vec<&str>>())
                    .bind(&envelopes)
                    .bind(page.digest)
                    .bind(page.now)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(q("upserting envelopes"))?;
                // A page's record ids are distinct (repeats are dropped before the store).
                let written: std::collections::HashSet<String> = written.iter().map(|r| r.get(0)).collect();
                fresh = rest.into_iter().filter(|&i| written.contains(page.records[i].record_id)).collect();
            }
            outcome.unchanged = (page.records.len() - fresh.len()) as u64;
            point(CrashPoint::StoreRows);
            if !fresh.is_empty() {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(QUEUE_LOCK)
                    .execute(&mut *tx)
                    .await
                    .map_err(q("ordering the queue"))?;
                let ids: Vec<&str> = fresh.iter().map(|&i| page.records[i].record_id).collect();
                let hashes: Vec<&str> = fresh.iter().map(|&i| page.records[i].raw_sha256).collect();
                let queued = sqlx::query(ENQUEUE)
                    .bind(page.source)
                    .bind(page.now)
                    .bind(&ids)
                    .bind(&hashes)
                    .execute(&mut *tx)
                    .await
                    .map_err(q("queueing changes"))?
                    .rows_affected();
                outcome.published = queued;
                outcome.deduplicated = fresh.len() as u64 - queued;
            }
        }

        let events = page::events(page, &fresh);
        if !events.is_empty() {
            let column = |f: fn(&crate::lifecycle::Event) -> String| events.iter().map(f).collect::<Vec<String>>();
            sqlx::query(INSERT_EVENTS)
                .bind(column(|e| e.connector.clone()))
                .bind(column(|e| e.event_type.clone()))
                .bind(column(|e| e.delivery_id.clone()))
                .bind(column(|e| e.fingerprint.clone()))
                .bind(column(|e| e.recorded_at.clone()))
                .bind(column(|e| e.payload.to_string()))
                .execute(&mut *tx)
                .await
                .map_err(q("recording a lifecycle event"))?;
        }

        if !page.dead_letters.is_empty() {
            let column = |f: fn(&super::DeadLetter) -> &str| page.dead_letters.iter().map(f).collect::<Vec<&str>>();
            sqlx::query(INSERT_DEAD_LETTERS)
                .bind(page.connector)
                .bind(page.source)
                .bind(page.digest)
                .bind(page.now)
                .bind(page.package)
                .bind(column(|d| &d.record_id))
                .bind(column(|d| &d.reason))
                .bind(column(|d| &d.draft))
                .execute(&mut *tx)
                .await
                .map_err(q("keeping a dead letter"))?;
            outcome.dead_lettered = page.dead_letters.len() as u64;
        }

        if page.save_cursor {
            sqlx::query(page::SAVE_CURSOR)
                .bind(page.connector)
                .bind(page.cursor)
                .bind(page.now)
                .execute(&mut *tx)
                .await
                .map_err(q("saving the cursor"))?;
            sqlx::query(page::CLEAR_STATE).bind(page.connector).execute(&mut *tx).await.map_err(q("saving state"))?;
            if !page.state.is_empty() {
                let keys: Vec<&str> = page.state.keys().map(String::as_str).collect();
                let values: Vec<&str> = page.state.values().map(String::as_str).collect();
                sqlx::query(SAVE_STATE)
                    .bind(page.connector)
                    .bind(&keys)
                    .bind(&values)
                    .execute(&mut *tx)
                    .await
                    .map_err(q("saving state"))?;
            }
        }
        if outcome.published > 0 {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(QUEUE_CHANNEL)
                .execute(&mut *tx)
                .await
                .map_err(q("notifying consumers"))?;
        }
        point(CrashPoint::StoreCursor);
        tx.commit().await.map_err(q("committing a page"))?;
        point(CrashPoint::StoreCommitted);
        Ok((outcome, fresh))
    }
}

/// What a failed connection means, in the operator's terms.
fn classify(shown: &str, database: &str, source: sqlx::Error) -> StoreError {
    let url = shown.to_string();
    if let sqlx::Error::Database(e) = &source {
        match e.code().as_deref() {
            // invalid_password, invalid_authorization_specification
            Some("28P01" | "28000") => return StoreError::Refused { url, detail: e.message().to_string() },
            // invalid_catalog_name
            Some("3D000") => return StoreError::NoDatabase { url, database: database.to_string() },
            _ => {}
        }
    }
    match source {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => StoreError::Unreachable { url, source },
        source => StoreError::Open { url, source },
    }
}
