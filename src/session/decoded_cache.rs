//! Session dicts already decoded, by the exact stored text they came from.
//!
//! A server store's load verifies an HMAC-SHA256, decodes base64 (and zlib) and parses JSON
//! before the handler sees one key: on a small session that is more work than the store's own
//! `SELECT`, and a visitor's session is read on every request while it changes on few. The
//! text is the whole record, signature included, so the same text always decodes to the same
//! dict under the same keys: a hit is exactly what verifying and decoding again would give,
//! and a changed, tampered or foreign record is other text, a miss, verified as ever.
//!
//! A text is admitted on its second load, not its first: copying a dict into the cache costs
//! about what parsing it did, which pays off only for a record read again. A session written
//! on every request is loaded once per text, so it never pays for a copy (nor fills the cache
//! with texts no load will see again). A small table of recently seen texts' hashes (a
//! doorkeeper) tells the second load from the first.
//!
//! Entries are weighed by about the memory they hold, and the cache keeps to its budget by
//! evicting the entries least used (quick_cache's CLOCK-Pro, which a scan of every record
//! does not flush).

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::json::Map;

/// What one entry is counted as besides its text and its dict's heap: the key's allocation,
/// the dict itself and the cache's bookkeeping.
const ENTRY_OVERHEAD: u64 = 128;

/// The default budget: about this many bytes of decoded sessions (some 40,000 small ones).
pub const DEFAULT_DECODED_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// A dict and what it weighs.
#[derive(Clone)]
struct Entry {
    data: Map,
    weight: u64,
}

#[derive(Clone)]
struct ByWeight;

impl quick_cache::Weighter<Box<str>, Entry> for ByWeight {
    fn weight(&self, _text: &Box<str>, entry: &Entry) -> u64 {
        entry.weight
    }
}

/// How many recently seen texts the doorkeeper holds (a hash each, 8 bytes).
const DOORKEEPER_SLOTS: usize = 8192;

/// Decoded session dicts by stored text, within a budget of bytes.
pub(crate) struct DecodedCache {
    entries: quick_cache::sync::Cache<Box<str>, Entry, ByWeight>,
    /// The hashes of texts loaded once and not yet admitted, one slot per hash's residue: a
    /// newer text takes an older one's slot. A collision only admits a text early.
    seen: Box<[AtomicU64]>,
    hasher: foldhash::fast::RandomState,
}

impl DecodedCache {
    /// A cache of about `budget` bytes; `None` for a budget of zero (no cache at all).
    pub(crate) fn with_budget(budget: u64) -> Option<Self> {
        if budget == 0 {
            return None;
        }
        // quick_cache sizes its tables for an estimate of the entries: small sessions.
        let estimate = usize::try_from(budget / (2 * ENTRY_OVERHEAD)).unwrap_or(usize::MAX);
        Some(DecodedCache {
            entries: quick_cache::sync::Cache::with_weighter(estimate.max(16), budget, ByWeight),
            seen: (0..DOORKEEPER_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: foldhash::fast::RandomState::default(),
        })
    }

    /// A copy of the dict `text` decoded to, if it is cached.
    pub(crate) fn get(&self, text: &str) -> Option<Map> {
        self.entries.get(text).map(|entry| entry.data)
    }

    /// Whether `text`, just decoded, was decoded before (since its hash last lost its slot):
    /// the second time it is, it is worth remembering. The first time, it is noted.
    pub(crate) fn seen_before(&self, text: &str) -> bool {
        // Never 0, the empty slot.
        let hash = self.hasher.hash_one(text) | 1;
        let slot = &self.seen[usize::try_from(hash % DOORKEEPER_SLOTS as u64).unwrap_or(0)];
        if slot.load(Ordering::Relaxed) == hash {
            slot.store(0, Ordering::Relaxed);
            true
        } else {
            slot.store(hash, Ordering::Relaxed);
            false
        }
    }

    /// Remembers that `text` decodes to `data`.
    pub(crate) fn insert(&self, text: &str, data: Map) {
        let bytes = text.len().saturating_add(data.heap_bytes());
        let weight = ENTRY_OVERHEAD.saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
        self.entries.insert(text.into(), Entry { data, weight });
    }

    /// The bytes the entries are counted as.
    #[cfg(test)]
    fn weight(&self) -> u64 {
        self.entries.weight()
    }

    /// How many entries there are.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Value;

    fn dict(n: i64) -> Map {
        Map::from([("n".to_owned(), Value::from(n))])
    }

    #[test]
    fn a_hit_is_a_copy_of_what_was_stored() {
        let cache = DecodedCache::with_budget(1 << 20).unwrap();
        cache.insert("text-a", dict(1));
        assert_eq!(cache.get("text-a"), Some(dict(1)));
        assert_eq!(cache.get("text-b"), None);
    }

    #[test]
    fn the_budget_holds_however_much_is_inserted() {
        let budget = 64 * 1024;
        let cache = DecodedCache::with_budget(budget).unwrap();
        for i in 0..10_000 {
            cache.insert(&format!("text-{i}-{}", "x".repeat(1_000)), dict(i));
        }
        assert!(cache.weight() <= budget, "{} > {budget}", cache.weight());
        assert!(cache.len() > 0);
        // An entry over the whole budget is not kept.
        cache.insert(&"huge".repeat(1 << 16), dict(0));
        assert_eq!(cache.get(&"huge".repeat(1 << 16)), None);
    }

    #[test]
    fn a_text_is_worth_remembering_on_its_second_load() {
        let cache = DecodedCache::with_budget(1 << 20).unwrap();
        assert!(!cache.seen_before("text-a"));
        assert!(!cache.seen_before("text-b"));
        assert!(cache.seen_before("text-a"));
        assert!(cache.seen_before("text-b"));
    }

    #[test]
    fn a_zero_budget_is_no_cache() {
        assert!(DecodedCache::with_budget(0).is_none());
    }
}
