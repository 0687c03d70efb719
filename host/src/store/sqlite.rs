//! The SQLite backend: a file, nothing to install (the default store).
//!
//! Three connections: a pool of one for reads and the occasional small write; the
//! writer, which commits pages ([`page`]) with SQLite's C API on the committing
//! thread ([`prepared`]); and the [`checkpoint`] thread's, which moves committed
//! pages from the WAL into the database file while the next page is written.
//!
//! [`page`]: super::page
//! [`prepared`]: super::prepared
//! [`checkpoint`]: super::checkpoint

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::{PageCommit, PageOutcome, StoreError, checkpoint, migrations, page, prepared};

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

/// An open SQLite store.
#[derive(Clone)]
pub(crate) struct Sqlite {
    pub(crate) pool: SqlitePool,
    /// The connection that commits pages, held by one page at a time (pages of
    /// runs side by side take turns): one of our own ([`prepared`]), so that no
    /// thread stands between the committing thread and SQLite. (Taking one from the
    /// pool for every page waited on the async runtime: sqlx returns a connection
    /// to its pool in a spawned task, which waited for a worker busy running the
    /// guest; and locking a sqlx connection waits for its worker thread to wake.)
    writer: Arc<tokio::sync::Mutex<prepared::Connection>>,
    checkpointer: checkpoint::Checkpointer,
}

impl Sqlite {
    /// Opens (creating if needed) the store at `url` (`sqlite:PATH`), checks that it
    /// is a database, and applies pending migrations.
    pub(super) async fn open(url: &str) -> Result<Sqlite, StoreError> {
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
        migrations::apply_sqlite(&pool, url).await?;
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
        Ok(Sqlite { pool, writer: Arc::new(tokio::sync::Mutex::new(writer)), checkpointer })
    }

    /// Commits one page on the writer (see [`page`]).
    pub(super) async fn commit_page(&self, page: &PageCommit<'_>) -> Result<(PageOutcome, Vec<usize>), StoreError> {
        let writer = self.writer.lock().await;
        self.commit_on(&writer, page)
    }

    /// [`Sqlite::commit_page`] from a thread outside the async runtime.
    pub(super) fn commit_page_blocking(&self, page: &PageCommit<'_>) -> Result<(PageOutcome, Vec<usize>), StoreError> {
        let writer = self.writer.blocking_lock();
        self.commit_on(&writer, page)
    }

    fn commit_on(
        &self,
        writer: &prepared::Connection,
        page: &PageCommit<'_>,
    ) -> Result<(PageOutcome, Vec<usize>), StoreError> {
        let done = page::commit(writer, page)?;
        self.checkpointer.nudge();
        Ok(done)
    }

    /// See [`super::Store::truncate_wal`].
    pub(super) async fn truncate_wal(&self) {
        // The writer held, so that no page of this process commits meanwhile.
        let _writer = self.writer.lock().await;
        let checkpointer = self.checkpointer.clone();
        let _ = tokio::task::spawn_blocking(move || checkpointer.truncate()).await;
    }

    /// What SQLite's `integrity_check` reports, if not `ok`.
    pub(super) async fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        use sqlx::Row;
        let rows =
            sqlx::query("PRAGMA integrity_check").fetch_all(&self.pool).await.map_err(super::q("checking the file"))?;
        Ok(rows.iter().filter_map(|r| r.try_get::<String, _>(0).ok()).filter(|r| r != "ok").collect())
    }
}

/// The check at open: the file is a database whose schema can be read. It reads a
/// page or two, so opening stays as fast for a store of gigabytes as for an empty
/// one; the whole file is checked by [`super::Store::verify`] (`host store verify`),
/// and every envelope read out is checked against its hash.
async fn check_integrity(pool: &SqlitePool, url: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT count(*) FROM sqlite_master")
        .fetch_one(pool)
        .await
        .map_err(|source| classify_open(url, source))?;
    Ok(())
}

fn classify_open(url: &str, source: sqlx::Error) -> StoreError {
    let text = source.to_string();
    if text.contains("file is not a database") || text.contains("malformed") || text.contains("corrupt") {
        StoreError::Corrupt { url: url.to_string(), detail: text }
    } else {
        StoreError::Open { url: url.to_string(), source }
    }
}
