//! A MySQL/MariaDB store over Django's own `django_session` table, so tessera and a running
//! Django app can share sessions.
//!
//! - **Schema.** [`MysqlStore::create_table`] runs exactly the statements of Django's migration
//!   `sessions.0001_initial` (`longtext`, `datetime(6)`, `django_session_expire_date_a5c62663`,
//!   no engine or charset clause), and nothing when the table already exists, so it is
//!   harmless after Django's `migrate`. The other way round, once tessera has created the
//!   table, run Django's `python manage.py migrate sessions --fake-initial`, which sees the
//!   table and records `sessions.0001_initial` as applied (a plain `migrate` would fail with
//!   "table already exists").
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

use super::schema::django_index_name;
use super::{Loaded, Record, SaveOutcome, SessionStore, StoreError, Version};
use crate::session::codec::SessionCodec;
use crate::session::key::SessionKey;

/// Django's table name for the built-in session model.
pub const DEFAULT_TABLE: &str = "django_session";

/// MySQL's identifier limit, as Django's `max_name_length()`.
const MAX_NAME_LEN: usize = 64;
/// The fewest connections [`MysqlStore::connect`]'s pool keeps unless the URL says otherwise
/// (the most: [`default_pool_size`](super::default_pool_size)).
const POOL_MIN: usize = 0;
/// How long a pooled connection may idle before [`MysqlStore::connect`]'s pool closes it.
const IDLE_TTL: Duration = Duration::from_secs(60);
/// How long to wait for a new connection or a free pooled one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// MySQL's "Duplicate entry" error.
const ER_DUP_ENTRY: u16 = 1062;

/// The statements for one table name, built once.
#[derive(Debug)]
struct Sql {
    table: String,
    load: String,
    create: String,
    save: String,
    current: String,
    exists: String,
    delete: String,
    clear: String,
    ddl: Vec<String>,
}

impl Sql {
    fn new(table: &str) -> Sql {
        let t = format!("`{table}`");
        let expire = django_index_name(table, "expire_date", "", MAX_NAME_LEN);
        Sql {
            table: table.to_owned(),
            load: format!(
                "SELECT `session_data` FROM {t} WHERE `session_key` = ? AND `expire_date` > ?"
            ),
            create: format!(
                "INSERT INTO {t} (`session_key`, `session_data`, `expire_date`) VALUES (?, ?, ?)"
            ),
            save: format!(
                "UPDATE {t} SET `session_data` = ?, `expire_date` = ? \
                 WHERE `session_key` = ? AND CAST(`session_data` AS BINARY) = CAST(? AS BINARY)"
            ),
            current: format!("SELECT `session_data` FROM {t} WHERE `session_key` = ?"),
            exists: format!("SELECT 1 FROM {t} WHERE `session_key` = ?"),
            delete: format!("DELETE FROM {t} WHERE `session_key` = ?"),
            clear: format!("DELETE FROM {t} WHERE `expire_date` < ? LIMIT ?"),
            // Verbatim the output of Django's schema editor for `sessions.0001_initial`.
            ddl: vec![
                format!(
                    "CREATE TABLE {t} (`session_key` varchar(40) NOT NULL PRIMARY KEY, \
                     `session_data` longtext NOT NULL, `expire_date` datetime(6) NOT NULL);"
                ),
                format!("CREATE INDEX `{expire}` ON {t} (`expire_date`);"),
            ],
        }
    }
}

/// Sessions in a MySQL or MariaDB table laid out as Django's `django_session`. Cheap to
/// clone (clones share the pool).
#[derive(Clone)]
pub struct MysqlStore {
    pool: Pool,
    /// The pool's options, for the connection that kills an abandoned call's statement.
    opts: Opts,
    codec: SessionCodec,
    sql: Arc<Sql>,
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

impl MysqlStore {
    /// Connects to `url` (`mysql://user:pass@host:3306/db?…`, with mysql_async's URL
    /// parameters) and checks that the server answers. Unless the URL says otherwise, the
    /// pool holds up to twice as many connections as this process has cores, at least 8
    /// (`pool_min`/`pool_max`; a `pool_max` alone keeps the minimum at 0), keeps idle ones for
    /// a minute (`inactive_connection_ttl`) and keeps their statement caches across checkouts
    /// (`reset_connection=false`).
    ///
    /// The table is [`DEFAULT_TABLE`]; see [`table`](Self::table).
    pub async fn connect(url: &str, codec: SessionCodec) -> Result<Self, StoreError> {
        let given = url_params(url);
        // mysql_async's own `pool_min` default is 10, so a lone `pool_max` under 10 would be
        // refused; alone, it means this store's minimum, 0.
        let url = if given.contains(&"pool_max") && !given.contains(&"pool_min") {
            format!("{url}&pool_min={POOL_MIN}")
        } else {
            url.to_owned()
        };
        let opts = Opts::from_url(&url)
            .map_err(|e| StoreError::Config(format!("invalid MySQL URL: {e}")))?;
        let mut pool_opts = opts.pool_opts().clone();
        if !given.iter().any(|p| *p == "pool_min" || *p == "pool_max") {
            if let Some(pool) = PoolConstraints::new(POOL_MIN, super::default_pool_size()) {
                pool_opts = pool_opts.with_constraints(pool);
            }
        }
        if !given.contains(&"inactive_connection_ttl") {
            // With the default (0), the pool keeps only `pool_min` idle connections and closes
            // the rest on return: a new connection, and new prepared statements, per request.
            pool_opts = pool_opts.with_inactive_connection_ttl(IDLE_TTL);
        }
        if !given.contains(&"reset_connection") {
            // The reset would also drop every prepared statement after each request.
            pool_opts = pool_opts.with_reset_connection(false);
        }
        Self::from_opts(OptsBuilder::from_opts(opts).pool_opts(pool_opts), codec).await
    }

    /// Connects with options you built (TLS, a socket, `setup` statements, pool settings),
    /// taken as given except `CLIENT_FOUND_ROWS`, which is always set; checks that the
    /// server answers. Mind mysql_async's pool defaults: it closes every connection beyond
    /// `pool_min` on return unless `PoolOpts::with_inactive_connection_ttl` is non-zero, and
    /// resets each one it keeps (dropping its statement cache) unless
    /// `with_reset_connection(false)`.
    pub async fn from_opts(opts: OptsBuilder, codec: SessionCodec) -> Result<Self, StoreError> {
        let opts = Opts::from(opts.client_found_rows(true));
        let store = MysqlStore {
            pool: Pool::new(opts.clone()),
            opts,
            codec,
            sql: Arc::new(Sql::new(DEFAULT_TABLE)),
        };
        store.lease("connect").await?.finish();
        Ok(store)
    }

    /// Uses table `name` instead of `django_session` (as a custom Django session model's
    /// `db_table`): 1 to 64 ASCII letters, digits or underscores. The index name is derived as
    /// Django derives it, so [`create_table`](Self::create_table) matches that model's
    /// migration.
    pub fn table(mut self, name: &str) -> Result<Self, StoreError> {
        let ok = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(StoreError::Config(format!(
                "session table name must be 1 to {MAX_NAME_LEN} ASCII letters, digits or underscores"
            )));
        }
        self.sql = Arc::new(Sql::new(name));
        Ok(self)
    }

    /// The table this store reads and writes.
    pub fn table_name(&self) -> &str {
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
    /// the index is missing; [`create_table_sql`](Self::create_table_sql) lists it.
    /// Afterwards run Django's `migrate sessions --fake-initial`.
    pub async fn create_table(&self) -> Result<bool, StoreError> {
        const OP: &str = "create_table";
        let mut lease = self.lease(OP).await?;
        let result = self.create_table_on(lease.conn()).await;
        // Never return this connection to the pool: closing it releases the lock whatever
        // happened, and leaves no session state behind.
        let _ = lease.finish().disconnect().await;
        result
    }

    async fn create_table_on(&self, conn: &mut Conn) -> Result<bool, StoreError> {
        const OP: &str = "create_table";
        let locked: Option<Option<i64>> = conn
            .query_first("SELECT GET_LOCK('tessera.create_table', 30)")
            .await
            .map_err(|e| my_err(OP, &e))?;
        if locked.flatten() != Some(1) {
            return Err(StoreError::Unavailable(
                "mysql create_table: another process held the schema lock for 30 s".to_owned(),
            ));
        }
        let count: Option<i64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                (self.sql.table.as_str(),),
            )
            .await
            .map_err(|e| my_err(OP, &e))?;
        if count.unwrap_or(0) > 0 {
            return Ok(false);
        }
        for statement in &self.sql.ddl {
            conn.query_drop(statement.as_str())
                .await
                .map_err(|e| my_err(OP, &e))?;
        }
        Ok(true)
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
        let row: Option<Row> = self
            .with_conn(OP, async |conn| {
                conn.exec_first(self.sql.load.as_str(), (key.as_str(), datetime(now)))
                    .await
                    .map_err(|e| my_err(OP, &e))
            })
            .await?;
        let Some(row) = row else { return Ok(None) };
        let text = text_of(row, OP)?;
        let decoded = self.codec.decode(&text);
        Ok(Some(Loaded {
            data: decoded.data,
            version: Version::Text(text.into()),
        }))
    }

    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        const OP: &str = "create";
        let text = self.codec.encode(record.data);
        let params = (key.as_str(), text.as_str(), datetime(record.expires_at));
        self.with_conn(OP, async |conn| {
            conn.exec_drop(self.sql.create.as_str(), params)
                .await
                .map_err(|e| match e {
                    mysql_async::Error::Server(e) if e.code == ER_DUP_ENTRY => {
                        StoreError::DuplicateKey
                    }
                    e => my_err(OP, &e),
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
        self.with_conn(OP, async |conn| {
            // A version this store never issued matches no row.
            if let Version::Text(expected) = expected {
                let params = (
                    text.as_str(),
                    datetime(record.expires_at),
                    key.as_str(),
                    &**expected,
                );
                conn.exec_drop(self.sql.save.as_str(), params)
                    .await
                    .map_err(|e| my_err(OP, &e))?;
                if conn.affected_rows() > 0 {
                    return Ok(SaveOutcome::Saved(Version::Text(text.into())));
                }
            }
            // Rare path: nothing matched. Gone, changed by someone else, or (without
            // CLIENT_FOUND_ROWS) matched but already holding exactly these bytes.
            let row: Option<Row> = conn
                .exec_first(self.sql.current.as_str(), (key.as_str(),))
                .await
                .map_err(|e| my_err(OP, &e))?;
            let Some(row) = row else {
                return Ok(SaveOutcome::Gone);
            };
            Ok(if text_of(row, OP)? == text {
                SaveOutcome::Saved(Version::Text(text.into()))
            } else {
                SaveOutcome::Conflict
            })
        })
        .await
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        const OP: &str = "delete";
        self.with_conn(OP, async |conn| {
            conn.exec_drop(self.sql.delete.as_str(), (key.as_str(),))
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
        let batch = batch_size.max(1) as u64;
        let now = datetime(now);
        self.with_conn(OP, async |conn| {
            let mut total = 0u64;
            loop {
                // Each batch is its own statement (and transaction), so no lock is held long.
                conn.exec_drop(self.sql.clear.as_str(), (now.clone(), batch))
                    .await
                    .map_err(|e| my_err(OP, &e))?;
                let removed = conn.affected_rows();
                total += removed;
                progress(total);
                if removed < batch {
                    return Ok(total);
                }
            }
        })
        .await
    }
}

/// The names of the query parameters in a URL (to tell "set by the user" from defaults).
fn url_params(url: &str) -> Vec<&str> {
    url.split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .map(|p| p.split('=').next().unwrap_or(p))
                .collect()
        })
        .unwrap_or_default()
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
    fn index_names_are_djangos() {
        let n = |t: &str| django_index_name(t, "expire_date", "", MAX_NAME_LEN);
        assert_eq!(n("django_session"), "django_session_expire_date_a5c62663");
        assert_eq!(
            n("sessions_of_a_rather_long_application_name_x"),
            "sessions_of_a_rather_long_a_expire_date_eadd9554"
        );
    }

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

    #[test]
    fn url_params_are_listed() {
        assert_eq!(
            url_params("mysql://u@h/db?pool_max=5&reset_connection=true"),
            ["pool_max", "reset_connection"]
        );
        assert!(url_params("mysql://u@h/db").is_empty());
    }
}
