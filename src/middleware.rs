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
//! let app: Router = Router::new()
//!     .route("/", get(count))
//!     .layer(SessionLayer::new(Arc::new(MemoryStore::new()), SessionConfig::default()));
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

use crate::cookie::{
    delete_cookie_header, is_python_whitespace, unquote, CookieError, CookieOptions, DeleteOptions,
    SetCookieTemplate,
};
use crate::session::handle::{browser_close_of, expiry_age_of, Backend, Shared, State};
use crate::session::{Session, SessionConfig, SessionError};
use crate::store::signed_cookie::SignedCookieSessions;
use crate::store::SessionStore;

/// Installs sessions on every request of the wrapped service.
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("backend", &self.shared.backend)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl SessionLayer {
    /// Sessions kept in `store`, with `config`.
    pub fn new(store: Arc<dyn SessionStore>, config: SessionConfig) -> Self {
        Self::with_backend(Backend::Store(store), config)
    }

    /// Sessions kept entirely in a signed cookie (Django's `signed_cookies` backend).
    pub fn signed_cookie(sessions: SignedCookieSessions, config: SessionConfig) -> Self {
        Self::with_backend(Backend::Cookie(sessions), config)
    }

    fn with_backend(backend: Backend, config: SessionConfig) -> Self {
        SessionLayer {
            shared: Arc::new(Shared {
                backend,
                cookie: session_cookie_template(&config),
                config,
                clock: crate::signing::now,
            }),
        }
    }

    /// Replaces the clock (Unix seconds), so tests can pin time.
    pub fn with_clock(self, clock: fn() -> f64) -> Self {
        let shared = Shared {
            backend: self.shared.backend.clone(),
            config: self.shared.config.clone(),
            cookie: self.shared.cookie.clone(),
            clock,
        };
        SessionLayer {
            shared: Arc::new(shared),
        }
    }
}

/// The session cookie's fixed attributes from the settings, checked once.
pub(crate) fn session_cookie_template(
    config: &SessionConfig,
) -> Result<SetCookieTemplate, CookieError> {
    let mut opts = CookieOptions::new();
    opts.path = Some(config.cookie_path.clone());
    opts.domain = config.cookie_domain.clone();
    opts.secure = config.cookie_secure;
    opts.httponly = config.cookie_httponly;
    opts.samesite = config.cookie_samesite.map(String::from);
    SetCookieTemplate::new(&config.cookie_name, &opts)
}

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
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<&'static str> + Send + 'static,
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
        let cookie = session_cookie(req.headers(), &shared.config.cookie_name);
        let cookie_present = cookie.is_some();
        let session = Session::from_cookie(shared.clone(), cookie);
        req.extensions_mut().insert(session.clone());
        Box::pin(async move {
            let response = inner.call(req).await?;
            Ok(finish(&session, &shared.config, cookie_present, response).await)
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

fn plain_response<B: From<&'static str>>(status: StatusCode, body: &'static str) -> Response<B> {
    let mut r = Response::new(B::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
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

fn store_unavailable<B: From<&'static str>>() -> Response<B> {
    plain_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable: the session store is not responding\n",
    )
}

/// Django's `process_response`.
async fn finish<B: From<&'static str>>(
    session: &Session,
    config: &SessionConfig,
    cookie_present: bool,
    mut response: Response<B>,
) -> Response<B> {
    let mut st = session.lock().await;
    if st.store_failed {
        return store_unavailable();
    }
    if config.save_every_request && !st.loaded && !st.is_empty() {
        drop(st);
        if session.loaded().await.is_err() {
            return store_unavailable();
        }
        st = session.lock().await;
    }
    let empty = st.is_empty();
    if cookie_present && empty {
        let opts = DeleteOptions {
            path: Some(config.cookie_path.clone()),
            domain: config.cookie_domain.clone(),
            samesite: config.cookie_samesite.map(String::from),
        };
        if let Ok(h) = delete_cookie_header(&config.cookie_name, &opts) {
            if let Ok(v) = HeaderValue::try_from(h) {
                response.headers_mut().append(SET_COOKIE, v);
            }
        }
        add_vary_cookie(response.headers_mut());
        return response;
    }
    if st.accessed {
        add_vary_cookie(response.headers_mut());
    }
    if !(st.modified || config.save_every_request) || empty || response.status().is_server_error() {
        return response;
    }
    match save(session, &mut st, config).await {
        Ok(cookie) => {
            if let Ok(v) = HeaderValue::try_from(cookie) {
                response.headers_mut().append(SET_COOKIE, v);
            }
            // An accessed session got its `Vary` above.
            if !st.accessed {
                add_vary_cookie(response.headers_mut());
            }
            response
        }
        Err(SessionError::TooLarge(size)) => {
            tracing::error!(target: "tessera::session", size, "session too large for its cookie");
            plain_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error: the session is too large for a cookie\n",
            )
        }
        Err(SessionError::Interrupted) => {
            tracing::warn!(target: "tessera::request", "SessionInterrupted: session deleted by a concurrent request");
            plain_response(
                StatusCode::BAD_REQUEST,
                "Bad Request: the session was deleted by a concurrent request\n",
            )
        }
        Err(e) => {
            tracing::error!(target: "tessera::session", error = %e, "session save failed");
            store_unavailable()
        }
    }
}

/// Saves the session and returns the `Set-Cookie` value for it.
async fn save(
    session: &Session,
    st: &mut State,
    config: &SessionConfig,
) -> Result<String, SessionError> {
    session.persist(st).await?;
    let now = session.clock_now();
    let template = session
        .cookie_template()
        .map_err(|e| SessionError::Store(crate::store::StoreError::Config(e.to_string())))?;
    // Django sets `max_age` and `expires` unless the session ends with the browser.
    if browser_close_of(&st.data, config) {
        return Ok(template.render_session_only(st.cookie_value()));
    }
    let max_age = expiry_age_of(&st.data, config, now)?;
    Ok(template.render(st.cookie_value(), max_age, now))
}
