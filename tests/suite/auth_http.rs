//! The auth layer's promises over real HTTP requests through an axum app with the session and
//! CSRF layers and a real store: log in with a password, the user seen on the next request,
//! a session Django's `login()` wrote read as the same user, a password change logging every
//! session out, a fallback-key hash upgraded with the key cycled, logout, and the 401 of
//! `LoggedIn`.

use crate::common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::http::Reply;

use async_trait::async_trait;
use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use http::header::{CONTENT_TYPE, COOKIE};
use http::StatusCode;
use tessera::auth::password::{make_password, Algorithm, PasswordHasher};
use tessera::auth::{
    Auth, AuthConfig, AuthError, AuthLayer, LoggedIn, MaybeUser, User, UserSource, UserSourceError,
};
use tessera::csrf::{CsrfConfig, CsrfLayer};
use tessera::json::{Map, Value};
use tessera::messages::{MessagesConfig, MessagesLayer};
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::memory::MemoryStore;
use tessera::store::{Record, SessionStore};
use tessera::{SessionConfig, SessionLayer};

/// Few iterations: the tests check the flow, not PBKDF2's cost.
const HASHER: PasswordHasher = PasswordHasher {
    algorithm: Algorithm::Pbkdf2Sha256,
    iterations: 1000,
};

/// One user, "ada" (pk 42), whose password the test can change.
#[derive(Default)]
struct Users {
    password: Mutex<String>,
}

impl Users {
    fn with_password(raw: &str) -> Arc<Users> {
        let users = Arc::new(Users::default());
        users.set_password(raw);
        users
    }
    fn set_password(&self, raw: &str) {
        let encoded = make_password(raw, "tessera-test-salt-0001", HASHER.algorithm, Some(1000));
        *self.password.lock().unwrap() = encoded.unwrap();
    }
    fn ada(&self) -> User {
        User {
            id: "42".into(),
            password: self.password.lock().unwrap().clone(),
            is_active: true,
        }
    }
}

#[async_trait]
impl UserSource for Users {
    async fn user(&self, id: &str) -> Result<Option<User>, UserSourceError> {
        Ok((id == "42").then(|| self.ada()))
    }
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, UserSourceError> {
        Ok((username == "ada").then(|| self.ada()))
    }
}

async fn login(auth: Auth, body: String) -> Result<(StatusCode, String), AuthError> {
    let form = tessera::json::from_str(&body).unwrap_or_default();
    let username = form["username"].as_str().unwrap_or("");
    let password = form["password"].as_str().unwrap_or("");
    match auth.authenticate(username, password).await? {
        Some(user) => {
            auth.login(&user).await?;
            Ok((StatusCode::OK, user.id))
        }
        None => Ok((StatusCode::UNAUTHORIZED, "no".into())),
    }
}

async fn whoami(MaybeUser(user): MaybeUser) -> String {
    user.map_or("anonymous".into(), |u| format!("user {}", u.id))
}

async fn private(LoggedIn(user): LoggedIn) -> String {
    format!("hello {}", user.id)
}

async fn logout(auth: Auth) -> Result<&'static str, AuthError> {
    auth.logout().await?;
    Ok("bye")
}

fn app(store: Arc<dyn SessionStore>, users: Arc<Users>, keys: &SecretKeys) -> Router {
    let csrf = CsrfLayer::new(CsrfConfig::default())
        .unwrap()
        .exempt("/login")
        .exempt("/logout");
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/whoami", get(whoami))
        .route("/private", get(private))
        .route("/plain", get(|| async { "plain" }))
        .layer(AuthLayer::new(users, keys, AuthConfig::default()).password_hasher(HASHER))
        .layer(MessagesLayer::new(keys, MessagesConfig::default()).unwrap())
        .layer(csrf)
        .layer(SessionLayer::new(store, SessionConfig::default()).unwrap())
}

async fn send(app: &Router, method: &str, uri: &str, key: Option<&str>, body: &str) -> Reply {
    let mut req = http::Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header(COOKIE, format!("sessionid={k}"));
    }
    if !body.is_empty() {
        req = req.header(CONTENT_TYPE, "application/json");
    }
    common::http::reply(app, req.body(Body::from(body.to_owned())).unwrap()).await
}

/// `POST /login` as ada with `password`.
async fn try_login(app: &Router, username: &str, password: &str) -> Reply {
    let body = format!(r#"{{"username": "{username}", "password": "{password}"}}"#);
    send(app, "POST", "/login", None, &body).await
}

/// Logs ada in; her session key.
async fn log_in(app: &Router) -> String {
    let reply = try_login(app, "ada", "correct horse").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, "42");
    // Django's login rotates the CSRF secret: the response carries the new one.
    assert_eq!(reply.cookie("csrftoken").map(|c| c.len()), Some(32));
    reply.cookie("sessionid").expect("a session cookie")
}

#[tokio::test]
async fn a_login_is_seen_on_the_next_request_and_logout_ends_it() {
    let store = Arc::new(MemoryStore::new());
    let keys = SecretKeys::new("auth-http-secret");
    let app = app(
        store.clone() as Arc<dyn SessionStore>,
        Users::with_password("correct horse"),
        &keys,
    );

    let wrong = try_login(&app, "ada", "wrong").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let nobody = try_login(&app, "bob", "x").await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&app, "GET", "/private", None, "").await.status,
        StatusCode::UNAUTHORIZED
    );

    let key = log_in(&app).await;
    assert_eq!(
        send(&app, "GET", "/whoami", Some(&key), "").await.body,
        "user 42"
    );
    assert_eq!(
        send(&app, "GET", "/private", Some(&key), "").await.body,
        "hello 42"
    );

    // The stored session holds Django's three keys, the id as a string.
    let stored = store
        .load(&SessionKey::parse(&key).unwrap(), tessera::time::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.data["_auth_user_id"], Value::Str("42".into()));
    assert_eq!(
        stored.data["_auth_user_backend"],
        Value::Str("django.contrib.auth.backends.ModelBackend".into())
    );
    assert_eq!(
        stored.data["_auth_user_hash"].as_str().map(str::len),
        Some(64)
    );

    let out = send(&app, "POST", "/logout", Some(&key), "").await;
    assert_eq!(
        out.cookie("sessionid").as_deref(),
        Some(""),
        "the cookie is deleted"
    );
    assert_eq!(
        send(&app, "GET", "/whoami", Some(&key), "").await.body,
        "anonymous"
    );
}

#[tokio::test]
async fn logging_in_from_an_anonymous_session_gives_it_a_new_key_and_keeps_its_data() {
    let store = Arc::new(MemoryStore::new());
    let keys = SecretKeys::new("auth-http-secret");
    let app = app(
        store.clone() as Arc<dyn SessionStore>,
        Users::with_password("correct horse"),
        &keys,
    );
    let anonymous = SessionKey::generate().unwrap();
    let mut data = Map::new();
    data.insert("cart".into(), Value::List(vec![Value::Int(7)]));
    let now = tessera::time::now();
    let record = Record {
        data: &data,
        expires_at: now + 600.0,
        now,
    };
    store.create(&anonymous, record).await.unwrap();

    let reply = send(
        &app,
        "POST",
        "/login",
        Some(anonymous.as_str()),
        r#"{"username": "ada", "password": "correct horse"}"#,
    )
    .await;
    let key = reply.cookie("sessionid").expect("a new session cookie");
    assert_ne!(key, anonymous.as_str(), "against session fixation");
    assert!(store.load(&anonymous, now).await.unwrap().is_none());
    let new = store
        .load(&SessionKey::parse(&key).unwrap(), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new.data["cart"], Value::List(vec![Value::Int(7)]));
}

/// What Django's `login()` stores for ada, with `SECRET_KEY` `secret`.
async fn django_login(store: &MemoryStore, users: &Users, secret: &str) -> SessionKey {
    let key = SessionKey::generate().unwrap();
    let mut data = Map::new();
    data.insert("_auth_user_id".into(), Value::Str("42".into()));
    data.insert(
        "_auth_user_backend".into(),
        Value::Str("django.contrib.auth.backends.ModelBackend".into()),
    );
    data.insert(
        "_auth_user_hash".into(),
        Value::Str(users.ada().session_auth_hash(&SecretKeys::new(secret))),
    );
    let now = tessera::time::now();
    let record = Record {
        data: &data,
        expires_at: now + 600.0,
        now,
    };
    store.create(&key, record).await.unwrap();
    key
}

#[tokio::test]
async fn a_password_change_logs_every_session_out() {
    let store = Arc::new(MemoryStore::new());
    let keys = SecretKeys::new("auth-http-secret");
    let users = Users::with_password("correct horse");
    let app = app(store.clone() as Arc<dyn SessionStore>, users.clone(), &keys);
    let by_django = django_login(&store, &users, "auth-http-secret").await;
    let by_tessera = log_in(&app).await;
    for key in [by_django.as_str(), by_tessera.as_str()] {
        assert_eq!(
            send(&app, "GET", "/whoami", Some(key), "").await.body,
            "user 42"
        );
    }

    users.set_password("battery staple");
    for key in [by_django.as_str(), by_tessera.as_str()] {
        let reply = send(&app, "GET", "/whoami", Some(key), "").await;
        assert_eq!(reply.body, "anonymous");
        // Flushed, as Django's get_user does: the record is gone and the cookie deleted.
        assert_eq!(reply.cookie("sessionid").as_deref(), Some(""));
        let gone = store
            .load(&SessionKey::parse(key).unwrap(), tessera::time::now())
            .await
            .unwrap();
        assert!(gone.is_none());
    }
}

#[tokio::test]
async fn a_hash_made_with_a_fallback_key_is_upgraded_and_the_key_cycled() {
    let store = Arc::new(MemoryStore::new());
    let users = Users::with_password("correct horse");
    let old = django_login(&store, &users, "the-old-secret").await;
    let rotated = SecretKeys::new("the-new-secret").with_fallbacks(["the-old-secret"]);
    let app = app(
        store.clone() as Arc<dyn SessionStore>,
        users.clone(),
        &rotated,
    );

    let reply = send(&app, "GET", "/whoami", Some(old.as_str()), "").await;
    assert_eq!(reply.body, "user 42");
    let new = reply.cookie("sessionid").expect("the key is cycled");
    assert_ne!(new, old.as_str());
    let stored = store
        .load(&SessionKey::parse(&new).unwrap(), tessera::time::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.data["_auth_user_hash"],
        Value::Str(
            users
                .ada()
                .session_auth_hash(&SecretKeys::new("the-new-secret"))
        )
    );
    // Without the fallback, the old hash is no login at all.
    let strict = app_without_fallback(store.clone() as Arc<dyn SessionStore>, users.clone());
    let other = django_login(&store, &users, "the-old-secret").await;
    assert_eq!(
        send(&strict, "GET", "/whoami", Some(other.as_str()), "")
            .await
            .body,
        "anonymous"
    );
}

fn app_without_fallback(store: Arc<dyn SessionStore>, users: Arc<Users>) -> Router {
    app(store, users, &SecretKeys::new("the-new-secret"))
}

#[tokio::test]
async fn a_handler_without_the_session_layer_is_told_so() {
    let keys = SecretKeys::new("auth-http-secret");
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(AuthLayer::new(
            Users::with_password("x"),
            &keys,
            AuthConfig::default(),
        ));
    let reply = send(&app, "GET", "/whoami", None, "").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.body.contains("SessionLayer"), "{}", reply.body);
}

/// With every layer on (session, CSRF, messages, auth), a logged-in visitor's request whose
/// handler touches none of them costs no store call and sends no cookie.
#[tokio::test]
async fn a_request_that_touches_nothing_costs_no_store_io() {
    let probe = Arc::new(common::probe::Probe::default());
    let keys = SecretKeys::new("auth-http-secret");
    let app = app(probe.clone(), Users::with_password("correct horse"), &keys);
    let key = log_in(&app).await;
    let before = probe.calls.load(Ordering::SeqCst);
    let reply = send(&app, "GET", "/plain", Some(&key), "").await;
    assert_eq!(reply.body, "plain");
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
    assert_eq!(probe.calls.load(Ordering::SeqCst), before, "no store call");
    // The user lookup is the first touch: one load.
    assert_eq!(
        send(&app, "GET", "/whoami", Some(&key), "").await.body,
        "user 42"
    );
    assert_eq!(probe.calls.load(Ordering::SeqCst), before + 1);
}
