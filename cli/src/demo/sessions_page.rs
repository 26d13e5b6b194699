//! `/sessions/`: the logged-in visitor's sessions (from the store's per-user index), each with
//! a revoke button, and "log out everywhere else".

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::account::{self, AccountError, Revoke};
use super::html::{csrf_field, escape_html as esc, messages_html, page, utc_text, PageError};
use super::login::logout_button;
use super::DemoState;
use tessera::auth::Auth;
use tessera::csrf::CsrfToken;
use tessera::messages::Messages;

impl From<AccountError> for PageError {
    fn from(e: AccountError) -> Self {
        let (status, message) = e.status_and_message();
        PageError::Status(status, message)
    }
}

/// `GET /sessions/`: the table, or the login page for an anonymous visitor.
pub(super) async fn sessions_page(
    State(state): State<Arc<DemoState>>,
    auth: Auth,
    csrf: CsrfToken,
    messages: Messages,
) -> Result<Response, PageError> {
    let user = match account::logged_in(&auth).await {
        Ok(user) => user,
        Err(AccountError::Anonymous) => return Ok(Redirect::to("/login/").into_response()),
        Err(e) => return Err(e.into()),
    };
    let token = csrf_field(&csrf)?;
    let mut body = messages_html(&messages).await;
    let _ = write!(
        body,
        "<p>You are logged in as user <code id=\"user-id\">{}</code>. {}</p>",
        esc(&user.id),
        logout_button(&token)
    );
    let listed = match account::list(&state, &auth, &user).await {
        Ok(listed) => listed,
        Err(AccountError::NotIndexed(why)) => {
            let _ = write!(
                body,
                "<p class=\"result warn\" id=\"result\">This store cannot list your sessions: {}</p>",
                esc(&why)
            );
            return Ok(page("Your sessions", &body).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    body.push_str(
        "<p>Every browser logged in as you, from the store's per-user index. Ending one logs \
         that browser out at its next request.</p>\
         <table id=\"sessions\"><tr><th>session</th><th>created</th><th>last seen</th>\
         <th>expires</th><th></th></tr>",
    );
    for shown in &listed {
        let s = &shown.session;
        let short = s.short();
        let marker = if shown.current {
            " <b class=\"current\">(this browser)</b>"
        } else {
            ""
        };
        let _ = write!(
            body,
            "<tr><td class=\"mono\">{}{marker}</td><td>{}</td><td>{}</td><td>{}</td><td>\
             <form method=\"post\" action=\"/sessions/revoke\" class=\"inline revoke\">{token}\
             <input type=\"hidden\" name=\"id\" value=\"{}\"><button type=\"submit\">End</button>\
             </form></td></tr>",
            esc(&short),
            esc(&utc_text(s.created_at)),
            esc(&utc_text(s.last_seen)),
            esc(&utc_text(s.expires_at)),
            esc(&short),
        );
    }
    let _ = write!(
        body,
        "</table><form method=\"post\" action=\"/sessions/revoke\" id=\"others-form\">{token}\
         <input type=\"hidden\" name=\"others\" value=\"1\">\
         <button type=\"submit\">Log out everywhere else</button></form>"
    );
    Ok(page("Your sessions", &body).into_response())
}

/// The revoke forms' fields: `id=<short>` or `others=1` (or `all=1`).
#[derive(Debug, Deserialize)]
pub(super) struct RevokeForm {
    id: Option<String>,
    others: Option<String>,
    all: Option<String>,
}

/// `POST /sessions/revoke`: ends the sessions named, says how many, and back to the list (or
/// to the login page when this browser's own session ended).
pub(super) async fn revoke_form(
    State(state): State<Arc<DemoState>>,
    auth: Auth,
    messages: Messages,
    Form(form): Form<RevokeForm>,
) -> Result<Response, PageError> {
    let user = match account::logged_in(&auth).await {
        Ok(user) => user,
        Err(AccountError::Anonymous) => return Ok(Redirect::to("/login/").into_response()),
        Err(e) => return Err(e.into()),
    };
    let what = Revoke::from_fields(form.id, form.others.is_some(), form.all.is_some())?;
    let others = matches!(what, Revoke::Others);
    let revoked = account::revoke(&state, &auth, &user, what).await?;
    if revoked.this_browser {
        messages.info("This browser's session ended: you are logged out.");
        return Ok(Redirect::to("/login/").into_response());
    }
    if others {
        messages.success(match revoked.count {
            1 => "Logged out 1 other session.".to_owned(),
            n => format!("Logged out {n} other sessions."),
        });
    } else {
        messages.success("That session ended: its browser is logged out.");
    }
    Ok(Redirect::to("/sessions/").into_response())
}
