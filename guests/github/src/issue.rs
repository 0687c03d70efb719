//! One GitHub issue (or pull request) as a record and as envelope metadata.
//!
//! The record's `raw` is the issue object as GitHub sent it, untouched. The fields
//! the envelope needs are read from it: `number` (the id), `html_url`,
//! `updated_at` and `user.login` (provenance); `title`, `state`, the labels' names
//! and whether it is a pull request (metadata).

use connector_sdk::{Provenance, SourceRecord};
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// Turns one item of an issues list into a record, or says why it cannot be one.
/// `api_url` gives the issue's API URL, for `provenance.uri` when it has no `html_url`.
pub fn record(item: &RawValue, api_url: impl Fn(&str) -> String) -> Result<SourceRecord, String> {
    let value: Value = serde_json::from_str(item.get()).map_err(|e| format!("not JSON: {e}"))?;
    if !value.is_object() {
        return Err("not a JSON object".into());
    }
    let id = match value.get("number") {
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => return Err("no `number` field with a whole number".into()),
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
    let uri = text(value.get("html_url")).unwrap_or_else(|| api_url(&id));
    Ok(SourceRecord {
        raw: item.get().to_string(),
        provenance: Provenance {
            uri,
            etag: None,
            last_modified: text(value.get("updated_at")),
            author: text(value.pointer("/user/login")),
        },
        id,
    })
}

/// The envelope metadata of an issue record's `raw`: `kind` (`issue` or
/// `pull_request`: GitHub lists pull requests among issues, with a `pull_request`
/// key), `title`, `state` and `labels` (their names).
pub fn metadata(raw: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
    let is_pull_request = value.get("pull_request").is_some_and(|v| !v.is_null());
    let labels: Vec<&str> = value
        .get("labels")
        .and_then(Value::as_array)
        .map(|labels| {
            // A label is an object with a `name`; some older payloads give plain strings.
            labels.iter().filter_map(|l| l.get("name").and_then(Value::as_str).or_else(|| l.as_str())).collect()
        })
        .unwrap_or_default();
    Ok(json!({
        "kind": if is_pull_request { "pull_request" } else { "issue" },
        "title": value.get("title").and_then(Value::as_str).unwrap_or(""),
        "state": value.get("state").and_then(Value::as_str),
        "labels": labels,
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE: &str = r#"{"id": 1, "number": 1347, "title": "Found a bug", "body": null,
        "user": {"login": "octocat", "id": 1}, "labels": [{"id": 208045946, "name": "bug"}, {"name": "good first issue"}],
        "state": "open", "html_url": "https://github.com/octocat/Hello-World/issues/1347",
        "updated_at": "2011-04-22T13:33:48Z"}"#;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn an_issue() {
        let r = record(raw(ISSUE), |n| format!("api/{n}")).unwrap();
        assert_eq!(r.id, "1347");
        assert_eq!(r.raw, ISSUE);
        assert_eq!(r.provenance.uri, "https://github.com/octocat/Hello-World/issues/1347");
        assert_eq!(r.provenance.last_modified.as_deref(), Some("2011-04-22T13:33:48Z"));
        assert_eq!(r.provenance.author.as_deref(), Some("octocat"));
        assert_eq!(r.provenance.etag, None);
        let m: Value = serde_json::from_str(&metadata(ISSUE).unwrap()).unwrap();
        assert_eq!(
            m,
            json!({"kind": "issue", "title": "Found a bug", "state": "open", "labels": ["bug", "good first issue"]})
        );
    }

    #[test]
    fn a_pull_request_and_missing_fields() {
        let pr = r#"{"number": 2, "pull_request": {"url": "x"}, "labels": ["plain"]}"#;
        let r = record(raw(pr), |n| format!("https://api.test/repos/o/r/issues/{n}")).unwrap();
        assert_eq!(r.provenance.uri, "https://api.test/repos/o/r/issues/2");
        assert_eq!(r.provenance.author, None);
        let m: Value = serde_json::from_str(&metadata(pr).unwrap()).unwrap();
        assert_eq!(m, json!({"kind": "pull_request", "title": "", "state": null, "labels": ["plain"]}));
        let m: Value = serde_json::from_str(&metadata(r#"{"number": 3, "pull_request": null}"#).unwrap()).unwrap();
        assert_eq!(m["kind"], "issue");
    }

    #[test]
    fn items_that_are_not_issues() {
        let api = |n: &str| n.to_string();
        assert_eq!(record(raw("[1]"), api).unwrap_err(), "not a JSON object");
        assert_eq!(record(raw(r#"{"title": "x"}"#), api).unwrap_err(), "no `number` field with a whole number");
        assert_eq!(record(raw(r#"{"number": "7"}"#), api).unwrap_err(), "no `number` field with a whole number");
        assert_eq!(record(raw(r#"{"number": -1}"#), api).unwrap_err(), "no `number` field with a whole number");
    }
}
