//! The runs a store keeps: each recorded when it starts and completed when it
//! ends, so a run killed on the way still leaves its row (marked `interrupted` by
//! the connector's next run).

use sqlx::Row;

use super::{Store, StoreError, on_pool, q};

impl Store {
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
}

impl Store {
    /// The last `limit` runs of `connector`, newest first, with their reports (the
    /// JSON the run kept, secrets redacted; none while it runs or after a crash).
    pub async fn recent_runs(&self, connector: &str, limit: u32) -> Result<Vec<KeptRun>, StoreError> {
        let rows = on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, connector, status, started_at, finished_at, host, epoch, report FROM runs \
                 WHERE connector = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(connector)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(q("reading runs"))?;
            rows.iter()
                .map(|r| KeptRun {
                    run: RunRow {
                        id: r.get(0),
                        connector: r.get(1),
                        status: r.get(2),
                        started_at: r.get(3),
                        finished_at: r.get(4),
                        host: r.get(5),
                        epoch: r.get(6),
                    },
                    report: r.get(7),
                })
                .collect()
        });
        Ok(rows)
    }
}

/// A run with the report it kept.
#[derive(Clone, Debug)]
pub struct KeptRun {
    /// The run.
    pub run: RunRow,
    /// Its report as JSON text, once it ended.
    pub report: Option<String>,
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
