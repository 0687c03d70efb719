//! What a finished run means for its connector's lifecycle: the events it adds.

use super::RunOptions;
use crate::contract::ErrorCase;
use crate::lifecycle::Event;
use crate::manifest::Manifest;
use crate::report::{FailureKind, RunReport};
use crate::store::Store;

/// The connector lifecycle events of a finished run: provisioned (the first time the
/// store sees the connector), then what the run's end means for the connector's
/// state ([`after_run`]), and a rejected ingest when the run failed.
///
/// [`after_run`]: crate::lifecycle::after_run
pub(super) async fn run_events(
    store: &Store,
    manifest: &Manifest,
    report: &RunReport,
    options: &RunOptions,
) -> Result<Vec<Event>, crate::store::StoreError> {
    use crate::lifecycle::*;
    let name = &manifest.name;
    let at = &report.finished_at;
    let delivery = format!("run:{name}:{}", report.started_at);
    let mut events = Vec::new();
    // Only the connector family decides its state: not the sync event of every page.
    let previous = store.connector_events(name).await?;
    if !previous.iter().any(|e| e.event_type == CONNECTOR_PROVISIONED) {
        let config = serde_json::to_string(&*manifest.config).expect("config serialises");
        let provisioned = EventKind::ConnectorProvisioned {
            connector_type: manifest.source.clone(),
            provider: "wasm",
            credentials_ref: "none",
            config_hash: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(config.as_bytes())),
            component_digest: report.component.digest.clone(),
        };
        events.push(provisioned.event(name, format!("provision:{name}"), &report.started_at));
    }
    let reduced = reduce(name, &previous);
    // Before this run's Provisioned is stored, the connector is as good as provisioned.
    let current = reduced.current_state.or(Some(ConnectorState::Provisioned));
    let last_healthy_at = reduced.last_health_check.as_ref().map(|(at, _)| at.as_str());
    let end = match &report.error {
        None => RunEnd::Healthy { latency_ms: report.durations_ms.total },
        // The reader closed the output, or another host took the connector over:
        // nothing was wrong with the connector.
        Some(e) if matches!(e.kind, FailureKind::OutputClosed | FailureKind::Fenced) => return Ok(events),
        Some(e) if e.case == Some(ErrorCase::Auth) => RunEnd::Refused { reason: &e.message },
        Some(e) => RunEnd::Failed { reason: &e.message, last_healthy_at },
    };
    for kind in after_run(current, end, options.trigger) {
        events.push(kind.event(name, delivery.clone(), at));
    }
    if let Some(e) = &report.error {
        let rejected = EventKind::SyncIngestRejected {
            rejection_reason: e.message.clone(),
            rejected_payload_ref: report.next_cursor.clone(),
        };
        events.push(rejected.event(name, delivery, at));
    }
    Ok(events)
}
