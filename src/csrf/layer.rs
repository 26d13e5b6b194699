//! The tower layer: Django's `CsrfViewMiddleware` around a handler.
//!
//! Before the handler it reads the secret (cookie, or session with `use_sessions`), puts a
//! [`CsrfToken`] into the request's extensions, and, for an unsafe method on a route that is
//! not exempt, runs the checks of [`CsrfRules`], reading a POST form's body only when the
//! token may be in it. After the handler (and after a refusal too) it sends the secret if
//! something asked for it: a `Set-Cookie` with `Vary: Cookie`, or the session's
//! `_csrftoken`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, SET_COOKIE, VARY};
use http::{Request, Response, StatusCode};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::check::{IncomingSecret, Rejection, RequestFacts, CSRF_SESSION_KEY};
use super::config::{CsrfConfig, CsrfRules};
use super::form::{FormError, FormKind};
use super::handle::CsrfToken;
use super::random::CsrfRandom;
use crate::cookie::{parse_request_cookies, set_cookie_header};
use crate::session::{ConfigError, Session, SessionError};
use crate::time::Clock;

/// Shapes the 403 sent for a refused request (Django's `CSRF_FAILURE_VIEW`).
pub type FailureView = Arc<dyn Fn(&Rejection) -> Response<String> + Send + Sync>;

/// Marks a request the checks skip, like a view under Django's `csrf_exempt`: insert it
/// from an outer layer. The secret is still read, so [`CsrfToken::get_token`] works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsrfExempt;

/// Django's CSRF protection on every request of the wrapped service.
///
/// ```
/// use axum::{routing::{get, post}, Router};
/// use tessera::csrf::{CsrfConfig, CsrfLayer};
///
/// let csrf = CsrfLayer::new(CsrfConfig {
///     trusted_origins: vec!["https://*.example.com".into()],
///     ..CsrfConfig::default()
/// })?
/// .exempt("/webhooks/payment");
/// let app: Router = Router::new()
///     .route("/comment", post(|| async { "saved" }))
///     .route("/webhooks/payment", post(|| async { "ok" }))
///     .layer(csrf);
/// # Ok::<(), tessera::session::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct CsrfLayer {
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    rules: CsrfRules,
    random: CsrfRandom,
    clock: Clock,
    exempt: Vec<String>,
    failure_view: FailureView,
}

impl fmt::Debug for CsrfLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfLayer")
            .field("rules", &self.shared.rules)
            .field("exempt", &self.shared.exempt)
            .finish_non_exhaustive()
    }
}

impl CsrfLayer {
    /// The layer for `config`.
    ///
    /// # Errors
    ///
    /// A setting that can never work ([`CsrfConfig::validate`]).
    pub fn new(config: CsrfConfig) -> Result<Self, ConfigError> {
        Ok(CsrfLayer {
            shared: Arc::new(Shared {
                rules: config.validate()?,
                random: CsrfRandom::os(),
                clock: Clock::system(),
                exempt: Vec::new(),
                failure_view: Arc::new(default_failure_view),
            }),
        })
    }

    fn with(self, change: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.shared);
        change(&mut shared);
        CsrfLayer {
            shared: Arc::new(shared),
        }
    }

    /// Skips the checks for requests to exactly `path` (as this layer sees it), like
    /// Django's `csrf_exempt` on that view: for webhooks and other callers that hold no
    /// cookie. The secret is still read, so a token can still be handed out there.
    #[must_use]
    pub fn exempt(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.with(|s| s.exempt.push(path))
    }

    /// Replaces the refusal response (Django's `CSRF_FAILURE_VIEW`). By default: a
    /// plain-text 403 naming Django's reason. The secret is still sent with it when it must
    /// be (a malformed cookie replaced).
    #[must_use]
    pub fn failure_view(
        self,
        view: impl Fn(&Rejection) -> Response<String> + Send + Sync + 'static,
    ) -> Self {
        self.with(|s| s.failure_view = Arc::new(view))
    }

    /// Replaces the clock that dates the cookie's `expires`, so tests can pin time.
    #[must_use]
    pub fn with_clock(self, clock: Clock) -> Self {
        self.with(|s| s.clock = clock)
    }

    /// Replaces the source of new secrets and masks. Only the system's CSPRNG exists outside
    /// the `testing` feature, whose `CsrfRandom::scripted` replays Django's draws.
    #[must_use]
    pub fn with_random(self, random: CsrfRandom) -> Self {
        self.with(|s| s.random = random)
    }
}

/// The default refusal: 403 with Django's heading and the reason.
fn default_failure_view(reason: &Rejection) -> Response<String> {
    plain(
        StatusCode::FORBIDDEN,
        format!("Forbidden (403)\nCSRF verification failed. Request aborted.\n\n{reason}\n"),
    )
}

fn plain(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`CsrfLayer`] wraps around a handler.
#[derive(Clone)]
pub struct CsrfService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for CsrfService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CsrfService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Body + From<Vec<u8>> + Send + 'static,
    ReqBody::Data: Into<Vec<u8>> + Send,
    ReqBody::Error: fmt::Display,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let (csrf, session, outcome) = match shared.before(req).await {
                Ok(ready) => ready,
                Err(response) => return Ok(response.map(ResBody::from)),
            };
            let response = match outcome {
                Ok(req) => inner.call(req).await?,
                Err(refusal) => refusal.map(ResBody::from),
            };
            Ok(shared.after(&csrf, session.as_ref(), response).await)
        })
    }
}

/// What happens before the handler: the state, the session (with `use_sessions`), and the
/// request to pass on or the response that refuses it.
type Before<B> = (
    CsrfToken,
    Option<Session>,
    Result<Request<B>, Response<String>>,
);

impl Shared {
    /// Django's `process_request` and `process_view`. `Err` is a response to send as is
    /// (the layer could not work: no session, a store or random source failing).
    async fn before<B>(&self, mut req: Request<B>) -> Result<Before<B>, Response<String>>
    where
        B: Body + From<Vec<u8>>,
        B::Data: Into<Vec<u8>>,
        B::Error: fmt::Display,
    {
        let config = &self.rules.config;
        let session = if config.use_sessions {
            let Some(session) = req.extensions().get::<Session>().cloned() else {
                tracing::error!(
                    target: "tessera::csrf",
                    "CSRF_USE_SESSIONS is set, but no SessionLayer wraps the CsrfLayer"
                );
                return Err(plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error\n".to_owned(),
                ));
            };
            Some(session)
        } else {
            None
        };
        let incoming = match &session {
            Some(session) => match session.get_value(CSRF_SESSION_KEY).await {
                Ok(value) => IncomingSecret::from_session(value.as_ref()),
                Err(e) => return Err(session_failure(&e)),
            },
            None => {
                let cookies = parse_request_cookies(req.headers().get_all(COOKIE));
                IncomingSecret::from_cookie(cookies.get(&config.cookie_name).map(String::as_str))
            }
        };
        let secret = match &incoming {
            IncomingSecret::Present(s) => Some(s.clone()),
            _ => None,
        };
        let csrf = CsrfToken::detached(secret, self.random.clone());
        if matches!(incoming, IncomingSecret::Malformed(_)) {
            csrf.replace_secret().map_err(|e| {
                tracing::error!(target: "tessera::csrf", error = %e, "no new CSRF secret");
                plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error\n".to_owned(),
                )
            })?;
        }
        req.extensions_mut().insert(csrf.clone());
        let outcome = self.process_view(req, &incoming).await;
        Ok((csrf, session, outcome))
    }

    /// Django's `process_view`: the request to pass on, or the refusal.
    async fn process_view<B>(
        &self,
        req: Request<B>,
        incoming: &IncomingSecret,
    ) -> Result<Request<B>, Response<String>>
    where
        B: Body + From<Vec<u8>>,
        B::Data: Into<Vec<u8>>,
        B::Error: fmt::Display,
    {
        let facts = RequestFacts::from_request(&req, &self.rules);
        let exempt = req.extensions().get::<CsrfExempt>().is_some()
            || self.exempt.iter().any(|p| p == req.uri().path());
        if exempt || facts.is_safe_method() {
            return Ok(req);
        }
        let path = req.uri().path().to_owned();
        let refuse = |reason: Rejection| {
            tracing::warn!(target: "tessera::csrf", %reason, %path, "Forbidden");
            (self.failure_view)(&reason)
        };
        self.rules.check_origin(&facts).map_err(refuse)?;
        let secret = self.rules.check_secret(incoming).map_err(refuse)?;
        let form = facts
            .is_post()
            .then(|| FormKind::of(req.headers().get(CONTENT_TYPE).map(HeaderValue::as_bytes)))
            .flatten();
        let (req, form_token) = match form {
            Some(kind) => self.read_form(req, &kind).await?,
            None => (req, None),
        };
        self.rules
            .check_token(&facts, secret, form_token.as_deref())
            .map_err(refuse)?;
        Ok(req)
    }

    /// Reads the whole body (up to the limit) to find the form's token, and puts it back.
    async fn read_form<B>(
        &self,
        req: Request<B>,
        kind: &FormKind,
    ) -> Result<(Request<B>, Option<String>), Response<String>>
    where
        B: Body + From<Vec<u8>>,
        B::Data: Into<Vec<u8>>,
        B::Error: fmt::Display,
    {
        let limit = self.rules.config.max_form_bytes;
        let bad_request = |why: String| {
            tracing::info!(target: "tessera::csrf", %why, "form body refused");
            plain(StatusCode::BAD_REQUEST, format!("Bad Request: {why}\n"))
        };
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(bad_request(FormError::TooBig.to_string()));
        }
        let (parts, body) = req.into_parts();
        let bytes = read_limited(body, limit).await.map_err(bad_request)?;
        let token = kind.token(&bytes).map_err(|e| bad_request(e.to_string()))?;
        Ok((Request::from_parts(parts, B::from(bytes)), token))
    }

    /// Django's `process_response`: send the secret if something asked for it.
    async fn after<B: From<String>>(
        &self,
        csrf: &CsrfToken,
        session: Option<&Session>,
        mut response: Response<B>,
    ) -> Response<B> {
        let Some(secret) = csrf.take_update() else {
            return response;
        };
        if let Some(session) = session {
            let stored = match session.get_value(CSRF_SESSION_KEY).await {
                Ok(v) => v,
                Err(e) => return session_failure(&e).map(B::from),
            };
            if stored.as_ref().and_then(|v| v.as_str()) != Some(secret.as_str()) {
                if let Err(e) = session.insert(CSRF_SESSION_KEY, &secret).await {
                    return session_failure(&e).map(B::from);
                }
            }
            return response;
        }
        let config = &self.rules.config;
        let header = set_cookie_header(
            &config.cookie_name,
            &secret,
            &config.cookie_options(),
            self.clock.now(),
        );
        // The settings were validated with a secret-shaped value, so this is a valid header.
        if let Some(value) = header.ok().and_then(|h| HeaderValue::try_from(h).ok()) {
            response.headers_mut().append(SET_COOKIE, value);
        }
        patch_vary_cookie(response.headers_mut());
        response
    }
}

/// The response for a session that could not be read or written.
fn session_failure(e: &SessionError) -> Response<String> {
    let status = crate::session::error_status(e);
    tracing::warn!(target: "tessera::csrf", error = %e, "the CSRF secret's session failed");
    let reason = status.canonical_reason().unwrap_or("Error");
    plain(status, format!("{reason}\n"))
}

/// The whole body, or why not: over `limit` bytes, or a failed read.
async fn read_limited<B>(body: B, limit: usize) -> Result<Vec<u8>, String>
where
    B: Body,
    B::Data: Into<Vec<u8>>,
    B::Error: fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| format!("the body could not be read: {e}"))?;
        if let Ok(data) = frame.into_data() {
            let data: Vec<u8> = data.into();
            if bytes.len().saturating_add(data.len()) > limit {
                return Err(FormError::TooBig.to_string());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// Django's `patch_vary_headers(response, ("Cookie",))`: `Cookie` added to the one `Vary`
/// list unless it is there (in any case); `*` stays alone.
fn patch_vary_cookie(headers: &mut http::HeaderMap) {
    let mut listed: Vec<String> = headers
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if !listed.iter().any(|v| v.eq_ignore_ascii_case("cookie")) {
        listed.push("Cookie".to_owned());
    }
    let joined = if listed.iter().any(|v| v == "*") {
        "*".to_owned()
    } else {
        listed.join(", ")
    };
    if let Ok(value) = HeaderValue::try_from(joined) {
        headers.insert(VARY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_is_patched_as_django_does() {
        let mut headers = http::HeaderMap::new();
        patch_vary_cookie(&mut headers);
        assert_eq!(headers[VARY], "Cookie");
        let mut headers = http::HeaderMap::new();
        headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
        headers.append(VARY, HeaderValue::from_static("cookie"));
        patch_vary_cookie(&mut headers);
        assert_eq!(headers[VARY], "Accept-Encoding, cookie");
        let mut headers = http::HeaderMap::new();
        headers.append(VARY, HeaderValue::from_static("*"));
        patch_vary_cookie(&mut headers);
        assert_eq!(headers[VARY], "*");
    }
}
