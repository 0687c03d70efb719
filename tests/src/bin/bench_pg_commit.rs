//! `just bench-pg-commit`: three ways to commit a page of envelopes to PostgreSQL,
//! timed on the same records, so that the store's choice is measured, not guessed.
//!
//! 1. `unnest`: the store's own page commit (`Store::commit_page`): the page's
//!    columns as arrays, one statement that filters out unchanged records and
//!    upserts the rest, one that queues them.
//! 2. per record: one upsert and one queue insert per record, in one transaction
//!    per page (what the SQLite backend does, there without a round trip).
//! 3. `COPY`: the page copied into a temporary table, then one merge statement.
//!
//! Each writes `--records` records (default 200,000) of about 1 KiB in pages of
//! `--page` (default 500) into a fresh database, then the same records again
//! (all unchanged), on a throwaway server with fsync on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use host::store::{PageCommit, SealedRecord, Store};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Row};

fn main() -> anyhow::Result<()> {
    let mut records = 200_000usize;
    let mut page = 500usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: usize = it.next().and_then(|v| v.parse().ok()).expect("a number");
        match flag.as_str() {
            "--records" => records = value,
            "--page" => page = value,
            other => anyhow::bail!("unknown flag {other}; expected --records N, --page N"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let server = tests::postgres::Server::start_durable();
    let data: Vec<(String, String, String)> = (0..records)
        .map(|i| {
            let id = format!("r{i:07}");
            let raw = format!(r#"{{"id":"{id}","text":"{}"}}"#, "x".repeat(900));
            let hash = format!("{:064x}", i);
            let envelope = format!(r#"{{"raw":{raw},"hashes":{{"raw_sha256":"{hash}"}}}}"#);
            (id, hash, envelope)
        })
        .collect();
    println!("{records} records of about {} bytes, pages of {page}, PostgreSQL with fsync on", data[0].2.len());
    println!("{:<28} {:>14} {:>18}", "page commit", "first run, ms", "unchanged re-run, ms");
    for shape in ["unnest (the store's)", "a statement per record", "COPY and one merge"] {
        let url = server.database();
        let (first, again) = rt.block_on(async {
            let store = Store::open(&url).await?;
            let pool = PgPoolOptions::new().max_connections(1).connect(&url).await?;
            let mut times = Vec::new();
            for _ in 0..2 {
                let started = Instant::now();
                for chunk in data.chunks(page) {
                    match shape {
                        "unnest (the store's)" => unnest(&store, chunk).await?,
                        "a statement per record" => per_record(&pool, chunk).await?,
                        _ => copy(&pool, chunk).await?,
                    }
                }
                times.push(started.elapsed());
            }
            let n: i64 = sqlx::query("SELECT count(*) FROM queue").fetch_one(&pool).await?.get(0);
            anyhow::ensure!(n as usize == records, "{shape}: {n} queued");
            Ok::<(Duration, Duration), anyhow::Error>((times[0], times[1]))
        })?;
        println!("{shape:<28} {:>14.0} {:>18.0}", first.as_secs_f64() * 1000.0, again.as_secs_f64() * 1000.0);
    }
    Ok(())
}

const NOW: &str = "2026-12-01T00:00:00.000Z";

async fn unnest(store: &Store, chunk: &[(String, String, String)]) -> anyhow::Result<()> {
    let state = BTreeMap::new();
    let page = PageCommit {
        connector: "bench",
        source: "bench",
        digest: "d",
        package: "partner:connector@1.0.0",
        records: chunk
            .iter()
            .map(|(id, hash, env)| SealedRecord { record_id: id, raw_sha256: hash, envelope: env.as_bytes() })
            .collect(),
        dead_letters: Vec::new(),
        cursor: Some("c"),
        save_cursor: true,
        delivery_id: format!("page:{}", chunk[0].0),
        state: &state,
        now: NOW,
        fence: None,
    };
    store.commit_page(page).await?;
    Ok(())
}

async fn per_record(pool: &sqlx::PgPool, chunk: &[(String, String, String)]) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    for (id, hash, env) in chunk {
        let changed = sqlx::query(
            "INSERT INTO envelopes (source, record_id, raw_sha256, envelope, connector_digest, first_seen, last_seen) \
             VALUES ('bench', $1, $2, $3, 'd', $4, $4) ON CONFLICT (record_id, source) DO UPDATE SET \
             raw_sha256 = excluded.raw_sha256, envelope = excluded.envelope, last_seen = excluded.last_seen \
             WHERE envelopes.raw_sha256 <> excluded.raw_sha256",
        )
        .bind(id)
        .bind(hash)
        .bind(env)
        .bind(NOW)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed > 0 {
            sqlx::query(
                "INSERT INTO queue (source, enqueued_at, record_id, raw_sha256) VALUES ('bench', $1, $2, $3) \
                 ON CONFLICT (record_id, raw_sha256, source) DO NOTHING",
            )
            .bind(NOW)
            .bind(id)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        }
    }
    save_cursor(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

async fn copy(pool: &sqlx::PgPool, chunk: &[(String, String, String)]) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    sqlx::query("CREATE TEMPORARY TABLE page (record_id TEXT, raw_sha256 TEXT, envelope TEXT) ON COMMIT DROP")
        .execute(&mut *tx)
        .await?;
    let mut text = String::new();
    for (id, hash, env) in chunk {
        // COPY's text format: tabs, newlines and backslashes escaped.
        let esc = |v: &str| v.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n");
        text.push_str(&format!("{}\t{}\t{}\n", esc(id), esc(hash), esc(env)));
    }
    let mut sink = tx.copy_in_raw("COPY page FROM STDIN").await?;
    sink.send(text.into_bytes()).await?;
    sink.finish().await?;
    sqlx::query(
        "WITH changed AS (SELECT p.* FROM page p WHERE NOT EXISTS (SELECT 1 FROM envelopes e \
           WHERE e.record_id = p.record_id AND e.source = 'bench' AND e.raw_sha256 = p.raw_sha256)), \
         written AS (INSERT INTO envelopes (source, record_id, raw_sha256, envelope, connector_digest, first_seen, last_seen) \
           SELECT 'bench', record_id, raw_sha256, envelope, 'd', $1, $1 FROM changed \
           ON CONFLICT (record_id, source) DO UPDATE SET raw_sha256 = excluded.raw_sha256, envelope = excluded.envelope \
           RETURNING record_id, raw_sha256) \
         INSERT INTO queue (source, enqueued_at, record_id, raw_sha256) SELECT 'bench', $1, record_id, raw_sha256 FROM written \
         ON CONFLICT (record_id, raw_sha256, source) DO NOTHING",
    )
    .bind(NOW)
    .execute(&mut *tx)
    .await?;
    save_cursor(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// The page's cursor, as every page commit saves it.
async fn save_cursor(tx: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO cursors (connector, cursor, updated_at) VALUES ('bench', 'c', $1) \
         ON CONFLICT (connector) DO UPDATE SET cursor = excluded.cursor",
    )
    .bind(NOW)
    .execute(tx)
    .await?;
    Ok(())
}
