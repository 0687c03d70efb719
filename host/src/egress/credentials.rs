//! A connector's secrets at request time: each value resolved from its source or
//! its OAuth2 token endpoint when a request to its host first needs it, cached, and
//! registered with the redactor before it is sent.
//!
//! A cached value is used until its `ttl_ms` has passed, an OAuth2 token until
//! shortly before it expires ([`token::refresh_at`]), a file's until the file
//! changes (its mtime, size or inode). A value that may be different when resolved
//! again (a helper's output, a token) is dropped when the upstream answers 401, and
//! the request is sent once more with a fresh one ([`Credentials::invalidate`]).
//! Each secret's cache has its own async lock, so concurrent requests wait for one
//! token request instead of each making their own.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use reqwest::header::{HeaderName, HeaderValue};

use super::{Egress, token};
use crate::secrets::source::Stamp;
use crate::secrets::{Secret, SecretValue, Values};

/// What resolving credentials for one attempt did, for the run report.
#[derive(Debug, Default)]
pub struct Used {
    /// Requests made to OAuth2 token endpoints.
    pub token_requests: u64,
}

/// The credentials of one connector, shared by its runs.
pub struct Credentials {
    entries: Vec<Entry>,
    /// Every value this connector has sent, for redacting its responses.
    own: RwLock<Arc<Values>>,
}

struct Entry {
    secret: Secret,
    name: HeaderName,
    cache: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    header: HeaderValue,
    until: Option<Instant>,
    stamp: Option<(PathBuf, Stamp)>,
    refreshable: bool,
}

impl Cached {
    async fn fresh(&self) -> bool {
        if self.until.is_some_and(|u| Instant::now() >= u) {
            return false;
        }
        match &self.stamp {
            None => true,
            Some((path, stamp)) => {
                let path = path.clone();
                let now = tokio::task::spawn_blocking(move || Stamp::of(&path)).await;
                matches!(now, Ok(Ok(s)) if s == *stamp)
            }
        }
    }
}

impl Credentials {
    /// The credentials of `secrets` (nothing is resolved yet).
    pub fn new(secrets: &[Secret]) -> Credentials {
        let entries = secrets
            .iter()
            .map(|s| Entry {
                secret: s.clone(),
                name: HeaderName::from_bytes(s.header.as_bytes()).expect("checked when the manifest was loaded"),
                cache: tokio::sync::Mutex::new(None),
            })
            .collect();
        Credentials { entries, own: RwLock::new(Arc::new(Values::default())) }
    }

    /// Every value this connector has sent so far.
    pub fn own(&self) -> Arc<Values> {
        self.own.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn remember(&self, values: &[&str]) {
        for v in values {
            crate::secrets::register(v);
        }
        let mut own = self.own.write().unwrap_or_else(|e| e.into_inner());
        let mut next = (**own).clone();
        if values.iter().fold(false, |new, v| next.add(v) | new) {
            *own = Arc::new(next);
        }
    }

    /// The secret headers for a request to `host`, resolving what is not cached.
    /// An error names the manifest key and never holds a value.
    pub async fn headers(
        &self,
        host: &str,
        egress: &Egress,
        used: &mut Used,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let mut out = Vec::new();
        for entry in self.entries.iter().filter(|e| e.secret.host == host) {
            let mut cache = entry.cache.lock().await;
            let fresh = match &*cache {
                Some(c) => c.fresh().await,
                None => false,
            };
            if !fresh {
                *cache = Some(self.resolve(&entry.secret, egress, used).await?);
            }
            let header = cache.as_ref().expect("resolved above").header.clone();
            out.push((entry.name.clone(), header));
        }
        Ok(out)
    }

    async fn resolve(&self, secret: &Secret, egress: &Egress, used: &mut Used) -> Result<Cached, String> {
        let now = Instant::now();
        let ttl_until = secret.ttl.map(|t| now + t);
        let (raw, until, stamp, refreshable) = match &secret.value {
            SecretValue::Source(source) => {
                let r = source.resolve(&secret.key).await?;
                (r.value, ttl_until, r.stamp, r.refreshable)
            }
            SecretValue::OAuth2(o) => {
                let key = format!("{}.oauth2", secret.key);
                let client_secret = o.client_secret.resolve(&format!("{key}.client_secret")).await?.value;
                self.remember(&[&client_secret]);
                used.token_requests += 1;
                let t = token::fetch(egress, &key, o, &client_secret).await?;
                let until = match (t.expires_in.map(|e| token::refresh_at(now, e)), ttl_until) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                (t.access_token, until, None, true)
            }
        };
        let formatted = secret.header_value(&raw);
        // Registered before it is first used: no log line can hold it from now on.
        self.remember(&[&raw, &formatted]);
        let mut header = HeaderValue::from_str(&formatted)
            .map_err(|_| format!("`{}`: the value is not valid in a header", secret.key))?;
        header.set_sensitive(true);
        Ok(Cached { header, until, stamp, refreshable })
    }

    /// Drops the cached values for `host` that may be different when resolved
    /// again (after a 401); whether there was any.
    pub async fn invalidate(&self, host: &str) -> bool {
        let mut any = false;
        for entry in self.entries.iter().filter(|e| e.secret.host == host) {
            let mut cache = entry.cache.lock().await;
            if cache.as_ref().is_some_and(|c| c.refreshable) {
                *cache = None;
                any = true;
            }
        }
        any
    }
}
