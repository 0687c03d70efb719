//! What the console's pages show of a run report, a time or a size: plain strings
//! and numbers for the templates, cut to a bound.
//!
//! Reports come as JSON (the live status keeps the last one as a value, the store
//! keeps every one as text), so they are read here field by field, and a field that
//! is missing or of another type shows as absent rather than failing the page. Every
//! text that may come from a guest or an upstream is cut to [`MAX_SHOWN`] bytes; the
//! templates escape it (askama escapes every `{{ }}` of an `.html` template).

use serde_json::Value;

/// The most bytes of one guest- or upstream-supplied text a page shows.
pub const MAX_SHOWN: usize = 4096;

/// `text` cut to [`MAX_SHOWN`] bytes.
pub fn shown(text: &str) -> String {
    crate::untrusted::capped(text, MAX_SHOWN)
}

/// A digest shortened for a table cell.
pub fn short_digest(digest: &str) -> String {
    digest.chars().take(12).collect()
}

/// Milliseconds as a person reads them: `340 ms`, `2.4 s`, `3 min 5 s`.
pub fn duration(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "–".into();
    }
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms < 3_600_000.0 {
        let s = (ms / 1000.0).round() as u64;
        if s.is_multiple_of(60) { format!("{} min", s / 60) } else { format!("{} min {} s", s / 60, s % 60) }
    } else {
        let m = (ms / 60_000.0).round() as u64;
        if m.is_multiple_of(60) { format!("{} h", m / 60) } else { format!("{} h {} min", m / 60, m % 60) }
    }
}

/// An RFC 3339 time as a table shows it: `2026-12-01 21:30:05` (UTC, to the second).
pub fn time(at: &str) -> String {
    let t = at.replace('T', " ");
    let t = t.trim_end_matches('Z');
    let t = t.split('.').next().unwrap_or(t);
    crate::untrusted::capped(t, 40)
}

/// How far `at` (RFC 3339) is from now: `in 25 s`, `3 min ago`.
pub fn relative(at: &str) -> Option<String> {
    let then = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
    let secs = (then - time::OffsetDateTime::now_utc()).whole_seconds();
    let span = |s: i64| match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    };
    Some(if secs >= 0 { format!("in {}", span(secs)) } else { format!("{} ago", span(-secs)) })
}

/// The failing request of a run, as its report keeps it (`http.last_failed_request`).
#[derive(Clone, Debug, Default)]
pub struct FailedRequestView {
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// The status, or a dash.
    pub status: String,
    /// The `connector-error` case the connector was given.
    pub case: String,
    /// The error message the connector was given.
    pub message: String,
    /// The start of the upstream's answer, if it answered.
    pub body: Option<String>,
    /// `1 KiB of 5.2 KiB`, when the body was cut.
    pub body_note: String,
    /// Its content type.
    pub content_type: String,
    /// When it failed.
    pub at: String,
}

/// One run as the pages show it.
#[derive(Clone, Debug, Default)]
pub struct RunView {
    /// The store's run id, if known.
    pub id: Option<i64>,
    /// `ok`, `failed`, `running`, `interrupted`, `fenced`.
    pub outcome: String,
    /// When it started.
    pub started_at: String,
    /// When it ended.
    pub finished_at: String,
    /// The host that ran it.
    pub host: String,
    /// Pages read.
    pub pages: u64,
    /// Records fetched.
    pub fetched: u64,
    /// Published.
    pub published: u64,
    /// Unchanged.
    pub unchanged: u64,
    /// Rejected.
    pub rejected: u64,
    /// Dead-lettered.
    pub dead_lettered: u64,
    /// Its total duration in ms.
    pub duration_ms: f64,
    /// Its duration, readable.
    pub duration: String,
    /// The component's digest (short).
    pub digest: String,
    /// HTTP requests made.
    pub requests: u64,
    /// Why it failed: the failure's kind.
    pub error_kind: String,
    /// The `connector-error` case, when the connector returned one.
    pub error_case: String,
    /// The error message.
    pub error_message: String,
    /// The failing request, if one was kept.
    pub failed_request: Option<FailedRequestView>,
    /// Records it did not publish, with why (the first few).
    pub problems: Vec<(String, String, String)>,
}

impl RunView {
    /// Whether it failed (or never finished).
    pub fn failed(&self) -> bool {
        matches!(self.outcome.as_str(), "failed" | "interrupted")
    }

    /// The CSS class of its outcome.
    pub fn class(&self) -> &'static str {
        outcome_class(&self.outcome)
    }

    /// A run report (JSON) as a view; `outcome` overrides the report's status (the
    /// store says `fenced` or `interrupted` where the report cannot).
    pub fn of_report(report: &Value, outcome: Option<&str>) -> RunView {
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        let s = |v: &Value| v.as_str().map(shown).unwrap_or_default();
        let error = &report["error"];
        let duration_ms = report["durations_ms"]["total"].as_f64().unwrap_or(f64::NAN);
        let problems = report["problems"]
            .as_array()
            .map(|all| all.iter().take(10).map(|p| (s(&p["kind"]), s(&p["where"]), s(&p["reason"]))).collect())
            .unwrap_or_default();
        RunView {
            id: None,
            outcome: outcome.map(str::to_string).unwrap_or_else(|| s(&report["status"])),
            started_at: time(report["started_at"].as_str().unwrap_or("")),
            finished_at: time(report["finished_at"].as_str().unwrap_or("")),
            host: String::new(),
            pages: n(&report["pages"]),
            fetched: n(&report["fetched"]),
            published: n(&report["published"]),
            unchanged: n(&report["skipped_unchanged"]),
            rejected: n(&report["rejected"]),
            dead_lettered: n(&report["dead_lettered"]),
            duration_ms,
            duration: duration(duration_ms),
            digest: short_digest(report["component"]["digest"].as_str().unwrap_or("")),
            requests: n(&report["http"]["requests"]),
            error_kind: s(&error["kind"]),
            error_case: s(&error["case"]),
            error_message: s(&error["message"]),
            failed_request: failed_request(&report["http"]["last_failed_request"]),
            problems,
        }
    }

    /// A run the store kept: its row, and its report when it has one.
    pub fn of_kept(kept: &crate::store::KeptRun) -> RunView {
        let report = kept.report.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok());
        let mut view = match &report {
            Some(r) => RunView::of_report(r, Some(&kept.run.status)),
            None => RunView {
                outcome: kept.run.status.clone(),
                started_at: time(&kept.run.started_at),
                finished_at: kept.run.finished_at.as_deref().map(time).unwrap_or_default(),
                duration_ms: f64::NAN,
                duration: "–".into(),
                ..RunView::default()
            },
        };
        view.id = Some(kept.run.id);
        view.host = kept.run.host.as_deref().map(shown).unwrap_or_default();
        view
    }
}

/// The CSS class of a run's outcome.
pub fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "ok" => "ok",
        "failed" | "interrupted" => "bad",
        "running" => "info",
        _ => "warn",
    }
}

fn failed_request(v: &Value) -> Option<FailedRequestView> {
    let o = v.as_object()?;
    let s = |k: &str| o.get(k).and_then(Value::as_str).map(shown).unwrap_or_default();
    let body = o.get("body_excerpt").and_then(Value::as_str).map(shown);
    let total = o.get("body_bytes").and_then(Value::as_u64);
    let kept = body.as_ref().map(|b| b.len() as u64).unwrap_or(0);
    let body_note = match total {
        Some(t) if t > kept => format!("the first {} of {}", bytes(kept), bytes(t)),
        Some(t) => bytes(t),
        None => String::new(),
    };
    Some(FailedRequestView {
        method: s("method"),
        url: s("url"),
        status: o.get("status").and_then(Value::as_u64).map(|c| c.to_string()).unwrap_or_else(|| "–".into()),
        case: s("case"),
        message: s("message"),
        body,
        body_note,
        content_type: s("content_type"),
        at: time(o.get("at").and_then(Value::as_str).unwrap_or("")),
    })
}

/// A size as a person reads it: `512 B`, `1.0 KiB`, `2.3 MiB`.
pub fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_failed_report_with_its_failing_request() {
        let report = serde_json::json!({
            "status": "failed", "started_at": "2026-12-01T21:30:05.123Z", "finished_at": "2026-12-01T21:30:06Z",
            "published": 3, "skipped_unchanged": 2, "rejected": 1, "durations_ms": {"total": 2400.0},
            "component": {"digest": "0123456789abcdef0123"},
            "error": {"kind": "connector_error", "case": "api", "message": "GET …: 503"},
            "http": {"requests": 2, "last_failed_request": {
                "method": "GET", "url": "http://u.test/x", "status": 503, "case": "api", "message": "m",
                "body_excerpt": "<b>down</b>", "body_bytes": 5000, "content_type": "text/html", "at": "2026-12-01T21:30:06Z"}}
        });
        let v = RunView::of_report(&report, None);
        assert!(v.failed());
        assert_eq!((v.published, v.unchanged, v.rejected), (3, 2, 1));
        assert_eq!(v.duration, "2.4 s");
        assert_eq!(v.started_at, "2026-12-01 21:30:05");
        assert_eq!(v.digest, "0123456789ab");
        let f = v.failed_request.unwrap();
        assert_eq!((f.status.as_str(), f.body.as_deref()), ("503", Some("<b>down</b>")));
        assert_eq!(f.body_note, "the first 11 B of 4.9 KiB");
        // A report without the fields shows them absent, not a failure.
        let empty = RunView::of_report(&serde_json::json!({}), Some("interrupted"));
        assert!(empty.failed() && empty.failed_request.is_none());
        assert_eq!(empty.duration, "–");
    }

    #[test]
    fn durations_and_sizes_read_as_a_person_would() {
        assert_eq!(duration(340.2), "340 ms");
        assert_eq!(duration(185_000.0), "3 min 5 s");
        assert_eq!(duration(3_600_000.0), "1 h");
        assert_eq!(duration(5_400_000.0), "1 h 30 min");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(relative("not a time"), None);
    }
}
