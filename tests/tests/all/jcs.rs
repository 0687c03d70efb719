//! The host's RFC 8785 canonicalisation against the RFC's vectors and an independent
//! implementation.

use host::envelope::canonical;

#[test]
fn canonical_json_matches_the_rfc_8785_vectors() {
    let text = std::fs::read_to_string(tests::root().join("tests/data/jcs_vectors.json")).unwrap();
    let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(vectors.len() >= 20);
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let input: serde_json::Value = serde_json::from_str(v["input"].as_str().unwrap()).unwrap();
        let ours = String::from_utf8(canonical::to_vec(&input)).unwrap();
        assert_eq!(ours, v["canonical"].as_str().unwrap(), "vector `{name}`");
        let theirs = serde_json_canonicalizer::to_string(&input).unwrap();
        assert_eq!(ours, theirs, "vector `{name}` against serde_json_canonicalizer");
    }
}

#[test]
fn canonical_json_agrees_with_an_independent_implementation_on_the_sample_feed() {
    let feed = std::fs::read_to_string(tests::root().join("examples/feeds/factchecks.jsonl")).unwrap();
    let mut checked = 0;
    for line in feed.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        assert_eq!(canonical::to_vec(&value), serde_json_canonicalizer::to_vec(&value).unwrap(), "{line}");
        checked += 1;
    }
    assert_eq!(checked, 35);
}
