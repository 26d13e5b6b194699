//! Hostile inputs as ordinary tests: each must finish quickly (well under 2 s in a debug
//! build), never panic, and give a sensible result. The fuzz targets in `fuzz/` look for more;
//! whatever they find belongs here.

use std::io::Write as _;
use std::time::{Duration, Instant};

use tessera::cookie::{
    parse_cookie, parse_cookie_bytes, set_cookie_header, unquote, CookieError, CookieOptions,
    CookieSigner, MaxAge, SignedCookieError, MAX_REQUEST_COOKIES,
};
use tessera::json::{self, Value};
use tessera::session::codec::SessionCodec;
use tessera::signing::{
    self, b64, SecretKeys, SigningError, TimestampSigner, DUMPS_SALT, MAX_DECOMPRESSED_BYTES,
};

const KEY: &str = "fuzz-regressions-secret";
const NOW: f64 = 1_700_000_000.0;
const MIB: usize = 1024 * 1024;

fn keys() -> SecretKeys {
    SecretKeys::new(KEY)
}

/// Runs `f`, failing if it takes longer than the budget every test here must meet.
fn quick<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "{what} took {took:?}: not linear any more?"
    );
    out
}

/// A signer for `signing::dumps`/`loads` with the default salt.
fn dumps_signer() -> TimestampSigner {
    TimestampSigner::builder(&keys())
        .salt(DUMPS_SALT)
        .build()
        .unwrap()
}

/// Signs raw JSON bytes as `dumps` would (base64, optionally zlib with the `.` flag), so the
/// payload reaches the decoder behind a valid signature.
fn signed_payload(json_bytes: &[u8], compressed: bool) -> String {
    let mut payload = String::new();
    if compressed {
        payload.push('.');
    }
    payload.push_str(&b64::encode(json_bytes));
    dumps_signer().sign_at(&payload, NOW)
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Cookie header parsing
// ---------------------------------------------------------------------------------------------

#[test]
fn one_mib_of_empty_cookies_parses_to_one_entry() {
    let header = "a=;".repeat(MIB / 3);
    let jar = quick("1 MiB of a=;", || parse_cookie(&header));
    assert_eq!(jar.len(), 1);
    assert_eq!(jar["a"], "");
}

#[test]
fn one_mib_of_distinct_names_is_capped() {
    let mut header = String::with_capacity(MIB + 32);
    let mut i = 0u32;
    while header.len() < MIB {
        header.push_str(&format!("n{i}=v;"));
        i += 1;
    }
    let jar = quick("1 MiB of distinct names", || parse_cookie(&header));
    assert_eq!(jar.len(), MAX_REQUEST_COOKIES);
    assert_eq!(jar["n0"], "v");
    // Names already kept still take later values.
    header.push_str("n0=last");
    assert_eq!(parse_cookie(&header)["n0"], "last");
}

#[test]
fn quoted_value_of_100_kib_of_backslashes() {
    let n = 100 * 1024;
    // An even run: each `\\` pair unquotes to one `\`.
    let header = format!("k=\"{}\"", "\\".repeat(n));
    let jar = quick("100 KiB of backslashes", || parse_cookie(&header));
    assert_eq!(jar["k"].len(), n / 2);
    assert!(jar["k"].bytes().all(|b| b == b'\\'));
    // An odd run: the last backslash escapes nothing and is kept.
    let odd = format!("\"{}\"", "\\".repeat(n + 1));
    assert_eq!(
        quick("odd backslash run", || unquote(&odd)).len(),
        n / 2 + 1
    );
    // A run of octal escapes shrinks four to one.
    let octal = format!("\"{}\"", "\\073".repeat(n / 4));
    assert_eq!(unquote(&octal), ";".repeat(n / 4));
}

#[test]
fn one_mib_of_invalid_utf8_header() {
    let raw = garbage(MIB, 0x9e37_79b9_7f4a_7c15);
    let jar = quick("1 MiB of garbage bytes", || parse_cookie_bytes(&raw));
    assert!(jar.len() <= MAX_REQUEST_COOKIES);
}

// ---------------------------------------------------------------------------------------------
// Set-Cookie
// ---------------------------------------------------------------------------------------------

#[test]
fn max_age_u64_max_keeps_every_digit_and_clamps_expires() {
    let opts = CookieOptions::new().max_age(18_446_744_073_709_551_615u64);
    let header = set_cookie_header("c", "v", &opts, NOW).unwrap();
    assert_eq!(
        header,
        "c=v; expires=Fri, 31 Dec 9999 23:59:59 GMT; Max-Age=18446744073709551615; Path=/"
    );
    // Also through the explicit constructor, and the most negative value.
    let opts = CookieOptions::new().max_age(MaxAge::whole(i128::MIN));
    let header = set_cookie_header("c", "v", &opts, NOW).unwrap();
    assert!(
        header.contains(&format!("Max-Age={}", i128::MIN)),
        "{header}"
    );
    assert!(
        header.contains("expires=Mon, 01 Jan 0001 00:00:00 GMT"),
        "{header}"
    );
}

#[test]
fn max_age_huge_and_non_finite_floats() {
    let opts = CookieOptions::new().max_age(1e300);
    let header = set_cookie_header("c", "v", &opts, NOW).unwrap();
    assert!(
        header.contains("expires=Fri, 31 Dec 9999 23:59:59 GMT"),
        "{header}"
    );
    // All 301 digits of the float, as Python's `int(1e300)`.
    let digits = header
        .split("Max-Age=")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap();
    assert_eq!(digits.len(), 301, "{header}");
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let opts = CookieOptions::new().max_age(bad);
        assert!(matches!(
            set_cookie_header("c", "v", &opts, NOW),
            Err(CookieError::InvalidMaxAge(_))
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

#[test]
fn json_nested_100k_deep_is_refused() {
    for open in [&b"["[..], b"{\"a\":", b"[{\"a\":"] {
        let mut doc = open.repeat(100_000);
        let err = quick("100k-deep JSON", || json::from_slice(&doc)).unwrap_err();
        assert_eq!(err.message, "Nesting too deep");
        // Closed properly, it is still refused (and not recursed into).
        doc.extend(std::iter::repeat_n(b']', 100_000));
        assert!(json::from_slice(&doc).is_err());
    }
    // Exactly at the limit it parses.
    let depth = json::MAX_DEPTH;
    let ok = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(json::from_slice(ok.as_bytes()).is_ok());
}

#[test]
fn json_nested_100k_deep_behind_a_valid_signature() {
    let doc = "[".repeat(100_000);
    for compressed in [false, true] {
        let bytes = if compressed {
            zlib(doc.as_bytes())
        } else {
            doc.as_bytes().to_vec()
        };
        let signed = signed_payload(&bytes, compressed);
        let r = quick("signed deep JSON", || {
            signing::loads_at(&signed, &keys(), DUMPS_SALT, Some(60.0.into()), NOW)
        });
        assert!(matches!(r, Err(SigningError::Json(_))), "{r:?}");
    }
    // The session codec treats it as unreadable, not as tampering.
    let codec = SessionCodec::with_key_salt(&keys(), DUMPS_SALT).unwrap();
    let decoded = codec.decode(&signed_payload(doc.as_bytes(), false));
    assert!(decoded.data.is_empty() && !decoded.corrupt);
}

#[test]
fn json_huge_numbers_and_strings() {
    // Python 3.11+ refuses integers over 4300 digits (`ValueError`); tessera may keep them,
    // but must do so in linear time and write them back unchanged.
    let big = format!("[{}]", "9".repeat(100_000));
    let v = quick("100k-digit integer", || json::from_slice(big.as_bytes()))
        .expect("a 100k-digit integer is kept");
    assert_eq!(json::to_string(&v), big);
    let exp = format!("[1e{}]", "9".repeat(10_000));
    let v = quick("huge exponent", || json::from_slice(exp.as_bytes())).unwrap();
    assert_eq!(v, Value::List(vec![Value::Float(f64::INFINITY)]));
    let escapes = format!("\"{}\"", "\\ud800".repeat(50_000));
    assert!(quick("lone surrogates", || json::from_slice(escapes.as_bytes())).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Signatures and timestamps
// ---------------------------------------------------------------------------------------------

#[test]
fn huge_base62_timestamp_behind_a_valid_signature() {
    let ts = dumps_signer();
    for digits in [25, 10_000] {
        // value ‖ sep ‖ timestamp, signed by the same key: only a key holder can make this.
        let future = ts.signer().sign(&format!("value:{}", "z".repeat(digits)));
        let past = ts.signer().sign(&format!("value:-{}", "z".repeat(digits)));
        let r = quick("huge timestamp", || {
            ts.unsign_at(&future, Some(60.0.into()), NOW)
        });
        // Python would overflow converting it to a float; a timestamp in the far future is
        // never expired here.
        assert_eq!(r, Ok("value"));
        assert_eq!(ts.unsign_at(&future, None, NOW), Ok("value"));
        assert!(ts
            .unsign_at(&past, Some(60.0.into()), NOW)
            .unwrap_err()
            .is_expired());
        assert_eq!(ts.unsign_at(&past, None, NOW), Ok("value"));
    }
    // Not base62 at all: malformed, not a bad signature.
    let bad = ts.signer().sign("value:1+2");
    let err = ts.unsign_at(&bad, None, NOW).unwrap_err();
    assert!(!err.is_bad_signature(), "{err:?}");
}

#[test]
fn one_mib_garbage_signed_cookie() {
    let cookies = CookieSigner::new(&keys());
    let ascii: String = garbage(MIB, 42)
        .into_iter()
        .map(|b| char::from(b' ' + b % 95))
        .collect();
    let lossy = String::from_utf8_lossy(&garbage(MIB, 7)).into_owned();
    let colons = ":".repeat(MIB);
    for value in [&ascii, &lossy, &colons] {
        let r = quick("1 MiB garbage cookie", || {
            cookies.get_at(Some(value), "c", "", Some(60.0.into()), NOW)
        });
        assert!(
            matches!(r, Err(SignedCookieError::BadSignature(_))),
            "{r:?}"
        );
        // With a default, garbage gives the default.
        let d = cookies.get_or_at(Some(value), "c", "", None, NOW, "default".to_owned());
        assert_eq!(d.unwrap(), "default");
    }
    let without_sep = "a".repeat(MIB);
    let r = cookies.get_at(Some(&without_sep), "c", "", None, NOW);
    assert!(
        matches!(r, Err(SignedCookieError::BadSignature(_))),
        "{r:?}"
    );
}

#[test]
fn garbage_through_unsign_and_loads() {
    let k = keys();
    let ts = dumps_signer();
    for (i, len) in [0usize, 1, 43, 44, 45, 100, 4096].into_iter().enumerate() {
        let s = String::from_utf8_lossy(&garbage(len, i as u64 + 1)).into_owned();
        for s in [s.clone(), format!("{s}:{s}"), format!("{s}:{s}:{s}")] {
            assert!(ts.signer().unsign(&s).is_err());
            assert!(ts.unsign_at(&s, Some(0.0.into()), NOW).is_err());
            assert!(signing::loads_at(&s, &k, DUMPS_SALT, None, NOW).is_err());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Compressed payloads
// ---------------------------------------------------------------------------------------------

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

/// `{"a":"xxxx…"}` with 100 MiB of `x`, zlib-compressed without ever holding it whole.
fn zlib_bomb() -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(br#"{"a":""#).unwrap();
    let chunk = vec![b'x'; MIB];
    for _ in 0..100 {
        z.write_all(&chunk).unwrap();
    }
    z.write_all(br#""}"#).unwrap();
    z.finish().unwrap()
}

#[test]
fn zlib_bomb_behind_a_valid_signature_is_capped() {
    assert!((100 * MIB) as u64 > MAX_DECOMPRESSED_BYTES);
    let bomb = quick("compressing the bomb", zlib_bomb);
    assert!(bomb.len() < MIB, "the bomb is small: {} bytes", bomb.len());
    let signed = signed_payload(&bomb, true);
    let r = quick("loading the bomb", || {
        signing::loads_at(&signed, &keys(), DUMPS_SALT, None, NOW)
    });
    match r {
        Err(SigningError::Zlib(msg)) => assert!(msg.contains("too large"), "{msg}"),
        other => panic!("a 100 MiB payload must be refused, got {other:?}"),
    }
    // A session store holding it reads an empty session.
    let codec = SessionCodec::with_key_salt(&keys(), DUMPS_SALT).unwrap();
    let decoded = quick("decoding the bomb as a session", || codec.decode(&signed));
    assert!(decoded.data.is_empty() && !decoded.corrupt);
}

#[test]
fn truncated_and_corrupt_zlib_behind_a_valid_signature() {
    let good = zlib(br#"{"a":"hello hello hello hello hello"}"#);
    let truncated = &good[..good.len() / 2];
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0xff;
    for bytes in [truncated, &flipped[..], b"", b"not zlib at all"] {
        let signed = signed_payload(bytes, true);
        let r = signing::loads_at(&signed, &keys(), DUMPS_SALT, None, NOW);
        assert!(r.is_err(), "{bytes:?} gave {r:?}");
        assert!(!r.unwrap_err().is_bad_signature());
    }
    let ok = signed_payload(&good, true);
    assert!(signing::loads_at(&ok, &keys(), DUMPS_SALT, None, NOW).is_ok());
}
