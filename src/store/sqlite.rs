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
//! # Threads and statements
//!
//! SQLite allows one writer at a time, so tessera gives it exactly one:
//!
//! - **one writer thread** owns the write connection and is fed by a channel. It takes every
//!   job queued (up to [`SqliteStoreBuilder::max_batch`]) and runs them in one
//!   `BEGIN IMMEDIATE … COMMIT` transaction (group commit), then answers each job through its
//!   oneshot only after the commit succeeded. On Linux it runs under `SCHED_BATCH`, so
//!   queueing a job never preempts the request thread on a shared core: the writer runs when
//!   that thread yields, with everything queued by then. A job whose caller has gone (the
//!   middleware's `store_timeout` fired, or the request was cancelled) is dropped unrun: the
//!   writer checks before `BEGIN IMMEDIATE` and again once it holds the write lock, which may
//!   have taken up to the busy timeout while another connection (Django, say) was writing; a
//!   batch left empty runs no transaction. So a write answered with a timeout because the
//!   lock was held elsewhere is not applied once the lock is released. One window remains: a
//!   caller that gives up after that second check, while its batch's statements or `COMMIT`
//!   run (normally microseconds to milliseconds; longer only if the disk stalls), still gets
//!   its write committed, though it was answered with a timeout. Statements:
//!   - create: `INSERT INTO t (session_key, session_data, expire_date) VALUES (?, ?, ?)`; a
//!     primary-key violation is [`StoreError::DuplicateKey`], never an overwrite;
//!   - save (compare-and-swap): `UPDATE t SET session_data = ?, expire_date = ? WHERE
//!     session_key = ? AND session_data = ?`; zero rows changed, then `SELECT 1 … WHERE
//!     session_key = ?` tells [`SaveOutcome::Conflict`] from [`SaveOutcome::Gone`];
//!   - delete: `DELETE FROM t WHERE session_key = ?`;
//!   - clear_expired: `DELETE FROM t WHERE rowid IN (SELECT rowid FROM t WHERE expire_date <=
//!     ? LIMIT ?)` (an index range scan), looped until a batch comes back short; each batch is
//!     one write job, hence one short transaction, shared at most with the small writes
//!     queued at the same moment, so other writers never wait behind a long purge. (Django's
//!     `clearsessions` uses `<`; `<=` matches load, which treats a row expiring exactly "now"
//!     as expired.)
//! - **loads run on the calling thread**, over a `query_only` connection that thread opens
//!   for the store (at most 16 per store): one statement,
//!   `SELECT session_data FROM t WHERE session_key = ? AND expire_date > ?`, which in WAL mode
//!   never waits for the writer. Skipping a hand-off to another thread saves two context
//!   switches per load. A load that would have to wait (`SQLITE_BUSY`) is not made to: it
//!   goes to the reader threads.
//! - **reader threads** ([`SqliteStoreBuilder::readers`], 2 by default) each own a
//!   `query_only` connection and take jobs from a shared queue: those loads, and exists
//!   (`SELECT 1 FROM t WHERE session_key = ?`). WAL lets them run while the writer commits.
//! - **one checkpoint thread** runs `PRAGMA wal_checkpoint(PASSIVE)` every
//!   [`SqliteStoreBuilder::checkpoint_interval`] when there were commits. The writer's own
//!   auto-checkpoint is off, so the fsyncs of checkpointing never sit in a commit's latency,
//!   and a passive checkpoint blocks neither the writer nor the readers. Under steady load a
//!   passive checkpoint never finds the WAL idle, so SQLite never rewinds it (a five-minute
//!   load run grew it to 450 MB); once it passes [`SqliteStoreBuilder::max_wal_bytes`], a
//!   `RESTART` checkpoint waits for in-flight reads and makes the next commit write from the
//!   start of the file again, holding the writer off for that moment. Every connection's busy
//!   handler retries every 20 µs at first (SQLite's own sleeps whole milliseconds), so that
//!   moment stays short.
//!
//! Every statement is prepared once per connection (`prepare_cached`). Encoding and decoding
//! (HMAC, zlib, JSON) happen on the calling task, so the single writer thread does nothing
//! but SQL. Async callers only send on a channel and await a oneshot: nothing blocks the
//! runtime. The connections use WAL, `synchronous=NORMAL` (a commit is durable once the WAL
//! is synced at the next checkpoint; a power loss can lose the last commits but never
//! corrupts the database), a busy timeout for the moments Django holds the write lock, a
//! memory-mapped database file and a 16 MiB page cache each. All threads stop once the store
//! is dropped and the queued work is done.
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

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use tokio::sync::oneshot;

use super::sql::{self, django_index_name, Dialect, Statements};
use super::{Loaded, Record, SaveOutcome, SessionStore, StoreError, Version};
use crate::py::datetime::PyDateTime;
use crate::session::codec::SessionCodec;
use crate::session::key::SessionKey;

// Thread names fit Linux's 15 bytes, so `top -H` and `perf` tell the threads apart.
const WRITER_THREAD: &str = "tessera-sqlw";
const CHECKPOINT_THREAD: &str = "tessera-sqlckpt";
const READER_THREAD: &str = "tessera-sqlr";

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
        let writer = Connection::open(&self.path).map_err(config)?;
        writer.busy_handler(Some(wait_for_lock)).map_err(config)?;
        let _mode: String = writer
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(config)?;
        writer
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(config)?;
        // Checkpoints (the only fsyncs under synchronous=NORMAL) run on their own thread.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(config)?;
        writer
            .pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
            .map_err(config)?;
        tune(&writer)?;
        if self.create_table {
            writer
                .execute_batch(&sql.create_if_missing)
                .map_err(config)?;
        }
        // Fail now, not on the first request, if the table is missing or has other columns.
        writer.prepare(&sql.save).map_err(config)?;

        let mut readers = Vec::with_capacity(self.readers);
        for _ in 0..self.readers {
            let conn = open_connection(&self.path).map_err(config)?;
            conn.busy_handler(Some(wait_for_lock)).map_err(config)?;
            conn.pragma_update(None, "query_only", true)
                .map_err(config)?;
            tune(&conn)?;
            conn.prepare(&sql.load).map_err(config)?;
            readers.push(conn);
        }

        let checkpointer = open_connection(&self.path).map_err(config)?;
        checkpointer
            .busy_handler(Some(wait_for_lock))
            .map_err(config)?;
        let dirty = Arc::new(AtomicBool::new(false));
        // The writer holds `_alive`; when it exits, the checkpointer does a last checkpoint.
        let (alive, writer_gone) = mpsc::channel::<()>();
        let page_size: u64 = checkpointer
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(config)?;
        let policy = CheckpointPolicy {
            interval: self.checkpoint_interval,
            restart_after_frames: self.max_wal_bytes / page_size.max(1),
        };
        let checkpoint_dirty = dirty.clone();
        let busy_timeout = self.busy_timeout;
        std::thread::Builder::new()
            .name(CHECKPOINT_THREAD.to_owned())
            .spawn(move || {
                BUSY_TIMEOUT.set(busy_timeout);
                checkpoint_loop(checkpointer, &checkpoint_dirty, &writer_gone, policy);
            })
            .map_err(config)?;

        let (write_tx, write_rx) = mpsc::channel::<WriteJob>();
        let max_batch = self.max_batch;
        let writer_sql = sql.clone();
        std::thread::Builder::new()
            .name(WRITER_THREAD.to_owned())
            .spawn(move || {
                run_as_batch_thread();
                BUSY_TIMEOUT.set(busy_timeout);
                let _alive = alive;
                writer_loop(writer, &writer_sql, &write_rx, max_batch, &dirty);
            })
            .map_err(config)?;

        let (read_tx, read_rx) = mpsc::channel::<ReadJob>();
        let read_rx = Arc::new(Mutex::new(read_rx));
        for (i, conn) in readers.into_iter().enumerate() {
            let rx = read_rx.clone();
            let sql = sql.clone();
            std::thread::Builder::new()
                .name(format!("{READER_THREAD}{i}"))
                .spawn(move || {
                    BUSY_TIMEOUT.set(busy_timeout);
                    reader_loop(conn, &sql, &rx);
                })
                .map_err(config)?;
        }

        Ok(SqliteStore {
            writer: write_tx,
            reader: read_tx,
            codec: self.codec,
            inline: Arc::new(InlineReads {
                path: self.path.clone(),
                load: sql.load.clone(),
                open: AtomicUsize::new(0),
            }),
            table: self.table.into(),
        })
    }
}

/// Memory-maps the database file (reads become memory copies instead of `pread`s) and gives
/// each connection a 16 MiB page cache.
fn tune(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)
        .map_err(config)?;
    conn.pragma_update(None, "cache_size", -16 * 1024)
        .map_err(config)
}

fn config(e: impl std::fmt::Display) -> StoreError {
    StoreError::Config(format!("sqlite store: {e}"))
}

fn stopped() -> StoreError {
    StoreError::Unavailable("sqlite store: worker thread stopped".to_owned())
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

/// Loads run on the calling thread, over a read-only connection of that thread's own: one
/// indexed point `SELECT` in WAL mode never waits for the writer (a few microseconds on a
/// cached page), and skipping the hop to a reader thread saves two context switches per load
/// (SQLite `/read` 68.6k → 87k req/s on one core). A load that would have to wait
/// (`SQLITE_BUSY`) or a thread past the connection cap goes to the reader threads instead. The
/// load blocks its thread for that one statement: microseconds on cached pages, a disk read on
/// a cold one.
#[derive(Debug)]
struct InlineReads {
    path: PathBuf,
    load: String,
    /// Open inline connections, across threads; at most [`INLINE_CONNECTIONS_MAX`].
    open: AtomicUsize,
}

/// Inline read connections one store may have open at once (one per thread that loads).
const INLINE_CONNECTIONS_MAX: usize = 16;

/// A thread's read connection for one store. It gives its place under the cap back when the
/// thread exits, or when that thread next loads from any SQLite store after this one is gone
/// (until then the file stays open).
struct InlineConnection {
    store: std::sync::Weak<InlineReads>,
    conn: Connection,
}

impl Drop for InlineConnection {
    fn drop(&mut self) {
        // A store that is gone has no count left to keep.
        if let Some(store) = self.store.upgrade() {
            store.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

thread_local! {
    /// This thread's read connections, one per live store it has loaded from.
    static INLINE_CONNECTIONS: std::cell::RefCell<Vec<InlineConnection>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl InlineReads {
    /// A new read connection for this thread, unless the store already has its cap of them
    /// or the file cannot be opened.
    fn connect(self: &Arc<Self>) -> Option<InlineConnection> {
        if self.open.fetch_add(1, Ordering::Relaxed) >= INLINE_CONNECTIONS_MAX {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let Ok(conn) = open_connection(&self.path) else {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return None;
        };
        // From here on, dropping `inline` gives the place back.
        let inline = InlineConnection {
            store: Arc::downgrade(self),
            conn,
        };
        // No busy handler: a load that would wait goes to the reader threads instead.
        inline.conn.pragma_update(None, "query_only", true).ok()?;
        tune(&inline.conn).ok()?;
        Some(inline)
    }

    /// The row's text, or `None` when this thread cannot read now (the caller falls back).
    fn load(self: &Arc<Self>, key: &str, now: &str) -> Option<Result<Option<String>, StoreError>> {
        INLINE_CONNECTIONS.with(|cell| {
            let mut conns = cell.try_borrow_mut().ok()?;
            let mine = |c: &InlineConnection| std::ptr::eq(c.store.as_ptr(), Arc::as_ptr(self));
            let index = match conns.iter().position(mine) {
                Some(i) => i,
                None => {
                    conns.retain(|c| c.store.strong_count() > 0);
                    conns.push(self.connect()?);
                    conns.len() - 1
                }
            };
            match load_row(&conns[index].conn, &self.load, key, now) {
                Ok(text) => Some(Ok(text)),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
                {
                    None
                }
                Err(e) => Some(Err(db_err(e))),
            }
        })
    }
}

/// A connection for a reader, the checkpointer or an inline load (the writer's is opened with
/// the defaults, which create the file).
fn open_connection(path: &std::path::Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// The live row's `session_data` (`Statements::load`, prepared once per connection).
fn load_row(
    conn: &Connection,
    load: &str,
    key: &str,
    now: &str,
) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached(load)?
        .query_row(params![key, now], |r| r.get::<_, String>(0))
        .optional()
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
        Ok(text.map(|text| Loaded {
            data: self.codec.decode(&text).data,
            version: Version::Text(text.into()),
        }))
    }

    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        let expire = format_datetime(record.expires_at)?;
        let data: Arc<str> = self.codec.encode(record.data).into();
        self.write(WriteOp::Create {
            key: key.clone(),
            data: data.clone(),
            expire,
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
}

// ---------------------------------------------------------------------------------------------
// The threads
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum WriteOp {
    Create {
        key: SessionKey,
        data: Arc<str>,
        expire: String,
    },
    Save {
        key: SessionKey,
        data: Arc<str>,
        expire: String,
        expected: Option<Arc<str>>,
    },
    Delete {
        key: SessionKey,
    },
    Clear {
        before: String,
        limit: i64,
    },
    CreateTable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    Count(u64),
    Saved,
    Conflict,
    Gone,
}

#[derive(Debug)]
struct WriteJob {
    op: WriteOp,
    reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

#[derive(Debug)]
enum ReadJob {
    Load {
        key: SessionKey,
        now: String,
        reply: oneshot::Sender<Result<Option<String>, StoreError>>,
    },
    Exists {
        key: SessionKey,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
}

fn db_err(e: rusqlite::Error) -> StoreError {
    // SQLite's messages name tables and constraints, never bound values (so never a key).
    StoreError::Unavailable(format!("sqlite: {e}"))
}

fn writer_loop(
    conn: Connection,
    sql: &Statements,
    rx: &mpsc::Receiver<WriteJob>,
    max_batch: usize,
    dirty: &AtomicBool,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, sql, &mut batch);
        dirty.store(true, Ordering::Release);
    }
}

/// Puts the calling thread under Linux's `SCHED_BATCH` policy at nice 0 (the default
/// thread's share of the CPU; a process running at a higher nice value without the right to
/// lower it keeps its own): waking the thread no longer preempts the thread that woke it.
/// Without this, when request threads and the writer share a core (a one-core container, a
/// pinned process), every write job sent wakes the writer at once, which commits that one job
/// and sleeps again: two context switches per write and no group commit. As a batch thread,
/// the writer runs when the request thread yields the core, and commits everything queued by
/// then in one transaction: SQLite `/write` on one core went from 17.5k to 30k req/s. On other
/// systems, or if the policy cannot be set, the thread keeps the default policy.
fn run_as_batch_thread() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityOsValue, ThreadSchedulePolicy,
        };
        let set = thread_priority::set_thread_priority_and_policy(
            thread_priority::thread_native_id(),
            ThreadPriority::Os(ThreadPriorityOsValue::default()),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
        );
        if let Err(e) = set {
            tracing::debug!(target: "tessera::store::sqlite", "SCHED_BATCH not set: {e:?}");
        }
    }
}

thread_local! {
    /// How long this thread's SQLite connection waits for a lock: set by each store thread.
    static BUSY_TIMEOUT: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::from_secs(5)) };
}

/// Sets this thread's [`BUSY_TIMEOUT`] until dropped.
struct BusyTimeoutScope(Duration);

impl BusyTimeoutScope {
    fn set(timeout: Duration) -> Self {
        BusyTimeoutScope(BUSY_TIMEOUT.replace(timeout))
    }
}

impl Drop for BusyTimeoutScope {
    fn drop(&mut self) {
        BUSY_TIMEOUT.set(self.0);
    }
}

/// The busy handler of every connection. SQLite's own sleeps 1, 2, 5, 10… ms between tries,
/// so even a lock held for 100 µs (readers draining while the WAL is reset) would cost a
/// commit milliseconds. This one tries again every 20 µs for the first 5 ms, then every
/// millisecond, until the thread's busy timeout.
fn wait_for_lock(tries: i32) -> bool {
    const QUICK_TRIES: u32 = 250;
    const QUICK: Duration = Duration::from_micros(20);
    const SLOW: Duration = Duration::from_millis(1);
    let tries = u32::try_from(tries).unwrap_or(0);
    let waited = if tries < QUICK_TRIES {
        QUICK * tries
    } else {
        QUICK * QUICK_TRIES + SLOW * (tries - QUICK_TRIES)
    };
    if waited >= BUSY_TIMEOUT.get() {
        return false;
    }
    std::thread::sleep(if tries < QUICK_TRIES { QUICK } else { SLOW });
    true
}

/// Passive checkpoints run back to back before a reset, each copying what was committed
/// during the one before, so the reset itself has little left to copy.
const PASSES_BEFORE_RESET: usize = 3;

/// When the checkpoint thread runs, and when it resets the WAL.
struct CheckpointPolicy {
    interval: Duration,
    /// WAL frames left after a passive checkpoint that call for a `RESTART` one.
    restart_after_frames: u64,
}

/// Checkpoints the WAL into the database every `interval` while there are new commits, off the
/// writer's path (a checkpoint is where `synchronous=NORMAL` fsyncs). `PASSIVE` never blocks the
/// writer or the readers; past the WAL bound, `RESTART` rewinds it.
fn checkpoint_loop(
    conn: Connection,
    dirty: &AtomicBool,
    writer_gone: &mpsc::Receiver<()>,
    policy: CheckpointPolicy,
) {
    // `(busy, frames in the WAL, frames copied)`, as the pragma reports them.
    let checkpoint = |mode: &str| -> Option<(i64, i64, i64)> {
        let sql = format!("PRAGMA wal_checkpoint({mode})");
        match conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))) {
            Ok(counts) => Some(counts),
            Err(e) => {
                tracing::warn!(target: "tessera::store::sqlite", "WAL checkpoint failed: {e}");
                None
            }
        }
    };
    let passive_then_bound = || {
        let Some((_, frames, _)) = checkpoint("PASSIVE") else {
            return;
        };
        if u64::try_from(frames).unwrap_or(0) <= policy.restart_after_frames {
            return;
        }
        // The reset holds the writer off while it copies what is left and syncs, so first
        // copy, without blocking anyone, what was committed during the last copy.
        for _ in 0..PASSES_BEFORE_RESET {
            match checkpoint("PASSIVE") {
                Some((_, log, done)) if log - done > 256 => continue,
                _ => break,
            }
        }
        checkpoint("RESTART");
    };
    loop {
        match writer_gone.recv_timeout(policy.interval) {
            Err(mpsc::RecvTimeoutError::Timeout) | Ok(()) => {
                if dirty.swap(false, Ordering::Acquire) {
                    passive_then_bound();
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                checkpoint("TRUNCATE");
                return;
            }
        }
    }
}

/// Runs the queued writes in one transaction and answers them once it committed.
///
/// A job whose caller has gone (its reply channel is closed: the caller timed out or was
/// cancelled, and was answered with an error) is dropped unrun, both before `BEGIN IMMEDIATE`
/// and after it, since taking the write lock can wait up to the busy timeout. With no job
/// left, there is no transaction at all.
fn run_batch(conn: &Connection, sql: &Statements, batch: &mut Vec<WriteJob>) {
    batch.retain(|job| !job.reply.is_closed());
    if batch.is_empty() {
        return;
    }
    if let Err(e) = run(conn, "BEGIN IMMEDIATE") {
        let e = db_err(e);
        for job in batch.drain(..) {
            let _ = job.reply.send(Err(StoreError::Unavailable(e.to_string())));
        }
        return;
    }
    batch.retain(|job| !job.reply.is_closed());
    if batch.is_empty() {
        if let Err(e) = run(conn, "ROLLBACK") {
            tracing::warn!(target: "tessera::store::sqlite", "cannot end an empty transaction: {e}");
        }
        return;
    }
    let mut done = Vec::with_capacity(batch.len());
    let mut failed: Option<String> = None;
    for job in batch.drain(..) {
        if failed.is_some() {
            done.push((job.reply, Ok(Outcome::Done)));
            continue;
        }
        let result = execute(conn, sql, &job.op);
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (disk full, I/O error…).
            failed = Some(match &result {
                Err(e) => e.to_string(),
                Ok(_) => "sqlite: transaction rolled back".to_owned(),
            });
        }
        done.push((job.reply, result));
    }
    let failed = match failed {
        Some(e) => Some(e),
        None => run(conn, "COMMIT").err().map(|e| db_err(e).to_string()),
    };
    match failed {
        None => {
            for (reply, result) in done {
                let _ = reply.send(result);
            }
        }
        Some(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            for (reply, _) in done {
                let _ = reply.send(Err(StoreError::Unavailable(e.clone())));
            }
        }
    }
}

/// Runs a parameterless statement, prepared once.
fn run(conn: &Connection, statement: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(statement)?.execute([]).map(|_| ())
}

fn execute(conn: &Connection, sql: &Statements, op: &WriteOp) -> Result<Outcome, StoreError> {
    match op {
        WriteOp::Create { key, data, expire } => {
            let inserted = conn
                .prepare_cached(&sql.create)
                .and_then(|mut st| st.execute(params![key.as_str(), &**data, expire]));
            match inserted {
                Ok(_) => Ok(Outcome::Done),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::DuplicateKey)
                }
                Err(e) => Err(db_err(e)),
            }
        }
        WriteOp::Save {
            key,
            data,
            expire,
            expected,
        } => {
            if let Some(expected) = expected {
                let changed = conn
                    .prepare_cached(&sql.save)
                    .and_then(|mut st| {
                        st.execute(params![&**data, expire, key.as_str(), &**expected])
                    })
                    .map_err(db_err)?;
                if changed > 0 {
                    return Ok(Outcome::Saved);
                }
            }
            Ok(if exists(conn, sql, key)? {
                Outcome::Conflict
            } else {
                Outcome::Gone
            })
        }
        WriteOp::Delete { key } => conn
            .prepare_cached(&sql.delete)
            .and_then(|mut st| st.execute(params![key.as_str()]))
            .map(|_| Outcome::Done)
            .map_err(db_err),
        WriteOp::Clear { before, limit } => conn
            .prepare_cached(&sql.clear)
            .and_then(|mut st| st.execute(params![before, limit]))
            .map(|n| Outcome::Count(n as u64))
            .map_err(db_err),
        WriteOp::CreateTable => conn
            .execute_batch(&sql.create_if_missing)
            .map(|()| Outcome::Done)
            .map_err(db_err),
    }
}

fn exists(conn: &Connection, sql: &Statements, key: &SessionKey) -> Result<bool, StoreError> {
    conn.prepare_cached(&sql.exists)
        .and_then(|mut st| st.exists(params![key.as_str()]))
        .map_err(db_err)
}

fn reader_loop(conn: Connection, sql: &Statements, rx: &Mutex<mpsc::Receiver<ReadJob>>) {
    loop {
        // Hold the queue only while waiting for one job, so the readers take turns.
        let job = rx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .recv();
        let Ok(job) = job else { return };
        match job {
            ReadJob::Load { key, now, reply } => {
                let text = load_row(&conn, &sql.load, key.as_str(), &now).map_err(db_err);
                let _ = reply.send(text);
            }
            ReadJob::Exists { key, reply } => {
                let _ = reply.send(exists(&conn, sql, &key));
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
    fn fresh_store(name: &str) -> (std::path::PathBuf, SqliteStore) {
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

    /// The writer thread runs under `SCHED_BATCH` (policy 3), so waking it does not preempt
    /// the request thread that queued the write. (The checkpoint thread keeps the default
    /// policy: it wakes rarely, and the WAL bound depends on it running on time.)
    #[cfg(target_os = "linux")]
    #[test]
    fn the_writer_is_a_batch_thread() {
        let (dir, store) = fresh_store("batch");
        // `(name, policy)` of every thread of this process: the policy is field 41 of `stat`,
        // the 39th after the parenthesised name.
        let threads = || -> Vec<(String, String)> {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|task| {
                    let task = task.ok()?.path();
                    let name = std::fs::read_to_string(task.join("comm")).ok()?;
                    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
                    let after_name = &stat[stat.rfind(')')? + 1..];
                    let policy = after_name.split_whitespace().nth(38)?.to_owned();
                    Some((name.trim_end().to_owned(), policy))
                })
                .collect()
        };
        // Each thread names itself and sets its policy once it runs (so do the threads of
        // stores other tests are opening meanwhile): wait for that, up to 5 s.
        let all_batch = |threads: &[(String, String)]| {
            let mut writers = threads.iter().filter(|(name, _)| name == WRITER_THREAD);
            writers.clone().next().is_some() && writers.all(|(_, policy)| policy == "3")
        };
        let mut seen = threads();
        for _ in 0..100 {
            if all_batch(&seen) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            seen = threads();
        }
        assert!(all_batch(&seen), "{seen:?}");
        drop(store);
        std::fs::remove_dir_all(&dir).ok();
    }

    /// More threads than the cap all load; only [`INLINE_CONNECTIONS_MAX`] of them hold an
    /// inline connection (the rest went through the reader threads), and every place is given
    /// back when the threads exit.
    #[test]
    fn inline_connections_are_capped_and_given_back() {
        let (dir, store) = fresh_store("inline");
        let store = Arc::new(store);
        let key = SessionKey::generate().unwrap();
        let mut data = crate::json::Map::new();
        data.insert("n".to_owned(), crate::json::Value::from(7));
        let expires_at = crate::signing::now() + 3600.0;
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.create(
            &key,
            Record {
                data: &data,
                expires_at,
            },
        ))
        .unwrap();

        let threads = INLINE_CONNECTIONS_MAX + 4;
        let all_loaded = Arc::new(std::sync::Barrier::new(threads + 1));
        let may_exit = Arc::new(std::sync::Barrier::new(threads + 1));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (store, key) = (store.clone(), key.clone());
                let (all_loaded, may_exit) = (all_loaded.clone(), may_exit.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    let loaded = rt.block_on(store.load(&key, crate::signing::now()));
                    all_loaded.wait();
                    may_exit.wait();
                    loaded.unwrap().unwrap().data
                })
            })
            .collect();
        all_loaded.wait();
        // Every thread is alive and has loaded once.
        assert_eq!(
            store.inline.open.load(Ordering::Relaxed),
            INLINE_CONNECTIONS_MAX
        );
        may_exit.wait();
        for h in handles {
            assert_eq!(h.join().unwrap(), data);
        }
        assert_eq!(store.inline.open.load(Ordering::Relaxed), 0);
        drop(store);
        std::fs::remove_dir_all(&dir).ok();
    }
}
