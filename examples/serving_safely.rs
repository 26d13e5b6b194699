//! An axum app with sessions, served with the limits a public server needs and `axum::serve`
//! does not set: a header-read timeout (also the keep-alive idle time), a request timeout, a
//! connection cap answered with an immediate 503, and a body limit in line with the session
//! budget. `tessera serve` does the same, and also closes the longest-idle connection for a
//! newcomer (cli/src/cli/connections.rs); docs/security.md ("Serving") explains each knob.
//!
//! ```sh
//! cargo run --example serving_safely     # http://127.0.0.1:3000/
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::routing::get;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tessera::store::memory::MemoryStore;
use tessera::{Session, SessionConfig, SessionError, SessionLayer};
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// Connections served at once: keep it under the process's file-descriptor limit
/// (`ulimit -n`), less what the store and the logs need.
const MAX_CONNECTIONS: usize = 1024;
/// A connection must send a whole request head within this, from connect and after each
/// response: slow or silent clients cannot hold connections.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole request (body read, handler, session saved) must finish within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

async fn visits(session: Session) -> Result<String, SessionError> {
    let n = session.get::<u64>("visits").await?.unwrap_or(0) + 1;
    session.insert("visits", &n).await?;
    Ok(format!("{n} visits\n"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = SessionConfig::default();
    // No body larger than a session may be stored: it could never be saved.
    let body_limit = DefaultBodyLimit::max(config.max_data_bytes);
    let store = MemoryStore::new().max_bytes(64 * 1024 * 1024);
    let app = Router::new()
        .route("/", get(visits))
        .layer(body_limit)
        .layer(SessionLayer::new(Arc::new(store), config)?);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors: wait for some to close rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Shed at once, without reading: the client retries later.
            let _ = stream.try_write(
                b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            );
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    let answer =
                        tokio::time::timeout(REQUEST_TIMEOUT, app.oneshot(req.map(Body::new)));
                    Ok::<_, std::convert::Infallible>(match answer.await {
                        Ok(Ok(response)) => response,
                        Ok(Err(never)) => match never {},
                        Err(_) => axum::response::IntoResponse::into_response(
                            http::StatusCode::REQUEST_TIMEOUT,
                        ),
                    })
                }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(slot);
        });
    }
}
