//! The security checklist (docs/security.md), each item a test that can fail.

use crate::common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::http::{app, send};
use http::StatusCode;
use tessera::cookie::{set_cookie_header, CookieJar, CookieOptions, CookieSigner, SameSite};
use tessera::session::key::{KEY_ALPHABET, MAX_LEN, MIN_LEN};
use tessera::session::SessionKey;
use tessera::signing::{SecretKeys, Signer};
use tessera::store::memory::MemoryStore;
use tessera::SessionConfig;

#[test]
fn keys_are_long_random_and_never_collide() {
    let alphabet = KEY_ALPHABET.as_bytes();
    let mut seen = HashSet::with_capacity(1_000_000);
    let mut counts = [0u64; 256];
    for _ in 0..1_000_000 {
        let k = SessionKey::generate().unwrap();
        assert_eq!(k.as_str().len(), 32);
        for b in k.as_str().bytes() {
            assert!(alphabet.contains(&b), "{b} is outside the alphabet");
            counts[usize::from(b)] += 1;
        }
        assert!(seen.insert(k), "collision in 1,000,000 draws");
    }
    // Uniform, so each of the 32 characters carries log2(36) bits (165 in all): every symbol
    // within 1 % of its share of 32 million draws (the spread is ~0.1 %; a modulo bias such
    // as `byte % 36` makes four symbols 14 % more frequent).
    let expected = 32_000_000.0 / alphabet.len() as f64;
    for &b in alphabet {
        let seen = counts[usize::from(b)] as f64;
        assert!(
            (seen - expected).abs() < expected * 0.01,
            "{:?} drawn {seen} times, expected {expected:.0}",
            b as char
        );
    }
    let bits: f64 = alphabet
        .iter()
        .map(|&b| counts[usize::from(b)] as f64 / 32_000_000.0)
        .map(|p| -p * p.log2())
        .sum::<f64>()
        * 32.0;
    assert!(bits >= 165.0, "{bits:.2} bits of entropy measured");
}

#[test]
fn key_validation_is_strict_before_any_store() {
    for bad in [
        "",
        "short",
        "UPPERCASEKEYUPPERCASEKEY",
        "../../../../etc/passwd",
        "a b c d e f g h",
        "ké12345678",
    ] {
        assert!(SessionKey::parse(bad).is_none(), "{bad:?}");
    }
    assert!(SessionKey::parse(&"a".repeat(MAX_LEN + 1)).is_none());
    assert!(SessionKey::parse(&"a".repeat(MIN_LEN)).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_key_comes_only_from_the_cookie() {
    let app = app(Arc::new(MemoryStore::new()), SessionConfig::default());
    let cookie = send(&app, "/set?a=secret", None)
        .await
        .session_cookie()
        .unwrap();
    let key = cookie.trim_start_matches("sessionid=");
    let r = send(&app, &format!("/get?k=a&sessionid={key}"), None).await;
    assert_eq!(r.body, "None", "a key in the URL is ignored");
    let req = http::Request::get("/get?k=a")
        .header("X-Session-Id", key)
        .header("Authorization", format!("Bearer {key}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"None", "a key in another header is ignored");
}

#[test]
fn signed_values_are_bound_to_salt_name_and_key() {
    let keys = SecretKeys::new("current");
    let a = Signer::builder(&keys).salt("salt-x").build().unwrap();
    let b = Signer::builder(&keys).salt("salt-y").build().unwrap();
    assert!(
        b.unsign(&a.sign("v")).is_err(),
        "salt X does not verify under salt Y"
    );
    let cookies = CookieSigner::new(&keys);
    let v = cookies.sign_at("cookie_a", "v", "", 1e9);
    assert!(
        cookies.unsign_at("cookie_b", &v, "", None, 1e9).is_err(),
        "bound to the cookie name"
    );
    // Rotation: an old key verifies while it is a fallback, and fails once removed.
    let old = CookieSigner::new(&SecretKeys::new("old")).sign_at("c", "v", "", 1e9);
    let rotating = CookieSigner::new(&SecretKeys::new("new").with_fallbacks(["old"]));
    assert_eq!(rotating.unsign_at("c", &old, "", None, 1e9).unwrap(), "v");
    let rotated = CookieSigner::new(&SecretKeys::new("new"));
    assert!(rotated.unsign_at("c", &old, "", None, 1e9).is_err());
}

/// RFC 6265bis `cookie-octet`: visible ASCII except `"`, `,`, `;` and `\`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// RFC 6265bis `token` characters for a cookie name.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks a `Set-Cookie` value against the RFC 6265bis grammar.
fn assert_rfc6265bis(header: &str) {
    assert!(
        header
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b)),
        "control or non-ASCII byte: {header:?}"
    );
    let mut parts = header.split("; ");
    let pair = parts.next().unwrap();
    let (name, value) = pair.split_once('=').expect("name=value");
    assert!(
        !name.is_empty() && name.bytes().all(is_token),
        "name: {header:?}"
    );
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        // Django's quoted form: the RFC's DQUOTE-wrapped value, where Django also writes
        // spaces and backslash escapes. A user agent (RFC 6265bis §5.6) keeps those intact,
        // and no unescaped quote can end the string early.
        Some(inner) => {
            assert!(
                inner.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "value: {header:?}"
            );
            let mut escaped = false;
            for b in inner.bytes() {
                assert!(escaped || b != b'"', "unescaped quote: {header:?}");
                escaped = !escaped && b == b'\\';
            }
        }
        None => assert!(value.bytes().all(is_cookie_octet), "value: {header:?}"),
    }
    for attr in parts {
        let name = attr.split('=').next().unwrap();
        assert!(
            [
                "Domain",
                "expires",
                "HttpOnly",
                "Max-Age",
                "Partitioned",
                "Path",
                "SameSite",
                "Secure"
            ]
            .contains(&name),
            "attribute {attr:?} in {header:?}"
        );
        assert!(!attr.contains(';'));
    }
}

#[test]
fn every_cookie_the_jar_emits_matches_rfc6265bis() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pool: Vec<char> = (0u32..0x80)
        .filter_map(char::from_u32)
        .chain(['é', '€', '\u{2028}', '😀'])
        .collect();
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut text = |max: u64| -> String {
            (0..next() % max)
                .map(|_| pool[(next() % pool.len() as u64) as usize])
                .collect()
        };
        let name = text(12);
        let value = text(40);
        let domain = text(10);
        let path = format!("/{}", text(8));
        let mut opts = CookieOptions::new()
            .secure(next() % 2 == 0)
            .httponly(next() % 2 == 0);
        if next() % 2 == 0 {
            opts = opts.max_age((next() % 100_000) as i64);
        }
        if next() % 3 == 0 {
            opts = opts.domain(domain);
        }
        if next() % 3 == 0 {
            opts = opts.path(path);
        }
        opts = match next() % 4 {
            0 => opts.samesite(SameSite::Lax),
            1 => opts.samesite(SameSite::Strict),
            2 => opts.samesite(SameSite::None),
            _ => opts,
        };
        let mut jar = CookieJar::new();
        if jar.set(&name, &value, &opts).is_ok() {
            accepted += 1;
            for h in jar.set_cookie_headers(1_700_000_000.0) {
                assert_rfc6265bis(&h);
                assert!(h.len() <= 4096 + 200, "size limit: {}", h.len());
                assert!(http::HeaderValue::from_str(&h).is_ok());
            }
        }
    }
    assert!(
        accepted > 500,
        "the generator must exercise the accepted path ({accepted})"
    );
    // The Django-exact formatter (lenient by design) still never lets CR or LF through.
    let h = set_cookie_header("a", "x\r\nSet-Cookie: evil=1", &CookieOptions::new(), 0.0).unwrap();
    assert!(!h.contains('\r') && !h.contains('\n'), "{h:?}");
}

/// Every path that logs, driven in sessions whose keys the test knows: a failed load, a failed
/// save, a save interrupted by a logout, a corrupt record, a tampered cookie. Each must have
/// logged (so the path really ran), and no key may appear anywhere in the log.
#[test]
fn no_session_key_or_secret_reaches_the_logs() {
    let store = Arc::new(common::probe::Probe::default());
    let mut keys_seen = Vec::new();
    let logs = common::logs::with_logs(|| async {
        let app = app(store.clone(), SessionConfig::default());
        let mut cookies = Vec::new();
        for _ in 0..3 {
            let cookie = send(&app, "/set?a=1", None).await.session_cookie().unwrap();
            keys_seen.push(cookie.trim_start_matches("sessionid=").to_owned());
            cookies.push(cookie);
        }
        let [down, interrupted, corrupt] = <[String; 3]>::try_from(cookies).unwrap();

        store.down.store(true, Ordering::SeqCst);
        let r = send(&app, "/get?k=a", Some(&down)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "a failed load");
        store.down.store(false, Ordering::SeqCst);
        store.saves_fail.store(true, Ordering::SeqCst);
        let r = send(&app, "/set?a=2", Some(&down)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "a failed save");
        store.saves_fail.store(false, Ordering::SeqCst);

        store.logout_before_save.store(true, Ordering::SeqCst);
        let r = send(&app, "/set?a=2", Some(&interrupted)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "an interrupted save");
        store.logout_before_save.store(false, Ordering::SeqCst);

        store.corrupt_loads.store(true, Ordering::SeqCst);
        let r = send(&app, "/get?k=a", Some(&corrupt)).await;
        assert_eq!(r.body, "None", "a corrupt record loads empty");
        store.corrupt_loads.store(false, Ordering::SeqCst);

        let r = send(
            &app,
            "/get?k=a",
            Some("sessionid=tampered0000000000000000000000000"),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
    });
    for (what, line) in [
        ("the failed load", "session load failed"),
        ("the failed save", "session save failed"),
        ("the interrupted save", "SessionInterrupted"),
        ("the corrupt record", "Session data corrupted"),
    ] {
        assert!(logs.contains(line), "{what} logged nothing: {logs}");
    }
    assert_eq!(keys_seen.len(), 3);
    for key in &keys_seen {
        assert!(
            !logs.contains(key.as_str()),
            "a session key reached the logs: {logs}"
        );
    }
    assert!(!logs.contains("tampered0000000000000000000000000"));
}
