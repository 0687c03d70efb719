//! The evidence endpoints of the admin API: an evidence connector's `search` and
//! `fetch`, through the same sandbox, egress (breaker, rate limit, recording) and
//! token rules as the rest of the API, each call under the connector's call deadline
//! and counted against `serve.max_parallel_lookups`, since each holds a sandbox.
//!
//! | Route | What |
//! |---|---|
//! | `GET /connectors/{name}/search?q=…&limit=…` | `{"report": …, "envelopes": […]}`, best first (schemas/evidence_report.schema.json) |
//! | `GET /connectors/{name}/evidence/{id}` | one sealed envelope; 404 if the connector has no such evidence |

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Daemon;
use super::api::{busy, error, not_found};
use super::slot::Version;
use crate::contract::ErrorCase;
use crate::evidence::{self, Call, Connector, EvidenceError, Report};

type Shared = State<Arc<Daemon>>;

/// The query of a search.
#[derive(serde::Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    limit: Option<u32>,
}

/// `GET /connectors/{name}/search`.
pub async fn search(State(daemon): Shared, Path(name): Path<String>, Query(q): Query<SearchQuery>) -> Response {
    let Some(query) = q.q else {
        return error(StatusCode::BAD_REQUEST, "a search needs `q`: /connectors/NAME/search?q=WORDS&limit=N".into());
    };
    let call = Call::Search { query: &query, limit: q.limit.unwrap_or(evidence::DEFAULT_LIMIT) };
    match answer(&daemon, &name, call).await {
        Ok((report, lines)) => {
            // The envelopes as the host sealed them: written into the body as they
            // are, never parsed again.
            let mut body = b"{\"report\":".to_vec();
            serde_json::to_writer(&mut body, &report).expect("a report serialises");
            body.extend_from_slice(b",\"envelopes\":[");
            for (i, line) in lines.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(line.trim_ascii_end());
            }
            body.extend_from_slice(b"]}");
            json_body(body)
        }
        Err(r) => r,
    }
}

/// `GET /connectors/{name}/evidence/{id}`.
pub async fn fetch(State(daemon): Shared, Path((name, id)): Path<(String, String)>) -> Response {
    match answer(&daemon, &name, Call::Fetch { id: &id }).await {
        Ok((_, lines)) if !lines.is_empty() => json_body(lines.into_iter().next().expect("one line")),
        Ok((report, _)) => match report.rejected.first() {
            Some(r) => error(
                StatusCode::BAD_GATEWAY,
                format!("the connector's evidence `{}` was refused: {}", r.record_id, r.reason),
            ),
            None => error(
                StatusCode::NOT_FOUND,
                format!("connector `{name}` has no evidence `{}`", crate::untrusted::Shown::id(&id)),
            ),
        },
        Err(r) => r,
    }
}

fn json_body(body: Vec<u8>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Answers `call` of connector `name`, or the response that says why not.
async fn answer(daemon: &Daemon, name: &str, call: Call<'_>) -> Result<(Report, Vec<Vec<u8>>), Response> {
    let Some(slot) = daemon.slot(name) else { return Err(not_found(name)) };
    let Some(v): Option<Arc<Version>> = slot.live() else {
        return Err(error(StatusCode::CONFLICT, format!("connector `{name}` has no working version")));
    };
    if !v.component.contract_exports().evidence {
        return Err(error(
            StatusCode::CONFLICT,
            format!(
                "connector `{name}` is of the world `{}`: it has no evidence to search or fetch (an evidence \
                 connector is of the world `evidence-connector` or `connector-with-evidence`)",
                v.component.contract_exports().world()
            ),
        ));
    }
    let Ok(_permit) = daemon.lookups.try_acquire() else {
        return Err(busy(format!(
            "{} lookups (`serve.max_parallel_lookups`) are going on, the most at once",
            daemon.max_parallel_lookups()
        )));
    };
    let connector = Connector {
        engine: &daemon.engine,
        component: &v.component,
        manifest: &v.manifest,
        egress: v.egress.clone(),
        cache: &v.evidence_cache,
    };
    let started = Instant::now();
    match evidence::answer(&connector, call).await {
        Ok(answered) => {
            let report = Report::new(name, call, &answered, &v.evidence_cache, started.elapsed());
            Ok((report, answered.results.into_iter().map(|r| r.line).collect()))
        }
        Err(EvidenceError::BadCall(m)) => Err(error(StatusCode::BAD_REQUEST, m)),
        Err(EvidenceError::Guest(e)) => Err(match e.case() {
            Some(ErrorCase::NotFound) => error(StatusCode::NOT_FOUND, e.to_string()),
            Some(ErrorCase::RateLimited | ErrorCase::CircuitOpen) => busy(e.to_string()),
            _ => error(StatusCode::BAD_GATEWAY, e.to_string()),
        }),
        Err(e @ EvidenceError::Start(_)) => Err(error(StatusCode::BAD_GATEWAY, e.to_string())),
    }
}
