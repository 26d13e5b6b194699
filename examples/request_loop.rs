//! Drives N requests of one bench route through the Router in-process (no HTTP sockets), for
//! instruction counts that do not depend on a noisy machine:
//!
//! ```sh
//! cargo build --release --example request_loop
//! valgrind --tool=callgrind target/release/examples/request_loop write 20000
//! valgrind --tool=callgrind target/release/examples/request_loop read 20000 --store redis://127.0.0.1:6379
//! ```
//! Divide the total instruction count by N (the one-off setup is under 1 %). Routes: `plain`
//! (a valid cookie, session untouched), `read`, `write`, `create`. `--no-cookie` sends no
//! cookie (as the HTTP runs' `/plain` does); `--bare` sends `/plain` without the session
//! layer, the floor of `plain` (with `--no-cookie`, of `plain --no-cookie`). `--mint
//! /create4k` (or `/create64k`) reads and writes a big session.
//! The store is the memory store unless `--store` names another (then the count is this
//! process's side only: the server's work is not in it).

mod request_driver;
mod routes;

use request_driver::Route;
use tessera::signing::SecretKeys;
use tessera::store::StoreError;
use tessera::url::Sessions;
use tessera::{SessionConfig, SessionLayer};

#[derive(clap::Parser)]
struct Args {
    #[command(flatten)]
    repeat: request_driver::Repeat,
    /// Send no cookie.
    #[arg(long)]
    no_cookie: bool,
    /// `/plain` through the routes alone, without the session layer: its floor.
    #[arg(long)]
    bare: bool,
    /// The route that makes the cookie's session: `/create4k` or `/create64k` for a big one.
    #[arg(long, default_value = "/create")]
    mint: String,
}

fn main() -> Result<(), request_driver::Error> {
    let Args {
        repeat,
        no_cookie,
        bare,
        mint,
    } = <Args as clap::Parser>::parse();
    let (route, count, store) = (repeat.route, repeat.count, repeat.store);
    if bare && route != Route::Plain {
        return Err("--bare measures the floor of `plain` only".into());
    }
    let rt = request_driver::runtime()?;
    let routes = routes::router();
    let sessions = rt
        .block_on(open(&store))
        .map_err(|e| format!("--store {store}: {e}"))?;
    let layered = routes.clone().layer(SessionLayer::from_sessions(
        &sessions,
        SessionConfig::default(),
    )?);
    // A real session's cookie, minted through the layer even for the bare floor, which then
    // calls the routes alone.
    let cookie = request_driver::mint_cookie(&rt, &layered, &mint)?;
    let app = if bare { routes } else { layered };
    let (path, with_cookie) = route.request();
    let cookie = (with_cookie && !no_cookie).then_some(cookie.as_str());
    request_driver::drive(&rt, app, path, cookie, count)
}

/// The store behind `url`, its tables made.
async fn open(url: &str) -> Result<Sessions, StoreError> {
    let sessions = tessera::url::open(url, &SecretKeys::new("request-loop-secret")).await?;
    sessions.migrate().await?;
    Ok(sessions)
}
