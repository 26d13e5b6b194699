//! Reading a `Cookie` header and writing a session `Set-Cookie`.
//!
//! `cargo bench --bench cookie -- --warm-up-time 1 --measurement-time 2`.

mod common;

use std::hint::black_box;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use tessera::cookie::{
    parse_cookie, set_cookie_header, CookieOptions, SameSite, SetCookieTemplate,
};

fn cookies(c: &mut Criterion) {
    let parsed = parse_cookie(COOKIE_HEADER);
    assert_eq!(parsed.len(), 10);
    assert_eq!(parsed["consent"], "yes;analytics");

    // What the session middleware writes with Django's default settings.
    let opts = CookieOptions::new()
        .max_age(1_209_600)
        .path("/")
        .httponly(true)
        .samesite(SameSite::Lax);
    assert_eq!(
        set_cookie_header("sessionid", SESSION_KEY, &opts, NOW).unwrap(),
        "sessionid=8uled5e9is94foa9gd2207wnyxf5an5j; expires=Tue, 28 Nov 2023 22:13:20 GMT; \
         HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax"
    );

    // The same line as the session middleware renders it: attributes checked once.
    let template = SetCookieTemplate::new("sessionid", &opts).unwrap();
    assert_eq!(
        template.render(SESSION_KEY, 1_209_600.0, NOW),
        set_cookie_header("sessionid", SESSION_KEY, &opts, NOW).unwrap()
    );

    let mut g = c.benchmark_group("cookie");
    g.bench_function("parse_cookie_10", |b| {
        b.iter(|| parse_cookie(black_box(COOKIE_HEADER)))
    });
    g.bench_function("set_cookie_session", |b| {
        b.iter(|| set_cookie_header("sessionid", black_box(SESSION_KEY), &opts, NOW))
    });
    g.bench_function("set_cookie_session_template", |b| {
        b.iter(|| template.render(black_box(SESSION_KEY), 1_209_600.0, NOW))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = cookies
}
criterion_main!(benches);
