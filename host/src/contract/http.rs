//! An HTTP request a connector asks the host to send, and the answer it gets, and
//! the bounds on a request's headers (the guest's and the manifest's alike).

/// The most headers one request may carry (the guest's and the manifest's). Servers refuse a request with
/// more than about 100 (Apache's `LimitRequestFields`); the host adds its own
/// (secrets, `Accept-Encoding`, `User-Agent`) on top of the guest's.
pub const MAX_HEADERS: usize = 64;

/// The longest header name or value a request may carry, in bytes: a server's whole
/// header buffer is commonly 8 KiB (nginx, Apache's `LimitRequestFieldSize`).
pub const MAX_HEADER_BYTES: usize = 8 << 10;

/// The request's method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`.
    Options,
}

impl Method {
    /// The method as sent.
    pub fn as_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Head => reqwest::Method::HEAD,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
            Method::Options => reqwest::Method::OPTIONS,
        }
    }
}

/// A request, as the connector wrote it (the host adds its secrets and headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// The connector's headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Option<Vec<u8>>,
    /// The connector's own timeout for the request, if shorter than the host's.
    pub timeout_ms: Option<u32>,
}

/// The answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body, decoded (gzip) and bounded.
    pub body: Vec<u8>,
}
