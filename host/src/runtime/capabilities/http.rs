//! `partner:connector/http`: outbound HTTP, mediated by the host.
//!
//! The capability is a thin seam: every request goes to the connector's
//! [`Egress`], which checks the grant, rate-limits, breaks circuits, retries and
//! injects secrets. A refusal or a failure is a `connector-error` value the guest can
//! handle, never a trap.

use std::sync::Arc;
use std::time::Instant;

use crate::egress::{Egress, HttpStats, RequestLog};
use crate::runtime::bindings::v1::partner::connector::http::{self, Request, Response};
use crate::runtime::bindings::v1::partner::connector::types::ConnectorError;

/// The HTTP capability of one run.
pub struct HttpCap {
    egress: Arc<Egress>,
    /// What this run's requests did.
    pub stats: HttpStats,
    /// The host's log lines about this run's requests, sampled (the egress is shared
    /// by all of a connector's runs; this is the run's own).
    log: RequestLog,
    /// The origins the guest asked to reach, allowed or not (`host check` compares
    /// them with what it declares), the first [`MAX_ORIGINS`] of them.
    pub origins: std::collections::BTreeSet<String>,
}

/// How many distinct origins a run's [`HttpCap::origins`] keeps.
pub const MAX_ORIGINS: usize = 256;

impl HttpCap {
    /// An HTTP capability going through `egress`.
    pub fn new(egress: Arc<Egress>) -> HttpCap {
        HttpCap { egress, stats: HttpStats::default(), log: RequestLog::default(), origins: Default::default() }
    }

    fn note_origin(&mut self, url: &str) {
        // Only URLs the egress would parse at all (8 KiB); the egress refuses the rest.
        if self.origins.len() >= MAX_ORIGINS || url.len() > 8192 {
            return;
        }
        if let Ok(u) = url::Url::parse(url) {
            self.origins.insert(u.origin().ascii_serialization());
        }
    }
}

/// The capability with the deadline of the guest call now running: the host never
/// waits (for a retry, a rate limit) past it.
pub struct HttpView<'a> {
    /// The capability.
    pub cap: &'a mut HttpCap,
    /// The guest call's deadline.
    pub deadline: Option<Instant>,
}

impl http::Host for HttpView<'_> {
    async fn send(&mut self, req: Request) -> wasmtime::Result<Result<Response, ConnectorError>> {
        // The WIT types end here: the egress speaks the host's own.
        let cap = &mut *self.cap;
        cap.note_origin(&req.url);
        let answer = cap.egress.send(req.into(), self.deadline, &mut cap.stats, &mut cap.log).await;
        Ok(answer.map(Response::from).map_err(ConnectorError::from))
    }
}
