//! `Signer::unsign` and `TimestampSigner::unsign_at` on any text, plus sign/unsign round trips.
//!
//! Input: 16 bytes of `max_age` and `now` (two little-endian `f64`s), then the text.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tessera::signing::{SecretKeys, Signer, TimestampSigner};

static KEYS: LazyLock<SecretKeys> =
    LazyLock::new(|| SecretKeys::new("fuzz-secret").with_fallbacks(["fuzz-old-secret"]));
static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::builder(&KEYS).build().unwrap());
/// The fallback key on its own, to tell which key a verified value was signed with.
static OLD: LazyLock<Signer> = LazyLock::new(|| {
    Signer::builder(&SecretKeys::new("fuzz-old-secret"))
        .build()
        .unwrap()
});
static TS: LazyLock<TimestampSigner> =
    LazyLock::new(|| TimestampSigner::builder(&KEYS).build().unwrap());

fuzz_target!(|data: &[u8]| {
    let (max_age, now, rest) = if data.len() < 16 {
        (60.0, 1_700_000_000.0, data)
    } else {
        let f = |b: &[u8]| f64::from_le_bytes(b.try_into().unwrap());
        (f(&data[..8]), f(&data[8..16]), &data[16..])
    };
    let text = String::from_utf8_lossy(rest);

    // Whatever verifies is exactly what one of the keys writes for it.
    if let Ok(value) = SIGNER.unsign(&text) {
        assert!(
            SIGNER.sign(value) == text || OLD.sign(value) == text,
            "{text:?}"
        );
    }
    match TS.unsign_at(&text, Some(max_age.into()), now) {
        Ok(value) => assert!(text.starts_with(value)),
        Err(e) => {
            let _ = e.django_kind();
        }
    }
    let _ = TS.unsign_at(&text, None, now);

    // Round trips.
    let signed = SIGNER.sign(&text);
    assert_eq!(SIGNER.unsign(&signed).unwrap(), text);
    let signed = TS.sign_at(&text, now);
    match TS.unsign_at(&signed, Some(max_age.into()), now) {
        Ok(value) => assert_eq!(value, text),
        // Only the age can fail: the signature and timestamp are ours.
        Err(e) => assert!(e.is_expired(), "{e:?} for {signed:?}"),
    }
    assert_eq!(TS.unsign_at(&signed, None, now).unwrap(), text);
});
