//! The ceiling's four routes: the bench routes' answers (same status, body and headers as
//! `examples/routes` behind tessera's session layer), made by running tessera's store
//! statements for each route directly, with no session layer.
//!
//! - `GET /plain`: `ok`, nothing else (the HTTP cost every other route adds to).
//! - `GET /read`: the session's `n` (0 without a valid cookie or a live row), `Vary: Cookie`.
//! - `GET /write`: load, then the compare-and-swap to the next text (reloading when another
//!   request swapped first, as tessera does); the new `n`, the session cookie again and
//!   `Vary: Cookie`. Without a session it creates one, as tessera does.
//! - `GET /create`: a new key, an insert-only write of `{"n": 1}`, `1`, the new cookie and
//!   `Vary: Cookie`.
//!
//! A store failure is a 503, as with the bench routes. Not reproduced: the cookie that deletes
//! an invalid session cookie (tessera sends one when a request brings a key with no live
//! session); the harness never sends one.

mod cookie;
mod handle_layer;
mod memory;
mod payload;
mod postgres;
mod redis;
mod sqlite;
mod store;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{COOKIE, SET_COOKIE, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tessera::cookie::SetCookieTemplate;
use tessera::session::codec::SessionCodec;
use tessera::session::{SessionConfig, SessionKey};

pub use self::cookie::{router as cookie_router, CookieCeiling};
pub use self::handle_layer::with_handle_layer;
use self::payload::Payloads;
pub use self::store::RawStore;

/// `app` wrapped in a layer that does nothing, applied as a session layer is
/// (`Router::layer`), when `on`: what being a tower layer costs in axum, which every session
/// layer pays and the bare routes do not.
pub fn with_noop_layer(app: Router, on: bool) -> Router {
    if on {
        app.layer(tower::util::MapResponseLayer::new(|response: Response| {
            response
        }))
    } else {
        app
    }
}

/// Draws of a fresh key before giving up, as tessera's create.
const KEY_DRAWS: usize = 8;

/// The session cookie as the routes read and write it (`SessionConfig`'s name and attributes).
pub struct SessionCookie {
    name: String,
    template: SetCookieTemplate,
    /// `SESSION_COOKIE_AGE` in seconds: the cookie's max age and each write's expiry.
    age: f64,
}

impl SessionCookie {
    fn new(config: &SessionConfig) -> Result<SessionCookie, tessera::cookie::CookieError> {
        Ok(SessionCookie {
            name: config.cookie_name.clone(),
            template: config.cookie_template()?,
            age: config.cookie_age.as_secs_f64(),
        })
    }

    /// The session cookie's value in the request, if it sent one.
    fn value<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.name)
            .map(|(_, value)| value)
    }

    /// A 200 with `n`, `Vary: Cookie`, and the session cookie set to `value` when given.
    fn answer(&self, value: Option<&str>, n: i64, now: f64) -> Response {
        let mut response = n.to_string().into_response();
        let headers = response.headers_mut();
        if let Some(value) = value {
            let cookie = self.template.render(value, self.age, now);
            match HeaderValue::try_from(cookie) {
                Ok(value) => headers.insert(SET_COOKIE, value),
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            };
        }
        headers.insert(VARY, HeaderValue::from_static("Cookie"));
        response
    }
}

/// Everything the routes share.
pub struct Ceiling {
    store: RawStore,
    payloads: Payloads,
    cookie: SessionCookie,
    max_save_retries: u32,
}

impl Ceiling {
    /// The routes' state: `store`, texts signed with `codec` (on each write when
    /// `encode_each`), and the cookie `config` names.
    pub fn new(
        store: RawStore,
        codec: &SessionCodec,
        encode_each: bool,
        config: &SessionConfig,
    ) -> Result<Ceiling, tessera::cookie::CookieError> {
        Ok(Ceiling {
            store,
            payloads: Payloads::new(codec, encode_each),
            cookie: SessionCookie::new(config)?,
            max_save_retries: config.max_save_retries,
        })
    }

    /// The session key in the request's cookies, if there is a valid one.
    fn session_key(&self, headers: &HeaderMap) -> Option<SessionKey> {
        self.cookie.value(headers).and_then(SessionKey::parse)
    }

    /// A 200 with `n`, `Vary: Cookie`, and the session cookie for `key` when given.
    fn answer(&self, key: Option<&SessionKey>, n: i64, now: f64) -> Response {
        self.cookie.answer(key.map(SessionKey::as_str), n, now)
    }

    /// A new session holding `{"n": 1}` under a fresh key.
    async fn create_session(&self, now: f64) -> Response {
        let (text, n) = self.payloads.created(now);
        for _ in 0..KEY_DRAWS {
            let Ok(key) = SessionKey::generate() else {
                break;
            };
            match self
                .store
                .create(key.as_str(), &text, now + self.cookie.age)
                .await
            {
                Ok(true) => return self.answer(Some(&key), n, now),
                Ok(false) => continue,
                Err(_) => break,
            }
        }
        unavailable()
    }
}

fn unavailable() -> Response {
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

/// The request's clock, as the session layer reads it.
fn now() -> f64 {
    tessera::time::now()
}

async fn plain() -> &'static str {
    "ok"
}

async fn read(State(ceiling): State<Arc<Ceiling>>, request: Request) -> Response {
    let now = now();
    let Some(key) = ceiling.session_key(request.headers()) else {
        return ceiling.answer(None, 0, now);
    };
    match ceiling.store.load(key.as_str(), now).await {
        Ok(stored) => {
            let n = stored.map_or(0, |text| ceiling.payloads.n_of(&text));
            ceiling.answer(None, n, now)
        }
        Err(_) => unavailable(),
    }
}

async fn write(State(ceiling): State<Arc<Ceiling>>, request: Request) -> Response {
    let now = now();
    let Some(key) = ceiling.session_key(request.headers()) else {
        return ceiling.create_session(now).await;
    };
    for _ in 0..=ceiling.max_save_retries {
        let stored = match ceiling.store.load(key.as_str(), now).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return ceiling.create_session(now).await,
            Err(_) => return unavailable(),
        };
        let (text, n) = ceiling.payloads.after(&stored, now);
        match ceiling
            .store
            .save(key.as_str(), &text, &stored, now + ceiling.cookie.age)
            .await
        {
            Ok(true) => return ceiling.answer(Some(&key), n, now),
            // Another request swapped first: start again from its text.
            Ok(false) => tokio::task::yield_now().await,
            Err(_) => return unavailable(),
        }
    }
    unavailable()
}

async fn create(State(ceiling): State<Arc<Ceiling>>) -> Response {
    ceiling.create_session(now()).await
}

/// The four routes over `store`, with texts signed with `keys` (on each write when
/// `encode_each`) and the session cookie `config` names.
pub fn store_router(
    store: RawStore,
    keys: &tessera::signing::SecretKeys,
    encode_each: bool,
    config: &SessionConfig,
) -> Result<Router, Box<dyn std::error::Error + Send + Sync>> {
    let codec = SessionCodec::new(keys)?;
    Ok(router(Ceiling::new(store, &codec, encode_each, config)?))
}

/// The four routes over `ceiling`.
pub fn router(ceiling: Ceiling) -> Router {
    Router::new()
        .route("/plain", get(plain))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/create", get(create))
        .with_state(Arc::new(ceiling))
}
