//! `django.core.signing` and `get_signed_cookie`, with a raw HMAC-SHA256 as the floor.
//!
//! `cargo bench --bench signing -- --warm-up-time 1 --measurement-time 2`; the Django side is
//! `scripts/django_timeit.py` (see docs/performance.md).

mod common;

use std::hint::black_box;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, KeyInit, Mac};
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
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();

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
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(black_box(&key)).unwrap();
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

/// The floor of `loads_4k_compressed`: each step any reader of Django's format has to take,
/// alone, with the fastest crate for it. `loads` cannot be faster than their sum, so a goal
/// below it is above the ceiling. (The floor of `dumps` is zlib's deflate at level 6, which
/// Django's bytes need: `cargo bench --bench session -- zlib`.)
fn loads_floor(c: &mut Criterion) {
    let keys = SecretKeys::new(SECRET_KEY);
    let big = big_obj();
    let dumped = signing::dumps_at(&big, &keys, "", true, NOW).unwrap();
    // `.<base64 of the zlib stream>:<timestamp>:<signature>`: the signature covers the rest.
    let (signed, _signature) = dumped.rsplit_once(':').unwrap();
    let (payload, _timestamp) = signed.rsplit_once(':').unwrap();
    let payload = payload.strip_prefix('.').unwrap();
    let stream = signing::b64::decode(payload.as_bytes()).unwrap();
    let text = tessera::json::to_string(&big);
    let key: [u8; 32] = Sha256::digest([b'x'; 32]).into();
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();

    let mut g = c.benchmark_group("loads_floor");
    g.bench_function("hmac_sha256_prekeyed_4k_signed", |b| {
        b.iter(|| {
            let mut m = black_box(&keyed).clone();
            m.update(black_box(signed.as_bytes()));
            m.finalize().into_bytes()
        })
    });
    g.bench_function("b64_decode_4k_payload", |b| {
        b.iter(|| signing::b64::decode(black_box(payload.as_bytes())))
    });
    assert_eq!(zlib_rs_inflate(&stream, text.len()), text.as_bytes());
    g.bench_function("inflate_4k_zlib_rs", |b| {
        b.iter(|| zlib_rs_inflate(black_box(&stream), text.len()))
    });
    // serde_json builds its tree with one allocation per string, as tessera's parser does;
    // `IgnoredAny` only validates, which no reader that hands out the data can stop at.
    g.bench_function("parse_4k_serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(text.as_bytes())).unwrap())
    });
    g.bench_function("parse_4k_serde_json_validate_only", |b| {
        b.iter(|| {
            serde_json::from_slice::<serde::de::IgnoredAny>(black_box(text.as_bytes())).unwrap()
        })
    });
    g.bench_function("parse_4k_tessera", |b| {
        b.iter(|| tessera::json::from_slice(black_box(text.as_bytes())).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = signer_and_objects, signed_cookie, loads_floor
}
criterion_main!(benches);
