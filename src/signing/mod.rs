//! Django's `django.core.signing`, byte for byte: `Signer`, `TimestampSigner`, signed objects
//! and `dumps`/`loads`.
//!
//! Keys are derived once, when a signer is built (`H(salt ‖ "signer" ‖ secret)`, then an HMAC
//! keyed with it), and every `sign`/`unsign` clones that keyed state: build a signer once and
//! keep it. Signatures are compared in constant time.
//!
//! ```
//! use tessera::signing::{SecretKeys, Signer, TimestampSigner};
//!
//! let keys = SecretKeys::new("a very secret key").with_fallbacks(["an older key"]);
//! let signer = Signer::builder(&keys).salt("greeting").build().unwrap();
//! let signed = signer.sign("hello");
//! assert_eq!(signer.unsign(&signed).unwrap(), "hello");
//! assert!(signer.unsign("hello:forged").unwrap_err().is_bad_signature());
//!
//! let ts = TimestampSigner::builder(&keys).build().unwrap();
//! let token = ts.sign_at("hi", 1_700_000_000.0);
//! assert_eq!(ts.unsign_at(&token, Some(60.into()), 1_700_000_030.0).unwrap(), "hi");
//! assert!(ts.unsign_at(&token, Some(60.into()), 1_700_000_061.0).unwrap_err().is_expired());
//! ```

pub mod b62;
pub mod b64;
mod mac;

use std::fmt;
use std::sync::Arc;

use mac::KeyedMac;
pub use mac::{salted_hmac, Algorithm};

use crate::json::{self, JsonError, Value};

/// The default salt of `Signer` (its dotted class path).
pub const SIGNER_SALT: &str = "django.core.signing.Signer";
/// The default salt of `TimestampSigner`.
pub const TIMESTAMP_SIGNER_SALT: &str = "django.core.signing.TimestampSigner";
/// The default salt of [`dumps`] and [`loads`].
pub const DUMPS_SALT: &str = "django.core.signing";
/// Decompressed signed objects larger than this are refused, so a signed value can never
/// expand into an unbounded allocation.
pub const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

pub use crate::time::{now, MaxAge};

/// Everything that can go wrong while signing or verifying. The first word of each message is
/// the Django exception it corresponds to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The separator does not occur in the signed value.
    #[error("BadSignature: No {0:?} found in value")]
    NoSeparator(String),
    /// No key produced the given signature.
    #[error("BadSignature: Signature does not match")]
    SignatureMismatch,
    /// The signature is valid but older than the allowed age.
    #[error("SignatureExpired: Signature age {age} > {max_age} seconds")]
    Expired {
        /// Seconds since signing.
        age: f64,
        /// The maximum that was allowed.
        max_age: f64,
    },
    /// The separator is empty or made only of characters a signature may contain.
    #[error(
        "ValueError: Unsafe Signer separator: {0:?} (cannot be empty or consist of only A-z0-9-_=)"
    )]
    UnsafeSeparator(String),
    /// The algorithm name is not one `hashlib` (and tessera) provides.
    #[error("InvalidAlgorithm: {0:?} is not an algorithm accepted by the hashlib module")]
    InvalidAlgorithm(String),
    /// The secret key is empty: nothing signed with it would be secret.
    #[error("ValueError: the secret key must not be empty")]
    EmptyKey,
    /// A validly signed value has no timestamp field.
    #[error("ValueError: not enough values to unpack (no timestamp in signed value)")]
    MissingTimestamp,
    /// A validly signed value has a timestamp that is not base62.
    #[error("{0}")]
    Timestamp(#[from] b62::B62Error),
    /// A validly signed payload is not base64.
    #[error("{0}")]
    Base64(#[from] b64::B64Error),
    /// A validly signed payload is flagged compressed but is not a zlib stream.
    #[error("zlib.error: {0}")]
    Zlib(String),
    /// A validly signed payload is not JSON.
    #[error("{0}")]
    Json(#[from] JsonError),
}

impl SigningError {
    /// True for Django's `BadSignature` and its subclass `SignatureExpired`.
    pub fn is_bad_signature(&self) -> bool {
        matches!(
            self,
            SigningError::NoSeparator(_)
                | SigningError::SignatureMismatch
                | SigningError::Expired { .. }
        )
    }

    /// True for `SignatureExpired`.
    pub fn is_expired(&self) -> bool {
        matches!(self, SigningError::Expired { .. })
    }

    /// The name of the Python exception Django raises in this case.
    pub fn django_kind(&self) -> &'static str {
        match self {
            SigningError::NoSeparator(_) | SigningError::SignatureMismatch => "BadSignature",
            SigningError::Expired { .. } => "SignatureExpired",
            SigningError::UnsafeSeparator(_) | SigningError::EmptyKey => "ValueError",
            SigningError::MissingTimestamp => "ValueError",
            SigningError::InvalidAlgorithm(_) => "InvalidAlgorithm",
            SigningError::Timestamp(b62::B62Error::Empty) => "IndexError",
            SigningError::Timestamp(b62::B62Error::InvalidChar) => "ValueError",
            SigningError::Base64(_) => "Error",
            SigningError::Zlib(_) => "error",
            SigningError::Json(_) => "JSONDecodeError",
        }
    }
}

/// A secret: text (used as UTF-8) or raw bytes. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// The bytes HMAC keys are derived from.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// True for an empty secret (Django then falls back to the current key).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// This secret with `prefix` in front, as Django's cookie signer builds its key.
    pub fn prefixed(&self, prefix: &[u8]) -> Secret {
        Secret([prefix, &self.0].concat().into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.as_bytes().into())
    }
}
impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s.into_bytes().into())
    }
}
impl From<&String> for Secret {
    fn from(s: &String) -> Self {
        Secret(s.as_bytes().into())
    }
}
impl From<&[u8]> for Secret {
    fn from(b: &[u8]) -> Self {
        Secret(b.into())
    }
}
impl From<Vec<u8>> for Secret {
    fn from(b: Vec<u8>) -> Self {
        Secret(b.into())
    }
}

/// `SECRET_KEY` and `SECRET_KEY_FALLBACKS`: sign with the current key, verify with any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretKeys {
    current: Secret,
    fallbacks: Vec<Secret>,
}

impl SecretKeys {
    /// Keys with no fallbacks.
    pub fn new(current: impl Into<Secret>) -> Self {
        SecretKeys {
            current: current.into(),
            fallbacks: Vec::new(),
        }
    }
    /// Adds fallback keys: old keys that still verify, for rotation.
    pub fn with_fallbacks<S: Into<Secret>>(
        mut self,
        fallbacks: impl IntoIterator<Item = S>,
    ) -> Self {
        self.fallbacks.extend(fallbacks.into_iter().map(Into::into));
        self
    }
    /// The key new signatures use.
    pub fn current(&self) -> &Secret {
        &self.current
    }
    /// The keys that are still accepted.
    pub fn fallbacks(&self) -> &[Secret] {
        &self.fallbacks
    }
    /// Every key with `prefix` in front (Django's cookie signer uses `django.http.cookies`).
    pub fn prefixed(&self, prefix: &[u8]) -> SecretKeys {
        SecretKeys {
            current: self.current.prefixed(prefix),
            fallbacks: self.fallbacks.iter().map(|k| k.prefixed(prefix)).collect(),
        }
    }
}

impl<T: Into<Secret>> From<T> for SecretKeys {
    fn from(current: T) -> Self {
        SecretKeys::new(current)
    }
}

/// Builds a [`Signer`] or a [`TimestampSigner`] with Django's keyword arguments.
#[derive(Clone, Debug)]
pub struct SignerBuilder {
    keys: SecretKeys,
    salt: Option<String>,
    sep: String,
    algorithm: Result<Algorithm, String>,
    timestamped: bool,
}

impl SignerBuilder {
    fn new(keys: &SecretKeys, timestamped: bool) -> Self {
        SignerBuilder {
            keys: keys.clone(),
            salt: None,
            sep: ":".to_owned(),
            algorithm: Ok(Algorithm::Sha256),
            timestamped,
        }
    }
    /// The salt; empty means the class default, as in Django.
    pub fn salt(mut self, salt: impl Into<String>) -> Self {
        self.salt = Some(salt.into());
        self
    }
    /// The separator (`:` by default); an unsafe one is refused by `build`.
    pub fn sep(mut self, sep: impl Into<String>) -> Self {
        self.sep = sep.into();
        self
    }
    /// The hash algorithm.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = Ok(algorithm);
        self
    }
    /// The hash algorithm by its `hashlib` name: empty means the default (`sha256`), an
    /// unknown name is refused by `build`.
    pub fn algorithm_name(mut self, name: &str) -> Self {
        self.algorithm = if name.is_empty() {
            Ok(Algorithm::Sha256)
        } else {
            Algorithm::from_name(name).ok_or_else(|| name.to_owned())
        };
        self
    }

    fn build_inner(self) -> Result<Signer, SigningError> {
        if is_unsafe_separator(&self.sep) {
            return Err(SigningError::UnsafeSeparator(self.sep));
        }
        let algorithm = self.algorithm.map_err(SigningError::InvalidAlgorithm)?;
        if self.keys.current.is_empty() {
            return Err(SigningError::EmptyKey);
        }
        let salt = match self.salt {
            Some(s) if !s.is_empty() => s,
            _ if self.timestamped => TIMESTAMP_SIGNER_SALT.to_owned(),
            _ => SIGNER_SALT.to_owned(),
        };
        let key_salt = format!("{salt}signer");
        let macs = std::iter::once(&self.keys.current)
            .chain(&self.keys.fallbacks)
            .map(|k| {
                // Django: `key or self.key` — an empty fallback means the current key.
                let k = if k.is_empty() { &self.keys.current } else { k };
                KeyedMac::new(algorithm, key_salt.as_bytes(), k.as_bytes())
            })
            .collect();
        let mut chars = self.sep.chars();
        let sep_char = chars.next().filter(|_| chars.next().is_none());
        Ok(Signer {
            sep_char,
            sep: self.sep.into(),
            salt: salt.into(),
            algorithm,
            macs,
        })
    }
}

/// Django rejects a separator that is empty or made only of `A-z`, `0-9`, `-`, `_`, `=`
/// (`A-z` includes ``[ \ ] ^ _ ` ``).
fn is_unsafe_separator(sep: &str) -> bool {
    sep.chars()
        .all(|c| matches!(c, 'A'..='z' | '0'..='9' | '-' | '='))
}

/// Django's `Signer`: `value ‖ sep ‖ b64u(HMAC(H(salt ‖ "signer" ‖ key), value))`.
#[derive(Clone)]
pub struct Signer {
    sep: Box<str>,
    /// The separator when it is one character (the usual `:`): splitting on a `char` avoids
    /// setting up a substring search on every verification.
    sep_char: Option<char>,
    salt: Box<str>,
    algorithm: Algorithm,
    /// Keyed HMAC states: the current key first, then the fallbacks.
    macs: Box<[KeyedMac]>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("salt", &self.salt)
            .field("sep", &self.sep)
            .field("algorithm", &self.algorithm)
            .field("keys", &self.macs.len())
            .finish()
    }
}

impl Signer {
    /// Splits at the last separator.
    fn split_last<'a>(&self, s: &'a str) -> Option<(&'a str, &'a str)> {
        match self.sep_char {
            Some(c) => s.rsplit_once(c),
            None => s.rsplit_once(&*self.sep),
        }
    }

    /// Starts a builder with Django's defaults (salt `django.core.signing.Signer`, `:`, sha256).
    pub fn builder(keys: &SecretKeys) -> SignerBuilder {
        SignerBuilder::new(keys, false)
    }

    /// The effective salt.
    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// The separator.
    pub fn sep(&self) -> &str {
        &self.sep
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The signature of `value` under the current key.
    pub fn signature(&self, value: &str) -> String {
        let mut out = String::with_capacity(88);
        self.macs[0].sign_into(&[value.as_bytes()], &mut out);
        out
    }

    /// `value ‖ sep ‖ signature`.
    pub fn sign(&self, value: &str) -> String {
        self.sign_parts(&[value])
    }

    /// Signs the concatenation of `parts` without building it first.
    fn sign_parts(&self, parts: &[&str]) -> String {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut out = String::with_capacity(len + self.sep.len() + 88);
        let mut bytes: [&[u8]; 4] = [&[]; 4];
        for (i, p) in parts.iter().enumerate().take(4) {
            out.push_str(p);
            bytes[i] = p.as_bytes();
        }
        out.push_str(&self.sep);
        self.macs[0].sign_into(&bytes[..parts.len().min(4)], &mut out);
        out
    }

    /// Verifies against every key and returns the value before the last separator.
    pub fn unsign<'a>(&self, signed: &'a str) -> Result<&'a str, SigningError> {
        let (value, sig) = self
            .split_last(signed)
            .ok_or_else(|| SigningError::NoSeparator(self.sep.to_string()))?;
        let mut ok = false;
        for mac in self.macs.iter() {
            // Every key is tried, so the time does not tell which key matched.
            ok |= mac.verify(&[value.as_bytes()], sig.as_bytes());
        }
        if ok {
            Ok(value)
        } else {
            Err(SigningError::SignatureMismatch)
        }
    }

    /// Django's `sign_object`: JSON, optionally zlib-compressed, base64, signed.
    pub fn sign_object(&self, obj: &Value, compress: bool) -> String {
        self.sign(&encode_payload(obj, compress))
    }

    /// Django's `unsign_object`.
    pub fn unsign_object(&self, signed: &str) -> Result<Value, SigningError> {
        decode_payload(self.unsign(signed)?)
    }
}

/// Django's age check: expired when `now − timestamp > max_age`.
pub(crate) fn within_max_age(
    ts: i128,
    max_age: Option<MaxAge>,
    now: f64,
) -> Result<(), SigningError> {
    if let Some(max_age) = max_age.map(MaxAge::as_f64) {
        let age = now - ts as f64;
        if age > max_age {
            return Err(SigningError::Expired { age, max_age });
        }
    }
    Ok(())
}

/// Django's `TimestampSigner`: the value, a base62 timestamp, then the signature over both.
#[derive(Clone, Debug)]
pub struct TimestampSigner {
    signer: Signer,
}

impl TimestampSigner {
    /// Starts a builder with Django's defaults (salt `django.core.signing.TimestampSigner`).
    pub fn builder(keys: &SecretKeys) -> TimestampSignerBuilder {
        TimestampSignerBuilder(SignerBuilder::new(keys, true))
    }

    /// The underlying plain signer (same key, salt and separator).
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Signs with the current time.
    pub fn sign(&self, value: &str) -> String {
        self.sign_at(value, now())
    }

    /// Signs as if the clock read `now` (Unix seconds; the timestamp is its floor).
    pub fn sign_at(&self, value: &str, now: f64) -> String {
        let ts = b62::encode(now.floor() as i64);
        self.signer.sign_parts(&[value, &self.signer.sep, &ts])
    }

    /// Verifies with the current time; `max_age` in seconds (fractions and negatives allowed).
    /// Without a `max_age` the clock plays no part and is not read.
    pub fn unsign<'a>(
        &self,
        signed: &'a str,
        max_age: Option<MaxAge>,
    ) -> Result<&'a str, SigningError> {
        match max_age {
            None => self.verified(signed).map(|(value, _)| value),
            Some(_) => self.unsign_at(signed, max_age, now()),
        }
    }

    /// Verifies as if the clock read `now`. Expired means `now − timestamp > max_age`.
    pub fn unsign_at<'a>(
        &self,
        signed: &'a str,
        max_age: Option<MaxAge>,
        now: f64,
    ) -> Result<&'a str, SigningError> {
        let (value, ts) = self.verified(signed)?;
        within_max_age(ts, max_age, now)?;
        Ok(value)
    }

    /// The value and timestamp behind a valid signature.
    fn verified<'a>(&self, signed: &'a str) -> Result<(&'a str, i128), SigningError> {
        let inner = self.signer.unsign(signed)?;
        let (value, ts) = self
            .signer
            .split_last(inner)
            .ok_or(SigningError::MissingTimestamp)?;
        Ok((value, b62::decode(ts)?))
    }

    /// `sign_object` with the current time.
    pub fn sign_object(&self, obj: &Value, compress: bool) -> String {
        self.sign_object_at(obj, compress, now())
    }

    /// `sign_object` as if the clock read `now`.
    pub fn sign_object_at(&self, obj: &Value, compress: bool, now: f64) -> String {
        self.sign_at(&encode_payload(obj, compress), now)
    }

    /// `sign_object` of JSON already serialized by [`json::to_string`] or [`json::map_to_string`].
    pub fn sign_json_at(&self, json: &str, compress: bool, now: f64) -> String {
        self.sign_at(&encode_json_payload(json, compress), now)
    }

    /// `unsign_object` with the current time (not read without a `max_age`).
    pub fn unsign_object(
        &self,
        signed: &str,
        max_age: Option<MaxAge>,
    ) -> Result<Value, SigningError> {
        decode_payload(self.unsign(signed, max_age)?)
    }

    /// [`unsign_object_at`](Self::unsign_object_at), with the timestamp the text was signed
    /// at (without a `max_age`, `now` plays no part).
    pub(crate) fn unsign_object_timed_at(
        &self,
        signed: &str,
        max_age: Option<MaxAge>,
        now: f64,
    ) -> Result<(Value, i128), SigningError> {
        let (value, ts) = self.verified(signed)?;
        within_max_age(ts, max_age, now)?;
        Ok((decode_payload(value)?, ts))
    }

    /// `unsign_object` as if the clock read `now`.
    pub fn unsign_object_at(
        &self,
        signed: &str,
        max_age: Option<MaxAge>,
        now: f64,
    ) -> Result<Value, SigningError> {
        self.unsign_object_timed_at(signed, max_age, now)
            .map(|(value, _)| value)
    }
}

/// Builds a [`TimestampSigner`]; the options are those of [`SignerBuilder`].
#[derive(Clone, Debug)]
pub struct TimestampSignerBuilder(SignerBuilder);

impl TimestampSignerBuilder {
    /// The salt; empty means the class default.
    pub fn salt(self, salt: impl Into<String>) -> Self {
        TimestampSignerBuilder(self.0.salt(salt))
    }
    /// The separator.
    pub fn sep(self, sep: impl Into<String>) -> Self {
        TimestampSignerBuilder(self.0.sep(sep))
    }
    /// The hash algorithm.
    pub fn algorithm(self, algorithm: Algorithm) -> Self {
        TimestampSignerBuilder(self.0.algorithm(algorithm))
    }
    /// The hash algorithm by `hashlib` name.
    pub fn algorithm_name(self, name: &str) -> Self {
        TimestampSignerBuilder(self.0.algorithm_name(name))
    }
    /// Derives the keys; fails on an unsafe separator, an unknown algorithm or an empty key.
    pub fn build(self) -> Result<TimestampSigner, SigningError> {
        Ok(TimestampSigner {
            signer: self.0.build_inner()?,
        })
    }
}

impl SignerBuilder {
    /// Derives the keys; fails on an unsafe separator, an unknown algorithm or an empty key.
    pub fn build(self) -> Result<Signer, SigningError> {
        self.build_inner()
    }
}

/// Serializes, compresses when that saves at least two bytes, and base64-encodes; a leading
/// `.` flags compression (Django's `sign_object` before signing).
pub fn encode_payload(obj: &Value, compress: bool) -> String {
    encode_json_payload(&json::to_string(obj), compress)
}

/// [`encode_payload`] for JSON that is already serialized (it must be Django-exact).
pub fn encode_json_payload(data: &str, compress: bool) -> String {
    if compress {
        if let Some(compressed) = zlib_if_smaller(data.as_bytes()) {
            let mut out = String::with_capacity(compressed.len() * 4 / 3 + 4);
            out.push('.');
            b64::encode_into(&compressed, &mut out);
            return out;
        }
    }
    b64::encode(data.as_bytes())
}

/// Data shorter than this never shrinks by the two bytes Django asks for, so it is not handed
/// to zlib (whose `deflateReset` alone clears a 64 KiB hash table). A zlib stream is a 2-byte
/// header, the deflate data and a 4-byte Adler-32; deflate data for two or more bytes takes at
/// least 26 bits (a 3-bit block header, a literal, a literal or match, the end-of-block code;
/// a stored or dynamic block takes more), so 4 bytes. 10 bytes of stream can only replace 12
/// or more bytes of data.
const MIN_COMPRESSIBLE: usize = 12;

thread_local! {
    /// One deflate state per thread, reset between uses: setting up zlib's window and hash
    /// tables for every session save costs more than compressing a small session.
    static DEFLATE: std::cell::RefCell<flate2::Compress> =
        std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::new(6), true));
}

/// `zlib.compress(data)` (level 6), if the result is shorter than `len(data) − 1`, as Django's
/// `sign_object` requires; `None` otherwise. Output space is capped at that size, so
/// incompressible data stops early instead of being compressed in full.
fn zlib_if_smaller(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < MIN_COMPRESSIBLE {
        return None;
    }
    let limit = data.len() - 2;
    DEFLATE.with(|cell| {
        let mut z = cell.try_borrow_mut().ok()?;
        z.reset();
        let mut out = Vec::with_capacity(limit);
        match z.compress_vec(data, &mut out, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) => Some(out),
            _ => None,
        }
    })
}

/// The reverse of [`encode_payload`], for a payload whose signature already verified.
pub fn decode_payload(payload: &str) -> Result<Value, SigningError> {
    let (compressed, b64text) = match payload.strip_prefix('.') {
        Some(rest) => (true, rest),
        None => (false, payload),
    };
    let data = b64::decode(b64text.as_bytes())?;
    if !compressed {
        return Ok(json::from_slice(&data)?);
    }
    INFLATE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut state) => {
            let (z, buffer) = &mut *state;
            let parsed =
                inflate_into(z, &data, buffer).and_then(|n| Ok(json::from_slice(&buffer[..n])?));
            // A huge payload's buffer is not kept for the thread's lifetime.
            if buffer.len() > KEPT_INFLATE_BUFFER {
                *buffer = Vec::new();
            }
            parsed
        }
        // Only reentrant use could get here; it gets its own state.
        Err(_) => {
            let mut buffer = Vec::new();
            let n = inflate_into(&mut zlib_rs::Inflate::new(true, 15), &data, &mut buffer)?;
            Ok(json::from_slice(&buffer[..n])?)
        }
    })
}

thread_local! {
    /// One inflate state and output buffer per thread, reset between uses: a fresh zlib
    /// state allocates its window on every call. zlib-rs rather than the system zlib that
    /// deflates: it inflates the same bytes 1.5x (4 KiB) to 2.7x (64 KiB) faster
    /// (benches/session.rs, `zlib`), and an inflated stream has only one right answer,
    /// whereas its deflate output differs from the zlib Django's bytes come from.
    static INFLATE: std::cell::RefCell<(zlib_rs::Inflate, Vec<u8>)> =
        std::cell::RefCell::new((zlib_rs::Inflate::new(true, 15), Vec::new()));
}

/// The largest inflate buffer a thread keeps between calls.
const KEPT_INFLATE_BUFFER: usize = 256 * 1024;

/// Inflates the zlib stream `data` into the start of `buffer` (grown as needed, never past
/// one byte over [`MAX_DECOMPRESSED_BYTES`]) and returns how many bytes it wrote. Bytes after
/// the end of the stream are ignored, as Python's `zlib.decompress` ignores them.
fn inflate_into(
    z: &mut zlib_rs::Inflate,
    data: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<usize, SigningError> {
    let limit = usize::try_from(MAX_DECOMPRESSED_BYTES + 1).unwrap_or(usize::MAX);
    z.reset(true);
    let mut written = 0;
    loop {
        if written == buffer.len() {
            let room = limit.saturating_sub(written);
            if room == 0 {
                return Err(SigningError::Zlib("decompressed data too large".to_owned()));
            }
            let grow = buffer.len().max(data.len() * 4).max(4096).min(room);
            buffer.resize(buffer.len() + grow, 0);
        }
        let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
        let input = data.get(consumed..).unwrap_or_default();
        let status = z
            .decompress(input, &mut buffer[written..], zlib_rs::InflateFlush::Finish)
            .map_err(|e| SigningError::Zlib(e.as_str().to_owned()))?;
        let before = written;
        written = usize::try_from(z.total_out()).unwrap_or(usize::MAX);
        match status {
            zlib_rs::Status::StreamEnd => break,
            // The buffer is full: grow it and go on. Anything else that made no progress
            // ran out of input before the end of the stream.
            _ if written == buffer.len() => {}
            _ if written == before && z.total_in() as usize == consumed => {
                return Err(SigningError::Zlib("truncated zlib stream".to_owned()));
            }
            _ => {}
        }
    }
    if written as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(SigningError::Zlib("decompressed data too large".to_owned()));
    }
    Ok(written)
}

/// Django's `signing.dumps(obj, key, salt, compress)` at the current time. Building the signer
/// derives keys on every call: to sign often, keep a [`TimestampSigner`].
pub fn dumps(
    obj: &Value,
    keys: &SecretKeys,
    salt: &str,
    compress: bool,
) -> Result<String, SigningError> {
    dumps_at(obj, keys, salt, compress, now())
}

/// [`dumps`] as if the clock read `now`.
pub fn dumps_at(
    obj: &Value,
    keys: &SecretKeys,
    salt: &str,
    compress: bool,
    now: f64,
) -> Result<String, SigningError> {
    let signer = TimestampSigner::builder(keys).salt(salt).build()?;
    Ok(signer.sign_object_at(obj, compress, now))
}

/// Django's `signing.loads(s, key, salt, max_age, fallback_keys)` at the current time.
pub fn loads(
    s: &str,
    keys: &SecretKeys,
    salt: &str,
    max_age: Option<MaxAge>,
) -> Result<Value, SigningError> {
    loads_at(s, keys, salt, max_age, now())
}

/// [`loads`] as if the clock read `now`.
pub fn loads_at(
    s: &str,
    keys: &SecretKeys,
    salt: &str,
    max_age: Option<MaxAge>,
    now: f64,
) -> Result<Value, SigningError> {
    let signer = TimestampSigner::builder(keys).salt(salt).build()?;
    signer.unsign_object_at(s, max_age, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::Compress::new(flate2::Compression::new(6), true);
        let mut out = Vec::with_capacity(data.len() + 64);
        z.compress_vec(data, &mut out, flate2::FlushCompress::Finish)
            .unwrap();
        out
    }

    fn inflate(data: &[u8]) -> Result<Vec<u8>, SigningError> {
        let mut buffer = Vec::new();
        let n = inflate_into(&mut zlib_rs::Inflate::new(true, 15), data, &mut buffer)?;
        Ok(buffer[..n].to_vec())
    }

    /// What Python's `zlib.decompress` does: the whole stream however much it grows (the
    /// buffer starts at 4x the input), the bytes after its end ignored, a cut or damaged
    /// stream refused.
    #[test]
    fn inflate_reads_whole_streams_and_refuses_broken_ones() {
        let text: Vec<u8> = (0..300_000u32).map(|i| b"ab c"[(i % 4) as usize]).collect();
        let z = deflate(&text);
        assert!(
            z.len() * 4 < text.len() / 10,
            "grows well past the first buffer"
        );
        assert_eq!(inflate(&z).unwrap(), text);
        let mut trailing = z.clone();
        trailing.extend_from_slice(b"garbage");
        assert_eq!(inflate(&trailing).unwrap(), text);
        assert!(matches!(
            inflate(&z[..z.len() - 5]),
            Err(SigningError::Zlib(_))
        ));
        assert!(matches!(inflate(b"not zlib"), Err(SigningError::Zlib(_))));
        assert!(matches!(inflate(b""), Err(SigningError::Zlib(_))));
        let mut damaged = z.clone();
        damaged[z.len() / 2] ^= 0xff;
        assert!(inflate(&damaged).is_err());
    }

    /// Below [`MIN_COMPRESSIBLE`] zlib never saves two bytes, even on the most repetitive
    /// data.
    #[test]
    fn data_below_the_threshold_never_compresses_enough() {
        let json = b"{\"n\":123456789";
        for n in 2..MIN_COMPRESSIBLE {
            for data in [&vec![b'a'; n][..], &json[..n]] {
                assert!(deflate(data).len() > n - 2, "{n} bytes");
            }
        }
    }

    /// The thread's state is reused: a broken stream leaves nothing behind for the next.
    #[test]
    fn decode_payload_after_a_broken_stream() {
        let good = encode_payload(&Value::from("x".repeat(100)), true);
        assert!(good.starts_with('.'));
        let mut bad = good.clone();
        bad.truncate(bad.len() - 4);
        assert!(decode_payload(&bad).is_err());
        assert_eq!(decode_payload(&good).unwrap(), Value::from("x".repeat(100)));
    }
}
