//! The host's side of the partner kit: the `1.1.0` contract beside `1.0.0`,
//! capabilities declared inside the component (`host package`), checked against the
//! manifest at load and across versions on hot swap (parked until approved), and
//! `host compile`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tests::daemon::Daemon;
use tests::*;

fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

const FEED_NEEDS: &str = "state_bytes = 4096\n\
    [[config]]\nname = \"path\"\ndescription = \"The feed, inside a granted directory\"\nrequired = true\n\
    [[config]]\nname = \"id_field\"\ndefault = \"id\"\n\
    [[config]]\nname = \"record_type\"\n[[config]]\nname = \"source_instance\"\n\
    [[config]]\nname = \"last_modified_field\"\n[[config]]\nname = \"author_field\"\n\
    [[dirs]]\npath = \"/feeds\"\n";

/// Packages the file connector as `dir/name.wasm` with `needs`.
fn packaged(dir: &Path, name: &str, needs: &str) -> std::path::PathBuf {
    let wasm = place(FILE_WASM, dir, name);
    let caps = dir.join(format!("{name}.capabilities.toml"));
    std::fs::write(&caps, needs).unwrap();
    let out = output(host(&dir.join("cache")).arg("package").arg(&wasm).arg("--capabilities").arg(&caps));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("packaged {}", wasm.display())), "{}", stderr(&out));
    wasm
}

#[test]
fn a_1_1_component_runs_beside_1_0_and_reads_its_granted_directory() {
    let dir = scratch(&[("data/note.txt", "from a granted directory")]);
    let grant = format!("{}::/data", dir.path().join("data").display());
    let out = output(host(&dir.path().join("cache")).arg("run").arg(V1_1_WASM).args([
        "--dir",
        &grant,
        "--set",
        "path=/data/note.txt",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let envelopes = jsonl(&out.stdout);
    assert_eq!(envelopes.len(), 1);
    assert_eq!(envelopes[0]["raw"]["text"], "from a granted directory");
    assert_eq!(envelopes[0]["metadata"]["connector"]["package"], "partner:connector@1.1.0");

    let out = output(host(&dir.path().join("cache")).arg("inspect").arg(V1_1_WASM).arg("--json"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["package"], "partner:connector@1.1.0");
    assert_eq!(v["exports"], serde_json::json!(["partner:connector/source@1.1.0"]));
    // And a 1.0 component in the same host version still says 1.0.
    let out = output(host(&dir.path().join("cache")).arg("inspect").arg(FILE_WASM).arg("--json"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["package"], "partner:connector@1.0.0");
}

#[test]
fn a_declaration_is_packaged_into_the_component_and_checked_against_the_manifest() {
    let dir = scratch(&[]);
    let wasm = packaged(dir.path(), "feed", FEED_NEEDS);
    let cache = dir.path().join("cache");

    // No manifest: less than declared, refused before any run, naming what is missing.
    let out = output(host(&cache).arg("run").arg(&wasm));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: connector `feed` has no manifest, so it grants less than the component declares it needs"),
        "{err}"
    );
    assert!(
        err.contains("config key `path` (The feed, inside a granted directory) is required and not set in [config]"),
        "{err}"
    );
    assert!(err.contains("dir `/feeds` is not granted in [[dirs]]"), "{err}");
    assert!(out.stdout.is_empty(), "nothing ran");

    // The example manifest grants it all, and one key more: a warning, and it runs.
    let manifest = std::fs::read_to_string(root().join("guests/file.toml")).unwrap();
    let manifest = manifest.replace("../examples/feeds", &root().join("examples/feeds").display().to_string());
    std::fs::write(dir.path().join("feed.toml"), format!("{manifest}\n")).unwrap();
    let with_extra = manifest.replace("[config]\n", "[config]\nunused = \"1\"\n");
    std::fs::write(dir.path().join("extra.toml"), &with_extra).unwrap();
    let out = output(host(&cache).arg("run").arg(&wasm).arg("--manifest").arg(dir.path().join("extra.toml")));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: config key `unused` is set but not declared (least privilege"),
        "{}",
        stderr(&out)
    );
    assert!(!jsonl(&out.stdout).is_empty());

    // A state budget above the manifest's is missing too; inspect shows it all.
    let small = manifest.replace("[limits]\n", "[limits]\nstate_bytes = 100\n");
    std::fs::write(dir.path().join("small.toml"), &small).unwrap();
    let out = output(
        host(&cache).arg("inspect").arg(&wasm).arg("--manifest").arg(dir.path().join("small.toml")).arg("--json"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["declared"]["state_bytes"], 4096);
    assert_eq!(v["declared"]["config"][0]["name"], "path");
    assert_eq!(
        v["missing"],
        serde_json::json!(["it keeps up to 4096 bytes of state, more than limits.state_bytes (100)"])
    );
    assert_eq!(v["source_name"], Value::Null, "not asked while undergranted");
    let out = output(host(&cache).arg("inspect").arg(&wasm).arg("--manifest").arg(dir.path().join("small.toml")));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("  config      path [required]: The feed, inside a granted directory"), "{text}");
    assert!(text.contains("missing       it keeps up to 4096 bytes of state"), "{text}");
    assert!(text.contains("source-name   not asked: the manifest grants less than the component declares"), "{text}");

    // Packaging again replaces the section: the component carries one declaration.
    let caps = dir.path().join("feed.capabilities.toml");
    std::fs::write(&caps, FEED_NEEDS.replace("state_bytes = 4096", "state_bytes = 8")).unwrap();
    let before = std::fs::metadata(&wasm).unwrap().len();
    let out = output(host(&cache).arg("package").arg(&wasm).arg("--capabilities").arg(&caps));
    assert!(out.status.success(), "{}", stderr(&out));
    // `8` is three bytes shorter than `4096`: the section was replaced, not appended.
    assert_eq!(std::fs::metadata(&wasm).unwrap().len(), before - 3);
    let out = output(host(&cache).arg("inspect").arg(&wasm).arg("--json"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["declared"]["state_bytes"], 8);
}

#[test]
fn a_bad_capabilities_file_is_refused_naming_the_file_and_the_entry() {
    let dir = scratch(&[
        ("typo.toml", "[[config]]\nname = \"x\"\nrequird = true\n"),
        ("template.toml", "http = [\"{base_url}/v1\"]\n"),
        ("control.toml", "[[config]]\nname = \"x\"\ndescription = \"\\u001b[31mred\"\n"),
    ]);
    let wasm = place(FILE_WASM, dir.path(), "c");
    let cases = [
        ("typo.toml", "unknown field `requird`"),
        ("template.toml", "http origin `{base_url}/v1` uses `{base_url}`, which is not a declared config key"),
        (
            "control.toml",
            "config key `x`: its description or default is longer than 2048 bytes or holds control characters",
        ),
    ];
    for (file, message) in cases {
        let caps = dir.path().join(file);
        let out = output(host(&dir.path().join("cache")).arg("package").arg(&wasm).arg("--capabilities").arg(&caps));
        assert_eq!(out.status.code(), Some(3), "{file}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&caps.display().to_string()) && err.contains(message), "{file}: {err}");
    }
    assert_eq!(std::fs::read(&wasm).unwrap(), std::fs::read(FILE_WASM).unwrap(), "the component is untouched");
    std::fs::write(dir.path().join("fine.toml"), "http = [\"https://api.example.com\"]\n").unwrap();
    let out = output(
        host(&dir.path().join("cache"))
            .arg("package")
            .arg(dir.path().join("typo.toml"))
            .arg("--capabilities")
            .arg(dir.path().join("fine.toml")),
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("is not a WebAssembly component"), "{}", stderr(&out));
}

#[test]
fn host_compile_fills_the_cache_ahead_of_a_run() {
    let dir = scratch(&[]);
    let cache = dir.path().join("cache");
    let out = output(host(&cache).arg("compile").arg(FILE_WASM).arg(V1_1_WASM));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("{FILE_WASM}: compiled in ")), "{text}");
    assert!(text.contains(&format!("{V1_1_WASM}: compiled in ")), "{text}");
    let artifacts = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(artifacts, 2, "one artifact per component");
    let out = output(host(&cache).arg("compile").arg(FILE_WASM));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("{FILE_WASM}: already compiled")), "{text}");

    let out = output(host(&cache).arg("--no-cache").arg("compile").arg(FILE_WASM));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("host compile fills the compile cache: it cannot run with --no-cache"),
        "{}",
        stderr(&out)
    );
}

/// Whether the daemon's log says `text` within a few seconds.
fn logged(d: &Daemon, text: &str) -> bool {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !d.log_text().contains(text) {
        if std::time::Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// A scratch directory with the file connector packaged with [`FEED_NEEDS`] (version
/// 1), a manifest that also grants `/uploads` (which version 1 does not use), and a
/// connectors file for `host serve` on a SQLite store there.
fn declared_feed_daemon_files() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch(&[]);
    let wasm = packaged(dir.path(), "feed", FEED_NEEDS);
    let manifest = std::fs::read_to_string(root().join("guests/file.toml")).unwrap();
    let feeds = root().join("examples/feeds").display().to_string();
    // The operator's manifest grants a second directory, which version 1 does not use.
    std::fs::create_dir(dir.path().join("uploads")).unwrap();
    let manifest = manifest.replace("../examples/feeds", &feeds)
        + &format!(
            "\n[[dirs]]\nhost = {}\nguest = \"/uploads\"\n",
            quote(&dir.path().join("uploads").display().to_string())
        );
    std::fs::write(dir.path().join("feed.toml"), &manifest).unwrap();
    let config = dir.path().join("connectors.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nstore = {}\nreload_debounce_ms = 50\n\n[[connectors]]\nname = \"feed\"\ncomponent = {}\nmanifest = {}\npoll_interval = \"1h\"\n",
            quote(&format!("sqlite:{}", dir.path().join("serve.db").display())),
            quote(&wasm.display().to_string()),
            quote(&dir.path().join("feed.toml").display().to_string()),
        ),
    )
    .unwrap();
    (dir, wasm, config)
}

/// A hot swap to a version that declares more than the live one is parked: the live
/// version keeps running, the API shows the pending one and what it adds, and
/// `POST /connectors/{name}/approve` applies it. A version that declares the same or
/// less goes live on its own.
#[test]
fn an_escalating_hot_swap_is_parked_until_approved() {
    let (dir, wasm, config) = declared_feed_daemon_files();
    let d = Daemon::start(dir.path(), &config);
    let v1 = d.wait_for("/connectors/feed", Duration::from_secs(30), |v| !v["live"].is_null());
    let v1_digest = v1["live"]["digest"].as_str().unwrap().to_string();
    assert_eq!(v1["pending"], Value::Null);

    // Version 2 also reads /uploads: more than version 1 declared.
    let more = FEED_NEEDS.to_string() + "[[dirs]]\npath = \"/uploads\"\n";
    let next = packaged(dir.path(), "next", &more);
    std::fs::rename(&next, &wasm).unwrap();
    let v = d.wait_for("/connectors/feed", Duration::from_secs(30), |v| !v["pending"].is_null());
    assert_eq!(v["live"]["digest"], v1_digest.as_str(), "the live version keeps running");
    assert_eq!(v["pending"]["added"], serde_json::json!(["dir `/uploads`"]));
    let v2_digest = v["pending"]["digest"].as_str().unwrap().to_string();
    assert_ne!(v2_digest, v1_digest);
    // The warning is written just after the API shows the pending version.
    assert!(
        logged(&d, "the new version declares more than the live one: parked until an operator approves it"),
        "{}",
        d.log_text()
    );
    // Runs go on, on version 1.
    let (code, body) = d.post("/connectors/feed/run");
    assert_eq!(code, 200, "{body}");
    // Asking for a reload does not apply it either.
    let (code, body) = d.post("/connectors/feed/reload");
    assert_eq!(code, 202, "{body}");
    assert!(body.contains("\"outcome\":\"parked\""), "{body}");
    assert_eq!(d.json("/connectors/feed")["live"]["digest"], v1_digest.as_str());

    // `host approve` asks the daemon through its admin API.
    let admin = format!("http://{}", d.addr);
    let out = output(host(&dir.path().join("cache")).args(["approve", "feed", "--admin", &admin]));
    assert!(out.status.success(), "{}", stderr(&out));
    let body = String::from_utf8(out.stdout).unwrap();
    assert!(body.contains("\"outcome\":\"approved\"") && body.contains(&v2_digest), "{body}");
    let v = d.json("/connectors/feed");
    assert_eq!(v["live"]["digest"], v2_digest.as_str());
    assert_eq!(v["pending"], Value::Null);
    let (code, body) = d.post("/connectors/feed/approve");
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("connector `feed` has no version awaiting approval"), "{body}");
    let out = output(host(&dir.path().join("cache")).args(["approve", "feed", "--admin", &admin]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the daemon refused: connector `feed` has no version awaiting approval (409 Conflict)"),
        "{}",
        stderr(&out)
    );

    // Version 3 declares less (no state budget): it goes live on its own.
    let less = (FEED_NEEDS.to_string() + "[[dirs]]\npath = \"/uploads\"\n").replace("state_bytes = 4096\n", "");
    let last = packaged(dir.path(), "last", &less);
    let last_digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&last).unwrap()));
    std::fs::rename(&last, &wasm).unwrap();
    let v = d.wait_for("/connectors/feed", Duration::from_secs(30), |v| v["live"]["digest"] == last_digest.as_str());
    assert_eq!(v["pending"], Value::Null);
}

/// The rule holds across a restart: a daemon that starts on a version declaring
/// more than the last one an operator let go live (kept in the store) parks it, and
/// the connector does not run until it is approved; an approved version then starts
/// on its own, as does one that declares no more.
#[test]
fn a_restart_does_not_wave_through_a_version_that_declares_more() {
    let (dir, wasm, config) = declared_feed_daemon_files();
    let live = |d: &Daemon| d.wait_for("/connectors/feed", Duration::from_secs(60), |v| !v["live"].is_null());
    let mut d = Daemon::start(dir.path(), &config);
    live(&d);
    d.terminate();

    // While it was down, the file became a version that also reads /uploads.
    let more = FEED_NEEDS.to_string() + "[[dirs]]\npath = \"/uploads\"\n";
    let next = packaged(dir.path(), "next", &more);
    let v2_digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&next).unwrap()));
    std::fs::rename(&next, &wasm).unwrap();
    let mut d = Daemon::start(dir.path(), &config);
    let v = d.wait_for("/connectors/feed", Duration::from_secs(60), |v| !v["pending"].is_null());
    assert_eq!(v["live"], Value::Null, "nothing runs: the old version's file is gone");
    assert_eq!(v["pending"]["digest"], v2_digest.as_str());
    assert_eq!(v["pending"]["added"], serde_json::json!(["dir `/uploads`"]));
    assert!(logged(&d, "the version declares more than the last one an operator let go live"), "{}", d.log_text());
    let (code, body) = d.post("/connectors/feed/run");
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("its version") && body.contains("awaits approval (it declares dir `/uploads`)"), "{body}");
    let (code, body) = d.post("/connectors/feed/approve");
    assert_eq!(code, 200, "{body}");
    assert_eq!(d.json("/connectors/feed")["live"]["digest"], v2_digest.as_str());
    let (code, body) = d.post("/connectors/feed/run");
    assert_eq!(code, 200, "{body}");
    d.terminate();

    // Approved once, it starts on its own after the next restart.
    let d = Daemon::start(dir.path(), &config);
    let v = live(&d);
    assert_eq!(v["live"]["digest"], v2_digest.as_str());
    assert_eq!(v["pending"], Value::Null);
}

/// A hot swap to a Python component (18.6 MB, tens of seconds to compile cold) is
/// compiled off the runtime's workers: the daemon's other connectors keep running
/// on schedule while it compiles, and the swap lands when it is done.
#[test]
fn compiling_a_python_version_does_not_stall_the_other_connectors() {
    use crate::serve::{feed, quote, version_of, write_config};
    let dir = scratch(&[]);
    let python = dir.path().join("py.wasm");
    std::fs::copy(PY_FILE_WASM, &python).unwrap();
    let py_manifest = root().join("guests/python/file.toml");
    let py_entry = format!(
        "[[connectors]]\nname = \"py\"\ncomponent = {}\nmanifest = {}\npoll_interval = \"1h\"\n",
        quote(&python.display().to_string()),
        quote(&py_manifest.display().to_string())
    );
    let config = write_config(dir.path(), &format!("{}\n{py_entry}", feed("feed", "100ms")));
    let d = Daemon::start(dir.path(), &config);
    d.wait_for("/connectors/py", Duration::from_secs(300), |v| !v["live"].is_null());
    d.wait_for("/connectors/feed", Duration::from_secs(30), |v| v["status"]["runs"].as_u64() > Some(0));

    // A new version of the Python component: a new digest, compiled afresh.
    let next = version_of(&std::fs::read(PY_FILE_WASM).unwrap(), "v2");
    let want = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&next));
    let tmp = dir.path().join("py.wasm.new");
    std::fs::write(&tmp, &next).unwrap();
    std::fs::rename(&tmp, &python).unwrap();
    let runs = |d: &Daemon| d.json("/connectors/feed")["status"]["runs"].as_u64().unwrap();
    let before = runs(&d);
    let started = std::time::Instant::now();
    // While the new version compiles, the file connector keeps its 100 ms schedule.
    let mut during = Vec::new();
    while d.json("/connectors/py")["live"]["digest"] != want.as_str() {
        assert!(started.elapsed() < Duration::from_secs(300), "the new Python version never went live");
        during.push(runs(&d));
        std::thread::sleep(Duration::from_millis(500));
    }
    let took = started.elapsed();
    let ran = during.last().copied().unwrap_or(before) - before;
    eprintln!("the Python version went live after {took:?}; meanwhile the file connector ran {ran} times");
    // About one run per 100 ms (plus the run): ask for one per second of compiling.
    assert!(ran as f64 >= took.as_secs_f64().floor() - 1.0, "only {ran} runs in {took:?}");
}

#[test]
fn host_new_and_host_approve_refuse_clearly() {
    let dir = scratch(&[("taken/x", "")]);
    let new = |args: &[&str]| output(host(&dir.path().join("cache")).current_dir(dir.path()).arg("new").args(args));
    let out = new(&["My_Feed", "--lang", "rust"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`My_Feed` is not a connector name: a lower-case letter"), "{}", stderr(&out));
    let out = new(&["taken", "--lang", "python"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("taken already exists; `host new` writes a new directory"), "{}", stderr(&out));
    let out = new(&["feed", "--lang", "js", "--kit", dir.path().join("nowhere").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the partner kits are not at ") && stderr(&out).contains("pass --kit DIR"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("feed").exists());

    // No daemon listens there: exit code 1, naming the address.
    let port = tests::daemon::free_port();
    let admin = format!("http://127.0.0.1:{port}");
    let out = output(host(&dir.path().join("cache")).args(["approve", "feed", "--admin", &admin]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("cannot reach the daemon's admin API at {admin}")), "{}", stderr(&out));
    let out = output(host(&dir.path().join("cache")).args(["approve", "feed", "--admin", "not a url"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--admin `not a url` is not a URL"), "{}", stderr(&out));
}
