//! The axum extractors: [`Auth`], [`MaybeUser`] and [`LoggedIn`] as handler arguments.

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use super::layer::Auth;
use super::login::AuthError;
use super::user::User;

/// The handler asked for [`Auth`], but no [`AuthLayer`](super::AuthLayer) is installed, or it
/// is not inside a [`SessionLayer`](crate::SessionLayer).
#[derive(Debug, Clone, Copy)]
pub struct MissingAuthLayer;

impl IntoResponse for MissingAuthLayer {
    fn into_response(self) -> Response {
        tracing::error!(target: "tessera::auth", "AuthLayer missing, or outside SessionLayer");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "AuthLayer is not installed inside SessionLayer on this route\n",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = MissingAuthLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Auth>()
            .cloned()
            .ok_or(MissingAuthLayer)
    }
}

/// The logged-in user, or `None` for an anonymous visitor (Django's `request.user`, with
/// `AnonymousUser` as `None`).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<User>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        auth.user()
            .await
            .map(MaybeUser)
            .map_err(IntoResponse::into_response)
    }
}

/// The logged-in user; an anonymous visitor gets `401 Unauthorized` (Django's
/// `login_required`, for an API: no redirect to a login page).
#[derive(Debug, Clone)]
pub struct LoggedIn(pub User);

impl<S: Send + Sync> FromRequestParts<S> for LoggedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match MaybeUser::from_request_parts(parts, state).await? {
            MaybeUser(Some(user)) => Ok(LoggedIn(user)),
            MaybeUser(None) => Err((StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response()),
        }
    }
}

impl IntoResponse for AuthError {
    /// The session's status for a session failure, 503 for a user source or random source
    /// that failed, 500 otherwise; a generic body, the detail in the log.
    fn into_response(self) -> Response {
        let status = match &self {
            AuthError::Session(e) => crate::session::error_status(e),
            AuthError::UserSource(_) | AuthError::Csrf(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        tracing::warn!(target: "tessera::auth", error = %self, "auth error in a handler");
        let reason = status.canonical_reason().unwrap_or("Error");
        (status, format!("{reason}\n")).into_response()
    }
}
