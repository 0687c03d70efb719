//! OAuth2 client credentials (RFC 6749 §4.4), done by the host: the guest never sees
//! the client secret or the access token.
//!
//! The token request is a form POST to the secret's `token_url` through the
//! connector's own client: the same name resolution and address checks, the same
//! certificate authorities (`http.ca_files`), the same timeouts, no proxy and no
//! redirects. The token URL is a grant of its own, for these requests only: the
//! guest cannot send to it unless `http.allow` lists it too. Token requests are not
//! recorded (`--record` keeps what the guest saw) and not made when replaying.

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE};

use super::Egress;
use super::failure::{AttemptError, classify};
use crate::secrets::OAuth2;

/// The most bytes of a token endpoint's answer the host reads.
const MAX_TOKEN_RESPONSE: usize = 64 << 10;

/// An access token.
pub struct Token {
    /// The token.
    pub access_token: String,
    /// How long it is valid, if the endpoint said.
    pub expires_in: Option<Duration>,
}

/// When a token valid for `expires_in` from `now` is fetched again: a tenth of its
/// life before it expires, at most a minute before (a request in flight must not
/// arrive with a token that expired on the way).
pub fn refresh_at(now: Instant, expires_in: Duration) -> Instant {
    now + expires_in - (expires_in / 10).min(Duration::from_secs(60))
}

/// Asks `o`'s token endpoint for a token. `key` is the manifest key of the
/// `oauth2` table; errors name it and never hold the client secret or a token.
pub async fn fetch(egress: &Egress, key: &str, o: &OAuth2, client_secret: &str) -> Result<Token, String> {
    let k = format!("`{key}.token_url`");
    let origin = o.token_url.origin().ascii_serialization();
    // The serializer is not `Send`: it is gone before the first await.
    let body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &o.client_id)
            .append_pair("client_secret", client_secret);
        for (name, value) in [("scope", &o.scope), ("audience", &o.audience), ("resource", &o.resource)] {
            if let Some(v) = value {
                form.append_pair(name, v);
            }
        }
        form.finish()
    };
    let settings = &egress.grant.settings;
    let total = Duration::from_millis(settings.total_timeout_ms);
    let deadline = Instant::now() + total;
    let request = egress
        .client()
        .post(o.token_url.clone())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json")
        .body(body)
        .build()
        .map_err(|e| format!("{k}: cannot build the token request: {e}"))?;
    let first_byte = Duration::from_millis(settings.first_byte_timeout_ms).min(total);
    let mut response = match tokio::time::timeout(first_byte, egress.client().execute(request)).await {
        Err(_) => return Err(format!("{k}: no answer from {origin} within {} ms", first_byte.as_millis())),
        Ok(Err(e)) => {
            let m = match classify(&o.token_url, &e) {
                AttemptError::Denied(m) | AttemptError::Failed(_, m) | AttemptError::TooLarge(m) => m,
                AttemptError::Credential(m) => m,
            };
            return Err(format!("{k}: the token request failed: {m}"));
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    let mut text = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline.into(), response.chunk()).await {
            Err(_) => return Err(format!("{k}: the answer from {origin} did not arrive in time")),
            Ok(Err(e)) => return Err(format!("{k}: the answer from {origin} was cut short: {e}")),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(c))) => {
                if text.len() + c.len() > MAX_TOKEN_RESPONSE {
                    return Err(format!("{k}: the answer from {origin} is larger than {MAX_TOKEN_RESPONSE} bytes"));
                }
                text.extend_from_slice(&c);
            }
        }
    }
    let json: Option<serde_json::Value> = serde_json::from_slice(&text).ok();
    let field = |name: &str| json.as_ref().and_then(|j| j.get(name)).and_then(|v| v.as_str());
    if status.is_redirection() {
        return Err(format!("{k}: {origin} answered {status}; the host follows no redirect for a token request"));
    }
    if !status.is_success() {
        // RFC 6749 §5.2: `error` and `error_description`; both are the endpoint's
        // text, so they are cut, escaped and redacted.
        let why = match (field("error"), field("error_description")) {
            (Some(e), Some(d)) => format!(" ({e}: {d})"),
            (Some(e), None) => format!(" ({e})"),
            _ => String::new(),
        };
        let why = crate::untrusted::sanitize(crate::secrets::redact(&why).as_bytes(), 300);
        return Err(format!("{k}: {origin} refused the token request: {status}{why}"));
    }
    let Some(access_token) = field("access_token") else {
        return Err(format!("{k}: the answer from {origin} is not a token response (no `access_token` string)"));
    };
    crate::secrets::check_value(access_token).map_err(|m| format!("{k}: the access token from {origin}: {m}"))?;
    let expires_in = json.as_ref().and_then(|j| j.get("expires_in")).and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_u64(),
        // Azure AD v1 sends it as a string.
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    });
    Ok(Token { access_token: access_token.to_string(), expires_in: expires_in.map(Duration::from_secs) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_refreshed_before_it_expires() {
        let now = Instant::now();
        assert_eq!(refresh_at(now, Duration::from_secs(3600)), now + Duration::from_secs(3540));
        assert_eq!(refresh_at(now, Duration::from_secs(2)), now + Duration::from_millis(1800));
        assert_eq!(refresh_at(now, Duration::ZERO), now);
    }
}
