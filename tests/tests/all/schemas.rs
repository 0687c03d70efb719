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
fn the_shipped_manifests_match_the_manifest_schema() {
    let v = schema("connector_manifest.schema.json");
    for file in ["guests/file.toml", "guests/http_json.toml", "guests/github.toml", "guests/mediawiki.toml"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let manifest: serde_json::Value = toml::from_str(&text).unwrap();
        assert_valid(&v, &manifest, file);
    }
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

#[test]
fn the_shipped_connectors_file_matches_the_serve_schema_and_loads() {
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(root().join("schemas").join(name)).unwrap()).unwrap()
    };
    /// Serves the manifest schema, the only one the serve schema refers to.
    struct Local(serde_json::Value);
    impl jsonschema::Retrieve for Local {
        fn retrieve(
            &self,
            uri: &jsonschema::Uri<String>,
        ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
            match uri.as_str() {
                "urn:connector-host:schema:connector-manifest:1" => Ok(self.0.clone()),
                other => Err(format!("no schema {other}").into()),
            }
        }
    }
    let v = jsonschema::options()
        .with_retriever(Local(read("connector_manifest.schema.json")))
        .build(&read("serve_config.schema.json"))
        .unwrap();
    let text = std::fs::read_to_string(root().join("examples/connectors.toml")).unwrap();
    let config: serde_json::Value = toml::from_str(&text).unwrap();
    assert_valid(&v, &config, "examples/connectors.toml");
    let typo: serde_json::Value =
        toml::from_str("[[connectors]]\nname = \"a\"\ncomponent = \"a.wasm\"\npoll = 3").unwrap();
    assert!(!v.is_valid(&typo), "the schema must refuse unknown keys, as the host does");

    // The host loads it too, every connector with its manifest.
    let env = |_: &str| None;
    let path = root().join("examples/connectors.toml");
    let c = host::serve::config::load(&path, &env).unwrap();
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(c.connectors.keys().collect::<Vec<_>>(), ["factchecks", "items"]);
    for entry in c.connectors.values() {
        entry.load_manifest(&path, &env).unwrap();
    }
}
