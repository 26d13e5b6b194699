//! Session dicts already decoded, by the exact stored text they came from.
//!
//! A server store's load verifies an HMAC-SHA256, decodes base64 (and zlib) and parses JSON
//! before the handler sees one key: on a small session that is more work than the store's own
//! `SELECT`, and a visitor's session is read on every request while it changes on few. The
//! text is the whole record, signature included, so the same text always decodes to the same
//! dict under the same keys: a hit is exactly what verifying and decoding again would give,
//! and a changed, tampered or foreign record is other text, a miss, verified as ever.
//!
//! The cache and every session that loaded a text share one dict (an `Arc`): a hit copies
//! nothing, whatever the session's size, and a session copies its dict only when it first
//! changes it.
//!
//! A text is admitted on its second load, not its first: weighing a dict walks all of it, and
//! a session written on every request is loaded once per text, so it never pays for that nor
//! fills the cache with texts no load will see again. A small table of recently seen texts'
//! hashes (a doorkeeper) tells the second load from the first.
//!
//! Entries are weighed by about the memory they hold, and the cache keeps to its budget by
//! evicting the entries least used (quick_cache's CLOCK-Pro, which a scan of every record
//! does not flush).

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::json::Map;

/// What one entry is counted as besides its text and its dict's heap: the key's allocation,
/// the dict itself and the cache's bookkeeping.
const ENTRY_OVERHEAD: u64 = 128;

/// The least budget of one shard of the cache.
const SHARD_MIN_BYTES: u64 = 1024 * 1024;

/// The default budget: about this many bytes of decoded sessions (some 40,000 small ones).
pub const DEFAULT_DECODED_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// What a signed text decoded to: its dict, and the moment it was signed (the timestamp in
/// the text), kept so that a hit's age checks need not find it in the text again.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Verified {
    pub(crate) data: Arc<Map>,
    pub(crate) signed_at: i64,
}

/// A decoded text and what it weighs.
#[derive(Clone)]
struct Entry {
    verified: Verified,
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

/// How many shards a budget is split into on a host with `cores` cores. quick_cache refuses an
/// entry heavier than one shard's share, and its default, four shards a core, would leave a
/// 64-core host 64 KiB a shard: too little for a big session. So at least a mebibyte each.
fn shard_count(budget: u64, cores: usize) -> usize {
    let by_budget = usize::try_from(budget / SHARD_MIN_BYTES).unwrap_or(usize::MAX);
    cores.saturating_mul(4).min(by_budget).max(1)
}

/// The doorkeeper's slot for a text's hash.
fn doorkeeper_slot(hash: u64) -> usize {
    usize::try_from(hash % DOORKEEPER_SLOTS as u64).unwrap_or(0)
}

/// Decoded session dicts by stored text, within a budget of bytes.
pub(crate) struct DecodedCache {
    entries: quick_cache::sync::Cache<Box<str>, Entry, ByWeight>,
    /// The hashes of texts loaded once and not yet admitted, one slot per hash's residue: a
    /// newer text takes an older one's slot, so two texts loaded in turn through one slot are
    /// admitted late (or early, if their hashes are equal). Either way the answer is the same.
    seen: Box<[AtomicU64]>,
    hasher: foldhash::fast::RandomState,
}

impl DecodedCache {
    /// A cache of about `budget` bytes; `None` for a budget of zero (no cache at all).
    /// Under a mebibyte it is one shard: a single big session may then exceed it.
    pub(crate) fn with_budget(budget: u64) -> Option<Self> {
        if budget == 0 {
            return None;
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        // Its tables grow from an estimate of the entries: small sessions.
        let estimate = usize::try_from(budget / (2 * ENTRY_OVERHEAD)).unwrap_or(usize::MAX);
        let options = quick_cache::OptionsBuilder::new()
            .shards(shard_count(budget, cores))
            .estimated_items_capacity(estimate.max(16))
            .weight_capacity(budget)
            .build()
            .ok()?;
        Some(DecodedCache {
            entries: quick_cache::sync::Cache::with_options(
                options,
                ByWeight,
                quick_cache::DefaultHashBuilder::default(),
                quick_cache::sync::DefaultLifecycle::default(),
            ),
            seen: (0..DOORKEEPER_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: foldhash::fast::RandomState::default(),
        })
    }

    /// What `text` decoded to, if it is cached (the dict shared, not copied).
    pub(crate) fn get(&self, text: &str) -> Option<Verified> {
        self.entries.get(text).map(|entry| entry.verified)
    }

    /// Whether `text`, just decoded, was decoded before (since its hash last lost its slot):
    /// the second time it is, it is worth remembering. The first time, it is noted.
    pub(crate) fn seen_before(&self, text: &str) -> bool {
        let hash = self.hasher.hash_one(text);
        let slot = &self.seen[doorkeeper_slot(hash)];
        // Never 0, the empty slot (after the slot is chosen, so every slot is used).
        let hash = hash | 1;
        if slot.load(Ordering::Relaxed) == hash {
            slot.store(0, Ordering::Relaxed);
            true
        } else {
            slot.store(hash, Ordering::Relaxed);
            false
        }
    }

    /// Remembers `data` (shared), just verified and decoded from `text` (signed at
    /// `signed_at`), if `text` was decoded before ([`seen_before`](Self::seen_before)).
    pub(crate) fn remember(&self, text: &str, data: &Arc<Map>, signed_at: i64) {
        if self.seen_before(text) {
            self.insert(
                text,
                Verified {
                    data: Arc::clone(data),
                    signed_at,
                },
            );
        }
    }

    /// Remembers what `text` decodes to.
    pub(crate) fn insert(&self, text: &str, verified: Verified) {
        let bytes = text.len().saturating_add(verified.data.heap_bytes());
        let weight = ENTRY_OVERHEAD.saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
        self.entries.insert(text.into(), Entry { verified, weight });
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

    fn verified(data: Map) -> Verified {
        Verified {
            data: Arc::new(data),
            signed_at: 1_700_000_000,
        }
    }

    #[test]
    fn a_hit_is_what_was_stored() {
        let cache = DecodedCache::with_budget(1 << 20).unwrap();
        cache.insert("text-a", verified(dict(1)));
        assert_eq!(cache.get("text-a"), Some(verified(dict(1))));
        assert_eq!(cache.get("text-b"), None);
    }

    #[test]
    fn the_budget_holds_however_much_is_inserted() {
        let budget = 64 * 1024;
        let cache = DecodedCache::with_budget(budget).unwrap();
        for i in 0..10_000 {
            cache.insert(
                &format!("text-{i}-{}", "x".repeat(1_000)),
                verified(dict(i)),
            );
        }
        assert!(cache.weight() <= budget, "{} > {budget}", cache.weight());
        assert!(cache.len() > 0);
        // An entry over the whole budget is not kept.
        cache.insert(&"huge".repeat(1 << 16), verified(dict(0)));
        assert_eq!(cache.get(&"huge".repeat(1 << 16)), None);
    }

    /// However many cores, a shard of the default budget holds a mebibyte.
    #[test]
    fn shards_hold_a_mebibyte_on_any_host() {
        for cores in [1, 2, 8, 64, 512] {
            let shards = shard_count(DEFAULT_DECODED_CACHE_BYTES, cores);
            assert!(
                DEFAULT_DECODED_CACHE_BYTES / shards as u64 >= SHARD_MIN_BYTES,
                "{cores}"
            );
        }
        assert_eq!(shard_count(1, 64), 1);
    }

    /// A big session (the 640 items of the bench's 64 KiB cart) fits the default budget.
    #[test]
    fn a_big_session_is_kept_under_the_default_budget() {
        let cache = DecodedCache::with_budget(DEFAULT_DECODED_CACHE_BYTES).unwrap();
        let big: Map = (0..640)
            .map(|i| {
                let item = Map::from([
                    ("sku".to_owned(), Value::from(format!("SKU-{i:05}"))),
                    (
                        "title".to_owned(),
                        Value::from("Product title number with some text"),
                    ),
                ]);
                (format!("item{i:03}"), Value::Dict(item))
            })
            .collect();
        cache.insert("big", verified(big.clone()));
        assert_eq!(cache.get("big"), Some(verified(big)));
    }

    #[test]
    fn a_text_is_worth_remembering_on_its_second_load() {
        let cache = DecodedCache::with_budget(1 << 20).unwrap();
        assert!(!cache.seen_before("text-a"));
        assert!(!cache.seen_before("text-b"));
        assert!(cache.seen_before("text-a"));
        assert!(cache.seen_before("text-b"));
    }

    /// Texts are spread over every slot: a slot holds one text, so a table using half its
    /// slots would forget texts twice as fast.
    #[test]
    fn the_doorkeeper_uses_every_slot() {
        let cache = DecodedCache::with_budget(1 << 20).unwrap();
        for i in 0..100_000 {
            cache.seen_before(&format!("text-{i}"));
        }
        let used = cache
            .seen
            .iter()
            .filter(|slot| slot.load(Ordering::Relaxed) != 0)
            .count();
        assert!(used > DOORKEEPER_SLOTS * 9 / 10, "{used} slots used");
    }

    #[test]
    fn a_zero_budget_is_no_cache() {
        assert!(DecodedCache::with_budget(0).is_none());
    }
}
