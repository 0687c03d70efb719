//! Containment: hostile components cannot crash or stall the host, exceed their
//! limits, or forge what the host owns. Each case says how the run must end, what
//! the error must say, and (where it applies) how fast a runaway call must be
//! stopped and how much memory the host process may reach.

use std::path::Path;
use std::time::Instant;

use tests::*;

/// One hostile behaviour and how the host must answer it.
struct Case {
    /// The probe's `mode`.
    mode: &'static str,
    /// Which export misbehaves: `list` (through `host run`), `to-envelopes`, or
    /// `get-record` (through `host get`).
    export: &'static str,
    /// Extra `[config]` and `[limits]` lines.
    config: &'static str,
    limits: &'static str,
    /// The exit code and the fragments the error must contain.
    code: i32,
    says: &'static [&'static str],
    /// For a runaway call: its deadline, which it may overrun by at most 100 ms.
    deadline_ms: Option<u64>,
}

const MIB: u64 = 1 << 20;
/// What the host process may use beyond the guest's memory cap: the runtime, the
/// compiled component, buffers, and a page of records lifted out of the guest.
const OVERHEAD: u64 = 160 * MIB;

const CASES: &[Case] = &[
    Case {
        mode: "loop",
        export: "list",
        config: "",
        limits: "call_timeout_ms = 500",
        code: 5,
        says: &[
            "connector `hostile`: list-drafts ran past its deadline of 500 ms (limits.call_timeout_ms) and was stopped",
        ],
        deadline_ms: Some(500),
    },
    Case {
        mode: "loop",
        export: "to-envelopes",
        config: "",
        limits: "call_timeout_ms = 500",
        code: 5,
        says: &["list-drafts ran past its deadline of 500 ms (limits.call_timeout_ms)"],
        deadline_ms: Some(500),
    },
    Case {
        mode: "loop",
        export: "get-record",
        config: "",
        limits: "call_timeout_ms = 500",
        code: 5,
        says: &["connector `hostile`: get-record ran past its deadline of 500 ms (limits.call_timeout_ms)"],
        deadline_ms: None,
    },
    Case {
        mode: "loop",
        export: "list",
        config: "",
        limits: "call_timeout_ms = 800\nrun_timeout_ms = 800",
        code: 5,
        says: &["list-drafts ran past its deadline of 800 ms (limits.run_timeout_ms)"],
        deadline_ms: Some(800),
    },
    Case {
        mode: "recursion",
        export: "list",
        config: "",
        limits: "",
        code: 5,
        says: &["list-drafts was stopped: the guest overflowed its stack (deep recursion)"],
        deadline_ms: None,
    },
    Case {
        mode: "recursion",
        export: "get-record",
        config: "",
        limits: "",
        code: 5,
        says: &["get-record was stopped: the guest overflowed its stack"],
        deadline_ms: None,
    },
    Case {
        mode: "alloc",
        export: "list",
        config: "",
        limits: "memory_mib = 64",
        code: 5,
        says: &["list-drafts was stopped: memory would grow to", "past the cap of 64 MiB (limits.memory_mib)"],
        deadline_ms: None,
    },
    Case {
        mode: "alloc",
        export: "to-envelopes",
        config: "",
        limits: "memory_mib = 64",
        code: 5,
        says: &["past the cap of 64 MiB (limits.memory_mib)"],
        deadline_ms: None,
    },
    Case {
        mode: "alloc",
        export: "get-record",
        config: "",
        limits: "memory_mib = 64",
        code: 5,
        says: &["get-record was stopped: memory would grow to"],
        deadline_ms: None,
    },
    Case {
        mode: "huge-page",
        export: "list",
        config: "",
        limits: "",
        code: 5,
        says: &["list-drafts was stopped: memory would grow to", "past the cap of 256 MiB (limits.memory_mib)"],
        deadline_ms: None,
    },
    Case {
        mode: "huge-page",
        export: "list",
        config: "count = 20000",
        limits: "",
        code: 5,
        says: &["list-drafts was stopped: it returned 20000 records, more than limits.max_records_per_page (10000)"],
        deadline_ms: None,
    },
    Case {
        mode: "huge-string",
        export: "list",
        config: "",
        limits: "",
        code: 5,
        says: &["past the cap of 256 MiB (limits.memory_mib)"],
        deadline_ms: None,
    },
    Case {
        mode: "huge-string",
        export: "list",
        config: "mib = 40",
        limits: "max_page_bytes = 16777216",
        code: 5,
        says: &[
            "list-drafts was stopped: it passed more than limits.max_page_bytes (16777216 bytes) to the host in one call",
        ],
        deadline_ms: None,
    },
    Case {
        mode: "huge-string",
        export: "get-record",
        config: "mib = 40",
        limits: "max_page_bytes = 16777216",
        code: 5,
        says: &["get-record was stopped: it passed more than limits.max_page_bytes"],
        deadline_ms: None,
    },
    Case {
        mode: "log-huge",
        export: "list",
        config: "mib = 40",
        limits: "max_page_bytes = 16777216",
        code: 5,
        says: &["it passed more than limits.max_page_bytes (16777216 bytes) to the host in one call"],
        deadline_ms: None,
    },
    Case {
        mode: "panic",
        export: "list",
        config: "",
        limits: "",
        code: 6,
        says: &["connector `hostile`: list-drafts trapped:", "the probe panicked on purpose"],
        deadline_ms: None,
    },
    Case {
        mode: "panic",
        export: "to-envelopes",
        config: "",
        limits: "",
        code: 6,
        says: &["list-drafts trapped:"],
        deadline_ms: None,
    },
    Case {
        mode: "panic",
        export: "get-record",
        config: "",
        limits: "",
        code: 6,
        says: &["connector `hostile`: get-record trapped:"],
        deadline_ms: None,
    },
    Case {
        mode: "bad-utf8",
        export: "list",
        config: "",
        limits: "",
        code: 6,
        says: &["connector `hostile`: list-drafts trapped:", "utf-8"],
        deadline_ms: None,
    },
    Case {
        mode: "bad-utf8",
        export: "get-record",
        config: "",
        limits: "",
        code: 6,
        says: &["get-record trapped:", "utf-8"],
        deadline_ms: None,
    },
];

fn run_case(case: &Case) -> (Measured, Option<serde_json::Value>, f64) {
    let dir = scratch(&[(
        "hostile.toml",
        &format!(
            "name = \"hostile\"\n[config]\nmode = \"{}\"\nin = \"{}\"\n{}\n[limits]\n{}\n",
            case.mode, case.export, case.config, case.limits
        ),
    )]);
    let wasm = place(PROBE_WASM, dir.path(), "hostile");
    let report = dir.path().join("report.json");
    let mut cmd = host(&dir.path().join("cache"));
    if case.export == "get-record" {
        cmd.arg("get").arg(&wasm).arg("some-id");
    } else {
        cmd.arg("run").arg(&wasm).arg("--report").arg(&report);
    }
    let started = Instant::now();
    let m = measured(&mut cmd);
    let wall = started.elapsed().as_secs_f64() * 1e3;
    let report = std::fs::read(&report).ok().map(|b| serde_json::from_slice(&b).unwrap());
    (m, report, wall)
}

fn memory_cap(limits: &str) -> u64 {
    limits.lines().find_map(|l| l.strip_prefix("memory_mib = ")).map_or(256, |v| v.trim().parse().unwrap()) * MIB
}

#[test]
fn every_hostile_case_is_stopped_reported_and_contained() {
    let mut table = Vec::new();
    for case in CASES {
        let (m, report, wall) = run_case(case);
        let label = format!("{} in {}", case.mode, case.export);
        assert_eq!(m.code, Some(case.code), "{label}: exit code; stderr:\n{}", m.stderr);
        for fragment in case.says {
            assert!(m.stderr.contains(fragment), "{label}: expected `{fragment}` in:\n{}", m.stderr);
        }
        // Nothing of the failed page is emitted.
        assert!(m.stdout.is_empty(), "{label}: emitted output");
        let cap = memory_cap(case.limits);
        assert!(
            m.peak_rss <= cap + OVERHEAD,
            "{label}: the host reached {} MiB, more than the cap {} MiB + {} MiB",
            m.peak_rss / MIB,
            cap / MIB,
            OVERHEAD / MIB
        );
        let call_ms = report.as_ref().and_then(|r| r["error"]["call_ms"].as_f64());
        if let Some(deadline) = case.deadline_ms {
            let took = call_ms.expect("a failed run reports how long its call ran");
            assert!(took <= deadline as f64 + 100.0, "{label}: stopped after {took} ms, deadline {deadline} ms");
            // (A run deadline counts from before instantiation, so the call itself may
            // be a little shorter than it.)
            assert!(took + 50.0 >= deadline as f64, "{label}: stopped early, after {took} ms");
        }
        table.push(format!(
            "{label:<28} exit {}  call {:>8}  process {:>7.0} ms  peak RSS {:>4} MiB (cap {} MiB)",
            case.code,
            call_ms.map_or("-".into(), |c| format!("{c:.0} ms")),
            wall,
            m.peak_rss / MIB,
            cap / MIB
        ));
    }
    // `cargo test -- --nocapture` shows the measured stop times and peak memory.
    println!("{}", table.join("\n"));
}

#[test]
fn earlier_pages_survive_a_later_failure() {
    for mode in ["panic", "loop", "alloc"] {
        let dir = scratch(&[(
            "h.toml",
            &format!(
                "[config]\nmode = \"{mode}\"\nafter_pages = 2\n[limits]\ncall_timeout_ms = 300\nmemory_mib = 64\n"
            ),
        )]);
        let wasm = place(PROBE_WASM, dir.path(), "h");
        let report = dir.path().join("r.json");
        let out = output(host(&dir.path().join("c")).arg("run").arg(&wasm).arg("--report").arg(&report));
        assert!(matches!(out.status.code(), Some(5 | 6)), "{mode}: {}", stderr(&out));
        let ids: Vec<String> =
            jsonl(&out.stdout).iter().map(|e| e["record_id"].as_str().unwrap().to_string()).collect();
        assert_eq!(ids, ["p0-r0", "p0-r1", "p1-r0", "p1-r1"], "{mode}");
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(report["pages"], 2, "{mode}");
        assert_eq!(report["published"], 4, "{mode}");
        assert_eq!(report["next_cursor"], "2", "{mode}: resume at the failed page");
        assert_eq!(report["status"], "failed");
    }
}

#[test]
fn oversized_ids_and_forged_raw_fields_change_nothing_the_host_owns() {
    let dir = scratch(&[("p.toml", "name = \"p\"\nsource = \"operator-source\"\n[config]\nmode = \"long-id\"\n")]);
    let wasm = place(PROBE_WASM, dir.path(), "p");
    let report = dir.path().join("r.json");
    let out = output(host(&dir.path().join("c")).arg("run").arg(&wasm).arg("--report").arg(&report));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["rejected"], 1);
    let problem = &report["problems"][0];
    assert!(problem["reason"].as_str().unwrap().contains("/record_id: "), "{problem}");
    assert!(problem["where"].as_str().unwrap().chars().count() <= 201, "the id is quoted in full");

    let out = output(host(&dir.path().join("c")).arg("run").arg(&wasm).args(["--set", "mode=forge-raw"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let e = &jsonl(&out.stdout)[0];
    assert_eq!(e["source"], "operator-source");
    assert_ne!(e["collected_at"], "1970-01-01T00:00:00Z");
    use sha2::Digest;
    let canonical = serde_json_canonicalizer::to_vec(&e["raw"]).unwrap();
    assert_eq!(e["hashes"]["raw_sha256"], hex::encode(sha2::Sha256::digest(canonical)));
    assert_ne!(e["hashes"]["raw_sha256"], "0".repeat(64));
}

#[test]
fn state_from_one_run_is_not_visible_to_the_next() {
    // Every run is a fresh instance: the file connector caches its settings in a
    // static, so a changed setting shows whether anything survived.
    let manifest = root().join("guests/file.toml");
    let dir = scratch(&[]);
    let first = output(host(dir.path()).arg("run").arg(FILE_WASM).arg("--manifest").arg(&manifest));
    let second = output(
        host(dir.path())
            .arg("run")
            .arg(FILE_WASM)
            .arg("--manifest")
            .arg(&manifest)
            .args(["--set", "record_type=event"]),
    );
    assert_eq!(jsonl(&first.stdout)[0]["record_type"], "Claim");
    assert_eq!(jsonl(&second.stdout)[0]["record_type"], "Event");
}

/// Several connectors in one host process: a hostile one spinning in a loop does
/// not hold up a good one, even with a single async worker thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_hostile_connector_does_not_hold_up_the_others() {
    use host::ingest::{self, RunOptions};
    use host::manifest::Manifest;
    use host::runtime::component::LoadedComponent;
    use host::runtime::engine::{Engine, EngineOptions};
    use host::sink::JsonlSink;

    let engine = Engine::new(EngineOptions { cache_dir: None }).unwrap();
    let env = |_: &str| None;
    let good = LoadedComponent::load(&engine, Path::new(FILE_WASM)).unwrap();
    let good_manifest = Manifest::load(&root().join("guests/file.toml"), "file", &env).unwrap();
    let bad = LoadedComponent::load(&engine, Path::new(PROBE_WASM)).unwrap();
    let bad_manifest = Manifest::parse(
        "name = \"spinner\"\n[config]\nmode = \"loop\"\n[limits]\ncall_timeout_ms = 3000\n",
        Path::new("spinner.toml"),
        Path::new("."),
        "spinner",
        &env,
    )
    .unwrap();
    let options = RunOptions::default();
    let started = Instant::now();
    let timed = |f| async move {
        let report = f.await;
        (report, started.elapsed())
    };
    let ((bad_report, bad_took), (good_report, good_took)) = tokio::join!(
        timed(ingest::run(&engine, &bad, &bad_manifest, &options, JsonlSink::new(Box::new(std::io::sink())))),
        timed(ingest::run(&engine, &good, &good_manifest, &options, JsonlSink::new(Box::new(std::io::sink())))),
    );
    assert_eq!(good_report.published, 35);
    assert!(good_report.error.is_none());
    assert_eq!(bad_report.error.as_ref().unwrap().kind.as_str(), "limit_exceeded");
    assert!(good_took < bad_took, "the good connector waited for the hostile one ({good_took:?} vs {bad_took:?})");
    assert!(bad_took.as_millis() >= 3000);
}

/// Writes an envelope whose `raw` is `{"text":"xxx…"}` with `mib` MiB of text, as
/// one line, streaming (this process must stay small: see `measured`), with its
/// hash computed as it is written.
fn write_big_envelope(path: &Path, mib: usize) -> u64 {
    use sha2::Digest;
    use std::io::Write;
    let chunk = vec![b'x'; 1 << 20];
    let mut hash = sha2::Sha256::new();
    hash.update(b"{\"text\":\"");
    for _ in 0..mib {
        hash.update(&chunk);
    }
    hash.update(b"\"}");
    let hash = hex::encode(hash.finalize());
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(
        f,
        "{{\"envelope_version\":\"1.0\",\"source\":\"big\",\"source_instance\":\"big\",\
         \"collected_at\":\"2024-01-01T00:00:00Z\",\"record_id\":\"big\",\"record_type\":\"Document\",\
         \"provenance\":{{\"uri\":\"file:///big\"}},\"hashes\":{{\"raw_sha256\":\"{hash}\"}},\"raw\":{{\"text\":\""
    )
    .unwrap();
    for _ in 0..mib {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(b"\"}}\n").unwrap();
    f.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// `host validate` on a file of one 64 MiB envelope checks it in a small multiple of
/// the line, and on a sparse 2 GiB file (one line of zeros) reports the line too long
/// and never holds more than the line cap.
#[test]
fn validate_reads_huge_lines_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.jsonl");
    let len = write_big_envelope(&big, 64);
    let started = Instant::now();
    let m = measured(host(dir.path()).arg("validate").arg(&big));
    let took = started.elapsed();
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    assert!(m.stderr.contains("1 envelopes, 1 valid, 0 invalid"), "{}", m.stderr);
    // The line, its canonical `raw`, and the canonicaliser's scratch copy of it.
    let bound = 4 * len + 64 * MIB;
    assert!(m.peak_rss < bound, "a {} MiB line took {} MiB", len / MIB, m.peak_rss / MIB);
    println!("validate, one {} MiB line: peak RSS {} MiB, {took:?}", len / MIB, m.peak_rss / MIB);

    let sparse = dir.path().join("sparse.jsonl");
    std::fs::File::create(&sparse).unwrap().set_len(2 << 30).unwrap();
    let started = Instant::now();
    let m = measured(host(dir.path()).arg("validate").arg(&sparse));
    let took = started.elapsed();
    assert_eq!(m.code, Some(7), "{}", m.stderr);
    let expected = format!(
        "{}:1: line 1 is longer than {} bytes (2147483648 bytes); not checked",
        sparse.display(),
        host::envelope::validate::MAX_LINE
    );
    assert!(m.stderr.contains(&expected), "{}", m.stderr);
    assert!(m.stderr.contains("1 envelopes, 0 valid, 1 invalid"), "{}", m.stderr);
    let bound = host::envelope::validate::MAX_LINE + 64 * MIB;
    assert!(m.peak_rss < bound, "a sparse 2 GiB file took {} MiB", m.peak_rss / MIB);
    println!("validate, sparse 2 GiB: peak RSS {} MiB, {took:?}", m.peak_rss / MIB);
}

/// A million bad lines: the first 100 findings are printed, then one line counting
/// the rest, and the findings are not all held in memory.
#[test]
fn validate_summarises_a_million_bad_lines() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..1_000_000 {
        writeln!(f, "not json {i}").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let started = Instant::now();
    let m = measured(host(dir.path()).arg("validate").arg(&path));
    let took = started.elapsed();
    assert_eq!(m.code, Some(7), "{}", &m.stderr[..m.stderr.len().min(4000)]);
    let lines: Vec<&str> = m.stderr.lines().collect();
    assert!(lines.len() <= 103, "{} lines on stderr", lines.len());
    let p = path.display();
    assert!(lines[0].starts_with(&format!("{p}:1: not JSON: ")), "{}", lines[0]);
    assert!(lines[99].starts_with(&format!("{p}:100: not JSON: ")), "{}", lines[99]);
    assert_eq!(lines[100], format!("{p}: 999900 more findings not shown (only the first 100 are)"));
    assert_eq!(lines[101], format!("{p}: 1000000 envelopes, 0 valid, 1000000 invalid"));
    assert_eq!(lines[102], "error: 1000000 of the envelopes are invalid");
    assert!(m.peak_rss < 64 * MIB, "{} MiB", m.peak_rss / MIB);
    println!("validate, 1000000 bad lines: {} stderr lines, peak RSS {} MiB, {took:?}", lines.len(), m.peak_rss / MIB);
}
