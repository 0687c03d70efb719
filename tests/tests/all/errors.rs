//! Every error a user can hit names what was wrong and where, and exits with its
//! documented code.

use std::path::Path;
use std::process::Output;

use tests::*;

fn run(dir: &Path, component: &Path, args: &[&str]) -> Output {
    output(host(&dir.join("cache")).arg("run").arg(component).args(args))
}

#[track_caller]
fn fails(out: &Output, code: i32, message: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(message), "expected `{message}` in:\n{err}");
}

#[test]
fn a_missing_component_file() {
    let dir = scratch(&[]);
    let out = run(dir.path(), &dir.path().join("nope.wasm"), &[]);
    fails(&out, 3, &format!("error: cannot read component {}: No such file", dir.path().join("nope.wasm").display()));
}

#[test]
fn an_endless_component_file_is_refused_unread() {
    let dir = scratch(&[]);
    let out = run(dir.path(), Path::new("/dev/zero"), &[]);
    fails(
        &out,
        3,
        "error: cannot read component /dev/zero: it is larger than 256 MiB (268435456 bytes), the most the host reads of a component",
    );
    let out = run(dir.path(), Path::new(FILE_WASM), &["--replay", "/dev/zero"]);
    fails(
        &out,
        3,
        "/dev/zero: it is larger than 256 MiB (268435456 bytes), the most the host reads of an HTTP recording",
    );
}

#[test]
fn a_file_that_is_not_webassembly() {
    let dir = scratch(&[("notes.wasm", "hello")]);
    let out = run(dir.path(), &dir.path().join("notes.wasm"), &[]);
    fails(&out, 3, "notes.wasm is not a WebAssembly component (it does not start with the `\\0asm` magic bytes)");
}

#[test]
fn a_core_module_instead_of_a_component() {
    let dir = scratch(&[]);
    let path = dir.path().join("core.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let out = run(dir.path(), &path, &[]);
    fails(
        &out,
        3,
        "core.wasm is a core WebAssembly module, not a component: build the connector for the wasm32-wasip2 target",
    );
}

#[test]
fn a_component_built_against_another_version_of_the_contract() {
    let dir = scratch(&[]);
    let out = run(dir.path(), Path::new(V2_WASM), &[]);
    fails(
        &out,
        3,
        "exports `partner:connector/source@2.0.0`: it was built against partner:connector@2.0.0, and this host supports partner:connector@1.0.0 and partner:connector@1.1.0",
    );
}

#[test]
fn a_manifest_with_an_unknown_key() {
    let dir = scratch(&[("c.toml", "name = \"c\"\n[limits]\ncall_timeout = 5\n")]);
    let wasm = place(PROBE_WASM, dir.path(), "c");
    let out = run(dir.path(), &wasm, &[]);
    fails(&out, 3, &format!("manifest {}", dir.path().join("c.toml").display()));
    fails(&out, 3, "unknown field `call_timeout`");
}

#[test]
fn a_manifest_that_never_ends_or_is_not_text() {
    // Read with a bound: `/dev/zero` is refused after 1 MiB instead of filling memory.
    let dir = scratch(&[]);
    let started = std::time::Instant::now();
    let out = run(dir.path(), Path::new(PROBE_WASM), &["--manifest", "/dev/zero"]);
    fails(
        &out,
        3,
        "error: cannot read manifest /dev/zero: it is larger than 1 MiB (1048576 bytes), the most the host reads of a manifest",
    );
    assert!(started.elapsed().as_secs() < 10, "took {:?}", started.elapsed());
    std::fs::write(dir.path().join("bad.toml"), b"name = \"\xff\"\n").unwrap();
    let out = run(dir.path(), Path::new(PROBE_WASM), &["--manifest", dir.path().join("bad.toml").to_str().unwrap()]);
    fails(&out, 3, &format!("cannot read manifest {}: it is not UTF-8", dir.path().join("bad.toml").display()));
}

#[test]
fn a_manifest_using_an_unset_variable() {
    let dir = scratch(&[("c.toml", "[config]\npath = \"${FEED_ROOT_NOT_SET}/x.jsonl\"\n")]);
    let wasm = place(PROBE_WASM, dir.path(), "c");
    let out = run(dir.path(), &wasm, &[]);
    fails(
        &out,
        3,
        "`config.path` uses ${FEED_ROOT_NOT_SET}, but the environment variable FEED_ROOT_NOT_SET is not set",
    );
}

#[test]
fn a_directory_that_cannot_be_granted() {
    let dir = scratch(&[]);
    let out = run(dir.path(), Path::new(PROBE_WASM), &["--dir", "/no/such/dir::/data"]);
    fails(&out, 3, "cannot grant directory /no/such/dir (as /data)");
}

#[test]
fn bad_command_line_usage() {
    let dir = scratch(&[]);
    let out = run(dir.path(), Path::new(PROBE_WASM), &["--set", "novalue"]);
    fails(&out, 2, "--set `novalue`: expected KEY=VALUE");
    let out = run(dir.path(), Path::new(PROBE_WASM), &["--limit", "0"]);
    fails(&out, 2, "--limit 0: must be from 1 to the manifest's limits.max_records_per_page (10000)");
}

#[test]
fn a_connector_error_is_printed_with_its_variant() {
    let dir = scratch(&[]);
    let out = run(dir.path(), Path::new(PROBE_WASM), &["--set", "mode=error"]);
    fails(&out, 4, "error: connector `probe`: list-drafts failed: api error 503: upstream unavailable");
}

#[test]
fn a_failed_page_keeps_the_pages_before_it_and_says_where_to_resume() {
    let dir = scratch(&[]);
    let report = dir.path().join("r.json");
    let out = run(
        dir.path(),
        Path::new(PROBE_WASM),
        &["--set", "mode=fail-second-page", "--report", report.to_str().unwrap()],
    );
    fails(&out, 4, "list-drafts failed: timeout: the second page timed out");
    let envelopes = jsonl(&out.stdout);
    assert_eq!(envelopes.len(), 1);
    assert_eq!(envelopes[0]["record_id"], "first");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["next_cursor"], "2");
    assert_eq!(report["error"]["kind"], "connector_error");
}

#[test]
fn a_runaway_loop_is_stopped_at_its_deadline() {
    let dir = scratch(&[("c.toml", "[config]\nmode = \"loop\"\n[limits]\ncall_timeout_ms = 300\n")]);
    let wasm = place(PROBE_WASM, dir.path(), "c");
    let out = run(dir.path(), &wasm, &[]);
    fails(
        &out,
        5,
        "connector `c`: list-drafts ran past its deadline of 300 ms (limits.call_timeout_ms) and was stopped",
    );
}

#[test]
fn memory_growth_past_the_cap_is_stopped() {
    let dir = scratch(&[("c.toml", "[config]\nmode = \"alloc\"\n[limits]\nmemory_mib = 32\n")]);
    let wasm = place(PROBE_WASM, dir.path(), "c");
    let out = run(dir.path(), &wasm, &[]);
    fails(&out, 5, "connector `c`: list-drafts was stopped: memory would grow to");
    fails(&out, 5, "past the cap of 32 MiB (limits.memory_mib)");
}

#[test]
fn a_panic_is_reported_as_a_trap_with_the_guests_message_in_the_log() {
    let dir = scratch(&[]);
    let out = run(dir.path(), Path::new(PROBE_WASM), &["--set", "mode=panic"]);
    fails(&out, 6, "error: connector `probe`: list-drafts trapped:");
    fails(&out, 6, "the probe panicked on purpose");
}

#[test]
fn validate_names_the_line_and_field_of_each_problem() {
    let (out, _) = {
        let dir = scratch(&[]);
        let o =
            output(host(dir.path()).arg("run").arg(FILE_WASM).arg("--manifest").arg(root().join("guests/file.toml")));
        (o, dir)
    };
    let good: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().take(3).collect();
    let mut tampered: serde_json::Value = serde_json::from_str(good[1]).unwrap();
    tampered["raw"]["rating"] = "true".into();
    let mut bad_uri: serde_json::Value = serde_json::from_str(good[2]).unwrap();
    bad_uri["provenance"]["uri"] = "no scheme here".into();
    // A second `raw` after the first, and a raw with a member named twice (which
    // has no canonical form, so no hash can be checked).
    let twice = format!("{}, \"raw\": {{}}}}", good[0].trim_end().strip_suffix('}').unwrap());
    let dup_member = good[0].replacen("\"raw\":{", "\"raw\":{\"a\":1,\"a\":2,", 1);
    assert_ne!(dup_member, good[0]);
    // A claimed hash that would clear the screen: quoted escaped.
    let mut forged_escape: serde_json::Value = serde_json::from_str(good[0]).unwrap();
    forged_escape["hashes"]["raw_sha256"] = "\u{1b}[2J".into();
    let mut long_id: serde_json::Value = serde_json::from_str(good[0]).unwrap();
    long_id["record_id"] = "i".repeat(10_000).into();
    let text = format!(
        "{}\n{}\n{}\nnot json\n{twice}\n{dup_member}\n{}\n[1, 2]\n{long_id}\n",
        good[0], tampered, bad_uri, forged_escape
    );
    let dir = scratch(&[("e.jsonl", &text)]);
    let path = dir.path().join("e.jsonl");
    let out = output(host(dir.path()).arg("validate").arg(&path));
    let p = path.display();
    fails(&out, 7, &format!("{p}:2: /hashes/raw_sha256: "));
    fails(&out, 7, "is not the SHA-256 of raw's canonical JSON");
    fails(&out, 7, &format!("{p}:3: /provenance/uri: \"no scheme here\" does not match"));
    fails(&out, 7, &format!("{p}:4: not JSON"));
    fails(&out, 7, &format!("{p}:5: /: the member `raw` appears more than once"));
    fails(&out, 7, &format!("{p}:6: /raw: has no canonical JSON form: duplicate member name `a`"));
    fails(&out, 7, &format!("{p}:8: /: [1,2] is not of type \"object\""));
    // The record id is quoted cut (2048 bytes and a count), not in full.
    fails(&out, 7, &format!("{p}:9: /record_id: \"iiii"));
    fails(&out, 7, "bytes cut)");
    let err = stderr(&out);
    assert!(err.lines().all(|l| l.len() < 2300), "a finding is printed whole:\n{err}");
    fails(&out, 7, &format!("{p}:7: /hashes/raw_sha256: \\u{{1b}}[2J is not the SHA-256"));
    assert!(!err.contains('\u{1b}'), "an escape sequence reached the terminal:\n{err}");
    fails(&out, 7, "9 envelopes, 1 valid, 8 invalid");
}

#[test]
fn validate_of_a_file_that_cannot_be_read() {
    let dir = scratch(&[]);
    let out = output(host(dir.path()).arg("validate").arg(dir.path().join("missing.jsonl")));
    fails(&out, 1, &format!("cannot read {}: No such file", dir.path().join("missing.jsonl").display()));
}

#[test]
fn a_cursor_the_connector_did_not_issue() {
    let dir = scratch(&[]);
    let out = output(
        host(&dir.path().join("cache"))
            .arg("run")
            .arg(FILE_WASM)
            .arg("--manifest")
            .arg(root().join("guests/file.toml"))
            .args(["--cursor", "page-7"]),
    );
    fails(&out, 4, "list-drafts failed: invalid-config: cursor `page-7` was not issued by this connector");
}

#[test]
fn a_store_url_of_an_unsupported_kind() {
    let dir = scratch(&[]);
    let out = run(dir.path(), Path::new(PROBE_WASM), &["--store", "mysql://localhost/db"]);
    fails(
        &out,
        8,
        "store URL `mysql://localhost/db` is not supported: use sqlite:PATH or postgres://USER@HOST:PORT/DATABASE",
    );
    // An in-memory database is one per connection: the store's connections would not
    // share it, so it is refused rather than silently losing commits.
    let out = run(dir.path(), Path::new(PROBE_WASM), &["--store", "sqlite::memory:"]);
    fails(&out, 8, "store URL `sqlite::memory:` is not supported: use sqlite:PATH or postgres://");
}
