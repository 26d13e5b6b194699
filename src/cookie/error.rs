//! Errors raised while building `Set-Cookie` headers.
//!
//! The first variants mirror the exceptions Django raises from `set_cookie`
//! (`http.cookies.CookieError` and `ValueError`); [`CookieError::Policy`] is
//! tessera's own guard rail, raised only when a [`CookiePolicy`] is strict.
//!
//! [`CookiePolicy`]: crate::cookie::CookiePolicy

use std::fmt;

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

/// Which part of a cookie a [`PolicyViolation`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CookiePart {
    /// The cookie name.
    Name,
    /// The cookie value, as written (after quoting).
    Value,
    /// The `Domain` attribute.
    Domain,
    /// The `Path` attribute.
    Path,
    /// A caller-supplied `expires` string.
    Expires,
    /// The `SameSite` attribute.
    SameSite,
    /// A whole `Set-Cookie` header given to [`browser_rejections`](super::browser_rejections).
    Header,
}

impl fmt::Display for CookiePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CookiePart::Name => "the name",
            CookiePart::Value => "the value",
            CookiePart::Domain => "the Domain attribute",
            CookiePart::Path => "the Path attribute",
            CookiePart::Expires => "the expires attribute",
            CookiePart::SameSite => "the SameSite attribute",
            CookiePart::Header => "the header",
        })
    }
}

/// Why a browser or HTTP stack would reject a cookie.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// A character other than visible ASCII, space or tab. Control
    /// characters (CR, LF, NUL, DEL…) make browsers drop the cookie or
    /// split the response; non-ASCII cannot be sent by WSGI servers and is
    /// mangled by many stacks.
    #[error("{part} contains {} (only visible ASCII, space and tab are allowed in a Set-Cookie header)", describe_char(*.ch))]
    ForbiddenChar {
        /// Where the character is.
        part: CookiePart,
        /// The first offending character.
        ch: char,
    },
    /// An attribute value contains `;`, which would end it and inject
    /// further attributes (Django writes attribute values raw).
    #[error("{part} contains ';', which would inject extra cookie attributes")]
    AttributeInjection {
        /// The attribute.
        part: CookiePart,
    },
    /// Name and value together are larger than browsers store.
    #[error("name and value are {size} bytes; browsers drop cookies over {limit} bytes")]
    TooLarge {
        /// Bytes of name plus written value.
        size: usize,
        /// The limit ([`MAX_NAME_VALUE_BYTES`](super::MAX_NAME_VALUE_BYTES)).
        limit: usize,
    },
    /// Both the name and the value are empty.
    #[error("the cookie has neither a name nor a value")]
    Empty,
    /// A `__Secure-` cookie without `Secure`.
    #[error("a __Secure- cookie must have the Secure attribute")]
    SecurePrefixWithoutSecure,
    /// A `__Host-` cookie without `Secure`.
    #[error("a __Host- cookie must have the Secure attribute")]
    HostPrefixWithoutSecure,
    /// A `__Host-` cookie with a `Domain`.
    #[error("a __Host- cookie must not have a Domain attribute")]
    HostPrefixWithDomain,
    /// A `__Host-` cookie whose `Path` is not `/`.
    #[error("a __Host- cookie must have Path=/ (it has {})", describe_path(.path.as_deref()))]
    HostPrefixPath {
        /// The `Path` it has, if any.
        path: Option<String>,
    },
    /// `SameSite=None` without `Secure`.
    #[error("SameSite=None requires the Secure attribute")]
    SameSiteNoneWithoutSecure,
    /// `Partitioned` without `Secure`.
    #[error("Partitioned requires the Secure attribute")]
    PartitionedWithoutSecure,
}

fn describe_char(ch: char) -> String {
    match ch {
        '\r' => "a carriage return (CR)".to_owned(),
        '\n' => "a line feed (LF)".to_owned(),
        '\0' => "a NUL byte".to_owned(),
        c if c.is_control() => format!("the control character U+{:04X}", u32::from(c)),
        c => format!("the non-ASCII character {c:?} (U+{:04X})", u32::from(c)),
    }
}

fn describe_path(path: Option<&str>) -> String {
    path.map_or_else(|| "no Path".to_owned(), |p| format!("Path={p}"))
}
