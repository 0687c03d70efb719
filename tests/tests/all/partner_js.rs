//! The JavaScript partner kit (`guests/js`) end to end: its two example connectors,
//! built with componentize-js by `guests/js/build.sh`, run by the real binary.
//!
//! The file example must give the Rust file connector's envelopes (and cursors) for the
//! same feed; the REST example reads through the host's egress, with a secret injected
//! for its host that it never sees and an origin outside the grant denied; and an
//! exception the connector does not catch arrives as `other` with its message, never
//! as a trap.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::upstream::{Reply, Upstream};
use tests::*;

/// One compile cache for every test here, filled once. A JavaScript component carries
/// its engine (13 MB): a debug host takes tens of seconds to compile one, so each
/// test compiling its own would dominate the suite. The cache is keyed by the
/// component's digest; it lives in the target directory and is reused across runs.
fn cache() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("partner-js-cache");
        std::fs::create_dir_all(&dir).unwrap();
        let out = output(host(&dir).arg("compile").arg(JS_FILE_WASM).arg(JS_REST_WASM).arg(FILE_WASM));
        assert!(out.status.success(), "compiling the JS examples: {}", stderr(&out));
        dir
    })
}

/// What one `host run` left behind.
struct Ran {
    out: Output,
    err: String,
    report: Value,
    envelopes: Vec<Value>,
}

impl Ran {
    fn error_case(&self) -> &str {
        self.report["error"]["case"].as_str().unwrap_or_default()
    }

    fn error_message(&self) -> &str {
        self.report["error"]["message"].as_str().unwrap_or_default()
    }

    /// Everything the run wrote: envelopes, standard error, report.
    fn all_output(&self) -> String {
        format!("{}\n{}\n{}", String::from_utf8_lossy(&self.out.stdout), self.err, self.report)
    }
}

/// `host run WASM --manifest MANIFEST EXTRA...` with `env`, envelopes on stdout.
fn run(wasm: &str, manifest: Option<&Path>, extra: &[&str], env: &[(&str, &str)]) -> Ran {
    let dir = scratch(&[]);
    let report = dir.path().join("report.json");
    let mut cmd = host(cache());
    cmd.arg("run").arg(wasm).arg("--report").arg(&report);
    if let Some(manifest) = manifest {
        cmd.arg("--manifest").arg(manifest);
    }
    cmd.args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output(&mut cmd);
    let err = stderr(&out);
    let report = serde_json::from_slice(&std::fs::read(&report).unwrap_or_default()).unwrap_or(Value::Null);
    let envelopes = jsonl(&out.stdout);
    Ran { out, err, report, envelopes }
}

/// The fields of each envelope that come from the connector (and the hash of `raw`),
/// without those that name the component or the time.
fn comparable(envelopes: &[Value]) -> Vec<Value> {
    envelopes
        .iter()
        .map(|e| {
            json!({
                "record_id": e["record_id"],
                "record_type": e["record_type"],
                "source_instance": e["source_instance"],
                "provenance": e["provenance"],
                "acl_tags": e["acl_tags"],
                "raw": e["raw"],
                "raw_sha256": e["hashes"]["raw_sha256"],
            })
        })
        .collect()
}

fn js_file_manifest() -> PathBuf {
    root().join("guests/js/examples/file/file.toml")
}

#[test]
fn the_js_file_connector_gives_the_rust_file_connectors_envelopes_for_the_sample_feed() {
    let js = run(JS_FILE_WASM, Some(js_file_manifest().as_path()), &[], &[]);
    let rust = run(FILE_WASM, Some(root().join("guests/file.toml").as_path()), &[], &[]);
    assert!(js.out.status.success(), "{}", js.err);
    assert!(rust.out.status.success(), "{}", rust.err);
    assert_eq!(js.envelopes.len(), 35);
    assert_eq!(comparable(&js.envelopes), comparable(&rust.envelopes));

    // Valid by the host's own validator, sealed by the host for the JS component.
    let v = host::envelope::validate::validate_reader(&js.out.stdout[..]).unwrap();
    assert_eq!((v.envelopes, v.valid), (35, 35), "{:?}", v.findings);
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(std::fs::read(JS_FILE_WASM).unwrap())));
    for e in &js.envelopes {
        assert_eq!(e["source"], "partner-factchecks");
        assert_eq!(e["metadata"]["connector"]["digest"], digest);
        assert_eq!(e["metadata"]["connector"]["package"], "partner:connector@1.1.0");
        let canonical = serde_json_canonicalizer::to_vec(&e["raw"]).unwrap();
        assert_eq!(e["hashes"]["raw_sha256"], hex::encode(Sha256::digest(&canonical)));
    }
    assert!(js.envelopes.iter().any(|e| e["raw"].to_string().contains('ü')), "non-ASCII text came through");

    // The malformed line is reported as the Rust connector reports it.
    assert_eq!(js.report["status"], "ok");
    assert_eq!((&js.report["published"], &js.report["skipped"]), (&json!(35), &json!(1)));
    assert_eq!(js.report["problems"][0]["where"], "line 17");
    assert!(js.report["problems"][0]["reason"].as_str().unwrap().starts_with("not a JSON object"));
    assert!(js.err.contains("file-js: ok — 35 published, 0 rejected, 1 skipped of 35 fetched in 1 page"), "{}", js.err);
}

#[test]
fn the_js_file_connector_pages_with_the_rust_connectors_cursors() {
    let pages = |wasm: &str, manifest: &Path| {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut args = vec!["--limit", "4", "--max-pages", "2"];
            if let Some(c) = &cursor {
                args.extend(["--cursor", c]);
            }
            let ran = run(wasm, Some(manifest), &args, &[]);
            assert!(ran.out.status.success(), "{}", ran.err);
            let ids: Vec<Value> = ran.envelopes.iter().map(|e| e["record_id"].clone()).collect();
            cursor = ran.report["next_cursor"].as_str().map(String::from);
            pages.push((ids, cursor.clone()));
            if cursor.is_none() {
                break;
            }
            assert!(pages.len() < 20, "paging does not end");
        }
        pages
    };
    let js = pages(JS_FILE_WASM, &js_file_manifest());
    let rust = pages(FILE_WASM, &root().join("guests/file.toml"));
    assert!(js.len() >= 4, "expected several resumed runs, got {}", js.len());
    assert_eq!(js, rust, "the same records in the same runs, with the same cursors");
}

/// 3,000 lines of every kind the file connector meets: numeric ids, CRLF, non-ASCII
/// ids and text, blank lines, broken JSON, no id, arrays, padding, bytes that are not
/// UTF-8, duplicate keys.
fn mixed_feed() -> Vec<u8> {
    let mut feed = Vec::new();
    for i in 0..3000u32 {
        let line: Vec<u8> = match i % 12 {
            0 => format!(
                r#"{{"id": {i}, "updated_at": "2026-03-{:02}T00:00:00Z", "author": {{"name": "nested"}}}}"#,
                i % 28 + 1
            )
            .into_bytes(),
            1 => format!("{{\"id\": \"crlf-{i}\", \"text\": \"windows\"}}\r").into_bytes(),
            2 => format!(r#"{{"id": "ü/{i} #?", "text": "Zürich 😀 ☃", "author": "Ä. Ñ"}}"#).into_bytes(),
            3 => Vec::new(),
            4 => format!(r#"{{"id": "broken-{i}", "text": "unterminated}}"#).into_bytes(),
            5 => format!(r#"{{"name": "no id {i}"}}"#).into_bytes(),
            6 => b"[1, 2, 3]".to_vec(),
            7 => format!("   {{\"id\": \"padded-{i}\", \"big\": 12345678901234567890, \"f\": 1.50}}\t ").into_bytes(),
            8 => vec![0xff, 0xfe, b'{', b'}'],
            9 => format!(r#"{{"id": "dup-{i}", "id": "last-{i}", "author": 7}}"#).into_bytes(),
            _ => format!(
                r#"{{"id": "rec-{i}", "updated_at": "2026-01-01T00:00:00Z", "author": "a@example.org", "n": {i}}}"#
            )
            .into_bytes(),
        };
        feed.extend_from_slice(&line);
        feed.push(b'\n');
    }
    feed
}

/// The kind of a skip reason: the parsers word their messages differently.
fn reason_kind(reason: &str) -> &str {
    ["not a JSON object", "no `id` field", "not UTF-8"].into_iter().find(|k| reason.starts_with(k)).unwrap_or(reason)
}

#[test]
fn on_a_mixed_feed_both_connectors_give_the_same_envelopes_and_skip_the_same_lines() {
    let dir = scratch(&[]);
    std::fs::create_dir_all(dir.path().join("feeds")).unwrap();
    std::fs::write(dir.path().join("feeds/mixed.jsonl"), mixed_feed()).unwrap();
    let grant = format!("{}::/feeds", dir.path().join("feeds").display());
    let args = [
        "--dir",
        &grant,
        "--set",
        "path=/feeds/mixed.jsonl",
        "--set",
        "author_field=author",
        "--set",
        "last_modified_field=updated_at",
    ];
    let js = run(JS_FILE_WASM, None, &args, &[]);
    let rust = run(FILE_WASM, None, &args, &[]);
    assert!(js.out.status.success(), "{}", js.err);
    assert!(rust.out.status.success(), "{}", rust.err);
    assert!(js.envelopes.len() > 1000, "{}", js.envelopes.len());
    assert_eq!(comparable(&js.envelopes), comparable(&rust.envelopes));
    for key in ["fetched", "published", "rejected", "skipped", "pages"] {
        assert_eq!(js.report[key], rust.report[key], "{key}");
    }
    let problems = |ran: &Ran| -> Vec<(String, String, String)> {
        ran.report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let text = |k: &str| p[k].as_str().unwrap_or_default().to_string();
                (text("kind"), text("where"), reason_kind(&text("reason")).to_string())
            })
            .collect()
    };
    let (js_problems, rust_problems) = (problems(&js), problems(&rust));
    assert!(!js_problems.is_empty());
    assert_eq!(js_problems, rust_problems);
    // A non-ASCII id is percent-encoded in the URI the same way (UTF-8 bytes).
    let e = js.envelopes.iter().find(|e| e["record_id"] == "ü/2 #?").expect("the non-ASCII id");
    assert_eq!(e["provenance"]["uri"], "file:///feeds/mixed.jsonl#%C3%BC%2F2%20%23%3F");
}

#[test]
fn get_finds_one_record_and_a_missing_one_is_not_found() {
    let manifest = js_file_manifest();
    let out = output(host(cache()).arg("get").arg(JS_FILE_WASM).arg("--manifest").arg(&manifest).arg("fc-2026-0005"));
    assert!(out.status.success(), "{}", stderr(&out));
    let got = jsonl(&out.stdout);
    let rust = output(
        host(cache())
            .arg("get")
            .arg(FILE_WASM)
            .arg("--manifest")
            .arg(root().join("guests/file.toml"))
            .arg("fc-2026-0005"),
    );
    assert_eq!(comparable(&got), comparable(&jsonl(&rust.stdout)));

    let out = output(host(cache()).arg("get").arg(JS_FILE_WASM).arg("--manifest").arg(&manifest).arg("fc-missing"));
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "connector `file-js`: get-record failed: not-found: no record with id `fc-missing` in /feeds/factchecks.jsonl"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn inspect_shows_a_1_1_component_without_wasi_http_or_sockets() {
    let out =
        output(host(cache()).arg("inspect").arg(JS_FILE_WASM).arg("--manifest").arg(js_file_manifest()).arg("--json"));
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["package"], "partner:connector@1.1.0");
    assert_eq!(v["source_name"], "file");
    assert_eq!(v["exports"], json!(["partner:connector/source@1.1.0"]));
    let imports: Vec<&str> = v["imports"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
    assert!(imports.contains(&"wasi:filesystem/preopens@0.2.12"), "{imports:?}");
    assert!(imports.contains(&"partner:connector/http@1.1.0"), "{imports:?}");
    assert!(!imports.iter().any(|i| i.starts_with("wasi:http") || i.starts_with("wasi:sockets")), "{imports:?}");
    assert!(v["grants"]["dirs"][0].as_str().unwrap().ends_with("examples/feeds -> /feeds (read-only)"));

    let out = output(host(cache()).arg("inspect").arg(JS_REST_WASM).arg("--json"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source_name"], "rest-js");
}

const TOKEN: &str = "js-kit-SECRET-0123456789abcdef";

/// A loopback API for the REST example: 120 items in pages (`?limit=N&cursor=OFFSET`),
/// an endpoint that echoes the credential back, a 429 and a 503.
fn items_api() -> Upstream {
    Upstream::start(|s| {
        let (path, query) = s.path.split_once('?').unwrap_or((s.path.as_str(), ""));
        match path {
            "/items" => {
                let start: usize = param(query, "cursor").map(|c| c.parse().unwrap()).unwrap_or(0);
                let limit: usize = param(query, "limit").expect("the connector sends limit").parse().unwrap();
                let end = (start + limit).min(120);
                let items: Vec<Value> = (start..end)
                    .map(|i| {
                        let (id, title) = (format!("item-{}", i + 1), format!("Item {}", i + 1));
                        json!({"id": id, "title": title, "updated_at": "2026-01-02T03:04:05Z"})
                    })
                    .collect();
                let next = if end < 120 { json!(end.to_string()) } else { Value::Null };
                Reply::json(200, &json!({"items": items, "next_cursor": next}))
            }
            "/echo" => Reply::json(
                200,
                &json!({"items": [{"id": "e1", "you_sent": s.header("authorization")}], "next_cursor": null}),
            ),
            "/slow" => Reply::text(429, &[("retry-after", "3600")], "slow down"),
            "/down" => Reply::text(503, &[], "down"),
            _ => Reply::text(404, &[], "no such path"),
        }
    })
}

/// The value of query parameter `name` in `query` (`a=1&b=2`), as sent.
fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

/// A manifest for the REST example in `dir`: `allow` granted, a bearer secret from
/// REST_API_TOKEN for 127.0.0.1, no retries, pages of 50, and `config`.
fn rest_manifest(dir: &Path, allow: &str, config: &[(&str, &str)]) -> PathBuf {
    let mut m = String::from("name = \"rest-js\"\nsource = \"example-items\"\n[config]\n");
    for (k, v) in config {
        m.push_str(&format!("{k} = {}\n", quote(v)));
    }
    m.push_str(&format!(
        "[http]\nallow = [{}]\n[[http.secrets]]\nfrom_env = \"REST_API_TOKEN\"\nhost = \"127.0.0.1\"\n\
         header = \"Authorization\"\nformat = \"Bearer {{}}\"\n[http.retry]\nmax_retries = 0\n\
         [limits]\npage_size = 50\ncall_timeout_ms = 30000\n",
        quote(allow)
    ));
    let path = dir.join("rest.toml");
    std::fs::write(&path, m).unwrap();
    path
}

#[track_caller]
fn assert_no_secret(ran: &Ran) {
    let all = ran.all_output();
    assert!(!all.contains(TOKEN), "the secret leaked:\n{all}");
    assert!(!all.contains(&TOKEN[7..20]), "part of the secret leaked:\n{all}");
}

#[test]
fn the_js_rest_connector_pages_through_the_egress_with_a_secret_it_never_sees() {
    let up = items_api();
    let dir = scratch(&[]);
    let manifest = rest_manifest(dir.path(), &up.origin(), &[("base_url", &up.origin())]);
    let ran = run(JS_REST_WASM, Some(manifest.as_path()), &[], &[("REST_API_TOKEN", TOKEN)]);
    assert!(ran.out.status.success(), "{}", ran.err);

    let ids: Vec<&str> = ran.envelopes.iter().map(|e| e["record_id"].as_str().unwrap()).collect();
    let expected: Vec<String> = (1..=120).map(|i| format!("item-{i}")).collect();
    assert_eq!(ids, expected);
    let e = &ran.envelopes[0];
    assert_eq!(e["source"], "example-items");
    assert_eq!(e["record_type"], "Document");
    assert_eq!(e["provenance"]["uri"], format!("{}/items/item-1", up.origin()));
    assert_eq!(e["provenance"]["last_modified"], "2026-01-02T03:04:05Z");
    assert_eq!(e["raw"], json!({"id": "item-1", "title": "Item 1", "updated_at": "2026-01-02T03:04:05Z"}));
    assert_eq!(ran.report["pages"], 3);

    let seen = up.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/items?limit=50", "/items?limit=50&cursor=50", "/items?limit=50&cursor=100"]);
    for s in &seen {
        assert_eq!(s.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()), "the host injects the secret");
        assert_eq!(s.header("accept"), Some("application/json"));
    }
    assert_no_secret(&ran);
}

#[test]
fn a_credential_the_upstream_echoes_is_redacted_before_the_js_connector_sees_it() {
    let up = items_api();
    let dir = scratch(&[]);
    let manifest = rest_manifest(dir.path(), &up.origin(), &[("base_url", &up.origin()), ("path", "/echo")]);
    let ran = run(JS_REST_WASM, Some(manifest.as_path()), &[], &[("REST_API_TOKEN", TOKEN)]);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(ran.envelopes.len(), 1);
    assert_eq!(ran.envelopes[0]["raw"]["you_sent"], "[REDACTED]");
    assert_eq!(ran.report["http"]["redacted"], 1);
    assert_no_secret(&ran);
}

#[test]
fn an_origin_outside_the_grant_is_denied_and_never_contacted() {
    let up = items_api();
    let elsewhere = items_api();
    let dir = scratch(&[]);
    let manifest = rest_manifest(dir.path(), &up.origin(), &[("base_url", &elsewhere.origin())]);
    let ran = run(JS_REST_WASM, Some(manifest.as_path()), &[], &[("REST_API_TOKEN", TOKEN)]);
    assert_eq!(ran.out.status.code(), Some(4), "{}", ran.err);
    assert_eq!(ran.error_case(), "denied", "{}", ran.report);
    let message = format!("HTTP to {} is not granted (http.allow: {})", elsewhere.origin(), up.origin());
    assert!(ran.error_message().contains(&message), "{}", ran.error_message());
    assert!(ran.err.contains(&format!("list-drafts failed: denied: {message}")), "{}", ran.err);
    assert_eq!(ran.report["http"]["denied"], 1);
    assert!(elsewhere.seen().is_empty() && up.seen().is_empty(), "nothing may be sent");
    assert_no_secret(&ran);
}

#[test]
fn a_429_and_a_503_reach_the_host_as_their_own_cases() {
    let up = items_api();
    for (path, case, text) in [("/slow", "rate-limited", "429"), ("/down", "api", "503")] {
        let dir = scratch(&[]);
        let manifest = rest_manifest(dir.path(), &up.origin(), &[("base_url", &up.origin()), ("path", path)]);
        let ran = run(JS_REST_WASM, Some(manifest.as_path()), &[], &[("REST_API_TOKEN", TOKEN)]);
        assert_eq!(ran.out.status.code(), Some(4), "{path}: {}", ran.err);
        assert_eq!(ran.error_case(), case, "{path}: {}", ran.report);
        assert!(
            ran.error_message().contains(&format!("GET {}{path}?limit=50: {text}", up.origin())),
            "{}",
            ran.error_message()
        );
        assert_no_secret(&ran);
    }
    let rate_limited = up.seen().iter().filter(|s| s.path.starts_with("/slow")).count();
    assert_eq!(rate_limited, 1, "a Retry-After beyond the host's wait is not retried");
}

#[test]
fn an_uncaught_exception_is_error_case_other_with_its_message() {
    let up = items_api();
    let dir = scratch(&[]);
    let bug = "simulated bug: the page could not be read";
    let manifest = rest_manifest(dir.path(), &up.origin(), &[("base_url", &up.origin()), ("debug_throw", bug)]);
    let ran = run(JS_REST_WASM, Some(manifest.as_path()), &[], &[("REST_API_TOKEN", TOKEN)]);
    assert_eq!(ran.out.status.code(), Some(4), "{}", ran.err);
    assert_eq!(ran.report["error"]["kind"], "connector_error", "a value, not a trap: {}", ran.report);
    assert_eq!(ran.error_case(), "other", "{}", ran.report);
    assert!(ran.error_message().contains(&format!("list-drafts failed: other: {bug}")), "{}", ran.error_message());
    assert!(ran.err.contains(bug), "{}", ran.err);
    assert!(up.seen().is_empty(), "it threw before any request");
}
