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
//! - **Pool.** Up to twice as many connections as the process has cores, at least 8
//!   (`pool_max_size=N` in the URL for another size), 3-second connect/wait timeouts, and a
//!   pooled connection the server closed is replaced on checkout, so the pool heals by itself
//!   after a server restart.
//! - **Abandoned calls.** A call whose future is dropped while a statement is in flight (the
//!   middleware's `store_timeout` fired, the request was cancelled) never hands its connection
//!   back: the connection is detached from the pool, a task asks the server to cancel the
//!   statement (PostgreSQL's cancel request, over a new connection to the same address) and
//!   then closes it. So no later call queues behind a statement stuck on a lock, and a write
//!   answered with a timeout is not committed later. What remains: a statement the server
//!   already finished when the cancel arrives stays done (its reply was merely lost), and the
//!   cancel is sent without TLS, so it fails (logged) on a server that requires TLS for every
//!   connection, where only the closing remains.
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
//! `deadpool_postgres::Pool` with your connector and use [`PostgresStore::from_pool`] (the
//! cancel of an abandoned call, above, still goes without TLS). A
//! transaction-mode pgbouncer is not supported (the store relies on prepared statements).
//! A table in another schema is reached through the `search_path`, e.g. a URL ending in
//! `?options=-c%20search_path%3Dsessions`.

/// The driver crates, so [`PostgresStore::from_pool`] needs no dependency of the app's own.
pub use {deadpool_postgres, tokio_postgres};

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
/// How long to wait for a new connection or a free pooled one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The URL parameter that sizes the pool (tessera's own, removed before tokio-postgres sees
/// the URL).
const POOL_MAX_SIZE: &str = "pool_max_size";

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
    /// with a pool of up to twice as many connections as this process has cores, at least 8
    /// (unless the URL sets `pool_max_size`, e.g.
    /// `?pool_max_size=4`: tessera's parameter, taken out before the rest goes to
    /// tokio-postgres), 3-second connect timeouts (unless the URL sets `connect_timeout`), and
    /// checks that the server answers.
    ///
    /// The table is [`DEFAULT_TABLE`]; see [`table`](Self::table).
    pub async fn connect(url: &str, codec: SessionCodec) -> Result<Self, StoreError> {
        let (url, pool_size) = take_pool_max_size(url)?;
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
            .max_size(pool_size.unwrap_or_else(super::default_pool_size))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Config(format!("PostgreSQL pool: {e}")))?;
        let store = Self::from_pool(pool, codec);
        store.lease("connect").await?.finish();
        Ok(store)
    }

    /// A store over a pool you built (for TLS, other timeouts or recycling; for another size
    /// alone, `pool_max_size` in [`connect`](Self::connect)'s URL is enough). Nothing is
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
        self.with_client(OP, async |client| {
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
        })
        .await
    }

    /// A pooled connection, leased for one call.
    async fn lease(&self, op: &str) -> Result<Lease, StoreError> {
        let client = self.pool.get().await.map_err(|e| pool_err(op, e))?;
        Ok(Lease(Some(client)))
    }

    /// Runs `call` on a leased connection and hands the connection back once `call` is done
    /// (whatever its result). Should this future be dropped before, the lease cancels the
    /// statement in flight and discards the connection (see [`Lease`]).
    async fn with_client<T>(
        &self,
        op: &str,
        call: impl AsyncFnOnce(&mut Object) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut lease = self.lease(op).await?;
        let result = call(lease.client()).await;
        lease.finish();
        result
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
        let row = self
            .with_client(OP, async |client| {
                let stmt = client
                    .prepare_cached(&self.sql.load)
                    .await
                    .map_err(|e| pg_err(OP, &e))?;
                client
                    .query_opt(&stmt, &[&key.as_str(), &instant(now)])
                    .await
                    .map_err(|e| pg_err(OP, &e))
            })
            .await?;
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
        self.with_client(OP, async |client| {
            let stmt = client
                .prepare_cached(&self.sql.create)
                .await
                .map_err(|e| pg_err(OP, &e))?;
            client
                .execute(&stmt, &[&key.as_str(), &text, &instant(record.expires_at)])
                .await
                .map_err(|e| match e.code() {
                    Some(&SqlState::UNIQUE_VIOLATION) => StoreError::DuplicateKey,
                    _ => pg_err(OP, &e),
                })
        })
        .await?;
        Ok(Version::Text(text.into()))
    }

    async fn save(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        const OP: &str = "save";
        let text = self.codec.encode(record.data);
        self.with_client(OP, async |client| {
            // A version this store never issued matches no row.
            let Version::Text(expected) = expected else {
                return self.conflict_or_gone(client, key).await;
            };
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
            self.conflict_or_gone(client, key).await
        })
        .await
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        const OP: &str = "delete";
        self.with_client(OP, async |client| {
            let stmt = client
                .prepare_cached(&self.sql.delete)
                .await
                .map_err(|e| pg_err(OP, &e))?;
            client
                .execute(&stmt, &[&key.as_str()])
                .await
                .map_err(|e| pg_err(OP, &e))?;
            Ok(())
        })
        .await
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        const OP: &str = "exists";
        self.with_client(OP, async |client| {
            let stmt = client
                .prepare_cached(&self.sql.exists)
                .await
                .map_err(|e| pg_err(OP, &e))?;
            let row = client
                .query_opt(&stmt, &[&key.as_str()])
                .await
                .map_err(|e| pg_err(OP, &e))?;
            Ok(row.is_some())
        })
        .await
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
        self.with_client(OP, async |client| {
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
        })
        .await
    }
}

/// A pooled connection checked out for one call.
///
/// [`finish`](Lease::finish) hands it back to the pool. Dropped without that, the call was
/// abandoned mid-flight (its future was dropped, typically by the middleware's timeout), and
/// its statement may still be running or queued on the server: the connection is detached
/// from the pool, so no other call queues behind it, and a task sends PostgreSQL a cancel
/// request for it and then closes it, so the statement neither runs on nor commits later.
struct Lease(Option<Object>);

impl Lease {
    fn client(&mut self) -> &mut Object {
        self.0
            .as_mut()
            .expect("a lease holds its connection until finished")
    }

    /// The call is over: back to the pool.
    fn finish(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(client) = self.0.take() else { return };
        // Never back to the pool; the pool may open a replacement at once.
        let client = Object::take(client);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to cancel from: closing the connection is all that is left.
            return;
        };
        tracing::debug!(target: "tessera::store::postgres", "cancelling an abandoned statement");
        let cancel = client.cancel_token();
        runtime.spawn(async move {
            match tokio::time::timeout(CONNECT_TIMEOUT, cancel.cancel_query(NoTls)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(
                    target: "tessera::store::postgres",
                    "cannot cancel an abandoned statement: {}",
                    describe(&e)
                ),
                Err(_) => tracing::warn!(
                    target: "tessera::store::postgres",
                    "cannot cancel an abandoned statement: no answer within {CONNECT_TIMEOUT:?}"
                ),
            }
            // Closes the connection (and stops its task).
            drop(client);
        });
    }
}

/// Splits tessera's `pool_max_size` parameter off a connection string: from the query of a
/// `postgres://` / `postgresql://` URL, or from the `key=value` pairs of the other form.
/// Returns the string tokio-postgres should parse and the size, if given (the last one wins).
fn take_pool_max_size(url: &str) -> Result<(String, Option<usize>), StoreError> {
    let parse = |value: &str| match value.trim().trim_matches('\'').parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(StoreError::Config(format!(
            "invalid PostgreSQL URL: {POOL_MAX_SIZE} must be a positive integer"
        ))),
    };
    let mut size = None;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), None));
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some((POOL_MAX_SIZE, value)) => size = Some(parse(value)?),
                _ if pair == POOL_MAX_SIZE => size = Some(parse("")?),
                _ => kept.push(pair),
            }
        }
        let url = if size.is_none() {
            url.to_owned()
        } else if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((url, size));
    }
    // `key = value` pairs separated by whitespace; a value may be single-quoted, with `\`
    // escapes (libpq's rules), so a quoted value is never split or mistaken for a key.
    let mut out = String::with_capacity(url.len());
    for (pair, key, value) in keyword_pairs(url) {
        if key == POOL_MAX_SIZE {
            size = Some(parse(value)?);
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(pair);
        }
    }
    Ok((if size.is_some() { out } else { url.to_owned() }, size))
}

/// The `key=value` pairs of a libpq keyword/value string: each pair's text as written, its key
/// and its raw value. A malformed remainder is kept as one pair for tokio-postgres to reject.
fn keyword_pairs(s: &str) -> Vec<(&str, &str, &str)> {
    let bytes = s.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if i >= bytes.len() {
            return pairs;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &s[start..i];
        i = skip_space(i);
        if i >= bytes.len() || bytes[i] != b'=' {
            pairs.push((&s[start..], key, ""));
            return pairs;
        }
        i = skip_space(i + 1);
        let value_start = i;
        if i < bytes.len() && bytes[i] == b'\'' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'\'' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = i.min(bytes.len());
        }
        pairs.push((&s[start..i], key, &s[value_start..i]));
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
    fn pool_max_size_is_taken_out_of_the_url() {
        let take = |url: &str| take_pool_max_size(url).unwrap();
        assert_eq!(
            take("postgres://u@h/db"),
            ("postgres://u@h/db".to_owned(), None)
        );
        assert_eq!(
            take("postgres://u@h/db?pool_max_size=2"),
            ("postgres://u@h/db".to_owned(), Some(2))
        );
        assert_eq!(
            take("postgresql://u@h/db?connect_timeout=5&pool_max_size=40&application_name=x"),
            (
                "postgresql://u@h/db?connect_timeout=5&application_name=x".to_owned(),
                Some(40)
            )
        );
        assert_eq!(
            take("host=h user=u pool_max_size = 3 dbname=d"),
            ("host=h user=u dbname=d".to_owned(), Some(3))
        );
        // A quoted value is one value, even when it looks like the parameter.
        assert_eq!(
            take(r"host=h password='a pool_max_size=9 \' b' pool_max_size=4"),
            (
                r"host=h password='a pool_max_size=9 \' b'".to_owned(),
                Some(4)
            )
        );
        assert_eq!(take("host=h"), ("host=h".to_owned(), None));
        for bad in [
            "postgres://h/db?pool_max_size=0",
            "postgres://h/db?pool_max_size=x",
            "postgres://h/db?pool_max_size",
            "host=h pool_max_size=-1",
        ] {
            assert!(
                matches!(take_pool_max_size(bad), Err(StoreError::Config(_))),
                "{bad}"
            );
        }
        // What is left still parses.
        let (url, _) = take("postgres://u@h/db?pool_max_size=2");
        assert!(url.parse::<tokio_postgres::Config>().is_ok());
        let (kv, _) = take("host=h user=u pool_max_size=3");
        assert!(kv.parse::<tokio_postgres::Config>().is_ok());
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
