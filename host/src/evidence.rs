//! Evidence connectors (seed 002): `search` and `fetch` through the sandbox, each
//! result checked, scored and sealed like a record, answers cached per connector,
//! and results linked to the claims they ground ([`crate::store`]'s provenance).
//!
//! `host search`, `host fetch` and `host serve`'s evidence endpoints all come here.
//! Every call starts a fresh sandbox, as a run does, under the connector's manifest
//! and egress (so its breaker, rate limit and recording apply); an answer the cache
//! holds is served without one. What the connector returned is hostile until
//! [`seal`] has checked it.

pub mod cache;
pub mod score;
pub mod seal;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use cache::{Answer, Cache, Key};
use seal::SealedEvidence;

use crate::contract::Evidence;
use crate::egress::Egress;
use crate::envelope::{ConnectorStamp, Rejection, Sealer};
use crate::manifest::Manifest;
use crate::runtime::component::LoadedComponent;
use crate::runtime::engine::Engine;
use crate::runtime::guest_error::GuestError;
use crate::runtime::sandbox::{Sandbox, StartError};
use crate::untrusted::Shown;

/// The longest query the host passes to a connector, in bytes.
pub const MAX_QUERY: usize = 1024;
/// The longest evidence id the host passes to a connector, in bytes.
pub const MAX_ID: usize = 1024;
/// The most items one search may ask for.
pub const MAX_LIMIT: u32 = 100;
/// How many items a search asks for when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 10;

/// What is asked of an evidence connector.
#[derive(Clone, Copy, Debug)]
pub enum Call<'a> {
    /// `search(query, limit)`.
    Search {
        /// The query.
        query: &'a str,
        /// The most items wanted.
        limit: u32,
    },
    /// `fetch(id)`.
    Fetch {
        /// The evidence's id.
        id: &'a str,
    },
}

impl Call<'_> {
    /// The call's name, as the WIT names it.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Search { .. } => "search",
            Call::Fetch { .. } => "fetch",
        }
    }
}

/// What a call gave.
#[derive(Debug)]
pub struct Answered {
    /// The sealed results, best first (`fetch`: none or one).
    pub results: Vec<SealedEvidence>,
    /// The items the host refused, with why.
    pub rejected: Vec<Rejection>,
    /// Whether the answer came from the cache (the connector was not called).
    pub cached: bool,
}

/// Why a call gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The call itself is wrong (an empty query, a limit out of range).
    #[error("{0}")]
    BadCall(String),
    /// The sandbox could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The guest failed, or broke the contract.
    #[error(transparent)]
    Guest(#[from] GuestError),
}

/// What a call runs with: one connector's component, manifest, egress and cache.
pub struct Connector<'a> {
    /// The engine.
    pub engine: &'a Engine,
    /// The component; it must export `evidence`.
    pub component: &'a LoadedComponent,
    /// Its manifest.
    pub manifest: &'a Manifest,
    /// Its egress (shared with its runs in `host serve`).
    pub egress: Arc<Egress>,
    /// Its cache.
    pub cache: &'a Cache,
}

/// Checks a call before it reaches the connector; `max_limit` is the manifest's
/// `limits.max_records_per_page`.
pub fn check_call(call: Call<'_>, max_limit: u32) -> Result<(), EvidenceError> {
    let bad = |m: String| Err(EvidenceError::BadCall(m));
    match call {
        Call::Search { query, .. } if query.trim().is_empty() => bad("the query is empty".into()),
        Call::Search { query, .. } if query.len() > MAX_QUERY => {
            bad(format!("the query is {} bytes, more than {MAX_QUERY}", query.len()))
        }
        Call::Search { limit, .. } if limit == 0 || limit > MAX_LIMIT.min(max_limit) => bad(format!(
            "the limit is {limit}; it must be from 1 to {} (at most {MAX_LIMIT}, and at most the manifest's \
             limits.max_records_per_page)",
            MAX_LIMIT.min(max_limit)
        )),
        Call::Fetch { id: "" } => bad("the evidence id is empty".into()),
        Call::Fetch { id } if id.len() > MAX_ID => {
            bad(format!("the evidence id is {} bytes, more than {MAX_ID}", id.len()))
        }
        _ => Ok(()),
    }
}

/// Answers `call`: from the cache when it holds the answer, else from a fresh
/// sandbox; then checks, scores and seals every item.
pub async fn answer(connector: &Connector<'_>, call: Call<'_>) -> Result<Answered, EvidenceError> {
    let Connector { engine, component, manifest, cache, .. } = connector;
    check_call(call, manifest.limits.max_records_per_page)?;
    let digest = component.digest.clone();
    let key = match call {
        Call::Search { query, limit } => Key::Search { digest, query: query.to_string(), limit },
        Call::Fetch { id } => Key::Fetch { digest, id: id.to_string() },
    };
    let (answer, cached) = match cache.get(&key, Instant::now()) {
        Some(answer) => (answer, true),
        None => {
            let mut sandbox = Sandbox::start(engine, component, manifest, connector.egress.clone()).await?;
            let answer = match call {
                Call::Search { query, limit } => Answer::Search(sandbox.search(query, limit).await?),
                Call::Fetch { id } => {
                    let found = sandbox.fetch(id).await?;
                    if let Some(e) = &found
                        && e.id != id
                    {
                        return Err(EvidenceError::Guest(GuestError::Contract {
                            connector: manifest.name.clone(),
                            call: "fetch",
                            detail: format!(
                                "asked for `{}`, it returned the evidence `{}`; a fetch gives the evidence asked for",
                                Shown::id(id),
                                Shown::id(&e.id)
                            ),
                        }));
                    }
                    Answer::Fetch(found)
                }
            };
            drop(sandbox);
            cache.put(key, answer.clone(), Instant::now());
            (answer, false)
        }
    };
    let items: Vec<Evidence> = match answer {
        Answer::Search(items) => items,
        Answer::Fetch(item) => item.into_iter().collect(),
    };
    let stamp = ConnectorStamp {
        name: manifest.name.clone(),
        digest: component.digest.clone(),
        package: component.package().to_string(),
    };
    let max_bytes = manifest.limits.max_record_bytes;
    let sealer = Sealer::new(&manifest.source, &stamp).with_max_record_bytes(max_bytes);
    let half_life = score::half_life(manifest.evidence.freshness_half_life_days);
    let now = time::OffsetDateTime::from(SystemTime::now());
    // Sealing parses what the guest sent: off the async workers.
    let sealed = tokio::task::spawn_blocking(move || {
        let mut sealer = sealer;
        seal::seal_ranked(&mut sealer, items, now, half_life, max_bytes)
    })
    .await;
    let (results, rejected) = sealed.map_err(|e| {
        EvidenceError::Guest(GuestError::Contract {
            connector: manifest.name.clone(),
            call: call.name(),
            detail: format!("its answer could not be sealed: {e}"),
        })
    })?;
    Ok(Answered { results, rejected, cached })
}

/// What one call did: `host search --report`, `host fetch --report`, and the body of
/// `host serve`'s evidence endpoints (with the envelopes beside it).
/// `schemas/evidence_report.schema.json` describes it.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// The connector's name.
    pub connector: String,
    /// `search` or `fetch`.
    pub call: &'static str,
    /// The query (`search`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The most items asked for (`search`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The id asked for (`fetch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The results, best first, without their envelopes.
    pub results: Vec<SealedEvidence>,
    /// The items the host refused, with why.
    pub rejected: Vec<Rejection>,
    /// The cache.
    pub cache: CacheReport,
    /// The claim the results were linked to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// How many links were new (the rest existed already).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linked: Option<u64>,
    /// How long the call took, in milliseconds.
    pub duration_ms: u64,
}

/// The cache's part of a [`Report`].
#[derive(Debug, serde::Serialize)]
pub struct CacheReport {
    /// Whether this answer came from the cache.
    pub hit: bool,
    /// The connector's cache counts so far.
    #[serde(flatten)]
    pub stats: cache::CacheStats,
}

impl Report {
    /// The report of `answered`, a call of `call` on `connector` that took `took`.
    pub fn new(
        connector: &str,
        call: Call<'_>,
        answered: &Answered,
        cache: &Cache,
        took: std::time::Duration,
    ) -> Report {
        let (query, limit, id) = match call {
            Call::Search { query, limit } => (Some(query.to_string()), Some(limit), None),
            Call::Fetch { id } => (None, None, Some(id.to_string())),
        };
        Report {
            connector: connector.to_string(),
            call: call.name(),
            query,
            limit,
            id,
            // The summaries only: the envelopes stay with the answer, not copied.
            results: answered.results.iter().map(SealedEvidence::summary).collect(),
            rejected: answered.rejected.clone(),
            cache: CacheReport { hit: answered.cached, stats: cache.stats() },
            claim: None,
            linked: None,
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// One line for a terminal: what was asked and what came back.
    pub fn summary(&self) -> String {
        let asked = match (&self.query, &self.id) {
            (Some(q), _) => format!("search `{}`", Shown::id(q)),
            (_, Some(id)) => format!("fetch `{}`", Shown::id(id)),
            _ => self.call.to_string(),
        };
        let mut line = format!(
            "{}: {asked}: {} result{}",
            Shown::id(&self.connector),
            self.results.len(),
            if self.results.len() == 1 { "" } else { "s" }
        );
        if !self.rejected.is_empty() {
            line.push_str(&format!(", {} refused", self.rejected.len()));
        }
        line.push_str(if self.cache.hit { " (from the cache)" } else { "" });
        if let (Some(claim), Some(linked)) = (&self.claim, self.linked) {
            line.push_str(&format!(", {linked} newly linked to claim `{}`", Shown::id(claim)));
        }
        line.push_str(&format!(" in {} ms", self.duration_ms));
        line
    }
}

/// The links of `results` to `claim`, found by `connector` for `source`, as of `at`.
pub fn links(
    claim: &str,
    connector: &str,
    source: &str,
    results: &[SealedEvidence],
    at: &str,
) -> Vec<crate::store::provenance::Link> {
    results
        .iter()
        .map(|r| crate::store::provenance::Link {
            claim_id: claim.to_string(),
            source: source.to_string(),
            record_id: r.record_id.clone(),
            raw_sha256: r.raw_sha256.clone(),
            connector: connector.to_string(),
            uri: r.uri.clone(),
            title: r.title.clone(),
            score: r.reliability.score,
            linked_at: at.to_string(),
        })
        .collect()
}
