//! A PostgreSQL store over Django's own `django_session` table, so tessera and a running
//! Django app can share sessions.
//!
//! - **Schema.** [`PostgresStore::create_table`] runs exactly the statements of Django's
//!   migration `sessions.0001_initial` (`timestamp with time zone`, the `_like`
//!   `varchar_pattern_ops` index and `django_session_expire_date_a5c62663`), and nothing when
//!   the table already exists, so it is harmless after Django's `migrate`. The other way round,
//!   it records `sessions.0001_initial` as applied in Django's `django_migrations` (created as
//!   Django creates it when missing), so a plain `manage.py migrate` afterwards skips the
//!   migration (it used to fail with "relation already exists").
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
//!   after a server restart. A read that drew such a connection before it was known to be
//!   closed runs again on another; a write answers with the error instead, since the server
//!   may have run it before the connection died.
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
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

use super::sql::{self, Dialect, SideTable, Statements};
use super::url::StoreUrl;
use super::user_index::{listing, user_id_of};
use super::{
    Loaded, Record, SaveOrReload, SaveOutcome, SessionStore, StoreError, UserSession, Version,
};
use crate::session::codec::SessionCodec;
use crate::session::key::SessionKey;

pub use super::sql::DEFAULT_TABLE;

/// How long to wait for a new connection or a free pooled one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The URL parameter that names the table (tessera's own, removed before tokio-postgres sees
/// the URL).
const TABLE: &str = "table";
/// The URL parameter that sizes the pool (tessera's own, likewise).
const POOL_MAX_SIZE: &str = "pool_max_size";
/// Every query parameter a `postgres://` URL takes: tessera's, then tokio-postgres's.
const URL_PARAMS: [&str; 21] = [
    TABLE,
    POOL_MAX_SIZE,
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslmode",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];
/// The query parameters tokio-postgres 0.7 reads from a URL (its `Config` docs), passed to it
/// as written.
pub const DRIVER_PARAMS: &[&str] = URL_PARAMS.split_at(2).1;

/// A text parameter that prints as `<redacted>`: tokio-postgres logs every statement's
/// parameters at `debug`, and session keys and data must never reach a log.
#[derive(Clone, Copy)]
struct Redacted<'a>(&'a str);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl tokio_postgres::types::ToSql for Redacted<'_> {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <&str as tokio_postgres::types::ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Sessions in a PostgreSQL table laid out as Django's `django_session`. Cheap to clone
/// (clones share the pool).
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    codec: SessionCodec,
    sql: Arc<Statements>,
    users: Arc<IndexedWrites>,
    /// Whether the per-user side table is there to write.
    side: Arc<SideTable>,
}

/// The writes that keep the per-user index, each one statement: data-modifying CTEs, where the
/// index change reads the session change's `RETURNING`, so it happens only when that one did,
/// in the same transaction, and always locks the session row before the index row (the same
/// order everywhere, so a revoke and a save never deadlock).
#[derive(Debug)]
struct IndexedWrites {
    /// Insert and index: key, data, expiry, user, now (seconds).
    create: String,
    /// Swap and index: data, expiry, key, expected data, user, now → rows swapped.
    save: String,
    /// Swap and unindex (a record without a user): data, expiry, key, expected → rows swapped.
    save_anonymous: String,
    /// Delete and unindex: key.
    delete: String,
    /// Delete a user's sessions but one, and their entries: user, kept key → rows deleted.
    revoke: String,
}

impl IndexedWrites {
    fn new(sql: &Statements) -> IndexedWrites {
        let t = format!("\"{}\"", sql.table);
        let i = format!("\"{}\"", sql.users.table);
        let columns = "session_key, user_id, created_at, last_seen, expire_date";
        let swap = format!(
            "UPDATE {t} SET session_data = $1, expire_date = $2 \
             WHERE session_key = $3 AND session_data = $4 RETURNING session_key"
        );
        IndexedWrites {
            create: format!(
                "WITH s AS (INSERT INTO {t} (session_key, session_data, expire_date) \
                 VALUES ($1, $2, $3) RETURNING session_key) \
                 INSERT INTO {i} ({columns}) SELECT session_key, $4, $5, $5, $3 FROM s \
                 ON CONFLICT (session_key) DO UPDATE SET user_id = excluded.user_id, \
                 created_at = excluded.created_at, last_seen = excluded.last_seen, \
                 expire_date = excluded.expire_date"
            ),
            save: format!(
                "WITH s AS ({swap}), x AS (INSERT INTO {i} ({columns}) \
                 SELECT session_key, $5, $6, $6, $2 FROM s ON CONFLICT (session_key) DO UPDATE \
                 SET created_at = CASE WHEN {i}.user_id = excluded.user_id \
                 THEN {i}.created_at ELSE excluded.created_at END, \
                 user_id = excluded.user_id, last_seen = excluded.last_seen, \
                 expire_date = excluded.expire_date) SELECT count(*) FROM s"
            ),
            save_anonymous: format!(
                "WITH s AS ({swap}), x AS (DELETE FROM {i} WHERE session_key IN \
                 (SELECT session_key FROM s)) SELECT count(*) FROM s"
            ),
            delete: format!(
                "WITH s AS (DELETE FROM {t} WHERE session_key = $1 RETURNING session_key) \
                 DELETE FROM {i} WHERE session_key IN (SELECT session_key FROM s)"
            ),
            revoke: format!(
                "WITH s AS (DELETE FROM {t} WHERE session_key IN (SELECT session_key FROM {i} \
                 WHERE user_id = $1 AND session_key <> $2) RETURNING session_key), \
                 x AS (DELETE FROM {i} WHERE session_key IN (SELECT session_key FROM s)) \
                 SELECT count(*) FROM s"
            ),
        }
    }
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

/// Options for [`PostgresStore`]; start from [`PostgresStore::builder`].
#[derive(Debug, Clone)]
pub struct PostgresStoreBuilder {
    codec: SessionCodec,
    table: Option<String>,
}

impl PostgresStoreBuilder {
    /// The table (default [`DEFAULT_TABLE`]): a custom Django session model's `db_table`,
    /// under [`sql::check_table_name`]'s rule; overrides a `table=` in the URL. Index names
    /// are derived as Django derives them, so [`create_table`](PostgresStore::create_table)
    /// matches that model's migration.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = Some(name.into());
        self
    }

    /// Connects to `url` (see [`PostgresStore::connect`]).
    pub async fn connect(self, url: &str) -> Result<PostgresStore, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return self.connect_split(split_url(StoreUrl::parse(url)?)?).await;
        }
        // libpq's `key=value` form: tokio-postgres rejects unknown keys itself.
        let (config, pool_size) = take_keyword(url, POOL_MAX_SIZE);
        let pool_size = pool_size.as_deref().map(parse_pool_size).transpose()?;
        let (config, table) = take_keyword(&config, TABLE);
        let split = SplitUrl {
            driver_url: config,
            pool_size,
            table,
        };
        self.connect_split(split).await
    }

    async fn connect_split(self, url: SplitUrl) -> Result<PostgresStore, StoreError> {
        let table = self.table.or(url.table);
        let sql = Statements::new(Dialect::Postgres, table.as_deref().unwrap_or(DEFAULT_TABLE))?;
        let pool = pool(
            &url.driver_url,
            url.pool_size.unwrap_or_else(super::default_pool_size),
        )
        .map_err(StoreError::Config)?;
        let store = PostgresStore {
            pool,
            codec: self.codec,
            users: Arc::new(IndexedWrites::new(&sql)),
            sql: Arc::new(sql),
            side: Arc::default(),
        };
        store.lease("connect").await?.finish();
        store.ensure_side_table().await?;
        Ok(store)
    }

    /// A store over a pool you built (see [`PostgresStore::from_pool`]).
    pub fn from_pool(self, pool: Pool) -> Result<PostgresStore, StoreError> {
        let table = self.table.as_deref().unwrap_or(DEFAULT_TABLE);
        let sql = Statements::new(Dialect::Postgres, table)?;
        Ok(PostgresStore {
            pool,
            codec: self.codec,
            users: Arc::new(IndexedWrites::new(&sql)),
            sql: Arc::new(sql),
            side: Arc::default(),
        })
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host:port/db?…` or a `key=value` string),
    /// with a pool of up to twice as many connections as this process has cores, at least 8
    /// (unless the URL sets `pool_max_size`, e.g. `?pool_max_size=4`), 3-second connect
    /// timeouts (unless the URL sets `connect_timeout`), and checks that the server answers.
    ///
    /// The URL takes tessera's `table` and `pool_max_size` and tokio-postgres's own parameters
    /// ([`DRIVER_PARAMS`]); any other is a [`StoreError::Config`] naming it. The table is
    /// [`DEFAULT_TABLE`] unless `table=` (or [`PostgresStoreBuilder::table`]) names another.
    pub async fn connect(url: &str, codec: SessionCodec) -> Result<Self, StoreError> {
        Self::builder(codec).connect(url).await
    }

    /// [`connect`](Self::connect) for a URL split by [`store::url`](super::url).
    pub(crate) async fn from_url(
        url: StoreUrl<'_>,
        codec: SessionCodec,
    ) -> Result<Self, StoreError> {
        Self::builder(codec).connect_split(split_url(url)?).await
    }

    /// A builder, to name the table.
    pub fn builder(codec: SessionCodec) -> PostgresStoreBuilder {
        PostgresStoreBuilder { codec, table: None }
    }

    /// A store over a pool you built (for TLS, other timeouts or recycling; for another size
    /// alone, `pool_max_size` in [`connect`](Self::connect)'s URL is enough), on
    /// [`DEFAULT_TABLE`] (another: [`PostgresStoreBuilder::from_pool`]). Nothing is checked
    /// until the first call.
    pub fn from_pool(pool: Pool, codec: SessionCodec) -> Self {
        let sql = Statements::django(Dialect::Postgres);
        PostgresStore {
            pool,
            codec,
            users: Arc::new(IndexedWrites::new(&sql)),
            sql: Arc::new(sql),
            side: Arc::default(),
        }
    }

    /// The table this store reads and writes.
    pub fn table(&self) -> &str {
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
    /// The lock is taken before the transaction begins: a backend reads
    /// other sessions' catalog changes when a transaction starts, so a check made after
    /// waiting for the lock inside one could miss the table the lock holder just created.
    ///
    /// For `django_session`, `sessions.0001_initial` is recorded as applied in Django's
    /// `django_migrations` (made as Django makes it when missing), so Django's `migrate` skips
    /// it in whatever order the two run.
    pub async fn create_table(&self) -> Result<bool, StoreError> {
        const OP: &str = "create_table";
        let lock = format!("tessera.create_table:{}", self.sql.table);
        self.with_client(OP, async |client| {
            with_ddl_lock(client, &lock, async |client| {
                self.create_table_locked(client).await
            })
            .await
            .map_err(|e| pg_err(OP, &e))?
        })
        .await
    }

    /// [`PostgresStore::create_table`]'s transaction, under the lock.
    async fn create_table_locked(
        &self,
        client: &mut Object,
    ) -> Result<Result<bool, StoreError>, tokio_postgres::Error> {
        const OP: &str = "create_table";
        Ok(async {
            let tx = client.transaction().await.map_err(|e| pg_err(OP, &e))?;
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
            // tessera's own per-user index, beside the table whoever made it.
            for statement in &self.sql.users.ddl {
                tx.batch_execute(statement)
                    .await
                    .map_err(|e| pg_err(OP, &e))?;
            }
            for statement in &self.sql.record_migration {
                tx.batch_execute(statement)
                    .await
                    .map_err(|e| pg_err(OP, &e))?;
            }
            tx.commit().await.map_err(|e| pg_err(OP, &e))?;
            self.side.set_ready();
            if !exists {
                tracing::info!(
                    target: "tessera::store",
                    "created the {} table as Django's migration sessions.0001_initial does",
                    self.sql.table
                );
            }
            Ok(!exists)
        }
        .await)
    }

    /// Whether writes keep the per-user index: the side table is there (checked, and made if
    /// missing, on the first call of a store over a caller's pool).
    async fn indexed(&self) -> Result<bool, StoreError> {
        match self.side.known() {
            Some(ready) => Ok(ready),
            None => self.ensure_side_table().await,
        }
    }

    /// The index methods' guard: [`SideTable::missing`] when there is no side table.
    async fn require_index(&self) -> Result<(), StoreError> {
        if self.indexed().await? {
            Ok(())
        } else {
            Err(SideTable::missing(&self.sql.users.table))
        }
    }

    /// Creates the side table and its indexes when missing (as SQLite does on open), so a
    /// deployment whose session table Django made needs no tessera migration. When the session
    /// table is missing or the user may not create tables, the store runs without the index
    /// (one warning) rather than failing every write of a logged-in session.
    async fn ensure_side_table(&self) -> Result<bool, StoreError> {
        const OP: &str = "connect";
        let side = &self.sql.users.table;
        let outcome = self
            .with_client(OP, async |client| {
                let (session_table, side_table) =
                    (format!("\"{}\"", self.sql.table), format!("\"{side}\""));
                let (has_sessions, has_side): (bool, bool) = client
                    .query_one(
                        "SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL",
                        &[&session_table, &side_table],
                    )
                    .await
                    .and_then(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .map_err(|e| pg_err(OP, &e))?;
                if !has_sessions {
                    return Ok(Err(format!(
                        "the session table {} does not exist",
                        self.sql.table
                    )));
                }
                if has_side {
                    // Made by a migration under another user: this one must be able to write it.
                    let writable: bool = client
                        .query_one(WRITABLE, &[&side_table])
                        .await
                        .and_then(|row| row.try_get(0))
                        .map_err(|e| pg_err(OP, &e))?;
                    return Ok(if writable {
                        Ok(())
                    } else {
                        Err(format!("no SELECT, INSERT, UPDATE and DELETE on {side}"))
                    });
                }
                let lock = format!("tessera.create_table:{}", self.sql.table);
                let created = with_ddl_lock(client, &lock, async |client| {
                    let tx = client.transaction().await?;
                    for statement in &self.sql.users.ddl {
                        tx.batch_execute(statement).await?;
                    }
                    tx.commit().await
                });
                match created.await {
                    Ok(()) => Ok(Ok(())),
                    // The server refused (no privilege…): run without the index.
                    Err(e) if e.as_db_error().is_some() => Ok(Err(describe(&e))),
                    Err(e) => Err(pg_err(OP, &e)),
                }
            })
            .await?;
        match outcome {
            Ok(()) => {
                self.side.set_ready();
                Ok(true)
            }
            Err(why) => {
                self.side.set_missing(side, &why);
                Ok(false)
            }
        }
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

    /// How many times a read may run again after drawing a connection the server had closed.
    ///
    /// A pooled connection the server has ended (a restart, `pg_terminate_backend`, an idle
    /// timeout) is only marked closed once its connection task has read the end, which can
    /// come after the pool hands it out; a read on it fails without reaching the server.
    /// Running the read again is safe because it writes nothing, and bounded: the pool holds
    /// at most its size of such connections, each is discarded on its next checkout, and a
    /// server that is really down fails the checkout itself. A write is never run again: its
    /// connection may have died after the server ran it, so it answers with the error.
    fn read_retries(&self) -> usize {
        self.pool.status().max_size
    }

    /// Hands back the lease of a read that gave `result`: `None` when the read failed on a
    /// connection that turned out closed and `retries` allow another go (one is used up).
    async fn settle_read<T>(
        op: &str,
        mut lease: Lease,
        result: Result<T, StoreError>,
        retries: &mut usize,
    ) -> Option<Result<T, StoreError>> {
        let dead = result.is_err() && connection_is_dead(lease.client()).await;
        lease.finish();
        if !dead || *retries == 0 {
            return Some(result);
        }
        *retries -= 1;
        tracing::debug!(
            target: "tessera::store::postgres",
            op,
            "a pooled connection was closed by the server; reading on another"
        );
        None
    }

    /// The compare-and-swap alone, for a store running without its side table: whether a
    /// row was updated.
    async fn swap_unindexed(
        &self,
        client: &Object,
        key: &SessionKey,
        text: &str,
        record: Record<'_>,
        expected: &str,
    ) -> Result<bool, StoreError> {
        const OP: &str = "save";
        let stmt = prepared(client, OP, &self.sql.save).await?;
        let params: [&(dyn ToSql + Sync); 4] = [
            &Redacted(text),
            &instant(record.expires_at),
            &Redacted(key.as_str()),
            &Redacted(expected),
        ];
        let updated = client
            .execute(&stmt, &params)
            .await
            .map_err(|e| pg_err(OP, &e))?;
        Ok(updated > 0)
    }

    /// The compare-and-swap of `save`, keeping the per-user index when `indexed`: whether
    /// the row was still at `expected` and now holds `text`.
    async fn swap(
        &self,
        client: &Object,
        key: &SessionKey,
        text: &str,
        record: Record<'_>,
        expected: &Version,
        indexed: bool,
    ) -> Result<bool, StoreError> {
        const OP: &str = "save";
        // A version this store never issued matches no row.
        let Version::Text(expected) = expected else {
            return Ok(false);
        };
        if !indexed {
            return self
                .swap_unindexed(client, key, text, record, expected)
                .await;
        }
        let user = user_id_of(record.data);
        let statement = match user {
            Some(_) => &self.users.save,
            None => &self.users.save_anonymous,
        };
        let stmt = prepared(client, OP, statement).await?;
        let (data, expire, key_param, expected) = (
            Redacted(text),
            instant(record.expires_at),
            Redacted(key.as_str()),
            Redacted(expected),
        );
        let row = match &user {
            Some(user) => {
                let params: [&(dyn ToSql + Sync); 6] =
                    [&data, &expire, &key_param, &expected, user, &record.now];
                client.query_one(&stmt, &params).await
            }
            None => {
                client
                    .query_one(&stmt, &[&data, &expire, &key_param, &expected])
                    .await
            }
        };
        let updated: i64 = row
            .and_then(|row| row.try_get(0))
            .map_err(|e| pg_err(OP, &e))?;
        Ok(updated > 0)
    }

    /// The text of the live record under `key` at `now`, read on `client` (decoded once the
    /// connection is back in the pool: see [`Self::loaded`]).
    async fn fetch_live(
        &self,
        client: &Object,
        op: &str,
        key: &SessionKey,
        now: f64,
    ) -> Result<Option<String>, StoreError> {
        let stmt = prepared(client, op, &self.sql.load).await?;
        let row = client
            .query_opt(&stmt, &[&Redacted(key.as_str()), &instant(now)])
            .await
            .map_err(|e| pg_err(op, &e))?;
        row.map(|row| row.try_get(0).map_err(|e| pg_err(op, &e)))
            .transpose()
    }

    /// Whether a row, live or expired, is under `key`, read on `client`.
    async fn fetch_exists(
        &self,
        client: &Object,
        op: &str,
        key: &SessionKey,
    ) -> Result<bool, StoreError> {
        let stmt = prepared(client, op, &self.sql.exists).await?;
        let row = client
            .query_opt(&stmt, &[&Redacted(key.as_str())])
            .await
            .map_err(|e| pg_err(op, &e))?;
        Ok(row.is_some())
    }

    /// The record a loaded text holds. An unreadable record is no session: it is never
    /// overwritten.
    fn loaded(&self, text: String) -> Option<Loaded> {
        self.codec.decode_record(&text).map(|data| Loaded {
            data,
            version: Version::Text(text.into()),
        })
    }

    /// 0 rows updated: was the record changed by someone else, or deleted?
    async fn conflict_or_gone(
        &self,
        client: &Object,
        key: &SessionKey,
    ) -> Result<SaveOutcome, StoreError> {
        Ok(if self.fetch_exists(client, "save", key).await? {
            SaveOutcome::Conflict
        } else {
            SaveOutcome::Gone
        })
    }
}

/// A pool for a tokio-postgres URL, as every PostgreSQL client of tessera makes it (the store,
/// and `auth::sql_users`): connect, checkout and recycle bounded by [`CONNECT_TIMEOUT`] unless
/// the URL sets its own connect timeout. `Err` says what is wrong with the URL.
pub(crate) fn pool(driver_url: &str, size: usize) -> Result<Pool, String> {
    let mut config: tokio_postgres::Config = driver_url
        .parse()
        .map_err(|e| format!("invalid PostgreSQL URL: {}", describe(&e)))?;
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
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| format!("PostgreSQL pool: {e}"))
}

/// Whether `client`'s connection is over, asked after a call on it failed. The server's
/// last words on a connection it ends (`57P01`, "terminating connection") reach the call
/// before the connection task has read the end, so the client may not know yet; an empty
/// query then settles it, at one round trip on a failure path only.
async fn connection_is_dead(client: &Object) -> bool {
    client.is_closed() || client.simple_query("").await.is_err()
}

/// Runs `work` holding the session-level advisory lock `name`, taken before `work` begins its
/// transaction (so that transaction sees every catalog change the previous holder committed)
/// and released after it, whatever `work` returned. If the future is dropped meanwhile, the
/// lease discards the connection, which releases the lock.
async fn with_ddl_lock<T>(
    client: &mut Object,
    name: &str,
    work: impl AsyncFnOnce(&mut Object) -> Result<T, tokio_postgres::Error>,
) -> Result<T, tokio_postgres::Error> {
    client
        .execute("SELECT pg_advisory_lock(hashtext($1))", &[&name])
        .await?;
    let result = work(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&name])
        .await;
    let value = result?;
    unlocked?;
    Ok(value)
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.create_table().await.map(drop)
    }

    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        const OP: &str = "load";
        let mut retries = self.read_retries();
        let text = loop {
            let mut lease = self.lease(OP).await?;
            let result = self.fetch_live(lease.client(), OP, key, now).await;
            if let Some(result) = Self::settle_read(OP, lease, result, &mut retries).await {
                break result?;
            }
        };
        Ok(text.and_then(|text| self.loaded(text)))
    }

    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        const OP: &str = "create";
        let text = self.codec.encode(record.data);
        let user = match user_id_of(record.data) {
            Some(user) if self.indexed().await? => Some(user),
            _ => None,
        };
        self.with_client(OP, async |client| {
            let statement = match user {
                Some(_) => &self.users.create,
                None => &self.sql.create,
            };
            let stmt = prepared(client, OP, statement).await?;
            let (key, text, expire) = (
                Redacted(key.as_str()),
                Redacted(&text),
                instant(record.expires_at),
            );
            let result = match &user {
                Some(user) => {
                    client
                        .execute(&stmt, &[&key, &text, &expire, user, &record.now])
                        .await
                }
                None => client.execute(&stmt, &[&key, &text, &expire]).await,
            };
            result.map_err(|e| match e.code() {
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
        let indexed = self.indexed().await?;
        self.with_client(OP, async |client| {
            if self
                .swap(client, key, &text, record, expected, indexed)
                .await?
            {
                return Ok(SaveOutcome::Saved(Version::Text(text.into())));
            }
            self.conflict_or_gone(client, key).await
        })
        .await
    }

    /// The swap and, when it loses, the reload on the same pooled connection: one lease.
    async fn save_or_reload(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOrReload, StoreError> {
        const OP: &str = "save";
        let text = self.codec.encode(record.data);
        let indexed = self.indexed().await?;
        // `None`: swapped. `Some(live)`: lost, and the live record's text, if there is one.
        let lost = self
            .with_client(OP, async |client| {
                if self
                    .swap(client, key, &text, record, expected, indexed)
                    .await?
                {
                    return Ok(None);
                }
                self.fetch_live(client, OP, key, record.now).await.map(Some)
            })
            .await?;
        Ok(match lost {
            None => SaveOrReload::Saved(Version::Text(text.into())),
            Some(live) => match live.and_then(|live| self.loaded(live)) {
                Some(fresh) => SaveOrReload::Changed(fresh),
                None => SaveOrReload::Gone,
            },
        })
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        const OP: &str = "delete";
        let statement = if self.indexed().await? {
            &self.users.delete
        } else {
            &self.sql.delete
        };
        self.with_client(OP, async |client| {
            let stmt = prepared(client, OP, statement).await?;
            client
                .execute(&stmt, &[&Redacted(key.as_str())])
                .await
                .map_err(|e| pg_err(OP, &e))?;
            Ok(())
        })
        .await
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        const OP: &str = "exists";
        let mut retries = self.read_retries();
        loop {
            let mut lease = self.lease(OP).await?;
            let result = self.fetch_exists(lease.client(), OP, key).await;
            if let Some(result) = Self::settle_read(OP, lease, result, &mut retries).await {
                return result;
            }
        }
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
        let now = instant(now);
        let indexed = self.indexed().await?;
        self.with_client(OP, async |client| {
            let stmt = prepared(client, OP, &self.sql.clear).await?;
            if !indexed {
                let (client, stmt, now) = (&**client, &stmt, &now);
                return sql::clear_in_batches(batch_size, progress, move |limit| async move {
                    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                    client
                        .execute(stmt, &[now, &limit])
                        .await
                        .map_err(|e| pg_err(OP, &e))
                })
                .await;
            }
            let index_stmt = prepared(client, OP, &self.sql.users.clear).await?;
            let (client, stmt, now) = (&**client, &stmt, &now);
            let removed = sql::clear_in_batches(batch_size, progress, move |limit| async move {
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                client
                    .execute(stmt, &[now, &limit])
                    .await
                    .map_err(|e| pg_err(OP, &e))
            })
            .await?;
            // Then the index entries of sessions that are gone or expired.
            let index_stmt = &index_stmt;
            sql::clear_in_batches(batch_size, &|_| {}, move |limit| async move {
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                client
                    .execute(index_stmt, &[now, now, &limit])
                    .await
                    .map_err(|e| pg_err(OP, &e))
            })
            .await?;
            Ok(removed)
        })
        .await
    }

    async fn user_sessions(&self, user_id: &str, now: f64) -> Result<Vec<UserSession>, StoreError> {
        const OP: &str = "user_sessions";
        self.require_index().await?;
        let now = instant(now);
        let rows = self
            .with_client(OP, async |client| {
                let prune = prepared(client, OP, &self.sql.users.prune).await?;
                client
                    .execute(&prune, &[&user_id, &now])
                    .await
                    .map_err(|e| pg_err(OP, &e))?;
                let list = prepared(client, OP, &self.sql.users.list).await?;
                client
                    .query(&list, &[&user_id, &now])
                    .await
                    .map_err(|e| pg_err(OP, &e))
            })
            .await?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                ))
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(|e| pg_err(OP, &e))?;
        Ok(listing(rows))
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        const OP: &str = "revoke_user_sessions";
        self.require_index().await?;
        let keep = keep.map_or("", |k| k.as_str());
        self.with_client(OP, async |client| {
            let stmt = prepared(client, OP, &self.users.revoke).await?;
            let removed: i64 = client
                .query_one(&stmt, &[&user_id, &Redacted(keep)])
                .await
                .and_then(|row| row.try_get(0))
                .map_err(|e| pg_err(OP, &e))?;
            Ok(u64::try_from(removed).unwrap_or(0))
        })
        .await
    }

    async fn reindex_users(&self, now: f64, batch: usize) -> Result<u64, StoreError> {
        const OP: &str = "reindex_users";
        self.require_index().await?;
        let limit = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
        let mut after = String::new();
        let mut indexed = 0;
        loop {
            let rows = self
                .with_client(OP, async |client| {
                    let scan = prepared(client, OP, &self.sql.users.scan).await?;
                    client
                        .query(&scan, &[&instant(now), &Redacted(&after), &limit])
                        .await
                        .map_err(|e| pg_err(OP, &e))
                })
                .await?;
            let mut page = Vec::new();
            for row in &rows {
                let key: String = row.try_get(0).map_err(|e| pg_err(OP, &e))?;
                let text: String = row.try_get(1).map_err(|e| pg_err(OP, &e))?;
                let expires_at: f64 = row.try_get(2).map_err(|e| pg_err(OP, &e))?;
                let user = self
                    .codec
                    .decode_record(&text)
                    .as_deref()
                    .and_then(user_id_of);
                if let Some(user) = user {
                    page.push((key.clone(), user, expires_at));
                }
                after = key;
            }
            self.with_client(OP, async |client| {
                let upsert = prepared(client, OP, &self.sql.users.upsert).await?;
                for (key, user, expires_at) in &page {
                    client
                        .execute(
                            &upsert,
                            &[&Redacted(key), user, &now, &now, &instant(*expires_at)],
                        )
                        .await
                        .map_err(|e| pg_err(OP, &e))?;
                }
                Ok(())
            })
            .await?;
            indexed += page.len() as u64;
            if rows.len() < batch.max(1) {
                return Ok(indexed);
            }
        }
    }
}

/// Whether the current user may read and write a table (`has_table_privilege` with a list
/// answers whether *any* is held, hence one call each).
const WRITABLE: &str =
    "SELECT has_table_privilege($1, 'SELECT') AND has_table_privilege($1, 'INSERT') \
     AND has_table_privilege($1, 'UPDATE') AND has_table_privilege($1, 'DELETE')";

/// A pooled connection checked out for one call.
///
/// [`finish`](Lease::finish) hands it back to the pool. Dropped without that, the call was
/// abandoned mid-flight, and its statement may still be running or queued on the server; no
/// other call may queue behind it, so the connection leaves the pool first. Then:
/// - **dropped by the session layer's `store_timeout`**: the request was answered 503, so its
///   write must never land later. A task sends PostgreSQL a cancel request for the statement
///   and closes the connection.
/// - **dropped for any other reason** (the client went away mid-request, and no answer is
///   owed; or a timeout of the app's own around the layer): a task waits up to [`SETTLE_GRACE`] for the statement to finish, then puts the
///   connection back in the pool; a statement still running by then is cancelled and the
///   connection closed, as above. A benchmark's clients closing at the end of a run, or a
///   mobile client dropping, so cost no reconnect (each one a new server process) when the
///   statement was a few milliseconds from done.
struct Lease(Option<Object>);

/// How long an abandoned statement of a request whose client went away may take to finish
/// before it is cancelled.
const SETTLE_GRACE: Duration = Duration::from_millis(250);

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
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to wait or cancel from: closing the connection is all that is left.
            drop(Object::take(client));
            return;
        };
        if crate::store::is_dropping_timed_out() {
            runtime.spawn(cancel_and_close(Object::take(client)));
            return;
        }
        runtime.spawn(async move {
            // Statements on one connection answer in order: once this query answers, the
            // abandoned statement is over (an abandoned transaction was rolled back by
            // tokio-postgres before it), and the connection is free for the next call. It
            // also drops a session-level advisory lock the call may have held
            // (`with_ddl_lock`), which would otherwise stay with the pooled connection and
            // block every other `create_table`.
            let settle = client.simple_query("SELECT pg_advisory_unlock_all()");
            match tokio::time::timeout(SETTLE_GRACE, settle).await {
                Ok(Ok(_)) => drop(client),
                _ => cancel_and_close(Object::take(client)).await,
            }
        });
    }
}

/// Asks PostgreSQL to cancel what runs on `client`'s connection, then closes it.
async fn cancel_and_close(client: deadpool_postgres::ClientWrapper) {
    tracing::debug!(target: "tessera::store::postgres", "cancelling an abandoned statement");
    let cancel = client.cancel_token();
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
}

/// A `postgres://` URL with tessera's parameters taken out.
#[derive(Debug, PartialEq)]
struct SplitUrl {
    /// What tokio-postgres parses: the URL with only its own parameters, as written.
    driver_url: String,
    pool_size: Option<usize>,
    table: Option<String>,
}

fn split_url(mut url: StoreUrl<'_>) -> Result<SplitUrl, StoreError> {
    if !matches!(url.scheme, "postgres" | "postgresql") {
        return Err(StoreError::Config(
            "a PostgreSQL URL starts with postgres:// or postgresql://".to_owned(),
        ));
    }
    url.only(&URL_PARAMS)?;
    let table = url.take(TABLE);
    let pool_size = url
        .take(POOL_MAX_SIZE)
        .as_deref()
        .map(parse_pool_size)
        .transpose()?;
    Ok(SplitUrl {
        driver_url: url.to_driver_url(),
        pool_size,
        table,
    })
}

/// `pool_max_size` as a pool size.
fn parse_pool_size(value: &str) -> Result<usize, StoreError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(StoreError::Config(format!(
            "invalid PostgreSQL URL: {POOL_MAX_SIZE} must be a positive integer"
        ))),
    }
}

/// Splits tessera's parameter `name` off a libpq `key=value` string. Returns the string
/// tokio-postgres should parse and the value, unquoted, if given (the last one wins).
fn take_keyword(s: &str, name: &str) -> (String, Option<String>) {
    let mut value = None;
    let mut out = String::with_capacity(s.len());
    for (pair, key, raw) in keyword_pairs(s) {
        if key == name {
            value = Some(unquote(raw));
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(pair);
        }
    }
    (if value.is_some() { out } else { s.to_owned() }, value)
}

/// A libpq value without its single quotes and `\` escapes.
fn unquote(raw: &str) -> String {
    let inner = raw
        .strip_prefix('\'')
        .map(|r| r.strip_suffix('\'').unwrap_or(r))
        .unwrap_or(raw);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
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

/// `sql` prepared on `client`'s connection (each connection caches what it prepared).
async fn prepared(
    client: &Object,
    op: &str,
    sql: &str,
) -> Result<tokio_postgres::Statement, StoreError> {
    client.prepare_cached(sql).await.map_err(|e| pg_err(op, &e))
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

    fn split(url: &str) -> Result<SplitUrl, StoreError> {
        split_url(StoreUrl::parse(url)?)
    }

    #[test]
    fn tessera_parameters_are_taken_out_of_the_url() {
        let split_ok = |url: &str| {
            let s = split(url).unwrap();
            (s.driver_url, s.pool_size, s.table)
        };
        assert_eq!(
            split_ok("postgres://u@h/db"),
            ("postgres://u@h/db".to_owned(), None, None)
        );
        assert_eq!(
            split_ok("postgres://u@h/db?pool_max_size=2&table=t1"),
            (
                "postgres://u@h/db".to_owned(),
                Some(2),
                Some("t1".to_owned())
            )
        );
        // The driver's own parameters go through as written, in order.
        assert_eq!(
            split_ok(
                "postgresql://u@h/db?connect_timeout=5&pool_max_size=40&options=-c%20search_path%3Ds"
            ),
            (
                "postgresql://u@h/db?connect_timeout=5&options=-c%20search_path%3Ds".to_owned(),
                Some(40),
                None
            )
        );
        for bad in [
            "postgres://h/db?pool_max_size=0",
            "postgres://h/db?pool_max_size=x",
            "postgres://h/db?pool_max_size",
            "mysql://h/db",
        ] {
            assert!(matches!(split(bad), Err(StoreError::Config(_))), "{bad}");
        }
        let Err(StoreError::Config(msg)) = split("postgres://u:hunter2@h/db?pool_size=3") else {
            panic!("pool_size is not a parameter");
        };
        assert!(
            msg.starts_with(
                "unknown parameter \"pool_size\" for postgres:// (known: table, pool_max_size, user,"
            ),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    /// Every parameter listed as tokio-postgres's is one it takes (a valid value of each).
    #[test]
    fn every_driver_parameter_reaches_tokio_postgres() {
        let values = [
            ("user", "u"),
            ("password", "p%40ss"),
            ("dbname", "d"),
            ("options", "-c%20search_path%3Dsessions"),
            ("application_name", "tessera"),
            ("sslmode", "disable"),
            ("sslnegotiation", "postgres"),
            ("host", "h2"),
            ("hostaddr", "127.0.0.1"),
            ("port", "5433"),
            ("connect_timeout", "5"),
            ("tcp_user_timeout", "5"),
            ("keepalives", "1"),
            ("keepalives_idle", "30"),
            ("keepalives_interval", "5"),
            ("keepalives_retries", "3"),
            ("target_session_attrs", "read-write"),
            ("channel_binding", "prefer"),
            ("load_balance_hosts", "disable"),
        ];
        assert_eq!(
            values.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            DRIVER_PARAMS
        );
        for (name, value) in values {
            let url = format!("postgres://h/db?table=t&{name}={value}&pool_max_size=3");
            let s = split(&url).unwrap();
            assert_eq!(s.driver_url, format!("postgres://h/db?{name}={value}"));
            assert!(
                s.driver_url.parse::<tokio_postgres::Config>().is_ok(),
                "{}",
                s.driver_url
            );
        }
    }

    #[test]
    fn keyword_strings_give_up_tessera_parameters() {
        assert_eq!(
            take_keyword("host=h user=u pool_max_size = 3 dbname=d", POOL_MAX_SIZE),
            ("host=h user=u dbname=d".to_owned(), Some("3".to_owned()))
        );
        // A quoted value is one value, even when it looks like the parameter.
        assert_eq!(
            take_keyword(
                r"host=h password='a pool_max_size=9 \' b' pool_max_size='4'",
                POOL_MAX_SIZE
            ),
            (
                r"host=h password='a pool_max_size=9 \' b'".to_owned(),
                Some("4".to_owned())
            )
        );
        assert_eq!(take_keyword("host=h", TABLE), ("host=h".to_owned(), None));
        let (kv, table) = take_keyword("host=h table=my_sessions user=u", TABLE);
        assert_eq!(table.as_deref(), Some("my_sessions"));
        assert!(kv.parse::<tokio_postgres::Config>().is_ok());
        assert!(parse_pool_size("-1").is_err());
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
