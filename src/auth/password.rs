//! Django's PBKDF2 password hashers (`pbkdf2_sha256`, the default, and `pbkdf2_sha1`): the
//! `algorithm$iterations$salt$hash` strings in `auth_user.password`, made and checked exactly
//! as `make_password` and `check_password` do, so users created by Django's `createsuperuser`
//! log in on the Rust side and the other way round.

use base64::Engine as _;

/// Django's `UNUSABLE_PASSWORD_PREFIX`: a password field that never matches.
pub const UNUSABLE_PREFIX: char = '!';
/// Django 6.1's PBKDF2 iteration count (5.2 uses 1,000,000; 6.0, 1,200,000).
pub const DEFAULT_ITERATIONS: u32 = 1_500_000;
/// Salts carry at least this many bits (Django's `salt_entropy`); shorter ones are upgraded.
const SALT_ENTROPY_BITS: f64 = 128.0;
/// Django's `RANDOM_STRING_CHARS`.
const RANDOM_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A PBKDF2 hasher Django ships and installs by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `pbkdf2_sha256`, Django's default.
    Pbkdf2Sha256,
    /// `pbkdf2_sha1`.
    Pbkdf2Sha1,
}

impl Algorithm {
    /// Django's name for it, the first field of the encoded string.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Pbkdf2Sha256 => "pbkdf2_sha256",
            Algorithm::Pbkdf2Sha1 => "pbkdf2_sha1",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "pbkdf2_sha256" => Some(Algorithm::Pbkdf2Sha256),
            "pbkdf2_sha1" => Some(Algorithm::Pbkdf2Sha1),
            _ => None,
        }
    }

    fn derive(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Algorithm::Pbkdf2Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Algorithm::Pbkdf2Sha1 => {
                let mut out = [0u8; 20];
                pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// What Django raises where `check_password` or `make_password` cannot go on: a salt with
/// `$`, a malformed `pbkdf2_…` string (these escape `check_password` in Django too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ValueError: {0}")]
pub struct PasswordError(pub String);

/// The preferred hasher (Django's `PASSWORD_HASHERS[0]`): what new hashes use and what an
/// old hash is upgraded to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordHasher {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Its iteration count.
    pub iterations: u32,
}

impl Default for PasswordHasher {
    /// `pbkdf2_sha256` with [`DEFAULT_ITERATIONS`], as Django 6.1.
    fn default() -> Self {
        PasswordHasher {
            algorithm: Algorithm::Pbkdf2Sha256,
            iterations: DEFAULT_ITERATIONS,
        }
    }
}

impl PasswordHasher {
    /// `make_password(raw)`: a fresh 22-character salt, this hasher's iterations.
    pub fn hash(&self, raw: &str) -> Result<String, PasswordError> {
        make_password(raw, &new_salt()?, self.algorithm, Some(self.iterations))
    }
}

/// `make_password(raw, salt, algorithm)` with `iterations` (`None` or 0: the default), as
/// `algorithm$iterations$salt$base64(pbkdf2)`.
pub fn make_password(
    raw: &str,
    salt: &str,
    algorithm: Algorithm,
    iterations: Option<u32>,
) -> Result<String, PasswordError> {
    if salt.is_empty() || salt.contains('$') {
        return Err(PasswordError(
            "salt must be provided and cannot contain $.".to_owned(),
        ));
    }
    let iterations = iterations.filter(|&n| n > 0).unwrap_or(DEFAULT_ITERATIONS);
    let hash = algorithm.derive(raw.as_bytes(), salt.as_bytes(), iterations);
    let hash = base64::engine::general_purpose::STANDARD.encode(hash);
    Ok(format!("{}${iterations}${salt}${hash}", algorithm.name()))
}

/// `make_password(None)`: `!` and 40 random characters, a field no password matches.
pub fn make_unusable_password() -> Result<String, PasswordError> {
    let mut out = String::from(UNUSABLE_PREFIX);
    out.push_str(&random_string(40)?);
    Ok(out)
}

/// What `check_password` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordCheck {
    /// The password matches.
    pub correct: bool,
    /// It matches, and Django would store it again with `preferred` (another algorithm,
    /// another iteration count, or a salt under 128 bits).
    pub would_upgrade: bool,
}

/// `check_password(raw, encoded)`: `raw` `None`, an unusable, empty or unknown field is no
/// match; the derived hash is compared in constant time.
pub fn check_password(
    raw: Option<&str>,
    encoded: &str,
    preferred: &PasswordHasher,
) -> Result<PasswordCheck, PasswordError> {
    const NO: PasswordCheck = PasswordCheck {
        correct: false,
        would_upgrade: false,
    };
    let Some(raw) = raw else { return Ok(NO) };
    if encoded.starts_with(UNUSABLE_PREFIX) {
        return Ok(NO);
    }
    let name = encoded.split('$').next().unwrap_or("");
    let Some(algorithm) = Algorithm::from_name(name) else {
        return Ok(NO);
    };
    let fields: Vec<&str> = encoded.splitn(4, '$').collect();
    let [_, iterations, salt, _] = fields[..] else {
        return Err(PasswordError(format!(
            "not enough values to unpack (expected 4, got {})",
            fields.len()
        )));
    };
    let iterations: u32 = python_int(iterations).ok_or_else(|| {
        PasswordError(format!(
            "invalid literal for int() with base 10: '{iterations}'"
        ))
    })?;
    let again = make_password(raw, salt, algorithm, Some(iterations))?;
    let correct = constant_time_eq::constant_time_eq(again.as_bytes(), encoded.as_bytes());
    let short_salt =
        salt.chars().count() as f64 * (RANDOM_CHARS.len() as f64).log2() < SALT_ENTROPY_BITS;
    let must_update =
        algorithm != preferred.algorithm || iterations != preferred.iterations || short_salt;
    Ok(PasswordCheck {
        correct,
        would_upgrade: correct && must_update,
    })
}

/// Python's `int(text)` for the digits a hash carries (surrounding spaces and a `+` allowed).
fn python_int(text: &str) -> Option<u32> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .then(|| t.parse().ok())
        .flatten()
}

/// Django's `PBKDF2PasswordHasher.salt()`: enough random characters for 128 bits (22).
fn new_salt() -> Result<String, PasswordError> {
    let per_char = (RANDOM_CHARS.len() as f64).log2();
    random_string((SALT_ENTROPY_BITS / per_char).ceil() as usize)
}

/// `get_random_string(n)`: uniform over [`RANDOM_CHARS`], from the OS.
fn random_string(n: usize) -> Result<String, PasswordError> {
    // 248 = 4 × 62: bytes past it would bias `% 62`.
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).map_err(|e| PasswordError(e.to_string()))?;
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() < n {
                out.push(char::from(RANDOM_CHARS[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}
