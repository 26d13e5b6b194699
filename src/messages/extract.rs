//! The axum extractor: take [`Messages`] as a handler argument.

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use super::error::MessagesError;
use super::layer::{error_status, Messages};

/// The handler asked for [`Messages`], but no [`MessagesLayer`](super::MessagesLayer) is
/// installed.
#[derive(Debug, Clone, Copy)]
pub struct MissingMessagesLayer;

impl IntoResponse for MissingMessagesLayer {
    fn into_response(self) -> Response {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "MessagesLayer is not installed on this route\n",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Messages {
    type Rejection = MissingMessagesLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Messages>()
            .cloned()
            .ok_or(MissingMessagesLayer)
    }
}

impl IntoResponse for MessagesError {
    /// A 500 (the session's status for a session failure) with a generic body; the detail
    /// goes to the log, never a stored value.
    fn into_response(self) -> Response {
        tracing::warn!(target: "tessera::messages", error = %self, "messages error in a handler");
        let status = error_status(&self);
        let reason = status.canonical_reason().unwrap_or("Error");
        (status, format!("{reason}\n")).into_response()
    }
}
