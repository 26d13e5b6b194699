//! A PostgreSQL store over Django's own `django_session` table, so tessera and a running
//! Django app can share sessions.
//!
//! - **Schema.** [`PostgresStore::create_table`] runs exactly the statements of Django's
//!   migration `sessions.0001_initial` (`timestamp with time zone`, the `_like`
//!   `varchar_pattern_ops` index and `django_session_expire_date_a5c62663`), and nothing when
//!   the table already exists, so it is harmless after Django's `migrate`. The other way round,
//!   once tessera has created the table, Django's `migrate` must be told the table is there:
//!   `python manage.py migrate sessions --fake-initial` records `sessions.0001_initial` as
//!   applied (a plain `migrate` would fail with "relation already exists").
//! - **Data.** `session_data` holds Django's signed text ([`SessionCodec`]); `expire_date` is a
//!   `timestamptz` bound as an absolute instant, so the server's or the session's `TimeZone`
//!   never shifts it (Django with `USE_TZ=True` stores the same instants).
//! - **Round trips.** Statements are prepared once per connection (deadpool's statement cache).
//!   A load is one `SELECT … WHERE session_key = $1 AND expire_date > $2`; a save is one
//!   compare-and-swap `UPDATE … WHERE session_key = $3 AND session_data = $4` against the text
//!   that was loaded; only a failed swap asks a second question (conflict or gone?).
//! - **Pool.** Up to 16 connections, 3-second connect/wait timeouts, and every pooled connection
//!   is verified before reuse (an empty query), so the pool heals by itself after a server
//!   restart.
//! - **Errors.** Every failed call is [`StoreError::Unavailable`] with the operation and
//!   PostgreSQL's error code and primary message, never a bound parameter or a `DETAIL` (no
//!   session key, no data); a bad URL or table name is [`StoreError::Config`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera::store::StoreError> {
//! use tessera::session::codec::SessionCodec;
//! use tessera::signing::SecretKeys;
//! use tessera::store::postgres::PostgresStore;
//!
//! let codec = SessionCodec::new(&SecretKeys::new("the Django SECRET_KEY")).unwrap();
//! let store = PostgresStore::connect("postgres://app@db/app", codec).await?;
//! store.create_table().await?; // no-op when Django's migrate created it
//! # Ok(()) }
//! ```
//!
//! TLS: [`connect`](PostgresStore::connect) speaks plain TCP or a Unix socket; for TLS, build a
//! `deadpool_postgres::Pool` with your connector and use [`PostgresStore::from_pool`]. A
//! transaction-mode pgbouncer is not supported (the store relies on prepared statements).
//! A table in another schema is reached through the `search_path`, e.g. a URL ending in
//! `?options=-c%20search_path%3Dsessions`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::schema::django_index_name;
use super::{Loaded, Record, SaveOutcome, SessionStore, StoreError, Version};
use crate::session::codec::SessionCodec;
use crate::session::key::SessionKey;

/// Django's table name for the built-in session model.
pub const DEFAULT_TABLE: &str = "django_session";

/// PostgreSQL's identifier limit (`NAMEDATALEN - 1`), as Django's `max_name_length()`.
const MAX_NAME_LEN: usize = 63;
/// The pool size [`PostgresStore::connect`] uses.
const POOL_SIZE: usize = 16;
/// How long to wait for a new connection or a free pooled one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The statements for one table name, built once.
#[derive(Debug)]
struct Sql {
    table: String,
    load: String,
    create: String,
    save: String,
    exists: String,
    delete: String,
    clear: String,
    ddl: Vec<String>,
}

impl Sql {
    fn new(table: &str) -> Sql {
        let t = format!("\"{table}\"");
        let like = django_index_name(table, "session_key", "_like", MAX_NAME_LEN);
        let expire = django_index_name(table, "expire_date", "", MAX_NAME_LEN);
        Sql {
            table: table.to_owned(),
            load: format!(
                "SELECT \"session_data\" FROM {t} WHERE \"session_key\" = $1 AND \"expire_date\" > $2"
            ),
            create: format!(
                "INSERT INTO {t} (\"session_key\", \"session_data\", \"expire_date\") VALUES ($1, $2, $3)"
            ),
            save: format!(
                "UPDATE {t} SET \"session_data\" = $1, \"expire_date\" = $2 \
                 WHERE \"session_key\" = $3 AND \"session_data\" = $4"
            ),
            exists: format!("SELECT 1 FROM {t} WHERE \"session_key\" = $1"),
            delete: format!("DELETE FROM {t} WHERE \"session_key\" = $1"),
            clear: format!(
                "DELETE FROM {t} WHERE \"session_key\" IN \
                 (SELECT \"session_key\" FROM {t} WHERE \"expire_date\" < $1 LIMIT $2)"
            ),
            // Verbatim the output of Django's schema editor for `sessions.0001_initial`.
            ddl: vec![
                format!(
                    "CREATE TABLE {t} (\"session_key\" varchar(40) NOT NULL PRIMARY KEY, \
                     \"session_data\" text NOT NULL, \"expire_date\" timestamp with time zone NOT NULL);"
                ),
                format!("CREATE INDEX \"{like}\" ON {t} (\"session_key\" varchar_pattern_ops);"),
                format!("CREATE INDEX \"{expire}\" ON {t} (\"expire_date\");"),
            ],
        }
    }
}

/// Sessions in a PostgreSQL table laid out as Django's `django_session`. Cheap to clone
/// (clones share the pool).
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    codec: SessionCodec,
    sql: Arc<Sql>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool's config: it holds the connection password.
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("table", &self.sql.table)
            .field("pool_size", &status.size)
            .field("pool_max_size", &status.max_size)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db?…` or a `key=value` string),
    /// with a pool of up to 16 connections, 3-second connect timeouts (unless the URL sets
    /// `connect_timeout`) and verified reuse, and checks that the server answers.
    ///
    /// The table is [`DEFAULT_TABLE`]; see [`table`](Self::table).
    pub async fn connect(url: &str, codec: SessionCodec) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {}", describe(&e))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // Fast: a connection the server closed is already marked closed and is
                // replaced; Verified would add an empty round trip to every checkout.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Config(format!("PostgreSQL pool: {e}")))?;
        let store = Self::from_pool(pool, codec);
        drop(store.client("connect").await?);
        Ok(store)
    }

    /// A store over a pool you built (for TLS, another size, other timeouts). Nothing is
    /// checked until the first call.
    pub fn from_pool(pool: Pool, codec: SessionCodec) -> Self {
        PostgresStore {
            pool,
            codec,
            sql: Arc::new(Sql::new(DEFAULT_TABLE)),
        }
    }

    /// Uses table `name` instead of `django_session` (as a custom Django session model's
    /// `db_table`): 1 to 63 ASCII letters, digits or underscores. Index names are derived as
    /// Django derives them, so [`create_table`](Self::create_table) matches that model's
    /// migration.
    pub fn table(mut self, name: &str) -> Result<Self, StoreError> {
        validate_table_name(name, MAX_NAME_LEN)?;
        self.sql = Arc::new(Sql::new(name));
        Ok(self)
    }

    /// The table this store reads and writes.
    pub fn table_name(&self) -> &str {
        &self.sql.table
    }

    /// The statements [`create_table`](Self::create_table) runs, exactly as Django's
    /// `sqlmigrate sessions 0001` prints them (without `BEGIN`/`COMMIT`), for review or for a
    /// DBA to run by hand.
    pub fn create_table_sql(&self) -> Vec<String> {
        self.sql.ddl.clone()
    }

    /// Creates the table and its indexes as Django's migration does, unless a table of that
    /// name is already visible on the `search_path` (made by Django or an earlier run). One
    /// transaction, serialized by an advisory lock so concurrent callers cannot collide.
    /// Returns whether it created the table.
    ///
    /// Afterwards run Django's `migrate sessions --fake-initial`, which sees the table and
    /// marks the migration applied.
    pub async fn create_table(&self) -> Result<bool, StoreError> {
        const OP: &str = "create_table";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|e| pg_err(OP, &e))?;
        let lock = format!("tessera.create_table:{}", self.sql.table);
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock])
            .await
            .map_err(|e| pg_err(OP, &e))?;
        let quoted = format!("\"{}\"", self.sql.table);
        let exists: bool = tx
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quoted])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| pg_err(OP, &e))?;
        if !exists {
            for statement in &self.sql.ddl {
                tx.batch_execute(statement)
                    .await
                    .map_err(|e| pg_err(OP, &e))?;
            }
        }
        tx.commit().await.map_err(|e| pg_err(OP, &e))?;
        Ok(!exists)
    }

    /// A pooled connection.
    async fn client(&self, op: &str) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| pool_err(op, e))
    }

    /// 0 rows updated: was the record changed by someone else, or deleted?
    async fn conflict_or_gone(
        &self,
        client: &Object,
        key: &SessionKey,
    ) -> Result<SaveOutcome, StoreError> {
        const OP: &str = "save";
        let stmt = client
            .prepare_cached(&self.sql.exists)
            .await
            .map_err(|e| pg_err(OP, &e))?;
        let row = client
            .query_opt(&stmt, &[&key.as_str()])
            .await
            .map_err(|e| pg_err(OP, &e))?;
        Ok(if row.is_some() {
            SaveOutcome::Conflict
        } else {
            SaveOutcome::Gone
        })
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.create_table().await.map(drop)
    }

    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        const OP: &str = "load";
        let client = self.client(OP).await?;
        let stmt = client
            .prepare_cached(&self.sql.load)
            .await
            .map_err(|e| pg_err(OP, &e))?;
        let row = client
            .query_opt(&stmt, &[&key.as_str(), &instant(now)])
            .await
            .map_err(|e| pg_err(OP, &e))?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get(0).map_err(|e| pg_err(OP, &e))?;
        let decoded = self.codec.decode(&text);
        Ok(Some(Loaded {
            data: decoded.data,
            version: Version::Text(text.into()),
        }))
    }

    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        const OP: &str = "create";
        let text = self.codec.encode(record.data);
        let client = self.client(OP).await?;
        let stmt = client
            .prepare_cached(&self.sql.create)
            .await
            .map_err(|e| pg_err(OP, &e))?;
        match client
            .execute(&stmt, &[&key.as_str(), &text, &instant(record.expires_at)])
            .await
        {
            Ok(_) => Ok(Version::Text(text.into())),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::DuplicateKey)
            }
            Err(e) => Err(pg_err(OP, &e)),
        }
    }

    async fn save(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        const OP: &str = "save";
        let client = self.client(OP).await?;
        // A version this store never issued matches no row.
        let Version::Text(expected) = expected else {
            return self.conflict_or_gone(&client, key).await;
        };
        let text = self.codec.encode(record.data);
        let stmt = client
            .prepare_cached(&self.sql.save)
            .await
            .map_err(|e| pg_err(OP, &e))?;
        let updated = client
            .execute(
                &stmt,
                &[
                    &text,
                    &instant(record.expires_at),
                    &key.as_str(),
                    &&**expected,
                ],
            )
            .await
            .map_err(|e| pg_err(OP, &e))?;
        if updated > 0 {
            return Ok(SaveOutcome::Saved(Version::Text(text.into())));
        }
        self.conflict_or_gone(&client, key).await
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        const OP: &str = "delete";
        let client = self.client(OP).await?;
        let stmt = client
            .prepare_cached(&self.sql.delete)
            .await
            .map_err(|e| pg_err(OP, &e))?;
        client
            .execute(&stmt, &[&key.as_str()])
            .await
            .map_err(|e| pg_err(OP, &e))?;
        Ok(())
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        const OP: &str = "exists";
        let client = self.client(OP).await?;
        let stmt = client
            .prepare_cached(&self.sql.exists)
            .await
            .map_err(|e| pg_err(OP, &e))?;
        let row = client
            .query_opt(&stmt, &[&key.as_str()])
            .await
            .map_err(|e| pg_err(OP, &e))?;
        Ok(row.is_some())
    }

    async fn clear_expired(&self, now: f64, batch_size: usize) -> Result<u64, StoreError> {
        self.clear_expired_with_progress(now, batch_size, &|_| {})
            .await
    }

    async fn clear_expired_with_progress(
        &self,
        now: f64,
        batch_size: usize,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, StoreError> {
        const OP: &str = "clear_expired";
        let batch = i64::try_from(batch_size.max(1)).unwrap_or(i64::MAX);
        let now = instant(now);
        let client = self.client(OP).await?;
        let stmt = client
            .prepare_cached(&self.sql.clear)
            .await
            .map_err(|e| pg_err(OP, &e))?;
        let mut total = 0u64;
        loop {
            // Each batch is its own statement (and transaction), so no lock is held long.
            let removed = client
                .execute(&stmt, &[&now, &batch])
                .await
                .map_err(|e| pg_err(OP, &e))?;
            total += removed;
            progress(total);
            if removed < batch as u64 {
                return Ok(total);
            }
        }
    }
}

/// Rejects names that would need escaping, so the SQL can quote them plainly.
fn validate_table_name(name: &str, max: usize) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "session table name must be 1 to {max} ASCII letters, digits or underscores"
        )))
    }
}

/// Unix seconds as a `timestamptz`, rounded to PostgreSQL's microsecond and clamped to the
/// years Python's `datetime` (hence Django) can read back: 0001 to 9999.
fn instant(unix: f64) -> SystemTime {
    const MIN: i64 = -62_135_596_800_000_000; // 0001-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
    let micros = (unix * 1e6).round();
    let micros = if micros.is_nan() {
        0
    } else {
        (micros as i64).clamp(MIN, MAX)
    };
    if micros >= 0 {
        UNIX_EPOCH + Duration::from_micros(micros as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs())
    }
}

/// The error's kind, or PostgreSQL's code and primary message: never `DETAIL`, which may
/// quote the values of a row (a session key).
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("PostgreSQL error {}: {}", db.code().code(), db.message());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn pg_err(op: &str, e: &tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("postgres {op}: {}", describe(e)))
}

fn pool_err(op: &str, e: PoolError) -> StoreError {
    let what = match &e {
        PoolError::Backend(e) => describe(e),
        other => other.to_string(),
    };
    StoreError::Unavailable(format!("postgres {op}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_are_djangos() {
        let n = |t: &str, c: &str, s: &str| django_index_name(t, c, s, MAX_NAME_LEN);
        assert_eq!(
            n("django_session", "expire_date", ""),
            "django_session_expire_date_a5c62663"
        );
        assert_eq!(
            n("django_session", "session_key", "_like"),
            "django_session_session_key_c0390e0f_like"
        );
        // Long names are shortened as Django shortens them (values from Django's algorithm).
        assert_eq!(
            n(&"a".repeat(63), "expire_date", ""),
            "aaaaaaaaaaaaaaaaaaaaaaaaaa_expire_date_045b053b"
        );
        assert_eq!(
            n(
                "_private_sessions_table_with_quite_a_long_name_here",
                "session_key",
                "_like"
            ),
            "D_private_sessions_table__session_key_8ef35030_lik"
        );
    }

    #[test]
    fn instants_round_to_the_microsecond_and_clamp() {
        let t = instant(1_700_000_000.25);
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_micros(1_700_000_000_250_000)
        );
        assert_eq!(
            instant(1e300).duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_micros(253_402_300_799_999_999)
        );
        assert!(instant(f64::NEG_INFINITY) < UNIX_EPOCH);
        assert_eq!(instant(f64::NAN), UNIX_EPOCH);
    }
}
