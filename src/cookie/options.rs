//! The keyword arguments of Django's `set_cookie` / `delete_cookie`.
//!
//! Field names and defaults follow Django so code ported from Python reads
//! the same; the types keep Python's distinctions that change the output
//! (an integer versus a float `max_age`, a naive versus an aware datetime,
//! a `None` versus an empty `path`).

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

pub use crate::time::MaxAge;

/// An `expires` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expires {
    /// An aware datetime. Django turns it into `max_age` (with a +1 s
    /// rounding allowance) and derives `expires` from that.
    At(DateTime<FixedOffset>),
    /// A naive datetime, taken as UTC (Django's `make_aware(…, UTC)`).
    Naive(NaiveDateTime),
    /// A string used verbatim as the `expires` attribute. An empty string
    /// behaves like no `expires` at all.
    Raw(String),
}

impl Expires {
    /// Microseconds since the Unix epoch for a datetime, `None` for `Raw`.
    ///
    /// Sub-microsecond precision is truncated (Python datetimes stop at µs).
    pub(crate) fn unix_micros(&self) -> Option<i128> {
        let utc = match self {
            Expires::At(dt) => dt.to_utc(),
            Expires::Naive(naive) => naive.and_utc(),
            Expires::Raw(_) => return None,
        };
        Some(i128::from(utc.timestamp()) * 1_000_000 + i128::from(utc.timestamp_subsec_micros()))
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for Expires {
    fn from(dt: DateTime<Tz>) -> Self {
        Expires::At(dt.fixed_offset())
    }
}

impl From<NaiveDateTime> for Expires {
    fn from(naive: NaiveDateTime) -> Self {
        Expires::Naive(naive)
    }
}

impl From<String> for Expires {
    fn from(raw: String) -> Self {
        Expires::Raw(raw)
    }
}

impl From<&str> for Expires {
    fn from(raw: &str) -> Self {
        Expires::Raw(raw.to_owned())
    }
}

/// The three `SameSite` values Django accepts, spelled as browsers document
/// them. Any other spelling that matches case-insensitively is also accepted
/// as a string and emitted as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// `SameSite=Lax`.
    Lax,
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=None` (browsers require `Secure` with it).
    None,
}

impl SameSite {
    /// The attribute value: `Lax`, `Strict` or `None`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }

    /// Parses a value case-insensitively, as Django validates it.
    pub fn parse(value: &str) -> Option<Self> {
        [SameSite::Lax, SameSite::Strict, SameSite::None]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(value))
    }
}

impl fmt::Display for SameSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<SameSite> for String {
    fn from(s: SameSite) -> Self {
        s.as_str().to_owned()
    }
}

/// Keyword arguments of `set_cookie`, with Django's defaults.
///
/// Fields are public so `..Default::default()` works; the builder methods
/// accept the convenient types.
///
/// ```
/// use tessera::cookie::{CookieOptions, SameSite};
/// let opts = CookieOptions::new()
///     .max_age(3600)
///     .secure(true)
///     .httponly(true)
///     .samesite(SameSite::Lax);
/// assert_eq!(opts.path.as_deref(), Some("/"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CookieOptions {
    /// `max_age` in seconds; `None` means no `Max-Age`.
    pub max_age: Option<MaxAge>,
    /// `expires`; `None` means no `expires` unless `max_age` sets one.
    pub expires: Option<Expires>,
    /// `path`; default `Some("/")`. `None` means "do not set" (and keeps the
    /// previous value when the same response sets the cookie twice);
    /// `Some("")` means no `Path` attribute.
    pub path: Option<String>,
    /// `domain`; `None` means "do not set", `Some("")` no `Domain`.
    pub domain: Option<String>,
    /// Adds `Secure`.
    pub secure: bool,
    /// Adds `HttpOnly`.
    pub httponly: bool,
    /// `samesite`, validated case-insensitively against `lax`, `none`,
    /// `strict`; the original spelling is emitted. `None` or `""` give no
    /// attribute.
    pub samesite: Option<String>,
    /// Adds `Partitioned` (CHIPS). Not a Django argument: it is emitted
    /// where Python 3.14's `Morsel` puts it, between `Max-Age` and `Path`.
    pub partitioned: bool,
}

impl Default for CookieOptions {
    fn default() -> Self {
        CookieOptions {
            max_age: None,
            expires: None,
            path: Some("/".to_owned()),
            domain: None,
            secure: false,
            httponly: false,
            samesite: None,
            partitioned: false,
        }
    }
}

impl CookieOptions {
    /// Django's defaults: `path="/"`, everything else unset.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `max_age` (integers, `f64`, `Duration` or `TimeDelta`).
    #[must_use]
    pub fn max_age(mut self, max_age: impl Into<MaxAge>) -> Self {
        self.max_age = Some(max_age.into());
        self
    }

    /// Sets `expires` (a datetime, a naive UTC datetime, or a raw string).
    #[must_use]
    pub fn expires(mut self, expires: impl Into<Expires>) -> Self {
        self.expires = Some(expires.into());
        self
    }

    /// Sets `path`.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Passes `path=None`: no `Path` on a fresh cookie, previous one kept
    /// on a repeated set.
    #[must_use]
    pub fn no_path(mut self) -> Self {
        self.path = None;
        self
    }

    /// Sets `domain`.
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets `secure`.
    #[must_use]
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets `httponly`.
    #[must_use]
    pub fn httponly(mut self, httponly: bool) -> Self {
        self.httponly = httponly;
        self
    }

    /// Sets `samesite` (a [`SameSite`] or any string; validated on use).
    #[must_use]
    pub fn samesite(mut self, samesite: impl Into<String>) -> Self {
        self.samesite = Some(samesite.into());
        self
    }

    /// Sets `partitioned`.
    #[must_use]
    pub fn partitioned(mut self, partitioned: bool) -> Self {
        self.partitioned = partitioned;
        self
    }
}

/// Keyword arguments of `delete_cookie`, with Django's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOptions {
    /// `path`; default `Some("/")`, `None` means no `Path` attribute.
    pub path: Option<String>,
    /// `domain`; default `None`.
    pub domain: Option<String>,
    /// `samesite`; `none` (any case) also adds `Secure`.
    pub samesite: Option<String>,
}

impl Default for DeleteOptions {
    fn default() -> Self {
        DeleteOptions {
            path: Some("/".to_owned()),
            domain: None,
            samesite: None,
        }
    }
}

impl DeleteOptions {
    /// Django's defaults: `path="/"`, no domain, no samesite.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `path`.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Passes `path=None`.
    #[must_use]
    pub fn no_path(mut self) -> Self {
        self.path = None;
        self
    }

    /// Sets `domain`.
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets `samesite`.
    #[must_use]
    pub fn samesite(mut self, samesite: impl Into<String>) -> Self {
        self.samesite = Some(samesite.into());
        self
    }
}
