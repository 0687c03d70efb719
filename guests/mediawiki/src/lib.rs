//! An evidence connector for a MediaWiki site, Wikipedia by default: the world
//! `evidence-connector` of `partner:connector@1.1.0`.
//!
//! - `search(query, limit)` asks the Action API's full-text search
//!   (`action=query&list=search`) and returns each hit with its snippet as content,
//!   its last edit as `created-at`, and a confidence that falls with its rank.
//! - `fetch(id)` takes a page id, as a search returned it, and returns the page's
//!   lead section (`prop=extracts`) with its canonical URL and last change
//!   (`prop=info`); none for a page that does not exist.
//!
//! The site's authority is the operator's call (`authority` in the config); the
//! host computes freshness and the score. Every request goes through the host's
//! `http` import, to the origins the manifest allows.

mod text;
mod wiki;

wit_bindgen::generate!({ world: "evidence-connector", path: "../../wit/v1.1", generate_all });

use exports::partner::connector::evidence::{Evidence, Guest};
use partner::connector::types::ConnectorError;

struct MediaWiki;

impl Guest for MediaWiki {
    fn search(query: String, limit: u32) -> Result<Vec<Evidence>, ConnectorError> {
        let site = wiki::Site::from_config()?;
        site.search(&query, limit)
    }

    fn fetch(id: String) -> Result<Option<Evidence>, ConnectorError> {
        let site = wiki::Site::from_config()?;
        site.fetch(&id)
    }
}

export!(MediaWiki);
