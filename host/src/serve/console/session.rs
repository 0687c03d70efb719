//! Who may use the console, and the guard on its forms.
//!
//! - **Sign-in.** With an admin token (`--token`, required off loopback) every page
//!   and action needs it: as `Authorization: Bearer …` (a script), or as the
//!   session cookie the login form sets once the token was typed in. The cookie is
//!   `HttpOnly` (no script reads it) and `SameSite=Strict` (no other site's page
//!   sends it); its value is a digest of the token and a secret drawn when the
//!   daemon started, so it is not the token, and it ends with the process or a new
//!   token. Without a token (loopback only) the console is open, as the API is.
//! - **Forms.** Every POST from a page carries a CSRF token in a hidden field,
//!   derived from the same secret and the session, and a POST whose `Origin` or
//!   `Sec-Fetch-Site` says it came from another site is refused whatever it
//!   carries. That matters most on loopback without a token, where any web page
//!   the operator opens could otherwise make the browser post to the daemon. A
//!   request signed with the bearer header cannot be forged by a browser across
//!   sites, so it needs no form token.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "host_console";

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The secrets of the console's sessions and forms, drawn once per process.
pub struct Keys {
    secret: [u8; 32],
    token: Option<String>,
}

/// How a request proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No token is set: everyone on loopback may.
    Open,
    /// The bearer header carried the token.
    Bearer,
    /// The session cookie is good; the value is the session's id (for the CSRF token).
    Session(String),
    /// A token is needed and none good was given.
    Stranger,
}

impl Caller {
    /// Whether the request may see and do what the console offers.
    pub fn allowed(&self) -> bool {
        !matches!(self, Caller::Stranger)
    }
}

/// Why a POST was refused before it was looked at.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The form's CSRF token is missing or wrong.
    #[error(
        "the form's CSRF token is missing or wrong (a form from an older page, or a request from another site): reload the page and try again"
    )]
    Csrf,
    /// The request says it came from another site.
    #[error("refused: the request came from another site ({0}); the console's forms only work from its own pages")]
    CrossSite(String),
}

impl Keys {
    /// New keys for a daemon with `token`.
    pub fn new(token: Option<String>) -> Keys {
        Keys { secret: random_secret(), token }
    }

    /// Whether a token is required.
    pub fn locked(&self) -> bool {
        self.token.is_some()
    }

    fn digest(&self, purpose: &str, parts: &[&[u8]]) -> String {
        let mut h = Sha256::new();
        h.update(purpose.as_bytes());
        h.update([0]);
        h.update(self.secret);
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p);
        }
        hex::encode(h.finalize())
    }

    /// The session cookie's value for the token.
    fn session(&self) -> Option<String> {
        self.token.as_ref().map(|t| self.digest("host-console-session", &[t.as_bytes()]))
    }

    /// Whether `given` is the admin token.
    pub fn is_token(&self, given: &str) -> bool {
        self.token.as_ref().is_some_and(|t| crate::serve::api::constant_time_eq(given.as_bytes(), t.as_bytes()))
    }

    /// Who sent a request with these headers.
    pub fn caller(&self, headers: &HeaderMap) -> Caller {
        if self.token.is_none() {
            return Caller::Open;
        }
        let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if bearer.and_then(|v| v.strip_prefix("Bearer ")).is_some_and(|t| self.is_token(t)) {
            return Caller::Bearer;
        }
        match (cookie(headers, COOKIE), self.session()) {
            (Some(given), Some(session))
                if crate::serve::api::constant_time_eq(given.as_bytes(), session.as_bytes()) =>
            {
                Caller::Session(session)
            }
            _ => Caller::Stranger,
        }
    }

    /// The CSRF token of the forms a page shows to `caller`.
    pub fn csrf(&self, caller: &Caller) -> String {
        let session = match caller {
            Caller::Session(s) => s.as_str(),
            _ => "",
        };
        self.digest("host-console-csrf", &[session.as_bytes()])
    }

    /// Whether a POST from `caller` with `headers` and the form token `given` may
    /// go on.
    pub fn check_post(&self, caller: &Caller, headers: &HeaderMap, given: Option<&str>) -> Result<(), Refused> {
        if let Some(site) = cross_site(headers) {
            return Err(Refused::CrossSite(site));
        }
        if *caller == Caller::Bearer {
            return Ok(());
        }
        let want = self.csrf(caller);
        match given {
            Some(g) if crate::serve::api::constant_time_eq(g.as_bytes(), want.as_bytes()) => Ok(()),
            _ => Err(Refused::Csrf),
        }
    }

    /// The id of the `n`th notice of an action.
    pub fn notice_id(&self, n: u64) -> String {
        self.digest("host-console-notice", &[&n.to_be_bytes()])[..16].to_string()
    }

    /// The `Set-Cookie` value that signs a browser in.
    pub fn sign_in_cookie(&self) -> Option<String> {
        self.session().map(|s| format!("{COOKIE}={s}; Path=/; HttpOnly; SameSite=Strict"))
    }
}

/// The `Set-Cookie` value that signs a browser out.
pub fn sign_out_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// What says a request came from another site, if anything does: `Sec-Fetch-Site:
/// cross-site` (or `same-site`: another port or subdomain is another site here), or
/// an `Origin` whose host is not the one the request was sent to.
pub(crate) fn cross_site(headers: &HeaderMap) -> Option<String> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site")
        && matches!(site, "cross-site" | "same-site")
    {
        return Some(format!("Sec-Fetch-Site: {site}"));
    }
    let origin = get("origin")?;
    let host = get("host").unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    if origin == "null" || !origin_host.eq_ignore_ascii_case(host) {
        return Some(format!("Origin: {}", crate::untrusted::Shown::id(origin)));
    }
    None
}

/// The value of cookie `name`, if the request has it.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// 32 bytes from the operating system's generator. A daemon that cannot read it
/// falls back to the time and the process id: the console's tokens then still
/// differ per process, and the admin token itself is what protects the daemon.
fn random_secret() -> [u8; 32] {
    use std::io::Read;
    let mut secret = [0u8; 32];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut secret));
    if read.is_err() {
        tracing::warn!("cannot read /dev/urandom; the console's form tokens are derived from the time");
        let mut h = Sha256::new();
        h.update(format!("{:?}{}", std::time::SystemTime::now(), std::process::id()));
        secret.copy_from_slice(&h.finalize());
    }
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_session_cookie_signs_in_and_is_not_the_token() {
        let keys = Keys::new(Some("the-admin-token".into()));
        assert_eq!(keys.caller(&headers(&[])), Caller::Stranger);
        assert_eq!(keys.caller(&headers(&[("authorization", "Bearer the-admin-token")])), Caller::Bearer);
        assert_eq!(keys.caller(&headers(&[("authorization", "Bearer wrong")])), Caller::Stranger);
        let set = keys.sign_in_cookie().unwrap();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
        assert!(!set.contains("the-admin-token"));
        let value = set.split(';').next().unwrap();
        let caller = keys.caller(&headers(&[("cookie", &format!("a=b; {value}"))]));
        assert!(matches!(caller, Caller::Session(_)), "{caller:?}");
        assert_eq!(keys.caller(&headers(&[("cookie", "host_console=0000")])), Caller::Stranger);
        // Another process's cookie is not this one's.
        let other = Keys::new(Some("the-admin-token".into()));
        assert_ne!(other.sign_in_cookie(), keys.sign_in_cookie());
    }

    #[test]
    fn a_post_needs_the_form_token_and_its_own_origin() {
        let keys = Keys::new(None);
        let caller = keys.caller(&headers(&[]));
        assert_eq!(caller, Caller::Open);
        let token = keys.csrf(&caller);
        let own = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]);
        assert_eq!(keys.check_post(&caller, &own, Some(&token)), Ok(()));
        assert_eq!(keys.check_post(&caller, &own, None), Err(Refused::Csrf));
        assert_eq!(keys.check_post(&caller, &own, Some("x")), Err(Refused::Csrf));
        let evil = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.test")]);
        assert!(matches!(keys.check_post(&caller, &evil, Some(&token)), Err(Refused::CrossSite(_))));
        let fetch = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(matches!(keys.check_post(&caller, &fetch, Some(&token)), Err(Refused::CrossSite(_))));
        let same = headers(&[("sec-fetch-site", "same-origin")]);
        assert_eq!(keys.check_post(&caller, &same, Some(&token)), Ok(()));
    }
}
