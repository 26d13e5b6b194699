//! The checkpoint thread, and when it resets the WAL.
//!
//! It runs `PRAGMA wal_checkpoint(PASSIVE)` every
//! [`SqliteStoreBuilder::checkpoint_interval`](super::SqliteStoreBuilder::checkpoint_interval)
//! when there were commits. The writer's own auto-checkpoint is off, so the fsyncs of
//! checkpointing never sit in a commit's latency, and a passive checkpoint blocks neither the
//! writer nor the readers. Under steady load a passive checkpoint never finds the WAL idle, so
//! SQLite never rewinds it (a five-minute load run grew it to 450 MB); once it passes
//! [`SqliteStoreBuilder::max_wal_bytes`](super::SqliteStoreBuilder::max_wal_bytes), a
//! `RESTART` checkpoint waits for in-flight reads and makes the next commit write from the
//! start of the file again, holding the writer off for that moment. Every connection's busy
//! handler retries every 20 µs at first (SQLite's own sleeps whole milliseconds), so that
//! moment stays short.
//!
//! The thread keeps the default scheduling policy: it wakes rarely, and the WAL bound depends
//! on it running on time.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rusqlite::Connection;

use super::config;
use super::connection::{open_checkpointer, set_busy_timeout};
use crate::store::StoreError;

/// The checkpoint thread's name (Linux keeps 15 bytes, enough for `top -H` and `perf`).
const CHECKPOINT_THREAD: &str = "tessera-sqlckpt";

/// Passive checkpoints run back to back before a reset, each copying what was committed
/// during the one before, so the reset itself has little left to copy.
const PASSES_BEFORE_RESET: usize = 3;

/// When the checkpoint thread runs, and when it resets the WAL.
struct CheckpointPolicy {
    interval: Duration,
    /// WAL frames left after a passive checkpoint that call for a `RESTART` one.
    restart_after_frames: u64,
}

/// Starts the checkpoint thread on its own connection to `path`. It checkpoints after the
/// writer set `dirty`, and once more, to the end, when `writer_gone` disconnects.
pub(super) fn spawn(
    path: &Path,
    interval: Duration,
    max_wal_bytes: u64,
    busy_timeout: Duration,
    dirty: Arc<AtomicBool>,
    writer_gone: mpsc::Receiver<()>,
) -> Result<(), StoreError> {
    let conn = open_checkpointer(path)?;
    let page_size: u64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(config)?;
    let policy = CheckpointPolicy {
        interval,
        restart_after_frames: max_wal_bytes / page_size.max(1),
    };
    std::thread::Builder::new()
        .name(CHECKPOINT_THREAD.to_owned())
        .spawn(move || {
            set_busy_timeout(busy_timeout);
            checkpoint_loop(conn, &dirty, &writer_gone, policy);
        })
        .map_err(config)?;
    Ok(())
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
