//! `CookieLayer` and the `Cookies` extractor through a real axum `Router`: request cookies
//! in, `Set-Cookie` out, signed cookies, policy refusals and header order.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tessera::cookie::{
    parse_cookie, CookieError, CookieLayer, CookieOptions, CookiePolicy, CookieSigner, Cookies,
    SignedCookieError,
};
use tessera::signing::SecretKeys;
use tower::ServiceExt;

const SECRET: &str = "a test secret that is long enough";

fn keys() -> SecretKeys {
    SecretKeys::new(SECRET)
}

/// Sends one GET with the given `Cookie` headers; returns status, `Set-Cookie` values, body.
async fn send(app: &Router, uri: &str, cookies: &[&str]) -> (StatusCode, Vec<String>, String) {
    let mut req = Request::builder().uri(uri);
    for c in cookies {
        req = req.header(COOKIE, *c);
    }
    let response: Response<Body> = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let set_cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        set_cookie,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// The value a browser would send back for a `Set-Cookie` header (`name=value` part).
fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

fn app(layer: CookieLayer) -> Router {
    Router::new()
        .route(
            "/get",
            get(|c: Cookies| async move {
                format!("{:?} {:?} {:?}", c.get("a"), c.get("b"), c.get("missing"))
            }),
        )
        .route(
            "/set",
            get(|c: Cookies| async move {
                c.set("a", "1", &CookieOptions::new()).unwrap();
                c.set("b", "x;y", &CookieOptions::new().httponly(true))
                    .unwrap();
                "ok"
            }),
        )
        .route(
            "/delete",
            get(|c: Cookies| async move {
                c.delete("a", None, None).unwrap();
                "ok"
            }),
        )
        .route(
            "/order",
            get(|c: Cookies| async move {
                for name in ["z", "y", "x"] {
                    c.set(name, name, &CookieOptions::new()).unwrap();
                }
                c.delete("w", None, None).unwrap();
                // Setting `z` again updates it in place: it stays first, as in Django.
                c.set("z", "again", &CookieOptions::new()).unwrap();
                "ok"
            }),
        )
        .route(
            "/sign",
            get(|c: Cookies| async move {
                let options = CookieOptions::new().httponly(true);
                c.set_signed("prefs", "dark mode", "ui", &options).unwrap();
                "ok"
            }),
        )
        .route(
            "/read-signed",
            get(|c: Cookies| async move {
                match c.get_signed("prefs", "ui", Some(60.0.into())) {
                    Ok(v) => format!("ok {v}"),
                    Err(SignedCookieError::Missing(_)) => "missing".to_owned(),
                    Err(SignedCookieError::BadSignature(_)) => "bad signature".to_owned(),
                    Err(e) => format!("error {e}"),
                }
            }),
        )
        .route(
            "/read-signed-or",
            get(|c: Cookies| async move {
                let v = c.get_signed_or("prefs", "ui", None, "default".to_owned());
                format!("{v:?}")
            }),
        )
        .route(
            "/refused",
            get(|c: Cookies| async move {
                c.set("ok", "1", &CookieOptions::new()).unwrap();
                // A __Host- cookie without Secure is dropped by browsers: refused here.
                match c.set("__Host-id", "1", &CookieOptions::new()) {
                    Err(CookieError::Policy { name, .. }) => format!("refused {name}"),
                    other => format!("unexpected {other:?}"),
                }
            }),
        )
        .route(
            "/unsigned",
            get(|c: Cookies| async move {
                let set = c.set_signed("s", "v", "", &CookieOptions::new());
                let get = c.get_signed_or("s", "", None, None::<String>);
                format!("{set:?} {get:?}")
            }),
        )
        .route("/untouched", get(|| async { "ok" }))
        .route(
            "/own-header",
            get(|c: Cookies| async move {
                c.set("from_jar", "1", &CookieOptions::new()).unwrap();
                ([(SET_COOKIE, "from_handler=1; Path=/")], "ok")
            }),
        )
        .layer(layer)
}

#[tokio::test]
async fn get_reads_request_cookies_like_django() {
    let app = app(CookieLayer::signed(&keys()));
    let (status, set, body) = send(&app, "/get", &["a=1; b=\"x\\073y\"", "a=2"]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(set.is_empty(), "reading sets nothing: {set:?}");
    // Several Cookie headers are read as one; the last value wins; values are unquoted.
    assert_eq!(body, r#"Some("2") Some("x;y") None"#);
    let (_, _, body) = send(&app, "/get", &[]).await;
    assert_eq!(body, "None None None");
}

#[tokio::test]
async fn set_writes_set_cookie_headers() {
    let app = app(CookieLayer::new());
    let (status, set, _) = send(&app, "/set", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(set, ["a=1; Path=/", r#"b="x\073y"; HttpOnly; Path=/"#]);
    // The browser sends them back and the handler reads what was set.
    let back: Vec<&str> = set.iter().map(|s| cookie_pair(s)).collect();
    let (_, _, body) = send(&app, "/get", &[&back.join("; ")]).await;
    assert_eq!(body, r#"Some("1") Some("x;y") None"#);
}

#[tokio::test]
async fn delete_expires_the_cookie() {
    let app = app(CookieLayer::new());
    let (_, set, _) = send(&app, "/delete", &["a=1"]).await;
    assert_eq!(
        set,
        [r#"a=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"#]
    );
}

#[tokio::test]
async fn multiple_set_cookie_headers_keep_first_set_order() {
    let app = app(CookieLayer::new());
    let (_, set, _) = send(&app, "/order", &[]).await;
    assert_eq!(
        set,
        [
            "z=again; Path=/",
            "y=y; Path=/",
            "x=x; Path=/",
            r#"w=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"#,
        ]
    );
}

#[tokio::test]
async fn signed_cookie_round_trip() {
    let app = app(CookieLayer::signed(&keys()));
    let (_, set, _) = send(&app, "/sign", &[]).await;
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set[0].ends_with("; HttpOnly; Path=/"), "{set:?}");
    let pair = cookie_pair(&set[0]);
    // The value is Django's: it verifies with a plain CookieSigner on the same key.
    let value = parse_cookie(pair)["prefs"].clone();
    assert!(value.starts_with("dark mode:"), "{value}");
    let signer = CookieSigner::new(&keys());
    assert_eq!(
        signer.unsign("prefs", &value, "ui", None).unwrap(),
        "dark mode"
    );

    let (_, set_again, body) = send(&app, "/read-signed", &[pair]).await;
    assert_eq!(body, "ok dark mode");
    assert!(set_again.is_empty());
    let (_, _, body) = send(&app, "/read-signed-or", &[pair]).await;
    assert_eq!(body, r#"Ok("dark mode")"#);
    let (_, _, body) = send(&app, "/read-signed", &[]).await;
    assert_eq!(body, "missing");
}

#[tokio::test]
async fn tampered_signed_cookie_is_rejected() {
    let app = app(CookieLayer::signed(&keys()));
    let (_, set, _) = send(&app, "/sign", &[]).await;
    let value = parse_cookie(cookie_pair(&set[0]))["prefs"].clone();
    let forged = value.replacen("dark", "lite", 1);
    let header = format!("prefs=\"{forged}\"");
    let (_, _, body) = send(&app, "/read-signed", &[&header]).await;
    assert_eq!(body, "bad signature");
    let (_, _, body) = send(&app, "/read-signed-or", &[&header]).await;
    assert_eq!(body, r#"Ok("default")"#);
    // Another key does not verify it either.
    let other = app_with_key("another secret");
    let (_, _, body) = send(&other, "/read-signed", &[cookie_pair(&set[0])]).await;
    assert_eq!(body, "bad signature");
}

fn app_with_key(key: &str) -> Router {
    app(CookieLayer::signed(&SecretKeys::new(key)))
}

#[tokio::test]
async fn rotated_key_still_verifies() {
    let old = app_with_key("old secret");
    let (_, set, _) = send(&old, "/sign", &[]).await;
    let new = app(CookieLayer::signed(
        &SecretKeys::new("new secret").with_fallbacks(["old secret"]),
    ));
    let (_, _, body) = send(&new, "/read-signed", &[cookie_pair(&set[0])]).await;
    assert_eq!(body, "ok dark mode");
}

#[tokio::test]
async fn legacy_salt_signer_is_used_for_writing() {
    let signer = CookieSigner::new(&keys()).write_legacy_salt(true);
    let app = app(CookieLayer::new().with_signer(signer));
    let (_, set, _) = send(&app, "/sign", &[]).await;
    let value = parse_cookie(cookie_pair(&set[0]))["prefs"].clone();
    // Django 6.1 defaults reject it; with the fallback it reads.
    let v2_only = CookieSigner::new(&keys());
    assert!(v2_only.unsign("prefs", &value, "ui", None).is_err());
    let fallback = CookieSigner::new(&keys()).legacy_salt_fallback(true);
    assert_eq!(
        fallback.unsign("prefs", &value, "ui", None).unwrap(),
        "dark mode"
    );
}

#[tokio::test]
async fn refused_cookie_is_an_error_not_a_dropped_header() {
    let app = app(CookieLayer::new());
    let (status, set, body) = send(&app, "/refused", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "refused __Host-id");
    assert_eq!(set, ["ok=1; Path=/"]);
}

#[tokio::test]
async fn lenient_policy_writes_what_django_would() {
    let app = app(CookieLayer::new().with_policy(CookiePolicy::lenient()));
    let (_, set, body) = send(&app, "/refused", &[]).await;
    assert_eq!(body, "unexpected Ok(())");
    assert_eq!(set, ["ok=1; Path=/", "__Host-id=1; Path=/"]);
}

#[tokio::test]
async fn lenient_policy_still_refuses_unwritable_headers() {
    let app = Router::new()
        .route(
            "/",
            get(|c: Cookies| async move {
                let options = CookieOptions::new().path("/\r\nX-Injected: 1");
                format!("{:?}", c.set("a", "1", &options))
            }),
        )
        .layer(CookieLayer::new().with_policy(CookiePolicy::lenient()));
    let (status, set, body) = send(&app, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(set.is_empty());
    assert!(body.contains("InvalidHeaderValue"), "{body}");
}

#[tokio::test]
async fn signed_methods_without_keys_fail_loudly() {
    let app = app(CookieLayer::new());
    let (_, set, body) = send(&app, "/unsigned", &["s=anything"]).await;
    assert!(set.is_empty());
    assert_eq!(
        body,
        r#"Err(NoSecretKey { name: "s" }) Err(Malformed(EmptyKey))"#
    );
    // An empty SECRET_KEY is the same configuration error, never a public-key signature.
    let app = app_with_key("");
    let (_, set, body) = send(&app, "/unsigned", &["s=anything"]).await;
    assert!(set.is_empty());
    assert_eq!(
        body,
        r#"Err(NoSecretKey { name: "s" }) Err(Malformed(EmptyKey))"#
    );
}

#[tokio::test]
async fn untouched_cookies_add_nothing() {
    let app = app(CookieLayer::signed(&keys()));
    let (status, set, body) = send(&app, "/untouched", &["a=1"]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    assert!(set.is_empty());
}

#[tokio::test]
async fn handler_headers_are_kept_and_jar_headers_follow() {
    let app = app(CookieLayer::new());
    let (_, set, _) = send(&app, "/own-header", &[]).await;
    assert_eq!(set, ["from_handler=1; Path=/", "from_jar=1; Path=/"]);
}

#[tokio::test]
async fn missing_layer_is_a_500() {
    let app: Router = Router::new().route("/", get(|_c: Cookies| async { "never" }));
    let (status, set, body) = send(&app, "/", &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(set.is_empty());
    assert!(body.contains("CookieLayer"), "{body}");
}
