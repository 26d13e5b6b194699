//! One function from a URL to a session backend, used by the CLI and by apps.
//!
//! | URL | backend | query parameters |
//! |---|---|---|
//! | `sqlite://tessera.sqlite3` (relative), `sqlite:///var/lib/app/s.db` (absolute) | `SqliteStore` | `table` |
//! | `postgres://user@host:5432/db`, `postgresql://…` | `PostgresStore` | `table`, `pool_max_size`, and tokio-postgres's own (`sslmode`, `connect_timeout`, `application_name`, `options`…) |
//! | `mysql://root@127.0.0.1:3306/test` | `MysqlStore` | `table`, `tls_ca` (with `require_ssl=true`), and mysql_async's own (`pool_min`, `pool_max`, `prefer_socket`, `require_ssl`…) |
//! | `redis://host:6379/0`, `redis+sentinel://h:26379,h2:26379/master`, `redis+cluster://h:7000,h:7001`; over TLS `rediss://…`, `rediss+sentinel://…`, `rediss+cluster://…` | `RedisStore` | `key_prefix`, `version` (Django's `CACHES` settings), `prefix` (the whole prefix), `response_timeout_ms`, `connect_timeout_ms`; `tls_ca` for `rediss` |
//! | `memory://`, `memory://?max_sessions=100000&max_bytes=67108864` | [`MemoryStore`] | `max_sessions`, `max_bytes` |
//! | `file:///var/lib/app/sessions`, `file://relative/dir` | [`FileStore`](crate::store::file::FileStore) | none |
//! | `cookie://` | the whole session in a signed cookie | none |
//! | `cached+redis://host:6379?db=postgres://…` (any cache URL after `cached+`, the database URL last, in `db=`) | [`CachedDbStore`](crate::store::cached_db::CachedDbStore) | the cache's, then `db` |
//!
//! The URL is split once here: scheme, the part up to `?` (left to the backend), and the
//! query's parameters, percent-decoded, in order. Each backend takes the parameters it knows;
//! any other is a [`StoreError::Config`] naming it, so a typo never goes unnoticed. A
//! parameter given twice counts once, the last one. `db=` takes the rest of a `cached+` URL
//! as written (it is a URL of its own, checked by its own scheme's rules).
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera::store::StoreError> {
//! use tessera::signing::SecretKeys;
//! use tessera::url::open;
//! use tessera::{SessionConfig, SessionLayer};
//! let sessions = open("sqlite://tessera.sqlite3", &SecretKeys::new("secret")).await?;
//! sessions.migrate().await?;
//! let layer = SessionLayer::from_sessions(&sessions, SessionConfig::default());
//! # let _ = layer;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use crate::backend::cookie::SignedCookieSessions;
use crate::session::codec::SessionCodec;
use crate::signing::SecretKeys;
use crate::store::memory::MemoryStore;
use crate::store::url::{config_error, local_path, StoreUrl};
use crate::store::{SessionStore, StoreError};

/// The default store of the CLI and the demo site.
pub const DEFAULT_URL: &str = "sqlite://tessera.sqlite3";

/// A backend opened from a URL.
#[derive(Debug, Clone)]
pub enum Sessions {
    /// Server-side records behind a random key.
    Store(Arc<dyn SessionStore>),
    /// The whole session in a signed cookie; nothing on the server.
    SignedCookie(SignedCookieSessions),
}

impl Sessions {
    /// Creates the table and indexes where the backend has them (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Sessions::Store(store) => store.migrate().await,
            Sessions::SignedCookie(_) => Ok(()),
        }
    }

    /// The server-side store, if this backend has one.
    pub fn store(&self) -> Option<&Arc<dyn SessionStore>> {
        match self {
            Sessions::Store(s) => Some(s),
            Sessions::SignedCookie(_) => None,
        }
    }
}

/// Opens the backend `url` names, with `keys` for signing stored data.
pub async fn open(url: &str, keys: &SecretKeys) -> Result<Sessions, StoreError> {
    open_parsed(StoreUrl::parse(url)?, keys).await
}

async fn open_parsed(mut url: StoreUrl<'_>, keys: &SecretKeys) -> Result<Sessions, StoreError> {
    let codec = || SessionCodec::new(keys).map_err(|e| config_error(e.to_string()));
    let store: Arc<dyn SessionStore> = match url.scheme {
        "cookie" => {
            url.only(&[])?;
            let s = SignedCookieSessions::new(keys).map_err(|e| config_error(e.to_string()))?;
            return Ok(Sessions::SignedCookie(s));
        }
        "memory" => {
            url.only(&["max_sessions", "max_bytes"])?;
            let mut store = MemoryStore::new();
            if let Some(max) = url.take_parsed("max_sessions", "a number")? {
                store = store.max_sessions(max);
            }
            if let Some(max) = url.take_parsed("max_bytes", "a number")? {
                store = store.max_bytes(max);
            }
            Arc::new(store)
        }
        "file" => {
            url.only(&[])?;
            Arc::new(crate::store::file::FileStore::new(
                local_path(url.target)?,
                codec()?,
            )?)
        }
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            url.only(&["table"])?;
            let mut builder =
                crate::store::sqlite::SqliteStore::builder(local_path(url.target)?, codec()?);
            if let Some(table) = url.take("table") {
                builder = builder.table(table);
            }
            Arc::new(builder.open()?)
        }
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            Arc::new(crate::store::postgres::PostgresStore::from_url(url, codec()?).await?)
        }
        #[cfg(feature = "mysql")]
        "mysql" => Arc::new(crate::store::mysql::MysqlStore::from_url(url, codec()?).await?),
        #[cfg(feature = "redis")]
        "redis" | "redis+sentinel" | "redis+cluster" | "rediss" | "rediss+sentinel"
        | "rediss+cluster" => {
            Arc::new(crate::store::redis::RedisStore::from_url(url, codec()?, false).await?)
        }
        cached if cached.starts_with("cached+") => {
            let db_url = url.take("db").ok_or_else(|| {
                config_error("cached+ URLs name the database last: cached+CACHE_URL?db=DB_URL")
            })?;
            // What is left is the cache's URL, checked by its own scheme's rules.
            url.scheme = &cached["cached+".len()..];
            let cache = match url.scheme {
                // Named as Django's cached_db backend names its cache entries.
                #[cfg(feature = "redis")]
                "redis" | "redis+sentinel" | "redis+cluster" | "rediss" | "rediss+sentinel"
                | "rediss+cluster" => Sessions::Store(Arc::new(
                    crate::store::redis::RedisStore::from_url(url, codec()?, true).await?,
                )),
                _ => Box::pin(open_parsed(url, keys)).await?,
            };
            let db = Box::pin(open(&db_url, keys)).await?;
            match (cache, db) {
                (Sessions::Store(cache), Sessions::Store(db)) => {
                    Arc::new(crate::store::cached_db::CachedDbStore::new(cache, db))
                }
                _ => return Err(config_error("cookie:// cannot be a cache or a database")),
            }
        }
        other => {
            let hint = match feature_of(other) {
                Some(feature) => format!("turn on tessera's \"{feature}\" cargo feature"),
                None => "is its cargo feature on?".to_owned(),
            };
            return Err(config_error(format!(
                "unknown or disabled store scheme {other:?} ({hint})"
            )));
        }
    };
    Ok(Sessions::Store(store))
}

/// The cargo feature that brings a scheme's store.
fn feature_of(scheme: &str) -> Option<&'static str> {
    Some(match scheme {
        "sqlite" => "sqlite",
        "postgres" | "postgresql" => "postgres",
        "mysql" => "mysql",
        "redis" | "redis+sentinel" | "redis+cluster" => "redis",
        "rediss" | "rediss+sentinel" | "rediss+cluster" => "redis-tls",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every scheme names an unknown parameter, and its own scheme, without connecting.
    #[tokio::test]
    async fn an_unknown_parameter_is_named_on_every_scheme() {
        let keys = SecretKeys::new("k");
        let dir = std::env::temp_dir().join(format!("tessera-url-unknown-{}", std::process::id()));
        let mut cases = vec![
            (
                "memory://?max_sessions=5&bogus=1",
                "memory://",
                "max_sessions",
            ),
            ("cookie://?bogus=1", "cookie://", "it takes none"),
            ("memory://?table=sessions", "memory://", "max_bytes"),
        ];
        let file_url = format!("file://{}?bogus=1", dir.display());
        cases.push((&file_url, "file://", "it takes none"));
        // The cache's parameters are checked by the cache's scheme, the database's by its.
        cases.push((
            "cached+memory://?bogus=1&db=memory://",
            "memory://",
            "max_sessions",
        ));
        cases.push((
            "cached+memory://?db=memory://?bogus=1",
            "memory://",
            "max_sessions",
        ));
        #[cfg(feature = "sqlite")]
        let sqlite_url = format!("sqlite://{}/db.sqlite3?table=t&bogus=1", dir.display());
        #[cfg(feature = "sqlite")]
        cases.push((&sqlite_url, "sqlite://", "table"));
        #[cfg(feature = "postgres")]
        cases.extend([
            (
                "postgres://u@127.0.0.1:1/d?bogus=1",
                "postgres://",
                "table, pool_max_size, user",
            ),
            (
                "postgresql://u@127.0.0.1:1/d?bogus=1",
                "postgresql://",
                "load_balance_hosts",
            ),
        ]);
        #[cfg(feature = "mysql")]
        cases.push((
            "mysql://u@127.0.0.1:1/d?bogus=1",
            "mysql://",
            "table, tls_ca, pool_min",
        ));
        #[cfg(feature = "redis")]
        cases.extend([
            (
                "redis://127.0.0.1:1?bogus=1",
                "redis://",
                "prefix, key_prefix, version, response_timeout_ms",
            ),
            (
                "redis+sentinel://127.0.0.1:1/m?bogus=1",
                "redis+sentinel://",
                "prefix",
            ),
            (
                "redis+cluster://127.0.0.1:1,127.0.0.1:2?bogus=1",
                "redis+cluster://",
                "prefix",
            ),
            (
                "cached+redis://127.0.0.1:1?bogus=1&db=memory://",
                "redis://",
                "prefix",
            ),
        ]);
        #[cfg(feature = "redis-tls")]
        cases.extend([
            (
                "rediss://127.0.0.1:1?bogus=1",
                "rediss://",
                "connect_timeout_ms, tls_ca",
            ),
            (
                "cached+rediss+cluster://127.0.0.1:1?bogus=1&db=memory://",
                "rediss+cluster://",
                "tls_ca",
            ),
        ]);
        for (url, scheme, known) in cases {
            let Err(StoreError::Config(msg)) = open(url, &keys).await else {
                panic!("{url} opened");
            };
            let name = if url.contains("bogus") {
                "bogus"
            } else {
                "table"
            };
            let head = format!("unknown parameter {name:?} for {scheme} (");
            assert!(
                msg.starts_with(&head) && msg.contains(known),
                "{url}: {msg}"
            );
        }
        assert!(!dir.exists(), "nothing was created");
    }

    #[tokio::test]
    async fn every_local_scheme_opens_with_its_parameters_and_refuses_nonsense() {
        let keys = SecretKeys::new("k");
        assert!(matches!(
            open("cookie://", &keys).await,
            Ok(Sessions::SignedCookie(_))
        ));
        assert!(matches!(
            open("memory://?max_sessions=10", &keys).await,
            Ok(Sessions::Store(_))
        ));
        let dir = std::env::temp_dir().join(format!("tessera-url-{}", std::process::id()));
        let file_url = format!("file://{}", dir.display());
        assert!(matches!(
            open(&file_url, &keys).await,
            Ok(Sessions::Store(_))
        ));
        let cached = format!("cached+memory://?max_sessions=10&db={file_url}");
        assert!(matches!(open(&cached, &keys).await, Ok(Sessions::Store(_))));
        #[cfg(feature = "sqlite")]
        {
            let url = format!("sqlite://{}/db.sqlite3?table=t1", dir.display());
            assert!(matches!(open(&url, &keys).await, Ok(Sessions::Store(_))));
            let cached = format!("cached+memory://?db={url}");
            assert!(matches!(open(&cached, &keys).await, Ok(Sessions::Store(_))));
        }
        let _ = std::fs::remove_dir_all(&dir);
        for bad in [
            "nonsense",
            "ftp://x",
            "memory://?max_sessions=lots",
            "cached+memory://",
            "cached+cookie://?db=memory://",
            "cached+memory://?db=cookie://",
            "sqlite:///tmp/tessera-never-created.sqlite3?table=no-dashes",
        ] {
            assert!(
                matches!(open(bad, &keys).await, Err(StoreError::Config(_))),
                "{bad}"
            );
        }
    }

    /// A scheme whose store or TLS is not compiled in names the cargo feature to turn on.
    #[tokio::test]
    async fn a_disabled_scheme_names_its_feature() {
        let keys = SecretKeys::new("k");
        // With every feature on, only the first case is left.
        #[allow(unused_mut)]
        let mut cases = vec![("ftp://x", "(is its cargo feature on?)")];
        #[cfg(not(feature = "redis"))]
        cases.extend([
            ("redis://127.0.0.1:1", "\"redis\" cargo feature"),
            ("cached+rediss://127.0.0.1:1?db=memory://", "\"redis-tls\""),
        ]);
        #[cfg(all(feature = "redis", not(feature = "redis-tls")))]
        cases.extend([
            ("rediss://127.0.0.1:1", "\"redis-tls\" cargo feature"),
            ("rediss+sentinel://127.0.0.1:1/m", "\"redis-tls\""),
        ]);
        #[cfg(not(feature = "mysql"))]
        cases.push(("mysql://u@127.0.0.1:1/d", "\"mysql\" cargo feature"));
        #[cfg(all(feature = "mysql", not(feature = "mysql-tls")))]
        cases.push((
            "mysql://u@127.0.0.1:1/d?require_ssl=true",
            "\"mysql-tls\" cargo feature",
        ));
        for (url, hint) in cases {
            let Err(StoreError::Config(msg)) = open(url, &keys).await else {
                panic!("{url} opened");
            };
            assert!(msg.contains(hint), "{url}: {msg}");
        }
    }

    /// `table=` picks the table the store reads and writes (here SQLite; the PostgreSQL and
    /// MySQL paths are checked by `tests/cli_ops.rs`).
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_url_table_names_the_table_used() {
        let dir = std::env::temp_dir().join(format!("tessera-url-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite3");
        let url = format!("sqlite://{}?table=my_sessions", path.display());
        let Ok(Sessions::Store(store)) = open(&url, &SecretKeys::new("k")).await else {
            panic!("{url} opens");
        };
        let key = crate::session::SessionKey::generate().unwrap();
        let data = crate::json::Map::new();
        let record = crate::store::Record {
            data: &data,
            expires_at: crate::signing::now() + 60.0,
            now: crate::time::now(),
        };
        store.create(&key, record).await.unwrap();
        drop(store);
        let db = rusqlite::Connection::open(&path).unwrap();
        let tables: Vec<String> = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // The session table the URL names, and beside it tessera's per-user index.
        assert_eq!(tables, ["my_sessions", "my_sessions_tessera_user"]);
        let rows: i64 = db
            .query_row("SELECT count(*) FROM my_sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        std::fs::remove_dir_all(&dir).ok();
    }
}
