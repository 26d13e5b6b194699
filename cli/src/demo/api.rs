//! `/api/session` for scripts: the session as JSON, merged into with `PATCH`, flushed with
//! `DELETE`, its key changed with `POST /api/session/cycle_key`. Every error is JSON too:
//! `{"error": "…"}` with the status code.
//!
//! Scripts need no token. A page on another site cannot use the API through a visitor's
//! browser: [`super::cross_site`] refuses its `PATCH`, `DELETE` and `POST`, and every one of
//! them must say `Content-Type: application/json` ([`super::api_guard`]), which a cross-site
//! HTML form cannot send and `fetch` sends only after a CORS preflight this site refuses.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::html::rfc3339;
use super::index::check_session_key;
use super::DemoState;
use tessera::json::{self, Value};
use tessera::session::{Session, SessionError};

/// An API failure: a status and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub(super) struct ApiError(StatusCode, String);

impl ApiError {
    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, message.into())
    }

    /// Any status and message.
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError(status, message.into())
    }

    /// 415: the body is not labelled JSON.
    pub(super) fn unsupported_type(headers: &HeaderMap) -> Self {
        let sent = headers.get(CONTENT_TYPE).map_or_else(
            || "none".to_owned(),
            |v| format!("{:?}", String::from_utf8_lossy(v.as_bytes())),
        );
        ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the body must be sent as Content-Type: application/json (got {sent})"),
        )
    }
}

impl From<SessionError> for ApiError {
    /// The status the session layer would answer with, and a message that says nothing
    /// internal (the layer has logged the detail).
    fn from(e: SessionError) -> Self {
        let status = tessera::session::error_status(&e);
        let message = match status {
            StatusCode::SERVICE_UNAVAILABLE => "the session store is not responding",
            // Which limit the data ran into: the client's to fix, nothing internal.
            StatusCode::BAD_REQUEST if matches!(e, SessionError::Unstorable(_)) => {
                return ApiError(status, e.to_string());
            }
            StatusCode::BAD_REQUEST => "the session was ended by another request",
            _ => "the session could not be read or written",
        };
        ApiError(status, message.to_owned())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

type ApiResult = Result<SessionJson, ApiError>;

/// The session as JSON, written by tessera's writer as Python's `json` writes it: integers of
/// any size and floats keep their exact text (serde_json turned `2**70` into
/// `1.1805916207174113e+21` and NaN into `null`, which a script PATCHing the data back stored).
#[derive(Debug)]
pub(super) struct SessionJson(Value);

impl IntoResponse for SessionJson {
    fn into_response(self) -> Response {
        let body = json::to_string(&self.0);
        (
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response()
    }
}

/// `{"key", "expiry", "expire_at_browser_close", "data"}` as the server sees the session now.
async fn view(session: &Session) -> Result<SessionJson, SessionError> {
    let data = session.items().await?;
    let key = session.session_key().await.map(|k| k.as_str().to_owned());
    let mut view = json::Map::new();
    view.insert("key".into(), key.map_or(Value::Null, Value::Str));
    view.insert(
        "expiry".into(),
        Value::Str(rfc3339(session.get_expiry_date().await?)),
    );
    view.insert(
        "expire_at_browser_close".into(),
        Value::Bool(session.get_expire_at_browser_close().await?),
    );
    view.insert("data".into(), Value::Dict(data));
    Ok(SessionJson(Value::Dict(view)))
}

/// `GET /api/session`: an unknown or flushed key reads as a fresh, empty session.
pub(super) async fn get_session(session: Session) -> ApiResult {
    Ok(view(&session).await?)
}

/// `PATCH /api/session`: merges a JSON object's keys into the session, keeping its key.
/// Concurrent patches naming different keys all land (the save is a compare-and-swap). The
/// body is labelled `application/json` ([`super::api_guard`] refused it otherwise, before
/// anything was read or written): the type an HTML form on another site cannot send.
pub(super) async fn patch_session(
    State(state): State<Arc<DemoState>>,
    session: Session,
    body: Bytes,
) -> ApiResult {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
    // Parsing stops past the session's value budget: 2 bytes of `[]` are 32 in memory.
    let value = json::from_str_limited(text, state.config.max_data_values)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let Value::Dict(changes) = value else {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    };
    for key in changes.keys() {
        check_session_key(key).map_err(ApiError::bad_request)?;
    }
    session.update(changes).await?;
    if session.session_key().await.is_none() {
        // A new session gets its key when saved: save now so the answer can show it.
        session.save().await?;
    }
    Ok(view(&session).await?)
}

/// `DELETE /api/session`: flushes (deletes the record; the response deletes the cookie).
pub(super) async fn delete_session(session: Session) -> ApiResult {
    session.flush().await?;
    Ok(view(&session).await?)
}

/// `POST /api/session/cycle_key`: Django's `cycle_key()`, as its `login()` calls it against
/// session fixation. The same data under a new key, answered as `GET /api/session` shows it,
/// with the new key's cookie; the old key no longer loads.
///
/// An empty session (none yet, an unknown or expired key, a flushed one) has no key worth
/// protecting: nothing is created or changed, and the answer is what `GET` shows, `"key": null`
/// and no cookie. Cycling it would store an empty record that no cookie points to, one per
/// request.
pub(super) async fn cycle_key(session: Session) -> ApiResult {
    if !session.is_empty().await? {
        session.cycle_key().await?;
    }
    Ok(view(&session).await?)
}

/// Whether a path is the JSON API's (its errors are JSON).
pub(super) fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Whether a `Content-Type` says JSON: `application/json`, in any case, parameters allowed.
pub(super) fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Under `/api/`, turns any error answer that is not JSON (the session middleware's 503 and
/// 400, axum's 404, 405 and 413) into `{"error": "…"}` with the same status.
pub(super) async fn json_errors(req: Request, next: Next) -> Response {
    let api = is_api(req.uri().path());
    let response = next.run(req).await;
    let status = response.status();
    let json = is_json(response.headers().get(CONTENT_TYPE));
    if !api || json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = Body::from(json!({ "error": message }).to_string());
    Response::from_parts(parts, body)
}
