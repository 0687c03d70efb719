//! Secrets the host injects into a connector's HTTP requests, and their redaction.
//!
//! A secret is read from the host's environment (`[[http.secrets]] from_env`) when
//! the manifest is loaded and added as a header to requests to one host. The guest
//! never sees the value. Every value is registered with a process-wide redactor as
//! soon as it is read, and every line the host writes to its log goes through
//! [`RedactingWriter`], so a value cannot leak through a log line, whoever wrote it
//! (the guest's own log lines included). Reports, recordings and responses handed to
//! the guest are passed through [`redact`] / [`redact_bytes`] as well.

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

/// What replaces a secret value wherever the host finds one.
pub const REDACTED: &str = "[REDACTED]";

/// Shorter values are not secrets worth the name, and redacting them would mangle
/// ordinary text; the manifest refuses them.
pub const MIN_SECRET_LEN: usize = 8;

/// A header value the host adds to requests to one host.
#[derive(Clone)]
pub struct Secret {
    /// The environment variable it was read from (safe to show).
    pub from_env: String,
    /// The host (exact, lower case) whose requests get it.
    pub host: String,
    /// The header name, lower case.
    pub header: String,
    /// The header value, formatted (`Bearer <token>`). Never logged.
    value: String,
    /// The bare secret value, for redaction.
    raw: String,
}

impl Secret {
    /// A secret for `host`'s requests: `header: format` with `{}` replaced by `raw`.
    pub fn new(from_env: &str, host: &str, header: &str, format: &str, raw: String) -> Secret {
        let value = format.replace("{}", &raw);
        register(&raw);
        register(&value);
        Secret {
            from_env: from_env.to_string(),
            host: host.to_ascii_lowercase(),
            header: header.to_ascii_lowercase(),
            value,
            raw,
        }
    }

    /// The header value to send.
    pub fn header_value(&self) -> &str {
        &self.value
    }

    /// The values that must never appear in anything the guest or a log sees.
    pub fn values(&self) -> [&str; 2] {
        [&self.value, &self.raw]
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("from_env", &self.from_env)
            .field("host", &self.host)
            .field("header", &self.header)
            .field("value", &REDACTED)
            .finish()
    }
}

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds `value` to the values redacted from every log line of this process.
pub fn register(value: &str) {
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|v| v == value) {
        all.push(value.to_string());
        // Longest first, so that `Bearer <token>` is replaced whole before `<token>`.
        all.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

/// `text` with every registered secret value replaced by [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let all = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if all.is_empty() || !all.iter().any(|v| text.contains(v.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for v in all.iter() {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), REDACTED);
        }
    }
    Cow::Owned(out)
}

/// `bytes` with every registered secret value replaced by [`REDACTED`]; `None` when
/// there was nothing to replace.
pub fn redact_bytes(bytes: &[u8]) -> Option<Vec<u8>> {
    let all = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if all.is_empty() || !all.iter().any(|v| memchr::memmem::find(bytes, v.as_bytes()).is_some()) {
        return None;
    }
    let mut out = bytes.to_vec();
    for v in all.iter() {
        let finder = memchr::memmem::Finder::new(v.as_bytes());
        if finder.find(&out).is_none() {
            continue;
        }
        let mut next = Vec::with_capacity(out.len());
        let mut at = 0;
        for hit in finder.find_iter(&out) {
            next.extend_from_slice(&out[at..hit]);
            next.extend_from_slice(REDACTED.as_bytes());
            at = hit + v.len();
        }
        next.extend_from_slice(&out[at..]);
        out = next;
    }
    Some(out)
}

/// A log writer that redacts every registered secret before a line reaches stderr.
/// Each log event is buffered whole and redacted when the writer is dropped (the
/// formatter makes one writer per event), so a value split across two `write`
/// calls is still found.
pub struct RedactingWriter {
    buf: Vec<u8>,
}

impl RedactingWriter {
    /// A writer for one log event.
    pub fn new() -> RedactingWriter {
        RedactingWriter { buf: Vec::with_capacity(256) }
    }
}

impl Default for RedactingWriter {
    fn default() -> Self {
        RedactingWriter::new()
    }
}

impl Write for RedactingWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.buf);
        let out = redact_bytes(&bytes).unwrap_or(bytes);
        let out = one_line(out);
        // A log line that cannot be written is not worth failing anything for.
        let _ = std::io::stderr().lock().write_all(&out);
    }
}

/// A log event as exactly one line: whatever its fields hold (a guest's text may be
/// in any of them), control characters, bidirectional overrides and line separators
/// are escaped, and only the final newline is kept, so no event can forge another
/// line, move the cursor or retitle the operator's terminal.
fn one_line(event: Vec<u8>) -> Vec<u8> {
    let (body, newline) = match event.strip_suffix(b"\n") {
        Some(body) => (body, true),
        None => (&event[..], false),
    };
    let text = String::from_utf8_lossy(body);
    let escaped = crate::untrusted::escape(&text);
    if !newline && matches!((&text, &escaped), (Cow::Borrowed(_), Cow::Borrowed(_))) {
        return event;
    }
    let mut out = escaped.into_owned().into_bytes();
    if newline {
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_registered_values_longest_first() {
        let s = Secret::new("TOKEN", "API.example.com", "Authorization", "Bearer {}", "s3cr3t-value-123".into());
        assert_eq!(s.host, "api.example.com");
        assert_eq!(s.header, "authorization");
        assert_eq!(s.header_value(), "Bearer s3cr3t-value-123");
        assert_eq!(redact("auth: Bearer s3cr3t-value-123 ok"), "auth: [REDACTED] ok");
        assert_eq!(redact("raw s3cr3t-value-123"), "raw [REDACTED]");
        assert_eq!(redact("nothing here"), "nothing here");
        assert_eq!(redact_bytes(b"x s3cr3t-value-123 y s3cr3t-value-123").unwrap(), b"x [REDACTED] y [REDACTED]");
        assert!(redact_bytes(b"clean").is_none());
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_log_event_is_one_line_without_control_characters() {
        assert_eq!(one_line(b"INFO plain\n".to_vec()), b"INFO plain\n");
        assert_eq!(
            one_line(b"WARN x\r\nINFO forged \x1b[2J\xe2\x80\xae\n".to_vec()),
            b"WARN x\\r\\nINFO forged \\u{1b}[2J\\u{202e}\n".to_vec()
        );
    }
}
