//! Checks of what the store hands out: a stored envelope must still be the one that
//! was sealed. SQLite's page checks (`quick_check`, `integrity_check`) see the
//! structure of the file, not damage inside a stored text, so every envelope read
//! out of the store is checked against its own hash before anyone gets it, and
//! `host store verify` ([`Store::verify`]) checks them all.

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Backend, Store, StoreError, on_pool, q};

/// Why a stored envelope is not the one that was sealed, or `Ok` if it is: it is
/// JSON, its `hashes.raw_sha256` is `raw_sha256` (the store's column), and its `raw`
/// canonicalises (RFC 8785) to bytes of that hash.
pub fn envelope(text: &str, raw_sha256: &str) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Hashes {
        raw_sha256: String,
    }
    #[derive(Deserialize)]
    struct Sealed<'a> {
        #[serde(borrow)]
        raw: &'a RawValue,
        hashes: Hashes,
    }
    // serde's message may quote the stored text (guest data): it is cut to a bound.
    let cut = |e: serde_json::Error| crate::untrusted::capped(&e.to_string(), crate::untrusted::MAX_QUOTE);
    let sealed: Sealed<'_> =
        serde_json::from_str(text).map_err(|e| format!("the stored envelope is not JSON: {}", cut(e)))?;
    if sealed.hashes.raw_sha256 != raw_sha256 {
        return Err(format!(
            "its hashes.raw_sha256 is `{}`, the store's is `{raw_sha256}`",
            crate::untrusted::Shown::id(&sealed.hashes.raw_sha256)
        ));
    }
    let mut canonical = Vec::with_capacity(sealed.raw.get().len());
    crate::envelope::canonical::canonicalize_str(sealed.raw.get(), &mut canonical)
        .map_err(|e| format!("its raw has no canonical form: {}", cut(e)))?;
    let hash = hex::encode(Sha256::digest(&canonical));
    if hash != raw_sha256 {
        return Err(format!("its raw hashes to `{hash}`, not to its raw_sha256 `{raw_sha256}`: the text was changed"));
    }
    Ok(())
}

impl Store {
    /// Checks the whole store: on SQLite its `integrity_check` over every page; on
    /// both every stored envelope against its hash. It reads every envelope; the
    /// host never does this on its own.
    pub async fn verify(&self) -> Result<Verified, StoreError> {
        let mut found = Verified::default();
        if let Backend::Sqlite(b) = &self.backend {
            found.structure = b.integrity_check().await?;
        }
        // A thousand at a time, in key order: the memory of a check stays flat.
        let mut after = (String::new(), String::new());
        loop {
            let rows: Vec<(String, String, String, String)> = on_pool!(self, |pool| {
                sqlx::query(
                    "SELECT source, record_id, raw_sha256, envelope FROM envelopes \
                     WHERE (record_id, source) > ($1, $2) ORDER BY record_id, source LIMIT 1000",
                )
                .bind(&after.0)
                .bind(&after.1)
                .fetch_all(pool)
                .await
                .map_err(q("reading the envelopes"))?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect()
            });
            let Some(last) = rows.last() else { break };
            after = (last.1.clone(), last.0.clone());
            for (source, record_id, hash, text) in rows {
                found.envelopes += 1;
                if let Err(why) = envelope(&text, &hash) {
                    found.damaged_count += 1;
                    if found.damaged.len() < 100 {
                        found.damaged.push((source, record_id, why));
                    }
                }
            }
        }
        Ok(found)
    }
}

/// What [`Store::verify`] found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Verified {
    /// What SQLite's `integrity_check` reported, if not `ok`.
    pub structure: Vec<String>,
    /// Envelopes checked.
    pub envelopes: u64,
    /// Damaged envelopes: source, record id and why (at most 100 listed).
    pub damaged: Vec<(String, String, String)>,
    /// How many were damaged in all.
    pub damaged_count: u64,
}

impl Verified {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.structure.is_empty() && self.damaged_count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(raw: &str) -> (String, String) {
        let mut c = Vec::new();
        crate::envelope::canonical::canonicalize_str(raw, &mut c).unwrap();
        let hash = hex::encode(Sha256::digest(&c));
        (format!(r#"{{"raw":{raw},"hashes":{{"raw_sha256":"{hash}"}},"x":1}}"#), hash)
    }

    #[test]
    fn an_intact_envelope_passes_and_any_change_is_named() {
        let (text, hash) = sealed(r#"{"b": 2, "a": [1, "x"]}"#);
        assert_eq!(envelope(&text, &hash), Ok(()));
        let changed = text.replace("\"x\"]", "\"y\"]");
        assert!(envelope(&changed, &hash).unwrap_err().contains("the text was changed"));
        assert!(envelope(&text[..text.len() - 3], &hash).unwrap_err().starts_with("the stored envelope is not JSON"));
        let other = "0".repeat(64);
        assert!(envelope(&text, &other).unwrap_err().contains("the store's is"));
        // A stored text that quotes itself in serde's message is cut.
        let quoting = format!(r#"{{"raw": 1, "hashes": "{}"}}"#, "x".repeat(10_000));
        let why = envelope(&quoting, &hash).unwrap_err();
        assert!(why.len() < 400 && why.contains("bytes cut"), "{why}");
    }
}
