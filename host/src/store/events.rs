//! Lifecycle events in the store: recorded idempotently, read per connector.

use sqlx::Row;

use super::{Store, StoreError, on_pool, page, q};
use crate::lifecycle::Event;

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
