//! `host check`: each check passes on a conforming connector and fails, saying why,
//! on one that breaks it; the JSON report follows its schema; the exit code is 9 on
//! any failure.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tests::upstream::{Reply, Upstream};
use tests::*;

fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

/// Every key the file connector reads.
const FILE_NEEDS: &str = "[[config]]\nname = \"path\"\nrequired = true\n\
    [[config]]\nname = \"id_field\"\n[[config]]\nname = \"record_type\"\n[[config]]\nname = \"source_instance\"\n\
    [[config]]\nname = \"last_modified_field\"\n[[config]]\nname = \"author_field\"\n\
    [[config]]\nname = \"acl_tags\"\n[[config]]\nname = \"format\"\n[[config]]\nname = \"page_size\"\n\
    [[dirs]]\npath = \"/feeds\"\n";

fn package(dir: &Path, wasm: &Path, needs: &str) {
    let caps = dir.join("capabilities.toml");
    std::fs::write(&caps, needs).unwrap();
    let out = output(host(&dir.join("cache")).arg("package").arg(wasm).arg("--capabilities").arg(&caps));
    assert!(out.status.success(), "{}", stderr(&out));
}

fn check(dir: &Path, wasm: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = output(host(&dir.join("cache")).arg("check").arg(wasm).arg("--json").args(args));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schemas/check_report.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&report).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{report:#}");
    (out.status.code(), report, stderr(&out))
}

fn outcome<'a>(report: &'a Value, name: &str) -> (&'a str, &'a str) {
    let c = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("{name}"));
    (c["outcome"].as_str().unwrap(), c["detail"].as_str().unwrap())
}

/// The file connector with its example manifest, pages of 10.
fn file_connector(dir: &Path) -> PathBuf {
    let wasm = place(FILE_WASM, dir, "file");
    let manifest = std::fs::read_to_string(root().join("guests/file.toml")).unwrap();
    let manifest = manifest
        .replace("../examples/feeds", &root().join("examples/feeds").display().to_string())
        .replace("[limits]\n", "[limits]\npage_size = 10\n");
    std::fs::write(dir.join("file.toml"), manifest).unwrap();
    wasm
}

#[test]
fn a_conforming_connector_passes_and_an_undeclared_one_fails_declared() {
    let dir = scratch(&[]);
    let wasm = file_connector(dir.path());

    // Without a declaration: every contract check passes but `declared`.
    let (code, report, err) = check(dir.path(), &wasm, &[]);
    assert_eq!(code, Some(9), "{err}");
    assert!(err.contains("error: 1 of the checks failed"), "{err}");
    assert_eq!(report["passed"], false);
    assert_eq!(outcome(&report, "declared").0, "fail");
    assert!(outcome(&report, "declared").1.contains("write capabilities.toml and run `host package`"));
    for name in [
        "source-name",
        "pages-terminate",
        "drafts-seal",
        "unique-ids",
        "resume",
        "get-record",
        "deterministic",
        "invalid-config",
    ] {
        assert_eq!(outcome(&report, name).0, "pass", "{name}: {}", outcome(&report, name).1);
    }
    assert_eq!(outcome(&report, "pages-terminate").1, "35 records in 4 pages");
    assert_eq!(outcome(&report, "upstream-errors").0, "skip");

    // Declaring all but one key it reads: `declared` names that key.
    package(dir.path(), &wasm, &FILE_NEEDS.replace("[[config]]\nname = \"format\"\n", ""));
    let (code, report, _) = check(dir.path(), &wasm, &[]);
    assert_eq!(code, Some(9));
    assert_eq!(outcome(&report, "declared"), ("fail", "used but not declared: config key `format`"));

    // Declaring everything: it passes, exit 0, and the text report is a table.
    package(dir.path(), &wasm, FILE_NEEDS);
    let (code, report, err) = check(dir.path(), &wasm, &[]);
    assert_eq!(code, Some(0), "{err}\n{report:#}");
    assert_eq!(report["passed"], true);
    let out = output(host(&dir.path().join("cache")).arg("check").arg(&wasm));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("  pass  pages-terminate  35 records in 4 pages"), "{text}");
    assert!(text.contains("9 passed, 0 failed, 3 skipped"), "{text}");
    assert!(text.contains("  skip  columns-agree    the component gives no columns"), "{text}");
}

/// A directory the connector needs but does not declare fails `declared`: the run is
/// made again with only the declared directories granted.
#[test]
fn a_directory_used_but_not_declared_fails_declared() {
    let dir = scratch(&[]);
    let wasm = file_connector(dir.path());
    package(dir.path(), &wasm, FILE_NEEDS);
    let archive = dir.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    std::fs::copy(root().join("examples/feeds/factchecks.jsonl"), archive.join("factchecks.jsonl")).unwrap();
    let manifest = std::fs::read_to_string(dir.path().join("file.toml")).unwrap();
    let granted =
        format!("{manifest}\n[[dirs]]\nhost = {}\nguest = \"/archive\"\n", quote(&archive.display().to_string()));

    // Granted and not used: the run without it is the same, and `declared` passes.
    std::fs::write(dir.path().join("file.toml"), &granted).unwrap();
    let (code, report, err) = check(dir.path(), &wasm, &[]);
    assert_eq!(code, Some(0), "{err}\n{report:#}");
    assert_eq!(outcome(&report, "declared").0, "pass");

    // Granted and read from: without it the run fails, and `declared` says which.
    std::fs::write(
        dir.path().join("file.toml"),
        granted.replace("/feeds/factchecks.jsonl", "/archive/factchecks.jsonl"),
    )
    .unwrap();
    let (code, report, err) = check(dir.path(), &wasm, &[]);
    assert_eq!(code, Some(9), "{err}\n{report:#}");
    let (state, detail) = outcome(&report, "declared");
    assert_eq!(state, "fail");
    assert!(
        detail.starts_with("used but not declared: a directory: with only the declared ones granted (dir `/archive` left out) the run failed: "),
        "{detail}"
    );
    assert!(detail.contains("/archive/factchecks.jsonl"), "{detail}");
    assert_eq!(outcome(&report, "pages-terminate").0, "pass", "the run with every grant completes");
}

#[test]
fn endless_pages_fail_pages_terminate_naming_the_cursor() {
    let dir = scratch(&[]);
    let wasm = place(HOSTILE_WASM, dir.path(), "hostile");
    std::fs::write(dir.path().join("hostile.toml"), "name = \"hostile\"\n[config]\ncase = \"cycle\"\n").unwrap();
    let (code, report, _) = check(dir.path(), &wasm, &[]);
    assert_eq!(code, Some(9));
    let (result, detail) = outcome(&report, "pages-terminate");
    assert_eq!(result, "fail");
    assert!(detail.contains("which page 1 returned too: the pages never end"), "{detail}");
    assert_eq!(outcome(&report, "resume").0, "skip");
}

/// Pages of items with `Link: <…?page=N>; rel="next"`, three items a page.
fn paged_upstream() -> Upstream {
    Upstream::start(|s| {
        let page: usize = s.path.split("page=").nth(1).map(|p| p.parse().unwrap()).unwrap_or(1);
        let items: Vec<Value> =
            (1..=7).map(|i| serde_json::json!({"id": i.to_string(), "title": format!("item {i}")})).collect();
        let chunk: Vec<Value> = items.into_iter().skip((page - 1) * 3).take(3).collect();
        let body = Value::Array(chunk).to_string();
        let next = format!("</items?page={}>; rel=\"next\"", page + 1);
        let mut headers = vec![("content-type", "application/json")];
        if page < 3 {
            headers.push(("link", next.as_str()));
        }
        Reply::text(200, &headers, &body)
    })
}

#[test]
fn with_a_recording_upstream_failures_must_be_typed_and_paging_must_follow_the_upstream() {
    let up = paged_upstream();
    let dir = scratch(&[]);
    let wasm = place(HTTP_JSON_WASM, dir.path(), "items");
    let origin = up.origin();
    let manifest = |pagination: &str| {
        format!(
            "name = \"items\"\n[config]\nbase_url = {}\npath = \"/items\"\nid_field = \"id\"\npagination = \"{pagination}\"\n[http]\nallow = [{}]\n",
            quote(&origin),
            quote(&origin)
        )
    };
    std::fs::write(dir.path().join("items.toml"), manifest("link")).unwrap();
    let tape = dir.path().join("items.jsonl");
    let out = output(host(&dir.path().join("cache")).arg("run").arg(&wasm).arg("--record").arg(&tape));
    assert!(out.status.success(), "{}", stderr(&out));
    drop(up); // offline from here on

    let tape_arg = tape.to_str().unwrap();
    let (_, report, _) = check(dir.path(), &wasm, &["--replay", tape_arg]);
    assert_eq!(report["replay"], tape_arg);
    for name in ["pages-terminate", "resume", "deterministic", "upstream-errors", "follows-more"] {
        assert_eq!(outcome(&report, name).0, "pass", "{name}: {}", outcome(&report, name).1);
    }

    // The same connector told to ignore the next link stops after page 1: the
    // recording still has pages 2 and 3, so `follows-more` fails and names them.
    std::fs::write(dir.path().join("items.toml"), manifest("none")).unwrap();
    let (code, report, _) = check(dir.path(), &wasm, &["--replay", tape_arg]);
    assert_eq!(code, Some(9));
    let (result, detail) = outcome(&report, "follows-more");
    assert_eq!(result, "fail");
    assert!(detail.contains("the run stopped while the recording has more: it never asked for GET "), "{detail}");
    assert!(detail.contains("/items?page=2"), "{detail}");
}
