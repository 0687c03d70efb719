//! The Python partner kit (`guests/python`) end to end: its example connectors, built
//! with componentize-py by `guests/python/build.sh`, run in the real host binary.
//!
//! - the file example gives the Rust file connector's envelopes for the same feed
//!   (everything but the connector's own identity), its cursors and its problems;
//! - the REST example reads a loopback API through the host's egress, with a secret
//!   the host injects and the guest never sees, and a denied origin is `denied`;
//! - an exception the connector does not catch is the error case `other`, with the
//!   exception's type and message, never a trap (`examples/faulty`, test-only).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use tests::upstream::{Reply, Upstream};
use tests::*;

fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

/// One compile cache for every test here, filled once. A Python component carries
/// CPython and a snapshot of its heap (18-20 MB): a host takes 20-40 s to compile
/// one, so each test compiling its own would dominate the suite. The cache is keyed
/// by the component's digest (a copy placed elsewhere hits it too); it lives in the
/// target directory and is reused across runs.
fn cache() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("partner-python-cache");
        std::fs::create_dir_all(&dir).unwrap();
        let out =
            output(host(&dir).arg("compile").arg(PY_FILE_WASM).arg(PY_REST_WASM).arg(FILE_WASM).arg(PY_FAULTY_WASM));
        assert!(out.status.success(), "compiling the Python examples: {}", stderr(&out));
        dir
    })
}

/// One `host run` of `wasm` with `args`, its report and envelopes.
fn run(dir: &Path, wasm: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Value, Vec<Value>) {
    let report = dir.join("report.json");
    let out = dir.join("out.jsonl");
    let _ = std::fs::remove_file(&report);
    let _ = std::fs::remove_file(&out);
    let mut cmd = host(cache());
    cmd.arg("run").arg(wasm).arg("--report").arg(&report).arg("--out").arg(&out).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = output(&mut cmd);
    let report = serde_json::from_slice(&std::fs::read(&report).unwrap_or_default()).unwrap_or(Value::Null);
    (o, report, jsonl(&std::fs::read(&out).unwrap_or_default()))
}

/// A run of the Rust file connector and one of the Python one on the sample feed,
/// each with its own manifest (the same grants and config), with `args`.
fn both_on_the_sample_feed(args: &[&str]) -> [(Output, Value, Vec<Value>); 2] {
    let dir = scratch(&[]);
    let rust = root().join("guests/file.toml");
    let python = root().join("guests/python/file.toml");
    let with = |manifest: &Path| -> Vec<String> {
        ["--manifest", manifest.to_str().unwrap()].iter().chain(args).map(|a| a.to_string()).collect()
    };
    let (rust, python) = (with(&rust), with(&python));
    let rust: Vec<&str> = rust.iter().map(String::as_str).collect();
    let python: Vec<&str> = python.iter().map(String::as_str).collect();
    [run(dir.path(), Path::new(FILE_WASM), &rust, &[]), run(dir.path(), Path::new(PY_FILE_WASM), &python, &[])]
}

/// What an envelope says about its record, leaving out what names the connector
/// (`metadata.connector`: digest, name, package) and the time it was collected.
fn record_part(e: &Value) -> Value {
    json!({
        "envelope_version": e["envelope_version"],
        "source": e["source"],
        "source_instance": e["source_instance"],
        "record_id": e["record_id"],
        "record_type": e["record_type"],
        "provenance": e["provenance"],
        "hashes": e["hashes"],
        "raw": e["raw"],
        "acl_tags": e["acl_tags"],
        "metadata_without_connector": e["metadata"].as_object().map(|m| {
            m.iter().filter(|(k, _)| k.as_str() != "connector").map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>()
        }),
    })
}

#[test]
fn the_python_file_connector_gives_the_rust_connectors_envelopes() {
    let [(rust_out, rust_report, rust), (py_out, py_report, py)] = both_on_the_sample_feed(&[]);
    assert!(rust_out.status.success(), "{}", stderr(&rust_out));
    assert!(py_out.status.success(), "{}", stderr(&py_out));
    assert_eq!(py.len(), 35);
    assert_eq!(py.len(), rust.len());
    for (p, r) in py.iter().zip(&rust) {
        assert_eq!(record_part(p), record_part(r), "record {}", r["record_id"]);
        assert_eq!(p["hashes"]["raw_sha256"], r["hashes"]["raw_sha256"]);
    }
    // Only the connector's identity differs.
    let py_connector = &py[0]["metadata"]["connector"];
    assert_eq!(py_connector["package"], "partner:connector@1.1.0");
    assert_eq!(py_connector["name"], "py-file");
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(std::fs::read(PY_FILE_WASM).unwrap()));
    assert_eq!(py_connector["digest"], format!("sha256:{digest}"));
    assert_ne!(py_connector["digest"], rust[0]["metadata"]["connector"]["digest"]);

    // The host's validator accepts every one.
    let lines: String = py.iter().map(|e| format!("{e}\n")).collect();
    let v = host::envelope::validate::validate_reader(lines.as_bytes()).unwrap();
    assert_eq!((v.envelopes, v.valid), (35, 35), "{:?}", v.findings);

    // The same line is skipped, for the same reason, and the counts agree.
    assert_eq!(py_report["problems"], rust_report["problems"]);
    assert_eq!(py_report["problems"][0]["where"], "line 17");
    for key in ["status", "pages", "fetched", "published", "rejected", "skipped", "next_cursor"] {
        assert_eq!(py_report[key], rust_report[key], "report `{key}`");
    }
    assert_eq!(py_report["component"]["package"], "partner:connector@1.1.0");
}

#[test]
fn the_python_file_connector_issues_and_resumes_the_rust_connectors_cursors() {
    let args = ["--limit", "4", "--max-pages", "2"];
    let [(rust_out, rust_report, rust), (py_out, py_report, py)] = both_on_the_sample_feed(&args);
    assert!(rust_out.status.success() && py_out.status.success(), "{}{}", stderr(&rust_out), stderr(&py_out));
    let cursor = rust_report["next_cursor"].as_str().expect("a cursor after two pages of four");
    assert_eq!(py_report["next_cursor"], rust_report["next_cursor"]);
    assert_eq!(ids(&py), ids(&rust));

    // Each resumes where the other stopped, and gives the same rest.
    let rest = ["--cursor", cursor];
    let [(rust_out, _, rust_rest), (py_out, py_report, py_rest)] = both_on_the_sample_feed(&rest);
    assert!(rust_out.status.success() && py_out.status.success(), "{}{}", stderr(&rust_out), stderr(&py_out));
    assert_eq!(ids(&py_rest), ids(&rust_rest));
    assert_eq!(py_report["next_cursor"], Value::Null);
    assert_eq!(ids(&py).len() + ids(&py_rest).len(), 35);

    // A cursor it did not issue is refused, naming it.
    let [_, (out, report, _)] = both_on_the_sample_feed(&["--cursor", "v9:nonsense"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(report["error"]["case"], "invalid-config");
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cursor `v9:nonsense` was not issued by this connector (expected `v1:<offset>:<line>`)"),
        "{report}"
    );
}

fn ids(envelopes: &[Value]) -> Vec<String> {
    envelopes.iter().map(|e| e["record_id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn the_python_file_connector_gets_one_record_and_says_which_is_missing() {
    let dir = scratch(&[]);
    let manifest = root().join("guests/python/file.toml");
    let get = |id: &str| {
        output(
            host(cache()).current_dir(dir.path()).arg("get").arg(PY_FILE_WASM).arg("--manifest").arg(&manifest).arg(id),
        )
    };
    let out = get("fc-2026-0005");
    assert!(out.status.success(), "{}", stderr(&out));
    let envelopes = jsonl(&out.stdout);
    assert_eq!(envelopes.len(), 1);
    assert_eq!(envelopes[0]["record_id"], "fc-2026-0005");

    let out = get("fc-missing");
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains(
            "connector `py-file`: get-record failed: not-found: no record with id `fc-missing` in /feeds/factchecks.jsonl"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn inspect_shows_a_python_component_of_the_v1_1_world_with_sockets_denied() {
    let dir = scratch(&[]);
    let manifest = root().join("guests/python/file.toml");
    let out = output(
        host(cache())
            .current_dir(dir.path())
            .arg("inspect")
            .arg(PY_FILE_WASM)
            .arg("--manifest")
            .arg(&manifest)
            .arg("--json"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["package"], "partner:connector@1.1.0");
    assert_eq!(v["source_name"], "file");
    assert!(v["exports"].as_array().unwrap().contains(&json!("partner:connector/source@1.1.0")), "{v}");
    // The kit builds the world whose pages ingest takes as columns.
    assert_eq!(v["world"], "columnar-connector");
    assert!(v["exports"].as_array().unwrap().contains(&json!("partner:connector/columnar@1.1.0")), "{v}");
    assert_eq!(v["implements"], json!({"source": true, "evidence": false, "columnar": true}));
    let text =
        output(host(cache()).current_dir(dir.path()).arg("inspect").arg(PY_FILE_WASM).arg("--manifest").arg(&manifest));
    assert!(
        String::from_utf8_lossy(&text.stdout).contains(
            "world         columnar-connector of partner:connector@1.1.0: source (records: run, get, serve's schedule), columnar (the source's pages as columns, for ingest)"
        ),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    let imports: Vec<&str> = v["imports"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
    for wanted in ["partner:connector/http@1.1.0", "partner:connector/config@1.1.0", "wasi:filesystem/preopens@0.2.12"]
    {
        assert!(imports.contains(&wanted), "{wanted} missing from {imports:?}");
    }
    // componentize-py's CPython imports wasi:sockets; the host links it with every
    // call denied, so the only network is the `http` import.
    assert!(imports.iter().any(|i| i.starts_with("wasi:sockets/")), "{imports:?}");
    assert_eq!(v["grants"]["sockets"], "denied (imported: every use fails with access-denied)");
    assert_eq!(v["name"], "py-file");
}

const TOKEN: &str = "py-rest-SECRET-0123456789abcdef";

/// Seven items in pages of `per_page` (default 3), each page pointing to the next
/// with a relative `next` link. Every answer requires the bearer token and echoes the
/// `Authorization` header it got, as a careless (or hostile) API might.
fn items_api(seen: &tests::upstream::Seen) -> Reply {
    if seen.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Reply::json(401, &json!({"message": "who are you"}));
    }
    let url = url::Url::parse(&format!("http://x{}", seen.path)).unwrap();
    let q = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.parse::<usize>().unwrap());
    let (page, per) = (q("page").unwrap_or(1), q("per_page").unwrap_or(3));
    match url.path() {
        "/items" => {
            let items: Vec<Value> = (1..=7)
                .skip((page - 1) * per)
                .take(per)
                .map(
                    |i| json!({"id": i, "title": format!("item {i}"), "updated_at": format!("2026-01-0{i}T00:00:00Z")}),
                )
                .collect();
            let mut body = json!({"items": items, "echo": seen.header("authorization")});
            if page * per < 7 {
                body["next"] = json!(format!("/items?page={}&per_page={per}", page + 1));
            }
            Reply::json(200, &body)
        }
        "/busy" => Reply::text(429, &[("retry-after", "3600")], "slow down"),
        "/down" => Reply::text(503, &[], "down for maintenance"),
        _ => Reply::json(404, &json!({"message": "no route"})),
    }
}

/// The REST example placed in `dir` as `rest.wasm`, with a manifest beside it that
/// allows `up` only and injects the token from `PY_REST_TOKEN` for it.
fn rest_connector(dir: &Path, up: &Upstream, config: &[(&str, &str)], http: &str) -> PathBuf {
    let wasm = place(PY_REST_WASM, dir, "rest");
    let mut m = String::from("name = \"py-rest\"\nsource = \"example-items\"\n[config]\n");
    m.push_str(&format!("base_url = {}\n", quote(&up.origin())));
    for (k, v) in
        [("per_page_param", "per_page"), ("page_size", "3"), ("last_modified_field", "updated_at")].iter().chain(config)
    {
        m.push_str(&format!("{k} = {}\n", quote(v)));
    }
    m.push_str(&format!(
        "[http]\nallow = [{}]\n{http}[[http.secrets]]\nfrom_env = \"PY_REST_TOKEN\"\nhost = \"127.0.0.1\"\nformat = \"Bearer {{}}\"\n",
        quote(&up.origin())
    ));
    std::fs::write(dir.join("rest.toml"), m).unwrap();
    wasm
}

#[test]
fn the_python_rest_connector_reads_pages_with_a_secret_it_never_sees() {
    let up = Upstream::start(items_api);
    let dir = scratch(&[]);
    let wasm = rest_connector(dir.path(), &up, &[], "");
    let (out, report, envelopes) = run(dir.path(), &wasm, &[], &[("PY_REST_TOKEN", TOKEN)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["1", "2", "3", "4", "5", "6", "7"]);
    assert_eq!(report["pages"], 3);
    let e = &envelopes[0];
    assert_eq!(e["record_type"], "Document");
    assert_eq!(e["source"], "example-items");
    assert_eq!(e["source_instance"], format!("{}/items", up.origin().trim_start_matches("http://")));
    assert_eq!(e["provenance"]["last_modified"], "2026-01-01T00:00:00Z");
    assert_eq!(e["raw"]["title"], "item 1");
    assert_eq!(
        host::envelope::validate::validate_reader(&std::fs::read(dir.path().join("out.jsonl")).unwrap()[..])
            .unwrap()
            .valid,
        7
    );

    // The upstream got the token on every request, the first one without a page.
    let seen = up.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.header("authorization") == Some(&format!("Bearer {TOKEN}"))));
    assert_eq!(seen[0].path, "/items?per_page=3");
    assert_eq!(seen[2].path, "/items?page=3&per_page=3");

    // The guest never saw it: the echo was redacted before the connector read it, and
    // nothing the host wrote holds it.
    let recorded = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let report_text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    for (what, text) in [("envelopes", recorded.as_str()), ("report", &report_text), ("stderr", &stderr(&out))] {
        assert!(!text.contains(TOKEN), "the secret leaked into {what}:\n{text}");
        assert!(!text.contains(&TOKEN[8..24]), "part of the secret leaked into {what}");
    }
    assert_eq!(report["http"]["redacted"], 3);
}

#[test]
fn an_origin_the_manifest_does_not_allow_is_denied_and_not_contacted() {
    let elsewhere = Upstream::start_at("127.0.0.2", |_| Reply::json(200, &json!({"items": [{"id": "stolen"}]})));
    let next = format!("{}/items?page=2", elsewhere.origin());
    let up = Upstream::start(move |s| {
        if s.path.starts_with("/away") {
            Reply::json(200, &json!({"items": [{"id": "first"}], "next": next}))
        } else {
            items_api(s)
        }
    });
    let dir = scratch(&[]);
    let wasm = rest_connector(dir.path(), &up, &[("path", "/away")], "");
    let (out, report, envelopes) = run(dir.path(), &wasm, &[], &[("PY_REST_TOKEN", TOKEN)]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(report["error"]["kind"], "connector_error");
    assert_eq!(report["error"]["case"], "denied", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "GET {}/items?page=2: HTTP to {} is not granted (http.allow: {})",
            elsewhere.origin(),
            elsewhere.origin(),
            up.origin()
        )),
        "{message}"
    );
    assert_eq!(ids(&envelopes), ["first"], "the page before the denial was published");
    assert_eq!(report["http"]["denied"], 1);
    assert!(elsewhere.seen().is_empty(), "a denied origin must not be contacted");
    // The resume hint carries the denied URL as the cursor, for an operator to see.
    assert!(report["next_cursor"].as_str().unwrap().contains(&elsewhere.origin()), "{report}");
}

#[test]
fn rate_limits_and_server_errors_surface_as_their_cases() {
    let up = Upstream::start(items_api);
    let dir = scratch(&[]);
    let fast = "[http.retry]\nmax_retries = 1\nbase_delay_ms = 20\nmax_delay_ms = 50\n";
    for (path, case, message) in [
        ("/busy", "rate-limited", "the upstream asks to wait 3600000 ms, longer than the host waits"),
        ("/down", "api", "503 Service Unavailable: down for maintenance (after 1 retries)"),
    ] {
        let wasm = rest_connector(dir.path(), &up, &[("path", path)], fast);
        let (out, report, _) = run(dir.path(), &wasm, &[], &[("PY_REST_TOKEN", TOKEN)]);
        assert_eq!(out.status.code(), Some(4), "{path}: {}", stderr(&out));
        assert_eq!(report["error"]["case"], case, "{path}: {report}");
        assert!(report["error"]["message"].as_str().unwrap().contains(message), "{path}: {report}");
    }
}

/// One run of the test-only faulty connector in `mode`.
fn faulty(mode: &str) -> (Output, Value) {
    let wasm = PY_FAULTY_WASM;
    let dir = scratch(&[]);
    let set = format!("mode={mode}");
    let (out, report, _) = run(dir.path(), Path::new(wasm), &["--set", set.as_str()], &[]);
    (out, report)
}

#[test]
fn an_uncaught_exception_is_the_case_other_with_its_type_and_message_never_a_trap() {
    let (out, report) = faulty("raise");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(report["error"]["kind"], "connector_error", "{report}");
    assert_eq!(report["error"]["case"], "other");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("list-draft-columns failed: other: list-draft-columns: uncaught ValueError: deliberate failure: the feed is on fire (at /0/faulty_connector.py:"),
        "{message}"
    );
    // The traceback went to the host's log, attributed to the guest.
    assert!(stderr(&out).contains("Traceback (most recent call last)"), "{}", stderr(&out));

    for (mode, case, text) in [
        ("recursion", "other", "uncaught RecursionError: maximum recursion depth exceeded"),
        ("bad_page", "other", "uncaught TypeError: list_records returned dict, expected connector_sdk.Page"),
        ("lazy_import", "other", "uncaught ModuleNotFoundError: No module named 'csv'"),
        // No sockets: a socket cannot even be made, urllib cannot resolve a name, and
        // each failure is a value too.
        ("raw_socket", "other", "uncaught PermissionError: [Errno 2] Permission denied"),
        ("socket", "other", "uncaught urllib.error.URLError: <urlopen error"),
        ("rate_limited", "rate-limited", "rate-limited (retry after 1500 ms): slow down"),
        ("api", "api", "api error 418: I'm a teapot"),
    ] {
        let (out, report) = faulty(mode);
        assert_eq!(out.status.code(), Some(4), "{mode}: {}", stderr(&out));
        assert_eq!(report["error"]["kind"], "connector_error", "{mode}: {report}");
        assert_eq!(report["error"]["case"], case, "{mode}: {report}");
        assert!(report["error"]["message"].as_str().unwrap().contains(text), "{mode}: {report}");
    }
}

/// `host check` of the Python file connector: its columns, which ingest takes, are
/// the pages of its `list-drafts`.
#[test]
fn host_check_finds_the_columns_agree_with_list_drafts() {
    let dir = scratch(&[]);
    let manifest = root().join("guests/python/file.toml");
    let out = output(
        host(cache())
            .current_dir(dir.path())
            .arg("check")
            .arg(PY_FILE_WASM)
            .arg("--manifest")
            .arg(&manifest)
            .arg("--json"),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "columns-agree").unwrap();
    assert_eq!(check["outcome"], "pass", "{report:#}");
    assert_eq!(check["detail"], "the same drafts and cursor in its 1 page");

    // A component whose columns give another record than its list-drafts fails it.
    let out = output(host(cache()).current_dir(dir.path()).arg("check").arg(PY_FAULTY_WASM).args([
        "--set",
        "mode=columns_differ",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "columns-agree").unwrap();
    assert_eq!(
        (check["outcome"].as_str(), check["detail"].as_str()),
        (Some("fail"), Some("page 1 differs")),
        "{report:#}"
    );
}

/// Columns built past the SDK's checks, that do not line up: the host refuses the
/// page as a broken contract, naming the block and the column, and writes nothing.
#[test]
fn columns_that_do_not_line_up_break_the_contract_and_nothing_is_written() {
    let dir = scratch(&[]);
    let (out, report, envelopes) = run(dir.path(), Path::new(PY_FAULTY_WASM), &["--set", "mode=bad_columns"], &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(report["error"]["kind"], "connector_error", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "list-draft-columns broke the contract: block 1: `raws` has more texts than the block's 1 record ids"
        ),
        "{message}"
    );
    assert!(envelopes.is_empty());
    assert_eq!(report["published"], 0);
}

#[test]
fn a_source_name_that_raises_fails_the_run_naming_the_exception() {
    let (out, report) = faulty("source_name");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(report["error"]["kind"], "connector_error", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("source-name broke the contract"), "{message}");
    assert!(message.contains("uncaught KeyError: 'no name today'"), "{message}");

    let (out, report) = faulty("ok");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["published"], 1);
}

/// As many Python connectors at once as a daemon's config allows (128 sandboxes, 2 of
/// them kept for lookups): a componentize-py instance is 14 core instances (Rust's is
/// 3), and the daemon's pool is sized for them. (Each guest call may wait 2 minutes,
/// and the upstream waits at most 50 s, under the HTTP timeout: on a loaded machine
/// starting 126 sandboxes takes a while.) Every run's first
/// request is held by the upstream until all of them have asked, so all the
/// sandboxes are live together; each then finishes with its own records.
#[test]
fn as_many_python_connectors_as_the_pool_holds_run_at_once_in_one_daemon() {
    use std::sync::{Arc, Condvar, Mutex};
    use tests::daemon::Daemon;
    const N: usize = 126;

    let arrived = Arc::new((Mutex::new(std::collections::BTreeSet::<String>::new()), Condvar::new()));
    // The fewest connectors that had asked when an answer went out.
    let fewest = Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
    let up = Upstream::start({
        let (arrived, fewest) = (arrived.clone(), fewest.clone());
        move |seen| {
            let name = seen.path.trim_start_matches('/').split('/').next().unwrap_or("").to_string();
            let (lock, all_in) = &*arrived;
            let mut names = lock.lock().unwrap();
            names.insert(name.clone());
            all_in.notify_all();
            let (names, _) = all_in.wait_timeout_while(names, Duration::from_secs(50), |n| n.len() < N).unwrap();
            let held = names.len();
            drop(names);
            fewest.fetch_min(held, std::sync::atomic::Ordering::SeqCst);
            let items: Vec<Value> = (1..=2).map(|j| json!({"id": format!("{name}-{j}"), "held": held})).collect();
            Reply::json(200, &json!({ "items": items }))
        }
    });
    let dir = scratch(&[]);
    // The daemon compiles into the shared cache: one Python compile for the suite.
    std::os::unix::fs::symlink(cache(), dir.path().join("cache")).unwrap();
    let wasm = place(PY_REST_WASM, dir.path(), "rest");
    let mut config = format!("[serve]\nstore = \"sqlite:state.db\"\nmax_parallel_runs = {N}\n\n");
    for i in 0..N {
        config.push_str(&format!(
            "[[connectors]]\nname = \"c{i}\"\ncomponent = {}\npoll_interval = \"1h\"\njitter = 0.0\n\
             [connectors.manifest]\nsource = \"feed-c{i}\"\n[connectors.manifest.config]\nbase_url = {}\n\
             path = \"/c{i}/items\"\nitems_field = \"items\"\nid_field = \"id\"\npage_size = \"2\"\n\
             [connectors.manifest.limits]\ncall_timeout_ms = 120000\n\
             [connectors.manifest.http]\nallow = [{}]\n\n",
            quote(&wasm.display().to_string()),
            quote(&up.origin()),
            quote(&up.origin())
        ));
    }
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, config).unwrap();
    let d = Daemon::start(dir.path(), &path);

    let all = d.wait_for("/connectors", Duration::from_secs(240), |v| {
        v["connectors"].as_array().is_some_and(|c| {
            c.len() == N && c.iter().all(|c| c["status"]["runs"] == 1 && c["status"]["last_error"].is_null())
        })
    });
    for c in all["connectors"].as_array().unwrap() {
        let report = &c["status"]["last_run"];
        assert_eq!(report["published"], 2, "{}: {report:#}", c["name"]);
    }
    // Each answer was sent once every connector had asked: all were in flight at once.
    assert_eq!(arrived.0.lock().unwrap().len(), N);
    assert_eq!(
        fewest.load(std::sync::atomic::Ordering::SeqCst),
        N,
        "an answer went out before every connector had asked"
    );
    let (_, metrics) = d.get("/metrics");
    assert!(metrics.contains("\nhost_sandboxes 0\n"), "every sandbox was given back:\n{metrics}");
    assert!(!d.log_text().contains("ERROR"), "{}", d.log_text());
    eprintln!("{N} Python sandboxes at once: the daemon's peak RSS {} MiB", d.peak_rss() >> 20);
}
