//! `django.core.signing` and `get_signed_cookie`, with a raw HMAC-SHA256 as the floor.
//!
//! `cargo bench --bench signing -- --warm-up-time 1 --measurement-time 2`; the Django side is
//! `scripts/django_timeit.py` (see docs/performance.md).

mod common;

use std::hint::black_box;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tessera::cookie::{v2_salt, CookieSigner, COOKIE_KEY_PREFIX};
use tessera::signing::{self, SecretKeys, Signer, TimestampSigner};

fn signer_and_objects(c: &mut Criterion) {
    let keys = SecretKeys::new(SECRET_KEY);
    let signer = Signer::builder(&keys).build().unwrap();
    let ts = TimestampSigner::builder(&keys).build().unwrap();
    let signed = signer.sign(VALUE);
    let mut tampered = signed.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert!(signer.unsign(&tampered).is_err());
    let ts_signed = ts.sign_at(VALUE, NOW);

    let mut g = c.benchmark_group("signing");
    g.bench_function("signer_sign", |b| b.iter(|| signer.sign(black_box(VALUE))));
    g.bench_function("signer_unsign_valid", |b| {
        b.iter(|| signer.unsign(black_box(&signed)).is_ok())
    });
    g.bench_function("signer_unsign_tampered", |b| {
        b.iter(|| signer.unsign(black_box(&tampered)).is_err())
    });
    g.bench_function("timestamp_unsign_max_age", |b| {
        b.iter(|| {
            ts.unsign_at(black_box(&ts_signed), Some(MAX_AGE), NOW + 10.0)
                .is_ok()
        })
    });

    // `dumps`/`loads` derive the key on every call, as Django's do.
    let small = small_obj();
    let big = big_obj();
    let dumped_small = signing::dumps_at(&small, &keys, "", false, NOW).unwrap();
    let dumped_big = signing::dumps_at(&big, &keys, "", true, NOW).unwrap();
    assert!(dumped_big.starts_with('.'));
    g.bench_function("dumps_small", |b| {
        b.iter(|| signing::dumps_at(black_box(&small), &keys, "", false, NOW))
    });
    g.bench_function("loads_small", |b| {
        b.iter(|| signing::loads_at(black_box(&dumped_small), &keys, "", None, NOW))
    });
    g.bench_function("dumps_4k_compressed", |b| {
        b.iter(|| signing::dumps_at(black_box(&big), &keys, "", true, NOW))
    });
    g.bench_function("loads_4k_compressed", |b| {
        b.iter(|| signing::loads_at(black_box(&dumped_big), &keys, "", None, NOW))
    });
    g.finish();
}

/// The goal pair: `get_signed_cookie` of a ~30-byte value against one HMAC-SHA256 of the same
/// bytes (`value:timestamp`, what the signature covers).
fn signed_cookie(c: &mut Criterion) {
    let keys = SecretKeys::new(SECRET_KEY);
    let cookies = CookieSigner::new(&keys);
    let cookie_value = cookies.sign_at(COOKIE_NAME, VALUE, COOKIE_SALT, NOW);
    let get =
        |v: &str| cookies.get_at(Some(v), COOKIE_NAME, COOKIE_SALT, Some(MAX_AGE), NOW + 10.0);
    assert_eq!(get(&cookie_value).unwrap(), VALUE);

    // The same TimestampSigner the CookieSigner caches, held directly: the cache's cost.
    let prebuilt = TimestampSigner::builder(&keys.prefixed(COOKIE_KEY_PREFIX))
        .salt(v2_salt(COOKIE_NAME, COOKIE_SALT))
        .build()
        .unwrap();
    assert_eq!(
        prebuilt.unsign_at(&cookie_value, Some(MAX_AGE), NOW + 10.0),
        Ok(VALUE)
    );

    // What the signature covers, and a 32-byte key like the derived one.
    let (msg, _sig) = cookie_value.rsplit_once(':').unwrap();
    let msg = msg.as_bytes().to_vec();
    let key: [u8; 32] = Sha256::digest([b'x'; 32]).into();
    let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();

    let mut g = c.benchmark_group("signed_cookie");
    g.bench_function("signed_cookie_get", |b| {
        b.iter(|| get(black_box(&cookie_value)).is_ok())
    });
    g.bench_function("signed_cookie_unsign_prebuilt", |b| {
        b.iter(|| {
            prebuilt
                .unsign_at(black_box(&cookie_value), Some(MAX_AGE), NOW + 10.0)
                .is_ok()
        })
    });
    // One HMAC-SHA256 from the key: what Python's `hmac.new(key, msg, sha256).digest()` does.
    g.bench_function("hmac_sha256_raw", |b| {
        b.iter(|| {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(black_box(&key)).unwrap();
            m.update(black_box(&msg));
            m.finalize().into_bytes()
        })
    });
    // The same with the ipad/opad blocks already absorbed (a cloned keyed state): the least
    // any verifier that keeps its key can do.
    g.bench_function("hmac_sha256_prekeyed", |b| {
        b.iter(|| {
            let mut m = black_box(&keyed).clone();
            m.update(black_box(&msg));
            m.finalize().into_bytes()
        })
    });
    g.finish();
}

/// The pieces of `get_signed_cookie`, rebuilt from public parts, to show where its time goes
/// beyond the HMAC (docs/performance.md, "Where the time goes").
fn breakdown(c: &mut Criterion) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use std::collections::HashMap;
    use std::sync::{Arc, RwLock};
    use subtle::ConstantTimeEq;

    let keys = SecretKeys::new(SECRET_KEY);
    let cookies = CookieSigner::new(&keys);
    let cookie_value = cookies.sign_at(COOKIE_NAME, VALUE, COOKIE_SALT, NOW);
    let (msg, sig) = cookie_value.rsplit_once(':').unwrap();
    let key: [u8; 32] = Sha256::digest([b'x'; 32]).into();
    let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    let salt = v2_salt(COOKIE_NAME, COOKIE_SALT);
    let cache: RwLock<HashMap<String, Arc<u64>>> =
        RwLock::new([(salt.clone(), Arc::new(1))].into_iter().collect());

    let mut g = c.benchmark_group("breakdown");
    // `CookieSigner::unsign_at` formats the v2 salt on every call...
    g.bench_function("v2_salt_format", |b| {
        b.iter(|| v2_salt(black_box(COOKIE_NAME), black_box(COOKIE_SALT)))
    });
    // ...then looks it up in the `RwLock<HashMap<String, Arc<TimestampSigner>>>` cache.
    g.bench_function("salt_cache_lookup", |b| {
        b.iter(|| {
            cache
                .read()
                .ok()
                .and_then(|m| m.get(black_box(salt.as_str())).cloned())
        })
    });
    // `KeyedMac::verify`: HMAC, base64 into a fresh String, constant-time compare.
    g.bench_function("verify_b64_string", |b| {
        b.iter(|| {
            let mut m = keyed.clone();
            m.update(black_box(msg.as_bytes()));
            let mut expected = String::with_capacity(88);
            URL_SAFE_NO_PAD.encode_string(m.finalize().into_bytes(), &mut expected);
            bool::from(expected.as_bytes().ct_eq(black_box(sig.as_bytes())))
        })
    });
    // The same with the expected signature encoded on the stack.
    g.bench_function("verify_b64_stack", |b| {
        b.iter(|| {
            let mut m = keyed.clone();
            m.update(black_box(msg.as_bytes()));
            let mut buf = [0u8; 44];
            let n = URL_SAFE_NO_PAD
                .encode_slice(m.finalize().into_bytes(), &mut buf)
                .unwrap();
            bool::from(buf[..n].ct_eq(black_box(sig.as_bytes())))
        })
    });
    // ...and compared by folding XOR over the bytes, one barrier at the end.
    g.bench_function("verify_b64_stack_xor_fold", |b| {
        b.iter(|| {
            let mut m = keyed.clone();
            m.update(black_box(msg.as_bytes()));
            let mut buf = [0u8; 44];
            let n = URL_SAFE_NO_PAD
                .encode_slice(m.finalize().into_bytes(), &mut buf)
                .unwrap();
            let sig = black_box(sig.as_bytes());
            let diff = buf[..n]
                .iter()
                .zip(sig)
                .fold(0u8, |acc, (x, y)| acc | (x ^ y));
            n == sig.len() && black_box(diff) == 0
        })
    });
    // `Signer::unsign` and `TimestampSigner::unsign_at` split with `rsplit_once(&str)`...
    g.bench_function("split_twice_str_sep", |b| {
        b.iter(|| {
            let sep: &str = black_box(":");
            let (rest, _sig) = black_box(cookie_value.as_str()).rsplit_once(sep).unwrap();
            rest.rsplit_once(sep).unwrap().0.len()
        })
    });
    // ...where a one-byte separator could be a `char` (a memrchr).
    g.bench_function("split_twice_char_sep", |b| {
        b.iter(|| {
            let sep: char = black_box(':');
            let (rest, _sig) = black_box(cookie_value.as_str()).rsplit_once(sep).unwrap();
            rest.rsplit_once(sep).unwrap().0.len()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = signer_and_objects, signed_cookie, breakdown
}
criterion_main!(benches);
