//! The tower layer that gives handlers a [`Cookies`] handle: the request's cookies, parsed as
//! Django's `request.COOKIES`, and the response's `Set-Cookie` changes, written after the
//! handler returns.
//!
//! Handlers that never touch cookies pay nothing but a reference count: the `Cookie` headers
//! are kept as they arrived and parsed on first use. Signed cookies use the layer's
//! [`CookieSigner`], so handlers never see the keys.
//!
//! A cookie the jar refuses (Django's errors, and by default the strict [`CookiePolicy`]) is
//! an error returned by [`Cookies::set`], never a header silently left out of the response.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tessera::cookie::{CookieLayer, CookieOptions, Cookies};
//! use tessera::signing::SecretKeys;
//!
//! async fn visit(cookies: Cookies) -> String {
//!     let visits: u32 = cookies
//!         .get_signed_or("visits", "", None, None::<String>)
//!         .ok()
//!         .flatten()
//!         .and_then(|v| v.parse().ok())
//!         .unwrap_or(0);
//!     let options = CookieOptions::new().max_age(3600).httponly(true);
//!     match cookies.set_signed("visits", &(visits + 1).to_string(), "", &options) {
//!         Ok(()) => format!("visit {}", visits + 1),
//!         Err(e) => format!("cannot count: {e}"),
//!     }
//! }
//!
//! let app: Router = Router::new()
//!     .route("/", get(visit))
//!     .layer(CookieLayer::signed(&SecretKeys::new("a long random secret")));
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use http::header::{HeaderValue, COOKIE};
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use super::error::CookieError;
use super::http_date::unix_now;
use super::jar::CookieJar;
use super::options::{CookieOptions, DeleteOptions, MaxAge};
use super::parse::parse_request_cookies;
use super::policy::CookiePolicy;
use super::signed::{CookieSigner, SignedCookieError};
use crate::signing::{SecretKeys, SigningError};

/// Installs a [`Cookies`] handle in every request's extensions and writes its queued
/// `Set-Cookie` headers into the response.
#[derive(Clone, Default)]
pub struct CookieLayer {
    signer: Option<Arc<CookieSigner>>,
    policy: CookiePolicy,
}

impl fmt::Debug for CookieLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieLayer")
            .field("signer", &self.signer)
            .field("policy", &self.policy)
            .finish()
    }
}

impl CookieLayer {
    /// Plain cookies only: the signed methods of [`Cookies`] fail with
    /// [`CookieError::NoSecretKey`] / [`SigningError::EmptyKey`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Plain and signed cookies, signed with `SECRET_KEY` and verified with it and its
    /// fallbacks, with Django 6.1's defaults (v2 salts only).
    pub fn signed(keys: &SecretKeys) -> Self {
        Self::new().with_signer(CookieSigner::new(keys))
    }

    /// Uses `signer` for signed cookies, e.g. one configured for legacy salts to share
    /// cookies with Django ≤ 5.2.14.
    #[must_use]
    pub fn with_signer(mut self, signer: CookieSigner) -> Self {
        self.signer = Some(Arc::new(signer));
        self
    }

    /// Replaces the strict default policy; [`CookiePolicy::lenient`] writes what Django
    /// would, except headers `http` cannot carry, which are still refused at `set` time.
    #[must_use]
    pub fn with_policy(mut self, policy: CookiePolicy) -> Self {
        self.policy = policy;
        self
    }
}

impl<S> Layer<S> for CookieLayer {
    type Service = CookieService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CookieService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`CookieLayer`] wraps around a handler.
#[derive(Clone, Debug)]
pub struct CookieService<S> {
    inner: S,
    layer: CookieLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CookieService<S>
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
        let cookies = Cookies::from_request_headers(
            req.headers(),
            self.layer.signer.clone(),
            self.layer.policy,
        );
        req.extensions_mut().insert(cookies.clone());
        Box::pin(async move {
            let mut response = inner.call(req).await?;
            if let Err(e) = cookies.append_to(response.headers_mut(), unix_now()) {
                // Unreachable: `set` refuses what cannot be written. Answering without the
                // cookie could leave a stale one in the browser, so fail loudly instead.
                tracing::error!(target: "tessera::cookie", error = %e, "Set-Cookie not writable");
                let mut error = Response::new(ResBody::from("Internal Server Error\n"));
                *error.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                return Ok(error);
            }
            Ok(response)
        })
    }
}

/// The cookies of the current request and the `Set-Cookie` changes for its response.
///
/// A cheap-to-clone handle (clones share one jar); take it from the request extensions or,
/// with the `axum` feature, as a handler argument. Reads see the *request* cookies, as
/// Django's `request.COOKIES`: a cookie set during the request is not read back until the
/// browser returns it. Changes made after the response has been produced are lost.
#[derive(Clone)]
pub struct Cookies {
    inner: Arc<Inner>,
}

struct Inner {
    signer: Option<Arc<CookieSigner>>,
    policy: CookiePolicy,
    state: Mutex<State>,
}

/// The raw `Cookie` headers until the first use, then the jar parsed from them.
enum State {
    Raw(Vec<HeaderValue>),
    Parsed(CookieJar),
}

impl fmt::Debug for Cookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Cookie values are credentials (session keys, tokens): never print them.
        f.debug_struct("Cookies")
            .field("signed", &self.inner.signer.is_some())
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

/// A handle with no signer cannot verify anything; like an empty key, this is a
/// configuration error that a default must not hide.
fn no_signer() -> SignedCookieError {
    SignedCookieError::Malformed(SigningError::EmptyKey)
}

impl Cookies {
    fn from_request_headers(
        headers: &http::HeaderMap,
        signer: Option<Arc<CookieSigner>>,
        policy: CookiePolicy,
    ) -> Self {
        Cookies {
            inner: Arc::new(Inner {
                signer,
                policy,
                state: Mutex::new(State::Raw(
                    headers.get_all(COOKIE).iter().cloned().collect(),
                )),
            }),
        }
    }

    /// The jar, parsed now if this is the first use.
    fn jar(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the jar half-changed (every change is
        // applied whole), so a poisoned lock is still usable.
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let State::Raw(raw) = &*state {
            let jar = CookieJar::from_request_cookies(parse_request_cookies(raw))
                .with_policy(self.inner.policy)
                .require_header_values();
            *state = State::Parsed(jar);
        }
        state
    }

    fn with_jar<T>(&self, f: impl FnOnce(&mut CookieJar) -> T) -> T {
        match &mut *self.jar() {
            State::Parsed(jar) => f(jar),
            State::Raw(_) => unreachable!("jar() parses the raw headers"),
        }
    }

    /// A request cookie's value, as `request.COOKIES.get(name)`.
    pub fn get(&self, name: &str) -> Option<String> {
        self.with_jar(|jar| jar.get(name).map(str::to_owned))
    }

    /// Queues `Set-Cookie: name=value` with Django's `set_cookie` semantics.
    ///
    /// # Errors
    ///
    /// Those of [`CookieJar::set`], plus [`CookieError::InvalidHeaderValue`] for a header
    /// `http` cannot carry under a lenient policy. On error nothing is queued.
    pub fn set(&self, name: &str, value: &str, options: &CookieOptions) -> Result<(), CookieError> {
        self.with_jar(|jar| jar.set(name, value, options))
    }

    /// Queues a deletion with Django's `delete_cookie(name, path, domain)` (`path: None` is
    /// `"/"`).
    ///
    /// # Errors
    ///
    /// As [`CookieJar::delete`].
    pub fn delete(
        &self,
        name: &str,
        path: Option<&str>,
        domain: Option<&str>,
    ) -> Result<(), CookieError> {
        self.with_jar(|jar| jar.delete(name, path, domain))
    }

    /// Queues a deletion with all of `delete_cookie`'s arguments.
    ///
    /// # Errors
    ///
    /// As [`CookieJar::delete_with`].
    pub fn delete_with(&self, name: &str, options: &DeleteOptions) -> Result<(), CookieError> {
        self.with_jar(|jar| jar.delete_with(name, options))
    }

    /// Queues `name` with `value` signed by the layer's signer, as `set_signed_cookie`.
    ///
    /// # Errors
    ///
    /// As [`CookieJar::set_signed`], and [`CookieError::NoSecretKey`] if the layer has no
    /// keys.
    pub fn set_signed(
        &self,
        name: &str,
        value: &str,
        salt: &str,
        options: &CookieOptions,
    ) -> Result<(), CookieError> {
        let Some(signer) = &self.inner.signer else {
            return Err(CookieError::NoSecretKey {
                name: name.to_owned(),
            });
        };
        self.with_jar(|jar| jar.set_signed(signer, name, value, salt, options))
    }

    /// `get_signed_cookie(name, salt=salt, max_age=max_age)` without a default.
    ///
    /// # Errors
    ///
    /// As [`CookieJar::get_signed`]; without keys on the layer,
    /// [`SignedCookieError::Malformed`] with [`SigningError::EmptyKey`].
    pub fn get_signed(
        &self,
        name: &str,
        salt: &str,
        max_age: Option<MaxAge>,
    ) -> Result<String, SignedCookieError> {
        let signer = self.inner.signer.as_deref().ok_or_else(no_signer)?;
        self.with_jar(|jar| jar.get_signed(signer, name, salt, max_age))
    }

    /// `get_signed_cookie(name, default=default, …)`: missing, tampered or expired gives
    /// `default`.
    ///
    /// # Errors
    ///
    /// As [`CookieJar::get_signed_or`]; without keys on the layer, as
    /// [`get_signed`](Self::get_signed) (the default does not hide a missing key).
    pub fn get_signed_or<T: From<String>>(
        &self,
        name: &str,
        salt: &str,
        max_age: Option<MaxAge>,
        default: T,
    ) -> Result<T, SignedCookieError> {
        let signer = self.inner.signer.as_deref().ok_or_else(no_signer)?;
        self.with_jar(|jar| jar.get_signed_or(signer, name, salt, max_age, default))
    }

    /// Appends the queued `Set-Cookie` headers; nothing at all if the handler never used the
    /// cookies.
    fn append_to(&self, headers: &mut http::HeaderMap, now: f64) -> Result<(), CookieError> {
        let state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &*state {
            State::Parsed(jar) if jar.has_pending() => jar.append_set_cookie_headers(headers, now),
            _ => Ok(()),
        }
    }
}
