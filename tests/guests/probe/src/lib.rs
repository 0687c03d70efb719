//! A test connector. With config `mode = "probe"` (the default) it tries everything a
//! connector must not be able to do and returns one record per attempt, whose `raw`
//! says what happened; the tests check that each was refused. Other modes misbehave
//! on purpose so that the tests can check how the host reports it.

use std::hint::black_box;

use connector_sdk::host::{config, http, log, state};
use connector_sdk::{
    ApiError, Connector, ConnectorError, EnvelopeDraft, Page, PageRequest, Provenance, RecordType, SourceRecord, export,
};
use serde_json::json;

struct Probe;

fn record(id: &str, raw: String) -> SourceRecord {
    SourceRecord {
        id: id.to_string(),
        raw,
        provenance: Provenance { uri: format!("probe://{id}"), etag: None, last_modified: None, author: None },
    }
}

fn attempt<T: std::fmt::Debug, E: std::fmt::Display>(name: &str, r: Result<T, E>) -> SourceRecord {
    let outcome = match r {
        Ok(v) => json!({ "attempt": name, "allowed": true, "detail": format!("{v:?}") }),
        Err(e) => json!({ "attempt": name, "allowed": false, "detail": e.to_string() }),
    };
    record(name, outcome.to_string())
}

fn probes() -> Vec<SourceRecord> {
    let secret = config::get("secret_path").unwrap_or_else(|| "/etc/passwd".into());
    let denied_http = http::send(&http::Request {
        method: http::Method::Get,
        url: "http://127.0.0.1:9/steal".into(),
        headers: vec![],
        body: None,
        timeout_ms: None,
    })
    .map(|r| r.status)
    .map_err(|e| format!("{e:?}"));
    vec![
        attempt("read-absolute", std::fs::read_to_string(&secret)),
        attempt("read-dotdot", std::fs::read_to_string(format!("/feeds/../..{secret}"))),
        attempt("read-symlink", std::fs::read_to_string("/feeds/escape")),
        attempt("list-root", std::fs::read_dir("/").map(|d| d.count())),
        attempt("write-granted", std::fs::write("/feeds/written-by-guest", "x")),
        attempt("env-var", std::env::var("HOME")),
        attempt("env-count", if std::env::vars().count() == 0 { Err("empty") } else { Ok(()) }),
        attempt("http", denied_http),
        attempt("read-granted", std::fs::read_to_string("/feeds/allowed.txt")),
    ]
}

/// Misbehaves as `mode` says; returns only for modes that produce records.
fn misbehave(mode: &str) -> Result<Vec<SourceRecord>, ConnectorError> {
    let number = |key: &str, default: u64| config::get(key).and_then(|v| v.parse().ok()).unwrap_or(default);
    Ok(match mode {
        "probe" => probes(),
        "loop" => loop {
            black_box(());
        },
        "recursion" => {
            #[allow(unconditional_recursion)]
            fn down(n: u64) -> u64 {
                black_box(n) + down(black_box(n + 1))
            }
            vec![record("deep", down(0).to_string())]
        }
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(black_box(vec![1u8; 1 << 20]));
            }
        }
        "huge-page" => (0..number("count", 10_000_000)).map(|i| record(&i.to_string(), "{}".into())).collect(),
        "huge-string" => {
            let mib = number("mib", 1024) as usize;
            vec![record("huge", format!("\"{}\"", "x".repeat(mib << 20)))]
        }
        "long-id" => vec![record(&"i".repeat(number("len", 1 << 20) as usize), "{}".into())],
        "bad-utf8" => {
            // Invalid UTF-8 in a `string`: the canonical ABI does not allow it, so
            // the host must refuse to lift it.
            #[allow(unsafe_code)]
            let bad = unsafe { String::from_utf8_unchecked(vec![b'{', 0xff, 0xfe, b'}']) };
            vec![record("bad", bad)]
        }
        "panic" => panic!("the probe panicked on purpose"),
        "error" => {
            return Err(ConnectorError::Api(ApiError { status: 503, message: "upstream unavailable".into() }));
        }
        "log" => {
            for i in 0..10_000 {
                log::log(log::Level::Info, &format!("line {i} \u{1b}[31mred\u{1b}[0m"));
            }
            println!("from stdout");
            vec![record("one", "{}".into())]
        }
        "log-huge" => {
            log::log(log::Level::Info, &"y".repeat(number("mib", 512) as usize * (1 << 20)));
            vec![record("one", "{}".into())]
        }
        "bad-raw" => vec![
            record("good", json!({"ok": true}).to_string()),
            record("not-json", "{not json".into()),
            record("", json!({"empty": "id"}).to_string()),
            record("number", "42".into()),
        ],
        "http" => http_requests()?,
        "forge-raw" => vec![record(
            "forged",
            json!({"raw_sha256": "0".repeat(64), "source": "forged", "collected_at": "1970-01-01T00:00:00Z"})
                .to_string(),
        )],
        other => return Err(ConnectorError::InvalidConfig(format!("unknown mode `{other}`"))),
    })
}

/// Sends `count` requests as config says (`url`, `method`, `headers` as a JSON array
/// of `[name, value]`, `body`, `timeout_ms`) and returns one record per response:
/// status, headers and body as text. The first error ends the page with that error,
/// so the host's message is what the run reports. Oversized requests are made here
/// rather than in the manifest: `host_bytes = N` sends to a host name of N bytes
/// (`ü`s, which IDNA must punycode), `header_count`/`header_bytes` add that many
/// headers of that size.
fn http_requests() -> Result<Vec<SourceRecord>, ConnectorError> {
    let number = |key: &str| config::get(key).and_then(|v| v.parse::<usize>().ok());
    let url = match number("host_bytes") {
        Some(n) => format!("http://{}.example/", "ü".repeat(n / 2)),
        None => config::get("url").ok_or_else(|| ConnectorError::InvalidConfig("`url` is not set".into()))?,
    };
    let method = match config::get("method").as_deref().unwrap_or("GET") {
        "POST" => http::Method::Post,
        "PUT" => http::Method::Put,
        "HEAD" => http::Method::Head,
        _ => http::Method::Get,
    };
    let headers: Vec<(String, String)> = config::get("headers")
        .map(|h| serde_json::from_str(&h).expect("headers: JSON [[name, value]]"))
        .unwrap_or_default();
    let mut headers = headers;
    if let Some(n) = number("header_count") {
        let value = "v".repeat(number("header_bytes").unwrap_or(1));
        headers.extend((0..n).map(|i| (format!("x-h{i}"), value.clone())));
    }
    let count = config::get("count").and_then(|c| c.parse().ok()).unwrap_or(1);
    // With `tally`, errors are only counted: one record at the end says how many
    // there were and what the first one was (a page holds at most 10,000 records).
    let tally = config::get("tally").is_some_and(|v| v == "true");
    let (mut errors, mut first) = (0u64, None);
    // With `keep_going`, an error becomes a record (`{"error": kind, "message": …}`)
    // and the next request is made; `gaps` (JSON array of ms) pauses before each.
    let keep_going = config::get("keep_going").is_some_and(|v| v == "true");
    let gaps: Vec<u64> =
        config::get("gaps").map(|g| serde_json::from_str(&g).expect("gaps: JSON [ms]")).unwrap_or_default();
    let mut out = Vec::new();
    for i in 0..count {
        if let Some(&gap) = gaps.get(i) {
            std::thread::sleep(std::time::Duration::from_millis(gap));
        }
        let result = http::send(&http::Request {
            method,
            url: url.clone(),
            headers: headers.clone(),
            body: config::get("body").map(String::into_bytes),
            timeout_ms: config::get("timeout_ms").and_then(|t| t.parse().ok()),
        });
        let response = match result {
            Ok(r) => r,
            Err(e) if tally => {
                errors += 1;
                first.get_or_insert_with(|| describe(&e));
                continue;
            }
            Err(e) if keep_going => {
                let (kind, message) = describe(&e);
                out.push(record(&format!("response-{i}"), json!({"error": kind, "message": message}).to_string()));
                continue;
            }
            Err(e) => return Err(e),
        };
        let raw = json!({
            "status": response.status,
            "headers": response.headers,
            "body": String::from_utf8_lossy(&response.body),
            "body_len": response.body.len(),
        });
        out.push(record(&format!("response-{i}"), raw.to_string()));
    }
    if tally {
        let first = first.map(|(kind, message)| json!({"error": kind, "message": message}));
        out.push(record("tally", json!({"requests": count, "errors": errors, "first": first}).to_string()));
    }
    Ok(out)
}

/// The case of an error and its message.
fn describe(e: &ConnectorError) -> (&'static str, String) {
    match e {
        ConnectorError::Auth(m) => ("auth", m.clone()),
        ConnectorError::RateLimited(r) => ("rate-limited", format!("{} ({:?} ms)", r.message, r.retry_after_ms)),
        ConnectorError::Timeout(m) => ("timeout", m.clone()),
        ConnectorError::Network(m) => ("network", m.clone()),
        ConnectorError::NotFound(m) => ("not-found", m.clone()),
        ConnectorError::Api(a) => ("api", format!("{} {}", a.status, a.message)),
        ConnectorError::CircuitOpen(r) => ("circuit-open", r.message.clone()),
        ConnectorError::Denied(m) => ("denied", m.clone()),
        other => ("other", format!("{other:?}")),
    }
}

/// Which export misbehaves (`list`, `to-envelopes` or `get-record`) and how.
fn hostile_in(export: &str) -> Option<String> {
    let mode = config::get("mode").unwrap_or_else(|| "probe".into());
    let target = config::get("in").unwrap_or_else(|| "list".into());
    (target == export).then_some(mode)
}

fn fine(n: u32) -> Vec<SourceRecord> {
    (0..2).map(|i| record(&format!("p{n}-r{i}"), json!({"page": n, "i": i}).to_string())).collect()
}

impl Connector for Probe {
    fn source_name() -> String {
        "probe".into()
    }

    fn list_records(req: PageRequest) -> Result<Page, ConnectorError> {
        let page: u32 = req.cursor.as_deref().unwrap_or("0").parse().unwrap_or(0);
        let next = Some((page + 1).to_string());
        let mode = config::get("mode");
        if mode.as_deref() == Some("counter") {
            // A new generation of three records every run: `n` is kept in state, so
            // every run publishes changes (and its envelopes name the version).
            let n: u64 = state::get("n").and_then(|v| v.parse().ok()).unwrap_or(0) + 1;
            state::set("n", &n.to_string());
            let records = (0..3).map(|i| record(&format!("r{i}"), json!({"run": n, "i": i}).to_string())).collect();
            return Ok(Page { records, next_cursor: None, skipped: vec![] });
        }
        if mode.as_deref() == Some("pages") {
            // Three pages of two records; the cursor is the page number.
            return Ok(Page { records: fine(page), next_cursor: next.filter(|_| page < 2), skipped: vec![] });
        }
        if mode.as_deref() == Some("fail-second-page") {
            if page > 0 {
                return Err(ConnectorError::Timeout("the second page timed out".into()));
            }
            return Ok(Page {
                records: vec![record("first", "{}".into())],
                next_cursor: Some("2".into()),
                skipped: vec![],
            });
        }
        // With `after_pages = N`, the first N pages are well-behaved.
        let after: u32 = config::get("after_pages").and_then(|v| v.parse().ok()).unwrap_or(0);
        if page < after {
            return Ok(Page { records: fine(page), next_cursor: next, skipped: vec![] });
        }
        let records = match hostile_in("list") {
            Some(mode) => misbehave(&mode)?,
            None => fine(page),
        };
        Ok(Page { records, next_cursor: None, skipped: vec![] })
    }

    fn get_record(id: String) -> Result<SourceRecord, ConnectorError> {
        match hostile_in("get-record") {
            Some(mode) => misbehave(&mode)?
                .into_iter()
                .next()
                .ok_or_else(|| ConnectorError::NotFound(format!("no record `{id}`"))),
            None => Ok(record(&id, "{}".into())),
        }
    }

    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        if let Some(mode) = hostile_in("to-envelopes") {
            misbehave(&mode)?;
        }
        let forge = config::get("forge").is_some();
        Ok(records
            .into_iter()
            .map(|r| EnvelopeDraft {
                record_id: r.id,
                record_type: RecordType::Event,
                source_instance: "probe".into(),
                provenance: r.provenance,
                acl_tags: vec![],
                raw: r.raw,
                // With `forge`, try to set host-owned fields through metadata.
                metadata: forge.then(|| {
                    json!({
                        "connector": {"name": "forged", "digest": "sha256:00"},
                        "source": "forged", "collected_at": "1970-01-01T00:00:00Z",
                        "raw_sha256": "0000", "note": "kept"
                    })
                    .to_string()
                }),
            })
            .collect())
    }
}

export!(Probe);
