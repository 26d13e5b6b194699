//! `Cookie` header parsing: any bytes, as a client may send them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::cookie::{
    is_python_whitespace, parse_cookie, parse_cookie_bytes, unquote, MAX_REQUEST_COOKIES,
};

fuzz_target!(|data: &[u8]| {
    let jar = parse_cookie_bytes(data);
    assert!(jar.len() <= MAX_REQUEST_COOKIES);
    for name in jar.keys() {
        // A name is the stripped text before a chunk's first `=`.
        assert!(!name.contains(';') && !name.contains('='), "{name:?}");
        assert!(!name.starts_with(is_python_whitespace), "{name:?}");
        assert!(!name.ends_with(is_python_whitespace), "{name:?}");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(parse_cookie(text), jar);
        // Unquoting never grows a value (`\377` is 4 bytes in, 2 out).
        assert!(unquote(text).len() <= text.len());
    }
});
