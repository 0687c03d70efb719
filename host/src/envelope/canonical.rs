//! RFC 8785 (JSON Canonicalization Scheme) serialisation of JSON text, in one pass.
//!
//! Why not a JCS crate: `serde_jcs` and `serde_json_canonicalizer` both measured
//! about 3.4 µs for a 500-byte record here, most of it re-buffering and re-sorting
//! every object through a serde serializer; canonicalising while serde_json
//! tokenises the text, without building a `serde_json::Value`, does the same job
//! several times faster, which is the difference between meeting the ingest target
//! and not. It leans on crates for the
//! hard parts: numbers are formatted by `ryu-js` (ECMAScript `Number::toString`, as
//! the RFC requires) and strings are escaped by `serde_json` (whose escaping is the
//! RFC's: `\b \t \n \f \r \" \\`, other controls as lowercase `\u00xx`, nothing else).
//! The tests check it against the RFC's vectors and against `serde_json_canonicalizer`
//! on generated documents (`tests/tests/all/jcs.rs`).

use serde_json::{Number, Value};

/// The canonical form of `value`: its text canonicalised by the one canonicaliser
/// the host has ([`canonicalize_str`]), so a parsed value and a text can never get
/// two forms. A value nested deeper than [`MAX_DEPTH`] has none here.
pub fn to_vec(value: &Value) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    canonicalize_str(&value.to_string(), &mut out)?;
    Ok(out)
}

/// Compares two strings by their UTF-16 code units, as RFC 8785 §3.2.3 sorts.
fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    // Equal up to the first differing byte; the order is that of the characters
    // there. UTF-8 byte order is code point order, which is UTF-16 order except
    // between U+E000..U+FFFF and supplementary characters (surrogate pairs), so
    // compare those two characters by their UTF-16 code units.
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let Some(mut i) = x.iter().zip(y).position(|(p, q)| p != q) else {
        return x.len().cmp(&y.len());
    };
    while !a.is_char_boundary(i) {
        i -= 1;
    }
    let units = |s: &str| {
        let c = s[i..].chars().next().map_or(0, u32::from);
        if c >= 0x1_0000 { (0xD800 + ((c - 0x1_0000) >> 10), 0xDC00 + ((c - 0x1_0000) & 0x3FF)) } else { (c, 0) }
    };
    units(a).cmp(&units(b))
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// Numbers are IEEE-754 doubles in JCS: integers beyond ±2^53 are written as the
/// double they round to, and every number in ECMAScript's shortest form.
fn write_number(n: &Number, out: &mut Vec<u8>) {
    const EXACT: u64 = 1 << 53;
    if let Some(u) = n.as_u64()
        && u <= EXACT
    {
        out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
        return;
    }
    if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= EXACT
    {
        out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
        return;
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 {
        // ECMAScript prints -0 as 0.
        out.push(b'0');
        return;
    }
    let mut buf = ryu_js::Buffer::new();
    out.extend_from_slice(buf.format_finite(f).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        String::from_utf8(to_vec(&serde_json::from_str(text).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn sorts_by_utf16_code_units() {
        assert_eq!(canon("{\"\u{FB33}\":1,\"\u{1F600}\":2,\"a\":3}"), "{\"a\":3,\"\u{1F600}\":2,\"\u{FB33}\":1}");
        assert_eq!(utf16_cmp("\u{E000}", "\u{10000}"), std::cmp::Ordering::Greater);
        assert_eq!(utf16_cmp("a\u{E000}", "a\u{10000}"), std::cmp::Ordering::Greater);
        assert_eq!(utf16_cmp("ab", "a"), std::cmp::Ordering::Greater);
        assert_eq!(utf16_cmp("\u{10000}", "\u{10001}"), std::cmp::Ordering::Less);
    }

    #[test]
    fn formats_numbers_as_ecmascript_does() {
        assert_eq!(
            canon("[1E30, 4.50, 2e-3, 0.000001, 1e-7, -0, 1e21, 1e20, 9007199254740993, -5]"),
            "[1e+30,4.5,0.002,0.000001,1e-7,0,1e+21,100000000000000000000,9007199254740992,-5]"
        );
    }

    #[test]
    fn escapes_strings_minimally() {
        assert_eq!(canon(r#""\u0041/\u00e9\u001f\n\u007f""#), "\"A/é\\u001f\\n\u{7f}\"");
    }
}

/// The JSON type of a document's top-level value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `{...}`
    Object,
    /// `[...]`
    Array,
    /// `"..."`
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
}

/// Arrays and objects nest at most this deep in a record's `raw` or `metadata`.
///
/// One rule for every parse of guest JSON: sealing refuses deeper documents, and
/// what the host then writes (`raw` one level down in the envelope, `metadata` two
/// with its `connector` stamp) stays far inside serde_json's own recursion limit of
/// 128, which every later reader (`host validate`, the store, a replay) parses with.
pub const MAX_DEPTH: u32 = 64;

/// Parses JSON `text` and appends its canonical form to `out` in one pass, without
/// building a `serde_json::Value`: serde_json tokenises (and unescapes strings and
/// parses numbers), and each object's members are written, then reordered in place.
/// An object with two members of the same name is an error: RFC 8785 gives such a
/// document no canonical form, and accepting it would let two different texts claim
/// one hash. On error `out` may hold a partial document; the caller discards it.
pub fn canonicalize_str(text: &str, out: &mut Vec<u8>) -> Result<Kind, serde_json::Error> {
    canonicalize(text, out, None)
}

/// [`canonicalize_str`] for an object whose top-level member `drop` (if any) is left
/// out: the host replaces `metadata.connector` with its own stamp.
pub fn canonicalize_without(text: &str, out: &mut Vec<u8>, drop: &str) -> Result<Kind, serde_json::Error> {
    canonicalize(text, out, Some(drop))
}

fn canonicalize(text: &str, out: &mut Vec<u8>, drop: Option<&str>) -> Result<Kind, serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let kind = Canon { out, depth: 0, drop }.deserialize(&mut de)?;
    de.end()?;
    Ok(kind)
}

thread_local! {
    /// A buffer reused to reorder object members: nested objects finish before their
    /// parent reorders, so one per thread is enough.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

struct Canon<'o> {
    out: &'o mut Vec<u8>,
    /// How many arrays and objects enclose the value.
    depth: u32,
    /// A member name left out of the top-level object.
    drop: Option<&'o str>,
}

impl<'o> Canon<'o> {
    /// The visitor of a value inside this one's array or object.
    fn inner<'a>(&'a mut self) -> Canon<'a> {
        Canon { out: &mut *self.out, depth: self.depth + 1, drop: None }
    }

    fn enter<E: serde::de::Error>(&self) -> Result<(), E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!("arrays and objects nest deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Canon<'_> {
    type Value = Kind;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Canon<'_> {
    type Value = Kind;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Kind, E> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(Kind::Bool)
    }

    fn visit_unit<E>(self) -> Result<Kind, E> {
        self.out.extend_from_slice(b"null");
        Ok(Kind::Null)
    }

    fn visit_u64<E>(self, v: u64) -> Result<Kind, E> {
        write_number(&Number::from(v), self.out);
        Ok(Kind::Number)
    }

    fn visit_i64<E>(self, v: i64) -> Result<Kind, E> {
        write_number(&Number::from(v), self.out);
        Ok(Kind::Number)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Kind, E> {
        let n = Number::from_f64(v).ok_or_else(|| E::custom("a number that is not finite"))?;
        write_number(&n, self.out);
        Ok(Kind::Number)
    }

    fn visit_str<E>(self, v: &str) -> Result<Kind, E> {
        write_str(v, self.out);
        Ok(Kind::String)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<Kind, A::Error> {
        self.enter()?;
        self.out.push(b'[');
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.out.push(b',');
            }
            if seq.next_element_seed(self.inner())?.is_none() {
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(Kind::Array)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        self.enter()?;
        // Members are written in input order as `"name":value`, remembering where
        // each starts; then, unless they already are, they are put in order.
        let depth = self.depth + 1;
        let drop = self.drop;
        let out = self.out;
        out.push(b'{');
        let start = out.len();
        let mut members: Vec<(std::borrow::Cow<'de, str>, usize, usize)> = Vec::new();
        while let Some(MemberName(name)) = map.next_key()? {
            let at = out.len();
            write_str(&name, out);
            out.push(b':');
            map.next_value_seed(Canon { out: &mut *out, depth, drop: None })?;
            members.push((name, at, out.len()));
        }
        let sorted = members.windows(2).all(|w| utf16_cmp(&w[0].0, &w[1].0) == std::cmp::Ordering::Less);
        if !sorted {
            members.sort_by(|a, b| utf16_cmp(&a.0, &b.0));
            if let Some(w) = members.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(serde::de::Error::custom(format!("duplicate member name `{}`", w[0].0)));
            }
        }
        if let Some(drop) = drop {
            members.retain(|(name, _, _)| name != drop);
        }
        let mut body = SCRATCH.with(|s| s.take());
        body.clear();
        body.extend_from_slice(&out[start..]);
        out.truncate(start);
        for (i, (_, from, to)) in members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&body[from - start..to - start]);
        }
        // Keep the buffer for the next object, unless a huge one grew it.
        if body.capacity() <= 1 << 20 {
            SCRATCH.with(|s| s.set(body));
        }
        out.push(b'}');
        Ok(Kind::Object)
    }
}

/// An object member's name, borrowed from the input when it has no escapes.
struct MemberName<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(std::borrow::Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    fn both(text: &str) -> String {
        let mut out = Vec::new();
        canonicalize_str(text, &mut out).unwrap();
        let via_value = to_vec(&serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(out, via_value, "the text and its parsed value canonicalise differently: {text}");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn streams_the_same_canonical_form_as_the_value_walk() {
        // U+1F600 is a surrogate pair (D83D DE00) and sorts before U+FB33 in UTF-16,
        // though after it in code point order; U+05D3 sorts before both.
        let text = "{\"b\":[1,{\"z\":null,\"a\":\"\\u00e9\"}],\"a\":true,\"\u{1F600}\":1,\"\u{FB33}\":2,\"\u{5D3}\":3}";
        assert_eq!(
            both(text),
            "{\"a\":true,\"b\":[1,{\"a\":\"\u{e9}\",\"z\":null}],\"\u{5D3}\":3,\"\u{1F600}\":1,\"\u{FB33}\":2}"
        );
        assert_eq!(both("[]"), "[]");
        assert_eq!(both("{}"), "{}");
        assert_eq!(both(" [ 1e2 , -0.0, [ ] ] "), "[100,0,[]]");
        assert_eq!(both(r#""just a string""#), r#""just a string""#);
    }

    #[test]
    fn refuses_duplicate_member_names_and_trailing_text() {
        let mut out = Vec::new();
        let e = canonicalize_str(r#"{"a":1,"b":2,"a":3}"#, &mut out).unwrap_err();
        assert!(e.to_string().starts_with("duplicate member name `a`"), "{e}");
        assert!(canonicalize_str("{} {}", &mut Vec::new()).is_err());
        assert!(canonicalize_str("{\"a\":", &mut Vec::new()).is_err());
    }

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn refuses_nesting_deeper_than_the_one_depth_rule() {
        let mut out = Vec::new();
        assert_eq!(canonicalize_str(&nested(MAX_DEPTH as usize), &mut out).unwrap(), Kind::Array);
        let objects = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH as usize), "}".repeat(MAX_DEPTH as usize));
        assert_eq!(canonicalize_str(&objects, &mut Vec::new()).unwrap(), Kind::Object);
        for text in [nested(MAX_DEPTH as usize + 1), nested(127), nested(100_000)] {
            let e = canonicalize_str(&text, &mut Vec::new()).unwrap_err();
            assert!(e.to_string().starts_with("arrays and objects nest deeper than 64 levels"), "{e}");
        }
        // What the host writes around a document at the limit still parses.
        let enveloped = format!("{{\"metadata\":{{\"x\":{}}}}}", nested(MAX_DEPTH as usize));
        serde_json::from_str::<serde_json::Value>(&enveloped).unwrap();
    }

    #[test]
    fn leaves_out_a_top_level_member_on_request() {
        let mut out = Vec::new();
        let text = r#"{"z":1,"connector":{"name":"forged"},"a":{"connector":2}}"#;
        assert_eq!(canonicalize_without(text, &mut out, "connector").unwrap(), Kind::Object);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":{"connector":2},"z":1}"#);
        let mut out = Vec::new();
        canonicalize_without(r#"{"connector":1}"#, &mut out, "connector").unwrap();
        assert_eq!(out, b"{}");
        let e = canonicalize_without(r#"{"connector":1,"connector":2}"#, &mut Vec::new(), "connector").unwrap_err();
        assert!(e.to_string().starts_with("duplicate member name"), "{e}");
    }
}
