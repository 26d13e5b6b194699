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
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::backend::cookie::SignedCookieSessions;
use crate::backend::server::StoreBackend;
use crate::backend::SessionBackend;
use crate::cookie::{delete_cookie_header, is_python_whitespace, unquote, DeleteOptions};
use crate::session::handle::{Commit, Shared};
use crate::session::{ConfigError, Session, SessionConfig, SessionError};
use crate::store::SessionStore;
use crate::time::Clock;
use crate::url::Sessions;

/// Shapes the response for a session that could not be loaded or saved (see
/// [`SessionLayer::error_response`]).
pub type ErrorResponder = Arc<dyn Fn(&SessionError) -> Response<String> + Send + Sync>;

/// Installs sessions on every request of the wrapped service.
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
    on_error: ErrorResponder,
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
        Self::with_backend(Arc::new(StoreBackend::new(store)), config)
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
        Self::with_backend(Arc::new(sessions), config)
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
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_backend(
        backend: Arc<dyn SessionBackend>,
        config: SessionConfig,
    ) -> Result<Self, ConfigError> {
        Ok(SessionLayer {
            shared: Arc::new(Shared::new(backend, config)?),
            on_error: Arc::new(default_error_response),
        })
    }

    /// Replaces the clock that every session, backend and store call of this layer reads, so
    /// tests can pin time.
    pub fn with_clock(self, clock: Clock) -> Self {
        SessionLayer {
            shared: Arc::new(self.shared.with_clock(clock)),
            on_error: self.on_error,
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
            shared: self.shared,
            on_error: Arc::new(respond),
        }
    }
}

/// The default error response: the status [`error_status`](crate::session::error_status)
/// gives, and a body that says nothing internal.
fn default_error_response(e: &SessionError) -> Response<String> {
    let status = crate::session::error_status(e);
    let body = match (e, status) {
        // Says which limit the client's data ran into; nothing internal.
        (SessionError::Unstorable(_), _) => format!("Bad Request: {e}\n"),
        (_, StatusCode::SERVICE_UNAVAILABLE) => "Service Unavailable\n".to_owned(),
        (_, StatusCode::BAD_REQUEST) => {
            "Bad Request: the session was ended by another request\n".to_owned()
        }
        _ => "Internal Server Error\n".to_owned(),
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
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
            on_error: self.on_error.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around a handler.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
    on_error: ErrorResponder,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let on_error = self.on_error.clone();
        let cookie = session_cookie(req.headers(), &shared.config().cookie_name);
        let cookie_present = cookie.is_some();
        let session = Session::from_cookie(shared.clone(), cookie);
        req.extensions_mut().insert(session.clone());
        Box::pin(async move {
            let response = inner.call(req).await?;
            Ok(finish(
                &session,
                shared.config(),
                &on_error,
                cookie_present,
                response,
            )
            .await)
        })
    }
}

/// The session cookie's value as Django's `request.COOKIES` would give it (several `Cookie`
/// headers read as one joined header), without building the whole cookie map, and borrowed
/// from the header unless it had to be unquoted.
fn session_cookie<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<Cow<'h, str>> {
    let mut found = None;
    for value in headers.get_all(COOKIE) {
        // Later headers win, as the last value wins in one joined header.
        let bytes = value.as_bytes();
        let hit = match std::str::from_utf8(bytes) {
            Ok(text) => find_cookie(text, name),
            Err(_) => find_cookie(&String::from_utf8_lossy(bytes), name)
                .map(|v| Cow::Owned(v.into_owned())),
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

fn add_vary_cookie(headers: &mut http::HeaderMap) {
    let has = headers.get_all(VARY).iter().any(|v| {
        v.to_str()
            .map(|s| {
                s.split(',')
                    .any(|p| p.trim().eq_ignore_ascii_case("cookie") || p.trim() == "*")
            })
            .unwrap_or(false)
    });
    if !has {
        headers.append(VARY, HeaderValue::from_static("Cookie"));
    }
}

/// The layer's error response, in the service's body type.
fn error_response<B: From<String>>(on_error: &ErrorResponder, e: &SessionError) -> Response<B> {
    on_error(e).map(B::from)
}

/// After the handler: a handler's own session error reshaped, then the session committed and
/// the cookie set or deleted.
async fn finish<B: From<String>>(
    session: &Session,
    config: &SessionConfig,
    on_error: &ErrorResponder,
    cookie_present: bool,
    mut response: Response<B>,
) -> Response<B> {
    if let Some(HandlerSessionError(e)) = response.extensions_mut().remove() {
        return error_response(on_error, &e);
    }
    match session
        .commit(cookie_present, response.status().is_server_error())
        .await
    {
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
            return error_response(on_error, &e);
        }
    }
    response
}
