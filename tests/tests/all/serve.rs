//! `host serve`: the admin API, hot swap under load, a hostile connector beside good
//! ones, and shutdown in the middle of a run. Real daemons, real components, real
//! loopback servers, a real SQLite store.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::Digest;
use tests::daemon::{Daemon, free_port, request};
use tests::upstream::{Reply, Upstream};
use tests::*;

pub(crate) fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

fn path(p: &Path) -> String {
    quote(&p.display().to_string())
}

fn digest(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A `[[connectors]]` entry for the example file connector (its manifest grants
/// `examples/feeds`).
pub(crate) fn feed(name: &str, poll: &str) -> String {
    format!(
        "[[connectors]]\nname = \"{name}\"\ncomponent = {}\nmanifest = {}\npoll_interval = \"{poll}\"\n",
        quote(FILE_WASM),
        path(&root().join("guests/file.toml"))
    )
}

fn store_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("serve.db").display())
}

pub(crate) fn write_config(dir: &Path, body: &str) -> PathBuf {
    let config = dir.join("connectors.toml");
    std::fs::write(&config, format!("[serve]\nstore = {}\n\n{body}", quote(&store_url(dir)))).unwrap();
    config
}

pub(crate) fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the metrics parse as Prometheus text");
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

#[test]
fn the_admin_api_answers_every_endpoint() {
    let dir = scratch(&[]);
    let config = write_config(
        dir.path(),
        &(feed("feed", "1h") + "[[connectors]]\nname = \"broken\"\ncomponent = \"x.wasm\"\npoll_interval = \"soon\"\n"),
    );
    let d = Daemon::start(dir.path(), &config);
    let file_digest = digest(&std::fs::read(FILE_WASM).unwrap());

    let health = d.json("/health");
    assert_eq!(health["status"], "ok");
    // The first run starts at once.
    d.wait_for("/connectors/feed", Duration::from_secs(30), |v| v["status"]["runs"] == 1);
    let (code, body) = d.get("/health/connectors");
    assert_eq!(code, 200, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["connectors"][0]["name"], "feed");
    assert_eq!(h["connectors"][0]["healthy"], true);

    let list = d.json("/connectors");
    assert_eq!(list["connectors"].as_array().unwrap().len(), 1);
    assert_eq!(list["config_errors"][0]["entry"], "connector `broken`");
    assert!(list["config_errors"][0]["error"].as_str().unwrap().contains("`poll_interval` is \"soon\""));

    let one = d.json("/connectors/feed");
    assert_eq!(one["live"]["digest"], file_digest);
    assert_eq!(one["live"]["source"], "partner-factchecks");
    assert_eq!(one["status"]["last_run"]["published"], 35);

    let (code, body) = d.post("/connectors/feed/run");
    assert_eq!(code, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["skipped_unchanged"], 35, "the second run finds nothing new");
    assert_eq!(report["component"]["digest"], file_digest);

    let (code, body) = d.post("/connectors/feed/reload");
    assert_eq!((code, serde_json::from_str::<Value>(&body).unwrap()["outcome"].clone()), (200, json!("unchanged")));

    let envelope = d.json("/connectors/feed/records/fc-2026-0001");
    assert_eq!(envelope["record_id"], "fc-2026-0001");
    assert_eq!(envelope["metadata"]["connector"]["digest"], format!("sha256:{file_digest}"));
    let (code, body) = d.get("/connectors/feed/records/no-such-record");
    assert_eq!(code, 404, "{body}");
    assert_eq!(d.get("/connectors/nope").0, 404);
    assert_eq!(d.post("/connectors/nope/run").0, 404);
    assert_eq!(d.get("/no/such/route").0, 404);

    let (code, text) = d.get("/metrics");
    assert_eq!(code, 200);
    assert_eq!(metric(&text, "connector_runs_total", &[("connector", "feed"), ("outcome", "ok")]), 2.0);
    assert_eq!(metric(&text, "connector_records_total", &[("connector", "feed"), ("kind", "published")]), 35.0);
    assert_eq!(metric(&text, "connector_records_total", &[("connector", "feed"), ("kind", "unchanged")]), 35.0);
    assert_eq!(metric(&text, "connector_info", &[("connector", "feed"), ("digest", &file_digest)]), 1.0);
    assert_eq!(metric(&text, "connector_healthy", &[("connector", "feed")]), 1.0);
    assert_eq!(metric(&text, "connector_breaker_state", &[("connector", "feed"), ("upstream", "run")]), 0.0);
    assert!(text.contains("connector_run_duration_seconds_count{connector=\"feed\"} 2"), "{text}");
    assert!(text.contains("connector_guest_call_duration_seconds_bucket{connector=\"feed\",le=\"+Inf\"}"));
}

/// A POST that the browser says came from another site (a page the operator has
/// open, posting a form to the loopback API) is refused; tools send no such header.
#[test]
fn a_cross_site_post_to_the_api_is_refused() {
    use std::io::{Read, Write};
    let dir = scratch(&[]);
    let config = write_config(dir.path(), &feed("feed", "1h"));
    let d = Daemon::start(dir.path(), &config);
    // Its first run (at start) over, so that a run asked for is not refused as busy.
    let before = d.wait_for("/connectors/feed", Duration::from_secs(60), |v| {
        v["status"]["runs"].as_u64() >= Some(1) && v["status"]["running"] == false
    });
    let post = |extra: &str| -> String {
        let mut s = std::net::TcpStream::connect(d.addr).unwrap();
        let req = format!(
            "POST /connectors/feed/run HTTP/1.1\r\nhost: {}\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n",
            d.addr
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    for extra in [
        "origin: http://evil.example\r\n",
        "origin: null\r\n",
        "sec-fetch-site: cross-site\r\n",
        "sec-fetch-site: same-site\r\n",
    ] {
        let answer = post(extra);
        assert!(answer.starts_with("HTTP/1.1 403"), "{extra}: {answer}");
        assert!(answer.contains("refused: the request came from another site"), "{answer}");
    }
    assert_eq!(d.json("/connectors/feed")["status"]["runs"], before["status"]["runs"], "no refused POST ran it");
    // The same POST from a tool, or from the daemon's own origin, runs it.
    for extra in ["", &format!("origin: http://{}\r\nsec-fetch-site: same-origin\r\n", d.addr)] {
        let answer = post(extra);
        assert!(answer.starts_with("HTTP/1.1 200"), "{extra}: {answer}");
    }
}

#[test]
fn off_loopback_the_api_needs_a_token() {
    let dir = scratch(&[]);
    let config = write_config(dir.path(), &feed("feed", "1h"));
    let port = free_port();
    let out = output(
        host(&dir.path().join("cache"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", &format!("0.0.0.0:{port}")])
            .env_remove("HOST_ADMIN_TOKEN"),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains(&format!(
            "the admin API would listen on 0.0.0.0:{port}, which is not a loopback address, without a token"
        )),
        "{}",
        stderr(&out)
    );

    let d =
        Daemon::start_with(dir.path(), &config, &format!("0.0.0.0:{}", free_port()), Some("s3cret-admin-token"), &[]);
    for route in ["/metrics", "/connectors", "/connectors/feed"] {
        let (code, body) = request(d.addr, "GET", route, None);
        assert_eq!(code, 401, "{route}: {body}");
        assert!(body.contains("a bearer token is required"));
        assert_eq!(request(d.addr, "GET", route, Some("wrong-token")).0, 401);
    }
    assert_eq!(request(d.addr, "POST", "/connectors/feed/run", None).0, 401);
    assert_eq!(d.get("/connectors/feed").0, 200);
}

/// The probe with one more custom section: a new version (a new digest) that
/// behaves the same.
pub(crate) fn version_of(base: &[u8], tag: &str) -> Vec<u8> {
    let mut bytes = base.to_vec();
    let name = b"version-tag";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    bytes.push(0); // custom section
    bytes.push(payload.len() as u8);
    bytes.extend_from_slice(&payload);
    bytes
}

#[test]
fn swapping_the_component_under_load_fails_no_run_and_mixes_no_versions() {
    let dir = scratch(&[]);
    let probe = std::fs::read(PROBE_WASM).unwrap();
    let (a, b) = (version_of(&probe, "A"), version_of(&probe, "B"));
    let component = dir.path().join("swap.wasm");
    std::fs::write(&component, &a).unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[[connectors]]\nname = \"swap\"\ncomponent = {}\npoll_interval = \"10ms\"\njitter = 0.0\nout = \"swap.jsonl\"\n\
             [connectors.manifest]\nsource = \"swap-source\"\n[connectors.manifest.config]\nmode = \"counter\"\n",
            path(&component)
        ),
    );
    let d = Daemon::start(dir.path(), &config);
    d.wait_for("/connectors/swap", Duration::from_secs(30), |v| v["live"]["digest"] == digest(&a));

    // 20 replacements: the two good versions alternately, and two broken ones.
    let broken_not_wasm = b"this is not a component".to_vec();
    let broken_v2 = std::fs::read(V2_WASM).unwrap();
    let mut plan: Vec<(&str, &[u8])> = Vec::new();
    for i in 0..18 {
        plan.push(if i % 2 == 0 { ("B", &b) } else { ("A", &a) });
        if i == 5 {
            plan.push(("broken: not a component", &broken_not_wasm));
        }
        if i == 12 {
            plan.push(("broken: WIT 2.0", &broken_v2));
        }
    }
    assert_eq!(plan.len(), 20);
    let mut live = digest(&a);
    let mut swap_ms = Vec::new();
    for (what, bytes) in &plan {
        let before = d.json("/connectors/swap")["status"]["runs"].as_u64().unwrap();
        let written = Instant::now();
        std::fs::write(&component, bytes).unwrap();
        if what.starts_with("broken") {
            let v = d.wait_for("/connectors/swap", Duration::from_secs(10), |v| !v["status"]["reload_error"].is_null());
            assert_eq!(v["live"]["digest"], live, "{what} replaced the working version");
            // Runs go on, on the old version.
            d.wait_for("/connectors/swap", Duration::from_secs(10), |v| {
                v["status"]["runs"].as_u64().unwrap() > before + 2
            });
        } else {
            let want = digest(bytes);
            d.wait_for("/connectors/swap", Duration::from_secs(10), |v| v["live"]["digest"] == want);
            swap_ms.push(written.elapsed().as_millis() as u64);
            live = want;
            d.wait_for("/connectors/swap", Duration::from_secs(10), |v| {
                v["status"]["runs"].as_u64().unwrap() > before + 1
            });
        }
    }
    let text = d.get("/metrics").1;
    let ok = metric(&text, "connector_runs_total", &[("connector", "swap"), ("outcome", "ok")]);
    let failed = metric(&text, "connector_runs_total", &[("connector", "swap"), ("outcome", "failed")]);
    let refused = metric(&text, "connector_reloads_total", &[("connector", "swap"), ("outcome", "refused")]);
    drop(d);
    assert_eq!(failed, 0.0, "no run may fail during the swaps");
    assert!(refused >= 2.0, "both broken versions were refused");
    let slowest = *swap_ms.iter().max().unwrap();
    eprintln!(
        "swap test: {} runs, 18 good swaps live after {swap_ms:?} ms (slowest {slowest} ms), {refused} refused",
        ok as u64
    );
    assert!(slowest < 2000, "a good version took {slowest} ms to go live");

    // Every run's envelopes name exactly one version: group the published changes
    // by the run that made them (`raw.run`).
    let mut by_run: std::collections::BTreeMap<u64, std::collections::BTreeSet<String>> = Default::default();
    for envelope in jsonl(&std::fs::read(dir.path().join("swap.jsonl")).unwrap()) {
        let run = envelope["raw"]["run"].as_u64().unwrap();
        let digest = envelope["metadata"]["connector"]["digest"].as_str().unwrap();
        by_run.entry(run).or_default().insert(digest.trim_start_matches("sha256:").to_string());
    }
    assert!(by_run.len() as f64 >= ok, "every run published its generation: {} of {ok}", by_run.len());
    for (run, digests) in &by_run {
        assert_eq!(digests.len(), 1, "run {run} sealed envelopes with {digests:?}");
    }
    let seen: std::collections::BTreeSet<&String> = by_run.values().flatten().collect();
    assert!(seen.contains(&digest(&a)) && seen.contains(&digest(&b)));
}

#[test]
fn a_hostile_connector_does_not_hold_up_the_good_ones() {
    let dir = scratch(&[]);
    let config = write_config(
        dir.path(),
        &format!(
            "[serve.run_breaker]\nfailure_threshold = 3\nreset_ms = 600000\n\n{}\
             [[connectors]]\nname = \"spinner\"\ncomponent = {}\npoll_interval = \"10ms\"\n\
             [connectors.manifest]\n[connectors.manifest.config]\nmode = \"loop\"\n\
             [connectors.manifest.limits]\ncall_timeout_ms = 400\n",
            feed("feed", "100ms"),
            quote(PROBE_WASM)
        ),
    );
    let d = Daemon::start(dir.path(), &config);
    // Three seconds of both running: counted from when both are compiled and live
    // (a loaded machine takes seconds to compile them).
    for name in ["feed", "spinner"] {
        d.wait_for(&format!("/connectors/{name}"), Duration::from_secs(120), |v| v["live"].is_object());
    }
    std::thread::sleep(Duration::from_secs(3));
    let text = d.get("/metrics").1;
    let feed_ok = metric(&text, "connector_runs_total", &[("connector", "feed"), ("outcome", "ok")]);
    let feed_failed = metric(&text, "connector_runs_total", &[("connector", "feed"), ("outcome", "failed")]);
    let spin_failed = metric(&text, "connector_runs_total", &[("connector", "spinner"), ("outcome", "failed")]);
    let spin_open = metric(&text, "connector_runs_total", &[("connector", "spinner"), ("outcome", "circuit_open")]);
    eprintln!(
        "beside a spinning connector: feed ran {feed_ok} times in 3 s; spinner failed {spin_failed}, refused {spin_open}"
    );
    assert_eq!(feed_failed, 0.0);
    // 100 ms apart (±10 %) plus the run itself: about 15 runs in 3 s; ask for half.
    assert!(feed_ok >= 8.0, "the good connector ran only {feed_ok} times in 3 s:\n{}", d.log_text());
    assert_eq!(spin_failed, 3.0, "three failed runs open the run breaker");
    assert!(spin_open >= 1.0, "runs are refused while the breaker is open");
    assert_eq!(metric(&text, "connector_breaker_state", &[("connector", "spinner"), ("upstream", "run")]), 2.0);
    let status = d.json("/connectors/spinner");
    assert!(status["status"]["last_error"].as_str().unwrap().contains("limits.call_timeout_ms"), "{status}");
    drop(d);

    // Each failed run scheduled a retry, recorded as a lifecycle event.
    let out = output(host(&dir.path().join("cache")).args(["status", "spinner", "--store", &store_url(dir.path())]));
    assert!(out.status.success(), "{}", stderr(&out));
    let reduced: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(reduced["sync"]["retry_scheduled"], 3, "{reduced}");
    assert_eq!(reduced["current_state"], "degraded");
}

#[test]
fn sigterm_mid_run_commits_whole_pages_and_a_restart_resumes() {
    // Ten pages of three items, each page 300 ms slow.
    let up = Upstream::start(|s| {
        let page: usize = s.path.split("page=").nth(1).and_then(|p| p.split('&').next()).unwrap().parse().unwrap();
        let items: Vec<Value> =
            if page <= 10 { (0..3).map(|i| json!({"id": format!("p{page}-{i}")})).collect() } else { vec![] };
        Reply::Delay(Duration::from_millis(300), Box::new(Reply::json(200, &Value::Array(items))))
    });
    let dir = scratch(&[]);
    let config = write_config(
        dir.path(),
        &format!(
            "[[connectors]]\nname = \"slow\"\ncomponent = {}\npoll_interval = \"1h\"\n\
             [connectors.manifest]\n[connectors.manifest.config]\nbase_url = {}\npath = \"/items\"\nid_field = \"id\"\n\
             pagination = \"page\"\nper_page_param = \"per_page\"\npage_size = \"3\"\n\
             [connectors.manifest.limits]\npage_size = 3\n\
             [connectors.manifest.http]\nallow = [{}]\n",
            quote(HTTP_JSON_WASM),
            quote(&up.origin()),
            quote(&up.origin())
        ),
    );
    let mut d = Daemon::start(dir.path(), &config);
    let started = Instant::now();
    while up.seen().len() < 4 {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", d.log_text());
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, took) = d.terminate();
    assert_eq!(code, Some(0), "{}", d.log_text());
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    let queued = |dir: &Path| {
        let out = output(host(&dir.join("cache")).args(["queue", "--limit", "1000", "--store", &store_url(dir)]));
        jsonl(&out.stdout).iter().map(|e| e["record_id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let first = queued(dir.path());
    assert!(!first.is_empty() && first.len() < 30, "{} records after the stop", first.len());
    assert_eq!(first.len() % 3, 0, "only whole pages are committed: {first:?}");

    // Restarted, it resumes from the committed cursor and finishes.
    let seen_before = up.seen().len();
    let mut d = Daemon::start(dir.path(), &config);
    d.wait_for("/connectors/slow", Duration::from_secs(60), |v| !v["status"]["last_success_at"].is_null());
    d.terminate();
    let all = queued(dir.path());
    let unique: std::collections::BTreeSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 30, "{all:?}");
    assert_eq!(unique.len(), 30, "a record was published twice");
    let first_after = &up.seen()[seen_before];
    assert!(
        !first_after.path.contains("page=1&") && !first_after.path.ends_with("page=1"),
        "it started over: {}",
        first_after.path
    );
}

#[test]
fn a_config_reload_adds_removes_and_reschedules_without_touching_the_others() {
    let dir = scratch(&[]);
    let config = write_config(dir.path(), &(feed("stays", "1h") + &feed("goes", "1h")));
    let d = Daemon::start(dir.path(), &config);
    d.wait_for("/connectors/stays", Duration::from_secs(30), |v| v["status"]["runs"] == 1);
    let stays_since = d.json("/connectors/stays")["live"]["live_since"].clone();

    // `goes` is removed, `added` is added, and `stays` is untouched.
    std::fs::write(
        &config,
        format!("[serve]\nstore = {}\n\n{}{}", quote(&store_url(dir.path())), feed("stays", "1h"), feed("added", "1h")),
    )
    .unwrap();
    d.wait_for("/connectors", Duration::from_secs(10), |v| {
        let names: Vec<&str> =
            v["connectors"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        names == ["added", "stays"]
    });
    d.wait_for("/connectors/added", Duration::from_secs(30), |v| v["status"]["runs"] == 1);
    let stays = d.json("/connectors/stays");
    assert_eq!(stays["live"]["live_since"], stays_since, "an unchanged connector was reloaded");
    assert_eq!(stays["status"]["runs"], 1, "an unchanged connector was run again");

    // A broken config leaves everything as it was.
    std::fs::write(&config, "[serve\nbroken").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(d.json("/connectors")["connectors"].as_array().unwrap().len(), 2);
    assert!(d.log_text().contains("config reload refused, the running connectors are unchanged"), "{}", d.log_text());

    // A manifest that grants more is applied, and the new grant is logged.
    let manifest = dir.path().join("wider.toml");
    let feeds = root().join("examples/feeds");
    std::fs::write(&manifest, format!("source = \"partner-factchecks\"\n[config]\npath = \"/feeds/factchecks.jsonl\"\nid_field = \"id\"\n[[dirs]]\nhost = {}\nguest = \"/feeds\"\n", path(&feeds))).unwrap();
    std::fs::write(
        &config,
        format!(
            "[serve]\nstore = {}\n\n{}[[connectors]]\nname = \"added\"\ncomponent = {}\nmanifest = {}\npoll_interval = \"1h\"\n",
            quote(&store_url(dir.path())),
            feed("stays", "1h"),
            quote(FILE_WASM),
            path(&manifest)
        ),
    )
    .unwrap();
    d.wait_for("/connectors/added", Duration::from_secs(10), |_| {
        d.log_text().contains("grant added by the operator's manifest: directory")
    });
}

/// A connector whose upstream fails and recovers is reconnected: by the schedule
/// (`automatic`) after a single failure, and by the first run after the run
/// breaker's wait (`backoff`) once failures opened the breaker. Every event folds
/// without an anomaly.
#[test]
fn a_recovering_connector_is_reconnected_by_the_schedule_or_after_the_breaker() {
    use std::sync::atomic::Ordering;
    let (up, answer) = Upstream::switchable(json!([{"id": 1, "title": "one"}]));
    let dir = scratch(&[]);
    let config = write_config(
        dir.path(),
        &format!(
            "[serve.run_breaker]\nfailure_threshold = 2\nreset_ms = 600\n\n\
             [[connectors]]\nname = \"flaky\"\ncomponent = {}\npoll_interval = \"250ms\"\njitter = 0.0\n\
             [connectors.manifest]\n[connectors.manifest.config]\nbase_url = {}\npath = \"/items\"\nid_field = \"id\"\n\
             [connectors.manifest.http]\nallow = [{}]\n",
            quote(HTTP_JSON_WASM),
            quote(&up.origin()),
            quote(&up.origin())
        ),
    );
    let d = Daemon::start(dir.path(), &config);
    let limit = Duration::from_secs(20);
    let healthy = |v: &Value| v["status"]["last_success_at"].is_string() && v["status"]["consecutive_failures"] == 0;
    let first = d.wait_for("/connectors/flaky", limit, healthy);
    let succeeded_at = |v: &Value| v["status"]["last_success_at"].as_str().unwrap_or_default().to_string();

    // One failure, then the upstream is back before the next scheduled run.
    answer.store(500, Ordering::SeqCst);
    d.wait_for("/connectors/flaky", limit, |v| v["status"]["consecutive_failures"] == 1);
    answer.store(200, Ordering::SeqCst);
    let back = d.wait_for("/connectors/flaky", limit, |v| healthy(v) && succeeded_at(v) != succeeded_at(&first));

    // Failures enough to open the run breaker; the upstream recovers while it is open.
    answer.store(500, Ordering::SeqCst);
    d.wait_for("/connectors/flaky", limit, |v| v["status"]["consecutive_failures"] == 2);
    answer.store(200, Ordering::SeqCst);
    d.wait_for("/connectors/flaky", limit, |v| healthy(v) && succeeded_at(v) != succeeded_at(&back));
    drop(d);

    let store = store_url(dir.path());
    let (reduced, states) = connector_status(&dir.path().join("cache"), &store, "flaky");
    assert_eq!(
        states[..8],
        ["provisioned", "healthy", "degraded", "reconnected", "healthy", "degraded", "reconnected", "healthy"],
        "{reduced}"
    );
    let strategies: Vec<Value> = stored_events(&store)
        .iter()
        .filter(|e| e["event_type"] == "ConnectorReconnected")
        .map(|e| e["payload"]["reconnect_strategy"].clone())
        .collect();
    assert_eq!(strategies, ["automatic", "backoff"]);
}

#[test]
fn connectors_of_one_component_share_its_compiled_code() {
    let dir = scratch(&[]);
    // Forty entries: they load in the background, one compile for all of them.
    let extra: String = (0..37).map(|i| feed(&format!("more-{i}"), "1h")).collect();
    let config = write_config(dir.path(), &(feed("one", "1h") + &feed("two", "1h") + &feed("three", "1h") + &extra));
    let mut d = Daemon::start(dir.path(), &config);
    for name in ["one", "two", "three", "more-36"] {
        d.wait_for(&format!("/connectors/{name}"), Duration::from_secs(60), |v| v["status"]["runs"] == 1);
    }
    let listed =
        d.wait_for("/connectors", Duration::from_secs(60), |v| v["connectors"].as_array().unwrap().len() == 40);
    assert!(listed["connectors"].as_array().unwrap().iter().all(|c| !c["live"].is_null()), "{listed}");
    let loaded = Instant::now();
    while !d.log_text().contains("every connector is loaded") {
        assert!(loaded.elapsed() < Duration::from_secs(30), "{}", d.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, text) = d.get("/metrics");
    assert_eq!(code, 200);
    assert_eq!(metric(&text, "host_compiled_components", &[]), 1.0, "three connectors, one compiled copy");
    assert_eq!(metric(&text, "host_component_loads_total", &[]), 1.0, "loaded once, shared twice");
    let digests: Vec<Value> =
        ["one", "two", "three"].iter().map(|n| d.json(&format!("/connectors/{n}"))["live"]["digest"].clone()).collect();
    assert!(digests.iter().all(|x| x == &digests[0]), "{digests:?}");

    // A daemon that stops leaves its store one file: the WAL is emptied.
    let (code, _) = d.terminate();
    assert_eq!(code, Some(0), "{}", d.log_text());
    let wal = std::fs::metadata(dir.path().join("serve.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL is truncated when the daemon ends");
}

/// Each refusal of a reload names what was wrong, and the live version keeps running.
#[test]
fn a_refused_reload_says_why_and_keeps_the_live_version() {
    let dir = scratch(&[]);
    let wasm = place(HOSTILE_WASM, dir.path(), "hostile");
    let entry = |config: &str| {
        format!(
            "[[connectors]]\nname = \"h\"\ncomponent = {}\npoll_interval = \"1h\"\n[connectors.manifest.config]\n{config}\n",
            path(&wasm)
        )
    };
    let config = write_config(dir.path(), &entry("case = \"text\"\nat = \"nowhere\""));
    let d = Daemon::start(dir.path(), &config);
    let live = d.wait_for("/connectors/h", Duration::from_secs(30), |v| v["live"]["source_name"] == "hostile");
    let refused = |config: &str, expected: &str| {
        write_config(dir.path(), &entry(config));
        let v = d.wait_for("/connectors/h", Duration::from_secs(10), |v| {
            v["status"]["reload_error"].as_str().is_some_and(|e| e.contains(expected))
        });
        assert_eq!(v["live"]["digest"], live["live"]["digest"]);
        assert_eq!(v["live"]["source_name"], "hostile", "the live version was replaced");
        let (code, body) = d.post("/connectors/h/reload");
        assert_eq!(code, 422, "{body}");
        assert!(body.contains(expected), "{body}");
    };
    refused(
        "case = \"text\"\nat = \"source-name\"\ntext = \"another-source\"",
        "the new version says its source is `another-source`, the live one `hostile`; a swap may not change the source",
    );
    refused(
        "case = \"text\"\nat = \"source-name\"\ntext = \"not a name\"",
        "the new version fails its check: connector `h`: source-name broke the contract",
    );
    refused("case = \"text\"\nlimits_typo = 1\n[connectors.manifest.limits]\nmemory_mib = 0", "memory_mib");
}
