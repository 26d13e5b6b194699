//! Why the JSON API needs no CSRF token, and the rule that makes that safe.
//!
//! Scripts call `/api/…` with no token. What keeps another site's page from making a
//! visitor's browser call it is the body's type: every `POST`, `PUT`, `PATCH` and `DELETE`
//! under `/api/` must say `Content-Type: application/json` (415 otherwise, before the session
//! is touched). An HTML form can only send `application/x-www-form-urlencoded`,
//! `multipart/form-data` or `text/plain`; a page's `fetch` can send JSON to another origin
//! only after a CORS preflight, and this site refuses every preflight (403, no
//! `Access-Control-Allow-*` header), so the browser never sends the request. A JSON request
//! under `/api/` is then exempt from the [`CsrfLayer`](tessera::csrf::CsrfLayer)'s token check
//! ([`CsrfExempt`]); the HTML forms keep Django's token. The cross-site guard
//! ([`super::cross_site`]) still applies to both.

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tessera::csrf::CsrfExempt;

use super::api::{is_api, is_json, ApiError};

/// The middleware: refuses preflights and non-JSON API writes, exempts JSON API calls from
/// the CSRF token.
pub(super) async fn guard(mut req: Request, next: Next) -> Response {
    if is_preflight(&req) {
        // Plain text here; `json_errors` makes it JSON under /api/.
        return (
            StatusCode::FORBIDDEN,
            "Refused: this site answers no cross-origin (CORS) requests.",
        )
            .into_response();
    }
    if is_api(req.uri().path()) {
        if writes(req.method()) && !is_json(req.headers().get(CONTENT_TYPE)) {
            return ApiError::unsupported_type(req.headers()).into_response();
        }
        req.extensions_mut().insert(CsrfExempt);
    }
    next.run(req).await
}

/// A CORS preflight: what a browser sends before another origin's non-simple request.
fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS && req.headers().contains_key("access-control-request-method")
}

/// The methods that change something, so must carry JSON.
fn writes(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}
