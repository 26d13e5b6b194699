//! The request loop `request_loop` and `ceiling_loop` share: a cookie minted by `/create`,
//! then the same request through the router, in-process, as many times as asked. Run under
//! `valgrind --tool=callgrind`, the total divided by the count is the instructions one request
//! costs, a figure this noisy machine cannot move.

use axum::body::Body;
use axum::Router;
use http::{header, Request, Response, StatusCode};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// A bench route, as both loops send it.
#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum Route {
    /// `/plain` with a valid cookie; the session is never touched.
    Plain,
    Read,
    Write,
    Create,
}

impl Route {
    /// The path, and whether the request carries the minted cookie (a create sends none).
    pub fn request(self) -> (&'static str, bool) {
        match self {
            Route::Plain => ("/plain", true),
            Route::Read => ("/read", true),
            Route::Write => ("/write", true),
            Route::Create => ("/create", false),
        }
    }
}

/// The options both loops take: the route, how often, and against which store.
#[derive(clap::Args)]
pub struct Repeat {
    /// The request to repeat.
    #[arg(value_enum, default_value = "write")]
    pub route: Route,
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

/// The `name=value` of the cookie `GET create_path` (`/create`, or `/create4k` for a big
/// session) sets through `app`: an error unless it answers 200 with one, so a loop never
/// measures a session it does not have.
pub fn mint_cookie(rt: &Runtime, app: &Router, create_path: &str) -> Result<String, Error> {
    let created = call(rt, app.clone().with_state::<()>(()), create_path, None)?;
    if created.status() != StatusCode::OK {
        return Err(format!("{create_path} answered {}", created.status()).into());
    }
    created
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| "/create set no cookie".into())
}

/// Sends `GET path` `count` times through `app` on `rt`, with `cookie` when given. Every
/// answer must be a 200.
pub fn drive(
    rt: &Runtime,
    app: Router,
    path: &str,
    cookie: Option<&str>,
    count: usize,
) -> Result<(), Error> {
    // What `axum::serve` does once: without it, the router would apply its layers to its
    // routes again on every request, allocations a served app never pays.
    let app = app.with_state::<()>(());
    for _ in 0..count {
        let status = call(rt, app.clone(), path, cookie)?.status();
        if status != StatusCode::OK {
            return Err(format!("{path} answered {status}").into());
        }
    }
    Ok(())
}

/// One `GET path` through `app`, with `cookie` when given.
fn call(
    rt: &Runtime,
    app: Router,
    path: &str,
    cookie: Option<&str>,
) -> Result<Response<Body>, Error> {
    let mut request = Request::builder().uri(path);
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    let request = request.body(Body::empty())?;
    Ok(rt.block_on(app.oneshot(request))?)
}
