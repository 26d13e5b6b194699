//! `signing::loads_at` on any text, and on any payload behind a valid signature (the only way
//! to reach base64, zlib and JSON decoding: an attacker cannot, a key holder or a bug can).
//!
//! Input: one mode byte, then the text or payload bytes.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tessera::signing::{self, b64, SecretKeys, TimestampSigner, DUMPS_SALT};

const NOW: f64 = 1_700_000_000.0;
static KEYS: LazyLock<SecretKeys> = LazyLock::new(|| SecretKeys::new("fuzz-secret"));
static TS: LazyLock<TimestampSigner> = LazyLock::new(|| {
    TimestampSigner::builder(&KEYS)
        .salt(DUMPS_SALT)
        .build()
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let signed = match mode % 4 {
        // Raw text, as it arrives from a client.
        0 => {
            let text = String::from_utf8_lossy(rest);
            let _ = signing::loads_at(&text, &KEYS, DUMPS_SALT, Some(60.0.into()), NOW);
            return;
        }
        // The text as the payload (base64 decoding, with Django's leniency).
        1 => TS.sign_at(&String::from_utf8_lossy(rest), NOW),
        // The bytes as the JSON.
        2 => TS.sign_at(&b64::encode(rest), NOW),
        // The bytes as the zlib stream.
        _ => TS.sign_at(&format!(".{}", b64::encode(rest)), NOW),
    };
    match signing::loads_at(&signed, &KEYS, DUMPS_SALT, Some(60.0.into()), NOW) {
        Ok(value) => {
            // What loads returns, dumps writes and loads reads back the same.
            let again = signing::dumps_at(&value, &KEYS, DUMPS_SALT, mode & 4 != 0, NOW).unwrap();
            let back = signing::loads_at(&again, &KEYS, DUMPS_SALT, None, NOW).unwrap();
            assert_eq!(
                tessera::json::to_string(&back),
                tessera::json::to_string(&value)
            );
        }
        // The signature is valid: only the content can be wrong.
        Err(e) => assert!(!e.is_bad_signature(), "{e:?}"),
    }
});
