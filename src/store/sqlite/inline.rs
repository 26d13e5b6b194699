//! Loads on the calling thread, over a read-only connection of that thread's own.
//!
//! One indexed point `SELECT` in WAL mode never waits for the writer (a few microseconds on a
//! cached page), and skipping the hop to a reader thread saves two context switches per load
//! (SQLite `/read` 68.6k → 87k req/s on one core). A load that would have to wait
//! (`SQLITE_BUSY`) or a thread past the connection cap goes to the reader threads instead. The
//! load blocks its thread for that one statement: microseconds on cached pages, a disk read on
//! a cold one.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use rusqlite::{Connection, ErrorCode};

use super::connection::open_inline;
use super::db_err;
use super::readers::load_row;
use crate::store::StoreError;

/// Inline read connections one store may have open at once (one per thread that loads).
const INLINE_CONNECTIONS_MAX: usize = 16;

/// One store's inline loads.
#[derive(Debug)]
pub(super) struct InlineReads {
    path: PathBuf,
    load: String,
    /// Open inline connections, across threads; at most [`INLINE_CONNECTIONS_MAX`].
    open: AtomicUsize,
}

/// A thread's read connection for one store. It gives its place under the cap back when the
/// thread exits, or when that thread next loads from any SQLite store after this one is gone
/// (until then the file stays open).
struct InlineConnection {
    store: Weak<InlineReads>,
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
    static INLINE_CONNECTIONS: RefCell<Vec<InlineConnection>> = const { RefCell::new(Vec::new()) };
}

impl InlineReads {
    /// Inline loads of the database at `path`, with the load statement `load`.
    pub(super) fn new(path: PathBuf, load: String) -> Self {
        InlineReads {
            path,
            load,
            open: AtomicUsize::new(0),
        }
    }

    /// A new read connection for this thread, unless the store already has its cap of them
    /// or the file cannot be opened.
    fn connect(self: &Arc<Self>) -> Option<InlineConnection> {
        if self.open.fetch_add(1, Ordering::Relaxed) >= INLINE_CONNECTIONS_MAX {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let Some(conn) = open_inline(&self.path) else {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return None;
        };
        // From here on, dropping it gives the place back.
        Some(InlineConnection {
            store: Arc::downgrade(self),
            conn,
        })
    }

    /// The row's text, or `None` when this thread cannot read now (the caller falls back).
    pub(super) fn load(
        self: &Arc<Self>,
        key: &str,
        now: &str,
    ) -> Option<Result<Option<String>, StoreError>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::key::SessionKey;
    use crate::store::sqlite::tests::fresh_store;
    use crate::store::{Record, SessionStore};

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
                now: crate::time::now(),
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
            assert_eq!(*h.join().unwrap(), data);
        }
        assert_eq!(store.inline.open.load(Ordering::Relaxed), 0);
        drop(store);
        std::fs::remove_dir_all(&dir).ok();
    }
}
