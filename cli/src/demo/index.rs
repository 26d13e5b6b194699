//! `/`: what cookies and sessions are, the live panel, and the two "try it" forms.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::COOKIE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::html::{
    csrf_field, escape_html as esc, expiry_text, messages_html, page, value_text, PageError,
    PageResult, WALKTHROUGH,
};
use super::DemoState;
use tessera::cookie::{parse_request_cookies, CookieOptions, Cookies};
use tessera::csrf::CsrfToken;
use tessera::json::{self, Value};
use tessera::messages::Messages;
use tessera::session::expiry::SESSION_EXPIRY_KEY;
use tessera::session::{Session, SessionKey};

const INTRO: &str = "\
<p>A <b>cookie</b> is a name and a value the browser keeps and sends back with every request \
to this site: it lives in the browser, so the visitor can read and change it. A <b>signed \
cookie</b> is still readable, but a change breaks its signature.</p>\
<p>A <b>session</b> keeps data on the server, in a store (here: a SQLite file by default), \
under a random key; the browser only holds that key, in the <code>sessionid</code> cookie \
(HttpOnly: page scripts cannot read it). Every format is Django's, so a Django app can read \
what this site writes.</p>";

/// The index page.
pub(super) async fn index(
    State(state): State<Arc<DemoState>>,
    headers: HeaderMap,
    session: Session,
    csrf: CsrfToken,
    messages: Messages,
) -> PageResult {
    let mut body = messages_html(&messages).await;
    body.push_str(INTRO);
    body.push_str(&panel(&state, &headers, &session).await?);
    body.push_str("<h2>The walkthrough</h2><nav><ol class=\"steps\">");
    for (path, what) in WALKTHROUGH {
        let _ = write!(body, "<li><a href=\"{path}\">{path}</a>: {what}</li>");
    }
    body.push_str(
        "</ol></nav><p>And for scripts: <a href=\"/api/session\">GET /api/session</a>, \
         <code>PATCH</code> it with a JSON object (<code>Content-Type: application/json</code>) \
         to merge keys, <code>DELETE</code> it to flush, <code>POST /api/session/cycle_key</code> \
         for a new key. <a href=\"/login/\">Log in</a> (users of Django's <code>auth_user</code>) \
         to see <a href=\"/sessions/\">your sessions</a>; scripts use <code>POST /api/login</code>, \
         <code>GET /api/sessions</code> and <code>POST /api/sessions/revoke</code>.</p>",
    );
    body.push_str(&forms(&csrf_field(&csrf)?));
    Ok(page("Cookies and sessions, live", &body))
}

/// The cookies this request carried, and the session as the server sees it.
async fn panel(
    state: &DemoState,
    headers: &HeaderMap,
    session: &Session,
) -> Result<String, PageError> {
    let mut html =
        String::from("<section class=\"panel\" id=\"panel\"><h2>What the server sees</h2>");
    let cookies = parse_request_cookies(headers.get_all(COOKIE));
    if cookies.is_empty() {
        html.push_str("<p>Your browser sent no cookies.</p>");
    } else {
        html.push_str("<table id=\"cookies\"><tr><th>cookie</th><th>value</th></tr>");
        for (name, value) in &cookies {
            // The session key is a credential: shown shortened, as it is below.
            let shown = match SessionKey::parse(value) {
                Some(key) if *name == state.config.cookie_name => key.short(),
                _ => value.clone(),
            };
            let _ = write!(
                html,
                "<tr><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
                esc(name),
                esc(&shown)
            );
        }
        html.push_str("</table>");
    }
    let data = session.items().await?;
    let key = session
        .session_key()
        .await
        .map_or_else(|| "none (nothing stored yet)".to_owned(), |k| k.short());
    let _ = write!(
        html,
        "<p>Session key: <code id=\"panel-key\">{}</code><br>Expires: {}</p>",
        esc(&key),
        esc(&expiry_text(session).await?)
    );
    if data.is_empty() {
        html.push_str("<p>The session is empty.</p>");
    } else {
        html.push_str("<table id=\"session\"><tr><th>session key</th><th>value</th></tr>");
        for (k, v) in &data {
            let _ = write!(
                html,
                "<tr><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
                esc(k),
                esc(&value_text(v))
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</section>");
    Ok(html)
}

/// The two "try it" forms, each with the CSRF token's hidden field.
fn forms(token_field: &str) -> String {
    format!(
        "<h2>Set any cookie</h2>\
<form method=\"post\" action=\"/form/cookie\" id=\"cookie-form\">{token_field}\
<label for=\"c-name\">name</label><input type=\"text\" id=\"c-name\" name=\"name\" required>\
<label for=\"c-value\">value</label><input type=\"text\" id=\"c-value\" name=\"value\">\
<label for=\"c-age\">max age (s)</label><input type=\"text\" id=\"c-age\" name=\"max_age\" placeholder=\"empty: until the browser closes\">\
<label for=\"c-path\">path</label><input type=\"text\" id=\"c-path\" name=\"path\" value=\"/\">\
<label>flags</label><span><label><input type=\"checkbox\" name=\"secure\"> Secure</label> \
<label><input type=\"checkbox\" name=\"httponly\"> HttpOnly</label></span>\
<label for=\"c-samesite\">SameSite</label><select id=\"c-samesite\" name=\"samesite\">\
<option value=\"\">(not sent)</option><option>Lax</option><option>Strict</option><option>None</option></select>\
<button type=\"submit\">Set cookie</button></form>\
<h2>Store anything in the session</h2>\
<form method=\"post\" action=\"/form/session\" id=\"session-form\">{token_field}\
<label for=\"s-key\">key</label><input type=\"text\" id=\"s-key\" name=\"key\" required>\
<label for=\"s-value\">value</label><input type=\"text\" id=\"s-value\" name=\"value\" placeholder=\"JSON (42, [1,2], {{&quot;a&quot;:1}}) or text\">\
<button type=\"submit\">Store</button></form>"
    )
}

/// The cookie form's fields (unchecked boxes are absent).
#[derive(Debug, Deserialize)]
pub(super) struct CookieForm {
    name: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    max_age: String,
    #[serde(default)]
    path: String,
    secure: Option<String>,
    httponly: Option<String>,
    #[serde(default)]
    samesite: String,
}

/// Sets the cookie the form describes, then back to `/`; a refused cookie is a 400 page. The
/// session cookie is refused: a form that sets it lets whoever gets a visitor to submit it
/// choose their session key, and read that session later (session fixation).
pub(super) async fn form_cookie(
    State(state): State<Arc<DemoState>>,
    cookies: Cookies,
    messages: Messages,
    Form(form): Form<CookieForm>,
) -> Result<Response, PageError> {
    let name = form.name.trim();
    if name == state.config.cookie_name {
        return Err(PageError::BadRequest(format!(
            "{name} is the session cookie: this form does not set it. Whoever chooses a \
             visitor's session key can use that session too (session fixation); the server \
             gives out keys, and /cycle_key/ changes yours."
        )));
    }
    let mut options = CookieOptions::new()
        .path(form.path.trim())
        .secure(form.secure.is_some())
        .httponly(form.httponly.is_some());
    let max_age = form.max_age.trim();
    if !max_age.is_empty() {
        let seconds: i64 = max_age.parse().map_err(|_| {
            PageError::BadRequest(format!(
                "max age {max_age:?} is not a whole number of seconds"
            ))
        })?;
        options = options.max_age(seconds);
    }
    if !form.samesite.is_empty() {
        options = options.samesite(form.samesite);
    }
    cookies.set(name, &form.value, &options)?;
    messages.success(format!("Cookie {name} set."));
    Ok(Redirect::to("/").into_response())
}

/// The session form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct SessionForm {
    key: String,
    #[serde(default)]
    value: String,
}

/// Stores `key = value` (JSON if it parses, text otherwise), then back to `/`.
pub(super) async fn form_session(
    session: Session,
    messages: Messages,
    Form(form): Form<SessionForm>,
) -> Result<Response, PageError> {
    let key = form.key.trim();
    if key.is_empty() {
        return Err(PageError::BadRequest("the session key is empty".to_owned()));
    }
    check_session_key(key).map_err(PageError::BadRequest)?;
    let value = json::from_str(form.value.trim()).unwrap_or(Value::Str(form.value));
    session.update([(key.to_owned(), value)]).await?;
    messages.success(format!("Stored {key} in the session."));
    Ok(Redirect::to("/").into_response())
}

/// Keys a visitor may set: any but the expiry, which `/set_expiry/` validates (a value Django
/// cannot read there would fail every later save of the session).
pub(super) fn check_session_key(key: &str) -> Result<(), String> {
    if key == SESSION_EXPIRY_KEY {
        return Err(format!(
            "{SESSION_EXPIRY_KEY} is the expiry: set it with /set_expiry/?value=…"
        ));
    }
    Ok(())
}
