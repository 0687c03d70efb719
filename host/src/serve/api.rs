//! The admin API of `host serve` (axum).
//!
//! | Route | What |
//! |---|---|
//! | `GET /health` | the process is up |
//! | `GET /health/connectors` | per connector: healthy if its last success is within its window (503 if any is not) |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /connectors` | every connector, with its live version and status |
//! | `GET /connectors/{name}` | one connector |
//! | `POST /connectors/{name}/run` | run it now; answers with the run report (409 if a run is going on, 503 if every run slot is taken) |
//! | `POST /connectors/{name}/reload` | reload its files; 422 with why if the new version is refused |
//! | `GET /connectors/{name}/records/{id}` | `get-record` through the sandbox, sealed (503 past `serve.max_parallel_lookups` at once) |
//! | `GET /connectors/{name}/search?q=…&limit=…` | an evidence connector's `search`, sealed and scored ([`super::evidence`]) |
//! | `GET /connectors/{name}/evidence/{id}` | an evidence connector's `fetch`, sealed |
//! | `GET /connectors/{name}/cursor` | its stored cursor: `{"connector", "stored", "cursor", "updated_at"}` |
//! | `POST /connectors/{name}/cursor/reset` | clears it, or sets it to the body's `{"to": CURSOR}`; answers what it replaced (409 while a run is going on) |
//!
//! A request beyond a bound is answered at once with 503, `Retry-After` and a JSON
//! error saying which bound, never queued: a queue of lookups, each holding a
//! sandbox, is what let 24 of them take the daemon from 40 MiB to 1.6 GiB.
//!
//! With a token (required when the API listens off loopback), every request needs
//! `Authorization: Bearer <token>`. A POST that a browser says came from another
//! site (`Origin`, `Sec-Fetch-Site`) is refused with 403, token or not.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::Daemon;
use super::slot::{ReloadOutcome, RunOutcome, Slot};

type Shared = State<Arc<Daemon>>;

/// The API's routes over `daemon`, and the console's beside them (which check the
/// token their own way: a browser signs in once, see `console::session`).
pub fn router(daemon: Arc<Daemon>) -> Router {
    api(daemon.clone()).merge(super::console::router(daemon))
}

fn api(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/health/connectors", get(health_connectors))
        .route("/metrics", get(metrics))
        .route("/connectors", get(list))
        .route("/connectors/{name}", get(show))
        .route("/connectors/{name}/run", post(run))
        .route("/connectors/{name}/reload", post(reload))
        .route("/connectors/{name}/approve", post(approve))
        .route("/connectors/{name}/records/{id}", get(record))
        .route("/connectors/{name}/search", get(super::evidence::search))
        .route("/connectors/{name}/evidence/{id}", get(super::evidence::fetch))
        .route("/connectors/{name}/cursor", get(cursor))
        .route("/connectors/{name}/cursor/reset", post(cursor_reset))
        .route("/cluster", get(cluster))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(middleware::from_fn_with_state(daemon.clone(), auth))
        .with_state(daemon)
}

pub(super) fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// How long a caller refused for being over a bound is told to wait.
const RETRY_AFTER_S: u64 = 1;

/// 503 with `Retry-After`: a bound is reached; `message` says which.
pub(super) fn busy(message: String) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, format!("busy: {message}; retry in {RETRY_AFTER_S} s"));
    r.headers_mut().insert(header::RETRY_AFTER, RETRY_AFTER_S.into());
    r
}

async fn auth(State(daemon): Shared, request: Request, next: Next) -> Response {
    // A web page the operator opens may send a form POST to a loopback address (no
    // token is needed there, and a bodiless POST needs no preflight): what the
    // browser says of where a request came from refuses it. Tools (curl, `host
    // approve`) send neither header.
    if !matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD)
        && let Some(from) = super::console::session::cross_site(request.headers())
    {
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "refused: the request came from another site ({from}); the admin API takes its POSTs from tools, \
                 and the console's forms from its own pages"
            ),
        );
    }
    if let Some(token) = &daemon.token {
        let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let ok = given
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()));
        if !ok {
            let mut r = error(StatusCode::UNAUTHORIZED, "a bearer token is required (Authorization: Bearer …)".into());
            r.headers_mut().insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("a valid header value"));
            return r;
        }
    }
    next.run(request).await
}

/// Compares without stopping at the first difference, so timing does not tell how
/// much of a guessed token was right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn health(State(daemon): Shared) -> Response {
    axum::Json(json!({ "status": "ok", "started_at": daemon.started_at, "connectors": daemon.all().len() }))
        .into_response()
}

async fn health_connectors(State(daemon): Shared) -> Response {
    // On a shared store a host answers for the connectors it holds the lease of.
    let all: Vec<Value> = daemon
        .all()
        .iter()
        .filter(|s| daemon.cluster.as_ref().is_none_or(|me| me.epoch(&s.name).is_some()))
        .map(|s| {
            let status = s.status();
            json!({
                "name": s.name,
                "healthy": s.healthy(),
                "last_success_at": status.last_success_at,
                "health_window_ms": s.entry().health_window.as_millis() as u64,
                "last_error": status.last_error,
            })
        })
        .collect();
    let healthy = all.iter().all(|c| c["healthy"] == true);
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(json!({ "healthy": healthy, "connectors": all }))).into_response()
}

#[derive(serde::Deserialize)]
struct MetricsQuery {
    per_connector: Option<u8>,
}

async fn metrics(State(daemon): Shared, Query(q): Query<MetricsQuery>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8".parse().expect("valid"));
    let per_connector = q.per_connector.map(|v| v != 0).or(daemon.metrics_per_connector());
    (headers, super::metrics::render(&daemon, per_connector)).into_response()
}

/// The leases of a shared store, by connector (empty on SQLite, or when the store
/// cannot be read: the listing still answers).
pub(super) async fn leases(daemon: &Daemon) -> BTreeMap<String, crate::store::leases::LeaseRow> {
    let Some(cluster) = daemon.store.cluster() else { return BTreeMap::new() };
    match cluster.leases().await {
        Ok(rows) => rows.into_iter().map(|l| (l.connector.clone(), l)).collect(),
        Err(e) => {
            tracing::warn!("cannot read the leases: {e}");
            BTreeMap::new()
        }
    }
}

fn describe(slot: &Slot, leases: &BTreeMap<String, crate::store::leases::LeaseRow>) -> Value {
    let entry = slot.entry();
    let live = slot.live().map(|v| {
        json!({
            "digest": v.component.digest,
            "package": v.component.package(),
            "component": v.component.path.display().to_string(),
            "source": v.manifest.source,
            "source_name": v.source_name,
            "live_since": v.live_since,
        })
    });
    json!({
        "name": slot.name,
        "enabled": entry.enabled,
        "poll_interval_ms": entry.poll_interval.as_millis() as u64,
        "component": entry.component.display().to_string(),
        "live": live,
        "healthy": slot.healthy(),
        "run_breaker": slot.breaker_state(),
        "http_breakers": slot.http_breakers().into_iter().map(|(u, s)| json!({"upstream": u, "state": s})).collect::<Vec<_>>(),
        "status": slot.status(),
        "pending": slot.pending(),
        "lease": leases.get(&slot.name).map(|l| json!({
            "owner": l.owner,
            "epoch": l.epoch,
            "expires_at": l.expires_at,
            "digest": l.digest,
            // The owner runs another version than this host has loaded.
            "version_skew": l.digest.is_some() && l.digest.as_deref() != slot.live().map(|v| v.component.digest.clone()).as_deref(),
        })),
    })
}

/// The hosts sharing the store, their heartbeats, and every lease.
async fn cluster(State(daemon): Shared) -> Response {
    let (Some(me), Some(cluster)) = (&daemon.cluster, daemon.store.cluster()) else {
        return error(StatusCode::NOT_FOUND, "the store is not shared (SQLite): there is no cluster".into());
    };
    let read = async { Ok::<_, crate::store::StoreError>((cluster.hosts(me.ttl).await?, cluster.leases().await?)) };
    match read.await {
        Ok((hosts, leases)) => {
            let slots: BTreeMap<String, Option<String>> =
                daemon.all().iter().map(|s| (s.name.clone(), s.live().map(|v| v.component.digest.clone()))).collect();
            let leases: Vec<Value> = leases
                .into_iter()
                .map(|l| {
                    let here = slots.get(&l.connector).cloned().flatten();
                    let skew = l.digest.is_some() && here.is_some() && l.digest != here;
                    let mut v = serde_json::to_value(&l).unwrap_or(Value::Null);
                    v["version_skew"] = json!(skew);
                    v
                })
                .collect();
            axum::Json(json!({
                "host": me.host_id,
                "ttl_ms": me.ttl.as_millis() as u64,
                "held": me.held_count(),
                "hosts": hosts,
                "leases": leases,
            }))
            .into_response()
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("cannot read the cluster from the store: {e}")),
    }
}

async fn list(State(daemon): Shared) -> Response {
    let leases = leases(&daemon).await;
    let connectors: Vec<Value> = daemon.all().iter().map(|s| describe(s, &leases)).collect();
    let errors: Vec<Value> = daemon
        .config_errors
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(who, why)| json!({ "entry": who, "error": why }))
        .collect();
    axum::Json(json!({ "connectors": connectors, "config_errors": errors })).into_response()
}

pub(super) fn not_found(name: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no connector named `{name}`"))
}

async fn show(State(daemon): Shared, Path(name): Path<String>) -> Response {
    match daemon.slot(&name) {
        Some(slot) => axum::Json(describe(&slot, &leases(&daemon).await)).into_response(),
        None => not_found(&name),
    }
}

async fn run(State(daemon): Shared, Path(name): Path<String>) -> Response {
    let Some(slot) = daemon.slot(&name) else {
        return not_found(&name);
    };
    if daemon.stopping.load(std::sync::atomic::Ordering::Relaxed) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the daemon is shutting down".into());
    }
    match slot.run_once(&daemon, crate::lifecycle::Trigger::Manual).await {
        RunOutcome::Ran(report) => {
            let code = if report.error.is_none() { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
            (code, axum::Json(serde_json::to_value(&*report).unwrap_or(Value::Null))).into_response()
        }
        RunOutcome::Busy => error(StatusCode::CONFLICT, format!("connector `{name}` is already running")),
        RunOutcome::NotLoaded => match slot.pending() {
            Some(p) => error(
                StatusCode::CONFLICT,
                format!(
                    "connector `{name}` has no live version: its version {} awaits approval (it declares {}); \
                     POST /connectors/{name}/approve applies it",
                    p.digest,
                    p.added.join(", ")
                ),
            ),
            None => error(
                StatusCode::CONFLICT,
                format!(
                    "connector `{name}` has no working version: {}",
                    slot.status().reload_error.unwrap_or_default()
                ),
            ),
        },
        RunOutcome::NoRunSlot => busy(format!(
            "all {} run slots (`serve.max_parallel_runs`) are taken, connector `{name}` was not run",
            daemon.max_parallel_runs()
        )),
        RunOutcome::NoSource => error(
            StatusCode::CONFLICT,
            format!(
                "connector `{name}` is an evidence connector: it has no records to run; search it with GET \
                 /connectors/{name}/search?q=WORDS"
            ),
        ),
        RunOutcome::NotLeased => error(
            StatusCode::CONFLICT,
            format!("connector `{name}` runs on the host that holds its lease, not this one: see GET /cluster"),
        ),
        RunOutcome::CircuitOpen(rem) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("circuit_open: connector `{name}` failed too many runs in a row; retry in {} ms", rem.as_millis()),
        ),
    }
}

async fn reload(State(daemon): Shared, Path(name): Path<String>) -> Response {
    let Some(slot) = daemon.slot(&name) else {
        return not_found(&name);
    };
    match slot.reload(&daemon).await {
        Ok(ReloadOutcome::Swapped { digest }) => {
            axum::Json(json!({ "outcome": "swapped", "digest": digest })).into_response()
        }
        Ok(ReloadOutcome::Unchanged) => {
            let digest = slot.live().map(|v| v.component.digest.clone());
            axum::Json(json!({ "outcome": "unchanged", "digest": digest })).into_response()
        }
        Ok(ReloadOutcome::Parked { digest, added, .. }) => {
            (StatusCode::ACCEPTED, axum::Json(json!({ "outcome": "parked", "digest": digest, "added": added })))
                .into_response()
        }
        Err(refused) => error(StatusCode::UNPROCESSABLE_ENTITY, refused.to_string()),
    }
}

/// Makes the version awaiting approval live.
async fn approve(State(daemon): Shared, Path(name): Path<String>) -> Response {
    let Some(slot) = daemon.slot(&name) else {
        return not_found(&name);
    };
    match slot.approve(&daemon).await {
        Some(digest) => axum::Json(json!({ "outcome": "approved", "digest": digest })).into_response(),
        None => error(StatusCode::CONFLICT, format!("connector `{name}` has no version awaiting approval")),
    }
}

async fn record(State(daemon): Shared, Path((name, id)): Path<(String, String)>) -> Response {
    let Some(slot) = daemon.slot(&name) else {
        return not_found(&name);
    };
    let Some(v) = slot.live() else {
        return error(StatusCode::CONFLICT, format!("connector `{name}` has no working version"));
    };
    // Each lookup starts a sandbox of its own: bounded, and refused past the bound.
    let Ok(_permit) = daemon.lookups.try_acquire() else {
        return busy(format!(
            "{} record lookups (`serve.max_parallel_lookups`) are going on, the most at once",
            daemon.max_parallel_lookups()
        ));
    };
    match crate::lookup::get_sealed(&daemon.engine, &v.component, &v.manifest, v.egress.clone(), &id).await {
        // One sealed envelope, as the host wrote it: sent as it is, never parsed again.
        Ok(line) => ([(axum::http::header::CONTENT_TYPE, "application/json")], line).into_response(),
        Err(crate::lookup::LookupError::Guest(e)) if e.case() == Some(crate::contract::ErrorCase::NotFound) => {
            error(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

fn stored(name: &str, c: Option<crate::store::StoredCursor>) -> Value {
    json!({
        "connector": name,
        "stored": c.is_some(),
        "cursor": c.as_ref().and_then(|c| c.cursor.clone()),
        "updated_at": c.map(|c| c.updated_at),
    })
}

async fn cursor(State(daemon): Shared, Path(name): Path<String>) -> Response {
    if daemon.slot(&name).is_none() {
        return not_found(&name);
    }
    match daemon.store.stored_cursor(&name).await {
        Ok(c) => axum::Json(stored(&name, c)).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The body of a cursor reset: empty, `{}`, or `{"to": CURSOR}`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    to: Option<String>,
}

async fn cursor_reset(State(daemon): Shared, Path(name): Path<String>, body: axum::body::Bytes) -> Response {
    let Some(slot) = daemon.slot(&name) else {
        return not_found(&name);
    };
    let body: ResetBody = if body.iter().all(u8::is_ascii_whitespace) {
        ResetBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("the body must be empty or {{\"to\": \"CURSOR\"}}: {e}"),
                );
            }
        }
    };
    if body.to.as_deref() == Some("") {
        return error(StatusCode::BAD_REQUEST, "`to` cannot be empty; without it the cursor is cleared".into());
    }
    // A run commits its cursor with every page: a reset under it would be undone.
    let Some(_held) = slot.hold_runs() else {
        return error(
            StatusCode::CONFLICT,
            format!("connector `{name}` is running; reset its cursor when the run has ended"),
        );
    };
    let now = crate::timestamp::now();
    match daemon.store.reset_cursor(&name, body.to.as_deref(), &now).await {
        Ok(previous) => {
            tracing::info!(connector = %name, to = ?body.to.as_deref().map(crate::untrusted::Shown::id),
                "cursor reset through the admin API");
            let current = body.to.map(|to| crate::store::StoredCursor { cursor: Some(to), updated_at: now });
            axum::Json(json!({ "previous": stored(&name, previous), "current": stored(&name, current) }))
                .into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
