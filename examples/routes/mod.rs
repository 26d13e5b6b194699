//! The bench routes, shared by `bench_server` (over HTTP), `request_loop` (in-process, for
//! callgrind) and `benches/session.rs` (criterion), so all three measure the same handlers.
//!
//! - `GET /plain`: `ok`; the session is never touched.
//! - `GET /read`: the integer `n` from the session.
//! - `GET /write`: increments `n` (one load, one save).
//! - `GET /create`: a new session with `n = 1` on every request.
//! - `GET /create4k`, `GET /create64k`: a new session with `n = 1` and a `cart` of products
//!   that makes its JSON ~4 KiB (40 items) or ~64 KiB (640 items). `/read` and `/write` on
//!   such a session load (and save) all of it: the big-session scenarios.
//!
//! A store failure is a 503, as a production handler would answer.

mod cart;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tessera::json::Value;
use tessera::Session;

async fn plain() -> &'static str {
    "ok"
}

async fn read(session: Session) -> Result<String, StatusCode> {
    let n: i64 = session
        .get("n")
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .unwrap_or(0);
    Ok(n.to_string())
}

async fn write(session: Session) -> Result<String, StatusCode> {
    let n: i64 = session
        .get("n")
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .unwrap_or(0)
        + 1;
    session
        .insert("n", &n)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(n.to_string())
}

async fn create(session: Session) -> Result<&'static str, StatusCode> {
    session
        .insert("n", &1)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok("1")
}

/// `n = 1` and a copy of `cart`: the values go in as they are, with no serde round trip.
async fn create_with_cart(session: Session, cart: &Value) -> Result<&'static str, StatusCode> {
    session
        .update([
            ("n".to_owned(), Value::from(1)),
            ("cart".to_owned(), cart.clone()),
        ])
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok("1")
}

async fn create4k(session: Session) -> Result<&'static str, StatusCode> {
    create_with_cart(session, &cart::CART_4K).await
}

async fn create64k(session: Session) -> Result<&'static str, StatusCode> {
    create_with_cart(session, &cart::CART_64K).await
}

/// The routes, without a session layer (the caller adds it, or not).
pub fn router() -> Router {
    Router::new()
        .route("/plain", get(plain))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/create", get(create))
        .route("/create4k", get(create4k))
        .route("/create64k", get(create64k))
}
