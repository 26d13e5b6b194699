//! `tessera migrate` and `tessera clearsessions` against real stores.

use crate::common;

use std::process::Command;
use std::sync::Arc;

use common::fixtures::{unique, with_param};
use tessera::json::Map;
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::{Record, SessionStore};
use tessera::url;

fn tessera(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates `expired` expired and `live` live sessions; returns their keys, expired first.
async fn fill(store: &Arc<dyn SessionStore>, expired: usize, live: usize) -> Vec<SessionKey> {
    let data = Map::new();
    let now = tessera::signing::now();
    let mut keys = Vec::with_capacity(expired + live);
    for i in 0..expired + live {
        let key = SessionKey::generate().unwrap();
        let expires_at = if i < expired {
            now - 60.0
        } else {
            now + 3600.0
        };
        store
            .create(
                &key,
                Record {
                    data: &data,
                    expires_at,
                    now: tessera::time::now(),
                },
            )
            .await
            .unwrap();
        keys.push(key);
    }
    keys
}

async fn migrate_then_clear(store_url: &str) {
    let (code, out, err) = tessera(&["migrate", "--store", store_url]);
    assert_eq!(code, 0, "migrate: {err}");
    assert_eq!(out.trim(), "the session store is ready");
    // Twice is fine: migrate is idempotent.
    assert_eq!(tessera(&["migrate", "--store", store_url]).0, 0);
    let keys = SecretKeys::new("k");
    let sessions = url::open(store_url, &keys).await.unwrap();
    let store = sessions.store().unwrap().clone();
    let keys = fill(&store, 2500, 10).await;
    if let Some((default_url, _)) = store_url.split_once("table=") {
        // The URL's table, not Django's default one, holds them.
        let default_url = default_url.trim_end_matches(['?', '&']);
        let default = url::open(default_url, &SecretKeys::new("k")).await.unwrap();
        let default = default.store().unwrap();
        for key in &keys[2500..] {
            assert!(!matches!(default.exists(key).await, Ok(true)));
        }
    }
    let (code, out, err) = tessera(&["clearsessions", "--store", store_url, "--batch", "1000"]);
    assert_eq!(code, 0, "clearsessions: {err}");
    let removed: u64 = out.split(' ').next().unwrap().parse().expect(&out);
    assert!(out.contains(" expired sessions removed in "), "{out}");
    assert!(removed >= 2500, "{out}");
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            store.exists(key).await.unwrap(),
            i >= 2500,
            "expired removed, live kept"
        );
    }
    assert!(
        err.is_empty(),
        "no progress bar when stderr is not a terminal: {err:?}"
    );
    let (_, out, _) = tessera(&["clearsessions", "--store", store_url]);
    assert!(out.starts_with("0 expired sessions removed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrate_and_clearsessions() {
    let dir = std::env::temp_dir().join(format!("tessera-cli-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store_url = format!("sqlite://{}", dir.join("s.sqlite3").display());
    migrate_then_clear(&store_url).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `base` with `table=` naming a table unique to this run (so a table left by an interrupted
/// run can never add rows), and that table's name.
fn with_unique_table(base: &str) -> (String, String) {
    let table = unique("django_session_cli_");
    (with_param(base, &format!("table={table}")), table)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrate_and_clearsessions() {
    let Some(base) = common::services::require(
        "PostgreSQL",
        "TESSERA_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    ) else {
        return;
    };
    let (store_url, table) = with_unique_table(&base);
    migrate_then_clear(&store_url).await;
    let (client, conn) = tessera::store::postgres::tokio_postgres::connect(
        &base,
        tessera::store::postgres::tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\""))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_migrate_and_clearsessions() {
    let Some(base) = common::services::require(
        "MySQL",
        "TESSERA_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
    ) else {
        return;
    };
    let (store_url, table) = with_unique_table(&base);
    migrate_then_clear(&store_url).await;
    use tessera::store::mysql::mysql_async::{self, prelude::Queryable};
    let pool = mysql_async::Pool::new(base.as_str());
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(format!("DROP TABLE IF EXISTS `{table}`"))
        .await
        .unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}

#[test]
fn bad_store_url_is_a_clear_error() {
    let (code, _, err) = tessera(&["migrate", "--store", "ftp://nowhere"]);
    assert_eq!(code, 65);
    assert!(err.starts_with("StoreError: "), "{err}");
    let (code, _, _) = tessera(&["clearsessions", "--batch", "0"]);
    assert_eq!(code, 64);
}
