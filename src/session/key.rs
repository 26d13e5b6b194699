//! Session keys for the server-side stores (db, cache, file), as Django makes them.
//!
//! Django generates 32 characters drawn uniformly from `[a-z0-9]` with a CSPRNG, and on load
//! accepts *any* string of at least 8 code points (spec §10): for the db and cache backends
//! `ABCDEFGH`, eight spaces or `a/b.c..\d` are valid keys. tessera is stricter on purpose:
//! [`SessionKey::parse`] accepts only 8 to 40 characters from Django's own alphabet, so no store,
//! file path, SQL parameter or cache key ever sees anything else. Every key Django itself
//! generates passes; a hand-crafted key outside that set is treated as absent, exactly as Django
//! treats a key that is too short (a fresh session is started).
//!
//! A session key is a bearer credential, so [`SessionKey`] never prints itself: `Debug` and
//! `Display` are redacted, and the text is reachable only through [`SessionKey::as_str`].

use std::fmt;

/// The 36 characters Django draws keys from (`VALID_KEY_CHARS`).
pub const KEY_ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
/// Length of a generated key.
pub const GENERATED_LEN: usize = 32;
/// Shortest key accepted on load (Django: `len(key) >= 8`).
pub const MIN_LEN: usize = 8;
/// Longest key accepted on load: the `django_session.session_key` column is `varchar(40)`, so
/// a longer key can never match a row.
pub const MAX_LEN: usize = 40;

/// Largest multiple of 36 that fits in a byte: bytes at or above it are rejected so that
/// `b % 36` is uniform.
const REJECT_FROM: u8 = 252;

/// A validated session key.
///
/// Held inline (at most [`MAX_LEN`] ASCII bytes), not on the heap: a request copies its key
/// several times (the cookie, the store call, the answer), and each copy was an allocation.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey {
    len: u8,
    /// The key's characters, then zeros.
    bytes: [u8; MAX_LEN],
}

impl std::hash::Hash for SessionKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

/// The operating system's random number generator failed, so no key could be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot generate a session key: OS random number generator failed: {0}")]
pub struct KeyGenError(getrandom::Error);

// Not `#[from]`: the getrandom error's message is already in ours, and as a `source()` too it
// would print twice in an error chain.
impl From<getrandom::Error> for KeyGenError {
    fn from(e: getrandom::Error) -> Self {
        KeyGenError(e)
    }
}

impl SessionKey {
    /// A fresh key: 32 characters drawn uniformly from [`KEY_ALPHABET`] using the OS CSPRNG
    /// (its bytes fetched a block at a time, each byte used once).
    ///
    /// The caller still has to check that no session with this key exists (Django loops until
    /// `exists(key)` is false).
    pub fn generate() -> Result<SessionKey, KeyGenError> {
        Self::generate_with(super::random::fill)
    }

    /// Rejection sampling over bytes from `fill`: bytes `< 252` map to `b % 36`, the rest are
    /// dropped, so every character has probability exactly 1/36.
    fn generate_with<E>(
        mut fill: impl FnMut(&mut [u8]) -> Result<(), E>,
    ) -> Result<SessionKey, KeyGenError>
    where
        KeyGenError: From<E>,
    {
        let alphabet = KEY_ALPHABET.as_bytes();
        let mut key = SessionKey {
            len: 0,
            bytes: [0; MAX_LEN],
        };
        // 48 bytes almost always suffice (about 1.6 % of bytes are rejected).
        let mut buf = [0u8; 48];
        let mut len = 0;
        while len < GENERATED_LEN {
            fill(&mut buf)?;
            for &b in buf.iter().filter(|&&b| b < REJECT_FROM) {
                key.bytes[len] = alphabet[usize::from(b % 36)];
                len += 1;
                if len == GENERATED_LEN {
                    break;
                }
            }
        }
        key.len = GENERATED_LEN as u8;
        Ok(key)
    }

    /// Validates a key read from a cookie: 8 to 40 characters, all from [`KEY_ALPHABET`].
    ///
    /// Stricter than Django, which accepts any string of 8 or more code points; see the
    /// module documentation. `None` means "no session key", as Django's `_validate_session_key`
    /// returning false does.
    pub fn parse(s: &str) -> Option<SessionKey> {
        Self::parse_bytes(s.as_bytes())
    }

    /// [`parse`](Self::parse) on bytes: every byte of the alphabet is ASCII, so a key that
    /// passes is text.
    pub(crate) fn parse_bytes(s: &[u8]) -> Option<SessionKey> {
        let ok = (MIN_LEN..=MAX_LEN).contains(&s.len()) && all_in_alphabet(s);
        if !ok {
            return None;
        }
        let mut bytes = [0; MAX_LEN];
        bytes[..s.len()].copy_from_slice(s);
        Some(SessionKey {
            len: s.len() as u8,
            bytes,
        })
    }

    /// The key itself, for the cookie value and for store look-ups.
    pub fn as_str(&self) -> &str {
        // Every byte is from `KEY_ALPHABET` (ASCII): the check cannot fail.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The key's bytes: [`as_str`](Self::as_str) without its UTF-8 check, for hashing.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The first four characters and an ellipsis (`"8ule…"`): enough to tell sessions apart in
    /// a demo page or a debug log without handing out the credential.
    pub fn short(&self) -> String {
        let mut s: String = self.as_str().chars().take(4).collect();
        s.push('…');
        s
    }
}

/// Whether every byte is from [`KEY_ALPHABET`]: a lowercase letter or a digit. Without a
/// branch or a load per byte, so the compiler checks a whole cookie value in a few vector
/// steps.
fn all_in_alphabet(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |all, &b| {
        all & ((b.wrapping_sub(b'a') < 26) | (b.wrapping_sub(b'0') < 10))
    })
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

impl fmt::Display for SessionKey {
    /// Redacted: a key must not end up in logs or error messages by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabet_check_is_the_alphabet() {
        for b in 0..=255u8 {
            assert_eq!(
                all_in_alphabet(&[b'a', b, b'0']),
                KEY_ALPHABET.as_bytes().contains(&b),
                "byte {b}"
            );
        }
        assert!(all_in_alphabet(KEY_ALPHABET.as_bytes()));
        assert!(all_in_alphabet(b""));
    }
    use crate::json::{self, Value};
    use std::collections::HashSet;

    fn vectors() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/conformance/django/session_keys.json"
        );
        let text = std::fs::read_to_string(path).expect("read session_keys.json");
        json::from_str(&text).expect("parse session_keys.json")
    }

    fn records(v: &Value) -> &[Value] {
        match &v["records"] {
            Value::List(records) => records,
            other => panic!("records is not a list: {other:?}"),
        }
    }

    /// Keys Django accepts but tessera rejects on purpose (outside `[a-z0-9]{8,40}`):
    /// - validate-006 `ABCDEFGH`, validate-017 (upper case): not in Django's alphabet;
    /// - validate-007 (eight spaces), validate-008 (`é`×8), validate-014 (`a/b.c..\d`),
    ///   validate-015 (`key with space`): characters no generated key has, and the ones Django's
    ///   own file backend refuses (`InvalidSessionKey`);
    /// - validate-013 (41 characters): longer than the `varchar(40)` column, so Django could
    ///   never find such a row anyway.
    const STRICTER_THAN_DJANGO: &[&str] = &[
        "validate-006",
        "validate-007",
        "validate-008",
        "validate-013",
        "validate-014",
        "validate-015",
        "validate-017",
    ];

    #[test]
    fn validate_vectors() {
        let v = vectors();
        let mut checked = 0;
        let mut stricter = Vec::new();
        for rec in records(&v) {
            if rec["op"].as_str() != Some("validate") {
                continue;
            }
            let id = rec["id"].as_str().unwrap();
            let key = rec["key"].as_str().unwrap();
            let Value::Bool(django_valid) = rec["expected"]["valid"] else {
                panic!("{id}: expected.valid is not a bool");
            };
            let ours = SessionKey::parse(key);
            if !django_valid {
                assert!(
                    ours.is_none(),
                    "{id}: Django rejects {key:?}, tessera must too"
                );
            } else if let Some(k) = ours {
                assert_eq!(k.as_str(), key, "{id}");
                assert_eq!(
                    rec["expected"]["file_backend_check"].as_str(),
                    Some("ok"),
                    "{id}"
                );
            } else {
                stricter.push(id);
            }
            checked += 1;
        }
        // The one other record is `generation-001`, run by the next test.
        assert_eq!(Some(checked + 1), v["record_count"].as_i64());
        assert_eq!(records(&v).len(), checked as usize + 1);
        assert_eq!(stricter, STRICTER_THAN_DJANGO);
    }

    #[test]
    fn generation_vector_matches_constants() {
        let v = vectors();
        assert_eq!(records(&v)[0]["op"].as_str(), Some("generation"));
        let g = &records(&v)[0]["expected"];
        let int = |n: usize| i64::try_from(n).ok();
        assert_eq!(g["alphabet"].as_str(), Some(KEY_ALPHABET));
        assert_eq!(g["length"].as_i64(), int(GENERATED_LEN));
        assert_eq!(g["db_column_max_length"].as_i64(), int(MAX_LEN));
    }

    #[test]
    fn generated_keys_are_valid_unique_and_cover_the_alphabet() {
        let mut seen = HashSet::new();
        let mut chars = HashSet::new();
        for _ in 0..100_000 {
            let k = SessionKey::generate().unwrap();
            assert_eq!(k.as_str().len(), GENERATED_LEN);
            assert_eq!(SessionKey::parse(k.as_str()).as_ref(), Some(&k));
            chars.extend(k.as_str().chars());
            assert!(seen.insert(k), "duplicate key");
        }
        assert_eq!(chars.len(), 36);
        assert!(KEY_ALPHABET.chars().all(|c| chars.contains(&c)));
    }

    #[test]
    fn rejected_bytes_are_skipped_and_refilled() {
        // First fill: only bytes >= 252 (all rejected); then 0..=255 repeating.
        let mut calls = 0;
        let mut next = 0u8;
        let k = SessionKey::generate_with(|buf: &mut [u8]| {
            calls += 1;
            for b in buf.iter_mut() {
                *b = if calls == 1 { 252 + next % 4 } else { next };
                next = next.wrapping_add(1);
            }
            Ok::<_, getrandom::Error>(())
        })
        .unwrap();
        assert_eq!(calls, 2);
        // The second buffer starts at byte 48: 48 % 36 = 12 -> 'm'.
        assert!(k.as_str().starts_with("mnopqrstuvwxyz0123456789abcdefgh"));
    }

    #[test]
    fn rng_failure_is_an_error() {
        let err = SessionKey::generate_with(|_: &mut [u8]| Err(getrandom::Error::UNSUPPORTED));
        assert!(err.is_err());
    }

    #[test]
    fn parse_bounds() {
        assert!(SessionKey::parse("abcdefg").is_none());
        assert!(SessionKey::parse("abcdefgh").is_some());
        assert!(SessionKey::parse(&"a".repeat(40)).is_some());
        assert!(SessionKey::parse(&"a".repeat(41)).is_none());
        assert!(SessionKey::parse("abcdefg-").is_none());
        assert!(SessionKey::parse("abcdefg\u{0}").is_none());
        assert!(SessionKey::parse("").is_none());
    }

    #[test]
    fn never_prints_the_key() {
        let k = SessionKey::parse("8uled5e9is94foa9gd2207wnyxf5an5j").unwrap();
        assert_eq!(format!("{k:?}"), "SessionKey(<redacted>)");
        assert_eq!(format!("{k:#?}"), "SessionKey(<redacted>)");
        assert_eq!(k.to_string(), "<redacted>");
        assert_eq!(k.short(), "8ule…");
        assert_eq!(k.as_str(), "8uled5e9is94foa9gd2207wnyxf5an5j");
    }
}
