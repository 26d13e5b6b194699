//! Where new secrets and masks come from: Django's `_get_new_csrf_string`, 32 characters of
//! `a-zA-Z0-9` from the operating system's CSPRNG.
//!
//! Django draws secrets and masks from one source, in call order. The conformance tests
//! replay Django's draws through [`CsrfRandom::scripted`], which exists only with the
//! `testing` feature: a production build has no way to make tokens predictable.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::token::{CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH};

/// Bytes at or above this are dropped, so each of the 62 characters is equally likely
/// (248 = 4 × 62).
const REJECT_FROM: u8 = 248;

/// The system's random source failed (or a scripted one ran out).
#[derive(Debug, Clone, thiserror::Error)]
#[error("no random bytes for a CSRF secret: {0}")]
pub struct RandomUnavailable(String);

impl RandomUnavailable {
    pub(crate) fn new(why: impl Into<String>) -> Self {
        RandomUnavailable(why.into())
    }
}

/// The source of new CSRF strings (secrets and masks).
#[derive(Clone, Default)]
pub struct CsrfRandom(Source);

#[derive(Clone, Default)]
enum Source {
    #[default]
    Os,
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    Scripted(Arc<Mutex<VecDeque<String>>>),
}

impl fmt::Debug for CsrfRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Scripted strings are secrets too: never printed.
        match self.0 {
            Source::Os => f.write_str("CsrfRandom::os()"),
            Source::Scripted(_) => f.write_str("CsrfRandom::scripted(..)"),
        }
    }
}

impl CsrfRandom {
    /// The operating system's CSPRNG (the default).
    pub fn os() -> Self {
        CsrfRandom(Source::Os)
    }

    /// Hands out `strings` in order, then fails: for tests that replay Django's draws
    /// (only with the `testing` feature).
    #[cfg(feature = "testing")]
    pub fn scripted(strings: impl IntoIterator<Item = String>) -> Self {
        CsrfRandom(Source::Scripted(Arc::new(Mutex::new(
            strings.into_iter().collect(),
        ))))
    }

    /// A new 32-character string of `a-zA-Z0-9`.
    pub(crate) fn new_string(&self) -> Result<String, RandomUnavailable> {
        match &self.0 {
            Source::Os => os_string(),
            Source::Scripted(queue) => queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front()
                .ok_or_else(|| RandomUnavailable::new("the scripted strings ran out")),
        }
    }
}

fn os_string() -> Result<String, RandomUnavailable> {
    let chars = CSRF_ALLOWED_CHARS.as_bytes();
    let mut out = String::with_capacity(CSRF_SECRET_LENGTH);
    // 40 bytes almost always suffice (about 3 % are dropped).
    let mut buf = [0u8; 40];
    while out.len() < CSRF_SECRET_LENGTH {
        getrandom::fill(&mut buf).map_err(|e| RandomUnavailable::new(e.to_string()))?;
        for &b in buf.iter().filter(|&&b| b < REJECT_FROM) {
            out.push(char::from(chars[usize::from(b) % chars.len()]));
            if out.len() == CSRF_SECRET_LENGTH {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_strings_are_secrets_and_differ() {
        let a = CsrfRandom::os().new_string().unwrap();
        let b = CsrfRandom::os().new_string().unwrap();
        assert!(crate::csrf::token::is_secret(&a));
        assert_ne!(a, b);
        assert_eq!(format!("{:?}", CsrfRandom::os()), "CsrfRandom::os()");
    }
}
