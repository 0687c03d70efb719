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
//! [[http.secrets]]
//! from_env = "GITHUB_TOKEN"
//! host = "api.github.com"
//! header = "Authorization"
//! format = "Bearer {}"
//! ```
//!
//! No `allow`, no HTTP. An entry names a scheme, a host (exact, or `*.` for any
//! subdomain) and a port (the scheme's default when absent), and all three must
//! match a request.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::secrets::{MIN_SECRET_LEN, Secret};

/// What the manifest grants a connector over HTTP, checked and with secrets read.
#[derive(Clone, Debug, Default)]
pub struct HttpGrant {
    /// Origins the connector may reach.
    pub allow: Vec<AllowRule>,
    /// Headers the host adds to requests to a host.
    pub secrets: Vec<Secret>,
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

/// One `[[http.secrets]]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    /// The environment variable holding the value.
    pub from_env: String,
    /// The host whose requests get the header.
    pub host: String,
    /// The header.
    #[serde(default = "default_secret_header")]
    pub header: String,
    /// The header's value, `{}` standing for the secret.
    #[serde(default = "default_secret_format")]
    pub format: String,
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

/// Checks `[http]` and reads its secrets from `env`. Errors are `(key, message)`.
pub fn grant(settings: HttpSettings, env: &dyn Fn(&str) -> Option<String>) -> Result<HttpGrant, (String, String)> {
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
        let key = format!("http.secrets[{i}]");
        let value = env(&s.from_env).ok_or_else(|| {
            (format!("{key}.from_env"), format!("names {}, but that environment variable is not set", s.from_env))
        })?;
        if value.len() < MIN_SECRET_LEN {
            return Err((
                format!("{key}.from_env"),
                format!("{} holds fewer than {MIN_SECRET_LEN} bytes; that is too short to be a secret", s.from_env),
            ));
        }
        if value.contains(['\r', '\n', '\0']) {
            return Err((format!("{key}.from_env"), format!("{} holds a line break or NUL", s.from_env)));
        }
        let host = normalize(&s.host);
        let covered = allow.iter().any(|r| match &r.host {
            HostPattern::Exact(h) => *h == host,
            HostPattern::Ip(ip) => ip.to_string() == host.trim_start_matches('[').trim_end_matches(']'),
            HostPattern::Subdomains(_) => false,
        });
        if !covered {
            return Err((
                format!("{key}.host"),
                format!(
                    "`{}` is not exactly one of the hosts in http.allow; a secret goes to one granted host",
                    s.host
                ),
            ));
        }
        let header = s.header.to_ascii_lowercase();
        if header.is_empty() || !header.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
            return Err((format!("{key}.header"), format!("`{}` is not a header name", s.header)));
        }
        if HOST_OWNED_HEADERS.contains(&header.as_str()) {
            return Err((format!("{key}.header"), format!("`{}` is managed by the host", s.header)));
        }
        if !s.format.contains("{}") || s.format.contains(['\r', '\n']) {
            return Err((
                format!("{key}.format"),
                "must contain `{}` (where the secret goes) and no line break".into(),
            ));
        }
        secrets.push(Secret::new(&s.from_env, &host, &header, &s.format, value));
    }
    Ok(HttpGrant { allow, secrets, extra_roots: Vec::new(), settings })
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
                from_env: "TOKEN".into(),
                host: host.into(),
                header: "Authorization".into(),
                format: "token {}".into(),
            }],
            ..HttpSettings::default()
        };
        let none = |_: &str| None;
        let (key, msg) = grant(settings("api.github.com"), &none).unwrap_err();
        assert_eq!(key, "http.secrets[0].from_env");
        assert_eq!(msg, "names TOKEN, but that environment variable is not set");
        let env = |_: &str| Some("abcdefgh12345".to_string());
        let (key, msg) = grant(settings("evil.example"), &env).unwrap_err();
        assert_eq!(key, "http.secrets[0].host");
        assert!(msg.contains("not exactly one of the hosts in http.allow"), "{msg}");
        let g = grant(settings("api.github.com"), &env).unwrap();
        assert_eq!(g.secrets[0].header_value(), "token abcdefgh12345");
    }
}
