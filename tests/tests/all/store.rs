//! The embedded store: change detection, the queue, dead letters, crash safety and
//! the faults an operator can meet.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tests::*;

fn db_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("state.db").display())
}

fn run_store(dir: &Path, wasm: &Path, args: &[&str]) -> (std::process::Output, serde_json::Value) {
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let out = output(
        host(&dir.join("cache"))
            .arg("run")
            .arg(wasm)
            .arg("--store")
            .arg(db_url(dir))
            .arg("--report")
            .arg(&report)
            .args(args),
    );
    let report = std::fs::read(&report).map(|b| serde_json::from_slice(&b).unwrap()).unwrap_or_default();
    (out, report)
}

fn queue(dir: &Path) -> Vec<serde_json::Value> {
    let out = output(host(&dir.join("cache")).args(["queue", "--limit", "1000000", "--store"]).arg(db_url(dir)));
    assert!(out.status.success(), "{}", stderr(&out));
    jsonl(&out.stdout)
}

/// The sample feed copied into `dir/feeds`, with a manifest granting it.
fn feed_setup(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("feeds")).unwrap();
    std::fs::copy(root().join("examples/feeds/factchecks.jsonl"), dir.join("feeds/factchecks.jsonl")).unwrap();
    let manifest =
        std::fs::read_to_string(root().join("guests/file.toml")).unwrap().replace("../examples/feeds", "feeds");
    std::fs::write(dir.join("file.toml"), manifest).unwrap();
    place(FILE_WASM, dir, "file")
}

#[test]
fn a_second_run_finds_everything_unchanged_and_a_change_is_published_once() {
    let dir = scratch(&[]);
    let wasm = feed_setup(dir.path());
    let (out, first) = run_store(dir.path(), &wasm, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "with a store, envelopes go to stdout only with --out");
    assert_eq!((first["published"].as_u64(), first["skipped_unchanged"].as_u64()), (Some(35), Some(0)));

    let (_, second) = run_store(dir.path(), &wasm, &[]);
    assert_eq!((second["published"].as_u64(), second["skipped_unchanged"].as_u64()), (Some(0), Some(35)));

    // Change one record: only it is published again.
    let path = dir.path().join("feeds/factchecks.jsonl");
    let before = std::fs::read_to_string(&path).unwrap();
    let text = before.replacen("\"rating\": \"false\"", "\"rating\": \"misleading\"", 1);
    assert_ne!(text, before);
    std::fs::write(&path, text).unwrap();
    let (_, third) = run_store(dir.path(), &wasm, &[]);
    assert_eq!((third["published"].as_u64(), third["skipped_unchanged"].as_u64()), (Some(1), Some(34)));

    let q = queue(dir.path());
    assert_eq!(q.len(), 36);
    let seqs: Vec<i64> = q.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "the queue is read in order");
    let changed = &q[35];
    assert_eq!(changed["record_id"], "fc-2026-0001");
    assert_eq!(changed["superseded"], false);
    // Its first version is superseded: listed, without an envelope.
    let old = q.iter().find(|e| e["record_id"] == "fc-2026-0001").unwrap();
    assert_eq!((old["superseded"].as_bool(), old["envelope"].is_null()), (Some(true), true));
    assert_eq!(q.iter().filter(|e| e["superseded"] == true).count(), 1);
    let envelope: serde_json::Value = serde_json::from_str(changed["envelope"].as_str().unwrap()).unwrap();
    assert_eq!(envelope["raw"]["rating"], "misleading");

    // A consumer acknowledges what it took.
    let out = output(host(&dir.path().join("cache")).args(["queue", "--ack", "30", "--store"]).arg(db_url(dir.path())));
    assert!(stderr(&out).contains("acknowledged 30 entries up to 30"), "{}", stderr(&out));
    assert_eq!(queue(dir.path()).iter().filter(|e| e["acked"] == true).count(), 30);
}

#[test]
fn refused_drafts_become_dead_letters() {
    let dir = scratch(&[]);
    let (out, report) = run_store(dir.path(), Path::new(PROBE_WASM), &["--set", "mode=bad-raw"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["published"], 1);
    assert_eq!(report["dead_lettered"], 3);
    assert_eq!(report["rejected"], 3);
}

#[test]
fn a_corrupt_store_is_refused_and_left_alone() {
    let dir = scratch(&[]);
    let db = dir.path().join("state.db");
    let garbage = b"this is not a database, and it must not be silently replaced".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    let (out, _) = run_store(dir.path(), Path::new(PROBE_WASM), &["--set", "mode=pages"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("the store {} is corrupt", db_url(dir.path()))), "{}", stderr(&out));
    assert_eq!(std::fs::read(&db).unwrap(), garbage, "the file was touched");
}

#[test]
fn a_store_from_a_newer_host_is_refused() {
    let dir = scratch(&[]);
    let (out, _) = run_store(dir.path(), Path::new(PROBE_WASM), &["--set", "mode=pages"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&db_url(dir.path())).await.unwrap();
        sqlx::query("INSERT INTO schema_version (version) VALUES (99)").execute(&pool).await.unwrap();
        pool.close().await;
    });
    let (out, _) = run_store(dir.path(), Path::new(PROBE_WASM), &["--set", "mode=pages"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    let expected = format!(
        "has schema version 99, newer than this host's {}; use a newer host",
        host::store::migrations::latest()
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}

#[test]
fn a_read_only_store_fails_the_run_with_nothing_half_written() {
    let dir = scratch(&[]);
    let (out, _) = run_store(dir.path(), Path::new(PROBE_WASM), &["--set", "mode=pages"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = queue(dir.path()).len();
    let report = dir.path().join("r.json");
    let out = output(
        host(&dir.path().join("cache"))
            .arg("run")
            .arg(PROBE_WASM)
            .args(["--set", "mode=pages", "--set", "seed=2", "--store"])
            .arg(format!("{}?mode=ro", db_url(dir.path())))
            .arg("--report")
            .arg(&report),
    );
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).to_lowercase().contains("readonly"), "{}", stderr(&out));
    assert_eq!(queue(dir.path()).len(), before);
}

/// Kills the host with SIGKILL at many points of a large run and restarts it each
/// time until the run completes; the store must then hold exactly the feed's
/// records, each queued once, with the cursor at the end.
#[test]
fn sigkill_anywhere_loses_nothing_and_publishes_nothing_twice() {
    const RECORDS: usize = 20_000;
    let dir = scratch(&[]);
    std::fs::create_dir_all(dir.path().join("feeds")).unwrap();
    let mut feed = std::fs::File::create(dir.path().join("feeds/big.jsonl")).unwrap();
    for i in 0..RECORDS {
        writeln!(feed, r#"{{"id":"r{i:06}","title":"record {i} — Größe","n":{i},"tags":["a","b"]}}"#).unwrap();
    }
    drop(feed);
    std::fs::write(
        dir.path().join("big.toml"),
        "name = \"big\"\n[config]\npath = \"/feeds/big.jsonl\"\n[[dirs]]\nhost = \"feeds\"\nguest = \"/feeds\"\n[limits]\npage_size = 250\n",
    )
    .unwrap();
    let wasm = place(FILE_WASM, dir.path(), "big");

    // Kill after a spread of delays: during start-up, guest calls, sealing,
    // commits and between pages (the run takes a few hundred milliseconds).
    let mut kills = 0;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    while kills < 24 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(5 + seed % 400);
        let mut child = host(&dir.path().join("cache"))
            .arg("run")
            .arg(&wasm)
            .arg("--store")
            .arg(db_url(dir.path()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        match child.try_wait().unwrap() {
            Some(status) => assert!(status.success(), "a run failed on its own: {status}"),
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }

    // Finish the run without interruption (it resumes from the stored cursor).
    let (out, report) = run_store(dir.path(), &wasm, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["next_cursor"], serde_json::Value::Null, "the run reached the end");

    let q = queue(dir.path());
    assert_eq!(q.len(), RECORDS, "every record queued exactly once");
    let mut ids: Vec<&str> = q.iter().map(|e| e["record_id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), RECORDS, "no record queued twice");

    // And a fresh run finds them all unchanged.
    let (_, again) = run_store(dir.path(), &wasm, &[]);
    assert_eq!(again["published"], 0);
    assert_eq!(again["skipped_unchanged"].as_u64(), Some(RECORDS as u64));
}

#[test]
fn dead_letters_can_be_listed_shown_and_replayed() {
    let dir = scratch(&[]);
    let (out, _) = run_store(dir.path(), Path::new(PROBE_WASM), &["--set", "mode=bad-raw"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let url = db_url(dir.path());
    let cmd = |args: &[&str]| output(host(&dir.path().join("cache")).args(args).arg("--store").arg(&url));

    let list = jsonl(&cmd(&["dead-letters", "list"]).stdout);
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["record_id"], "not-json");
    assert!(list[0]["reason"].as_str().unwrap().starts_with("raw is not JSON"));
    assert!(list[0].get("draft").is_none());

    let shown: serde_json::Value = serde_json::from_slice(&cmd(&["dead-letters", "show", "1"]).stdout).unwrap();
    assert_eq!(shown["draft"]["raw"], "{not json");
    let missing = cmd(&["dead-letters", "show", "99"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("has no dead letter 99"), "{}", stderr(&missing));

    // Nothing changed: a replay refuses all three again.
    let out = cmd(&["replay"]);
    assert!(stderr(&out).contains("replayed 0 of 3 dead letters; 3 still refused"), "{}", stderr(&out));

    // The operator repairs one kept draft; the replay seals and publishes it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("UPDATE dead_letters SET draft = replace(draft, '{not json', '{\\\"fixed\\\":true}') WHERE id = 1")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let before = queue(dir.path()).len();
    let out = cmd(&["dead-letters", "replay"]);
    assert!(stderr(&out).contains("replayed 1 of 3 dead letters; 2 still refused"), "{}", stderr(&out));
    let q = queue(dir.path());
    assert_eq!(q.len(), before + 1);
    assert_eq!(q.last().unwrap()["record_id"], "not-json");
    let pending = jsonl(&cmd(&["dead-letters", "list", "--pending"]).stdout);
    assert_eq!(pending.len(), 2);
}

/// A full disk fails the run cleanly: the store stays intact, holding only whole
/// pages, and a later run on a roomier disk completes it.
#[test]
fn a_full_disk_fails_the_run_with_only_whole_pages_kept() {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    let root_user = unsafe { libc::geteuid() } == 0;
    if !root_user {
        eprintln!("SKIPPED: mounting a small filesystem needs root (CI runs as root)");
        return;
    }
    let dir = scratch(&[]);
    std::fs::create_dir_all(dir.path().join("feeds")).unwrap();
    let mut feed = std::fs::File::create(dir.path().join("feeds/big.jsonl")).unwrap();
    for i in 0..5_000 {
        writeln!(feed, r#"{{"id":"r{i:05}","text":"{}"}}"#, "x".repeat(400)).unwrap();
    }
    drop(feed);
    std::fs::write(
        dir.path().join("big.toml"),
        "name = \"big\"\n[config]\npath = \"/feeds/big.jsonl\"\n[[dirs]]\nhost = \"feeds\"\nguest = \"/feeds\"\n[limits]\npage_size = 100\n",
    )
    .unwrap();
    let wasm = place(FILE_WASM, dir.path(), "big");
    let small = dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(mounted.success(), "mounting a 1 MiB tmpfs failed");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&small);

    let url = format!("sqlite:{}", small.join("state.db").display());
    let out = output(host(&dir.path().join("cache")).arg("run").arg(&wasm).arg("--store").arg(&url));
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains("full"), "{}", stderr(&out));

    // What was committed is whole pages, and the store still opens cleanly.
    let q = output(host(&dir.path().join("cache")).args(["queue", "--limit", "100000", "--store"]).arg(&url));
    assert!(q.status.success(), "{}", stderr(&q));
    let queued = jsonl(&q.stdout).len();
    assert_eq!(queued % 100, 0, "{queued} records queued: not whole pages");
    assert!(queued < 5_000);
}

#[test]
fn lifecycle_events_follow_runs_and_status_reduces_them() {
    let dir = scratch(&[]);
    let wasm = feed_setup(dir.path());
    run_store(dir.path(), &wasm, &[]);
    let (failed, _) = run_store(dir.path(), &wasm, &["--set", "path=/feeds/missing.jsonl"]);
    assert_eq!(failed.status.code(), Some(4));
    run_store(dir.path(), &wasm, &[]);

    let out = output(host(&dir.path().join("cache")).args(["status", "file", "--store"]).arg(db_url(dir.path())));
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["current_state"], "healthy");
    let states: Vec<&str> =
        status["transition_log"].as_array().unwrap().iter().map(|t| t[2].as_str().unwrap()).collect();
    assert_eq!(states, ["provisioned", "healthy", "degraded", "healthy"]);
    assert_eq!(status["sync"]["accepted"], 1, "only the first run published anything");
    assert_eq!(status["sync"]["rejected"], 1);
    assert_eq!(status["anomalies"].as_array().unwrap().len(), 0);

    let missing = output(host(&dir.path().join("cache")).args(["status", "nobody", "--store"]).arg(db_url(dir.path())));
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("has no events of a connector `nobody`"), "{}", stderr(&missing));

    // Every stored event matches the lifecycle event schema.
    let text = std::fs::read_to_string(root().join("schemas/lifecycle_event.schema.json")).unwrap();
    let schema = jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let events: Vec<serde_json::Value> = rt.block_on(async {
        use sqlx::Row;
        let pool = sqlx::SqlitePool::connect(&db_url(dir.path())).await.unwrap();
        let rows =
            sqlx::query("SELECT event_type, connector, delivery_id, fingerprint, recorded_at, payload FROM events")
                .fetch_all(&pool)
                .await
                .unwrap();
        rows.iter()
            .map(|r| {
                serde_json::json!({
                    "event_type": r.get::<String, _>(0), "connector": r.get::<String, _>(1),
                    "delivery_id": r.get::<String, _>(2), "fingerprint": r.get::<String, _>(3),
                    "recorded_at": r.get::<String, _>(4),
                    "payload": serde_json::from_str::<serde_json::Value>(&r.get::<String, _>(5)).unwrap(),
                })
            })
            .collect()
    });
    assert_eq!(events.len(), 6);
    for e in &events {
        let errors: Vec<String> = schema.iter_errors(e).map(|x| format!("{}: {x}", x.instance_path())).collect();
        assert!(errors.is_empty(), "{e}: {errors:?}");
    }
}
