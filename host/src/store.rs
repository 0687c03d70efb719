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

pub mod approvals;
mod checkpoint;
mod cursors;
mod dead_letters;
mod events;
pub mod leases;
pub mod migrations;
mod page;
mod postgres;
mod prepared;
pub mod provenance;
mod queue;
mod runs;
mod sqlite;
pub mod verify;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sqlx::Row;

pub use cursors::StoredCursor;
pub use dead_letters::DeadLetterRow;
pub use leases::Fence;
pub use queue::{QueueEntry, QueueWaiter, RETAIN_ACKED};
pub use runs::{KeptRun, RunRow};
pub use verify::Verified;

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
}
