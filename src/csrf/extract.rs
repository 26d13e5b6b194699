//! The axum extractor: take a [`CsrfToken`] as a handler argument.

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use super::handle::CsrfToken;
use super::random::RandomUnavailable;

/// The handler asked for a [`CsrfToken`], but no [`CsrfLayer`](super::CsrfLayer) is
/// installed.
#[derive(Debug, Clone, Copy)]
pub struct MissingCsrfLayer;

impl IntoResponse for MissingCsrfLayer {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "CsrfLayer is not installed on this route\n",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = MissingCsrfLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or(MissingCsrfLayer)
    }
}

impl IntoResponse for RandomUnavailable {
    /// A 500 with a generic body; the detail goes to the log.
    fn into_response(self) -> Response {
        tracing::error!(target: "tessera::csrf", error = %self, "no CSRF token");
        (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n").into_response()
    }
}
