//! A connector's settings: read from the host's `config` interface once per run, with the
//! same rules and the same error wording in every connector.
//!
//! A connector writes one function that builds its settings from a [`ConfigReader`], and
//! keeps them in a `static` [`SettingsCell`]:
//!
//! ```ignore
//! use connector_sdk::settings::{ConfigReader, SettingsCell};
//!
//! pub static SETTINGS: SettingsCell<Settings> = SettingsCell::new(Settings::read);
//!
//! impl Settings {
//!     pub fn read(cfg: &ConfigReader<'_>) -> Result<Settings, ConnectorError> {
//!         let path = cfg.required("path", "the feed file to read")?;
//!         // ...
//!     }
//! }
//!
//! // In the connector: `let settings = SETTINGS.get()?;`
//! // In a unit test:   `from_pairs(Settings::read, &[("path", "/data/feed.jsonl")])`
//! ```
//!
//! Every error is an `invalid-config` naming the key, worded by [`missing`] ("config
//! `path` is required: the feed file to read") or [`bad_value`] ("config `page_size` is
//! `0`; expected a positive whole number"), so an operator reads the same sentences
//! whichever connector they configure.

use std::sync::OnceLock;

use crate::host::config;
use crate::{ConnectorError, RecordType};

/// How a connector builds its settings from its config values.
pub type ReadSettings<T> = fn(&ConfigReader<'_>) -> Result<T, ConnectorError>;

/// The settings of the current run, read from the host's `config` interface on first
/// use and kept until the run ends.
///
/// Meant for a `static`: the host makes a fresh instance for every run, so a static is
/// per run and a changed manifest is seen by the next run. A failed read is kept too,
/// so every call of the run reports the same `invalid-config` error instead of reading
/// the configuration again.
pub struct SettingsCell<T> {
    read: ReadSettings<T>,
    value: OnceLock<Result<T, ConnectorError>>,
}

impl<T> SettingsCell<T> {
    /// An empty cell that will build its settings with `read`; `const` so that it can
    /// initialise a `static`.
    pub const fn new(read: ReadSettings<T>) -> Self {
        Self { read, value: OnceLock::new() }
    }

    /// The settings of this run, read from the host on the first call; later calls
    /// return what that first call returned (a clone of the error, if it failed).
    pub fn get(&self) -> Result<&T, ConnectorError> {
        self.get_or_read(&config::get)
    }

    /// [`get`](Self::get) with the lookup spelled out, so that the cell is unit-tested
    /// without the host.
    fn get_or_read(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<&T, ConnectorError> {
        self.value.get_or_init(|| (self.read)(&ConfigReader::new(lookup))).as_ref().map_err(Clone::clone)
    }
}

/// Builds settings with `read` from fixed `(key, value)` pairs, the last pair of a key
/// winning, as the host would from a manifest's `[config]`: how a unit test reads a
/// connector's settings without the host.
pub fn from_pairs<T>(read: ReadSettings<T>, pairs: &[(&str, &str)]) -> Result<T, ConnectorError> {
    read(&ConfigReader::new(&pairs_lookup(pairs)))
}

/// A lookup over `pairs`, the last pair of a key winning.
fn pairs_lookup<'a>(pairs: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |key| pairs.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
}

/// Reads config values by key, under the rules every connector shares: a value is
/// trimmed, and an empty one counts as not set (so that a manifest can blank a key to
/// get the default).
///
/// It reads through a lookup function: the host's `config::get` in a connector (see
/// [`SettingsCell`]), fixed pairs in a unit test (see [`from_pairs`]).
#[derive(Clone, Copy)]
pub struct ConfigReader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> ConfigReader<'a> {
    /// A reader over `get`, which returns the raw value of a key, if any.
    pub fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { get }
    }

    /// The value of `key`, trimmed; `None` when it is not set or is empty.
    pub fn opt(&self, key: &str) -> Option<String> {
        (self.get)(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// The value of `key`, or `default` when it is not set.
    pub fn opt_or(&self, key: &str, default: &str) -> String {
        self.opt(key).unwrap_or_else(|| default.to_string())
    }

    /// The value of `key`; when it is not set, an error saying it is required and `what`
    /// it is for.
    pub fn required(&self, key: &str, what: &str) -> Result<String, ConnectorError> {
        self.opt(key).ok_or_else(|| missing(key, what))
    }

    /// The value of `key`, which must be one of `allowed` (compared exactly), or `None`
    /// when it is not set.
    pub fn one_of(&self, key: &str, allowed: &[&str]) -> Result<Option<String>, ConnectorError> {
        match self.opt(key) {
            Some(v) if !allowed.contains(&v.as_str()) => {
                Err(bad_value(key, &v, &format!("one of {}", allowed.join(", "))))
            }
            v => Ok(v),
        }
    }

    /// The value of `key` as a number of at least 1, or `None` when it is not set.
    pub fn positive_u32(&self, key: &str) -> Result<Option<u32>, ConnectorError> {
        self.opt(key)
            .map(|s| {
                s.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| bad_value(key, &s, "a positive whole number"))
            })
            .transpose()
    }

    /// The value of `key` as a comma-separated list, each item trimmed and empty items
    /// dropped; empty when it is not set.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.opt(key)
            .map(|s| s.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    }

    /// The value of `key` as a record type (`document`, `event`, `entity`, `claim` or
    /// `metric`, lower case or capitalised as in the envelope), or `default` when it is
    /// not set.
    pub fn record_type(&self, key: &str, default: RecordType) -> Result<RecordType, ConnectorError> {
        let Some(v) = self.opt(key) else { return Ok(default) };
        match v.as_str() {
            "document" | "Document" => Ok(RecordType::Document),
            "event" | "Event" => Ok(RecordType::Event),
            "entity" | "Entity" => Ok(RecordType::Entity),
            "claim" | "Claim" => Ok(RecordType::Claim),
            "metric" | "Metric" => Ok(RecordType::Metric),
            other => Err(bad_value(key, other, "one of document, event, entity, claim, metric")),
        }
    }

    /// The value of `key` as an `http://` or `https://` URL without a trailing `/` (so
    /// that paths can be appended with one), or `None` when it is not set.
    pub fn http_url(&self, key: &str) -> Result<Option<String>, ConnectorError> {
        let Some(url) = self.opt(key) else { return Ok(None) };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(bad_value(key, &url, "an `http://` or `https://` URL"));
        }
        Ok(Some(url.trim_end_matches('/').to_string()))
    }
}

/// The error for a required `key` that is not set: "config `{key}` is required: {what}".
pub fn missing(key: &str, what: &str) -> ConnectorError {
    ConnectorError::InvalidConfig(format!("config `{key}` is required: {what}"))
}

/// The error for a `value` of `key` that is not what was `expected`: "config `{key}` is
/// `{value}`; expected {expected}".
pub fn bad_value(key: &str, value: &str, expected: &str) -> ConnectorError {
    ConnectorError::InvalidConfig(format!("config `{key}` is `{value}`; expected {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a reader over `pairs`.
    fn with<R>(pairs: &[(&str, &str)], f: impl FnOnce(ConfigReader<'_>) -> R) -> R {
        f(ConfigReader::new(&pairs_lookup(pairs)))
    }

    fn message<T: std::fmt::Debug>(r: Result<T, ConnectorError>) -> String {
        match r {
            Err(ConnectorError::InvalidConfig(m)) => m,
            other => panic!("expected invalid-config, got {other:?}"),
        }
    }

    #[test]
    fn values_are_trimmed_and_empty_is_unset() {
        with(&[("a", "  x "), ("blank", "   "), ("empty", "")], |cfg| {
            assert_eq!(cfg.opt("a").as_deref(), Some("x"));
            assert_eq!(cfg.opt("blank"), None);
            assert_eq!(cfg.opt("empty"), None);
            assert_eq!(cfg.opt("absent"), None);
            assert_eq!(cfg.opt_or("a", "d"), "x");
            assert_eq!(cfg.opt_or("blank", "d"), "d");
            assert_eq!(cfg.required("a", "why").unwrap(), "x");
            assert_eq!(message(cfg.required("blank", "the feed file")), "config `blank` is required: the feed file");
        });
    }

    #[test]
    fn one_of_names_the_choices() {
        with(&[("state", "open"), ("sort", "size")], |cfg| {
            assert_eq!(cfg.one_of("state", &["open", "closed"]).unwrap().as_deref(), Some("open"));
            assert_eq!(cfg.one_of("unset", &["open", "closed"]).unwrap(), None);
            assert_eq!(
                message(cfg.one_of("sort", &["created", "updated"])),
                "config `sort` is `size`; expected one of created, updated"
            );
        });
    }

    #[test]
    fn positive_u32_refuses_zero_signs_and_words() {
        with(&[("n", " 25 "), ("zero", "0"), ("neg", "-1"), ("word", "ten"), ("big", "4294967296")], |cfg| {
            assert_eq!(cfg.positive_u32("n").unwrap(), Some(25));
            assert_eq!(cfg.positive_u32("unset").unwrap(), None);
            for (key, value) in [("zero", "0"), ("neg", "-1"), ("word", "ten"), ("big", "4294967296")] {
                assert_eq!(
                    message(cfg.positive_u32(key)),
                    format!("config `{key}` is `{value}`; expected a positive whole number")
                );
            }
        });
    }

    #[test]
    fn list_splits_on_commas() {
        with(&[("tags", " a, b ,,c ,"), ("blank", " ")], |cfg| {
            assert_eq!(cfg.list("tags"), ["a", "b", "c"]);
            assert!(cfg.list("blank").is_empty());
            assert!(cfg.list("unset").is_empty());
        });
    }

    #[test]
    fn record_type_takes_either_case_and_a_default() {
        with(&[("lower", "event"), ("upper", "Metric"), ("bad", "issue")], |cfg| {
            assert_eq!(cfg.record_type("lower", RecordType::Claim).unwrap(), RecordType::Event);
            assert_eq!(cfg.record_type("upper", RecordType::Claim).unwrap(), RecordType::Metric);
            assert_eq!(cfg.record_type("unset", RecordType::Claim).unwrap(), RecordType::Claim);
            assert_eq!(
                message(cfg.record_type("bad", RecordType::Claim)),
                "config `bad` is `issue`; expected one of document, event, entity, claim, metric"
            );
        });
    }

    #[test]
    fn http_url_checks_the_scheme_and_drops_trailing_slashes() {
        with(&[("a", "http://127.0.0.1:8089//"), ("b", "https://api.github.com"), ("c", "ftp://h")], |cfg| {
            assert_eq!(cfg.http_url("a").unwrap().as_deref(), Some("http://127.0.0.1:8089"));
            assert_eq!(cfg.http_url("b").unwrap().as_deref(), Some("https://api.github.com"));
            assert_eq!(cfg.http_url("unset").unwrap(), None);
            assert_eq!(message(cfg.http_url("c")), "config `c` is `ftp://h`; expected an `http://` or `https://` URL");
        });
    }

    #[test]
    fn from_pairs_lets_the_last_pair_win() {
        let read: ReadSettings<String> = |cfg| cfg.required("k", "a value");
        assert_eq!(from_pairs(read, &[("k", "first"), ("k", "last")]).unwrap(), "last");
        assert_eq!(message(from_pairs(read, &[("k", " ")])), "config `k` is required: a value");
    }

    #[test]
    fn cell_reads_once_and_keeps_an_error() {
        // The second call offers other values: what the first call read is kept.
        let read: ReadSettings<u32> = |cfg| cfg.positive_u32("n")?.ok_or_else(|| missing("n", "a number"));
        let cell = SettingsCell::new(read);
        assert_eq!(cell.get_or_read(&pairs_lookup(&[("n", "7")])).unwrap(), &7);
        assert_eq!(cell.get_or_read(&pairs_lookup(&[("n", "8")])).unwrap(), &7);

        let failing = SettingsCell::new(read);
        assert_eq!(message(failing.get_or_read(&pairs_lookup(&[]))), "config `n` is required: a number");
        assert_eq!(message(failing.get_or_read(&pairs_lookup(&[("n", "8")]))), "config `n` is required: a number");
    }
}
