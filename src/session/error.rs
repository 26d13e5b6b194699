//! What can go wrong with a session, and the HTTP status each answers with.

use std::sync::Arc;

use super::expiry;
use crate::json::ConvertError;
use crate::store::StoreError;

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed or timed out; the middleware answers 503.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key is not in the session (Django's `KeyError`).
    #[error("KeyError: {0:?}")]
    KeyError(String),
    /// A value could not be converted to or from the requested type.
    #[error("session value conversion failed: {0}")]
    Convert(#[from] ConvertError),
    /// The stored expiry could not be interpreted.
    #[error("{0}")]
    Expiry(#[from] expiry::ExpiryError),
    /// The session was deleted by a concurrent request (Django's `SessionInterrupted`, 400).
    #[error("SessionInterrupted: the session was deleted before the request finished")]
    Interrupted,
    /// The operating system's random source failed.
    #[error("could not draw a session key: {0}")]
    KeyGeneration(String),
    /// A cookie-held session grew past what a browser keeps (4096 bytes).
    #[error("the session is {0} bytes in its cookie; browsers drop cookies over 4096 bytes")]
    TooLarge(usize),
    /// The data could never be read back (nested too deep, or too large): the write is
    /// refused, 400, and the stored session keeps what it had.
    #[error("session not saved: {0}")]
    Unstorable(String),
}

/// The HTTP status a session error answers with: 503 when the store failed or timed out
/// (try again later), 400 for `SessionInterrupted` (as Django) and for data that could never be
/// read back, 500 for anything else.
pub fn error_status(e: &SessionError) -> http::StatusCode {
    match e {
        SessionError::Store(_) => http::StatusCode::SERVICE_UNAVAILABLE,
        SessionError::Interrupted | SessionError::Unstorable(_) => http::StatusCode::BAD_REQUEST,
        _ => http::StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Shapes the response for a session that could not be loaded or saved (see
/// [`SessionLayer::error_response`](crate::SessionLayer::error_response)).
pub type ErrorResponder = Arc<dyn Fn(&SessionError) -> http::Response<String> + Send + Sync>;

/// The default error response: the status [`error_status`](crate::session::error_status)
/// gives, and a body that says nothing internal.
pub(crate) fn default_error_response(e: &SessionError) -> http::Response<String> {
    let status = error_status(e);
    let body = match (e, status) {
        // Says which limit the client's data ran into; nothing internal.
        (SessionError::Unstorable(_), _) => format!("Bad Request: {e}\n"),
        (_, http::StatusCode::SERVICE_UNAVAILABLE) => "Service Unavailable\n".to_owned(),
        (_, http::StatusCode::BAD_REQUEST) => {
            "Bad Request: the session was ended by another request\n".to_owned()
        }
        _ => "Internal Server Error\n".to_owned(),
    };
    let mut r = http::Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
