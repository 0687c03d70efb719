//! The store: change detection, the queue, dead letters, crash safety and
//! the faults an operator can meet.
//!
//! What the store promises is the same on both backends, so the tests of it are
//! written once, as functions of the [`Backend`], and [`on_both_backends!`] makes a
//! test of each for each: `store::sqlite::NAME` and `store::postgres::NAME`. The
//! tests of a SQLite file itself (a corrupt file, a read-only open, the WAL, a full
//! disk, the migration of an old schema) are SQLite's alone; those of reaching a
//! PostgreSQL server are in [`postgres_errors`].

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use tests::db::{self, Backend};
use tests::*;

/// One `#[test]` per backend for each function named, which takes the [`Backend`].
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(tests::db::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(tests::db::Backend::Postgres) } )*
        }
    };
}

on_both_backends!(
    a_second_run_finds_everything_unchanged_and_a_change_is_published_once,
    refused_drafts_become_dead_letters,
    a_store_from_a_newer_host_is_refused,
    sigkill_at_every_crash_point_loses_nothing_and_publishes_nothing_twice,
    a_damaged_envelope_is_never_handed_out_and_verify_finds_it,
    dead_letters_can_be_listed_shown_and_replayed,
    lifecycle_events_follow_runs_and_status_reduces_them,
    queue_follow_prints_entries_as_they_are_committed,
);

/// A test's scratch directory (manifests, feeds, the compile cache) and its store.
struct Case {
    dir: tempfile::TempDir,
    url: String,
}

impl Case {
    /// An empty directory and a new, empty store of `backend`.
    fn new(backend: Backend) -> Case {
        let dir = scratch(&[]);
        let url = db::store_url(backend, dir.path());
        Case { dir, url }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `host` command with the case's compile cache.
    fn host(&self) -> std::process::Command {
        host(&self.path().join("cache"))
    }

    /// `host ARGS --store URL`.
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        output(self.host().args(args).arg("--store").arg(&self.url))
    }

    /// `host run WASM --store URL --report … ARGS`: its output and its report.
    fn run(&self, wasm: &Path, args: &[&str]) -> (std::process::Output, serde_json::Value) {
        let report = self.path().join("report.json");
        let _ = std::fs::remove_file(&report);
        let out = output(
            self.host().arg("run").arg(wasm).arg("--store").arg(&self.url).arg("--report").arg(&report).args(args),
        );
        let report = std::fs::read(&report).map(|b| serde_json::from_slice(&b).unwrap()).unwrap_or_default();
        (out, report)
    }

    /// The whole queue.
    fn queue(&self) -> Vec<serde_json::Value> {
        let out = self.cmd(&["queue", "--limit", "1000000"]);
        assert!(out.status.success(), "{}", stderr(&out));
        jsonl(&out.stdout)
    }
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

fn a_second_run_finds_everything_unchanged_and_a_change_is_published_once(backend: Backend) {
    let case = Case::new(backend);
    let wasm = feed_setup(case.path());
    let (out, first) = case.run(&wasm, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "with a store, envelopes go to stdout only with --out");
    assert_eq!((first["published"].as_u64(), first["skipped_unchanged"].as_u64()), (Some(35), Some(0)));

    let (_, second) = case.run(&wasm, &[]);
    assert_eq!((second["published"].as_u64(), second["skipped_unchanged"].as_u64()), (Some(0), Some(35)));

    // Change one record: only it is published again.
    let path = case.path().join("feeds/factchecks.jsonl");
    let before = std::fs::read_to_string(&path).unwrap();
    let text = before.replacen("\"rating\": \"false\"", "\"rating\": \"misleading\"", 1);
    assert_ne!(text, before);
    std::fs::write(&path, text).unwrap();
    let (_, third) = case.run(&wasm, &[]);
    assert_eq!((third["published"].as_u64(), third["skipped_unchanged"].as_u64()), (Some(1), Some(34)));

    let q = case.queue();
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

    // A consumer acknowledges what it took. (The sequence numbers are 1 to 36 on both
    // backends: nothing else was queued.)
    assert_eq!((seqs[0], seqs[35]), (1, 36));
    let out = case.cmd(&["queue", "--ack", "30"]);
    assert!(stderr(&out).contains("acknowledged 30 entries up to 30"), "{}", stderr(&out));
    assert_eq!(case.queue().iter().filter(|e| e["acked"] == true).count(), 30);

    // A week later, the acknowledged entry of a version since replaced goes at the
    // next acknowledgement; the current versions' entries stay.
    let aged =
        db::execute(&case.url, "UPDATE queue SET acked_at = '2020-01-01T00:00:00.000Z' WHERE acked_at IS NOT NULL");
    assert_eq!(aged, 30);
    let out = case.cmd(&["queue", "--ack", "36"]);
    assert!(
        stderr(&out)
            .contains("acknowledged 6 entries up to 36; pruned 1 superseded entries acknowledged over 7 days ago"),
        "{}",
        stderr(&out)
    );
    let q = case.queue();
    assert_eq!(q.len(), 35);
    assert!(q.iter().all(|e| e["superseded"] == false && e["acked"] == true));
}

fn refused_drafts_become_dead_letters(backend: Backend) {
    let case = Case::new(backend);
    let (out, report) = case.run(Path::new(PROBE_WASM), &["--set", "mode=bad-raw"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["published"], 1);
    assert_eq!(report["dead_lettered"], 3);
    assert_eq!(report["rejected"], 3);
}

/// SQLite only: a file that is not a database.
#[test]
fn a_corrupt_store_is_refused_and_left_alone() {
    let case = Case::new(Backend::Sqlite);
    let db = case.path().join("state.db");
    let garbage = b"this is not a database, and it must not be silently replaced".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    let (out, _) = case.run(Path::new(PROBE_WASM), &["--set", "mode=pages"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("the store {} is corrupt", case.url)), "{}", stderr(&out));
    assert_eq!(std::fs::read(&db).unwrap(), garbage, "the file was touched");
}

fn a_store_from_a_newer_host_is_refused(backend: Backend) {
    let case = Case::new(backend);
    let (out, _) = case.run(Path::new(PROBE_WASM), &["--set", "mode=pages"]);
    assert!(out.status.success(), "{}", stderr(&out));
    db::execute(&case.url, "INSERT INTO schema_version (version) VALUES (99)");
    let (out, _) = case.run(Path::new(PROBE_WASM), &["--set", "mode=pages"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    let supported = match backend {
        Backend::Sqlite => host::store::migrations::latest(),
        Backend::Postgres => host::store::migrations::latest_postgres(),
    };
    let expected =
        format!("the store {} has schema version 99, newer than this host's {supported}; use a newer host", case.url);
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}

/// SQLite only: a store written by the host before schema version 3 (keys led by
/// the source) is migrated at open: its envelopes and queue, sequence numbers and
/// acknowledgements included, come through, and new entries continue the sequence.
/// (PostgreSQL stores began at SQLite's schema 7.)
#[test]
fn a_store_of_schema_version_2_is_migrated_with_its_queue() {
    let case = Case::new(Backend::Sqlite);
    let wasm = feed_setup(case.path());
    // Versions of records `a` and `b`, sealed as that host sealed them: an envelope
    // whose raw hashes to its raw_sha256.
    let version = |v: &str| {
        let raw = format!("{{\"v\":\"{v}\"}}");
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(raw.as_bytes()));
        let envelope = format!("{{\"hashes\":{{\"raw_sha256\":\"{hash}\"}},\"raw\":{raw}}}");
        (hash, envelope)
    };
    let ((a1, _), (a2, a2_envelope), (b1, b1_envelope)) = (version("a1"), version("a2"), version("b1"));
    // The tables of schema versions 1 and 2, as that host created them.
    let v2 = format!("CREATE TABLE schema_version (version INTEGER NOT NULL);
        INSERT INTO schema_version (version) VALUES (1), (2);
        CREATE TABLE envelopes (source TEXT NOT NULL, record_id TEXT NOT NULL, raw_sha256 TEXT NOT NULL,
            envelope TEXT NOT NULL, connector_digest TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
            PRIMARY KEY (source, record_id));
        CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, record_id TEXT NOT NULL,
            raw_sha256 TEXT NOT NULL, enqueued_at TEXT NOT NULL, acked_at TEXT, UNIQUE (source, record_id, raw_sha256));
        CREATE TABLE cursors (connector TEXT PRIMARY KEY, cursor TEXT, updated_at TEXT NOT NULL);
        CREATE TABLE state (connector TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (connector, key));
        CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, connector TEXT NOT NULL, source TEXT NOT NULL,
            record_id TEXT NOT NULL, reason TEXT NOT NULL, draft TEXT NOT NULL, connector_digest TEXT NOT NULL,
            created_at TEXT NOT NULL, replayed_at TEXT);
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, connector TEXT NOT NULL, status TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT NOT NULL, report TEXT NOT NULL);
        CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, connector TEXT NOT NULL, event_type TEXT NOT NULL,
            delivery_id TEXT NOT NULL, fingerprint TEXT NOT NULL, recorded_at TEXT NOT NULL, payload TEXT NOT NULL,
            UNIQUE (delivery_id, fingerprint));
        CREATE INDEX events_by_connector ON events (connector, recorded_at);
        INSERT INTO envelopes VALUES
            ('old-source', 'a', '{a2}', '{a2_envelope}', 'sha256:0', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'),
            ('old-source', 'b', '{b1}', '{b1_envelope}', 'sha256:0', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
        INSERT INTO queue (seq, source, record_id, raw_sha256, enqueued_at, acked_at) VALUES
            (3, 'old-source', 'a', '{a1}', '2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z'),
            (5, 'old-source', 'b', '{b1}', '2026-01-01T00:00:00Z', NULL),
            (8, 'old-source', 'a', '{a2}', '2026-01-02T00:00:00Z', NULL);
        INSERT INTO dead_letters (connector, source, record_id, reason, draft, connector_digest, created_at) VALUES
            ('old', 'old-source', 'x', 'raw is not JSON', '{{}}', 'sha256:0', '2026-01-01T00:00:00Z');");
    // Made here, not by `db`: the file does not exist yet, and the script is many
    // statements.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let options =
            sqlx::sqlite::SqliteConnectOptions::new().filename(case.path().join("state.db")).create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(v2)).execute(&pool).await.unwrap();
        pool.close().await;
    });

    let q = case.queue();
    let listed: Vec<(i64, &str, &str, bool, bool)> = q
        .iter()
        .map(|e| {
            let (seq, id, hash) =
                (e["seq"].as_i64().unwrap(), e["record_id"].as_str().unwrap(), e["raw_sha256"].as_str().unwrap());
            (seq, id, hash, e["superseded"].as_bool().unwrap(), e["acked"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(
        listed,
        [(3, "a", a1.as_str(), true, true), (5, "b", b1.as_str(), false, false), (8, "a", a2.as_str(), false, false)]
    );
    assert_eq!(q[2]["envelope"], a2_envelope.as_str());

    let (out, report) = case.run(&wasm, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["published"], 35);
    let q = case.queue();
    assert_eq!(q.len(), 38);
    assert!(q[3..].iter().all(|e| e["seq"].as_i64().unwrap() > 8), "new entries continue the sequence");
    let version = db::rows(&case.url, "SELECT MAX(version) FROM schema_version");
    assert_eq!(version, [[Some(host::store::migrations::latest().to_string())]]);
    // A dead letter from before version 5 came from a 1.0.0 component, the only kind then.
    let letters = case.cmd(&["dead-letters", "list"]);
    assert_eq!(jsonl(&letters.stdout)[0]["package"], "partner:connector@1.0.0");
}

/// SQLite only: `mode=ro` is SQLite's (a read-only PostgreSQL role is a grant).
#[test]
fn a_read_only_store_fails_the_run_with_nothing_half_written() {
    let case = Case::new(Backend::Sqlite);
    let (out, _) = case.run(Path::new(PROBE_WASM), &["--set", "mode=pages"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = case.queue().len();
    let report = case.path().join("r.json");
    let out = output(
        case.host()
            .arg("run")
            .arg(PROBE_WASM)
            .args(["--set", "mode=pages", "--set", "seed=2", "--store"])
            .arg(format!("{}?mode=ro", case.url))
            .arg("--report")
            .arg(&report),
    );
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    assert!(stderr(&out).to_lowercase().contains("readonly"), "{}", stderr(&out));
    assert_eq!(case.queue().len(), before);
}

/// Kills the host with SIGKILL at each of its named crash points
/// (`host::faults::CrashPoint::ALL`: before a guest call and after it returns, half-way
/// through sealing a page, in a page's transaction after its rows (half of them on
/// SQLite, which writes a statement per record; all of them on PostgreSQL, in one),
/// after its cursor and state are written, right after COMMIT), at several passes of
/// each, and restarts it every time until a run completes. After every kill the
/// store must hold exactly the records before its cursor, each queued once and in
/// feed order; at the end, exactly the feed's records.
fn sigkill_at_every_crash_point_loses_nothing_and_publishes_nothing_twice(backend: Backend) {
    use std::os::unix::process::ExitStatusExt;

    const RECORDS: usize = 20_000;
    const PAGE: usize = 100;
    let case = Case::new(backend);
    std::fs::create_dir_all(case.path().join("feeds")).unwrap();
    let mut feed = std::fs::File::create(case.path().join("feeds/big.jsonl")).unwrap();
    for i in 0..RECORDS {
        writeln!(feed, r#"{{"id":"r{i:06}","title":"record {i} — Größe","n":{i},"tags":["a","b"]}}"#).unwrap();
    }
    drop(feed);
    std::fs::write(
        case.path().join("big.toml"),
        format!(
            "name = \"big\"\n[config]\npath = \"/feeds/big.jsonl\"\n[[dirs]]\nhost = \"feeds\"\nguest = \"/feeds\"\n[limits]\npage_size = {PAGE}\n"
        ),
    )
    .unwrap();
    let wasm = place(FILE_WASM, case.path(), "big");
    let committed = |when: &str| committed_records(&case.url, RECORDS, when);

    // 6 points x 4 passes = 24 kills. Each run resumes from the stored cursor, so the
    // kills together consume at most 6 x (1 + 2 + 5 + 9) = 102 of the 200 pages and
    // every run is killed before it can finish.
    let mut kills = 0;
    let mut progress: Vec<(String, usize)> = Vec::new();
    for point in &host::faults::CrashPoint::ALL.map(|p| p.name()) {
        for pass in [1, 2, 5, 9] {
            let before = progress.last().map_or(0, |(_, n)| *n);
            let at = format!("{point}:{pass}");
            let status = case
                .host()
                .env("HOST_CRASH_AT", &at)
                .arg("run")
                .arg(&wasm)
                .arg("--store")
                .arg(&case.url)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert_eq!(status.signal(), Some(libc::SIGKILL), "HOST_CRASH_AT={at}: the host was not killed ({status})");
            kills += 1;
            let now = committed(&format!("after the kill at {at}"));
            // In the store, the kill lands exactly: inside the n-th page's
            // transaction (rolled back) or right after its COMMIT (kept).
            let pages = match *point {
                "store-rows" | "store-cursor" => Some(pass - 1),
                "store-committed" => Some(pass),
                _ => None,
            };
            if let Some(pages) = pages {
                assert_eq!(now - before, pages * PAGE, "HOST_CRASH_AT={at}: pages committed by the killed run");
            }
            progress.push((at, now));
        }
    }
    assert!(kills >= 20);
    eprintln!("records committed after each kill: {progress:?}");
    // The kills interrupted the run at different depths: some after commits, some
    // before any.
    let depths: std::collections::BTreeSet<usize> = progress.iter().map(|(_, n)| *n).collect();
    assert!(depths.len() > 10, "the kills did not spread over the run: {progress:?}");

    // Finish the run without interruption (it resumes from the stored cursor).
    let (out, report) = case.run(&wasm, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["next_cursor"], serde_json::Value::Null, "the run reached the end");
    assert_eq!(committed("after the last run"), RECORDS);

    // And a fresh run finds them all unchanged.
    let (_, again) = case.run(&wasm, &[]);
    assert_eq!(again["published"], 0);
    assert_eq!(again["skipped_unchanged"].as_u64(), Some(RECORDS as u64));
    assert_eq!(case.queue().len(), RECORDS, "every record queued exactly once");

    // Every run left a row, the killed ones too: each was marked interrupted by the
    // run after it.
    let runs: Vec<(String, bool)> = db::rows(&case.url, "SELECT status, finished_at FROM runs ORDER BY id")
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].is_some()))
        .collect();
    assert_eq!(runs.len(), kills + 2, "{runs:?}");
    assert_eq!(runs.iter().filter(|(s, _)| s == "interrupted").count(), kills, "{runs:?}");
    assert!(runs[kills..].iter().all(|(s, done)| s == "ok" && *done), "{runs:?}");
}

/// SQLite only: the WAL is SQLite's.
#[test]
fn a_run_leaves_no_wal_behind() {
    let case = Case::new(Backend::Sqlite);
    let wasm = feed_setup(case.path());
    let (out, _) = case.run(&wasm, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let wal = std::fs::metadata(case.path().join("state.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL is truncated when the run ends");
}

/// (On SQLite `verify` runs `integrity_check` too; PostgreSQL has none, and checks
/// the envelopes only: what this test damages is the same on both.)
fn a_damaged_envelope_is_never_handed_out_and_verify_finds_it(backend: Backend) {
    let case = Case::new(backend);
    let wasm = feed_setup(case.path());
    let (out, _) = case.run(&wasm, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sound = case.cmd(&["store", "verify"]);
    assert!(sound.status.success(), "{}", stderr(&sound));
    assert!(stderr(&sound).contains("is sound: 35 envelopes checked"), "{}", stderr(&sound));

    // One stored envelope's text changes under the store (a bad disk, a hand edit).
    let changed = db::execute(
        &case.url,
        "UPDATE envelopes SET envelope = replace(envelope, '\"rating\":\"false\"', '\"rating\":\"true\"') \
         WHERE record_id = 'fc-2026-0001'",
    );
    assert_eq!(changed, 1);

    let listed = case.cmd(&["queue", "--limit", "100"]);
    assert_eq!(listed.status.code(), Some(8), "{}", stderr(&listed));
    let text = stderr(&listed);
    assert!(text.contains("(record `fc-2026-0001`): its raw hashes to"), "{text}");
    assert!(text.contains("is damaged (1 problems found); `host store verify"), "{text}");
    let entries = jsonl(&listed.stdout);
    assert_eq!(entries.len(), 35, "the other entries are listed");
    let bad = entries.iter().find(|e| e["record_id"] == "fc-2026-0001").unwrap();
    assert!(bad["envelope"].is_null() && bad["damaged"].as_str().unwrap().contains("the text was changed"), "{bad}");
    assert!(entries.iter().filter(|e| e["record_id"] != "fc-2026-0001").all(|e| e["envelope"].is_string()));

    let verified = case.cmd(&["store", "verify"]);
    assert_eq!(verified.status.code(), Some(8), "{}", stderr(&verified));
    assert!(
        stderr(&verified).contains("error: envelope `fc-2026-0001` of `partner-factchecks`: its raw hashes to"),
        "{}",
        stderr(&verified)
    );
    let report: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!((report["envelopes"].as_u64(), report["damaged_count"].as_u64()), (Some(35), Some(1)));
}

/// Checks that the store at `url` is consistent with its cursor, and returns how many
/// of the feed's records it holds: the big feed's records `r000000`, `r000001`, …
/// before the stored cursor (`v1:<offset>:<next line>`), or all `total` of them when
/// the cursor says the feed was read to its end; each one stored and queued exactly
/// once, queued in feed order.
fn committed_records(url: &str, total: usize, when: &str) -> usize {
    // No row: no page committed yet; a NULL cursor: the feed was read to its end.
    let cursor: Option<Option<String>> =
        db::rows(url, "SELECT cursor FROM cursors WHERE connector = 'big'").into_iter().next().map(|mut r| r.remove(0));
    let (stored, queued) = stored_record_ids(url);

    let n = match &cursor {
        None => 0,
        Some(None) => total,
        Some(Some(c)) => {
            let line: usize = c.rsplit(':').next().and_then(|l| l.parse().ok()).unwrap_or_else(|| panic!("cursor {c}"));
            line - 1
        }
    };
    let expected: Vec<String> = (0..n).map(|i| format!("r{i:06}")).collect();
    assert!(stored == expected, "{when}: cursor {cursor:?} but {} records stored", stored.len());
    assert!(queued == expected, "{when}: cursor {cursor:?} but {} queued (in order, once each expected)", queued.len());
    n
}

fn dead_letters_can_be_listed_shown_and_replayed(backend: Backend) {
    let case = Case::new(backend);
    let (out, _) = case.run(Path::new(PROBE_WASM), &["--set", "mode=bad-raw"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let list = jsonl(&case.cmd(&["dead-letters", "list"]).stdout);
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["record_id"], "not-json");
    assert!(list[0]["reason"].as_str().unwrap().starts_with("raw is not JSON"));
    assert!(list[0].get("draft").is_none());
    assert_eq!(list[0]["package"], "partner:connector@1.0.0", "the package of the component that made it");

    let shown: serde_json::Value = serde_json::from_slice(&case.cmd(&["dead-letters", "show", "1"]).stdout).unwrap();
    assert_eq!(shown["draft"]["raw"], "{not json");
    let missing = case.cmd(&["dead-letters", "show", "99"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("has no dead letter 99"), "{}", stderr(&missing));

    // Nothing changed: a replay refuses all three again.
    let out = case.cmd(&["replay"]);
    assert!(stderr(&out).contains("replayed 0 of 3 dead letters; 3 still refused"), "{}", stderr(&out));

    // The operator repairs one kept draft; the replay seals and publishes it (and
    // marks it as made by a component of another contract version: the replay
    // stamps what the dead letter says, not this host's constant).
    let repaired = db::execute(
        &case.url,
        "UPDATE dead_letters SET draft = replace(draft, '{not json', '{\\\"fixed\\\":true}'), \
         package = 'partner:connector@1.1.0' WHERE id = 1",
    );
    assert_eq!(repaired, 1);
    let before = case.queue().len();
    let out = case.cmd(&["dead-letters", "replay"]);
    assert!(stderr(&out).contains("replayed 1 of 3 dead letters; 2 still refused"), "{}", stderr(&out));
    let q = case.queue();
    assert_eq!(q.len(), before + 1);
    assert_eq!(q.last().unwrap()["record_id"], "not-json");
    let envelope: serde_json::Value = serde_json::from_str(q.last().unwrap()["envelope"].as_str().unwrap()).unwrap();
    assert_eq!(envelope["metadata"]["connector"]["package"], "partner:connector@1.1.0");
    let pending = jsonl(&case.cmd(&["dead-letters", "list", "--pending"]).stdout);
    assert_eq!(pending.len(), 2);
}

/// SQLite only (a PostgreSQL server's disk is the server's): a full disk fails the
/// run cleanly: the store stays intact, holding only whole pages, and a later run on
/// a roomier disk completes it.
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

fn lifecycle_events_follow_runs_and_status_reduces_them(backend: Backend) {
    let case = Case::new(backend);
    let wasm = feed_setup(case.path());
    case.run(&wasm, &[]);
    let (failed, _) = case.run(&wasm, &["--set", "path=/feeds/missing.jsonl"]);
    assert_eq!(failed.status.code(), Some(4));
    case.run(&wasm, &[]);

    let out = case.cmd(&["status", "file"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["current_state"], "healthy");
    let states: Vec<&str> =
        status["transition_log"].as_array().unwrap().iter().map(|t| t[2].as_str().unwrap()).collect();
    assert_eq!(states, ["provisioned", "healthy", "degraded", "reconnected", "healthy"]);
    assert_eq!(status["sync"]["accepted"], 1, "only the first run published anything");
    assert_eq!(status["sync"]["rejected"], 1);
    assert_eq!(status["anomalies"].as_array().unwrap().len(), 0);

    // Without a name: a line per connector.
    let all = case.cmd(&["status"]);
    assert!(all.status.success(), "{}", stderr(&all));
    let lines = jsonl(&all.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["connector"], "file");
    assert_eq!(lines[0]["current_state"], "healthy");
    assert_eq!(lines[0]["since"], status["transition_log"][4][0]);
    assert_eq!(lines[0]["anomalies"], 0);
    let empty = Case::new(backend);
    let none = empty.cmd(&["status"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(stderr(&none).contains("has no lifecycle events yet"), "{}", stderr(&none));

    let missing = case.cmd(&["status", "nobody"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("has no events of a connector `nobody`"), "{}", stderr(&missing));

    // Every stored event matches the lifecycle event schema.
    let events = stored_events(&case.url);
    // Provisioned, HealthChecked, Accepted; Degraded, Rejected; Reconnected, HealthChecked.
    assert_eq!(events.len(), 7);
}

/// Opening a PostgreSQL store fails in the ways an operator meets first, each with
/// a message that says which (and never shows a password).
mod postgres_errors {
    use tests::*;

    /// `host queue --store URL`, which only opens the store and reads it: its exit
    /// code and standard error.
    fn open(url: &str) -> (Option<i32>, String) {
        let cache = tempfile::tempdir().unwrap();
        let out = output(host(cache.path()).args(["queue", "--store", url]));
        (out.status.code(), stderr(&out))
    }

    /// A loopback port nothing listens on.
    fn closed_port() -> u16 {
        std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port()
    }

    #[test]
    fn a_server_that_is_not_there_is_named_unreachable() {
        let url = format!("postgres://postgres@127.0.0.1:{}/store", closed_port());
        let (code, text) = open(&url);
        assert_eq!(code, Some(8), "{text}");
        assert!(text.contains(&format!("cannot reach the PostgreSQL server of the store {url}")), "{text}");
        assert!(text.contains("is it running, and are the host and port right?"), "{text}");
    }

    #[test]
    fn a_database_that_does_not_exist_is_named() {
        let url = tests::postgres::shared().url_of("nope_xxx");
        let (code, text) = open(&url);
        assert_eq!(code, Some(8), "{text}");
        assert!(
            text.contains(&format!(
                "the database `nope_xxx` of the store {url} does not exist: create it (`createdb nope_xxx`)"
            )),
            "{text}"
        );
    }

    /// The tests' server trusts every connection, so what it refuses is a role it
    /// does not have (28000), which the host reports as refused credentials.
    #[test]
    fn a_user_the_server_does_not_have_is_refused() {
        let port = tests::postgres::shared().port();
        let url = format!("postgres://nobody@127.0.0.1:{port}/postgres");
        let (code, text) = open(&url);
        assert_eq!(code, Some(8), "{text}");
        assert!(text.contains(&format!("the PostgreSQL server refused the credentials of the store {url}")), "{text}");
        assert!(text.contains("role \"nobody\" does not exist"), "{text}");
    }

    /// A password in the URL, as user info or as a parameter, is shown as `***` in
    /// every message: refused, unreachable, no database.
    #[test]
    fn a_password_in_the_url_is_never_shown() {
        let port = tests::postgres::shared().port();
        let closed = closed_port();
        let cases = [
            (format!("postgres://u:s3cret@127.0.0.1:{port}/db"), format!("postgres://u:***@127.0.0.1:{port}/db")),
            (format!("postgres://u:s3cret@127.0.0.1:{closed}/db"), format!("postgres://u:***@127.0.0.1:{closed}/db")),
            (
                format!("postgres://postgres:s3cret@127.0.0.1:{port}/nope_xxx"),
                format!("postgres://postgres:***@127.0.0.1:{port}/nope_xxx"),
            ),
            (
                format!("postgres://u@127.0.0.1:{port}/db?password=s3cret"),
                format!("postgres://u@127.0.0.1:{port}/db?password=***"),
            ),
        ];
        for (url, shown) in &cases {
            let (code, text) = open(url);
            assert_eq!(code, Some(8), "{url}: {text}");
            assert!(!text.contains("s3cret"), "{url}: the password is shown: {text}");
            assert!(text.contains(shown.as_str()), "{url}: {text}");
        }
        // And in the messages of a store that opened (the server trusts any password).
        let db = tests::postgres::shared().database();
        let url = db.replacen("postgres://postgres@", "postgres://postgres:s3cret@", 1);
        let cache = tempfile::tempdir().unwrap();
        for args in
            [&["status"][..], &["store", "verify"], &["cursor", "show", "nobody"], &["dead-letters", "show", "7"]]
        {
            let out = output(host(cache.path()).args(args).args(["--store", &url]));
            let text = stderr(&out);
            assert!(text.contains("postgres://postgres:***@"), "{args:?}: {text}");
            assert!(!text.contains("s3cret"), "{args:?}: the password is shown: {text}");
        }
    }
}

/// `host queue --follow` prints entries as pages commit: woken by NOTIFY on
/// PostgreSQL (well within its 5 s poll), by a poll every second on SQLite.
fn queue_follow_prints_entries_as_they_are_committed(backend: Backend) {
    use std::io::BufRead;
    let case = Case::new(backend);
    let wasm = feed_setup(case.path());
    let (out, _) = case.run(&wasm, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut follower = case
        .host()
        .args(["queue", "--follow", "--store", &case.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(serde_json::from_str::<serde_json::Value>(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    // What the queue held already comes first.
    let first: Vec<serde_json::Value> =
        (0..35).map(|_| rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the queued entries")).collect();
    assert!(first.iter().all(|e| e["superseded"] == false));
    // Then each change, as its page commits.
    let path = case.path().join("feeds/factchecks.jsonl");
    let limit = match backend {
        Backend::Postgres => std::time::Duration::from_millis(1500),
        Backend::Sqlite => std::time::Duration::from_millis(3000),
    };
    for (round, rating) in ["misleading", "satire", "unproven"].iter().enumerate() {
        let text = std::fs::read_to_string(&path).unwrap();
        let text = with_first_rating(&text, rating);
        std::fs::write(&path, text).unwrap();
        let (out, report) = case.run(&wasm, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(report["published"], 1, "round {round}");
        let committed = std::time::Instant::now();
        let entry = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the new entry");
        let took = committed.elapsed();
        assert_eq!(entry["record_id"], "fc-2026-0001", "round {round}");
        assert!(took < limit, "round {round}: the entry came {took:?} after the commit");
    }
    let _ = follower.kill();
    let _ = follower.wait();
}

/// The feed with its first record's rating set to `rating`.
fn with_first_rating(text: &str, rating: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    first["rating"] = rating.into();
    lines[0] = first.to_string();
    lines.join("\n") + "\n"
}
