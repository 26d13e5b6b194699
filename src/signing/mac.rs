//! Django's `salted_hmac`, with the derived key computed once and the keyed state reused.

use hmac::digest::{Digest, KeyInit};
use hmac::{Hmac, Mac as _};
use sha1::Sha1;
use sha2::{Sha224, Sha256, Sha384, Sha512};

use super::b64;

/// A hash algorithm Django's `Signer` accepts (a `hashlib` name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// `sha1`, Django's signer before 3.1.
    Sha1,
    /// `sha224`.
    Sha224,
    /// `sha256`, the default.
    #[default]
    Sha256,
    /// `sha384`.
    Sha384,
    /// `sha512`.
    Sha512,
}

impl Algorithm {
    /// Looks up a `hashlib` name. `None` for a name tessera does not support: Django raises
    /// `InvalidAlgorithm` for names `hashlib` lacks; md5, sha3 and blake2 are not offered here.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            "sha1" => Algorithm::Sha1,
            "sha224" => Algorithm::Sha224,
            "sha256" => Algorithm::Sha256,
            "sha384" => Algorithm::Sha384,
            "sha512" => Algorithm::Sha512,
            _ => return None,
        })
    }

    /// The `hashlib` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha224 => "sha224",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }
}

/// An HMAC keyed with `H(key_salt ‖ secret)`, ready to be cloned per message.
#[derive(Clone)]
pub(crate) enum KeyedMac {
    Sha1(Hmac<Sha1>),
    Sha224(Hmac<Sha224>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

/// Keys an HMAC with `H(key_salt ‖ secret)`. HMAC accepts keys of any length, so the
/// `Err` arm cannot happen; it falls back to a fresh derivation rather than panicking.
macro_rules! keyed {
    ($variant:ident, $hash:ty, $key_salt:expr, $secret:expr) => {{
        let mut h = <$hash as Digest>::new();
        Digest::update(&mut h, $key_salt);
        Digest::update(&mut h, $secret);
        let derived = h.finalize();
        match <Hmac<$hash> as KeyInit>::new_from_slice(&derived) {
            Ok(m) => KeyedMac::$variant(m),
            Err(_) => KeyedMac::$variant(<Hmac<$hash> as KeyInit>::new(&Default::default())),
        }
    }};
}

impl KeyedMac {
    /// Step 1 of `salted_hmac`: derive the key (one hash call, not HMAC) and key the HMAC.
    pub(crate) fn new(algorithm: Algorithm, key_salt: &[u8], secret: &[u8]) -> KeyedMac {
        match algorithm {
            Algorithm::Sha1 => keyed!(Sha1, Sha1, key_salt, secret),
            Algorithm::Sha224 => keyed!(Sha224, Sha224, key_salt, secret),
            Algorithm::Sha256 => keyed!(Sha256, Sha256, key_salt, secret),
            Algorithm::Sha384 => keyed!(Sha384, Sha384, key_salt, secret),
            Algorithm::Sha512 => keyed!(Sha512, Sha512, key_salt, secret),
        }
    }

    /// The raw HMAC of `parts`, concatenated.
    pub(crate) fn digest(&self, parts: &[&[u8]]) -> Vec<u8> {
        macro_rules! run {
            ($m:expr) => {{
                let mut m = $m.clone();
                for p in parts {
                    m.update(p);
                }
                m.finalize().into_bytes().to_vec()
            }};
        }
        match self {
            KeyedMac::Sha1(m) => run!(m),
            KeyedMac::Sha224(m) => run!(m),
            KeyedMac::Sha256(m) => run!(m),
            KeyedMac::Sha384(m) => run!(m),
            KeyedMac::Sha512(m) => run!(m),
        }
    }

    /// Appends the URL-safe base64 signature of `parts` to `out`.
    pub(crate) fn sign_into(&self, parts: &[&[u8]], out: &mut String) {
        macro_rules! run {
            ($m:expr) => {{
                let mut m = $m.clone();
                for p in parts {
                    m.update(p);
                }
                b64::encode_into(&m.finalize().into_bytes(), out)
            }};
        }
        match self {
            KeyedMac::Sha1(m) => run!(m),
            KeyedMac::Sha224(m) => run!(m),
            KeyedMac::Sha256(m) => run!(m),
            KeyedMac::Sha384(m) => run!(m),
            KeyedMac::Sha512(m) => run!(m),
        }
    }

    /// Whether `signature` is the base64 signature of `parts`, compared as text in constant
    /// time (Django never decodes the supplied signature, so `=` or `+/` variants fail).
    pub(crate) fn verify(&self, parts: &[&[u8]], signature: &[u8]) -> bool {
        macro_rules! run {
            ($m:expr) => {{
                let mut m = $m.clone();
                for p in parts {
                    m.update(p);
                }
                let digest = m.finalize().into_bytes();
                // The signature's length is public (it depends only on the algorithm), so a
                // wrong length can be refused before any secret-dependent work.
                let mut buf = [0u8; 88];
                match b64::encode_slice(&digest, &mut buf) {
                    Some(n) if n == signature.len() => {
                        constant_time_eq::constant_time_eq(&buf[..n], signature)
                    }
                    _ => false,
                }
            }};
        }
        match self {
            KeyedMac::Sha1(m) => run!(m),
            KeyedMac::Sha224(m) => run!(m),
            KeyedMac::Sha256(m) => run!(m),
            KeyedMac::Sha384(m) => run!(m),
            KeyedMac::Sha512(m) => run!(m),
        }
    }
}

/// The result of Django's `salted_hmac(key_salt, value, secret, algorithm)`: the derived key
/// and the HMAC, both raw.
pub fn salted_hmac(
    algorithm: Algorithm,
    key_salt: &str,
    value: &[u8],
    secret: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    fn derive<H: Digest>(key_salt: &[u8], secret: &[u8]) -> Vec<u8> {
        let mut h = H::new();
        h.update(key_salt);
        h.update(secret);
        h.finalize().to_vec()
    }
    let k = key_salt.as_bytes();
    let derived = match algorithm {
        Algorithm::Sha1 => derive::<Sha1>(k, secret),
        Algorithm::Sha224 => derive::<Sha224>(k, secret),
        Algorithm::Sha256 => derive::<Sha256>(k, secret),
        Algorithm::Sha384 => derive::<Sha384>(k, secret),
        Algorithm::Sha512 => derive::<Sha512>(k, secret),
    };
    let mac = KeyedMac::new(algorithm, k, secret).digest(&[value]);
    (derived, mac)
}
