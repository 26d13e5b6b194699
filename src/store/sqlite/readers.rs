//! The read statements, and the reader threads that run them off the caller's thread.
//!
//! The reader threads ([`SqliteStoreBuilder::readers`](super::SqliteStoreBuilder::readers), 2
//! by default) each own a `query_only` connection and take jobs from a shared queue: the
//! loads that could not run inline (a thread past the inline connection cap, a load that would
//! have had to wait), and exists. WAL lets them run while the writer commits.
//!
//! - load: `SELECT session_data FROM t WHERE session_key = ? AND expire_date > ?`, which in
//!   WAL mode never waits for the writer;
//! - exists: `SELECT 1 FROM t WHERE session_key = ?` (also the writer's, to tell a conflict
//!   from a deleted row).

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::connection::set_busy_timeout;
use super::{config, db_err};
use crate::session::key::SessionKey;
use crate::store::sql::Statements;
use crate::store::StoreError;

/// The reader threads' name, numbered (Linux keeps 15 bytes, enough for `top -H` and `perf`).
const READER_THREAD: &str = "tessera-sqlr";

#[derive(Debug)]
pub(super) enum ReadJob {
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

/// Starts one reader thread per connection, all on one queue.
pub(super) fn spawn(
    conns: Vec<Connection>,
    sql: &Arc<Statements>,
    busy_timeout: Duration,
) -> Result<mpsc::Sender<ReadJob>, StoreError> {
    let (read_tx, read_rx) = mpsc::channel::<ReadJob>();
    let read_rx = Arc::new(Mutex::new(read_rx));
    for (i, conn) in conns.into_iter().enumerate() {
        let rx = read_rx.clone();
        let sql = sql.clone();
        std::thread::Builder::new()
            .name(format!("{READER_THREAD}{i}"))
            .spawn(move || {
                set_busy_timeout(busy_timeout);
                reader_loop(conn, &sql, &rx);
            })
            .map_err(config)?;
    }
    Ok(read_tx)
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

/// The live row's `session_data` (`Statements::load`, prepared once per connection).
pub(super) fn load_row(
    conn: &Connection,
    load: &str,
    key: &str,
    now: &str,
) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached(load)?
        .query_row(params![key, now], |r| r.get::<_, String>(0))
        .optional()
}

pub(super) fn exists(
    conn: &Connection,
    sql: &Statements,
    key: &SessionKey,
) -> Result<bool, StoreError> {
    conn.prepare_cached(&sql.exists)
        .and_then(|mut st| st.exists(params![key.as_str()]))
        .map_err(db_err)
}
