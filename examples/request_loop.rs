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

mod request_driver;
mod routes;

use tessera::signing::SecretKeys;
use tessera::store::StoreError;
use tessera::url::Sessions;
use tessera::{SessionConfig, SessionLayer};

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
    #[command(flatten)]
    repeat: request_driver::Repeat,
}

fn main() -> Result<(), request_driver::Error> {
    let Args {
        route,
        repeat: request_driver::Repeat { count, store },
    } = <Args as clap::Parser>::parse();
    let rt = request_driver::runtime()?;
    let routes = routes::router();
    let sessions = rt
        .block_on(open(&store))
        .map_err(|e| format!("--store {store}: {e}"))?;
    let layered = routes.clone().layer(SessionLayer::from_sessions(
        &sessions,
        SessionConfig::default(),
    )?);
    // A real session's cookie, minted through the layer even for `/plain`'s floors, which
    // then call the routes alone.
    let cookie = request_driver::mint_cookie(&rt, &layered)?;
    let app = if matches!(route, Route::Bare | Route::BareNoCookie) {
        routes
    } else {
        layered
    };
    let (path, with_cookie) = match route {
        Route::Create => ("/create", false),
        Route::Bare | Route::Plain => ("/plain", true),
        Route::BareNoCookie | Route::PlainNoCookie => ("/plain", false),
        Route::Read => ("/read", true),
        Route::Write => ("/write", true),
    };
    let cookie = with_cookie.then_some(cookie.as_str());
    request_driver::drive(&rt, app, path, cookie, count)
}

/// The store behind `url`, its tables made.
async fn open(url: &str) -> Result<Sessions, StoreError> {
    let sessions = tessera::url::open(url, &SecretKeys::new("request-loop-secret")).await?;
    sessions.migrate().await?;
    Ok(sessions)
}
