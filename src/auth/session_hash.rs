//! Django's `AbstractBaseUser.get_session_auth_hash`: an HMAC of the user's password *field*
//! (the encoded hash) under the secret key, stored in the session as `_auth_user_hash`.
//! Changing the password (or the secret key, past its fallbacks) ends every session.

use crate::signing::{salted_hmac, Algorithm, SecretKeys};

/// The `key_salt` Django derives the HMAC key with.
pub const KEY_SALT: &str = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash";

/// `salted_hmac(KEY_SALT, password, secret, algorithm="sha256").hexdigest()`.
pub fn session_auth_hash(secret: &[u8], password_field: &str) -> String {
    let (_, mac) = salted_hmac(
        Algorithm::Sha256,
        KEY_SALT,
        password_field.as_bytes(),
        secret,
    );
    to_hex(&mac)
}

/// The hash under each fallback key, in order (Django's
/// `_get_session_auth_hash(secret=fallback)` for each of `SECRET_KEY_FALLBACKS`).
pub fn fallback_hashes(keys: &SecretKeys, password_field: &str) -> Vec<String> {
    keys.fallbacks()
        .iter()
        .map(|k| session_auth_hash(k.as_bytes(), password_field))
        .collect()
}

/// Which key a stored hash matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matched {
    /// The current key.
    Current,
    /// The fallback at this index: the session is valid, and Django's `get_user` then stores
    /// the current key's hash and cycles the session key.
    Fallback(usize),
}

/// Checks `stored` against the hash under the current key, then each fallback, every
/// comparison in constant time; `None` when none matches (Django flushes the session).
pub fn verify(keys: &SecretKeys, password_field: &str, stored: &str) -> Option<Matched> {
    let same = |secret: &[u8]| {
        constant_time_eq::constant_time_eq(
            session_auth_hash(secret, password_field).as_bytes(),
            stored.as_bytes(),
        )
    };
    if same(keys.current().as_bytes()) {
        return Some(Matched::Current);
    }
    keys.fallbacks()
        .iter()
        .position(|k| same(k.as_bytes()))
        .map(Matched::Fallback)
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
