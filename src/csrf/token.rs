//! Django's CSRF secrets and tokens: the 32-character secret, and the 64-character token that
//! hides it behind a one-time mask.
//!
//! A page embeds a *masked* token so that the bytes in the HTML change on every response
//! (BREACH cannot recover a secret that is never sent twice the same way), while every token
//! still unmasks to the one secret in the cookie or the session. Both halves use the 62
//! characters `a-zA-Z0-9`: `cipher[i] = chars[(idx(secret[i]) + idx(mask[i])) % 62]`.

use std::fmt;

/// The characters of secrets, masks and tokens: `a-zA-Z0-9`, in Django's order (the order is
/// the arithmetic of the mask).
pub const CSRF_ALLOWED_CHARS: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// The length of a secret (and of a mask).
pub const CSRF_SECRET_LENGTH: usize = 32;
/// The length of a masked token: mask then cipher.
pub const CSRF_TOKEN_LENGTH: usize = 2 * CSRF_SECRET_LENGTH;

const CHARS: &[u8] = CSRF_ALLOWED_CHARS.as_bytes();
const RADIX: usize = CHARS.len();

/// Why a secret or token has the wrong shape: Django's `InvalidTokenFormat` reasons, which
/// become the end of a rejection message ("CSRF cookie has incorrect length.").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFormatError {
    /// Neither 32 nor 64 characters.
    IncorrectLength,
    /// A character outside `a-zA-Z0-9`.
    InvalidCharacters,
}

impl TokenFormatError {
    /// Django's phrase: `has incorrect length` or `has invalid characters`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenFormatError::IncorrectLength => "has incorrect length",
            TokenFormatError::InvalidCharacters => "has invalid characters",
        }
    }
}

impl fmt::Display for TokenFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for TokenFormatError {}

/// The index of `c` in [`CSRF_ALLOWED_CHARS`].
fn index(c: u8) -> Option<usize> {
    match c {
        b'a'..=b'z' => Some(usize::from(c - b'a')),
        b'A'..=b'Z' => Some(usize::from(c - b'A') + 26),
        b'0'..=b'9' => Some(usize::from(c - b'0') + 52),
        _ => None,
    }
}

/// The indices of a string of allowed characters, or the format error Django reports.
fn indices(text: &str) -> Result<Vec<usize>, TokenFormatError> {
    text.bytes()
        .map(|b| index(b).ok_or(TokenFormatError::InvalidCharacters))
        .collect()
}

fn chars_of(indices: impl Iterator<Item = usize>) -> String {
    indices.map(|i| char::from(CHARS[i % RADIX])).collect()
}

/// Django's `_check_token_format`: a cookie secret or a submitted token must be 32 or 64
/// characters (length counted in characters, as Python does) of `a-zA-Z0-9`.
///
/// # Errors
///
/// The length is checked before the characters, so `"é"*32` has invalid characters and
/// `"!"` has an incorrect length, as in Django.
pub fn check_format(token: &str) -> Result<(), TokenFormatError> {
    let len = token.chars().count();
    if len != CSRF_SECRET_LENGTH && len != CSRF_TOKEN_LENGTH {
        return Err(TokenFormatError::IncorrectLength);
    }
    if !token.bytes().all(|b| index(b).is_some()) {
        return Err(TokenFormatError::InvalidCharacters);
    }
    Ok(())
}

/// `mask + cipher`: Django's `_mask_cipher_secret` with the mask given rather than drawn.
///
/// # Errors
///
/// `secret` and `mask` must both be 32 allowed characters.
///
/// ```
/// use tessera::csrf::mask;
/// let token = mask("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")?;
/// assert_eq!(token, "A".repeat(64));
/// # Ok::<(), tessera::csrf::TokenFormatError>(())
/// ```
pub fn mask(secret: &str, mask: &str) -> Result<String, TokenFormatError> {
    if secret.len() != CSRF_SECRET_LENGTH || mask.len() != CSRF_SECRET_LENGTH {
        return Err(TokenFormatError::IncorrectLength);
    }
    let (s, m) = (indices(secret)?, indices(mask)?);
    let mut token = String::with_capacity(CSRF_TOKEN_LENGTH);
    token.push_str(mask);
    token.push_str(&chars_of(s.iter().zip(&m).map(|(s, m)| s + m)));
    Ok(token)
}

/// The secret inside a 64-character masked token (Django's `_unmask_cipher_token`).
///
/// # Errors
///
/// `token` must be 64 allowed characters.
///
/// ```
/// use tessera::csrf::unmask;
/// assert_eq!(unmask(&"A".repeat(64))?, "a".repeat(32));
/// # Ok::<(), tessera::csrf::TokenFormatError>(())
/// ```
pub fn unmask(token: &str) -> Result<String, TokenFormatError> {
    if token.len() != CSRF_TOKEN_LENGTH {
        return Err(TokenFormatError::IncorrectLength);
    }
    let all = indices(token)?;
    let (m, c) = all.split_at(CSRF_SECRET_LENGTH);
    Ok(chars_of(c.iter().zip(m).map(|(c, m)| c + RADIX - m)))
}

/// Django's `_does_token_match`: a 64-character token is unmasked, a 32-character one is the
/// secret itself, and the two are compared in constant time.
///
/// Tokens of any other shape never match (the check reports their format first).
pub fn token_matches(token: &str, secret: &str) -> bool {
    let unmasked = if token.len() == CSRF_TOKEN_LENGTH {
        match unmask(token) {
            Ok(s) => s,
            Err(_) => return false,
        }
    } else {
        token.to_owned()
    };
    unmasked.len() == CSRF_SECRET_LENGTH
        && constant_time_eq::constant_time_eq(unmasked.as_bytes(), secret.as_bytes())
}

/// Whether `secret` is a well-formed 32-character secret.
pub(crate) fn is_secret(secret: &str) -> bool {
    secret.len() == CSRF_SECRET_LENGTH && secret.bytes().all(|b| index(b).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_and_unmask_invert_each_other() {
        let secret = "abcdefghijklmnopqrstuvwxyzABCDEF";
        let token = mask(secret, "EFGHIJKLMNOPQRSTUVWXYZ0123456789").unwrap();
        assert_eq!(
            token,
            "EFGHIJKLMNOPQRSTUVWXYZ0123456789EGIKMOQSUWY02468acegikmoqsuwyACE"
        );
        assert_eq!(unmask(&token).unwrap(), secret);
        assert!(token_matches(&token, secret));
        assert!(token_matches(secret, secret));
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        assert_eq!(
            check_format("short"),
            Err(TokenFormatError::IncorrectLength)
        );
        assert_eq!(
            check_format(&"é".repeat(32)),
            Err(TokenFormatError::InvalidCharacters)
        );
        assert_eq!(
            check_format(&"*".repeat(32)),
            Err(TokenFormatError::InvalidCharacters)
        );
        assert!(unmask(&"é".repeat(32)).is_err());
        assert!(mask("a", "b").is_err());
        assert!(!token_matches(&"é".repeat(32), &"a".repeat(32)));
        assert!(!token_matches("", ""));
    }
}
