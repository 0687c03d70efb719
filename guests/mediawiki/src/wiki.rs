//! The site and its two API calls.

use serde::Deserialize;
use serde_json::Value;

use crate::exports::partner::connector::evidence::Evidence;
use crate::partner::connector::http::{self, Method, Request};
use crate::partner::connector::types::{ApiError, ConnectorError, RetryInfo};
use crate::partner::connector::{config, log};
use crate::text;

/// The most bytes of an answer this connector reads.
const MAX_BODY: usize = 8 << 20;

/// A MediaWiki site, as the config describes it.
pub struct Site {
    /// `https://en.wikipedia.org`, without a trailing slash.
    base_url: String,
    /// The API's path on the site.
    api_path: String,
    /// Where articles live: `{base_url}{article_path}{title}`.
    article_path: String,
    /// How authoritative the site is, in [0, 1].
    authority: f64,
}

impl Site {
    /// The site the config names: `base_url` (default `https://en.wikipedia.org`),
    /// `api_path` (`/w/api.php`), `article_path` (`/wiki/`), `authority` (0.7).
    pub fn from_config() -> Result<Site, ConnectorError> {
        let base_url = config::get("base_url").unwrap_or_else(|| "https://en.wikipedia.org".into());
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ConnectorError::InvalidConfig(format!(
                "base_url `{base_url}` must start with https:// or http://"
            )));
        }
        let authority = match config::get("authority") {
            None => 0.7,
            Some(a) => a.parse::<f64>().ok().filter(|a| (0.0..=1.0).contains(a)).ok_or_else(|| {
                ConnectorError::InvalidConfig(format!("authority `{a}` must be a number from 0 to 1"))
            })?,
        };
        Ok(Site {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_path: config::get("api_path").unwrap_or_else(|| "/w/api.php".into()),
            article_path: config::get("article_path").unwrap_or_else(|| "/wiki/".into()),
            authority,
        })
    }

    /// Full-text search: at most `limit` hits, best first.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<Evidence>, ConnectorError> {
        let url = format!(
            "{}{}?action=query&format=json&list=search&srsearch={}&srlimit={}&srnamespace=0&srprop=snippet%7Ctimestamp",
            self.base_url,
            self.api_path,
            text::encode(query),
            limit.clamp(1, 500)
        );
        let answer: SearchAnswer = self.get(&url)?;
        let hits = answer.query.map(|q| q.search).unwrap_or_default();
        let n = hits.len().max(1) as f64;
        Ok(hits
            .into_iter()
            .take(limit as usize)
            .enumerate()
            .map(|(rank, hit)| Evidence {
                id: hit.pageid.to_string(),
                url: self.article_url(&hit.title),
                content: text::plain(&hit.snippet),
                title: hit.title,
                author: None,
                created_at: hit.timestamp,
                // The site ranks by relevance: the first hit is the one it is surest
                // of, and confidence falls by rank to one half for the last.
                confidence: 1.0 - 0.5 * rank as f64 / n,
                authority: self.authority,
                metadata: Some(serde_json::json!({ "rank": rank + 1 }).to_string()),
            })
            .collect())
    }

    /// The page with id `id`: its lead section, canonical URL and last change.
    pub fn fetch(&self, id: &str) -> Result<Option<Evidence>, ConnectorError> {
        // A page id is a number; anything else names no page.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let api = format!("{}{}?action=query&format=json&pageids={id}", self.base_url, self.api_path);
        let extract: PagesAnswer = self.get(&format!("{api}&prop=extracts&explaintext=1&exsectionformat=wiki"))?;
        let Some(page) = extract.page(id) else { return Ok(None) };
        let info: PagesAnswer = self.get(&format!("{api}&prop=info&inprop=url"))?;
        let about = info.page(id);
        let title = page.title.clone().unwrap_or_default();
        Ok(Some(Evidence {
            id: id.to_string(),
            url: about.and_then(|p| p.fullurl.clone()).unwrap_or_else(|| self.article_url(&title)),
            content: text::lead(page.extract.as_deref().unwrap_or_default()).to_string(),
            title,
            author: None,
            created_at: about.and_then(|p| p.touched.clone()),
            // The page asked for, by id: nothing to be unsure of.
            confidence: 1.0,
            authority: self.authority,
            metadata: about.and_then(|p| p.lastrevid).map(|rev| serde_json::json!({ "revision": rev }).to_string()),
        }))
    }

    fn article_url(&self, title: &str) -> String {
        format!("{}{}{}", self.base_url, self.article_path, text::title_path(title))
    }

    /// GETs `url` through the host and reads the answer as `T`; an HTTP error or
    /// the API's own error is a typed connector error.
    fn get<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, ConnectorError> {
        let req = Request {
            method: Method::Get,
            url: url.to_string(),
            headers: vec![("accept".into(), "application/json".into())],
            body: None,
            timeout_ms: None,
        };
        let resp = http::send(&req)?;
        let header = |name: &str| resp.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        match resp.status {
            200 => {}
            429 => {
                let retry_after_ms = header("retry-after").and_then(|s| s.trim().parse::<u64>().ok()).map(|s| s * 1000);
                return Err(ConnectorError::RateLimited(RetryInfo {
                    retry_after_ms,
                    message: "the site is rate limiting".into(),
                }));
            }
            404 => return Err(ConnectorError::NotFound(format!("{url} answered 404"))),
            status => {
                return Err(ConnectorError::Api(ApiError { status, message: snippet(&resp.body) }));
            }
        }
        if resp.body.len() > MAX_BODY {
            return Err(ConnectorError::Parse(format!(
                "the answer is {} bytes, more than {MAX_BODY}",
                resp.body.len()
            )));
        }
        let value: Value = serde_json::from_slice(&resp.body)
            .map_err(|e| ConnectorError::Parse(format!("the answer is not JSON: {e}")))?;
        if let Some(error) = value.get("error") {
            let code = error.get("code").and_then(Value::as_str).unwrap_or("unknown");
            let info = error.get("info").and_then(Value::as_str).unwrap_or("");
            log::log(log::Level::Warn, &format!("the API refused the request: {code}: {info}"));
            return Err(ConnectorError::Api(ApiError { status: 400, message: format!("{code}: {info}") }));
        }
        serde_json::from_value(value).map_err(|e| ConnectorError::Parse(format!("unexpected answer: {e}")))
    }
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}

#[derive(Deserialize)]
struct SearchAnswer {
    query: Option<SearchQuery>,
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    search: Vec<Hit>,
}

#[derive(Deserialize)]
struct Hit {
    pageid: u64,
    title: String,
    #[serde(default)]
    snippet: String,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
struct PagesAnswer {
    query: Option<Pages>,
}

#[derive(Deserialize)]
struct Pages {
    #[serde(default)]
    pages: std::collections::BTreeMap<String, Page>,
}

#[derive(Deserialize, Clone)]
struct Page {
    title: Option<String>,
    extract: Option<String>,
    fullurl: Option<String>,
    touched: Option<String>,
    lastrevid: Option<u64>,
    missing: Option<Value>,
    invalid: Option<Value>,
}

impl PagesAnswer {
    /// Page `id` of the answer, unless the API says it is missing.
    fn page(&self, id: &str) -> Option<&Page> {
        let page = self.query.as_ref()?.pages.get(id)?;
        (page.missing.is_none() && page.invalid.is_none()).then_some(page)
    }
}
