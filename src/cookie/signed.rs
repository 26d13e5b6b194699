//! Signed cookies, as Django's `set_signed_cookie` / `get_signed_cookie`.
//!
//! The value is signed by a `TimestampSigner` whose key is `"django.http.cookies" ‖ SECRET_KEY`
//! and whose salt binds the cookie name: `django.http.cookies.v2:<len(salt)>:<salt><name>`
//! (Django 5.2.15+, 6.0.6+, 6.1). Older Django used `<name><salt>`, where `("a","bc")` and
//! `("ab","c")` collide; [`CookieSigner`] reads those on request and can write them for an app
//! that shares cookies with Django 4.2 or older.
//!
//! ```
//! use tessera::cookie::CookieSigner;
//! use tessera::signing::SecretKeys;
//!
//! let signer = CookieSigner::new(&SecretKeys::new("secret"));
//! let value = signer.sign_at("theme", "dark", "", 1_700_000_000.0);
//! assert_eq!(signer.unsign_at("theme", &value, "", Some(60.into()), 1_700_000_010.0).unwrap(), "dark");
//! // Bound to its name: the same value under another cookie name does not verify.
//! assert!(signer.unsign_at("lang", &value, "", None, 1_700_000_010.0).is_err());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use crate::signing::{now, SecretKeys, SigningError, TimestampSigner};
use crate::time::MaxAge;

/// The prefix Django puts on the secret of its cookie signer.
pub const COOKIE_KEY_PREFIX: &[u8] = b"django.http.cookies";

/// Salts cached per signer before the cache is reset: names and salts are chosen by the
/// application, but a bound keeps a bug from turning into unbounded memory.
const MAX_CACHED_SALTS: usize = 1024;

/// The salt of Django 5.2.15+/6.0.6+/6.1: `django.http.cookies.v2:<len>:<salt><name>`, where
/// the length counts code points.
pub fn v2_salt(name: &str, salt: &str) -> String {
    format!(
        "django.http.cookies.v2:{}:{salt}{name}",
        salt.chars().count()
    )
}

/// The salt of Django 5.2.14 and older: `<name><salt>`.
pub fn legacy_salt(name: &str, salt: &str) -> String {
    format!("{name}{salt}")
}

/// Why a signed cookie was not returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignedCookieError {
    /// The request has no cookie of that name (Django: `KeyError`).
    #[error("Missing: no cookie named {0:?}")]
    Missing(String),
    /// The signature does not verify (tampered, wrong salt, wrong key).
    #[error("{0}")]
    BadSignature(SigningError),
    /// The signature verifies but is older than `max_age`.
    #[error("{0}")]
    Expired(SigningError),
    /// The signature verifies but the signed text is malformed (only a key holder can make
    /// one). Django lets this escape even when a default is given.
    #[error("{0}")]
    Malformed(SigningError),
}

impl From<SigningError> for SignedCookieError {
    fn from(e: SigningError) -> Self {
        if e.is_expired() {
            SignedCookieError::Expired(e)
        } else if e.is_bad_signature() {
            SignedCookieError::BadSignature(e)
        } else {
            SignedCookieError::Malformed(e)
        }
    }
}

type SignerCache = HashMap<String, HashMap<String, [Option<Arc<TimestampSigner>>; 2]>>;

/// Signs and verifies cookie values for any name and salt, caching one derived signer per salt.
pub struct CookieSigner {
    keys: SecretKeys,
    /// `SECRET_KEY` was empty. The prefixed key is not (it is the public `django.http.cookies`),
    /// so this is remembered here: such a signer signs and verifies nothing.
    empty_key: bool,
    legacy_salt_fallback: bool,
    write_legacy_salt: bool,
    /// Derived signers by salt, then cookie name: `[v2, legacy]`. Looked up with borrowed
    /// strings, so a cache hit allocates nothing.
    signers: RwLock<SignerCache>,
}

impl fmt::Debug for CookieSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieSigner")
            .field("legacy_salt_fallback", &self.legacy_salt_fallback)
            .field("write_legacy_salt", &self.write_legacy_salt)
            .finish_non_exhaustive()
    }
}

impl Clone for CookieSigner {
    fn clone(&self) -> Self {
        CookieSigner {
            keys: self.keys.clone(),
            empty_key: self.empty_key,
            legacy_salt_fallback: self.legacy_salt_fallback,
            write_legacy_salt: self.write_legacy_salt,
            signers: RwLock::new(HashMap::new()),
        }
    }
}

impl CookieSigner {
    /// A signer for `SECRET_KEY` (and its fallbacks), writing and reading v2 salts only, as
    /// Django 6.1 does by default.
    ///
    /// An empty `SECRET_KEY` (which Django refuses with `ImproperlyConfigured`) gives a signer
    /// that signs nothing ([`sign`](Self::sign) returns `""`) and verifies nothing
    /// ([`SignedCookieError::Malformed`] with [`SigningError::EmptyKey`]). An empty fallback
    /// key stands for the current key, as in `Signer`; Django would instead accept values
    /// signed with the public key `django.http.cookies`.
    pub fn new(keys: &SecretKeys) -> Self {
        let current = keys.current().prefixed(COOKIE_KEY_PREFIX);
        let fallbacks: Vec<_> = keys
            .fallbacks()
            .iter()
            .map(|k| {
                if k.is_empty() {
                    current.clone()
                } else {
                    k.prefixed(COOKIE_KEY_PREFIX)
                }
            })
            .collect();
        CookieSigner {
            keys: SecretKeys::new(current).with_fallbacks(fallbacks),
            empty_key: keys.current().is_empty(),
            legacy_salt_fallback: false,
            write_legacy_salt: false,
            signers: RwLock::new(HashMap::new()),
        }
    }

    /// `SIGNED_COOKIE_LEGACY_SALT_FALLBACK`: when a value fails the v2 salt (but is not
    /// expired), try the legacy salt. Django 5.2.15+/6.0.6+ default to true, 6.1 to false.
    pub fn legacy_salt_fallback(mut self, on: bool) -> Self {
        self.legacy_salt_fallback = on;
        self
    }

    /// Sign new cookies with the legacy salt, for apps that share cookies with Django ≤ 5.2.14
    /// (which rejects v2 cookies).
    pub fn write_legacy_salt(mut self, on: bool) -> Self {
        self.write_legacy_salt = on;
        self
    }

    fn signer(
        &self,
        name: &str,
        salt: &str,
        legacy: bool,
    ) -> Result<Arc<TimestampSigner>, SigningError> {
        if self.empty_key {
            return Err(SigningError::EmptyKey);
        }
        let slot = usize::from(legacy);
        if let Some(s) = self.signers.read().ok().and_then(|m| {
            m.get(salt)
                .and_then(|by_name| by_name.get(name))
                .and_then(|pair| pair[slot].clone())
        }) {
            return Ok(s);
        }
        let full_salt = if legacy {
            legacy_salt(name, salt)
        } else {
            v2_salt(name, salt)
        };
        let signer = Arc::new(
            TimestampSigner::builder(&self.keys)
                .salt(full_salt)
                .build()?,
        );
        if let Ok(mut map) = self.signers.write() {
            if map.values().map(HashMap::len).sum::<usize>() >= MAX_CACHED_SALTS {
                map.clear();
            }
            let pair = map
                .entry(salt.to_owned())
                .or_default()
                .entry(name.to_owned())
                .or_default();
            pair[slot] = Some(signer.clone());
        }
        Ok(signer)
    }

    /// The cookie value `set_signed_cookie(name, value, salt)` stores, signed now.
    pub fn sign(&self, name: &str, value: &str, salt: &str) -> String {
        self.sign_at(name, value, salt, now())
    }

    /// [`sign`](Self::sign) as if the clock read `now`.
    pub fn sign_at(&self, name: &str, value: &str, salt: &str, now: f64) -> String {
        // Fails only for an empty secret key; an unverifiable value is the safe result (it
        // can never be read back as valid).
        self.try_sign_at(name, value, salt, now).unwrap_or_default()
    }

    /// [`sign_at`](Self::sign_at) that reports an empty secret key instead of returning `""`.
    pub(crate) fn try_sign_at(
        &self,
        name: &str,
        value: &str,
        salt: &str,
        now: f64,
    ) -> Result<String, SigningError> {
        Ok(self
            .signer(name, salt, self.write_legacy_salt)?
            .sign_at(value, now))
    }

    /// Verifies a cookie value as `get_signed_cookie(name, salt=…, max_age=…)`.
    pub fn unsign(
        &self,
        name: &str,
        value: &str,
        salt: &str,
        max_age: Option<MaxAge>,
    ) -> Result<String, SignedCookieError> {
        self.unsign_at(name, value, salt, max_age, now())
    }

    /// [`unsign`](Self::unsign) as if the clock read `now`.
    pub fn unsign_at(
        &self,
        name: &str,
        value: &str,
        salt: &str,
        max_age: Option<MaxAge>,
        now: f64,
    ) -> Result<String, SignedCookieError> {
        let v2 = self.signer(name, salt, false)?;
        match v2.unsign_at(value, max_age, now) {
            Ok(v) => Ok(v.to_owned()),
            Err(e) if self.legacy_salt_fallback && e.is_bad_signature() && !e.is_expired() => {
                let legacy = self.signer(name, salt, true)?;
                Ok(legacy.unsign_at(value, max_age, now)?.to_owned())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `get_signed_cookie` over request cookies: `None` from the lookup is `Missing`.
    pub fn get_at(
        &self,
        cookie: Option<&str>,
        name: &str,
        salt: &str,
        max_age: Option<MaxAge>,
        now: f64,
    ) -> Result<String, SignedCookieError> {
        let value = cookie.ok_or_else(|| SignedCookieError::Missing(name.to_owned()))?;
        self.unsign_at(name, value, salt, max_age, now)
    }

    /// `get_signed_cookie(..., default=…)`: a missing, tampered or expired cookie gives the
    /// default; a validly signed but malformed value is still an error, as in Django.
    pub fn get_or_at<T: From<String>>(
        &self,
        cookie: Option<&str>,
        name: &str,
        salt: &str,
        max_age: Option<MaxAge>,
        now: f64,
        default: T,
    ) -> Result<T, SignedCookieError> {
        match self.get_at(cookie, name, salt, max_age, now) {
            Ok(v) => Ok(T::from(v)),
            Err(SignedCookieError::Malformed(e)) => Err(SignedCookieError::Malformed(e)),
            Err(_) => Ok(default),
        }
    }
}
