//! Django's database backend on SQLite: the `django_session` table, shared row for row with a
//! Django app using the same database file.
//!
//! # Schema
//!
//! [`schema_statements`] are the two statements Django's migration `sessions.0001_initial`
//! runs on SQLite, byte for byte; [`SqliteStore::create_table`] runs them with
//! `IF NOT EXISTS` (which SQLite drops from the schema text it keeps, so `sqlite_master` holds
//! exactly Django's DDL). A custom table name gets its index named as Django would name it
//! (`<table>_expire_date_<md5(table + "expire_date")[:8]>`).
//!
//! # Dates
//!
//! With `USE_TZ=True`, Django's SQLite backend converts an aware datetime to naive UTC and
//! stores `str(value)`: `2023-11-28 22:13:20.250000`, with the fraction omitted when it is
//! zero (`2023-11-28 22:13:20`). [`format_datetime`] writes exactly that, rounding to the
//! microsecond as Python does. Django's own queries (`expire_date > now` on load,
//! `expire_date < now` in `clearsessions`) compare these strings as text, and so does tessera:
//! the canonical form is order-preserving even though it varies in length. Up to the seconds
//! every field has a fixed width; after them a value either ends or has `.` and exactly six
//! digits that are not all zero. Two values with the same seconds therefore compare as "the
//! one without a fraction is a proper prefix of the other, hence smaller", which is also the
//! true order (`…:20` < `…:20.000001`). So tessera binds its "now" in the same canonical form
//! and compares plain text, which (a) agrees with Django on which rows are live, even for
//! rows some other tool wrote in another shape, and (b) keeps the `expire_date` index usable
//! for the range scans of `clear_expired`. `julianday(expire_date) > julianday(?)` was
//! rejected: a function of the column cannot use Django's index (only an extra expression
//! index would, which Django's schema does not have), it has only millisecond precision, and
//! it would disagree with Django about odd rows.
//!
//! # Threads
//!
//! SQLite allows one writer at a time, so tessera gives it exactly one. The store hands its
//! work to these pieces, one submodule each:
//!
//! - `writer`: **one writer thread** owns the write connection and is fed by a channel. It
//!   runs every job queued in one transaction (group commit) and answers each only after the
//!   commit; a job whose caller has gone (a timeout, a cancelled request) before its batch
//!   holds the write lock is dropped unrun. Create, save, delete and each batch of
//!   `clear_expired` are write jobs.
//! - `inline`: **loads run on the calling thread**, over a `query_only` connection that thread
//!   opens for the store (at most 16 per store); in WAL mode they never wait for the writer. A
//!   load that would have to wait (`SQLITE_BUSY`) is not made to: it goes to the reader
//!   threads.
//! - `readers`: **reader threads** ([`SqliteStoreBuilder::readers`], 2 by default) each own a
//!   `query_only` connection and serve those loads, and exists, from a shared queue.
//! - `checkpoint`: **one checkpoint thread** copies the WAL into the database every
//!   [`SqliteStoreBuilder::checkpoint_interval`] when there were commits, so a commit never
//!   waits for an fsync, and resets the WAL once it passes
//!   [`SqliteStoreBuilder::max_wal_bytes`].
//! - `connection`: how each of those connections is opened and set up: WAL,
//!   `synchronous=NORMAL` (a power loss can lose the last commits but never corrupts the
//!   database), a busy timeout for the moments Django holds the write lock.
//!
//! Every statement is prepared once per connection (`prepare_cached`). Encoding and decoding
//! (HMAC, zlib, JSON) happen on the calling task, so the single writer thread does nothing
//! but SQL. Async callers only send on a channel and await a oneshot: nothing blocks the
//! runtime. All threads stop once the store is dropped and the queued work is done.
//!
//! The compare-and-swap is atomic across processes: SQLite's write lock serialises the
//! `UPDATE … WHERE session_data = ?` against any other writer, Django's included. (Django's
//! own saves do not compare, so a Django save racing a tessera save is last-writer-wins.)
//!
//! ```no_run
//! # fn demo(codec: tessera::session::codec::SessionCodec) -> Result<(), tessera::store::StoreError> {
//! use tessera::store::sqlite::SqliteStore;
//! let store = SqliteStore::open("db.sqlite3", codec)?; // creates the table if missing
//! # let _ = store; Ok(()) }
//! ```

/// The driver crate.
pub use rusqlite;

mod checkpoint;
mod connection;
mod inline;
mod readers;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::oneshot;

use self::connection::BusyTimeoutScope;
use self::inline::InlineReads;
use self::readers::ReadJob;
use self::writer::{Outcome, WriteJob, WriteOp};
use super::sql::{self, django_index_name, Dialect, Statements};
use super::user_index::{listing, user_id_of};
use super::{Loaded, Record, SaveOutcome, SessionStore, StoreError, UserSession, Version};
use crate::py::datetime::PyDateTime;
use crate::session::codec::SessionCodec;
use crate::session::key::SessionKey;

pub use super::sql::DEFAULT_TABLE;

/// Django's index name for `expire_date` on `table`, as `_create_index_name` builds it:
/// `<table>_expire_date_<first 8 hex digits of md5(table + "expire_date")>`.
pub fn index_name(table: &str) -> String {
    django_index_name(table, "expire_date", "", Dialect::Sqlite.max_name_len())
}

/// The statements Django's migration runs on SQLite for `table`, without `IF NOT EXISTS`:
/// the `CREATE TABLE` and the `CREATE INDEX` on `expire_date`.
pub fn schema_statements(table: &str) -> Result<[String; 2], StoreError> {
    <[String; 2]>::try_from(Statements::new(Dialect::Sqlite, table)?.ddl)
        .map_err(|_| StoreError::Config("sqlite store: expected two statements".to_owned()))
}

/// A Unix timestamp as Django stores a `DateTimeField` on SQLite with `USE_TZ=True`: naive UTC,
/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, rounded to the microsecond (ties to even, as Python's
/// `fromtimestamp`), the fraction omitted when zero.
pub fn format_datetime(unix: f64) -> Result<String, StoreError> {
    let at = PyDateTime::from_timestamp(unix, false)
        .map_err(|e| StoreError::Unavailable(format!("sqlite store: date out of range: {e}")))?;
    // A naive `isoformat()` is `str()` with a `T` instead of the space.
    let mut text = at.isoformat();
    text.replace_range(10..11, " ");
    Ok(text)
}

/// Configures a [`SqliteStore`]; [`open`](SqliteStoreBuilder::open) starts it.
#[derive(Debug, Clone)]
pub struct SqliteStoreBuilder {
    path: PathBuf,
    codec: SessionCodec,
    table: String,
    readers: usize,
    max_batch: usize,
    busy_timeout: Duration,
    create_table: bool,
    checkpoint_interval: Duration,
    max_wal_bytes: u64,
}

impl SqliteStoreBuilder {
    /// The table (default [`DEFAULT_TABLE`]): Django's `db_table` of the session model,
    /// under [`sql::check_table_name`]'s rule (checked by [`open`](Self::open)).
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// How many reader threads (each with its own connection) serve loads (default 2).
    pub fn readers(mut self, n: usize) -> Self {
        self.readers = n.max(1);
        self
    }

    /// Most writes committed in one transaction (default 256): larger batches amortise the
    /// commit, smaller ones bound the time one transaction holds SQLite's write lock.
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// How long a connection waits for a lock held by another process, such as Django
    /// writing, before failing (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How often the checkpoint thread copies new WAL commits into the database (default
    /// 100 ms). The writer never checkpoints itself, so commits never wait for an fsync.
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.checkpoint_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How large the WAL may grow before it is reset (default 16 MiB). Under a steady stream
    /// of commits a passive checkpoint never finds the WAL fully copied and unused, so SQLite
    /// would append to it forever; past this size the checkpoint thread runs a `RESTART`
    /// checkpoint, which waits for in-flight reads, holds the writer off for that moment, and
    /// makes the next commit write from the start of the file.
    pub fn max_wal_bytes(mut self, bytes: u64) -> Self {
        self.max_wal_bytes = bytes;
        self
    }

    /// Whether [`open`](Self::open) creates the table and its index when missing (default
    /// `true`). Turn off when Django's migrations own the schema.
    pub fn create_table(mut self, on: bool) -> Self {
        self.create_table = on;
        self
    }

    /// Opens (creating if needed) the database file, switches it to WAL, optionally creates
    /// the table, and starts the writer and reader threads.
    pub fn open(self) -> Result<SqliteStore, StoreError> {
        let path_text = self.path.to_string_lossy();
        if path_text.is_empty() || path_text == ":memory:" {
            return Err(StoreError::Config(
                "sqlite store: needs a database file (an in-memory database is private to one \
                 connection)"
                    .to_owned(),
            ));
        }
        let sql = Arc::new(Statements::new(Dialect::Sqlite, &self.table)?);

        // The statements run here wait with this store's timeout; the caller's thread gets its
        // own setting back when `open` returns.
        let _busy = BusyTimeoutScope::set(self.busy_timeout);
        create_owner_only(&self.path)?;
        let write_conn = connection::open_writer(&self.path)?;
        if self.create_table {
            let existed: bool = write_conn
                .query_row(
                    "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [sql.table.as_str()],
                    |row| row.get(0),
                )
                .map_err(config)?;
            write_conn
                .execute_batch(&sql.create_if_missing)
                .map_err(config)?;
            if !existed {
                tracing::info!(
                    target: "tessera::store",
                    "created the {} table as Django's migration sessions.0001_initial does",
                    sql.table
                );
            }
        }
        // Fail now, not on the first request, if the table is missing or has other columns.
        write_conn.prepare(&sql.save).map_err(config)?;
        // The per-user index is tessera's own table, which Django never sees: always made.
        write_conn
            .execute_batch(&sql.users.ddl.join("\n"))
            .map_err(config)?;

        let mut read_conns = Vec::with_capacity(self.readers);
        for _ in 0..self.readers {
            let conn = connection::open_reader(&self.path)?;
            conn.prepare(&sql.load).map_err(config)?;
            read_conns.push(conn);
        }

        // The writer holds `alive`; when it exits, the checkpointer does a last checkpoint.
        let (alive, writer_gone) = mpsc::channel::<()>();
        let dirty = Arc::new(AtomicBool::new(false));
        checkpoint::spawn(
            &self.path,
            self.checkpoint_interval,
            self.max_wal_bytes,
            self.busy_timeout,
            dirty.clone(),
            writer_gone,
        )?;
        let writer = writer::spawn(
            write_conn,
            sql.clone(),
            self.max_batch,
            self.busy_timeout,
            dirty,
            alive,
        )?;
        let reader = readers::spawn(read_conns, &sql, self.busy_timeout)?;

        Ok(SqliteStore {
            writer,
            reader,
            codec: self.codec,
            inline: Arc::new(InlineReads::new(self.path.clone(), sql.load.clone())),
            table: self.table.into(),
        })
    }
}

fn config(e: impl std::fmt::Display) -> StoreError {
    StoreError::Config(format!("sqlite store: {e}"))
}

fn stopped() -> StoreError {
    StoreError::Unavailable("sqlite store: worker thread stopped".to_owned())
}

fn db_err(e: rusqlite::Error) -> StoreError {
    // SQLite's messages name tables and constraints, never bound values (so never a key).
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// Sessions in Django's `django_session` table in a SQLite file. Dropping the store stops its
/// threads once their queued work is done.
#[derive(Debug)]
pub struct SqliteStore {
    writer: mpsc::Sender<WriteJob>,
    reader: mpsc::Sender<ReadJob>,
    codec: SessionCodec,
    table: Arc<str>,
    inline: Arc<InlineReads>,
}

/// Creates the database file readable by its owner only, if it does not exist yet: it holds
/// live session keys. SQLite gives the `-wal` and `-shm` files the database file's mode. An
/// existing file keeps the mode its owner gave it.
fn create_owner_only(path: &std::path::Path) -> Result<(), StoreError> {
    match crate::store::owner_only_new_file().open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Config(format!(
            "sqlite store: cannot create the database file: {e}"
        ))),
    }
}

impl SqliteStore {
    /// Opens `path` (creating the file and Django's table if missing) with the defaults.
    pub fn open(path: impl Into<PathBuf>, codec: SessionCodec) -> Result<Self, StoreError> {
        Self::builder(path, codec).open()
    }

    /// A builder for non-default settings.
    pub fn builder(path: impl Into<PathBuf>, codec: SessionCodec) -> SqliteStoreBuilder {
        SqliteStoreBuilder {
            path: path.into(),
            codec,
            table: DEFAULT_TABLE.to_owned(),
            readers: 2,
            max_batch: 256,
            busy_timeout: Duration::from_secs(5),
            create_table: true,
            checkpoint_interval: Duration::from_millis(100),
            max_wal_bytes: 16 * 1024 * 1024,
        }
    }

    /// The table this store uses.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The statements [`create_table`](Self::create_table) runs, without `IF NOT EXISTS`:
    /// Django's `sqlmigrate sessions 0001` for SQLite, for review or to run by hand.
    pub fn create_table_sql(&self) -> Vec<String> {
        Statements::new(Dialect::Sqlite, &self.table)
            .map(|s| s.ddl)
            .unwrap_or_default()
    }

    /// Creates the table and its index if they do not exist (idempotent).
    pub async fn create_table(&self) -> Result<(), StoreError> {
        self.write(WriteOp::CreateTable).await.map(|_| ())
    }

    async fn write(&self, op: WriteOp) -> Result<Outcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(WriteJob { op, reply })
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    async fn read<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> ReadJob,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.reader.send(job(reply)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.create_table().await
    }

    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        let now = format_datetime(now)?;
        let text = match self.inline.load(key.as_str(), &now) {
            Some(text) => text?,
            None => {
                let key = key.clone();
                self.read(|reply| ReadJob::Load { key, now, reply }).await?
            }
        };
        // An unreadable record is no session: it is never overwritten.
        Ok(text.and_then(|text| {
            self.codec.decode_record(&text).map(|data| Loaded {
                data,
                version: Version::Text(text.into()),
            })
        }))
    }

    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        let expire = format_datetime(record.expires_at)?;
        let data: Arc<str> = self.codec.encode(record.data).into();
        self.write(WriteOp::Create {
            key: key.clone(),
            data: data.clone(),
            expire,
            user: user_id_of(record.data),
            now: record.now,
        })
        .await?;
        Ok(Version::Text(data))
    }

    async fn save(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        let expire = format_datetime(record.expires_at)?;
        let data: Arc<str> = self.codec.encode(record.data).into();
        let expected = match expected {
            Version::Text(t) => Some(t.clone()),
            Version::Counter(_) => None,
        };
        let outcome = self
            .write(WriteOp::Save {
                key: key.clone(),
                data: data.clone(),
                expire,
                expected,
                user: user_id_of(record.data),
                now: record.now,
            })
            .await?;
        Ok(match outcome {
            Outcome::Saved => SaveOutcome::Saved(Version::Text(data)),
            Outcome::Conflict => SaveOutcome::Conflict,
            _ => SaveOutcome::Gone,
        })
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.write(WriteOp::Delete { key: key.clone() })
            .await
            .map(|_| ())
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.read(|reply| ReadJob::Exists { key, reply }).await
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
        let before = format_datetime(now)?;
        sql::clear_in_batches(batch_size, progress, |limit| {
            // Each batch is one write job, hence one short transaction.
            let op = WriteOp::Clear {
                before: before.clone(),
                limit: i64::try_from(limit).unwrap_or(i64::MAX),
            };
            async move {
                match self.write(op).await? {
                    Outcome::Count(n) => Ok(n),
                    _ => Ok(0),
                }
            }
        })
        .await
    }

    async fn user_sessions(&self, user_id: &str, now: f64) -> Result<Vec<UserSession>, StoreError> {
        let op = WriteOp::UserSessions {
            user: user_id.to_owned(),
            now: format_datetime(now)?,
        };
        let Outcome::Sessions(rows) = self.write(op).await? else {
            return Ok(Vec::new());
        };
        Ok(listing(rows))
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        let op = WriteOp::Revoke {
            user: user_id.to_owned(),
            keep: keep.map_or_else(String::new, |k| k.as_str().to_owned()),
        };
        match self.write(op).await? {
            Outcome::Count(n) => Ok(n),
            _ => Ok(0),
        }
    }

    async fn reindex_users(&self, now: f64, batch: usize) -> Result<u64, StoreError> {
        let mut after = String::new();
        let mut indexed = 0;
        loop {
            let op = WriteOp::Scan {
                now: format_datetime(now)?,
                after: after.clone(),
                limit: i64::try_from(batch.max(1)).unwrap_or(i64::MAX),
            };
            let Outcome::Rows(rows) = self.write(op).await? else {
                return Ok(indexed);
            };
            let Some((last, _, _)) = rows.last() else {
                return Ok(indexed);
            };
            after = last.clone();
            for (key, text, expires_at) in rows {
                let (Some(key), Some(data)) =
                    (SessionKey::parse(&key), self.codec.decode_record(&text))
                else {
                    continue;
                };
                if let Some(user) = user_id_of(&data) {
                    let expire = format_datetime(expires_at)?;
                    self.write(WriteOp::Index {
                        key,
                        user,
                        now,
                        expire,
                    })
                    .await?;
                    indexed += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_match_django() {
        assert_eq!(
            index_name("django_session"),
            "django_session_expire_date_a5c62663"
        );
        assert_eq!(
            index_name("my_sessions"),
            "my_sessions_expire_date_8a6b8a8d"
        );
    }

    /// A store on a new database file in a directory of its own (the caller removes it).
    pub(super) fn fresh_store(name: &str) -> (std::path::PathBuf, SqliteStore) {
        let dir = std::env::temp_dir().join(format!(
            "tessera-sqlite-{name}-{}-{}",
            std::process::id(),
            crate::signing::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let codec = SessionCodec::new(&crate::signing::SecretKeys::new(name)).unwrap();
        (
            dir.clone(),
            SqliteStore::open(dir.join("db.sqlite3"), codec).unwrap(),
        )
    }
}
