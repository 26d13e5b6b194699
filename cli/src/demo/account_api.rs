//! The login and the user's sessions for scripts: `POST /api/login`, `POST /api/logout`,
//! `GET /api/user`, `GET /api/sessions`, `POST /api/sessions/revoke`. Bodies are JSON (the
//! rule that makes the API safe without a CSRF token is in [`super::api_guard`]); errors are
//! `{"error": "…"}`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::account::{self, AccountError, Revoke};
use super::api::ApiError;
use super::html::rfc3339;
use super::DemoState;
use tessera::auth::{Auth, AuthError};

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        let (status, message) = e.status_and_message();
        ApiError::new(status, message)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        AccountError::Auth(e).into()
    }
}

type JsonResult = Result<Json<Value>, ApiError>;

/// `{"username", "password"}`.
#[derive(Debug, Deserialize)]
pub(super) struct Credentials {
    username: String,
    password: String,
}

/// `POST /api/login`: Django's `authenticate` and `login`; `{"id": "<pk>"}` and the session
/// cookie, or 401.
pub(super) async fn login(
    State(state): State<Arc<DemoState>>,
    auth: Auth,
    Json(credentials): Json<Credentials>,
) -> JsonResult {
    if !state.logins {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "login needs a SQL session store (sqlite://, postgres:// or mysql://)",
        ));
    }
    let Some(user) = auth
        .authenticate(&credentials.username, &credentials.password)
        .await?
    else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong username or password (or the user is inactive)",
        ));
    };
    auth.login(&user).await?;
    Ok(Json(json!({ "id": user.id })))
}

/// `POST /api/logout`: Django's `logout` (the session flushed); `{"id": null}`.
pub(super) async fn logout(auth: Auth) -> JsonResult {
    auth.logout().await?;
    Ok(Json(json!({ "id": null })))
}

/// `GET /api/user`: `{"id": "<pk>"}`, or `{"id": null}` for an anonymous visitor.
pub(super) async fn user(auth: Auth) -> JsonResult {
    let id = auth.user().await?.map(|u| u.id);
    Ok(Json(json!({ "id": id })))
}

/// `GET /api/sessions`: the logged-in user's sessions, `{"sessions": [{"id", "created",
/// "last_seen", "expires", "current"}]}` with the key shown short; 401 for an anonymous
/// visitor.
pub(super) async fn sessions(State(state): State<Arc<DemoState>>, auth: Auth) -> JsonResult {
    let user = account::logged_in(&auth).await?;
    let listed = account::list(&state, &auth, &user).await?;
    let sessions: Vec<Value> = listed
        .iter()
        .map(|shown| {
            let s = &shown.session;
            json!({
                "id": s.short(),
                "created": rfc3339(s.created_at),
                "last_seen": rfc3339(s.last_seen),
                "expires": rfc3339(s.expires_at),
                "current": shown.current,
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

/// `{"id": "<short>"}`, `{"others": true}` or `{"all": true}`.
#[derive(Debug, Deserialize)]
pub(super) struct RevokeBody {
    id: Option<String>,
    #[serde(default)]
    others: bool,
    #[serde(default)]
    all: bool,
}

/// `POST /api/sessions/revoke`: ends the sessions named; `{"revoked": N, "logged_out": bool}`
/// (`logged_out`: this client's own session was one of them).
pub(super) async fn revoke(
    State(state): State<Arc<DemoState>>,
    auth: Auth,
    Json(body): Json<RevokeBody>,
) -> JsonResult {
    let user = account::logged_in(&auth).await?;
    let what = Revoke::from_fields(body.id, body.others, body.all)?;
    let revoked = account::revoke(&state, &auth, &user, what).await?;
    Ok(Json(
        json!({ "revoked": revoked.count, "logged_out": revoked.this_browser }),
    ))
}
