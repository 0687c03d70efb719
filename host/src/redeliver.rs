//! Dead-letter redelivery (`host replay`, `host dead-letters replay`): seals dead
//! letters again (after the schema, the host or the connector was fixed) and
//! publishes those that now pass. (Not the HTTP `--replay` of a recording, which is
//! `egress::recording`.)

use std::collections::BTreeMap;

use crate::envelope::seal::draft_from_json;
use crate::envelope::{ConnectorStamp, Sealer};
use crate::lifecycle::{Event, EventKind};
use crate::store::{PageCommit, SealedRecord, Store, StoreError};
use crate::timestamp;

/// What a replay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Replay {
    /// Dead letters tried.
    pub tried: u64,
    /// Sealed and published now.
    pub replayed: u64,
    /// Still refused (their reason is updated).
    pub still_refused: u64,
}

/// Replays every pending dead letter (of `connector` only, when given).
pub async fn redeliver(store: &Store, connector: Option<&str>) -> Result<Replay, StoreError> {
    redeliver_where(store, |letter| connector.is_none_or(|c| c == letter.connector)).await
}

/// Replays dead letter `id` of `connector`, if it awaits a replay (the console's
/// replay button); `tried` is 0 when it does not.
pub async fn redeliver_one(store: &Store, connector: &str, id: i64) -> Result<Replay, StoreError> {
    redeliver_where(store, |letter| letter.connector == connector && letter.id == id).await
}

/// Replays the pending dead letters `wanted` picks.
async fn redeliver_where(
    store: &Store,
    wanted: impl Fn(&crate::store::DeadLetterRow) -> bool,
) -> Result<Replay, StoreError> {
    let mut outcome = Replay::default();
    let mut per_connector: BTreeMap<String, u64> = BTreeMap::new();
    let now = timestamp::now();
    let state = BTreeMap::new();
    for letter in store.dead_letters(true).await? {
        if !wanted(&letter) {
            continue;
        }
        outcome.tried += 1;
        let replayed = per_connector.entry(letter.connector.clone()).or_default();
        let stamp = ConnectorStamp {
            name: letter.connector.clone(),
            digest: letter.connector_digest.clone(),
            package: letter.package.clone(),
        };
        let mut sealer = Sealer::new(&letter.source, &stamp);
        sealer.set_collected_at(now.clone());
        let mut buf = Vec::new();
        let sealed = draft_from_json(&letter.draft)
            .and_then(|draft| sealer.seal_into(&draft, &mut buf).map(|hash| (draft, hash)).map_err(|r| r.reason));
        match sealed {
            Ok((draft, hash)) => {
                let commit = PageCommit {
                    connector: &letter.connector,
                    source: &letter.source,
                    digest: &letter.connector_digest,
                    package: &letter.package,
                    records: vec![SealedRecord {
                        record_id: &draft.record_id,
                        raw_sha256: std::str::from_utf8(&hash).expect("hex is ASCII"),
                        envelope: &buf[..buf.len() - 1],
                    }],
                    dead_letters: Vec::new(),
                    cursor: None,
                    save_cursor: false,
                    delivery_id: format!("replay:{}:{}", letter.id, now),
                    state: &state,
                    now: &now,
                    fence: None,
                };
                store.commit_page(commit).await?;
                store.mark_replayed(letter.id, &now).await?;
                outcome.replayed += 1;
                *replayed += 1;
            }
            Err(reason) => {
                store.update_reason(letter.id, &reason).await?;
                outcome.still_refused += 1;
            }
        }
    }
    let events: Vec<Event> = per_connector
        .into_iter()
        .map(|(connector, replayed)| {
            let replay_id = format!("replay:{connector}:{now}");
            let completed = EventKind::SyncReplayCompleted {
                replay_id: replay_id.clone(),
                replayed_count: replayed,
                replay_source: "dead_letters",
            };
            completed.event(&connector, replay_id, &now)
        })
        .collect();
    store.record_events(&events).await?;
    Ok(outcome)
}
