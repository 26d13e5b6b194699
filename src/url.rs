//! One function from a URL to a session backend, used by the CLI and by apps.
//!
//! | URL | backend |
//! |---|---|
//! | `sqlite://tessera.sqlite3` (relative), `sqlite:///var/lib/app/s.db` (absolute) | [`SqliteStore`](crate::store::sqlite::SqliteStore) |
//! | `postgres://user@host:5432/db`, `postgresql://…` | [`PostgresStore`](crate::store::postgres::PostgresStore) |
//! | `mysql://root@127.0.0.1:3306/test` | [`MysqlStore`](crate::store::mysql::MysqlStore) |
//! | `redis://host:6379/0`, `redis+sentinel://h:26379,h2:26379/master`, `redis+cluster://h:7000,h:7001` | [`RedisStore`](crate::store::redis::RedisStore) |
//! | `memory://`, `memory://?max_sessions=100000` | [`MemoryStore`] |
//! | `file:///var/lib/app/sessions`, `file://relative/dir` | [`FileStore`](crate::store::file::FileStore) |
//! | `cookie://` | the whole session in a signed cookie |
//! | `cached+redis://host:6379?db=postgres://…` (any cache URL after `cached+`, the database URL last, in `db=`) | [`CachedDbStore`](crate::store::cached_db::CachedDbStore) |
//!
//! SQL URLs take `table=NAME` (default `django_session`) among their query parameters.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera::store::StoreError> {
//! use tessera::signing::SecretKeys;
//! use tessera::url::open;
//! let sessions = open("sqlite://tessera.sqlite3", &SecretKeys::new("secret")).await?;
//! sessions.migrate().await?;
//! let layer = sessions.layer(tessera::SessionConfig::default());
//! # let _ = layer;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use crate::backend::cookie::SignedCookieSessions;
use crate::session::codec::SessionCodec;
use crate::session::SessionConfig;
use crate::signing::SecretKeys;
use crate::store::memory::MemoryStore;
use crate::store::{SessionStore, StoreError};
use crate::SessionLayer;

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
    /// The tower layer for this backend.
    ///
    /// # Errors
    ///
    /// A `config` that can never work ([`SessionConfig::validate`]).
    pub fn layer(
        &self,
        config: SessionConfig,
    ) -> Result<SessionLayer, crate::session::ConfigError> {
        match self {
            Sessions::Store(store) => SessionLayer::new(store.clone(), config),
            Sessions::SignedCookie(s) => SessionLayer::signed_cookie(s.clone(), config),
        }
    }

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

fn config_error(msg: impl Into<String>) -> StoreError {
    StoreError::Config(msg.into())
}

/// The scheme and the rest of a URL.
fn split_scheme(url: &str) -> Result<(&str, &str), StoreError> {
    url.split_once("://").ok_or_else(|| {
        config_error("a store URL looks like scheme://…, e.g. sqlite://tessera.sqlite3")
    })
}

/// A local path from the part after `scheme://`: `/abs` stays absolute, anything else is
/// relative to the working directory.
fn local_path(rest: &str) -> Result<std::path::PathBuf, StoreError> {
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() {
        return Err(config_error("the URL names no path"));
    }
    Ok(std::path::PathBuf::from(path))
}

/// Opens the backend `url` names, with `keys` for signing stored data.
pub async fn open(url: &str, keys: &SecretKeys) -> Result<Sessions, StoreError> {
    let codec = || SessionCodec::new(keys).map_err(|e| config_error(e.to_string()));
    let (url, table) = take_query_param(url, "table");
    let url = url.as_str();
    let (scheme, rest) = split_scheme(url)?;
    if table.is_some() && !matches!(scheme, "sqlite" | "postgres" | "postgresql" | "mysql") {
        return Err(config_error(format!(
            "table= applies to SQL stores, not {scheme}://"
        )));
    }
    let store: Arc<dyn SessionStore> = match scheme {
        "cookie" => {
            let s = SignedCookieSessions::new(keys).map_err(|e| config_error(e.to_string()))?;
            return Ok(Sessions::SignedCookie(s));
        }
        "memory" => {
            let mut store = MemoryStore::new();
            if let Some(max) = query_param(rest, "max_sessions") {
                let max = max
                    .parse()
                    .map_err(|_| config_error("max_sessions must be a number"))?;
                store = store.max_sessions(max);
            }
            Arc::new(store)
        }
        "file" => Arc::new(crate::store::file::FileStore::new(
            local_path(rest)?,
            codec()?,
        )?),
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            let mut builder =
                crate::store::sqlite::SqliteStore::builder(local_path(rest)?, codec()?);
            if let Some(table) = &table {
                builder = builder.table(table);
            }
            Arc::new(builder.open()?)
        }
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            let store = crate::store::postgres::PostgresStore::connect(url, codec()?).await?;
            Arc::new(match &table {
                Some(table) => store.table(table)?,
                None => store,
            })
        }
        #[cfg(feature = "mysql")]
        "mysql" => {
            let store = crate::store::mysql::MysqlStore::connect(url, codec()?).await?;
            Arc::new(match &table {
                Some(table) => store.table(table)?,
                None => store,
            })
        }
        #[cfg(feature = "redis")]
        "redis" | "redis+sentinel" | "redis+cluster" => {
            Arc::new(crate::store::redis::RedisStore::connect(url, codec()?).await?)
        }
        cached if cached.starts_with("cached+") => {
            let (cache_url, db_url) = url
                .strip_prefix("cached+")
                .and_then(|u| u.split_once("db="))
                .map(|(cache, db)| (cache.trim_end_matches(['?', '&']), db))
                .ok_or_else(|| {
                    config_error("cached+ URLs name the database last: cached+CACHE_URL?db=DB_URL")
                })?;
            let cache = Box::pin(open(cache_url, keys)).await?;
            let db = Box::pin(open(db_url, keys)).await?;
            match (cache, db) {
                (Sessions::Store(cache), Sessions::Store(db)) => {
                    Arc::new(crate::store::cached_db::CachedDbStore::new(cache, db))
                }
                _ => return Err(config_error("cookie:// cannot be a cache or a database")),
            }
        }
        other => {
            return Err(config_error(format!(
                "unknown or disabled store scheme {other:?} (is its cargo feature on?)"
            )))
        }
    };
    Ok(Sessions::Store(store))
}

/// The URL without its `name=` query parameter, and that parameter's value. A `cached+` URL's
/// `db=` part is left alone (it is a URL of its own).
fn take_query_param(url: &str, name: &str) -> (String, Option<String>) {
    if url.starts_with("cached+") {
        return (url.to_owned(), None);
    }
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(
            |pair| match pair.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                Some(v) => {
                    value = Some(v.to_owned());
                    false
                }
                None => true,
            },
        )
        .collect();
    if kept.is_empty() {
        (base.to_owned(), value)
    } else {
        (format!("{base}?{}", kept.join("&")), value)
    }
}

/// The value of `name` in the URL's query string.
fn query_param<'a>(rest: &'a str, name: &str) -> Option<&'a str> {
    rest.split_once('?')?
        .1
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::*;

    #[tokio::test]
    async fn opens_every_local_scheme_and_refuses_nonsense() {
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
        let cached = format!("cached+memory://?db={file_url}");
        assert!(matches!(open(&cached, &keys).await, Ok(Sessions::Store(_))));
        let _ = std::fs::remove_dir_all(&dir);
        for bad in [
            "nonsense",
            "ftp://x",
            "memory://?max_sessions=lots",
            "cached+memory://",
            "cached+cookie://?db=memory://",
            "memory://?table=sessions",
            "sqlite:///tmp/tessera-never-created.sqlite3?table=no-dashes",
        ] {
            assert!(
                matches!(open(bad, &keys).await, Err(StoreError::Config(_))),
                "{bad}"
            );
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
        assert_eq!(tables, ["my_sessions"]);
        let rows: i64 = db
            .query_row("SELECT count(*) FROM my_sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        std::fs::remove_dir_all(&dir).ok();
    }
}
