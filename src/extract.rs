//! axum extractors: take a [`Session`] or [`Cookies`] as a handler argument.

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::cookie::Cookies;
use crate::middleware::HandlerSessionError;
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
    /// The status of [`error_status`](crate::session::error_status) with a generic body; the
    /// detail goes to the log (never a session key), and the [`SessionLayer`](crate::SessionLayer)
    /// replaces this response with its own error response.
    fn into_response(self) -> Response {
        let status = crate::session::error_status(&self);
        // Store failures were logged where they happened.
        if !matches!(self, SessionError::Store(_)) {
            tracing::warn!(target: "tessera::session", error = %self, "session error in a handler");
        }
        let reason = status.canonical_reason().unwrap_or("Error");
        let mut response = (status, format!("{reason}\n")).into_response();
        response
            .extensions_mut()
            .insert(HandlerSessionError(std::sync::Arc::new(self)));
        response
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
