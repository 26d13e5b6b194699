//! axum extractors: take a [`Session`] or [`Cookies`] as a handler argument.

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::cookie::Cookies;
use crate::session::{Session, SessionError};

/// The handler asked for a session, but no [`SessionLayer`](crate::SessionLayer) is installed.
#[derive(Debug, Clone, Copy)]
pub struct MissingSessionLayer;

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "SessionLayer is not installed on this route\n",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(MissingSessionLayer)
    }
}

impl IntoResponse for SessionError {
    /// Store failures are 503 and `SessionInterrupted` is 400, as the middleware answers them;
    /// anything else is a 500. The body never contains a session key.
    fn into_response(self) -> Response {
        let status = match &self {
            SessionError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            SessionError::Interrupted => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, format!("{self}\n")).into_response()
    }
}

/// The handler asked for [`Cookies`], but no [`CookieLayer`](crate::cookie::CookieLayer) is
/// installed.
#[derive(Debug, Clone, Copy)]
pub struct MissingCookieLayer;

impl IntoResponse for MissingCookieLayer {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "CookieLayer is not installed on this route\n",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Cookies {
    type Rejection = MissingCookieLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Cookies>()
            .cloned()
            .ok_or(MissingCookieLayer)
    }
}
