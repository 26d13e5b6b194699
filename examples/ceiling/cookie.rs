//! The signed cookie's ceiling. A cookie-held session has no store: its "store's work" is
//! Django's format itself, which every request that reads the session verifies and decodes,
//! and every request that writes it encodes and signs again (a new timestamp each time, so
//! nothing can be signed once at start-up). The routes call tessera's
//! [`SignedCookieSessions`] codec directly, with no session layer around it:
//!
//! - `/read`: verify and decode the cookie (`signing.loads` with the backend's salt and
//!   `SESSION_COOKIE_AGE`, plus the session's own expiry), answer its `n`. The backend's cache
//!   of decoded cookies is on, as it is behind tessera's layer: a cookie sent a third time is
//!   not verified again, only its age checked;
//! - `/write`: that, then `n + 1` encoded and signed into the new cookie;
//! - `/create`: `{"n": 1}` encoded and signed into a new cookie.
//!
//! So tessera ÷ this ceiling is what the session layer costs on top of the format, and this
//! ceiling ÷ a peer is how Django's format (zlib attempt, timestamp, salted HMAC-SHA256) weighs
//! against the peer's own.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tessera::backend::cookie::SignedCookieSessions;
use tessera::json::{Map, Value};
use tessera::signing::SecretKeys;
use tessera::SessionConfig;

use super::{now, plain, SessionCookie};

/// What the cookie routes share.
pub struct CookieCeiling {
    sessions: SignedCookieSessions,
    config: SessionConfig,
    cookie: SessionCookie,
}

impl CookieCeiling {
    /// Sessions signed with `keys`, in the cookie `config` names.
    pub fn new(
        keys: &SecretKeys,
        config: SessionConfig,
    ) -> Result<CookieCeiling, Box<dyn std::error::Error + Send + Sync>> {
        Ok(CookieCeiling {
            sessions: SignedCookieSessions::new(keys)?,
            cookie: SessionCookie::new(&config)?,
            config,
        })
    }

    /// The session the request's cookie holds, if it is valid (shared with the cache).
    fn session(&self, request: &Request, now: f64) -> Option<Arc<Map>> {
        let value = self.cookie.value(request.headers())?;
        self.sessions.decode_at(value, &self.config, now)
    }

    /// A 200 with `n` and a new cookie holding `data` (signed at `now`).
    fn answer_with(&self, data: &Map, n: i64, now: f64) -> Response {
        let value = self.sessions.encode_at(data, now);
        self.cookie.answer(Some(&value), n, now)
    }
}

/// `n` in `data` (0 when it holds none, as the bench route answers).
fn n_of(data: &Map) -> i64 {
    data.get("n").and_then(Value::as_i64).unwrap_or(0)
}

async fn read(State(ceiling): State<Arc<CookieCeiling>>, request: Request) -> Response {
    let now = now();
    let n = ceiling.session(&request, now).as_deref().map_or(0, n_of);
    ceiling.cookie.answer(None, n, now)
}

async fn write(State(ceiling): State<Arc<CookieCeiling>>, request: Request) -> Response {
    let now = now();
    // The cached dict is copied to be changed, as the session layer does.
    let mut data = ceiling
        .session(&request, now)
        .map(Arc::unwrap_or_clone)
        .unwrap_or_default();
    let n = n_of(&data) + 1;
    data.insert("n".to_owned(), Value::from(n));
    ceiling.answer_with(&data, n, now)
}

async fn create(State(ceiling): State<Arc<CookieCeiling>>) -> Response {
    let mut data = Map::new();
    data.insert("n".to_owned(), Value::from(1));
    ceiling.answer_with(&data, 1, now())
}

/// The four routes over `ceiling`.
pub fn router(ceiling: CookieCeiling) -> Router {
    Router::new()
        .route("/plain", get(plain))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/create", get(create))
        .with_state(Arc::new(ceiling))
}
