//! Host-mediated HTTP: the egress policy, secrets, retry, circuit breaker, rate
//! limits and record/replay, each against a real loopback server with scripted
//! faults, driven by the probe connector's `http` mode through the real binary.
//! Delays are configured short (tens of milliseconds); the only waits of a second
//! are the ones `Retry-After` cannot express more finely.

use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tests::upstream::{Reply, TestCa, Upstream};
use tests::*;

/// What one run of the probe left behind.
struct Ran {
    out: Output,
    err: String,
    report: Value,
    records: Vec<Value>,
    dir: tempfile::TempDir,
}

impl Ran {
    /// The `raw` of every envelope (one per response, or per error with keep_going).
    fn raws(&self) -> Vec<&Value> {
        self.records.iter().map(|e| &e["raw"]).collect()
    }

    fn error(&self) -> String {
        self.report["error"]["message"].as_str().unwrap_or_default().to_string()
    }
}

fn quote(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

/// Runs the probe in `http` mode with `config`, the `[http]` section `http` (its
/// body: keys and sub-tables), and `env`.
fn probe(http: &str, config: &[(&str, &str)], env: &[(&str, &str)], extra: &[&str]) -> Ran {
    let dir = scratch(&[]);
    let wasm = place(PROBE_WASM, dir.path(), "probe");
    let mut manifest = String::from("name = \"probe\"\nsource = \"probe\"\n[config]\nmode = \"http\"\n");
    for (k, v) in config {
        manifest.push_str(&format!("{k} = {}\n", quote(v)));
    }
    manifest.push_str("[http]\n");
    manifest.push_str(http);
    std::fs::write(dir.path().join("probe.toml"), manifest).unwrap();
    let (report, out_file) = (dir.path().join("report.json"), dir.path().join("out.jsonl"));
    let mut cmd = host(&dir.path().join("cache"));
    cmd.arg("run").arg(&wasm).arg("--report").arg(&report).arg("--out").arg(&out_file).args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output(&mut cmd);
    let err = stderr(&out);
    let report: Value = serde_json::from_slice(&std::fs::read(&report).unwrap_or_default()).unwrap_or(Value::Null);
    let records = jsonl(&std::fs::read(&out_file).unwrap_or_default());
    Ran { out, err, report, records, dir }
}

fn allow(up: &Upstream) -> String {
    format!("allow = [{}]\n", quote(&up.origin()))
}

/// `[http.retry]` with short delays.
const FAST_RETRY: &str = "[http.retry]\nbase_delay_ms = 20\nmax_delay_ms = 100\n";

#[track_caller]
fn assert_failed_with(ran: &Ran, code: i32, message: &str) {
    assert_eq!(ran.out.status.code(), Some(code), "{}", ran.err);
    assert!(ran.error().contains(message), "expected `{message}` in the report's error:\n{}", ran.error());
    assert!(ran.err.contains(message), "expected `{message}` on stderr:\n{}", ran.err);
}

#[test]
fn a_granted_request_gets_its_response() {
    let up = Upstream::start(|s| Reply::json(200, &json!({"path": s.path, "method": s.method})));
    let ran = probe(&allow(&up), &[("url", &format!("{}/items?x=1", up.origin()))], &[], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    let raw = ran.raws()[0];
    assert_eq!(raw["status"], 200);
    let body: Value = serde_json::from_str(raw["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"path": "/items?x=1", "method": "GET"}));
    assert_eq!(ran.report["http"]["requests"], 1);
    assert_eq!(ran.report["http"]["sent"], 1);
    let seen = &up.seen()[0];
    assert_eq!(seen.header("accept-encoding"), Some("gzip, deflate"));
    assert!(seen.header("user-agent").unwrap().starts_with("connector-host/"));
}

#[test]
fn retry_after_in_seconds_is_waited_out_before_the_retry() {
    let up = Upstream::start(|s| match s.index {
        0 => Reply::text(429, &[("retry-after", "1")], "slow down"),
        _ => Reply::json(200, &json!({"ok": true})),
    });
    let ran = probe(&(allow(&up) + FAST_RETRY), &[("url", &format!("{}/a", up.origin()))], &[], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    let seen = up.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(1000), "the retry came {gap:?} after the 429 asked for 1 s");
    assert_eq!(ran.report["http"]["retries"], 1);
    assert!(ran.report["http"]["rate_limit_wait_ms"].as_u64().unwrap() >= 1000);
}

#[test]
fn retry_after_as_an_http_date_is_waited_out() {
    let not_before = SystemTime::now() + Duration::from_secs(2);
    let date = httpdate(not_before);
    let up = Upstream::start(move |s| match s.index {
        0 => Reply::text(503, &[("retry-after", &date)], ""),
        _ => Reply::json(200, &json!({"ok": true})),
    });
    let ran = probe(&(allow(&up) + FAST_RETRY), &[("url", &format!("{}/a", up.origin()))], &[], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    let seen = up.seen();
    assert_eq!(seen.len(), 2);
    // The date has whole seconds: the retry may not come before that second began.
    let floor = not_before
        - Duration::from_nanos(u64::from(not_before.duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos()));
    assert!(seen[1].wall >= floor, "retried at {:?}, before the Retry-After date {floor:?}", seen[1].wall);
}

/// An HTTP-date (IMF-fixdate), for `Retry-After`.
fn httpdate(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let days = secs / 86_400;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][(mo - 1) as usize];
    format!("{wd}, {d:02} {mon} {y} {h:02}:{m:02}:{s:02} GMT")
}

#[test]
fn a_retry_after_beyond_the_maximum_returns_rate_limited_without_waiting() {
    let up = Upstream::start(|_| Reply::text(429, &[("retry-after", "3600")], "come back in an hour"));
    let ran = probe(&(allow(&up) + FAST_RETRY), &[("url", &format!("{}/a", up.origin()))], &[], &[]);
    assert_failed_with(&ran, 4, "the upstream asks to wait 3600000 ms, longer than the host waits");
    assert_eq!(up.seen().len(), 1, "no retry may be sent");
}

#[test]
fn a_503_storm_opens_the_breaker_and_nothing_is_sent_while_open() {
    let up = Upstream::start(|_| Reply::text(503, &[], "down"));
    let http = allow(&up) + FAST_RETRY + "max_retries = 6\n[http.breaker]\nfailure_threshold = 3\nreset_ms = 60000\n";
    let ran = probe(&http, &[("url", &format!("{}/a", up.origin())), ("count", "3"), ("keep_going", "true")], &[], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(up.seen().len(), 3, "the breaker opened after 3 failures; nothing more may reach the upstream");
    let kinds: Vec<&str> = ran.raws().iter().map(|r| r["error"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["circuit-open", "circuit-open", "circuit-open"]);
    let message = ran.raws()[0]["message"].as_str().unwrap();
    assert!(message.contains("the circuit breaker for 127.0.0.1 is open after repeated failures; no request was sent"));
    assert_eq!(ran.report["http"]["breaker_transitions"], 1);
}

#[test]
fn a_flapping_endpoint_is_probed_half_open_and_closes_on_success() {
    let up =
        Upstream::start(|s| if s.index < 3 { Reply::text(503, &[], "flap") } else { Reply::json(200, &json!({})) });
    let http = allow(&up) + "[http.retry]\nmax_retries = 0\n[http.breaker]\nfailure_threshold = 2\nreset_ms = 300\n";
    let ran = probe(
        &http,
        &[
            ("url", &format!("{}/a", up.origin())),
            ("count", "7"),
            ("keep_going", "true"),
            ("gaps", "[0, 0, 0, 400, 0, 400, 0]"),
        ],
        &[],
        &[],
    );
    assert!(ran.out.status.success(), "{}", ran.err);
    let outcomes: Vec<String> = ran
        .raws()
        .iter()
        .map(|r| r["error"].as_str().map(String::from).unwrap_or_else(|| r["status"].to_string()))
        .collect();
    // fail, fail (open), refused, probe fails (re-open), refused, probe succeeds (close), ok.
    assert_eq!(outcomes, ["api", "api", "circuit-open", "api", "circuit-open", "200", "200"]);
    assert_eq!(up.seen().len(), 5);
    // closed→open, open→half-open, half-open→open, open→half-open, half-open→closed.
    assert_eq!(ran.report["http"]["breaker_transitions"], 5);
}

#[test]
fn a_slow_response_times_out_and_the_guest_may_only_shorten_the_timeout() {
    let up = Upstream::start(|_| Reply::Delay(Duration::from_secs(3), Box::new(Reply::json(200, &json!({})))));
    let http = allow(&up) + "first_byte_timeout_ms = 300\n[http.retry]\nmax_retries = 0\n";
    let ran = probe(&http, &[("url", &format!("{}/slow", up.origin()))], &[], &[]);
    assert_failed_with(
        &ran,
        4,
        &format!(
            "GET {}/slow: no response from {} within 300 ms (http.first_byte_timeout_ms)",
            up.origin(),
            up.origin()
        ),
    );

    // The guest asks for 150 ms: shorter, so it holds. Asking for more than the
    // manifest allows gets the manifest's.
    let ran = probe(&http, &[("url", &format!("{}/slow", up.origin())), ("timeout_ms", "150")], &[], &[]);
    assert_failed_with(&ran, 4, "within 150 ms (the request's time budget)");
    let ran = probe(&http, &[("url", &format!("{}/slow", up.origin())), ("timeout_ms", "100000")], &[], &[]);
    assert_failed_with(&ran, 4, "within 300 ms (http.first_byte_timeout_ms)");
}

#[test]
fn a_reset_connection_is_retried_then_reported() {
    let up = Upstream::start(|_| Reply::Close);
    let http = allow(&up) + FAST_RETRY + "max_retries = 2\n";
    let ran = probe(&http, &[("url", &format!("{}/a", up.origin()))], &[], &[]);
    assert_failed_with(&ran, 4, "was reset");
    assert!(ran.error().contains("(after 2 retries)"), "{}", ran.error());
    assert_eq!(up.seen().len(), 3);
    assert_eq!(ran.report["http"]["retries"], 2);
}

#[test]
fn a_truncated_body_is_retried_and_a_complete_one_accepted() {
    let up = Upstream::start(|s| match s.index {
        0 => Reply::Truncate { declared: 100, body: b"{\"partial\":".to_vec() },
        _ => Reply::json(200, &json!({"whole": true})),
    });
    let ran = probe(&(allow(&up) + FAST_RETRY), &[("url", &format!("{}/a", up.origin()))], &[], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(ran.raws()[0]["body"], "{\"whole\":true}");
    assert_eq!(up.seen().len(), 2);

    let up = Upstream::start(|_| Reply::Truncate { declared: 100, body: b"{".to_vec() });
    let http = allow(&up) + FAST_RETRY + "max_retries = 1\n";
    let ran = probe(&http, &[("url", &format!("{}/a", up.origin()))], &[], &[]);
    assert_failed_with(&ran, 4, "was cut short");
}

#[test]
fn a_post_is_not_retried_unless_the_manifest_says_so() {
    let up = Upstream::start(|_| Reply::text(503, &[], "busy"));
    let config = [("url", format!("{}/a", up.origin())), ("method", "POST".into()), ("body", "{}".into())];
    let config: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ran = probe(&(allow(&up) + FAST_RETRY), &config, &[], &[]);
    assert_failed_with(&ran, 4, "503 Service Unavailable: busy");
    assert_eq!(up.seen().len(), 1);
    let ran = probe(&(allow(&up) + FAST_RETRY + "retry_non_idempotent = true\n"), &config, &[], &[]);
    assert_failed_with(&ran, 4, "(after 3 retries)");
    assert_eq!(up.seen().len(), 5);
}

#[test]
fn status_codes_map_to_error_cases() {
    let up = Upstream::start(|s| match s.path.as_str() {
        "/401" => Reply::text(401, &[], "who are you"),
        "/403" => Reply::text(403, &[], "no"),
        "/404" => Reply::text(404, &[], "gone"),
        _ => Reply::text(422, &[], "{\"message\":\"Validation Failed\"}"),
    });
    for (path, kind) in [("/401", "auth"), ("/403", "auth"), ("/404", "not-found"), ("/422", "api")] {
        let url = format!("{}{path}", up.origin());
        let ran = probe(&(allow(&up) + FAST_RETRY), &[("url", &url), ("keep_going", "true")], &[], &[]);
        assert_eq!(ran.raws()[0]["error"], kind, "{path}: {}", ran.raws()[0]);
    }
    assert_eq!(up.seen().len(), 4, "4xx are never retried");
}

#[test]
fn a_redirect_is_followed_within_the_grant_and_refused_outside_it() {
    let other = Upstream::start(|_| Reply::json(200, &json!({"leaked": true})));
    let other_origin = other.origin();
    let up = Upstream::start(move |s| match s.path.as_str() {
        "/hop" => Reply::text(302, &[("location", "/final")], ""),
        "/final" => Reply::json(200, &json!({"final": true})),
        "/away" => Reply::text(307, &[("location", &format!("{other_origin}/steal"))], ""),
        _ => Reply::text(301, &[("location", "/loop")], ""),
    });
    let ran = probe(&allow(&up), &[("url", &format!("{}/hop", up.origin()))], &[], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(ran.raws()[0]["body"], "{\"final\":true}");

    let ran = probe(&allow(&up), &[("url", &format!("{}/away", up.origin()))], &[], &[]);
    assert_failed_with(
        &ran,
        4,
        &format!("a redirect led from {} to {}, which is not granted (http.allow)", up.origin(), other.origin()),
    );
    assert!(other.seen().is_empty(), "the redirect target must not be contacted");
    assert_eq!(ran.report["http"]["denied"], 1);

    let ran = probe(&allow(&up), &[("url", &format!("{}/loop", up.origin()))], &[], &[]);
    assert_failed_with(&ran, 4, "redirected more than 5 times (http.max_redirects)");
}

#[test]
fn hosts_and_addresses_that_are_not_granted_are_denied_without_a_connection() {
    let up = Upstream::start(|_| Reply::json(200, &json!({})));
    let grant = "allow = [\"https://api.github.com\"]\n";
    for (url, message) in [
        (up.origin() + "/x", format!("HTTP to {} is not granted (http.allow: https://api.github.com)", up.origin())),
        (
            "http://169.254.169.254/latest/meta-data".to_string(),
            "HTTP to http://169.254.169.254 is not granted (http.allow: https://api.github.com)".to_string(),
        ),
        (
            "https://example.invalid/".to_string(),
            "HTTP to https://example.invalid is not granted (http.allow: https://api.github.com)".to_string(),
        ),
        ("https://api.github.com.evil.example/".to_string(), "is not granted".to_string()),
        ("file:///etc/passwd".to_string(), "only http and https URLs are allowed".to_string()),
    ] {
        let ran = probe(grant, &[("url", &url)], &[], &[]);
        assert_failed_with(&ran, 4, &message);
        assert_eq!(ran.report["http"]["denied"], 1);
    }
    assert!(up.seen().is_empty());
}

#[test]
fn a_granted_name_that_resolves_to_loopback_is_refused() {
    let up = Upstream::start(|_| Reply::json(200, &json!({})));
    let origin = format!("http://localhost:{}", up.port());
    let ran = probe(&format!("allow = [{}]\n", quote(&origin)), &[("url", &format!("{origin}/x"))], &[], &[]);
    assert_failed_with(&ran, 4, "`localhost` resolves to");
    assert!(ran.error().contains("a loopback address, which only a grant naming that address literally allows"));
    assert!(up.seen().is_empty(), "nothing may be sent to a refused address");
}

#[test]
fn forbidden_headers_and_crlf_are_refused_before_anything_is_sent() {
    let up = Upstream::start(|_| Reply::json(200, &json!({})));
    let url = format!("{}/x", up.origin());
    let http = allow(&up)
        + "[[http.secrets]]\nfrom_env = \"PROBE_TOKEN\"\nhost = \"127.0.0.1\"\nheader = \"Authorization\"\nformat = \"Bearer {}\"\n";
    let env = [("PROBE_TOKEN", "tok-0123456789abcdef")];
    for (headers, message) in [
        (
            json!([["X-Evil", "a\r\nHost: evil.example"]]),
            "header `X-Evil`: CR, LF or NUL in a header name or value is refused",
        ),
        (json!([["Host", "evil.example"]]), "header `Host` is set by the host, not the connector"),
        (json!([["Transfer-Encoding", "chunked"]]), "header `Transfer-Encoding` is set by the host"),
        (json!([["Connection", "upgrade"]]), "header `Connection` is set by the host"),
        (json!([["authorization", "Bearer mine"]]), "header `authorization` is injected by the host for this host"),
    ] {
        let ran = probe(&http, &[("url", &url), ("headers", &headers.to_string())], &env, &[]);
        assert_failed_with(&ran, 4, message);
    }
    assert!(up.seen().is_empty());
}

#[test]
fn a_body_over_the_cap_and_a_gzip_bomb_end_in_errors() {
    use std::io::Write;
    // 64 MiB of zeros, compressed as it streams: the test itself never holds them.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::copy(&mut std::io::Read::take(std::io::repeat(b'0'), 64 << 20), &mut gz).unwrap();
    let bomb = Arc::new(gz.finish().unwrap());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"{\"small\":\"and gzipped\"}").unwrap();
    let small = Arc::new(gz.finish().unwrap());
    let up = Upstream::start(move |s| match s.path.as_str() {
        "/big" => Reply::text(200, &[], &"x".repeat(5000)),
        "/bomb" => Reply::Respond {
            status: 200,
            headers: vec![("content-encoding".into(), "gzip".into())],
            body: bomb.to_vec(),
        },
        _ => Reply::Respond {
            status: 200,
            headers: vec![("content-encoding".into(), "gzip".into())],
            body: small.to_vec(),
        },
    });
    let http = allow(&up) + "max_body_bytes = 1048576\n";
    let ran = probe(&http, &[("url", &format!("{}/small", up.origin()))], &[], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(ran.raws()[0]["body"], "{\"small\":\"and gzipped\"}");
    assert!(ran.raws()[0]["headers"].as_array().unwrap().iter().all(|h| h[0] != "content-encoding"));

    let ran = probe(&http, &[("url", &format!("{}/bomb", up.origin()))], &[], &[]);
    assert_failed_with(
        &ran,
        4,
        &format!(
            "the decompressed response body from {} is larger than http.max_body_bytes (1048576 bytes)",
            up.origin()
        ),
    );

    let ran = probe(&(allow(&up) + "max_body_bytes = 1000\n"), &[("url", &format!("{}/big", up.origin()))], &[], &[]);
    assert_failed_with(&ran, 4, "is larger than http.max_body_bytes (1000 bytes)");
}

const TOKEN: &str = "ghp_SECRET0123456789abcdefSECRET";

#[test]
fn a_secret_is_injected_for_its_host_and_appears_nowhere_else() {
    // A hostile upstream that echoes the credential back in a header and the body.
    let up = Upstream::start(|s| {
        let auth = s.header("authorization").unwrap_or("none").to_string();
        Reply::Respond {
            status: 200,
            headers: vec![("x-echo".into(), auth.clone())],
            body: json!({"you_sent": auth}).to_string().into_bytes(),
        }
    });
    let other = Upstream::start_at("127.0.0.2", |s| Reply::json(200, &json!({"auth": s.header("authorization")})));
    let http = format!(
        "allow = [{}, {}]\n[[http.secrets]]\nfrom_env = \"PROBE_TOKEN\"\nhost = \"127.0.0.1\"\nformat = \"Bearer {{}}\"\n",
        quote(&up.origin()),
        quote(&other.origin()),
    );
    let dir = scratch(&[]);
    let tape = dir.path().join("tape.jsonl");
    let ran = probe(
        &http,
        &[("url", &format!("{}/who", up.origin())), ("count", "2")],
        &[
            ("PROBE_TOKEN", TOKEN),
            ("HOST_LOG", "info,host=trace,guest=trace,reqwest=trace,hyper=trace,hyper_util=trace"),
        ],
        &["--record", tape.to_str().unwrap()],
    );
    assert!(ran.out.status.success(), "{}", ran.err);
    assert!(up.seen().iter().all(|s| s.header("authorization") == Some(&format!("Bearer {TOKEN}"))));
    let raw = ran.raws()[0];
    assert_eq!(raw["body"], "{\"you_sent\":\"[REDACTED]\"}");
    let recording = std::fs::read_to_string(&tape).unwrap();
    let report = std::fs::read_to_string(ran.dir.path().join("report.json")).unwrap();
    let envelopes = std::fs::read_to_string(ran.dir.path().join("out.jsonl")).unwrap();
    for (what, text) in [
        ("stderr", ran.err.as_str()),
        ("stdout", &String::from_utf8_lossy(&ran.out.stdout)),
        ("report", &report),
        ("envelopes", &envelopes),
        ("recording", &recording),
    ] {
        assert!(!text.contains(TOKEN), "the secret leaked into {what}:\n{text}");
        assert!(!text.contains(&TOKEN[4..20]), "part of the secret leaked into {what}");
    }
    assert!(recording.contains("[REDACTED]"));

    // Another granted host does not get the secret.
    let ran = probe(&http, &[("url", &format!("{}/who", other.origin()))], &[("PROBE_TOKEN", TOKEN)], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(other.seen()[0].header("authorization"), None);
}

#[test]
fn a_secret_from_an_unset_variable_or_in_config_is_refused() {
    let http = "allow = [\"https://api.github.com\"]\n[[http.secrets]]\nfrom_env = \"NOT_SET_ANYWHERE\"\nhost = \"api.github.com\"\n";
    let ran = probe(http, &[("url", "https://api.github.com/")], &[], &[]);
    assert_eq!(ran.out.status.code(), Some(3), "{}", ran.err);
    assert!(
        ran.err.contains("`http.secrets[0].from_env` names NOT_SET_ANYWHERE, but that environment variable is not set"),
        "{}",
        ran.err
    );
    let http = "allow = [\"https://api.github.com\"]\n[[http.secrets]]\nfrom_env = \"PROBE_TOKEN\"\nhost = \"api.github.com\"\n";
    let ran = probe(http, &[("url", "https://api.github.com/"), ("leak", TOKEN)], &[("PROBE_TOKEN", TOKEN)], &[]);
    assert_eq!(ran.out.status.code(), Some(3), "{}", ran.err);
    assert!(ran.err.contains("`config.leak` holds the value of secret PROBE_TOKEN"), "{}", ran.err);
    assert!(!ran.err.contains(TOKEN));
}

#[test]
fn the_rate_limit_spaces_requests_and_counts_the_wait() {
    let up = Upstream::start(|_| Reply::json(200, &json!({})));
    let http = allow(&up) + "[http.rate_limit]\nrequests_per_second = 20.0\nburst = 1\n";
    let ran = probe(&http, &[("url", &format!("{}/a", up.origin())), ("count", "5")], &[], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    let seen = up.seen();
    assert_eq!(seen.len(), 5);
    // One at once (burst 1), then one every 50 ms: the fifth is sent 200 ms after the
    // first. Arrival times also hold the first request's connection set-up (which
    // can take tens of milliseconds on a loaded machine), so allow one gap for it.
    let span = seen[4].at - seen[0].at;
    assert!(span >= Duration::from_millis(150), "5 requests in {span:?} at 20/s");
    assert!(ran.report["http"]["rate_limit_wait_ms"].as_u64().unwrap() >= 100);
}

#[test]
fn an_upstream_that_says_remaining_zero_pauses_the_next_request() {
    let reset_at = Arc::new(AtomicUsize::new(0));
    let r = reset_at.clone();
    let up = Upstream::start(move |s| {
        if s.index == 0 {
            let reset = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() + 2;
            r.store(reset as usize, Ordering::SeqCst);
            Reply::text(200, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset.to_string())], "{}")
        } else {
            Reply::json(200, &json!({}))
        }
    });
    let ran = probe(&allow(&up), &[("url", &format!("{}/a", up.origin())), ("count", "2")], &[], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    let seen = up.seen();
    let reset = SystemTime::UNIX_EPOCH + Duration::from_secs(reset_at.load(Ordering::SeqCst) as u64);
    assert!(seen[1].wall >= reset, "the second request came before the upstream's reset time");
}

#[test]
fn a_recording_replays_offline_and_a_missing_answer_is_named() {
    let up = Upstream::start(|s| Reply::json(200, &json!({"n": s.index})));
    let url = format!("{}/items", up.origin());
    let dir = scratch(&[]);
    let tape: PathBuf = dir.path().join("tape.jsonl");
    let ran = probe(&allow(&up), &[("url", &url), ("count", "2")], &[], &["--record", tape.to_str().unwrap()]);
    assert!(ran.out.status.success(), "{}", ran.err);
    drop(up);

    // Replayed: the same answers, in order, with no server at all.
    let replayed = probe(
        &format!("allow = [{}]\n", quote(&url.replace("/items", ""))),
        &[("url", &url), ("count", "2")],
        &[],
        &["--replay", tape.to_str().unwrap()],
    );
    assert!(replayed.out.status.success(), "{}", replayed.err);
    assert_eq!(ran.raws(), replayed.raws());
    assert_eq!(replayed.report["http"]["replayed"], 2);
    assert_eq!(replayed.report["http"]["sent"], 0);

    let third = probe(
        &format!("allow = [{}]\n", quote(&url.replace("/items", ""))),
        &[("url", &url), ("count", "3")],
        &[],
        &["--replay", tape.to_str().unwrap()],
    );
    assert_failed_with(&third, 4, &format!("has 2 recorded answer(s) for GET {url}, all used already"));
    let other = probe(
        &format!("allow = [{}]\n", quote(&url.replace("/items", ""))),
        &[("url", &format!("{url}/nope"))],
        &[],
        &["--replay", tape.to_str().unwrap()],
    );
    assert_failed_with(&other, 4, &format!("has no recorded answer for GET {url}/nope"));
    let missing = probe(
        &format!("allow = [{}]\n", quote(&url.replace("/items", ""))),
        &[("url", &url)],
        &[],
        &["--replay", "/nonexistent/tape"],
    );
    assert_eq!(missing.out.status.code(), Some(3));
    assert!(missing.err.contains("HTTP recording /nonexistent/tape: No such file"), "{}", missing.err);
}

/// HTTPS to an upstream whose certificate no trusted authority signed is refused in
/// the TLS handshake: no request reaches it, and the error says why. With the
/// manifest's `http.ca_files` naming its authority, the same upstream is read, and
/// a secret travels to it inside TLS.
#[test]
fn https_needs_a_certificate_the_host_trusts_and_ca_files_adds_an_authority() {
    let ca = TestCa::new();
    let up = Upstream::start_tls(&ca, |s| {
        Reply::json(200, &json!({"path": s.path, "authorization": s.header("authorization")}))
    });
    assert!(up.origin().starts_with("https://127.0.0.1:"));
    let url = format!("{}/items", up.origin());

    let untrusted = probe(&allow(&up), &[("url", &url)], &[], &[]);
    assert_failed_with(&untrusted, 4, "invalid peer certificate");
    eprintln!("untrusted HTTPS: {}", untrusted.error());
    assert!(untrusted.error().contains(&up.origin()), "{}", untrusted.error());
    assert!(up.seen().is_empty(), "a request was sent over an untrusted connection");

    let certs = tempfile::tempdir().unwrap();
    let ca_file = certs.path().join("test-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let http = format!(
        "{}ca_files = [{}]\n[[http.secrets]]\nfrom_env = \"PROBE_TOKEN\"\nhost = \"127.0.0.1\"\nformat = \"Bearer {{}}\"\n",
        allow(&up),
        quote(&ca_file.display().to_string())
    );
    let trusted = probe(&http, &[("url", &url)], &[("PROBE_TOKEN", "tls-secret-123")], &[]);
    assert!(trusted.out.status.success(), "{}", trusted.err);
    let body: Value = serde_json::from_str(trusted.raws()[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["path"], "/items");
    assert_eq!(up.seen()[0].header("authorization"), Some("Bearer tls-secret-123"));
    assert!(!trusted.err.contains("tls-secret-123"));

    // `host inspect` names the extra authority.
    let manifest = trusted.dir.path().join("probe.toml");
    let out = output(
        host(&trusted.dir.path().join("cache"))
            .env("PROBE_TOKEN", "tls-secret-123")
            .arg("inspect")
            .arg(trusted.dir.path().join("probe.wasm"))
            .arg("--manifest")
            .arg(&manifest)
            .arg("--json"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let inspection: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = inspection["grants"]["ca_files"][0].as_str().unwrap();
    assert!(listed.contains("test-ca.pem") && listed.contains("(1 certificates)"), "{listed}");
}

/// A `http.ca_files` entry that cannot be read, or holds no certificate, is a manifest
/// error naming the entry and the file.
#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_is_a_manifest_error() {
    let certs = tempfile::tempdir().unwrap();
    std::fs::write(certs.path().join("empty.pem"), "not a certificate\n").unwrap();
    let broken = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    std::fs::write(certs.path().join("broken.pem"), broken).unwrap();
    for (file, problem) in [
        ("missing.pem", "cannot read"),
        ("empty.pem", "holds no PEM certificate"),
        ("broken.pem", "is not a PEM certificate bundle"),
        // Read with a bound: a device that never ends is refused after 4 MiB.
        (
            "/dev/zero",
            "cannot read /dev/zero: it is larger than 4 MiB (4194304 bytes), the most the host reads of a CA file",
        ),
    ] {
        let path = certs.path().join(file).display().to_string();
        let ran = probe(&format!("allow = [\"https://example.org\"]\nca_files = [{}]\n", quote(&path)), &[], &[], &[]);
        assert_eq!(ran.out.status.code(), Some(3), "{}", ran.err);
        assert!(ran.err.contains("http.ca_files[0]") && ran.err.contains(problem), "{}", ran.err);
        assert!(ran.err.contains(&path), "{}", ran.err);
    }
}

/// A request too large to look at is refused on its sizes alone, before anything of
/// it is parsed: a 32 MiB internationalised host name (whose punycode once took the
/// host 13–18 s) is denied at once, and so are too many or too large headers and a
/// body over `http.max_body_bytes`. Nothing is sent.
#[test]
fn an_oversized_url_headers_or_body_is_denied_before_it_is_parsed() {
    let up = Upstream::start(|_| Reply::json(200, &json!({})));
    let url = format!("{}/x", up.origin());
    // A generous deadline: the run must end far inside it.
    let http = allow(&up) + "max_body_bytes = 1000\n[limits]\ncall_timeout_ms = 60000\n";
    let host_bytes = (32usize << 20).to_string();
    let body = "b".repeat(1001);
    for (config, message) in [
        (
            vec![("host_bytes", host_bytes.as_str())],
            format!(
                "HTTP request refused: the URL is {} bytes, longer than the host accepts (8192 bytes): `http://üüü",
                (32 << 20) + "http://.example/".len()
            ),
        ),
        (
            vec![("url", url.as_str()), ("header_count", "65")],
            "HTTP request refused: the request has 65 headers, more than the host accepts (64)".to_string(),
        ),
        (
            vec![("url", url.as_str()), ("header_count", "1"), ("header_bytes", "8193")],
            "HTTP request refused: the value of header `x-h0` is 8193 bytes, longer than the host accepts (8192 bytes)"
                .to_string(),
        ),
        (
            vec![("url", url.as_str()), ("method", "POST"), ("body", body.as_str())],
            "HTTP request refused: the request body is 1001 bytes, larger than http.max_body_bytes (1000 bytes)"
                .to_string(),
        ),
    ] {
        let started = std::time::Instant::now();
        let ran = probe(&http, &config, &[], &[]);
        let took = started.elapsed();
        assert_failed_with(&ran, 4, &message);
        assert_eq!(ran.report["http"]["denied"], 1);
        let call_ms = ran.report["error"]["call_ms"].as_f64().unwrap_or(0.0);
        assert!(call_ms < 5_000.0, "{message}: the call took {call_ms} ms");
        println!("{:<60} call {call_ms:>6.0} ms, process {took:?}", &message[..60.min(message.len())]);
    }
    // At the bounds, the request is made.
    let ran = probe(&http, &[("url", &url), ("header_count", "64"), ("header_bytes", "8192")], &[], &[]);
    assert!(ran.out.status.success(), "{}", ran.err);
    assert_eq!(up.seen().len(), 1, "only the request within the bounds is sent");
}

/// 100,000 denied requests in one run: the host's log says so in a few lines, and
/// the run report counts every one.
#[test]
fn a_flood_of_denied_requests_is_sampled_in_the_log_and_counted_in_the_report() {
    let config = [("url", "http://127.0.0.1:9/not-granted"), ("count", "100000"), ("tally", "true")];
    let started = std::time::Instant::now();
    let ran = probe("allow = [\"https://example.org\"]\n[limits]\ncall_timeout_ms = 120000\n", &config, &[], &[]);
    let took = started.elapsed();
    assert!(ran.out.status.success(), "{}", ran.err);
    let tally = ran.raws()[0];
    assert_eq!(tally["errors"], 100_000, "{tally}");
    assert_eq!(tally["first"]["error"], "denied");
    let http = &ran.report["http"];
    assert_eq!(
        (&http["requests"], &http["denied"], &http["failed"]),
        (&json!(100_000), &json!(100_000), &json!(100_000))
    );
    assert_eq!(http["log_lines_suppressed"], 100_000 - 10);
    let lines: Vec<&str> = ran.err.lines().collect();
    let denied = lines.iter().filter(|l| l.contains("denied an HTTP request")).count();
    assert_eq!(denied, 10, "{}", ran.err);
    let notes: Vec<&&str> = lines.iter().filter(|l| l.contains("the rest are left out of the log")).collect();
    assert_eq!(notes.len(), 1, "{}", ran.err);
    assert!(notes[0].contains("more than 10 denied HTTP requests in this run: the rest are left out of the log and counted in the run report (http.denied)"), "{}", notes[0]);
    assert!(lines.len() <= 15, "{} lines on stderr:\n{}", lines.len(), ran.err);
    println!("100000 denied requests: {} stderr lines, {took:?}", lines.len());
}
