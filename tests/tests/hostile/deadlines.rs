//! Deadlines hold wherever the time goes: in guest code, in a host call the guest
//! blocks in (a WASI sleep or poll), and between calls. Cursors that would page for
//! ever are caught.

use super::*;

const DEADLINE_MS: f64 = 1000.0;

/// How long a whole `host` process takes without the sleep: start-up, loading the
/// cached component, one run. A stopped call may take its deadline on top.
fn warm(h: &Hostile, sub: &str, args: &[&str]) -> f64 {
    let mut cmd = h.cmd(sub, args);
    cmd.args(["--set", "case=plain"]);
    let r = timed(&mut cmd);
    assert_eq!(r.m.code, Some(0), "{}", r.m.stderr);
    r.wall_ms
}

#[test]
fn a_guest_blocked_in_a_host_call_is_stopped_at_its_deadline() {
    // (export the guest sleeps in, command, limits, message)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "list",
            "run",
            "call_timeout_ms = 1000",
            "connector `hostile`: list-drafts ran past its deadline of 1000 ms (limits.call_timeout_ms) and was stopped",
        ),
        (
            "list",
            "run",
            "call_timeout_ms = 1000\nrun_timeout_ms = 1000",
            "list-drafts ran past its deadline of 1000 ms (limits.run_timeout_ms)",
        ),
        ("source-name", "run", "call_timeout_ms = 1000", "source-name ran past its deadline of 1000 ms"),
        ("source-name", "inspect", "call_timeout_ms = 1000", "source-name ran past its deadline of 1000 ms"),
        ("get-record", "get", "call_timeout_ms = 1000", "get-record ran past its deadline of 1000 ms"),
        ("to-envelopes", "get", "call_timeout_ms = 1000", "to-envelopes ran past its deadline of 1000 ms"),
    ];
    for &(export, sub, limits, says) in cases {
        let label = format!("a sleep in {export} through host {sub}");
        let h = Hostile::new(&format!("case = \"sleep\"\nin = \"{export}\"\nms = 30000"), limits);
        let args: &[&str] = if sub == "get" { &["rec-1"] } else { &[] };
        let baseline = warm(&h, sub, args);
        let r = if sub == "run" { h.run(args) } else { timed(&mut h.cmd(sub, args)) };
        r.ends(5, says);
        assert!(r.m.stdout.is_empty(), "{label}: wrote output");
        if let Some(report) = &r.report {
            let call_ms = report["error"]["call_ms"].as_f64().unwrap();
            assert!(call_ms <= DEADLINE_MS + 100.0, "{label}: the call ran {call_ms} ms");
            assert!(call_ms + 50.0 >= DEADLINE_MS, "{label}: stopped early, after {call_ms} ms");
        }
        // The whole process: its deadline on top of what it takes without the sleep.
        assert!(
            r.wall_ms <= baseline + DEADLINE_MS + 300.0,
            "{label}: took {:.0} ms ({baseline:.0} ms without the sleep)",
            r.wall_ms
        );
        println!("{label}: stopped; process {:.0} ms, {baseline:.0} ms without the sleep", r.wall_ms);
    }
}

#[test]
fn a_run_of_short_calls_ends_at_the_run_deadline() {
    let h = Hostile::new("case = \"short-pages\"", "call_timeout_ms = 1000\nrun_timeout_ms = 1000");
    let r = h.run(&[]);
    r.ends(5, "(limits.run_timeout_ms)");
    let report = r.report();
    let total = report["durations_ms"]["total"].as_f64().unwrap();
    assert!(total <= DEADLINE_MS + 100.0, "the run took {total} ms");
    // Every page written is whole and counted.
    assert_eq!(jsonl(&r.m.stdout).len() as u64, report["published"].as_u64().unwrap());
    assert!(report["pages"].as_u64().unwrap() > 10, "{report}");
    println!("short calls: stopped after {total} ms and {} pages", report["pages"]);
}

#[test]
fn cursors_that_would_page_for_ever_end_the_run() {
    let h = Hostile::new("case = \"growing-cursor\"", "");
    let r = h.run(&[]);
    r.ends(
        4,
        "list-drafts returned 101 empty pages in a row, each with a next cursor (limits.max_empty_pages: 100); stopping instead of looping",
    );
    assert_eq!(r.report()["pages"], 101);

    let h = Hostile::new("case = \"growing-cursor\"", "max_cursor_bytes = 64\nmax_empty_pages = 1000");
    let r = h.run(&[]);
    r.ends(5, "list-drafts returned a cursor of 65 bytes, more than limits.max_cursor_bytes (64)");
    assert_eq!(r.report()["pages"], 65);

    // A → B → A: not only "the cursor it was given".
    let h = Hostile::new("case = \"cycle\"", "");
    let r = h.run(&[]);
    r.ends(
        4,
        "list-drafts returned the cursor `A`, which an earlier page of this run returned; stopping instead of looping",
    );
    let ids: Vec<_> = jsonl(&r.m.stdout).iter().map(|e| e["record_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["at-", "at-A"], "the page that loops is not written");
    assert_eq!(r.report()["next_cursor"], "B");
    assert_eq!(r.report()["published"], 2);

    // With a store, each run fails the same way and publishes nothing twice.
    // The second starts at the stored `B`, and reads `B` (new) and stops at `A`.
    for (run, expected) in [(1, &["at-", "at-A"][..]), (2, &["at-", "at-A", "at-B"][..])] {
        let r = h.run(&["--store", &h.store_url()]);
        r.ends(4, "which an earlier page of this run returned");
        let (stored, queued) = stored_record_ids(&h.store_url());
        assert_eq!(stored, expected, "run {run}");
        assert_eq!(queued.len(), expected.len(), "run {run}: {queued:?}");
    }
}

#[test]
fn an_on_demand_run_of_a_daemon_is_stopped_at_its_deadline() {
    let h = Hostile::new("case = \"sleep\"\nin = \"list\"\nms = 30000", "call_timeout_ms = 1000");
    let config = h.path("connectors.toml");
    std::fs::write(
        &config,
        "[serve]\nstore = \"sqlite:serve.db\"\n[[connectors]]\nname = \"h\"\ncomponent = \"h.wasm\"\n\
         manifest = \"h.toml\"\npoll_interval = \"1h\"\n",
    )
    .unwrap();
    let daemon = daemon::Daemon::start(h.dir.path(), &config);
    let started = Instant::now();
    let (status, text, took) = loop {
        let t = Instant::now();
        let (status, text) = daemon.post("/connectors/h/run");
        if status != 409 {
            break (status, text, t.elapsed());
        }
        // The schedule's first run is still going: wait for it, within bounds.
        assert!(started.elapsed().as_secs() < 20, "the connector stayed busy:\n{}", daemon.log_text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(status, 502, "{text}\n{}", daemon.log_text());
    assert!(text.contains("list-drafts ran past its deadline of 1000 ms (limits.call_timeout_ms)"), "{text}");
    assert!(took.as_millis() as f64 <= DEADLINE_MS + 300.0, "POST …/run answered after {took:?}");
    assert_eq!(daemon.get("/health").0, 200);
}
