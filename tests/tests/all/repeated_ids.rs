//! One envelope per `(source, record_id)` per run (issue 12): a record id repeated
//! within a page keeps the later item, one repeated on a later page keeps the earlier
//! page's; the others are reported as skipped, re-runs of an unchanged upstream are
//! stable, and with a store `--out` writes only the published changes.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tests::*;

/// The hostile connector's `repeated` case, set up in `dir`. Its pages:
/// `[x v1, y v1, x v2, x v3]`, then `[x v4, z v1, z v2]`.
fn setup(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("h.toml"), "name = \"hostile\"\n[config]\ncase = \"repeated\"\n").unwrap();
    place(HOSTILE_WASM, dir, "h")
}

fn run(dir: &Path, wasm: &Path, args: &[&str]) -> (std::process::Output, Value) {
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let out = output(host(&dir.join("cache")).arg("run").arg(wasm).arg("--report").arg(&report).args(args));
    assert!(out.status.success(), "{}", stderr(&out));
    (out, serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap())
}

/// `(record_id, raw.v)` of each envelope line.
fn versions(lines: &[Value]) -> Vec<(String, u64)> {
    lines.iter().map(|e| (e["record_id"].as_str().unwrap().to_string(), e["raw"]["v"].as_u64().unwrap())).collect()
}

fn expected() -> Vec<(String, u64)> {
    [("y", 1), ("x", 3), ("z", 2)].iter().map(|(id, v)| (id.to_string(), *v)).collect()
}

fn check_counts(report: &Value) {
    assert_eq!(report["fetched"], 7);
    assert_eq!(report["repeated"], 4);
    assert_eq!(report["skipped"], 0, "no item was unreadable");
    let problems = report["problems"].as_array().unwrap();
    let reasons: Vec<(&str, &str, &str)> = problems
        .iter()
        .map(|p| (p["kind"].as_str().unwrap(), p["where"].as_str().unwrap(), p["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    let later = "appears again later in this run; the later item is kept";
    let earlier = "was written by an earlier page of this run; the earlier item is kept";
    for (i, (id, why)) in [("x", later), ("x", later), ("x", earlier), ("z", later)].iter().enumerate() {
        assert_eq!(reasons[i].0, "skipped");
        assert_eq!(reasons[i].1, *id);
        assert!(reasons[i].2.contains(why), "problem {i}: {}", reasons[i].2);
        assert!(reasons[i].2.starts_with(&format!("record id `{id}`")), "{}", reasons[i].2);
    }
}

#[test]
fn jsonl_gets_one_envelope_per_record_id_the_same_every_run() {
    let dir = scratch(&[]);
    let wasm = setup(dir.path());
    for _ in 0..3 {
        let (out, report) = run(dir.path(), &wasm, &[]);
        assert_eq!(versions(&jsonl(&out.stdout)), expected());
        assert_eq!(report["published"], 3);
        check_counts(&report);
        assert!(stderr(&out).contains("4 repeated record ids not written again"), "{}", stderr(&out));
        // The sampled log lines name the id, escaped.
        assert!(stderr(&out).contains("skipped a draft whose record id repeats in the run"), "{}", stderr(&out));
    }
}

fn db(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("state.db").display())
}

fn queue(dir: &Path) -> Vec<Value> {
    let out = output(host(&dir.join("cache")).args(["queue", "--store"]).arg(db(dir)));
    assert!(out.status.success(), "{}", stderr(&out));
    jsonl(&out.stdout)
}

/// `(record_id, raw.v)` of every stored envelope, by id.
fn stored(dir: &Path) -> Vec<(String, u64)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Row;
        let pool = sqlx::SqlitePool::connect(&db(dir)).await.unwrap();
        let rows = sqlx::query("SELECT envelope FROM envelopes ORDER BY record_id").fetch_all(&pool).await.unwrap();
        pool.close().await;
        let lines: Vec<Value> = rows.iter().map(|r| serde_json::from_str(&r.get::<String, _>(0)).unwrap()).collect();
        versions(&lines)
    })
}

#[test]
fn the_store_keeps_one_version_stable_over_re_runs_and_queues_each_id_once() {
    let dir = scratch(&[]);
    let wasm = setup(dir.path());
    let (out, first) = run(dir.path(), &wasm, &["--store", &db(dir.path())]);
    assert!(out.stdout.is_empty());
    check_counts(&first);
    assert_eq!((first["published"].as_u64(), first["skipped_unchanged"].as_u64()), (Some(3), Some(0)));
    assert_eq!(first["deduplicated"], 0, "nothing was queued before");
    let mut by_id = expected();
    by_id.sort();
    assert_eq!(stored(dir.path()), by_id);
    let queued = queue(dir.path());
    let ids: Vec<&str> = queued.iter().map(|e| e["record_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["y", "x", "z"], "one queue entry per record id");

    // Nothing changed upstream: three more runs change nothing, and count honestly.
    for n in 0..3 {
        let (_, again) = run(dir.path(), &wasm, &["--store", &db(dir.path())]);
        check_counts(&again);
        let counts = ["published", "skipped_unchanged", "deduplicated", "rejected"].map(|k| again[k].as_u64().unwrap());
        assert_eq!(counts, [0, 3, 0, 0], "re-run {n}: {again}");
        assert_eq!(stored(dir.path()), by_id, "re-run {n}: the stored version moved");
        assert_eq!(queue(dir.path()), queued, "re-run {n}: the queue changed");
    }
}

#[test]
fn with_a_store_out_writes_the_published_changes_and_out_all_every_envelope() {
    let dir = scratch(&[]);
    let wasm = setup(dir.path());
    let out = dir.path().join("out.jsonl");
    let read = || jsonl(&std::fs::read(&out).unwrap());
    let store = db(dir.path());
    let args = ["--store", &store, "--out", out.to_str().unwrap()];

    let (_, first) = run(dir.path(), &wasm, &args);
    assert_eq!(first["published"], 3);
    assert_eq!(versions(&read()), expected(), "a first run: every record is a change");
    let (_, second) = run(dir.path(), &wasm, &args);
    assert_eq!(second["published"], 0);
    assert!(read().is_empty(), "an unchanged re-run publishes nothing, so --out gets nothing");

    let (_, all) = run(dir.path(), &wasm, &[&args[..], &["--out-all"]].concat());
    assert_eq!(all["published"], 0);
    assert_eq!(versions(&read()), expected(), "--out-all: every sealed envelope, one per record id");
    validate(dir.path(), &out);

    // --out-all means nothing without both: refused as usage.
    let refused = output(host(&dir.path().join("cache")).arg("run").arg(&wasm).arg("--out-all"));
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--out <FILE>"), "{}", stderr(&refused));
}

fn validate(dir: &Path, file: &Path) {
    let out = output(host(&dir.join("cache")).arg("validate").arg(file));
    assert!(out.status.success(), "{}", stderr(&out));
}
