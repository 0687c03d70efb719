//! `partner:connector@1.x` at the edge: its WIT types converted to and from the
//! host's own ([`crate::contract`]), those of 1.0 and what 1.1 adds (evidence).
//! Nothing behind the edge sees a WIT type.

use super::bindings::v1::partner::connector::{http as wit_http, types as wit};
use super::bindings::v1_1::exports::partner::connector::evidence as wit_evidence;
use crate::contract::http::{Method, Request, Response};
use crate::contract::{
    ConnectorError, Draft, DraftPage, ErrorCase, Evidence, PageRequest, Provenance, RecordType, Skipped, SourceRecord,
};

impl From<wit::ConnectorError> for ConnectorError {
    fn from(e: wit::ConnectorError) -> ConnectorError {
        use wit::ConnectorError as W;
        let (case, message) = match e {
            W::RateLimited(r) => return ConnectorError::wait(ErrorCase::RateLimited, r.retry_after_ms, r.message),
            W::CircuitOpen(r) => return ConnectorError::wait(ErrorCase::CircuitOpen, r.retry_after_ms, r.message),
            W::Api(a) => return ConnectorError::api(a.status, a.message),
            W::Auth(m) => (ErrorCase::Auth, m),
            W::Timeout(m) => (ErrorCase::Timeout, m),
            W::Network(m) => (ErrorCase::Network, m),
            W::NotFound(m) => (ErrorCase::NotFound, m),
            W::InvalidConfig(m) => (ErrorCase::InvalidConfig, m),
            W::Parse(m) => (ErrorCase::Parse, m),
            W::Quota(m) => (ErrorCase::Quota, m),
            W::Denied(m) => (ErrorCase::Denied, m),
            W::Unsupported(m) => (ErrorCase::Unsupported, m),
            W::Other(m) => (ErrorCase::Other, m),
        };
        ConnectorError::new(case, message)
    }
}

impl From<ConnectorError> for wit::ConnectorError {
    fn from(e: ConnectorError) -> wit::ConnectorError {
        use wit::ConnectorError as W;
        let ConnectorError { case, message, retry_after_ms, status } = e;
        let retry = |message| wit::RetryInfo { retry_after_ms, message };
        match case {
            ErrorCase::Auth => W::Auth(message),
            ErrorCase::RateLimited => W::RateLimited(retry(message)),
            ErrorCase::Timeout => W::Timeout(message),
            ErrorCase::Network => W::Network(message),
            ErrorCase::NotFound => W::NotFound(message),
            ErrorCase::Api => W::Api(wit::ApiError { status: status.unwrap_or(0), message }),
            ErrorCase::InvalidConfig => W::InvalidConfig(message),
            ErrorCase::Parse => W::Parse(message),
            ErrorCase::Quota => W::Quota(message),
            ErrorCase::CircuitOpen => W::CircuitOpen(retry(message)),
            ErrorCase::Denied => W::Denied(message),
            ErrorCase::Unsupported => W::Unsupported(message),
            ErrorCase::Other => W::Other(message),
        }
    }
}

impl From<wit::RecordType> for RecordType {
    fn from(t: wit::RecordType) -> RecordType {
        match t {
            wit::RecordType::Document => RecordType::Document,
            wit::RecordType::Event => RecordType::Event,
            wit::RecordType::Entity => RecordType::Entity,
            wit::RecordType::Claim => RecordType::Claim,
            wit::RecordType::Metric => RecordType::Metric,
        }
    }
}

impl From<wit::Provenance> for Provenance {
    fn from(p: wit::Provenance) -> Provenance {
        Provenance { uri: p.uri, etag: p.etag, last_modified: p.last_modified, author: p.author }
    }
}

impl From<Provenance> for wit::Provenance {
    fn from(p: Provenance) -> wit::Provenance {
        wit::Provenance { uri: p.uri, etag: p.etag, last_modified: p.last_modified, author: p.author }
    }
}

impl From<wit::SourceRecord> for SourceRecord {
    fn from(r: wit::SourceRecord) -> SourceRecord {
        SourceRecord { id: r.id, raw: r.raw, provenance: r.provenance.into() }
    }
}

impl From<SourceRecord> for wit::SourceRecord {
    fn from(r: SourceRecord) -> wit::SourceRecord {
        wit::SourceRecord { id: r.id, raw: r.raw, provenance: r.provenance.into() }
    }
}

impl From<PageRequest> for wit::PageRequest {
    fn from(r: PageRequest) -> wit::PageRequest {
        wit::PageRequest { cursor: r.cursor, limit: r.limit }
    }
}

impl From<wit::SkippedRecord> for Skipped {
    fn from(s: wit::SkippedRecord) -> Skipped {
        Skipped { locator: s.locator, reason: s.reason }
    }
}

impl From<wit::EnvelopeDraft> for Draft {
    fn from(d: wit::EnvelopeDraft) -> Draft {
        Draft {
            record_id: d.record_id,
            record_type: d.record_type.into(),
            source_instance: d.source_instance,
            provenance: d.provenance.into(),
            acl_tags: d.acl_tags,
            raw: d.raw,
            metadata: d.metadata,
        }
    }
}

impl From<wit::DraftPage> for DraftPage {
    fn from(p: wit::DraftPage) -> DraftPage {
        DraftPage {
            drafts: p.drafts.into_iter().map(Draft::from).collect(),
            next_cursor: p.next_cursor,
            skipped: p.skipped.into_iter().map(Skipped::from).collect(),
        }
    }
}

impl From<wit_evidence::Evidence> for Evidence {
    fn from(e: wit_evidence::Evidence) -> Evidence {
        Evidence {
            id: e.id,
            title: e.title,
            content: e.content,
            url: e.url,
            author: e.author,
            created_at: e.created_at,
            confidence: e.confidence,
            authority: e.authority,
            metadata: e.metadata,
        }
    }
}

impl From<wit_http::Request> for Request {
    fn from(r: wit_http::Request) -> Request {
        let method = match r.method {
            wit_http::Method::Get => Method::Get,
            wit_http::Method::Head => Method::Head,
            wit_http::Method::Post => Method::Post,
            wit_http::Method::Put => Method::Put,
            wit_http::Method::Patch => Method::Patch,
            wit_http::Method::Delete => Method::Delete,
            wit_http::Method::Options => Method::Options,
        };
        Request { method, url: r.url, headers: r.headers, body: r.body, timeout_ms: r.timeout_ms }
    }
}

impl From<Response> for wit_http::Response {
    fn from(r: Response) -> wit_http::Response {
        wit_http::Response { status: r.status, headers: r.headers, body: r.body }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case survives the way out to the guest and back, with its wait or status.
    #[test]
    fn errors_convert_both_ways_without_loss() {
        for case in ErrorCase::ALL {
            let e = match case {
                ErrorCase::Api => ConnectorError::api(418, "teapot"),
                c if c.has_retry_after() => ConnectorError::wait(c, Some(250), "later"),
                c => ConnectorError::new(c, "why"),
            };
            let back = ConnectorError::from(wit::ConnectorError::from(e.clone()));
            assert_eq!(back, e, "{case}");
        }
    }
}
