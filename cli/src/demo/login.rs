//! `/login/` and `/logout/`: Django's login form over the users of `auth_user`, with the CSRF
//! token in every form and a message after each action.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::html::{csrf_field, escape_html as esc, messages_html, page, PageError};
use super::DemoState;
use tessera::auth::Auth;
use tessera::csrf::CsrfToken;
use tessera::messages::Messages;

const NO_USERS: &str = "\
<p class=\"result warn\" id=\"result\">Login needs a SQL session store.</p>\
<p>The users are Django's <code>auth_user</code> table in the store's own database, so logging \
in works when the demo runs on SQLite (the default), PostgreSQL or MySQL: \
<code>tessera serve --store sqlite://tessera.sqlite3</code>, then add a user with \
<code>tessera user add NAME</code> (the same <code>--store</code>). The rest of the demo works \
on this store as it is.</p>";

/// `GET /login/`: the form, or who is logged in.
pub(super) async fn login_page(
    State(state): State<Arc<DemoState>>,
    auth: Auth,
    csrf: CsrfToken,
    messages: Messages,
) -> Result<Response, PageError> {
    login_response(&state, &auth, &csrf, &messages, StatusCode::OK, "").await
}

/// The login page with `status`, the messages, and the form (the name typed kept).
async fn login_response(
    state: &DemoState,
    auth: &Auth,
    csrf: &CsrfToken,
    messages: &Messages,
    status: StatusCode,
    username: &str,
) -> Result<Response, PageError> {
    let mut body = messages_html(messages).await;
    if !state.logins {
        body.push_str(NO_USERS);
        return Ok((status, page("Log in", &body)).into_response());
    }
    let token = csrf_field(csrf)?;
    if let Some(user) = auth.user().await.map_err(auth_failed)? {
        body.push_str(&format!(
            "<p class=\"result\" id=\"result\">You are logged in as user {}.</p>\
             <p><a href=\"/sessions/\">Your sessions</a></p>{}",
            esc(&user.id),
            logout_button(&token)
        ));
        return Ok((status, page("Log in", &body)).into_response());
    }
    body.push_str(&format!(
        "<p>The users are Django's <code>auth_user</code> in the store's database: passwords \
         are checked as Django checks them (PBKDF2-SHA256), so a user made with Django's \
         <code>createsuperuser</code> logs in here, and one made with \
         <code>tessera user add NAME</code> logs in on Django.</p>\
         <form method=\"post\" action=\"/login/\" id=\"login-form\">{token}\
         <label for=\"l-name\">username</label><input type=\"text\" id=\"l-name\" name=\"username\" value=\"{}\" required autocomplete=\"username\">\
         <label for=\"l-password\">password</label><input type=\"password\" id=\"l-password\" name=\"password\" required autocomplete=\"current-password\">\
         <button type=\"submit\">Log in</button></form>",
        esc(username)
    ));
    Ok((status, page("Log in", &body)).into_response())
}

/// The "log out" button, for any page that shows who is logged in.
pub(super) fn logout_button(csrf_field_html: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/logout/\" id=\"logout-form\" class=\"inline\">\
         {csrf_field_html}<button type=\"submit\">Log out</button></form>"
    )
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /login/`: Django's `authenticate` then `login`; "Welcome, NAME." and on to
/// `/sessions/`. A wrong name or password gets the form again, with a message and a 401.
pub(super) async fn login_form(
    State(state): State<Arc<DemoState>>,
    auth: Auth,
    csrf: CsrfToken,
    messages: Messages,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    if !state.logins {
        return login_response(
            &state,
            &auth,
            &csrf,
            &messages,
            StatusCode::NOT_IMPLEMENTED,
            "",
        )
        .await;
    }
    let found = auth
        .authenticate(&form.username, &form.password)
        .await
        .map_err(auth_failed)?;
    let Some(user) = found else {
        messages.error("Wrong username or password (or the user is inactive).");
        return login_response(
            &state,
            &auth,
            &csrf,
            &messages,
            StatusCode::UNAUTHORIZED,
            &form.username,
        )
        .await;
    };
    auth.login(&user).await.map_err(auth_failed)?;
    messages.success(format!("Welcome, {}.", form.username));
    Ok(Redirect::to("/sessions/").into_response())
}

/// `POST /logout/`: Django's `logout` (the session flushed), then the login page.
pub(super) async fn logout_form(auth: Auth, messages: Messages) -> Result<Response, PageError> {
    auth.logout().await.map_err(auth_failed)?;
    messages.info("You are logged out.");
    Ok(Redirect::to("/login/").into_response())
}

/// A failed user lookup or session write, as a page (the detail goes to the log).
pub(super) fn auth_failed(e: tessera::auth::AuthError) -> PageError {
    tracing::warn!("login state: {e}");
    PageError::Status(
        StatusCode::SERVICE_UNAVAILABLE,
        "The user table or the session store is not responding.".to_owned(),
    )
}
