//! Dead letters: the drafts a run refused, kept to be sealed again (`host replay`).

use sqlx::Row;

use super::{Store, StoreError, on_pool, q};

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

/// A `DeadLetterRow` of a row of the selects below (`id, connector, source,
/// record_id, reason, draft, connector_digest, created_at, replayed_at, package`,
/// in that order). A macro: SQLite's and PostgreSQL's rows are different types.
macro_rules! dead_letter_row {
    ($r:expr) => {
        DeadLetterRow {
            id: $r.get(0),
            connector: $r.get(1),
            source: $r.get(2),
            record_id: $r.get(3),
            reason: $r.get(4),
            draft: $r.get(5),
            connector_digest: $r.get(6),
            created_at: $r.get(7),
            replayed_at: $r.get(8),
            package: $r.get(9),
        }
    };
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
            rows.iter().map(|r| dead_letter_row!(r)).collect()
        });
        Ok(letters)
    }

    /// The last `limit` dead letters of `connector`, newest first (replayed ones
    /// too, marked), and how many of its dead letters await a replay in all.
    pub async fn connector_dead_letters(
        &self,
        connector: &str,
        limit: u32,
    ) -> Result<(Vec<DeadLetterRow>, u64), StoreError> {
        let what = "reading dead letters";
        let found = on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, connector, source, record_id, reason, draft, connector_digest, created_at, replayed_at, package \
                 FROM dead_letters WHERE connector = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(connector)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(q(what))?;
            let pending: i64 =
                sqlx::query("SELECT COUNT(*) FROM dead_letters WHERE connector = $1 AND replayed_at IS NULL")
                    .bind(connector)
                    .fetch_one(pool)
                    .await
                    .map_err(q(what))?
                    .get(0);
            let letters: Vec<DeadLetterRow> = rows.iter().map(|r| dead_letter_row!(r)).collect();
            (letters, u64::try_from(pending).unwrap_or(0))
        });
        Ok(found)
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
