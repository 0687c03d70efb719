//! The store: sealed envelopes with change detection, the queue of published
//! changes, cursors and connector state, dead letters, run reports, and (on
//! PostgreSQL) the leases of several hosts.
//!
//! Two backends behind one interface, [`Store`]: SQLite (`sqlite:.host/state.db`,
//! the default: a file, nothing to install; [`sqlite`]) and PostgreSQL
//! (`postgres://…`, for several hosts sharing one store; [`postgres`]). sqlx for
//! both, because one async crate drives both with the same query API, pools and
//! transactions, on the tokio runtime the host has anyway. Most of the SQL is
//! portable (`$n` placeholders, `ON CONFLICT`, row values) and written once, here,
//! run on either pool by [`on_pool!`]; what differs per backend is the DDL of
//! [`migrations`] and the page commit, which uses what each is fast at: SQLite's C
//! API with a statement per record on the committing thread ([`page`],
//! [`prepared`]), PostgreSQL's many-row statements over arrays (`unnest`).
//! No sqlx or SQLite type crosses the interface: its methods take and return plain
//! values and [`StoreError`].
//!
//! A page is committed in **one transaction**: its envelopes, its queue entries, its
//! dead letters, the cursor after it and the connector's state. A crash before the
//! commit loses the page (and the next run reads it again from the stored cursor);
//! a crash after it loses nothing. Re-publishing is idempotent: the queue holds one
//! row per `(source, record_id, raw_sha256)`. The envelope text is stored once, in
//! `envelopes` (the current version); a queue entry whose record has changed since
//! is *superseded*: its newer version has its own, later entry. (Storing every
//! version's text in the queue too doubled what a first run writes.)

mod checkpoint;
mod cursors;
pub mod leases;
pub mod migrations;
mod page;
mod postgres;
mod prepared;
mod sqlite;
pub mod verify;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sqlx::Row;

use crate::lifecycle::Event;

pub use cursors::StoredCursor;
pub use leases::Fence;

/// Runs `$body` on the store's pool, whichever backend it is: the portable SQL is
/// written once and compiled for each (sqlx's pools and rows are typed by backend).
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite(b) => {
                let $pool = &b.pool;
                $body
            }
            $crate::store::Backend::Postgres(b) => {
                let $pool = &b.pool;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// How long an acknowledged queue entry whose record has a newer version is kept:
/// a consumer took it, and the newer version has an entry of its own, so after a
/// week of grace (for a consumer that reads again from an older position) it goes.
/// Without this the queue grew by a feed's size with every version of it. The
/// current version's entry is kept however old: it says what was published last.
pub const RETAIN_ACKED: Duration = Duration::from_secs(7 * 86_400);

/// The default store URL.
pub const DEFAULT_URL: &str = "sqlite:.host/state.db";

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend this host has.
    #[error("store URL `{0}` is not supported: use sqlite:PATH or postgres://USER@HOST:PORT/DATABASE")]
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
    /// The PostgreSQL server of the store cannot be reached.
    #[error(
        "cannot reach the PostgreSQL server of the store {url}: {source}; is it running, and are the host and port right?"
    )]
    Unreachable {
        /// The store URL (its password hidden).
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// The PostgreSQL server refused the store's credentials.
    #[error("the PostgreSQL server refused the credentials of the store {url}: {detail}")]
    Refused {
        /// The store URL (its password hidden).
        url: String,
        /// What the server said.
        detail: String,
    },
    /// The store's PostgreSQL database does not exist.
    #[error(
        "the database `{database}` of the store {url} does not exist: create it (`createdb {database}`) or correct the URL"
    )]
    NoDatabase {
        /// The store URL (its password hidden).
        url: String,
        /// The database's name.
        database: String,
    },
    /// A page of a leased run was refused: the connector's lease is no longer this
    /// host's (another host took it over), so nothing of the page was committed.
    #[error(
        "the lease of connector `{connector}` at epoch {epoch} is no longer this host's (another host took it over): the page was rolled back"
    )]
    Fenced {
        /// The connector.
        connector: String,
        /// The epoch the run held.
        epoch: i64,
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
    backend: Backend,
    /// The URL it was opened with, its password hidden: what messages show.
    url: String,
}

/// The backend of a store.
#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// Which backend a store URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `sqlite:PATH`.
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl Kind {
    /// The backend `url` names, if any.
    pub fn of(url: &str) -> Option<Kind> {
        if url.starts_with("sqlite:") {
            Some(Kind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Kind::Postgres)
        } else {
            None
        }
    }
}

/// `url` as messages show it: a password in it (`user:secret@`, `?password=`) is
/// replaced by `***`.
pub fn shown_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else { return url.to_string() };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" { "***".to_string() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
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
    /// The lease the committing run holds: the commit is refused, whole, unless it
    /// is still current (PostgreSQL only; see [`leases`]).
    pub fence: Option<&'a Fence>,
}

impl Store {
    /// Opens the store at `url` (creating a SQLite file if needed), checks that it
    /// is one, and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let shown = shown_url(url);
        let backend = match Kind::of(url) {
            Some(Kind::Sqlite) => Backend::Sqlite(sqlite::Sqlite::open(url).await?),
            Some(Kind::Postgres) => Backend::Postgres(postgres::Postgres::open(url, &shown).await?),
            None => return Err(StoreError::Unsupported(shown)),
        };
        Ok(Store { backend, url: shown })
    }

    /// The URL it was opened with, its password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which backend it is.
    pub fn kind(&self) -> Kind {
        match self.backend {
            Backend::Sqlite(_) => Kind::Sqlite,
            Backend::Postgres(_) => Kind::Postgres,
        }
    }

    /// The cursor a connector's next run starts from.
    pub async fn cursor(&self, connector: &str) -> Result<Option<String>, StoreError> {
        let cursor = on_pool!(self, |pool| {
            let row = sqlx::query("SELECT cursor FROM cursors WHERE connector = $1")
                .bind(connector)
                .fetch_optional(pool)
                .await
                .map_err(q("reading the cursor"))?;
            row.and_then(|r| r.try_get::<Option<String>, _>(0).ok().flatten())
        });
        Ok(cursor)
    }

    /// The connector's stored state.
    pub async fn state(&self, connector: &str) -> Result<BTreeMap<String, String>, StoreError> {
        let state = on_pool!(self, |pool| {
            let rows = sqlx::query("SELECT key, value FROM state WHERE connector = $1")
                .bind(connector)
                .fetch_all(pool)
                .await
                .map_err(q("reading state"))?;
            rows.iter().map(|r| (r.get::<String, _>(0), r.get::<String, _>(1))).collect()
        });
        Ok(state)
    }

    /// Commits one page in one transaction; returns what it did. On SQLite its
    /// statements run on the calling thread (the ingest calls this from a thread of
    /// its own); a page takes milliseconds.
    pub async fn commit_page(&self, page: PageCommit<'_>) -> Result<Committed, StoreError> {
        let started = Instant::now();
        let (outcome, changed) = match &self.backend {
            Backend::Sqlite(b) => b.commit_page(&page).await?,
            Backend::Postgres(b) => b.commit_page(&page).await?,
        };
        Ok(Committed { outcome, changed, took: started.elapsed() })
    }

    /// [`Store::commit_page`] from a thread outside the async runtime (the run's
    /// committer): on SQLite the commit is synchronous work on the writer
    /// connection, so it needs no runtime to wait on; PostgreSQL's is waited for on
    /// the runtime the store was opened on.
    pub fn commit_page_blocking(&self, page: PageCommit<'_>) -> Result<Committed, StoreError> {
        let started = Instant::now();
        let (outcome, changed) = match &self.backend {
            Backend::Sqlite(b) => b.commit_page_blocking(&page)?,
            Backend::Postgres(b) => b.commit_page_blocking(&page)?,
        };
        Ok(Committed { outcome, changed, took: started.elapsed() })
    }

    /// Records that a run of `connector` started at `started` (on `host`, under a
    /// lease at `epoch`), and marks its runs that never finished (the process was
    /// killed, or lost its lease) `interrupted`, as of `started`. Returns the new
    /// run's id and how many were marked.
    pub async fn start_run(
        &self,
        connector: &str,
        started: &str,
        host: Option<&str>,
        epoch: Option<i64>,
    ) -> Result<(i64, u64), StoreError> {
        let what = "recording the run's start";
        let done = on_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(q(what))?;
            let interrupted = sqlx::query(
                "UPDATE runs SET status = 'interrupted', finished_at = $2 WHERE connector = $1 AND status = 'running'",
            )
            .bind(connector)
            .bind(started)
            .execute(&mut *tx)
            .await
            .map_err(q(what))?
            .rows_affected();
            let id: i64 = sqlx::query(
                "INSERT INTO runs (connector, status, started_at, host, epoch) VALUES ($1, 'running', $2, $3, $4) RETURNING id",
            )
            .bind(connector)
            .bind(started)
            .bind(host)
            .bind(epoch)
            .fetch_one(&mut *tx)
            .await
            .map_err(q(what))?
            .get(0);
            tx.commit().await.map_err(q(what))?;
            (id, interrupted)
        });
        Ok(done)
    }

    /// Moves every committed page from the WAL into the database file and empties
    /// the WAL file, when no other writer is busy: when `host run` or the daemon
    /// ends, so that a store at rest is one file of its real size (the WAL of a
    /// first run of 200,000 records reached about 100 MB). Not after each run of the
    /// daemon: it holds the writer while it waits out readers, and the checkpoint
    /// thread keeps the WAL short meanwhile. Best effort: a store read only, or one
    /// another process is writing to, keeps its WAL until next time. PostgreSQL
    /// manages its own WAL: nothing to do there.
    pub async fn truncate_wal(&self) {
        if let Backend::Sqlite(b) = &self.backend {
            b.truncate_wal().await;
        }
    }

    /// Keeps how run `id` ended (`ok`, `failed`, `fenced`) and its report.
    pub async fn finish_run(&self, id: i64, status: &str, finished: &str, report: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE runs SET status = $2, finished_at = $3, report = $4 WHERE id = $1")
                .bind(id)
                .bind(status)
                .bind(finished)
                .bind(report)
                .execute(pool)
                .await
                .map_err(q("keeping the run report"))?
                .rows_affected()
        });
        Ok(())
    }

    /// The runs of `connector` (every connector's when `None`), oldest first.
    pub async fn runs(&self, connector: Option<&str>) -> Result<Vec<RunRow>, StoreError> {
        let rows = on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, connector, status, started_at, finished_at, host, epoch FROM runs \
                 WHERE $1 IS NULL OR connector = $1 ORDER BY id",
            )
            .bind(connector)
            .fetch_all(pool)
            .await
            .map_err(q("reading runs"))?;
            rows.iter()
                .map(|r| RunRow {
                    id: r.get(0),
                    connector: r.get(1),
                    status: r.get(2),
                    started_at: r.get(3),
                    finished_at: r.get(4),
                    host: r.get(5),
                    epoch: r.get(6),
                })
                .collect()
        });
        Ok(rows)
    }

    /// The queue after sequence number `after`, at most `limit` entries, each with
    /// its envelope unless a newer version superseded it.
    pub async fn queue(&self, after: i64, limit: i64) -> Result<Vec<QueueEntry>, StoreError> {
        let entries = on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT q.seq, q.source, q.record_id, q.raw_sha256, e.envelope, q.acked_at FROM queue q \
                 LEFT JOIN envelopes e ON e.source = q.source AND e.record_id = q.record_id AND e.raw_sha256 = q.raw_sha256 \
                 WHERE q.seq > $1 ORDER BY q.seq LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(q("reading the queue"))?;
            rows.iter()
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
                .collect()
        });
        Ok(entries)
    }

    /// Something to wait on for queue entries committed after this call (`host
    /// queue --follow`): on PostgreSQL a `LISTEN`, woken as soon as a page that
    /// queued something commits, by any host; on SQLite, or should listening fail,
    /// a poll.
    pub async fn queue_waiter(&self) -> QueueWaiter {
        match &self.backend {
            Backend::Postgres(b) => QueueWaiter { listener: b.listen(postgres::QUEUE_CHANNEL).await },
            Backend::Sqlite(_) => QueueWaiter { listener: None },
        }
    }

    /// Checks the whole store: on SQLite its `integrity_check` over every page; on
    /// both every stored envelope against its hash. It reads every envelope; the
    /// host never does this on its own.
    pub async fn verify(&self) -> Result<Verified, StoreError> {
        let mut found = Verified::default();
        if let Backend::Sqlite(b) = &self.backend {
            found.structure = b.integrity_check().await?;
        }
        // A thousand at a time, in key order: the memory of a check stays flat.
        let mut after = (String::new(), String::new());
        loop {
            let rows: Vec<(String, String, String, String)> = on_pool!(self, |pool| {
                sqlx::query(
                    "SELECT source, record_id, raw_sha256, envelope FROM envelopes \
                     WHERE (record_id, source) > ($1, $2) ORDER BY record_id, source LIMIT 1000",
                )
                .bind(&after.0)
                .bind(&after.1)
                .fetch_all(pool)
                .await
                .map_err(q("reading the envelopes"))?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect()
            });
            let Some(last) = rows.last() else { break };
            after = (last.1.clone(), last.0.clone());
            for (source, record_id, hash, text) in rows {
                found.envelopes += 1;
                if let Err(why) = verify::envelope(&text, &hash) {
                    found.damaged_count += 1;
                    if found.damaged.len() < 100 {
                        found.damaged.push((source, record_id, why));
                    }
                }
            }
        }
        Ok(found)
    }

    /// Marks queue entries up to and including `seq` as consumed, and prunes the
    /// queue ([`RETAIN_ACKED`]). Returns how many were marked and how many pruned.
    pub async fn ack(&self, seq: i64, now: std::time::SystemTime) -> Result<(u64, u64), StoreError> {
        let cutoff = crate::timestamp::format(now.checked_sub(RETAIN_ACKED).unwrap_or(std::time::UNIX_EPOCH));
        let now = crate::timestamp::format(now);
        let done = on_pool!(self, |pool| {
            let done = sqlx::query("UPDATE queue SET acked_at = $2 WHERE seq <= $1 AND acked_at IS NULL")
                .bind(seq)
                .bind(&now)
                .execute(pool)
                .await
                .map_err(q("acknowledging the queue"))?;
            let pruned = sqlx::query(
                "DELETE FROM queue WHERE acked_at < $1 AND NOT EXISTS (SELECT 1 FROM envelopes e \
                 WHERE e.record_id = queue.record_id AND e.source = queue.source AND e.raw_sha256 = queue.raw_sha256)",
            )
            .bind(&cutoff)
            .execute(pool)
            .await
            .map_err(q("pruning the queue"))?;
            (done.rows_affected(), pruned.rows_affected())
        });
        Ok(done)
    }
}

/// Waits for new queue entries ([`Store::queue_waiter`]).
pub struct QueueWaiter {
    listener: Option<sqlx::postgres::PgListener>,
}

impl QueueWaiter {
    /// Returns when entries may have been queued since the last return, or after
    /// `max`.
    pub async fn wait(&mut self, max: Duration) {
        match &mut self.listener {
            Some(listener) => match tokio::time::timeout(max, listener.recv()).await {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) => {
                    // The listening connection failed (a server restart): poll from now on.
                    tracing::warn!("stopped listening for new queue entries ({e}); polling instead");
                    self.listener = None;
                    tokio::time::sleep(max).await;
                }
            },
            None => tokio::time::sleep(max).await,
        }
    }
}

/// One run as the store keeps it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunRow {
    /// Its id.
    pub id: i64,
    /// The connector.
    pub connector: String,
    /// `running`, `ok`, `failed`, `fenced` or `interrupted`.
    pub status: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended, if it did.
    pub finished_at: Option<String>,
    /// The host that ran it (with a PostgreSQL store under `host serve`).
    pub host: Option<String>,
    /// The lease epoch it ran under.
    pub epoch: Option<i64>,
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

impl Store {
    /// Records lifecycle events; a repeated `(delivery_id, fingerprint)` is ignored.
    /// Returns how many were new.
    pub async fn record_events(&self, events: &[Event]) -> Result<u64, StoreError> {
        let n = on_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(q("starting a transaction"))?;
            let mut inserted = 0;
            for e in events {
                inserted += sqlx::query(page::INSERT_EVENT)
                    .bind(&e.connector)
                    .bind(&e.event_type)
                    .bind(&e.delivery_id)
                    .bind(&e.fingerprint)
                    .bind(&e.recorded_at)
                    .bind(e.payload.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(q("recording a lifecycle event"))?
                    .rows_affected();
            }
            tx.commit().await.map_err(q("committing events"))?;
            inserted
        });
        Ok(n)
    }

    /// The connectors the store has lifecycle events of, by name.
    pub async fn connectors_with_events(&self) -> Result<Vec<String>, StoreError> {
        let names = on_pool!(self, |pool| {
            let rows = sqlx::query("SELECT DISTINCT connector FROM events ORDER BY connector")
                .fetch_all(pool)
                .await
                .map_err(q("reading lifecycle events"))?;
            rows.iter().map(|r| r.get(0)).collect()
        });
        Ok(names)
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
        let events = on_pool!(self, |pool| {
            // Safe: `filter` is one of the constants above; values are bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(connector);
            if !filter.is_empty() {
                for kind in crate::lifecycle::CONNECTOR_EVENT_TYPES {
                    query = query.bind(kind);
                }
            }
            let rows = query.fetch_all(pool).await.map_err(q("reading lifecycle events"))?;
            rows.iter()
                .map(|r| Event {
                    event_type: r.get(0),
                    connector: connector.to_string(),
                    delivery_id: r.get(1),
                    fingerprint: r.get(2),
                    recorded_at: r.get(3),
                    payload: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or(serde_json::Value::Null),
                    seq: Some(r.get(5)),
                })
                .collect()
        });
        Ok(events)
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
        let letters = on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, connector, source, record_id, reason, draft, connector_digest, created_at, replayed_at, package \
                 FROM dead_letters WHERE $1 = 0 OR replayed_at IS NULL ORDER BY id",
            )
            .bind(i64::from(pending))
            .fetch_all(pool)
            .await
            .map_err(q("reading dead letters"))?;
            rows.iter()
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
                .collect()
        });
        Ok(letters)
    }

    /// Marks a dead letter as replayed (sealed and published at last).
    pub async fn mark_replayed(&self, id: i64, now: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE dead_letters SET replayed_at = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await
                .map_err(q("marking a dead letter replayed"))?
                .rows_affected()
        });
        Ok(())
    }

    /// Records why a replay still could not seal a dead letter.
    pub async fn update_reason(&self, id: i64, reason: &str) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE dead_letters SET reason = $2 WHERE id = $1")
                .bind(id)
                .bind(reason)
                .execute(pool)
                .await
                .map_err(q("updating a dead letter"))?
                .rows_affected()
        });
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
