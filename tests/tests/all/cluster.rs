//! Several `host serve` processes on one real PostgreSQL store: each connector runs
//! on exactly one host at a time, hosts that die, pause or stop hand their
//! connectors over, and a paused host's late pages are refused by the fence.
//!
//! The connectors are http-json connectors reading one loopback upstream, each its
//! own path: ten pages of three records, every page slow, so that a run is long
//! enough to be caught in the middle. Each host names itself in its store URL
//! (`application_name`), so a trigger the test installs can say which host's
//! transaction committed each page, independently of the leases it checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::daemon::{Daemon, free_port};
use tests::upstream::{Reply, Upstream};
use tests::*;

use crate::serve::quote;

/// Pages per source read, and records per page.
const PAGES: usize = 10;
const PER_PAGE: usize = 3;

/// The upstream: `/c{i}/items?page=N` answers page N of connector i, after a delay
/// the test can change.
fn upstream(delay_ms: Arc<AtomicU64>) -> Upstream {
    Upstream::start(move |s| {
        let conn: usize = s.path.trim_start_matches("/c").split('/').next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let page: usize =
            s.path.split("page=").nth(1).and_then(|p| p.split('&').next()).and_then(|p| p.parse().ok()).unwrap_or(1);
        let items: Vec<Value> = if page <= PAGES {
            (0..PER_PAGE).map(|j| json!({"id": format!("c{conn}-p{page}-{j}"), "n": j})).collect()
        } else {
            vec![]
        };
        Reply::Delay(
            Duration::from_millis(delay_ms.load(Ordering::Relaxed)),
            Box::new(Reply::json(200, &Value::Array(items))),
        )
    })
}

/// The config of host `id`: `connectors` http-json connectors on `up`, sharing the
/// store at `db` under leases of `ttl_ms`.
fn config(dir: &Path, id: &str, db: &str, up: &Upstream, connectors: usize, ttl_ms: u64) -> PathBuf {
    let mut body = format!(
        "[serve]\nstore = {}\nhost_id = {}\nmax_parallel_runs = 16\nshutdown_grace_ms = 5000\n[serve.leases]\nttl_ms = {ttl_ms}\n\n",
        quote(&format!("{db}?application_name={id}")),
        quote(id)
    );
    for i in 0..connectors {
        body.push_str(&format!(
            "[[connectors]]\nname = \"c{i}\"\ncomponent = {}\npoll_interval = \"1s\"\njitter = 0.0\n\
             [connectors.manifest]\nsource = \"feed-c{i}\"\n[connectors.manifest.config]\nbase_url = {}\npath = \"/c{i}/items\"\nid_field = \"id\"\n\
             pagination = \"page\"\nper_page_param = \"per_page\"\npage_size = \"{PER_PAGE}\"\n\
             [connectors.manifest.limits]\npage_size = {PER_PAGE}\n\
             [connectors.manifest.http]\nallow = [{}]\n\n",
            quote(HTTP_JSON_WASM),
            quote(&up.origin()),
            quote(&up.origin())
        ));
    }
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(&path, body).unwrap();
    path
}

/// Rows of `sql` on `db`, every column cast to text by the query.
fn rows(db: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sql = sql.to_string();
    rt.block_on(async move {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::PgConnection::connect(db).await.unwrap();
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_all(&mut conn).await.unwrap();
        let out = rows.iter().map(|r| (0..r.len()).map(|i| r.get::<Option<String>, _>(i)).collect()).collect();
        conn.close().await.unwrap();
        out
    })
}

fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// Leases by owner: owner → connectors.
fn owners(db: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in rows(db, "SELECT connector, owner FROM leases WHERE owner IS NOT NULL AND expires_at > now()") {
        by.entry(text(&r[1]).to_string()).or_default().insert(text(&r[0]).to_string());
    }
    by
}

/// Waits until `check` holds, at most `limit`; panics with `what` and the logs.
fn wait_until(limit: Duration, what: &str, hosts: &[&Daemon], mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        if started.elapsed() > limit {
            let logs: Vec<String> = hosts.iter().map(|d| d.log_text()).collect();
            panic!("{what}: not within {limit:?}\n{}", logs.join("\n-----\n"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

/// Every connector's runs, in the order they started: (started, finished, status, host).
fn runs(db: &str) -> BTreeMap<String, Vec<(String, String, String, String)>> {
    let mut by: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for r in rows(db, "SELECT connector, started_at, finished_at, status, host FROM runs ORDER BY started_at, id") {
        by.entry(text(&r[0]).to_string()).or_default().push((
            text(&r[1]).to_string(),
            text(&r[2]).to_string(),
            text(&r[3]).to_string(),
            text(&r[4]).to_string(),
        ));
    }
    by
}

/// No connector has two runs whose times overlap, and every finished run that
/// committed ran on a host that held the lease.
fn assert_no_overlap(db: &str) {
    for (connector, runs) in runs(db) {
        for w in runs.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            // A run still going at the end has no end yet: only the last may.
            assert!(
                !a.1.is_empty(),
                "{connector}: a run of {} never ended but another started after it: {runs:?}",
                a.3
            );
            assert!(a.1 <= b.0, "{connector}: runs overlap: {a:?} and {b:?}");
        }
    }
}

/// Every record of `connectors` connectors is stored once and queued once.
fn assert_every_record_once(db: &str, connectors: usize) {
    let expected: BTreeSet<String> = (0..connectors)
        .flat_map(|c| (1..=PAGES).flat_map(move |p| (0..PER_PAGE).map(move |j| format!("c{c}-p{p}-{j}"))))
        .collect();
    let stored: Vec<String> =
        rows(db, "SELECT record_id FROM envelopes").iter().map(|r| text(&r[0]).to_string()).collect();
    let queued: Vec<String> = rows(db, "SELECT record_id FROM queue").iter().map(|r| text(&r[0]).to_string()).collect();
    assert_eq!(stored.len(), expected.len(), "records stored");
    assert_eq!(stored.iter().cloned().collect::<BTreeSet<_>>(), expected, "the records stored");
    assert_eq!(queued.len(), expected.len(), "every record queued exactly once");
    assert_eq!(queued.into_iter().collect::<BTreeSet<_>>(), expected);
}

/// A log of page commits and the host whose transaction made each: a trigger on
/// `cursors` (every page of a run saves its cursor) records `application_name`.
fn log_commits(db: &str) {
    rows(
        db,
        "CREATE TABLE commit_log (connector TEXT, app TEXT, at TIMESTAMPTZ DEFAULT clock_timestamp()); \
         CREATE FUNCTION log_commit() RETURNS trigger AS $$ BEGIN \
           INSERT INTO commit_log (connector, app) VALUES (NEW.connector, current_setting('application_name')); \
           RETURN NEW; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER log_commit AFTER INSERT OR UPDATE ON cursors FOR EACH ROW EXECUTE FUNCTION log_commit();",
    );
}

struct Cluster {
    dir: tempfile::TempDir,
    db: String,
    up: Upstream,
    connectors: usize,
    ttl_ms: u64,
}

impl Cluster {
    fn new(db: String, connectors: usize, ttl_ms: u64, delay_ms: u64) -> Cluster {
        let delay = Arc::new(AtomicU64::new(delay_ms));
        Cluster { dir: scratch(&[]), db, up: upstream(delay), connectors, ttl_ms }
    }

    fn host(&self, id: &str) -> Daemon {
        self.host_with(id, &[])
    }

    /// Host `id` with extra environment.
    fn host_with(&self, id: &str, env: &[(&str, &str)]) -> Daemon {
        let cfg = config(self.dir.path(), id, &self.db, &self.up, self.connectors, self.ttl_ms);
        Daemon::start_with(self.dir.path(), &cfg, &format!("127.0.0.1:{}", free_port()), None, env)
    }
}

fn signal(d: &Daemon, sig: &str) {
    let ok = std::process::Command::new("kill").arg(format!("-{sig}")).arg(d.child.id().to_string()).status().unwrap();
    assert!(ok.success());
}

#[test]
fn three_hosts_share_twelve_connectors_evenly_and_never_run_one_twice_at_once() {
    let c = Cluster::new(postgres::shared().database(), 12, 3000, 30);
    let hosts = [c.host("h1"), c.host("h2"), c.host("h3")];
    let all: Vec<&Daemon> = hosts.iter().collect();
    // The spread evens out: every host holds its share, four.
    wait_until(Duration::from_secs(40), "an even spread of the leases", &all, || {
        let by = owners(&c.db);
        by.len() == 3 && by.values().all(|s| s.len() == 4)
    });
    // Every connector runs (to its end) after the spread settled.
    let settled = rows(&c.db, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")[0][0]
        .clone()
        .unwrap();
    wait_until(Duration::from_secs(40), "a run of every connector after the spread settled", &all, || {
        let runs = runs(&c.db);
        runs.len() == 12 && runs.values().all(|r| r.iter().any(|(s, _, st, _)| *s > settled && st == "ok"))
    });
    // Each host ran its own four since.
    for (i, d) in hosts.iter().enumerate() {
        let cluster = d.json("/cluster");
        assert_eq!(cluster["host"], format!("h{}", i + 1));
        assert_eq!(cluster["held"], 4, "{cluster}");
        assert_eq!(cluster["hosts"].as_array().unwrap().len(), 3, "{cluster}");
        assert!(cluster["hosts"].as_array().unwrap().iter().all(|h| h["live"] == true), "{cluster}");
        let leases = cluster["leases"].as_array().unwrap();
        assert_eq!(leases.len(), 12);
        assert!(leases.iter().all(|l| l["version_skew"] == false && l["digest"].is_string()), "{cluster}");
        let metrics = d.get("/metrics").1;
        assert!(metrics.contains("host_leases_held 4"), "{metrics}");
        assert!(metrics.contains("host_cluster_live_hosts 3"), "{metrics}");
        // A connector another host holds is not run here on demand.
        let theirs = leases.iter().find(|l| l["owner"] != cluster["host"]).unwrap();
        let (code, body) = d.post(&format!("/connectors/{}/run", theirs["connector"].as_str().unwrap()));
        assert_eq!(code, 409, "{body}");
        assert!(body.contains("runs on the host that holds its lease"), "{body}");
        // And its connectors show their owner.
        let listed = d.json("/connectors");
        let owned: Vec<&Value> = listed["connectors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["lease"]["owner"] == cluster["host"])
            .collect();
        assert_eq!(owned.len(), 4, "{listed}");
    }
    for d in hosts {
        drop(d);
    }
    assert_no_overlap(&c.db);
    assert_every_record_once(&c.db, 12);
}

#[test]
fn a_killed_host_s_connectors_resume_on_the_others_and_nothing_is_lost_or_doubled() {
    let c = Cluster::new(postgres::shared().database(), 6, 2000, 150);
    let mut h1 = c.host("h1");
    let h2 = c.host("h2");
    wait_until(Duration::from_secs(30), "an even spread", &[&h1, &h2], || {
        let by = owners(&c.db);
        by.len() == 2 && by.values().all(|s| s.len() == 3)
    });
    // Kill h1 while one of its runs is in the middle of its pages.
    let mine: BTreeSet<String> = owners(&c.db)["h1"].clone();
    wait_until(Duration::from_secs(30), "a run of h1 in progress", &[&h1, &h2], || {
        rows(&c.db, "SELECT connector FROM runs WHERE host = 'h1' AND status = 'running'").iter().any(|r| {
            let name = text(&r[0]);
            let pages: usize = c.up.seen().iter().filter(|s| s.path.starts_with(&format!("/{name}/"))).count();
            pages % (PAGES + 1) >= 3
        })
    });
    h1.child.kill().unwrap();
    h1.child.wait().unwrap();
    // Its connectors go to h2 within the TTL and a tick.
    let took = wait_until(Duration::from_millis(c.ttl_ms + 5000), "h2 holding every lease", &[&h2], || {
        owners(&c.db).get("h2").is_some_and(|s| s.len() == 6)
    });
    eprintln!("the survivor took over the killed host's connectors {} ms after the kill", took.as_millis());
    // Each of them runs to its end on h2.
    wait_until(Duration::from_secs(40), "every connector of h1 run to its end on h2", &[&h2], || {
        let runs = runs(&c.db);
        mine.iter().all(|m| runs.get(m).is_some_and(|r| r.iter().any(|(_, _, st, host)| st == "ok" && host == "h2")))
    });
    drop(h2);
    assert_every_record_once(&c.db, 6);
    // The killed runs were marked interrupted by the runs after them.
    let interrupted = rows(&c.db, "SELECT count(*)::text FROM runs WHERE host = 'h1' AND status = 'interrupted'");
    assert!(text(&interrupted[0][0]).parse::<u32>().unwrap() >= 1);
}

#[test]
fn a_paused_host_commits_nothing_after_its_lease_is_taken_over_and_rejoins() {
    let c = Cluster::new(postgres::shared().database(), 4, 1500, 300);
    let h1 = c.host("h1");
    let h2 = c.host("h2");
    log_commits(&c.db);
    wait_until(Duration::from_secs(30), "an even spread", &[&h1, &h2], || {
        let by = owners(&c.db);
        by.len() == 2 && by.values().all(|s| s.len() == 2)
    });
    // Pause h1 in the middle of a run (pages take 300 ms; a commit a millisecond).
    wait_until(Duration::from_secs(30), "a run of h1 past its first pages", &[&h1, &h2], || {
        let running = rows(&c.db, "SELECT connector FROM runs WHERE host = 'h1' AND status = 'running'");
        running.iter().any(|r| {
            let name = text(&r[0]);
            rows(&c.db, &format!("SELECT count(*)::text FROM commit_log WHERE app = 'h1' AND connector = '{name}'"))[0]
                [0]
            .as_deref()
            .is_some_and(|n| n.parse::<u32>().unwrap() >= 2)
        })
    });
    let paused_in: Vec<String> = rows(&c.db, "SELECT connector FROM runs WHERE host = 'h1' AND status = 'running'")
        .iter()
        .map(|r| text(&r[0]).to_string())
        .collect();
    signal(&h1, "STOP");
    // h2 takes h1's connectors over once their leases expire: epochs move on.
    let started = Instant::now();
    while owners(&c.db).get("h2").is_none_or(|s| s.len() != 4) {
        if started.elapsed() > Duration::from_secs(20) {
            let activity = rows(
                &c.db,
                "SELECT application_name, state, wait_event_type, left(query, 120), (now() - xact_start)::text FROM pg_stat_activity WHERE datname = current_database()",
            );
            panic!("h2 did not take over: {activity:?}\n{}", h2.log_text());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // and runs them.
    std::thread::sleep(Duration::from_millis(1500));
    let woke = rows(&c.db, "SELECT now()::text")[0][0].clone().unwrap();
    signal(&h1, "CONT");
    // h1 notices, stops its run, and rejoins as a normal member.
    wait_until(Duration::from_secs(30), "h1 holding its share again", &[&h1, &h2], || {
        owners(&c.db).get("h1").is_some_and(|s| s.len() == 2)
    });
    // Nothing h1 sealed before the pause reached the store after it woke: every
    // page h1 committed since is one of a run it started after rejoining.
    let late = committed_since(&c.db, "h1", &woke);
    assert!(late.is_empty(), "pages of h1's paused runs were committed after the takeover: {late:?}");
    // It stopped those runs, as fenced.
    assert!(h1.log_text().contains("lease lost"), "{}", h1.log_text());
    // (Its run may still be in its last guest call: it ends at the next page.)
    wait_until(Duration::from_secs(15), "h1's paused runs ended as fenced", &[&h1], || {
        let statuses = rows(&c.db, "SELECT connector, status FROM runs WHERE host = 'h1' ORDER BY id");
        paused_in.iter().all(|name| statuses.iter().any(|r| text(&r[0]) == name && text(&r[1]) == "fenced"))
    });
    wait_until(Duration::from_secs(40), "every connector run to its end", &[&h1, &h2], || {
        let runs = runs(&c.db);
        runs.len() == 4 && runs.values().all(|r| r.iter().any(|(_, _, st, _)| st == "ok"))
    });
    drop(h1);
    drop(h2);
    assert_every_record_once(&c.db, 4);
}

/// The pages `host` committed after `woke` that belong to no run it started since:
/// those of runs it had in flight when it was paused.
fn committed_since(db: &str, host: &str, woke: &str) -> Vec<Vec<Option<String>>> {
    rows(
        db,
        &format!(
            "SELECT l.connector, l.at::text FROM commit_log l WHERE l.app = '{host}' AND l.at > '{woke}'::timestamptz \
             AND l.at < COALESCE((SELECT min(r.started_at::timestamptz) FROM runs r WHERE r.host = '{host}' \
               AND r.connector = l.connector AND r.started_at::timestamptz > '{woke}'::timestamptz), 'infinity')"
        ),
    )
}

/// Whether process `d` is stopped (SIGSTOP): state `T` in `/proc/<pid>/stat`.
fn stopped(d: &Daemon) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", d.child.id())).unwrap_or_default();
    // The state follows the command's name, which is in parentheses.
    stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
}

/// A host frozen inside a page's transaction (it stops itself there, at a debug
/// build's crash point): the server ends the idle transaction, another host takes
/// the lease, and when the frozen host wakes its page fails. That run was fenced,
/// not broken by the store: it ends `fenced`, and nothing of the page is kept.
#[test]
fn a_host_frozen_inside_a_page_s_transaction_ends_that_run_fenced() {
    let c = Cluster::new(postgres::shared().database(), 2, 1500, 300);
    // The fourth page with records that h1 commits stops h1 half-way through its
    // transaction, holding the lease row's lock.
    let h1 = c.host_with("h1", &[("HOST_STOP_AT", "store-rows:4")]);
    log_commits(&c.db);
    wait_until(Duration::from_secs(30), "h1 frozen in a page's transaction", &[&h1], || stopped(&h1));
    let frozen: Vec<String> = rows(&c.db, "SELECT connector FROM runs WHERE host = 'h1' AND status = 'running'")
        .iter()
        .map(|r| text(&r[0]).to_string())
        .collect();
    assert_eq!(frozen.len(), 2, "both of h1's runs were under way");
    let h2 = c.host("h2");
    wait_until(Duration::from_secs(30), "h2 holding both leases", &[&h2], || {
        owners(&c.db).get("h2").is_some_and(|s| s.len() == 2)
    });
    let woke = rows(&c.db, "SELECT now()::text")[0][0].clone().unwrap();
    signal(&h1, "CONT");
    // (h2 marked them `interrupted` as it started its own; h1 says how they ended.)
    let ended = "SELECT connector, status FROM runs WHERE host = 'h1' AND status NOT IN ('running', 'interrupted')";
    wait_until(Duration::from_secs(30), "h1 recording how its runs ended", &[&h1, &h2], || {
        let statuses = rows(&c.db, ended);
        frozen.iter().all(|name| statuses.iter().any(|r| text(&r[0]) == name))
    });
    let statuses = rows(&c.db, ended);
    assert!(statuses.iter().all(|r| text(&r[1]) == "fenced"), "h1's runs: {statuses:?}\n{}", h1.log_text());
    assert!(!h1.log_text().contains("run failed"), "{}", h1.log_text());
    let late = committed_since(&c.db, "h1", &woke);
    assert!(late.is_empty(), "pages of h1's frozen runs were committed after it woke: {late:?}");
    wait_until(Duration::from_secs(40), "every connector run to its end", &[&h1, &h2], || {
        let runs = runs(&c.db);
        runs.len() == 2 && runs.values().all(|r| r.iter().any(|(_, _, st, _)| st == "ok"))
    });
    drop(h1);
    drop(h2);
    assert_every_record_once(&c.db, 2);
}

#[test]
fn sigterm_hands_a_host_s_connectors_over_in_under_a_second() {
    let c = Cluster::new(postgres::shared().database(), 6, 15_000, 20);
    let mut h1 = c.host("h1");
    let h2 = c.host("h2");
    wait_until(Duration::from_secs(40), "an even spread", &[&h1, &h2], || {
        let by = owners(&c.db);
        by.len() == 2 && by.values().all(|s| s.len() == 3)
    });
    signal(&h1, "TERM");
    let took = wait_until(Duration::from_secs(10), "h2 holding every lease", &[&h1, &h2], || {
        owners(&c.db).get("h2").is_some_and(|s| s.len() == 6)
    });
    let status = h1.child.wait().unwrap();
    eprintln!("SIGTERM handover: h2 held all 6 leases {} ms after h1 got SIGTERM (the TTL is 15 s)", took.as_millis());
    assert!(status.success(), "{}", h1.log_text());
    assert!(took < Duration::from_secs(1), "the handover took {took:?}");
    let hosts = rows(&c.db, "SELECT id FROM hosts");
    assert_eq!(hosts.len(), 1, "the stopped host left the cluster");
}

#[test]
fn postgresql_restarted_during_runs_loses_and_doubles_nothing() {
    let server = postgres::Server::start();
    let c = Cluster::new(server.database(), 4, 2000, 100);
    let h1 = c.host("h1");
    let h2 = c.host("h2");
    wait_until(Duration::from_secs(30), "runs under way", &[&h1, &h2], || {
        rows(&c.db, "SELECT count(*)::text FROM runs WHERE status = 'running'")[0][0].as_deref() != Some("0")
    });
    server.stop();
    std::thread::sleep(Duration::from_secs(3));
    server.start_again();
    // The hosts reconnect, take their leases again and finish every source.
    let back = Instant::now();
    wait_until(Duration::from_secs(60), "every connector run to its end after the restart", &[&h1, &h2], || {
        let runs = runs(&c.db);
        runs.len() == 4 && runs.values().all(|r| r.iter().any(|(_, _, st, _)| st == "ok"))
    });
    eprintln!("after the restart every connector completed a run within {} ms", back.elapsed().as_millis());
    drop(h1);
    drop(h2);
    assert_every_record_once(&c.db, 4);
    assert_no_overlap_of_committing_runs(&c.db);
}

/// After an outage a run's row may stay `running` (its host could not record the
/// end); runs that ended do not overlap.
fn assert_no_overlap_of_committing_runs(db: &str) {
    for (connector, runs) in runs(db) {
        let ended: Vec<_> = runs.iter().filter(|r| !r.1.is_empty() && r.2 == "ok").collect();
        for w in ended.windows(2) {
            assert!(w[0].1 <= w[1].0, "{connector}: runs overlap: {:?} and {:?}", w[0], w[1]);
        }
    }
}

/// Hosts that hold different versions of one connector's component show it: the
/// host that does not own the lease sees the owner's digest differ from its own.
#[test]
fn version_skew_between_hosts_is_visible() {
    let c = Cluster::new(postgres::shared().database(), 2, 3000, 20);
    let h1 = c.host("h1");
    // h2 runs another build of c0's component (one more custom section).
    let other = c.dir.path().join("other.wasm");
    std::fs::write(&other, crate::serve::version_of(&std::fs::read(HTTP_JSON_WASM).unwrap(), "other")).unwrap();
    let cfg = config(c.dir.path(), "h2", &c.db, &c.up, 2, 3000);
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        &quote(HTTP_JSON_WASM),
        &quote(&other.display().to_string()),
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let h2 = Daemon::start(c.dir.path(), &cfg);
    wait_until(Duration::from_secs(30), "one connector each, digests recorded", &[&h1, &h2], || {
        let by = owners(&c.db);
        by.len() == 2
            && by.values().all(|s| s.len() == 1)
            && rows(&c.db, "SELECT count(*)::text FROM leases WHERE digest IS NOT NULL")[0][0].as_deref() == Some("2")
    });
    let skewed = |d: &Daemon, name: &str| {
        let cluster = d.json("/cluster");
        cluster["leases"].as_array().unwrap().iter().find(|l| l["connector"] == name).unwrap()["version_skew"].clone()
    };
    let c0_owner = rows(&c.db, "SELECT owner FROM leases WHERE connector = 'c0'")[0][0].clone().unwrap();
    let (owner, other_host) = if c0_owner == "h1" { (&h1, &h2) } else { (&h2, &h1) };
    assert_eq!(skewed(other_host, "c0"), true, "the host that does not own c0 sees the skew");
    assert_eq!(skewed(owner, "c0"), false);
    assert_eq!(skewed(&h1, "c1"), false);
    assert_eq!(skewed(&h2, "c1"), false);
    let listed = other_host.json("/connectors/c0");
    assert_eq!(listed["lease"]["version_skew"], true, "{listed}");
}
