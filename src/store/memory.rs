//! An in-process store: sharded, bounded in sessions and in bytes, with expired entries
//! purged.
//!
//! Sessions live in 64 shards, each behind its own `RwLock`, chosen by the key's first bytes
//! (keys are uniformly random, so shards fill evenly and two cores rarely meet on one lock).
//! Records are kept decoded: nothing is signed or serialized, since nothing leaves the process.
//! Sessions are lost on restart and not shared between processes.
//!
//! When the store is full (in sessions or in bytes), room is made in this order: expired
//! sessions, then anonymous sessions closest to expiry, and only for a new or growing session
//! that holds a login (Django's `_auth_user_id`), logged-in sessions closest to expiry. An
//! anonymous write that would need to evict a login is refused instead
//! ([`StoreError::Full`], 503): visitors who never logged in cannot push out those who did.
//!
//! Each user's sessions are indexed (a map from `_auth_user_id` to keys, written under the
//! shard's lock, after it, so the two never disagree for long and never deadlock), so
//! [`user_sessions`](SessionStore::user_sessions) and
//! [`revoke_user_sessions`](SessionStore::revoke_user_sessions) touch only that user's keys.
//!
//! ```
//! use tessera::store::memory::MemoryStore;
//! let store = MemoryStore::new().max_sessions(100_000).max_bytes(64 * 1024 * 1024);
//! # let _ = store;
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;

use super::user_index::{newest_first, user_id_of};
use super::{
    ImmediateStore, Loaded, Record, SaveOutcome, SessionStore, StoreError, UserSession, Version,
};
use crate::json::Map;
use crate::session::key::SessionKey;

const SHARDS: usize = 64;

/// The session dict key Django's `login()` sets: a session holding it is a login.
const LOGIN_KEY: &str = "_auth_user_id";

#[derive(Debug)]
struct Entry {
    /// Shared with the sessions that loaded it: a load copies nothing.
    data: Arc<Map>,
    expires_at: f64,
    version: u64,
    /// What the entry costs in memory, estimated by [`footprint`].
    bytes: usize,
    /// It holds a login, so anonymous sessions cannot evict it.
    login: bool,
    /// The user it is indexed under.
    user: Option<String>,
    /// When it became this user's, and when it was last written.
    created_at: f64,
    last_seen: f64,
}

/// One shard's sessions. Keys are hashed with foldhash (seeded per process) rather than
/// SipHash: the middleware only inserts keys it generated (uniformly random), so a visitor
/// choosing the keys it looks up cannot build long probe chains, and SipHash was 3 % of the
/// server core on a `/create` load.
type Sessions = HashMap<SessionKey, Entry, foldhash::fast::RandomState>;

type Shard = RwLock<Sessions>;

/// Each user's session keys. Locked only while a shard's lock is held or with none held, in
/// that order, so it never deadlocks with a shard.
type Users = Mutex<HashMap<String, HashSet<SessionKey>>>;

/// The in-memory store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[Shard]>,
    per_shard_cap: usize,
    max_bytes: usize,
    /// The estimated bytes held by every shard together.
    bytes: AtomicUsize,
    next_version: AtomicU64,
    users: Users,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// Which sessions a write may evict to make room.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Evictable {
    /// Expired and anonymous sessions.
    Anonymous,
    /// Any session, closest to expiry first (for a write that holds a login).
    Any,
}

impl Evictable {
    fn for_write(login: bool) -> Self {
        if login {
            Evictable::Any
        } else {
            Evictable::Anonymous
        }
    }

    fn allows(self, entry: &Entry) -> bool {
        self == Evictable::Any || !entry.login
    }
}

impl MemoryStore {
    /// A store holding at most 1,000,000 sessions and about 256 MiB of session data.
    pub fn new() -> Self {
        MemoryStore {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(Sessions::default()))
                .collect(),
            per_shard_cap: 1_000_000 / SHARDS,
            max_bytes: 256 * 1024 * 1024,
            bytes: AtomicUsize::new(0),
            next_version: AtomicU64::new(1),
            users: Users::default(),
        }
    }

    /// Caps the number of sessions. When a shard is full, its expired sessions are purged
    /// and, if that is not enough, the eighth of it closest to expiry is evicted (anonymous
    /// sessions only, unless the new session holds a login), so memory stays bounded under
    /// any load.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.per_shard_cap = max.div_ceil(SHARDS).max(1);
        self
    }

    /// Caps the memory the sessions take, as estimated from their decoded data (strings,
    /// lists and dicts with their allocations, plus a fixed cost per session). A write that
    /// would pass it first evicts as described in the [module docs](self), down to 7/8 of the
    /// cap so the next writes do not evict again at once.
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max.max(1);
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

    /// The estimated bytes the sessions take (what [`max_bytes`](Self::max_bytes) caps).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    fn shard_index(key: &SessionKey) -> usize {
        let b = key.as_bytes();
        let h = b
            .iter()
            .take(4)
            .fold(0usize, |h, &c| h.wrapping_mul(31).wrapping_add(c as usize));
        h % SHARDS
    }

    fn shard(&self, key: &SessionKey) -> &Shard {
        &self.shards[Self::shard_index(key)]
    }

    fn version(&self) -> u64 {
        self.next_version.fetch_add(1, Ordering::Relaxed)
    }

    /// Makes room for `growth` more bytes when the store would pass its cap, evicting what
    /// `evictable` allows (never `keep`), shard by shard from `key`'s, holding one lock at a
    /// time. Approximate under concurrency: writes racing it may pass the cap by their own size.
    fn reserve(
        &self,
        key: &SessionKey,
        growth: usize,
        evictable: Evictable,
        now: f64,
    ) -> Result<(), StoreError> {
        if growth > self.max_bytes {
            return Err(StoreError::Full(format!(
                "a session of ~{growth} bytes is larger than the memory store's cap of {} bytes",
                self.max_bytes
            )));
        }
        if self.bytes().saturating_add(growth) <= self.max_bytes {
            return Ok(());
        }
        let target = (self.max_bytes - self.max_bytes / 8).min(self.max_bytes - growth);
        let first = Self::shard_index(key);
        // Anonymous sessions go first, from every shard; logins only if this write is one.
        let passes: &[Evictable] = match evictable {
            Evictable::Anonymous => &[Evictable::Anonymous],
            Evictable::Any => &[Evictable::Anonymous, Evictable::Any],
        };
        for &pass in passes {
            for i in 0..SHARDS {
                let mut map = self.shards[(first + i) % SHARDS]
                    .write()
                    .map_err(poisoned)?;
                self.evict(&mut map, key, pass, now, |store, _| store.bytes() <= target);
                if self.bytes() <= target {
                    return Ok(());
                }
            }
        }
        if self.bytes().saturating_add(growth) <= self.max_bytes {
            return Ok(());
        }
        Err(full(evictable))
    }

    /// Removes `map`'s expired entries, then, until `enough` (given the store and the shard's
    /// length), what `evictable` allows: anonymous sessions before logins, each closest to
    /// expiry first; `keep` stays.
    fn evict(
        &self,
        map: &mut Sessions,
        keep: &SessionKey,
        evictable: Evictable,
        now: f64,
        enough: impl Fn(&Self, usize) -> bool,
    ) {
        let mut freed = 0;
        let mut gone = Vec::new();
        map.retain(|k, e| {
            let live = e.expires_at > now;
            if !live {
                freed += e.bytes;
                gone.push((e.user.take(), k.clone()));
            }
            live
        });
        self.bytes.fetch_sub(freed, Ordering::Relaxed);
        self.unindex(gone);
        if enough(self, map.len()) {
            return;
        }
        let mut candidates: Vec<(bool, f64, SessionKey)> = map
            .iter()
            .filter(|(k, e)| *k != keep && evictable.allows(e))
            .map(|(k, e)| (e.login, e.expires_at, k.clone()))
            .collect();
        // Anonymous before logins, then closest to expiry first.
        candidates.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        for (_, _, k) in candidates {
            if enough(self, map.len()) {
                break;
            }
            if let Some(e) = map.remove(&k) {
                self.bytes.fetch_sub(e.bytes, Ordering::Relaxed);
                self.unindex([(e.user, k)]);
            }
        }
    }

    /// Moves `key`'s index entry from `old` to `new` user (called with its shard locked).
    fn reindex(&self, key: &SessionKey, old: Option<&str>, new: Option<&str>) {
        if old == new {
            return;
        }
        let Ok(mut users) = self.users.lock() else {
            return;
        };
        if let Some(old) = old {
            remove_key(&mut users, old, key);
        }
        if let Some(new) = new {
            users.entry(new.to_owned()).or_default().insert(key.clone());
        }
    }

    /// Drops the index entries of removed sessions (called with their shard locked).
    fn unindex(&self, removed: impl IntoIterator<Item = (Option<String>, SessionKey)>) {
        let mut removed = removed.into_iter().peekable();
        if removed.peek().is_none() {
            return;
        }
        let Ok(mut users) = self.users.lock() else {
            return;
        };
        for (user, key) in removed {
            if let Some(user) = user {
                remove_key(&mut users, &user, &key);
            }
        }
    }

    /// The keys indexed under `user_id`, copied so no lock is held while shards are visited.
    fn keys_of(&self, user_id: &str) -> Result<Vec<SessionKey>, StoreError> {
        let users = self.users.lock().map_err(poisoned)?;
        Ok(users
            .get(user_id)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default())
    }

    /// Makes room for one more session in a shard at its session cap: expired entries first,
    /// then an eighth of the shard, closest to expiry, of what `evictable` allows.
    fn make_room(
        &self,
        map: &mut Sessions,
        key: &SessionKey,
        evictable: Evictable,
        now: f64,
    ) -> Result<(), StoreError> {
        let cap = self.per_shard_cap;
        let target = cap - (cap / 8).max(1).min(cap);
        self.evict(map, key, evictable, now, |_, len| len <= target);
        if map.len() < cap {
            Ok(())
        } else {
            Err(full(evictable))
        }
    }
}

fn full(evictable: Evictable) -> StoreError {
    StoreError::Full(
        match evictable {
            Evictable::Anonymous => {
                "the memory store is full of logged-in sessions, which anonymous ones cannot evict"
            }
            Evictable::Any => "the memory store is full",
        }
        .to_owned(),
    )
}

/// What an entry costs in memory, estimated: the entry, its key and the map's slot, then the
/// dict with its allocations.
fn footprint(data: &Map) -> usize {
    // The entry, its key, the map's slot, and the dict's shared allocation (two counts).
    const ENTRY: usize = std::mem::size_of::<Entry>()
        + std::mem::size_of::<SessionKey>()
        + 40
        + std::mem::size_of::<Map>()
        + 16;
    ENTRY + data.heap_bytes()
}

/// The estimated size up to which a save is written over the stored dict under the shard's
/// lock ([`overwrite`]); a bigger session is copied before the lock is taken.
const IN_PLACE_MAX_BYTES: usize = 4096;

/// Writes `data` over the stored dict `stored` and returns what the entry now costs.
///
/// A dict a request still holds (it loaded it, and has not finished) is left to it, and
/// replaced by a fresh copy. Otherwise, with as many keys as before (a session whose values
/// changed: the usual save), in place:
/// `clone_from` reuses the dict's table and entries, so such a save allocates nothing for
/// them. With another number of keys, a fresh copy: reusing would keep the entries' old room,
/// which a session that shrank no longer needs and [`footprint`] cannot see. Either way the
/// stored dict holds no more than a fresh copy of `data` would.
fn overwrite(stored: &mut Arc<Map>, data: &Map) -> usize {
    match Arc::get_mut(stored) {
        Some(alone) if alone.len() == data.len() => alone.clone_from(data),
        _ => *stored = Arc::new(data.clone()),
    }
    footprint(stored)
}

fn remove_key(users: &mut HashMap<String, HashSet<SessionKey>>, user: &str, key: &SessionKey) {
    if let Some(keys) = users.get_mut(user) {
        keys.remove(key);
        if keys.is_empty() {
            users.remove(user);
        }
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Unavailable("memory store lock poisoned".to_owned())
}

/// Every call is a map operation under a lock held for microseconds, so the session layer
/// calls these directly.
impl ImmediateStore for MemoryStore {
    fn load_now(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        let map = self.shard(key).read().map_err(poisoned)?;
        Ok(map.get(key).filter(|e| e.expires_at > now).map(|e| Loaded {
            data: e.data.clone(),
            version: Version::Counter(e.version),
        }))
    }

    fn create_now(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        let data = Arc::new(record.data.clone());
        let bytes = footprint(&data);
        let evictable = Evictable::for_write(data.contains_key(LOGIN_KEY));
        let user = user_id_of(&data);
        self.reserve(key, bytes, evictable, record.now)?;
        let version = self.version();
        let mut map = self.shard(key).write().map_err(poisoned)?;
        if map.contains_key(key) {
            return Err(StoreError::DuplicateKey);
        }
        if map.len() >= self.per_shard_cap {
            self.make_room(&mut map, key, evictable, record.now)?;
        }
        self.reindex(key, None, user.as_deref());
        map.insert(
            key.clone(),
            Entry {
                login: evictable == Evictable::Any,
                data,
                expires_at: record.expires_at,
                version,
                bytes,
                user,
                created_at: record.now,
                last_seen: record.now,
            },
        );
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(Version::Counter(version))
    }

    fn save_now(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        // The caller's copy sizes the room to make; the stored copy is counted once written.
        let estimate = footprint(record.data);
        let login = record.data.contains_key(LOGIN_KEY);
        let user = user_id_of(record.data);
        // A big session is copied before the shard is locked, so no write holds it for long.
        let mut copy = (estimate > IN_PLACE_MAX_BYTES).then(|| Arc::new(record.data.clone()));
        let mut reserved = false;
        let (version, replaced) = loop {
            let version = self.version();
            let mut map = self.shard(key).write().map_err(poisoned)?;
            let Some(entry) = map.get_mut(key) else {
                return Ok(SaveOutcome::Gone);
            };
            if *expected != Version::Counter(entry.version) {
                return Ok(SaveOutcome::Conflict);
            }
            let growth = estimate.saturating_sub(entry.bytes);
            if !reserved && growth > 0 && self.bytes().saturating_add(growth) > self.max_bytes {
                // Room is made with this shard unlocked; the version check runs again after.
                drop(map);
                self.reserve(key, growth, Evictable::for_write(login), record.now)?;
                reserved = true;
                continue;
            }
            let (bytes, replaced) = match copy.take() {
                Some(copy) => {
                    let replaced = std::mem::replace(&mut entry.data, copy);
                    (footprint(&entry.data), Some(replaced))
                }
                None => (overwrite(&mut entry.data, record.data), None),
            };
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            self.bytes.fetch_sub(entry.bytes, Ordering::Relaxed);
            self.reindex(key, entry.user.as_deref(), user.as_deref());
            if entry.user != user {
                entry.created_at = record.now;
            }
            entry.expires_at = record.expires_at;
            entry.version = version;
            entry.bytes = bytes;
            entry.login = login;
            entry.user = user;
            entry.last_seen = record.now;
            break (version, replaced);
        };
        // A big session's old copy is freed here, with the shard unlocked.
        drop(replaced);
        Ok(SaveOutcome::Saved(Version::Counter(version)))
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    /// Every call is a map operation under a lock held for microseconds (so the store also
    /// answers at once, skipping the per-call timeout).
    fn immediate(&self) -> Option<&dyn ImmediateStore> {
        Some(self)
    }

    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        self.load_now(key, now)
    }

    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        self.create_now(key, record)
    }

    async fn save(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        self.save_now(key, record, expected)
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        let mut map = self.shard(key).write().map_err(poisoned)?;
        if let Some(e) = map.remove(key) {
            self.bytes.fetch_sub(e.bytes, Ordering::Relaxed);
            self.unindex([(e.user, key.clone())]);
        }
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
                let mut freed = 0;
                let mut gone = Vec::new();
                map.retain(|k, e| {
                    if e.expires_at <= now && budget > 0 {
                        budget -= 1;
                        freed += e.bytes;
                        gone.push((e.user.take(), k.clone()));
                        false
                    } else {
                        true
                    }
                });
                self.bytes.fetch_sub(freed, Ordering::Relaxed);
                self.unindex(gone);
                let n = batch - budget;
                removed += n as u64;
                if n < batch {
                    break;
                }
            }
        }
        Ok(removed)
    }

    async fn user_sessions(&self, user_id: &str, now: f64) -> Result<Vec<UserSession>, StoreError> {
        let mut sessions = Vec::new();
        for key in self.keys_of(user_id)? {
            let map = self.shard(&key).read().map_err(poisoned)?;
            match map.get(&key) {
                Some(e) if e.expires_at > now && e.user.as_deref() == Some(user_id) => {
                    sessions.push(UserSession {
                        key,
                        created_at: e.created_at,
                        last_seen: e.last_seen,
                        expires_at: e.expires_at,
                    });
                }
                // An expired session keeps its entry until it is purged with it; a key the
                // index holds without a session would be a bug, dropped here all the same.
                Some(_) => {}
                None => self.unindex([(Some(user_id.to_owned()), key)]),
            }
        }
        newest_first(&mut sessions);
        Ok(sessions)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        for key in self.keys_of(user_id)? {
            if Some(&key) == keep {
                continue;
            }
            let mut map = self.shard(&key).write().map_err(poisoned)?;
            // Checked under the shard lock: a save that moved the session to another user
            // since the keys were copied keeps it.
            if map
                .get(&key)
                .is_some_and(|e| e.user.as_deref() == Some(user_id))
            {
                if let Some(e) = map.remove(&key) {
                    self.bytes.fetch_sub(e.bytes, Ordering::Relaxed);
                    removed += 1;
                }
            }
            self.unindex([(Some(user_id.to_owned()), key)]);
        }
        Ok(removed)
    }

    /// Every session is indexed as it is written; this only rebuilds the index from the
    /// sessions (it cannot have drifted, so it is for symmetry with the other stores).
    async fn reindex_users(&self, now: f64, _batch: usize) -> Result<u64, StoreError> {
        let mut indexed = 0;
        for shard in self.shards.iter() {
            let map = shard.read().map_err(poisoned)?;
            for (key, e) in map.iter().filter(|(_, e)| e.expires_at > now) {
                if let Some(user) = &e.user {
                    self.users
                        .lock()
                        .map_err(poisoned)?
                        .entry(user.clone())
                        .or_default()
                        .insert(key.clone());
                    indexed += 1;
                }
            }
        }
        Ok(indexed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Value;

    /// `{"key0": 0, …}` with `keys` entries.
    fn dict(keys: usize) -> Map {
        (0..keys)
            .map(|i| (format!("key{i}"), Value::from(i as i64)))
            .collect()
    }

    fn record(data: &Map) -> Record<'_> {
        Record {
            data,
            expires_at: 2e9,
            now: 1e9,
        }
    }

    /// A session that shrank is counted at what it now holds. (That it is stored afresh, not
    /// over its old room, is seen by the allocator: `session_http`'s
    /// `a_memory_store_session_that_shrinks_lets_go_of_its_memory`.)
    #[tokio::test]
    async fn a_session_that_shrinks_gives_its_room_back() {
        let store = MemoryStore::new();
        let key = SessionKey::generate().unwrap();
        let version = store.create(&key, record(&dict(640))).await.unwrap();
        let held_big = store.bytes();
        let small = dict(1);
        let outcome = store.save(&key, record(&small), &version).await.unwrap();
        assert!(matches!(outcome, SaveOutcome::Saved(_)));
        assert!(
            store.bytes() * 20 < held_big,
            "{} bytes held after shrinking from {held_big}",
            store.bytes()
        );
        assert_eq!(store.bytes(), footprint(&small.clone()));
        let loaded = store.load(&key, 1e9).await.unwrap().unwrap();
        assert_eq!(*loaded.data, small);
    }

    /// A load shares the stored dict; a save while a request still holds it leaves that
    /// request's dict as it was loaded, and the next load sees the save.
    #[tokio::test]
    async fn a_save_leaves_a_dict_a_request_still_holds_alone() {
        let store = MemoryStore::new();
        let key = SessionKey::generate().unwrap();
        let first = dict(3);
        let version = store.create(&key, record(&first)).await.unwrap();
        let held = store.load(&key, 1e9).await.unwrap().unwrap();
        let again = store.load(&key, 1e9).await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&held.data, &again.data), "loads share one dict");
        // As many keys: the save that would be written in place, were the dict not held.
        let mut second = dict(3);
        second.insert("key0".to_owned(), Value::from(7));
        let outcome = store.save(&key, record(&second), &version).await.unwrap();
        assert!(matches!(outcome, SaveOutcome::Saved(_)));
        assert_eq!(
            *held.data, first,
            "the held dict did not change under its request"
        );
        assert_eq!(*store.load(&key, 1e9).await.unwrap().unwrap().data, second);
        // The store holds a copy, sized as copies are.
        assert_eq!(store.bytes(), footprint(&second.clone()));
    }

    /// Saves with the same keys overwrite in place; saves with others copy afresh; a big
    /// session is copied before the lock. Each keeps the data and the count exact.
    #[tokio::test]
    async fn saves_in_place_keep_the_count_exact() {
        let store = MemoryStore::new();
        let key = SessionKey::generate().unwrap();
        let mut version = store.create(&key, record(&dict(3))).await.unwrap();
        for n in 0..6 {
            // Four or five keys, each count twice: a fresh copy, then an overwrite in place.
            let mut data = dict(3 + (n / 2) % 2);
            data.insert("n".to_owned(), Value::from(n as i64));
            match store.save(&key, record(&data), &version).await.unwrap() {
                SaveOutcome::Saved(v) => version = v,
                other => panic!("{other:?}"),
            }
            assert_eq!(store.bytes(), footprint(&data.clone()));
            assert_eq!(*store.load(&key, 1e9).await.unwrap().unwrap().data, data);
        }
        let big = dict(640);
        assert!(footprint(&big) > IN_PLACE_MAX_BYTES);
        for _ in 0..2 {
            match store.save(&key, record(&big), &version).await.unwrap() {
                SaveOutcome::Saved(v) => version = v,
                other => panic!("{other:?}"),
            }
            assert_eq!(store.bytes(), footprint(&big.clone()));
            assert_eq!(*store.load(&key, 1e9).await.unwrap().unwrap().data, big);
        }
        store.delete(&key).await.unwrap();
        assert_eq!(store.bytes(), 0);
    }
}
