//! Two app instances over one database, as two processes of a deployment would run: two
//! `SessionLayer`s over two stores opened **separately** with `url::open` (their own
//! pools, connections, writer threads and in-process locks) from the same URL, for SQLite
//! (one file), PostgreSQL (one schema), MySQL/MariaDB (one database), Redis (one key prefix)
//! and the file store (one directory). For each backend it shows that:
//!
//! - both instances start at once and both run `migrate` concurrently without error;
//! - a session made on one instance is read on the other, changed there, and the change is
//!   seen back on the first; the cookie keeps its key;
//! - forty concurrent writes to one session, half through each instance, all land (the
//!   compare-and-swap works across processes, not only within one);
//! - a key cycled on one instance is dead on the other, a logout on one is a logout on the
//!   other, and a logout racing writes on the other instance never brings the session back.
//!
//! Server-backed cases skip loudly when their server is absent (a failure in CI (any truthy `CI`)).

use crate::common;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use axum::Router;
use common::http::{app, send};
use common::services::require;
use http::StatusCode;
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::{Loaded, Record, SaveOutcome, SessionStore, StoreError, Version};
use tessera::url::{open, Sessions};
use tessera::SessionConfig;

const SECRET: &str = "tessera two instances test secret";
const WRITERS: usize = 40;

/// A name no other test or run uses.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &SessionKey::generate().unwrap().as_str()[..12]
    )
}

fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// A fresh folder under cargo's test scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("two-instances-"));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a cleanup future on its own thread and runtime when dropped (even after a panic).
struct Cleanup(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Cleanup {
    fn new(f: impl Future<Output = ()> + Send + 'static) -> Cleanup {
        Cleanup(Some(Box::pin(f)))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(f)
            })
            .join();
        }
    }
}

/// A store that counts the compare-and-swap conflicts its saves ran into, so the test can
/// show the two instances really raced.
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn SessionStore>,
    conflicts: Arc<AtomicUsize>,
}

#[async_trait]
impl SessionStore for Counted {
    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        self.inner.load(key, now).await
    }
    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        self.inner.create(key, record).await
    }
    async fn save(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        let outcome = self.inner.save(key, record, expected).await;
        if matches!(outcome, Ok(SaveOutcome::Conflict)) {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        outcome
    }
    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.inner.exists(key).await
    }
    async fn clear_expired(&self, now: f64, batch: usize) -> Result<u64, StoreError> {
        self.inner.clear_expired(now, batch).await
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }
}

/// Opens `url` twice, concurrently, and migrates both at once: two processes starting.
async fn two_stores(url: &str) -> (Arc<dyn SessionStore>, Arc<dyn SessionStore>) {
    let keys = SecretKeys::new(SECRET);
    let (a, b) = tokio::join!(open(url, &keys), open(url, &keys));
    let store = |s: Result<Sessions, _>| match s.unwrap() {
        Sessions::Store(s) => s,
        Sessions::SignedCookie(_) => unreachable!("{url} is server-side"),
    };
    let (a, b) = (store(a), store(b));
    assert!(!Arc::ptr_eq(&a, &b));
    let (ma, mb) = tokio::join!(a.migrate(), b.migrate());
    ma.unwrap();
    mb.unwrap();
    (a, b)
}

/// The body of `/all` as a check that every `k{i}=v{i}` is present.
fn missing(body: &str, keys: impl IntoIterator<Item = String>) -> Vec<String> {
    keys.into_iter()
        .filter(|k| !body.contains(&format!("\"{k}\":\"v\"")))
        .collect()
}

/// Everything a pair of instances over one backend must do; panics on the first failure.
async fn two_instances(name: &str, a: Arc<dyn SessionStore>, b: Arc<dyn SessionStore>) {
    let started = std::time::Instant::now();
    let conflicts = Arc::new(AtomicUsize::new(0));
    let counted = |inner| -> Arc<dyn SessionStore> {
        Arc::new(Counted {
            inner,
            conflicts: conflicts.clone(),
        })
    };
    let (one, two) = (
        app(counted(a), SessionConfig::default()),
        app(counted(b), SessionConfig::default()),
    );
    let apps: [&Router; 2] = [&one, &two];

    // Made on one, read and changed on the other, seen back on the first.
    let made = send(&one, "/set?made_on=one", None).await;
    assert_eq!(made.status, StatusCode::OK, "{name}: {}", made.body);
    let cookie = made.session_cookie().unwrap();
    let read = send(&two, "/get?k=made_on", Some(&cookie)).await;
    assert_eq!(
        read.body, "one",
        "{name}: instance two reads instance one's session"
    );
    assert!(
        read.set_cookies().is_empty(),
        "{name}: a read sets no cookie"
    );
    let changed = send(&two, "/set?changed_on=two", Some(&cookie)).await;
    assert_eq!(changed.status, StatusCode::OK, "{name}: {}", changed.body);
    assert_eq!(
        changed.session_cookie().as_deref(),
        Some(cookie.as_str()),
        "{name}: the same key, refreshed"
    );
    let all = send(&one, "/all", Some(&cookie)).await;
    assert_eq!(
        all.body, r#"{"made_on":"one","changed_on":"two"}"#,
        "{name}: instance one sees instance two's change"
    );

    // Concurrent writers on one session, alternating between the instances.
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let app = apps[i % 2].clone();
        let cookie = cookie.clone();
        tasks.push(tokio::spawn(async move {
            let r = send(&app, &format!("/set?k{i}=v"), Some(&cookie)).await;
            (i, r.status, r.body)
        }));
    }
    for t in tasks {
        let (i, status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{name}: writer {i}: {body}");
    }
    let raced = conflicts.load(Ordering::SeqCst);
    assert!(
        raced > 0,
        "{name}: the writers never raced, so this proved nothing"
    );
    for app in apps {
        let all = send(app, "/all", Some(&cookie)).await;
        let lost = missing(&all.body, (0..WRITERS).map(|i| format!("k{i}")));
        assert!(lost.is_empty(), "{name}: lost {lost:?}: {}", all.body);
        assert!(all.body.contains("\"made_on\":\"one\""), "{name}");
        assert!(all.body.contains("\"changed_on\":\"two\""), "{name}");
    }

    // A key cycled on one instance is dead on the other; the data moved.
    let cycled = send(&one, "/cycle", Some(&cookie)).await;
    let new_cookie = cycled.session_cookie().unwrap();
    assert_ne!(new_cookie, cookie, "{name}: a new key");
    assert_eq!(
        send(&two, "/get?k=made_on", Some(&cookie)).await.body,
        "None",
        "{name}: the old key no longer loads on the other instance"
    );
    assert_eq!(
        send(&two, "/get?k=made_on", Some(&new_cookie)).await.body,
        "one",
        "{name}"
    );

    // A logout on one instance is a logout on the other.
    let out = send(&two, "/flush", Some(&new_cookie)).await;
    assert!(out.deletes_session_cookie(), "{name}");
    assert_eq!(
        send(&one, "/all", Some(&new_cookie)).await.body,
        "{}",
        "{name}: logged out everywhere"
    );

    // A logout on one instance racing writes on the other never resurrects the session.
    let victim = send(&one, "/set?u=1", None).await.session_cookie().unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = apps[i % 2].clone();
        let cookie = victim.clone();
        tasks.push(tokio::spawn(async move {
            let uri = if i == 9 {
                "/flush".to_owned()
            } else {
                format!("/set?r{i}=v")
            };
            send(&app, &uri, Some(&cookie)).await.status
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{name}: {status}"
        );
    }
    for app in apps {
        assert_eq!(
            send(app, "/all", Some(&victim)).await.body,
            "{}",
            "{name}: the logged-out session came back"
        );
    }
    eprintln!(
        "{name}: two instances agreed on every step ({WRITERS} cross-instance writers, \
         {raced} compare-and-swap conflicts resolved by replay) in {:.1?}",
        started.elapsed()
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_stores_on_one_file() {
    let scratch = Scratch::new();
    let url = format!("sqlite://{}", scratch.0.join("db.sqlite3").display());
    assert!(url.starts_with("sqlite:///"), "an absolute path");
    let (a, b) = two_stores(&url).await;
    two_instances("SQLite", a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_two_stores_on_one_directory() {
    let scratch = Scratch::new();
    let url = format!("file://{}", scratch.0.join("sessions").display());
    let (a, b) = two_stores(&url).await;
    two_instances("file", a, b).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_pools_on_one_schema() {
    let Some(url) = require(
        "PostgreSQL",
        "TESSERA_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    ) else {
        return;
    };
    // A schema of the test's own, so the default `django_session` name meets nobody's.
    let schema = unique("tessera_two_");
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
        .await
        .unwrap();
    let _cleanup = {
        let (url, schema) = (url.clone(), schema.clone());
        Cleanup::new(async move {
            {
                if let Ok((c, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                    tokio::spawn(conn);
                    let _ = c
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                        .await;
                }
            }
        })
    };
    let store_url = with_param(&url, &format!("options=-c%20search_path%3D{schema}"));
    let (a, b) = two_stores(&store_url).await;
    two_instances("PostgreSQL", a, b).await;
    let tables: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'django_session'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "both migrated into the one schema");
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_two_pools_on_one_database() {
    use mysql_async::prelude::Queryable;
    let Some(url) = require(
        "MySQL",
        "TESSERA_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
    ) else {
        return;
    };
    // A database of the test's own, so the default `django_session` name meets nobody's.
    let db = unique("tessera_two_");
    let mut admin = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
        .await
        .unwrap();
    admin
        .query_drop(format!("CREATE DATABASE `{db}`"))
        .await
        .unwrap();
    let _cleanup = {
        let (url, db) = (url.clone(), db.clone());
        Cleanup::new(async move {
            {
                if let Ok(mut c) =
                    mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap()).await
                {
                    let _ = c
                        .query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                        .await;
                    let _ = c.disconnect().await;
                }
            }
        })
    };
    let (scheme_authority, rest) = url.rsplit_once('/').unwrap();
    let query = rest.split_once('?').map(|(_, q)| q);
    let store_url = match query {
        Some(q) => format!("{scheme_authority}/{db}?{q}"),
        None => format!("{scheme_authority}/{db}"),
    };
    let (a, b) = two_stores(&store_url).await;
    two_instances("MySQL", a, b).await;
    let tables: Option<i64> = admin
        .exec_first(
            "SELECT count(*) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'django_session'",
            (db.as_str(),),
        )
        .await
        .unwrap();
    assert_eq!(tables, Some(1), "both migrated into the one database");
    let _ = admin.disconnect().await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_connections_on_one_prefix() {
    let Some(url) = require("Redis", "TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379") else {
        return;
    };
    let prefix = unique("tessera:two:");
    let _cleanup = {
        let (url, prefix) = (url.clone(), prefix.clone());
        Cleanup::new(async move {
            {
                let Ok(client) = redis::Client::open(url.as_str()) else {
                    return;
                };
                if let Ok(mut con) = client.get_multiplexed_async_connection().await {
                    let keys = common::redis_keys::keys_under(&mut con, &prefix)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> =
                            redis::cmd("DEL").arg(keys).query_async(&mut con).await;
                    }
                }
            }
        })
    };
    let store_url = with_param(&url, &format!("prefix={}", prefix.replace(':', "%3A")));
    let (a, b) = two_stores(&store_url).await;
    two_instances("Redis", a, b).await;
}
