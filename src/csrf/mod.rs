//! Django's CSRF protection (`django.middleware.csrf`, Django 6.1): the same cookie, tokens,
//! checks and rejection reasons, so a form rendered by Django can post to tessera and the
//! other way round.
//!
//! - the 32-character secret and the masked 64-character token: [`mask`], [`unmask`],
//!   [`check_format`], [`token_matches`];
//! - [`CsrfConfig`]: the `CSRF_*` settings, validated into [`CsrfRules`];
//! - [`CsrfRules::check`]: the decision over a request's [`RequestFacts`], without HTTP,
//!   with Django's reasons as [`Rejection`];
//! - [`CsrfLayer`]: the tower layer (Django's `CsrfViewMiddleware`); it reads a POST
//!   form's body only when the token may be in it, and hands the body on intact;
//! - [`CsrfToken`]: the request's CSRF state (`get_token`, `rotate_token`), in the request
//!   extensions and, with the `axum` feature, a handler argument.
//!
//! With [`CsrfConfig::use_sessions`] the secret lives in the session, so the
//! [`SessionLayer`](crate::SessionLayer) must wrap the CSRF layer (be added after it with
//! axum's `.layer`). The guide is [`crate::guide::csrf`].
//!
//! ```
//! use axum::{routing::get, Router};
//! use tessera::csrf::{CsrfConfig, CsrfLayer, CsrfToken};
//!
//! async fn page(csrf: CsrfToken) -> Result<String, tessera::csrf::RandomUnavailable> {
//!     Ok(format!("<meta name=\"csrf-token\" content=\"{}\">", csrf.get_token()?))
//! }
//!
//! let app: Router = Router::new()
//!     .route("/", get(page).post(|| async { "posted" }))
//!     .layer(CsrfLayer::new(CsrfConfig::default())?);
//! # Ok::<(), tessera::session::ConfigError>(())
//! ```

mod check;
mod config;
#[cfg(feature = "axum")]
mod extract;
mod form;
mod handle;
mod layer;
mod origin;
mod random;
mod token;

pub use check::{
    IncomingSecret, Rejection, RequestFacts, TokenSource, CSRF_SESSION_KEY, FORM_FIELD,
};
pub use config::{CsrfConfig, CsrfRules};
#[cfg(feature = "axum")]
pub use extract::MissingCsrfLayer;
pub use handle::CsrfToken;
pub use layer::{CsrfExempt, CsrfLayer, CsrfService, FailureView};
pub use origin::AllowedHosts;
pub use random::{CsrfRandom, RandomUnavailable};
pub use token::{
    check_format, mask, token_matches, unmask, TokenFormatError, CSRF_ALLOWED_CHARS,
    CSRF_SECRET_LENGTH, CSRF_TOKEN_LENGTH,
};
