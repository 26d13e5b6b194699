//! Every connection the store opens, and how each is set up.
//!
//! The database runs in WAL mode with `synchronous=NORMAL`: a commit is durable once the WAL
//! is synced at the next checkpoint, so a power loss can lose the last commits but never
//! corrupts the database. Each connection memory-maps the database file and has a 16 MiB page
//! cache. Every connection but an inline reader's waits for a lock (the moments Django holds
//! the write lock, or the WAL being reset) through [`wait_for_lock`], up to its thread's busy
//! timeout; an inline reader does not wait at all, its load goes to the reader threads.

use std::cell::Cell;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::config;
use crate::store::StoreError;

/// The writer's connection, the one that creates the file. Its auto-checkpoint is off:
/// checkpoints (the only fsyncs under `synchronous=NORMAL`) run on their own thread.
pub(super) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(config)?;
    conn.busy_handler(Some(wait_for_lock)).map_err(config)?;
    let _mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(config)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(config)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(config)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .map_err(config)?;
    tune(&conn)?;
    Ok(conn)
}

/// A reader thread's connection: `query_only`, so it can never write.
pub(super) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = open_connection(path).map_err(config)?;
    conn.busy_handler(Some(wait_for_lock)).map_err(config)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(config)?;
    tune(&conn)?;
    Ok(conn)
}

/// The checkpoint thread's connection.
pub(super) fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let conn = open_connection(path).map_err(config)?;
    conn.busy_handler(Some(wait_for_lock)).map_err(config)?;
    Ok(conn)
}

/// An inline reader's connection, or `None` when it cannot be had (the load then goes to the
/// reader threads).
pub(super) fn open_inline(path: &Path) -> Option<Connection> {
    let conn = open_connection(path).ok()?;
    // No busy handler: a load that would wait goes to the reader threads instead.
    conn.pragma_update(None, "query_only", true).ok()?;
    tune(&conn).ok()?;
    Some(conn)
}

/// Every connection but the writer's, which is opened with the defaults (they create the file).
fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// Memory-maps the database file (reads become memory copies instead of `pread`s) and gives
/// each connection a 16 MiB page cache.
fn tune(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)
        .map_err(config)?;
    conn.pragma_update(None, "cache_size", -16 * 1024)
        .map_err(config)
}

thread_local! {
    /// How long this thread's SQLite connection waits for a lock: set by each store thread.
    static BUSY_TIMEOUT: Cell<Duration> = const { Cell::new(Duration::from_secs(5)) };
}

/// Sets the busy timeout of a thread the store starts, for its whole life.
pub(super) fn set_busy_timeout(timeout: Duration) {
    BUSY_TIMEOUT.set(timeout);
}

/// Sets this thread's busy timeout until dropped (for a thread the store does not own).
pub(super) struct BusyTimeoutScope(Duration);

impl BusyTimeoutScope {
    pub(super) fn set(timeout: Duration) -> Self {
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
