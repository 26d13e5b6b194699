//! The per-request CSRF state, as a handle a handler (or login code) can use: Django's
//! `get_token(request)`, `rotate_token(request)`, and `request.META["CSRF_COOKIE"]`.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::random::{CsrfRandom, RandomUnavailable};
use super::token::{is_secret, mask};

/// The CSRF state of one request. The [`CsrfLayer`](super::CsrfLayer) puts one into the
/// request's extensions; with the `axum` feature it is also a handler argument.
///
/// Cheap to clone; clones share the state, so a token or rotation made through any clone
/// reaches the response.
///
/// ```
/// use axum::{routing::get, Router};
/// use tessera::csrf::{CsrfConfig, CsrfLayer, CsrfToken};
///
/// async fn form(csrf: CsrfToken) -> Result<String, tessera::csrf::RandomUnavailable> {
///     let token = csrf.get_token()?;
///     Ok(format!(
///         r#"<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{token}"></form>"#
///     ))
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(form))
///     .layer(CsrfLayer::new(CsrfConfig::default())?);
/// # Ok::<(), tessera::session::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct CsrfToken {
    inner: Arc<Inner>,
}

struct Inner {
    random: CsrfRandom,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// `request.META["CSRF_COOKIE"]`: the secret in use.
    secret: Option<String>,
    /// `request.META["CSRF_COOKIE_NEEDS_UPDATE"]`: send the secret with the response.
    needs_update: bool,
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state();
        // The secret is never printed.
        f.debug_struct("CsrfToken")
            .field("has_secret", &st.secret.is_some())
            .field("needs_update", &st.needs_update)
            .finish_non_exhaustive()
    }
}

impl CsrfToken {
    /// The state of a request whose secret (`META["CSRF_COOKIE"]`) is `secret`, outside any
    /// layer: for login code, jobs and tests.
    pub fn detached(secret: Option<String>, random: CsrfRandom) -> Self {
        CsrfToken {
            inner: Arc::new(Inner {
                random,
                state: Mutex::new(State {
                    secret,
                    needs_update: false,
                }),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change is whole, so a lock poisoned by a panic elsewhere is still consistent.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Django's `_add_new_csrf_cookie`: a new secret, to be sent.
    fn new_secret(&self, st: &mut State) -> Result<String, RandomUnavailable> {
        let secret = self.inner.random.new_string()?;
        st.secret = Some(secret.clone());
        st.needs_update = true;
        Ok(secret)
    }

    /// A fresh masked token for a form or a page (Django's `get_token`): a different string
    /// on every call, each proving the one secret. Makes the response carry the secret
    /// (`Set-Cookie`, or the session), so the browser has it when the form comes back.
    ///
    /// # Errors
    ///
    /// The system's random source failed.
    pub fn get_token(&self) -> Result<String, RandomUnavailable> {
        let mut st = self.state();
        let secret = match st.secret.clone().filter(|s| is_secret(s)) {
            Some(secret) => {
                // Re-sent even if the browser has it, which renews its expiry.
                st.needs_update = true;
                secret
            }
            // None yet (or a session value that is no secret): a new one, as Django draws it.
            None => self.new_secret(&mut st)?,
        };
        let mask_string = self.inner.random.new_string()?;
        // Both are 32 allowed characters, so masking cannot fail.
        mask(&secret, &mask_string).map_err(|e| RandomUnavailable::new(e.to_string()))
    }

    /// A new secret for this visitor (Django's `rotate_token`), sent with the response.
    /// Call it when the user logs in, so a token planted before the login is worthless.
    ///
    /// # Errors
    ///
    /// The system's random source failed.
    pub fn rotate(&self) -> Result<(), RandomUnavailable> {
        let mut st = self.state();
        self.new_secret(&mut st).map(drop)
    }

    /// `request.META["CSRF_COOKIE"]`: the secret in use, if any. It goes into the cookie
    /// anyway; keep it out of logs.
    pub fn secret(&self) -> Option<String> {
        self.state().secret.clone()
    }

    /// `request.META["CSRF_COOKIE_NEEDS_UPDATE"]`: whether the response will carry the
    /// secret.
    pub fn needs_update(&self) -> bool {
        self.state().needs_update
    }

    /// The secret to send with the response, if it must be sent; clears the flag (Django's
    /// `process_response`).
    pub(crate) fn take_update(&self) -> Option<String> {
        let mut st = self.state();
        if !st.needs_update {
            return None;
        }
        st.needs_update = false;
        st.secret.clone()
    }

    /// Replaces a malformed cookie's secret with a new one (Django's `process_request`).
    pub(crate) fn replace_secret(&self) -> Result<(), RandomUnavailable> {
        self.rotate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csrf::token::unmask;

    #[test]
    fn tokens_differ_but_carry_one_secret() {
        let csrf = CsrfToken::detached(None, CsrfRandom::os());
        let (a, b) = (csrf.get_token().unwrap(), csrf.get_token().unwrap());
        assert_ne!(a, b);
        let secret = csrf.secret().unwrap();
        assert_eq!(unmask(&a).unwrap(), secret);
        assert_eq!(unmask(&b).unwrap(), secret);
        assert!(csrf.needs_update());
        assert_eq!(csrf.take_update(), Some(secret.clone()));
        assert!(!csrf.needs_update());
        csrf.rotate().unwrap();
        assert_ne!(csrf.secret().unwrap(), secret);
        assert!(!format!("{csrf:?}").contains(&csrf.secret().unwrap()));
    }
}
