//! A stored cursor the connector refuses pins it (issue 12): every run resumes there
//! and fails. `host cursor show|reset` and the admin API's cursor routes see and
//! change it, and a run that fails on its first page from the stored cursor says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tests::daemon::Daemon;
use tests::*;

/// The hostile connector's `stale-cursor` case in `dir`: page 1 (`first`) ends with
/// cursor `page-2`, which the connector refuses when run with `--set fail=yes`.
fn setup(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("hostile.toml"), "name = \"hostile\"\n[config]\ncase = \"stale-cursor\"\n").unwrap();
    place(HOSTILE_WASM, dir, "hostile")
}

fn db(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("state.db").display())
}

fn run(dir: &Path, wasm: &Path, fail: bool) -> std::process::Output {
    let mut cmd = host(&dir.join("cache"));
    cmd.arg("run").arg(wasm).arg("--store").arg(db(dir));
    if fail {
        cmd.args(["--set", "fail=yes"]);
    }
    output(&mut cmd)
}

fn cursor(dir: &Path, args: &[&str]) -> std::process::Output {
    output(host(&dir.join("cache")).arg("cursor").args(args).arg("--store").arg(db(dir)))
}

const HINT: &str = "`host cursor reset hostile`";

#[test]
fn a_refused_stored_cursor_is_shown_reset_and_set_through_the_cli() {
    let dir = scratch(&[]);
    let wasm = setup(dir.path());

    // Page 1 is committed, page 2 fails: the cursor stays at page 2. Not the first
    // page, nor a stored cursor: no hint.
    let first = run(dir.path(), &wasm, true);
    assert_eq!(first.status.code(), Some(4), "{}", stderr(&first));
    assert!(stderr(&first).contains("issued for another base_url"), "{}", stderr(&first));
    assert!(!stderr(&first).contains("host cursor reset"), "{}", stderr(&first));

    let shown = cursor(dir.path(), &["show", "hostile"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert_eq!(String::from_utf8_lossy(&shown.stdout), "page-2\n");
    assert!(stderr(&shown).contains("its next run resumes there"), "{}", stderr(&shown));

    // Every later run resumes there and fails on its first page: it points to the reset.
    for _ in 0..2 {
        let pinned = run(dir.path(), &wasm, true);
        assert_eq!(pinned.status.code(), Some(4), "{}", stderr(&pinned));
        let text = stderr(&pinned);
        assert!(text.contains("the run's first page, from the stored cursor `page-2`"), "{text}");
        assert!(text.contains(HINT) && text.contains("--to CURSOR"), "{text}");
    }

    // --to sets it: the connector reads on from there, to the end.
    let set = cursor(dir.path(), &["reset", "hostile", "--to", "page-3"]);
    assert!(set.status.success(), "{}", stderr(&set));
    assert!(
        stderr(&set)
            .contains("connector `hostile`: cursor set to `page-3` (it was `page-2`); its next run resumes there"),
        "{}",
        stderr(&set)
    );
    assert_eq!(String::from_utf8_lossy(&cursor(dir.path(), &["show", "hostile"]).stdout), "page-3\n");
    let on = run(dir.path(), &wasm, true);
    assert!(on.status.success(), "{}", stderr(&on));
    let end = cursor(dir.path(), &["show", "hostile"]);
    assert!(end.stdout.is_empty());
    assert!(stderr(&end).contains("its last run read the source to its end"), "{}", stderr(&end));

    // Pinned again, then cleared: the next run starts from the beginning (and fails
    // on page 2 again, without the hint: its first page was the feed's first).
    cursor(dir.path(), &["reset", "hostile", "--to", "page-2"]);
    assert!(stderr(&run(dir.path(), &wasm, true)).contains(HINT));
    let cleared = cursor(dir.path(), &["reset", "hostile"]);
    assert!(cleared.status.success(), "{}", stderr(&cleared));
    assert!(
        stderr(&cleared).contains("cursor cleared (it was `page-2`); its next run starts from the beginning"),
        "{}",
        stderr(&cleared)
    );
    let none = cursor(dir.path(), &["show", "hostile"]);
    assert!(none.status.success() && none.stdout.is_empty(), "{}", stderr(&none));
    assert!(
        stderr(&none).contains("has no stored cursor: its next run starts from the beginning"),
        "{}",
        stderr(&none)
    );
    let again = run(dir.path(), &wasm, true);
    assert_eq!(again.status.code(), Some(4), "{}", stderr(&again));
    assert!(!stderr(&again).contains("host cursor reset"), "{}", stderr(&again));
    // Without the fault the run completes.
    assert!(run(dir.path(), &wasm, false).status.success());

    // A cursor holding terminal escapes is shown escaped.
    cursor(dir.path(), &["reset", "hostile", "--to", "\u{1b}]0;owned\u{7}\u{202e}x"]);
    let evil = cursor(dir.path(), &["show", "hostile"]);
    let text = String::from_utf8(evil.stdout).unwrap();
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'), "{text:?}");
    assert_eq!(text, "\\u{1b}]0;owned\\u{7}\\u{202e}x\n");

    // Mistakes are refused with what was wrong.
    for args in [&["show", "nobody"][..], &["reset", "nobody"]] {
        let unknown = cursor(dir.path(), args);
        assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
        assert!(stderr(&unknown).contains("knows no connector `nobody`"), "{}", stderr(&unknown));
    }
    let empty = cursor(dir.path(), &["reset", "hostile", "--to", ""]);
    assert_eq!(empty.status.code(), Some(2), "{}", stderr(&empty));
    assert!(stderr(&empty).contains("a cursor cannot be empty"), "{}", stderr(&empty));
}

fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

#[test]
fn the_admin_api_shows_and_resets_a_cursor_and_refuses_while_running() {
    let dir = scratch(&[]);
    let wasm = place(HOSTILE_WASM, dir.path(), "hostile");
    let entry = |name: &str, config: &str| {
        format!(
            "[[connectors]]\nname = \"{name}\"\ncomponent = {}\npoll_interval = \"1h\"\n[connectors.manifest.config]\n{config}\n",
            quote(&wasm.display().to_string())
        )
    };
    let config = dir.path().join("connectors.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nstore = {}\n\n{}{}",
            quote(&db(dir.path())),
            entry("stale", "case = \"stale-cursor\"\nfail = \"yes\""),
            entry("slow", "case = \"sleep\"\nms = \"4000\"")
        ),
    )
    .unwrap();
    let d = Daemon::start(dir.path(), &config);

    // 409 while a run is going on: the run would commit its cursor over the reset.
    d.wait_for("/connectors/slow", Duration::from_secs(30), |v| v["status"]["running"] == true);
    let (code, body) = d.post("/connectors/slow/cursor/reset");
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("connector `slow` is running; reset its cursor when the run has ended"), "{body}");

    // The first run of `stale` committed page 1 and failed on page 2.
    d.wait_for("/connectors/stale", Duration::from_secs(30), |v| v["status"]["runs"] == 1);
    let shown = d.json("/connectors/stale/cursor");
    assert_eq!((shown["stored"].as_bool(), shown["cursor"].as_str()), (Some(true), Some("page-2")), "{shown}");
    let (code, body) = d.post("/connectors/stale/run");
    assert_eq!(code, 502, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert!(report["error"]["message"].as_str().unwrap().contains("`host cursor reset stale`"), "{body}");

    let (code, body) = d.post_json("/connectors/stale/cursor/reset", r#"{"to": "page-3"}"#);
    assert_eq!(code, 200, "{body}");
    let reset: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reset["previous"]["cursor"], "page-2");
    assert_eq!(reset["current"]["cursor"], "page-3");
    assert_eq!(d.json("/connectors/stale/cursor")["cursor"], "page-3");

    let (code, body) = d.post("/connectors/stale/cursor/reset");
    assert_eq!(code, 200, "{body}");
    let reset: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (reset["previous"]["cursor"].as_str(), reset["current"]["stored"].as_bool()),
        (Some("page-3"), Some(false))
    );
    let cleared = d.json("/connectors/stale/cursor");
    assert_eq!((cleared["stored"].as_bool(), cleared["cursor"].is_null()), (Some(false), true), "{cleared}");

    for (body, expected) in [
        ("{\"to\": 3}", "the body must be empty or {\"to\": \"CURSOR\"}"),
        ("{\"cursor\": \"x\"}", "unknown field `cursor`"),
        ("{\"to\": \"\"}", "`to` cannot be empty"),
    ] {
        let (code, answer) = d.post_json("/connectors/stale/cursor/reset", body);
        assert_eq!(code, 400, "{body}: {answer}");
        let error: Value = serde_json::from_str(&answer).unwrap();
        assert!(error["error"].as_str().unwrap().contains(expected), "{body}: {answer}");
    }
    let (code, body) = d.get("/connectors/nobody/cursor");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("no connector named `nobody`"), "{body}");
    let (code, _) = d.post("/connectors/nobody/cursor/reset");
    assert_eq!(code, 404);
}
