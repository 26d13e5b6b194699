//! The whole session in a signed cookie, as Django's `signed_cookies` backend.
//!
//! The cookie value is `signing.dumps(session, compress=True,
//! salt="django.contrib.sessions.backends.signed_cookies")` under the plain `SECRET_KEY`, so a
//! Django app with the same key reads it and the other way round. It is signed, not encrypted:
//! the client can read its session. Nothing is stored server-side (the backend only caches
//! what it decoded, by the exact cookie value: [`SignedCookieSessions`]), so two concurrent requests
//! that change one session each send back their own cookie and the browser keeps the last one:
//! this backend cannot promise "no lost updates", and a flushed session cannot be revoked
//! (an old cookie stays valid until it expires). Use a server-side store when that matters.
//!
//! One difference from Django by default, on purpose: Django only checks `SESSION_COOKIE_AGE`
//! when it loads the cookie and ignores a per-session `set_expiry`, so a copy of a cookie that
//! `set_expiry(60)` gave a one-minute life still loads for two weeks. tessera also enforces
//! the session's own expiry, counted from the moment the cookie was signed;
//! [`own_expiry(false)`](SignedCookieSessions::own_expiry) loads exactly as Django does. The
//! format is the same either way.
//!
//! ```
//! use tessera::json::{Map, Value};
//! use tessera::signing::SecretKeys;
//! use tessera::backend::cookie::SignedCookieSessions;
//! use tessera::SessionConfig;
//!
//! let sessions = SignedCookieSessions::new(&SecretKeys::new("secret")).unwrap();
//! let mut data = Map::new();
//! data.insert("n".into(), Value::from(1));
//! let cookie = sessions.encode_at(&data, 1_700_000_000.0);
//! let config = SessionConfig::default();
//! assert_eq!(sessions.decode_at(&cookie, &config, 1_700_000_060.0).as_deref(), Some(&data));
//! assert_eq!(sessions.decode_at("tampered", &config, 1_700_000_060.0), None);
//! ```

use std::sync::Arc;

use async_trait::async_trait;

use super::{Context, Pending, Saved, SessionBackend, SessionId};
use crate::json::{Map, Value};
use crate::session::decoded_cache::DecodedCache;
use crate::session::lifetime::expiry_date_of;
use crate::session::{SessionConfig, SessionError};
use crate::signing::{within_max_age, SecretKeys, SigningError, TimestampSigner};
use crate::store::{Loaded, StoreError, Version};

/// The salt of Django's `signed_cookies` backend.
pub const SALT: &str = "django.contrib.sessions.backends.signed_cookies";

/// Browsers drop a cookie whose name and value exceed this many bytes.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// Encodes and decodes cookie-held sessions.
///
/// It remembers the sessions it decoded, by the exact cookie value, within a budget of memory
/// ([`DEFAULT_DECODED_CACHE_BYTES`](crate::session::codec::DEFAULT_DECODED_CACHE_BYTES) unless
/// [`with_decoded_cache`](Self::with_decoded_cache) sets another): a browser sends the same
/// cookie on every request until the session changes, and the same value can only decode to
/// the same dict, so from its third request on its signature is not verified and its payload
/// not parsed again. The clock's checks (`SESSION_COOKIE_AGE`, the session's own expiry) are
/// made on every load. A changed or tampered cookie is another value, verified as ever.
/// Clones share the cache.
#[derive(Clone)]
pub struct SignedCookieSessions {
    signer: TimestampSigner,
    own_expiry: bool,
    decoded: Option<Arc<DecodedCache>>,
}

impl std::fmt::Debug for SignedCookieSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedCookieSessions")
            .field("signer", &self.signer)
            .field("own_expiry", &self.own_expiry)
            .field("decoded_cache", &self.decoded.as_ref().map(|c| c.len()))
            .finish()
    }
}

impl SignedCookieSessions {
    /// Sessions signed with `keys` (the plain `SECRET_KEY`, no cookie prefix).
    pub fn new(keys: &SecretKeys) -> Result<Self, SigningError> {
        Ok(SignedCookieSessions {
            signer: TimestampSigner::builder(keys).salt(SALT).build()?,
            own_expiry: true,
            decoded: DecodedCache::with_budget(crate::session::codec::DEFAULT_DECODED_CACHE_BYTES)
                .map(Arc::new),
        })
    }

    /// The same sessions with a cache of decoded cookies of about `bytes` (a fresh one, shared
    /// by clones from now on); 0 turns the cache off, so every cookie is verified and parsed
    /// on every load.
    pub fn with_decoded_cache(self, bytes: u64) -> Self {
        SignedCookieSessions {
            decoded: DecodedCache::with_budget(bytes).map(Arc::new),
            ..self
        }
    }

    /// Whether a cookie past the session's own `set_expiry` is refused (default `true`);
    /// `false` checks only `SESSION_COOKIE_AGE`, exactly as Django's backend.
    pub fn own_expiry(mut self, enforce: bool) -> Self {
        self.own_expiry = enforce;
        self
    }

    /// The cookie value for `data`, signed as if the clock read `now`.
    pub fn encode_at(&self, data: &Map, now: f64) -> String {
        self.signer
            .sign_json_at(&crate::json::map_to_string(data), true, now)
    }

    /// The session in `cookie` at `now`, or `None` when it is tampered, malformed, older than
    /// `SESSION_COOKIE_AGE`, not a dict, or past its own `set_expiry` (unless
    /// [`own_expiry(false)`](Self::own_expiry)). The dict is shared with the cache of decoded
    /// cookies, as [`Loaded::data`] holds it.
    pub fn decode_at(&self, cookie: &str, config: &SessionConfig, now: f64) -> Option<Arc<Map>> {
        let max_age = Some(config.cookie_age.into());
        let (data, signed_at) = match self.decoded.as_ref().and_then(|cache| cache.get(cookie)) {
            // Its signature was verified when it was cached: only the clock's checks remain.
            Some(hit) => {
                let signed_at = i128::from(hit.signed_at);
                within_max_age(signed_at, max_age, now).ok()?;
                (hit.data, signed_at)
            }
            None => {
                let (Value::Dict(data), signed_at) = self
                    .signer
                    .unsign_object_timed_at(cookie, max_age, now)
                    .ok()?
                else {
                    return None;
                };
                let data = Arc::new(data);
                // A timestamp past i64 (no clock signs one) is read, but not cached.
                if let (Some(cache), Ok(at)) = (&self.decoded, i64::try_from(signed_at)) {
                    cache.remember(cookie, &data, at);
                }
                (data, signed_at)
            }
        };
        if !self.own_expiry {
            return Some(data);
        }
        let expires_at = expiry_date_of(&data, config, signed_at as f64).ok()?;
        (now < expires_at).then_some(data)
    }
}

/// A cookie-held session has no stored record to compare against.
const UNVERSIONED: Version = Version::Counter(0);

/// The [`SessionBackend`] calls that do work, as plain methods: the session layer calls these
/// directly, so no future is boxed for them (the trait, through `async_trait`, boxes each).
impl SignedCookieSessions {
    /// Django validates this "key" too: at least 8 characters (counting stops at the 8th).
    pub(crate) fn recognise(&self, cookie: &str) -> Option<SessionId> {
        (cookie.chars().nth(7).is_some()).then(|| SessionId::signed(cookie.to_owned()))
    }

    /// The session the cookie holds; `None` when it is tampered, expired or not a dict.
    pub(crate) fn load(&self, id: &SessionId, cx: Context<'_>) -> Option<Loaded> {
        self.decode_at(id.cookie_value(), cx.config, cx.now)
            .map(|data| Loaded {
                data,
                version: UNVERSIONED,
            })
    }

    /// The new cookie value for the session: it is the session.
    pub(crate) fn save(
        &self,
        pending: Pending<'_>,
        cx: Context<'_>,
    ) -> Result<Saved, SessionError> {
        crate::session::limits::check_writable(pending.data, cx.config, cx.now)?;
        let value = self.encode_at(pending.data, cx.now);
        let size = cx.config.cookie_name.len() + value.len();
        if size > MAX_COOKIE_BYTES {
            return Err(SessionError::TooLarge(size));
        }
        Ok(Saved {
            id: SessionId::signed(value),
            version: UNVERSIONED,
        })
    }
}

#[async_trait]
impl SessionBackend for SignedCookieSessions {
    fn recognise(&self, cookie: &str) -> Option<SessionId> {
        SignedCookieSessions::recognise(self, cookie)
    }

    async fn load(&self, id: &SessionId, cx: Context<'_>) -> Result<Option<Loaded>, StoreError> {
        Ok(SignedCookieSessions::load(self, id, cx))
    }

    async fn save(&self, pending: Pending<'_>, cx: Context<'_>) -> Result<Saved, SessionError> {
        SignedCookieSessions::save(self, pending, cx)
    }

    /// Nothing to delete: the response deletes the cookie, but a copy of the old one stays
    /// valid until it expires.
    async fn delete(&self, _id: &SessionId, _cx: Context<'_>) -> Result<(), StoreError> {
        Ok(())
    }

    /// The data is the identity: re-signing it on the next save is the whole cycle.
    async fn cycle(
        &self,
        _pending: Pending<'_>,
        _cx: Context<'_>,
    ) -> Result<Option<Saved>, SessionError> {
        Ok(None)
    }

    fn revocable(&self) -> bool {
        false
    }

    fn reissues_unreadable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> SignedCookieSessions {
        SignedCookieSessions::new(&SecretKeys::new("cookie-test-secret")).unwrap()
    }

    fn dict() -> Map {
        Map::from([("n".to_owned(), Value::from(41))])
    }

    fn cached(sessions: &SignedCookieSessions) -> usize {
        sessions.decoded.as_ref().map_or(0, |c| c.len())
    }

    const SIGNED_AT: f64 = 1_700_000_000.0;

    #[test]
    fn a_cookie_loaded_again_is_cached_and_answers_as_a_fresh_decode() {
        let sessions = sessions();
        let config = SessionConfig::default();
        let cookie = sessions.encode_at(&dict(), SIGNED_AT);
        for load in 1..=4 {
            assert_eq!(
                sessions
                    .decode_at(&cookie, &config, SIGNED_AT + 1.0)
                    .as_deref(),
                Some(&dict())
            );
            assert_eq!(cached(&sessions), usize::from(load >= 2), "load {load}");
        }
        // The cache holds the cookie; `Debug` shows only how many it holds.
        let shown = format!("{sessions:?}");
        assert!(shown.contains("decoded_cache: Some(1)"), "{shown}");
        assert!(!shown.contains(&cookie));
    }

    /// Threads loading the same cookies at once, valid ones and forged copies, each get what a
    /// fresh verification gives, however their loads interleave with the cache's admission.
    #[test]
    fn concurrent_loads_of_cached_and_forged_cookies_each_answer_alone() {
        let sessions = sessions();
        let config = SessionConfig::default();
        let cookies: Vec<(String, Map)> = (0..16)
            .map(|i| {
                let data = Map::from([("n".to_owned(), Value::from(i))]);
                (sessions.encode_at(&data, SIGNED_AT), data)
            })
            .collect();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let (sessions, config, cookies) = (&sessions, &config, &cookies);
                scope.spawn(move || {
                    for round in 0..500 {
                        let (cookie, data) = &cookies[(round * 7 + thread) % cookies.len()];
                        assert_eq!(
                            sessions.decode_at(cookie, config, SIGNED_AT).as_deref(),
                            Some(data)
                        );
                        let forged = format!("{cookie}x");
                        assert_eq!(sessions.decode_at(&forged, config, SIGNED_AT), None);
                    }
                });
            }
        });
        // Most are admitted; two whose hashes share a doorkeeper slot may keep taking it from
        // each other while loads interleave, and then stay uncached (still answered right).
        assert!(
            cached(&sessions) > cookies.len() / 2,
            "{}",
            cached(&sessions)
        );
    }

    #[test]
    fn a_cached_cookie_still_expires() {
        // Only SESSION_COOKIE_AGE first, as Django checks it: the signature's age.
        let sessions = sessions().own_expiry(false);
        let config = SessionConfig::default();
        let cookie = sessions.encode_at(&dict(), SIGNED_AT);
        for _ in 0..3 {
            sessions.decode_at(&cookie, &config, SIGNED_AT).unwrap();
        }
        assert_eq!(cached(&sessions), 1);
        let age = config.cookie_age.as_secs_f64();
        assert_eq!(
            sessions
                .decode_at(&cookie, &config, SIGNED_AT + age)
                .as_deref(),
            Some(&dict()),
            "exactly SESSION_COOKIE_AGE old is still valid, as in Django"
        );
        assert_eq!(
            sessions.decode_at(&cookie, &config, SIGNED_AT + age + 1.0),
            None
        );
        // Then the session's own expiry, which tessera also enforces by default.
        let sessions = sessions.own_expiry(true);
        let mut own = dict();
        own.insert(crate::session::handle::EXPIRY_KEY.into(), Value::from(60));
        let cookie = sessions.encode_at(&own, SIGNED_AT);
        for _ in 0..3 {
            sessions.decode_at(&cookie, &config, SIGNED_AT).unwrap();
        }
        assert_eq!(cached(&sessions), 2);
        assert_eq!(sessions.decode_at(&cookie, &config, SIGNED_AT + 61.0), None);
    }

    #[test]
    fn a_tampered_copy_of_a_cached_cookie_is_refused() {
        let sessions = sessions();
        let config = SessionConfig::default();
        let cookie = sessions.encode_at(&dict(), SIGNED_AT);
        for _ in 0..3 {
            sessions.decode_at(&cookie, &config, SIGNED_AT).unwrap();
        }
        let (signed, signature) = cookie.rsplit_once(':').unwrap();
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{signed}:{flipped}{}", &signature[1..]);
        assert_eq!(sessions.decode_at(&forged, &config, SIGNED_AT), None);
        let other = SignedCookieSessions::new(&SecretKeys::new("another secret")).unwrap();
        assert_eq!(other.decode_at(&cookie, &config, SIGNED_AT), None);
    }

    #[test]
    fn a_budget_of_zero_caches_nothing() {
        let sessions = sessions().with_decoded_cache(0);
        let config = SessionConfig::default();
        let cookie = sessions.encode_at(&dict(), SIGNED_AT);
        for _ in 0..3 {
            assert_eq!(
                sessions.decode_at(&cookie, &config, SIGNED_AT).as_deref(),
                Some(&dict())
            );
        }
        assert!(sessions.decoded.is_none());
    }
}
