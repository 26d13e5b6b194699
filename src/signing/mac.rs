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
    /// `md5`.
    Md5,
    /// `sha3_224`.
    Sha3_224,
    /// `sha3_256`.
    Sha3_256,
    /// `sha3_384`.
    Sha3_384,
    /// `sha3_512`.
    Sha3_512,
}

impl Algorithm {
    /// Looks up a `hashlib` name. `None` for a name tessera does not support: Django raises
    /// `InvalidAlgorithm` for names `hashlib` lacks. The SHA-1, SHA-2, SHA-3 and MD5 families
    /// are here; BLAKE2 (whose HMAC needs a different construction) and SHAKE (which Python's
    /// `hmac` cannot use either) are not.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            "sha1" => Algorithm::Sha1,
            "sha224" => Algorithm::Sha224,
            "sha256" => Algorithm::Sha256,
            "sha384" => Algorithm::Sha384,
            "sha512" => Algorithm::Sha512,
            "md5" => Algorithm::Md5,
            "sha3_224" => Algorithm::Sha3_224,
            "sha3_256" => Algorithm::Sha3_256,
            "sha3_384" => Algorithm::Sha3_384,
            "sha3_512" => Algorithm::Sha3_512,
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
            Algorithm::Md5 => "md5",
            Algorithm::Sha3_224 => "sha3_224",
            Algorithm::Sha3_256 => "sha3_256",
            Algorithm::Sha3_384 => "sha3_384",
            Algorithm::Sha3_512 => "sha3_512",
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
    Md5(Hmac<md5::Md5>),
    Sha3_224(Hmac<sha3::Sha3_224>),
    Sha3_256(Hmac<sha3::Sha3_256>),
    Sha3_384(Hmac<sha3::Sha3_384>),
    Sha3_512(Hmac<sha3::Sha3_512>),
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
            Algorithm::Md5 => keyed!(Md5, md5::Md5, key_salt, secret),
            Algorithm::Sha3_224 => keyed!(Sha3_224, sha3::Sha3_224, key_salt, secret),
            Algorithm::Sha3_256 => keyed!(Sha3_256, sha3::Sha3_256, key_salt, secret),
            Algorithm::Sha3_384 => keyed!(Sha3_384, sha3::Sha3_384, key_salt, secret),
            Algorithm::Sha3_512 => keyed!(Sha3_512, sha3::Sha3_512, key_salt, secret),
        }
    }

    /// Runs the keyed HMAC over `parts` (concatenated) and hands the tag to `f`.
    fn with_tag<R>(&self, parts: &[&[u8]], f: impl FnOnce(&[u8]) -> R) -> R {
        macro_rules! run {
            ($m:expr) => {{
                let mut m = $m.clone();
                for p in parts {
                    m.update(p);
                }
                f(&m.finalize().into_bytes())
            }};
        }
        match self {
            KeyedMac::Sha1(m) => run!(m),
            KeyedMac::Sha224(m) => run!(m),
            KeyedMac::Sha256(m) => run!(m),
            KeyedMac::Sha384(m) => run!(m),
            KeyedMac::Sha512(m) => run!(m),
            KeyedMac::Md5(m) => run!(m),
            KeyedMac::Sha3_224(m) => run!(m),
            KeyedMac::Sha3_256(m) => run!(m),
            KeyedMac::Sha3_384(m) => run!(m),
            KeyedMac::Sha3_512(m) => run!(m),
        }
    }

    /// The raw HMAC of `parts`, concatenated.
    pub(crate) fn digest(&self, parts: &[&[u8]]) -> Vec<u8> {
        self.with_tag(parts, <[u8]>::to_vec)
    }

    /// Appends the URL-safe base64 signature of `parts` to `out`.
    pub(crate) fn sign_into(&self, parts: &[&[u8]], out: &mut String) {
        self.with_tag(parts, |tag| b64::encode_into(tag, out))
    }

    /// Whether `signature` is the base64 signature of `parts`, compared as text in constant
    /// time (Django never decodes the supplied signature, so `=` or `+/` variants fail).
    pub(crate) fn verify(&self, parts: &[&[u8]], signature: &[u8]) -> bool {
        self.with_tag(parts, |tag| {
            // The signature's length is public (it depends only on the algorithm), so a
            // wrong length can be refused before any secret-dependent work.
            let mut buf = [0u8; 88];
            match b64::encode_slice(tag, &mut buf) {
                Some(n) if n == signature.len() => {
                    constant_time_eq::constant_time_eq(&buf[..n], signature)
                }
                _ => false,
            }
        })
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
        Algorithm::Md5 => derive::<md5::Md5>(k, secret),
        Algorithm::Sha3_224 => derive::<sha3::Sha3_224>(k, secret),
        Algorithm::Sha3_256 => derive::<sha3::Sha3_256>(k, secret),
        Algorithm::Sha3_384 => derive::<sha3::Sha3_384>(k, secret),
        Algorithm::Sha3_512 => derive::<sha3::Sha3_512>(k, secret),
    };
    let mac = KeyedMac::new(algorithm, k, secret).digest(&[value]);
    (derived, mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values from Python: `hmac.new(H(key_salt + secret).digest(), value, H)`.
    #[test]
    fn every_hashlib_family_matches_python() {
        for (name, want) in [
            ("md5", "e1614876d799f1c6482fe794d3d63847"),
            ("sha3_224", "22158bc300c4f946e7dccea8a4045a121d46414c32b5d4a65fff840c"),
            ("sha3_256", "5819d77841db34c1d86d954a6a98a7ac9df6b728bffb97e12c298f6837652f8e"),
            ("sha3_384", "1444cdb279676e40ad4063c5e3f5eb4134ef9678c175b5afe7f9dfed0632a8cefdd27941ddc6e49eb4858ffe511feb24"),
            ("sha3_512", "d445b624555eb416c4ef33bb829f778bba9cc85dc44105b91c77c11350e31ac10c9915c2cbe45713fbac19f2bda217c262f79c7d1e580d8fc048a15d2ccd9711"),
        ] {
            let alg = Algorithm::from_name(name).unwrap();
            assert_eq!(alg.name(), name);
            let (_, mac) = salted_hmac(alg, "django.core.signing.Signersigner", b"hello", b"secret");
            let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, want, "{name}");
        }
        for rejected in ["sha512_224", "blake2b", "shake_128", "sha-256", ""] {
            assert!(Algorithm::from_name(rejected).is_none(), "{rejected}");
        }
    }
}
