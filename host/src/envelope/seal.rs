//! Turning a guest's envelope draft into a sealed, validated envelope.
//!
//! Per record the host parses `raw` once, writing its RFC 8785 canonical form as it
//! goes; hashes those bytes; and writes them as the envelope's `raw`. Validation
//! checks what the guest supplied (record id, source instance, provenance, ACL tags,
//! the type of `raw`) against the envelope schema's own definitions of those fields,
//! for every record. What the host built itself (version, source, time, hash,
//! metadata) does not change between records of a page, so the first envelope of
//! each page is also checked whole against the full schema.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::canonical::{self, Kind};
use super::schema;
use crate::contract::{Draft, Provenance, RecordType};

/// Identifies the component that produced an envelope (`metadata.connector`).
#[derive(Clone, Debug)]
pub struct ConnectorStamp {
    /// The connector's name (from the manifest).
    pub name: String,
    /// The component's SHA-256, lowercase hex.
    pub digest: String,
    /// The WIT package and version it was built against.
    pub package: String,
}

/// A draft the host refused to seal, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// The draft's record id (possibly empty or cut short: it came from the guest).
    pub record_id: String,
    /// Why it was refused, naming the field.
    pub reason: String,
}

/// Seals drafts of one connector. Holds the host-owned parts of every envelope and
/// buffers it reuses from record to record.
pub struct Sealer {
    source_json: Vec<u8>,
    stamp: Value,
    stamp_json: Vec<u8>,
    collected_at: String,
    /// Whether the next envelope is checked whole against the full schema.
    check_whole: bool,
    canon: Vec<u8>,
    /// The current draft's metadata, canonical, without its `connector` member.
    meta: Vec<u8>,
    /// The guest-supplied part of the current envelope, for validation; its strings
    /// are overwritten in place from record to record rather than reallocated.
    part: Value,
    /// The most bytes a draft's `raw`, and its `metadata`, may have.
    max_record_bytes: usize,
    /// The longest envelope line written: what `host validate` reads.
    max_line: u64,
}

/// The default bound on a draft's `raw` and on its `metadata` (`limits.max_record_bytes`).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// The longest schema message kept per violation: a message may quote the value.
const MAX_VIOLATION: usize = 512;

impl Sealer {
    /// A sealer for envelopes of `source`, produced by the component `stamp` names.
    pub fn new(source: &str, stamp: &ConnectorStamp) -> Sealer {
        let stamp = json!({
            "name": stamp.name,
            "digest": format!("sha256:{}", stamp.digest),
            "package": stamp.package,
        });
        let mut stamp_json = b"{\"connector\":".to_vec();
        serde_json::to_writer(&mut stamp_json, &stamp).expect("writing to a Vec cannot fail");
        stamp_json.push(b'}');
        // Compile both schemas now rather than inside the first page's timing.
        schema::envelope();
        schema::draft_part();
        Sealer {
            source_json: serde_json::to_vec(source).expect("writing to a Vec cannot fail"),
            stamp,
            stamp_json,
            collected_at: crate::timestamp::now(),
            check_whole: true,
            canon: Vec::with_capacity(4096),
            meta: Vec::new(),
            max_record_bytes: MAX_RECORD_BYTES,
            max_line: super::validate::MAX_LINE,
            part: json!({
                "source_instance": "",
                "record_id": "",
                "provenance": { "uri": "" },
                "raw": {},
            }),
        }
    }

    /// Sets `collected_at` for the envelopes sealed from now on (once per page: the
    /// time the page was fetched).
    pub fn set_collected_at(&mut self, at: String) {
        self.collected_at = at;
        self.check_whole = true;
    }

    /// Sets the bound on a draft's `raw` and on its `metadata`, in bytes.
    pub fn with_max_record_bytes(mut self, max: usize) -> Sealer {
        self.max_record_bytes = max;
        self
    }

    /// Seals `draft` and appends the envelope as one line of JSON (with its newline)
    /// to `out`; returns its `raw_sha256` (lowercase hex). On refusal `out` is left
    /// as it was.
    ///
    /// No draft can take the host down: a panic while sealing (a bug of the host's,
    /// whatever the draft) refuses that one draft, which then goes to dead letters
    /// like any other refusal, and the sealer goes on with the next.
    pub fn seal_into(&mut self, draft: &Draft, out: &mut Vec<u8>) -> Result<[u8; 64], Rejection> {
        let start = out.len();
        let sealed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.seal_unguarded(draft, out)));
        match sealed {
            Ok(Ok(hash)) => Ok(hash),
            Ok(Err(reason)) => {
                out.truncate(start);
                Err(Rejection { record_id: quote(&draft.record_id), reason })
            }
            Err(panic) => {
                out.truncate(start);
                self.check_whole = true;
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                Err(Rejection {
                    record_id: quote(&draft.record_id),
                    reason: format!(
                        "the host failed while sealing this draft ({}); it is kept for replay",
                        quote(&what)
                    ),
                })
            }
        }
    }

    fn seal_unguarded(&mut self, draft: &Draft, out: &mut Vec<u8>) -> Result<[u8; 64], String> {
        let start = out.len();
        let max = self.max_record_bytes;
        if draft.raw.len() > max {
            return Err(format!("raw is {} bytes, more than limits.max_record_bytes ({max})", draft.raw.len()));
        }
        self.canon.clear();
        let kind =
            canonical::canonicalize_str(&draft.raw, &mut self.canon).map_err(|e| format!("raw is not JSON: {e}"))?;
        // Canonical numbers can be longer than their text (`1e20` is 21 digits): the
        // bound holds for what is written too, so an envelope line stays bounded.
        if self.canon.len() > max {
            return Err(format!(
                "raw is {} bytes in canonical form, more than limits.max_record_bytes ({max})",
                self.canon.len()
            ));
        }
        let mut hash_hex = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(&self.canon), &mut hash_hex).expect("64 hex digits for 32 bytes");
        let hash = std::str::from_utf8(&hash_hex).expect("hex is ASCII");

        // Metadata is read by the same streaming parser and depth rule as `raw`
        // (never into a `Value`, which costs some 30 times the text), without the
        // guest's own `connector` member: the host's stamp takes its place.
        self.meta.clear();
        if let Some(text) = &draft.metadata {
            if text.len() > max {
                return Err(format!("metadata is {} bytes, more than limits.max_record_bytes ({max})", text.len()));
            }
            match canonical::canonicalize_without(text, &mut self.meta, "connector") {
                Ok(canonical::Kind::Object) => {}
                Ok(_) => return Err("metadata is not a JSON object".into()),
                Err(e) => return Err(format!("metadata is not JSON: {e}")),
            }
            if self.meta.len() > max {
                return Err(format!(
                    "metadata is {} bytes in canonical form, more than limits.max_record_bytes ({max})",
                    self.meta.len()
                ));
            }
        }

        // The draft's other texts (ids, provenance, ACL tags) are bounded together.
        let p = &draft.provenance;
        let others = [&draft.record_id, &draft.source_instance, &p.uri].iter().map(|t| t.len()).sum::<usize>()
            + [&p.etag, &p.last_modified, &p.author].iter().filter_map(|t| t.as_ref()).map(String::len).sum::<usize>()
            + draft.acl_tags.iter().map(|t| t.len() + 3).sum::<usize>();
        if others > max {
            return Err(format!(
                "its ids, provenance and ACL tags hold {others} bytes, more than limits.max_record_bytes ({max})"
            ));
        }

        set_guest_part(&mut self.part, draft, kind, &self.canon);
        let violations = schema::violations_of(schema::draft_part(), &self.part);
        if !violations.is_empty() {
            return Err(schema_refusal(&violations));
        }

        if self.check_whole {
            // What the host adds is the same for every envelope of a page: check it
            // once per page, on the guest part with the host's fields around it
            // (`raw` standing in by its type, as above), never on a re-parse of the
            // written line, whose `raw` may be large.
            let mut whole = self.part.clone();
            let fields = whole.as_object_mut().expect("the guest part is an object");
            fields.insert("envelope_version".into(), json!("1.0"));
            fields.insert("source".into(), serde_json::from_slice(&self.source_json).expect("the host writes JSON"));
            fields.insert("collected_at".into(), json!(self.collected_at));
            fields.insert("record_type".into(), json!(draft.record_type.as_str()));
            fields.insert("hashes".into(), json!({ "raw_sha256": hash }));
            fields.insert("metadata".into(), json!({ "connector": self.stamp }));
            let violations = schema::violations(&whole);
            if !violations.is_empty() {
                return Err(schema_refusal(&violations));
            }
            self.check_whole = false;
        }

        self.write(draft, hash, out);
        out.extend_from_slice(b",\"metadata\":");
        if self.meta.len() <= 2 {
            out.extend_from_slice(&self.stamp_json);
        } else {
            out.extend_from_slice(&self.meta[..self.meta.len() - 1]);
            out.extend_from_slice(b",");
            // `{"connector":{...}}` without its braces.
            out.extend_from_slice(&self.stamp_json[1..self.stamp_json.len() - 1]);
            out.push(b'}');
        }
        out.extend_from_slice(b"}\n");
        // What the host writes, `host validate` reads: a line it would not read whole
        // (escaping can make a text six times longer) is refused here instead.
        let written = out.len() - start;
        if written as u64 > self.max_line {
            return Err(format!(
                "its envelope would be {written} bytes, more than a line `host validate` reads ({} bytes)",
                self.max_line
            ));
        }
        Ok(hash_hex)
    }

    /// Writes the envelope up to and including `raw`, in the seed's field order.
    fn write(&self, d: &Draft, hash: &str, out: &mut Vec<u8>) {
        let s = |out: &mut Vec<u8>, v: &str| serde_json::to_writer(&mut *out, v).expect("writing to a Vec cannot fail");
        out.extend_from_slice(b"{\"envelope_version\":\"1.0\",\"source\":");
        out.extend_from_slice(&self.source_json);
        out.extend_from_slice(b",\"source_instance\":");
        s(out, &d.source_instance);
        out.extend_from_slice(b",\"collected_at\":");
        s(out, &self.collected_at);
        out.extend_from_slice(b",\"record_id\":");
        s(out, &d.record_id);
        out.extend_from_slice(b",\"record_type\":\"");
        out.extend_from_slice(d.record_type.as_str().as_bytes());
        out.extend_from_slice(b"\",\"provenance\":{\"uri\":");
        s(out, &d.provenance.uri);
        let optional = [
            (&b",\"etag\":"[..], &d.provenance.etag),
            (&b",\"last_modified\":"[..], &d.provenance.last_modified),
            (&b",\"author\":"[..], &d.provenance.author),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                out.extend_from_slice(key);
                s(out, v);
            }
        }
        out.extend_from_slice(b"},\"hashes\":{\"raw_sha256\":\"");
        out.extend_from_slice(hash.as_bytes());
        out.extend_from_slice(b"\"}");
        if !d.acl_tags.is_empty() {
            out.extend_from_slice(b",\"acl_tags\":");
            serde_json::to_writer(&mut *out, &d.acl_tags).expect("writing to a Vec cannot fail");
        }
        out.extend_from_slice(b",\"raw\":");
        out.extend_from_slice(&self.canon);
    }
}

/// Sets `part` to the guest-supplied fields of `d`'s envelope, for validation. An
/// object, string or array `raw` stands in by its type only: the schema constrains
/// nothing deeper, and a stand-in costs nothing however large the guest's `raw` is.
/// A scalar (`canonical`, a few bytes) is put in whole, so the schema's message
/// quotes it.
fn set_guest_part(part: &mut Value, d: &Draft, raw: Kind, canonical: &[u8]) {
    let part = part.as_object_mut().expect("the guest part is an object");
    set_str(part, "source_instance", &d.source_instance);
    set_str(part, "record_id", &d.record_id);
    let provenance =
        part.entry("provenance").or_insert_with(|| json!({})).as_object_mut().expect("provenance is an object");
    set_str(provenance, "uri", &d.provenance.uri);
    let optional = [
        ("etag", &d.provenance.etag),
        ("last_modified", &d.provenance.last_modified),
        ("author", &d.provenance.author),
    ];
    for (key, value) in optional {
        match value {
            Some(v) => set_str(provenance, key, v),
            None => {
                provenance.remove(key);
            }
        }
    }
    if d.acl_tags.is_empty() {
        part.remove("acl_tags");
    } else {
        part.insert("acl_tags".into(), d.acl_tags.iter().cloned().map(Value::String).collect());
    }
    let raw = match raw {
        Kind::Object => Value::Object(Map::new()),
        Kind::String => Value::String(String::new()),
        Kind::Array => Value::Array(Vec::new()),
        Kind::Number | Kind::Bool | Kind::Null => serde_json::from_slice(canonical).unwrap_or(Value::Null),
    };
    part.insert("raw".into(), raw);
}

/// Sets `map[key]` to the string `value`, reusing the string already there.
fn set_str(map: &mut Map<String, Value>, key: &str, value: &str) {
    match map.get_mut(key) {
        Some(Value::String(s)) => {
            s.clear();
            s.push_str(value);
        }
        _ => {
            map.insert(key.into(), Value::String(value.to_string()));
        }
    }
}

/// A draft as JSON, kept with a dead letter so that it can be sealed again later.
/// Each of its texts is kept up to `max` bytes (`limits.max_record_bytes`): a draft
/// with a longer one could never be sealed anyway, and the store keeps no more of
/// a guest's text than that.
pub fn draft_to_json(d: &Draft, max: usize) -> String {
    let cut = |t: &str| crate::untrusted::capped(t, max);
    let cut_opt = |t: &Option<String>| t.as_deref().map(cut);
    json!({
        "record_id": cut(&d.record_id),
        "record_type": d.record_type.as_str(),
        "source_instance": cut(&d.source_instance),
        "provenance": {
            "uri": cut(&d.provenance.uri),
            "etag": cut_opt(&d.provenance.etag),
            "last_modified": cut_opt(&d.provenance.last_modified),
            "author": cut_opt(&d.provenance.author),
        },
        "acl_tags": d.acl_tags.iter().map(|t| cut(t)).collect::<Vec<_>>(),
        "raw": cut(&d.raw),
        "metadata": cut_opt(&d.metadata),
    })
    .to_string()
}

/// A draft kept by [`draft_to_json`], read back.
pub fn draft_from_json(text: &str) -> Result<Draft, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("the kept draft is not JSON: {e}"))?;
    let s = |v: &Value, key: &str| v[key].as_str().map(str::to_string);
    let record_type = match v["record_type"].as_str().and_then(RecordType::parse) {
        Some(t) => t,
        None => return Err(format!("the kept draft has record_type {}", v["record_type"])),
    };
    let p = &v["provenance"];
    Ok(Draft {
        record_id: s(&v, "record_id").unwrap_or_default(),
        record_type,
        source_instance: s(&v, "source_instance").unwrap_or_default(),
        provenance: Provenance {
            uri: s(p, "uri").unwrap_or_default(),
            etag: s(p, "etag"),
            last_modified: s(p, "last_modified"),
            author: s(p, "author"),
        },
        acl_tags: v["acl_tags"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
        raw: s(&v, "raw").unwrap_or_default(),
        metadata: s(&v, "metadata"),
    })
}

/// The refusal of a draft that breaks the schema: every violation, each cut short
/// (a message may quote a guest's value whole).
fn schema_refusal(violations: &[String]) -> String {
    let shown: Vec<_> = violations.iter().map(|v| crate::untrusted::cap(v, MAX_VIOLATION)).collect();
    format!("envelope does not match the schema: {}", shown.join("; "))
}

fn quote(id: &str) -> String {
    crate::untrusted::capped(id, crate::untrusted::MAX_QUOTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(raw: &str, metadata: Option<&str>) -> Draft {
        Draft {
            record_id: "r".into(),
            record_type: RecordType::Event,
            source_instance: "s".into(),
            provenance: Provenance { uri: "x://r".into(), etag: None, last_modified: None, author: None },
            acl_tags: vec![],
            raw: raw.into(),
            metadata: metadata.map(str::to_string),
        }
    }

    fn sealer(max: usize) -> Sealer {
        let stamp = ConnectorStamp { name: "c".into(), digest: "0".repeat(64), package: "p".into() };
        Sealer::new("src", &stamp).with_max_record_bytes(max)
    }

    #[test]
    fn the_record_bound_holds_for_the_text_and_for_its_canonical_form() {
        let mut out = Vec::new();
        // 2,009 bytes of text, 8,809 in canonical form (`1e20` is 21 digits).
        let numbers = format!("{{\"n\":[{}1]}}", "1e20,".repeat(400));
        let e = sealer(4096).seal_into(&draft(&numbers, None), &mut out).unwrap_err();
        assert!(
            e.reason.starts_with("raw is 8809 bytes in canonical form, more than limits.max_record_bytes (4096)"),
            "{}",
            e.reason
        );
        let e = sealer(1024).seal_into(&draft(&numbers, None), &mut out).unwrap_err();
        assert_eq!(e.reason, format!("raw is {} bytes, more than limits.max_record_bytes (1024)", numbers.len()));
        let e = sealer(4096).seal_into(&draft("{}", Some(&numbers)), &mut out).unwrap_err();
        assert!(e.reason.starts_with("metadata is 8809 bytes in canonical form"), "{}", e.reason);
        assert!(out.is_empty(), "a refused draft writes nothing");
        let mut tagged = draft("{}", None);
        tagged.acl_tags = (0..300).map(|i| format!("tag-{i}")).collect();
        let e = sealer(1024).seal_into(&tagged, &mut out).unwrap_err();
        assert_eq!(
            e.reason,
            "its ids, provenance and ACL tags hold 2897 bytes, more than limits.max_record_bytes (1024)"
        );
        // Escaping can make a text six times longer than the bound counted.
        let mut escaped = draft("{}", None);
        escaped.provenance.author = Some("\u{1}".repeat(1000));
        let mut short_lines = sealer(4096);
        short_lines.max_line = 4096;
        let e = short_lines.seal_into(&escaped, &mut out).unwrap_err();
        assert!(e.reason.starts_with("its envelope would be 6"), "{}", e.reason);
        assert!(e.reason.ends_with("bytes, more than a line `host validate` reads (4096 bytes)"), "{}", e.reason);
        assert!(out.is_empty(), "a refused draft writes nothing");
    }

    #[test]
    fn the_hosts_stamp_replaces_the_guests_and_the_line_parses() {
        let mut out = Vec::new();
        let metadata = r#"{"z":1,"connector":{"name":"forged"},"a":[true]}"#;
        sealer(1 << 20).seal_into(&draft(r#"{"b":2,"a":1}"#, Some(metadata)), &mut out).unwrap();
        let line: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["raw"], json!({"a": 1, "b": 2}));
        assert_eq!(
            line["metadata"],
            json!({"a": [true], "z": 1, "connector": {"name": "c", "digest": format!("sha256:{}", "0".repeat(64)), "package": "p"}})
        );
        assert!(schema::violations(&line).is_empty());
    }
}
