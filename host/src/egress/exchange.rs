//! One attempt at a request: the guest's headers checked, the host's secrets added,
//! redirects followed and re-checked hop by hop, timeouts and body caps enforced,
//! the body decompressed under the same cap.

use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::Egress;
use super::credentials::Used;
use super::failure::{AttemptError, classify, error_text, origin};
use crate::manifest::http::HOST_OWNED_HEADERS;
use crate::resilience::retry::Failure;

/// A guest's request, checked and ready to send.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The method.
    pub method: reqwest::Method,
    /// The first URL (granted).
    pub url: url::Url,
    /// The guest's headers, checked.
    pub headers: HeaderMap,
    /// The body.
    pub body: Option<Vec<u8>>,
    /// The time allowed for the whole exchange, in ms (for messages).
    pub budget_ms: u64,
}

/// A response, read whole.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The status of the last hop.
    pub status: u16,
    /// Its headers, names in lower case, the connector's secrets redacted.
    pub headers: Vec<(String, String)>,
    /// Its body, decompressed, the connector's secrets redacted.
    pub body: Vec<u8>,
    /// How many secret values were redacted from the headers and body.
    pub redacted: u64,
}

/// Checks the guest's headers: no CR, LF or NUL anywhere; none of the headers the
/// host owns (hop-by-hop ones, `Host`, and any header a secret adds for this host).
/// `Accept-Encoding` is the host's too (it decodes what it asked for), so a guest's
/// is dropped rather than refused.
pub fn check_headers(headers: &[(String, String)], injected: &[&str]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let shown = crate::untrusted::sanitize(name.as_bytes(), 64);
        if name.contains(['\r', '\n', '\0']) || value.contains(['\r', '\n', '\0']) {
            return Err(format!("header `{shown}`: CR, LF or NUL in a header name or value is refused"));
        }
        let lower = name.to_ascii_lowercase();
        if HOST_OWNED_HEADERS.contains(&lower.as_str()) {
            return Err(format!("header `{shown}` is set by the host, not the connector"));
        }
        if injected.contains(&lower.as_str()) {
            return Err(format!(
                "header `{shown}` is injected by the host for this host; the connector may not set it"
            ));
        }
        if lower == "accept-encoding" {
            continue;
        }
        let n =
            HeaderName::from_bytes(lower.as_bytes()).map_err(|_| format!("`{shown}` is not a valid header name"))?;
        let v = HeaderValue::from_str(value).map_err(|_| format!("header `{shown}` has a value that is not valid"))?;
        map.append(n, v);
    }
    Ok(map)
}

/// Sends `req` (following redirects) and reads the answer, all by `deadline`.
/// Each hop gets the manifest's plain headers for its host (unless the guest set a
/// header of that name) and its host's secrets.
pub async fn attempt(
    egress: &Egress,
    req: &Prepared,
    deadline: Instant,
    used: &mut Used,
) -> Result<Answer, AttemptError> {
    let settings = &egress.grant.settings;
    let mut url = req.url.clone();
    let mut method = req.method.clone();
    let mut body = req.body.clone();
    let mut hops = 0;
    let response = loop {
        if egress.grant.allows(&url).is_none() {
            return Err(AttemptError::Denied(format!(
                "a redirect led from {} to {}, which is not granted (http.allow)",
                origin(&req.url),
                origin(&url)
            )));
        }
        let mut headers = req.headers.clone();
        let host = url.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
        for h in egress.grant.plain_headers(&host) {
            if !headers.contains_key(&h.name) {
                headers.insert(h.name.clone(), h.value.clone());
            }
        }
        for (name, value) in egress.credentials.headers(&host, egress, used).await.map_err(AttemptError::Credential)? {
            headers.insert(name, value);
        }
        headers.insert(reqwest::header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate"));
        let mut builder = egress.client().request(method.clone(), url.clone()).headers(headers);
        if let Some(b) = &body {
            builder = builder.body(b.clone());
        }
        let request = builder.build().map_err(|e| AttemptError::Failed(Failure::Other, e.to_string()))?;
        let first_byte = Duration::from_millis(settings.first_byte_timeout_ms);
        let left = deadline.saturating_duration_since(Instant::now());
        let response = match tokio::time::timeout(first_byte.min(left), egress.client().execute(request)).await {
            Err(_) => {
                let limit = if first_byte <= left {
                    format!("{} ms (http.first_byte_timeout_ms)", settings.first_byte_timeout_ms)
                } else {
                    format!("{} ms (the request's time budget)", req.budget_ms)
                };
                return Err(AttemptError::Failed(
                    Failure::Timeout,
                    format!("no response from {} within {limit}", origin(&url)),
                ));
            }
            Ok(Err(e)) => return Err(classify(&url, &e)),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            break response;
        }
        let Some(location) = response.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()) else {
            break response;
        };
        if hops >= settings.max_redirects {
            return Err(AttemptError::Failed(
                Failure::Other,
                format!(
                    "{} redirected more than {} times (http.max_redirects)",
                    origin(&req.url),
                    settings.max_redirects
                ),
            ));
        }
        hops += 1;
        let next = url.join(location).map_err(|e| {
            AttemptError::Failed(Failure::Other, format!("{} redirected to an invalid location: {e}", origin(&url)))
        })?;
        if status == 303 || (matches!(status, 301 | 302) && method == reqwest::Method::POST) {
            if method != reqwest::Method::HEAD {
                method = reqwest::Method::GET;
            }
            body = None;
        }
        url = next;
    };
    read(egress, &url, response, deadline).await
}

async fn read(
    egress: &Egress,
    url: &url::Url,
    mut response: reqwest::Response,
    deadline: Instant,
) -> Result<Answer, AttemptError> {
    let max = egress.grant.settings.max_body_bytes;
    let too_large = |what: &str| {
        AttemptError::TooLarge(format!(
            "the {what} from {} is larger than http.max_body_bytes ({max} bytes)",
            origin(url)
        ))
    };
    if response.content_length().is_some_and(|n| n > max) {
        return Err(too_large("response body"));
    }
    let status = response.status().as_u16();
    let encoding = response
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    // Only the values this connector sends are redacted from what it is answered:
    // they can be there only because the upstream echoed a credential.
    let own = egress.credentials.own();
    let mut redacted = 0;
    let mut headers: Vec<(String, String)> = Vec::with_capacity(response.headers().len());
    for (name, value) in response.headers() {
        if encoding.is_some() && (name == reqwest::header::CONTENT_ENCODING || name == reqwest::header::CONTENT_LENGTH)
        {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        let (value, n) = own.redact(&value);
        redacted += n;
        headers.push((name.as_str().to_string(), value.into_owned()));
    }
    let mut raw = Vec::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline.into(), response.chunk()).await {
            Err(_) => {
                return Err(AttemptError::Failed(
                    Failure::Timeout,
                    format!("the response body from {} did not arrive in time", origin(url)),
                ));
            }
            Ok(Err(e)) => {
                return Err(AttemptError::Failed(
                    Failure::TruncatedBody,
                    format!("the response body from {} was cut short: {}", origin(url), error_text(&e)),
                ));
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(c))) => c,
        };
        if raw.len() as u64 + chunk.len() as u64 > max {
            return Err(too_large("response body"));
        }
        raw.extend_from_slice(&chunk);
    }
    let decoder = match encoding.as_deref() {
        None | Some("identity") | Some("") => Decoder::Identity,
        Some("gzip") | Some("x-gzip") => Decoder::Gzip,
        Some("deflate") => Decoder::Deflate,
        Some(other) => {
            return Err(AttemptError::Failed(
                Failure::Other,
                format!("{} sent a body in content-encoding `{other}`, which the host did not ask for", origin(url)),
            ));
        }
    };
    // Decompressing up to `max` bytes and redacting them can take long: a body
    // beyond a small one is handled on the blocking pool, off the async workers.
    let (body, n) = if matches!(decoder, Decoder::Identity) && raw.len() <= INLINE_BODY {
        decoder.finish(raw, max, url, &own)?
    } else {
        let url = url.clone();
        tokio::task::spawn_blocking(move || decoder.finish(raw, max, &url, &own))
            .await
            .map_err(|e| AttemptError::Failed(Failure::Other, format!("decoding the response body failed: {e}")))??
    };
    Ok(Answer { status, headers, body, redacted: redacted + n })
}

/// The largest body decoded and redacted on the async worker that read it.
const INLINE_BODY: usize = 64 << 10;

/// How a response body is encoded.
#[derive(Clone, Copy)]
enum Decoder {
    Identity,
    Gzip,
    Deflate,
}

impl Decoder {
    /// `raw` decoded (at most `max` bytes) with the values of `own` redacted, and
    /// how many were.
    fn finish(
        self,
        raw: Vec<u8>,
        max: u64,
        url: &url::Url,
        own: &crate::secrets::Values,
    ) -> Result<(Vec<u8>, u64), AttemptError> {
        let body = match self {
            Decoder::Identity => raw,
            Decoder::Gzip => decode(flate2::read::MultiGzDecoder::new(&raw[..]), max, url)?,
            Decoder::Deflate => decode(flate2::read::ZlibDecoder::new(&raw[..]), max, url)?,
        };
        let (redacted, n) = own.redact_bytes(&body);
        Ok((redacted.unwrap_or(body), n))
    }
}

/// Decompresses at most `max` bytes; more is an error, never an allocation.
fn decode(reader: impl Read, max: u64, url: &url::Url) -> Result<Vec<u8>, AttemptError> {
    let mut out = Vec::new();
    reader.take(max + 1).read_to_end(&mut out).map_err(|e| {
        AttemptError::Failed(Failure::Other, format!("the compressed body from {} is corrupt: {e}", origin(url)))
    })?;
    if out.len() as u64 > max {
        return Err(AttemptError::TooLarge(format!(
            "the decompressed response body from {} is larger than http.max_body_bytes ({max} bytes)",
            origin(url)
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn refuses_host_owned_and_injected_headers_and_crlf() {
        assert!(check_headers(&h(&[("Accept", "application/json"), ("X-Id", "1")]), &[]).is_ok());
        let e = check_headers(&h(&[("X-A", "v\r\nHost: evil")]), &[]).unwrap_err();
        assert_eq!(e, "header `X-A`: CR, LF or NUL in a header name or value is refused");
        let e = check_headers(&h(&[("X-A\n", "v")]), &[]).unwrap_err();
        assert!(e.contains("CR, LF or NUL"), "{e}");
        for name in ["Host", "Content-Length", "Transfer-Encoding", "Connection", "TE", "Upgrade"] {
            let e = check_headers(&h(&[(name, "x")]), &[]).unwrap_err();
            assert_eq!(e, format!("header `{name}` is set by the host, not the connector"));
        }
        assert!(check_headers(&h(&[("Authorization", "x")]), &[]).is_ok());
        let e = check_headers(&h(&[("Authorization", "x")]), &["authorization"]).unwrap_err();
        assert!(e.contains("injected by the host"), "{e}");
        let m = check_headers(&h(&[("Accept-Encoding", "br")]), &[]).unwrap();
        assert!(m.is_empty());
        assert!(check_headers(&h(&[("bad name", "x")]), &[]).unwrap_err().contains("not a valid header name"));
    }
}
