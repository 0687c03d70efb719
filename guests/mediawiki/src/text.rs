//! Text helpers: a query string's percent-encoding, and the plain text of a search
//! snippet (MediaWiki marks the matches with `<span class="searchmatch">` and
//! escapes the rest as HTML).

/// `s` percent-encoded for a URL's query: everything but the unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A page title as its article path writes it: spaces as underscores, the rest
/// percent-encoded but for the characters MediaWiki leaves as they are.
pub fn title_path(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    for c in title.chars() {
        match c {
            ' ' => out.push('_'),
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' | '(' | ')' | ',' | ':' | '!' | '*' | '\'' => {
                out.push(c)
            }
            _ => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

/// The plain text of an HTML fragment: tags dropped, entities decoded, runs of
/// white space made one space.
pub fn plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => match rest.find('>') {
                Some(end) => rest = &rest[end + 1..],
                None => rest = "",
            },
            '&' => {
                let (decoded, len) = entity(rest);
                out.push_str(&decoded);
                rest = &rest[len..];
            }
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The entity at the start of `s` (which starts with `&`), decoded, and its length;
/// an `&` that starts no entity stands for itself.
fn entity(s: &str) -> (String, usize) {
    let Some(end) = s[..s.len().min(12)].find(';') else { return ("&".into(), 1) };
    let name = &s[1..end];
    let decoded = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => name
            .strip_prefix("#x")
            .or_else(|| name.strip_prefix("#X"))
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .or_else(|| name.strip_prefix('#').and_then(|dec| dec.parse().ok()))
            .and_then(char::from_u32),
    };
    match decoded {
        Some(c) => (c.to_string(), end + 1),
        None => ("&".into(), 1),
    }
}

/// The lead section of a page's plain-text extract: what comes before its first
/// heading (`== History ==`).
pub fn lead(extract: &str) -> &str {
    let end = extract.find("\n==").unwrap_or(extract.len());
    extract[..end].trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_become_plain_text() {
        let s = r#"<span class="searchmatch">Python</span> is a high-level,&#32;general-purpose  language &amp; more &quot;x&quot; &#x27;y&#x27; &bogus; a & b"#;
        assert_eq!(plain(s), r#"Python is a high-level, general-purpose language & more "x" 'y' &bogus; a & b"#);
        assert_eq!(plain("<b>unclosed"), "unclosed");
        assert_eq!(plain("a <"), "a");
    }

    #[test]
    fn queries_and_titles_are_encoded() {
        assert_eq!(encode("Python programming & co/π"), "Python%20programming%20%26%20co%2F%CF%80");
        assert_eq!(title_path("Python (programming language)"), "Python_(programming_language)");
        assert_eq!(title_path("Fermat's Last Theorem"), "Fermat's_Last_Theorem");
        assert_eq!(title_path("Zürich?"), "Z%C3%BCrich%3F");
    }

    #[test]
    fn the_lead_ends_at_the_first_heading() {
        assert_eq!(lead("Intro line.\nMore intro.\n\n\n== History ==\nOld."), "Intro line.\nMore intro.");
        assert_eq!(lead("No headings."), "No headings.");
    }
}
