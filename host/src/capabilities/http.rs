//! `partner:connector/http`: outbound HTTP, mediated by the host.
//!
//! The manifest grants no HTTP hosts yet, so every request is denied with a
//! `denied` error naming the origin it tried to reach. Denial is a value the guest
//! can handle, never a trap.

use std::sync::Arc;

use crate::bindings::v1::partner::connector::http::{self, Request, Response};
use crate::bindings::v1::partner::connector::types::ConnectorError;

/// The HTTP capability of one run.
pub struct HttpCap {
    connector: Arc<str>,
    /// How many requests the guest attempted (all denied).
    pub denied: u64,
}

impl HttpCap {
    /// An HTTP capability for `connector` with no granted hosts.
    pub fn new(connector: Arc<str>) -> HttpCap {
        HttpCap { connector, denied: 0 }
    }

    fn deny(&mut self, req: &Request) -> ConnectorError {
        self.denied += 1;
        let target = match url::Url::parse(&req.url) {
            Ok(url) => url.origin().ascii_serialization(),
            Err(e) => return ConnectorError::Denied(format!("`{}` is not an absolute URL: {e}", req.url)),
        };
        tracing::warn!(connector = %self.connector, %target, "denied an HTTP request: no host is granted");
        ConnectorError::Denied(format!("HTTP to {target} is not granted: the manifest allows no HTTP hosts"))
    }
}

impl http::Host for HttpCap {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, ConnectorError>> {
        Ok(Err(self.deny(&req)))
    }
}
