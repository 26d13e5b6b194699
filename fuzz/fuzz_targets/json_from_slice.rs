//! `json::from_slice` (Django's latin-1 `json.loads`) and `from_str`, with writer round trips
//! and the signed-object payload encoding (zlib both ways).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::json;
use tessera::signing::{decode_payload, encode_payload};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = json::from_str(text);
    }
    let Ok(value) = json::from_slice(data) else {
        return;
    };
    // The writer's output is ASCII JSON that reads back to the same text.
    let written = json::to_string(&value);
    assert!(written.is_ascii());
    let reread = json::from_slice(written.as_bytes()).expect("own output parses");
    assert_eq!(json::to_string(&reread), written);
    // As a signed object's payload, compressed or not.
    for compress in [false, true] {
        let payload = encode_payload(&value, compress);
        let decoded = decode_payload(&payload).expect("own payload decodes");
        assert_eq!(json::to_string(&decoded), written);
    }
});
