//! The session data codec, key generation, the middleware's overhead on a request that
//! does not touch its session, and the bench server's read, write and create requests
//! in-process (memory store: what is left is tessera's own cost, without sockets), also on
//! the ~4 KiB and ~64 KiB sessions of the HTTP runs' big-session routes.
//!
//! `cargo bench --bench session -- --warm-up-time 1 --measurement-time 2`.

mod common;
#[path = "../examples/routes/mod.rs"]
mod routes;

use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{header, Request, StatusCode};
use tessera::backend::cookie::SignedCookieSessions;
use tessera::session::codec::SessionCodec;
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::memory::MemoryStore;
use tessera::{SessionConfig, SessionLayer};
use tower::ServiceExt;

fn codec_and_keys(c: &mut Criterion) {
    // Every decode verified and parsed, as Django's `decode` does: the codec's cache of
    // decoded sessions is measured in its own cases below.
    let cached = SessionCodec::new(&SecretKeys::new(SECRET_KEY)).unwrap();
    let codec = cached.clone().with_decoded_cache(0);
    let small = small_session();
    let big = big_session();
    let enc_small = codec.encode_at(&small, NOW);
    let enc_big = codec.encode_at(&big, NOW);
    assert_eq!(codec.decode(&enc_small).data, small);
    assert_eq!(codec.decode(&enc_big).data, big);
    assert!(
        enc_big.starts_with('.'),
        "a 4 KiB session is stored compressed"
    );

    let mut g = c.benchmark_group("session");
    g.bench_function("session_encode_small", |b| {
        b.iter(|| codec.encode_at(black_box(&small), NOW))
    });
    g.bench_function("session_decode_small", |b| {
        b.iter(|| codec.decode(black_box(&enc_small)))
    });
    g.bench_function("session_encode_4k", |b| {
        b.iter(|| codec.encode_at(black_box(&big), NOW))
    });
    g.bench_function("session_decode_4k", |b| {
        b.iter(|| codec.decode(black_box(&enc_big)))
    });
    // A store's load from the cache: `decode_record` shares the cached dict.
    g.bench_function("session_decode_small_cached", |b| {
        b.iter(|| cached.decode_record(black_box(&enc_small)))
    });
    g.bench_function("session_decode_4k_cached", |b| {
        b.iter(|| cached.decode_record(black_box(&enc_big)))
    });
    // The signed-cookie backend's load of the small session, verified and parsed every time,
    // and from its cache of decoded cookies (the clock's checks still made).
    let cookies = SignedCookieSessions::new(&SecretKeys::new(SECRET_KEY)).unwrap();
    let uncached_cookies = cookies.clone().with_decoded_cache(0);
    let config = SessionConfig::default();
    let cookie = cookies.encode_at(&small, NOW);
    assert_eq!(
        cookies.decode_at(&cookie, &config, NOW).as_deref(),
        Some(&small)
    );
    g.bench_function("signed_cookie_load_small", |b| {
        b.iter(|| uncached_cookies.decode_at(black_box(&cookie), &config, NOW))
    });
    g.bench_function("signed_cookie_load_small_cached", |b| {
        b.iter(|| cookies.decode_at(black_box(&cookie), &config, NOW))
    });
    g.bench_function("session_key_generate", |b| {
        b.iter(|| SessionKey::generate().unwrap())
    });
    g.finish();
}

/// Inflating the small session's zlib stream two ways: `decode_payload` uses
/// `flate2::read::ZlibDecoder`, which wraps the slice in a zeroed 32 KiB `BufReader`; a slice
/// is already `BufRead`, so `flate2::bufread::ZlibDecoder` needs no buffer.
fn inflate(c: &mut Criterion) {
    use std::io::Read as _;

    let codec = SessionCodec::new(&SecretKeys::new(SECRET_KEY)).unwrap();
    let stored = codec.encode_at(&small_session(), NOW);
    let b64 = stored.strip_prefix('.').unwrap().split(':').next().unwrap();
    let z = tessera::signing::b64::decode(b64.as_bytes()).unwrap();
    let mut g = c.benchmark_group("breakdown");
    g.bench_function("inflate_small_read_decoder", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(z.len() * 3);
            flate2::read::ZlibDecoder::new(black_box(&z[..]))
                .read_to_end(&mut out)
                .unwrap();
            out
        })
    });
    g.bench_function("inflate_small_bufread_decoder", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(z.len() * 3);
            flate2::bufread::ZlibDecoder::new(black_box(&z[..]))
                .read_to_end(&mut out)
                .unwrap();
            out
        })
    });
    g.finish();
}

/// The 4 KiB and 64 KiB sessions' JSON through the system zlib (flate2's `zlib` backend, what
/// the crate uses) and through zlib-rs, the Rust port: inflate and deflate at level 6. The
/// deflate output is compared too: Django's bytes need the system zlib's.
fn zlib_backends(c: &mut Criterion) {
    let mut g = c.benchmark_group("zlib");
    for (name, session) in [("4k", big_session()), ("64k", huge_session())] {
        let json = tessera::json::map_to_string(&session);
        let z = libz_deflate(json.as_bytes());
        let rs = zlib_rs_deflate(json.as_bytes());
        eprintln!(
            "zlib {name}: {} bytes of JSON; system zlib {} bytes, zlib-rs {} bytes, identical: {}",
            json.len(),
            z.len(),
            rs.len(),
            z == rs
        );
        assert_eq!(zlib_rs_inflate(&z, json.len()), json.as_bytes());
        g.bench_function(format!("inflate_{name}_system_zlib"), |b| {
            b.iter(|| libz_inflate(black_box(&z), json.len()))
        });
        g.bench_function(format!("inflate_{name}_zlib_rs"), |b| {
            b.iter(|| zlib_rs_inflate(black_box(&z), json.len()))
        });
        g.bench_function(format!("deflate_{name}_system_zlib"), |b| {
            b.iter(|| libz_deflate(black_box(json.as_bytes())))
        });
        g.bench_function(format!("deflate_{name}_zlib_rs"), |b| {
            b.iter(|| zlib_rs_deflate(black_box(json.as_bytes())))
        });
    }
    g.finish();
}

fn libz_deflate(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::Compress::new(flate2::Compression::new(6), true);
    let mut out = Vec::with_capacity(data.len() + 64);
    z.compress_vec(data, &mut out, flate2::FlushCompress::Finish)
        .unwrap();
    out
}

fn libz_inflate(z: &[u8], len: usize) -> Vec<u8> {
    let mut d = flate2::Decompress::new(true);
    let mut out = Vec::with_capacity(len);
    d.decompress_vec(z, &mut out, flate2::FlushDecompress::Finish)
        .unwrap();
    out
}

fn zlib_rs_deflate(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; zlib_rs::compress_bound(data.len())];
    let config = zlib_rs::DeflateConfig::new(6);
    let (written, rc) = zlib_rs::compress_slice(&mut out, data, config);
    assert_eq!(rc, zlib_rs::ReturnCode::Ok);
    let n = written.len();
    out.truncate(n);
    out
}

async fn hello() -> &'static str {
    "hello"
}

/// The bench server's routes over the memory store, driven in-process: `read` and `write` on a
/// session from `/create`, and as `read4k`, `write4k`, `read64k`, `write64k` on sessions from
/// `/create4k` and `/create64k` (the HTTP harness's big-session routes).
fn session_routes(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app: Router = routes::router().layer(
        SessionLayer::new(Arc::new(MemoryStore::new()), SessionConfig::default())
            .expect("valid session config"),
    );
    let call = |path: &str, cookie: Option<&str>| {
        let mut r = Request::builder().uri(path);
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, c);
        }
        let response = rt
            .block_on(app.clone().oneshot(r.body(Body::empty()).unwrap()))
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response
    };
    // A session from `create`, checked as the harness checks it: `/read` answers `1`.
    let mint = |create: &str| {
        let created = call(create, None);
        let set_cookie = created.headers()[header::SET_COOKIE].to_str().unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let body = call("/read", Some(&cookie)).into_body();
        let n = rt.block_on(axum::body::to_bytes(body, 64)).unwrap();
        assert_eq!(&n[..], b"1", "{create} made a session /read cannot load");
        cookie
    };
    let cookie = mint("/create");

    let mut g = c.benchmark_group("routes_memory");
    g.bench_function("read", |b| b.iter(|| call("/read", Some(&cookie))));
    g.bench_function("write", |b| b.iter(|| call("/write", Some(&cookie))));
    for (size, create) in [("4k", "/create4k"), ("64k", "/create64k")] {
        let cookie = mint(create);
        g.bench_function(format!("read{size}"), |b| {
            b.iter(|| call("/read", Some(&cookie)))
        });
        g.bench_function(format!("write{size}"), |b| {
            b.iter(|| call("/write", Some(&cookie)))
        });
    }
    // Last: it leaves a few hundred thousand sessions in the store, and the allocator's state
    // after them made the big sessions' requests 6 to 8 times slower when they ran after it.
    g.bench_function("create", |b| b.iter(|| call("/create", None)));
    g.finish();
}

/// One request through a Router, driven in-process on a current-thread runtime.
fn middleware(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plain: Router = Router::new().route("/", get(hello));
    let layered: Router = Router::new().route("/", get(hello)).layer(
        SessionLayer::new(Arc::new(MemoryStore::new()), SessionConfig::default())
            .expect("valid session config"),
    );
    let request = |cookie: bool| {
        let mut r = Request::builder().uri("/");
        if cookie {
            r = r.header(header::COOKIE, COOKIE_HEADER);
        }
        r.body(Body::empty()).unwrap()
    };
    let run = |app: &Router, cookie: bool| {
        let response = rt.block_on(app.clone().oneshot(request(cookie))).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // An untouched session writes nothing.
        debug_assert!(response.headers().get(header::SET_COOKIE).is_none());
        response
    };
    assert!(run(&layered, true)
        .headers()
        .get(header::SET_COOKIE)
        .is_none());

    let mut g = c.benchmark_group("middleware");
    g.bench_function("router_without_layer", |b| b.iter(|| run(&plain, true)));
    // The floor of `router_session_layer_no_cookie`: the same request, no layer.
    g.bench_function("router_without_layer_no_cookie", |b| {
        b.iter(|| run(&plain, false))
    });
    g.bench_function("router_session_layer_untouched", |b| {
        b.iter(|| run(&layered, true))
    });
    g.bench_function("router_session_layer_no_cookie", |b| {
        b.iter(|| run(&layered, false))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = codec_and_keys, inflate, zlib_backends, middleware, session_routes
}
criterion_main!(benches);
