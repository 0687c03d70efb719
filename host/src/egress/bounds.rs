//! How much of a guest's request the host will look at: checked on the sizes
//! alone, before anything is parsed.
//!
//! Parsing is not free on hostile input: `url::Url::parse` runs IDNA (punycode) over
//! the host name, which took 13–18 s of host CPU for a 32 MiB name, on an async
//! worker, outside any deadline. Every step after this check works on at most these
//! sizes, so each is bounded in time as well as in memory.

use crate::contract::http::{MAX_HEADER_BYTES, MAX_HEADERS, Request};
use crate::untrusted::Shown;

/// The longest URL a guest may send, in bytes. RFC 9110 §4.1 asks that senders and
/// recipients support request lines of at least 8000 octets, and the common servers
/// refuse longer ones (nginx's `large_client_header_buffers` and Apache's
/// `LimitRequestLine` are 8 KiB), so no upstream a connector could call needs more.
pub const MAX_URL: usize = 8 << 10;

/// Checks the sizes of `req` against the bounds above and `max_body` (the grant's
/// `http.max_body_bytes`, which caps what a connector sends as well as what it is
/// answered). The error names the bound and the size found; guest text in it is cut
/// and escaped.
pub fn check(req: &Request, max_body: u64) -> Result<(), String> {
    if req.url.len() > MAX_URL {
        return Err(format!(
            "the URL is {} bytes, longer than the host accepts ({MAX_URL} bytes): `{}`",
            req.url.len(),
            Shown::id(&req.url)
        ));
    }
    if req.headers.len() > MAX_HEADERS {
        return Err(format!(
            "the request has {} headers, more than the host accepts ({MAX_HEADERS})",
            req.headers.len()
        ));
    }
    for (name, value) in &req.headers {
        if name.len() > MAX_HEADER_BYTES {
            return Err(format!(
                "a header name is {} bytes, longer than the host accepts ({MAX_HEADER_BYTES} bytes): `{}`",
                name.len(),
                Shown::id(name)
            ));
        }
        if value.len() > MAX_HEADER_BYTES {
            return Err(format!(
                "the value of header `{}` is {} bytes, longer than the host accepts ({MAX_HEADER_BYTES} bytes)",
                Shown::id(name),
                value.len()
            ));
        }
    }
    if let Some(body) = &req.body
        && body.len() as u64 > max_body
    {
        return Err(format!(
            "the request body is {} bytes, larger than http.max_body_bytes ({max_body} bytes)",
            body.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::http::Method;

    fn req(url: &str, headers: Vec<(String, String)>, body: Option<Vec<u8>>) -> Request {
        Request { method: Method::Get, url: url.into(), headers, body, timeout_ms: None }
    }

    #[test]
    fn names_the_bound_and_the_size() {
        assert!(check(&req("http://a.example/", vec![], None), 10).is_ok());
        let long = format!("http://{}.example/", "ü".repeat(MAX_URL));
        let e = check(&req(&long, vec![], None), 10).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "the URL is {} bytes, longer than the host accepts (8192 bytes): `http://üü",
                long.len()
            )),
            "{e}"
        );
        assert!(e.len() < 400, "the URL is quoted cut: {e}");

        let many = (0..65).map(|i| (format!("x-{i}"), "v".into())).collect();
        let e = check(&req("http://a/", many, None), 10).unwrap_err();
        assert_eq!(e, "the request has 65 headers, more than the host accepts (64)");

        let e = check(&req("http://a/", vec![("x-big".into(), "v".repeat(9000))], None), 10).unwrap_err();
        assert_eq!(e, "the value of header `x-big` is 9000 bytes, longer than the host accepts (8192 bytes)");
        let e = check(&req("http://a/", vec![("\u{1b}[2J".repeat(3000), "v".into())], None), 10).unwrap_err();
        assert!(
            e.starts_with("a header name is 12000 bytes, longer than the host accepts (8192 bytes): `\\u{1b}[2J"),
            "{e}"
        );

        let e = check(&req("http://a/", vec![], Some(vec![0; 11])), 10).unwrap_err();
        assert_eq!(e, "the request body is 11 bytes, larger than http.max_body_bytes (10 bytes)");
    }
}
