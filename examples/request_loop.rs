//! Drives N requests of one bench route through the Router in-process (no HTTP sockets), for
//! instruction counts that do not depend on a noisy machine:
//!
//! ```sh
//! cargo build --release --example request_loop
//! valgrind --tool=callgrind target/release/examples/request_loop write 20000
//! valgrind --tool=callgrind target/release/examples/request_loop read 20000 --store redis://127.0.0.1:6379
//! ```
//! Divide the total instruction count by N (the one-off setup is under 1 %). Routes: `plain`
//! (a valid cookie, session untouched), `plain-no-cookie`, `read`, `write`, `create`, and `bare`
//! and `bare-no-cookie` (no session layer at all: the floors of `plain` and `plain-no-cookie`).
//! The store is the memory store unless `--store` names another (then the count is this
//! process's side only: the server's work is not in it).

mod routes;

use axum::body::Body;
use http::{header, Request, StatusCode};
use tessera::signing::SecretKeys;
use tessera::store::StoreError;
use tessera::url::Sessions;
use tessera::{SessionConfig, SessionLayer};
use tower::ServiceExt;

/// The request to repeat.
#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Route {
    /// `/plain` with no session layer at all, with the cookie `plain` sends: its floor.
    Bare,
    /// `/plain` with no session layer and no cookie: the floor of `plain-no-cookie`.
    BareNoCookie,
    /// `/plain` with a valid cookie; the session is never touched.
    Plain,
    /// `/plain` without a cookie, as the HTTP runs send it.
    PlainNoCookie,
    Read,
    Write,
    Create,
}

#[derive(clap::Parser)]
struct Args {
    #[arg(value_enum, default_value = "write")]
    route: Route,
    /// How many requests.
    #[arg(default_value_t = 20_000)]
    count: usize,
    /// Any store URL the library accepts.
    #[arg(long, default_value = "memory://")]
    store: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Args {
        route,
        count,
        store,
    } = <Args as clap::Parser>::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let routes = routes::router();
    let sessions = rt
        .block_on(open(&store))
        .map_err(|e| format!("--store {store}: {e}"))?;
    let layered = routes.clone().layer(SessionLayer::from_sessions(
        &sessions,
        SessionConfig::default(),
    )?);
    let app = if matches!(route, Route::Bare | Route::BareNoCookie) {
        routes
    } else {
        layered
    };
    // What `axum::serve` does once: without it, the router would apply the layer to its
    // routes again on every request, allocations a served app never pays.
    let app = app.with_state::<()>(());
    let call = |path: &str, cookie: Option<&str>| {
        let mut request = Request::builder().uri(path);
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, c);
        }
        let request = request.body(Body::empty()).expect("request");
        rt.block_on(app.clone().oneshot(request))
            .expect("infallible")
    };
    let created = call("/create", None);
    let cookie = created
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("sessionid=none")
        .to_owned();
    let (path, cookie) = match route {
        Route::Create => ("/create", None),
        Route::Bare | Route::Plain => ("/plain", Some(cookie.as_str())),
        Route::BareNoCookie | Route::PlainNoCookie => ("/plain", None),
        Route::Read => ("/read", Some(cookie.as_str())),
        Route::Write => ("/write", Some(cookie.as_str())),
    };
    for _ in 0..count {
        let status = call(path, cookie).status();
        if status != StatusCode::OK {
            return Err(format!("{path} answered {status}").into());
        }
    }
    Ok(())
}

/// The store behind `url`, its tables made.
async fn open(url: &str) -> Result<Sessions, StoreError> {
    let sessions = tessera::url::open(url, &SecretKeys::new("request-loop-secret")).await?;
    sessions.migrate().await?;
    Ok(sessions)
}
