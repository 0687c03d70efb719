//! The operator console in a real headless Chromium, against real daemons: the
//! overview lists the connectors, a connector whose upstream fails shows the failing
//! request and the upstream's answer (with the secret the host injected redacted),
//! a dead letter is replayed from its page, a request without the token is refused
//! off loopback, and a POST without the CSRF guard is refused. A screenshot of each
//! page is saved under the tests' temporary directory (`console/`), and into
//! `docs/console/` when `CONSOLE_SCREENSHOTS_TO_DOCS=1`.
//!
//! A test process of its own, run after `all`: Chromium takes a core or more while
//! it renders, which would skew the timing-sensitive tests of `all` beside it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use tests::browser::Browser;
use tests::daemon::{Daemon, free_port, request_with_headers};
use tests::upstream::{Reply, Upstream};
use tests::*;

fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

/// A `[[connectors]]` entry for the example file connector (its manifest grants
/// `examples/feeds`).
fn feed(name: &str, poll: &str) -> String {
    format!(
        "[[connectors]]\nname = \"{name}\"\ncomponent = {}\nmanifest = {}\npoll_interval = \"{poll}\"\n",
        quote(FILE_WASM),
        quote(&root().join("guests/file.toml").display().to_string())
    )
}

/// `connectors.toml` in `dir`, on a SQLite store there (`serve.db`).
fn write_config(dir: &Path, body: &str) -> PathBuf {
    let config = dir.join("connectors.toml");
    let store = format!("sqlite:{}", dir.join("serve.db").display());
    std::fs::write(&config, format!("[serve]\nstore = {}\n\n{body}", quote(&store))).unwrap();
    config
}

/// The secret the host injects into the failing upstream's requests.
const SECRET: &str = "console-secret-token-0123456789";
/// The admin token of the daemon off loopback.
const TOKEN: &str = "console-admin-token-abcdef";
/// What the failing upstream says, so that the page can be searched for it.
const MARKER: &str = "UPSTREAM-SAYS-OVERLOADED-7f3a";

/// Where a screenshot of `page` goes; also copied into docs/ when asked for.
fn screenshot(browser: &Browser, page: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console").join(format!("{page}.png"));
    browser.screenshot(&path);
    if std::env::var_os("CONSOLE_SCREENSHOTS_TO_DOCS").is_some_and(|v| v == "1") {
        let docs = root().join("docs/console");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&path, docs.join(format!("{page}.png"))).unwrap();
    }
    eprintln!("screenshot: {}", path.display());
    path
}

/// An upstream that fails every request with a 503 whose body holds the marker,
/// the `Authorization` header it was sent (an upstream echoing a credential), and
/// markup that must reach the page as text.
fn failing_upstream() -> Upstream {
    Upstream::start(|s| {
        let echoed = s.header("authorization").unwrap_or("").to_string();
        let body = json!({
            "error": MARKER,
            "detail": "<script>document.title='pwned'</script><img src=x onerror=alert(1)>",
            "echo": echoed,
        });
        Reply::Respond {
            status: 503,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec_pretty(&body).unwrap(),
        }
    })
}

/// Three connectors: `feed` (the file connector, healthy), `flaky` (http-json on
/// `up`, with a secret for it, no retries) and `letters` (the probe, refusing three
/// drafts into dead letters); each runs once at start, then hourly.
fn connectors(up: &Upstream) -> String {
    format!(
        "{}\n[[connectors]]\nname = \"flaky\"\ncomponent = {}\npoll_interval = \"1h\"\n\
         [connectors.manifest]\nsource = \"flaky-api\"\n[connectors.manifest.config]\nbase_url = {}\npath = \"/items\"\nid_field = \"id\"\n\
         pagination = \"none\"\n[connectors.manifest.http]\nallow = [{}]\n[connectors.manifest.http.retry]\nmax_retries = 0\n\
         [[connectors.manifest.http.secrets]]\nhost = \"127.0.0.1\"\nfrom_env = \"CONSOLE_UPSTREAM_TOKEN\"\n\n\
         [[connectors]]\nname = \"letters\"\ncomponent = {}\npoll_interval = \"1h\"\n\
         [connectors.manifest]\n[connectors.manifest.config]\nmode = \"bad-raw\"\n",
        feed("feed", "1h"),
        quote(HTTP_JSON_WASM),
        quote(&up.origin()),
        quote(&up.origin()),
        quote(PROBE_WASM),
    )
}

/// Waits until each of `names` has run once.
fn ran_once(d: &Daemon, names: &[&str]) {
    for name in names {
        d.wait_for(&format!("/connectors/{name}"), Duration::from_secs(90), |v| v["status"]["runs"] == 1);
    }
}

#[test]
fn the_console_shows_the_failing_request_and_replays_a_dead_letter() {
    let up = failing_upstream();
    let dir = scratch(&[]);
    let config = write_config(dir.path(), &connectors(&up));
    let listen = format!("127.0.0.1:{}", free_port());
    let d = Daemon::start_with(dir.path(), &config, &listen, None, &[("CONSOLE_UPSTREAM_TOKEN", SECRET)]);
    ran_once(&d, &["feed", "flaky", "letters"]);
    assert_eq!(up.seen()[0].header("authorization"), Some(format!("Bearer {SECRET}").as_str()));
    // The run report keeps the failing request, as its schema says, secret redacted.
    let report = d.json("/connectors/flaky")["status"]["last_run"].clone();
    let schema = std::fs::read_to_string(root().join("schemas/ingest_report.schema.json")).unwrap();
    let schema = jsonschema::validator_for(&serde_json::from_str(&schema).unwrap()).unwrap();
    let errors: Vec<String> = schema.iter_errors(&report).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let failed = &report["http"]["last_failed_request"];
    assert_eq!((failed["method"].as_str(), failed["status"].as_u64()), (Some("GET"), Some(503)), "{failed}");
    assert_eq!(failed["case"], "api");
    assert!(failed["body_excerpt"].as_str().unwrap().contains(MARKER), "{failed}");
    assert!(!report.to_string().contains(SECRET), "{report}");
    let base = format!("http://{}", d.addr);

    // With JavaScript off, the page is all there: it is rendered on the server.
    let (code, headers, html) = request_with_headers(d.addr, "GET", "/", &[], "");
    assert_eq!(code, 200, "{html}");
    assert!(["feed", "flaky", "letters"].iter().all(|n| html.contains(&format!("data-connector=\"{n}\""))), "{html}");
    let csp = headers.iter().find(|(k, _)| k == "content-security-policy").map(|(_, v)| v.as_str());
    assert!(csp.is_some_and(|v| v.contains("script-src 'self'")), "{headers:?}");
    let reading = Browser::start(1280, 800, false);
    reading.goto(&format!("{base}/console/connectors/flaky"));
    assert!(reading.text("#upstream-body").contains(MARKER), "{}", reading.source());
    drop(reading);

    let b = Browser::start(1280, 800, true);
    b.goto(&base);
    // The failing connector comes first, then the rest by name.
    let rows: Vec<String> =
        (1..=3).map(|i| b.text(&format!("#connectors tbody tr:nth-child({i}) td:first-child"))).collect();
    assert!(rows[0].starts_with("flaky"), "{rows:?}");
    assert_eq!(b.count("#connectors tbody tr"), 3);
    let flaky = b.text("tr[data-connector=flaky]");
    assert!(flaky.contains("degraded") && flaky.contains("last run failed"), "{flaky}");
    let healthy = b.text("tr[data-connector=feed]");
    assert!(healthy.contains("healthy") && healthy.contains("ok") && healthy.contains("this host"), "{healthy}");
    screenshot(&b, "overview");
    // Sorting by name puts `feed` first.
    b.click("th a[href='/?sort=name']");
    assert!(b.text("#connectors tbody tr:first-child").starts_with("feed"));

    // The failing connector's page: the request, the status, the upstream's answer.
    b.goto(&format!("{base}/console/connectors/flaky"));
    let request = b.text("#failed-request");
    assert!(request.contains("GET") && request.contains(&format!("{}/items", up.origin())), "{request}");
    assert!(request.contains("503"), "{request}");
    let answer = b.text("#upstream-body");
    assert!(answer.contains(MARKER), "{answer}");
    assert!(answer.contains("\"echo\": \"") && answer.contains("[REDACTED]"), "the echoed credential: {answer}");
    assert!(answer.contains("<script>"), "markup in the answer is shown as text: {answer}");
    assert!(b.text("#failure-message").contains("503"));
    let source = b.source();
    assert!(!source.contains(SECRET), "the secret is nowhere on the page");
    assert_eq!(b.eval("return document.title"), json!("Connector flaky · host serve"), "no script of the upstream ran");
    assert_eq!(b.count("#upstream-body script, #upstream-body img"), 0);
    assert!(b.text("#timeline").contains("degraded"));
    b.eval("document.getElementById('failure').scrollIntoView(); return null");
    screenshot(&b, "connector-failed");

    // The dead letters: the operator repairs the first draft in the store, then
    // replays it from the page; the page shows it replayed.
    b.goto(&format!("{base}/console/connectors/letters"));
    assert_eq!(b.count("#dead-letters tbody tr"), 3);
    let url = format!("sqlite:{}", dir.path().join("serve.db").display());
    let repaired = db::execute(
        &url,
        "UPDATE dead_letters SET draft = replace(draft, '{not json', '{\\\"fixed\\\":true}') WHERE id = 1",
    );
    assert_eq!(repaired, 1);
    b.click("button[aria-label='Replay dead letter 1']");
    assert!(b.url().contains("/console/connectors/letters?notice="), "{}: {}", b.url(), b.source());
    assert_eq!(b.text(".notice[role=status]"), "Dead letter 1 was sealed again and published.");
    assert!(b.text("#dead-letter-1").contains("replayed"), "{}", b.text("#dead-letter-1"));
    assert_eq!(b.count("#dead-letters button"), 2, "the other two still await a replay");
    // One not repaired is still refused, and says so.
    b.click("button[aria-label='Replay dead letter 2']");
    assert!(b.text(".notice[role=status]").contains("is still refused"));
    b.eval("document.getElementById('letters-h').scrollIntoView(); return null");
    screenshot(&b, "connector-dead-letters");

    // The page refreshes itself: a run asked for elsewhere shows up without a reload.
    b.goto(&format!("{base}/console/connectors/feed"));
    assert_eq!(b.count("#runs tr.run"), 1);
    b.eval("window.notReloaded = true; return null");
    assert_eq!(d.post("/connectors/feed/run").0, 200);
    b.wait_until("the new run listed", Duration::from_secs(20), |b| b.count("#runs tr.run") == 2);
    assert_eq!(b.eval("return window.notReloaded === true"), json!(true), "updated in place");

    // Reset the cursor and run now from the page.
    b.click("#reset-cursor");
    assert_eq!(b.text(".notice[role=status]"), "The cursor was cleared: the next run starts from the beginning.");
    b.click("#run-now");
    assert!(b.text(".notice[role=status]").starts_with("Run finished:"), "{}", b.text(".notice"));
    assert_eq!(b.count("#runs tr.run"), 3);

    // A phone's width: nothing wider than the screen.
    b.resize(390, 844);
    b.goto(&base);
    let overflow = b.eval("return document.documentElement.scrollWidth - window.innerWidth");
    assert!(overflow.as_i64().unwrap() <= 0, "the overview is wider than a phone: {overflow}");
    screenshot(&b, "overview-phone");

    // A form posted without its CSRF token, or from another site, is refused; the
    // dead letter it names stays as it was.
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let (code, _, body) =
        request_with_headers(d.addr, "POST", "/console/connectors/letters/dead-letters/3/replay", &form, "");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("the form&#39;s CSRF token is missing or wrong"), "{body}");
    let csrf = csrf_of(&request_with_headers(d.addr, "GET", "/console/connectors/letters", &[], "").2);
    let evil = [form[0], ("origin", "http://evil.test")];
    let (code, _, body) = request_with_headers(
        d.addr,
        "POST",
        "/console/connectors/letters/dead-letters/3/replay",
        &evil,
        &format!("csrf={csrf}"),
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("refused: the request came from another site (Origin: http://evil.test)"), "{body}");
    let (code, _, _) = request_with_headers(
        d.addr,
        "POST",
        "/console/connectors/letters/dead-letters/3/replay",
        &form,
        &format!("csrf={csrf}"),
    );
    assert_eq!(code, 303, "the same form with its token goes through");

    // An action that cannot be done says why on the page it leads back to.
    let (code, headers, _) =
        request_with_headers(d.addr, "POST", "/console/connectors/feed/approve", &form, &format!("csrf={csrf}"));
    assert_eq!(code, 303);
    let location = headers.iter().find(|(k, _)| k == "location").map(|(_, v)| v.clone()).unwrap();
    let (_, _, html) = request_with_headers(d.addr, "GET", &location, &[], "");
    assert!(html.contains("`feed` has no version awaiting approval."), "{html}");
    let (code, _, html) = request_with_headers(d.addr, "GET", "/console/connectors/nope", &[], "");
    assert_eq!(code, 404);
    assert!(html.contains("No connector is named `nope`."), "{html}");

    // On SQLite there is no cluster, and the page says so.
    b.goto(&format!("{base}/console/cluster"));
    assert!(b.text("#no-cluster").contains("The store is not shared (SQLite)"));
    let log = d.log_text();
    assert!(!log.contains(SECRET), "{log}");
}

/// The CSRF token of the first form on a page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[at..at + 64].to_string()
}

#[test]
fn off_loopback_the_console_needs_the_token() {
    let dir = scratch(&[]);
    let config = write_config(dir.path(), &feed("feed", "1h"));
    let port = free_port();
    let d = Daemon::start_with(dir.path(), &config, &format!("0.0.0.0:{port}"), Some(TOKEN), &[]);
    ran_once(&d, &["feed"]);
    let addr = d.addr;

    // Without the token: the sign-in form, with 401, for a page and for an action.
    let (code, headers, html) = request_with_headers(addr, "GET", "/", &[], "");
    assert_eq!(code, 401, "{html}");
    assert!(html.contains("<h1>Sign in</h1>") && !html.contains("data-connector"), "{html}");
    assert!(headers.iter().any(|(k, v)| k == "www-authenticate" && v == "Bearer"), "{headers:?}");
    let (code, _, html) = request_with_headers(addr, "GET", "/console/connectors/feed", &[], "");
    assert_eq!(code, 401, "{html}");
    let form = ("content-type", "application/x-www-form-urlencoded");
    let (code, _, html) = request_with_headers(addr, "POST", "/console/connectors/feed/run", &[form], "");
    assert_eq!(code, 401, "{html}");
    assert!(html.contains("Sign in with the admin token first"), "{html}");
    let (code, _, html) = request_with_headers(addr, "GET", "/", &[("cookie", "host_console=0123456789abcdef")], "");
    assert_eq!(code, 401, "a made-up cookie is no session: {html}");
    // A script with the bearer token reads the pages.
    let bearer = format!("Bearer {TOKEN}");
    let (code, _, html) = request_with_headers(addr, "GET", "/", &[("authorization", &bearer)], "");
    assert_eq!(code, 200, "{html}");
    assert!(html.contains("data-connector=\"feed\""));

    let b = Browser::start(1280, 800, true);
    let base = format!("http://127.0.0.1:{port}");
    b.goto(&format!("{base}/console/connectors/feed"));
    assert_eq!(b.text("h1"), "Sign in");
    b.type_into("#token", "not-the-token");
    b.click("form.login button");
    assert_eq!(b.text("#login-error"), "That is not this daemon's admin token.");
    screenshot(&b, "login");
    b.type_into("#token", TOKEN);
    b.click("form.login button");
    // Back where the browser was going, signed in.
    assert!(b.url().ends_with("/console/connectors/feed"), "{}", b.url());
    assert_eq!(b.text("h1"), "Connector feed");
    let cookies = b.cookies();
    let session = cookies.iter().find(|c| c["name"] == "host_console").expect("the session cookie");
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");
    assert!(!session["value"].as_str().unwrap().contains(TOKEN));
    b.click("#run-now");
    assert!(b.text(".notice[role=status]").starts_with("Run finished:"), "{}", b.source());

    // The session's cookie without the form's token: refused.
    let cookie = format!("host_console={}", session["value"].as_str().unwrap());
    let (code, _, html) =
        request_with_headers(addr, "POST", "/console/connectors/feed/run", &[form, ("cookie", &cookie)], "csrf=00");
    assert_eq!(code, 403, "{html}");
    assert!(html.contains("CSRF token is missing or wrong"), "{html}");

    // Signing out ends it.
    b.click(".session button");
    assert_eq!(b.text("h1"), "Sign in");
    b.goto(&base);
    assert_eq!(b.text("h1"), "Sign in");
}

#[test]
fn the_cluster_page_shows_the_hosts_and_their_leases() {
    let db = tests::postgres::shared().database();
    let dir = scratch(&[]);
    let mut daemons = Vec::new();
    for id in ["host-a", "host-b"] {
        let body = format!(
            "[serve]\nstore = {}\nhost_id = {}\n[serve.leases]\nttl_ms = 3000\n\n{}{}",
            quote(&db),
            quote(id),
            feed("feed-1", "1h"),
            feed("feed-2", "1h"),
        );
        let config = dir.path().join(format!("{id}.toml"));
        std::fs::write(&config, body).unwrap();
        let sub = dir.path().join(id);
        std::fs::create_dir_all(&sub).unwrap();
        daemons.push(Daemon::start(&sub, &config));
    }
    let a = &daemons[0];
    a.wait_for("/cluster", Duration::from_secs(60), |v| {
        v["hosts"].as_array().is_some_and(|h| h.iter().filter(|h| h["live"] == true).count() == 2)
            && v["leases"].as_array().is_some_and(|l| l.len() == 2 && l.iter().all(|l| l["owner"].is_string()))
    });
    let b = Browser::start(1280, 800, true);
    b.goto(&format!("http://{}/console/cluster", a.addr));
    let hosts = b.text("#hosts");
    assert!(hosts.contains("host-a") && hosts.contains("host-b") && hosts.contains("this host"), "{hosts}");
    assert_eq!(b.count("#hosts tbody tr"), 2);
    let leases = b.text("#leases");
    assert!(leases.contains("feed-1") && leases.contains("feed-2"), "{leases}");
    assert!(leases.contains("host-a") || leases.contains("host-b"), "{leases}");
    screenshot(&b, "cluster");
    // The overview names each connector's owner.
    b.goto(&format!("http://{}/", a.addr));
    let owners = b.text("#connectors tbody");
    assert!(owners.contains("host-a") || owners.contains("host-b"), "{owners}");
    assert!(!owners.contains("none yet"), "{owners}");
    // A connector's page reads its runs from the shared store, whichever host ran them.
    for name in ["feed-1", "feed-2"] {
        b.goto(&format!("http://{}/console/connectors/{name}", a.addr));
        b.wait_until("a run listed", Duration::from_secs(30), |b| {
            b.goto(&b.url());
            b.count("#runs tr.run") >= 1
        });
        let run = b.text("#runs tr.run");
        assert!(run.contains("ok") && (run.contains("host-a") || run.contains("host-b")), "{run}");
    }
}
