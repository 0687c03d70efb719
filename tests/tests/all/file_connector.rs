//! The file connector end to end on the sample feed.

use std::collections::HashSet;

use sha2::{Digest, Sha256};
use tests::*;

fn feed_run(extra: &[&str]) -> (std::process::Output, serde_json::Value, tempfile::TempDir) {
    let dir = scratch(&[]);
    let report = dir.path().join("report.json");
    let out = output(
        host(&dir.path().join("cache"))
            .arg("run")
            .arg(FILE_WASM)
            .arg("--manifest")
            .arg(root().join("guests/file.toml"))
            .arg("--report")
            .arg(&report)
            .args(extra),
    );
    let report = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    (out, report, dir)
}

#[test]
fn every_envelope_of_the_sample_feed_is_valid_and_hashed_over_canonical_raw() {
    let (out, report, _dir) = feed_run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let envelopes = jsonl(&out.stdout);
    assert_eq!(envelopes.len(), 35);

    // The host's own validator agrees...
    let v = host::envelope::validate::validate_reader(&out.stdout[..]).unwrap();
    assert_eq!((v.envelopes, v.valid), (35, 35), "{:?}", v.findings);

    // ...and an independent JCS implementation gives the same hashes.
    let wasm_digest = hex::encode(Sha256::digest(std::fs::read(FILE_WASM).unwrap()));
    let mut ids = HashSet::new();
    for e in &envelopes {
        let canonical = serde_json_canonicalizer::to_vec(&e["raw"]).unwrap();
        assert_eq!(e["hashes"]["raw_sha256"], hex::encode(Sha256::digest(&canonical)));
        assert_eq!(e["envelope_version"], "1.0");
        assert_eq!(e["source"], "partner-factchecks");
        assert_eq!(e["record_type"], "Claim");
        assert_eq!(e["source_instance"], "factcheck.example.org");
        assert_eq!(e["raw"]["id"], e["record_id"]);
        assert_eq!(e["provenance"]["last_modified"], e["raw"]["updated_at"]);
        assert!(e["provenance"]["uri"].as_str().unwrap().starts_with("file:///feeds/factchecks.jsonl#"));
        assert_eq!(e["metadata"]["connector"]["digest"], format!("sha256:{wasm_digest}"));
        assert!(e["collected_at"].as_str().unwrap().ends_with('Z'));
        assert!(ids.insert(e["record_id"].as_str().unwrap().to_string()), "duplicate id");
    }
    // Non-ASCII text came through intact.
    assert!(envelopes.iter().any(|e| e["raw"].to_string().contains('ü')));

    // The malformed line is reported with its number and the run went on.
    assert_eq!(report["status"], "ok");
    assert_eq!(report["published"], 35);
    assert_eq!(report["skipped"], 1);
    assert_eq!(report["problems"][0]["where"], "line 17");
    assert!(report["problems"][0]["reason"].as_str().unwrap().contains("not a JSON object"));
    assert!(stderr(&out).contains("file: ok — 35 published, 0 rejected, 1 skipped of 35 fetched in 1 page"));
}

#[test]
fn paging_with_limit_and_cursor_gives_the_full_run_once() {
    let (out, _, _dir) = feed_run(&[]);
    let full: Vec<(String, String)> = jsonl(&out.stdout)
        .iter()
        .map(|e| (e["record_id"].as_str().unwrap().into(), e["hashes"]["raw_sha256"].as_str().unwrap().into()))
        .collect();

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    let mut runs = 0;
    loop {
        let mut args = vec!["--limit", "4", "--max-pages", "2"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c]);
        }
        let (out, report, _dir) = feed_run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(report["pages"].as_u64().unwrap() <= 2);
        for e in jsonl(&out.stdout) {
            paged.push((e["record_id"].as_str().unwrap().into(), e["hashes"]["raw_sha256"].as_str().unwrap().into()));
        }
        runs += 1;
        match report["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(runs < 20, "paging does not end");
    }
    assert!(runs >= 4, "expected several resumed runs, got {runs}");
    assert_eq!(paged, full);
}

#[test]
fn get_fetches_one_sealed_record_by_id() {
    let dir = scratch(&[]);
    let manifest = root().join("guests/file.toml");
    let out =
        output(host(dir.path()).args(["get"]).arg(FILE_WASM).arg("--manifest").arg(&manifest).arg("fc-2026-0005"));
    assert!(out.status.success(), "{}", stderr(&out));
    let envelopes = jsonl(&out.stdout);
    assert_eq!(envelopes.len(), 1);
    assert_eq!(envelopes[0]["record_id"], "fc-2026-0005");
    assert_eq!(host::envelope::validate::validate_reader(&out.stdout[..]).unwrap().valid, 1);

    let out = output(host(dir.path()).args(["get"]).arg(FILE_WASM).arg("--manifest").arg(&manifest).arg("fc-missing"));
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains(
            "connector `file`: get-record failed: not-found: no record with id `fc-missing` in /feeds/factchecks.jsonl"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn reads_a_json_array_feed_from_a_directory_granted_on_the_command_line() {
    let dir = scratch(&[(
        "data/feed.json",
        r#"[{"key": 7, "title": "Zürich"}, {"key": "b", "title": "two"}, {"title": "no key"}, 3]"#,
    )]);
    let out = output(
        host(&dir.path().join("cache"))
            .arg("run")
            .arg(FILE_WASM)
            .arg("--no-cache")
            .arg("--dir")
            .arg(format!("{}::/data", dir.path().join("data").display()))
            .args(["--set", "path=/data/feed.json", "--set", "id_field=key", "--set", "record_type=document"]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let envelopes = jsonl(&out.stdout);
    let ids: Vec<_> = envelopes.iter().map(|e| e["record_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["7", "b"]);
    assert_eq!(envelopes[0]["record_type"], "Document");
    assert_eq!(envelopes[0]["source_instance"], "feed.json");
    let err = stderr(&out);
    assert!(err.contains("item 3"), "{err}");
    assert!(err.contains("item 4"), "{err}");
    assert!(err.contains("2 published, 0 rejected, 2 skipped"), "{err}");
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    use std::io::{BufRead, Write};
    let dir = scratch(&[]);
    std::fs::create_dir_all(dir.path().join("feeds")).unwrap();
    let mut feed = std::fs::File::create(dir.path().join("feeds/many.jsonl")).unwrap();
    for i in 0..20_000 {
        writeln!(feed, r#"{{"id":"r{i}","text":"{}"}}"#, "y".repeat(200)).unwrap();
    }
    drop(feed);
    let mut child = host(&dir.path().join("cache"))
        .arg("run")
        .arg(FILE_WASM)
        .arg("--dir")
        .arg(format!("{}::/feeds", dir.path().join("feeds").display()))
        .args(["--set", "path=/feeds/many.jsonl"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `host run ... | head -n 1`.
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("\"record_id\":\"r0\""));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("error:"));
}

#[test]
fn inspect_shows_the_contract_the_grants_and_every_limit() {
    let dir = scratch(&[]);
    let manifest = root().join("guests/file.toml");
    let out = output(host(dir.path()).arg("inspect").arg(FILE_WASM).arg("--manifest").arg(&manifest).arg("--json"));
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["package"], "partner:connector@1.0.0");
    assert_eq!(v["source_name"], "file");
    assert_eq!(v["exports"], serde_json::json!(["partner:connector/source@1.0.0"]));
    let imports: Vec<&str> = v["imports"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
    assert!(imports.contains(&"partner:connector/config@1.0.0"));
    assert!(!imports.iter().any(|i| i.starts_with("wasi:sockets")));
    use sha2::Digest;
    assert_eq!(v["sha256"], hex::encode(sha2::Sha256::digest(std::fs::read(FILE_WASM).unwrap())));
    assert!(v["grants"]["dirs"][0].as_str().unwrap().ends_with("examples/feeds -> /feeds (read-only)"));
    assert_eq!(v["grants"]["sockets"], "none (not imported)");
    let limits = &v["limits"];
    assert_eq!(limits["call_timeout_ms"], 10000);
    assert_eq!(limits["memory_mib"], 256);
    assert_eq!(limits["max_page_bytes"], 256u64 << 20, "the bound in force, not `unset`");

    let text = output(host(dir.path()).arg("inspect").arg(FILE_WASM).arg("--manifest").arg(&manifest));
    let text = String::from_utf8(text.stdout).unwrap();
    for line in ["package       partner:connector@1.0.0", "  http        none", "  run_timeout_ms        3600000"] {
        assert!(text.contains(line), "`{line}` missing from:\n{text}");
    }
}

/// `--out -` is standard output, as for most tools: no file named `-` appears.
#[test]
fn out_dash_is_standard_output() {
    let dir = scratch(&[]);
    let out = output(
        host(&dir.path().join("cache"))
            .current_dir(dir.path())
            .arg("run")
            .arg(FILE_WASM)
            .arg("--manifest")
            .arg(root().join("guests/file.toml"))
            .args(["--out", "-"]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(jsonl(&out.stdout).len(), 35);
    assert!(!dir.path().join("-").exists(), "a file named `-` was written");
}
