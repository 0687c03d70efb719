//! What the host writes because of a guest: escaped before a terminal, quoted for a
//! shell, cut to a bound, sampled when it repeats, and true (the cursor to resume
//! from is the one after the last page written whole).

use super::*;

/// Screen clearing, a window title, a hyperlink, a carriage return with a forged log
/// line, a right-to-left override, a line separator and a C1 control.
const EVIL: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}]8;;https://evil.example\u{1b}\\link\r\nERROR forged line \u{202e}txt.exe\u{2028}\u{9b}31m";

fn toml_str(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// Nothing in `text` that a terminal would act on.
fn assert_inert(text: &str, what: &str) {
    for c in text.chars() {
        assert!(!host::untrusted::is_unsafe(c) || c == '\n', "{what}: {:?} reached the terminal:\n{text}", c);
    }
    assert!(!text.lines().any(|l| l.starts_with("ERROR forged")), "{what}: a forged line:\n{text}");
}

#[test]
fn guest_text_reaches_no_terminal_unescaped() {
    for at in ["error", "locator", "log", "cursor"] {
        let h = Hostile::new(&format!("case = \"text\"\nat = \"{at}\"\ntext = {}", toml_str(EVIL)), "");
        let h = if at == "log" { Hostile::new(&format!("case = \"log\"\ntext = {}", toml_str(EVIL)), "") } else { h };
        let r = h.run(&["--max-pages", "1"]);
        assert_inert(&r.m.stderr, at);
        match at {
            "error" => {
                r.ends(4, "list-drafts failed: other: \\u{1b}]0;pwned\\u{7}\\u{1b}[2J");
            }
            "locator" => {
                r.ends(0, "connector skipped a record");
                // The report is JSON: it keeps the text as it was (escaped by JSON).
                assert_eq!(r.report()["problems"][0]["where"], EVIL);
            }
            "cursor" => {
                r.ends(0, "resume with the report's next_cursor (");
                assert_eq!(r.report()["next_cursor"], EVIL);
            }
            _ => {
                r.ends(0, "");
            }
        }
    }
    // A rejected record's id, in the log.
    let id = format!("{EVIL}{}", "i".repeat(3000));
    let h = Hostile::new(&format!("case = \"text\"\nat = \"record-id\"\ntext = {}", toml_str(&id)), "");
    let r = h.run(&[]);
    r.ends(0, "rejected a record");
    assert_inert(&r.m.stderr, "record id");
    assert!(r.report()["problems"][0]["where"].as_str().unwrap().len() < 300, "the id is copied whole");
    // The source name, through `host inspect`.
    let h = Hostile::new(&format!("case = \"text\"\nat = \"source-name\"\ntext = {}", toml_str(EVIL)), "");
    let r = timed(&mut h.cmd("inspect", &[]));
    r.ends(4, "source-name broke the contract: it returned `\\u{1b}]0;pwned");
    assert_inert(&r.m.stderr, "source name");
    assert_inert(&String::from_utf8_lossy(&r.m.stdout), "source name");
}

#[test]
fn the_resume_hint_is_quoted_for_the_shell() {
    let marker = std::env::temp_dir().join(format!("pwned-{}", std::process::id()));
    let cursor = format!("x'; touch {}; echo '", marker.display());
    let h = Hostile::new(&format!("case = \"text\"\nat = \"cursor\"\ntext = {}", toml_str(&cursor)), "");
    let r = h.run(&["--max-pages", "1"]);
    r.ends(0, "; resume with --cursor ");
    let hint = r.m.stderr.lines().find_map(|l| l.split_once("; resume with --cursor ")).unwrap().1.to_string();
    // Pasted into a shell, the hint is the cursor, and runs nothing.
    let pasted = output(Command::new("sh").arg("-c").arg(format!("printf %s {hint}")));
    assert_eq!(String::from_utf8(pasted.stdout).unwrap(), cursor);
    assert!(!marker.exists(), "the pasted hint ran a command");
    // And resuming with it reads on from there.
    let r = h.run(&["--cursor", &cursor]);
    r.ends(0, "");
    let ids: Vec<_> = jsonl(&r.m.stdout).iter().map(|e| e["record_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["second", "last"]);
}

#[test]
fn a_huge_connector_error_is_cut_everywhere_the_host_writes_it() {
    let h = Hostile::new("case = \"huge-error\"\nmib = 100", "");
    let r = h.run(&["--store", &h.store_url()]);
    r.ends(4, "list-drafts failed: api error 500: eeee").peak_within(256, "a 100 MiB error");
    assert!(r.m.stderr.len() < 16 << 10, "stderr holds {} bytes", r.m.stderr.len());
    let message = r.report()["error"]["message"].as_str().unwrap();
    assert!(
        message.len() < 4096 && message.contains("bytes cut)"),
        "{} bytes: …{}",
        message.len(),
        &message[message.len().saturating_sub(80)..]
    );
    let report_bytes = std::fs::metadata(h.path("report.json")).unwrap().len();
    assert!(report_bytes < 64 << 10, "the report is {report_bytes} bytes");
    let stored: u64 =
        ["state.db", "state.db-wal"].iter().filter_map(|f| std::fs::metadata(h.path(f)).ok()).map(|m| m.len()).sum();
    assert!(stored < 4 << 20, "the store grew to {stored} bytes");
}

#[test]
fn lines_the_host_writes_because_of_a_guest_are_sampled() {
    for (case, counted) in [("many-rejected", "rejected"), ("many-skipped", "skipped")] {
        let h = Hostile::new(&format!("case = \"{case}\"\ncount = 200000"), "");
        let r = h.run(&[]);
        r.ends(0, &format!("199990 more {counted} records were not logged; the report counts all 200000"));
        let lines = r.m.stderr.lines().count();
        assert!(lines <= 15, "{case}: {lines} lines on stderr:\n{}", r.m.stderr);
        let report = r.report();
        assert_eq!(report[counted], 200000, "{case}");
        assert_eq!(report["problems"].as_array().unwrap().len(), 100, "{case}");
        println!("{case}: 200000 counted, {lines} lines written");
    }
}

/// Runs `cmd` with its file-size limit set to `bytes`, as a full disk would stop it:
/// a write past the limit fails (EFBIG) instead of killing the process.
fn with_file_limit(cmd: &mut Command, bytes: u64) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure calls only async-signal-safe
    // functions (signal, setrlimit) and allocates nothing.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// The file connector over a feed of `n` records, `--limit 50` records a page.
fn feed(n: usize) -> (tempfile::TempDir, PathBuf) {
    let lines: String = (0..n).map(|i| format!("{{\"id\":\"r{i:05}\",\"claim\":\"{}\"}}\n", "c".repeat(300))).collect();
    let (dir, wasm) = file_connector(&lines);
    // Compile it once, with no limit: the compile cache writes large files.
    let out = output(host(&dir.path().join("c")).arg("inspect").arg(&wasm));
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, wasm)
}

fn ids(bytes: &[u8]) -> Vec<String> {
    jsonl(bytes).iter().map(|e| e["record_id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_full_disk_leaves_whole_pages_and_the_cursor_of_the_last_one() {
    let (dir, wasm) = feed(2000);
    let all: Vec<String> = (0..2000).map(|i| format!("r{i:05}")).collect();

    // --out: the file holds whole pages, exactly those the report counts.
    let out = dir.path().join("out.jsonl");
    let report_file = dir.path().join("r.json");
    let mut cmd = host(&dir.path().join("c"));
    cmd.arg("run").arg(&wasm).args(["--limit", "50", "--out"]).arg(&out).arg("--report").arg(&report_file);
    let r = timed(with_file_limit(&mut cmd, 300_000));
    r.ends(1, "cannot write envelopes:");
    let written = std::fs::read(&out).unwrap();
    assert!(written.ends_with(b"\n"), "a torn last line");
    let report: Value = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    let first = ids(&written);
    assert!(!first.is_empty() && first.len().is_multiple_of(50), "{} lines: not whole pages", first.len());
    assert_eq!(report["published"], first.len(), "the report counts what was written");
    let cursor = report["next_cursor"].as_str().expect("a cursor to resume from");
    let rest = output(host(&dir.path().join("c")).arg("run").arg(&wasm).args(["--limit", "50", "--cursor", cursor]));
    assert!(rest.status.success(), "{}", stderr(&rest));
    assert_eq!([first, ids(&rest.stdout)].concat(), all, "resuming at next_cursor skips or repeats records");

    // --store: the report's cursor is the committed one, and a plain re-run resumes.
    let url = format!("sqlite:{}", dir.path().join("s.db").display());
    let mut cmd = host(&dir.path().join("c"));
    cmd.arg("run").arg(&wasm).args(["--limit", "50", "--store", &url, "--report"]).arg(&report_file);
    let r = timed(with_file_limit(&mut cmd, 1_000_000));
    r.ends(8, "the store keeps the cursor: run again to resume");
    let report: Value = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    let (stored, _) = stored_record_ids(&url);
    assert!(!stored.is_empty() && stored.len() < 2000, "{} stored", stored.len());
    assert_eq!(report["published"], stored.len());
    let stored_cursor = committed_cursor(&url);
    assert_eq!(
        report["next_cursor"].as_str(),
        stored_cursor.as_deref(),
        "the report's cursor is not the committed one"
    );
    let rest = output(host(&dir.path().join("c")).arg("run").arg(&wasm).args(["--limit", "50", "--store", &url]));
    assert!(rest.status.success(), "{}", stderr(&rest));
    let (stored, queued) = stored_record_ids(&url);
    assert_eq!(stored, all);
    assert_eq!(queued, all, "each record queued once, in order");
}

fn committed_cursor(url: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Row;
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let row =
            sqlx::query("SELECT cursor FROM cursors WHERE connector = 'file'").fetch_optional(&pool).await.unwrap();
        pool.close().await;
        row.and_then(|r| r.get::<Option<String>, _>(0))
    })
}
