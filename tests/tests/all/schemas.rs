//! The JSON Schemas in `schemas/` describe what the host really reads and writes.

use tests::*;

fn schema(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas").join(name)).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

#[track_caller]
fn assert_valid(v: &jsonschema::Validator, value: &serde_json::Value, what: &str) {
    let errors: Vec<String> = v.iter_errors(value).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{what}: {errors:?}");
}

#[test]
fn the_shipped_manifest_matches_the_manifest_schema() {
    let v = schema("connector_manifest.schema.json");
    let text = std::fs::read_to_string(root().join("guests/file.toml")).unwrap();
    let manifest: serde_json::Value = toml::from_str(&text).unwrap();
    assert_valid(&v, &manifest, "guests/file.toml");
    let typo: serde_json::Value = toml::from_str("[limits]\nmemory = 3").unwrap();
    assert!(!v.is_valid(&typo), "the schema must refuse unknown keys, as the host does");
}

#[test]
fn run_reports_match_the_report_schema() {
    let v = schema("ingest_report.schema.json");
    let dir = scratch(&[]);
    let report = dir.path().join("r.json");
    for args in [&["--set", "mode=pages"][..], &["--set", "mode=fail-second-page"][..]] {
        output(host(&dir.path().join("c")).arg("run").arg(PROBE_WASM).args(args).arg("--report").arg(&report));
        let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_valid(&v, &value, &format!("report of {args:?}"));
    }
}
