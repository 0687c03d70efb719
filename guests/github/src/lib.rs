//! The GitHub issues connector: the issues (pull requests included) of one repository.
//!
//! Configuration (the manifest's `[config]`; every value is a string, an empty one
//! counts as not set):
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `owner` | the account that owns the repository | required |
//! | `repo` | the repository's name | required |
//! | `base_url` | the REST API's address (GitHub Enterprise: `https://<host>/api/v3`) | `https://api.github.com` |
//! | `per_page` | issues per page, 1 to 100 (capped by the host's page limit) | 100 |
//! | `state` | `open`, `closed` or `all` | `all` |
//! | `sort` | `created`, `updated` or `comments`; not sent when unset (GitHub: `created`) | unset |
//! | `direction` | `asc` or `desc`; not sent when unset (GitHub: `desc`) | unset |
//! | `source_instance` | the envelope's `source_instance` | `github.com/<owner>/<repo>` |
//! | `acl_tags` | comma-separated tags put on every record | none |
//!
//! The first page is `GET {base_url}/repos/{owner}/{repo}/issues?per_page=..&state=..`;
//! the next ones are the `Link` header's `rel="next"` URLs, used as given. The
//! cursor is `v1:link:<url>`. The token is not the connector's business: the host
//! adds it (`[[http.secrets]]` in the manifest).
//!
//! ETag: the first request of a pass carries the ETag of the previous pass's first
//! page; a `304` ends the pass with an empty page (and, on github.com, costs no rate
//! limit). Only the first page is compared: with GitHub's default order (newest
//! created first) a change to an older issue alone is not seen until the first page
//! changes; `sort = "updated"` puts every change on the first page.
//!
//! Each issue is one `Document` record: id = its `number`; `raw` = the issue object
//! as received; provenance: `uri` = `html_url`, `last_modified` = `updated_at`,
//! `author` = `user.login`; metadata: `kind` (`issue` or `pull_request`), `title`,
//! `state` and `labels` (names). Labels are not ACL tags and are not put there.

mod config;
mod cursor;
mod issue;
mod page;

use connector_sdk::{Connector, ConnectorError, EnvelopeDraft, Page, PageRequest, RecordType, SourceRecord, export};

use crate::config::SETTINGS;

struct GithubConnector;

impl Connector for GithubConnector {
    fn source_name() -> String {
        "github".to_string()
    }

    fn list_records(req: PageRequest) -> Result<Page, ConnectorError> {
        page::list(SETTINGS.get()?, req.cursor.as_deref(), req.limit)
    }

    fn get_record(id: String) -> Result<SourceRecord, ConnectorError> {
        page::get(SETTINGS.get()?, &id)
    }

    fn to_envelopes(records: Vec<SourceRecord>) -> Result<Vec<EnvelopeDraft>, ConnectorError> {
        let settings = SETTINGS.get()?;
        records
            .into_iter()
            .map(|r| {
                let metadata =
                    issue::metadata(&r.raw).map_err(|e| ConnectorError::Parse(format!("record `{}`: {e}", r.id)))?;
                Ok(EnvelopeDraft {
                    record_id: r.id,
                    record_type: RecordType::Document,
                    source_instance: settings.source_instance.clone(),
                    provenance: r.provenance,
                    acl_tags: settings.acl_tags.clone(),
                    raw: r.raw,
                    metadata: Some(metadata),
                })
            })
            .collect()
    }
}

export!(GithubConnector);
