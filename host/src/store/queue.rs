//! The queue of published changes as its consumers see it: read in order, waited
//! on (`host queue --follow`), acknowledged and pruned.

use std::time::Duration;

use sqlx::Row;

use super::{Backend, Store, StoreError, on_pool, postgres, q, verify};

/// How long an acknowledged queue entry whose record has a newer version is kept:
/// a consumer took it, and the newer version has an entry of its own, so after a
/// week of grace (for a consumer that reads again from an older position) it goes.
/// Without this the queue grew by a feed's size with every version of it. The
/// current version's entry is kept however old: it says what was published last.
pub const RETAIN_ACKED: Duration = Duration::from_secs(7 * 86_400);

impl Store {
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
