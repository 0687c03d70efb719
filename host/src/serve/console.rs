//! The operator console: the daemon's state in a browser, on the admin address.
//!
//! Server-rendered HTML ([askama] templates in `host/console/`, compiled into the
//! binary with the stylesheet and the one small script), so every page reads with
//! JavaScript off; with it on, pages refresh themselves every few seconds.
//!
//! - `/` ([`overview`]): every connector, problems first, sortable.
//! - `/console/connectors/{name}` ([`connector`]): its last runs and their reports,
//!   why the last run failed with the failing request and the upstream's answer,
//!   charts, dead letters, its cursor, its lifecycle.
//! - `/console/cluster` ([`cluster`]): the hosts, heartbeats and leases of a
//!   shared PostgreSQL store.
//! - POSTs ([`actions`]): run now, reload, approve, replay a dead letter, reset the
//!   cursor; each answered with a redirect back to the page, which shows the outcome.
//! - `/login`, `/logout` ([`session`]): with an admin token, a form that sets a
//!   session cookie; every form carries a CSRF token.
//!
//! Everything on a page that came from a connector or an upstream (errors, record
//! ids, cursors, answers) is cut ([`view`]) and escaped by the template engine; no
//! such value is ever put into the script. Every answer carries a
//! Content-Security-Policy that allows only the console's own script and styles.

pub mod actions;
pub mod chart;
pub mod cluster;
pub mod connector;
pub mod overview;
pub mod session;
pub mod view;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::Daemon;
use session::{Caller, Keys};

/// The console's own state beside the daemon's.
pub struct Console {
    /// The daemon.
    pub daemon: Arc<Daemon>,
    /// Session and form keys.
    pub keys: Keys,
    /// The outcomes of recent actions, shown once on the page an action leads back
    /// to (by the id in its `?notice=`), the last [`MAX_NOTICES`] kept.
    notices: Mutex<VecDeque<(String, Notice)>>,
    next_notice: AtomicU64,
}

/// How many action outcomes are kept for their pages.
const MAX_NOTICES: usize = 64;

/// The outcome of an action, as the page shows it.
#[derive(Clone, Debug)]
pub struct Notice {
    /// Whether it did what was asked.
    pub ok: bool,
    /// What happened.
    pub text: String,
}

impl Console {
    /// Keeps `notice` and returns its id.
    pub fn keep_notice(&self, notice: Notice) -> String {
        let n = self.next_notice.fetch_add(1, Ordering::Relaxed);
        // Not guessable from the counter alone: another tab's notice stays its own.
        let id = self.keys.notice_id(n);
        let mut all = self.notices.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() >= MAX_NOTICES {
            all.pop_front();
        }
        all.push_back((id.clone(), notice));
        id
    }

    /// The notice of `id`, if it is still kept.
    pub fn notice(&self, id: Option<&str>) -> Option<Notice> {
        let id = id?;
        let all = self.notices.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone())
    }
}

/// How often a page refreshes itself, in seconds.
pub const REFRESH_S: u32 = 5;

/// How often an overview of more than [`BIG`] connectors does: each refresh reads
/// every listed connector's lifecycle from the store.
pub const REFRESH_BIG_S: u32 = 30;

/// An overview of more connectors than this refreshes every [`REFRESH_BIG_S`].
pub const BIG: usize = 100;

/// What every page's frame (`base.html`) shows.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The page's title.
    pub title: String,
    /// Which section of the navigation it is in.
    pub section: &'static str,
    /// The CSRF token of its forms.
    pub csrf: String,
    /// Whether a sign-out button is shown (signed in with the cookie).
    pub signed_in: bool,
    /// How often the script refreshes it, in seconds (0: never).
    pub refresh: u32,
    /// The outcome of the action that led here.
    pub notice: Option<Notice>,
    /// When it was made.
    pub generated_at: String,
    /// The host's version.
    pub version: &'static str,
}

impl Frame {
    /// The frame of a page titled `title` in `section`, for `caller`.
    pub fn new(console: &Console, caller: &Caller, title: impl Into<String>, section: &'static str) -> Frame {
        Frame {
            title: title.into(),
            section,
            csrf: console.keys.csrf(caller),
            signed_in: matches!(caller, Caller::Session(_)),
            refresh: REFRESH_S,
            notice: None,
            generated_at: view::time(&crate::timestamp::now()),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// A page that shows a refusal or an error.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    frame: Frame,
    heading: String,
    message: String,
    back: String,
}

/// The sign-in form, with why the last try failed.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    frame: Frame,
    next: String,
    error: Option<String>,
}

/// The console's routes, for the admin API's router to merge.
pub fn router(daemon: Arc<Daemon>) -> Router {
    let console = Arc::new(Console {
        keys: Keys::new(daemon.token.clone()),
        daemon,
        notices: Mutex::new(VecDeque::new()),
        next_notice: AtomicU64::new(0),
    });
    Router::new()
        .route("/", get(overview::page))
        .route("/console", get(|| async { Redirect::to("/") }))
        .route("/console/connectors/{name}", get(connector::page))
        .route("/console/cluster", get(cluster::page))
        .route("/console/connectors/{name}/run", post(actions::run))
        .route("/console/connectors/{name}/reload", post(actions::reload))
        .route("/console/connectors/{name}/approve", post(actions::approve))
        .route("/console/connectors/{name}/cursor/reset", post(actions::reset_cursor))
        .route("/console/connectors/{name}/dead-letters/{id}/replay", post(actions::replay))
        .route("/login", get(login_form).post(actions::login))
        .route("/logout", post(actions::logout))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .layer(middleware::from_fn(guard_headers))
        .with_state(console)
}

/// The console's shared state, as handlers take it.
pub type Shared = State<Arc<Console>>;

/// The policy every console answer carries: only the console's own script and
/// styles run, no page of another site may frame it, forms post only to it.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn guard_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Not `no-referrer`: under it a browser sends `Origin: null` with the forms' own
    // POSTs, which the CSRF guard refuses (a sandboxed frame of another site sends
    // that too).
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// `template` as an HTML answer with `status`.
pub fn html(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::error!("the console cannot render a page: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("the console cannot render this page: {e}")).into_response()
        }
    }
}

/// A page saying `message`, answered with `status`.
pub fn message(console: &Console, caller: &Caller, status: StatusCode, heading: &str, message: String) -> Response {
    let page = MessagePage {
        frame: Frame { refresh: 0, ..Frame::new(console, caller, heading, "") },
        heading: heading.to_string(),
        message,
        back: "/".into(),
    };
    html(status, &page)
}

/// An answer given instead of what was asked for (a refusal, a sign-in form).
pub type Refusal = Box<Response>;

/// Who the caller is, or the sign-in form (401) for one who needs to sign in.
pub fn gate(console: &Console, headers: &HeaderMap, uri: &Uri) -> Result<Caller, Refusal> {
    let caller = console.keys.caller(headers);
    if caller.allowed() {
        return Ok(caller);
    }
    let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Err(Box::new(login_page(console, StatusCode::UNAUTHORIZED, next, None)))
}

/// The sign-in form, answered with `status`.
pub fn login_page(console: &Console, status: StatusCode, next: &str, error: Option<String>) -> Response {
    let caller = Caller::Stranger;
    let page = LoginPage {
        frame: Frame { refresh: 0, ..Frame::new(console, &caller, "Sign in", "") },
        next: local_path(next).to_string(),
        error,
    };
    let mut response = html(status, &page);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// `next` if it is a path of this daemon, else `/`: a sign-in never sends the
/// browser to another site.
pub fn local_path(next: &str) -> &str {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && next.len() <= 512;
    if local { next } else { "/" }
}

async fn login_form(State(console): Shared, headers: HeaderMap, uri: Uri) -> Response {
    let query: Vec<(String, String)> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let next = query.iter().find(|(k, _)| k == "next").map(|(_, v)| v.as_str()).unwrap_or("/");
    if console.keys.caller(&headers).allowed() {
        return Redirect::to(local_path(next)).into_response();
    }
    login_page(&console, StatusCode::OK, next, None)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("../../console/console.css"))
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../../console/console.js"))
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "max-age=300")], body).into_response()
}

/// The value of query parameter `name`.
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| crate::untrusted::capped(&v, 100))
}
