//! The tower layer: Django's `SessionMiddleware`.
//!
//! Before the handler it reads the session cookie and puts a lazy [`Session`] into the
//! request's extensions (no store I/O yet). After the handler it does what Django's
//! `process_response` does: save a modified session with a compare-and-swap, set or delete the
//! cookie, add `Vary: Cookie`, save nothing on a 5xx. A store failure anywhere becomes a 503
//! without `Set-Cookie`; a session deleted by a concurrent request becomes Django's
//! `SessionInterrupted`, a 400 without `Set-Cookie`.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use tessera::{Session, SessionConfig, SessionLayer, store::memory::MemoryStore};
//!
//! async fn count(session: Session) -> String {
//!     let n: i64 = session.get("n").await.ok().flatten().unwrap_or(0);
//!     let _ = session.insert("n", &(n + 1)).await;
//!     (n + 1).to_string()
//! }
//!
//! let sessions = SessionLayer::new(Arc::new(MemoryStore::new()), SessionConfig::default())?;
//! let app: Router = Router::new().route("/", get(count)).layer(sessions);
//! # Ok::<(), tessera::session::ConfigError>(())
//! ```

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderValue, COOKIE, SET_COOKIE, VARY};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::backend::cookie::SignedCookieSessions;
use crate::backend::dispatch::Backend;
use crate::backend::server::StoreBackend;
use crate::backend::SessionBackend;
use crate::cookie::{delete_cookie_header, is_python_whitespace, unquote, DeleteOptions};
use crate::session::handle::{Commit, Shared};
use crate::session::{ConfigError, Session, SessionConfig, SessionError};
use crate::store::SessionStore;
use crate::time::Clock;
use crate::url::Sessions;

pub use crate::session::ErrorResponder;

/// Installs sessions on every request of the wrapped service.
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("sessions", &self.shared)
            .finish_non_exhaustive()
    }
}

impl SessionLayer {
    /// Sessions kept in `store`, with `config`.
    ///
    /// # Errors
    ///
    /// A `config` that can never work ([`SessionConfig::validate`]): better at start-up than
    /// as an error on every request.
    pub fn new(store: Arc<dyn SessionStore>, config: SessionConfig) -> Result<Self, ConfigError> {
        Self::over(Backend::Store(StoreBackend::new(store)), config)
    }

    /// Sessions kept entirely in a signed cookie (Django's `signed_cookies` backend).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn signed_cookie(
        sessions: SignedCookieSessions,
        config: SessionConfig,
    ) -> Result<Self, ConfigError> {
        Self::over(Backend::SignedCookie(sessions), config)
    }

    /// The layer for a backend opened from a URL ([`open`](crate::url::open)).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn from_sessions(sessions: &Sessions, config: SessionConfig) -> Result<Self, ConfigError> {
        match sessions {
            Sessions::Store(store) => Self::new(store.clone(), config),
            Sessions::SignedCookie(s) => Self::signed_cookie(s.clone(), config),
        }
    }

    /// Sessions kept in any [`SessionBackend`], including one of the app's own.
    ///
    /// Calls go through the trait, one boxed future each. For tessera's own backends prefer
    /// [`new`](Self::new), [`signed_cookie`](Self::signed_cookie) or
    /// [`from_sessions`](Self::from_sessions), whose calls run inline in the request's future.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_backend(
        backend: Arc<dyn SessionBackend>,
        config: SessionConfig,
    ) -> Result<Self, ConfigError> {
        Self::over(Backend::Other(backend), config)
    }

    fn over(backend: Backend, config: SessionConfig) -> Result<Self, ConfigError> {
        Ok(SessionLayer {
            shared: Arc::new(Shared::new(backend, config)?),
        })
    }

    /// Replaces the clock that every session, backend and store call of this layer reads, so
    /// tests can pin time.
    pub fn with_clock(self, clock: Clock) -> Self {
        SessionLayer {
            shared: Arc::new(self.shared.with_clock(clock)),
        }
    }

    /// Replaces the response sent when the session cannot be saved, and the one a handler's
    /// returned [`SessionError`] becomes (with the `axum` feature): by default a plain-text
    /// 503 for a store failure, 400 for a session deleted by a concurrent request
    /// (`SessionInterrupted`), 500 otherwise, with generic bodies. No `Set-Cookie` is sent
    /// with it either way.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tessera::{store::memory::MemoryStore, SessionConfig, SessionLayer};
    /// let layer = SessionLayer::new(Arc::new(MemoryStore::new()), SessionConfig::default())?
    ///     .error_response(|e| {
    ///         let mut r = http::Response::new(r#"{"error":"session"}"#.to_owned());
    ///         *r.status_mut() = tessera::session::error_status(e);
    ///         r
    ///     });
    /// # Ok::<(), tessera::session::ConfigError>(())
    /// ```
    pub fn error_response(
        self,
        respond: impl Fn(&SessionError) -> Response<String> + Send + Sync + 'static,
    ) -> Self {
        SessionLayer {
            shared: Arc::new(self.shared.with_error_response(Arc::new(respond))),
        }
    }
}

/// Marks a response made from a handler's [`SessionError`], so the layer can reshape it with
/// its [`ErrorResponder`].
#[derive(Clone)]
pub(crate) struct HandlerSessionError(pub Arc<SessionError>);

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around a handler.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = SessionFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let cookie = session_cookie(req.headers(), &self.shared.config().cookie_name);
        let cookie_present = cookie.is_some();
        let session = Session::from_cookie(self.shared.clone(), cookie);
        req.extensions_mut().insert(session.clone());
        // The service polled ready is the one called; its future owns what it needs.
        SessionFuture {
            state: Stage::Handler {
                handler: self.inner.call(req),
                after: Some(After {
                    session,
                    cookie_present,
                }),
            },
        }
    }
}

/// What the response step needs from the request.
struct After {
    session: Session,
    cookie_present: bool,
}

pin_project_lite::pin_project! {
    /// The response future of [`SessionService`]: the handler, then the session's commit.
    /// Most responses are finished as soon as the handler is: only a commit that calls the
    /// store goes on in a second, boxed, step.
    pub struct SessionFuture<F, B> {
        #[pin]
        state: Stage<F, B>,
    }
}

pin_project_lite::pin_project! {
    #[project = StageProj]
    enum Stage<F, B> {
        Handler {
            #[pin]
            handler: F,
            after: Option<After>,
        },
        Committing {
            commit: BoxFuture<Response<B>>,
        },
    }
}

impl<F, B, E> Future for SessionFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<String> + Send + 'static,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StageProj::Handler { handler, after } => {
                    let response = std::task::ready!(handler.poll(cx))?;
                    let after = after
                        .take()
                        .expect("SessionFuture polled after it completed");
                    match finish_now(after, response) {
                        Ok(response) => return Poll::Ready(Ok(response)),
                        Err(commit) => this.state.set(Stage::Committing { commit }),
                    }
                }
                StageProj::Committing { commit } => {
                    return commit.as_mut().poll(cx).map(Ok);
                }
            }
        }
    }
}

/// The response step without awaiting when the session needs no store call; otherwise the
/// boxed step that makes it.
fn finish_now<B: From<String> + Send + 'static>(
    mut after: After,
    mut response: Response<B>,
) -> Result<Response<B>, BoxFuture<Response<B>>> {
    if let Some(HandlerSessionError(e)) = response.extensions_mut().remove() {
        return Ok(error_response(after.session.on_error(), &e));
    }
    let server_error = response.status().is_server_error();
    match after.session.commit_now(after.cookie_present, server_error) {
        Some(commit) => {
            apply(commit, &after.session, &mut response);
            Ok(response)
        }
        None => Err(Box::pin(async move {
            let commit = after
                .session
                .commit(after.cookie_present, server_error)
                .await;
            apply(commit, &after.session, &mut response);
            response
        })),
    }
}

/// The session cookie's value as Django's `request.COOKIES` would give it (several `Cookie`
/// headers read as one joined header), without building the whole cookie map, and borrowed
/// from the header unless it had to be unquoted. As bytes: a store's key is checked against
/// its alphabet, which makes a UTF-8 check first redundant.
fn session_cookie<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<Cow<'h, [u8]>> {
    let mut found = None;
    for value in headers.get_all(COOKIE) {
        // Later headers win, as the last value wins in one joined header.
        let bytes = value.as_bytes();
        let hit = if bytes.is_ascii() {
            // Nearly every header: a byte scan.
            find_cookie_ascii(bytes, name)
        } else {
            // Rare: other text (or bytes that are not UTF-8, replaced as Python decodes
            // them), parsed as text and the value copied out.
            find_cookie(&String::from_utf8_lossy(bytes), name)
                .map(|v| Cow::Owned(v.into_owned().into_bytes()))
        };
        if hit.is_some() {
            found = hit;
        }
    }
    found
}

/// `parse_cookie(header).get(name)`: chunks split on `;`, name before the first `=`, Python
/// whitespace stripped, the last value winning.
fn find_cookie<'a>(header: &'a str, name: &str) -> Option<Cow<'a, str>> {
    let mut found = None;
    for chunk in header.split(';') {
        let (n, v) = chunk.split_once('=').unwrap_or(("", chunk));
        if n.trim_matches(is_python_whitespace) == name {
            let v = v.trim_matches(is_python_whitespace);
            if !(name.is_empty() && v.is_empty()) {
                found = Some(v);
            }
        }
    }
    // Only a value in double quotes changes when unquoted.
    found.map(|v| {
        if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
            Cow::Owned(unquote(v))
        } else {
            Cow::Borrowed(v)
        }
    })
}

/// [`find_cookie`] for a header that is all ASCII, scanning bytes: within ASCII, Python's
/// whitespace is `\t`..`\r` and `\x1c`..` `, and every byte offset is a character boundary.
fn find_cookie_ascii<'a>(header: &'a [u8], name: &str) -> Option<Cow<'a, [u8]>> {
    let name = name.as_bytes();
    let mut found = None;
    let mut start = 0;
    loop {
        let end = memchr::memchr(b';', &header[start..]).map_or(header.len(), |i| start + i);
        let chunk = &header[start..end];
        let (n, v) = match memchr::memchr(b'=', chunk) {
            Some(eq) => (&chunk[..eq], &chunk[eq + 1..]),
            None => (&[][..], chunk),
        };
        if trim_ascii_python_whitespace(n) == name {
            let v = trim_ascii_python_whitespace(v);
            if !(name.is_empty() && v.is_empty()) {
                found = Some(v);
            }
        }
        if end == header.len() {
            break;
        }
        start = end + 1;
    }
    let v = found?;
    // Only a value in double quotes changes when unquoted; the header is ASCII, so that value
    // is text.
    if v.len() >= 2 && v.starts_with(b"\"") && v.ends_with(b"\"") {
        let quoted = std::str::from_utf8(v).ok()?;
        Some(Cow::Owned(unquote(quoted).into_bytes()))
    } else {
        Some(Cow::Borrowed(v))
    }
}

/// Python's `str.strip()` on ASCII bytes.
fn trim_ascii_python_whitespace(bytes: &[u8]) -> &[u8] {
    let is_space = |b: u8| matches!(b, b'\t'..=b'\r' | 0x1c..=b' ');
    let mut from = 0;
    let mut to = bytes.len();
    while from < to && is_space(bytes[from]) {
        from += 1;
    }
    while to > from && is_space(bytes[to - 1]) {
        to -= 1;
    }
    &bytes[from..to]
}

/// Adds `Vary: Cookie` unless the response already varies on the cookie (or on everything),
/// with one lookup of the header.
fn add_vary_cookie(headers: &mut http::HeaderMap) {
    const COOKIE_VALUE: HeaderValue = HeaderValue::from_static("Cookie");
    match headers.entry(VARY) {
        http::header::Entry::Vacant(vacant) => {
            vacant.insert(COOKIE_VALUE);
        }
        http::header::Entry::Occupied(mut occupied) => {
            if !occupied.iter().any(varies_on_cookie) {
                occupied.append(COOKIE_VALUE);
            }
        }
    }
}

/// Whether one `Vary` value names the cookie or `*`.
fn varies_on_cookie(value: &HeaderValue) -> bool {
    value.to_str().is_ok_and(|s| {
        s.split(',')
            .any(|p| p.trim().eq_ignore_ascii_case("cookie") || p.trim() == "*")
    })
}

/// The layer's error response, in the service's body type.
fn error_response<B: From<String>>(on_error: &ErrorResponder, e: &SessionError) -> Response<B> {
    on_error(e).map(B::from)
}

/// Puts what the session's commit decided on the response: the cookie set or deleted,
/// `Vary: Cookie`, or the error response.
fn apply<B: From<String>>(commit: Commit, session: &Session, response: &mut Response<B>) {
    let config = session.config();
    match commit {
        Commit::Untouched { vary } => {
            if vary {
                add_vary_cookie(response.headers_mut());
            }
        }
        Commit::DeleteCookie => {
            let opts = DeleteOptions {
                path: Some(config.cookie_path.clone()),
                domain: config.cookie_domain.clone(),
                samesite: config.cookie_samesite.map(String::from),
            };
            if let Ok(v) = delete_cookie_header(&config.cookie_name, &opts)
                .map_err(drop)
                .and_then(|h| HeaderValue::try_from(h).map_err(drop))
            {
                response.headers_mut().append(SET_COOKIE, v);
            }
            add_vary_cookie(response.headers_mut());
        }
        Commit::SetCookie(cookie) => {
            // The settings were checked when the layer was built, so this is a valid header.
            if let Ok(v) = HeaderValue::try_from(cookie) {
                response.headers_mut().append(SET_COOKIE, v);
            }
            add_vary_cookie(response.headers_mut());
        }
        Commit::Failed(e) => {
            match &e {
                SessionError::TooLarge(size) => {
                    tracing::error!(target: "tessera::session", size, "session too large for its cookie");
                }
                SessionError::Interrupted => {
                    tracing::warn!(target: "tessera::request", "SessionInterrupted: session deleted by a concurrent request");
                }
                // Logged where it happened.
                SessionError::Store(_) => {}
                e => tracing::error!(target: "tessera::session", error = %e, "session save failed"),
            }
            *response = error_response(session.on_error(), &e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ASCII scan answers as the general parser does, on every header built from pieces
    /// that exercise its rules (whitespace, `=` in values, quotes, empty chunks, repeats).
    #[test]
    fn the_ascii_scan_agrees_with_the_general_parser() {
        let pieces = [
            "sessionid=abc",
            " sessionid = def ",
            "\tsessionid=\x0bghi\x1c",
            "sessionid=\"q\\\"x\"",
            "sessionid",
            "=sessionid",
            "sessionid==x=y",
            "other=1",
            "",
            " ",
            "sessionidx=2",
            "sessionid=",
            "\"sessionid\"=3",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let header = format!("{a};{b};{c}");
                    for name in ["sessionid", ""] {
                        assert_eq!(
                            find_cookie_ascii(header.as_bytes(), name).as_deref(),
                            find_cookie(&header, name).as_deref().map(str::as_bytes),
                            "{header:?} {name:?}"
                        );
                    }
                }
            }
        }
    }
}
