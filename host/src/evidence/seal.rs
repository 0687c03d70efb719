//! Turning a connector's evidence into sealed envelopes, ranked.
//!
//! Each item is checked first (claims in [0, 1], a date that is RFC 3339, a URL
//! with a host, metadata that is a JSON object), then scored
//! ([`super::score`]) and described as an envelope draft, which the host's
//! [`Sealer`] seals like any record: `raw` is the evidence as the connector gave it
//! (without the host's freshness and score, so its hash changes only when the
//! evidence does), `provenance.uri` its URL, and `metadata.reliability` the host's
//! scores, over any key of that name the connector wrote. An item that fails a check
//! is refused with the reason, and the others go on.

use std::time::Duration;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::score::{self, Reliability};
use crate::contract::{Draft, Evidence, Provenance, RecordType};
use crate::envelope::{Rejection, Sealer};
use crate::untrusted::{MAX_QUOTE, capped};

/// One item, checked and scored.
#[derive(Clone, Debug)]
pub struct Scored {
    /// The item as the connector returned it.
    pub evidence: Evidence,
    /// The host's scores.
    pub reliability: Reliability,
}

/// One item, sealed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SealedEvidence {
    /// Its id at the source (the envelope's `record_id`).
    pub record_id: String,
    /// `hashes.raw_sha256`, lowercase hex.
    pub raw_sha256: String,
    /// Its URL (`provenance.uri`).
    pub uri: String,
    /// Its title, cut to a bound.
    pub title: String,
    /// The host's scores.
    pub reliability: Reliability,
    /// The envelope, one line of JSON with its newline.
    #[serde(skip)]
    pub line: Vec<u8>,
}

impl SealedEvidence {
    /// The same without its envelope, for a report.
    pub fn summary(&self) -> SealedEvidence {
        SealedEvidence {
            record_id: self.record_id.clone(),
            raw_sha256: self.raw_sha256.clone(),
            uri: self.uri.clone(),
            title: self.title.clone(),
            reliability: self.reliability,
            line: Vec::new(),
        }
    }
}

/// Checks `e` and scores it as of `now`.
pub fn score(e: Evidence, now: OffsetDateTime, half_life: Duration) -> Result<Scored, Rejection> {
    let refuse = |reason: String| Rejection { record_id: capped(&e.id, MAX_QUOTE), reason };
    if e.id.is_empty() {
        return Err(refuse("its id is empty".into()));
    }
    let confidence = score::unit("confidence", e.confidence).map_err(refuse)?;
    let authority = score::unit("authority", e.authority).map_err(refuse)?;
    let created = e.created_at.as_deref().map(score::parse_date).transpose().map_err(refuse)?;
    let freshness = score::freshness(created, now, half_life);
    Ok(Scored { reliability: Reliability::new(confidence, freshness, authority), evidence: e })
}

/// The envelope draft of a scored item; `max_bytes` bounds the connector's metadata
/// before it is parsed.
pub fn to_draft(s: &Scored, max_bytes: usize) -> Result<Draft, String> {
    let e = &s.evidence;
    let url = url::Url::parse(&e.url)
        .map_err(|_| format!("its url `{}` is not an absolute URL", crate::untrusted::Shown::id(&e.url)))?;
    let instance = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => return Err(format!("its url `{}` has no host", crate::untrusted::Shown::id(&e.url))),
    };
    let mut metadata = match &e.metadata {
        None => Map::new(),
        Some(text) if text.len() > max_bytes => {
            return Err(format!(
                "its metadata is {} bytes, more than limits.max_record_bytes ({max_bytes})",
                text.len()
            ));
        }
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err("its metadata is not a JSON object".into()),
            Err(err) => return Err(format!("its metadata is not JSON: {err}")),
        },
    };
    // The host's scores, over whatever the connector wrote under this name.
    metadata.insert("reliability".into(), json!(s.reliability));
    let raw = json!({
        "id": e.id,
        "title": e.title,
        "content": e.content,
        "url": e.url,
        "author": e.author,
        "created_at": e.created_at,
        "confidence": e.confidence,
        "authority": e.authority,
    });
    Ok(Draft {
        record_id: e.id.clone(),
        record_type: RecordType::Document,
        source_instance: instance,
        provenance: Provenance {
            uri: e.url.clone(),
            etag: None,
            last_modified: e.created_at.clone(),
            author: e.author.clone(),
        },
        acl_tags: Vec::new(),
        raw: raw.to_string(),
        metadata: Some(Value::Object(metadata).to_string()),
    })
}

/// Checks, scores and seals `items`, best first (by score, then in the connector's
/// order); returns the sealed and the refused.
pub fn seal_ranked(
    sealer: &mut Sealer,
    items: Vec<Evidence>,
    now: OffsetDateTime,
    half_life: Duration,
    max_bytes: usize,
) -> (Vec<SealedEvidence>, Vec<Rejection>) {
    let mut rejected = Vec::new();
    let mut scored: Vec<Scored> = Vec::with_capacity(items.len());
    for item in items {
        match score(item, now, half_life) {
            Ok(s) => scored.push(s),
            Err(r) => rejected.push(r),
        }
    }
    // A stable sort: equal scores keep the connector's order.
    scored.sort_by(|a, b| b.reliability.score.total_cmp(&a.reliability.score));
    let mut sealed = Vec::with_capacity(scored.len());
    for s in scored {
        let draft = match to_draft(&s, max_bytes) {
            Ok(d) => d,
            Err(reason) => {
                rejected.push(Rejection { record_id: capped(&s.evidence.id, MAX_QUOTE), reason });
                continue;
            }
        };
        let mut line = Vec::new();
        match sealer.seal_into(&draft, &mut line) {
            Ok(hash) => sealed.push(SealedEvidence {
                record_id: s.evidence.id.clone(),
                raw_sha256: String::from_utf8_lossy(&hash).into_owned(),
                uri: s.evidence.url.clone(),
                title: capped(&s.evidence.title, crate::untrusted::MAX_TEXT),
                reliability: s.reliability,
                line,
            }),
            Err(r) => rejected.push(r),
        }
    }
    (sealed, rejected)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::envelope::ConnectorStamp;

    fn item(id: &str, confidence: f64, authority: f64, created_at: Option<&str>) -> Evidence {
        Evidence {
            id: id.into(),
            title: format!("Title {id}"),
            content: "Some text.".into(),
            url: format!("https://en.wikipedia.org/wiki/{id}"),
            author: Some("Wikipedia contributors".into()),
            created_at: created_at.map(str::to_string),
            confidence,
            authority,
            metadata: Some(r#"{"rank":1,"reliability":"mine"}"#.into()),
        }
    }

    fn sealer() -> Sealer {
        let stamp =
            ConnectorStamp { name: "wiki".into(), digest: "ab".repeat(32), package: "partner:connector@1.1.0".into() };
        Sealer::new("mediawiki", &stamp)
    }

    const NOW: OffsetDateTime = datetime!(2026-12-01 00:00 UTC);

    fn year() -> Duration {
        score::half_life(365.0)
    }

    #[test]
    fn items_are_sealed_best_first_with_the_hosts_scores() {
        let items = vec![
            item("low", 0.2, 0.5, Some("2026-12-01T00:00:00Z")),
            item("high", 0.9, 0.8, Some("2025-12-01T00:00:00Z")),
            item("tie", 0.2, 0.5, Some("2026-12-01T00:00:00Z")),
        ];
        let (sealed, rejected) = seal_ranked(&mut sealer(), items, NOW, year(), 1 << 20);
        assert!(rejected.is_empty(), "{rejected:?}");
        let ids: Vec<&str> = sealed.iter().map(|s| s.record_id.as_str()).collect();
        assert_eq!(ids, ["high", "low", "tie"], "by score, then in the connector's order");
        let high = &sealed[0];
        assert_eq!(high.reliability.freshness, 0.5);
        assert_eq!(high.reliability.score, 0.4 * 0.9 + 0.3 * 0.5 + 0.3 * 0.8);
        let envelope: Value = serde_json::from_slice(&high.line).unwrap();
        assert_eq!(envelope["record_id"], "high");
        assert_eq!(envelope["record_type"], "Document");
        assert_eq!(envelope["source"], "mediawiki");
        assert_eq!(envelope["source_instance"], "en.wikipedia.org");
        assert_eq!(envelope["provenance"]["uri"], "https://en.wikipedia.org/wiki/high");
        assert_eq!(envelope["provenance"]["last_modified"], "2025-12-01T00:00:00Z");
        assert_eq!(envelope["hashes"]["raw_sha256"], high.raw_sha256);
        assert_eq!(envelope["raw"]["confidence"], 0.9);
        assert!(envelope["raw"].get("score").is_none(), "the score is the host's, not part of raw");
        // The host's reliability replaces the connector's key of that name; its other keys stay.
        assert_eq!(envelope["metadata"]["reliability"]["score"], high.reliability.score);
        assert_eq!(envelope["metadata"]["rank"], 1);
        assert_eq!(envelope["metadata"]["connector"]["name"], "wiki");
    }

    #[test]
    fn the_raw_hash_does_not_change_as_the_evidence_ages() {
        let one = |now| {
            seal_ranked(&mut sealer(), vec![item("a", 0.5, 0.5, Some("2026-01-01T00:00:00Z"))], now, year(), 1 << 20).0
        };
        let (then, later) = (one(NOW), one(datetime!(2027-06-01 00:00 UTC)));
        assert_eq!(then[0].raw_sha256, later[0].raw_sha256);
        assert!(later[0].reliability.freshness < then[0].reliability.freshness);
    }

    #[test]
    fn bad_claims_are_refused_with_the_reason_and_the_rest_go_on() {
        let mut no_host = item("nohost", 0.5, 0.5, None);
        no_host.url = "mailto:someone".into();
        let mut list_meta = item("meta", 0.5, 0.5, None);
        list_meta.metadata = Some("[1]".into());
        let items = vec![
            item("seven", 7.0, 0.5, None),
            item("nan", f64::NAN, 0.5, None),
            item("neg", 0.5, -1.0, None),
            item("date", 0.5, 0.5, Some("last tuesday")),
            item("", 0.5, 0.5, None),
            no_host,
            list_meta,
            item("good", 0.5, 0.5, None),
        ];
        let (sealed, rejected) = seal_ranked(&mut sealer(), items, NOW, year(), 1 << 20);
        assert_eq!(sealed.len(), 1);
        assert_eq!(sealed[0].record_id, "good");
        assert_eq!(sealed[0].reliability.freshness, 0.0, "undated");
        let reasons: Vec<(String, String)> = rejected.into_iter().map(|r| (r.record_id, r.reason)).collect();
        assert_eq!(reasons[0], ("seven".into(), "confidence is 7; it must be from 0 to 1".into()));
        assert_eq!(reasons[1], ("nan".into(), "confidence is NaN; it must be a number from 0 to 1".into()));
        assert_eq!(reasons[2], ("neg".into(), "authority is -1; it must be from 0 to 1".into()));
        assert!(reasons[3].1.starts_with("created-at `last tuesday` is not an RFC 3339 time"), "{:?}", reasons[3]);
        assert_eq!(reasons[4], ("".into(), "its id is empty".into()));
        assert_eq!(reasons[5], ("nohost".into(), "its url `mailto:someone` has no host".into()));
        assert_eq!(reasons[6], ("meta".into(), "its metadata is not a JSON object".into()));
    }
}
