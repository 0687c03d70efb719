//! Versioned schema migrations, applied in order at open, one list per backend. A
//! database whose version is newer than this host knows is refused, never touched.
//!
//! PostgreSQL's list starts at the schema SQLite's reached in seven steps: no
//! PostgreSQL store was made before it. Its migrations run under an advisory lock,
//! since several hosts may open one new database at the same moment.

use sqlx::{PgPool, Row, SqlitePool};

use super::StoreError;

/// Each migration, in order; a migration is never edited once released.
const MIGRATIONS: &[&str] = &[
    // 1: envelopes, queue, cursors, state, dead letters, runs.
    "CREATE TABLE envelopes (
        source TEXT NOT NULL,
        record_id TEXT NOT NULL,
        raw_sha256 TEXT NOT NULL,
        envelope TEXT NOT NULL,
        connector_digest TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        PRIMARY KEY (source, record_id)
    );
    CREATE TABLE queue (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        record_id TEXT NOT NULL,
        raw_sha256 TEXT NOT NULL,
        enqueued_at TEXT NOT NULL,
        acked_at TEXT,
        UNIQUE (source, record_id, raw_sha256)
    );
    CREATE TABLE cursors (connector TEXT PRIMARY KEY, cursor TEXT, updated_at TEXT NOT NULL);
    CREATE TABLE state (connector TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (connector, key));
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connector TEXT NOT NULL,
        source TEXT NOT NULL,
        record_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        draft TEXT NOT NULL,
        connector_digest TEXT NOT NULL,
        created_at TEXT NOT NULL,
        replayed_at TEXT
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connector TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        report TEXT NOT NULL
    );",
    // 2: lifecycle events, idempotent on (delivery_id, fingerprint).
    "CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connector TEXT NOT NULL,
        event_type TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        payload TEXT NOT NULL,
        UNIQUE (delivery_id, fingerprint)
    );
    CREATE INDEX events_by_connector ON events (connector, recorded_at);",
    // 3: keys led by the record id. A store's rows share one source or a few, so a
    // key led by the source compared equal on its first column at every step of
    // every lookup; led by the record id, most comparisons end there (a first run of
    // 200,000 records executed 15% fewer instructions in SQLite). The queue keeps
    // its sequence numbers.
    "CREATE TABLE envelopes_v3 (
        source TEXT NOT NULL,
        record_id TEXT NOT NULL,
        raw_sha256 TEXT NOT NULL,
        envelope TEXT NOT NULL,
        connector_digest TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        PRIMARY KEY (record_id, source)
    );
    INSERT INTO envelopes_v3 (source, record_id, raw_sha256, envelope, connector_digest, first_seen, last_seen)
        SELECT source, record_id, raw_sha256, envelope, connector_digest, first_seen, last_seen FROM envelopes;
    DROP TABLE envelopes;
    ALTER TABLE envelopes_v3 RENAME TO envelopes;
    CREATE TABLE queue_v3 (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        record_id TEXT NOT NULL,
        raw_sha256 TEXT NOT NULL,
        enqueued_at TEXT NOT NULL,
        acked_at TEXT,
        UNIQUE (record_id, raw_sha256, source)
    );
    INSERT INTO queue_v3 (seq, source, record_id, raw_sha256, enqueued_at, acked_at)
        SELECT seq, source, record_id, raw_sha256, enqueued_at, acked_at FROM queue;
    DROP TABLE queue;
    ALTER TABLE queue_v3 RENAME TO queue;",
    // 4: a connector's state is reduced from its connector events at the end of every
    // run; found through this index, they are read without the sync event each page
    // of every run adds.
    "CREATE INDEX events_by_connector_type ON events (connector, event_type);",
    // 5: the WIT package of the component that produced a dead letter, so that a
    // replay stamps its envelope with the contract the draft was made under. Every
    // earlier dead letter came from a `1.0.0` component, the only one hosted then.
    "ALTER TABLE dead_letters ADD COLUMN package TEXT NOT NULL DEFAULT 'partner:connector@1.0.0';",
    // 6: a run is recorded when it starts (`running`, no end or report yet), so a
    // run killed before its end still leaves a row, which the connector's next run
    // marks `interrupted`.
    "CREATE TABLE runs_v6 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connector TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        report TEXT
    );
    INSERT INTO runs_v6 (id, connector, status, started_at, finished_at, report)
        SELECT id, connector, status, started_at, finished_at, report FROM runs;
    DROP TABLE runs;
    ALTER TABLE runs_v6 RENAME TO runs;
    CREATE INDEX runs_by_connector ON runs (connector, status);",
    // 7: which host ran a run, and under which lease epoch (`host serve` on a
    // shared store; on SQLite these stay empty, one host being all there is).
    "ALTER TABLE runs ADD COLUMN host TEXT; ALTER TABLE runs ADD COLUMN epoch INTEGER;",
    // 8: evidence linked to the claims it grounds (`host search --claim`): one row
    // per claim, source, record and version of the record (its raw hash), so linking
    // the same evidence again changes nothing. And the declaration of each
    // connector's last version an operator let go live (`host serve`), so that a
    // restart does not wave through a version that declares more.
    "CREATE TABLE provenance (
        claim_id TEXT NOT NULL,
        source TEXT NOT NULL,
        record_id TEXT NOT NULL,
        raw_sha256 TEXT NOT NULL,
        connector TEXT NOT NULL,
        uri TEXT NOT NULL,
        title TEXT NOT NULL,
        score REAL NOT NULL,
        linked_at TEXT NOT NULL,
        PRIMARY KEY (claim_id, source, record_id, raw_sha256)
    );
    CREATE TABLE approvals (
        connector TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        declaration TEXT,
        approved_at TEXT NOT NULL
    );",
];

/// PostgreSQL's migrations, in order; never edited once released.
const POSTGRES: &[&str] = &[
    // 1: SQLite's schema 7, plus the hosts of a shared store and the connectors'
    // leases (see `store::leases`). Times the host writes are RFC 3339 text, as on
    // SQLite; the lease times are the server's own (`now()`), so that the hosts'
    // clocks need not agree. The keys compare as bytes (`COLLATE "C"`), as on
    // SQLite, whatever the database's locale: ids are not words to sort.
    "CREATE TABLE envelopes (
        source TEXT COLLATE \"C\" NOT NULL,
        record_id TEXT COLLATE \"C\" NOT NULL,
        raw_sha256 TEXT COLLATE \"C\" NOT NULL,
        envelope TEXT NOT NULL,
        connector_digest TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        PRIMARY KEY (record_id, source)
    );
    CREATE TABLE queue (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        source TEXT COLLATE \"C\" NOT NULL,
        record_id TEXT COLLATE \"C\" NOT NULL,
        raw_sha256 TEXT COLLATE \"C\" NOT NULL,
        enqueued_at TEXT NOT NULL,
        acked_at TEXT,
        UNIQUE (record_id, raw_sha256, source)
    );
    CREATE TABLE cursors (connector TEXT PRIMARY KEY, cursor TEXT, updated_at TEXT NOT NULL);
    CREATE TABLE state (connector TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (connector, key));
    CREATE TABLE dead_letters (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        connector TEXT NOT NULL,
        source TEXT NOT NULL,
        record_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        draft TEXT NOT NULL,
        connector_digest TEXT NOT NULL,
        created_at TEXT NOT NULL,
        replayed_at TEXT,
        package TEXT NOT NULL
    );
    CREATE TABLE runs (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        connector TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        report TEXT,
        host TEXT,
        epoch BIGINT
    );
    CREATE INDEX runs_by_connector ON runs (connector, status);
    CREATE TABLE events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        connector TEXT NOT NULL,
        event_type TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        payload TEXT NOT NULL,
        UNIQUE (delivery_id, fingerprint)
    );
    CREATE INDEX events_by_connector ON events (connector, recorded_at);
    CREATE INDEX events_by_connector_type ON events (connector, event_type);
    CREATE TABLE hosts (
        id TEXT PRIMARY KEY,
        admin TEXT NOT NULL,
        version TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        heartbeat_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE leases (
        connector TEXT PRIMARY KEY,
        owner TEXT,
        epoch BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        acquired_at TIMESTAMPTZ NOT NULL,
        digest TEXT
    );",
    // 2: SQLite's 8, evidence linked to claims and the approved declarations.
    "CREATE TABLE provenance (
        claim_id TEXT COLLATE \"C\" NOT NULL,
        source TEXT COLLATE \"C\" NOT NULL,
        record_id TEXT COLLATE \"C\" NOT NULL,
        raw_sha256 TEXT COLLATE \"C\" NOT NULL,
        connector TEXT NOT NULL,
        uri TEXT NOT NULL,
        title TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        linked_at TEXT NOT NULL,
        PRIMARY KEY (claim_id, source, record_id, raw_sha256)
    );
    CREATE TABLE approvals (
        connector TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        declaration TEXT,
        approved_at TEXT NOT NULL
    );",
];

/// The advisory lock key under which PostgreSQL migrations run (any constant).
const MIGRATION_LOCK: i64 = 0x686f_7374_6d69_6772;

/// The schema version this host writes on SQLite.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// The schema version this host writes on PostgreSQL.
pub fn latest_postgres() -> i64 {
    POSTGRES.len() as i64
}

/// Brings the PostgreSQL database at `pool` up to [`latest_postgres`], in one
/// transaction under an advisory lock (PostgreSQL's DDL is transactional).
pub async fn apply_postgres(pool: &PgPool, url: &str) -> Result<(), StoreError> {
    let q = |what| move |source| StoreError::Query { what, source };
    let mut tx = pool.begin().await.map_err(q("starting a migration"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(q("locking the schema"))?;
    // Looked up first: `CREATE TABLE IF NOT EXISTS` logs a notice at every open.
    let exists: bool = sqlx::query("SELECT to_regclass('schema_version') IS NOT NULL")
        .fetch_one(&mut *tx)
        .await
        .map_err(q("reading the schema version"))?
        .get(0);
    if !exists {
        sqlx::query("CREATE TABLE schema_version (version BIGINT NOT NULL)")
            .execute(&mut *tx)
            .await
            .map_err(q("creating the version table"))?;
    }
    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        .fetch_one(&mut *tx)
        .await
        .map_err(q("reading the schema version"))?
        .get(0);
    if current > latest_postgres() {
        return Err(StoreError::TooNew { url: url.to_string(), found: current, supported: latest_postgres() });
    }
    for (i, sql) in POSTGRES.iter().enumerate().skip(current as usize) {
        // Safe: the migrations are constants of this file.
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await.map_err(q("migrating the store"))?;
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(i as i64 + 1)
            .execute(&mut *tx)
            .await
            .map_err(q("recording the schema version"))?;
    }
    tx.commit().await.map_err(q("committing a migration"))?;
    Ok(())
}

/// Brings the SQLite database at `pool` up to [`latest`].
pub async fn apply_sqlite(pool: &SqlitePool, url: &str) -> Result<(), StoreError> {
    let q = |what| move |source| StoreError::Query { what, source };
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .execute(pool)
        .await
        .map_err(q("creating the version table"))?;
    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        .fetch_one(pool)
        .await
        .map_err(q("reading the schema version"))?
        .get(0);
    if current > latest() {
        return Err(StoreError::TooNew { url: url.to_string(), found: current, supported: latest() });
    }
    if current == latest() {
        return Ok(());
    }
    // All pending migrations in one transaction (SQLite's DDL is transactional):
    // each schema page goes to the WAL once, not once per migration (seven of
    // them wrote a new store's WAL up to a megabyte before its first page).
    let mut tx = pool.begin().await.map_err(q("starting a migration"))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        // Safe: the migrations are constants of this file.
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await.map_err(q("migrating the store"))?;
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(i as i64 + 1)
            .execute(&mut *tx)
            .await
            .map_err(q("recording the schema version"))?;
    }
    tx.commit().await.map_err(q("committing a migration"))?;
    Ok(())
}
