//! The PostgreSQL store against a real server (`TESSERA_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): the conformance suite, the HTTP races, Django's
//! exact schema, rows written by Django, time zones, the compare-and-swap traps, batched
//! expiry, key-free errors and reconnection.
//!
//! Every test works in its own table (`django_session_t<random>`) or its own schema, dropped
//! at the end even when the test fails, so tests run in parallel and reruns never collide.
#![cfg(feature = "postgres")]

use crate::common;

use common::fixtures::{
    codec, int_dict, key, log_in, now, reads_succeed_after_the_connections_ended,
    stored_session_loaded_at_once, unique, with_param,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::http::{fifty_concurrent_writers_lose_nothing, logout_race_never_resurrects};
use common::services::require;
use tessera::conformance::{self, Corruptor};
use tessera::json::Value;
use tessera::session::codec::SessionCodec;
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::postgres::{PostgresStore, DEFAULT_TABLE};
use tessera::store::{Record, SaveOutcome, SessionStore, StoreError, Version};
use tessera::url::open;
use tokio_postgres::{Client, NoTls};

const SECRET: &str = "tessera postgres test secret";
/// 2023-11-28T22:13:20.250000Z.
const INSTANT: f64 = 1_701_209_600.25;

fn server() -> Option<String> {
    require(
        "PostgreSQL",
        "TESSERA_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

/// A plain client, for setting up and inspecting what the store did.
async fn raw(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

fn micros(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i128,
        Err(e) => -(e.duration().as_micros() as i128),
    }
}

/// Runs `sql` when dropped, even when the test panicked: drops what the test created.
struct Cleanup {
    url: String,
    sql: String,
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
                if let Ok((client, conn)) = tokio_postgres::connect(&url, NoTls).await {
                    tokio::spawn(conn);
                    if let Err(e) = client.batch_execute(&sql).await {
                        eprintln!("cleanup `{sql}` failed: {e}");
                    }
                }
            });
        })
        .join();
    }
}

/// A store over a fresh table of its own, and a plain client on the same database.
struct Fixture {
    store: PostgresStore,
    raw: Arc<Client>,
    table: String,
    _cleanup: Cleanup,
}

async fn fixture(url: &str) -> Fixture {
    fixture_with(url, url, codec(SECRET)).await
}

/// `store_url` may carry session options (a time zone, an application name).
async fn fixture_with(url: &str, store_url: &str, codec: SessionCodec) -> Fixture {
    let table = unique("django_session_t");
    let cleanup = Cleanup {
        url: url.to_owned(),
        sql: format!("DROP TABLE IF EXISTS \"{table}\", \"{table}_tessera_user\""),
    };
    let store = PostgresStore::builder(codec)
        .table(&table)
        .connect(store_url)
        .await
        .unwrap();
    assert!(
        store.create_table().await.unwrap(),
        "a new table is created"
    );
    Fixture {
        store,
        raw: Arc::new(raw(url).await),
        table,
        _cleanup: cleanup,
    }
}

/// Inserts, under the key, session text signed with another secret (live for an hour).
fn corruptor(raw: Arc<Client>, table: &str) -> Corruptor {
    let sql = format!(
        "INSERT INTO \"{table}\" (session_key, session_data, expire_date) \
         VALUES ($1, $2, now() + interval '1 hour')"
    );
    Arc::new(move |k: SessionKey| {
        let (raw, sql) = (raw.clone(), sql.clone());
        Box::pin(async move {
            let other = SessionCodec::new(&SecretKeys::new("some other secret")).unwrap();
            let forged = other.encode(&int_dict("is_staff", 1));
            raw.execute(&sql, &[&k.as_str(), &forged]).await.unwrap();
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    let corrupt = corruptor(f.raw.clone(), &f.table);
    conformance::run(Arc::new(f.store.clone()), Some(corrupt)).await;
}

/// A store over a fresh table and a pool of one connection (also returned, to watch it).
async fn one_connection_store(
    url: &str,
) -> (
    PostgresStore,
    tessera::store::postgres::deadpool_postgres::Pool,
    Cleanup,
) {
    use tessera::store::postgres::deadpool_postgres::{
        Manager, ManagerConfig, Pool, RecyclingMethod,
    };
    let table = unique("django_session_t");
    let cleanup = Cleanup {
        url: url.to_owned(),
        sql: format!("DROP TABLE IF EXISTS \"{table}\", \"{table}_tessera_user\""),
    };
    let manager = Manager::from_config(
        url.parse().unwrap(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager).max_size(1).build().unwrap();
    let store = PostgresStore::builder(codec(SECRET))
        .table(&table)
        .from_pool(pool.clone())
        .unwrap();
    assert!(store.create_table().await.unwrap());
    (store, pool, cleanup)
}

/// How many times the one connection of `pool` (sized 1) has been checked out, counting
/// this look.
async fn checkouts(pool: &tessera::store::postgres::deadpool_postgres::Pool) -> usize {
    let client = pool.get().await.unwrap();
    tessera::store::postgres::deadpool_postgres::Object::metrics(&client).recycle_count
}

/// A save that lost its race reads the winner back on the connection it swapped on: one
/// checkout, so under load a loser queues for a pooled connection once, not twice (the
/// default `save_or_reload`, a save and then a load, takes two).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_save_reloads_on_the_same_pooled_connection() {
    use tessera::store::SaveOrReload;
    let Some(url) = server() else { return };
    let (store, pool, _cleanup) = one_connection_store(&url).await;
    let k = key();
    let t = now() + 3600.0;
    let (d0, d1, d2) = (int_dict("n", 0), int_dict("n", 1), int_dict("n", 2));
    let record = |data| Record {
        data,
        expires_at: t,
        now: now(),
    };
    let v0 = store.create(&k, record(&d0)).await.unwrap();
    let SaveOutcome::Saved(_) = store.save(&k, record(&d1), &v0).await.unwrap() else {
        panic!("the first save lands");
    };
    let before = checkouts(&pool).await;
    let outcome = store.save_or_reload(&k, record(&d2), &v0).await.unwrap();
    let after = checkouts(&pool).await;
    let SaveOrReload::Changed(fresh) = outcome else {
        panic!("a stale save brings back the winner, got {outcome:?}");
    };
    assert_eq!(*fresh.data, d1);
    assert_eq!(
        after - before - 1,
        1,
        "the swap and the reload share one checkout"
    );
}

/// When its client goes away, a request's statement may finish (no answer is owed, as when a
/// Django worker finishes a request whose client left), and its pooled connection goes back to
/// the pool: no reconnect. (A statement dropped by the session layer's `store_timeout` is
/// cancelled instead: `faults::postgres_a_write_that_timed_out_on_a_lock_is_not_applied_later`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_dropped_mid_statement_gives_its_connection_back() {
    use tessera::store::postgres::deadpool_postgres::Object;
    let Some(url) = server() else { return };
    let (store, pool, _cleanup) = one_connection_store(&url).await;
    let table = store.table().to_owned();
    let k = key();
    let t = now() + 3600.0;
    let (d0, d1) = (int_dict("n", 0), int_dict("n", 1));
    let v0 = store
        .create(
            &k,
            Record {
                data: &d0,
                expires_at: t,
                now: now(),
            },
        )
        .await
        .unwrap();
    let born = Object::metrics(&pool.get().await.unwrap()).created;

    // Another client holds the row, so the save's `UPDATE` waits on the server.
    let locker = raw(&url).await;
    locker.batch_execute("BEGIN").await.unwrap();
    locker
        .execute(
            &format!("SELECT 1 FROM \"{table}\" WHERE session_key = $1 FOR UPDATE"),
            &[&k.as_str()],
        )
        .await
        .unwrap();
    let saving = tokio::spawn({
        let (store, k, d1, v0) = (store.clone(), k.clone(), d1.clone(), v0.clone());
        async move {
            let record = Record {
                data: &d1,
                expires_at: t,
                now: now(),
            };
            store.save(&k, record, &v0).await
        }
    });
    let watcher = raw(&url).await;
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
         AND query LIKE '%{table}%'"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while watcher
        .query_one(&waiting, &[])
        .await
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        assert!(Instant::now() < deadline, "the save never reached the lock");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The client goes away: the request's future is dropped mid-statement.
    saving.abort();
    assert!(saving.await.unwrap_err().is_cancelled());
    locker.batch_execute("COMMIT").await.unwrap();

    let client = pool.get().await.unwrap();
    assert_eq!(
        Object::metrics(&client).created,
        born,
        "the pooled connection came back; none was opened in its place"
    );
    drop(client);
    assert_eq!(
        *store.load(&k, now()).await.unwrap().unwrap().data,
        d1,
        "the statement finished once the lock was released"
    );
}

/// A `create_table` abandoned while it waited for its advisory lock, which it then got,
/// leaves no lock behind on the pooled connection it gives back: another process can still
/// migrate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_migration_leaves_no_lock_with_the_pool() {
    use tessera::store::postgres::deadpool_postgres::Object;
    let Some(url) = server() else { return };
    let (store, pool, _cleanup) = one_connection_store(&url).await;
    let born = Object::metrics(&pool.get().await.unwrap()).created;
    let lock = format!("tessera.create_table:{}", store.table());
    let holder = raw(&url).await;
    holder
        .execute("SELECT pg_advisory_lock(hashtext($1))", &[&lock])
        .await
        .unwrap();
    let migrating = tokio::spawn({
        let store = store.clone();
        async move { store.create_table().await }
    });
    let watcher = raw(&url).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while watcher
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "the migration never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    migrating.abort();
    assert!(migrating.await.unwrap_err().is_cancelled());
    // The abandoned `pg_advisory_lock` now gets the lock, on the store's connection.
    holder
        .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&lock])
        .await
        .unwrap();
    let client = pool.get().await.unwrap();
    assert_eq!(
        Object::metrics(&client).created,
        born,
        "the connection came back to the pool"
    );
    let free: bool = watcher
        .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&lock])
        .await
        .unwrap()
        .get(0);
    assert!(free, "the pooled connection still holds the migration lock");
    watcher
        .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&lock])
        .await
        .unwrap();
}

/// Sessions Django wrote straight into the table (no companion package) are listed once
/// `reindex_users` backfilled them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_backfills_sessions_django_wrote() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    let sql = format!(
        "INSERT INTO \"{}\" (session_key, session_data, expire_date) \
         VALUES ($1, $2, to_timestamp($3))",
        f.table
    );
    let raw = f.raw.clone();
    let write: conformance::UnindexedWriter = Arc::new(move |k, data, expires_at| {
        let (raw, sql) = (raw.clone(), sql.clone());
        Box::pin(async move {
            let text = codec(SECRET).encode(&data);
            raw.execute(&sql, &[&k.as_str(), &text, &expires_at])
                .await
                .unwrap();
        })
    });
    conformance::reindex_backfills(Arc::new(f.store.clone()), write).await;
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

/// Rows Django rewrites (or a forger, or a restore) under a session tessera has cached are
/// read anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_rows_changed_outside_are_read_anew() {
    let Some(url) = server() else { return };
    let f = fixture(&url).await;
    let (raw, table) = (f.raw.clone(), f.table.clone());
    let swap = |key: String, text: String| {
        let (raw, table) = (raw.clone(), table.clone());
        async move {
            let old: String = raw
                .query_one(
                    &format!("SELECT session_data FROM \"{table}\" WHERE session_key = $1"),
                    &[&key],
                )
                .await
                .expect("the row")
                .get(0);
            raw.execute(
                &format!("UPDATE \"{table}\" SET session_data = $1 WHERE session_key = $2"),
                &[&text, &key],
            )
            .await
            .expect("update");
            old
        }
    };
    common::http::records_changed_outside_are_read_anew(Arc::new(f.store.clone()), SECRET, swap)
        .await;
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
        .find(|r| r["op"] == "collect_sql" && r["backend"] == "postgresql")
        .expect("the postgresql record")["expected"]["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// Columns and indexes of `django_session` in `schema`, as the catalog describes them
/// (with the schema name taken out of the index definitions).
async fn describe(raw: &Client, schema: &str) -> (Vec<String>, Vec<String>) {
    let columns = raw
        .query(
            "SELECT column_name::text, data_type::text, \
                    coalesce(character_maximum_length::text, '-'), is_nullable::text \
             FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'django_session' \
             ORDER BY ordinal_position",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (0..4)
                .map(|i| r.get::<_, String>(i))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let indexes = raw
        .query(
            "SELECT indexdef FROM pg_indexes \
             WHERE schemaname = $1 AND tablename = 'django_session' ORDER BY indexname",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0).replace(&format!("{schema}."), ""))
        .collect();
    (columns, indexes)
}

/// A schema of the test's own, so the default table name cannot meet anyone's real one.
async fn own_schema(url: &str, raw: &Client) -> (String, String, Cleanup) {
    let schema = unique("tessera_t");
    raw.batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
        .await
        .unwrap();
    let cleanup = Cleanup {
        url: url.to_owned(),
        sql: format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
    };
    let store_url = with_param(url, &format!("options=-c%20search_path%3D{schema}"));
    (schema, store_url, cleanup)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_is_exactly_djangos() {
    let Some(url) = server() else { return };
    let admin = raw(&url).await;
    let (ours, ours_url, _c1) = own_schema(&url, &admin).await;
    let (djangos, djangos_url, _c2) = own_schema(&url, &admin).await;

    let store = PostgresStore::connect(&ours_url, codec(SECRET))
        .await
        .unwrap();
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
    // Django's `migrate` finds its migration recorded, once (it failed with "relation
    // already exists" before).
    let recorded: Vec<(String, String)> = admin
        .query(
            &format!("SELECT app::text, name::text FROM \"{ours}\".django_migrations"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        recorded,
        [("sessions".to_owned(), "0001_initial".to_owned())]
    );

    // The same statements run by hand, as Django's migrate runs them.
    let django = raw(&djangos_url).await;
    for statement in django_statements() {
        django.batch_execute(&statement).await.unwrap();
    }
    let (columns, indexes) = describe(&admin, &ours).await;
    assert_eq!(
        (columns.clone(), indexes.clone()),
        describe(&admin, &djangos).await,
        "tessera's table is the one Django's migration makes"
    );
    assert_eq!(
        columns,
        [
            "session_key character varying 40 NO",
            "session_data text - NO",
            "expire_date timestamp with time zone - NO",
        ]
    );
    assert_eq!(
        indexes,
        [
            "CREATE INDEX django_session_expire_date_a5c62663 ON django_session USING btree (expire_date)",
            "CREATE UNIQUE INDEX django_session_pkey ON django_session USING btree (session_key)",
            "CREATE INDEX django_session_session_key_c0390e0f_like ON django_session USING btree (session_key varchar_pattern_ops)",
        ]
    );

    // Other table names get the index names Django would derive for them.
    let custom = PostgresStore::builder(codec(SECRET))
        .table("my_sessions")
        .connect(&ours_url)
        .await
        .unwrap();
    assert_eq!(
        custom.create_table_sql(),
        [
            "CREATE TABLE \"my_sessions\" (\"session_key\" varchar(40) NOT NULL PRIMARY KEY, \"session_data\" text NOT NULL, \"expire_date\" timestamp with time zone NOT NULL);",
            "CREATE INDEX \"my_sessions_session_key_769390aa_like\" ON \"my_sessions\" (\"session_key\" varchar_pattern_ops);",
            "CREATE INDEX \"my_sessions_expire_date_8a6b8a8d\" ON \"my_sessions\" (\"expire_date\");",
        ]
    );
    let long = "x".repeat(64);
    for bad in ["", "a\"b", "semi;colon", "naïve", &long] {
        let refused = PostgresStore::builder(codec(SECRET))
            .table(bad)
            .connect(&ours_url)
            .await;
        assert!(
            matches!(refused, Err(StoreError::Config(_))),
            "{bad:?} is refused"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_the_table_djangos_migrate_made() {
    let Some(url) = server() else { return };
    let admin = raw(&url).await;
    let (_schema, store_url, _cleanup) = own_schema(&url, &admin).await;
    let django = raw(&store_url).await;
    for statement in django_statements() {
        django.batch_execute(&statement).await.unwrap();
    }
    let store = PostgresStore::connect(&store_url, codec(SECRET))
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_by_django_load() {
    let Some(url) = server() else { return };
    let meta = common::vectors::load("middleware.json");
    let secret = meta["secret_key"].as_str().unwrap();
    let f = fixture_with(
        &url,
        &url,
        SessionCodec::new(&SecretKeys::new(secret)).unwrap(),
    )
    .await;
    let insert = format!(
        "INSERT INTO \"{}\" (session_key, session_data, expire_date) VALUES ($1, $2, $3::text::timestamptz)",
        f.table
    );
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
            f.raw.execute(&insert, &[&k, &text, &expire]).await.unwrap();
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
async fn dates_are_instants_whatever_the_session_time_zone() {
    let Some(url) = server() else { return };
    let kolkata = with_param(&url, "options=-c%20TimeZone%3DAsia/Kolkata");
    let probe = raw(&kolkata).await;
    let tz: String = probe.query_one("SHOW TimeZone", &[]).await.unwrap().get(0);
    assert_eq!(tz, "Asia/Kolkata", "the store's sessions run at +05:30");
    let f = fixture_with(&url, &kolkata, codec(SECRET)).await;
    let read = format!(
        "SELECT expire_date, to_char(expire_date AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') \
         FROM \"{}\" WHERE session_key = $1",
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
    let row = f.raw.query_one(&read, &[&k.as_str()]).await.unwrap();
    assert_eq!(micros(row.get(0)), 1_701_209_600_250_000);
    assert_eq!(row.get::<_, String>(1), "2023-11-28T22:13:20.250000");
    let shown: String = probe
        .query_one(
            &format!(
                "SELECT expire_date::text FROM \"{}\" WHERE session_key = $1",
                f.table
            ),
            &[&k.as_str()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        shown, "2023-11-29 03:43:20.25+05:30",
        "displayed in the session's zone, the same instant"
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
    let row = f.raw.query_one(&read, &[&k.as_str()]).await.unwrap();
    assert_eq!(row.get::<_, String>(1), "2023-11-28T23:13:20.750000");

    // A row Django wrote (a UTC literal) expires at the same instant for the +05:30 store.
    let django_key = key();
    f.raw
        .execute(
            &format!(
                "INSERT INTO \"{}\" VALUES ($1, $2, '2023-11-28 22:13:20.25+00')",
                f.table
            ),
            &[&django_key.as_str(), &codec(SECRET).encode(&data)],
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
            other => panic!("an unchanged save is Saved, got {other:?}"),
        }
    }
    assert!(identical > 0, "some saves rewrote byte-identical text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_swap_is_byte_for_byte() {
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
    f.raw
        .batch_execute(&format!(
            "INSERT INTO \"{}\" SELECT 'expired' || g, 'x', now() - interval '1 day' \
             FROM generate_series(1, 5000) g",
            f.table
        ))
        .await
        .unwrap();
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
    let left: i64 = f
        .raw
        .query_one(&format!("SELECT count(*) FROM \"{}\"", f.table), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 3);
    for k in &live {
        assert!(f.store.load(k, now()).await.unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_never_carry_the_session_key() {
    let Some(url) = server() else { return };
    let store = PostgresStore::builder(codec(SECRET))
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
        assert!(msg.contains("42P01"), "{msg}");
        assert!(!msg.contains(k.as_str()), "{msg}");
    }

    // A duplicate key (whose DETAIL would quote it) is DuplicateKey.
    let f = fixture(&url).await;
    f.store.create(&k, record).await.unwrap();
    assert!(matches!(
        f.store.create(&k, record).await,
        Err(StoreError::DuplicateKey)
    ));
}

/// The pool holds twice as many connections as the process has cores, at least 8, unless the
/// URL sizes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_is_sized_by_the_cores_unless_the_url_says() {
    let Some(url) = server() else { return };
    let cores = std::thread::available_parallelism().unwrap().get();
    let default = PostgresStore::connect(&url, codec(SECRET)).await.unwrap();
    let shown = format!("{default:?}");
    assert!(
        shown.contains(&format!("pool_max_size: {}", (2 * cores).max(8))),
        "{cores} cores: {shown}"
    );
    let sized = PostgresStore::connect(&with_param(&url, "pool_max_size=3"), codec(SECRET))
        .await
        .unwrap();
    assert!(
        format!("{sized:?}").contains("pool_max_size: 3"),
        "{sized:?}"
    );
}

/// The server ends every pooled connection while the store is idle, and the next loads still
/// succeed. The store's runtime has one thread and does not run between its `block_on`s, so
/// its connection tasks cannot read the end before the store draws the connections again: the
/// pool hands out connections it still believes alive, the case a busy server meets by chance
/// (once as a failed CI run). Each load must read again on another connection.
#[test]
fn the_pool_recovers_when_the_server_drops_its_connections() {
    let Some(url) = server() else { return };
    let app = unique("tessera_t");
    let store_url = with_param(&url, &format!("application_name={app}"));
    let store_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (f, k) = store_runtime.block_on(async {
        let f = fixture_with(&url, &store_url, codec(SECRET)).await;
        let k = stored_session_loaded_at_once(&f.store).await;
        (f, k)
    });
    let killer_runtime = tokio::runtime::Runtime::new().unwrap();
    killer_runtime.block_on(async {
        let raw = raw(&url).await;
        let killed: i64 = raw
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        assert!(killed >= 2, "the store's connections were found: {killed}");
        // Wait until the server has ended them (not a guess at how long that takes).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left: i64 = raw
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&app],
                )
                .await
                .unwrap()
                .get(0);
            if left == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{left} terminated backends still there"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    store_runtime.block_on(reads_succeed_after_the_connections_ended(&f.store, &k));
    drop(f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_fails_fast() {
    let Some(_url) = server() else { return };
    let started = Instant::now();
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/test", codec(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(
        PostgresStore::connect("postgres://[bad", codec(SECRET)).await,
        Err(StoreError::Config(_))
    ));
}

/// `store::url::open` takes every parameter the docs list for `postgres://` and
/// `postgresql://`: tessera's (`table`, `pool_max_size`) and tokio-postgres's, which reach the
/// server; an unknown one is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_parameters_are_taken_or_refused_by_name() {
    let Some(url) = server() else { return };
    let keys = SecretKeys::new(SECRET);
    let table = unique("django_session_t");
    let _cleanup = Cleanup {
        url: url.clone(),
        sql: format!("DROP TABLE IF EXISTS \"{table}\", \"{table}_tessera_user\""),
    };
    let app = unique("tessera_params_");
    let params = format!(
        "table={table}&pool_max_size=2&sslmode=disable&connect_timeout=5\
         &application_name={app}&options=-c%20statement_timeout%3D4321"
    );
    let raw = raw(&url).await;
    for scheme_url in [url.clone(), url.replacen("postgres://", "postgresql://", 1)] {
        let sessions = open(&with_param(&scheme_url, &params), &keys)
            .await
            .unwrap();
        sessions.migrate().await.unwrap();
        let store = sessions.store().unwrap();
        assert!(
            format!("{store:?}").contains(&format!("table: {table:?}")),
            "{store:?}"
        );
        assert!(
            format!("{store:?}").contains("pool_max_size: 2"),
            "{store:?}"
        );
        let k = key();
        let data = int_dict("a", 1);
        let record = Record {
            data: &data,
            expires_at: now() + 60.0,
            now: tessera::time::now(),
        };
        store.create(&k, record).await.unwrap();
        assert!(store.load(&k, now()).await.unwrap().is_some());
        // application_name reached the server.
        let rows = raw
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .await
            .unwrap();
        assert!(!rows.is_empty(), "a connection named {app}");
    }
    let Err(StoreError::Config(msg)) = open(&with_param(&url, "pool_size=2"), &keys).await else {
        panic!("pool_size is no parameter");
    };
    assert!(
        msg.starts_with(
            "unknown parameter \"pool_size\" for postgres:// (known: table, pool_max_size,"
        ),
        "{msg}"
    );
}

/// tokio-postgres logs every statement's parameters at `debug`: the session key and the
/// session data must never be among them, whatever the level (here `TRACE`, every crate).
#[test]
fn no_session_key_or_data_reaches_the_logs() {
    let Some(url) = server() else { return };
    let logs = common::logs::assert_secrets_stay_out_of_logs(|| async {
        let f = fixture(&url).await;
        common::logs::session_round_trip(&f.store).await
    });
    assert!(
        logs.contains("executing statement") && logs.contains("<redacted>"),
        "the driver's own log, with the parameters redacted, was not captured: {logs}"
    );
}

/// A deployment whose table Django made, and which never runs tessera's migrate: the side
/// table is made on connect, so a logged-in session is saved and listed. A user who may not
/// create it still gets working sessions, and index methods that say to run the migration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_side_table_is_made_on_connect_or_sessions_work_without_it() {
    let Some(url) = server() else { return };
    let admin = raw(&url).await;
    let (schema, store_url, _cleanup) = own_schema(&url, &admin).await;
    let django = raw(&store_url).await;
    for statement in django_statements() {
        django.batch_execute(&statement).await.unwrap();
    }
    // A role that may use Django's table but create nothing.
    let role = unique("tessera_r");
    let _drop_role = Cleanup {
        url: url.clone(),
        sql: format!("DROP OWNED BY \"{role}\"; DROP ROLE IF EXISTS \"{role}\""),
    };
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN; GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\"; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON \"{schema}\".django_session TO \"{role}\""
        ))
        .await
        .unwrap();
    let (_, rest) = store_url.split_once("://").unwrap();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let restricted_url = format!("postgres://{role}@{rest}");
    let restricted = PostgresStore::connect(&restricted_url, codec(SECRET))
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

    // The deployment's own user, no migrate: the side table appears on connect.
    let store = PostgresStore::connect(&store_url, codec(SECRET))
        .await
        .unwrap();
    let k = log_in(&store, "7").await;
    let listed: Vec<SessionKey> = store
        .user_sessions("7", now())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(listed, vec![k.clone()]);
    // The restricted role now finds a side table it may not write: still no trap.
    let restricted = PostgresStore::connect(&restricted_url, codec(SECRET))
        .await
        .unwrap();
    let k2 = log_in(&restricted, "8").await;
    assert!(matches!(
        restricted.user_sessions("8", now()).await,
        Err(StoreError::Config(_))
    ));
    restricted.delete(&k2).await.unwrap();
    assert_eq!(store.revoke_user_sessions("7", None).await.unwrap(), 1);
}
