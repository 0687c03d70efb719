//! The capabilities an operator let go live, per connector: the declaration of the
//! connector's last live version in `host serve`. A version that declares more than
//! the live one is parked until approved; this keeps that rule across restarts (and
//! across the hosts of a shared store), where no live version is in memory to
//! compare with.

use sqlx::Row;

use super::{Store, StoreError, on_pool, q};

/// The last version of a connector that went live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approved {
    /// Its component's digest.
    pub digest: String,
    /// What it declared, as JSON; none for a component without a declaration.
    pub declaration: Option<String>,
    /// When it went live.
    pub approved_at: String,
}

impl Store {
    /// The last version of `connector` that went live, if any did.
    pub async fn approved(&self, connector: &str) -> Result<Option<Approved>, StoreError> {
        let row = on_pool!(self, |pool| {
            sqlx::query("SELECT digest, declaration, approved_at FROM approvals WHERE connector = $1")
                .bind(connector)
                .fetch_optional(pool)
                .await
                .map_err(q("reading an approved declaration"))?
                .map(|r| Approved { digest: r.get(0), declaration: r.get(1), approved_at: r.get(2) })
        });
        Ok(row)
    }

    /// Records that the version `digest` of `connector`, declaring `declaration`,
    /// went live at `at`.
    pub async fn record_approved(
        &self,
        connector: &str,
        digest: &str,
        declaration: Option<&str>,
        at: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO approvals (connector, digest, declaration, approved_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (connector) DO UPDATE SET digest = $2, declaration = $3, approved_at = $4",
            )
            .bind(connector)
            .bind(digest)
            .bind(declaration)
            .bind(at)
            .execute(pool)
            .await
            .map_err(q("recording an approved declaration"))?
            .rows_affected()
        });
        Ok(())
    }
}
