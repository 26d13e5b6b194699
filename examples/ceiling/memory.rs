//! The memory store's ceiling: what any in-process store has to do for the bench routes, and
//! nothing more. Sessions sit in 64 shards of a foldhash map behind `RwLock`s, chosen by the
//! key's first bytes, as in tessera's `MemoryStore`; a record is the session's text and its
//! expiry. Per route:
//!
//! - `/read`: one lookup under the shard's read lock, a copy of the text;
//! - `/write`: that lookup, then a compare-and-swap under the write lock;
//! - `/create`: an insert under the write lock, refused when the key is taken.
//!
//! Left out, because they are tessera's choices rather than the floor's: the bounds (sessions
//! and bytes, with eviction), the per-user index, and keeping the data decoded.

use std::collections::HashMap;
use std::sync::RwLock;

use super::store::Error;

const SHARDS: usize = 64;

/// A session's text and when it expires (Unix seconds).
struct Entry {
    text: String,
    expires_at: f64,
}

type Shard = RwLock<HashMap<String, Entry, foldhash::fast::RandomState>>;

/// The ceiling's in-process store.
pub struct MemoryCeiling {
    shards: Box<[Shard]>,
}

impl MemoryCeiling {
    pub fn new() -> MemoryCeiling {
        MemoryCeiling {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }

    fn shard(&self, key: &str) -> &Shard {
        let index = key.bytes().take(4).fold(0usize, |h, c| {
            h.wrapping_mul(31).wrapping_add(usize::from(c))
        });
        &self.shards[index % SHARDS]
    }

    pub fn load(&self, key: &str, now: f64) -> Result<Option<String>, Error> {
        let shard = self.shard(key).read().map_err(|_| "poisoned")?;
        Ok(shard
            .get(key)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| entry.text.clone()))
    }

    pub fn create(&self, key: &str, text: &str, expires_at: f64) -> Result<bool, Error> {
        let mut shard = self.shard(key).write().map_err(|_| "poisoned")?;
        if shard.contains_key(key) {
            return Ok(false);
        }
        shard.insert(
            key.to_owned(),
            Entry {
                text: text.to_owned(),
                expires_at,
            },
        );
        Ok(true)
    }

    pub fn save(
        &self,
        key: &str,
        text: &str,
        expected: &str,
        expires_at: f64,
    ) -> Result<bool, Error> {
        let mut shard = self.shard(key).write().map_err(|_| "poisoned")?;
        match shard.get_mut(key) {
            Some(entry) if entry.text == expected => {
                entry.text.clear();
                entry.text.push_str(text);
                entry.expires_at = expires_at;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
