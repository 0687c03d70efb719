//! The HTTP connectors end to end: `guests/http-json` in each pagination mode and
//! with ETags kept in the store, and `guests/github` against the recorded GitHub API
//! responses in `tests/data/github` (from `shared/fixtures/github`), served by a loopback server that checks
//! the credential the host injected.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use tests::upstream::{Reply, Seen, Upstream};
use tests::*;

fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

/// Places `wasm` as `name.wasm` in `dir` with a manifest of `config` and `http`.
fn connector(dir: &Path, wasm: &str, name: &str, config: &[(&str, &str)], http: &str) -> PathBuf {
    let path = place(wasm, dir, name);
    let mut m = format!("name = \"{name}\"\nsource = \"{name}-source\"\n[config]\n");
    for (k, v) in config {
        m.push_str(&format!("{k} = {}\n", quote(v)));
    }
    m.push_str("[http]\n");
    m.push_str(http);
    std::fs::write(dir.join(format!("{name}.toml")), m).unwrap();
    path
}

fn run(dir: &Path, wasm: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Value, Vec<Value>) {
    let report = dir.join("report.json");
    let out = dir.join("out.jsonl");
    let _ = std::fs::remove_file(&out);
    let mut cmd = host(&dir.join("cache"));
    cmd.arg("run").arg(wasm).arg("--report").arg(&report).arg("--out").arg(&out).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = output(&mut cmd);
    let report = serde_json::from_slice(&std::fs::read(&report).unwrap_or_default()).unwrap_or(Value::Null);
    let envelopes = jsonl(&std::fs::read(&out).unwrap_or_default());
    (o, report, envelopes)
}

fn ids(envelopes: &[Value]) -> Vec<String> {
    envelopes.iter().map(|e| e["record_id"].as_str().unwrap().to_string()).collect()
}

/// 7 items, `{"id": n, "title": ...}`, n = 1..=7.
fn items() -> Vec<Value> {
    (1..=7).map(|n| json!({"id": n, "title": format!("item {n}"), "updated_at": "2026-01-01T00:00:00Z"})).collect()
}

/// A `200` JSON page of `items`, with a `Link` header when `link` is given.
fn json_page(items: Vec<Value>, link: Option<String>) -> Reply {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    headers.extend(link.map(|l| ("link".to_string(), l)));
    Reply::Respond { status: 200, headers, body: Value::Array(items).to_string().into_bytes() }
}

fn query(seen: &Seen, key: &str) -> Option<String> {
    let url = url::Url::parse(&format!("http://x{}", seen.path)).unwrap();
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

#[test]
fn http_json_follows_link_headers() {
    let up = Upstream::start(|s| {
        let page: usize = query(s, "page").map(|p| p.parse().unwrap()).unwrap_or(1);
        let chunk: Vec<Value> = items().into_iter().skip((page - 1) * 3).take(3).collect();
        let next =
            (page < 3).then(|| format!("</items?page={}>; rel=\"next\", </items?page=1>; rel=\"first\"", page + 1));
        json_page(chunk, next)
    });
    let dir = scratch(&[]);
    let wasm = connector(
        dir.path(),
        HTTP_JSON_WASM,
        "items",
        &[("base_url", &up.origin()), ("path", "/items"), ("id_field", "id"), ("title_field", "title")],
        &format!("allow = [{}]\n", quote(&up.origin())),
    );
    let (out, report, envelopes) = run(dir.path(), &wasm, &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["1", "2", "3", "4", "5", "6", "7"]);
    assert_eq!(envelopes[0]["raw"], items()[0]);
    assert_eq!(envelopes[0]["metadata"]["title"], "item 1");
    assert_eq!(envelopes[0]["record_type"], "Document");
    assert_eq!(report["pages"], 3);
    assert_eq!(report["http"]["requests"], 3);
    assert_eq!(up.seen().len(), 3);
}

#[test]
fn http_json_pages_by_body_cursor_by_page_number_and_by_offset() {
    let up = Upstream::start(|s| {
        let all = items();
        match s.path.split('?').next().unwrap() {
            "/cursor" => {
                let from: usize = query(s, "after").map(|c| c.trim_start_matches('c').parse().unwrap()).unwrap_or(0);
                let chunk: Vec<Value> = all.iter().skip(from).take(3).cloned().collect();
                let next = if from + 3 < all.len() { json!(format!("c{}", from + 3)) } else { Value::Null };
                Reply::json(200, &json!({"data": chunk, "meta": {"next": next}}))
            }
            "/paged" => {
                let page: usize = query(s, "p").unwrap().parse().unwrap();
                let per: usize = query(s, "per").unwrap().parse().unwrap();
                Reply::json(200, &Value::Array(all.iter().skip((page - 1) * per).take(per).cloned().collect()))
            }
            _ => {
                let offset: usize = query(s, "offset").unwrap().parse().unwrap();
                let limit: usize = query(s, "limit").unwrap().parse().unwrap();
                Reply::json(200, &json!({"results": all.iter().skip(offset).take(limit).cloned().collect::<Vec<_>>()}))
            }
        }
    });
    let allow = format!("allow = [{}]\n", quote(&up.origin()));
    for (path, extra, requests) in [
        (
            "/cursor",
            vec![
                ("pagination", "cursor"),
                ("items_pointer", "/data"),
                ("cursor_pointer", "/meta/next"),
                ("cursor_param", "after"),
            ],
            3,
        ),
        ("/paged", vec![("pagination", "page"), ("page_param", "p"), ("per_page_param", "per"), ("page_size", "3")], 3),
        ("/offset", vec![("pagination", "offset"), ("items_pointer", "/results"), ("page_size", "3")], 3),
    ] {
        let dir = scratch(&[]);
        let origin = up.origin();
        let mut config = vec![("base_url", origin.as_str()), ("path", path), ("id_field", "id")];
        config.extend(extra);
        let wasm = connector(dir.path(), HTTP_JSON_WASM, "items", &config, &allow);
        let before = up.seen().len();
        let (out, _, envelopes) = run(dir.path(), &wasm, &[], &[]);
        assert!(out.status.success(), "{path}: {}", stderr(&out));
        assert_eq!(ids(&envelopes), ["1", "2", "3", "4", "5", "6", "7"], "{path}");
        assert_eq!(up.seen().len() - before, requests, "{path}");
    }
}

#[test]
fn http_json_skips_items_without_an_id_and_names_bad_json() {
    let up = Upstream::start(|s| match s.path.as_str() {
        "/bad" => Reply::text(200, &[("content-type", "application/json")], "{not json"),
        _ => Reply::json(200, &json!([{"id": "a"}, {"name": "no id"}, 42, {"id": "b"}])),
    });
    let dir = scratch(&[]);
    let allow = format!("allow = [{}]\n", quote(&up.origin()));
    let wasm = connector(
        dir.path(),
        HTTP_JSON_WASM,
        "items",
        &[("base_url", &up.origin()), ("path", "/x"), ("id_field", "id")],
        &allow,
    );
    let (out, report, envelopes) = run(dir.path(), &wasm, &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["a", "b"]);
    assert_eq!(report["skipped"], 2);

    let wasm = connector(
        dir.path(),
        HTTP_JSON_WASM,
        "bad",
        &[("base_url", &up.origin()), ("path", "/bad"), ("id_field", "id")],
        &allow,
    );
    let (out, report, _) = run(dir.path(), &wasm, &[], &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("parse") && message.contains(&format!("{}/bad", up.origin())), "{message}");
}

#[test]
fn http_json_keeps_the_etag_in_the_store_and_a_304_changes_nothing() {
    let up = Upstream::start(|s| {
        if s.header("if-none-match") == Some("\"v1\"") {
            return Reply::text(304, &[("etag", "\"v1\"")], "");
        }
        Reply::Respond {
            status: 200,
            headers: vec![("etag".into(), "\"v1\"".into()), ("content-type".into(), "application/json".into())],
            body: Value::Array(items()).to_string().into_bytes(),
        }
    });
    let dir = scratch(&[]);
    let allow = format!("allow = [{}]\n", quote(&up.origin()));
    let wasm = connector(
        dir.path(),
        HTTP_JSON_WASM,
        "items",
        &[("base_url", &up.origin()), ("path", "/items"), ("id_field", "id")],
        &allow,
    );
    let store = format!("sqlite:{}", dir.path().join("state.db").display());
    let (out, first, _) = run(dir.path(), &wasm, &["--store", &store], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(first["published"], 7);
    assert_eq!(up.seen()[0].header("if-none-match"), None);

    let (out, second, _) = run(dir.path(), &wasm, &["--store", &store], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(up.seen()[1].header("if-none-match"), Some("\"v1\""), "the stored ETag is sent");
    assert_eq!(second["fetched"], 0);
    assert_eq!(second["published"], 0);
    assert_eq!(second["next_cursor"], Value::Null);
}

/// Serves `tests/data/github/paginate-issues`: each recorded request by path
/// (its query a subset of the request's), links rewritten to this server, the
/// recorded credential required, and `If-None-Match` answered with 304.
fn github_fixture() -> Upstream {
    let path = root().join("tests/data/github/paginate-issues.normalized-fixture.json");
    let fixture: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let origin = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let o = origin.clone();
    let up = Upstream::start(move |s| {
        let expected = "token 0000000000000000000000000000000000000001";
        if s.header("authorization") != Some(expected) {
            return Reply::json(401, &json!({"message": "Requires authentication"}));
        }
        let req = url::Url::parse(&format!("http://x{}", s.path)).unwrap();
        let found = fixture.iter().find(|f| {
            let rec = url::Url::parse(&format!("http://x{}", f["path"].as_str().unwrap())).unwrap();
            rec.path() == req.path() && rec.query_pairs().all(|p| req.query_pairs().any(|q| q == p))
        });
        let Some(f) = found else {
            return Reply::json(404, &json!({"message": "Not Found", "path": s.path}));
        };
        let etag = f["headers"]["etag"].as_str().unwrap().to_string();
        if s.header("if-none-match") == Some(etag.as_str()) {
            return Reply::text(304, &[("etag", &etag)], "");
        }
        let base = o.get().unwrap();
        let headers = f["headers"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !["content-length", "connection", "transfer-encoding"].contains(&k.as_str()))
            .map(|(k, v)| {
                let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                (k.clone(), v.replace("https://api.github.com", base))
            })
            .collect();
        Reply::Respond { status: 200, headers, body: f["response"].to_string().into_bytes() }
    });
    origin.set(up.origin()).unwrap();
    up
}

const FIXTURE_TOKEN: &str = "0000000000000000000000000000000000000001";

fn github_connector(dir: &Path, up: &Upstream) -> PathBuf {
    connector(
        dir,
        GITHUB_WASM,
        "github",
        &[("owner", "octokit-fixture-org"), ("repo", "paginate-issues"), ("base_url", &up.origin()), ("per_page", "3")],
        &format!(
            "allow = [{}]\n[[http.secrets]]\nfrom_env = \"GITHUB_TOKEN\"\nhost = \"127.0.0.1\"\nformat = \"token {{}}\"\n",
            quote(&up.origin())
        ),
    )
}

#[test]
fn github_reads_every_issue_of_the_recorded_repository() {
    let up = github_fixture();
    let dir = scratch(&[]);
    let wasm = github_connector(dir.path(), &up);
    let (out, report, envelopes) = run(dir.path(), &wasm, &[], &[("GITHUB_TOKEN", FIXTURE_TOKEN)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["13", "12", "11", "10", "9", "8", "7", "6", "5", "4", "3", "2", "1"]);
    assert_eq!(report["pages"], 5);
    let seen = up.seen();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0].path, "/repos/octokit-fixture-org/paginate-issues/issues?per_page=3&state=all");
    assert_eq!(seen[1].path, "/repositories/1000/issues?per_page=3&page=2");
    assert!(seen.iter().all(|s| s.header("accept") == Some("application/vnd.github.v3+json")));
    // Each raw record is the issue exactly as GitHub sent it.
    let fixture: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/data/github/paginate-issues.normalized-fixture.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(envelopes[0]["raw"], fixture[0]["response"][0]);
    assert_eq!(envelopes[0]["provenance"]["author"], "octokit-fixture-user-a");
    assert_eq!(envelopes[0]["provenance"]["uri"], "https://github.com/octokit-fixture-org/paginate-issues/issues/13");
    for text in [stderr(&out), std::fs::read_to_string(dir.path().join("report.json")).unwrap()] {
        assert!(!text.contains(FIXTURE_TOKEN), "the token leaked");
    }

    // `inspect` shows the grant and where the secret comes from, never its value.
    let out = output(host(&dir.path().join("cache")).arg("inspect").arg(&wasm).env("GITHUB_TOKEN", FIXTURE_TOKEN));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("  http        {}", up.origin())), "{text}");
    assert!(text.contains("  secrets     authorization for 127.0.0.1 (from GITHUB_TOKEN)"), "{text}");
    assert!(!text.contains(FIXTURE_TOKEN));
}

#[test]
fn github_without_its_token_is_refused_by_the_upstream_as_auth() {
    let up = github_fixture();
    let dir = scratch(&[]);
    let wasm = github_connector(dir.path(), &up);
    let (out, report, _) = run(dir.path(), &wasm, &[], &[("GITHUB_TOKEN", "not-the-right-token")]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("auth") && message.contains("401"), "{message}");
}

#[test]
fn github_second_pass_sends_the_etag_and_finds_nothing_new() {
    let up = github_fixture();
    let dir = scratch(&[]);
    let wasm = github_connector(dir.path(), &up);
    let store = format!("sqlite:{}", dir.path().join("state.db").display());
    let env = [("GITHUB_TOKEN", FIXTURE_TOKEN)];
    let (out, first, _) = run(dir.path(), &wasm, &["--store", &store], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(first["published"], 13);
    let (out, second, _) = run(dir.path(), &wasm, &["--store", &store], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(second["fetched"], 0);
    let seen = up.seen();
    assert_eq!(seen.len(), 6, "the second pass is one conditional request");
    assert_eq!(seen[5].header("if-none-match"), Some("\"00000000000000000000000000000000\""));
}

#[test]
fn github_recorded_once_replays_offline() {
    let dir = scratch(&[]);
    let tape = dir.path().join("github.tape.jsonl");
    let (recorded, wasm) = {
        let up = github_fixture();
        let wasm = github_connector(dir.path(), &up);
        let (out, _, envelopes) =
            run(dir.path(), &wasm, &["--record", tape.to_str().unwrap()], &[("GITHUB_TOKEN", FIXTURE_TOKEN)]);
        assert!(out.status.success(), "{}", stderr(&out));
        (envelopes, wasm)
    };
    // The server is gone; the same run answers from the recording, with no token.
    let text = std::fs::read_to_string(&tape).unwrap();
    assert_eq!(text.lines().count(), 5);
    assert!(!text.contains(FIXTURE_TOKEN));
    let std::process::Output { status, stderr: err, .. } = {
        let (out, report, envelopes) =
            run(dir.path(), &wasm, &["--replay", tape.to_str().unwrap()], &[("GITHUB_TOKEN", "replay-needs-no-token")]);
        assert_eq!(report["http"]["replayed"], 5);
        assert_eq!(ids(&envelopes), ids(&recorded));
        let raws: Vec<&Value> = envelopes.iter().map(|e| &e["raw"]).collect();
        let want: Vec<&Value> = recorded.iter().map(|e| &e["raw"]).collect();
        assert_eq!(raws, want);
        out
    };
    assert!(status.success(), "{}", String::from_utf8_lossy(&err));
}

/// The connector lifecycle follows what the upstream does across runs: a server
/// error degrades the connector (once: a second failure adds no transition), a
/// good run reconnects it, refused credentials revoke it, and the next good run
/// reconnects it again. `host status` folds every event without an anomaly.
#[test]
fn http_json_lifecycle_degrades_revokes_and_reconnects_with_the_upstream() {
    use std::sync::atomic::Ordering;
    let (up, answer) = Upstream::switchable(Value::Array(items()));
    let dir = scratch(&[]);
    let allow = format!("allow = [{}]\n", quote(&up.origin()));
    let config = [("base_url", up.origin()), ("path", "/items".into()), ("id_field", "id".into())];
    let config: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let wasm = connector(dir.path(), HTTP_JSON_WASM, "items", &config, &allow);
    let store = format!("sqlite:{}", dir.path().join("state.db").display());

    // (upstream status, exit code, the error's connector-error case)
    let runs = [
        (200, 0, None),
        (500, 4, Some("api")),
        (500, 4, Some("api")),
        (200, 0, None),
        (401, 4, Some("auth")),
        (403, 4, Some("auth")),
        (500, 4, Some("api")),
        (200, 0, None),
    ];
    for (status, code, case) in runs {
        answer.store(status, Ordering::SeqCst);
        let (out, report, _) = run(dir.path(), &wasm, &["--store", &store], &[]);
        assert_eq!(out.status.code(), Some(code), "upstream {status}: {}", stderr(&out));
        assert_eq!(report["error"]["case"].as_str(), case, "upstream {status}: {report}");
    }

    let (status, states) = connector_status(&dir.path().join("cache"), &store, "items");
    assert_eq!(
        states,
        ["provisioned", "healthy", "degraded", "reconnected", "healthy", "revoked", "reconnected", "healthy"],
        "{status}"
    );
    assert_eq!(status["current_state"], "healthy");
    assert_eq!(status["sync"]["rejected"], 5);

    let events = stored_events(&store);
    let payloads = |kind: &str| -> Vec<Value> {
        events.iter().filter(|e| e["event_type"] == kind).map(|e| e["payload"].clone()).collect()
    };
    let reconnected = payloads("ConnectorReconnected");
    assert_eq!(reconnected.len(), 2);
    assert_eq!(reconnected[0], json!({"previous_state": "degraded", "reconnect_strategy": "manual"}));
    assert_eq!(reconnected[1], json!({"previous_state": "revoked", "reconnect_strategy": "manual"}));
    let revoked = payloads("ConnectorRevoked");
    assert_eq!(revoked.len(), 1, "a second refusal does not revoke again");
    let reason = revoked[0]["revocation_reason"].as_str().unwrap();
    assert!(reason.contains("auth") && reason.contains("401"), "{reason}");
    let degraded = payloads("ConnectorDegraded");
    assert_eq!(degraded.len(), 1, "a second failure does not degrade again, nor does a failure while revoked");
    assert!(degraded[0]["last_healthy_at"].is_string(), "{}", degraded[0]);
}

/// Kills the host with SIGKILL while it waits for an upstream response, at
/// different depths of a paginated HTTP run (on the first request of a run, and 1
/// to 5 pages into it), restarting it each time from the stored cursor. After
/// every kill the store holds exactly whole pages from the start of the feed, each
/// record stored and queued once, and the next run asks the upstream for the page
/// right after them; at the end, the whole feed exactly once.
#[test]
fn sigkill_while_fetching_over_http_loses_nothing_and_publishes_nothing_twice() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

    const PAGES: usize = 40;
    const PER_PAGE: usize = 25;
    let pid = Arc::new(AtomicU32::new(0));
    let kill_on_page = Arc::new(AtomicUsize::new(0));
    let up = Upstream::start({
        let (pid, kill_on_page) = (pid.clone(), kill_on_page.clone());
        move |s| {
            let page: usize = query(s, "page").map(|p| p.parse().unwrap()).unwrap_or(1);
            if page == kill_on_page.load(Ordering::SeqCst) {
                let started = std::time::Instant::now();
                while pid.load(Ordering::SeqCst) == 0 && started.elapsed() < std::time::Duration::from_secs(5) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                // By `kill`, not a libc call: the tests need no unsafe code.
                let host_pid = pid.load(Ordering::SeqCst).to_string();
                std::process::Command::new("kill").args(["-KILL", &host_pid]).status().unwrap();
                return Reply::Close;
            }
            let first = (page - 1) * PER_PAGE + 1;
            let chunk: Vec<Value> =
                (first..first + PER_PAGE).map(|n| json!({"id": n, "title": format!("item {n}")})).collect();
            json_page(chunk, (page < PAGES).then(|| format!("</items?page={}>; rel=\"next\"", page + 1)))
        }
    });
    let dir = scratch(&[]);
    let wasm = connector(
        dir.path(),
        HTTP_JSON_WASM,
        "items",
        &[("base_url", &up.origin()), ("path", "/items"), ("id_field", "id")],
        &format!("allow = [{}]\n", quote(&up.origin())),
    );
    let store = format!("sqlite:{}", dir.path().join("state.db").display());
    // The record ids stored (sorted by number) and queued (in queue order).
    let stored = || {
        let (envelopes, queued) = stored_record_ids(&store);
        let numbers = |ids: Vec<String>| ids.iter().map(|id| id.parse::<usize>().unwrap()).collect::<Vec<_>>();
        let mut envelopes = numbers(envelopes);
        envelopes.sort_unstable();
        (envelopes, numbers(queued))
    };

    let mut committed = 0; // records
    let mut kills = Vec::new();
    for depth in [0, 1, 3, 2, 5, 0, 4, 1, 2, 3] {
        let resume_page = committed / PER_PAGE + 1;
        let kill_page = resume_page + depth;
        kill_on_page.store(kill_page, Ordering::SeqCst);
        let requests_before = up.seen().len();
        let mut child = host(&dir.path().join("cache"))
            .args(["run"])
            .arg(&wasm)
            .args(["--store", &store])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        pid.store(child.id(), Ordering::SeqCst);
        let status = child.wait().unwrap();
        pid.store(0, Ordering::SeqCst);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL), "killed on page {kill_page}: {status}");

        // The run resumed where the store said, with the page after the committed ones.
        let first_request = &up.seen()[requests_before];
        let asked = query(first_request, "page").map(|p| p.parse().unwrap()).unwrap_or(1);
        assert_eq!(asked, resume_page, "the run after {committed} committed records started at page {asked}");

        let (envelopes, queued) = stored();
        let now = envelopes.len();
        assert_eq!(
            envelopes,
            (1..=now).collect::<Vec<_>>(),
            "not a prefix of the feed after the kill on page {kill_page}"
        );
        assert_eq!(queued, envelopes, "each stored record queued once, in feed order");
        assert_eq!(now % PER_PAGE, 0, "whole pages only");
        assert!(now >= committed && now < kill_page * PER_PAGE, "{now} records after the kill on page {kill_page}");
        kills.push((kill_page, now));
        committed = now;
    }
    eprintln!("(page killed on, records committed): {kills:?}");
    assert!(committed > 0 && committed < PAGES * PER_PAGE);

    kill_on_page.store(0, Ordering::SeqCst);
    let (out, report, _) = run(dir.path(), &wasm, &["--store", &store], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["next_cursor"], Value::Null);
    let (envelopes, queued) = stored();
    assert_eq!(envelopes, (1..=PAGES * PER_PAGE).collect::<Vec<_>>());
    assert_eq!(queued, envelopes, "every record queued exactly once");

    let (out, again, _) = run(dir.path(), &wasm, &["--store", &store], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(again["published"], 0);
    assert_eq!(again["skipped_unchanged"].as_u64(), Some((PAGES * PER_PAGE) as u64));
}
