//! The HTTP benchmark server: an axum app with tessera's session layer and four routes, run
//! beside the peers by `../shared/bench-peers/run.py` (see docs/performance.md).
//!
//! ```sh
//! TESSERA_SECRET_KEY=… cargo run --release --example bench_server -- --addr 127.0.0.1:8080 --store memory://
//! ```
//!
//! - `GET /plain`: `ok`; the session is never touched.
//! - `GET /read`: the integer `n` from the session.
//! - `GET /write`: increments `n` (one load, one save).
//! - `GET /create`: a new session with `n = 1` on every request.
//!
//! Production settings, production store code; no per-request logging.

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tessera::signing::SecretKeys;
use tessera::{Session, SessionConfig};

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

fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == name {
            return args.next();
        }
        if let Some(v) = a.strip_prefix(&format!("{name}=")) {
            return Some(v.to_owned());
        }
    }
    None
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = arg("--addr").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let store_url = arg("--store").unwrap_or_else(|| "memory://".to_owned());
    let secret = std::env::var("TESSERA_SECRET_KEY").map_err(|_| "set TESSERA_SECRET_KEY")?;
    let sessions = tessera::store::url::open(&store_url, &SecretKeys::new(secret)).await?;
    sessions.migrate().await?;
    // Plain HTTP on loopback: Secure stays off, as in the peers.
    let layer = sessions.layer(SessionConfig::from_env()?);
    let app = Router::new()
        .route("/plain", get(plain))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/create", get(create))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
