//! The session store contract, and one module per backend.
//!
//! A store is small, like Django's backend interface: [`load`](SessionStore::load),
//! [`create`](SessionStore::create) (insert-only), [`save`](SessionStore::save) (a
//! compare-and-swap against the version that was loaded), [`delete`](SessionStore::delete),
//! [`exists`](SessionStore::exists) and [`clear_expired`](SessionStore::clear_expired).
//!
//! Stores see only validated [`SessionKey`]s and decoded session dicts; a persistent store
//! encodes with [`SessionCodec`](crate::session::codec::SessionCodec) so its records are
//! Django's. `tessera::conformance` (the `testing` feature) is the suite every store passes,
//! public so a third-party store can run it too.

pub mod cached_db;
pub mod file;
pub mod memory;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
pub mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(feature = "redis", feature = "mysql"))]
pub(crate) mod tls;
pub(crate) mod url;
pub mod user_index;

pub use user_index::UserSession;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::json::Map;

/// The pool size the PostgreSQL and MySQL stores use unless their URL sets one: twice the
/// cores this process may run on, and at least 8.
///
/// Every connection is a server process (PostgreSQL) or thread (MySQL), and where the server
/// shares a few cores with the app, more busy connections than cores only take turns. With the
/// app and PostgreSQL on one core (docs/performance.md), 16 connections against 4: `/read` 7.8k
/// against 8.8k req/s, `/write` p99 108 ms against 21 ms; but `/create` 4.4k against 3.9k,
/// because fewer commits then share each WAL flush. 8 kept most of both: `/read` 8.6k,
/// `/create` 4.2k, `/write` p99 37 ms. On MariaDB, 8 against 16: `/read` 5.3k against 4.7k,
/// `/write` and `/create` the same.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn default_pool_size() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (2 * cores).max(8)
}
use crate::session::key::SessionKey;

/// Clears expired sessions from `store` every `every`, in batches of `batch_size`, until the
/// returned task is aborted or the runtime shuts down: Django leaves this to a cron job running
/// `clearsessions`; a long-running Rust service can do it itself. Failures are logged and the
/// next round tries again. Redis and the memory store expire records by themselves and need
/// no sweeper; SQL and file stores do.
///
/// ```no_run
/// # async fn demo() {
/// use std::{sync::Arc, time::Duration};
/// use tessera::store::{memory::MemoryStore, spawn_clear_expired};
/// let sweeper = spawn_clear_expired(Arc::new(MemoryStore::new()), Duration::from_secs(3600), 1000);
/// // … on shutdown:
/// sweeper.abort();
/// # }
/// ```
pub fn spawn_clear_expired(
    store: Arc<dyn SessionStore>,
    every: std::time::Duration,
    batch_size: usize,
) -> tokio::task::JoinHandle<()> {
    spawn_clear_expired_with_clock(store, every, batch_size, crate::time::Clock::system())
}

/// [`spawn_clear_expired`] reading `clock` (the layer's, when a test pins it).
pub fn spawn_clear_expired_with_clock(
    store: Arc<dyn SessionStore>,
    every: std::time::Duration,
    batch_size: usize,
    clock: crate::time::Clock,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match store.clear_expired(clock.now(), batch_size).await {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::info!(target: "tessera::store", removed, "expired sessions cleared");
                }
                Err(e) => {
                    tracing::warn!(target: "tessera::store", error = %e, "clearing expired sessions failed");
                }
            }
        }
    })
}

/// Options that create a new file (never open an existing one) readable by its owner only:
/// session files and databases hold live session keys.
pub(crate) fn owner_only_new_file() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

thread_local! {
    /// Set while the session layer drops a store call that ran out of `store_timeout`.
    static DROPPING_TIMED_OUT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `drop_call`, which drops a store call the session layer gave up on after its
/// `store_timeout`, so a store can tell that drop (its request was answered 503: a write in
/// flight must never land later) from any other (the client went away, and no answer is owed).
pub(crate) fn dropping_timed_out(drop_call: impl FnOnce()) {
    DROPPING_TIMED_OUT.with(|flag| flag.set(true));
    drop_call();
    DROPPING_TIMED_OUT.with(|flag| flag.set(false));
}

/// Whether the store call being dropped on this thread ran out of `store_timeout`.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn is_dropping_timed_out() -> bool {
    DROPPING_TIMED_OUT.with(std::cell::Cell::get)
}

/// What a store returns for a live session.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The session dict. A record the store cannot read (a bad signature, a pickle) is no
    /// session at all: `load` gives `None` and logs why, so it is never overwritten.
    ///
    /// Shared, not owned: a store that keeps decoded dicts (the codec's cache, the memory
    /// store) hands out the dict it holds, and the session copies it only if it changes it.
    pub data: Arc<Map>,
    /// What [`SessionStore::save`] compares against, so no concurrent change is overwritten.
    pub version: Version,
}

/// A store's token for "the record as it was loaded".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Version {
    /// The stored text itself (SQL and Redis compare `session_data` byte for byte).
    Text(Arc<str>),
    /// A counter bumped on every write (in-process stores).
    Counter(u64),
}

/// A record to write: the dict, the moment it expires, and the moment of the write.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// The session dict.
    pub data: &'a Map,
    /// Expiry as Unix seconds (Django's `get_expiry_date()` at save time).
    pub expires_at: f64,
    /// The caller's clock at the write, in Unix seconds: stores never read a clock of their
    /// own, so a pinned [`Clock`](crate::time::Clock) reaches every store.
    pub now: f64,
}

/// The outcome of a compare-and-swap save.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Written; the new version.
    Saved(Version),
    /// Someone else changed the record since it was loaded: reload, re-apply, retry.
    Conflict,
    /// The record no longer exists (a concurrent logout): never re-insert it.
    Gone,
}

/// The outcome of [`SessionStore::save_or_reload`]: a compare-and-swap save that, when it
/// loses, also brings back what won.
#[derive(Clone, Debug, PartialEq)]
pub enum SaveOrReload {
    /// Written; the new version.
    Saved(Version),
    /// Someone else changed the record since it was loaded; this is the live record as it
    /// now is, to replay the request's changes on and save again at its version.
    Changed(Loaded),
    /// No live record to write into: it was deleted (a concurrent logout), has expired, or no
    /// longer decodes. Never re-insert it.
    Gone,
}

/// Why a store call failed. None of these carry a session key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `create` found the key taken; the caller draws a new key.
    #[error("session key already exists")]
    DuplicateKey,
    /// The store did not answer in time.
    #[error("session store timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The store is unreachable or failed.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The store is misconfigured (bad URL, missing table…).
    #[error("session store misconfigured: {0}")]
    Config(String),
    /// The store is at its capacity and may not evict what would make room (the memory store
    /// never lets an anonymous session evict a login).
    #[error("session store full: {0}")]
    Full(String),
}

impl StoreError {
    /// Wraps any backend error as [`StoreError::Unavailable`].
    pub fn unavailable(e: impl fmt::Display) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// A session backend. Implementations must be safe to call concurrently from many requests.
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// The live (unexpired) session under `key`, or `None`.
    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError>;

    /// Inserts a new record; [`StoreError::DuplicateKey`] if the key exists, expired or not.
    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError>;

    /// Replaces the record if it is still at `expected`.
    async fn save(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError>;

    /// [`save`](Self::save), and when the swap loses, the record as it now is
    /// ([`load`](Self::load) at `record.now`): what the session layer needs to replay a
    /// request's changes and try again. A store over a connection pool overrides it to run
    /// both statements on one pooled connection, so a request that lost a race queues for a
    /// connection once, not twice. By default the two calls.
    async fn save_or_reload(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOrReload, StoreError> {
        Ok(match self.save(key, record, expected).await? {
            SaveOutcome::Saved(version) => SaveOrReload::Saved(version),
            SaveOutcome::Gone => SaveOrReload::Gone,
            SaveOutcome::Conflict => match self.load(key, record.now).await? {
                Some(fresh) => SaveOrReload::Changed(fresh),
                None => SaveOrReload::Gone,
            },
        })
    }

    /// Removes the record, if any.
    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError>;

    /// Whether a record exists under `key`, expired or not (as Django's `exists`).
    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError>;

    /// Removes expired records, at most `batch_size` per statement or transaction so a huge
    /// backlog never becomes one long lock; returns how many were removed.
    async fn clear_expired(&self, now: f64, batch_size: usize) -> Result<u64, StoreError>;

    /// [`clear_expired`](Self::clear_expired), calling `progress` with the running total after
    /// each batch (for `tessera clearsessions`). By default it reports once, at the end.
    async fn clear_expired_with_progress(
        &self,
        now: f64,
        batch_size: usize,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, StoreError> {
        let removed = self.clear_expired(now, batch_size).await?;
        progress(removed);
        Ok(removed)
    }

    /// Creates the table and indexes where the backend has them (idempotent); nothing by
    /// default.
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Whether every call completes without waiting on anything outside the process (the
    /// memory store): the session layer then skips the per-call `store_timeout`, whose timer
    /// costs more than such a call. By default, whether the store offers
    /// [`immediate`](Self::immediate) calls.
    fn answers_at_once(&self) -> bool {
        self.immediate().is_some()
    }

    /// The store's calls as plain functions, for a store that never waits (the memory
    /// store): the session layer then loads and saves through them, without a boxed future
    /// per call, and saves while the response is built. `None` by default.
    fn immediate(&self) -> Option<&dyn ImmediateStore> {
        None
    }

    /// The live sessions of `user_id` (Django's `_auth_user_id`), most recently seen first,
    /// read from the store's per-user index (never a scan of every session); entries whose
    /// session is gone are pruned on the way. A store without an index (the default) answers
    /// [`StoreError::Config`]. See [`user_index`] and the
    /// [user sessions guide](crate::guide::user_sessions).
    async fn user_sessions(&self, user_id: &str, now: f64) -> Result<Vec<UserSession>, StoreError> {
        let _ = (user_id, now);
        Err(user_index::not_indexed(std::any::type_name::<Self>()))
    }

    /// Ends every session of `user_id` but `keep` ("log out everywhere else"; `None` ends them
    /// all) and returns how many records were removed. A request saving one of them
    /// concurrently finds it gone ([`SaveOutcome::Gone`]): a revoked session is never written
    /// back. Ending one session is [`delete`](Self::delete).
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        let _ = (user_id, keep);
        Err(user_index::not_indexed(std::any::type_name::<Self>()))
    }

    /// Backfills the per-user index: one pass over the live records, `batch` at a time,
    /// indexing each that holds `_auth_user_id` (sessions written by Django without the
    /// companion package, or before the index existed). Returns how many it indexed.
    async fn reindex_users(&self, now: f64, batch: usize) -> Result<u64, StoreError> {
        let _ = (now, batch);
        Err(user_index::not_indexed(std::any::type_name::<Self>()))
    }
}

/// [`SessionStore`]'s record calls, without `async`: what a store that never waits offers
/// through [`SessionStore::immediate`]. Each does what the `SessionStore` method of the same
/// name does, and the store's async methods give the same answers.
pub trait ImmediateStore: Send + Sync {
    /// [`SessionStore::load`].
    fn load_now(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError>;

    /// [`SessionStore::create`].
    fn create_now(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError>;

    /// [`SessionStore::save`].
    fn save_now(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError>;
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        (**self).load(key, now).await
    }
    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        (**self).create(key, record).await
    }
    fn answers_at_once(&self) -> bool {
        (**self).answers_at_once()
    }
    fn immediate(&self) -> Option<&dyn ImmediateStore> {
        (**self).immediate()
    }
    async fn save(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        (**self).save(key, record, expected).await
    }
    async fn save_or_reload(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOrReload, StoreError> {
        (**self).save_or_reload(key, record, expected).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        (**self).delete(key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        (**self).exists(key).await
    }
    async fn clear_expired(&self, now: f64, batch_size: usize) -> Result<u64, StoreError> {
        (**self).clear_expired(now, batch_size).await
    }
    async fn clear_expired_with_progress(
        &self,
        now: f64,
        batch_size: usize,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, StoreError> {
        (**self)
            .clear_expired_with_progress(now, batch_size, progress)
            .await
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        (**self).migrate().await
    }
    async fn user_sessions(&self, user_id: &str, now: f64) -> Result<Vec<UserSession>, StoreError> {
        (**self).user_sessions(user_id, now).await
    }
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        (**self).revoke_user_sessions(user_id, keep).await
    }
    async fn reindex_users(&self, now: f64, batch: usize) -> Result<u64, StoreError> {
        (**self).reindex_users(now, batch).await
    }
}
