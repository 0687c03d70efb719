//! The manifest's `[http]` section: where a connector may send requests, with which
//! secrets, and how the host retries, breaks circuits and rate-limits for it.
//!
//! ```toml
//! [http]
//! allow = ["https://api.github.com", "https://*.sharepoint.com", "http://127.0.0.1:8089"]
//! total_timeout_ms = 60000
//! [http.retry]
//! max_retries = 3
//! ca_files = ["certs/internal-ca.pem"]  # trusted besides the web PKI, for this connector
//! [http.headers]                      # plain, non-secret headers for every request
//! "X-GitHub-Api-Version" = "2022-11-28"
//! [http.host_headers."api.github.com"]  # … or for one host's requests
//! Accept = "application/vnd.github+json"
//! [[http.secrets]]
//! from_env = "GITHUB_TOKEN"            # or from_file, from_command, chain, oauth2
//! host = "api.github.com"
//! header = "Authorization"
//! format = "Bearer {}"
//! ```
//!
//! No `allow`, no HTTP. An entry names a scheme, a host (exact, or `*.` for any
//! subdomain) and a port (the scheme's default when absent), and all three must
//! match a request.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::secrets::source::{DEFAULT_COMMAND_TIMEOUT, Source};
use crate::secrets::{MIN_SECRET_LEN, OAuth2, Secret, SecretValue};

/// What the manifest grants a connector over HTTP, checked and with secrets read.
#[derive(Clone, Debug, Default)]
pub struct HttpGrant {
    /// Origins the connector may reach.
    pub allow: Vec<AllowRule>,
    /// Headers the host adds to requests to a host.
    pub secrets: Vec<Secret>,
    /// Plain headers the host adds (`http.headers`, `http.host_headers`).
    pub headers: Vec<PlainHeader>,
    /// Certificate authorities trusted for this connector's HTTPS besides the web
    /// PKI's roots (`http.ca_files`), each with the file it came from.
    pub extra_roots: Vec<ExtraRoots>,
    /// Timeouts, caps, retry, breaker and rate limit.
    pub settings: HttpSettings,
}

/// The certificates of one `http.ca_files` entry.
#[derive(Clone, Debug)]
pub struct ExtraRoots {
    /// The file, as resolved against the manifest's directory.
    pub path: std::path::PathBuf,
    /// Its certificates.
    pub certificates: Vec<reqwest::Certificate>,
}

/// Reads the PEM certificates of each of `files` (relative to `base`). Errors are
/// `(key, message)`.
pub fn read_extra_roots(files: &[String], base: &std::path::Path) -> Result<Vec<ExtraRoots>, (String, String)> {
    let mut roots = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let key = format!("http.ca_files[{i}]");
        let path = base.join(file);
        let pem = crate::files::read_bounded(&path, crate::files::MAX_CA_FILE, "a CA file")
            .map_err(|e| (key.clone(), format!("cannot read {}: {e}", path.display())))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| (key.clone(), format!("{} is not a PEM certificate bundle: {e}", path.display())))?;
        if certificates.is_empty() {
            return Err((key, format!("{} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)", path.display())));
        }
        roots.push(ExtraRoots { path, certificates });
    }
    Ok(roots)
}

impl HttpGrant {
    /// The rule that allows `url`, if any.
    pub fn allows(&self, url: &url::Url) -> Option<&AllowRule> {
        self.allow.iter().find(|r| r.matches(url))
    }

    /// The plain headers for a request to `host`: a header for that host replaces
    /// one of the same name for every host.
    pub fn plain_headers<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a PlainHeader> + 'a {
        self.headers.iter().filter(move |h| match &h.host {
            Some(for_host) => for_host == host,
            None => !self.headers.iter().any(|o| o.name == h.name && o.host.as_deref() == Some(host)),
        })
    }
}

/// A plain, non-secret header from the manifest.
#[derive(Clone, Debug)]
pub struct PlainHeader {
    /// The host whose requests get it; `None` for every host.
    pub host: Option<String>,
    /// The name.
    pub name: HeaderName,
    /// The value.
    pub value: HeaderValue,
}

/// One entry of `http.allow`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowRule {
    /// `http` or `https`.
    pub scheme: String,
    /// Which hosts.
    pub host: HostPattern,
    /// The port.
    pub port: u16,
    /// The entry as written, for messages.
    pub text: String,
}

/// The host part of an allow rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this DNS name (lower case, no trailing dot).
    Exact(String),
    /// Any subdomain of this name (`*.example.com`), not the name itself.
    Subdomains(String),
    /// This address, written literally: the only way to allow a loopback, private or
    /// link-local address.
    Ip(IpAddr),
}

impl AllowRule {
    /// Parses an `http.allow` entry.
    pub fn parse(entry: &str) -> Result<AllowRule, String> {
        let (scheme, rest) =
            entry.split_once("://").ok_or_else(|| format!("`{entry}` is not an origin like `https://host[:port]`"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("`{entry}`: the scheme must be http or https"));
        }
        let (wildcard, rest) = match rest.strip_prefix("*.") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let url = url::Url::parse(&format!("{scheme}://{rest}")).map_err(|e| format!("`{entry}`: {e}"))?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!("`{entry}`: an allow entry is an origin; it must not have a path or query"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("`{entry}`: an allow entry must not carry credentials (use [[http.secrets]])"));
        }
        let port = url.port_or_known_default().ok_or_else(|| format!("`{entry}` has no port"))?;
        let host = match url.host() {
            Some(url::Host::Domain(d)) if wildcard => HostPattern::Subdomains(normalize(d)),
            Some(url::Host::Domain(d)) => HostPattern::Exact(normalize(d)),
            Some(url::Host::Ipv4(ip)) if !wildcard => HostPattern::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) if !wildcard => HostPattern::Ip(IpAddr::V6(ip)),
            Some(_) => return Err(format!("`{entry}`: `*.` applies to DNS names, not addresses")),
            None => return Err(format!("`{entry}` names no host")),
        };
        Ok(AllowRule { scheme, host, port, text: entry.to_string() })
    }

    /// Whether `url` is within this rule: scheme, host and port.
    pub fn matches(&self, url: &url::Url) -> bool {
        if url.scheme() != self.scheme || url.port_or_known_default() != Some(self.port) {
            return false;
        }
        match (&self.host, url.host()) {
            (HostPattern::Exact(h), Some(url::Host::Domain(d))) => normalize(d) == *h,
            (HostPattern::Subdomains(h), Some(url::Host::Domain(d))) => {
                let d = normalize(d);
                d.len() > h.len() + 1 && d.ends_with(h.as_str()) && d.as_bytes()[d.len() - h.len() - 1] == b'.'
            }
            (HostPattern::Ip(ip), Some(url::Host::Ipv4(a))) => *ip == IpAddr::V4(a),
            (HostPattern::Ip(ip), Some(url::Host::Ipv6(a))) => *ip == IpAddr::V6(a),
            _ => false,
        }
    }

    /// Whether the rule names an address literally (so that address is allowed even
    /// if it is loopback or private).
    pub fn literal_ip(&self) -> Option<IpAddr> {
        match self.host {
            HostPattern::Ip(ip) => Some(ip),
            _ => None,
        }
    }
}

fn normalize(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// `[http]` as written (every key optional but `allow`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// The origins the connector may reach.
    pub allow: Vec<String>,
    /// Time to connect (TCP and TLS), in milliseconds.
    pub connect_timeout_ms: u64,
    /// Time from sending a request to its response's status line, in milliseconds.
    pub first_byte_timeout_ms: u64,
    /// Time for one whole exchange (redirects and the body included), in milliseconds.
    /// A guest's `timeout-ms` may shorten it, never lengthen it.
    pub total_timeout_ms: u64,
    /// Largest response body, in bytes, before and after decompression.
    pub max_body_bytes: u64,
    /// Most redirects the host follows for one request.
    pub max_redirects: u32,
    /// Retries of transient failures.
    pub retry: RetrySettings,
    /// The circuit breaker per upstream host.
    pub breaker: BreakerSettings,
    /// The connector's request rate.
    pub rate_limit: RateLimitSettings,
    /// Headers the host adds to requests to one host.
    pub secrets: Vec<SecretSettings>,
    /// Plain headers for every request: name → value.
    pub headers: BTreeMap<String, String>,
    /// Plain headers for one host's requests: host → name → value.
    pub host_headers: BTreeMap<String, BTreeMap<String, String>>,
    /// PEM files of certificate authorities to trust, for this connector only, besides
    /// the web PKI's roots (an internal CA); relative to the manifest's directory.
    pub ca_files: Vec<String>,
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            allow: Vec::new(),
            connect_timeout_ms: 10_000,
            first_byte_timeout_ms: 30_000,
            total_timeout_ms: 60_000,
            max_body_bytes: 16 << 20,
            max_redirects: 5,
            retry: RetrySettings::default(),
            breaker: BreakerSettings::default(),
            rate_limit: RateLimitSettings::default(),
            secrets: Vec::new(),
            headers: BTreeMap::new(),
            host_headers: BTreeMap::new(),
            ca_files: Vec::new(),
        }
    }
}

/// `[http.retry]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff, in milliseconds; doubled on every retry.
    pub base_delay_ms: u64,
    /// The longest backoff, in milliseconds.
    pub max_delay_ms: u64,
    /// The longest `Retry-After` (or rate-limit pause) the host waits out; a longer
    /// one is returned to the guest as `rate-limited`.
    pub max_retry_after_ms: u64,
    /// Jitter, as a fraction of the backoff (0.2 = ±20 %).
    pub jitter: f64,
    /// Retry POST and PATCH too (they are not idempotent).
    pub retry_non_idempotent: bool,
}

impl Default for RetrySettings {
    fn default() -> RetrySettings {
        RetrySettings {
            max_retries: 3,
            base_delay_ms: 1000,
            max_delay_ms: 30_000,
            max_retry_after_ms: 60_000,
            jitter: 0.2,
            retry_non_idempotent: false,
        }
    }
}

/// `[http.breaker]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    /// Consecutive failures (5xx, timeouts, resets) that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open, in milliseconds.
    pub reset_ms: u64,
    /// Requests let through while half-open.
    pub half_open_probes: u32,
}

impl Default for BreakerSettings {
    fn default() -> BreakerSettings {
        BreakerSettings { failure_threshold: 5, reset_ms: 30_000, half_open_probes: 1 }
    }
}

/// `[http.rate_limit]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    /// Requests per second, on average.
    pub requests_per_second: f64,
    /// Requests that may go at once after a quiet spell.
    pub burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> RateLimitSettings {
        RateLimitSettings { requests_per_second: 10.0, burst: 20 }
    }
}

/// One `[[http.secrets]]`: exactly one of `from_env`, `from_file`, `from_command`,
/// `chain` and `oauth2`. The source keys repeat those of [`SourceSettings`] rather than
/// flattening it in: serde's `deny_unknown_fields`, which makes a misspelt key an
/// error, does not work together with `flatten`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    /// The environment variable holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    /// A file holding the value (relative to the manifest), read again when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_file: Option<String>,
    /// A credential helper (argv, no shell) whose stdout is the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_command: Option<Vec<String>>,
    /// The helper's timeout, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Sources tried in order; the first that yields a value wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Vec<SourceSettings>>,
    /// An OAuth2 client-credentials grant whose access token is the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Settings>,
    /// How long a value is reused before it is resolved again, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
    /// The host whose requests get the header.
    pub host: String,
    /// The header.
    #[serde(default = "default_secret_header")]
    pub header: String,
    /// The header's value, `{}` standing for the secret.
    #[serde(default = "default_secret_format")]
    pub format: String,
}

/// A secret source (`oauth2.client_secret`, or an entry of `chain`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// The environment variable holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    /// A file holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_file: Option<String>,
    /// A credential helper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_command: Option<Vec<String>>,
    /// The helper's timeout, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Sources tried in order (not inside a chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Vec<SourceSettings>>,
}

/// `oauth2 = { ... }` of a secret: the client-credentials grant.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Settings {
    /// The token endpoint (`https://login.microsoftonline.com/${SP_TENANT_ID}/oauth2/v2.0/token`).
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// Where the client secret comes from.
    pub client_secret: SourceSettings,
    /// `scope`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `audience`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// `resource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

fn default_secret_header() -> String {
    "Authorization".into()
}

fn default_secret_format() -> String {
    "Bearer {}".into()
}

/// Headers a guest may never set: the host owns them.
pub const HOST_OWNED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// Checks `[http]` and reads its secrets from `env` (files relative to `base`).
/// Errors are `(key, message)`.
pub fn grant(
    settings: HttpSettings,
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
) -> Result<HttpGrant, (String, String)> {
    let mut allow = Vec::new();
    for (i, entry) in settings.allow.iter().enumerate() {
        allow.push(AllowRule::parse(entry).map_err(|m| (format!("http.allow[{i}]"), m))?);
    }
    let ranges: [(&str, u64, u64, u64); 4] = [
        ("connect_timeout_ms", settings.connect_timeout_ms, 1, 600_000),
        ("first_byte_timeout_ms", settings.first_byte_timeout_ms, 1, 3_600_000),
        ("total_timeout_ms", settings.total_timeout_ms, 1, 3_600_000),
        ("max_body_bytes", settings.max_body_bytes, 1, 1 << 30),
    ];
    for (key, value, lo, hi) in ranges {
        if !(lo..=hi).contains(&value) {
            return Err((format!("http.{key}"), format!("is {value}; it must be from {lo} to {hi}")));
        }
    }
    if settings.max_redirects > 20 {
        return Err(("http.max_redirects".into(), format!("is {}; it must be at most 20", settings.max_redirects)));
    }
    let r = &settings.retry;
    if r.max_retries > 10 {
        return Err(("http.retry.max_retries".into(), format!("is {}; it must be at most 10", r.max_retries)));
    }
    if !(0.0..=1.0).contains(&r.jitter) {
        return Err(("http.retry.jitter".into(), format!("is {}; it must be from 0 to 1", r.jitter)));
    }
    if r.max_delay_ms < r.base_delay_ms {
        return Err((
            "http.retry.max_delay_ms".into(),
            format!("is {}; it must be at least base_delay_ms ({})", r.max_delay_ms, r.base_delay_ms),
        ));
    }
    if settings.breaker.failure_threshold == 0 || settings.breaker.half_open_probes == 0 {
        return Err(("http.breaker".into(), "failure_threshold and half_open_probes must be at least 1".into()));
    }
    let rl = &settings.rate_limit;
    if !(rl.requests_per_second > 0.0 && rl.requests_per_second.is_finite()) || rl.burst == 0 {
        return Err((
            "http.rate_limit".into(),
            format!("requests_per_second ({}) and burst ({}) must be above 0", rl.requests_per_second, rl.burst),
        ));
    }

    let mut secrets = Vec::new();
    for (i, s) in settings.secrets.iter().enumerate() {
        secrets.push(secret(&format!("http.secrets[{i}]"), s, &allow, env, base)?);
    }
    let headers = plain_headers(&settings, &allow, &secrets)?;
    Ok(HttpGrant { allow, secrets, headers, extra_roots: Vec::new(), settings })
}

/// Whether `host` is exactly one of the hosts `allow` names (not by `*.`).
fn covered(allow: &[AllowRule], host: &str) -> bool {
    allow.iter().any(|r| match &r.host {
        HostPattern::Exact(h) => h == host,
        HostPattern::Ip(ip) => ip.to_string() == host.trim_start_matches('[').trim_end_matches(']'),
        HostPattern::Subdomains(_) => false,
    })
}

/// Checks one `[[http.secrets]]` and reads what can be read when loading.
fn secret(
    key: &str,
    s: &SecretSettings,
    allow: &[AllowRule],
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
) -> Result<Secret, (String, String)> {
    let host = normalize(&s.host);
    if !covered(allow, &host) {
        return Err((
            format!("{key}.host"),
            format!("`{}` is not exactly one of the hosts in http.allow; a secret goes to one granted host", s.host),
        ));
    }
    let header = s.header.to_ascii_lowercase();
    if header.is_empty() || !header.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
        return Err((format!("{key}.header"), format!("`{}` is not a header name", s.header)));
    }
    if HOST_OWNED_HEADERS.contains(&header.as_str()) || header == "accept-encoding" {
        return Err((format!("{key}.header"), format!("`{}` is managed by the host", s.header)));
    }
    if !s.format.contains("{}") || s.format.contains(['\r', '\n', '\0']) {
        return Err((format!("{key}.format"), "must contain `{}` (where the secret goes) and no line break".into()));
    }
    let ttl = match s.ttl_ms {
        None => None,
        Some(ms @ 1..=86_400_000) => Some(Duration::from_millis(ms)),
        Some(ms) => return Err((format!("{key}.ttl_ms"), format!("is {ms}; it must be from 1 to 86400000"))),
    };
    let (value, loaded) = match &s.oauth2 {
        Some(o) => {
            let given = [s.from_env.is_some(), s.from_file.is_some(), s.from_command.is_some(), s.chain.is_some()];
            if given.iter().any(|g| *g) || s.timeout_ms.is_some() {
                return Err((
                    key.to_string(),
                    "takes its value from `oauth2` or from one source (from_env, from_file, from_command, chain), not both".into(),
                ));
            }
            let o = oauth2(&format!("{key}.oauth2"), o, env, base)?;
            (SecretValue::OAuth2(Box::new(o)), None)
        }
        None => {
            let as_source = SourceSettings {
                from_env: s.from_env.clone(),
                from_file: s.from_file.clone(),
                from_command: s.from_command.clone(),
                timeout_ms: s.timeout_ms,
                chain: s.chain.clone(),
            };
            let (source, loaded) = source(key, &as_source, env, base, true)?;
            (SecretValue::Source(source), loaded)
        }
    };
    let shown = match &value {
        SecretValue::Source(s) => s.shown(),
        SecretValue::OAuth2(o) => format!("oauth2 {}", o.token_url.origin().ascii_serialization()),
    };
    Ok(Secret { from_env: shown, key: key.to_string(), host, header, format: s.format.clone(), value, ttl, loaded }
        .registered())
}

/// Checks a source at `key`; a top-level `from_env` or `from_file` (not in a
/// chain) is read now, so that a missing one is a load error. Returns the source
/// and the value read, if any.
fn source(
    key: &str,
    s: &SourceSettings,
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
    top: bool,
) -> Result<(Source, Option<String>), (String, String)> {
    let given: Vec<&str> = [
        ("from_env", s.from_env.is_some()),
        ("from_file", s.from_file.is_some()),
        ("from_command", s.from_command.is_some()),
        ("chain", s.chain.is_some()),
    ]
    .iter()
    .filter(|(_, g)| *g)
    .map(|(k, _)| *k)
    .collect();
    if given.len() != 1 {
        let found = if given.is_empty() { "none".to_string() } else { given.join(", ") };
        return Err((
            key.to_string(),
            format!("needs exactly one of from_env, from_file, from_command, chain (found: {found})"),
        ));
    }
    if s.timeout_ms.is_some() && s.from_command.is_none() {
        return Err((format!("{key}.timeout_ms"), "applies to from_command only".into()));
    }
    if let Some(var) = &s.from_env {
        let value = env(var);
        if !top {
            return Ok((Source::Env { var: var.clone(), value }, None));
        }
        let k = format!("{key}.from_env");
        let value =
            value.ok_or_else(|| (k.clone(), format!("names {var}, but that environment variable is not set")))?;
        if value.trim().len() < MIN_SECRET_LEN {
            return Err((
                k,
                format!("{var} holds fewer than {MIN_SECRET_LEN} bytes; that is too short to be a secret"),
            ));
        }
        if value.trim().contains(['\r', '\n', '\0']) {
            return Err((k, format!("{var} holds a line break or NUL")));
        }
        let trimmed = value.trim().to_string();
        return Ok((Source::Env { var: var.clone(), value: Some(trimmed.clone()) }, Some(trimmed)));
    }
    if let Some(file) = &s.from_file {
        let k = format!("{key}.from_file");
        if file.is_empty() {
            return Err((k, "must not be empty".into()));
        }
        let path = base.join(file);
        if !top {
            return Ok((Source::File { path }, None));
        }
        let (text, _) = crate::secrets::source::read_file(&path).map_err(|m| (k.clone(), m))?;
        crate::secrets::check_value(&text).map_err(|m| (k, format!("{}: {m}", path.display())))?;
        return Ok((Source::File { path }, Some(text)));
    }
    if let Some(argv) = &s.from_command {
        let k = format!("{key}.from_command");
        if argv.first().is_none_or(|p| p.is_empty()) {
            return Err((
                k,
                "must name a program: an argv array like [\"vault\", \"read\", \"-field=token\", \"secret/x\"]".into(),
            ));
        }
        let timeout = match s.timeout_ms {
            None => DEFAULT_COMMAND_TIMEOUT,
            Some(ms @ 1..=600_000) => Duration::from_millis(ms),
            Some(ms) => return Err((format!("{key}.timeout_ms"), format!("is {ms}; it must be from 1 to 600000"))),
        };
        return Ok((Source::Command { argv: argv.clone(), timeout, dir: base.to_path_buf() }, None));
    }
    let chain = s.chain.as_deref().unwrap_or_default();
    let k = format!("{key}.chain");
    if !top {
        return Err((k, "a chain cannot hold another chain".into()));
    }
    if chain.is_empty() {
        return Err((k, "must list at least one source".into()));
    }
    let mut all = Vec::new();
    for (i, entry) in chain.iter().enumerate() {
        all.push(source(&format!("{k}[{i}]"), entry, env, base, false)?.0);
    }
    Ok((Source::Chain(all), None))
}

/// Checks an `oauth2` table. The token URL is a grant of its own, for the host's
/// token requests only: checked like an `http.allow` entry (a loopback or private
/// address only when written literally), HTTPS unless it names an address.
fn oauth2(
    key: &str,
    o: &OAuth2Settings,
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
) -> Result<OAuth2, (String, String)> {
    let k = format!("{key}.token_url");
    let token_url = url::Url::parse(&o.token_url).map_err(|e| (k.clone(), format!("`{}`: {e}", o.token_url)))?;
    AllowRule::parse(&token_url.origin().ascii_serialization()).map_err(|m| (k.clone(), m))?;
    if !token_url.username().is_empty() || token_url.password().is_some() || token_url.fragment().is_some() {
        return Err((k, "must not carry credentials or a fragment".into()));
    }
    let literal = matches!(token_url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)));
    if token_url.scheme() != "https" && !literal {
        return Err((
            k,
            "must be https (a client secret never travels in plain text, except to an address written literally)"
                .into(),
        ));
    }
    if o.client_id.is_empty() || o.client_id.contains(['\r', '\n', '\0']) {
        return Err((format!("{key}.client_id"), "must be a non-empty line".into()));
    }
    let (client_secret, loaded) = source(&format!("{key}.client_secret"), &o.client_secret, env, base, true)?;
    if let Some(v) = &loaded {
        crate::secrets::register(v);
    }
    Ok(OAuth2 {
        token_url,
        client_id: o.client_id.clone(),
        client_secret,
        scope: o.scope.clone(),
        audience: o.audience.clone(),
        resource: o.resource.clone(),
    })
}

/// Checks `http.headers` and `http.host_headers`: the same rules as a guest's
/// headers, and no header a secret adds for a host the plain header goes to.
fn plain_headers(
    settings: &HttpSettings,
    allow: &[AllowRule],
    secrets: &[Secret],
) -> Result<Vec<PlainHeader>, (String, String)> {
    let mut out = Vec::new();
    let every = settings.headers.iter().map(|(n, v)| (None, format!("http.headers.{n}"), n, v));
    let one = settings.host_headers.iter().flat_map(|(host, hs)| {
        hs.iter().map(move |(n, v)| (Some(host), format!("http.host_headers.\"{host}\".{n}"), n, v))
    });
    for (host, key, name, value) in every.chain(one) {
        let host = host.map(|h| normalize(h));
        if let Some(h) = &host
            && !covered(allow, h)
        {
            return Err((format!("http.host_headers.\"{h}\""), "is not exactly one of the hosts in http.allow".into()));
        }
        let lower = name.to_ascii_lowercase();
        if name.contains(['\r', '\n', '\0']) || value.contains(['\r', '\n', '\0']) {
            return Err((key, "CR, LF or NUL in a header name or value is refused".into()));
        }
        if HOST_OWNED_HEADERS.contains(&lower.as_str()) || lower == "accept-encoding" {
            return Err((key, format!("`{name}` is set by the host; a manifest may not set it")));
        }
        if let Some(s) = secrets.iter().find(|s| s.header == lower && host.as_ref().is_none_or(|h| *h == s.host)) {
            return Err((
                key,
                format!("`{name}` is injected by {} for {}; a plain header may not replace a secret", s.key, s.host),
            ));
        }
        if value.len() > crate::contract::http::MAX_HEADER_BYTES {
            return Err((key, format!("is longer than {} bytes", crate::contract::http::MAX_HEADER_BYTES)));
        }
        let name = HeaderName::from_bytes(lower.as_bytes())
            .map_err(|_| (key.clone(), format!("`{name}` is not a header name")))?;
        let value = HeaderValue::from_str(value).map_err(|_| (key.clone(), "is not a valid header value".into()))?;
        out.push(PlainHeader { host, name, value });
    }
    if out.len() > crate::contract::http::MAX_HEADERS {
        return Err((
            "http.headers".into(),
            format!(
                "{} plain headers are more than the host sends ({})",
                out.len(),
                crate::contract::http::MAX_HEADERS
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn allow_rules_match_scheme_host_and_port() {
        let gh = AllowRule::parse("https://api.github.com").unwrap();
        assert!(gh.matches(&url("https://api.github.com/repos/x")));
        assert!(gh.matches(&url("https://API.github.com:443/")));
        assert!(!gh.matches(&url("http://api.github.com/")));
        assert!(!gh.matches(&url("https://api.github.com:8443/")));
        assert!(!gh.matches(&url("https://evil.api.github.com/")));
        assert!(!gh.matches(&url("https://api.github.com.evil.net/")));

        let sp = AllowRule::parse("https://*.sharepoint.com").unwrap();
        assert!(sp.matches(&url("https://contoso.sharepoint.com/sites")));
        assert!(sp.matches(&url("https://a.b.sharepoint.com/")));
        assert!(!sp.matches(&url("https://sharepoint.com/")));
        assert!(!sp.matches(&url("https://evilsharepoint.com/")));

        let lo = AllowRule::parse("http://127.0.0.1:8089").unwrap();
        assert_eq!(lo.literal_ip(), Some("127.0.0.1".parse().unwrap()));
        assert!(lo.matches(&url("http://127.0.0.1:8089/items")));
        assert!(!lo.matches(&url("http://127.0.0.1:8090/items")));
        assert!(!lo.matches(&url("http://localhost:8089/items")));
        assert!(!lo.matches(&url("http://[::ffff:127.0.0.1]:8089/items")));
    }

    #[test]
    fn bad_allow_entries_are_named() {
        assert!(AllowRule::parse("api.github.com").unwrap_err().contains("is not an origin"));
        assert!(AllowRule::parse("ftp://x.org").unwrap_err().contains("scheme must be http or https"));
        assert!(AllowRule::parse("https://x.org/path").unwrap_err().contains("must not have a path"));
        assert!(AllowRule::parse("https://u:p@x.org").unwrap_err().contains("credentials"));
        assert!(AllowRule::parse("https://*.10.0.0.1").is_err());
    }

    #[test]
    fn secrets_need_their_variable_and_a_granted_host() {
        let settings = |host: &str| HttpSettings {
            allow: vec!["https://api.github.com".into()],
            secrets: vec![SecretSettings {
                from_env: Some("TOKEN".into()),
                host: host.into(),
                header: "Authorization".into(),
                format: "token {}".into(),
                ..SecretSettings::default()
            }],
            ..HttpSettings::default()
        };
        let none = |_: &str| None;
        let (key, msg) = grant(settings("api.github.com"), &none, Path::new(".")).unwrap_err();
        assert_eq!(key, "http.secrets[0].from_env");
        assert_eq!(msg, "names TOKEN, but that environment variable is not set");
        let env = |_: &str| Some("abcdefgh12345".to_string());
        let (key, msg) = grant(settings("evil.example"), &env, Path::new(".")).unwrap_err();
        assert_eq!(key, "http.secrets[0].host");
        assert!(msg.contains("not exactly one of the hosts in http.allow"), "{msg}");
        let g = grant(settings("api.github.com"), &env, Path::new(".")).unwrap();
        assert_eq!(g.secrets[0].header_value(g.secrets[0].loaded().unwrap()), "token abcdefgh12345");
    }

    #[test]
    fn plain_headers_follow_the_header_rules() {
        let with = |headers: &[(&str, &str)], host_headers: &[(&str, &str, &str)]| {
            let mut s = HttpSettings {
                allow: vec!["https://api.github.com".into(), "https://api.notion.com".into()],
                secrets: vec![SecretSettings {
                    from_env: Some("TOKEN".into()),
                    host: "api.github.com".into(),
                    header: "Authorization".into(),
                    format: "token {}".into(),
                    ..SecretSettings::default()
                }],
                ..HttpSettings::default()
            };
            for (n, v) in headers {
                s.headers.insert(n.to_string(), v.to_string());
            }
            for (h, n, v) in host_headers {
                s.host_headers.entry(h.to_string()).or_default().insert(n.to_string(), v.to_string());
            }
            grant(s, &|_: &str| Some("abcdefgh12345".to_string()), Path::new("."))
        };
        let g = with(
            &[("Accept", "application/json")],
            &[("api.notion.com", "Accept", "text/plain"), ("api.notion.com", "Notion-Version", "2022-06-28")],
        )
        .unwrap();
        let names = |host| {
            g.plain_headers(host).map(|h| format!("{}={}", h.name, h.value.to_str().unwrap())).collect::<Vec<_>>()
        };
        assert_eq!(names("api.github.com"), ["accept=application/json"]);
        assert_eq!(names("api.notion.com"), ["accept=text/plain", "notion-version=2022-06-28"]);

        let e = with(&[("Host", "evil")], &[]).unwrap_err();
        assert_eq!(e, ("http.headers.Host".into(), "`Host` is set by the host; a manifest may not set it".into()));
        let e = with(&[("X-A", "v\r\nHost: evil")], &[]).unwrap_err();
        assert_eq!(e.1, "CR, LF or NUL in a header name or value is refused");
        let e = with(&[("Authorization", "Basic x")], &[]).unwrap_err();
        assert_eq!(
            e.1,
            "`Authorization` is injected by http.secrets[0] for api.github.com; a plain header may not replace a secret"
        );
        assert!(with(&[], &[("api.notion.com", "Authorization", "x")]).is_ok(), "the secret is for another host");
        let e = with(&[], &[("evil.example", "Accept", "x")]).unwrap_err();
        assert_eq!(e.0, "http.host_headers.\"evil.example\"");
        assert!(with(&[("bad name", "x")], &[]).unwrap_err().1.contains("not a header name"));
    }
}
