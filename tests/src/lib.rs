//! Helpers shared by the end-to-end tests: where the guests and the host binary are,
//! and how to run the binary and read what it wrote.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The example file connector, built by this crate's build script.
pub const FILE_WASM: &str = env!("GUEST_FILE");
/// The sandbox probe.
pub const PROBE_WASM: &str = env!("GUEST_PROBE");
/// A connector whose component imports `wasi:sockets`.
pub const SOCKETS_WASM: &str = env!("GUEST_SOCKETS");
/// A component built against `partner:connector@1.1.0`, reading the file at config
/// `path`.
pub const V1_1_WASM: &str = env!("GUEST_V1_1_CONNECTOR");
/// A component of the world `connector-with-evidence` (1.1) whose answers its config
/// sets (`tests/guests/evidence-probe`).
pub const EVIDENCE_PROBE_WASM: &str = env!("GUEST_EVIDENCE_PROBE");
/// The MediaWiki evidence connector (`guests/mediawiki`).
pub const MEDIAWIKI_WASM: &str = env!("GUEST_MEDIAWIKI");
/// The JavaScript kit's file connector (`guests/js/examples/file`).
pub const JS_FILE_WASM: &str = env!("GUEST_JS_FILE");
/// The JavaScript kit's REST connector (`guests/js/examples/rest`).
pub const JS_REST_WASM: &str = env!("GUEST_JS_REST");
/// The Python kit's file connector (`guests/python/examples/file`).
pub const PY_FILE_WASM: &str = env!("GUEST_PY_FILE");
/// The Python kit's REST connector (`guests/python/examples/rest`).
pub const PY_REST_WASM: &str = env!("GUEST_PY_REST");
/// The Python kit's test-only connector that fails on purpose, one way per config
/// `mode` (`guests/python/examples/faulty`).
pub const PY_FAULTY_WASM: &str = env!("GUEST_PY_FAULTY");
/// A component built against `partner:connector@2.0.0`.
pub const V2_WASM: &str = env!("GUEST_V2_CONNECTOR");
/// The generic REST/JSON connector.
pub const HTTP_JSON_WASM: &str = env!("GUEST_HTTP_JSON");
/// The GitHub issues connector.
pub const GITHUB_WASM: &str = env!("GUEST_GITHUB");
/// The hostile connector of the containment suite (`tests/guests/hostile`).
pub const HOSTILE_WASM: &str = env!("GUEST_HOSTILE");

pub mod browser;
pub mod daemon;
pub mod db;
pub mod postgres;
pub mod upstream;

/// The repository's root directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// The `host` binary of this build (debug), built by `cargo build -p host` (which
/// `just test` runs first).
pub fn host_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let bin = target.join("debug").join("host");
    assert!(bin.is_file(), "{} is missing: run `cargo build -p host` first (`just test` does)", bin.display());
    bin
}

/// A `host` command with its own private compile cache in `cache`.
pub fn host(cache: &Path) -> Command {
    let mut cmd = Command::new(host_bin());
    cmd.env("HOST_CACHE_DIR", cache).env("HOST_LOG", "warn,guest=info").env_remove("NO_COLOR");
    cmd
}

/// Runs `cmd` and returns its output.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("running the host binary")
}

/// The standard error of `out` as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The standard output of `out`, one JSON value per line.
pub fn jsonl(bytes: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(bytes)
        .expect("output is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A temporary directory holding `files` (name, contents); also a cache directory.
pub fn scratch(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Copies `wasm` into `dir` as `name.wasm`, so that a manifest `name.toml` can sit beside it.
pub fn place(wasm: &str, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(format!("{name}.wasm"));
    std::fs::copy(wasm, &to).unwrap();
    to
}

/// What a finished `host` process left: its exit code, output, and peak memory.
pub struct Measured {
    /// The exit code (`None` if a signal ended it).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error, as text.
    pub stderr: String,
    /// The process's peak resident memory, in bytes (its `VmHWM`).
    pub peak_rss: u64,
}

/// Runs `cmd` to its end and measures its peak resident memory.
///
/// The peak is the child's own `VmHWM` (the high-water mark of its address space,
/// which starts afresh at exec, and only grows), read every 2 ms while it runs.
/// Unlike `wait4`'s `ru_maxrss`, it does not
/// include what the test process (which runs several tests at once) had resident
/// when it spawned the child: `ru_maxrss` carries a parent's high-water mark
/// across the fork and exec.
pub fn measured(cmd: &mut Command) -> Measured {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starting the host binary");
    let pipe = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap();
            v
        })
    };
    let out = pipe(Box::new(child.stdout.take().unwrap()));
    let err = pipe(Box::new(child.stderr.take().unwrap()));
    let status = format!("/proc/{}/status", child.id());
    let hwm_kib = || {
        let text = std::fs::read_to_string(&status).ok()?;
        let line = text.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
        line.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
    };
    let mut peak_kib = 0u64;
    let code = loop {
        peak_kib = peak_kib.max(hwm_kib().unwrap_or(0));
        if let Some(status) = child.try_wait().expect("waiting for the host binary") {
            break status.code();
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    Measured {
        code,
        stdout: out.join().unwrap(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        peak_rss: peak_kib * 1024,
    }
}

/// The lifecycle events in the store at `url` (either backend), in the order they
/// were recorded, each checked against `schemas/lifecycle_event.schema.json`.
pub fn stored_events(url: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(root().join("schemas/lifecycle_event.schema.json")).unwrap();
    let schema = jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap();
    let rows = db::rows(
        url,
        "SELECT event_type, connector, delivery_id, fingerprint, recorded_at, payload FROM events ORDER BY id",
    );
    let events: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            let r: Vec<String> = r.into_iter().map(|c| c.expect("the events' columns are NOT NULL")).collect();
            serde_json::json!({
                "event_type": r[0], "connector": r[1], "delivery_id": r[2], "fingerprint": r[3],
                "recorded_at": r[4], "payload": serde_json::from_str::<serde_json::Value>(&r[5]).unwrap(),
            })
        })
        .collect();
    for e in &events {
        let errors: Vec<String> = schema.iter_errors(e).map(|x| format!("{}: {x}", x.instance_path())).collect();
        assert!(errors.is_empty(), "{e}: {errors:?}");
    }
    events
}

/// `host status NAME` of the store at `url` (with compile cache `cache`): the reduced
/// state, which must hold no anomaly, and the states of its transitions in order.
pub fn connector_status(cache: &Path, url: &str, name: &str) -> (serde_json::Value, Vec<String>) {
    let out = output(host(cache).args(["status", name, "--store", url]));
    assert!(out.status.success(), "{}", stderr(&out));
    let reduced: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reduced["anomalies"], serde_json::json!([]), "{reduced}");
    let states =
        reduced["transition_log"].as_array().unwrap().iter().map(|t| t[2].as_str().unwrap().to_string()).collect();
    (reduced, states)
}

/// The record ids in the store at `url` (either backend): those of `envelopes`,
/// sorted, and those of the queue, in queue order.
pub fn stored_record_ids(url: &str) -> (Vec<String>, Vec<String>) {
    let ids = |sql: &str| -> Vec<String> {
        db::rows(url, sql).into_iter().map(|mut r| r.remove(0).expect("record ids are NOT NULL")).collect()
    };
    (ids("SELECT record_id FROM envelopes ORDER BY record_id"), ids("SELECT record_id FROM queue ORDER BY seq"))
}
