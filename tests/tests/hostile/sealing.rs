//! A draft the host cannot seal never crashes it, pins the store or costs more than
//! a bounded multiple of its size: one depth rule for every parse, refusals go to
//! dead letters, and `host validate` accepts every envelope the host writes.

use super::*;

fn dead_letter_reasons(h: &Hostile) -> Vec<String> {
    let out = output(host(&h.path("cache")).args(["dead-letters", "list", "--store", &h.store_url()]));
    assert!(out.status.success(), "{}", stderr(&out));
    jsonl(&out.stdout).iter().map(|l| l["reason"].as_str().unwrap().to_string()).collect()
}

#[test]
fn drafts_nested_too_deep_are_dead_lettered_and_never_pin_the_store() {
    for at in ["raw", "metadata"] {
        let h = Hostile::new(&format!("case = \"deep\"\nat = \"{at}\"\ndepth = 127"), "");
        let out = h.path("out.jsonl");
        // Twice: the refused draft must not stop the cursor or fail the next run.
        for run in 1..=2 {
            // --out-all: every sealed envelope, not only the changes (run 2 has none).
            let r = h.run(&["--store", &h.store_url(), "--out", out.to_str().unwrap(), "--out-all"]);
            r.ends(0, "rejected a record");
            assert!(!r.m.stderr.contains("panicked"), "{at}, run {run}: {}", r.m.stderr);
            let report = r.report();
            assert_eq!(report["status"], "ok", "{at}, run {run}");
            assert_eq!(report["rejected"], 1, "{at}, run {run}");
            let reason = report["problems"][0]["reason"].as_str().unwrap();
            assert!(reason.contains("arrays and objects nest deeper than 64 levels"), "{at}: {reason}");
            let written = jsonl(&std::fs::read(&out).unwrap());
            assert_eq!(written.len(), 1, "{at}: only the good draft is written");
            assert_eq!(written[0]["record_id"], "after");
            validates(&h.path("cache"), &out);
        }
        let reasons = dead_letter_reasons(&h);
        assert!(!reasons.is_empty() && reasons.iter().all(|r| r.contains("deeper than 64")), "{at}: {reasons:?}");
    }
}

#[test]
fn host_get_refuses_a_draft_nested_too_deep_without_a_panic() {
    let h = Hostile::new("case = \"deep\"\ndepth = 127", "");
    let r = timed(&mut h.cmd("get", &["rec-1"]));
    r.ends(1, "record `rec-1` cannot be sealed: raw is not JSON: arrays and objects nest deeper than 64 levels");
    assert!(r.m.stdout.is_empty());
    assert!(!r.m.stderr.contains("panicked"), "{}", r.m.stderr);
}

#[test]
fn at_the_depth_limit_the_envelope_is_written_and_validates() {
    // `metadata` is `{"x": …}` around the nesting: 63 inside it makes 64.
    for (at, depth) in [("raw", 64), ("metadata", 63)] {
        let h = Hostile::new(&format!("case = \"deep\"\nat = \"{at}\"\ndepth = {depth}"), "");
        let out = h.path("out.jsonl");
        let r = h.run(&["--out", out.to_str().unwrap()]);
        r.ends(0, "");
        assert_eq!(r.report()["published"], 2, "{at}: {}", r.m.stderr);
        assert_eq!(r.report()["rejected"], 0, "{at}");
        validates(&h.path("cache"), &out);
    }
}

#[test]
fn the_file_connector_refuses_one_deep_feed_line_and_reads_the_rest() {
    let deep = format!("{{\"id\":\"deep\",\"x\":{}1{}}}", "[".repeat(126), "]".repeat(126));
    let feed = format!("{{\"id\":\"a\",\"claim\":\"one\"}}\n{deep}\n{{\"id\":\"b\",\"claim\":\"two\"}}\n");
    let (dir, wasm) = file_connector(&feed);
    let url = format!("sqlite:{}", dir.path().join("s.db").display());
    for _ in 0..2 {
        let out = output(host(&dir.path().join("c")).arg("run").arg(&wasm).args(["--store", &url]));
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stderr(&out);
        assert!(text.contains("rejected a record") && text.contains("deeper than 64 levels"), "{text}");
        assert!(text.contains("file: ok — "), "{text}");
    }
    let (stored, _) = stored_record_ids(&url);
    assert_eq!(stored, ["a", "b"]);
}

/// A draft's `raw` or `metadata` of many MiB is sealed (or refused) in memory that
/// is a small multiple of its size: never parsed into a tree of values.
#[test]
fn large_drafts_are_sealed_or_refused_within_the_memory_bound() {
    let cases: &[(&str, u64, u64, Option<&str>)] = &[
        // (at, MiB, memory_mib, refusal)
        ("raw", 12, 64, None),
        ("metadata", 12, 64, None),
        ("array", 12, 64, Some("/raw: [] is not of types \"string\", \"object\"")),
        ("raw", 40, 256, Some("raw is 41943048 bytes, more than limits.max_record_bytes (16777216)")),
        ("metadata", 40, 256, Some("metadata is 41943048 bytes, more than limits.max_record_bytes (16777216)")),
    ];
    for &(at, mib, memory, refusal) in cases {
        let what = format!("{mib} MiB {at}");
        let h = Hostile::new(&format!("case = \"big\"\nat = \"{at}\"\nmib = {mib}"), &format!("memory_mib = {memory}"));
        let out = h.path("out.jsonl");
        let r = h.run(&["--out", out.to_str().unwrap()]);
        r.ends(0, "").peak_within(memory, &what);
        let report = r.report();
        match refusal {
            None => {
                assert_eq!(report["published"], 2, "{what}: {}", r.m.stderr);
                validates(&h.path("cache"), &out);
            }
            Some(reason) => {
                assert_eq!(report["published"], 1, "{what}");
                let said = report["problems"][0]["reason"].as_str().unwrap();
                assert!(said.contains(reason), "{what}: {said}");
                assert!(said.len() < 2048, "{what}: the reason copies the draft");
            }
        }
    }
}

#[test]
fn provenance_uris_carry_no_control_characters_and_no_active_schemes() {
    let cases = [
        ("https://example.org/a?b=c", true),
        ("hostile://record/1", true),
        ("urn:isbn:0451450523", true),
        ("javascript:alert(1)", false),
        ("JaVaScRiPt:alert(1)", false),
        ("vbscript:msgbox", false),
        ("data:text/html,<script>alert(1)</script>", false),
        ("blob:https://example.org/x", false),
        ("https://example.org/a\u{0}b", false),
        ("https://example.org/\u{1b}[2J", false),
        ("https://example.org/\u{202e}gpj.exe", false),
        ("https://example.org/a b", false),
    ];
    for (uri, ok) in cases {
        let text = serde_json::to_string(uri).unwrap();
        let h = Hostile::new(&format!("case = \"text\"\nat = \"uri\"\ntext = {text}"), "");
        let out = h.path("out.jsonl");
        let r = h.run(&["--out", out.to_str().unwrap()]);
        r.ends(0, "");
        let report = r.report();
        if ok {
            assert_eq!(report["published"], 2, "{uri:?}: {}", r.m.stderr);
            assert_eq!(jsonl(&std::fs::read(&out).unwrap())[0]["provenance"]["uri"], uri);
        } else {
            assert_eq!(report["rejected"], 1, "{uri:?} was published");
            let reason = report["problems"][0]["reason"].as_str().unwrap();
            assert!(reason.contains("/provenance/uri"), "{uri:?}: {reason}");
        }
        validates(&h.path("cache"), &out);
    }
}
