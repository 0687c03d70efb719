//! `host serve` under floods: half-sent connections beyond the open-file limit,
//! concurrent record lookups and runs beyond their bounds, slow and large request
//! bodies, and a config file without end. Real daemons on 127.0.0.1 only; every
//! loop is bounded in count and time.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::daemon::{Daemon, free_port, request_raw};
use tests::upstream::{Reply, Upstream};
use tests::*;

use crate::serve::{feed, quote, write_config};

/// Half-sent requests in the flood: more than the common open-file limit of 1,024.
const FLOOD: usize = 1100;
/// The daemon's cap on admin connections under that limit (half of it).
const CAP: usize = 512;
/// How long the daemon waits for a request's head (host::serve::listen).
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the server has closed `s` (EOF or reset); `None` while it is still open
/// after `wait` (zero: not waiting at all). Panics if the server answered on it.
fn closed(s: &mut TcpStream, wait: Duration) -> Option<bool> {
    s.set_nonblocking(wait.is_zero()).unwrap();
    if !wait.is_zero() {
        s.set_read_timeout(Some(wait)).unwrap();
    }
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(0) => Some(true),
        Ok(n) => panic!("the daemon answered a half-sent request: {}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Some(true),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        Err(e) => panic!("reading a flood connection: {e}"),
    }
}

#[test]
fn a_flood_of_half_sent_requests_leaves_health_answering_and_is_closed() {
    let dir = scratch(&[]);
    let config = write_config(dir.path(), &feed("feed", "1h"));
    // The common limit of 1,024 open files, the hard limit too: the daemon cannot raise it.
    let d = Daemon::start_ulimit(dir.path(), &config, "-n 1024");
    assert!(
        d.log_text().contains("open-file limit 1024 (hard 1024); at most 512 admin API connections"),
        "{}",
        d.log_text()
    );
    d.wait_for("/connectors/feed", Duration::from_secs(30), |v| v["status"]["runs"] == 1);

    // This test process holds the flood's sockets: raise its own limit, or scale down.
    let limit = host::serve::listen::raise_open_file_limit().expect("the open-file limit").now;
    let count = FLOOD.min(limit.saturating_sub(256) as usize);
    if count < FLOOD {
        eprintln!("flood: this process may open {limit} files; {count} connections instead of {FLOOD}");
    }
    assert!(count > CAP + 64, "the flood must pass the daemon's cap of {CAP}");
    let started = Instant::now();
    let mut flood = Vec::with_capacity(count);
    for i in 0..count {
        let mut s = TcpStream::connect_timeout(&d.addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("flood connection {i}: {e}\n{}", d.log_text()));
        // A request line and half a header, never finished.
        s.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ").unwrap();
        flood.push(s);
    }
    let opened = started.elapsed();

    // While they are open, /health answers, at once.
    let mut health_ms = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (code, body) = tests::daemon::request(d.addr, "GET", "/health", None);
        let took = t.elapsed();
        assert_eq!(code, 200, "GET /health during the flood: {body}\n{}", d.log_text());
        assert!(took <= Duration::from_secs(2), "GET /health took {took:?} during the flood");
        health_ms.push(took.as_millis() as u64);
    }
    // The daemon holds at most its cap: the oldest half-sent connections were closed
    // to make room for the newer ones (and for /health).
    let files = d.open_files();
    assert!(files < 1024, "the daemon has {files} files open");
    let evicted_by = Instant::now() + Duration::from_secs(5);
    let mut still_open: Vec<usize> = (0..count).collect();
    loop {
        still_open.retain(|&i| closed(&mut flood[i], Duration::ZERO).is_none());
        if still_open.len() <= CAP || Instant::now() > evicted_by {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let evicted = count - still_open.len();
    assert!(still_open.len() <= CAP, "{} half-sent connections open, more than the cap of {CAP}", still_open.len());
    assert!(!still_open.is_empty(), "the header timeout had not passed; the newest connections are still open");
    assert!(d.log_text().contains("closing the oldest one that has not sent a whole request"), "{}", d.log_text());

    // A run still succeeds.
    let (code, body) = d.post("/connectors/feed/run");
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["skipped_unchanged"], 35);

    // The header timeout closes the rest.
    let deadline = started + opened + HEADER_TIMEOUT + Duration::from_secs(5);
    for &i in &still_open {
        let wait = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        assert_eq!(
            closed(&mut flood[i], wait),
            Some(true),
            "flood connection {i} still open {:?} after the flood",
            started.elapsed()
        );
    }
    let all_closed = started.elapsed();
    assert_eq!(d.get("/health").0, 200);
    eprintln!(
        "flood: {count} half-sent connections opened in {opened:?}; /health answered in {health_ms:?} ms meanwhile; \
         the daemon had {files} files open; {evicted} evicted, the other {} closed by the header timeout, all by {all_closed:?}",
        still_open.len()
    );
}

/// A connector whose record lookups each take 1 s and carry a 4 MiB record.
fn slow_records(up: &Upstream, extra_serve: &str) -> String {
    format!(
        "{extra_serve}[[connectors]]\nname = \"records\"\ncomponent = {}\npoll_interval = \"1h\"\n\
         [connectors.manifest]\n[connectors.manifest.config]\nbase_url = {}\npath = \"/items\"\nid_field = \"id\"\n\
         record_path = \"/items/{{id}}\"\n[connectors.manifest.http]\nallow = [{}]\n",
        quote(HTTP_JSON_WASM),
        quote(&up.origin()),
        quote(&up.origin())
    )
}

fn record_upstream() -> Upstream {
    let big = "x".repeat(4 << 20);
    Upstream::start(move |s| {
        if let Some(id) = s.path.strip_prefix("/items/") {
            let record = json!({ "id": id, "text": big });
            Reply::Delay(Duration::from_secs(1), Box::new(Reply::json(200, &record)))
        } else {
            Reply::json(200, &json!([]))
        }
    })
}

#[test]
fn concurrent_record_lookups_past_the_bound_are_refused_and_memory_stays_bounded() {
    let up = record_upstream();
    let dir = scratch(&[]);
    // max_parallel_lookups is 2 by default.
    let config = write_config(dir.path(), &slow_records(&up, ""));
    // Only the soft limit is low: the daemon raises it to the hard one.
    let d = Daemon::start_ulimit(dir.path(), &config, "-S -n 1024");
    let hard = host::serve::listen::raise_open_file_limit().expect("the open-file limit").hard;
    if hard > 1024 {
        let raised = format!("open-file limit raised from 1024 to {hard} (the hard limit)");
        assert!(d.log_text().contains(&raised), "{}", d.log_text());
    }
    d.wait_for("/connectors/records", Duration::from_secs(30), |v| v["status"]["runs"] == 1);
    let before = d.peak_rss();

    let barrier = std::sync::Barrier::new(24);
    let answers: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..24)
            .map(|i| {
                let (barrier, addr) = (&barrier, d.addr);
                scope.spawn(move || {
                    barrier.wait();
                    request_raw(addr, "GET", &format!("/connectors/records/records/r{i}"), None)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let peak = d.peak_rss();
    let status = |a: &String| a.split_whitespace().nth(1).unwrap_or_default().to_string();
    let ok: Vec<&String> = answers.iter().filter(|a| status(a) == "200").collect();
    let busy: Vec<&String> = answers.iter().filter(|a| status(a) == "503").collect();
    assert_eq!(ok.len() + busy.len(), 24, "every lookup is answered or refused: {answers:?}");
    assert!(!ok.is_empty() && ok.len() <= 12, "{} of 24 lookups answered", ok.len());
    for a in &ok {
        let envelope: Value = serde_json::from_str(a.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(envelope["raw"]["text"].as_str().unwrap().len(), 4 << 20);
    }
    for a in &busy {
        let lower = a.to_ascii_lowercase();
        assert!(lower.contains("\r\nretry-after: 1\r\n"), "{a}");
        let body: Value = serde_json::from_str(a.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(
            body["error"],
            "busy: 2 record lookups (`serve.max_parallel_lookups`) are going on, the most at once; retry in 1 s"
        );
    }
    // Two lookups at a time, each holding at most about eight copies of its 4 MiB
    // record (the upstream's body, the guest's buffers, `raw`, its canonical form,
    // the envelope, the answer): 64 MiB, doubled for the allocator's slack. With
    // the bound lifted (`max_parallel_lookups = 24`) the same lookups took 243 MiB.
    let bound = before + (128 << 20);
    eprintln!(
        "24 lookups: {} answered, {} refused; peak RSS {} MiB before, {} MiB after (bound {} MiB)",
        ok.len(),
        busy.len(),
        before >> 20,
        peak >> 20,
        bound >> 20
    );
    assert!(peak < bound, "peak RSS {} MiB", peak >> 20);
}

#[test]
fn an_on_demand_run_with_every_run_slot_taken_is_refused() {
    // The scheduled run of `slow` takes the one run slot for 3 s.
    let up = Upstream::start(|_| Reply::Delay(Duration::from_secs(3), Box::new(Reply::json(200, &json!([])))));
    let dir = scratch(&[]);
    let body = format!(
        "[[connectors]]\nname = \"slow\"\ncomponent = {}\npoll_interval = \"1h\"\n\
         [connectors.manifest]\n[connectors.manifest.config]\nbase_url = {}\npath = \"/items\"\nid_field = \"id\"\n\
         [connectors.manifest.http]\nallow = [{}]\n{}enabled = false\n",
        quote(HTTP_JSON_WASM),
        quote(&up.origin()),
        quote(&up.origin()),
        feed("feed", "1h")
    );
    let config = write_config(dir.path(), &format!("max_parallel_runs = 1\n{body}"));
    let d = Daemon::start(dir.path(), &config);
    d.wait_for("/connectors/slow", Duration::from_secs(30), |v| v["status"]["running"] == true);
    let answer = request_raw(d.addr, "POST", "/connectors/feed/run", None);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"), "{answer}");
    let error: Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(
        error["error"],
        "busy: all 1 run slots (`serve.max_parallel_runs`) are taken, connector `feed` was not run; retry in 1 s"
    );
    // Once the slot is free, it runs.
    d.wait_for("/connectors/slow", Duration::from_secs(30), |v| v["status"]["runs"] == 1);
    let (code, body) = d.post("/connectors/feed/run");
    assert_eq!(code, 200, "{body}");
}

/// Sends `head` (and `body`) on a fresh connection, then reads the whole answer
/// within `wait`.
fn exchange(d: &Daemon, head: &str, body: &[u8], wait: Duration) -> (String, Duration) {
    let mut s = TcpStream::connect_timeout(&d.addr, Duration::from_secs(2)).unwrap();
    let started = Instant::now();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap_or_else(|e| panic!("no answer within {wait:?}: {e}"));
    (String::from_utf8_lossy(&buf).into_owned(), started.elapsed())
}

#[test]
fn slow_and_large_request_bodies_are_refused_and_closed() {
    let dir = scratch(&[]);
    let config = write_config(dir.path(), &feed("feed", "1h"));
    let d = Daemon::start(dir.path(), &config);
    let head =
        |len: usize| format!("POST /connectors/nope/run HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len}\r\n\r\n");

    // Too large: refused from its content-length, without reading it.
    let (answer, _) = exchange(&d, &head(1 << 20), b"", Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(
        answer.ends_with(r#"{"error":"the request body is larger than 65536 bytes, the most the admin API reads"}"#),
        "{answer}"
    );

    // Slow: 2 of 10 bytes, then nothing; refused after the body timeout (10 s), and
    // the connection closes (read_to_end returns).
    let (answer, took) = exchange(&d, &head(10), b"{}", Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.ends_with(r#"{"error":"the request body did not arrive within 10 s"}"#), "{answer}");
    assert!(took >= Duration::from_secs(9), "refused after {took:?}, before the body timeout");

    // A body that is not valid chunked encoding.
    let chunked = "POST /connectors/nope/run HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n";
    let (answer, _) = exchange(&d, chunked, b"zz\r\n", Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains(r#"{"error":"the request body could not be read: "#), "{answer}");
}

/// Runs `host serve --config CONFIG`, which must exit within 20 s.
fn serve_exits(dir: &std::path::Path, config: &std::path::Path) -> (Option<i32>, String) {
    let mut child = host(&dir.join("cache"))
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("host serve --config {} still running after 20 s", config.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status.code(), err)
}

#[test]
fn a_config_file_past_sixteen_mib_is_refused_naming_the_file_and_the_bound() {
    let dir = scratch(&[]);
    let (code, err) = serve_exits(dir.path(), std::path::Path::new("/dev/zero"));
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains(
            "error: /dev/zero is larger than 16777216 bytes, the most a connectors file may hold; it is not read"
        ),
        "{err}"
    );

    let big = dir.path().join("connectors.toml");
    let mut text = "[serve]\n".to_string();
    while text.len() <= 16 << 20 {
        text.push_str("# a comment line to make the file larger than the bound\n");
    }
    std::fs::write(&big, text).unwrap();
    let (code, err) = serve_exits(dir.path(), &big);
    assert_eq!(code, Some(3), "{err}");
    let message = format!("error: {} is larger than 16777216 bytes", big.display());
    assert!(err.contains(&message), "{err}");
}

/// A run that fails because the daemon ran out of open files is logged as such and
/// counted in `host_resource_failures_total`; the daemon goes on serving.
#[test]
fn runs_that_fail_for_want_of_open_files_are_logged_and_counted() {
    // How many files a daemon with one connector keeps open once it has run.
    let dir = scratch(&[]);
    let config = write_config(dir.path(), &feed("feed", "1h"));
    let d = Daemon::start(dir.path(), &config);
    d.wait_for("/connectors/feed", Duration::from_secs(30), |v| v["status"]["runs"] == 1);
    let baseline = d.open_files();
    drop(d);

    // Forty connectors, sixteen runs at once, each run opening its granted directory
    // and its feed: more than a few files above that.
    let dir = scratch(&[]);
    let body: String = (0..40).map(|i| feed(&format!("c{i}"), "300ms")).collect();
    let config = dir.path().join("connectors.toml");
    let store = format!("sqlite:{}", dir.path().join("serve.db").display());
    std::fs::write(&config, format!("[serve]\nstore = {}\nmax_parallel_runs = 16\n\n{body}", quote(&store))).unwrap();
    let d = Daemon::start_ulimit(dir.path(), &config, &format!("-n {}", baseline + 8));
    let started = Instant::now();
    let counted = loop {
        // The API itself may be refused a descriptor for a moment: ask again.
        let (code, text) = d.get("/metrics");
        let n: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("host_resource_failures_total "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if code == 200 && n > 0.0 {
            break n;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no resource failure counted:\n{}", d.log_text());
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = d.log_text();
    assert!(
        log.contains("run failed: the host ran out of a resource (open files, memory or disk)")
            && log.contains("Too many open files"),
        "{log}"
    );
    assert!(counted >= 1.0);
    assert_eq!(d.get("/health").0, 200, "the daemon goes on serving");
}
