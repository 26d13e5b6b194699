//! The MySQL/MariaDB store against a real server (`TESSERA_TEST_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306/test`): the conformance suite, the HTTP races, Django's exact
//! schema, rows written by Django, time zones, the found-rows and collation traps of the
//! compare-and-swap, batched expiry, key-free errors and reconnection.
//!
//! Every test works in its own table (`django_session_t<random>`) or its own database,
//! dropped at the end even when the test fails, so tests run in parallel and reruns never
//! collide.
#![cfg(feature = "mysql")]

use crate::common;

use common::fixtures::{
    codec, int_dict, key, log_in, now, reads_succeed_after_the_connections_ended,
    stored_session_loaded_at_once, unique, with_param,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::{fifty_concurrent_writers_lose_nothing, logout_race_never_resurrects};
use common::services::require;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool};
use tessera::conformance::{self, Corruptor};
use tessera::json::Value;
use tessera::session::codec::SessionCodec;
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::mysql::{MysqlStore, DEFAULT_TABLE};
use tessera::store::{Record, SaveOutcome, SessionStore, StoreError, Version};
use tessera::url::open;

const SECRET: &str = "tessera mysql test secret";
/// 2023-11-28T22:13:20.250000Z.
const INSTANT: f64 = 1_701_209_600.25;

fn server() -> Option<String> {
    require(
        "MySQL",
        "TESSERA_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
    )
}

/// `url` with its database replaced by `db`.
fn with_db(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{authority}/{db}{query}")
}

fn opts(url: &str) -> Opts {
    Opts::from_url(url).unwrap()
}

/// A plain connection, for setting up and inspecting what the store did.
async fn raw(url: &str) -> Conn {
    Conn::new(opts(url)).await.unwrap()
}

/// Runs `sql` when dropped, even when the test panicked: drops what the test created.
struct Cleanup {
    url: String,
    sql: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (url, sql) = (self.url.clone(), self.sql.clone());
        // Its own thread and runtime: the test's runtime may be gone or panicking.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) = Conn::new(opts(&url)).await {
                    for statement in &sql {
                        if let Err(e) = conn.query_drop(statement).await {
                            eprintln!("cleanup `{statement}` failed: {e}");
                        }
                    }
                    let _ = conn.disconnect().await;
                }
            });
        })
        .join();
    }
}

/// A store over a fresh table of its own, and a plain pool on the same database.
struct Fixture {
    store: MysqlStore,
    raw: Pool,
    table: String,
    _cleanup: Cleanup,
}

impl Fixture {
    async fn conn(&self) -> Conn {
        self.raw.get_conn().await.unwrap()
    }
}

async fn fixture(url: &str) -> Fixture {
    fixture_at(url, url).await
}

/// A store that connects by `store_url` (another user, other pool settings) over a fresh
/// table, made and dropped through `url`.
async fn fixture_at(url: &str, store_url: &str) -> Fixture {
    fixture_with(url, async |table| {
        MysqlStore::builder(codec(SECRET))
            .table(table)
            .connect(store_url)
            .await
            .unwrap()
    })
    .await
}

/// `open` connects the store over the table it is given.
async fn fixture_with(url: &str, open: impl AsyncFnOnce(&str) -> MysqlStore) -> Fixture {
    let table = unique("django_session_t");
    let cleanup = Cleanup {
        url: url.to_owned(),
        sql: vec![format!(
            "DROP TABLE IF EXISTS `{table}`, `{table}_tessera_user`"
        )],
    };
    let store = open(&table).await;
    assert!(
        store.create_table().await.unwrap(),
        "a new table is created"
    );
    Fixture {
        store,
        raw: Pool::new(opts(url)),
        table,
        _cleanup: cleanup,
    }
}

/// Inserts, under the key, session text signed with another secret (live for an hour).
fn corruptor(raw: Pool, table: &str) -> Corruptor {
    let sql = format!(
        "INSERT INTO `{table}` (session_key, session_data, expire_date) \
         VALUES (?, ?, UTC_TIMESTAMP(6) + INTERVAL 1 HOUR)"
    );
    Arc::new(move |k: SessionKey| {
        let (raw, sql) = (raw.clone(), sql.clone());
        Box::pin(async move {
            let other = SessionCodec::new(&SecretKeys::new("some other secret")).unwrap();
            let forged = other.encode(&int_dict("is_staff", 1));
            let mut conn = raw.get_conn().await.unwrap();
            conn.exec_drop(sql, (k.as_str(), forged)).await.unwrap();
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    let corrupt = corruptor(f.raw.clone(), &f.table);
    conformance::run(Arc::new(f.store.clone()), Some(corrupt)).await;
    f.store.close().await.unwrap();
}

/// Sessions Django wrote straight into the table (no companion package) are listed once
/// `reindex_users` backfilled them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_backfills_sessions_django_wrote() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    let sql = format!(
        "INSERT INTO `{}` (session_key, session_data, expire_date) \
         VALUES (?, ?, FROM_UNIXTIME(?) - INTERVAL 0 SECOND)",
        f.table
    );
    let raw = f.raw.clone();
    let write: conformance::UnindexedWriter = Arc::new(move |k, data, expires_at| {
        let (raw, sql) = (raw.clone(), sql.clone());
        Box::pin(async move {
            let text = codec(SECRET).encode(&data);
            let mut conn = raw.get_conn().await.unwrap();
            // The session time zone is UTC in these tests' fixture; far-future either way.
            conn.exec_drop(sql, (k.as_str(), text, expires_at + 86400.0))
                .await
                .unwrap();
        })
    });
    conformance::reindex_backfills(Arc::new(f.store.clone()), write).await;
    f.store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_fifty_concurrent_writers_lose_nothing() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    fifty_concurrent_writers_lose_nothing(Arc::new(f.store.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_logout_race_never_resurrects() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    logout_race_never_resurrects(Arc::new(f.store.clone())).await;
    common::http::cycle_race_loses_no_acknowledged_write(Arc::new(f.store.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_revoke_under_load_resurrects_nothing() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    common::http::revoke_under_load_resurrects_nothing(Arc::new(f.store.clone())).await;
}

/// Expiries past the year 9999 (stored as 9999-12-31 before, silently) and data past the
/// budget: 400, the same as every store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_writes_past_the_limits_are_refused() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    common::http::writes_past_the_limits_are_refused(Arc::new(f.store.clone())).await;
}

/// The statements Django's migration runs, from `db_schema.json`.
fn django_statements() -> Vec<String> {
    common::vectors::records("db_schema.json")
        .into_iter()
        .find(|r| r["op"] == "collect_sql" && r["backend"] == "mysql")
        .expect("the mysql record")["expected"]["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// A database of the test's own, so the default table name cannot meet anyone's real one.
async fn own_database(url: &str, admin: &mut Conn) -> (String, String, Cleanup) {
    let db = unique("tessera_t");
    admin
        .query_drop(format!("CREATE DATABASE `{db}`"))
        .await
        .unwrap();
    let cleanup = Cleanup {
        url: url.to_owned(),
        sql: vec![format!("DROP DATABASE IF EXISTS `{db}`")],
    };
    (with_db(url, &db), db, cleanup)
}

/// Columns and indexes of `django_session` in `db`, and `SHOW CREATE TABLE`.
async fn describe(admin: &mut Conn, db: &str) -> (Vec<String>, Vec<String>, String) {
    let columns: Vec<(String, String, String, String)> = admin
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'django_session' ORDER BY ORDINAL_POSITION",
            (db,),
        )
        .await
        .unwrap();
    let mut indexes: Vec<(String, String, i64)> = admin
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'django_session'",
            (db,),
        )
        .await
        .unwrap();
    indexes.sort();
    let create: Option<(String, String)> = admin
        .query_first(format!("SHOW CREATE TABLE `{db}`.`django_session`"))
        .await
        .unwrap();
    (
        columns
            .into_iter()
            .map(|(a, b, c, d)| format!("{a} {b} {c} {d}"))
            .collect(),
        indexes
            .into_iter()
            .map(|(a, b, c)| format!("{a} {b} {c}"))
            .collect(),
        create.unwrap().1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_is_exactly_djangos() {
    let Some(url) = server() else { return };
    let mut admin = raw(&url).await;
    let (ours_url, ours, _c1) = own_database(&url, &mut admin).await;
    let (djangos_url, djangos, _c2) = own_database(&url, &mut admin).await;

    let store = MysqlStore::connect(&ours_url, codec(SECRET)).await.unwrap();
    assert_eq!(store.table(), DEFAULT_TABLE);
    assert_eq!(
        store.create_table_sql(),
        django_statements(),
        "the DDL is Django's, verbatim"
    );
    assert!(store.create_table().await.unwrap(), "creates the table");
    assert!(
        !store.create_table().await.unwrap(),
        "a second run changes nothing"
    );
    // Django's `migrate` finds its migration recorded, once (it failed with 1050 before).
    let recorded: Vec<(String, String)> = admin
        .query(format!("SELECT app, name FROM `{ours}`.django_migrations"))
        .await
        .unwrap();
    assert_eq!(
        recorded,
        [("sessions".to_owned(), "0001_initial".to_owned())]
    );

    // The same statements run by hand, as Django's migrate runs them.
    let mut django = raw(&djangos_url).await;
    for statement in django_statements() {
        django.query_drop(statement).await.unwrap();
    }
    let mine = describe(&mut admin, &ours).await;
    assert_eq!(
        mine,
        describe(&mut admin, &djangos).await,
        "tessera's table is the one Django's migration makes"
    );
    assert_eq!(
        mine.0,
        [
            "session_key varchar(40) NO PRI",
            "session_data longtext NO ",
            "expire_date datetime(6) NO MUL",
        ]
    );
    assert_eq!(
        mine.1,
        [
            "PRIMARY session_key 0",
            "django_session_expire_date_a5c62663 expire_date 1",
        ]
    );

    // Other table names get the index name Django would derive for them.
    let custom = MysqlStore::builder(codec(SECRET))
        .table("my_sessions")
        .connect(&url)
        .await
        .unwrap();
    assert_eq!(
        custom.create_table_sql(),
        [
            "CREATE TABLE `my_sessions` (`session_key` varchar(40) NOT NULL PRIMARY KEY, `session_data` longtext NOT NULL, `expire_date` datetime(6) NOT NULL);",
            "CREATE INDEX `my_sessions_expire_date_8a6b8a8d` ON `my_sessions` (`expire_date`);",
        ]
    );
    // One rule for every SQL store: at most 63 characters (PostgreSQL's limit), here too.
    let long = "x".repeat(tessera::store::sql::MAX_TABLE_LEN + 1);
    for bad in ["", "a`b", "semi;colon", "naïve", &long] {
        let refused = MysqlStore::builder(codec(SECRET))
            .table(bad)
            .connect(&url)
            .await;
        assert!(
            matches!(refused, Err(StoreError::Config(_))),
            "{bad:?} is refused"
        );
    }
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_the_table_djangos_migrate_made() {
    let Some(url) = server() else { return };
    let mut admin = raw(&url).await;
    let (store_url, _db, _cleanup) = own_database(&url, &mut admin).await;
    let mut django = raw(&store_url).await;
    for statement in django_statements() {
        django.query_drop(statement).await.unwrap();
    }
    let store = MysqlStore::connect(&store_url, codec(SECRET))
        .await
        .unwrap();
    assert!(
        !store.create_table().await.unwrap(),
        "create_table leaves Django's table alone"
    );
    let k = key();
    let data = int_dict("a", 1);
    let v = store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: now() + 60.0,
                now: tessera::time::now(),
            },
        )
        .await
        .unwrap();
    let loaded = store.load(&k, now()).await.unwrap().unwrap();
    assert_eq!((&*loaded.data, loaded.version), (&data, v));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_by_django_load() {
    let Some(url) = server() else { return };
    let meta = common::vectors::load("middleware.json");
    let secret = meta["secret_key"].as_str().unwrap();
    let f = fixture_with(&url, async |table| {
        MysqlStore::builder(SessionCodec::new(&SecretKeys::new(secret)).unwrap())
            .table(table)
            .connect(&url)
            .await
            .unwrap()
    })
    .await;
    let insert = format!(
        "INSERT INTO `{}` (session_key, session_data, expire_date) VALUES (?, ?, ?)",
        f.table
    );
    let mut conn = f.conn().await;
    let mut seen = HashSet::new();
    let mut live = 0;
    for record in common::vectors::records_py("middleware.json") {
        let request_now = record["now"].as_f64().unwrap();
        let Some(Value::List(rows)) = record.get("db_before") else {
            continue;
        };
        for row in rows {
            let k = row["session_key"].as_str().unwrap();
            let text = row["session_data"].as_str().unwrap();
            let expire = row["expire_date"].as_str().unwrap();
            if !seen.insert(k.to_owned()) {
                continue;
            }
            // Django with USE_TZ=True writes the UTC wall clock into datetime(6).
            let utc = chrono::DateTime::parse_from_rfc3339(expire).unwrap();
            let wall = utc.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            conn.exec_drop(&insert, (k, text, wall)).await.unwrap();
            let key = SessionKey::parse(k).unwrap();
            let expires = chrono::DateTime::parse_from_rfc3339(expire)
                .unwrap()
                .timestamp_micros() as f64
                / 1e6;
            let loaded = f.store.load(&key, request_now).await.unwrap();
            if expires <= request_now {
                assert!(loaded.is_none(), "{k} expired at {request_now}");
                continue;
            }
            let loaded = loaded.unwrap_or_else(|| panic!("{k} loads at {request_now}"));
            assert_eq!(Value::Dict((*loaded.data).clone()), row["decoded"], "{k}");
            assert_eq!(loaded.version, Version::Text(text.into()));
            live += 1;
            assert!(f.store.load(&key, expires - 1e-6).await.unwrap().is_some());
            assert!(
                f.store.load(&key, expires).await.unwrap().is_none(),
                "expire_date > now, strictly, as Django"
            );
        }
    }
    assert!(live > 0, "middleware.json has live db_before rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_are_utc_whatever_the_connection_time_zone() {
    let Some(url) = server() else { return };
    let kolkata = OptsBuilder::from_opts(opts(&url)).setup(vec!["SET time_zone = '+05:30'"]);
    let mut probe = Conn::new(kolkata.clone()).await.unwrap();
    let tz: Option<String> = probe
        .query_first("SELECT @@session.time_zone")
        .await
        .unwrap();
    assert_eq!(
        tz.as_deref(),
        Some("+05:30"),
        "the store's sessions run at +05:30"
    );
    let f = fixture_with(&url, async |table| {
        MysqlStore::builder(codec(SECRET))
            .table(table)
            .from_opts(kolkata)
            .await
            .unwrap()
    })
    .await;
    let read = format!(
        "SELECT DATE_FORMAT(expire_date, '%Y-%m-%d %H:%i:%s.%f') FROM `{}` WHERE session_key = ?",
        f.table
    );

    let k = key();
    let data = int_dict("tz", 1);
    let v = f
        .store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: INSTANT,
                now: tessera::time::now(),
            },
        )
        .await
        .unwrap();
    let mut conn = f.conn().await;
    conn.query_drop("SET time_zone = '-08:00'").await.unwrap();
    let stored: Option<String> = conn.exec_first(&read, (k.as_str(),)).await.unwrap();
    assert_eq!(
        stored.as_deref(),
        Some("2023-11-28 22:13:20.250000"),
        "UTC, as Django"
    );
    assert!(f.store.load(&k, INSTANT - 1e-6).await.unwrap().is_some());
    assert!(f.store.load(&k, INSTANT).await.unwrap().is_none());

    // A save moves the expiry to exactly the new instant.
    let saved = f
        .store
        .save(
            &k,
            Record {
                data: &data,
                expires_at: INSTANT + 3600.5,
                now: tessera::time::now(),
            },
            &v,
        )
        .await
        .unwrap();
    assert!(matches!(saved, SaveOutcome::Saved(_)));
    let stored: Option<String> = conn.exec_first(&read, (k.as_str(),)).await.unwrap();
    assert_eq!(stored.as_deref(), Some("2023-11-28 23:13:20.750000"));

    // A row Django wrote (UTC wall clock) expires at that instant for the +05:30 store.
    let django_key = key();
    conn.exec_drop(
        format!(
            "INSERT INTO `{}` VALUES (?, ?, '2023-11-28 22:13:20.250000')",
            f.table
        ),
        (django_key.as_str(), codec(SECRET).encode(&data)),
    )
    .await
    .unwrap();
    assert!(f
        .store
        .load(&django_key, INSTANT - 1e-6)
        .await
        .unwrap()
        .is_some());
    assert!(f.store.load(&django_key, INSTANT).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_identical_data_is_saved_not_a_conflict() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    let k = key();
    let data = int_dict("same", 1);
    let record = Record {
        data: &data,
        expires_at: now() + 600.0,
        now: tessera::time::now(),
    };
    let mut version = f.store.create(&k, record).await.unwrap();
    let mut identical = 0;
    for _ in 0..20 {
        match f.store.save(&k, record, &version).await.unwrap() {
            SaveOutcome::Saved(v) => {
                identical += usize::from(v == version);
                version = v;
            }
            other => panic!("an unchanged save is Saved (found rows), got {other:?}"),
        }
    }
    assert!(identical > 0, "some saves rewrote byte-identical rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_ignores_collation() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    let k = key();
    let data = int_dict("n", 1);
    let record = Record {
        data: &data,
        expires_at: now() + 600.0,
        now: tessera::time::now(),
    };
    let Version::Text(text) = f.store.create(&k, record).await.unwrap() else {
        panic!("a text version")
    };
    // The trap is real on this server: its default collation calls these equal (and on
    // MariaDB, and MySQL before 8.0's NO PAD collations, trailing spaces are ignored too).
    let mut conn = f.conn().await;
    let equal: Option<i64> = conn
        .exec_first(
            format!(
                "SELECT session_data = ? FROM `{}` WHERE session_key = ?",
                f.table
            ),
            (text.to_uppercase(), k.as_str()),
        )
        .await
        .unwrap();
    assert_eq!(equal, Some(1), "the default collation is case-insensitive");

    let newer = int_dict("n", 2);
    let write = Record {
        data: &newer,
        expires_at: now() + 600.0,
        now: tessera::time::now(),
    };
    for near_miss in [text.to_uppercase(), text.to_lowercase(), format!("{text} ")] {
        assert_eq!(
            f.store
                .save(&k, write, &Version::Text(near_miss.into()))
                .await
                .unwrap(),
            SaveOutcome::Conflict
        );
    }
    assert_eq!(*f.store.load(&k, now()).await.unwrap().unwrap().data, data);
    assert!(matches!(
        f.store.save(&k, write, &Version::Text(text)).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
    assert_eq!(*f.store.load(&k, now()).await.unwrap().unwrap().data, newer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_expired_removes_5000_rows_in_batches() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    let mut conn = f.conn().await;
    for chunk in 0..5 {
        let values: Vec<String> = (0..1000)
            .map(|i| {
                format!(
                    "('expired{}', 'x', '2020-01-01 00:00:00')",
                    chunk * 1000 + i
                )
            })
            .collect();
        conn.query_drop(format!(
            "INSERT INTO `{}` VALUES {}",
            f.table,
            values.join(", ")
        ))
        .await
        .unwrap();
    }
    let live: Vec<SessionKey> = (0..3).map(|_| key()).collect();
    for k in &live {
        let data = int_dict("live", 1);
        let record = Record {
            data: &data,
            expires_at: now() + 600.0,
            now: tessera::time::now(),
        };
        f.store.create(k, record).await.unwrap();
    }
    assert_eq!(f.store.clear_expired(now(), 1000).await.unwrap(), 5000);
    assert_eq!(f.store.clear_expired(now(), 1000).await.unwrap(), 0);
    let left: Option<i64> = conn
        .query_first(format!("SELECT COUNT(*) FROM `{}`", f.table))
        .await
        .unwrap();
    assert_eq!(left, Some(3));
    for k in &live {
        assert!(f.store.load(k, now()).await.unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_never_carry_the_session_key() {
    let Some(url) = server() else { return };
    let store = MysqlStore::builder(codec(SECRET))
        .table(unique("tessera_missing_"))
        .connect(&url)
        .await
        .unwrap();
    let k = key();
    let data = int_dict("a", 1);
    let record = Record {
        data: &data,
        expires_at: now() + 60.0,
        now: tessera::time::now(),
    };
    let version = Version::Text("v".into());
    let errors = [
        store.load(&k, now()).await.err(),
        store.create(&k, record).await.err(),
        store.save(&k, record, &version).await.err(),
        store.exists(&k).await.err(),
        store.delete(&k).await.err(),
        store.clear_expired(now(), 10).await.err(),
    ];
    for e in errors {
        let Some(StoreError::Unavailable(msg)) = e else {
            panic!("a missing table is Unavailable, got {e:?}")
        };
        assert!(msg.contains("1146"), "{msg}");
        assert!(!msg.contains(k.as_str()), "{msg}");
    }

    // A duplicate key (which MySQL's message quotes) is DuplicateKey.
    let f = fixture(&url).await;
    f.store.create(&k, record).await.unwrap();
    assert!(matches!(
        f.store.create(&k, record).await,
        Err(StoreError::DuplicateKey)
    ));
}

/// The server ends every pooled connection while the store is idle, and the next loads still
/// succeed. The store's runtime has one thread and does not run between its `block_on`s, so
/// nothing of the store's can see the end before it draws the connections again: the pool
/// must find out on checkout, or the call must run again on another connection.
#[test]
fn the_pool_recovers_when_the_server_drops_its_connections() {
    let Some(url) = server() else { return };
    // A user of the test's own, so only the store's connections are killed.
    let user = unique("tessera_t");
    let db = opts(&url).db_name().unwrap_or("test").to_owned();
    let _cleanup = Cleanup {
        url: url.clone(),
        sql: vec![format!("DROP USER IF EXISTS '{user}'@'%'")],
    };
    let killer_runtime = tokio::runtime::Runtime::new().unwrap();
    let mut admin = killer_runtime.block_on(async {
        let mut admin = raw(&url).await;
        admin
            .query_drop(format!("CREATE USER '{user}'@'%'"))
            .await
            .unwrap();
        admin
            .query_drop(format!("GRANT ALL ON `{db}`.* TO '{user}'@'%'"))
            .await
            .unwrap();
        admin
    });
    let user_url = url.replacen("://root@", &format!("://{user}@"), 1);
    assert_ne!(user_url, url, "the URL names user root");
    let store_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (f, k) = store_runtime.block_on(async {
        let f = fixture_at(&url, &user_url).await;
        let k = stored_session_loaded_at_once(&f.store).await;
        (f, k)
    });
    killer_runtime.block_on(async {
        let ids = connections_of(&mut admin, &user).await;
        assert!(
            ids.len() >= 2,
            "the store's connections were found: {ids:?}"
        );
        for id in ids {
            admin
                .query_drop(format!("KILL CONNECTION {id}"))
                .await
                .unwrap();
        }
        // Wait until the server has ended them (not a guess at how long that takes).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = connections_of(&mut admin, &user).await;
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} killed connections still there",
                left.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        admin.disconnect().await.unwrap();
    });
    store_runtime.block_on(reads_succeed_after_the_connections_ended(&f.store, &k));
    drop(f);
}

/// The ids of the server's connections logged in as `user`.
async fn connections_of(admin: &mut Conn, user: &str) -> Vec<u64> {
    admin
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?",
            (user,),
        )
        .await
        .unwrap()
}

/// The pool is 0 to twice the cores (at least 8) connections unless the URL says; a lone
/// `pool_max` below mysql_async's own minimum of 10 is taken with this store's minimum, 0,
/// not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_is_sized_by_the_url() {
    let Some(url) = server() else { return };
    let cores = std::thread::available_parallelism().unwrap().get();
    let default = format!("pool_min: 0, pool_max: {}", (2 * cores).max(8));
    for (param, shown) in [
        (None, default.as_str()),
        (Some("pool_max=3"), "pool_min: 0, pool_max: 3"),
        (Some("pool_min=2&pool_max=5"), "pool_min: 2, pool_max: 5"),
    ] {
        let store_url = param.map_or(url.clone(), |p| with_param(&url, p));
        let f = fixture_at(&url, &store_url).await;
        let store = &f.store;
        assert!(format!("{store:?}").contains(shown), "{param:?}: {store:?}");
        // And the pool works: a round trip through it.
        assert!(!f.store.exists(&key()).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_fails_fast() {
    let Some(_url) = server() else { return };
    let started = Instant::now();
    let err = MysqlStore::connect("mysql://root@127.0.0.1:1/test", codec(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(
        MysqlStore::connect(
            "mysql://root@127.0.0.1/test?no_such_option=1",
            codec(SECRET)
        )
        .await,
        Err(StoreError::Config(_))
    ));
}

/// `store::url::open` takes every parameter the docs list for `mysql://`: tessera's `table`
/// and mysql_async's own; an unknown one is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_parameters_are_taken_or_refused_by_name() {
    let Some(url) = server() else { return };
    let keys = SecretKeys::new(SECRET);
    let table = unique("django_session_t");
    let _cleanup = Cleanup {
        url: url.clone(),
        sql: vec![format!(
            "DROP TABLE IF EXISTS `{table}`, `{table}_tessera_user`"
        )],
    };
    let params = format!(
        "table={table}&pool_min=1&pool_max=3&prefer_socket=false&inactive_connection_ttl=30\
         &reset_connection=false&stmt_cache_size=16&tcp_nodelay=true"
    );
    let sessions = open(&with_param(&url, &params), &keys).await.unwrap();
    sessions.migrate().await.unwrap();
    let store = sessions.store().unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains(&format!("table: {table:?}")), "{shown}");
    assert!(shown.contains("pool_min: 1, pool_max: 3"), "{shown}");
    let k = key();
    let data = int_dict("a", 1);
    let record = Record {
        data: &data,
        expires_at: now() + 60.0,
        now: tessera::time::now(),
    };
    store.create(&k, record).await.unwrap();
    assert!(store.load(&k, now()).await.unwrap().is_some());
    let Err(StoreError::Config(msg)) = open(&with_param(&url, "pool_size=2"), &keys).await else {
        panic!("pool_size is no parameter");
    };
    assert!(
        msg.starts_with(
            "unknown parameter \"pool_size\" for mysql:// (known: table, tls_ca, pool_min,"
        ),
        "{msg}"
    );
}

/// No session key or session data in any log, at `TRACE`, for every crate (mysql_async too).
#[test]
fn no_session_key_or_data_reaches_the_logs() {
    let Some(url) = server() else { return };
    common::logs::assert_secrets_stay_out_of_logs(|| async {
        let f = fixture(&url).await;
        common::logs::session_round_trip(&f.store).await
    });
}

/// A deployment whose table Django made, and which never runs tessera's migrate: the side
/// table and its indexes are made on connect (indexes checked in `information_schema`, as
/// MySQL 8 has no `CREATE INDEX IF NOT EXISTS`), so a logged-in session is saved and listed.
/// A user who may not create tables still gets working sessions, and index methods that say
/// to run the migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_side_table_is_made_on_connect_or_sessions_work_without_it() {
    let Some(url) = server() else { return };
    let mut admin = raw(&url).await;
    let (store_url, db, _cleanup) = own_database(&url, &mut admin).await;
    let mut django = raw(&store_url).await;
    for statement in django_statements() {
        django.query_drop(statement).await.unwrap();
    }
    // A user that may use Django's table but create nothing.
    let user = unique("tessera_u");
    let _drop_user = Cleanup {
        url: url.clone(),
        sql: vec![
            format!("DROP USER IF EXISTS '{user}'@'%'"),
            format!("DROP USER IF EXISTS '{user}'@'localhost'"),
        ],
    };
    for host in ["%", "localhost"] {
        admin
            .query_drop(format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY 'pw'"))
            .await
            .unwrap();
        admin
            .query_drop(format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON `{db}`.* TO '{user}'@'{host}'"
            ))
            .await
            .unwrap();
    }
    let (_, rest) = store_url.split_once("://").unwrap();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let restricted_url = format!("mysql://{user}:pw@{rest}");
    let restricted = MysqlStore::connect(&restricted_url, codec(SECRET))
        .await
        .unwrap();
    let k = log_in(&restricted, "7").await;
    assert!(restricted.load(&k, now()).await.unwrap().is_some());
    for result in [
        restricted.user_sessions("7", now()).await.map(drop),
        restricted.revoke_user_sessions("7", None).await.map(drop),
        restricted.reindex_users(now(), 10).await.map(drop),
    ] {
        match result {
            Err(StoreError::Config(why)) => assert!(why.contains("tessera migrate"), "{why}"),
            other => panic!("expected a Config error, got {other:?}"),
        }
    }
    restricted.delete(&k).await.unwrap();
    assert!(!restricted.exists(&k).await.unwrap());
    restricted.close().await.unwrap();

    // The deployment's own user, no migrate: the side table appears on connect.
    let store = MysqlStore::connect(&store_url, codec(SECRET))
        .await
        .unwrap();
    let indexes: Vec<String> = admin
        .exec(
            "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'tessera_session_user' ORDER BY INDEX_NAME",
            (db.as_str(),),
        )
        .await
        .unwrap();
    assert_eq!(
        indexes,
        [
            "PRIMARY",
            "tessera_session_user_expire_date",
            "tessera_session_user_user_id"
        ]
    );
    let k = log_in(&store, "7").await;
    let listed: Vec<SessionKey> = store
        .user_sessions("7", now())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(listed, vec![k.clone()]);
    // Connecting again finds everything in place (no duplicate index).
    let again = MysqlStore::connect(&store_url, codec(SECRET))
        .await
        .unwrap();
    assert_eq!(again.revoke_user_sessions("7", None).await.unwrap(), 1);
    again.close().await.unwrap();
    store.close().await.unwrap();
}
