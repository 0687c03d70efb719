//! A store's database as the tests reach it, whichever backend it is: the URL of a
//! fresh store of each backend ([`store_url`]), and plain SQL on it ([`execute`],
//! [`rows`]) for what a test must do under the host (damage an envelope, age an
//! acknowledgement) or read behind it (the cursor, the runs). The backend is picked
//! by the URL's scheme, as the host picks it.
//!
//! The SQL a test passes is run as it is on either backend, so it must be portable
//! (the tests of both backends share it); every column comes back as text, so that a
//! test need not know how each backend types it.

use std::path::Path;

use sqlx::{Column, ColumnIndex, Connection, Decode, Row, Type, TypeInfo};

use crate::postgres::block_on;

/// A backend of the store, for the tests that run on each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's directory.
    Sqlite,
    /// A fresh database of the test process's PostgreSQL server ([`crate::postgres::shared`]).
    Postgres,
}

/// The URL of a new, empty store of `backend` for a test whose scratch directory is
/// `dir`: `sqlite:{dir}/state.db`, or a fresh database on the shared PostgreSQL
/// server. Each call for PostgreSQL makes a new database: call it once per store and
/// keep the URL.
pub fn store_url(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.join("state.db").display()),
        Backend::Postgres => crate::postgres::shared().database(),
    }
}

/// Runs the statement `sql` on the store at `url`; returns how many rows it affected.
pub fn execute(url: &str, sql: &str) -> u64 {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    let what = format!("{sql:?} on {url}", sql = sql.0);
    block_on(async move {
        if is_postgres(url) {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let done = sqlx::query(sql).execute(&mut conn).await?;
            conn.close().await?;
            Ok::<_, sqlx::Error>(done.rows_affected())
        } else {
            let mut conn = sqlx::SqliteConnection::connect(url).await?;
            let done = sqlx::query(sql).execute(&mut conn).await?;
            conn.close().await?;
            Ok(done.rows_affected())
        }
    })
    .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The rows of the query `sql` on the store at `url`, each column as text: a text
/// column as it is, an integer in decimal, a boolean as `true` or `false`, NULL as
/// `None`. (So `x IS NOT NULL` reads `1` on SQLite, which has no booleans, and `true`
/// on PostgreSQL.)
pub fn rows(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    let what = format!("{sql:?} on {url}", sql = sql.0);
    block_on(async move {
        if is_postgres(url) {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let rows = sqlx::query(sql).fetch_all(&mut conn).await?;
            conn.close().await?;
            Ok::<_, sqlx::Error>(rows.iter().map(as_text).collect())
        } else {
            let mut conn = sqlx::SqliteConnection::connect(url).await?;
            let rows = sqlx::query(sql).fetch_all(&mut conn).await?;
            conn.close().await?;
            Ok(rows.iter().map(as_text).collect())
        }
    })
    .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Every column of `row` as text (see [`rows`]).
fn as_text<R>(row: &R) -> Vec<Option<String>>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i32>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<bool>: Decode<'r, R::Database> + Type<R::Database>,
{
    (0..row.len())
        .map(|i| {
            if let Ok(text) = row.try_get::<Option<String>, _>(i) {
                return text;
            }
            if let Ok(n) = row.try_get::<Option<i64>, _>(i) {
                return n.map(|n| n.to_string());
            }
            if let Ok(n) = row.try_get::<Option<i32>, _>(i) {
                return n.map(|n| n.to_string());
            }
            if let Ok(b) = row.try_get::<Option<bool>, _>(i) {
                return b.map(|b| b.to_string());
            }
            let column = &row.columns()[i];
            panic!("column `{}` is of type {}, which the tests do not read", column.name(), column.type_info().name())
        })
        .collect()
}
