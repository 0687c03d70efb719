//! What a run keeps of its last failed HTTP request, for an operator debugging it
//! (the console's connector page shows it): the method, the URL, the status, and the
//! first KiB of the upstream's answer.
//!
//! Everything here is hostile (the URL is the guest's, the body the upstream's) and
//! may hold a secret (an upstream that echoes the credential the host injected), so
//! it is built once, here, where the connector's own secret values are known: cut to
//! a bound, with every secret value the connector sends and every one the process
//! knows replaced by `[REDACTED]`, and control characters escaped (line breaks and
//! tabs kept, so a JSON or HTML error page stays readable). The host's injected
//! headers are never part of it.

use serde::Serialize;

use crate::contract::{ConnectorError, ErrorCase};
use crate::secrets::Values;

/// The most bytes of the upstream's answer kept.
pub const MAX_BODY_EXCERPT: usize = 1024;

/// The most bytes of the URL kept.
pub const MAX_URL: usize = 2048;

/// The most bytes of the error message kept.
pub const MAX_MESSAGE: usize = 1024;

/// How far past the excerpt the process-wide redaction looks, so that a secret
/// value that starts inside the excerpt and ends after it is still found (a header
/// value, so at most this long).
const REDACT_MARGIN: usize = crate::contract::http::MAX_HEADER_BYTES;

/// The last request of a run that ended in an error for the guest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The URL the connector asked for (cut to [`MAX_URL`] bytes, secrets redacted).
    pub url: String,
    /// The upstream's status, when it answered at all (a refused connection, a
    /// timeout or a denial by the host have none).
    pub status: Option<u16>,
    /// The `connector-error` case the guest was given (`api`, `network`, `denied` …).
    pub case: ErrorCase,
    /// The error message the guest was given (cut, secrets redacted).
    pub message: String,
    /// The first [`MAX_BODY_EXCERPT`] bytes of the answer's body, as lossy UTF-8
    /// with secrets redacted and control characters escaped.
    pub body_excerpt: Option<String>,
    /// The body's whole length, in bytes.
    pub body_bytes: Option<u64>,
    /// Its `content-type`, if it said.
    pub content_type: Option<String>,
    /// When it failed (RFC 3339 UTC).
    pub at: String,
}

/// The upstream's last answer to a request that failed, as read off the wire.
#[derive(Debug, Default)]
pub struct LastAnswer {
    /// Its status.
    pub status: u16,
    /// Its `content-type`.
    pub content_type: Option<String>,
    /// The start of its body (a little more than the excerpt, for redaction).
    pub head: Vec<u8>,
    /// The body's whole length.
    pub len: u64,
}

impl LastAnswer {
    /// What to keep of an answer of `status` with `headers` and `body`.
    pub fn of(status: u16, headers: &[(String, String)], body: &[u8]) -> LastAnswer {
        let content_type = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-type")).map(|(_, v)| v);
        LastAnswer {
            status,
            content_type: content_type.map(|v| crate::untrusted::capped(v, 200)),
            head: body[..body.len().min(MAX_BODY_EXCERPT + REDACT_MARGIN)].to_vec(),
            len: body.len() as u64,
        }
    }
}

impl FailedRequest {
    /// The record of `method url` failing with `error`, after `answer` if the
    /// upstream answered; `own` are the secret values this connector sends.
    pub fn new(method: &str, url: &str, error: &ConnectorError, answer: Option<LastAnswer>, own: &Values) -> Self {
        let clean = |text: &str, max: usize| -> String {
            let text = crate::untrusted::cap(text, max);
            let (text, _) = own.redact(&text);
            crate::untrusted::escape(&crate::secrets::redact(&text)).into_owned()
        };
        let (status, content_type, body_excerpt, body_bytes) = match answer {
            Some(a) => {
                (Some(a.status), a.content_type.map(|t| clean(&t, 200)), Some(excerpt(&a.head, own)), Some(a.len))
            }
            None => (None, None, None, None),
        };
        FailedRequest {
            method: clean(method, 16),
            url: clean(url, MAX_URL),
            status,
            case: error.case,
            message: clean(&error.message, MAX_MESSAGE),
            body_excerpt,
            body_bytes,
            content_type,
            at: crate::timestamp::now(),
        }
    }
}

/// The first [`MAX_BODY_EXCERPT`] bytes of `head`, redacted before the cut (so no
/// part of a secret across the cut survives), control characters but line breaks
/// and tabs escaped.
fn excerpt(head: &[u8], own: &Values) -> String {
    let (mine, _) = own.redact_bytes(head);
    let head = mine.as_deref().unwrap_or(head);
    let all = crate::secrets::redact_bytes(head);
    let head = all.as_deref().unwrap_or(head);
    let mut cut = &head[..head.len().min(MAX_BODY_EXCERPT)];
    // Do not cut a character in two.
    if let Err(e) = std::str::from_utf8(cut)
        && e.error_len().is_none()
    {
        cut = &cut[..e.valid_up_to()];
    }
    let text = String::from_utf8_lossy(cut);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if crate::untrusted::is_unsafe(c) && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(secret: &str) -> Values {
        let mut v = Values::default();
        v.add(secret);
        v
    }

    #[test]
    fn keeps_the_start_of_the_answer_with_the_connectors_secrets_redacted() {
        let own = values("s3cr3t-value-123");
        let mut body = b"{\"error\": \"overloaded\",\n \"echo\": \"Bearer s3cr3t-value-123\"}\x1b[2J".to_vec();
        body.extend(std::iter::repeat_n(b'x', 5000));
        let answer = LastAnswer::of(503, &[("content-type".into(), "application/json".into())], &body);
        let error = ConnectorError::api(503, "GET http://u.test/items: 503 s3cr3t-value-123");
        let f = FailedRequest::new("GET", "http://u.test/items?page=1", &error, Some(answer), &own);
        let text = f.body_excerpt.as_deref().unwrap();
        assert!(text.starts_with("{\"error\": \"overloaded\",\n \"echo\": \"Bearer [REDACTED]\"}\\u{1b}[2J"), "{text}");
        // A KiB of the answer (the escape of ESC makes the text a few bytes longer).
        assert!(text.ends_with('x') && text.len() > MAX_BODY_EXCERPT - 40 && text.len() < MAX_BODY_EXCERPT + 8);
        assert_eq!(f.body_bytes, Some(body.len() as u64));
        assert_eq!(f.status, Some(503));
        assert_eq!(f.case, ErrorCase::Api);
        assert!(!f.message.contains("s3cr3t"), "{}", f.message);
        assert_eq!(f.content_type.as_deref(), Some("application/json"));
    }

    #[test]
    fn a_secret_across_the_cut_is_redacted_whole() {
        let secret = "abcdefgh-secret-across";
        let own = values(secret);
        let mut body = vec![b'.'; MAX_BODY_EXCERPT - 5];
        body.extend(secret.as_bytes());
        let f = FailedRequest::new(
            "GET",
            "http://u.test/",
            &ConnectorError::api(500, "x"),
            Some(LastAnswer::of(500, &[], &body)),
            &own,
        );
        let text = f.body_excerpt.unwrap();
        assert!(!text.contains("abcde"), "{}", &text[text.len() - 20..]);
    }
}
