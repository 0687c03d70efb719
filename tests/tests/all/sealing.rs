//! The host seals what the guest describes and owns what it must: drafts it cannot
//! seal are refused with a reason, and host-owned fields cannot be forged.

use tests::*;

fn run_probe(mode_args: &[&str]) -> (std::process::Output, serde_json::Value) {
    let dir = scratch(&[("p.toml", "name = \"p\"\nsource = \"operator-source\"\n")]);
    let wasm = place(PROBE_WASM, dir.path(), "p");
    let report = dir.path().join("r.json");
    let out = output(host(&dir.path().join("c")).arg("run").arg(&wasm).args(mode_args).arg("--report").arg(&report));
    let report = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    (out, report)
}

#[test]
fn drafts_that_cannot_be_sealed_are_rejected_with_a_reason_and_the_run_goes_on() {
    let (out, report) = run_probe(&["--set", "mode=bad-raw"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let envelopes = jsonl(&out.stdout);
    assert_eq!(envelopes.len(), 1);
    assert_eq!(envelopes[0]["record_id"], "good");
    assert_eq!(report["rejected"], 3);
    let reasons: Vec<String> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}: {}", p["where"].as_str().unwrap(), p["reason"].as_str().unwrap()))
        .collect();
    assert!(reasons[0].starts_with("not-json: raw is not JSON: key must be a string"), "{reasons:?}");
    assert!(reasons[1].starts_with(": envelope does not match the schema: /record_id: "), "{reasons:?}");
    assert!(
        reasons[2].starts_with("number: envelope does not match the schema: /raw: 42 is not of types"),
        "{reasons:?}"
    );
}

#[test]
fn host_owned_fields_cannot_be_forged_through_metadata() {
    let (out, _) = run_probe(&["--set", "mode=pages", "--set", "forge=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(PROBE_WASM).unwrap()))
    };
    for e in jsonl(&out.stdout) {
        assert_eq!(e["source"], "operator-source");
        assert_eq!(e["metadata"]["connector"]["name"], "p");
        assert_eq!(e["metadata"]["connector"]["digest"], format!("sha256:{digest}"));
        assert_eq!(e["metadata"]["note"], "kept");
        assert_ne!(e["collected_at"], "1970-01-01T00:00:00Z");
    }
}
