//! `host validate`: checks a JSON Lines file of envelopes, line by line, against the
//! envelope schema, and recomputes each `hashes.raw_sha256` from `raw`.
//!
//! The file may be anything (a sparse 2 GiB file, one 64 MiB line, a million bad
//! lines), so the work is bounded three ways:
//!
//! - A line is read up to [`MAX_LINE`] bytes; a longer one is one finding and is
//!   skipped to its end without being held.
//! - A line is checked without a `serde_json::Value` of its `raw` or `metadata`:
//!   the top level is split into borrowed raw values, `raw` is canonicalised for
//!   its hash by the streaming canonicaliser, and the schema checks a small value in
//!   which `raw` and `metadata` (and any other large member) stand in by their
//!   shape, as the sealer checks drafts. Memory is a small multiple of the line.
//! - The first [`MAX_FINDINGS`] findings are kept; the rest are counted.

use std::borrow::Cow;
use std::io::BufRead;
use std::path::Path;
use std::sync::OnceLock;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::envelope::canonical::{self, Kind};
use crate::envelope::schema;
use crate::untrusted;

/// The longest line checked, in bytes. The sealer caps a record's `raw` and its
/// `metadata` at 64 MiB each; the other fields are small (the schema bounds the ids
/// and the URI) or the operator's. Twice their sum leaves room for those and for JSON
/// escaping, so every envelope the host writes fits.
pub const MAX_LINE: u64 = 256 << 20;

/// How many findings are kept (and printed); the rest are only counted.
pub const MAX_FINDINGS: usize = 100;

/// A member at least this long (in bytes of JSON) is reduced to its shape before the
/// schema sees it; a shorter one is checked as it is.
const SMALL: usize = 64 << 10;

/// The length past which a line's buffer is reserved up to the cap rather than grown.
const GROW_AT: usize = 1 << 20;

/// How many names of unknown members of one object are kept for the schema to name.
const UNKNOWN_NAMES: usize = 10;

/// One problem found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The 1-based line number.
    pub line: u64,
    /// What is wrong, naming the field (guest text in it is cut, not yet escaped).
    pub message: String,
}

/// The outcome of validating a file.
#[derive(Clone, Debug, Default)]
pub struct Validation {
    /// Envelopes read (non-blank lines).
    pub envelopes: u64,
    /// Envelopes that passed.
    pub valid: u64,
    /// The first [`MAX_FINDINGS`] problems, in line order.
    pub findings: Vec<Finding>,
    /// Problems found past those.
    pub more_findings: u64,
}

impl Validation {
    fn add(&mut self, line: u64, message: String) {
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(Finding { line, message: untrusted::capped(&message, untrusted::MAX_TEXT) });
        } else {
            self.more_findings += 1;
        }
    }
}

/// Validates every line of `path`.
pub fn validate_file(path: &Path) -> std::io::Result<Validation> {
    let file = std::fs::File::open(path)?;
    validate_reader(std::io::BufReader::with_capacity(1 << 16, file))
}

/// Validates every line read from `reader`, lines of up to [`MAX_LINE`] bytes.
pub fn validate_reader(reader: impl BufRead) -> std::io::Result<Validation> {
    validate_lines(reader, MAX_LINE)
}

/// Validates every line read from `reader`, lines of up to `max_line` bytes.
pub fn validate_lines(mut reader: impl BufRead, max_line: u64) -> std::io::Result<Validation> {
    let mut v = Validation::default();
    let mut checker = Checker::default();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = read_line(&mut reader, &mut line, max_line)?;
        if matches!(read, LineRead::Eof) {
            break;
        }
        number += 1;
        if let LineRead::TooLong(len) = read {
            v.envelopes += 1;
            v.add(number, format!("line {number} is longer than {max_line} bytes ({len} bytes); not checked"));
            // Do not keep a buffer of the cap's size for the short lines after it.
            line = Vec::new();
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        v.envelopes += 1;
        let before = v.findings.len() as u64 + v.more_findings;
        checker.check_line(&line, &mut |message| v.add(number, message));
        if v.findings.len() as u64 + v.more_findings == before {
            v.valid += 1;
        }
        if line.capacity() > GROW_AT {
            // Give back a long line's buffer rather than hold it for short ones.
            line = Vec::new();
        }
    }
    Ok(v)
}

#[derive(Clone, Copy)]
enum LineRead {
    Eof,
    Line,
    /// Longer than the cap: its length, and nothing of it kept.
    TooLong(u64),
}

/// Reads one line (without its `\n`) into `line`, keeping at most `max` bytes: the
/// rest of a longer line is read through and dropped.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>, max: u64) -> std::io::Result<LineRead> {
    let mut any = false;
    let mut too_long: Option<u64> = None;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => LineRead::Eof,
                (true, Some(len)) => LineRead::TooLong(len),
                (true, None) => LineRead::Line,
            });
        }
        any = true;
        let newline = memchr::memchr(b'\n', available);
        let chunk = &available[..newline.unwrap_or(available.len())];
        let n = chunk.len();
        match &mut too_long {
            Some(len) => *len += n as u64,
            None if (line.len() + n) as u64 > max => {
                too_long = Some((line.len() + n) as u64);
                line.clear();
            }
            None => {
                // A long line gets room for the cap at once: one reservation of
                // address space (only what is filled is resident) instead of a chain
                // of copies that each hold the old buffer and the new one.
                if line.len() + n > line.capacity() && line.len() + n > GROW_AT {
                    line.reserve_exact(usize::try_from(max).unwrap_or(usize::MAX) - line.len());
                }
                line.extend_from_slice(chunk);
            }
        }
        reader.consume(n + usize::from(newline.is_some()));
        if newline.is_some() {
            return Ok(too_long.map_or(LineRead::Line, LineRead::TooLong));
        }
    }
}

/// The parsed envelope schema, for the sub-schemas of large members.
fn envelope_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| serde_json::from_str(schema::ENVELOPE_SCHEMA).expect("the envelope schema is JSON"))
}

/// Checks lines; holds the buffer it reuses from line to line.
#[derive(Default)]
struct Checker {
    canon: Vec<u8>,
}

impl Checker {
    fn check_line(&mut self, line: &[u8], problem: &mut dyn FnMut(String)) {
        let text = match std::str::from_utf8(line) {
            Ok(t) => t,
            Err(e) => return problem(format!("not JSON: invalid UTF-8 at byte {}", e.valid_up_to())),
        };
        let properties = &envelope_schema()["properties"];
        let top = match Members::parse(text, &|name| properties.get(name).is_some()) {
            Ok(Some(top)) => top,
            // JSON, but not an object: the schema says so, quoting its shape.
            Ok(None) => {
                return match serde_json::from_str::<&RawValue>(text) {
                    Ok(value) => schema::violations(&shape(value)).into_iter().for_each(problem),
                    Err(e) => problem(format!("not JSON: {e}")),
                };
            }
            Err(e) => return problem(format!("not JSON: {e}")),
        };
        // A second `raw` (or hash) would make the line say two things at once.
        for name in &top.repeated {
            problem(format!("/: the member `{}` appears more than once", untrusted::Shown::id(name)));
        }
        let mut small = Map::new();
        for (name, value) in &top.members {
            let stand_in = match name.as_str() {
                "raw" => self.raw(value, &top, problem),
                "metadata" => {
                    // The sealer's rules for metadata: the same depth, no repeated names.
                    self.canon.clear();
                    if let Err(e) = canonical::canonicalize_str(value.get(), &mut self.canon) {
                        problem(format!("/metadata: {e}"));
                    }
                    metadata(value)
                }
                _ => reduce(value, &properties[name.as_str()], &format!("/{name}"), problem),
            };
            small.insert(name.clone(), stand_in);
        }
        // The envelope admits no other members: the schema names the first few.
        for name in &top.others {
            small.insert(name.clone(), Value::Null);
        }
        schema::violations(&Value::Object(small)).into_iter().for_each(problem);
    }

    /// Checks `raw`'s hash against the envelope's claim and returns its stand-in.
    fn raw(&mut self, raw: &RawValue, top: &Members<'_>, problem: &mut dyn FnMut(String)) -> Value {
        self.canon.clear();
        // The canonical form is about as long as the text: room for it at once.
        self.canon.reserve(raw.get().len());
        let kind = match canonical::canonicalize_str(raw.get(), &mut self.canon) {
            Ok(kind) => kind,
            Err(e) => {
                problem(format!("/raw: has no canonical JSON form: {e}"));
                return shape(raw);
            }
        };
        #[derive(serde::Deserialize)]
        struct Hashes<'a> {
            #[serde(borrow)]
            raw_sha256: Option<Cow<'a, str>>,
        }
        let claimed =
            top.get("hashes").and_then(|h| serde_json::from_str::<Hashes<'_>>(h.get()).ok()).and_then(|h| h.raw_sha256);
        if let Some(claimed) = claimed {
            let actual = hex::encode(Sha256::digest(&self.canon));
            if *claimed != actual {
                problem(format!("/hashes/raw_sha256: {claimed} is not the SHA-256 of raw's canonical JSON ({actual})"));
            }
        }
        match kind {
            Kind::Object => Value::Object(Map::new()),
            Kind::String => Value::String(String::new()),
            _ => shape(raw),
        }
    }
}

/// `value` for the schema: itself when it is small or a scalar. A large array is
/// checked here item by item against `schema`'s `items` and stands in as `[]`; a
/// large object keeps the members `schema` names (each reduced) and the first few
/// names of the others. `at` is its JSON pointer, for messages.
fn reduce(value: &RawValue, schema: &Value, at: &str, problem: &mut dyn FnMut(String)) -> Value {
    let text = value.get();
    if text.len() < SMALL || !text.starts_with(['{', '[']) {
        return serde_json::from_str(text).unwrap_or(Value::Null);
    }
    if text.starts_with('[') {
        if let Some(validator) = items_validator(schema) {
            let items = EachItem { items: &schema["items"], validator: &validator, at, problem, index: 0 };
            // The text was parsed once already: it is an array of JSON values.
            let mut de = serde_json::Deserializer::from_str(text);
            let _ = (&mut de).deserialize_seq(items);
        }
        return Value::Array(Vec::new());
    }
    let names = schema.get("properties").and_then(Value::as_object);
    let wanted = |name: &str| names.is_some_and(|n| n.contains_key(name));
    let Ok(Some(members)) = Members::parse(text, &wanted) else { return shape(value) };
    let mut kept = Map::new();
    for (name, member) in &members.members {
        kept.insert(
            name.clone(),
            reduce(member, &schema["properties"][name.as_str()], &format!("{at}/{name}"), problem),
        );
    }
    // Other members matter only to a schema that closes the object (this one's
    // objects are closed or open; none constrains other members further).
    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        for name in &members.others {
            kept.insert(name.clone(), Value::Null);
        }
    }
    Value::Object(kept)
}

/// A validator of `schema`'s `items`, with the envelope schema's definitions.
fn items_validator(schema: &Value) -> Option<jsonschema::Validator> {
    let mut sub = schema.get("items")?.as_object()?.clone();
    let full = envelope_schema();
    sub.insert("$schema".into(), full["$schema"].clone());
    sub.insert("$defs".into(), full["$defs"].clone());
    jsonschema::validator_for(&Value::Object(sub)).ok()
}

/// Checks every item of a JSON array against `validator`, one at a time.
struct EachItem<'a, 'p> {
    items: &'a Value,
    validator: &'a jsonschema::Validator,
    at: &'a str,
    problem: &'p mut dyn FnMut(String),
    index: usize,
}

impl<'de> Visitor<'de> for EachItem<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            let at = format!("{}/{}", self.at, self.index);
            self.index += 1;
            let reduced = reduce(item, self.items, &at, self.problem);
            if !self.validator.is_valid(&reduced) {
                for e in self.validator.iter_errors(&reduced) {
                    (self.problem)(format!("{at}{}: {e}", e.instance_path()));
                }
            }
        }
        Ok(())
    }
}

/// A value's shape: the value itself when it is small, else an empty one of its
/// type (the schema's type checks see the same).
fn shape(value: &RawValue) -> Value {
    let text = value.get();
    if text.len() < SMALL {
        return serde_json::from_str(text).unwrap_or(Value::Null);
    }
    match text.as_bytes().first() {
        Some(b'{') => Value::Object(Map::new()),
        Some(b'[') => Value::Array(Vec::new()),
        Some(b'"') => Value::String(String::new()),
        _ => serde_json::from_str(text).unwrap_or(Value::Null),
    }
}

/// `metadata` for the schema: the schema constrains only `metadata.connector`, so
/// an object keeps that member alone.
fn metadata(value: &RawValue) -> Value {
    if !value.get().starts_with('{') {
        return shape(value);
    }
    match Members::parse(value.get(), &|name| name == "connector") {
        Ok(Some(top)) => {
            let mut kept = Map::new();
            if let Some(connector) = top.get("connector") {
                kept.insert("connector".into(), shape(connector));
            }
            Value::Object(kept)
        }
        _ => shape(value),
    }
}

/// An object's members as borrowed raw values: those a schema names (`wanted`), in
/// order, and the names of the first few others in `others`. An object may hold any
/// number of members; those no schema looks at are parsed and dropped, so that a
/// million tiny members cost no more than their text.
struct Members<'a> {
    members: Vec<(String, &'a RawValue)>,
    /// Wanted names that appear more than once.
    repeated: Vec<String>,
    /// The first [`UNKNOWN_NAMES`] names not wanted.
    others: Vec<String>,
}

impl<'a> Members<'a> {
    /// `text` split into members; `None` when it is JSON but not an object.
    fn parse(text: &'a str, wanted: &dyn Fn(&str) -> bool) -> Result<Option<Members<'a>>, serde_json::Error> {
        if !text.trim_start().starts_with('{') {
            serde_json::from_str::<IgnoredAny>(text)?;
            return Ok(None);
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let members = de.deserialize_map(MembersVisitor { wanted })?;
        de.end()?;
        Ok(Some(members))
    }

    fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.members.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

struct MembersVisitor<'w> {
    wanted: &'w dyn Fn(&str) -> bool,
}

impl<'de> Visitor<'de> for MembersVisitor<'_> {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
        let mut m = Members { members: Vec::new(), repeated: Vec::new(), others: Vec::new() };
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            if !(self.wanted)(&name) {
                map.next_value::<IgnoredAny>()?;
                if m.others.len() < UNKNOWN_NAMES {
                    m.others.push(name.into_owned());
                }
            } else if m.members.iter().any(|(n, _)| *n == name) {
                map.next_value::<IgnoredAny>()?;
                if m.repeated.len() < UNKNOWN_NAMES {
                    m.repeated.push(name.into_owned());
                }
            } else {
                let value: &'de RawValue = map.next_value()?;
                m.members.push((name.into_owned(), value));
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid envelope with `raw`, changed by `edit`, as one line.
    fn envelope(raw: Value, edit: impl FnOnce(&mut Value)) -> String {
        // A raw with no canonical form (nested too deep) has no hash to give.
        let hash = canonical::to_vec(&raw).map_or("0".repeat(64), |c| hex::encode(Sha256::digest(c)));
        let mut e = serde_json::json!({
            "envelope_version": "1.0", "source": "s", "source_instance": "i",
            "collected_at": "2024-01-01T00:00:00Z", "record_id": "r", "record_type": "Event",
            "provenance": {"uri": "probe://r"}, "hashes": {"raw_sha256": hash}, "raw": raw,
            "metadata": {"connector": {"name": "c", "digest": format!("sha256:{}", "0".repeat(64))}, "x": [1, 2]},
        });
        edit(&mut e);
        e.to_string()
    }

    fn findings(text: &str) -> Vec<String> {
        validate_lines(text.as_bytes(), 1 << 30).unwrap().findings.into_iter().map(|f| f.message).collect()
    }

    #[test]
    fn accepts_valid_envelopes_of_every_raw_type_and_large_members() {
        let big_tags: Vec<String> = (0..50_000).map(|i| format!("t{i}")).collect();
        let big_meta: Vec<u64> = (0..50_000).collect();
        let lines = [
            envelope(serde_json::json!({"b": [1, {"z": null, "a": "é"}], "a": 1e21}), |_| {}),
            envelope(Value::String("x".repeat(100_000)), |_| {}),
            envelope(serde_json::json!({"deep": [[[[[[[[[[{}]]]]]]]]]]}), |e| {
                e["acl_tags"] = serde_json::json!(big_tags);
                e["metadata"]["big"] = serde_json::json!(big_meta);
                e["provenance"]["etag"] = "e".repeat(100_000).into();
            }),
        ];
        let v = validate_lines(lines.join("\n").as_bytes(), 1 << 30).unwrap();
        assert_eq!((v.envelopes, v.valid), (3, 3), "{:?}", v.findings);
    }

    #[test]
    fn checks_large_arrays_item_by_item_and_large_objects_by_their_named_members() {
        let mut tags: Vec<Value> = (0..50_000).map(|i| Value::String(format!("t{i}"))).collect();
        tags[40_000] = Value::String(String::new());
        tags[40_001] = Value::from(7);
        let line = envelope(serde_json::json!({}), |e| e["acl_tags"] = Value::Array(tags));
        assert_eq!(
            findings(&line),
            [
                "/acl_tags/40000: \"\" is shorter than 1 character".to_string(),
                "/acl_tags/40001: 7 is not of type \"string\"".to_string()
            ]
        );

        let mut provenance = Map::new();
        provenance.insert("uri".into(), "no scheme".into());
        for i in 0..20_000 {
            provenance.insert(format!("k{i}"), Value::from(i));
        }
        let line = envelope(serde_json::json!({}), |e| e["provenance"] = Value::Object(provenance));
        let found = findings(&line);
        assert!(found.iter().any(|f| f.starts_with("/provenance/uri: \"no scheme\" does not match")), "{found:?}");
        assert!(found.iter().any(|f| f.starts_with("/provenance: Additional properties are not allowed")), "{found:?}");
    }

    #[test]
    fn refuses_what_has_no_single_meaning() {
        let line = envelope(serde_json::json!({}), |_| {});
        let twice = format!("{}, \"raw\": {{\"a\": 1}}}}", line.strip_suffix('}').unwrap());
        assert_eq!(findings(&twice), ["/: the member `raw` appears more than once"]);
        let dup = line.replacen("\"raw\":{}", "\"raw\":{\"a\":1,\"a\":2}", 1);
        assert!(findings(&dup)[0].starts_with("/raw: has no canonical JSON form: duplicate member name `a`"));
    }

    #[test]
    fn applies_the_sealers_depth_rule_to_raw_and_metadata() {
        let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let at = |depth: usize| {
            let deep: Value = serde_json::from_str(&nested(depth)).unwrap();
            let raw = envelope(serde_json::json!({ "a": deep }), |_| {});
            let meta = envelope(serde_json::json!({}), |e| e["metadata"]["x"] = deep);
            (findings(&raw), findings(&meta))
        };
        // 63 inside one object: the 64 levels the sealer allows.
        let (raw, meta) = at(63);
        assert!(raw.is_empty() && meta.is_empty(), "{raw:?} {meta:?}");
        let (raw, meta) = at(64);
        assert!(
            raw[0].starts_with("/raw: has no canonical JSON form: arrays and objects nest deeper than 64"),
            "{raw:?}"
        );
        assert!(meta[0].starts_with("/metadata: arrays and objects nest deeper than 64"), "{meta:?}");
    }

    #[test]
    fn a_line_over_the_cap_is_one_finding_and_reading_goes_on() {
        let good = envelope(serde_json::json!({"ok": true}), |_| {});
        let text = format!("{good}\n{}\n\n{good}\n{}", "x".repeat(5000), "y".repeat(5000));
        let v = validate_lines(std::io::BufReader::with_capacity(64, text.as_bytes()), 4096).unwrap();
        assert_eq!((v.envelopes, v.valid), (4, 2));
        let lines: Vec<u64> = v.findings.iter().map(|f| f.line).collect();
        assert_eq!(lines, [2, 5]);
        assert_eq!(v.findings[0].message, "line 2 is longer than 4096 bytes (5000 bytes); not checked");
    }

    #[test]
    fn keeps_the_first_findings_and_counts_the_rest() {
        let text = "nope\n".repeat(1000);
        let v = validate_lines(text.as_bytes(), 1 << 20).unwrap();
        assert_eq!((v.envelopes, v.valid, v.findings.len(), v.more_findings), (1000, 0, MAX_FINDINGS, 900));
    }
}
