//! A MySQL/MariaDB store over Django's own `django_session` table, so tessera and a running
//! Django app can share sessions.
//!
//! - **Schema.** [`MysqlStore::create_table`] runs exactly the statements of Django's migration
//!   `sessions.0001_initial` (`longtext`, `datetime(6)`, `django_session_expire_date_a5c62663`,
//!   no engine or charset clause), and nothing when the table already exists, so it is
//!   harmless after Django's `migrate`. The other way round, it records
//!   `sessions.0001_initial` as applied in Django's `django_migrations` (created as Django
//!   creates it when missing), so a plain `manage.py migrate` afterwards skips the migration
//!   (it used to fail with "table already exists").
//! - **Dates.** `expire_date` is a `datetime(6)` holding UTC wall-clock time, as Django writes
//!   it with `USE_TZ=True`. Values are bound as UTC datetimes computed here and never pass
//!   through `NOW()` or a `TIMESTAMP` column, so the server's or the connection's `time_zone`
//!   cannot shift them. (Django with `USE_TZ=False` stores local time; that is not supported.)
//! - **Compare-and-swap.** A save is one `UPDATE … WHERE session_key = ? AND
//!   CAST(session_data AS BINARY) = CAST(? AS BINARY)`: byte for byte, because the default
//!   collations compare text case-insensitively and ignore trailing spaces. The connection
//!   sets `CLIENT_FOUND_ROWS`, so an `UPDATE` that rewrites identical values still counts its
//!   row (MySQL otherwise reports rows *changed*, and an identical save would look like a
//!   conflict); even without it, a failed swap re-reads the row and treats "already holds
//!   exactly what we wrote" as saved.
//! - **Round trips.** Statements are prepared once per connection (mysql_async's statement
//!   cache, kept across checkouts because [`connect`](MysqlStore::connect) turns off the
//!   pool's `COM_RESET_CONNECTION` unless the URL sets `reset_connection`). A load or a save
//!   is one round trip; only a failed swap asks a second question (conflict or gone?).
//! - **Pool.** Up to twice as many connections as the process has cores, at least 8, kept for
//!   a minute when idle (unless the URL sets `pool_min`/`pool_max`/`inactive_connection_ttl`),
//!   3 seconds to get one; idle connections are checked on checkout, so the pool heals by
//!   itself after a server restart.
//! - **Abandoned calls.** A call whose future is dropped mid-flight (the middleware's
//!   `store_timeout` fired, the request was cancelled) never hands its connection back to the
//!   pool: a task opens a fresh connection with the same options (within 3 seconds), runs
//!   `KILL QUERY <id>` for the abandoned one and closes both. So a statement stuck on a row
//!   lock does not commit once the lock is released, and the pool does not wait for it. What
//!   remains: a statement the server already finished before the `KILL` arrives stays done (its
//!   reply was merely lost), and the `KILL` must reach the same server (a proxy that maps
//!   connection ids, such as ProxySQL, defeats it; the connection is closed all the same).
//! - **Unix socket.** mysql_async's `prefer_socket` defaults to true: after connecting over
//!   TCP it asks the server for `@@socket` and, when that socket exists on this machine (a
//!   loopback or local server), reconnects through it. So a `127.0.0.1` URL bypasses whatever
//!   listens on that TCP port (a proxy, a fault injector, a port forward); add
//!   `prefer_socket=false` to the URL to stay on TCP.
//! - **TLS** (the `mysql-tls` feature): `require_ssl=true` in the URL, and mysql_async checks
//!   the server's certificate against its built-in (Mozilla) roots and its name against the
//!   URL's host. For a private CA (as MySQL's and MariaDB's self-made certificates are), add
//!   `tls_ca=/path/ca.pem`: then that PEM file's certificates are the only roots
//!   (`built_in_roots=true` keeps the built-in ones too); the file is read, and must hold a
//!   certificate, when the store is built. mysql_async's `verify_ca=false` and
//!   `verify_identity=false` skip the checks (for tests, not production). These parameters
//!   are refused without `require_ssl=true`, where mysql_async would ignore them and connect
//!   without TLS; and without the feature, `require_ssl=true` is a [`StoreError::Config`]
//!   naming it. A server on this machine is reached through its Unix socket unless the URL
//!   says `prefer_socket=false` (above), and mysql_async sends no TLS over a socket.
//! - **Errors.** Every failed call is [`StoreError::Unavailable`] with the operation and the
//!   server's error code, its message with every quoted value blanked out (MySQL quotes
//!   values, such as a duplicate session key, in its messages); a bad URL or table name is
//!   [`StoreError::Config`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera::store::StoreError> {
//! use tessera::session::codec::SessionCodec;
//! use tessera::signing::SecretKeys;
//! use tessera::store::mysql::MysqlStore;
//!
//! let codec = SessionCodec::new(&SecretKeys::new("the Django SECRET_KEY")).unwrap();
//! let store = MysqlStore::connect("mysql://app:secret@db:3306/app", codec).await?;
//! store.create_table().await?; // no-op when Django's migrate created it
//! # Ok(()) }
//! ```

/// The driver crate, so [`MysqlStore::from_opts`] needs no dependency of the app's own.
pub use mysql_async;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{Datelike, Timelike};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, Row, Value};

use super::sql::{self, Dialect, SideTable, Statements};
use super::tls::TLS_CA;
use super::url::StoreUrl;
use super::user_index::{listing, user_id_of};
use super::{
    Loaded, Record, SaveOrReload, SaveOutcome, SessionStore, StoreError, UserSession, Version,
};
use crate::session::codec::SessionCodec;
use crate::session::key::SessionKey;

pub use super::sql::DEFAULT_TABLE;

/// The fewest connections [`MysqlStore::connect`]'s pool keeps unless the URL says otherwise
/// (the most: [`default_pool_size`](super::default_pool_size)).
const POOL_MIN: usize = 0;
/// How long a pooled connection may idle before [`MysqlStore::connect`]'s pool closes it.
const IDLE_TTL: Duration = Duration::from_secs(60);
/// How long to wait for a new connection or a free pooled one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// MySQL's "Duplicate entry" error.
const ER_DUP_ENTRY: u16 = 1062;
/// The URL parameter that names the table (tessera's own, removed before mysql_async sees
/// the URL; so is `tls_ca`).
const TABLE: &str = "table";
/// Every query parameter a `mysql://` URL takes: tessera's, then mysql_async's.
const URL_PARAMS: [&str; 25] = [
    TABLE,
    TLS_CA,
    "pool_min",
    "pool_max",
    "inactive_connection_ttl",
    "ttl_check_interval",
    "conn_ttl",
    "abs_conn_ttl",
    "abs_conn_ttl_jitter",
    "tcp_keepalive",
    "max_allowed_packet",
    "wait_timeout",
    "enable_cleartext_plugin",
    "reset_connection",
    "tcp_nodelay",
    "stmt_cache_size",
    "prefer_socket",
    "secure_auth",
    "client_found_rows",
    "socket",
    "compression",
    "require_ssl",
    "verify_ca",
    "verify_identity",
    "built_in_roots",
];
/// The query parameters mysql_async 0.37 reads from a URL (`Opts::from_url`), passed to it as
/// written.
pub const DRIVER_PARAMS: &[&str] = URL_PARAMS.split_at(2).1;
/// mysql_async's parameters that only mean something with `require_ssl=true`.
const TLS_PARAMS: [&str; 3] = ["verify_ca", "verify_identity", "built_in_roots"];

/// Sessions in a MySQL or MariaDB table laid out as Django's `django_session`. Cheap to
/// clone (clones share the pool).
#[derive(Clone)]
pub struct MysqlStore {
    pool: Pool,
    /// The pool's options, for the connection that kills an abandoned call's statement.
    opts: Opts,
    codec: SessionCodec,
    sql: Arc<Statements>,
    /// Whether the per-user side table is there to write.
    side: Arc<SideTable>,
}

impl fmt::Debug for MysqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool's options: they hold the connection password.
        let pool = self.opts.pool_opts().constraints();
        f.debug_struct("MysqlStore")
            .field("table", &self.sql.table)
            .field("pool_min", &pool.min())
            .field("pool_max", &pool.max())
            .finish_non_exhaustive()
    }
}

/// Options for [`MysqlStore`]; start from [`MysqlStore::builder`].
#[derive(Debug, Clone)]
pub struct MysqlStoreBuilder {
    codec: SessionCodec,
    table: Option<String>,
}

impl MysqlStoreBuilder {
    /// The table (default [`DEFAULT_TABLE`]): a custom Django session model's `db_table`,
    /// under [`sql::check_table_name`]'s rule; overrides a `table=` in the URL. The index name
    /// is derived as Django derives it, so [`create_table`](MysqlStore::create_table) matches
    /// that model's migration.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = Some(name.into());
        self
    }

    /// Connects to `url` (see [`MysqlStore::connect`]).
    pub async fn connect(mut self, url: &str) -> Result<MysqlStore, StoreError> {
        let (opts, table) = opts_of(StoreUrl::parse(url)?)?;
        self.table = self.table.or(table);
        self.from_opts(opts).await
    }

    /// Connects with options you built (see [`MysqlStore::from_opts`]).
    pub async fn from_opts(self, opts: OptsBuilder) -> Result<MysqlStore, StoreError> {
        let table = self.table.as_deref().unwrap_or(DEFAULT_TABLE);
        let sql = Statements::new(Dialect::Mysql, table)?;
        let opts = Opts::from(opts.client_found_rows(true));
        let store = MysqlStore {
            pool: Pool::new(opts.clone()),
            opts,
            codec: self.codec,
            sql: Arc::new(sql),
            side: Arc::default(),
        };
        store.lease("connect").await?.finish();
        store.ensure_side_table().await?;
        Ok(store)
    }
}

impl MysqlStore {
    /// Connects to `url` (`mysql://user:pass@host:3306/db?…`) and checks that the server
    /// answers. Unless the URL says otherwise, the pool holds up to twice as many connections
    /// as this process has cores, at least 8 (`pool_min`/`pool_max`; a `pool_max` alone keeps
    /// the minimum at 0), keeps idle ones for a minute (`inactive_connection_ttl`) and keeps
    /// their statement caches across checkouts (`reset_connection=false`).
    ///
    /// The URL takes tessera's `table` and mysql_async's own parameters ([`DRIVER_PARAMS`]);
    /// any other is a [`StoreError::Config`] naming it. The table is [`DEFAULT_TABLE`] unless
    /// `table=` (or [`MysqlStoreBuilder::table`]) names another.
    pub async fn connect(url: &str, codec: SessionCodec) -> Result<Self, StoreError> {
        Self::builder(codec).connect(url).await
    }

    /// [`connect`](Self::connect) for a URL split by [`store::url`](super::url).
    pub(crate) async fn from_url(
        url: StoreUrl<'_>,
        codec: SessionCodec,
    ) -> Result<Self, StoreError> {
        let (opts, table) = opts_of(url)?;
        let builder = Self::builder(codec);
        match table {
            Some(table) => builder.table(table),
            None => builder,
        }
        .from_opts(opts)
        .await
    }

    /// A builder, to name the table.
    pub fn builder(codec: SessionCodec) -> MysqlStoreBuilder {
        MysqlStoreBuilder { codec, table: None }
    }

    /// Connects with options you built (TLS, a socket, `setup` statements, pool settings),
    /// taken as given except `CLIENT_FOUND_ROWS`, which is always set, on [`DEFAULT_TABLE`]
    /// (another: [`MysqlStoreBuilder::from_opts`]); checks that the server answers. Mind
    /// mysql_async's pool defaults: it closes every connection beyond `pool_min` on return
    /// unless `PoolOpts::with_inactive_connection_ttl` is non-zero, and resets each one it
    /// keeps (dropping its statement cache) unless `with_reset_connection(false)`.
    pub async fn from_opts(opts: OptsBuilder, codec: SessionCodec) -> Result<Self, StoreError> {
        Self::builder(codec).from_opts(opts).await
    }

    /// The table this store reads and writes.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The statements [`create_table`](Self::create_table) runs, exactly as Django's
    /// `sqlmigrate sessions 0001` prints them for MySQL, for review or for a DBA to run by
    /// hand.
    pub fn create_table_sql(&self) -> Vec<String> {
        self.sql.ddl.clone()
    }

    /// Creates the table and its index as Django's migration does, unless the current
    /// database already has a table of that name (made by Django or an earlier run).
    /// Serialized by a server lock (`GET_LOCK`) so concurrent callers cannot collide.
    /// Returns whether it created the table.
    ///
    /// MySQL DDL is not transactional: should the process die between the two statements,
    /// the index is missing; [`create_table_sql`](Self::create_table_sql) lists it. For
    /// `django_session`, `sessions.0001_initial` is recorded as applied in Django's
    /// `django_migrations` (made as Django makes it when missing), so Django's `migrate` skips
    /// it in whatever order the two run.
    pub async fn create_table(&self) -> Result<bool, StoreError> {
        const OP: &str = "create_table";
        let mut lease = self.lease(OP).await?;
        let result = self.create_table_on(lease.conn()).await;
        // Never return this connection to the pool: closing it releases the lock whatever
        // happened, and leaves no session state behind.
        let _ = lease.finish().disconnect().await;
        if result.is_ok() {
            self.side.set_ready();
        }
        result
    }

    /// Whether writes keep the per-user index (the side table is there).
    fn indexed(&self) -> bool {
        self.side.known() == Some(true)
    }

    /// The index methods' guard: [`SideTable::missing`] when there is no side table.
    fn require_index(&self) -> Result<(), StoreError> {
        if self.indexed() {
            Ok(())
        } else {
            Err(SideTable::missing(&self.sql.users.table))
        }
    }

    /// Creates the side table and its indexes when missing (as SQLite does on open), so a
    /// deployment whose session table Django made needs no tessera migration. When the session
    /// table is missing or the user may not create tables, the store runs without the index
    /// (one warning) rather than failing every write of a logged-in session.
    async fn ensure_side_table(&self) -> Result<(), StoreError> {
        const OP: &str = "connect";
        let mut lease = self.lease(OP).await?;
        let result = async {
            let conn = lease.conn();
            lock_schema(conn, OP).await?;
            if !table_exists(conn, &self.sql.table, OP).await? {
                return Ok(Err(format!(
                    "the session table {} does not exist",
                    self.sql.table
                )));
            }
            match self.create_side_table_on(conn).await {
                Ok(()) => Ok(Ok(())),
                // The server refused (no privilege…): run without the index.
                Err(mysql_async::Error::Server(e)) => Ok(Err(redact(&e.message))),
                Err(e) => Err(my_err(OP, &e)),
            }
        }
        .await;
        // Closing the connection releases the lock.
        let _ = lease.finish().disconnect().await;
        match result? {
            Ok(()) => self.side.set_ready(),
            Err(why) => self.side.set_missing(&self.sql.users.table, &why),
        }
        Ok(())
    }

    /// The side table, then each of its indexes that `information_schema` does not list
    /// (MySQL 8 has no `CREATE INDEX IF NOT EXISTS`), under the schema lock.
    async fn create_side_table_on(&self, conn: &mut Conn) -> Result<(), mysql_async::Error> {
        let side = self.sql.users.table.as_str();
        let has_table: Option<i64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                (side,),
            )
            .await?;
        if has_table.unwrap_or(0) == 0 {
            conn.query_drop(self.sql.users.ddl[0].as_str()).await?;
        }
        for (name, create) in &self.sql.users.indexes {
            let has_index: Option<i64> = conn
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?",
                    (side, name.as_str()),
                )
                .await?;
            if has_index.unwrap_or(0) == 0 {
                conn.query_drop(create.as_str()).await?;
            }
        }
        Ok(())
    }

    async fn create_table_on(&self, conn: &mut Conn) -> Result<bool, StoreError> {
        const OP: &str = "create_table";
        lock_schema(conn, OP).await?;
        let exists = table_exists(conn, &self.sql.table, OP).await?;
        if !exists {
            for statement in &self.sql.ddl {
                conn.query_drop(statement.as_str())
                    .await
                    .map_err(|e| my_err(OP, &e))?;
            }
            tracing::info!(
                target: "tessera::store",
                "created the {} table as Django's migration sessions.0001_initial does",
                self.sql.table
            );
        }
        // tessera's own per-user index, beside the table whoever made it.
        self.create_side_table_on(conn)
            .await
            .map_err(|e| my_err(OP, &e))?;
        for statement in &self.sql.record_migration {
            conn.query_drop(statement.as_str())
                .await
                .map_err(|e| my_err(OP, &e))?;
        }
        Ok(!exists)
    }

    /// Closes every pooled connection once the ones in use come back (mysql_async asks for
    /// this before its runtime shuts down). The store, and every clone of it, is unusable
    /// afterwards.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.pool
            .clone()
            .disconnect()
            .await
            .map_err(|e| my_err("close", &e))
    }

    /// A pooled connection, within [`CONNECT_TIMEOUT`], leased for one call.
    async fn lease(&self, op: &str) -> Result<Lease, StoreError> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(Lease {
                conn: Some(conn),
                opts: self.opts.clone(),
            }),
            Ok(Err(e)) => Err(my_err(op, &e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "mysql {op}: no connection within {CONNECT_TIMEOUT:?}"
            ))),
        }
    }

    /// Runs `call` on a leased connection and hands the connection back to the pool once
    /// `call` is done (whatever its result). Should this future be dropped before, the lease
    /// kills the statement in flight and discards the connection (see [`Lease`]).
    async fn with_conn<T>(
        &self,
        op: &str,
        call: impl AsyncFnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut lease = self.lease(op).await?;
        let result = call(lease.conn()).await;
        drop(lease.finish());
        result
    }

    /// The compare-and-swap of `save` (keeping the per-user index) on `conn`.
    async fn swap(
        &self,
        conn: &mut Conn,
        key: &SessionKey,
        text: &str,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<Swap, StoreError> {
        const OP: &str = "save";
        let user = user_id_of(record.data);
        // A version this store never issued matches no row.
        if let Version::Text(expected) = expected {
            let params = (text, datetime(record.expires_at), key.as_str(), &**expected);
            // An anonymous session that stays anonymous (the loaded record held no user
            // either) has no entry to touch: one statement, as before the index.
            let was_user = self
                .codec
                .decode_record(expected)
                .as_deref()
                .and_then(user_id_of)
                .is_some();
            if !self.indexed() || (user.is_none() && !was_user) {
                conn.exec_drop(self.sql.save.as_str(), params)
                    .await
                    .map_err(|e| my_err(OP, &e))?;
                if conn.affected_rows() > 0 {
                    return Ok(Swap::Saved);
                }
            } else {
                // The swap and the entry in one transaction, the entry only if it swapped.
                let mut tx = conn
                    .start_transaction(mysql_async::TxOpts::default())
                    .await
                    .map_err(|e| my_err(OP, &e))?;
                tx.exec_drop(self.sql.save.as_str(), params)
                    .await
                    .map_err(|e| my_err(OP, &e))?;
                let swapped = tx.affected_rows() > 0;
                if swapped {
                    match &user {
                        Some(user) => tx.exec_drop(
                            self.sql.users.upsert.as_str(),
                            index_entry(key.as_str(), user, record.now, record.expires_at),
                        ),
                        None => tx.exec_drop(self.sql.users.unindex.as_str(), (key.as_str(),)),
                    }
                    .await
                    .map_err(|e| my_err(OP, &e))?;
                }
                tx.commit().await.map_err(|e| my_err(OP, &e))?;
                if swapped {
                    return Ok(Swap::Saved);
                }
            }
        }
        // Rare path: nothing matched. Gone, changed by someone else, or (without
        // CLIENT_FOUND_ROWS) matched but already holding exactly these bytes.
        let row: Option<Row> = conn
            .exec_first(self.sql.current.as_str(), (key.as_str(),))
            .await
            .map_err(|e| my_err(OP, &e))?;
        let Some(row) = row else {
            return Ok(Swap::Gone);
        };
        Ok(if text_of(row, OP)? == text {
            Swap::Saved
        } else {
            Swap::Changed
        })
    }

    /// The text of the live record under `key` at `now`, read on `conn` (decoded once the
    /// connection is back in the pool: see [`Self::loaded`]).
    async fn fetch_live(
        &self,
        conn: &mut Conn,
        op: &str,
        key: &SessionKey,
        now: f64,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<Row> = conn
            .exec_first(self.sql.load.as_str(), (key.as_str(), datetime(now)))
            .await
            .map_err(|e| my_err(op, &e))?;
        row.map(|row| text_of(row, op)).transpose()
    }

    /// The record a loaded text holds. An unreadable record is no session: it is never
    /// overwritten.
    fn loaded(&self, text: String) -> Option<Loaded> {
        self.codec.decode_record(&text).map(|data| Loaded {
            data,
            version: Version::Text(text.into()),
        })
    }
}

/// What `save_or_reload` read on its connection, decoded once the connection is back.
enum Reloaded {
    Saved,
    Changed(String),
    Gone,
}

/// What a compare-and-swap found.
enum Swap {
    /// The row was at the expected version and now holds the new text.
    Saved,
    /// The row holds something else.
    Changed,
    /// There is no row.
    Gone,
}

/// A pooled connection checked out for one call.
///
/// [`finish`](Lease::finish) gives the connection back (dropping it returns it to the pool).
/// Dropped without that, the call was abandoned mid-flight (its future was dropped, typically
/// by the middleware's timeout) and its statement may still be running, say waiting for a
/// row lock, and would commit once it gets it. So a task opens a fresh connection, runs
/// `KILL QUERY <id>` for this one and then disconnects both; a disconnected connection is
/// discarded by the pool, never reused.
struct Lease {
    conn: Option<Conn>,
    opts: Opts,
}

impl Lease {
    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until finished")
    }

    /// The call is over: the connection, to drop (back to the pool) or to close.
    fn finish(mut self) -> Conn {
        self.conn
            .take()
            .expect("a lease holds its connection until finished")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to kill from. Dropped, the connection would go back to the pool,
            // which would wait for the statement; nothing better is possible here.
            return;
        };
        let opts = self.opts.clone();
        tracing::debug!(target: "tessera::store::mysql", "killing an abandoned statement");
        runtime.spawn(kill_abandoned(conn, opts));
    }
}

/// Kills the statement an abandoned call left running on `conn` (from a fresh connection:
/// `conn` itself is busy), then disconnects `conn`, so the pool discards it.
async fn kill_abandoned(conn: Conn, opts: Opts) {
    let id = conn.id();
    let kill = async {
        let mut killer = Conn::new(opts).await?;
        let killed = killer.query_drop(format!("KILL QUERY {id}")).await;
        let _ = killer.disconnect().await;
        killed
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, kill).await {
        Ok(Ok(())) => {}
        // 1094: no such thread, the connection already ended.
        Ok(Err(mysql_async::Error::Server(e))) if e.code == 1094 => {}
        Ok(Err(e)) => tracing::warn!(
            target: "tessera::store::mysql",
            "cannot kill an abandoned statement: {}",
            my_err("kill", &e)
        ),
        Err(_) => tracing::warn!(
            target: "tessera::store::mysql",
            "cannot kill an abandoned statement: no answer within {CONNECT_TIMEOUT:?}"
        ),
    }
    // `disconnect` marks the connection closed before anything else, so even if it fails or
    // times out, the pool sees a closed connection when it comes back, and discards it.
    let _ = tokio::time::timeout(CONNECT_TIMEOUT, conn.disconnect()).await;
}

#[async_trait]
impl SessionStore for MysqlStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.create_table().await.map(drop)
    }

    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        const OP: &str = "load";
        let text = self
            .with_conn(OP, async |conn| self.fetch_live(conn, OP, key, now).await)
            .await?;
        Ok(text.and_then(|text| self.loaded(text)))
    }

    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        const OP: &str = "create";
        let text = self.codec.encode(record.data);
        let params = (key.as_str(), text.as_str(), datetime(record.expires_at));
        let user = user_id_of(record.data).filter(|_| self.indexed());
        self.with_conn(OP, async |conn| {
            let Some(user) = user else {
                return conn
                    .exec_drop(self.sql.create.as_str(), params)
                    .await
                    .map_err(|e| create_err(OP, e));
            };
            // The session and its index entry in one transaction.
            let mut tx = conn
                .start_transaction(mysql_async::TxOpts::default())
                .await
                .map_err(|e| my_err(OP, &e))?;
            tx.exec_drop(self.sql.create.as_str(), params)
                .await
                .map_err(|e| create_err(OP, e))?;
            tx.exec_drop(
                self.sql.users.upsert.as_str(),
                index_entry(key.as_str(), &user, record.now, record.expires_at),
            )
            .await
            .map_err(|e| my_err(OP, &e))?;
            tx.commit().await.map_err(|e| my_err(OP, &e))
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
        self.with_conn(OP, async |conn| {
            Ok(match self.swap(conn, key, &text, record, expected).await? {
                Swap::Saved => SaveOutcome::Saved(Version::Text(text.into())),
                Swap::Changed => SaveOutcome::Conflict,
                Swap::Gone => SaveOutcome::Gone,
            })
        })
        .await
    }

    /// The swap and, when it loses, the reload on the same pooled connection: one checkout.
    async fn save_or_reload(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOrReload, StoreError> {
        const OP: &str = "save";
        let text = self.codec.encode(record.data);
        let reloaded = self
            .with_conn(OP, async |conn| {
                Ok(match self.swap(conn, key, &text, record, expected).await? {
                    Swap::Saved => Reloaded::Saved,
                    Swap::Gone => Reloaded::Gone,
                    Swap::Changed => match self.fetch_live(conn, OP, key, record.now).await? {
                        Some(fresh) => Reloaded::Changed(fresh),
                        None => Reloaded::Gone,
                    },
                })
            })
            .await?;
        Ok(match reloaded {
            Reloaded::Saved => SaveOrReload::Saved(Version::Text(text.into())),
            Reloaded::Changed(fresh) => match self.loaded(fresh) {
                Some(fresh) => SaveOrReload::Changed(fresh),
                None => SaveOrReload::Gone,
            },
            Reloaded::Gone => SaveOrReload::Gone,
        })
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        const OP: &str = "delete";
        self.with_conn(OP, async |conn| {
            // The session first: at worst an entry outlives it, and listings prune those.
            conn.exec_drop(self.sql.delete.as_str(), (key.as_str(),))
                .await
                .map_err(|e| my_err(OP, &e))?;
            if !self.indexed() {
                return Ok(());
            }
            conn.exec_drop(self.sql.users.unindex.as_str(), (key.as_str(),))
                .await
                .map_err(|e| my_err(OP, &e))
        })
        .await
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        const OP: &str = "exists";
        let row: Option<Row> = self
            .with_conn(OP, async |conn| {
                conn.exec_first(self.sql.exists.as_str(), (key.as_str(),))
                    .await
                    .map_err(|e| my_err(OP, &e))
            })
            .await?;
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
        let now = datetime(now);
        let clear = self.sql.clear.as_str();
        let clear_index = self.sql.users.clear.as_str();
        self.with_conn(OP, async |conn| {
            // Each batch borrows the one connection in turn; the lock is never contended.
            let conn = tokio::sync::Mutex::new(conn);
            let removed = sql::clear_in_batches(batch_size, progress, |limit| {
                let (conn, now) = (&conn, now.clone());
                async move {
                    let mut conn = conn.lock().await;
                    conn.exec_drop(clear, (now, limit))
                        .await
                        .map_err(|e| my_err(OP, &e))?;
                    Ok(conn.affected_rows())
                }
            })
            .await?;
            if !self.indexed() {
                return Ok(removed);
            }
            // Then the entries of sessions that are gone or expired.
            sql::clear_in_batches(batch_size, &|_| {}, |limit| {
                let (conn, now) = (&conn, now.clone());
                async move {
                    let mut conn = conn.lock().await;
                    conn.exec_drop(clear_index, (now.clone(), now, limit))
                        .await
                        .map_err(|e| my_err(OP, &e))?;
                    Ok(conn.affected_rows())
                }
            })
            .await?;
            Ok(removed)
        })
        .await
    }

    async fn user_sessions(&self, user_id: &str, now: f64) -> Result<Vec<UserSession>, StoreError> {
        const OP: &str = "user_sessions";
        self.require_index()?;
        let rows: Vec<(String, f64, f64, f64)> = self
            .with_conn(OP, async |conn| {
                conn.exec_drop(self.sql.users.prune.as_str(), (user_id, datetime(now)))
                    .await
                    .map_err(|e| my_err(OP, &e))?;
                conn.exec(self.sql.users.list.as_str(), (user_id, datetime(now)))
                    .await
                    .map_err(|e| my_err(OP, &e))
            })
            .await?;
        Ok(listing(rows))
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        const OP: &str = "revoke_user_sessions";
        self.require_index()?;
        let keep = keep.map_or("", |k| k.as_str());
        self.with_conn(OP, async |conn| {
            let keys: Vec<String> = conn
                .exec(self.sql.users.keys.as_str(), (user_id, keep))
                .await
                .map_err(|e| my_err(OP, &e))?;
            let mut removed = 0;
            for chunk in keys.chunks(500) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let t = &self.sql.table;
                let i = &self.sql.users.table;
                // Session rows before index rows, as every save locks them: no deadlock.
                let mut tx = conn
                    .start_transaction(mysql_async::TxOpts::default())
                    .await
                    .map_err(|e| my_err(OP, &e))?;
                tx.exec_drop(
                    format!("DELETE FROM `{t}` WHERE `session_key` IN ({marks})"),
                    chunk.to_vec(),
                )
                .await
                .map_err(|e| my_err(OP, &e))?;
                removed += tx.affected_rows();
                tx.exec_drop(
                    format!("DELETE FROM `{i}` WHERE `session_key` IN ({marks})"),
                    chunk.to_vec(),
                )
                .await
                .map_err(|e| my_err(OP, &e))?;
                tx.commit().await.map_err(|e| my_err(OP, &e))?;
            }
            Ok(removed)
        })
        .await
    }

    async fn reindex_users(&self, now: f64, batch: usize) -> Result<u64, StoreError> {
        const OP: &str = "reindex_users";
        self.require_index()?;
        let limit = batch.max(1) as u64;
        let mut after = String::new();
        let mut indexed = 0;
        loop {
            let rows: Vec<(String, Vec<u8>, f64)> = self
                .with_conn(OP, async |conn| {
                    conn.exec(
                        self.sql.users.scan.as_str(),
                        (datetime(now), after.as_str(), limit),
                    )
                    .await
                    .map_err(|e| my_err(OP, &e))
                })
                .await?;
            let count = rows.len() as u64;
            let mut page = Vec::new();
            for (key, text, expires_at) in rows {
                let text = String::from_utf8_lossy(&text);
                if let Some(user) = self
                    .codec
                    .decode_record(&text)
                    .as_deref()
                    .and_then(user_id_of)
                {
                    page.push((key.clone(), user, expires_at));
                }
                after = key;
            }
            self.with_conn(OP, async |conn| {
                for (key, user, expires_at) in &page {
                    conn.exec_drop(
                        self.sql.users.upsert.as_str(),
                        index_entry(key.as_str(), user, now, *expires_at),
                    )
                    .await
                    .map_err(|e| my_err(OP, &e))?;
                }
                Ok(())
            })
            .await?;
            indexed += page.len() as u64;
            if count < limit {
                return Ok(indexed);
            }
        }
    }
}

/// Takes the server lock that serializes schema changes (released when `conn` closes).
async fn lock_schema(conn: &mut Conn, op: &str) -> Result<(), StoreError> {
    let locked: Option<Option<i64>> = conn
        .query_first("SELECT GET_LOCK('tessera.create_table', 30)")
        .await
        .map_err(|e| my_err(op, &e))?;
    if locked.flatten() != Some(1) {
        return Err(StoreError::Unavailable(format!(
            "mysql {op}: another process held the schema lock for 30 s"
        )));
    }
    Ok(())
}

/// Whether the current database has a table of that name.
async fn table_exists(conn: &mut Conn, table: &str, op: &str) -> Result<bool, StoreError> {
    let count: Option<i64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (table,),
        )
        .await
        .map_err(|e| my_err(op, &e))?;
    Ok(count.unwrap_or(0) > 0)
}

/// `create`'s error: a duplicate key is [`StoreError::DuplicateKey`].
fn create_err(op: &str, e: mysql_async::Error) -> StoreError {
    match e {
        mysql_async::Error::Server(e) if e.code == ER_DUP_ENTRY => StoreError::DuplicateKey,
        e => my_err(op, &e),
    }
}

/// The driver's options for a `mysql://` URL, with this store's pool defaults where the URL
/// sets none, and the table `table=` names.
fn opts_of(mut url: StoreUrl<'_>) -> Result<(OptsBuilder, Option<String>), StoreError> {
    if url.scheme != "mysql" {
        return Err(StoreError::Config(
            "a MySQL URL starts with mysql://".to_owned(),
        ));
    }
    url.only(&URL_PARAMS)?;
    let table = url.take(TABLE);
    let tls_ca = url.take(TLS_CA);
    let value = |name: &str| {
        let last = url.params().iter().rev().find(|p| p.name == name);
        last.map(|p| p.value.as_str())
    };
    // TLS: `require_ssl=true`, with the other TLS parameters only beside it (mysql_async
    // ignores them otherwise, so a URL that seems to ask for TLS would connect without it).
    let require_ssl = value("require_ssl") == Some("true");
    let tls_param = TLS_PARAMS.iter().find(|p| value(p).is_some()).copied();
    if !require_ssl {
        if let Some(name) = tls_param.or(tls_ca.as_ref().map(|_| TLS_CA)) {
            return Err(StoreError::Config(format!(
                "mysql://: {name} applies only with require_ssl=true"
            )));
        }
    }
    #[cfg(not(feature = "mysql-tls"))]
    if require_ssl {
        return Err(super::tls::not_built(
            "mysql:// with require_ssl=true",
            "mysql-tls",
        ));
    }
    let given = |name: &str| url.params().iter().any(|p| p.name == name);
    let (pool_min, pool_max) = (given("pool_min"), given("pool_max"));
    let (ttl, reset) = (given("inactive_connection_ttl"), given("reset_connection"));
    let mut driver_url = url.to_driver_url();
    if pool_max && !pool_min {
        // mysql_async's own `pool_min` default is 10, so a lone `pool_max` under 10 would be
        // refused; alone, it means this store's minimum, 0.
        driver_url.push_str(&format!("&pool_min={POOL_MIN}"));
    }
    let opts = Opts::from_url(&driver_url)
        .map_err(|e| StoreError::Config(format!("invalid MySQL URL: {e}")))?;
    let mut pool_opts = opts.pool_opts().clone();
    if !pool_min && !pool_max {
        if let Some(pool) = PoolConstraints::new(POOL_MIN, super::default_pool_size()) {
            pool_opts = pool_opts.with_constraints(pool);
        }
    }
    if !ttl {
        // With the default (0), the pool keeps only `pool_min` idle connections and closes
        // the rest on return: a new connection, and new prepared statements, per request.
        pool_opts = pool_opts.with_inactive_connection_ttl(IDLE_TTL);
    }
    if !reset {
        // The reset would also drop every prepared statement after each request.
        pool_opts = pool_opts.with_reset_connection(false);
    }
    let builder = OptsBuilder::from_opts(opts.clone()).pool_opts(pool_opts);
    #[cfg(feature = "mysql-tls")]
    let builder = match (opts.ssl_opts(), tls_ca) {
        (Some(ssl), Some(path)) => {
            // Only this CA, unless the URL also says `built_in_roots=true`.
            let ssl = ssl
                .clone()
                .with_root_certs(vec![super::tls::read_ca(&path)?.into()])
                .with_disable_built_in_roots(value("built_in_roots") != Some("true"));
            builder.ssl_opts(ssl)
        }
        _ => builder,
    };
    Ok((builder, table))
}

/// The `session_data` column of a row.
fn text_of(mut row: Row, op: &str) -> Result<String, StoreError> {
    match row.take_opt::<Vec<u8>, usize>(0) {
        Some(Ok(bytes)) => Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())),
        _ => Err(StoreError::Unavailable(format!(
            "mysql {op}: session_data is not text"
        ))),
    }
}

/// Unix seconds as a UTC `datetime(6)`, rounded to the microsecond and clamped to the years
/// `DATETIME` holds: 1000 to 9999.
/// The parameters of `users.upsert`: `key` is `user`'s, created and last seen at `now`,
/// expiring at `expires_at`.
fn index_entry<'a>(
    key: &'a str,
    user: &'a str,
    now: f64,
    expires_at: f64,
) -> (&'a str, &'a str, f64, f64, Value) {
    (key, user, now, now, datetime(expires_at))
}

fn datetime(unix: f64) -> Value {
    const MIN: i64 = -30_610_224_000_000_000; // 1000-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
    let micros = (unix * 1e6).round();
    let micros = if micros.is_nan() {
        0
    } else {
        (micros as i64).clamp(MIN, MAX)
    };
    let t = chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .naive_utc();
    Value::Date(
        t.year() as u16,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond() / 1000,
    )
}

/// Blanks out every single-quoted span of a server message: MySQL quotes values there (a
/// duplicate key, a bad datetime), and a message must never carry a session key.
fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for (i, part) in message.split('\'').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        } else {
            out.push_str("'…'");
        }
    }
    out
}

fn my_err(op: &str, e: &mysql_async::Error) -> StoreError {
    let what = match e {
        mysql_async::Error::Server(s) => {
            format!(
                "MySQL error {} ({}): {}",
                s.code,
                s.state,
                redact(&s.message)
            )
        }
        other => other.to_string(),
    };
    StoreError::Unavailable(format!("mysql {op}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_utc_wall_clock() {
        assert_eq!(
            datetime(1_701_209_600.25),
            Value::Date(2023, 11, 28, 22, 13, 20, 250_000)
        );
        assert_eq!(datetime(-1e300), Value::Date(1000, 1, 1, 0, 0, 0, 0));
        assert_eq!(
            datetime(f64::INFINITY),
            Value::Date(9999, 12, 31, 23, 59, 59, 999_999)
        );
    }

    #[test]
    fn quoted_values_are_redacted() {
        assert_eq!(
            redact("Duplicate entry 'abcdefgh12345678' for key 'PRIMARY'"),
            "Duplicate entry '…' for key '…'"
        );
        assert_eq!(redact("no quotes"), "no quotes");
    }

    fn opts(url: &str) -> Result<(Opts, Option<String>), StoreError> {
        let (opts, table) = opts_of(StoreUrl::parse(url)?)?;
        Ok((Opts::from(opts), table))
    }

    #[test]
    fn urls_take_the_table_and_pool_defaults() {
        let (o, table) = opts("mysql://u@h/db?table=t1").unwrap();
        assert_eq!(table.as_deref(), Some("t1"));
        let pool = o.pool_opts();
        assert_eq!(pool.constraints().min(), POOL_MIN);
        assert_eq!(pool.constraints().max(), super::super::default_pool_size());
        assert_eq!(pool.inactive_connection_ttl(), IDLE_TTL);
        assert!(!pool.reset_connection());
        let (o, _) = opts("mysql://u@h/db?pool_max=3&reset_connection=true").unwrap();
        assert_eq!(
            (
                o.pool_opts().constraints().min(),
                o.pool_opts().constraints().max()
            ),
            (0, 3)
        );
        assert!(o.pool_opts().reset_connection());
        for bad in ["mysql://u@h/db?pool_max=x", "postgres://u@h/db"] {
            assert!(matches!(opts(bad), Err(StoreError::Config(_))), "{bad}");
        }
        let Err(StoreError::Config(msg)) = opts("mysql://u:hunter2@h/db?pool_size=3") else {
            panic!("pool_size is not a parameter");
        };
        assert!(
            msg.starts_with(
                "unknown parameter \"pool_size\" for mysql:// (known: table, tls_ca, pool_min,"
            ),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    /// Every parameter listed as mysql_async's is one it takes (a valid value of each).
    #[test]
    fn every_driver_parameter_reaches_mysql_async() {
        let values = [
            ("pool_min", "1"),
            ("pool_max", "4"),
            ("inactive_connection_ttl", "30"),
            ("ttl_check_interval", "30"),
            ("conn_ttl", "60"),
            ("abs_conn_ttl", "600"),
            ("abs_conn_ttl_jitter", "10"),
            ("tcp_keepalive", "10000"),
            ("max_allowed_packet", "4194304"),
            ("wait_timeout", "28800"),
            ("enable_cleartext_plugin", "false"),
            ("reset_connection", "true"),
            ("tcp_nodelay", "true"),
            ("stmt_cache_size", "32"),
            ("prefer_socket", "false"),
            ("secure_auth", "true"),
            ("client_found_rows", "true"),
            ("socket", "%2Frun%2Fmysqld%2Fmysqld.sock"),
            ("compression", "fast"),
            ("require_ssl", "false"),
            ("verify_ca", "true"),
            ("verify_identity", "true"),
            ("built_in_roots", "true"),
        ];
        assert_eq!(
            values.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            DRIVER_PARAMS
        );
        for (name, value) in values {
            // The TLS parameters go with `require_ssl=true` (tls_urls checks them).
            let tls = if TLS_PARAMS.contains(&name) {
                "require_ssl=true&"
            } else {
                ""
            };
            let url = format!("mysql://u@h/db?table=t&{tls}{name}={value}");
            if cfg!(feature = "mysql-tls") || tls.is_empty() {
                assert!(opts(&url).is_ok(), "{url}: {:?}", opts(&url));
            }
        }
    }

    /// The TLS parameters come only with `require_ssl=true`, which takes the `mysql-tls`
    /// feature; they reach mysql_async's `SslOpts`, and `tls_ca=` makes its file the only
    /// root unless `built_in_roots=true` keeps the built-in ones too.
    #[test]
    fn tls_urls() {
        for name in [
            "verify_ca=false",
            "verify_identity=false",
            "built_in_roots=true",
        ]
        .into_iter()
        .chain(["tls_ca=/x.pem", "require_ssl=false&verify_ca=false"])
        {
            let url = format!("mysql://u:hunter2@h/db?{name}");
            let Err(StoreError::Config(msg)) = opts(&url) else {
                panic!("{url}: a TLS parameter without require_ssl=true");
            };
            assert!(msg.ends_with("applies only with require_ssl=true"), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        let (o, _) = opts("mysql://u@h/db?require_ssl=false").unwrap();
        assert!(o.ssl_opts().is_none());
        #[cfg(not(feature = "mysql-tls"))]
        {
            let Err(StoreError::Config(msg)) = opts("mysql://u@h/db?require_ssl=true") else {
                panic!("require_ssl=true without the mysql-tls feature");
            };
            assert!(msg.contains("\"mysql-tls\" cargo feature"), "{msg}");
        }
        #[cfg(feature = "mysql-tls")]
        {
            use mysql_async::SslOpts;
            let ssl = |url: &str| -> SslOpts {
                let (o, _) = opts(url).unwrap_or_else(|e| panic!("{url}: {e:?}"));
                o.ssl_opts().expect("TLS is on").clone()
            };
            let base = "mysql://u@h/db?require_ssl=true";
            let s = ssl(base);
            assert!(!s.accept_invalid_certs() && !s.skip_domain_validation());
            assert!(!s.disable_built_in_roots() && s.root_certs().is_empty());
            let s = ssl(&format!("{base}&verify_ca=false&verify_identity=false"));
            assert!(s.accept_invalid_certs() && s.skip_domain_validation());
            let ca = super::super::tls::test_ca_file("mysql-url");
            let with_ca = format!("{base}&tls_ca={}", ca.path.display());
            let s = ssl(&with_ca);
            assert!(s.disable_built_in_roots(), "tls_ca alone: only that CA");
            assert!(s.root_certs() == [ca.pem.as_bytes().to_vec().into()]);
            let s = ssl(&format!("{with_ca}&built_in_roots=true"));
            assert!(
                !s.disable_built_in_roots(),
                "built_in_roots=true keeps them"
            );
            assert_eq!(s.root_certs().len(), 1);
            assert!(!s.accept_invalid_certs() && !s.skip_domain_validation());
            let Err(StoreError::Config(msg)) = opts(&format!("{base}&tls_ca=/nonexistent.pem"))
            else {
                panic!("a missing tls_ca file");
            };
            assert!(
                msg.starts_with("tls_ca=/nonexistent.pem: cannot read it"),
                "{msg}"
            );
            // Not in the driver's URL: mysql_async would refuse a parameter it does not know.
            assert!(opts(&format!("{with_ca}&pool_max=2")).is_ok());
        }
    }
}
