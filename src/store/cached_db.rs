//! Django's `cached_db`: a write-through cache in front of a database store.
//!
//! Reads hit the cache; a miss reads the database and refills the cache. Writes go to the
//! database first (the source of truth, with its compare-and-swap), then to the cache. Any
//! cache store can sit in front of any database store.
//!
//! A cached read does not know the database's version, so a save first re-reads the database
//! row and checks that it still holds what this request started from; if not, the cache was
//! stale or another request won the race: the cache entry is dropped and the save reports a
//! conflict, so the session reloads (from the database) and re-applies its changes. Every cache
//! fill (after a write, or after a miss) is re-validated against the database, so two racing
//! fills can never leave an old version in the cache. Reads stay at zero database round trips
//! on a hit; a write costs three.
//!
//! The cache is an accelerator, never a second source of truth: when it fails, reads and
//! writes fall back to the database and the failure is logged (as Django 5.1+ does on save).
//! A failed cache write may leave a stale entry behind, so cache entries never live longer
//! than [`CACHE_TTL_CAP_SECS`], and after any cache failure this process reads from the
//! database until that long has passed: no stale read follows an outage. (Another process
//! that did not see the failure may serve such an entry until it expires.)
//!
//! ```
//! use std::sync::Arc;
//! use tessera::store::cached_db::CachedDbStore;
//! use tessera::store::memory::MemoryStore;
//! let store = CachedDbStore::new(Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()));
//! # let _ = store;
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{Loaded, Record, SaveOutcome, SessionStore, StoreError, UserSession, Version};
use crate::json::map_to_string;
use crate::session::key::SessionKey;

/// How long an entry refilled from the database stays in the cache.
pub const REFILL_TTL_SECS: f64 = 60.0;

/// No cache entry outlives this, so one that missed an invalidation is gone after it.
pub const CACHE_TTL_CAP_SECS: f64 = 300.0;

/// A cache store in front of a database store.
#[derive(Debug, Clone)]
pub struct CachedDbStore {
    cache: Arc<dyn SessionStore>,
    db: Arc<dyn SessionStore>,
    /// When this store was built: the origin of `bypass_until`.
    started: Instant,
    /// Until when (milliseconds after `started`) cache reads are skipped after a cache failure.
    /// Elapsed time, not the session clock: it bounds how long a real cache entry may be stale.
    bypass_until: Arc<AtomicU64>,
}

impl CachedDbStore {
    /// The cache as a trait object (a call on the `Arc` would box a second future).
    fn cache(&self) -> &dyn SessionStore {
        &*self.cache
    }

    /// The database as a trait object.
    fn db(&self) -> &dyn SessionStore {
        &*self.db
    }

    /// `cache` in front of `db`.
    pub fn new(cache: Arc<dyn SessionStore>, db: Arc<dyn SessionStore>) -> Self {
        CachedDbStore {
            cache,
            db,
            started: Instant::now(),
            bypass_until: Arc::new(AtomicU64::new(0)),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn cache_failed(&self, what: &str, e: &StoreError) {
        tracing::warn!(target: "tessera::store::cached_db", error = %e, "cache {what} failed; using the database");
        let until = self.elapsed_ms() + (CACHE_TTL_CAP_SECS * 1000.0) as u64;
        self.bypass_until.fetch_max(until, Ordering::SeqCst);
    }

    fn cache_trusted(&self) -> bool {
        self.elapsed_ms() >= self.bypass_until.load(Ordering::SeqCst)
    }

    /// The version this store hands out: the data itself, as Django-exact JSON.
    fn fingerprint(data: &crate::json::Map) -> Version {
        Version::Text(map_to_string(data).into())
    }

    async fn refill(&self, key: &SessionKey, record: Record<'_>) {
        if let Err(e) = self.cache().delete(key).await {
            return self.cache_failed("delete", &e);
        }
        let capped = Record {
            expires_at: record.expires_at.min(record.now + CACHE_TTL_CAP_SECS),
            ..record
        };
        match self.cache().create(key, capped).await {
            Ok(_) | Err(StoreError::DuplicateKey) => {}
            Err(e) => self.cache_failed("write", &e),
        }
    }

    /// Puts `record` in the cache, then checks that the database still holds `db_version`;
    /// if not, a concurrent write got there first and the entry (possibly stale) is dropped.
    /// Every writer changes the database before the cache, so whichever of two racing fills
    /// lands last is either current or removed by its own check: no stale entry survives.
    async fn fill_validated(&self, key: &SessionKey, record: Record<'_>, db_version: &Version) {
        self.refill(key, record).await;
        match self.db().load(key, record.now).await {
            Ok(Some(row)) if row.version == *db_version => {}
            _ => self.forget(key).await,
        }
    }

    async fn forget(&self, key: &SessionKey) {
        if let Err(e) = self.cache().delete(key).await {
            self.cache_failed("delete", &e);
        }
    }
}

#[async_trait]
impl SessionStore for CachedDbStore {
    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        if self.cache_trusted() {
            match self.cache().load(key, now).await {
                Ok(Some(hit)) => {
                    let version = Self::fingerprint(&hit.data);
                    return Ok(Some(Loaded {
                        data: hit.data,
                        version,
                    }));
                }
                Ok(None) => {}
                Err(e) => self.cache_failed("read", &e),
            }
        }
        let Some(row) = self.db().load(key, now).await? else {
            return Ok(None);
        };
        // The row's own expiry is not reported by `load`, so a refilled entry lives briefly:
        // a session that expires in the database is served from the cache for at most this.
        let expires_at = now + REFILL_TTL_SECS;
        let record = Record {
            data: &row.data,
            expires_at,
            now,
        };
        self.fill_validated(key, record, &row.version).await;
        let version = Self::fingerprint(&row.data);
        Ok(Some(Loaded {
            data: row.data,
            version,
        }))
    }

    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        let written = self.db().create(key, record).await?;
        self.fill_validated(key, record, &written).await;
        Ok(Self::fingerprint(record.data))
    }

    async fn save(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        // A row that has expired by the time of the write is over: the save finds it gone.
        let Some(row) = self.db().load(key, record.now).await? else {
            self.forget(key).await;
            return Ok(SaveOutcome::Gone);
        };
        if Self::fingerprint(&row.data) != *expected {
            self.forget(key).await;
            return Ok(SaveOutcome::Conflict);
        }
        match self.db().save(key, record, &row.version).await? {
            SaveOutcome::Saved(written) => {
                self.fill_validated(key, record, &written).await;
                Ok(SaveOutcome::Saved(Self::fingerprint(record.data)))
            }
            other => {
                self.forget(key).await;
                Ok(other)
            }
        }
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.db().delete(key).await?;
        self.forget(key).await;
        Ok(())
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.db().exists(key).await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.cache().migrate().await?;
        self.db().migrate().await
    }

    async fn clear_expired(&self, now: f64, batch_size: usize) -> Result<u64, StoreError> {
        if let Err(e) = self.cache().clear_expired(now, batch_size).await {
            self.cache_failed("cleanup", &e);
        }
        self.db().clear_expired(now, batch_size).await
    }

    /// The database's index: the cache holds no index of its own.
    async fn user_sessions(&self, user_id: &str, now: f64) -> Result<Vec<UserSession>, StoreError> {
        self.db().user_sessions(user_id, now).await
    }

    /// Each of the user's sessions (listed by the database's index, expired ones too) is
    /// deleted from the database and then evicted from the cache, as [`delete`](Self::delete)
    /// does, so no cached copy outlives the revoke; a final pass in the database catches a
    /// session indexed meanwhile (whose cache entry, if any, lives at most
    /// [`CACHE_TTL_CAP_SECS`]).
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        for session in self.db().user_sessions(user_id, 0.0).await? {
            if Some(&session.key) != keep {
                self.delete(&session.key).await?;
                removed += 1;
            }
        }
        Ok(removed + self.db().revoke_user_sessions(user_id, keep).await?)
    }

    async fn reindex_users(&self, now: f64, batch: usize) -> Result<u64, StoreError> {
        self.db().reindex_users(now, batch).await
    }

    async fn clear_expired_with_progress(
        &self,
        now: f64,
        batch_size: usize,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, StoreError> {
        if let Err(e) = self.cache().clear_expired(now, batch_size).await {
            self.cache_failed("cleanup", &e);
        }
        self.db
            .clear_expired_with_progress(now, batch_size, progress)
            .await
    }
}
