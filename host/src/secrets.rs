//! Secrets the host injects into a connector's HTTP requests, and their redaction.
//!
//! A secret is a header the host adds to requests to one host; its value comes from
//! a [`Source`] (`[[http.secrets]]`: `from_env`, `from_file`, `from_command`, a
//! `chain` of them) or from an OAuth2 token endpoint (`oauth2`), resolved and cached
//! by the connector's egress (`crate::egress::credentials`). The guest never sees a
//! value. Every value is registered with a process-wide redactor ([`register`])
//! before it is first used, and every line the host writes to its log goes through
//! [`RedactingWriter`], so a value cannot leak through a log line, whoever wrote it
//! (the guest's own log lines included). Reports, recordings and error messages are
//! passed through [`redact`] as well.
//!
//! Response bodies are a different matter: they are the connector's data. The host
//! replaces in them only the values *this connector* sends (a [`Values`] of its
//! own), which can only be there because the upstream echoed a credential; it counts
//! every replacement in the run report (`http.redacted`) and logs a warning, so a
//! redaction never rewrites record data silently. Plain headers (`http.headers`) are
//! not secrets and are never redacted anywhere.

pub mod source;

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;
use std::time::Duration;

pub use source::Source;

/// What replaces a secret value wherever the host finds one.
pub const REDACTED: &str = "[REDACTED]";

/// Shorter values are not secrets worth the name, and redacting them would mangle
/// ordinary text; the host refuses them wherever they come from.
pub const MIN_SECRET_LEN: usize = 8;

/// A header value the host adds to requests to one host.
#[derive(Clone)]
pub struct Secret {
    /// Where the value comes from, safe to show: the environment variable's name,
    /// `file PATH`, `command NAME`, `chain of N`, `oauth2 ORIGIN`. (The field keeps
    /// the name it had when environment variables were the only source.)
    pub from_env: String,
    /// The manifest key of this secret (`http.secrets[0]`), for messages.
    pub key: String,
    /// The host (exact, lower case) whose requests get it.
    pub host: String,
    /// The header name, lower case.
    pub header: String,
    /// The header value, `{}` standing for the secret.
    pub format: String,
    /// Where the value comes from.
    pub value: SecretValue,
    /// How long a resolved value is reused before it is resolved again (`ttl_ms`).
    pub ttl: Option<Duration>,
    /// The bare value read when the manifest was loaded (`from_env`, `from_file`),
    /// if it was; never logged.
    pub loaded: Option<String>,
}

/// How a secret's value is obtained.
#[derive(Clone, Debug)]
pub enum SecretValue {
    /// From a source (environment, file, command, chain).
    Source(Source),
    /// An access token from an OAuth2 client-credentials grant.
    OAuth2(Box<OAuth2>),
}

/// An OAuth2 client-credentials grant (`[[http.secrets]] oauth2 = {...}`).
#[derive(Clone, Debug)]
pub struct OAuth2 {
    /// The token endpoint.
    pub token_url: url::Url,
    /// The client id (not a secret).
    pub client_id: String,
    /// The client secret.
    pub client_secret: Source,
    /// `scope`, if any.
    pub scope: Option<String>,
    /// `audience`, if any.
    pub audience: Option<String>,
    /// `resource`, if any (Azure AD v1).
    pub resource: Option<String>,
}

impl Secret {
    /// The secret with its loaded value (if any) registered with the redactor.
    pub fn registered(self) -> Secret {
        if let Some(raw) = &self.loaded {
            register(raw);
            register(&self.header_value(raw));
        }
        self
    }

    /// The header value for the bare secret `raw`.
    pub fn header_value(&self, raw: &str) -> String {
        self.format.replace("{}", raw)
    }

    /// The values known since the manifest was loaded (the secret's, its OAuth2
    /// client secret's, a chain's environment variables'), bare and formatted.
    pub fn known_values(&self) -> Vec<String> {
        fn walk(s: &Source, out: &mut Vec<String>) {
            match s {
                Source::Env { value: Some(v), .. } if v.len() >= MIN_SECRET_LEN => out.push(v.clone()),
                Source::Chain(all) => all.iter().for_each(|s| walk(s, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        match &self.value {
            SecretValue::Source(s) => walk(s, &mut out),
            SecretValue::OAuth2(o) => walk(&o.client_secret, &mut out),
        }
        if let Some(v) = &self.loaded {
            out.push(self.header_value(v));
            out.push(v.clone());
        }
        out
    }

    /// The bare value read when the manifest was loaded, if any.
    pub fn loaded(&self) -> Option<&str> {
        self.loaded.as_deref()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("from", &self.from_env)
            .field("host", &self.host)
            .field("header", &self.header)
            .field("value", &REDACTED)
            .finish()
    }
}

/// Checks a secret value from any source: long enough to be one, and on one line.
pub fn check_value(value: &str) -> Result<(), String> {
    if value.len() < MIN_SECRET_LEN {
        return Err(format!("the value has fewer than {MIN_SECRET_LEN} bytes; that is too short to be a secret"));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err("the value holds a line break or NUL".into());
    }
    Ok(())
}

/// Secret values, longest first (so that `Bearer <token>` is replaced whole before
/// `<token>`), and their replacement. Its `Debug` never shows them.
#[derive(Clone, Default)]
pub struct Values(Vec<String>);

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Values({} redacted)", self.0.len())
    }
}

impl Values {
    /// Adds `value` (ignored when shorter than [`MIN_SECRET_LEN`]); whether it is new.
    pub fn add(&mut self, value: &str) -> bool {
        if value.len() < MIN_SECRET_LEN || self.0.iter().any(|v| v == value) {
            return false;
        }
        self.0.push(value.to_string());
        self.0.sort_by_key(|v| std::cmp::Reverse(v.len()));
        true
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every value replaced by [`REDACTED`], and how many were replaced.
    pub fn redact<'a>(&self, text: &'a str) -> (Cow<'a, str>, u64) {
        match self.redact_bytes(text.as_bytes()) {
            (None, _) => (Cow::Borrowed(text), 0),
            // Replacing whole UTF-8 strings in UTF-8 text leaves it UTF-8.
            (Some(b), n) => (Cow::Owned(String::from_utf8(b).expect("UTF-8 stays UTF-8")), n),
        }
    }

    /// `bytes` with every value replaced by [`REDACTED`] (`None` when there was
    /// nothing to replace), and how many were replaced.
    pub fn redact_bytes(&self, bytes: &[u8]) -> (Option<Vec<u8>>, u64) {
        if self.0.is_empty() || !self.0.iter().any(|v| memchr::memmem::find(bytes, v.as_bytes()).is_some()) {
            return (None, 0);
        }
        let mut out = bytes.to_vec();
        let mut count = 0;
        for v in &self.0 {
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
                count += 1;
            }
            next.extend_from_slice(&out[at..]);
            out = next;
        }
        (Some(out), count)
    }
}

static SECRETS: RwLock<Values> = RwLock::new(Values(Vec::new()));

/// Adds `value` to the values redacted from every log line, error, report and
/// recording of this process.
pub fn register(value: &str) {
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    let known = SECRETS.read().unwrap_or_else(|e| e.into_inner()).0.iter().any(|v| v == value);
    if !known {
        SECRETS.write().unwrap_or_else(|e| e.into_inner()).add(value);
    }
}

/// `text` with every registered secret value replaced by [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    SECRETS.read().unwrap_or_else(|e| e.into_inner()).redact(text).0
}

/// `bytes` with every registered secret value replaced by [`REDACTED`]; `None` when
/// there was nothing to replace.
pub fn redact_bytes(bytes: &[u8]) -> Option<Vec<u8>> {
    SECRETS.read().unwrap_or_else(|e| e.into_inner()).redact_bytes(bytes).0
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
        let raw = "s3cr3t-value-123".to_string();
        let source = SecretValue::Source(Source::Env { var: "TOKEN".into(), value: Some(raw.clone()) });
        let s = Secret {
            from_env: "TOKEN".into(),
            key: "k".into(),
            host: "api.example.com".into(),
            header: "authorization".into(),
            format: "Bearer {}".into(),
            value: source,
            ttl: None,
            loaded: Some(raw),
        }
        .registered();
        assert_eq!(s.header_value("s3cr3t-value-123"), "Bearer s3cr3t-value-123");
        assert_eq!(redact("auth: Bearer s3cr3t-value-123 ok"), "auth: [REDACTED] ok");
        assert_eq!(redact("raw s3cr3t-value-123"), "raw [REDACTED]");
        assert_eq!(redact("nothing here"), "nothing here");
        assert_eq!(redact_bytes(b"x s3cr3t-value-123 y s3cr3t-value-123").unwrap(), b"x [REDACTED] y [REDACTED]");
        assert!(redact_bytes(b"clean").is_none());
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn own_values_count_what_they_replace() {
        let mut own = Values::default();
        assert!(own.add("Bearer abcdefgh-123"));
        assert!(own.add("abcdefgh-123"));
        assert!(!own.add("short"));
        let (text, n) = own.redact("x Bearer abcdefgh-123 y abcdefgh-123 z");
        assert_eq!((text.as_ref(), n), ("x [REDACTED] y [REDACTED] z", 2));
        assert_eq!(own.redact("clean").1, 0);
        assert!(!format!("{own:?}").contains("abcdefgh"));
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
