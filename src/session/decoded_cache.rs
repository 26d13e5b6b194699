//! Session dicts already decoded, by the exact stored text they came from.
//!
//! A server store's load verifies an HMAC-SHA256, decodes base64 (and zlib) and parses JSON
//! before the handler sees one key: on a small session that is more work than the store's own
//! `SELECT`, and a visitor's session is read on every request while it changes on few. The
//! text is the whole record, signature included, so the same text always decodes to the same
//! dict under the same keys: a hit is exactly what verifying and decoding again would give,
//! and a changed, tampered or foreign record is other text, a miss, verified as ever.
//!
//! Entries are weighed by about the memory they hold, and the cache keeps to its budget by
//! evicting the entries least used (quick_cache's CLOCK-Pro, which a scan of every record
//! does not flush).

use crate::json::Map;

/// What one entry is counted as besides its text and JSON: the key's and the dict's own
/// allocations and the cache's bookkeeping, about what a one-key session costs.
const ENTRY_OVERHEAD: u64 = 256;

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

/// Decoded session dicts by stored text, within a budget of bytes.
pub(crate) struct DecodedCache {
    entries: quick_cache::sync::Cache<Box<str>, Entry, ByWeight>,
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
        })
    }

    /// A copy of the dict `text` decoded to, if it is cached.
    pub(crate) fn get(&self, text: &str) -> Option<Map> {
        self.entries.get(text).map(|entry| entry.data)
    }

    /// Remembers that `text` decodes to `data`, from `json_len` bytes of JSON.
    pub(crate) fn insert(&self, text: &str, data: Map, json_len: usize) {
        // A parsed dict takes about twice its JSON in memory (keys and strings on the heap,
        // each value a tagged word).
        let json = u64::try_from(json_len).unwrap_or(u64::MAX);
        let weight = ENTRY_OVERHEAD
            .saturating_add(u64::try_from(text.len()).unwrap_or(u64::MAX))
            .saturating_add(json.saturating_mul(2));
        self.entries.insert(text.into(), Entry { data, weight });
    }

    /// Forgets `text`: a record saved over, which no load will return again.
    pub(crate) fn remove(&self, text: &str) {
        self.entries.remove(text);
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
        cache.insert("text-a", dict(1), 7);
        assert_eq!(cache.get("text-a"), Some(dict(1)));
        assert_eq!(cache.get("text-b"), None);
    }

    #[test]
    fn the_budget_holds_however_much_is_inserted() {
        let budget = 64 * 1024;
        let cache = DecodedCache::with_budget(budget).unwrap();
        for i in 0..10_000 {
            cache.insert(&format!("text-{i}"), dict(i), 1_000);
        }
        assert!(cache.weight() <= budget, "{} > {budget}", cache.weight());
        assert!(cache.len() > 0);
        // An entry over the whole budget is not kept.
        cache.insert("huge", dict(0), 1 << 20);
        assert_eq!(cache.get("huge"), None);
    }

    #[test]
    fn a_zero_budget_is_no_cache() {
        assert!(DecodedCache::with_budget(0).is_none());
    }
}
