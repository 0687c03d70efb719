//! The connector's settings, read once per run from the host's `config` interface.

use connector_sdk::ConnectorError;
use connector_sdk::http_util::{add_param, percent_encode};
use connector_sdk::settings::{ConfigReader, SettingsCell, bad_value};

/// GitHub serves at most this many issues per page.
pub const MAX_PER_PAGE: u32 = 100;

/// Everything the connector was configured with.
#[derive(Debug)]
pub struct Settings {
    /// The API's address without a trailing `/`.
    pub base_url: String,
    pub owner: String,
    pub repo: String,
    pub per_page: u32,
    pub state: String,
    pub sort: Option<String>,
    pub direction: Option<String>,
    pub source_instance: String,
    pub acl_tags: Vec<String>,
}

/// The settings of this run, read from the host on first use.
pub static SETTINGS: SettingsCell<Settings> = SettingsCell::new(Settings::read);

impl Settings {
    /// Reads the settings from the connector's config values (an empty one counts as
    /// not set).
    pub fn read(cfg: &ConfigReader<'_>) -> Result<Settings, ConnectorError> {
        let name = |key: &str, what: &str| {
            let v = cfg.required(key, what)?;
            if v.contains('/') {
                return Err(bad_value(key, &v, "a single name, without `/`"));
            }
            Ok(v)
        };

        let owner = name("owner", "the account that owns the repository (`octokit`)")?;
        let repo = name("repo", "the repository's name (`rest.js`)")?;
        let base_url = cfg.http_url("base_url")?.unwrap_or_else(|| "https://api.github.com".to_string());
        let per_page = match cfg.opt("per_page") {
            None => MAX_PER_PAGE,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PER_PAGE).contains(n))
                .ok_or_else(|| bad_value("per_page", &s, &format!("a whole number from 1 to {MAX_PER_PAGE}")))?,
        };
        let state = cfg.one_of("state", &["open", "closed", "all"])?.unwrap_or_else(|| "all".to_string());
        let source_instance =
            cfg.opt("source_instance").unwrap_or_else(|| format!("{}/{owner}/{repo}", web_host(&base_url)));
        Ok(Settings {
            sort: cfg.one_of("sort", &["created", "updated", "comments"])?,
            direction: cfg.one_of("direction", &["asc", "desc"])?,
            base_url,
            owner,
            repo,
            per_page,
            state,
            source_instance,
            acl_tags: cfg.list("acl_tags"),
        })
    }

    /// `{base_url}/repos/{owner}/{repo}`.
    pub fn repo_url(&self) -> String {
        format!("{}/repos/{}/{}", self.base_url, percent_encode(&self.owner), percent_encode(&self.repo))
    }

    /// The first page of a pass: `per_page` (no more than the host's `limit`), `state`,
    /// then `sort` and `direction` when set.
    pub fn first_url(&self, limit: Option<u32>) -> String {
        let per_page = self.per_page.min(limit.unwrap_or(u32::MAX)).max(1);
        let mut url = add_param(&format!("{}/issues", self.repo_url()), "per_page", &per_page.to_string());
        url = add_param(&url, "state", &self.state);
        if let Some(sort) = &self.sort {
            url = add_param(&url, "sort", sort);
        }
        if let Some(direction) = &self.direction {
            url = add_param(&url, "direction", direction);
        }
        url
    }

    /// The URL of issue `number`.
    pub fn issue_url(&self, number: &str) -> String {
        format!("{}/issues/{}", self.repo_url(), percent_encode(number))
    }
}

/// The web host that an API address belongs to, for `source_instance`:
/// `https://api.github.com` is `github.com`, `https://ghe.example.com/api/v3` is
/// `ghe.example.com`.
fn web_host(base_url: &str) -> &str {
    let host = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    let host = host.strip_suffix("/api/v3").unwrap_or(host);
    if host == "api.github.com" { "github.com" } else { host }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::settings::from_pairs;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, ConnectorError> {
        from_pairs(Settings::read, pairs)
    }

    fn message(pairs: &[(&str, &str)]) -> String {
        match read(pairs) {
            Err(ConnectorError::InvalidConfig(m)) => m,
            other => panic!("expected invalid-config, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_urls() {
        let s = read(&[("owner", "octokit-fixture-org"), ("repo", "paginate-issues")]).unwrap();
        assert_eq!(s.base_url, "https://api.github.com");
        assert_eq!(
            s.first_url(Some(1000)),
            "https://api.github.com/repos/octokit-fixture-org/paginate-issues/issues?per_page=100&state=all"
        );
        assert_eq!(
            s.first_url(Some(20)),
            "https://api.github.com/repos/octokit-fixture-org/paginate-issues/issues?per_page=20&state=all"
        );
        assert_eq!(s.issue_url("7"), "https://api.github.com/repos/octokit-fixture-org/paginate-issues/issues/7");
        assert_eq!(s.source_instance, "github.com/octokit-fixture-org/paginate-issues");

        let s = read(&[
            ("owner", "o"),
            ("repo", "r"),
            ("base_url", "http://127.0.0.1:9000/"),
            ("per_page", "3"),
            ("state", "open"),
            ("sort", "updated"),
            ("direction", "desc"),
        ])
        .unwrap();
        assert_eq!(
            s.first_url(None),
            "http://127.0.0.1:9000/repos/o/r/issues?per_page=3&state=open&sort=updated&direction=desc"
        );
        assert_eq!(s.source_instance, "127.0.0.1:9000/o/r");
        assert_eq!(web_host("https://ghe.example.com/api/v3"), "ghe.example.com");
    }

    #[test]
    fn errors_name_the_key() {
        assert!(message(&[("repo", "r")]).contains("config `owner` is required"));
        assert!(message(&[("owner", "o")]).contains("config `repo` is required"));
        assert!(message(&[("owner", "o/r"), ("repo", "r")]).contains("config `owner` is `o/r`"));
        assert!(message(&[("owner", "o"), ("repo", "r"), ("per_page", "101")]).contains("config `per_page` is `101`"));
        assert!(message(&[("owner", "o"), ("repo", "r"), ("state", "done")]).contains("config `state` is `done`"));
        assert!(message(&[("owner", "o"), ("repo", "r"), ("sort", "x")]).contains("config `sort` is `x`"));
        assert!(message(&[("owner", "o"), ("repo", "r"), ("base_url", "api.github.com")]).contains("`http://`"));
    }
}
