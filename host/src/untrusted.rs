//! Text that came from a guest, made safe for wherever the host writes it.
//!
//! Everything a connector hands the host (an error message, a cursor, a record id, a
//! skipped item's locator, its source name) is hostile. Before the host copies such
//! text into a log line, a report, an error or the store it is cut to a bound
//! ([`cap`], which says how much was cut); before it reaches a terminal it is escaped
//! ([`escape`]: control characters, bidirectional overrides, line and paragraph
//! separators); and in a hint that an operator may paste into a shell it is quoted
//! ([`shell_quote`]). [`Shown`] does the first two at once, for `format!` and logs.
//! Lines the host writes *because of* a guest (a rejected record, a denied request)
//! are sampled by a [`Sampler`], so a guest cannot flood the operator's log through
//! the host either.

use std::borrow::Cow;
use std::fmt;

/// The most bytes of one guest-supplied string the host copies into a message, a
/// log field or a report (a connector's error, a rejection reason, a locator).
pub const MAX_TEXT: usize = 2048;

/// The most bytes of a guest-supplied identifier (a record id, a cursor) quoted in a
/// message or a log field.
pub const MAX_QUOTE: usize = 200;

/// Whether `c` must not reach a terminal or a log as it is: C0 and C1 controls and
/// DEL (which move the cursor, clear the screen, set window titles and hyperlinks,
/// or start a new log line), the bidirectional formatting characters (which make a
/// line read differently from what it says), and the Unicode line and paragraph
/// separators (which some viewers break lines at).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}')
}

/// `text` with every [`is_unsafe`] character escaped (`\n`, `\u{1b}`, `\u{202e}`).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// At most `max` bytes of `text`, cut on a character boundary; a cut text ends with
/// `… (N bytes cut)` (within the `max`), so a reader knows it is not whole.
pub fn cap(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    // The mark takes at most 3 + 2 + 20 + 11 bytes (`…`, ` (`, a u64, ` bytes cut)`).
    let mut end = max.saturating_sub(36);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes cut)", &text[..end], text.len() - end))
}

/// [`cap`], owned: for a guest's string the host keeps (an error, a reason).
pub fn capped(text: &str, max: usize) -> String {
    cap(text, max).into_owned()
}

/// Guest text for a terminal or a log: cut to a bound, then escaped.
#[derive(Clone, Copy)]
pub struct Shown<'a> {
    text: &'a str,
    max: usize,
}

impl<'a> Shown<'a> {
    /// `text`, cut to [`MAX_TEXT`] bytes.
    pub fn text(text: &'a str) -> Shown<'a> {
        Shown { text, max: MAX_TEXT }
    }

    /// An identifier (record id, cursor, locator), cut to [`MAX_QUOTE`] bytes.
    pub fn id(text: &'a str) -> Shown<'a> {
        Shown { text, max: MAX_QUOTE }
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(&cap(self.text, self.max)))
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Makes guest text safe to print: lossy UTF-8, control characters escaped, at most
/// `max` bytes (cut on a character boundary, marked with `…`).
pub fn sanitize(bytes: &[u8], max: usize) -> String {
    let mut head = &bytes[..bytes.len().min(max)];
    // Do not cut a character in two: drop an incomplete one at the end.
    if let Err(e) = std::str::from_utf8(head)
        && e.error_len().is_none()
    {
        head = &head[..e.valid_up_to()];
    }
    let text = String::from_utf8_lossy(head);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if bytes.len() > max {
        out.push('…');
    }
    out
}

/// `text` as one POSIX shell word: in single quotes, each `'` written as `'\''`.
/// Only for text that is also safe to print (see [`is_pastable`]).
pub fn shell_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Whether `text` can be shown to an operator to copy and paste as it is: short,
/// and free of characters a terminal would not show as themselves.
pub fn is_pastable(text: &str) -> bool {
    text.len() <= MAX_QUOTE && !text.chars().any(is_unsafe)
}

/// Lets the first few of a kind of line through and counts the rest, for lines the
/// host writes because of a guest (a rejected record, a denied request): a guest
/// that triggers a million of them gets [`Sampler::SHOWN`] lines and a count.
#[derive(Clone, Debug, Default)]
pub struct Sampler {
    seen: u64,
}

impl Sampler {
    /// How many lines of one kind are written before the rest are only counted.
    pub const SHOWN: u64 = 10;

    /// Counts one more; `true` while it is among the first [`Sampler::SHOWN`].
    pub fn allow(&mut self) -> bool {
        self.seen += 1;
        self.seen <= Self::SHOWN
    }

    /// How many were counted but not written.
    pub fn suppressed(&self) -> u64 {
        self.seen.saturating_sub(Self::SHOWN)
    }

    /// How many were counted in all.
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_escapes_control_characters_and_truncates() {
        assert_eq!(sanitize(b"a\x1b[31mb\r", 100), "a\\u{1b}[31mb\\r");
        assert_eq!(sanitize("héllo".as_bytes(), 2), "h…");
        assert_eq!(sanitize(b"ok", 2), "ok");
    }

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(escape("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\r\nINFO forged"), "x\\r\\nINFO forged");
        assert_eq!(escape("\u{1b}]8;;http://evil\u{7}link"), "\\u{1b}]8;;http://evil\\u{7}link");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("one\u{2028}two\u{2029}"), "one\\u{2028}two\\u{2029}");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
    }

    #[test]
    fn caps_on_a_character_boundary_and_says_how_much_was_cut() {
        assert_eq!(cap("short", 10), "short");
        let long = format!("{}{}", "a".repeat(40), "b".repeat(60));
        assert_eq!(cap(&long, 50), format!("{}… (86 bytes cut)", "a".repeat(14)));
        // `é` is two bytes: a cut inside it moves back to its start.
        let accented = format!("{}é{}", "a".repeat(13), "z".repeat(60));
        assert_eq!(cap(&accented, 50), format!("{}… (62 bytes cut)", "a".repeat(13)));
        let huge = "x".repeat(1 << 20);
        assert_eq!(cap(&huge, MAX_TEXT).len(), MAX_TEXT - 36 + "… (1046564 bytes cut)".len());
        assert!(Shown::text(&huge).to_string().len() <= MAX_TEXT);
    }

    #[test]
    fn shell_quotes_single_quotes() {
        assert_eq!(shell_quote("abc"), "'abc'");
        assert_eq!(shell_quote("a'; rm -rf ~; echo '"), "'a'\\''; rm -rf ~; echo '\\'''");
        assert!(is_pastable("page-2"));
        assert!(!is_pastable("a\u{1b}[2J"));
        assert!(!is_pastable(&"x".repeat(MAX_QUOTE + 1)));
    }

    #[test]
    fn samples_the_first_lines_and_counts_the_rest() {
        let mut s = Sampler::default();
        let shown = (0..1000).filter(|_| s.allow()).count() as u64;
        assert_eq!(shown, Sampler::SHOWN);
        assert_eq!(s.suppressed(), 1000 - Sampler::SHOWN);
        assert_eq!(s.seen(), 1000);
    }
}
