//! Why an attempt at a request produced no answer, and how a client error is read:
//! what the guest is told, found in the error's chain of causes.

use super::address::RefusedAddress;
use crate::resilience::retry::Failure;

/// Why an attempt produced no answer.
#[derive(Debug)]
pub enum AttemptError {
    /// The request (or a redirect, or a resolved address) is not granted.
    Denied(String),
    /// The exchange failed; `Failure` says whether it is worth retrying.
    Failed(Failure, String),
    /// The body is over `http.max_body_bytes`.
    TooLarge(String),
    /// A secret for the request could not be had (its source failed, or its token
    /// endpoint refused); the message names the manifest key.
    Credential(String),
}

/// The origin of `url` (`https://h.test:8443`), as messages name it.
pub(super) fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// Maps a client error to what the guest is told, finding the cause in the chain.
pub(super) fn classify(url: &url::Url, e: &reqwest::Error) -> AttemptError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut io_kind = None;
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<RefusedAddress>() {
            return AttemptError::Denied(format!("HTTP to {} is refused: {r}", origin(url)));
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        source = s.source();
    }
    let what = root_cause(e);
    let target = origin(url);
    use std::io::ErrorKind::*;
    match io_kind {
        Some(ConnectionRefused) => {
            AttemptError::Failed(Failure::ConnectionRefused, format!("{target} refused the connection"))
        }
        Some(ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof) => {
            AttemptError::Failed(Failure::ConnectionReset, format!("the connection to {target} was reset: {what}"))
        }
        Some(TimedOut) => AttemptError::Failed(Failure::Timeout, format!("connecting to {target} timed out")),
        _ if e.is_timeout() => AttemptError::Failed(Failure::Timeout, format!("{target} timed out: {what}")),
        _ if what.contains("connection closed before message completed") || what.contains("reset") => {
            AttemptError::Failed(Failure::ConnectionReset, format!("the connection to {target} was reset: {what}"))
        }
        _ => AttemptError::Failed(Failure::Other, format!("request to {target} failed: {what}")),
    }
}

/// The innermost cause of an error: what actually went wrong, without the layers of
/// "error sending request for url (...)" around it.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(s) = last.source() {
        last = s;
    }
    crate::secrets::redact(&last.to_string()).into_owned()
}

/// An error and its causes on one line (reqwest's own message alone says little).
pub(super) fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    crate::secrets::redact(&text).into_owned()
}
