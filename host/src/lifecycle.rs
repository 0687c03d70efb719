//! Connector and sync lifecycle events (seed 004), and the deterministic reducer that
//! gives a connector's current state from them (`host status`).
//!
//! Events are idempotent on `(delivery_id, fingerprint)`: the store keeps the first of
//! a pair and ignores repeats (a page committed again after a crash carries the same
//! pair). The reducer sorts by time, drops duplicate pairs, folds the allowed
//! connector transitions, and records an anomaly for anything else, never failing.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The connector has been set up (first seen by the store).
pub const CONNECTOR_PROVISIONED: &str = "ConnectorProvisioned";
/// A run showed the connector's health.
pub const CONNECTOR_HEALTH_CHECKED: &str = "ConnectorHealthChecked";
/// A run failed.
pub const CONNECTOR_DEGRADED: &str = "ConnectorDegraded";
/// The connector's access was withdrawn: the upstream refused its credentials.
pub const CONNECTOR_REVOKED: &str = "ConnectorRevoked";
/// The connector came back after being degraded or revoked.
pub const CONNECTOR_RECONNECTED: &str = "ConnectorReconnected";
/// The connector lifecycle family: the events that decide a connector's state.
pub const CONNECTOR_EVENT_TYPES: [&str; 5] =
    [CONNECTOR_PROVISIONED, CONNECTOR_HEALTH_CHECKED, CONNECTOR_DEGRADED, CONNECTOR_REVOKED, CONNECTOR_RECONNECTED];
/// A page was ingested.
pub const SYNC_INGEST_ACCEPTED: &str = "SyncIngestAccepted";
/// A run's ingest was refused (the run failed).
pub const SYNC_INGEST_REJECTED: &str = "SyncIngestRejected";
/// A retry was scheduled.
pub const SYNC_RETRY_SCHEDULED: &str = "SyncRetryScheduled";
/// A draft was kept as a dead letter.
pub const SYNC_DEAD_LETTERED: &str = "SyncDeadLettered";
/// Dead letters were replayed.
pub const SYNC_REPLAY_COMPLETED: &str = "SyncReplayCompleted";

/// A connector's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorState {
    /// Set up, not yet checked.
    Provisioned,
    /// Its last check was healthy.
    Healthy,
    /// Its last run failed.
    Degraded,
    /// Its credentials were refused.
    Revoked,
    /// Back after being degraded or revoked.
    Reconnected,
}

/// Whether the seed's transition table allows `from -> to`.
pub fn allowed(from: Option<ConnectorState>, to: ConnectorState) -> bool {
    use ConnectorState::*;
    matches!(
        (from, to),
        (None, Provisioned)
            | (Some(Provisioned), Healthy | Degraded | Revoked)
            | (Some(Healthy), Degraded | Revoked)
            | (Some(Degraded), Healthy | Revoked | Reconnected)
            | (Some(Revoked), Reconnected)
            | (Some(Reconnected), Healthy | Degraded | Revoked)
    )
}

/// What an event says: its type and its payload's fields, as the schema
/// (`schemas/lifecycle_event.schema.json`) requires them. Every event the host
/// records is made from one of these ([`EventKind::event`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event_type", content = "payload")]
pub enum EventKind {
    /// The store saw the connector for the first time.
    ConnectorProvisioned {
        /// The connector's source.
        connector_type: String,
        /// Always `wasm`.
        provider: &'static str,
        /// The host holds credentials; the event names none.
        credentials_ref: &'static str,
        /// SHA-256 of the connector's config values.
        config_hash: String,
        /// The component's digest.
        component_digest: String,
    },
    /// A run showed the connector's health.
    ConnectorHealthChecked {
        /// `healthy` (a failing run degrades instead).
        health_status: &'static str,
        /// How long the run took.
        latency_ms: f64,
    },
    /// A run (or a reload) failed.
    ConnectorDegraded {
        /// The error.
        degradation_reason: String,
        /// When the connector was last found healthy.
        last_healthy_at: Option<String>,
    },
    /// The upstream refused the connector's credentials.
    ConnectorRevoked {
        /// The error.
        revocation_reason: String,
    },
    /// The connector came back.
    ConnectorReconnected {
        /// Degraded or revoked.
        previous_state: ConnectorState,
        /// What brought it back ([`Trigger::reconnect_strategy`]).
        reconnect_strategy: &'static str,
    },
    /// A page's new or changed records were stored.
    SyncIngestAccepted {
        /// The page's delivery id.
        ingest_batch_id: String,
        /// How many records were new or changed.
        ingested_count: usize,
        /// SHA-256 over their `raw_sha256`, in order.
        records_sha256: String,
    },
    /// A run failed; its pages from the cursor on were not ingested.
    SyncIngestRejected {
        /// The error.
        rejection_reason: String,
        /// The cursor a later run resumes at.
        rejected_payload_ref: Option<String>,
    },
    /// The daemon will run a failed connector again.
    SyncRetryScheduled {
        /// Failures in a row.
        retry_attempt: u32,
        /// After this many in a row the run breaker opens.
        max_retries: u32,
        /// When (RFC 3339).
        next_retry_at: String,
        /// The failure.
        reason: Option<String>,
        /// The cursor the retry resumes at.
        resume_cursor: Option<String>,
    },
    /// A draft was kept as a dead letter.
    SyncDeadLettered {
        /// Why it was refused.
        failure_reason: String,
        /// Always 1: a draft is sealed once per run.
        total_attempts: u32,
        /// The record id.
        dead_letter_ref: String,
    },
    /// Dead letters were sealed again.
    SyncReplayCompleted {
        /// The replay's delivery id.
        replay_id: String,
        /// How many were published.
        replayed_count: u64,
        /// Always `dead_letters`.
        replay_source: &'static str,
    },
}

impl EventKind {
    /// The event this says about `connector`, delivered as `delivery_id` at
    /// `recorded_at`, fingerprinted over its type and payload.
    pub fn event(&self, connector: &str, delivery_id: String, recorded_at: &str) -> Event {
        let mut tagged = serde_json::to_value(self).expect("an event kind serialises");
        let payload = tagged["payload"].take();
        let event_type = tagged["event_type"].as_str().expect("the tag is a string");
        Event::new(event_type, connector, delivery_id, recorded_at, payload)
    }
}

/// One lifecycle event, as the store keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// The event type (one of the constants above).
    pub event_type: String,
    /// The connector it is about.
    pub connector: String,
    /// Identifies the delivery (for sync events: the page, by the cursor it started at).
    pub delivery_id: String,
    /// SHA-256 of the event type and payload: with `delivery_id`, the idempotency key.
    pub fingerprint: String,
    /// When it happened (RFC 3339 UTC).
    pub recorded_at: String,
    /// The event's fields.
    pub payload: Value,
    /// Its place in the store's log (`None` before it is stored): between events
    /// recorded in the same millisecond, the order they were recorded in.
    #[serde(skip)]
    pub seq: Option<i64>,
}

impl Event {
    /// An event of `event_type` about `connector`, fingerprinted over its type and
    /// payload. The host makes its events with [`EventKind::event`]; this is for
    /// events read back and for tests.
    pub fn new(event_type: &str, connector: &str, delivery_id: String, recorded_at: &str, payload: Value) -> Event {
        let mut h = Sha256::new();
        h.update(event_type.as_bytes());
        h.update([0]);
        h.update(payload.to_string().as_bytes());
        Event {
            event_type: event_type.to_string(),
            connector: connector.to_string(),
            delivery_id,
            fingerprint: hex::encode(h.finalize()),
            recorded_at: recorded_at.to_string(),
            payload,
            seq: None,
        }
    }
}

/// Something the reducer could not apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// The event's type.
    pub event_type: String,
    /// When it was recorded.
    pub recorded_at: String,
    /// What was wrong.
    pub reason: String,
}

/// Counts of sync outcomes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncCounts {
    /// Pages ingested.
    pub accepted: u64,
    /// Runs refused.
    pub rejected: u64,
    /// Retries scheduled.
    pub retry_scheduled: u64,
    /// Drafts dead-lettered.
    pub dead_lettered: u64,
    /// Replays completed.
    pub replay_completed: u64,
}

/// A connector's state, reduced from its events.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Reduced {
    /// The connector.
    pub connector: String,
    /// Its current lifecycle state (none before it was provisioned).
    pub current_state: Option<ConnectorState>,
    /// Events applied, duplicates excluded.
    pub event_count: u64,
    /// Its last health check: `(recorded_at, health_status)`.
    pub last_health_check: Option<(String, String)>,
    /// `(recorded_at, from, to)` of every transition.
    pub transition_log: Vec<(String, Option<ConnectorState>, ConnectorState)>,
    /// Sync outcome counts.
    pub sync: SyncCounts,
    /// What could not be applied.
    pub anomalies: Vec<Anomaly>,
}

/// Reduces `events` (of one connector, in any order) to its current state. They
/// are ordered by time, then by their place in the store's log (a run's end can
/// record a reconnection and a health check in one millisecond), then by content,
/// so the same events give the same state whatever order they come in.
pub fn reduce(connector: &str, events: &[Event]) -> Reduced {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.recorded_at, a.seq, &a.event_type, &a.delivery_id, &a.fingerprint).cmp(&(
            &b.recorded_at,
            b.seq,
            &b.event_type,
            &b.delivery_id,
            &b.fingerprint,
        ))
    });
    let mut seen = std::collections::BTreeSet::new();
    let mut r = Reduced { connector: connector.to_string(), ..Reduced::default() };
    for e in sorted {
        let anomaly =
            |reason: String| Anomaly { event_type: e.event_type.clone(), recorded_at: e.recorded_at.clone(), reason };
        if !seen.insert((&e.delivery_id, &e.fingerprint)) {
            r.anomalies.push(anomaly(format!("duplicate delivery {} skipped", e.delivery_id)));
            continue;
        }
        r.event_count += 1;
        let target = match e.event_type.as_str() {
            CONNECTOR_PROVISIONED => Some(ConnectorState::Provisioned),
            CONNECTOR_DEGRADED => Some(ConnectorState::Degraded),
            CONNECTOR_REVOKED => Some(ConnectorState::Revoked),
            CONNECTOR_RECONNECTED => Some(ConnectorState::Reconnected),
            CONNECTOR_HEALTH_CHECKED => match e.payload["health_status"].as_str() {
                Some(status @ ("healthy" | "degraded" | "unreachable")) => {
                    r.last_health_check = Some((e.recorded_at.clone(), status.to_string()));
                    Some(if status == "healthy" { ConnectorState::Healthy } else { ConnectorState::Degraded })
                }
                other => {
                    r.anomalies.push(anomaly(format!("malformed payload: health_status {other:?}")));
                    continue;
                }
            },
            SYNC_INGEST_ACCEPTED => {
                r.sync.accepted += 1;
                None
            }
            SYNC_INGEST_REJECTED => {
                r.sync.rejected += 1;
                None
            }
            SYNC_RETRY_SCHEDULED => {
                r.sync.retry_scheduled += 1;
                None
            }
            SYNC_DEAD_LETTERED => {
                r.sync.dead_lettered += 1;
                None
            }
            SYNC_REPLAY_COMPLETED => {
                r.sync.replay_completed += 1;
                None
            }
            other => {
                r.anomalies.push(anomaly(format!("unknown event type `{other}`")));
                continue;
            }
        };
        if let Some(to) = target {
            let from = r.current_state;
            // A health check that finds the state unchanged is not a transition.
            if from == Some(to) && e.event_type == CONNECTOR_HEALTH_CHECKED {
                continue;
            }
            if allowed(from, to) {
                r.transition_log.push((e.recorded_at.clone(), from, to));
                r.current_state = Some(to);
            } else {
                r.anomalies.push(anomaly(format!("invalid transition {from:?} -> {to:?}")));
            }
        }
    }
    r
}

/// What started a run; it says how a connector that had failed came back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Trigger {
    /// An operator: `host run`, or `POST /connectors/{name}/run`.
    #[default]
    Manual,
    /// The daemon's schedule.
    Scheduled,
    /// The daemon's schedule, probing once the run breaker's wait was over.
    Backoff,
}

impl Trigger {
    /// The seed's `reconnect_strategy` for a reconnection by this trigger.
    pub fn reconnect_strategy(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Scheduled => "automatic",
            Trigger::Backoff => "backoff",
        }
    }
}

/// How a run ended, as far as its connector's lifecycle goes.
#[derive(Clone, Copy, Debug)]
pub enum RunEnd<'a> {
    /// Every page was read, in `latency_ms`.
    Healthy {
        /// How long the run took.
        latency_ms: f64,
    },
    /// The upstream refused the connector's credentials (a connector-error `auth`).
    Refused {
        /// The error.
        reason: &'a str,
    },
    /// Any other failure.
    Failed {
        /// The error.
        reason: &'a str,
        /// When the connector was last found healthy.
        last_healthy_at: Option<&'a str>,
    },
}

/// The connector events (type and payload) that a run ending as `end` adds to a
/// connector in state `current`. Each is a transition the seed's table allows, or
/// nothing is added, so the events of any sequence of runs fold without anomalies:
///
/// - healthy: from degraded or revoked, `ConnectorReconnected` (the strategy from
///   `trigger`) and then a healthy `ConnectorHealthChecked`; otherwise only the
///   health check (which from healthy is no transition);
/// - refused credentials: `ConnectorRevoked`, unless revoked already;
/// - other failures: `ConnectorDegraded` from provisioned, healthy or
///   reconnected; nothing when degraded or revoked already (the run's
///   `SyncIngestRejected` records the failure).
pub fn after_run(current: Option<ConnectorState>, end: RunEnd<'_>, trigger: Trigger) -> Vec<EventKind> {
    use ConnectorState::*;
    match end {
        RunEnd::Healthy { latency_ms } => {
            let mut events = Vec::new();
            if let Some(previous_state @ (Degraded | Revoked)) = current {
                events.push(EventKind::ConnectorReconnected {
                    previous_state,
                    reconnect_strategy: trigger.reconnect_strategy(),
                });
            }
            events.push(EventKind::ConnectorHealthChecked { health_status: "healthy", latency_ms });
            events
        }
        RunEnd::Refused { reason } if current != Some(Revoked) => {
            vec![EventKind::ConnectorRevoked { revocation_reason: reason.to_string() }]
        }
        RunEnd::Failed { reason, last_healthy_at } if !matches!(current, Some(Degraded | Revoked)) => {
            vec![EventKind::ConnectorDegraded {
                degradation_reason: reason.to_string(),
                last_healthy_at: last_healthy_at.map(str::to_string),
            }]
        }
        RunEnd::Refused { .. } | RunEnd::Failed { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// One of each kind, with the optional fields both set and unset.
    fn every_kind() -> Vec<EventKind> {
        use EventKind::*;
        vec![
            ConnectorProvisioned {
                connector_type: "feed".into(),
                provider: "wasm",
                credentials_ref: "none",
                config_hash: "0".repeat(64),
                component_digest: "1".repeat(64),
            },
            ConnectorHealthChecked { health_status: "healthy", latency_ms: 12.5 },
            ConnectorDegraded { degradation_reason: "api error 500".into(), last_healthy_at: None },
            ConnectorDegraded {
                degradation_reason: "x".into(),
                last_healthy_at: Some("2026-01-01T00:00:00.000Z".into()),
            },
            ConnectorRevoked { revocation_reason: "auth: 401".into() },
            ConnectorReconnected { previous_state: ConnectorState::Revoked, reconnect_strategy: "backoff" },
            SyncIngestAccepted {
                ingest_batch_id: "page:c:start".into(),
                ingested_count: 3,
                records_sha256: "2".repeat(64),
            },
            SyncIngestRejected { rejection_reason: "trap".into(), rejected_payload_ref: None },
            SyncIngestRejected { rejection_reason: "trap".into(), rejected_payload_ref: Some("v2:3:page:3".into()) },
            SyncRetryScheduled {
                retry_attempt: 2,
                max_retries: 5,
                next_retry_at: "2026-01-01T00:05:00Z".into(),
                reason: Some("timeout".into()),
                resume_cursor: None,
            },
            SyncDeadLettered {
                failure_reason: "raw is not JSON".into(),
                total_attempts: 1,
                dead_letter_ref: "r1".into(),
            },
            SyncReplayCompleted { replay_id: "replay:c:t".into(), replayed_count: 1, replay_source: "dead_letters" },
        ]
    }

    fn schema() -> jsonschema::Validator {
        let text = include_str!("../../schemas/lifecycle_event.schema.json");
        jsonschema::validator_for(&serde_json::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn every_event_the_host_makes_matches_the_schema() {
        let schema = schema();
        let mut types = std::collections::BTreeSet::new();
        for kind in every_kind() {
            let event = kind.event("c", "d".into(), "2026-01-01T00:00:00.000Z");
            let value = serde_json::to_value(&event).unwrap();
            let errors: Vec<String> = schema.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{value}: {errors:?}");
            types.insert(event.event_type);
        }
        assert_eq!(types.len(), 10, "one of each of the schema's ten types: {types:?}");
        // The check can fail: a payload without a field the schema requires does.
        let mut broken = serde_json::to_value(every_kind()[4].event("c", "d".into(), "2026-01-01T00:00:00Z")).unwrap();
        broken["payload"].as_object_mut().unwrap().remove("revocation_reason");
        assert!(!schema.is_valid(&broken));
    }

    #[test]
    fn a_kind_fingerprints_as_the_same_type_and_payload_written_out() {
        let kind = EventKind::ConnectorRevoked { revocation_reason: "auth: 401".into() };
        let by_hand = Event::new(CONNECTOR_REVOKED, "c", "d".into(), "t", json!({"revocation_reason": "auth: 401"}));
        assert_eq!(kind.event("c", "d".into(), "t"), by_hand);
    }

    fn ev(t: &str, at: &str, payload: Value) -> Event {
        Event::new(t, "c", format!("d-{at}"), at, payload)
    }

    #[test]
    fn folds_the_happy_path_and_the_revocation_path() {
        let events = [
            ev(CONNECTOR_PROVISIONED, "1", json!({})),
            ev(CONNECTOR_HEALTH_CHECKED, "2", json!({"health_status": "healthy"})),
            ev(CONNECTOR_DEGRADED, "3", json!({})),
            ev(CONNECTOR_RECONNECTED, "4", json!({})),
            ev(CONNECTOR_HEALTH_CHECKED, "5", json!({"health_status": "healthy"})),
        ];
        let r = reduce("c", &events);
        assert_eq!(r.current_state, Some(ConnectorState::Healthy));
        assert_eq!(r.transition_log.len(), 5);
        assert!(r.anomalies.is_empty());
        let r = reduce(
            "c",
            &[
                ev(CONNECTOR_PROVISIONED, "1", json!({})),
                ev(CONNECTOR_REVOKED, "2", json!({})),
                ev(CONNECTOR_RECONNECTED, "3", json!({})),
            ],
        );
        assert_eq!(r.current_state, Some(ConnectorState::Reconnected));
    }

    #[test]
    fn records_anomalies_without_failing_and_is_order_independent() {
        let mut events = vec![
            ev(CONNECTOR_PROVISIONED, "1", json!({})),
            ev(CONNECTOR_RECONNECTED, "2", json!({})), // provisioned -> reconnected is not allowed
            ev(SYNC_INGEST_ACCEPTED, "3", json!({"ingested_count": 2})),
            ev("SomethingElse", "4", json!({})),
            ev(CONNECTOR_HEALTH_CHECKED, "5", json!({"health_status": 7})),
        ];
        events.push(events[2].clone()); // the same delivery twice
        let forward = reduce("c", &events);
        events.reverse();
        assert_eq!(reduce("c", &events), forward);
        assert_eq!(forward.current_state, Some(ConnectorState::Provisioned));
        assert_eq!(forward.sync.accepted, 1);
        let reasons: Vec<&str> = forward.anomalies.iter().map(|a| a.reason.as_str()).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.starts_with("invalid transition Some(Provisioned) -> Reconnected")));
        assert!(reasons.iter().any(|r| r.starts_with("duplicate delivery")));
        assert!(reasons.iter().any(|r| r.starts_with("unknown event type `SomethingElse`")));
        assert!(reasons.iter().any(|r| r.starts_with("malformed payload")));
        assert_eq!(reduce("c", &[]), Reduced { connector: "c".into(), ..Reduced::default() });
    }

    /// Every sequence of up to five run endings, under every trigger, folds
    /// without an anomaly, and ends where the last run left it.
    #[test]
    fn events_after_any_sequence_of_runs_fold_without_anomalies() {
        let ends = [
            RunEnd::Healthy { latency_ms: 1.0 },
            RunEnd::Refused { reason: "auth: 401" },
            RunEnd::Failed { reason: "api error 500", last_healthy_at: None },
        ];
        let mut sequences: Vec<Vec<usize>> = vec![vec![]];
        for _ in 0..5 {
            let longer: Vec<Vec<usize>> = sequences
                .iter()
                .filter(|s| s.len() == sequences.last().unwrap().len())
                .flat_map(|s| (0..ends.len()).map(move |e| [s.clone(), vec![e]].concat()))
                .collect();
            sequences.extend(longer);
        }
        assert_eq!(sequences.len(), 1 + 3 + 9 + 27 + 81 + 243);
        for trigger in [Trigger::Manual, Trigger::Scheduled, Trigger::Backoff] {
            for runs in &sequences {
                // Every event in one millisecond: only the store's order tells them apart.
                let mut events = vec![Event::new(CONNECTOR_PROVISIONED, "c", "p".into(), "t", json!({}))];
                for (i, &end) in runs.iter().enumerate() {
                    let current = reduce("c", &events).current_state;
                    for (j, kind) in after_run(current, ends[end], trigger).into_iter().enumerate() {
                        let mut e = kind.event("c", format!("run{i}-{j}"), "t");
                        e.seq = Some(events.len() as i64);
                        events.push(e);
                    }
                }
                let r = reduce("c", &events);
                assert!(r.anomalies.is_empty(), "{runs:?} {trigger:?}: {:?}", r.anomalies);
                let expected = match runs.last() {
                    None => ConnectorState::Provisioned,
                    Some(0) => ConnectorState::Healthy,
                    Some(1) => ConnectorState::Revoked,
                    // A failure leaves a revoked connector revoked.
                    Some(_) if runs.iter().rev().find(|&&e| e != 2) == Some(&1) => ConnectorState::Revoked,
                    Some(_) => ConnectorState::Degraded,
                };
                assert_eq!(r.current_state, Some(expected), "{runs:?}");
            }
        }
    }

    #[test]
    fn a_comeback_is_a_reconnection_with_the_trigger_as_its_strategy() {
        // Each event as its type and payload.
        let after_run = |current, end, trigger| -> Vec<(String, Value)> {
            let events =
                after_run(current, end, trigger).iter().map(|k| k.event("c", "d".into(), "t")).collect::<Vec<_>>();
            events.into_iter().map(|e| (e.event_type, e.payload)).collect()
        };
        let back = after_run(Some(ConnectorState::Revoked), RunEnd::Healthy { latency_ms: 5.0 }, Trigger::Backoff);
        assert_eq!(
            back[0],
            (CONNECTOR_RECONNECTED.to_string(), json!({"previous_state": "revoked", "reconnect_strategy": "backoff"}))
        );
        assert_eq!(back[1].0, CONNECTOR_HEALTH_CHECKED);
        let again = after_run(Some(ConnectorState::Healthy), RunEnd::Healthy { latency_ms: 5.0 }, Trigger::Scheduled);
        assert_eq!(again.len(), 1, "a healthy connector found healthy only records the check");
        let revoked =
            after_run(Some(ConnectorState::Healthy), RunEnd::Refused { reason: "auth: 401" }, Trigger::Manual);
        assert_eq!(revoked, vec![(CONNECTOR_REVOKED.to_string(), json!({"revocation_reason": "auth: 401"}))]);
    }
}
