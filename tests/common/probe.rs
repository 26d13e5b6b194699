//! A store wrapper for tests: it counts what the middleware asks of the store underneath and
//! misbehaves on demand (fails, stalls, meets a concurrent logout, reads back a corrupt
//! record), so each promise can be shown on the path that breaks it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tessera::session::codec::SessionCodec;
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::memory::MemoryStore;
use tessera::store::{Loaded, Record, SaveOutcome, SessionStore, StoreError, Version};

/// What a failing call reports: internal detail that must reach the log and never a client.
pub const INTERNAL_DETAIL: &str = "connection refused by 10.1.2.3:5432 (internal detail)";

/// Wraps a store; every switch is off and every counter zero to begin with.
#[derive(Debug)]
pub struct Probe {
    inner: Arc<dyn SessionStore>,
    /// Store calls made, and how many of them write.
    pub calls: AtomicUsize,
    pub writes: AtomicUsize,
    /// Saves that met a compare-and-swap conflict, and saves that found the record gone.
    pub conflicts: AtomicUsize,
    pub gone: AtomicUsize,
    /// Every call fails.
    pub down: AtomicBool,
    /// Saves fail (loads still work).
    pub saves_fail: AtomicBool,
    /// Every call hangs for 30 s.
    pub stall: AtomicBool,
    /// A save first deletes its record, as a logout that got in between would.
    pub logout_before_save: AtomicBool,
    /// A load reads back a stored text whose signature does not verify.
    pub corrupt_loads: AtomicBool,
    /// Armed by [`race_before_write`](Self::race_before_write): the session and the key
    /// another writer sets in it just before the next write to it.
    race: std::sync::Mutex<Option<(SessionKey, String)>>,
    raced: AtomicBool,
}

impl Default for Probe {
    /// Over a fresh memory store.
    fn default() -> Self {
        Probe::over(Arc::new(MemoryStore::new()))
    }
}

impl Probe {
    pub fn over(inner: Arc<dyn SessionStore>) -> Self {
        Probe {
            inner,
            calls: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            conflicts: AtomicUsize::new(0),
            gone: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            saves_fail: AtomicBool::new(false),
            stall: AtomicBool::new(false),
            logout_before_save: AtomicBool::new(false),
            corrupt_loads: AtomicBool::new(false),
            race: std::sync::Mutex::new(None),
            raced: AtomicBool::new(false),
        }
    }

    /// Just before the next save or delete of `key`, another writer sets `name` in that
    /// session through the store's own compare-and-swap, as a concurrent request would.
    pub fn race_before_write(&self, key: SessionKey, name: &str) {
        *self.race.lock().unwrap() = Some((key, name.to_owned()));
    }

    /// Whether the armed racing write was made.
    pub fn race_happened(&self) -> bool {
        self.raced.load(Ordering::SeqCst)
    }

    async fn maybe_race(&self, key: &SessionKey) -> Result<(), StoreError> {
        let armed = {
            let mut race = self.race.lock().unwrap();
            match race.as_ref() {
                Some((k, _)) if k == key => race.take(),
                _ => None,
            }
        };
        let Some((key, name)) = armed else {
            return Ok(());
        };
        let now = tessera::time::now();
        let loaded = self
            .inner
            .load(&key, now)
            .await?
            .expect("the raced session exists");
        let mut data = std::sync::Arc::unwrap_or_clone(loaded.data);
        data.insert(name, tessera::json::Value::Bool(true));
        let record = Record {
            data: &data,
            expires_at: now + 3600.0,
            now,
        };
        let outcome = self.inner.save(&key, record, &loaded.version).await?;
        assert!(
            matches!(outcome, SaveOutcome::Saved(_)),
            "the racing write: {outcome:?}"
        );
        self.raced.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn gate(&self, write: bool) -> Result<(), StoreError> {
        // Every call is a point where other requests may run, as over a network.
        tokio::task::yield_now().await;
        self.calls.fetch_add(1, Ordering::SeqCst);
        if write {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        if self.stall.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(INTERNAL_DETAIL.into()));
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for Probe {
    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        self.gate(false).await?;
        let mut loaded = self.inner.load(key, now).await?;
        if self.corrupt_loads.load(Ordering::SeqCst) {
            // As the text stores do: the stored text goes through the codec.
            let codec = SessionCodec::new(&SecretKeys::new("probe")).expect("codec");
            let decoded = codec.decode("e30:1r31eq:forged-signature-of-a-stored-row");
            if let Some(l) = loaded.as_mut() {
                l.data = decoded.data.into();
            }
        }
        // Let other requests run between this load and the save that follows it: an
        // in-process store answers without ever yielding, which would make races rare.
        tokio::task::yield_now().await;
        Ok(loaded)
    }
    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        self.gate(true).await?;
        self.inner.create(key, record).await
    }
    async fn save(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        self.gate(true).await?;
        self.maybe_race(key).await?;
        if self.saves_fail.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("connection reset".into()));
        }
        if self.logout_before_save.load(Ordering::SeqCst) {
            self.inner.delete(key).await?;
        }
        let outcome = self.inner.save(key, record, expected).await?;
        let counter = match outcome {
            SaveOutcome::Conflict => &self.conflicts,
            SaveOutcome::Gone => &self.gone,
            _ => return Ok(outcome),
        };
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(outcome)
    }
    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.gate(true).await?;
        self.maybe_race(key).await?;
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.gate(false).await?;
        self.inner.exists(key).await
    }
    async fn clear_expired(&self, now: f64, batch: usize) -> Result<u64, StoreError> {
        self.gate(true).await?;
        self.inner.clear_expired(now, batch).await
    }
}
