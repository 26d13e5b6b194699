//! The bench routes, shared by `bench_server` (over HTTP), `request_loop` (in-process, for
//! callgrind) and `benches/session.rs` (criterion), so all three measure the same handlers.
//!
//! - `GET /plain`: `ok`; the session is never touched.
//! - `GET /read`: the integer `n` from the session.
//! - `GET /write`: increments `n` (one load, one save).
//! - `GET /create`: a new session with `n = 1` on every request.
//!
//! A store failure is a 503, as a production handler would answer.

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
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

/// The four routes, without a session layer (the caller adds it, or not).
pub fn router() -> Router {
    Router::new()
        .route("/plain", get(plain))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/create", get(create))
}
