//! The tests' PostgreSQL server itself (`tests::postgres`): a database per test,
//! isolated from the others, and a server that stops and starts again with its data.

use sqlx::{Connection, PgConnection};
use tests::postgres::{self, Server};

/// Whether `table` exists in the database `conn` is connected to.
async fn has_table(conn: &mut PgConnection, table: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL").bind(table).fetch_one(conn).await.unwrap()
}

/// Two databases of the shared server are apart: a table made in one is not in the other.
#[tokio::test]
async fn each_database_of_the_shared_server_is_its_own() {
    let server = postgres::shared();
    let (a, b) = (server.database(), server.database());
    assert_ne!(a, b);
    let prefix = format!("postgres://postgres@127.0.0.1:{}/t_", server.port());
    assert!(a.starts_with(&prefix), "{a}");

    let mut in_a = PgConnection::connect(&a).await.unwrap();
    let mut in_b = PgConnection::connect(&b).await.unwrap();
    sqlx::query("CREATE TABLE only_in_a (id int)").execute(&mut in_a).await.unwrap();
    assert!(has_table(&mut in_a, "only_in_a").await);
    assert!(!has_table(&mut in_b, "only_in_a").await);
    // And the server is the same one for every test of this process.
    assert!(std::ptr::eq(server, postgres::shared()));
    in_a.close().await.unwrap();
    in_b.close().await.unwrap();
}

/// A server of its own stops (its port refuses connections, open ones are cut) and
/// starts again on the same port with its data.
#[tokio::test]
async fn a_server_of_its_own_stops_and_starts_again_with_its_data() {
    let server = Server::start();
    let url = server.database();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE kept (id int)").execute(&mut conn).await.unwrap();
    sqlx::query("INSERT INTO kept VALUES (7)").execute(&mut conn).await.unwrap();

    server.stop();
    let err = PgConnection::connect(&url).await.expect_err("connected to a stopped server");
    assert!(err.to_string().contains("refused"), "{err}");
    // The connection open at the stop is gone too.
    assert!(sqlx::query("SELECT 1").execute(&mut conn).await.is_err());
    drop(conn);

    server.start_again();
    assert_eq!(server.url_of(url.rsplit('/').next().unwrap()), url);
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let id: i32 = sqlx::query_scalar("SELECT id FROM kept").fetch_one(&mut conn).await.unwrap();
    assert_eq!(id, 7);
    conn.close().await.unwrap();

    server.restart();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    assert!(has_table(&mut conn, "kept").await);
    conn.close().await.unwrap();
}
