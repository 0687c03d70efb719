//! Pure helpers for connectors that speak HTTP: the `Link` header, relative URLs,
//! query strings and response headers.
//!
//! Nothing here calls the host, so these are unit-tested on the build machine:
//! `cargo test --target x86_64-unknown-linux-gnu -p connector-sdk` (from `guests/`,
//! with the build machine's own target triple).

/// The value of the first header called `name` (compared case-insensitively; the
/// host gives names in lower case, a test may not).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The `rel="next"` target of the `Link` headers among `headers`, as written (it may
/// be relative: resolve it with [`resolve_url`] against the URL that was fetched).
pub fn link_next(headers: &[(String, String)]) -> Option<String> {
    headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("link")).find_map(|(_, v)| parse_link_next(v))
}

/// The target of the link with relation `next` in one `Link` header value (RFC 8288),
/// such as `<https://api.example.com/items?page=2>; rel="next", <...>; rel="last"`.
///
/// The relation may be quoted or not, in any case, and one of several
/// (`rel="next last"`); a quoted parameter may hold commas and semicolons. A
/// malformed link is passed over, not fatal: the header is advice, and a page
/// without a usable `next` simply ends the pass.
pub fn parse_link_next(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            return None;
        }
        let Some(after) = rest.strip_prefix('<') else {
            // Not a link: skip to the next comma outside quotes.
            let (_, tail) = split_once_outside_quotes(rest, ',');
            rest = tail?;
            continue;
        };
        let end = after.find('>')?;
        let target = after[..end].trim();
        let (params, tail) = split_once_outside_quotes(&after[end + 1..], ',');
        rest = tail.unwrap_or("");
        let is_next = split_outside_quotes(params, ';').any(|param| {
            let Some((name, value)) = param.split_once('=') else { return false };
            name.trim().eq_ignore_ascii_case("rel")
                && unquote(value.trim()).split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next && !target.is_empty() {
            return Some(target.to_string());
        }
    }
}

/// `s` split once at the first `sep` outside double quotes: the part before it, and
/// the part after it if there was one.
fn split_once_outside_quotes(s: &str, sep: char) -> (&str, Option<&str>) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            return (&s[..i], Some(&s[i + c.len_utf8()..]));
        }
    }
    (s, None)
}

/// `s` split at every `sep` outside double quotes.
fn split_outside_quotes(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let (part, tail) = split_once_outside_quotes(rest?, sep);
        rest = tail;
        Some(part)
    })
}

/// A parameter value without its surrounding double quotes, if it has them.
fn unquote(v: &str) -> &str {
    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
}

/// `reference` resolved against the absolute URL `base` (RFC 3986, section 5.2): an
/// absolute reference is returned as it is; `//host/x`, `/x`, `?q`, `#f` and
/// relative paths (with `.` and `..` segments) are taken from `base`.
pub fn resolve_url(base: &str, reference: &str) -> String {
    let reference = reference.trim();
    if has_scheme(reference) {
        return reference.to_string();
    }
    let base = Parts::of(base);
    if let Some(rest) = reference.strip_prefix("//") {
        return format!("{}://{rest}", base.scheme);
    }
    let origin = format!("{}://{}", base.scheme, base.authority);
    let (ref_path, ref_tail) = match reference.find(['?', '#']) {
        Some(i) => reference.split_at(i),
        None => (reference, ""),
    };
    if ref_path.is_empty() {
        // `?q`, `#f` or nothing: the base's path, with the reference's query (or the
        // base's, when the reference is only a fragment).
        let query = if ref_tail.starts_with('#') || ref_tail.is_empty() { base.query } else { "" };
        return format!("{origin}{}{query}{ref_tail}", base.path);
    }
    let path = if ref_path.starts_with('/') {
        remove_dot_segments(ref_path)
    } else {
        let dir = match base.path.rfind('/') {
            Some(i) => &base.path[..=i],
            None => "/",
        };
        remove_dot_segments(&format!("{dir}{ref_path}"))
    };
    format!("{origin}{path}{ref_tail}")
}

/// Whether `s` starts with a URI scheme (`https:`, `mailto:`).
fn has_scheme(s: &str) -> bool {
    let Some(colon) = s.find(':') else { return false };
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// The parts of an absolute URL that a relative reference may inherit.
struct Parts<'a> {
    scheme: &'a str,
    authority: &'a str,
    /// The path, `/` when the URL has none.
    path: &'a str,
    /// The query with its `?`, or empty.
    query: &'a str,
}

impl<'a> Parts<'a> {
    fn of(url: &'a str) -> Parts<'a> {
        let url = url.split('#').next().unwrap_or(url);
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let (authority, rest) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (path, query) = match rest.find('?') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        Parts { scheme, authority, path: if path.is_empty() { "/" } else { path }, query }
    }
}

/// `path` with its `.` and `..` segments applied (RFC 3986, section 5.2.4).
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') { joined } else { format!("/{joined}") }
}

/// `s` percent-encoded for a query parameter's name or value, or a path segment:
/// everything but the unreserved characters (`A-Z a-z 0-9 - . _ ~`) is escaped.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url` with `query` (already encoded, such as `a=1&b=2`) added to its query string,
/// before any fragment.
pub fn append_query(url: &str, query: &str) -> String {
    let query = query.trim_start_matches(['?', '&']);
    if query.is_empty() {
        return url.to_string();
    }
    let (head, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let sep = match head.find('?') {
        None => "?",
        Some(_) if head.ends_with('?') || head.ends_with('&') => "",
        Some(_) => "&",
    };
    format!("{head}{sep}{query}{fragment}")
}

/// `url` with the parameter `name=value` added to its query string, both encoded.
pub fn add_param(url: &str, name: &str, value: &str) -> String {
    append_query(url, &format!("{}={}", percent_encode(name), percent_encode(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_next_of_a_github_header() {
        let h = "<https://api.github.com/repositories/1000/issues?per_page=2&page=2>; rel=\"next\", \
                 <https://api.github.com/repositories/1000/issues?per_page=2&page=5>; rel=\"last\"";
        assert_eq!(
            parse_link_next(h).as_deref(),
            Some("https://api.github.com/repositories/1000/issues?per_page=2&page=2")
        );
    }

    #[test]
    fn link_next_when_it_is_not_first() {
        let h = "<https://x.test/a?page=1>; rel=\"prev\", <https://x.test/a?page=3>; rel=\"next\"";
        assert_eq!(parse_link_next(h).as_deref(), Some("https://x.test/a?page=3"));
    }

    #[test]
    fn link_next_unquoted_upper_case_and_among_several_relations() {
        assert_eq!(parse_link_next("</b>; REL=Next").as_deref(), Some("/b"));
        assert_eq!(parse_link_next("</c>; rel=\"last next\"").as_deref(), Some("/c"));
        assert_eq!(parse_link_next("</d> ; title=\"x\" ; rel = \"next\"").as_deref(), Some("/d"));
    }

    #[test]
    fn link_next_with_commas_and_semicolons_in_quoted_parameters() {
        let h = "</a>; title=\"one, two; rel=next\"; rel=\"prev\", </b>; rel=\"next\"";
        assert_eq!(parse_link_next(h).as_deref(), Some("/b"));
        let h = "</a>; title=\"say \\\"hi, there\\\"\"; rel=prev, </b>; rel=next";
        assert_eq!(parse_link_next(h).as_deref(), Some("/b"));
    }

    #[test]
    fn link_next_absent_or_malformed() {
        assert_eq!(parse_link_next(""), None);
        assert_eq!(parse_link_next("<https://x.test/a?page=1>; rel=\"prev\""), None);
        assert_eq!(parse_link_next("<https://x.test/a?page=1>"), None);
        assert_eq!(parse_link_next("garbage; rel=next"), None);
        assert_eq!(parse_link_next("<unterminated; rel=next"), None);
        assert_eq!(parse_link_next("<>; rel=next"), None);
        assert_eq!(parse_link_next("<x>; rel=nextish"), None);
        // A malformed entry before a good one is passed over.
        assert_eq!(parse_link_next("garbage, </b>; rel=next").as_deref(), Some("/b"));
    }

    #[test]
    fn link_next_across_several_headers() {
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("link".to_string(), "</a>; rel=prev".to_string()),
            ("Link".to_string(), "</b>; rel=next".to_string()),
        ];
        assert_eq!(link_next(&headers).as_deref(), Some("/b"));
        assert_eq!(header(&headers, "Content-Type"), Some("application/json"));
        assert_eq!(header(&headers, "etag"), None);
    }

    #[test]
    fn resolving_references() {
        let base = "http://127.0.0.1:8089/api/items?page=1#top";
        assert_eq!(resolve_url(base, "https://other.test/x?y=1"), "https://other.test/x?y=1");
        assert_eq!(resolve_url(base, "//cdn.test/x"), "http://cdn.test/x");
        assert_eq!(resolve_url(base, "/items?page=2"), "http://127.0.0.1:8089/items?page=2");
        assert_eq!(resolve_url(base, "?page=2"), "http://127.0.0.1:8089/api/items?page=2");
        assert_eq!(resolve_url(base, "next?page=2"), "http://127.0.0.1:8089/api/next?page=2");
        assert_eq!(resolve_url(base, "../v2/items"), "http://127.0.0.1:8089/v2/items");
        assert_eq!(resolve_url(base, "./x/./y/../z"), "http://127.0.0.1:8089/api/x/z");
        assert_eq!(resolve_url(base, "#f"), "http://127.0.0.1:8089/api/items?page=1#f");
        assert_eq!(resolve_url(base, ""), "http://127.0.0.1:8089/api/items?page=1");
        assert_eq!(resolve_url("http://h.test", "items"), "http://h.test/items");
        assert_eq!(resolve_url("http://h.test?x=1", "?y=2"), "http://h.test/?y=2");
        assert_eq!(resolve_url("http://h.test/a/b", "../../../c"), "http://h.test/c");
        assert_eq!(resolve_url("http://h.test/a/b/", ".."), "http://h.test/a/");
    }

    #[test]
    fn query_strings() {
        assert_eq!(percent_encode("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
        assert_eq!(append_query("http://h.test/x", "a=1&b=2"), "http://h.test/x?a=1&b=2");
        assert_eq!(append_query("http://h.test/x?a=1", "b=2"), "http://h.test/x?a=1&b=2");
        assert_eq!(append_query("http://h.test/x?", "b=2"), "http://h.test/x?b=2");
        assert_eq!(append_query("http://h.test/x#f", "?b=2"), "http://h.test/x?b=2#f");
        assert_eq!(append_query("http://h.test/x", ""), "http://h.test/x");
        assert_eq!(add_param("http://h.test/x?a=1", "cursor", "a+b/c=="), "http://h.test/x?a=1&cursor=a%2Bb%2Fc%3D%3D");
    }
}
