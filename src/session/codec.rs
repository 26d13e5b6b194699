//! Django's stored session format: `signing.dumps(dict, salt=key_salt, compress=True)`.
//!
//! This is the text in `django_session.session_data` (and in tessera's file and Redis stores),
//! so a session written by Django decodes here and the other way round.
//!
//! ```
//! use tessera::json::{Map, Value};
//! use tessera::session::codec::SessionCodec;
//! use tessera::signing::SecretKeys;
//!
//! let codec = SessionCodec::new(&SecretKeys::new("secret")).unwrap();
//! let mut data = Map::new();
//! data.insert("cart".into(), Value::from(3));
//! let stored = codec.encode_at(&data, 1_700_000_000.0);
//! assert_eq!(codec.decode(&stored).data, data);
//! assert!(codec.decode("garbage").corrupt);
//! ```

use std::sync::Arc;

use super::decoded_cache::DecodedCache;
pub use super::decoded_cache::DEFAULT_DECODED_CACHE_BYTES;
use crate::json::{Map, Value};
use crate::signing::{SecretKeys, SigningError, TimestampSigner};

/// The `key_salt` of every built-in Django backend: `django.contrib.sessions.` plus the
/// `SessionStore` class's qualified name.
pub const DEFAULT_KEY_SALT: &str = "django.contrib.sessions.SessionStore";

/// The outcome of decoding stored session data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded {
    /// The session dict; empty when the data could not be read.
    pub data: Map,
    /// True when the signature did not verify (Django logs `Session data corrupted` on
    /// `django.security.SuspiciousSession`). Other unreadable data is empty without a warning.
    pub corrupt: bool,
}

/// Encodes and decodes session data with one derived signer.
///
/// It remembers what it decoded, by the exact stored text (signature included), within a
/// budget of memory ([`DEFAULT_DECODED_CACHE_BYTES`] unless
/// [`with_decoded_cache`](Self::with_decoded_cache) sets another): a record read unchanged a
/// third time, and every time after, is not verified and parsed again, since the same text can
/// only decode to the same dict (a text is remembered on its second load: a session written
/// on every request never fills the cache). A hit shares the cached dict rather than copying
/// it. A changed or tampered record is other text, verified as ever. Clones share the cache.
#[derive(Clone)]
pub struct SessionCodec {
    signer: TimestampSigner,
    decoded: Option<Arc<DecodedCache>>,
}

impl std::fmt::Debug for SessionCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCodec")
            .field("signer", &self.signer)
            .field("decoded_cache", &self.decoded.as_ref().map(|c| c.len()))
            .finish()
    }
}

impl SessionCodec {
    /// A codec for Django's built-in backends (salt [`DEFAULT_KEY_SALT`]).
    pub fn new(keys: &SecretKeys) -> Result<Self, SigningError> {
        Self::with_key_salt(keys, DEFAULT_KEY_SALT)
    }

    /// A codec for a custom Django `SessionStore` subclass, whose salt is
    /// `django.contrib.sessions.<ClassQualname>`.
    pub fn with_key_salt(keys: &SecretKeys, key_salt: &str) -> Result<Self, SigningError> {
        Ok(SessionCodec {
            signer: TimestampSigner::builder(keys).salt(key_salt).build()?,
            decoded: DecodedCache::with_budget(DEFAULT_DECODED_CACHE_BYTES).map(Arc::new),
        })
    }

    /// The same codec with a cache of decoded sessions of about `bytes` (a fresh one, shared
    /// by this codec's clones from now on); 0 turns the cache off, so every record is
    /// verified and parsed on every load.
    pub fn with_decoded_cache(self, bytes: u64) -> Self {
        SessionCodec {
            decoded: DecodedCache::with_budget(bytes).map(Arc::new),
            ..self
        }
    }

    /// The stored text for `data`, signed now.
    pub fn encode(&self, data: &Map) -> String {
        self.encode_at(data, crate::signing::now())
    }

    /// The stored text for `data`, signed as if the clock read `now`.
    pub fn encode_at(&self, data: &Map, now: f64) -> String {
        self.signer
            .sign_json_at(&crate::json::map_to_string(data), true, now)
    }

    /// Decodes stored text as Django's `SessionBase.decode` (no max age: the store's expiry
    /// date governs). Validly signed JSON that is not a dict is treated as unreadable.
    pub fn decode(&self, stored: &str) -> Decoded {
        match self.read(stored) {
            Read::Dict(data) => Decoded {
                data: Arc::unwrap_or_clone(data),
                corrupt: false,
            },
            Read::BadSignature => Decoded {
                data: Map::new(),
                corrupt: true,
            },
            Read::NotADict => Decoded::default(),
        }
    }

    /// Decodes a stored record for a store's `load`: `None` when it cannot be read, whatever
    /// the reason: a bad signature (another `SECRET_KEY`; Django's "corrupted", logged as
    /// Django logs it), or a payload that is not a JSON dict (a pickle from Django's cache
    /// backend, another framework's format), logged once. The store then reports no session,
    /// so the request starts a new one under a new key and the record is never overwritten:
    /// Django loads such a record as an empty session and its next save destroys it.
    ///
    /// The dict is shared with the codec's cache, as [`Loaded::data`](crate::store::Loaded)
    /// holds it: a cached record is not copied.
    pub fn decode_record(&self, stored: &str) -> Option<Arc<Map>> {
        match self.read(stored) {
            Read::Dict(data) => Some(data),
            Read::BadSignature => None,
            Read::NotADict => {
                unreadable();
                None
            }
        }
    }

    /// The one reading both decoders share; a bad signature is logged here, as Django logs it.
    fn read(&self, stored: &str) -> Read {
        if let Some(hit) = self.decoded.as_ref().and_then(|cache| cache.get(stored)) {
            return Read::Dict(hit.data);
        }
        // No max age (the store's expiry date governs), so the clock plays no part.
        match self.signer.unsign_object_timed_at(stored, None, 0.0) {
            Ok((Value::Dict(data), signed_at)) => {
                let data = Arc::new(data);
                if let (Some(cache), Ok(signed_at)) = (&self.decoded, i64::try_from(signed_at)) {
                    cache.remember(stored, &data, signed_at);
                }
                Read::Dict(data)
            }
            Err(e) if e.is_bad_signature() => {
                tracing::warn!(target: "tessera::security::SuspiciousSession", "Session data corrupted");
                Read::BadSignature
            }
            Ok(_) | Err(_) => Read::NotADict,
        }
    }
}

/// What stored text turned out to be.
enum Read {
    Dict(Arc<Map>),
    BadSignature,
    /// Verified (or not signed text at all) but not Django's JSON dict.
    NotADict,
}

/// The one line logged for a record that verifies (or is not signed text at all) but is not a
/// session dict in Django's JSON: never the key, never the data.
pub(crate) fn unreadable() {
    tracing::warn!(
        target: "tessera::session",
        "Session data unreadable (not a signed JSON dict: a pickle or another format?): a new \
         session is started and the stored record is left as it is"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> SessionCodec {
        SessionCodec::new(&SecretKeys::new("codec-test-secret")).unwrap()
    }

    fn dict() -> Map {
        Map::from([("n".to_owned(), Value::from(41))])
    }

    fn cached(codec: &SessionCodec) -> usize {
        codec.decoded.as_ref().map_or(0, |c| c.len())
    }

    #[test]
    fn a_record_loaded_again_comes_from_the_cache_as_a_fresh_decode_would() {
        let codec = codec();
        let stored = codec.encode_at(&dict(), 1_700_000_000.0);
        assert_eq!(cached(&codec), 0, "encoding remembers nothing");
        assert_eq!(codec.decode_record(&stored).as_deref(), Some(&dict()));
        assert_eq!(cached(&codec), 0, "a first load only notes the text");
        assert_eq!(codec.decode_record(&stored).as_deref(), Some(&dict()));
        assert_eq!(cached(&codec), 1, "the second remembers it");
        assert_eq!(codec.decode_record(&stored).as_deref(), Some(&dict()));
        assert_eq!(codec.decode(&stored).data, dict());
        assert_eq!(cached(&codec), 1);
        // Clones share it.
        assert_eq!(cached(&codec.clone()), 1);
    }

    /// A hit hands out the cached dict itself, not a copy of it.
    #[test]
    fn a_cached_record_is_shared_not_copied() {
        let codec = codec();
        let stored = codec.encode_at(&dict(), 1_700_000_000.0);
        let first = codec.decode_record(&stored).unwrap();
        let second = codec.decode_record(&stored).unwrap();
        assert!(
            !Arc::ptr_eq(&first, &second),
            "the first load is not cached"
        );
        let third = codec.decode_record(&stored).unwrap();
        let fourth = codec.decode_record(&stored).unwrap();
        assert!(
            Arc::ptr_eq(&second, &third),
            "the second load's dict is the one cached"
        );
        assert!(Arc::ptr_eq(&third, &fourth));
    }

    #[test]
    fn a_tampered_record_is_verified_again_and_refused() {
        let codec = codec();
        let stored = codec.encode_at(&dict(), 1_700_000_000.0);
        for _ in 0..3 {
            assert_eq!(codec.decode_record(&stored).as_deref(), Some(&dict()));
        }
        assert_eq!(cached(&codec), 1);
        // The same signature over another payload ("n": 42).
        let forged_payload = crate::signing::encode_json_payload(r#"{"n":42}"#, false);
        let (_, rest) = stored.split_once(':').unwrap();
        let forged = format!("{forged_payload}:{rest}");
        for _ in 0..3 {
            assert_eq!(codec.decode_record(&forged), None);
            assert!(codec.decode(&forged).corrupt);
        }
        // Under other keys, the cached text itself is refused.
        let other = SessionCodec::new(&SecretKeys::new("another-secret")).unwrap();
        assert_eq!(other.decode_record(&stored), None);
    }

    #[test]
    fn with_no_budget_nothing_is_kept() {
        let codec = codec().with_decoded_cache(0);
        let stored = codec.encode_at(&dict(), 1_700_000_000.0);
        for _ in 0..3 {
            assert_eq!(codec.decode_record(&stored).as_deref(), Some(&dict()));
        }
        assert!(codec.decoded.is_none());
    }
}
