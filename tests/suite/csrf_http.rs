//! The CSRF layer's promises, each shown over real HTTP requests through an axum app: the
//! form round trip (urlencoded and multipart, the body reaching the handler intact), the
//! header for scripts, refusals with Django's reasons, exemptions, rotation by a handler and
//! by login code, and the secret in the session behind a real `SessionLayer`.

use crate::common;

use std::sync::Arc;

use common::http::Reply;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{from_fn, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE, VARY};
use http::StatusCode;
use tessera::cookie::{CookieLayer, CookieOptions, Cookies};
use tessera::csrf::{mask, CsrfConfig, CsrfExempt, CsrfLayer, CsrfToken, RandomUnavailable};
use tessera::store::memory::MemoryStore;
use tessera::{Session, SessionConfig, SessionLayer};

const FORM: &str = "application/x-www-form-urlencoded";

async fn form_page(csrf: CsrfToken) -> Result<String, RandomUnavailable> {
    csrf.get_token()
}

/// Echoes the body the handler received.
async fn echo(body: String) -> String {
    body
}

async fn rotate(csrf: CsrfToken) -> Result<&'static str, RandomUnavailable> {
    csrf.rotate()?;
    Ok("rotated")
}

fn routes() -> Router {
    Router::new()
        .route("/form", get(form_page))
        .route("/submit", post(echo).put(echo))
        .route("/hook", post(echo))
        .route("/rotate", post(rotate))
}

fn app(config: CsrfConfig) -> Router {
    routes().layer(CsrfLayer::new(config).unwrap().exempt("/hook"))
}

async fn send(app: &Router, req: http::Request<Body>) -> Reply {
    common::http::reply(app, req).await
}

fn post_to(uri: &str) -> http::request::Builder {
    http::Request::post(uri).header("host", "example.com")
}

/// GET the form page: the token it shows and the `csrftoken` cookie it set.
async fn fetch_form(app: &Router) -> (String, String) {
    let reply = send(
        app,
        http::Request::get("/form").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[VARY], "Cookie");
    let cookie = reply.cookie("csrftoken").expect("the secret is sent");
    assert_eq!(cookie.len(), 32);
    assert_eq!(reply.body.len(), 64, "a masked token");
    (reply.body, cookie)
}

#[tokio::test]
async fn a_form_round_trip_passes_and_the_handler_gets_the_body() {
    let app = app(CsrfConfig::default());
    let (token, secret) = fetch_form(&app).await;
    let body = format!("comment=hello+world&csrfmiddlewaretoken={token}");
    let reply = send(
        &app,
        post_to("/submit")
            .header(CONTENT_TYPE, FORM)
            .header(COOKIE, format!("csrftoken={secret}"))
            .header(ORIGIN, "http://example.com")
            .body(Body::from(body.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, body, "the body reaches the handler intact");
    assert!(
        reply.headers.get(SET_COOKIE).is_none(),
        "nothing asked for the secret"
    );
}

#[tokio::test]
async fn a_multipart_form_passes_and_keeps_its_file() {
    let app = app(CsrfConfig::default());
    let (token, secret) = fetch_form(&app).await;
    let body = format!(
        "--b0undary\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\n\r\nfile bytes\r\n--b0undary\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\n{token}\r\n--b0undary--\r\n"
    );
    let send_with = |token_body: String| {
        post_to("/submit")
            .header(CONTENT_TYPE, "multipart/form-data; boundary=b0undary")
            .header(COOKIE, format!("csrftoken={secret}"))
            .body(Body::from(token_body))
            .unwrap()
    };
    let reply = send(&app, send_with(body.clone())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, body);
    // The token in the file part does not count.
    let only_file = body.replace("name=\"csrfmiddlewaretoken\"", "name=\"other\"");
    let reply = send(&app, send_with(only_file)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body.contains("CSRF token missing."), "{}", reply.body);
}

#[tokio::test]
async fn scripts_send_the_header_with_any_body() {
    let app = app(CsrfConfig::default());
    let (token, secret) = fetch_form(&app).await;
    for method in ["POST", "PUT"] {
        let reply = send(
            &app,
            post_to("/submit")
                .method(method)
                .header(CONTENT_TYPE, "application/json")
                .header(COOKIE, format!("csrftoken={secret}"))
                .header("X-CSRFToken", &token)
                .body(Body::from(r#"{"a": 1}"#))
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{method}: {}", reply.body);
        assert_eq!(reply.body, r#"{"a": 1}"#);
    }
}

#[tokio::test]
async fn refusals_are_403s_with_django_s_reason() {
    let app = app(CsrfConfig::default());
    let (token, secret) = fetch_form(&app).await;
    let cases = [
        (None, None, None, "CSRF cookie not set."),
        (Some(secret.as_str()), None, None, "CSRF token missing."),
        (
            Some(secret.as_str()),
            Some("x".repeat(64)),
            None,
            "CSRF token from POST incorrect.",
        ),
        (
            Some(secret.as_str()),
            Some(token.clone()),
            Some("http://evil.example"),
            "Origin checking failed - http://evil.example does not match any trusted origins.",
        ),
        (
            Some("bad!"),
            Some(token.clone()),
            None,
            "CSRF cookie has incorrect length.",
        ),
    ];
    for (cookie, form_token, origin, reason) in cases {
        let mut req = post_to("/submit").header(CONTENT_TYPE, FORM);
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, format!("csrftoken={cookie}"));
        }
        if let Some(origin) = origin {
            req = req.header(ORIGIN, origin);
        }
        let body = form_token
            .map(|t| format!("csrfmiddlewaretoken={t}"))
            .unwrap_or_default();
        let reply = send(&app, req.body(Body::from(body)).unwrap()).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reason}");
        assert!(reply.body.contains(reason), "{reason}: {}", reply.body);
        // A malformed cookie is replaced even though the request is refused.
        assert_eq!(reply.cookie("csrftoken").is_some(), cookie == Some("bad!"));
    }
}

#[tokio::test]
async fn https_needs_a_matching_referer_when_no_origin_is_sent() {
    let app = app(CsrfConfig {
        secure_proxy_ssl_header: Some(("X-Forwarded-Proto".into(), "https".into())),
        ..CsrfConfig::default()
    });
    let (token, secret) = fetch_form(&app).await;
    let post_with = |referer: Option<&str>| {
        let mut req = post_to("/submit")
            .header("X-Forwarded-Proto", "https")
            .header(COOKIE, format!("csrftoken={secret}"))
            .header("X-CSRFToken", &token);
        if let Some(referer) = referer {
            req = req.header(http::header::REFERER, referer);
        }
        req.body(Body::empty()).unwrap()
    };
    let reply = send(&app, post_with(None)).await;
    assert!(reply.body.contains("Referer checking failed - no Referer."));
    let reply = send(&app, post_with(Some("https://evil.example/"))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = send(&app, post_with(Some("https://example.com/form"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn exempt_routes_skip_the_checks() {
    let app = app(CsrfConfig::default());
    let reply = send(&app, post_to("/hook").body(Body::from("payload")).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "payload");
    // The same request elsewhere is refused; an outer layer can exempt it too.
    let reply = send(
        &app,
        post_to("/submit").body(Body::from("payload")).unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let exempt_all = app.layer(axum::Extension(CsrfExempt));
    let reply = send(
        &exempt_all,
        post_to("/submit").body(Body::from("payload")).unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn rotation_replaces_the_secret_and_old_tokens_stop_working() {
    let app = app(CsrfConfig::default());
    let (token, secret) = fetch_form(&app).await;
    let post_token = |path: &str, secret: &str, token: &str| {
        post_to(path)
            .header(COOKIE, format!("csrftoken={secret}"))
            .header("X-CSRFToken", token)
            .body(Body::empty())
            .unwrap()
    };
    let reply = send(&app, post_token("/rotate", &secret, &token)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let new_secret = reply.cookie("csrftoken").expect("the new secret is sent");
    assert_ne!(new_secret, secret);
    let reply = send(&app, post_token("/submit", &new_secret, &token)).await;
    assert!(reply
        .body
        .contains("CSRF token from the 'X-Csrftoken' HTTP header incorrect."));
    let reply = send(&app, post_token("/submit", &new_secret, &new_secret)).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the bare secret is a token too"
    );
}

/// What auth's `login` will do: rotate the secret from Rust code that holds the request.
async fn login_middleware(req: Request, next: Next) -> Response {
    if req.uri().path() == "/login" {
        if let Some(csrf) = req.extensions().get::<CsrfToken>() {
            csrf.rotate().expect("a new secret");
        }
    }
    next.run(req).await
}

#[tokio::test]
async fn login_code_rotates_through_the_request_extensions() {
    let app = Router::new()
        .route("/login", post(|| async { "welcome" }))
        .layer(from_fn(login_middleware))
        .layer(CsrfLayer::new(CsrfConfig::default()).unwrap());
    let secret = "ZxzychBDhjhAM2g0FyIF3wcwrJpXFdja";
    let reply = send(
        &app,
        post_to("/login")
            .header(COOKIE, format!("csrftoken={secret}"))
            .header("X-CSRFToken", secret)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let rotated = reply.cookie("csrftoken").expect("rotated");
    assert_ne!(rotated, secret);
}

#[tokio::test]
async fn a_legacy_masked_cookie_still_works() {
    let app = app(CsrfConfig::default());
    let secret = "ZxzychBDhjhAM2g0FyIF3wcwrJpXFdja";
    let legacy = mask(secret, "dFYtE8aTMUAHwF3bjut2u1Y4a1U0l43s").unwrap();
    let reply = send(
        &app,
        post_to("/submit")
            .header(COOKIE, format!("csrftoken={legacy}"))
            .header("X-CSRFToken", secret)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn an_oversized_form_is_refused_before_the_handler() {
    let app = app(CsrfConfig {
        max_form_bytes: 100,
        ..CsrfConfig::default()
    });
    let (token, secret) = fetch_form(&app).await;
    let body = format!("csrfmiddlewaretoken={token}&pad={}", "x".repeat(200));
    let req = |body: String| {
        post_to("/submit")
            .header(CONTENT_TYPE, FORM)
            .header(COOKIE, format!("csrftoken={secret}"))
            .body(Body::from(body))
            .unwrap()
    };
    let reply = send(&app, req(body)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // Without Content-Length too (a streamed body).
    let stream = futures_stream(format!(
        "csrfmiddlewaretoken={token}&pad={}",
        "x".repeat(200)
    ));
    let reply = send(
        &app,
        post_to("/submit")
            .header(CONTENT_TYPE, FORM)
            .header(COOKIE, format!("csrftoken={secret}"))
            .body(stream)
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = send(&app, req(format!("csrfmiddlewaretoken={token}"))).await;
    assert_eq!(reply.status, StatusCode::OK);
}

/// A body in 10-byte frames with no length known in advance.
struct Trickle(std::collections::VecDeque<axum::body::Bytes>);

impl http_body::Body for Trickle {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }
}

fn futures_stream(text: String) -> Body {
    let chunks = text
        .into_bytes()
        .chunks(10)
        .map(axum::body::Bytes::copy_from_slice)
        .collect();
    Body::new(Trickle(chunks))
}

#[tokio::test]
async fn the_secret_lives_in_the_session_behind_a_real_session_layer() {
    let store = Arc::new(MemoryStore::new());
    let sessions = SessionLayer::new(store, SessionConfig::default()).unwrap();
    let app = routes()
        .layer(
            CsrfLayer::new(CsrfConfig {
                use_sessions: true,
                ..CsrfConfig::default()
            })
            .unwrap(),
        )
        .layer(sessions);
    let reply = send(
        &app,
        http::Request::get("/form").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.cookie("csrftoken").is_none(),
        "no CSRF cookie with sessions"
    );
    let session = reply.cookie("sessionid").expect("the session was saved");
    let token = reply.body;
    let post_with = |token: &str| {
        post_to("/submit")
            .header(CONTENT_TYPE, FORM)
            .header(COOKIE, format!("sessionid={session}"))
            .body(Body::from(format!("csrfmiddlewaretoken={token}")))
            .unwrap()
    };
    let reply = send(&app, post_with(&token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = send(&app, post_with(&"A".repeat(64))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sessions_without_a_session_layer_are_a_server_error() {
    let app = app(CsrfConfig {
        use_sessions: true,
        ..CsrfConfig::default()
    });
    let reply = send(
        &app,
        http::Request::get("/form").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn composes_with_the_cookie_layer() {
    async fn both(cookies: Cookies, csrf: CsrfToken) -> Result<String, RandomUnavailable> {
        let _ = cookies.set("theme", "dark", &CookieOptions::new());
        csrf.get_token()
    }
    let app = Router::new()
        .route("/", get(both))
        .layer(CsrfLayer::new(CsrfConfig::default()).unwrap())
        .layer(CookieLayer::new());
    let reply = send(&app, http::Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.cookie("theme").as_deref(), Some("dark"));
    assert!(reply.cookie("csrftoken").is_some());
}

#[tokio::test]
async fn the_extractor_without_the_layer_is_a_server_error() {
    let app = Router::new().route("/form", get(form_page));
    let reply = send(
        &app,
        http::Request::get("/form").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.body.contains("CsrfLayer"));
}

#[tokio::test]
async fn a_session_handle_is_reachable_from_csrf_routes() {
    // The session and the CSRF state are both in the request: a handler can use both.
    async fn both(session: Session, csrf: CsrfToken) -> Result<String, RandomUnavailable> {
        let _ = session.insert("seen", &true).await;
        csrf.get_token()
    }
    let app = Router::new()
        .route("/", get(both))
        .layer(CsrfLayer::new(CsrfConfig::default()).unwrap())
        .layer(SessionLayer::new(Arc::new(MemoryStore::new()), SessionConfig::default()).unwrap());
    let reply = send(&app, http::Request::get("/").body(Body::empty()).unwrap()).await;
    assert!(reply.cookie("sessionid").is_some());
    assert!(reply.cookie("csrftoken").is_some());
}
