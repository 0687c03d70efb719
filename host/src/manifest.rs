//! A connector's manifest: what the operator grants it and how the host treats it.
//!
//! A TOML file beside the component (`file.toml` for `file.wasm`) or named with
//! `--manifest`. Unknown keys are errors, never silently ignored: a typo in a grant
//! must not quietly run the connector with less (or more) than the operator meant.
//! `${VAR}` in any string is replaced from the environment when the manifest is
//! loaded (`$$` is a literal `$`); a variable that is not set is an error naming it.
//! The file's JSON Schema is `schemas/connector_manifest.schema.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

pub mod http;

/// A loaded, substituted and checked manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The connector's name, used in logs, errors and reports.
    pub name: String,
    /// The envelope's `source`: set by the operator, never by the guest.
    pub source: String,
    /// Values the guest reads through `config.get`.
    pub config: Arc<BTreeMap<String, String>>,
    /// Directories the guest may read (or write, when granted).
    pub dirs: Vec<DirGrant>,
    /// Limits of the sandbox.
    pub limits: Limits,
    /// What the connector may reach over HTTP, and how.
    pub http: http::HttpGrant,
    /// How the host scores an evidence connector's results (`[evidence]`).
    pub evidence: EvidenceSettings,
    /// The host's cache of an evidence connector's answers (`[cache]`).
    pub cache: CacheSettings,
    /// The file it was read from, if any.
    pub path: Option<PathBuf>,
}

/// How the host scores evidence (`[evidence]`): see [`crate::evidence::score`].
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceSettings {
    /// The age, in days, at which evidence is half as fresh as new evidence.
    pub freshness_half_life_days: f64,
}

impl Default for EvidenceSettings {
    fn default() -> EvidenceSettings {
        EvidenceSettings { freshness_half_life_days: 365.0 }
    }
}

/// The host's cache of `search` and `fetch` answers, per connector (`[cache]`).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Most answers kept; the least recently used goes first. 0 turns the cache off.
    pub max_entries: usize,
    /// How long an answer is served from the cache, in seconds. 0 turns it off.
    pub ttl_seconds: u64,
}

impl Default for CacheSettings {
    fn default() -> CacheSettings {
        CacheSettings { max_entries: 500, ttl_seconds: 3600 }
    }
}

/// A directory granted to the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// The path the guest opens it by.
    pub guest: String,
    /// Whether the guest may write to it.
    pub writable: bool,
}

/// Limits of the sandbox; every one settable in the manifest's `[limits]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock deadline of each guest call, in milliseconds.
    pub call_timeout_ms: u64,
    /// Wall-clock deadline of a whole run, in milliseconds.
    pub run_timeout_ms: u64,
    /// Cap on the guest's linear memory, in MiB.
    pub memory_mib: u64,
    /// Records the host asks for per page.
    pub page_size: u32,
    /// Most records a page may hold; a larger page fails the run.
    pub max_records_per_page: u32,
    /// Most bytes the host copies out of the guest in one call (a page, or one
    /// import's arguments); past it the call is stopped. Unset, it is the memory
    /// cap: a guest cannot hand over more than it can hold. See [`Limits::page_bytes`].
    pub max_page_bytes: Option<u64>,
    /// Most bytes the guest may keep in `state`.
    pub state_bytes: usize,
    /// Guest log lines per second (bursts of twice as many are allowed).
    pub log_lines_per_second: u32,
    /// Longest guest log line kept, in bytes; longer lines are cut.
    pub log_line_bytes: usize,
    /// Most bytes of a draft's `raw`, of its `metadata` (as text and in canonical
    /// form), and of its ids, provenance and ACL tags together; a larger draft is
    /// refused (a dead letter). It bounds what the host parses and keeps of a record.
    pub max_record_bytes: usize,
    /// Longest cursor a page may return, in bytes; a longer one fails the run.
    pub max_cursor_bytes: usize,
    /// Most empty pages in a row (no records, a next cursor) before the run fails:
    /// a cursor that moves on for ever over nothing is a loop.
    pub max_empty_pages: u32,
}

impl Limits {
    /// The bound on what the host copies out of the guest in one call, in bytes.
    pub fn page_bytes(&self) -> u64 {
        self.max_page_bytes.unwrap_or(self.memory_mib << 20)
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            call_timeout_ms: 10_000,
            run_timeout_ms: 3_600_000,
            memory_mib: 256,
            page_size: 1000,
            max_records_per_page: 10_000,
            max_page_bytes: None,
            state_bytes: 1 << 20,
            log_lines_per_second: 100,
            log_line_bytes: 4096,
            max_record_bytes: crate::envelope::seal::MAX_RECORD_BYTES,
            max_cursor_bytes: 64 << 10,
            max_empty_pages: 100,
        }
    }
}

/// A manifest that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read manifest {path}: {source}")]
    Read {
        /// The manifest file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the manifest's shape.
    #[error("manifest {path}: {message}")]
    Parse {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, with line and key.
        message: String,
    },
    /// A `${VAR}` names an environment variable that is not set.
    #[error("manifest {path}: `{key}` uses ${{{var}}}, but the environment variable {var} is not set")]
    MissingVar {
        /// The manifest file.
        path: PathBuf,
        /// The key whose value uses it.
        key: String,
        /// The variable.
        var: String,
    },
    /// A value is out of range or malformed.
    #[error("manifest {path}: `{key}` {message}")]
    Invalid {
        /// The manifest file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    name: Option<String>,
    source: Option<String>,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
    #[serde(default)]
    dirs: Vec<DirFile>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    http: http::HttpSettings,
    #[serde(default)]
    evidence: EvidenceSettings,
    #[serde(default)]
    cache: CacheSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirFile {
    host: String,
    guest: Option<String>,
    #[serde(default)]
    writable: bool,
}

impl Manifest {
    /// The manifest used when a component has none: named after the component, with
    /// nothing granted and default limits.
    pub fn empty(name: &str) -> Manifest {
        Manifest {
            name: name.to_string(),
            source: name.to_string(),
            config: Arc::default(),
            dirs: Vec::new(),
            limits: Limits::default(),
            http: http::HttpGrant::default(),
            evidence: EvidenceSettings::default(),
            cache: CacheSettings::default(),
            path: None,
        }
    }

    /// Loads the manifest at `path`, substituting `${VAR}` with `env`. `default_name`
    /// names the connector when the manifest does not.
    pub fn load(
        path: &Path,
        default_name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Manifest, ManifestError> {
        let read = |source| ManifestError::Read { path: path.to_path_buf(), source };
        let bytes = crate::files::read_bounded(path, crate::files::MAX_MANIFEST, "a manifest").map_err(read)?;
        let text = String::from_utf8(bytes)
            .map_err(|e| read(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("it is not UTF-8: {e}"))))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Manifest::parse(&text, path, base, default_name, env)
    }

    /// Parses manifest `text`; relative directories are taken from `base`.
    pub fn parse(
        text: &str,
        path: &Path,
        base: &Path,
        default_name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Manifest, ManifestError> {
        let file: ManifestFile = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let subst = |key: &str, value: &str| {
            substitute(value, env).map_err(|var| ManifestError::MissingVar {
                path: path.to_path_buf(),
                key: key.to_string(),
                var,
            })
        };
        let invalid = |key: &str, message: String| ManifestError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };

        let name = match &file.name {
            Some(n) => subst("name", n)?,
            None => default_name.to_string(),
        };
        if name.is_empty() {
            return Err(invalid("name", "must not be empty".into()));
        }
        let source = match &file.source {
            Some(s) => subst("source", s)?,
            None => name.clone(),
        };
        if source.is_empty() {
            return Err(invalid("source", "must not be empty".into()));
        }

        let mut config = BTreeMap::new();
        for (k, v) in &file.config {
            let key = format!("config.{k}");
            let text = match v {
                toml::Value::String(s) => subst(&key, s)?,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(invalid(
                        &key,
                        format!("must be a string, number or boolean, not {}", other.type_str()),
                    ));
                }
            };
            config.insert(k.clone(), text);
        }

        let mut dirs = Vec::new();
        for (i, d) in file.dirs.iter().enumerate() {
            let host = subst(&format!("dirs[{i}].host"), &d.host)?;
            let guest = match &d.guest {
                Some(g) => subst(&format!("dirs[{i}].guest"), g)?,
                None => host.clone(),
            };
            if host.is_empty() || guest.is_empty() {
                return Err(invalid(&format!("dirs[{i}]"), "needs a non-empty `host` and `guest`".into()));
            }
            dirs.push(DirGrant { host: base.join(host), guest, writable: d.writable });
        }

        let limits = file.limits;
        check_limits(&limits).map_err(|(key, message)| invalid(&format!("limits.{key}"), message))?;

        let mut settings = file.http;
        for (i, entry) in settings.allow.iter_mut().enumerate() {
            *entry = subst(&format!("http.allow[{i}]"), entry)?;
        }
        for (i, file) in settings.ca_files.iter_mut().enumerate() {
            *file = subst(&format!("http.ca_files[{i}]"), file)?;
        }
        for (name, value) in settings.headers.iter_mut() {
            *value = subst(&format!("http.headers.{name}"), value)?;
        }
        for (host, headers) in settings.host_headers.iter_mut() {
            for (name, value) in headers.iter_mut() {
                *value = subst(&format!("http.host_headers.\"{host}\".{name}"), value)?;
            }
        }
        for (i, s) in settings.secrets.iter_mut().enumerate() {
            let key = format!("http.secrets[{i}]");
            if let Some(file) = &mut s.from_file {
                *file = subst(&format!("{key}.from_file"), file)?;
            }
            if let Some(o) = &mut s.oauth2 {
                o.token_url = subst(&format!("{key}.oauth2.token_url"), &o.token_url)?;
                o.client_id = subst(&format!("{key}.oauth2.client_id"), &o.client_id)?;
                for (k, v) in [("scope", &mut o.scope), ("audience", &mut o.audience), ("resource", &mut o.resource)] {
                    if let Some(v) = v {
                        *v = subst(&format!("{key}.oauth2.{k}"), v)?;
                    }
                }
            }
        }
        let mut http = http::grant(settings, env, base).map_err(|(key, message)| invalid(&key, message))?;
        http.extra_roots =
            http::read_extra_roots(&http.settings.ca_files, base).map_err(|(key, message)| invalid(&key, message))?;
        // A secret reaches the guest only as a header the host adds; an operator who
        // wrote one into `[config]` would hand it to the guest in plain text.
        for (k, v) in &config {
            if let Some(s) = http.secrets.iter().find(|s| s.known_values().iter().any(|x| v.contains(x.as_str()))) {
                return Err(invalid(
                    &format!("config.{k}"),
                    format!(
                        "holds the value of secret {}; secrets reach a connector only through [[http.secrets]]",
                        s.from_env
                    ),
                ));
            }
        }

        let half_life = file.evidence.freshness_half_life_days;
        if !(half_life.is_finite() && half_life > 0.0 && half_life <= 36_500.0) {
            return Err(invalid(
                "evidence.freshness_half_life_days",
                format!("is {half_life}; it must be more than 0 and at most 36500 (a century)"),
            ));
        }
        if file.cache.max_entries > 1_000_000 {
            return Err(invalid(
                "cache.max_entries",
                format!("is {}; it must be at most 1000000 (0 turns the cache off)", file.cache.max_entries),
            ));
        }
        if file.cache.ttl_seconds > 30 * 86_400 {
            return Err(invalid(
                "cache.ttl_seconds",
                format!("is {}; it must be at most 2592000 (30 days; 0 turns the cache off)", file.cache.ttl_seconds),
            ));
        }

        Ok(Manifest {
            name,
            source,
            config: Arc::new(config),
            dirs,
            limits,
            http,
            evidence: file.evidence,
            cache: file.cache,
            path: Some(path.to_path_buf()),
        })
    }

    /// Sets config `key` to `value` (from `--set`), over the manifest's value.
    pub fn set_config(&mut self, key: &str, value: &str) {
        Arc::make_mut(&mut self.config).insert(key.to_string(), value.to_string());
    }
}

/// Checks that every limit is in a range the host can honour.
pub fn check_limits(l: &Limits) -> Result<(), (&'static str, String)> {
    if l.call_timeout_ms == 0 || l.call_timeout_ms > 3_600_000 {
        return Err(("call_timeout_ms", format!("is {}; it must be from 1 to 3600000", l.call_timeout_ms)));
    }
    if l.run_timeout_ms < l.call_timeout_ms || l.run_timeout_ms > 7 * 86_400_000 {
        return Err((
            "run_timeout_ms",
            format!("is {}; it must be from call_timeout_ms ({}) to 604800000", l.run_timeout_ms, l.call_timeout_ms),
        ));
    }
    if let Some(bytes) = l.max_page_bytes
        && !(65_536..=4 << 30).contains(&bytes)
    {
        return Err(("max_page_bytes", format!("is {bytes}; it must be from 65536 to 4294967296")));
    }
    if l.memory_mib == 0 || l.memory_mib > 4096 {
        return Err(("memory_mib", format!("is {}; it must be from 1 to 4096", l.memory_mib)));
    }
    if l.max_records_per_page == 0 || l.max_records_per_page > 1_000_000 {
        return Err(("max_records_per_page", format!("is {}; it must be from 1 to 1000000", l.max_records_per_page)));
    }
    if l.page_size == 0 || l.page_size > l.max_records_per_page {
        return Err((
            "page_size",
            format!("is {}; it must be from 1 to max_records_per_page ({})", l.page_size, l.max_records_per_page),
        ));
    }
    if l.log_line_bytes < 16 {
        return Err(("log_line_bytes", format!("is {}; it must be at least 16", l.log_line_bytes)));
    }
    // `host validate` reads lines of at most 160 MiB: an envelope of a record at
    // these bounds (raw and metadata of 64 MiB each) always fits.
    if !(1024..=64 << 20).contains(&l.max_record_bytes) {
        return Err(("max_record_bytes", format!("is {}; it must be from 1024 to 67108864", l.max_record_bytes)));
    }
    if !(64..=16 << 20).contains(&l.max_cursor_bytes) {
        return Err(("max_cursor_bytes", format!("is {}; it must be from 64 to 16777216", l.max_cursor_bytes)));
    }
    if l.max_empty_pages == 0 {
        return Err(("max_empty_pages", "is 0; it must be at least 1".into()));
    }
    Ok(())
}

/// Replaces `${VAR}` in `value` with the variable's value (`$$` is a literal `$`).
/// Returns the name of the first variable that is not set.
pub fn substitute(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${")
            && let Some(end) = body.find('}')
        {
            let var = &body[..end];
            out.push_str(&env(var).ok_or_else(|| var.to_string())?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        (var == "FEEDS").then(|| "/srv/feeds".to_string())
    }

    /// Every `default` the manifest schema states under `schema`'s properties, as
    /// (key path, value), compared with `ours` (the Rust defaults, serialised); and
    /// every scalar Rust default has one in the schema.
    fn defaults_match(schema: &serde_json::Value, ours: &serde_json::Value, at: &str, checked: &mut usize) {
        let props = schema["properties"].as_object().unwrap_or_else(|| panic!("{at} has properties"));
        for (key, ours) in ours.as_object().unwrap() {
            let path = format!("{at}.{key}");
            let Some(prop) = props.get(key) else { panic!("{path}: a Rust default the schema does not list") };
            if ours.is_object() && prop.get("properties").is_some() {
                defaults_match(prop, ours, &path, checked);
            } else if let Some(default) = prop.get("default") {
                let same = match (default.as_f64(), ours.as_f64()) {
                    (Some(a), Some(b)) => a == b,
                    _ => default == ours,
                };
                assert!(same, "{path}: the schema says {default}, Limits/HttpSettings::default() {ours}");
                *checked += 1;
            } else {
                assert!(
                    !(ours.is_number() || ours.is_boolean()),
                    "{path}: a default of {ours} the schema does not state"
                );
            }
        }
    }

    #[test]
    fn the_schema_states_the_defaults_the_host_uses() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schemas/connector_manifest.schema.json")).unwrap();
        let mut checked = 0;
        let limits = serde_json::to_value(Limits::default()).unwrap();
        defaults_match(&schema["properties"]["limits"], &limits, "limits", &mut checked);
        let http = serde_json::to_value(http::HttpSettings::default()).unwrap();
        defaults_match(&schema["properties"]["http"], &http, "http", &mut checked);
        let evidence = serde_json::to_value(EvidenceSettings::default()).unwrap();
        defaults_match(&schema["properties"]["evidence"], &evidence, "evidence", &mut checked);
        let cache = serde_json::to_value(CacheSettings::default()).unwrap();
        defaults_match(&schema["properties"]["cache"], &cache, "cache", &mut checked);
        assert!(checked >= 28, "{checked} defaults compared");
    }

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("m.toml"), Path::new("/base"), "conn", &env)
    }

    #[test]
    fn substitutes_variables() {
        assert_eq!(substitute("${FEEDS}/a", &env).unwrap(), "/srv/feeds/a");
        assert_eq!(substitute("cost $$5 $x", &env).unwrap(), "cost $5 $x");
        assert_eq!(substitute("${NOPE}", &env).unwrap_err(), "NOPE");
    }

    #[test]
    fn parses_a_full_manifest() {
        let m = parse(
            r#"
            name = "feed"
            source = "partner-feed"
            [config]
            path = "${FEEDS}/x.jsonl"
            page_size = 50
            strict = true
            [[dirs]]
            host = "data"
            guest = "/data"
            [limits]
            memory_mib = 64
            "#,
        )
        .unwrap();
        assert_eq!(m.name, "feed");
        assert_eq!(m.source, "partner-feed");
        assert_eq!(m.config["path"], "/srv/feeds/x.jsonl");
        assert_eq!(m.config["page_size"], "50");
        assert_eq!(m.config["strict"], "true");
        assert_eq!(m.dirs, vec![DirGrant { host: "/base/data".into(), guest: "/data".into(), writable: false }]);
        assert_eq!(m.limits.memory_mib, 64);
        assert_eq!(m.limits.call_timeout_ms, 10_000);
    }

    #[test]
    fn rejects_unknown_keys_naming_them() {
        let e = parse("nmae = \"x\"").unwrap_err().to_string();
        assert!(e.contains("unknown field `nmae`"), "{e}");
        let e = parse("[limits]\nmemory = 3").unwrap_err().to_string();
        assert!(e.contains("unknown field `memory`"), "{e}");
    }

    #[test]
    fn names_a_missing_variable_and_its_key() {
        let e = parse("[config]\npath = \"${MISSING_DIR}/x\"").unwrap_err().to_string();
        assert_eq!(
            e,
            "manifest m.toml: `config.path` uses ${MISSING_DIR}, but the environment variable MISSING_DIR is not set"
        );
    }

    #[test]
    fn rejects_limits_out_of_range() {
        let e = parse("[limits]\nmemory_mib = 0").unwrap_err().to_string();
        assert_eq!(e, "manifest m.toml: `limits.memory_mib` is 0; it must be from 1 to 4096");
        let e = parse("[config]\nlist = [1]").unwrap_err().to_string();
        assert!(e.contains("`config.list` must be a string, number or boolean, not array"), "{e}");
    }
}
