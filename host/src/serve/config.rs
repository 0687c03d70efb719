//! `host serve --config connectors.toml`: the daemon's settings and its connectors.
//!
//! ```toml
//! [serve]
//! store = "sqlite:.host/state.db"
//! max_parallel_runs = 4
//! max_parallel_lookups = 2
//! max_parallel_compiles = 2
//!
//! [[connectors]]
//! name = "feed"
//! component = "../guests/file.wasm"      # relative to this file
//! manifest = "../guests/file.toml"       # or an inline [connectors.manifest] table
//! poll_interval = "30s"
//! # out = "feed.jsonl"                  # also append every envelope here
//! ```
//!
//! A connector whose entry is wrong is reported (by name and key) and left out; the
//! others start. `${VAR}` is replaced from the environment in every string.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::manifest::{Manifest, ManifestError, substitute};

/// The whole file, checked.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// `[serve]`.
    pub settings: Settings,
    /// The connectors whose entries are sound, by name.
    pub connectors: BTreeMap<String, ConnectorEntry>,
    /// Entries that are not, with why (by name, or `connectors[i]` without one).
    pub errors: Vec<(String, String)>,
}

/// `[serve]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The store every connector ingests into (a relative SQLite path is relative to
    /// the config file).
    pub store: String,
    /// Runs in parallel across connectors.
    pub max_parallel_runs: usize,
    /// Record lookups (`GET /connectors/{name}/records/{id}`) in parallel across
    /// connectors: each starts a sandbox of its own, so this bounds their memory.
    pub max_parallel_lookups: usize,
    /// Components compiled at once (a reload or hot swap of a component the compile
    /// cache does not hold): a Python or JavaScript component takes 7 to 15 s and
    /// about 540 MiB to compile, so this bounds the daemon's memory while many change.
    pub max_parallel_compiles: usize,
    /// How long SIGTERM waits for running pages to finish, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// The run-level circuit breaker.
    pub run_breaker: RunBreaker,
    /// How long after the last change of a watched file a reload starts, in ms.
    pub reload_debounce_ms: u64,
    /// This host's id among the hosts sharing a PostgreSQL store (default: the
    /// machine's hostname and the process id).
    pub host_id: Option<String>,
    /// Leases, with a PostgreSQL store.
    pub leases: Leases,
    /// Whether `/metrics` has a series per connector (default: when there are at
    /// most 1,000 connectors).
    pub metrics_per_connector: Option<bool>,
}

/// `[serve.leases]`: on a PostgreSQL store each connector runs on one host at a
/// time, under a lease of `ttl_ms`, renewed every third of it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Leases {
    /// How long a lease lasts unless renewed, in milliseconds: how long the other
    /// hosts wait for a host that died without a word.
    pub ttl_ms: u64,
}

impl Default for Leases {
    fn default() -> Leases {
        Leases { ttl_ms: 15_000 }
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            store: crate::store::DEFAULT_URL.into(),
            max_parallel_runs: 4,
            max_parallel_lookups: 2,
            max_parallel_compiles: 2,
            shutdown_grace_ms: 30_000,
            run_breaker: RunBreaker::default(),
            reload_debounce_ms: 200,
            host_id: None,
            leases: Leases::default(),
            metrics_per_connector: None,
        }
    }
}

/// `[serve.run_breaker]`: after `failure_threshold` failed runs in a row, a
/// connector's runs return `circuit_open` without calling the guest until
/// `reset_ms` has passed.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RunBreaker {
    /// Failed runs in a row that open it.
    pub failure_threshold: u32,
    /// How long it stays open, in milliseconds.
    pub reset_ms: u64,
}

impl Default for RunBreaker {
    fn default() -> RunBreaker {
        RunBreaker { failure_threshold: 5, reset_ms: 300_000 }
    }
}

/// One connector of the daemon.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectorEntry {
    /// Its name (the store keys cursors and state by it).
    pub name: String,
    /// The component file.
    pub component: PathBuf,
    /// Where the manifest comes from.
    pub manifest: ManifestSource,
    /// Time between the end of one run and the start of the next.
    pub poll_interval: Duration,
    /// Jitter as a fraction of the interval (0.1 = ±10 %).
    pub jitter: f64,
    /// Whether it is scheduled.
    pub enabled: bool,
    /// It is healthy while its last successful run is at most this old.
    pub health_window: Duration,
    /// Also append every sealed envelope to this JSON Lines file.
    pub out: Option<PathBuf>,
}

/// A connector's manifest: a file, inline in the config, or none.
#[derive(Clone, Debug, PartialEq)]
pub enum ManifestSource {
    /// A file.
    File(PathBuf),
    /// A table of the config file (its TOML text).
    Inline(String),
    /// No manifest: nothing granted, default limits.
    None,
}

impl ConnectorEntry {
    /// Loads its manifest; the connector's name is always the entry's.
    pub fn load_manifest(
        &self,
        config_path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Manifest, ManifestError> {
        let mut m = match &self.manifest {
            ManifestSource::File(p) => Manifest::load(p, &self.name, env)?,
            ManifestSource::Inline(text) => {
                let base = config_path.parent().unwrap_or(Path::new("."));
                let shown = PathBuf::from(format!("{} (connector `{}`)", config_path.display(), self.name));
                Manifest::parse(text, &shown, base, &self.name, env)?
            }
            ManifestSource::None => Manifest::empty(&self.name),
        };
        m.name = self.name.clone();
        Ok(m)
    }

    /// Files whose change reloads this connector.
    pub fn watched(&self) -> Vec<PathBuf> {
        let mut v = vec![self.component.clone()];
        if let ManifestSource::File(p) = &self.manifest {
            v.push(p.clone());
        }
        v
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    name: String,
    component: String,
    manifest: Option<toml::Value>,
    poll_interval: Option<toml::Value>,
    jitter: Option<f64>,
    enabled: Option<bool>,
    health_window: Option<toml::Value>,
    out: Option<String>,
}

/// The config file cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is larger than [`MAX_CONFIG_BYTES`] (or endless, such as `/dev/zero`).
    #[error("{path} is larger than {max} bytes, the most a connectors file may hold; it is not read")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The bound.
        max: u64,
    },
    /// It is not valid TOML, or `[serve]` is wrong.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The largest connectors file read: 16 MiB holds tens of thousands of entries
/// (10,000 connectors, each with its manifest inline, are about 4 MB); past it the
/// file is refused rather than read into memory without end.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Reads and checks `path`.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<ServeConfig, ConfigError> {
    let text = read_bounded(path, MAX_CONFIG_BYTES)?;
    parse(&text, path, env)
}

/// The text of `path`, refused past `max` bytes: at most `max + 1` bytes are read,
/// whatever the file is (a device, a pipe, a file still growing).
fn read_bounded(path: &Path, max: u64) -> Result<String, ConfigError> {
    let read_error = |source| ConfigError::Read { path: path.to_path_buf(), source };
    let bytes = crate::files::read_bounded(path, max, "a connectors file").map_err(|e| match e.kind() {
        std::io::ErrorKind::FileTooLarge => ConfigError::TooLarge { path: path.to_path_buf(), max },
        _ => read_error(e),
    })?;
    String::from_utf8(bytes).map_err(|e| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

/// Parses config `text` (read from `path`).
pub fn parse(text: &str, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<ServeConfig, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
    let mut table: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_string()))?;
    for key in table.keys() {
        if key != "serve" && key != "connectors" {
            return Err(invalid(format!("unknown key `{key}` (expected [serve] and [[connectors]])")));
        }
    }
    let mut settings: Settings = match table.remove("serve") {
        Some(v) => v.try_into().map_err(|e: toml::de::Error| invalid(format!("[serve]: {}", e.message())))?,
        None => Settings::default(),
    };
    settings.store = substitute(&settings.store, env).map_err(|var| {
        invalid(format!("`serve.store` uses ${{{var}}}, but the environment variable {var} is not set"))
    })?;
    // A relative SQLite path is relative to this file, like every other path in it.
    if let Some(rest) = settings.store.strip_prefix("sqlite:")
        && !rest.starts_with('/')
        && !rest.starts_with(":memory:")
    {
        let base = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        settings.store = format!("sqlite:{}", base.join(rest).display());
    }
    if settings.max_parallel_runs == 0 {
        return Err(invalid("`serve.max_parallel_runs` must be at least 1".into()));
    }
    if settings.max_parallel_lookups == 0 {
        return Err(invalid("`serve.max_parallel_lookups` must be at least 1".into()));
    }
    // Each run and each lookup holds a sandbox, and a daemon has a fixed number.
    let sandboxes = settings.max_parallel_runs.saturating_add(settings.max_parallel_lookups);
    if sandboxes > crate::runtime::engine::MAX_INSTANCES as usize {
        return Err(invalid(format!(
            "`serve.max_parallel_runs` ({}) and `serve.max_parallel_lookups` ({}) add up to {sandboxes}: each run and each lookup holds a sandbox, and a daemon has {}",
            settings.max_parallel_runs,
            settings.max_parallel_lookups,
            crate::runtime::engine::MAX_INSTANCES
        )));
    }
    if settings.max_parallel_compiles == 0 {
        return Err(invalid("`serve.max_parallel_compiles` must be at least 1".into()));
    }
    if settings.leases.ttl_ms < 300 {
        return Err(invalid(
            "`serve.leases.ttl_ms` must be at least 300 (a lease is renewed every third of it)".into(),
        ));
    }
    if let Some(id) = &settings.host_id
        && (id.is_empty() || id.len() > 200 || id.chars().any(char::is_control))
    {
        return Err(invalid("`serve.host_id` must be 1 to 200 characters, none of them control characters".into()));
    }
    if settings.run_breaker.failure_threshold == 0 {
        return Err(invalid("`serve.run_breaker.failure_threshold` must be at least 1".into()));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let entries = match table.remove("connectors") {
        None => Vec::new(),
        Some(toml::Value::Array(a)) => a,
        Some(_) => return Err(invalid("`connectors` must be an array of tables ([[connectors]])".into())),
    };
    let mut connectors = BTreeMap::new();
    let mut errors = Vec::new();
    for (i, value) in entries.into_iter().enumerate() {
        let label = value
            .get("name")
            .and_then(|n| n.as_str())
            .map(|n| format!("connector `{n}`"))
            .unwrap_or_else(|| format!("connectors[{i}]"));
        match entry(value, base, env) {
            Ok(e) if connectors.contains_key(&e.name) => {
                errors.push((label, "another connector has the same name".to_string()));
            }
            Ok(e) => {
                connectors.insert(e.name.clone(), e);
            }
            Err(message) => errors.push((label, message)),
        }
    }
    Ok(ServeConfig { path: path.to_path_buf(), settings, connectors, errors })
}

fn entry(value: toml::Value, base: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<ConnectorEntry, String> {
    let file: EntryFile = value.try_into().map_err(|e: toml::de::Error| e.message().to_string())?;
    let subst = |key: &str, v: &str| {
        substitute(v, env)
            .map_err(|var| format!("`{key}` uses ${{{var}}}, but the environment variable {var} is not set"))
    };
    let name = subst("name", &file.name)?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(format!("`name` {name:?} must be letters, digits, `-`, `_` or `.`"));
    }
    let component = base.join(subst("component", &file.component)?);
    let manifest = match file.manifest {
        None => ManifestSource::None,
        Some(toml::Value::String(p)) => ManifestSource::File(base.join(subst("manifest", &p)?)),
        Some(toml::Value::Table(t)) => ManifestSource::Inline(toml::to_string(&t).map_err(|e| e.to_string())?),
        Some(other) => return Err(format!("`manifest` must be a path or a table, not {}", other.type_str())),
    };
    let poll_interval = match &file.poll_interval {
        None => Duration::from_secs(300),
        Some(v) => duration("poll_interval", v)?,
    };
    let jitter = file.jitter.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&jitter) {
        return Err(format!("`jitter` is {jitter}; it must be from 0 to 1"));
    }
    let health_window = match &file.health_window {
        None => (poll_interval * 3).max(Duration::from_secs(60)),
        Some(v) => duration("health_window", v)?,
    };
    Ok(ConnectorEntry {
        name,
        component,
        manifest,
        poll_interval,
        jitter,
        enabled: file.enabled.unwrap_or(true),
        health_window,
        out: file.out.map(|o| subst("out", &o).map(|o| base.join(o))).transpose()?,
    })
}

/// A duration: `"30s"`, `"500ms"`, `"5m"`, `"1h"`, or a number of milliseconds.
pub fn duration(key: &str, v: &toml::Value) -> Result<Duration, String> {
    let bad = || format!("`{key}` is {v}; expected a duration such as \"30s\", \"500ms\", \"5m\" or \"1h\"");
    match v {
        toml::Value::Integer(ms) if *ms >= 0 => Ok(Duration::from_millis(*ms as u64)),
        toml::Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(bad)?;
            let (num, unit) = s.split_at(split);
            let n: f64 = num.parse().map_err(|_| bad())?;
            let secs = match unit.trim() {
                "ms" => n / 1000.0,
                "s" => n,
                "m" => n * 60.0,
                "h" => n * 3600.0,
                _ => return Err(bad()),
            };
            Duration::try_from_secs_f64(secs).map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        (var == "FEEDS").then(|| "/srv".to_string())
    }

    #[test]
    fn parses_connectors_and_reports_bad_ones_by_name() {
        let c = parse(
            r#"
            [serve]
            max_parallel_runs = 2
            [[connectors]]
            name = "feed"
            component = "${FEEDS}/file.wasm"
            manifest = "file.toml"
            poll_interval = "500ms"
            [[connectors]]
            name = "inline"
            component = "x.wasm"
            poll_interval = 2000
            [connectors.manifest]
            source = "s"
            [connectors.manifest.config]
            path = "/feeds/a.jsonl"
            [[connectors]]
            name = "broken"
            component = "y.wasm"
            poll_interval = "soon"
            [[connectors]]
            component = "z.wasm"
            "#,
            Path::new("/etc/host/connectors.toml"),
            &env,
        )
        .unwrap();
        assert_eq!(c.settings.max_parallel_runs, 2);
        let feed = &c.connectors["feed"];
        assert_eq!(feed.component, PathBuf::from("/srv/file.wasm"));
        assert_eq!(feed.manifest, ManifestSource::File("/etc/host/file.toml".into()));
        assert_eq!(feed.poll_interval, Duration::from_millis(500));
        assert_eq!(c.connectors["inline"].poll_interval, Duration::from_secs(2));
        let m = c.connectors["inline"].load_manifest(&c.path, &env).unwrap();
        assert_eq!((m.name.as_str(), m.source.as_str()), ("inline", "s"));
        assert_eq!(m.config["path"], "/feeds/a.jsonl");
        assert_eq!(c.errors.len(), 2);
        assert_eq!(c.errors[0].0, "connector `broken`");
        assert!(c.errors[0].1.contains("`poll_interval` is \"soon\"; expected a duration"), "{}", c.errors[0].1);
        assert_eq!(c.errors[1].0, "connectors[3]");
        assert!(c.errors[1].1.contains("missing field `name`"), "{}", c.errors[1].1);
    }

    #[test]
    fn a_file_past_the_bound_is_refused_unread() {
        let path = std::env::temp_dir().join(format!("host-config-bound-{}.toml", std::process::id()));
        std::fs::write(&path, format!("# {}\n", "x".repeat(100))).unwrap();
        let e = read_bounded(&path, 64).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{} is larger than 64 bytes, the most a connectors file may hold; it is not read", path.display())
        );
        assert!(read_bounded(&path, 103).is_ok(), "a file of exactly the bound is read");
        std::fs::write(&path, b"\xff\xfe").unwrap();
        let e = read_bounded(&path, 64).unwrap_err().to_string();
        assert!(e.starts_with(&format!("cannot read {}: invalid utf-8", path.display())), "{e}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_bad_serve_section_is_an_error_for_the_whole_file() {
        let e = parse("[serve]\nmax_parallel = 3\n", Path::new("c.toml"), &env).unwrap_err().to_string();
        assert!(e.contains("c.toml: [serve]: unknown field `max_parallel`"), "{e}");
        let e = parse("[serve]\nmax_parallel_lookups = 0\n", Path::new("c.toml"), &env).unwrap_err().to_string();
        assert_eq!(e, "c.toml: `serve.max_parallel_lookups` must be at least 1");
        let e = parse("[serve]\nmax_parallel_runs = 120\nmax_parallel_lookups = 9\n", Path::new("c.toml"), &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "c.toml: `serve.max_parallel_runs` (120) and `serve.max_parallel_lookups` (9) add up to 129: each run and each lookup holds a sandbox, and a daemon has 128"
        );
        assert!(
            parse("[serve]\nmax_parallel_runs = 120\nmax_parallel_lookups = 8\n", Path::new("c.toml"), &env).is_ok()
        );
        let e = parse("[[connector]]\nname = \"x\"\n", Path::new("c.toml"), &env).unwrap_err().to_string();
        assert!(e.contains("unknown key `connector`"), "{e}");
        let e = parse("[serve.leases]\nttl_ms = 100\n", Path::new("c.toml"), &env).unwrap_err().to_string();
        assert_eq!(e, "c.toml: `serve.leases.ttl_ms` must be at least 300 (a lease is renewed every third of it)");
        for id in ["\"\"", "\"a\\nb\"", &format!("\"{}\"", "h".repeat(201))] {
            let e = parse(&format!("[serve]\nhost_id = {id}\n"), Path::new("c.toml"), &env).unwrap_err().to_string();
            assert_eq!(
                e, "c.toml: `serve.host_id` must be 1 to 200 characters, none of them control characters",
                "{id}"
            );
        }
        let ok =
            parse("[serve]\nhost_id = \"host-a\"\n[serve.leases]\nttl_ms = 300\n", Path::new("c.toml"), &env).unwrap();
        assert_eq!((ok.settings.host_id.as_deref(), ok.settings.leases.ttl_ms), (Some("host-a"), 300));
    }
}
