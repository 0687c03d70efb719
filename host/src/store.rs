//! The embedded store: sealed envelopes with change detection, the queue of
//! published changes, cursors and connector state, dead letters, and run reports.
//!
//! The default is SQLite (`sqlite:.host/state.db`): a file, nothing to install. The
//! SQL is kept portable (`$n` placeholders, `ON CONFLICT`), so that a PostgreSQL
//! backend can share it; only the DDL of [`migrations`] is per backend.
//!
//! sqlx, because one async crate drives both SQLite and PostgreSQL with the same
//! query API, pools and transactions, and runs on the tokio runtime the host has
//! anyway. [`Store`] is the interface the rest of the host sees: its methods take and
//! return plain values and [`StoreError`], and no sqlx or SQLite type crosses it, so
//! a PostgreSQL backend is a second implementation behind the same methods (for the
//! page commit, sqlx's PostgreSQL driver with many-row statements: the C API path of
//! [`prepared`] is SQLite's alone).
//!
//! A page is committed in **one transaction**: its envelopes, its queue entries, its
//! dead letters, the cursor after it and the connector's state. A crash before the
//! commit loses the page (and the next run reads it again from the stored cursor);
//! a crash after it loses nothing. Re-publishing is idempotent: the queue holds one
//! row per `(source, record_id, raw_sha256)`. The envelope text is stored once, in
//! `envelopes` (the current version); a queue entry whose record has changed since
//! is *superseded*: its newer version has its own, later entry. (Storing every
//! version's text in the queue too doubled what a first run writes.)
//!
//! Three connections: a pool of one for reads and the occasional small write; the
//! writer, which commits pages ([`page`]) with SQLite's C API on the committing
//! thread ([`prepared`]); and the [`checkpoint`] thread's, which moves committed
//! pages from the WAL into the database file while the next page is written.

mod checkpoint;
mod cursors;
pub mod migrations;
mod page;
mod prepared;
pub mod verify;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row, Sqlite, Transaction};

use crate::lifecycle::Event;

pub use cursors::StoredCursor;

/// How long an acknowledged queue entry whose record has a newer version is kept:
/// a consumer took it, and the newer version has an entry of its own, so after a
/// week of grace (for a consumer that reads again from an older position) it goes.
/// Without this the queue grew by a feed's size with every version of it. The
/// current version's entry is kept however old: it says what was published last.
pub const RETAIN_ACKED: Duration = Duration::from_secs(7 * 86_400);

/// The default store URL.
pub const DEFAULT_URL: &str = "sqlite:.host/state.db";

/// Per-connection settings, for the connections sqlx opens and ours alike.
const PRAGMAS: [(&str, &str); 6] = [
    // NORMAL in WAL mode: a committed page survives a crash of the process (the WAL
    // is written before the commit returns), and a power loss can only roll back the
    // last commits whole; since each page commits with its cursor, a rolled-back page
    // is read again, so nothing is lost either way. FULL would add an fsync to every
    // page.
    ("synchronous", "NORMAL"),
    ("foreign_keys", "ON"),
    // A 64 MiB page cache.
    ("cache_size", "-65536"),
    // The writer checkpoints itself when the WAL reaches 4096 pages (64 MiB), should
    // the checkpoint thread fall behind.
    ("wal_autocheckpoint", "4096"),
    // Pages are read through a memory map rather than a read() call each.
    ("mmap_size", "1073741824"),
    // Statement journals (the undo log of a statement that writes many rows, such as
    // a page's queue entries) in memory: in files they spilled to /var/tmp, 160 MB of
    // writes to the real disk for a first run of 200,000 records.
    ("temp_store", "MEMORY"),
];
/// How long a lock held by another connection is waited for.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend this host has.
    #[error("store URL `{0}` is not supported: use sqlite:PATH (PostgreSQL comes later)")]
    Unsupported(String),
    /// The database could not be opened.
    #[error("cannot open the store {url}: {source}")]
    Open {
        /// The store URL.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The database file is damaged.
    #[error("the store {url} is corrupt ({detail}); it was left as it is: restore it from a backup or move it away")]
    Corrupt {
        /// The store URL.
        url: String,
        /// What SQLite reported.
        detail: String,
    },
    /// The database was written by a newer version of the host.
    #[error("the store {url} has schema version {found}, newer than this host's {supported}; use a newer host")]
    TooNew {
        /// The store URL.
        url: String,
        /// Its version.
        found: i64,
        /// The newest this host knows.
        supported: i64,
    },
    /// Stored envelopes (or the file's pages) are not what was written.
    #[error(
        "the store {url} is damaged ({count} problems found); `host store verify --store {url}` lists them, and a backup restores them"
    )]
    Damaged {
        /// The store URL.
        url: String,
        /// How many problems were found.
        count: u64,
    },
    /// A statement run through SQLite's C API failed (see [`prepared`]).
    #[error("store {what} failed: {message}")]
    Sqlite {
        /// What was being done.
        what: &'static str,
        /// What SQLite reported.
        message: String,
    },
    /// A query failed.
    #[error("store {what} failed: {source}")]
    Query {
        /// What was being done.
        what: &'static str,
        /// Why.
        source: sqlx::Error,
    },
}

fn q(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

/// An open store.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// The connection that commits pages, held by one page at a time (pages of
    /// runs side by side take turns): one of our own ([`prepared`]), so that no
    /// thread stands between the committing thread and SQLite. (Taking one from the
    /// pool for every page waited on the async runtime: sqlx returns a connection
    /// to its pool in a spawned task, which waited for a worker busy running the
    /// guest; and locking a sqlx connection waits for its worker thread to wake.)
    writer: Arc<tokio::sync::Mutex<prepared::Connection>>,
    checkpointer: checkpoint::Checkpointer,
    url: String,
}

/// One sealed record to commit.
pub struct SealedRecord<'a> {
    /// Its id.
    pub record_id: &'a str,
    /// Its `hashes.raw_sha256`.
    pub raw_sha256: &'a str,
    /// The sealed envelope (one line of JSON, without the newline).
    pub envelope: &'a [u8],
}

/// One refused draft to keep as a dead letter.
pub struct DeadLetter {
    /// Its record id (as the guest gave it).
    pub record_id: String,
    /// Why it was refused.
    pub reason: String,
    /// The draft as JSON, to seal again later (`host replay`).
    pub draft: String,
}

/// What committing a page did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Records new or changed, now queued.
    pub published: u64,
    /// Records whose hash had not changed.
    pub unchanged: u64,
    /// Records changed in the store whose new version the queue holds already, so
    /// not queued again: a record back to a version published before (A, then B,
    /// then A again). The queue is unique per version; a page is committed with its
    /// cursor, so a crash never commits a page twice, and a record id repeated in a
    /// run never reaches the store twice (see `ingest::repeats`).
    pub deduplicated: u64,
    /// Drafts kept as dead letters.
    pub dead_lettered: u64,
}

/// What a page commit did.
#[derive(Clone, Debug)]
pub struct Committed {
    /// The counts.
    pub outcome: PageOutcome,
    /// The page's records (by index) new or changed in the store: what `--out`
    /// writes with a store.
    pub changed: Vec<usize>,
    /// How long the commit took.
    pub took: Duration,
}

/// Everything one page commits, in one transaction.
pub struct PageCommit<'a> {
    /// The connector.
    pub connector: &'a str,
    /// The envelopes' source.
    pub source: &'a str,
    /// The producing component's digest.
    pub digest: &'a str,
    /// The WIT package the producing component implements.
    pub package: &'a str,
    /// The page's sealed records.
    pub records: Vec<SealedRecord<'a>>,
    /// The page's refused drafts.
    pub dead_letters: Vec<DeadLetter>,
    /// Where the next run resumes (`None`: the source was read to its end).
    pub cursor: Option<&'a str>,
    /// Whether to save `cursor` and `state` (a replay of dead letters does not).
    pub save_cursor: bool,
    /// Identifies the page for its lifecycle events (the cursor it started at).
    pub delivery_id: String,
    /// The connector's state after the page.
    pub state: &'a BTreeMap<String, String>,
    /// The time of the commit (RFC 3339).
    pub now: &'a str,
}

impl Store {
    /// Opens (creating if needed) the store at `url`, checks its integrity, and
    /// applies pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let path = url.strip_prefix("sqlite:").ok_or_else(|| StoreError::Unsupported(url.to_string()))?;
        let path = path.strip_prefix("//").unwrap_or(path);
        let file = path.split('?').next().unwrap_or(path);
        // Its connections must share one database: an in-memory one is each its own.
        if file == ":memory:" || url.contains("mode=memory") {
            return Err(StoreError::Unsupported(url.to_string()));
        }
        let read_only = url.contains("mode=ro");
        if let Some(dir) = Path::new(file).parent()
            && !dir.as_os_str().is_empty()
            && !read_only
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open { url: url.to_string(), source: e.into() })?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|source| StoreError::Open { url: url.to_string(), source })?
            .create_if_missing(!read_only)
            // Pages of 16 KiB rather than 4 KiB: an envelope is about 1 KiB, and with
            // the larger pages a first run of 200,000 records spent a quarter less
            // time in SQLite (fewer page splits, WAL frames and write calls). It takes
            // effect when the file is created; an older store keeps its page size.
            .page_size(16384)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT);
        let options = PRAGMAS.iter().fold(options, |o, (key, value)| o.pragma(*key, *value));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| classify_open(url, source))?;
        check_integrity(&pool, url).await?;
        migrations::apply(&pool, url).await?;
        // The writer's and the checkpointer's connections: ours (see `prepared`),
        // with the same settings.
        let setup: String = PRAGMAS.iter().map(|(key, value)| format!("PRAGMA {key} = {value}; ")).collect();
        let open = || {
            prepared::Connection::open(file, read_only, BUSY_TIMEOUT, &setup)
                .map_err(|f| StoreError::Sqlite { what: "opening a connection", message: f.message })
        };
        let writer = open()?;
        let checkpointer = checkpoint::Checkpointer::start(open()?)
            .map_err(|e| StoreError::Open { url: url.to_string(), source: e.into() })?;
        Ok(Store { pool, writer: Arc::new(tokio::sync::Mutex::new(writer)), checkpointer, url: url.to_string() })
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The cursor a connector's next run starts from.
    pub async fn cursor(&self, connector: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT cursor FROM cursors WHERE connector = $1")
            .bind(connector)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("reading the cursor"))?;
        Ok(row.and_then(|r| r.try_get::<Option<String>, _>(0).ok().flatten()))
    }

    /// The connector's stored state.
    pub async fn state(&self, connector: &str) -> Result<BTreeMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT key, value FROM state WHERE connector = $1")
            .bind(connector)
            .fetch_all(&self.pool)
            .await
            .map_err(q("reading state"))?;
        Ok(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<String, _>(1))).collect())
    }

    /// Commits one page in one transaction; returns what it did. Its statements run
    /// on the calling thread (the ingest calls this from a thread of its own); a
    /// page takes milliseconds.
    pub async fn commit_page(&self, page: PageCommit<'_>) -> Result<Committed, StoreError> {
        let writer = self.writer.lock().await;
        self.commit_on(&writer, &page)
    }

    /// [`Store::commit_page`] from a thread outside the async runtime (the run's
    /// committer): the commit is synchronous work on the writer connection, so it
    /// needs no runtime to wait on.
    pub fn commit_page_blocking(&self, page: PageCommit<'_>) -> Result<Committed, StoreError> {
        let writer = self.writer.blocking_lock();
        self.commit_on(&writer, &page)
    }

    fn commit_on(&self, writer: &prepared::Connection, page: &PageCommit<'_>) -> Result<Committed, StoreError> {
        let started = Instant::now();
        let (outcome, changed) = page::commit(writer, page)?;
        self.checkpointer.nudge();
        Ok(Committed { outcome, changed, took: started.elapsed() })
    }

    /// Records that a run of `connector` started at `started`, and marks its runs
    /// that never finished (the process was killed) `interrupted`, as of `started`.
    /// Returns the new run's id and how many were marked.
    pub async fn start_run(&self, connector: &str, started: &str) -> Result<(i64, u64), StoreError> {
        let what = "recording the run's start";
        let mut tx = self.pool.begin().await.map_err(q(what))?;
        let interrupted = sqlx::query(
            "UPDATE runs SET status = 'interrupted', finished_at = $2 WHERE connector = $1 AND status = 'running'",
        )
        .bind(connector)
        .bind(started)
        .execute(&mut *tx)
        .await
        .map_err(q(what))?
        .rows_affected();
        let id: i64 =
            sqlx::query("INSERT INTO runs (connector, status, started_at) VALUES ($1, 'running', $2) RETURNING id")
                .bind(connector)
                .bind(started)
                .fetch_one(&mut *tx)
                .await
                .map_err(q(what))?
                .get(0);
        tx.commit().await.map_err(q(what))?;
        Ok((id, interrupted))
    }

    /// Moves every committed page from the WAL into the database file and empties
    /// the WAL file, when no other writer is busy: when `host run` or the daemon
    /// ends, so that a store at rest is one file of its real size (the WAL of a
    /// first run of 200,000 records reached about 100 MB). Not after each run of the
    /// daemon: it holds the writer while it waits out readers, and the checkpoint
    /// thread keeps the WAL short meanwhile. Best effort: a store read only, or one
    /// another process is writing to, keeps its WAL until next time.
    pub async fn truncate_wal(&self) {
        // The writer held, so that no page of this process commits meanwhile.
        let _writer = self.writer.lock().await;
        let checkpointer = self.checkpointer.clone();
        let _ = tokio::task::spawn_blocking(move || checkpointer.truncate()).await;
    }

    /// Keeps how run `id` ended (`ok` or `failed`) and its report.
    pub async fn finish_run(&self, id: i64, status: &str, finished: &str, report: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET status = $2, finished_at = $3, report = $4 WHERE id = $1")
            .bind(id)
            .bind(status)
            .bind(finished)
            .bind(report)
            .execute(&self.pool)
            .await
            .map_err(q("keeping the run report"))?;
        Ok(())
    }

    /// The queue after sequence number `after`, at most `limit` entries, each with
    /// its envelope unless a newer version superseded it.
    pub async fn queue(&self, after: i64, limit: i64) -> Result<Vec<QueueEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT q.seq, q.source, q.record_id, q.raw_sha256, e.envelope, q.acked_at FROM queue q \
             LEFT JOIN envelopes e ON e.source = q.source AND e.record_id = q.record_id AND e.raw_sha256 = q.raw_sha256 \
             WHERE q.seq > $1 ORDER BY q.seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(q("reading the queue"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let raw_sha256: String = r.get(3);
                let mut envelope: Option<String> = r.get(4);
                // Damage inside a stored text is not handed out as if it were sealed.
                let damaged = envelope.as_deref().and_then(|e| verify::envelope(e, &raw_sha256).err());
                let superseded = envelope.is_none();
                if damaged.is_some() {
                    envelope = None;
                }
                QueueEntry {
                    seq: r.get(0),
                    source: r.get(1),
                    record_id: r.get(2),
                    raw_sha256,
                    envelope,
                    superseded,
                    acked: r.get::<Option<String>, _>(5).is_some(),
                    damaged,
                }
            })
            .collect())
    }

    /// Checks the whole store: SQLite's `integrity_check` over every page, and every
    /// stored envelope against its hash. It reads the whole file; the host never does
    /// this on its own.
    pub async fn verify(&self) -> Result<Verified, StoreError> {
        let mut found = Verified::default();
        let rows = sqlx::query("PRAGMA integrity_check").fetch_all(&self.pool).await.map_err(q("checking the file"))?;
        found.structure = rows.iter().filter_map(|r| r.try_get::<String, _>(0).ok()).filter(|r| r != "ok").collect();
        // A thousand at a time, in rowid order: the memory of a check stays flat.
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(
                "SELECT rowid, source, record_id, raw_sha256, envelope FROM envelopes \
                 WHERE rowid > $1 ORDER BY rowid LIMIT 1000",
            )
            .bind(after)
            .fetch_all(&self.pool)
            .await
            .map_err(q("reading the envelopes"))?;
            let Some(last) = rows.last() else { break };
            after = last.get(0);
            for r in &rows {
                found.envelopes += 1;
                let (hash, text): (String, String) = (r.get(3), r.get(4));
                if let Err(why) = verify::envelope(&text, &hash) {
                    found.damaged_count += 1;
                    if found.damaged.len() < 100 {
                        found.damaged.push((r.get(1), r.get(2), why));
                    }
                }
            }
        }
        Ok(found)
    }

    /// Marks queue entries up to and including `seq` as consumed, and prunes the
    /// queue ([`RETAIN_ACKED`]). Returns how many were marked and how many pruned.
    pub async fn ack(&self, seq: i64, now: std::time::SystemTime) -> Result<(u64, u64), StoreError> {
        let done = sqlx::query("UPDATE queue SET acked_at = $2 WHERE seq <= $1 AND acked_at IS NULL")
            .bind(seq)
            .bind(crate::timestamp::format(now))
            .execute(&self.pool)
            .await
            .map_err(q("acknowledging the queue"))?;
        let cutoff = crate::timestamp::format(now.checked_sub(RETAIN_ACKED).unwrap_or(std::time::UNIX_EPOCH));
        let pruned = sqlx::query(
            "DELETE FROM queue WHERE acked_at < $1 AND NOT EXISTS (SELECT 1 FROM envelopes e \
             WHERE e.record_id = queue.record_id AND e.source = queue.source AND e.raw_sha256 = queue.raw_sha256)",
        )
        .bind(cutoff)
        .execute(&self.pool)
        .await
        .map_err(q("pruning the queue"))?;
        Ok((done.rows_affected(), pruned.rows_affected()))
    }
}

/// The check at open: the file is a database whose schema can be read. It reads a
/// page or two, so opening stays as fast for a store of gigabytes as for an empty
/// one; the whole file is checked by [`Store::verify`] (`host store verify`), and
/// every envelope read out is checked against its hash.
async fn check_integrity(pool: &SqlitePool, url: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT count(*) FROM sqlite_master")
        .fetch_one(pool)
        .await
        .map_err(|source| classify_open(url, source))?;
    Ok(())
}

/// What [`Store::verify`] found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Verified {
    /// What SQLite's `integrity_check` reported, if not `ok`.
    pub structure: Vec<String>,
    /// Envelopes checked.
    pub envelopes: u64,
    /// Damaged envelopes: source, record id and why (at most 100 listed).
    pub damaged: Vec<(String, String, String)>,
    /// How many were damaged in all.
    pub damaged_count: u64,
}

impl Verified {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.structure.is_empty() && self.damaged_count == 0
    }
}

async fn insert_events(tx: &mut Transaction<'_, Sqlite>, events: &[Event]) -> Result<u64, StoreError> {
    let mut inserted = 0;
    for e in events {
        inserted += sqlx::query(page::INSERT_EVENT)
            .bind(&e.connector)
            .bind(&e.event_type)
            .bind(&e.delivery_id)
            .bind(&e.fingerprint)
            .bind(&e.recorded_at)
            .bind(e.payload.to_string())
            .execute(&mut **tx)
            .await
            .map_err(q("recording a lifecycle event"))?
            .rows_affected();
    }
    Ok(inserted)
}

impl Store {
    /// Records lifecycle events; a repeated `(delivery_id, fingerprint)` is ignored.
    /// Returns how many were new.
    pub async fn record_events(&self, events: &[Event]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(q("starting a transaction"))?;
        let n = insert_events(&mut tx, events).await?;
        tx.commit().await.map_err(q("committing events"))?;
        Ok(n)
    }

    /// The connectors the store has lifecycle events of, by name.
    pub async fn connectors_with_events(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT connector FROM events ORDER BY connector")
            .fetch_all(&self.pool)
            .await
            .map_err(q("reading lifecycle events"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// A connector's lifecycle events, in the order they were recorded.
    pub async fn events(&self, connector: &str) -> Result<Vec<Event>, StoreError> {
        self.select_events(connector, "").await
    }

    /// A connector's events of the connector family only (`ConnectorProvisioned`,
    /// `…HealthChecked`, `…Degraded`, `…Revoked`, `…Reconnected`), in the order they
    /// were recorded: what decides its state, without the sync events every page adds.
    pub async fn connector_events(&self, connector: &str) -> Result<Vec<Event>, StoreError> {
        self.select_events(connector, " AND event_type IN ($2, $3, $4, $5, $6)").await
    }

    async fn select_events(&self, connector: &str, filter: &'static str) -> Result<Vec<Event>, StoreError> {
        let sql = format!(
            "SELECT event_type, delivery_id, fingerprint, recorded_at, payload, id FROM events \
             WHERE connector = $1{filter} ORDER BY id"
        );
        // Safe: `filter` is one of the constants above; values are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(connector);
        if !filter.is_empty() {
            for kind in crate::lifecycle::CONNECTOR_EVENT_TYPES {
                query = query.bind(kind);
            }
        }
        let rows = query.fetch_all(&self.pool).await.map_err(q("reading lifecycle events"))?;
        Ok(rows
            .iter()
            .map(|r| Event {
                event_type: r.get(0),
                connector: connector.to_string(),
                delivery_id: r.get(1),
                fingerprint: r.get(2),
                recorded_at: r.get(3),
                payload: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or(serde_json::Value::Null),
                seq: Some(r.get(5)),
            })
            .collect())
    }
}

/// A kept dead letter.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeadLetterRow {
    /// Its id.
    pub id: i64,
    /// The connector that produced the draft.
    pub connector: String,
    /// The envelopes' source.
    pub source: String,
    /// The draft's record id.
    pub record_id: String,
    /// Why it was refused.
    pub reason: String,
    /// The draft as JSON.
    pub draft: String,
    /// The producing component's digest.
    pub connector_digest: String,
    /// The WIT package the producing component implements.
    pub package: String,
    /// When it was refused.
    pub created_at: String,
    /// When a replay sealed it, if one did.
    pub replayed_at: Option<String>,
}

impl Store {
    /// Dead letters, oldest first; only those not yet replayed when `pending`.
    pub async fn dead_letters(&self, pending: bool) -> Result<Vec<DeadLetterRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, connector, source, record_id, reason, draft, connector_digest, created_at, replayed_at, package \
             FROM dead_letters WHERE $1 = 0 OR replayed_at IS NULL ORDER BY id",
        )
        .bind(i64::from(pending))
        .fetch_all(&self.pool)
        .await
        .map_err(q("reading dead letters"))?;
        Ok(rows
            .iter()
            .map(|r| DeadLetterRow {
                id: r.get(0),
                connector: r.get(1),
                source: r.get(2),
                record_id: r.get(3),
                reason: r.get(4),
                draft: r.get(5),
                connector_digest: r.get(6),
                created_at: r.get(7),
                replayed_at: r.get(8),
                package: r.get(9),
            })
            .collect())
    }

    /// Marks a dead letter as replayed (sealed and published at last).
    pub async fn mark_replayed(&self, id: i64, now: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE dead_letters SET replayed_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(q("marking a dead letter replayed"))?;
        Ok(())
    }

    /// Records why a replay still could not seal a dead letter.
    pub async fn update_reason(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE dead_letters SET reason = $2 WHERE id = $1")
            .bind(id)
            .bind(reason)
            .execute(&self.pool)
            .await
            .map_err(q("updating a dead letter"))?;
        Ok(())
    }
}

/// One entry of the queue.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QueueEntry {
    /// Its position; consumers read in this order.
    pub seq: i64,
    /// The envelope's source.
    pub source: String,
    /// The record id.
    pub record_id: String,
    /// The hash of this version.
    pub raw_sha256: String,
    /// The sealed envelope of this version; none when a newer version superseded it.
    pub envelope: Option<String>,
    /// Whether a newer version of the record was published after this one.
    pub superseded: bool,
    /// Whether a consumer acknowledged it.
    pub acked: bool,
    /// Why its stored envelope is not the one sealed (then `envelope` is none):
    /// the file was damaged or edited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

fn classify_open(url: &str, source: sqlx::Error) -> StoreError {
    let text = source.to_string();
    if text.contains("file is not a database") || text.contains("malformed") || text.contains("corrupt") {
        StoreError::Corrupt { url: url.to_string(), detail: text }
    } else {
        StoreError::Open { url: url.to_string(), source }
    }
}
