//! Fixtures shared by the benches. They are built exactly as in `scripts/django_timeit.py`, so
//! tessera and Django are timed on the same bytes: keep the two in sync.
#![allow(dead_code)]

use std::time::Duration;

use criterion::Criterion;
use tessera::json::{self, Map, Value};

/// The `SECRET_KEY` of both sides.
pub const SECRET_KEY: &str = "django-insecure-tessera-bench-0123456789abcdefghijklmnopqrstuv";
/// A ~30-byte value: what a signed preference cookie carries.
pub const VALUE: &str = "theme=dark|lang=en-us|tz=UTC+1";
/// The signed cookie's name and salt, and the `max_age` it is read with.
pub const COOKIE_NAME: &str = "prefs";
pub const COOKIE_SALT: &str = "ui";
pub const MAX_AGE: tessera::time::MaxAge = tessera::time::MaxAge::whole(3600);
/// A session key as Django generates them.
pub const SESSION_KEY: &str = "8uled5e9is94foa9gd2207wnyxf5an5j";
/// Ten cookies, two of them quoted (one with an octal escape), as a browser sends them.
pub const COOKIE_HEADER: &str = concat!(
    "csrftoken=9SEO8Ht3Qjv2ucC2C6yuuuLHEuvUOVHU; sessionid=8uled5e9is94foa9gd2207wnyxf5an5j; ",
    "theme=dark; lang=en-us; _ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; ",
    r#"tz="Europe/Berlin"; consent="yes\073analytics"; cart=3; last_seen=1700000000"#,
);
const AUTH_HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// 40 items serialize to ~4 KiB of JSON.
pub const BIG_ITEMS: usize = 40;
/// 640 items serialize to ~64 KiB.
pub const HUGE_ITEMS: usize = 640;
/// A fixed clock, so every run signs the same bytes.
pub const NOW: f64 = 1_700_000_000.0;

/// `{"user_id":42,"scope":["read","write"],"next":"/account/"}`.
pub fn small_obj() -> Value {
    json::from_str(r#"{"user_id":42,"scope":["read","write"],"next":"/account/"}"#).unwrap()
}

fn items_json(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#""item{i:03}":{{"sku":"SKU-{i:05}","qty":{},"title":"Product title number {i} with some descriptive text"}}"#,
            i % 7
        ));
    }
    s
}

/// 40 product entries: ~4 KiB of JSON that zlib shrinks well.
pub fn big_obj() -> Value {
    let v = json::from_str(&format!("{{{}}}", items_json(BIG_ITEMS))).unwrap();
    let len = json::to_string(&v).len();
    assert!((3900..=4300).contains(&len), "big object is {len} bytes");
    v
}

fn session(extra_items: usize) -> Map {
    let mut s = format!(
        r#"{{"_auth_user_id":"42","_auth_user_backend":"django.contrib.auth.backends.ModelBackend","_auth_user_hash":"{AUTH_HASH}","cart":3"#
    );
    if extra_items > 0 {
        s.push(',');
        s.push_str(&items_json(extra_items));
    }
    s.push('}');
    match json::from_str(&s).unwrap() {
        Value::Dict(m) => m,
        _ => unreachable!(),
    }
}

/// A logged-in user's session with a cart count.
pub fn small_session() -> Map {
    session(0)
}

/// The small session plus 39 product entries: ~4 KiB of JSON.
pub fn big_session() -> Map {
    let m = session(BIG_ITEMS - 1);
    let len = json::map_to_string(&m).len();
    assert!((3900..=4300).contains(&len), "big session is {len} bytes");
    m
}

/// The small session plus 630 product entries: ~64 KiB of JSON.
pub fn huge_session() -> Map {
    let m = session(HUGE_ITEMS - 1);
    let len = json::map_to_string(&m).len();
    assert!(
        (62_000..=68_000).contains(&len),
        "huge session is {len} bytes"
    );
    m
}

/// Short runs: the machine is shared. Override on the command line
/// (`-- --warm-up-time 1 --measurement-time 2`).
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

/// Inflates the zlib stream `z` of `len` bytes through zlib-rs (what tessera's loads uses).
pub fn zlib_rs_inflate(z: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let (written, rc) = zlib_rs::decompress_slice(&mut out, z, zlib_rs::InflateConfig::default());
    assert_eq!(rc, zlib_rs::ReturnCode::Ok);
    let n = written.len();
    out.truncate(n);
    out
}
