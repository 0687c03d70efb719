//! Provenance: evidence linked to the claims it grounds (seed 002's
//! `search_and_record`). A link names the claim, the evidence (source, record id
//! and the hash of the version seen), its score and when it was linked; linking the
//! same version of the same evidence to a claim again keeps the first link.

use sqlx::Row;

use super::{Store, StoreError, on_pool, q};

/// One link of a claim's chain.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Link {
    /// The claim.
    pub claim_id: String,
    /// The evidence's source (the envelopes' `source`).
    pub source: String,
    /// The evidence's id.
    pub record_id: String,
    /// The hash of the version linked (`hashes.raw_sha256`).
    pub raw_sha256: String,
    /// The connector that found it.
    pub connector: String,
    /// Its URL.
    pub uri: String,
    /// Its title.
    pub title: String,
    /// Its score when it was linked.
    pub score: f64,
    /// When it was first linked.
    pub linked_at: String,
}

impl Store {
    /// Links each of `links` to its claim in one transaction; a link that exists
    /// already is kept as it was. Returns how many were new.
    pub async fn link_evidence(&self, links: &[Link]) -> Result<u64, StoreError> {
        let what = "linking evidence to a claim";
        let added = on_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(q(what))?;
            let mut added = 0;
            for l in links {
                added += sqlx::query(
                    "INSERT INTO provenance \
                     (claim_id, source, record_id, raw_sha256, connector, uri, title, score, linked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (claim_id, source, record_id, raw_sha256) DO NOTHING",
                )
                .bind(&l.claim_id)
                .bind(&l.source)
                .bind(&l.record_id)
                .bind(&l.raw_sha256)
                .bind(&l.connector)
                .bind(&l.uri)
                .bind(&l.title)
                .bind(l.score)
                .bind(&l.linked_at)
                .execute(&mut *tx)
                .await
                .map_err(q(what))?
                .rows_affected();
            }
            tx.commit().await.map_err(q(what))?;
            added
        });
        Ok(added)
    }

    /// The chain of `claim`: its links, oldest first, the better score first among
    /// links of the same time.
    pub async fn provenance(&self, claim: &str) -> Result<Vec<Link>, StoreError> {
        let links = on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT claim_id, source, record_id, raw_sha256, connector, uri, title, score, linked_at \
                 FROM provenance WHERE claim_id = $1 ORDER BY linked_at, score DESC, source, record_id",
            )
            .bind(claim)
            .fetch_all(pool)
            .await
            .map_err(q("reading a claim's provenance"))?;
            rows.iter()
                .map(|r| Link {
                    claim_id: r.get(0),
                    source: r.get(1),
                    record_id: r.get(2),
                    raw_sha256: r.get(3),
                    connector: r.get(4),
                    uri: r.get(5),
                    title: r.get(6),
                    score: r.get(7),
                    linked_at: r.get(8),
                })
                .collect()
        });
        Ok(links)
    }
}
