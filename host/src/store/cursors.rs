//! A connector's stored cursor as an operator sees and changes it (`host cursor`,
//! `GET /connectors/{name}/cursor`, `POST /connectors/{name}/cursor/reset`).
//!
//! The cursor is the guest's text and the host cannot read it; when the guest
//! refuses it (one from before a change of its config or version), every run
//! resumes there and fails the same way. A reset clears it, and the next run starts
//! from the beginning (change detection keeps what is already stored from being
//! published again), or sets it to a cursor the operator chose. The connector's
//! state is left as it is.
//!
//! No lifecycle event records a reset: none of seed 004's types means one (it is
//! neither an ingest, a retry nor a replay), and a connector event would be a
//! transition the table does not have. The reset is logged, and what it replaced is
//! answered to whoever asked for it.

use sqlx::Row;

use super::{Store, StoreError, on_pool, q};

/// A stored cursor.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StoredCursor {
    /// Where the next run resumes; `None` when the last run read the source to its
    /// end (the next starts from the beginning).
    pub cursor: Option<String>,
    /// When it was stored (RFC 3339).
    pub updated_at: String,
}

impl Store {
    /// The connector's stored cursor; `None` if none is stored (the connector's
    /// next run starts from the beginning).
    pub async fn stored_cursor(&self, connector: &str) -> Result<Option<StoredCursor>, StoreError> {
        let stored = on_pool!(self, |pool| {
            let row = sqlx::query("SELECT cursor, updated_at FROM cursors WHERE connector = $1")
                .bind(connector)
                .fetch_optional(pool)
                .await
                .map_err(q("reading the cursor"))?;
            row.map(|r| StoredCursor { cursor: r.get(0), updated_at: r.get(1) })
        });
        Ok(stored)
    }

    /// Whether the store has anything of `connector`: a cursor, a run or an event.
    pub async fn knows(&self, connector: &str) -> Result<bool, StoreError> {
        // A number, not a boolean: SQLite has no boolean type.
        let known: i64 = on_pool!(self, |pool| {
            sqlx::query(
                "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM cursors WHERE connector = $1) \
                 OR EXISTS (SELECT 1 FROM runs WHERE connector = $1) \
                 OR EXISTS (SELECT 1 FROM events WHERE connector = $1) THEN 1 ELSE 0 END AS BIGINT)",
            )
            .bind(connector)
            .fetch_one(pool)
            .await
            .map_err(q("looking the connector up"))?
            .get(0)
        });
        Ok(known != 0)
    }

    /// Clears the connector's stored cursor (`to` is `None`: its next run starts
    /// from the beginning) or sets it to `to`; returns the cursor it replaced.
    pub async fn reset_cursor(
        &self,
        connector: &str,
        to: Option<&str>,
        now: &str,
    ) -> Result<Option<StoredCursor>, StoreError> {
        let previous = on_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(q("starting a transaction"))?;
            let row = sqlx::query("SELECT cursor, updated_at FROM cursors WHERE connector = $1")
                .bind(connector)
                .fetch_optional(&mut *tx)
                .await
                .map_err(q("reading the cursor"))?;
            let previous = row.map(|r| StoredCursor { cursor: r.get(0), updated_at: r.get(1) });
            match to {
                None => sqlx::query("DELETE FROM cursors WHERE connector = $1").bind(connector),
                Some(to) => sqlx::query(
                    "INSERT INTO cursors (connector, cursor, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (connector) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                )
                .bind(connector)
                .bind(to)
                .bind(now),
            }
            .execute(&mut *tx)
            .await
            .map_err(q("resetting the cursor"))?;
            tx.commit().await.map_err(q("committing the cursor reset"))?;
            previous
        });
        Ok(previous)
    }
}
