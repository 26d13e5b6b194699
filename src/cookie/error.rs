//! Errors raised while building `Set-Cookie` headers.
//!
//! The first variants mirror the exceptions Django raises from `set_cookie`
//! (`http.cookies.CookieError` and `ValueError`); [`CookieError::Policy`] is
//! tessera's own guard rail, raised only when a [`CookiePolicy`] is strict.
//!
//! [`CookiePolicy`]: crate::cookie::CookiePolicy

use super::policy::PolicyViolation;

/// Why a cookie could not be set or deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// The name is empty or has a character outside
    /// ``A–Z a–z 0–9 ! # $ % & ' * + - . ^ _ ` | ~ :`` (Django: `CookieError("Illegal key …")`).
    #[error("Illegal key {0:?}")]
    IllegalName(String),
    /// The name is a cookie attribute name such as `expires` or `Max-Age`,
    /// compared case-insensitively (Django: `CookieError("Attempt to set a reserved key …")`).
    #[error("Attempt to set a reserved key {0:?}")]
    ReservedName(String),
    /// `samesite` is not `lax`, `none` or `strict` (case-insensitively);
    /// Django raises `ValueError`.
    #[error("samesite must be \"lax\", \"none\", or \"strict\" (got {0:?})")]
    InvalidSameSite(String),
    /// A datetime `expires` was combined with `max_age`; Django raises `ValueError`.
    #[error("'expires' and 'max_age' can't be used together.")]
    ExpiresWithMaxAge,
    /// `max_age` is NaN or infinite; Python's `int()` raises on those.
    #[error("max_age must be a finite number of seconds (got {0})")]
    InvalidMaxAge(String),
    /// The cookie is valid for Django but a browser or HTTP stack would
    /// reject it (or it would corrupt the header). Only raised by a strict
    /// [`CookiePolicy`](crate::cookie::CookiePolicy).
    #[error("cookie {name:?} rejected: {reason}")]
    Policy {
        /// The cookie name.
        name: String,
        /// What is wrong with it.
        reason: PolicyViolation,
    },
    /// A lenient (Django-exact) header holds bytes that `http::HeaderValue`
    /// refuses, so it cannot be written into a `HeaderMap`.
    #[error("the Set-Cookie header for {name:?} is not a valid HTTP header value")]
    InvalidHeaderValue {
        /// The cookie name.
        name: String,
    },
    /// A signed cookie was requested but there is no secret key to sign it with (an empty
    /// `SECRET_KEY`, or a [`CookieLayer`](crate::cookie::CookieLayer) built without keys).
    /// Django raises `ImproperlyConfigured` for an empty key.
    #[error("cannot sign cookie {name:?}: no secret key is configured")]
    NoSecretKey {
        /// The cookie name.
        name: String,
    },
}
