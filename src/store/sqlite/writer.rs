//! The one writer thread: SQLite allows one writer at a time, so every write goes through it.
//!
//! It owns the write connection and is fed by a channel. It takes every job queued (up to
//! [`SqliteStoreBuilder::max_batch`](super::SqliteStoreBuilder::max_batch)) and runs them in
//! one `BEGIN IMMEDIATE … COMMIT` transaction (group commit), then answers each job through
//! its oneshot only after the commit succeeded. On Linux it runs under `SCHED_BATCH`, so
//! queueing a job never preempts the request thread on a shared core: the writer runs when
//! that thread yields, with everything queued by then.
//!
//! A job whose caller has gone (the middleware's `store_timeout` fired, or the request was
//! cancelled) is dropped unrun: the writer checks before `BEGIN IMMEDIATE` and again once it
//! holds the write lock, which may have taken up to the busy timeout while another connection
//! (Django, say) was writing; a batch left empty runs no transaction. So a write answered with
//! a timeout because the lock was held elsewhere is not applied once the lock is released. One
//! window remains: a caller that gives up after that second check, while its batch's
//! statements or `COMMIT` run (normally microseconds to milliseconds; longer only if the disk
//! stalls), still gets its write committed, though it was answered with a timeout.
//!
//! Statements:
//! - create: `INSERT INTO t (session_key, session_data, expire_date) VALUES (?, ?, ?)`; a
//!   primary-key violation is [`StoreError::DuplicateKey`], never an overwrite;
//! - save (compare-and-swap): `UPDATE t SET session_data = ?, expire_date = ? WHERE
//!   session_key = ? AND session_data = ?`; zero rows changed, then `SELECT 1 … WHERE
//!   session_key = ?` tells [`SaveOutcome::Conflict`](crate::store::SaveOutcome::Conflict)
//!   from [`SaveOutcome::Gone`](crate::store::SaveOutcome::Gone);
//! - delete: `DELETE FROM t WHERE session_key = ?`;
//! - clear_expired: `DELETE FROM t WHERE rowid IN (SELECT rowid FROM t WHERE expire_date <= ?
//!   LIMIT ?)` (an index range scan), looped until a batch comes back short; each batch is one
//!   write job, hence one short transaction, shared at most with the small writes queued at
//!   the same moment, so other writers never wait behind a long purge. (Django's
//!   `clearsessions` uses `<`; `<=` matches load, which treats a row expiring exactly "now" as
//!   expired.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode};
use tokio::sync::oneshot;

use super::connection::set_busy_timeout;
use super::readers::exists;
use super::{config, db_err};
use crate::session::key::SessionKey;
use crate::store::sql::Statements;
use crate::store::StoreError;

/// The writer thread's name (Linux keeps 15 bytes, enough for `top -H` and `perf`).
const WRITER_THREAD: &str = "tessera-sqlw";

#[derive(Debug)]
pub(super) enum WriteOp {
    Create {
        key: SessionKey,
        data: Arc<str>,
        expire: String,
        /// The user it is indexed under, and the write's time.
        user: Option<String>,
        now: f64,
    },
    Save {
        key: SessionKey,
        data: Arc<str>,
        expire: String,
        expected: Option<Arc<str>>,
        user: Option<String>,
        now: f64,
    },
    /// A user's live sessions, pruning dead entries (a write: it prunes).
    UserSessions {
        user: String,
        now: String,
    },
    /// Deletes a user's sessions but `keep` ('' for none), and their entries.
    Revoke {
        user: String,
        keep: String,
    },
    /// One page of live sessions for the backfill.
    Scan {
        now: String,
        after: String,
        limit: i64,
    },
    /// Indexes one session (the backfill).
    Index {
        key: SessionKey,
        user: String,
        now: f64,
        expire: String,
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

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    Done,
    Count(u64),
    Saved,
    Conflict,
    Gone,
    /// Key, created_at, last_seen, expiry (seconds).
    Sessions(Vec<(String, f64, f64, f64)>),
    /// Key, data, expiry (seconds).
    Rows(Vec<(String, String, f64)>),
}

#[derive(Debug)]
pub(super) struct WriteJob {
    pub(super) op: WriteOp,
    pub(super) reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// Starts the writer thread on `conn`. It sets `dirty` after each batch, for the checkpoint
/// thread, and holds `alive` until it exits, which tells that thread to checkpoint a last time.
pub(super) fn spawn(
    conn: Connection,
    sql: Arc<Statements>,
    max_batch: usize,
    busy_timeout: Duration,
    dirty: Arc<AtomicBool>,
    alive: mpsc::Sender<()>,
) -> Result<mpsc::Sender<WriteJob>, StoreError> {
    let (write_tx, write_rx) = mpsc::channel::<WriteJob>();
    std::thread::Builder::new()
        .name(WRITER_THREAD.to_owned())
        .spawn(move || {
            run_as_batch_thread();
            set_busy_timeout(busy_timeout);
            let _alive = alive;
            writer_loop(conn, &sql, &write_rx, max_batch, &dirty);
        })
        .map_err(config)?;
    Ok(write_tx)
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
        WriteOp::Create {
            key,
            data,
            expire,
            user,
            now,
        } => {
            let inserted = conn
                .prepare_cached(&sql.create)
                .and_then(|mut st| st.execute(params![key.as_str(), &**data, expire]));
            match inserted {
                Ok(_) => {
                    index(conn, sql, key, user.as_deref(), *now, expire)?;
                    Ok(Outcome::Done)
                }
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
            user,
            now,
        } => {
            if let Some(expected) = expected {
                let changed = conn
                    .prepare_cached(&sql.save)
                    .and_then(|mut st| {
                        st.execute(params![&**data, expire, key.as_str(), &**expected])
                    })
                    .map_err(db_err)?;
                if changed > 0 {
                    // Same transaction as the swap, and only when it succeeded.
                    index(conn, sql, key, user.as_deref(), *now, expire)?;
                    return Ok(Outcome::Saved);
                }
            }
            Ok(if exists(conn, sql, key)? {
                Outcome::Conflict
            } else {
                Outcome::Gone
            })
        }
        WriteOp::Delete { key } => {
            exec(conn, &sql.delete, params![key.as_str()])?;
            exec(conn, &sql.users.unindex, params![key.as_str()])?;
            Ok(Outcome::Done)
        }
        WriteOp::Clear { before, limit } => {
            let n = exec(conn, &sql.clear, params![before, limit])?;
            // The entries of the sessions just removed (and of any Django removed).
            exec(conn, &sql.users.clear, params![before, before, limit])?;
            Ok(Outcome::Count(n))
        }
        WriteOp::CreateTable => conn
            .execute_batch(&sql.create_if_missing)
            .and_then(|()| conn.execute_batch(&sql.users.ddl.join("\n")))
            .map(|()| Outcome::Done)
            .map_err(db_err),
        WriteOp::UserSessions { user, now } => {
            exec(conn, &sql.users.prune, params![user, now])?;
            let mut st = conn.prepare_cached(&sql.users.list).map_err(db_err)?;
            let rows = st
                .query_map(params![user, now], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(db_err)?;
            Ok(Outcome::Sessions(rows))
        }
        WriteOp::Revoke { user, keep } => {
            let keys: Vec<String> = conn
                .prepare_cached(&sql.users.keys)
                .and_then(|mut st| {
                    st.query_map(params![user, keep], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .map_err(db_err)?;
            let mut removed = 0;
            for key in keys {
                removed += exec(conn, &sql.delete, params![key])?;
                exec(conn, &sql.users.unindex, params![key])?;
            }
            Ok(Outcome::Count(removed))
        }
        WriteOp::Scan { now, after, limit } => {
            let mut st = conn.prepare_cached(&sql.users.scan).map_err(db_err)?;
            let rows = st
                .query_map(params![now, after, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(db_err)?;
            Ok(Outcome::Rows(rows))
        }
        WriteOp::Index {
            key,
            user,
            now,
            expire,
        } => {
            index(conn, sql, key, Some(user), *now, expire)?;
            Ok(Outcome::Done)
        }
    }
}

fn exec(
    conn: &Connection,
    statement: &str,
    params: impl rusqlite::Params,
) -> Result<u64, StoreError> {
    conn.prepare_cached(statement)
        .and_then(|mut st| st.execute(params))
        .map(|n| n as u64)
        .map_err(db_err)
}

/// Indexes `key` under `user`, or unindexes it for a record without one, in the running
/// transaction.
fn index(
    conn: &Connection,
    sql: &Statements,
    key: &SessionKey,
    user: Option<&str>,
    now: f64,
    expire: &str,
) -> Result<(), StoreError> {
    match user {
        Some(user) => exec(
            conn,
            &sql.users.upsert,
            params![key.as_str(), user, now, now, expire],
        ),
        None => exec(conn, &sql.users.unindex, params![key.as_str()]),
    }
    .map(drop)
}

#[cfg(target_os = "linux")]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::tests::fresh_store;

    /// The writer thread runs under `SCHED_BATCH` (policy 3), so waking it does not preempt
    /// the request thread that queued the write. (The checkpoint thread keeps the default
    /// policy: it wakes rarely, and the WAL bound depends on it running on time.)
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
}
