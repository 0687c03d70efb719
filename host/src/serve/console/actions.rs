//! The console's POSTs: sign in and out, and the actions on a connector (run now,
//! reload, approve the version awaiting approval, reset the cursor, replay a dead
//! letter).
//!
//! Each action is checked twice before it is looked at: the caller must be signed
//! in (or send the bearer token), and the form must carry its CSRF token and not
//! come from another site ([`super::session`]). It then does what the admin API's
//! route of the same name does, keeps a one-line outcome, and answers with a
//! redirect to the connector's page (post/redirect/get: reloading the page does not
//! post again), which shows the outcome once.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::session::{CSRF_FIELD, Caller};
use super::view;
use super::{Console, Notice, Refusal, Shared, local_path, login_page, message};
use crate::serve::slot::{ReloadOutcome, RunOutcome, Slot};

/// How long "run now" waits for the run before it answers that the run goes on.
const RUN_WAIT: Duration = Duration::from_secs(10);

/// A form's fields (the last value of each name).
type Form = HashMap<String, String>;

fn form(body: &[u8]) -> Form {
    url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The caller and the form of an action's POST, or the refusal to answer.
fn posted(console: &Console, headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Result<(Caller, Form), Refusal> {
    let caller = console.keys.caller(headers);
    if !caller.allowed() {
        return Err(Box::new(login_page(
            console,
            StatusCode::UNAUTHORIZED,
            "/",
            Some(format!("Sign in with the admin token first: {} was not done.", uri.path())),
        )));
    }
    let form = form(body);
    if let Err(refused) = console.keys.check_post(&caller, headers, form.get(CSRF_FIELD).map(String::as_str)) {
        tracing::warn!(path = %uri.path(), "console POST refused: {refused}");
        return Err(Box::new(message(console, &caller, StatusCode::FORBIDDEN, "Refused", refused.to_string())));
    }
    Ok((caller, form))
}

/// The connector an action is for, or a page saying there is none.
fn slot(console: &Console, caller: &Caller, name: &str) -> Result<std::sync::Arc<Slot>, Refusal> {
    console.daemon.slot(name).ok_or_else(|| {
        Box::new(message(
            console,
            caller,
            StatusCode::NOT_FOUND,
            "No such connector",
            format!("No connector is named `{}`.", view::shown(name)),
        ))
    })
}

/// Back to the connector's page, showing `notice`.
fn back(console: &Console, name: &str, notice: Notice) -> Response {
    let id = console.keep_notice(notice);
    Redirect::to(&format!("/console/connectors/{name}?notice={id}#main")).into_response()
}

fn ok(text: String) -> Notice {
    Notice { ok: true, text }
}

fn bad(text: String) -> Notice {
    Notice { ok: false, text }
}

/// Runs the preamble of an action on connector `name`: `Err` is the answer.
macro_rules! action {
    ($console:expr, $headers:expr, $uri:expr, $body:expr, $name:expr) => {{
        let (caller, form) = match posted(&$console, &$headers, &$uri, &$body) {
            Ok(p) => p,
            Err(r) => return *r,
        };
        match slot(&$console, &caller, &$name) {
            Ok(s) => (s, form),
            Err(r) => return *r,
        }
    }};
}

/// `POST /console/connectors/{name}/run`.
pub async fn run(
    State(console): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (slot, _) = action!(console, headers, uri, body, name);
    let daemon = console.daemon.clone();
    if daemon.stopping.load(std::sync::atomic::Ordering::Relaxed) {
        return back(&console, &name, bad("The daemon is shutting down: no new runs.".into()));
    }
    // The run goes on whether or not the page waits for it.
    let running = tokio::spawn(async move { slot.run_once(&daemon, crate::lifecycle::Trigger::Manual).await });
    let notice = match tokio::time::timeout(RUN_WAIT, running).await {
        Err(_) => {
            ok(format!("The run is going on (longer than {} s); this page shows it when it ends.", RUN_WAIT.as_secs()))
        }
        Ok(Err(e)) => bad(format!("The run ended abnormally: {e}")),
        Ok(Ok(outcome)) => run_notice(&console, &name, outcome),
    };
    back(&console, &name, notice)
}

fn run_notice(console: &Console, name: &str, outcome: RunOutcome) -> Notice {
    match outcome {
        RunOutcome::Ran(report) => match &report.error {
            None => ok(format!(
                "Run finished: {} published, {} unchanged, {} rejected in {}.",
                report.published,
                report.skipped_unchanged,
                report.rejected,
                view::duration(report.durations_ms.total)
            )),
            Some(e) => bad(format!("The run failed: {}", crate::untrusted::capped(&e.message, 600))),
        },
        RunOutcome::Busy => bad(format!("A run of `{name}` is already going on.")),
        RunOutcome::NotLoaded => bad(format!("`{name}` has no working version: nothing was run.")),
        RunOutcome::NoSource => {
            bad(format!("`{name}` is an evidence connector: it has no records to run, only evidence to search."))
        }
        RunOutcome::NoRunSlot => bad(format!(
            "All {} run slots (serve.max_parallel_runs) are taken: `{name}` was not run; try again shortly.",
            console.daemon.max_parallel_runs()
        )),
        RunOutcome::NotLeased => {
            bad(format!("`{name}` runs on the host that holds its lease, not this one: see the cluster page."))
        }
        RunOutcome::CircuitOpen(rem) => bad(format!(
            "The run breaker of `{name}` is open after too many failed runs in a row; it lets a run through in {}.",
            view::duration(rem.as_millis() as f64)
        )),
    }
}

/// `POST /console/connectors/{name}/reload`.
pub async fn reload(
    State(console): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (slot, _) = action!(console, headers, uri, body, name);
    let notice = match slot.reload(&console.daemon).await {
        Ok(ReloadOutcome::Swapped { digest }) => {
            ok(format!("Reloaded: version {} is live.", view::short_digest(&digest)))
        }
        Ok(ReloadOutcome::Unchanged) => {
            ok("Reloaded: the files are those of the live version, nothing changed.".into())
        }
        Ok(ReloadOutcome::Parked { digest, added, .. }) => bad(format!(
            "The new version {} declares more than the live one ({}): it awaits approval below.",
            view::short_digest(&digest),
            added.join("; ")
        )),
        Err(e) => bad(format!("Reload refused; the live version keeps running: {}", view::shown(&e.to_string()))),
    };
    back(&console, &name, notice)
}

/// `POST /console/connectors/{name}/approve`.
pub async fn approve(
    State(console): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (slot, _) = action!(console, headers, uri, body, name);
    let notice = match slot.approve(&console.daemon).await {
        Some(digest) => ok(format!("Approved: version {} is live.", view::short_digest(&digest))),
        None => bad(format!("`{name}` has no version awaiting approval.")),
    };
    back(&console, &name, notice)
}

/// `POST /console/connectors/{name}/cursor/reset`: clears the cursor, or sets it
/// to the form's `to` when that is not empty.
pub async fn reset_cursor(
    State(console): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (slot, form) = action!(console, headers, uri, body, name);
    let to = form.get("to").map(String::as_str).filter(|t| !t.is_empty());
    // A run commits its cursor with every page: a reset under it would be undone.
    let Some(_held) = slot.hold_runs() else {
        return back(&console, &name, bad(format!("`{name}` is running: reset its cursor when the run has ended.")));
    };
    let notice = match console.daemon.store.reset_cursor(&name, to, &crate::timestamp::now()).await {
        Ok(_) => {
            tracing::info!(connector = %name, to = ?to.map(crate::untrusted::Shown::id), "cursor reset through the console");
            match to {
                None => ok("The cursor was cleared: the next run starts from the beginning.".into()),
                Some(t) => ok(format!("The cursor was set to `{}`.", crate::untrusted::capped(t, 200))),
            }
        }
        Err(e) => bad(format!("The cursor could not be reset: {e}")),
    };
    back(&console, &name, notice)
}

/// `POST /console/connectors/{name}/dead-letters/{id}/replay`.
pub async fn replay(
    State(console): Shared,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (_slot, _) = action!(console, headers, uri, body, name);
    let Ok(id) = id.parse::<i64>() else {
        return back(
            &console,
            &name,
            bad(format!("`{}` is not a dead letter's id.", crate::untrusted::Shown::id(&id))),
        );
    };
    let notice = match crate::redeliver::redeliver_one(&console.daemon.store, &name, id).await {
        Ok(r) if r.tried == 0 => {
            bad(format!("Dead letter {id} does not await a replay (replayed already, or not `{name}`'s)."))
        }
        Ok(r) if r.replayed == 1 => {
            tracing::info!(connector = %name, dead_letter = id, "dead letter replayed through the console");
            ok(format!("Dead letter {id} was sealed again and published."))
        }
        Ok(_) => bad(format!("Dead letter {id} is still refused; its reason below is the new one.")),
        Err(e) => bad(format!("Dead letter {id} could not be replayed: {e}")),
    };
    back(&console, &name, notice)
}

/// `POST /login`: the admin token from the form; a session cookie if it is right.
pub async fn login(State(console): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let form = form(&body);
    let next = local_path(form.get("next").map(String::as_str).unwrap_or("/")).to_string();
    let stranger = Caller::Stranger;
    if let Err(refused) = console.keys.check_post(&stranger, &headers, form.get(CSRF_FIELD).map(String::as_str)) {
        return login_page(&console, StatusCode::FORBIDDEN, &next, Some(refused.to_string()));
    }
    if !console.keys.locked() {
        return Redirect::to(&next).into_response();
    }
    let given = form.get("token").map(String::as_str).unwrap_or("");
    if !console.keys.is_token(given) {
        // A guess costs a moment: no one tries many from a browser's form.
        tokio::time::sleep(Duration::from_millis(250)).await;
        tracing::warn!("console sign-in refused: a wrong admin token");
        return login_page(
            &console,
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That is not this daemon's admin token.".into()),
        );
    }
    let mut response = Redirect::to(&next).into_response();
    if let Some(cookie) = console.keys.sign_in_cookie().and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /logout`: the session cookie cleared.
pub async fn logout(State(console): Shared, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    if let Err(refused) = posted(&console, &headers, &uri, &body) {
        return *refused;
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&super::session::sign_out_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}
