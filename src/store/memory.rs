//! An in-process store: sharded, bounded, with expired entries purged.
//!
//! Sessions live in 64 shards, each behind its own `RwLock`, chosen by the key's first bytes
//! (keys are uniformly random, so shards fill evenly and two cores rarely meet on one lock).
//! Records are kept decoded: nothing is signed or serialized, since nothing leaves the process.
//! Sessions are lost on restart and not shared between processes.
//!
//! ```
//! use tessera::store::memory::MemoryStore;
//! let store = MemoryStore::new().max_sessions(100_000);
//! # let _ = store;
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use async_trait::async_trait;

use super::{Loaded, Record, SaveOutcome, SessionStore, StoreError, Version};
use crate::json::Map;
use crate::session::key::SessionKey;

const SHARDS: usize = 64;

#[derive(Debug)]
struct Entry {
    data: Map,
    expires_at: f64,
    version: u64,
}

/// One shard's sessions. Keys are hashed with foldhash (seeded per process) rather than
/// SipHash: the middleware only inserts keys it generated (uniformly random), so a visitor
/// choosing the keys it looks up cannot build long probe chains, and SipHash was 3 % of the
/// server core on a `/create` load.
type Sessions = HashMap<SessionKey, Entry, foldhash::fast::RandomState>;

type Shard = RwLock<Sessions>;

/// The in-memory store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[Shard]>,
    per_shard_cap: usize,
    next_version: AtomicU64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store holding at most 1,000,000 sessions.
    pub fn new() -> Self {
        MemoryStore {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(Sessions::default()))
                .collect(),
            per_shard_cap: 1_000_000 / SHARDS,
            next_version: AtomicU64::new(1),
        }
    }

    /// Caps the number of sessions. When a shard is full, its expired sessions are purged
    /// and, if that is not enough, the eighth of it closest to expiry is evicted (as Django's
    /// local-memory cache culls), so memory stays bounded under any load.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.per_shard_cap = max.div_ceil(SHARDS).max(1);
        self
    }

    /// How many records are held, expired or not.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().map_or(0, |m| m.len()))
            .sum()
    }

    /// True when no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &SessionKey) -> &Shard {
        let b = key.as_str().as_bytes();
        let h = b
            .iter()
            .take(4)
            .fold(0usize, |h, &c| h.wrapping_mul(31).wrapping_add(c as usize));
        &self.shards[h % SHARDS]
    }

    fn version(&self) -> u64 {
        self.next_version.fetch_add(1, Ordering::Relaxed)
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Unavailable("memory store lock poisoned".to_owned())
}

/// Makes room in a full shard: expired entries first, then the ones closest to expiry.
fn make_room(map: &mut Sessions, cap: usize, now: f64) {
    if map.len() < cap {
        return;
    }
    map.retain(|_, e| e.expires_at > now);
    if map.len() < cap {
        return;
    }
    let mut by_expiry: Vec<(f64, SessionKey)> =
        map.iter().map(|(k, e)| (e.expires_at, k.clone())).collect();
    let evict = (map.len() / 8).max(1);
    by_expiry.select_nth_unstable_by(evict - 1, |a, b| a.0.total_cmp(&b.0));
    for (_, k) in by_expiry.into_iter().take(evict) {
        map.remove(&k);
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        let map = self.shard(key).read().map_err(poisoned)?;
        Ok(map.get(key).filter(|e| e.expires_at > now).map(|e| Loaded {
            data: e.data.clone(),
            version: Version::Counter(e.version),
        }))
    }

    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        let version = self.version();
        let mut map = self.shard(key).write().map_err(poisoned)?;
        if map.len() >= self.per_shard_cap {
            if map.contains_key(key) {
                return Err(StoreError::DuplicateKey);
            }
            make_room(&mut map, self.per_shard_cap, record.now);
        }
        match map.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => Err(StoreError::DuplicateKey),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Entry {
                    data: record.data.clone(),
                    expires_at: record.expires_at,
                    version,
                });
                Ok(Version::Counter(version))
            }
        }
    }

    async fn save(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        let version = self.version();
        let mut map = self.shard(key).write().map_err(poisoned)?;
        let Some(entry) = map.get_mut(key) else {
            return Ok(SaveOutcome::Gone);
        };
        if *expected != Version::Counter(entry.version) {
            return Ok(SaveOutcome::Conflict);
        }
        entry.data = record.data.clone();
        entry.expires_at = record.expires_at;
        entry.version = version;
        Ok(SaveOutcome::Saved(Version::Counter(version)))
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.shard(key).write().map_err(poisoned)?.remove(key);
        Ok(())
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        Ok(self.shard(key).read().map_err(poisoned)?.contains_key(key))
    }

    async fn clear_expired(&self, now: f64, batch_size: usize) -> Result<u64, StoreError> {
        let batch = batch_size.max(1);
        let mut removed = 0u64;
        for shard in self.shards.iter() {
            // At most one batch per lock hold, so requests on this shard wait only briefly.
            loop {
                let mut map = shard.write().map_err(poisoned)?;
                let mut budget = batch;
                map.retain(|_, e| {
                    if e.expires_at <= now && budget > 0 {
                        budget -= 1;
                        false
                    } else {
                        true
                    }
                });
                let n = batch - budget;
                removed += n as u64;
                if n < batch {
                    break;
                }
            }
        }
        Ok(removed)
    }
}
