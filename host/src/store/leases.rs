//! Leases: on a shared (PostgreSQL) store, each connector runs on exactly one host
//! at a time.
//!
//! A row per connector says which host owns it, until when, and at which
//! **epoch**. Taking a lease that is free or has expired increments its epoch;
//! renewing it keeps the epoch. Every page commit of a leased run checks, in its own
//! transaction, that the lease row still has the owner and epoch the run started
//! with, locking the row to the commit ([`super::postgres`]): a host that was paused
//! past its lease (a GC pause, SIGSTOP, a partition) and wakes up to commit finds
//! the epoch moved on and commits nothing. This is the fencing token of Temporal's
//! shard `range_id` and Kafka Connect's exactly-once source tasks; a job queue that
//! checks only a job's id at completion lets the paused host's page through.
//!
//! Lease times are the server's clock (`now()`), never the hosts': their clocks
//! need not agree. Hosts register with a heartbeat in `hosts`, which is how each
//! computes its fair share (`serve::cluster` does the scheduling).

use sqlx::Row;
use sqlx::postgres::PgPool;

use super::{Backend, Store, StoreError, q};

/// The lease a run holds, checked by each of its page commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The owning host's id.
    pub owner: String,
    /// The epoch the lease was taken at.
    pub epoch: i64,
}

/// The channel a host notifies when it releases leases (SIGTERM, giving back
/// extras), so that the others take them at once rather than at their next tick.
pub const LEASE_CHANNEL: &str = "host_leases";

/// A host of the cluster as the store keeps it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HostRow {
    /// Its id.
    pub id: String,
    /// Its admin API's address.
    pub admin: String,
    /// Its version.
    pub version: String,
    /// When it registered (RFC 3339, the server's clock).
    pub started_at: String,
    /// Its last heartbeat.
    pub heartbeat_at: String,
    /// Whether its heartbeat is within the lease TTL.
    pub live: bool,
}

/// A lease as the store keeps it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LeaseRow {
    /// The connector.
    pub connector: String,
    /// The owning host; none once released.
    pub owner: Option<String>,
    /// Its epoch.
    pub epoch: i64,
    /// When it expires unless renewed (RFC 3339, the server's clock).
    pub expires_at: String,
    /// Whether it has expired.
    pub expired: bool,
    /// The component digest its owner runs.
    pub digest: Option<String>,
}

/// The lease operations of a shared store ([`Store::cluster`]).
pub struct Cluster<'a> {
    pool: &'a PgPool,
}

impl Store {
    /// The lease operations, on a PostgreSQL store; `None` on SQLite, where one
    /// host is all there is.
    pub fn cluster(&self) -> Option<Cluster<'_>> {
        match &self.backend {
            Backend::Postgres(b) => Some(Cluster { pool: &b.pool }),
            Backend::Sqlite(_) => None,
        }
    }

    /// A listener for released leases; `None` on SQLite or if it cannot listen.
    pub async fn lease_listener(&self) -> Option<sqlx::postgres::PgListener> {
        match &self.backend {
            Backend::Postgres(b) => b.listen(LEASE_CHANNEL).await,
            Backend::Sqlite(_) => None,
        }
    }
}

fn ms(ttl: std::time::Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

impl Cluster<'_> {
    /// Registers host `id` or records its heartbeat.
    pub async fn heartbeat(&self, id: &str, admin: &str, version: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO hosts (id, admin, version, started_at, heartbeat_at) VALUES ($1, $2, $3, now(), now()) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), admin = excluded.admin, version = excluded.version",
        )
        .bind(id)
        .bind(admin)
        .bind(version)
        .execute(self.pool)
        .await
        .map_err(q("recording the host's heartbeat"))?;
        Ok(())
    }

    /// Every registered host, by id, with whether its heartbeat is younger than `ttl`.
    pub async fn hosts(&self, ttl: std::time::Duration) -> Result<Vec<HostRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, admin, version, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
             to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
             heartbeat_at > now() - make_interval(secs => $1::bigint / 1000.0) FROM hosts ORDER BY id",
        )
        .bind(ms(ttl))
        .fetch_all(self.pool)
        .await
        .map_err(q("reading the hosts"))?;
        Ok(rows
            .iter()
            .map(|r| HostRow {
                id: r.get(0),
                admin: r.get(1),
                version: r.get(2),
                started_at: r.get(3),
                heartbeat_at: r.get(4),
                live: r.get(5),
            })
            .collect())
    }

    /// Removes host `id` (it is stopping), releases its leases and tells the others.
    pub async fn leave(&self, id: &str) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(q("leaving the cluster"))?;
        let released = sqlx::query("UPDATE leases SET owner = NULL, expires_at = now() WHERE owner = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(q("releasing leases"))?
            .rows_affected();
        sqlx::query("DELETE FROM hosts WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(q("leaving the cluster"))?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(LEASE_CHANNEL)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(q("notifying the other hosts"))?;
        tx.commit().await.map_err(q("leaving the cluster"))?;
        Ok(released)
    }

    /// Renews the leases `owner` holds of `connectors` for `ttl`; returns those it
    /// still held, with their epochs (one taken over meanwhile is not among them).
    pub async fn renew(
        &self,
        owner: &str,
        connectors: &[&str],
        ttl: std::time::Duration,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if connectors.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "UPDATE leases SET expires_at = now() + make_interval(secs => $3::bigint / 1000.0) \
             WHERE owner = $1 AND connector = ANY($2) RETURNING connector, epoch",
        )
        .bind(owner)
        .bind(connectors)
        .bind(ms(ttl))
        .fetch_all(self.pool)
        .await
        .map_err(q("renewing leases"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Takes for `owner`, for `ttl`, at most `max` of `candidates` whose lease is
    /// free or expired (or that have none yet); returns those taken, with their new
    /// epochs. Hosts look at the candidates in an order of their own (a hash of
    /// host and connector), so that two hosts starting together do not race for the
    /// same ones.
    pub async fn acquire(
        &self,
        owner: &str,
        candidates: &[&str],
        max: usize,
        ttl: std::time::Duration,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if candidates.is_empty() || max == 0 {
            return Ok(Vec::new());
        }
        // A row for each connector first (free, epoch 0), so that taking one is an
        // update of rows that exist.
        sqlx::query(
            "INSERT INTO leases (connector, owner, epoch, expires_at, acquired_at) \
             SELECT c, NULL, 0, now(), now() FROM unnest($1::text[]) AS c ON CONFLICT (connector) DO NOTHING",
        )
        .bind(candidates)
        .execute(self.pool)
        .await
        .map_err(q("taking leases"))?;
        // `SKIP LOCKED`: a lease row locked by another host's transaction (its page
        // commit, or a host paused in the middle of one) is passed over, not waited
        // for; waiting would stop this host's renewals too.
        let rows = sqlx::query(
            "WITH free AS ( \
               SELECT connector FROM leases WHERE connector = ANY($2) AND (owner IS NULL OR expires_at <= now()) \
               ORDER BY md5($1 || connector) LIMIT $3 FOR UPDATE SKIP LOCKED \
             ) \
             UPDATE leases l SET owner = $1, epoch = l.epoch + 1, \
               expires_at = now() + make_interval(secs => $4::bigint / 1000.0), acquired_at = now(), digest = NULL \
             FROM free WHERE l.connector = free.connector \
             RETURNING l.connector, l.epoch",
        )
        .bind(owner)
        .bind(candidates)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .bind(ms(ttl))
        .fetch_all(self.pool)
        .await
        .map_err(q("taking leases"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Releases `owner`'s leases of `connectors` and tells the other hosts.
    pub async fn release(&self, owner: &str, connectors: &[&str]) -> Result<u64, StoreError> {
        if connectors.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await.map_err(q("releasing leases"))?;
        let released =
            sqlx::query("UPDATE leases SET owner = NULL, expires_at = now() WHERE owner = $1 AND connector = ANY($2)")
                .bind(owner)
                .bind(connectors)
                .execute(&mut *tx)
                .await
                .map_err(q("releasing leases"))?
                .rows_affected();
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(LEASE_CHANNEL)
            .bind(owner)
            .execute(&mut *tx)
            .await
            .map_err(q("notifying the other hosts"))?;
        tx.commit().await.map_err(q("releasing leases"))?;
        Ok(released)
    }

    /// Records the component digest `owner` runs for `connector` (version skew
    /// across hosts shows in [`Cluster::leases`]).
    pub async fn set_digest(&self, owner: &str, connector: &str, digest: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE leases SET digest = $3 WHERE connector = $1 AND owner = $2")
            .bind(connector)
            .bind(owner)
            .bind(digest)
            .execute(self.pool)
            .await
            .map_err(q("recording the lease's digest"))?;
        Ok(())
    }

    /// Every lease, by connector.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT connector, owner, epoch, to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
             expires_at <= now(), digest FROM leases ORDER BY connector",
        )
        .fetch_all(self.pool)
        .await
        .map_err(q("reading the leases"))?;
        Ok(rows
            .iter()
            .map(|r| LeaseRow {
                connector: r.get(0),
                owner: r.get(1),
                epoch: r.get(2),
                expires_at: r.get(3),
                expired: r.get(4),
                digest: r.get(5),
            })
            .collect())
    }
}
