//! Cookie storage: Django's `CookieStorage`, the signed and compressed `messages` cookie.
//!
//! The value is `signing.get_cookie_signer(salt="django.contrib.messages").sign_object(...,
//! compress=True)`: a [`TimestampSigner`] keyed with `"django.http.cookies" + SECRET_KEY`
//! over `"[" + ",".join(parts) + "]"`, each part one message in compact JSON. Reading checks
//! the current key and every fallback, with no maximum age.
//!
//! A cookie is kept to 2048 characters: when the messages do not fit, Django keeps as many as
//! fit (the newest in cookie storage, the oldest in fallback storage), appends the
//! `"__messagesnotfinished__"` sentinel and hands the rest back. Which ones fit is found by
//! Django's own bisection, which tessera repeats step for step, so the split is the same
//! even where compression makes sizes jump.

use std::fmt;

use super::encoding::{write_entry, COMPACT};
use super::error::{undecodable, MessagesError};
use super::message::Entry;
use crate::cookie::{quote_value, COOKIE_KEY_PREFIX};
use crate::json::Value;
use crate::signing::{SecretKeys, SigningError, TimestampSigner};

/// The cookie's name (`CookieStorage.cookie_name`).
pub const COOKIE_NAME: &str = "messages";
/// The salt of the cookie's signer (`CookieStorage.key_salt`).
pub const COOKIE_SALT: &str = "django.contrib.messages";
/// The most characters Django puts in the cookie (`CookieStorage.max_cookie_size`).
pub const MAX_COOKIE_SIZE: usize = 2048;
/// The last item of a cookie that could not hold every message.
pub const NOT_FINISHED: &str = "__messagesnotfinished__";
/// [`NOT_FINISHED`] as a JSON part (`not_finished_json`).
const NOT_FINISHED_JSON: &str = "\"__messagesnotfinished__\"";

/// What the `messages` cookie of a request holds (`CookieStorage._get`).
#[derive(Clone, Debug, PartialEq)]
pub enum CookieRead {
    /// No cookie, an empty one, or one holding JSON `null`: nothing stored.
    Absent,
    /// A bad signature, or a payload that is not base64 or not JSON: Django ignores it and
    /// marks its storage used, so the cookie is deleted.
    Rejected,
    /// The stored entries, the sentinel removed; `all_retrieved` is false when it was there
    /// (the rest are in the session, with fallback storage).
    Entries {
        /// The entries, oldest first.
        entries: Vec<Entry>,
        /// False when the cookie ended with the "not finished" sentinel.
        all_retrieved: bool,
    },
}

/// Signs, checks and sizes the `messages` cookie. Build it once: building derives the keys.
#[derive(Clone)]
pub struct CookieCodec {
    signer: TimestampSigner,
    max_size: usize,
}

impl fmt::Debug for CookieCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieCodec")
            .field("signer", &self.signer)
            .field("max_size", &self.max_size)
            .finish()
    }
}

impl CookieCodec {
    /// The codec Django's `CookieStorage` uses with these keys, limited to
    /// [`MAX_COOKIE_SIZE`].
    ///
    /// # Errors
    ///
    /// [`SigningError::EmptyKey`] for an empty `SECRET_KEY`.
    pub fn new(keys: &SecretKeys) -> Result<Self, SigningError> {
        let signer = TimestampSigner::builder(&keys.prefixed(COOKIE_KEY_PREFIX))
            .salt(COOKIE_SALT)
            .build()?;
        Ok(CookieCodec {
            signer,
            max_size: MAX_COOKIE_SIZE,
        })
    }

    /// This codec with another size limit; 0 means none (Django skips the check for a falsy
    /// `max_cookie_size`).
    #[must_use]
    pub fn with_max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// Each entry as one compact JSON part (`MessagePartSerializer().dumps`).
    pub fn parts(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                let mut part = String::with_capacity(48);
                write_entry(&mut part, e, COMPACT);
                part
            })
            .collect()
    }

    /// The JSON that is signed: `"[" + ",".join(parts) + "]"`.
    pub fn serialize(entries: &[Entry]) -> String {
        gather(&Self::parts(entries), false)
    }

    /// `CookieStorage._encode(messages, encode_empty)` at Unix time `now`: the cookie value,
    /// or `None` for no entries unless `encode_empty`.
    pub fn encode(&self, entries: &[Entry], encode_empty: bool, now: f64) -> Option<String> {
        self.encode_parts(&Self::parts(entries), false, encode_empty, now)
    }

    /// `_encode_parts`, with the sentinel appended when `not_finished`.
    fn encode_parts(
        &self,
        parts: &[String],
        not_finished: bool,
        encode_empty: bool,
        now: f64,
    ) -> Option<String> {
        if parts.is_empty() && !not_finished && !encode_empty {
            return None;
        }
        Some(
            self.signer
                .sign_json_at(&gather(parts, not_finished), true, now),
        )
    }

    /// Whether a value is over the limit once quoted for `Set-Cookie`.
    fn too_large(&self, value: &str) -> bool {
        self.max_size > 0 && quote_value(value).len() > self.max_size
    }

    /// `CookieStorage._store`: the cookie value for `entries` (`None`: delete the cookie)
    /// and the entries that did not fit. `remove_oldest` drops from the front (cookie
    /// storage); otherwise from the back (fallback storage, which puts them in the session).
    pub fn store(
        &self,
        entries: &[Entry],
        remove_oldest: bool,
        now: f64,
    ) -> (Option<String>, Vec<Entry>) {
        let parts = Self::parts(entries);
        let encoded = self.encode_parts(&parts, false, false, now);
        match encoded {
            Some(value) if self.too_large(&value) => {
                let fits_not = |some: &[String]| {
                    self.encode_parts(some, true, true, now)
                        .is_none_or(|v| self.too_large(&v))
                };
                if remove_oldest {
                    let idx = bisect_keep_right(&parts, fits_not);
                    let value = self.encode_parts(&parts[idx..], true, true, now);
                    (value, entries[..idx].to_vec())
                } else {
                    let idx = bisect_keep_left(&parts, fits_not);
                    let value = self.encode_parts(&parts[..idx], true, true, now);
                    (value, entries[idx..].to_vec())
                }
            }
            fits => (fits, Vec::new()),
        }
    }

    /// `CookieStorage._decode` plus the sentinel handling of `_get`, for the request's
    /// cookie value.
    ///
    /// # Errors
    ///
    /// Where Django raises: a validly signed payload that is not zlib data or not a list of
    /// messages ([`MessagesError::Undecodable`]).
    pub fn decode(&self, cookie: Option<&str>) -> Result<CookieRead, MessagesError> {
        let Some(cookie) = cookie.filter(|c| !c.is_empty()) else {
            return Ok(CookieRead::Absent);
        };
        let value = match self.signer.unsign_object(cookie, None) {
            Ok(value) => value,
            Err(e) if rejected(&e) => return Ok(CookieRead::Rejected),
            Err(e) => return Err(undecodable(e.to_string())),
        };
        let Some(mut entries) = super::encoding::entries_of(value)? else {
            return Ok(CookieRead::Absent);
        };
        let sentinel =
            matches!(entries.last(), Some(Entry::Other(Value::Str(s))) if s == NOT_FINISHED);
        if sentinel {
            entries.pop();
        }
        Ok(CookieRead::Entries {
            entries,
            all_retrieved: !sentinel,
        })
    }
}

/// The errors `_decode` catches: `BadSignature`, `binascii.Error`, `JSONDecodeError`.
fn rejected(e: &SigningError) -> bool {
    e.is_bad_signature() || matches!(e, SigningError::Base64(_) | SigningError::Json(_))
}

/// `MessagePartGatherSerializer`: the parts (and the sentinel) joined into a JSON list.
fn gather(parts: &[String], not_finished: bool) -> String {
    let len: usize = parts.iter().map(|p| p.len() + 1).sum();
    let mut out = String::with_capacity(len + NOT_FINISHED_JSON.len() + 2);
    out.push('[');
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(part);
    }
    if not_finished {
        if !parts.is_empty() {
            out.push(',');
        }
        out.push_str(NOT_FINISHED_JSON);
    }
    out.push(']');
    out
}

/// Django's `bisect_keep_left`: the first `i` for which `too_large(a[..=i])`.
fn bisect_keep_left(a: &[String], too_large: impl Fn(&[String]) -> bool) -> usize {
    let (mut lo, mut hi) = (0, a.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if too_large(&a[..=mid]) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Django's `bisect_keep_right`: the first `i` for which `a[i..]` is not too large.
fn bisect_keep_right(a: &[String], too_large: impl Fn(&[String]) -> bool) -> usize {
    let (mut lo, mut hi) = (0, a.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if too_large(&a[mid..]) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}
