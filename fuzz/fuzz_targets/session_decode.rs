//! The session codec's `decode` on any stored text, and on any payload behind a valid
//! signature.
//!
//! Input: one mode byte, then the text or payload bytes.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tessera::session::codec::{SessionCodec, DEFAULT_KEY_SALT};
use tessera::signing::{b64, SecretKeys, TimestampSigner};

const NOW: f64 = 1_700_000_000.0;
static KEYS: LazyLock<SecretKeys> = LazyLock::new(|| SecretKeys::new("fuzz-secret"));
static CODEC: LazyLock<SessionCodec> = LazyLock::new(|| SessionCodec::new(&KEYS).unwrap());
static TS: LazyLock<TimestampSigner> = LazyLock::new(|| {
    TimestampSigner::builder(&KEYS)
        .salt(DEFAULT_KEY_SALT)
        .build()
        .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let stored = match mode % 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            let decoded = CODEC.decode(&text);
            // Only validly signed text (a seed made by Django) yields data.
            if !decoded.data.is_empty() {
                assert!(TS.unsign_at(&text, None, NOW).is_ok());
            }
            return;
        }
        1 => TS.sign_at(&b64::encode(rest), NOW),
        _ => TS.sign_at(&format!(".{}", b64::encode(rest)), NOW),
    };
    let decoded = CODEC.decode(&stored);
    assert!(
        !decoded.corrupt,
        "a valid signature is never reported as tampering"
    );
    // Whatever decodes re-encodes to something that decodes to the same dict.
    let again = CODEC.decode(&CODEC.encode_at(&decoded.data, NOW));
    assert!(!again.corrupt);
    assert_eq!(
        tessera::json::map_to_string(&again.data),
        tessera::json::map_to_string(&decoded.data)
    );
});
