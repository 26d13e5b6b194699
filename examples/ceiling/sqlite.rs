//! SQLite's ceiling: tessera's statements on a connection owned by the worker thread that
//! serves the request, with no thread hop.
//!
//! This is the physical floor of a session on SQLite in this process: the statements run
//! inline, on statements prepared once per connection (`prepare_cached`), with the pragmas
//! tessera's store sets (WAL, `synchronous=NORMAL`, no auto-checkpoint, a 64 MiB journal size
//! limit, a 256 MiB memory map and a 16 MiB page cache) and a checkpoint thread on tessera's
//! schedule (a passive checkpoint every 100 ms after commits, a `RESTART` past 16 MiB of
//! WAL), so the WAL costs what it costs tessera. Per route:
//!
//! - `/read`: `SELECT "session_data" … WHERE "session_key" = ?1 AND "expire_date" > ?2`;
//! - `/write`: that `SELECT`, then `BEGIN IMMEDIATE`, the compare-and-swap `UPDATE … WHERE
//!   "session_key" = ?3 AND "session_data" = ?4`, the side table's `DELETE FROM
//!   "tessera_session_user" WHERE "session_key" = ?1` (what tessera runs for a session without
//!   a user), `COMMIT`;
//! - `/create`: `BEGIN IMMEDIATE`, `INSERT`, the same `DELETE`, `COMMIT`.
//!
//! One difference is deliberate: tessera's writer thread commits every write queued at that
//! moment in one transaction (group commit), while the ceiling, which never leaves the request's
//! thread, commits each request's write on its own. Under many concurrent writers tessera
//! can therefore beat this ceiling on `/write` and `/create`: the ceiling is the floor of the
//! statements, not of every way to schedule them.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use tessera::store::sqlite::format_datetime;

use super::store::Error;

const LOAD: &str =
    "SELECT \"session_data\" FROM \"django_session\" WHERE \"session_key\" = ?1 AND \"expire_date\" > ?2";
const CREATE: &str = "INSERT INTO \"django_session\" (\"session_key\", \"session_data\", \"expire_date\") VALUES (?1, ?2, ?3)";
const SAVE: &str = "UPDATE \"django_session\" SET \"session_data\" = ?1, \"expire_date\" = ?2 WHERE \"session_key\" = ?3 AND \"session_data\" = ?4";
const UNINDEX: &str = "DELETE FROM \"tessera_session_user\" WHERE \"session_key\" = ?1";

/// tessera's checkpoint interval and WAL bound (`SqliteStoreBuilder`'s defaults).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);
const MAX_WAL_BYTES: i64 = 16 * 1024 * 1024;
/// How long a connection waits for a lock (tessera's default busy timeout).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

thread_local! {
    /// This worker thread's connection, opened on its first request.
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

/// The ceiling's SQLite store: a database file, and a flag the checkpoint thread reads.
pub struct SqliteCeiling {
    path: PathBuf,
    dirty: Arc<AtomicBool>,
}

impl SqliteCeiling {
    /// Checks that the file opens with tessera's pragmas and starts the checkpoint thread.
    pub fn open(path: &str) -> Result<SqliteCeiling, Error> {
        let path = PathBuf::from(path);
        connect(&path)?;
        let dirty = Arc::new(AtomicBool::new(false));
        spawn_checkpointer(&path, dirty.clone())?;
        Ok(SqliteCeiling { path, dirty })
    }

    pub fn load(&self, key: &str, now: f64) -> Result<Option<String>, Error> {
        let now = format_datetime(now)?;
        self.with_connection(|conn| {
            conn.prepare_cached(LOAD)?
                .query_row(params![key, now], |row| row.get(0))
                .optional()
        })
    }

    pub fn create(&self, key: &str, text: &str, expires_at: f64) -> Result<bool, Error> {
        let expire = format_datetime(expires_at)?;
        self.transaction(|conn| {
            match conn
                .prepare_cached(CREATE)?
                .execute(params![key, text, expire])
            {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == ErrorCode::ConstraintViolation =>
                {
                    return Ok(false)
                }
                Err(e) => return Err(e),
            }
            conn.prepare_cached(UNINDEX)?.execute(params![key])?;
            Ok(true)
        })
    }

    pub fn save(
        &self,
        key: &str,
        text: &str,
        expected: &str,
        expires_at: f64,
    ) -> Result<bool, Error> {
        let expire = format_datetime(expires_at)?;
        self.transaction(|conn| {
            let changed = conn
                .prepare_cached(SAVE)?
                .execute(params![text, expire, key, expected])?;
            if changed > 0 {
                conn.prepare_cached(UNINDEX)?.execute(params![key])?;
            }
            Ok(changed > 0)
        })
    }

    /// Runs `work` in `BEGIN IMMEDIATE … COMMIT` (rolled back when it fails), as tessera's
    /// writer runs its batches.
    fn transaction<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let result = self.with_connection(|conn| {
            conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
            match work(conn) {
                Ok(value) => {
                    conn.prepare_cached("COMMIT")?.execute([])?;
                    Ok(value)
                }
                Err(e) => {
                    if !conn.is_autocommit() {
                        conn.execute_batch("ROLLBACK")?;
                    }
                    Err(e)
                }
            }
        });
        self.dirty.store(true, Ordering::Release);
        result
    }

    /// Runs `work` on this thread's connection, opening it first if needed.
    fn with_connection<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        CONNECTION.with(|cell| {
            let mut slot = cell.try_borrow_mut()?;
            if slot.is_none() {
                *slot = Some(connect(&self.path)?);
            }
            match slot.as_ref() {
                Some(conn) => Ok(work(conn)?),
                None => Err("no SQLite connection".into()),
            }
        })
    }
}

/// A connection set up as tessera's writer connection is (plus its readers' memory map and
/// page cache).
fn connect(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open(path)?;
    conn.busy_handler(Some(wait_for_lock))?;
    let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
    conn.pragma_update(None, "cache_size", -16 * 1024)?;
    Ok(conn)
}

/// tessera's busy handler: a retry every 20 µs for the first 5 ms, then every millisecond, up
/// to the busy timeout (SQLite's own sleeps whole milliseconds from the start).
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
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(if tries < QUICK_TRIES { QUICK } else { SLOW });
    true
}

/// The checkpoint thread, on tessera's schedule: every interval after commits, a passive
/// checkpoint; past the WAL bound, a few more passive ones and then a `RESTART`.
fn spawn_checkpointer(path: &Path, dirty: Arc<AtomicBool>) -> Result<(), Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_handler(Some(wait_for_lock))?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let restart_after_frames = MAX_WAL_BYTES / page_size.max(1);
    let checkpoint = move |mode: &str| -> Option<(i64, i64)> {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })
        .inspect_err(|e| eprintln!("WAL checkpoint failed: {e}"))
        .ok()
    };
    std::thread::Builder::new()
        .name("ceiling-sqlckpt".to_owned())
        .spawn(move || loop {
            std::thread::sleep(CHECKPOINT_INTERVAL);
            if !dirty.swap(false, Ordering::Acquire) {
                continue;
            }
            match checkpoint("PASSIVE") {
                Some((frames, _)) if frames > restart_after_frames => {}
                _ => continue,
            }
            for _ in 0..3 {
                match checkpoint("PASSIVE") {
                    Some((log, done)) if log - done > 256 => continue,
                    _ => break,
                }
            }
            checkpoint("RESTART");
        })?;
    Ok(())
}
