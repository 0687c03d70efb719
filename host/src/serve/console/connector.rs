//! A connector's page (`/console/connectors/{name}`): what it is and how it is
//! doing, its last [`RUNS`] runs with their reports, why the last run failed (the
//! error, and the failing request with the start of the upstream's answer, as the
//! run report kept them), charts of records and duration per run, its dead letters
//! with a replay button each, its cursor with a reset form, and its lifecycle
//! transitions as a timeline.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::chart::{self, Chart};
use super::overview::{breaker, next_run, owner, state_label};
use super::view::{self, RunView};
use super::{Frame, Shared, gate, html, message};
use crate::lifecycle::{self, ConnectorState};
use crate::serve::slot::PendingView;

/// How many runs the page shows.
pub const RUNS: u32 = 20;

/// How many dead letters it shows.
pub const LETTERS: u32 = 50;

/// How many lifecycle transitions it shows (the newest).
pub const TRANSITIONS: usize = 50;

/// What the page says of the connector itself.
#[derive(Clone, Debug)]
pub struct Facts {
    /// Its name.
    pub name: String,
    /// Its lifecycle state, and the state's CSS class.
    pub state: String,
    /// The class.
    pub state_class: &'static str,
    /// Whether a run is going on.
    pub running: bool,
    /// The live version's digest.
    pub digest: Option<String>,
    /// Its WIT package.
    pub wit: String,
    /// Its source (the manifest's, and what `source-name` answered).
    pub source: String,
    /// Its component file.
    pub component: String,
    /// Its poll interval.
    pub interval: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// When the next run is due.
    pub next_run: String,
    /// Who runs it.
    pub owner: String,
    /// Its worst breaker.
    pub breaker: String,
    /// Failed runs in a row.
    pub failures: u32,
    /// Each upstream's breaker.
    pub http_breakers: Vec<(String, String)>,
    /// Why the last reload was refused.
    pub reload_error: Option<String>,
    /// The version awaiting approval.
    pub pending: Option<PendingView>,
}

/// A dead letter as the page lists it.
#[derive(Clone, Debug)]
pub struct Letter {
    /// Its id.
    pub id: i64,
    /// The draft's record id.
    pub record_id: String,
    /// Why it was refused.
    pub reason: String,
    /// When.
    pub created_at: String,
    /// When a replay sealed it.
    pub replayed_at: Option<String>,
}

/// A lifecycle transition.
#[derive(Clone, Debug)]
pub struct Transition {
    /// When.
    pub at: String,
    /// From which state.
    pub from: Option<String>,
    /// To which.
    pub to: String,
    /// The new state's CSS class.
    pub class: &'static str,
    /// Why, as its event says.
    pub reason: String,
}

#[derive(Template)]
#[template(path = "connector.html")]
struct ConnectorPage {
    frame: Frame,
    c: Facts,
    failed: Option<RunView>,
    runs: Vec<RunView>,
    records: Chart,
    durations: Chart,
    letters: Vec<Letter>,
    pending_letters: u64,
    cursor: Option<(Option<String>, String)>,
    timeline: Vec<Transition>,
    timeline_cut: usize,
}

/// `GET /console/connectors/{name}`.
pub async fn page(State(console): Shared, Path(name): Path<String>, headers: HeaderMap, uri: Uri) -> Response {
    let caller = match gate(&console, &headers, &uri) {
        Ok(c) => c,
        Err(refused) => return *refused,
    };
    let daemon = &console.daemon;
    let Some(slot) = daemon.slot(&name) else {
        return message(
            &console,
            &caller,
            StatusCode::NOT_FOUND,
            "No such connector",
            format!("No connector is named `{}`.", view::shown(&name)),
        );
    };
    let store = &daemon.store;
    let events = store.connector_events(&name).await.unwrap_or_default();
    let reduced = lifecycle::reduce(&name, &events);
    let (state, state_class) = state_label(reduced.current_state);
    let status = slot.status();
    let entry = slot.entry();
    let live = slot.live();
    let leases = crate::serve::api::leases(daemon).await;
    let c = Facts {
        name: name.clone(),
        state: state.into(),
        state_class,
        running: status.running,
        digest: live.as_ref().map(|v| v.component.digest.clone()),
        wit: live.as_ref().map(|v| v.component.package().to_string()).unwrap_or_default(),
        source: live
            .as_ref()
            .map(|v| match &v.source_name {
                Some(said) if said != &v.manifest.source => {
                    format!("{} (the connector says `{}`)", view::shown(&v.manifest.source), view::shown(said))
                }
                // An evidence connector says no name: the manifest's is all there is.
                _ => view::shown(&v.manifest.source),
            })
            .unwrap_or_default(),
        component: entry.component.display().to_string(),
        interval: view::duration(entry.poll_interval.as_millis() as f64),
        enabled: entry.enabled,
        next_run: next_run(&status.next_run_at, entry.enabled, status.running),
        owner: owner(&console, leases.get(&name)),
        breaker: breaker(&slot).to_string(),
        failures: status.consecutive_failures,
        http_breakers: slot.http_breakers().into_iter().map(|(u, s)| (view::shown(&u), s.to_string())).collect(),
        reload_error: status.reload_error.as_deref().map(view::shown),
        pending: slot.pending(),
    };
    let runs: Vec<RunView> = match store.recent_runs(&name, RUNS).await {
        Ok(kept) => kept.iter().map(RunView::of_kept).collect(),
        Err(e) => {
            tracing::warn!(connector = %name, "the console cannot read the runs: {e}");
            status.last_run.iter().map(|r| RunView::of_report(r, None)).collect()
        }
    };
    // The last run that ended, if it failed.
    let failed = runs.iter().find(|r| r.outcome != "running").filter(|r| r.failed()).cloned();
    let (letters, pending_letters) = store.connector_dead_letters(&name, LETTERS).await.unwrap_or_default();
    let letters = letters
        .into_iter()
        .map(|l| Letter {
            id: l.id,
            record_id: crate::untrusted::capped(&l.record_id, 300),
            reason: view::shown(&l.reason),
            created_at: view::time(&l.created_at),
            replayed_at: l.replayed_at.as_deref().map(view::time),
        })
        .collect();
    let cursor = store
        .stored_cursor(&name)
        .await
        .ok()
        .flatten()
        .map(|c| (c.cursor.as_deref().map(|v| crate::untrusted::capped(v, 2048)), view::time(&c.updated_at)));
    let (timeline, timeline_cut) = timeline(&reduced, &events);
    let mut frame = Frame::new(&console, &caller, format!("Connector {name}"), "overview");
    frame.notice = console.notice(super::query_param(&uri, "notice").as_deref());
    let page = ConnectorPage {
        frame,
        c,
        failed,
        records: chart::records(&runs),
        durations: chart::durations(&runs),
        runs,
        letters,
        pending_letters,
        cursor,
        timeline,
        timeline_cut,
    };
    html(StatusCode::OK, &page)
}

/// The transitions, newest first, each with the reason its event gives, and how
/// many older ones are left out.
fn timeline(reduced: &lifecycle::Reduced, events: &[lifecycle::Event]) -> (Vec<Transition>, usize) {
    let name = |s: ConnectorState| state_label(Some(s)).0.to_string();
    let event_type = |s: ConnectorState| match s {
        ConnectorState::Provisioned => lifecycle::CONNECTOR_PROVISIONED,
        ConnectorState::Healthy => lifecycle::CONNECTOR_HEALTH_CHECKED,
        ConnectorState::Degraded => lifecycle::CONNECTOR_DEGRADED,
        ConnectorState::Revoked => lifecycle::CONNECTOR_REVOKED,
        ConnectorState::Reconnected => lifecycle::CONNECTOR_RECONNECTED,
    };
    let all = &reduced.transition_log;
    let cut = all.len().saturating_sub(TRANSITIONS);
    let shown = all[cut..]
        .iter()
        .rev()
        .map(|(at, from, to)| {
            let event = events.iter().find(|e| e.recorded_at == *at && e.event_type == event_type(*to));
            let p = event.map(|e| &e.payload);
            let reason = p
                .and_then(|p| {
                    p["degradation_reason"]
                        .as_str()
                        .or(p["revocation_reason"].as_str())
                        .map(str::to_string)
                        .or_else(|| p["reconnect_strategy"].as_str().map(|s| format!("reconnected ({s})")))
                        .or_else(|| p["latency_ms"].as_f64().map(|ms| format!("a run took {}", view::duration(ms))))
                })
                .unwrap_or_default();
            Transition {
                at: view::time(at),
                from: from.map(name),
                to: name(*to),
                class: state_label(Some(*to)).1,
                reason: crate::untrusted::capped(&reason, 600),
            }
        })
        .collect();
    (shown, cut)
}
