//! Evidence connectors end to end: `guests/mediawiki` against Wikipedia's recorded
//! answers (`tests/data/mediawiki`, served by a loopback server), the evidence probe
//! (`tests/guests/evidence-probe`) for what a connector may get wrong, provenance in
//! the store, and the evidence endpoints of a real `host serve` that runs a 1.0
//! connector beside a 1.1 evidence connector.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use tests::daemon::Daemon;
use tests::upstream::{Reply, Seen, Upstream};
use tests::*;

fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/data/mediawiki").join(name)).unwrap()
}

fn query(seen: &Seen, key: &str) -> Option<String> {
    let url = url::Url::parse(&format!("http://x{}", seen.path)).unwrap();
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// A loopback MediaWiki answering from the recorded responses: the search, and
/// page 23862's extract and info; any other page is missing.
fn wiki() -> Upstream {
    let (search, extract, info) = (
        fixture("search-Python_programming.json"),
        fixture("summary-Python_programming_language.json"),
        fixture("info-Python_programming_language.json"),
    );
    Upstream::start(move |s| {
        let json = |body: &str| Reply::text(200, &[("content-type", "application/json")], body);
        if !s.path.starts_with("/w/api.php?") {
            return Reply::text(404, &[], "no such path");
        }
        match (query(s, "list").as_deref(), query(s, "prop").as_deref(), query(s, "pageids").as_deref()) {
            (Some("search"), _, _) => json(&search),
            (_, Some("extracts"), Some("23862")) => json(&extract),
            (_, Some("info"), Some("23862")) => json(&info),
            (_, Some(_), Some(id)) => json(&json!({"batchcomplete": "", "query": {"pages": {id: {"pageid": id.parse::<u64>().unwrap(), "missing": ""}}}}).to_string()),
            _ => Reply::json(200, &json!({"error": {"code": "badrequest", "info": "unexpected request"}})),
        }
    })
}

/// The MediaWiki connector placed in `dir` with a manifest for `up`.
fn mediawiki(dir: &Path, up: &Upstream, extra: &str) -> PathBuf {
    let wasm = place(MEDIAWIKI_WASM, dir, "wiki");
    std::fs::write(
        dir.join("wiki.toml"),
        format!(
            "name = \"wiki\"\nsource = \"wikipedia\"\n[config]\nbase_url = {}\nauthority = \"0.7\"\n\
             [http]\nallow = [{}]\n{extra}",
            quote(&up.origin()),
            quote(&up.origin())
        ),
    )
    .unwrap();
    wasm
}

/// The evidence probe placed in `dir`, answering `items`, with `config` besides.
fn probe(dir: &Path, items: &Value, config: &[(&str, &str)], extra: &str) -> PathBuf {
    let wasm = place(EVIDENCE_PROBE_WASM, dir, "probe");
    let mut m =
        format!("name = \"probe\"\nsource = \"probe-source\"\n[config]\nitems = {}\n", quote(&items.to_string()));
    for (k, v) in config {
        m.push_str(&format!("{k} = {}\n", quote(v)));
    }
    m.push_str(extra);
    std::fs::write(dir.join("probe.toml"), m).unwrap();
    wasm
}

/// `host ARGS` in `dir`; its envelopes (stdout) and report.
fn call(dir: &Path, args: &[&str]) -> (Output, Vec<Value>, Value) {
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let out = output(host(&dir.join("cache")).current_dir(dir).args(args).arg("--report").arg(&report));
    let envelopes = if out.status.success() || out.status.code() == Some(4) { jsonl(&out.stdout) } else { vec![] };
    let report = serde_json::from_slice(&std::fs::read(&report).unwrap_or_default()).unwrap_or(Value::Null);
    (out, envelopes, report)
}

fn ids(envelopes: &[Value]) -> Vec<&str> {
    envelopes.iter().map(|e| e["record_id"].as_str().unwrap()).collect()
}

fn age_days(created: &str, at: &str) -> f64 {
    let parse = |t: &str| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap();
    (parse(at) - parse(created)).as_seconds_f64() / 86_400.0
}

fn evidence(id: &str, confidence: Value, created_at: &str) -> Value {
    json!({
        "id": id, "title": format!("Rust {id}"), "content": "about rust", "url": format!("https://example.org/{id}"),
        "created_at": created_at, "confidence": confidence, "authority": 0.5,
    })
}

#[test]
fn mediawiki_search_is_scored_sealed_and_ranked_by_the_host() {
    let up = wiki();
    let dir = scratch(&[]);
    let wasm = mediawiki(dir.path(), &up, "[evidence]\nfreshness_half_life_days = 30\n");
    let wasm = wasm.to_str().unwrap();
    let (out, envelopes, report) = call(dir.path(), &["search", wasm, "Python programming", "--limit", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The connector asked the site what was asked.
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(query(&seen[0], "srsearch").as_deref(), Some("Python programming"));
    assert_eq!(query(&seen[0], "srlimit").as_deref(), Some("5"));

    // The first five hits, each sealed with the host's scores.
    let mut got: Vec<&str> = ids(&envelopes);
    got.sort();
    assert_eq!(got, ["21356332", "23862", "5250192", "73729965", "81118035"]);
    let hits: Value = serde_json::from_str(&fixture("search-Python_programming.json")).unwrap();
    let hits = hits["query"]["search"].as_array().unwrap();
    let mut last = f64::MAX;
    for e in &envelopes {
        let id = e["record_id"].as_str().unwrap();
        let rank =
            hits.iter().position(|h| h["pageid"].as_u64().map(|p| p.to_string()).as_deref() == Some(id)).unwrap();
        let hit = &hits[rank];
        assert_eq!(e["envelope_version"], "1.0");
        assert_eq!(e["source"], "wikipedia");
        assert_eq!(e["record_type"], "Document");
        assert_eq!(e["raw"]["title"], hit["title"]);
        assert_eq!(e["provenance"]["last_modified"], hit["timestamp"]);
        let uri = e["provenance"]["uri"].as_str().unwrap();
        assert!(uri.starts_with(&format!("{}/wiki/", up.origin())), "{uri}");
        assert!(!e["raw"]["content"].as_str().unwrap().contains("searchmatch"), "the snippet's markup is gone");
        // Confidence and authority are the connector's; freshness and the score the host's.
        let r = &e["metadata"]["reliability"];
        let (c, f, a, score) = (
            r["confidence"].as_f64().unwrap(),
            r["freshness"].as_f64().unwrap(),
            r["authority"].as_f64().unwrap(),
            r["score"].as_f64().unwrap(),
        );
        assert_eq!(c, 1.0 - 0.5 * rank as f64 / 10.0, "{id}: confidence falls with the rank");
        assert_eq!(a, 0.7);
        let expected =
            0.5f64.powf(age_days(hit["timestamp"].as_str().unwrap(), e["collected_at"].as_str().unwrap()) / 30.0);
        assert!((f - expected).abs() < 1e-4, "{id}: freshness {f}, expected {expected}");
        assert!((score - (0.4 * c + 0.3 * f + 0.3 * a)).abs() < 1e-6, "{id}: score {score}");
        assert!(score <= last, "best first");
        last = score;
        assert_eq!(e["metadata"]["connector"]["package"], "partner:connector@1.1.0");
    }
    // The envelopes pass `host validate`, hashes recomputed.
    let file = dir.path().join("found.jsonl");
    std::fs::write(&file, &out.stdout).unwrap();
    let validated = output(host(&dir.path().join("cache")).arg("validate").arg(&file));
    assert!(validated.status.success(), "{}", stderr(&validated));
    // The report follows its schema and says the cache missed.
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schemas/evidence_report.schema.json")).unwrap())
            .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report["cache"]["hit"], false);
    assert_eq!(report["results"].as_array().unwrap().len(), 5);
    assert_eq!(report["results"][0]["record_id"], envelopes[0]["record_id"]);
    assert!(stderr(&out).contains("wiki: search `Python programming`: 5 results"), "{}", stderr(&out));
}

#[test]
fn mediawiki_fetch_gives_the_lead_section_with_its_canonical_url() {
    let up = wiki();
    let dir = scratch(&[]);
    let wasm = mediawiki(dir.path(), &up, "");
    let wasm = wasm.to_str().unwrap();
    let (out, envelopes, _) = call(dir.path(), &["fetch", wasm, "23862"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(envelopes.len(), 1);
    let e = &envelopes[0];
    assert_eq!(e["record_id"], "23862");
    assert_eq!(e["raw"]["title"], "Python (programming language)");
    assert_eq!(e["provenance"]["uri"], "https://en.wikipedia.org/wiki/Python_(programming_language)");
    assert_eq!(e["provenance"]["last_modified"], "2026-03-27T09:26:22Z");
    assert_eq!(e["source_instance"], "en.wikipedia.org");
    let content = e["raw"]["content"].as_str().unwrap();
    assert!(content.starts_with("Python is a high-level, general-purpose programming language."), "{content}");
    assert!(!content.contains("\n=="), "only the lead section");
    assert_eq!(e["metadata"]["revision"], 1345336232);
    assert_eq!(e["metadata"]["reliability"]["confidence"], 1.0);
    // A page that does not exist, and an id that is no page id.
    for id in ["99", "not-a-page"] {
        let (out, envelopes, _) = call(dir.path(), &["fetch", wasm, id]);
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        assert!(envelopes.is_empty());
        assert!(stderr(&out).contains(&format!("error: the connector has no evidence `{id}`")), "{}", stderr(&out));
    }
}

#[test]
fn search_with_a_claim_links_each_result_once_on_sqlite() {
    let dir = scratch(&[]);
    links_each_result_once(dir.path(), &format!("sqlite:{}", dir.path().join("evidence.db").display()));
}

#[test]
fn search_with_a_claim_links_each_result_once_on_postgres() {
    let dir = scratch(&[]);
    links_each_result_once(dir.path(), &tests::postgres::shared().database());
}

fn links_each_result_once(dir: &Path, store: &str) {
    let up = wiki();
    let wasm = mediawiki(dir, &up, "");
    let wasm = wasm.to_str().unwrap();
    let store = store.to_string();
    let args = ["search", wasm, "Python programming", "--limit", "3", "--claim", "claim-42", "--store", &store];
    let (out, first, report) = call(dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["claim"], "claim-42");
    assert_eq!(report["linked"], 3);
    let (out, _, report) = call(dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["linked"], 0, "linking the same evidence again adds nothing");
    assert!(stderr(&out).contains("0 newly linked to claim `claim-42`"), "{}", stderr(&out));

    let chain = output(host(&dir.join("cache")).args(["provenance", "claim-42", "--store", &store]));
    assert!(chain.status.success(), "{}", stderr(&chain));
    let links = jsonl(&chain.stdout);
    assert_eq!(links.len(), 3);
    for e in &first {
        let link = links.iter().find(|l| l["record_id"] == e["record_id"]).expect("every result is linked");
        assert_eq!(link["claim_id"], "claim-42");
        assert_eq!(link["source"], "wikipedia");
        assert_eq!(link["connector"], "wiki");
        assert_eq!(link["raw_sha256"], e["hashes"]["raw_sha256"]);
        assert_eq!(link["uri"], e["provenance"]["uri"]);
        assert_eq!(link["score"], e["metadata"]["reliability"]["score"]);
        assert!(link["linked_at"].as_str().unwrap().ends_with('Z'));
    }
    // A claim nothing was linked to.
    let none = output(host(&dir.join("cache")).args(["provenance", "claim-0", "--store", &store]));
    assert!(none.status.success());
    assert!(none.stdout.is_empty());
    assert!(stderr(&none).contains("claim `claim-0` has no linked evidence"), "{}", stderr(&none));
    // --claim without a store, and a store without a claim, are usage errors.
    for args in [&["search", wasm, "x", "--claim", "c"][..], &["search", wasm, "x", "--store", &store][..]] {
        let out = output(host(&dir.join("cache")).args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("required arguments were not provided"), "{}", stderr(&out));
    }
}

#[test]
fn confidence_seven_and_nan_are_refused_by_name_and_the_rest_is_kept() {
    let dir = scratch(&[]);
    let items = json!([
        evidence("good", json!(0.9), "2026-01-01T00:00:00Z"),
        evidence("seven", json!(7), "2026-01-01T00:00:00Z"),
        evidence("nan", json!("NaN"), "2026-01-01T00:00:00Z"),
        evidence("undated", json!(0.5), "last tuesday"),
    ]);
    let wasm = probe(dir.path(), &items, &[], "");
    let (out, envelopes, report) = call(dir.path(), &["search", wasm.to_str().unwrap(), "rust"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["good"], "what passes is still written");
    let err = stderr(&out);
    assert!(err.contains("error: evidence `seven` refused: confidence is 7; it must be from 0 to 1"), "{err}");
    assert!(err.contains("error: evidence `nan` refused: confidence is NaN; it must be a number from 0 to 1"), "{err}");
    assert!(
        err.contains("error: evidence `undated` refused: created-at `last tuesday` is not an RFC 3339 time"),
        "{err}"
    );
    assert!(err.contains("3 of the evidence the connector returned was refused"), "{err}");
    assert_eq!(report["rejected"].as_array().unwrap().len(), 3);
}

#[test]
fn a_connector_that_breaks_the_evidence_contract_is_refused_clearly() {
    let dir = scratch(&[]);
    let items =
        json!([evidence("a", json!(0.5), "2026-01-01T00:00:00Z"), evidence("b", json!(0.5), "2026-01-01T00:00:00Z")]);
    let wasm = probe(dir.path(), &items, &[("fetch_other", "true"), ("overflow", "true")], "");
    let wasm = wasm.to_str().unwrap();
    let (out, ..) = call(dir.path(), &["fetch", wasm, "a"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("fetch broke the contract: asked for `a`, it returned the evidence `b`"),
        "{}",
        stderr(&out)
    );
    let (out, ..) = call(dir.path(), &["search", wasm, "rust", "--limit", "1"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("search broke the contract: it returned 2 items when asked for at most 1"),
        "{}",
        stderr(&out)
    );
    // A typed error of the connector's stays typed.
    let wasm = probe(dir.path(), &items, &[("fail", "rate-limited")], "");
    let (out, ..) = call(dir.path(), &["search", wasm.to_str().unwrap(), "rust"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("search failed: rate-limited"), "{}", stderr(&out));
}

#[test]
fn calls_and_worlds_that_do_not_fit_are_refused_before_any_call() {
    let dir = scratch(&[]);
    let items = json!([evidence("a", json!(0.5), "2026-01-01T00:00:00Z")]);
    let probe = probe(dir.path(), &items, &[], "");
    let probe = probe.to_str().unwrap();
    for (args, message) in [
        (&["search", probe, " "][..], "the query is empty"),
        (&["search", probe, "x", "--limit", "0"][..], "the limit is 0; it must be from 1 to 100"),
        (&["search", probe, "x", "--limit", "101"][..], "the limit is 101; it must be from 1 to 100"),
    ] {
        let (out, ..) = call(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    // A 1.0 connector has no evidence; an evidence connector has no records.
    let (out, ..) = call(dir.path(), &["search", FILE_WASM, "x"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is a component of the world `connector`: search and fetch need an evidence connector"),
        "{}",
        stderr(&out)
    );
    let up = wiki();
    let wiki = mediawiki(dir.path(), &up, "");
    for command in ["run", "check"] {
        let out = output(host(&dir.path().join("cache")).arg(command).arg(&wiki));
        assert_eq!(out.status.code(), Some(3), "{command}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is a component of the world `evidence-connector`: it has no records to list or get"),
            "{}",
            stderr(&out)
        );
    }
    let out = output(host(&dir.path().join("cache")).arg("get").arg(&wiki).arg("1"));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(up.seen().is_empty(), "nothing was called");
    // The manifest's evidence settings are checked.
    for (extra, message) in [
        (
            "[evidence]\nfreshness_half_life_days = 0\n",
            "`evidence.freshness_half_life_days` is 0; it must be more than 0",
        ),
        ("[cache]\nmax_entries = 2000000\n", "`cache.max_entries` is 2000000; it must be at most 1000000"),
        ("[cache]\nttl = 5\n", "unknown field `ttl`"),
    ] {
        let bad = scratch(&[]);
        let wasm = mediawiki(bad.path(), &up, extra);
        let out = output(host(&bad.path().join("cache")).arg("search").arg(&wasm).arg("x"));
        assert_eq!(out.status.code(), Some(3), "{extra}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{extra}: {}", stderr(&out));
    }
}

#[test]
fn inspect_names_the_world_and_version_of_each_kind_of_component() {
    let dir = scratch(&[]);
    let up = wiki();
    let wiki = mediawiki(dir.path(), &up, "");
    let probe = probe(dir.path(), &json!([]), &[], "");
    for (wasm, world, line) in [
        (
            PathBuf::from(FILE_WASM),
            "connector",
            "world         connector of partner:connector@1.0.0: source (records: run, get, serve's schedule)",
        ),
        (PathBuf::from(V1_1_WASM), "connector", "world         connector of partner:connector@1.1.0: source"),
        (
            wiki,
            "evidence-connector",
            "world         evidence-connector of partner:connector@1.1.0: evidence (search, fetch)",
        ),
        (
            probe,
            "connector-with-evidence",
            "world         connector-with-evidence of partner:connector@1.1.0: source (records: run, get, serve's schedule), evidence (search, fetch)",
        ),
    ] {
        let text = output(host(&dir.path().join("cache")).arg("inspect").arg(&wasm));
        assert!(text.status.success(), "{}", stderr(&text));
        let text = String::from_utf8_lossy(&text.stdout).into_owned();
        assert!(text.contains(line), "{}: {text}", wasm.display());
        let json = output(host(&dir.path().join("cache")).arg("inspect").arg(&wasm).arg("--json"));
        let json: Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(json["world"], world);
    }
}

#[test]
fn a_component_with_both_exports_runs_its_source_too() {
    let dir = scratch(&[]);
    let items =
        json!([evidence("a", json!(0.5), "2026-01-01T00:00:00Z"), evidence("b", json!(0.5), "2026-01-01T00:00:00Z")]);
    let wasm = probe(dir.path(), &items, &[], "");
    let out = output(host(&dir.path().join("cache")).arg("run").arg(&wasm));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&jsonl(&out.stdout)), ["a", "b"]);
    let (out, envelopes, _) = call(dir.path(), &["fetch", wasm.to_str().unwrap(), "b"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&envelopes), ["b"]);
}

/// A daemon with a 1.0 file connector, the 1.1 MediaWiki evidence connector and the
/// evidence probe (whose answers carry the time they were made).
#[test]
fn serve_answers_evidence_calls_from_its_cache_beside_a_1_0_connector() {
    let up = wiki();
    let dir = scratch(&[]);
    let items = json!([evidence("a", json!(0.5), "2026-01-01T00:00:00Z")]);
    let probe_items = quote(&items.to_string());
    let body = format!(
        "{}[[connectors]]\nname = \"wiki\"\ncomponent = {}\npoll_interval = \"1h\"\n\
         [connectors.manifest]\nsource = \"wikipedia\"\n[connectors.manifest.config]\nbase_url = {}\n\
         [connectors.manifest.http]\nallow = [{}]\n\
         [[connectors]]\nname = \"probe\"\ncomponent = {}\npoll_interval = \"1h\"\n\
         [connectors.manifest.config]\nitems = {probe_items}\nstamp = \"true\"\n[connectors.manifest.cache]\nttl_seconds = 1\n",
        crate::serve::feed("feed", "100ms"),
        quote(MEDIAWIKI_WASM),
        quote(&up.origin()),
        quote(&up.origin()),
        quote(EVIDENCE_PROBE_WASM),
    );
    let config = crate::serve::write_config(dir.path(), &body);
    let daemon = Daemon::start(dir.path(), &config);
    daemon.wait_for("/connectors/wiki", std::time::Duration::from_secs(120), |v| v["live"].is_object());
    daemon.wait_for("/connectors/probe", std::time::Duration::from_secs(120), |v| v["live"].is_object());

    // The 1.0 connector runs on its schedule beside them.
    let feed = daemon
        .wait_for("/connectors/feed", std::time::Duration::from_secs(60), |v| v["status"]["runs"].as_u64() >= Some(2));
    assert_eq!(feed["live"]["package"], "partner:connector@1.0.0");
    let wiki = daemon.json("/connectors/wiki");
    assert_eq!(wiki["live"]["package"], "partner:connector@1.1.0");
    assert_eq!(wiki["live"]["source_name"], Value::Null);
    assert_eq!(wiki["healthy"], true, "an evidence connector runs nothing and is healthy when loaded");

    let (code, text) = daemon.get("/connectors/wiki/search?q=Python%20programming&limit=3");
    assert_eq!(code, 200, "{text}");
    let first: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(first["report"]["cache"]["hit"], false);
    assert_eq!(first["envelopes"].as_array().unwrap().len(), 3);
    assert_eq!(first["envelopes"][0]["record_id"], first["report"]["results"][0]["record_id"]);
    let (code, text) = daemon.get("/connectors/wiki/search?q=Python%20programming&limit=3");
    assert_eq!(code, 200, "{text}");
    let second: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(second["report"]["cache"]["hit"], true);
    assert_eq!(second["report"]["results"], first["report"]["results"]);
    assert_eq!(up.seen().len(), 1, "the second search was answered from the cache");

    let (code, text) = daemon.get("/connectors/wiki/evidence/23862");
    assert_eq!(code, 200, "{text}");
    let page: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(page["record_id"], "23862");
    let (code, text) = daemon.get("/connectors/wiki/evidence/99");
    assert_eq!(code, 404, "{text}");
    assert!(text.contains("connector `wiki` has no evidence `99`"), "{text}");

    // The probe's cache holds an answer for a second: within it the same, after it fresh.
    let content = |path: &str| -> String {
        let (code, text) = daemon.get(path);
        assert_eq!(code, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["envelopes"][0]["raw"]["content"].as_str().unwrap().to_string()
    };
    let a = content("/connectors/probe/search?q=rust");
    assert_eq!(content("/connectors/probe/search?q=rust"), a, "served from the cache");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_ne!(content("/connectors/probe/search?q=rust"), a, "expired: the connector was called again");

    // What does not fit is refused, by name.
    for (path, code, message) in [
        ("/connectors/feed/search?q=x", 409, "connector `feed` is of the world `connector`: it has no evidence"),
        ("/connectors/wiki/search", 400, "a search needs `q`"),
        ("/connectors/wiki/search?q=x&limit=500", 400, "the limit is 500"),
        ("/connectors/nope/search?q=x", 404, "no connector named `nope`"),
    ] {
        let (got, text) = daemon.get(path);
        assert_eq!(got, code, "{path}: {text}");
        assert!(text.contains(message), "{path}: {text}");
    }
    let (code, text) = daemon.post("/connectors/wiki/run");
    assert_eq!(code, 409, "{text}");
    assert!(text.contains("connector `wiki` is an evidence connector: it has no records to run"), "{text}");

    // The cache's counts are in /metrics.
    let (_, metrics) = daemon.get("/metrics");
    let m = |name, labels: &[(&str, &str)]| crate::serve::metric(&metrics, name, labels);
    assert_eq!(m("connector_evidence_cache_total", &[("connector", "wiki"), ("result", "hit")]), 1.0);
    assert_eq!(m("connector_evidence_cache_total", &[("connector", "wiki"), ("result", "miss")]), 3.0);
    assert_eq!(m("connector_evidence_cache_total", &[("connector", "probe"), ("result", "hit")]), 1.0);
    assert_eq!(m("host_evidence_cache_total", &[("result", "hit")]), 2.0);
    assert_eq!(m("connector_info", &[("connector", "wiki"), ("world", "evidence-connector")]), 1.0);
}

#[test]
fn serve_evidence_endpoints_need_the_token_as_the_rest_of_the_api() {
    let up = wiki();
    let dir = scratch(&[]);
    let body = format!(
        "[[connectors]]\nname = \"wiki\"\ncomponent = {}\npoll_interval = \"1h\"\n\
         [connectors.manifest.config]\nbase_url = {}\n[connectors.manifest.http]\nallow = [{}]\n",
        quote(MEDIAWIKI_WASM),
        quote(&up.origin()),
        quote(&up.origin()),
    );
    let config = crate::serve::write_config(dir.path(), &body);
    let listen = format!("127.0.0.1:{}", tests::daemon::free_port());
    let daemon = Daemon::start_with(dir.path(), &config, &listen, Some("s3cret"), &[]);
    daemon.wait_for("/connectors/wiki", std::time::Duration::from_secs(120), |v| v["live"].is_object());
    for path in ["/connectors/wiki/search?q=Python", "/connectors/wiki/evidence/23862"] {
        let (code, text) = tests::daemon::request(daemon.addr, "GET", path, None);
        assert_eq!(code, 401, "{path}: {text}");
        assert!(text.contains("a bearer token is required"), "{text}");
        let (code, text) = tests::daemon::request(daemon.addr, "GET", path, Some("s3cret"));
        assert_eq!(code, 200, "{path}: {text}");
    }
    assert_eq!(up.seen().len(), 3, "only the calls with the token reached the connector");
}
