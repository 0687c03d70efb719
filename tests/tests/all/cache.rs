//! The compile cache: a second load of the same component is a cache hit, and a
//! corrupted artifact is recompiled, never loaded.

use tests::*;

fn cache_outcome(cache: &std::path::Path) -> String {
    let dir = scratch(&[]);
    let report = dir.path().join("r.json");
    let out = output(host(cache).arg("run").arg(PROBE_WASM).args(["--set", "mode=pages", "--report"]).arg(&report));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(jsonl(&out.stdout).len(), 6);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    report["component"]["cache"].as_str().unwrap().to_string()
}

#[test]
fn the_second_load_is_a_cache_hit() {
    let cache = scratch(&[]);
    assert_eq!(cache_outcome(cache.path()), "miss");
    assert_eq!(cache_outcome(cache.path()), "hit");
    assert_eq!(cache_outcome(cache.path()), "hit");
}

#[test]
fn a_corrupted_artifact_is_recompiled() {
    let cache = scratch(&[]);
    assert_eq!(cache_outcome(cache.path()), "miss");
    let artifacts: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1);
    let mut bytes = std::fs::read(&artifacts[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&artifacts[0], bytes).unwrap();
    assert_eq!(cache_outcome(cache.path()), "miss");
    assert_eq!(cache_outcome(cache.path()), "hit");
}
