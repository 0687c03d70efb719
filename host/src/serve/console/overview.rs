//! The overview (`/`): every connector in one table, problems first.
//!
//! A row holds what the daemon knows in memory (live version, status, breakers,
//! pending version, lease) and two things from the store: the lifecycle state,
//! reduced from the connector's events, and the last run when the daemon has not
//! run it since it started. Those reads are made for the rows shown only, at most
//! [`MAX_ROWS`], so a daemon of 10,000 connectors answers with a page of a known
//! size; the table says how many are left out. Sorting is a link per column
//! (`?sort=`), so it works with JavaScript off.

use std::cmp::Ordering;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::view::{self, RunView};
use super::{Console, Frame, Shared, gate, html};
use crate::lifecycle::{self, ConnectorState};
use crate::resilience::breaker::BreakerState;
use crate::serve::slot::Slot;

/// The most connectors one overview shows.
pub const MAX_ROWS: usize = 500;

/// The most bytes of a message a row quotes (the connector's page has it whole).
const PROBLEM: usize = 200;

/// One connector's row.
#[derive(Clone, Debug)]
pub struct Row {
    /// Its name.
    pub name: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Whether a run is going on.
    pub running: bool,
    /// Its lifecycle state.
    pub state: String,
    /// The state's CSS class.
    pub state_class: &'static str,
    /// Its last run.
    pub last: Option<RunView>,
    /// When the next run is due.
    pub next_run: String,
    /// The run breaker's state (or an HTTP breaker's, when one is not closed).
    pub breaker: String,
    /// The live version's digest.
    pub digest: Option<String>,
    /// Its first characters.
    pub digest_short: String,
    /// The WIT package it was built against.
    pub wit: String,
    /// The host that runs it.
    pub owner: String,
    /// What is wrong, if anything.
    pub problem: Option<String>,
    /// How bad (0 worst), for the problems-first order.
    rank: u8,
    finished: String,
    next: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    frame: Frame,
    rows: Vec<Row>,
    total: usize,
    shown: usize,
    problems: usize,
    running: usize,
    host: Option<String>,
    sort: String,
    sort_label: String,
    columns: Vec<(&'static str, &'static str, &'static str)>,
    config_errors: Vec<(String, String)>,
}

/// The columns: sort key, heading, and the `aria-sort` a sort by it means.
const COLUMNS: [(&str, &str, &str); 8] = [
    ("name", "Connector", "ascending"),
    ("state", "State", "other"),
    ("last_run", "Last run", "descending"),
    ("next_run", "Next run", "ascending"),
    ("breaker", "Breaker", "other"),
    ("version", "Version", "ascending"),
    ("owner", "Owner", "ascending"),
    ("problems", "Problem", "other"),
];

/// The lifecycle state as the pages show it, with its CSS class.
pub fn state_label(state: Option<ConnectorState>) -> (&'static str, &'static str) {
    match state {
        None => ("new", "muted"),
        Some(ConnectorState::Provisioned) => ("provisioned", "info"),
        Some(ConnectorState::Healthy) => ("healthy", "ok"),
        Some(ConnectorState::Degraded) => ("degraded", "bad"),
        Some(ConnectorState::Revoked) => ("revoked", "bad"),
        Some(ConnectorState::Reconnected) => ("reconnected", "ok"),
    }
}

/// Who runs `slot`: on a shared store the lease's owner, else this host.
pub fn owner(console: &Console, lease: Option<&crate::store::leases::LeaseRow>) -> String {
    match (&console.daemon.cluster, lease) {
        (None, _) => "this host".into(),
        (Some(me), Some(l)) => match &l.owner {
            Some(o) if *o == me.host_id => format!("{o} (this host)"),
            Some(o) if l.expired => format!("{} (expired)", view::shown(o)),
            Some(o) => view::shown(o),
            None => "none (released)".into(),
        },
        (Some(_), None) => "none yet".into(),
    }
}

/// The worst of `slot`'s breakers: the run breaker, or an HTTP one not closed.
pub fn breaker(slot: &Slot) -> BreakerState {
    let run = slot.breaker_state();
    if run != BreakerState::Closed {
        return run;
    }
    let http = slot.http_breakers();
    if http.iter().any(|(_, s)| *s == BreakerState::Open) {
        BreakerState::Open
    } else if http.iter().any(|(_, s)| *s == BreakerState::HalfOpen) {
        BreakerState::HalfOpen
    } else {
        BreakerState::Closed
    }
}

fn row(console: &Console, slot: &Slot, lease: Option<&crate::store::leases::LeaseRow>) -> Row {
    let status = slot.status();
    let entry = slot.entry();
    let live = slot.live();
    let last = status.last_run.as_ref().map(|r| RunView::of_report(r, None));
    let breaker = breaker(slot);
    let mut problems: Vec<(u8, String)> = Vec::new();
    if live.is_none() {
        problems.push((0, "no working version is loaded".into()));
    }
    if let Some(l) = last.as_ref().filter(|l| l.failed()) {
        problems.push((1, format!("last run failed: {}", crate::untrusted::capped(&l.error_message, PROBLEM))));
    }
    if breaker != BreakerState::Closed {
        problems.push((1, format!("circuit breaker {breaker}")));
    }
    if let Some(e) = &status.reload_error {
        problems.push((2, format!("reload refused: {}", crate::untrusted::capped(e, PROBLEM))));
    }
    if slot.pending().is_some() {
        problems.push((3, "a new version awaits approval".into()));
    }
    let rank = problems.iter().map(|(r, _)| *r).min().unwrap_or(9);
    let problem = (!problems.is_empty()).then(|| problems.into_iter().map(|(_, p)| p).collect::<Vec<_>>().join("; "));
    let next = status.next_run_at.clone().unwrap_or_default();
    Row {
        name: slot.name.clone(),
        enabled: entry.enabled,
        running: status.running,
        state: "…".into(),
        state_class: "muted",
        finished: last.as_ref().map(|l| l.finished_at.clone()).unwrap_or_default(),
        last,
        next_run: next_run(&status.next_run_at, entry.enabled, status.running),
        breaker: breaker.to_string(),
        digest: live.as_ref().map(|v| v.component.digest.clone()),
        digest_short: live.as_ref().map(|v| view::short_digest(&v.component.digest)).unwrap_or_default(),
        wit: live.as_ref().map(|v| v.component.package().to_string()).unwrap_or_default(),
        owner: owner(console, lease),
        problem,
        rank,
        next,
    }
}

/// When the next run is, as a cell shows it.
pub fn next_run(at: &Option<String>, enabled: bool, running: bool) -> String {
    match at {
        _ if running => "running now".into(),
        _ if !enabled => "disabled".into(),
        Some(at) => match view::relative(at) {
            Some(r) => format!("{r} ({})", view::time(at)),
            None => view::time(at),
        },
        None => "not scheduled".into(),
    }
}

fn order(sort: &str, a: &Row, b: &Row) -> Ordering {
    let by_name = a.name.cmp(&b.name);
    match sort {
        "name" => by_name,
        "state" => a.state.cmp(&b.state).then(by_name),
        "last_run" => b.finished.cmp(&a.finished).then(by_name),
        "next_run" => (a.next.is_empty(), &a.next).cmp(&(b.next.is_empty(), &b.next)).then(by_name),
        "breaker" => b.breaker.cmp(&a.breaker).then(by_name),
        "version" => a.digest.cmp(&b.digest).then(by_name),
        "owner" => a.owner.cmp(&b.owner).then(by_name),
        _ => a.rank.cmp(&b.rank).then(by_name),
    }
}

/// `GET /`.
pub async fn page(State(console): Shared, headers: HeaderMap, uri: Uri) -> Response {
    let caller = match gate(&console, &headers, &uri) {
        Ok(c) => c,
        Err(refused) => return *refused,
    };
    let sort = super::query_param(&uri, "sort")
        .filter(|s| COLUMNS.iter().any(|c| c.0 == s))
        .unwrap_or_else(|| "problems".into());
    let page = overview(&console, &sort).await;
    let mut frame = Frame::new(&console, &caller, "Connectors", "overview");
    if page.shown > super::BIG {
        frame.refresh = super::REFRESH_BIG_S;
    }
    frame.notice = console.notice(super::query_param(&uri, "notice").as_deref());
    html(StatusCode::OK, &Overview { frame, ..page })
}

async fn overview(console: &Arc<Console>, sort: &str) -> Overview {
    let daemon = &console.daemon;
    let leases = crate::serve::api::leases(daemon).await;
    let slots = daemon.all();
    let mut rows: Vec<Row> = slots.iter().map(|s| row(console, s, leases.get(&s.name))).collect();
    rows.sort_by(|a, b| order("problems", a, b));
    let total = rows.len();
    rows.truncate(MAX_ROWS);
    for r in &mut rows {
        let events = daemon.store.connector_events(&r.name).await.unwrap_or_default();
        let reduced = lifecycle::reduce(&r.name, &events);
        let (state, class) = state_label(reduced.current_state);
        (r.state, r.state_class) = (state.into(), class);
        if matches!(reduced.current_state, Some(ConnectorState::Degraded | ConnectorState::Revoked)) && r.rank > 2 {
            r.rank = 2;
            r.problem.get_or_insert_with(|| format!("the connector is {state}"));
        }
        // Not run since the daemon started: the store has its last run.
        if r.last.is_none()
            && let Ok(kept) = daemon.store.recent_runs(&r.name, 1).await
            && let Some(k) = kept.first()
        {
            let last = RunView::of_kept(k);
            if last.failed() && r.rank > 1 {
                r.rank = 1;
                r.problem =
                    Some(format!("last run failed: {}", crate::untrusted::capped(&last.error_message, PROBLEM)));
            }
            r.finished = last.finished_at.clone();
            r.last = Some(last);
        }
    }
    rows.sort_by(|a, b| order(sort, a, b));
    let config_errors = daemon.config_errors.read().unwrap_or_else(|e| e.into_inner()).clone();
    Overview {
        frame: Frame::new(console, &super::session::Caller::Open, "", ""),
        total,
        shown: rows.len(),
        problems: rows.iter().filter(|r| r.problem.is_some()).count(),
        running: rows.iter().filter(|r| r.running).count(),
        host: daemon.cluster.as_ref().map(|me| me.host_id.clone()),
        sort_label: COLUMNS.iter().find(|c| c.0 == sort).map(|c| c.1.to_lowercase()).unwrap_or_default(),
        sort: sort.to_string(),
        columns: COLUMNS.to_vec(),
        config_errors: config_errors.into_iter().map(|(w, e)| (view::shown(&w), view::shown(&e))).collect(),
        rows,
    }
}
