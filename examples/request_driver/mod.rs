//! The request loop `request_loop` and `ceiling_loop` share: one cookie minted by `/create`,
//! then the same request through the router, in-process, as many times as asked. Run under
//! `valgrind --tool=callgrind`, the total divided by the count is the instructions one request
//! costs, a figure this noisy machine cannot move.

use axum::body::Body;
use axum::Router;
use http::{header, Request, StatusCode};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// The options both loops take after the route.
#[derive(clap::Args)]
pub struct Repeat {
    /// How many requests.
    #[arg(default_value_t = 20_000)]
    pub count: usize,
    /// The store's URL (for a server, the count is this process's side only).
    #[arg(long, default_value = "memory://")]
    pub store: String,
}

/// What a loop can fail with.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A current-thread runtime, as a served request sees one worker.
pub fn runtime() -> Result<Runtime, Error> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Sends `GET path` `count` times through `app` on `rt`, with the cookie a first `/create`
/// set when `with_cookie`. Every answer must be a 200.
pub fn drive(
    rt: &Runtime,
    app: Router,
    path: &str,
    with_cookie: bool,
    count: usize,
) -> Result<(), Error> {
    // What `axum::serve` does once: without it, the router would apply its layers to its
    // routes again on every request, allocations a served app never pays.
    let app = app.with_state::<()>(());
    let call = |path: &str, cookie: Option<&str>| {
        let mut request = Request::builder().uri(path);
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, c);
        }
        let request = request.body(Body::empty())?;
        Ok::<_, Error>(rt.block_on(app.clone().oneshot(request))?)
    };
    let created = call("/create", None)?;
    let cookie = created
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("sessionid=none")
        .to_owned();
    let cookie = with_cookie.then_some(cookie.as_str());
    for _ in 0..count {
        let status = call(path, cookie)?.status();
        if status != StatusCode::OK {
            return Err(format!("{path} answered {status}").into());
        }
    }
    Ok(())
}
