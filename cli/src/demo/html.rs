//! The page frame, escaping, and the small formatting helpers every page shares.

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use tessera::cookie::CookieError;
use tessera::csrf::{CsrfToken, Rejection};
use tessera::json::Value;
use tessera::messages::Messages;
use tessera::session::{Session, SessionError};

/// Escapes `&`, `<`, `>`, `"` and `'` so text can go anywhere in HTML, attributes included.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The walkthrough, in order: (path, what it demonstrates).
pub(super) const WALKTHROUGH: &[(&str, &str)] = &[
    ("/set_cookie/", "set a cookie"),
    ("/get_cookie/", "read it"),
    ("/check_cookie/", "check it"),
    ("/delete_cookie/", "delete it"),
    ("/check_salt_cookie/", "a signed cookie"),
    ("/set_session/", "store in the session"),
    ("/delete_session/", "delete a session key"),
    ("/clear_session/", "clear the session"),
    ("/flush_session/", "flush (log out)"),
    ("/cycle_key/", "cycle the key"),
    ("/set_expiry/", "set the expiry"),
];

const STYLE: &str = "\
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:0 auto;padding:0 1rem 2rem;color:#222}\
header{border-bottom:2px solid #2b6cb0;padding:.6rem 0;margin-bottom:1rem}\
header a{font-weight:700;color:#2b6cb0;text-decoration:none;font-size:1.2rem}\
h1{font-size:1.5rem;margin:.4rem 0 .8rem}h2{font-size:1.15rem;margin:1.4rem 0 .4rem}\
code,.mono{font-family:ui-monospace,monospace;font-size:.92em;background:#f2f4f7;padding:0 .25em;border-radius:3px;overflow-wrap:anywhere}\
.result{border-left:4px solid #2b6cb0;background:#eef5fc;padding:.6rem .8rem}\
.result.warn{border-color:#c53030;background:#fdeeee}\
ul.messages{list-style:none;padding:0}ul.messages li{border-left:4px solid #2f855a;background:#effaf3;padding:.4rem .8rem;margin:.3rem 0}\
ul.messages li.error,ul.messages li.warning{border-color:#c53030;background:#fdeeee}\
form.inline{display:inline;margin:0}form.inline button{padding:.1rem .6rem}\
table{border-collapse:collapse;width:100%;margin:.3rem 0}\
th,td{text-align:left;border-bottom:1px solid #ddd;padding:.25rem .4rem;vertical-align:top}\
th{font-weight:600;background:#f7f7f7}td.mono{background:none}\
.panel{border:1px solid #ccd;border-radius:6px;padding:.2rem 1rem .8rem;background:#fbfcfe}\
form{display:grid;grid-template-columns:8rem 1fr;gap:.3rem .6rem;align-items:center;margin:.4rem 0}\
form button{grid-column:2;justify-self:start;padding:.25rem 1rem}\
input[type=text],select{padding:.2rem;font:inherit}\
nav ol{padding-left:1.4rem;margin:.3rem 0}ol.steps{columns:2;column-gap:2rem}\
td:first-child,th:first-child{width:30%}footer{margin-top:2rem;font-size:.9rem;color:#555}\
";

/// A whole page: the frame around `body` (already HTML; escape what goes in it).
pub(super) fn page(title: &str, body: &str) -> Html<String> {
    let mut html = String::with_capacity(body.len() + 2048);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t} · tessera demo</title><style>{STYLE}</style></head><body>\
         <header><a href=\"/\">tessera</a> · Django's cookies and sessions in Rust</header>\
         <main><h1>{t}</h1>{body}</main><footer>Walkthrough: ",
        t = escape_html(title),
    );
    for (i, (path, _)) in WALKTHROUGH.iter().enumerate() {
        let sep = if i == 0 { "" } else { " · " };
        let _ = write!(html, "{sep}<a href=\"{path}\">{path}</a>");
    }
    html.push_str(
        " · <a href=\"/api/session\">/api/session</a> · <a href=\"/login/\">log in</a> · \
         <a href=\"/sessions/\">your sessions</a></footer></body></html>",
    );
    Html(html)
}

/// The one-line outcome of a walkthrough step, in a box tests and people can find (`#result`).
pub(super) fn result(text_html: &str) -> String {
    format!("<p class=\"result\" id=\"result\">{text_html}</p>")
}

/// The link to the step after `path`, or back to the index after the last one.
pub(super) fn next_step(path: &str) -> String {
    let pos = WALKTHROUGH.iter().position(|(p, _)| *p == path);
    match pos.and_then(|i| WALKTHROUGH.get(i + 1)) {
        Some((next, what)) => format!("<p>Next: <a href=\"{next}\">{next}</a> ({what})</p>"),
        None => "<p>Back to <a href=\"/\">the index</a>.</p>".to_owned(),
    }
}

/// The hidden field that carries Django's CSRF token in a form (`{% csrf_token %}`).
pub(super) fn csrf_field(csrf: &CsrfToken) -> Result<String, PageError> {
    let token = csrf
        .get_token()
        .map_err(|e| PageError::Status(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(format!(
        "<input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"{}\">",
        escape_html(&token)
    ))
}

/// The messages queued for this visitor (Django's `{% for message in messages %}`), read once:
/// the next page no longer shows them. Every text is escaped, even one a Django view marked
/// safe.
pub(super) async fn messages_html(messages: &Messages) -> String {
    let shown = match messages.read().await {
        Ok(shown) => shown,
        Err(e) => {
            tracing::warn!("messages unreadable: {e}");
            return String::new();
        }
    };
    if shown.is_empty() {
        return String::new();
    }
    let mut html = String::from("<ul class=\"messages\" id=\"messages\">");
    for m in &shown {
        let _ = write!(
            html,
            "<li class=\"{}\">{}</li>",
            escape_html(&messages.tags(m)),
            escape_html(&m.message)
        );
    }
    html.push_str("</ul>");
    html
}

/// The page a refused form gets (Django's `CSRF_FAILURE_VIEW`): 403 and Django's reason.
pub(super) fn csrf_failure(reason: &Rejection) -> http::Response<String> {
    let body = format!(
        "<p class=\"result warn\" id=\"result\">CSRF verification failed. Request aborted: {}</p>\
         <p>The form must carry the token of the page it came from: reload that page and send \
         it again.</p><p><a href=\"/\">Back to the index</a></p>",
        escape_html(&reason.to_string())
    );
    let mut response = http::Response::new(page("Forbidden", &body).0);
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// A session value as a person reads it: strings bare, anything else as JSON.
pub(super) fn value_text(value: &Value) -> String {
    match value {
        Value::Str(s) => s.clone(),
        other => tessera::json::to_string(other),
    }
}

/// Unix seconds as `2025-01-31 12:00:00 UTC`.
pub(super) fn utc_text(unix: f64) -> String {
    chrono::DateTime::from_timestamp(unix.floor() as i64, 0).map_or_else(
        || format!("{unix} (Unix time)"),
        |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// Unix seconds as RFC 3339 in UTC (`2025-01-31T12:00:00Z`), for the API.
pub(super) fn rfc3339(unix: f64) -> String {
    chrono::DateTime::from_timestamp(unix.floor() as i64, 0).map_or_else(
        || unix.to_string(),
        |d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// "expires 2025-… UTC (in N s)", and whether the cookie ends with the browser.
pub(super) async fn expiry_text(session: &Session) -> Result<String, SessionError> {
    let date = session.get_expiry_date().await?;
    let age = session.get_expiry_age().await?;
    let mut text = format!("{} (in {age} s)", utc_text(date));
    if session.get_expire_at_browser_close().await? {
        text.push_str("; the cookie itself ends when the browser closes");
    }
    Ok(text)
}

/// Why a page could not be shown: an HTML page with the right status, never a bare 500.
#[derive(Debug)]
pub(super) enum PageError {
    /// The visitor sent something unusable (400).
    BadRequest(String),
    /// A session operation failed (503 for the store, 400 for a concurrent logout, else 500).
    Session(SessionError),
    /// Any other failure, with its status and a message for the visitor.
    Status(StatusCode, String),
}

impl From<SessionError> for PageError {
    fn from(e: SessionError) -> Self {
        PageError::Session(e)
    }
}

impl From<CookieError> for PageError {
    fn from(e: CookieError) -> Self {
        PageError::BadRequest(e.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            PageError::Session(e) => {
                let status = match e {
                    SessionError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                    SessionError::Interrupted => StatusCode::BAD_REQUEST,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                (status, e.to_string())
            }
            PageError::Status(status, m) => (status, m),
        };
        error_page(status, &message, "")
    }
}

/// An error page: `message` (text, escaped here) in the warning box, then `more_html` and a link
/// back to the index.
pub(super) fn error_page(status: StatusCode, message: &str, more_html: &str) -> Response {
    let body = format!(
        "<p class=\"result warn\" id=\"result\">{}</p>{more_html}<p><a href=\"/\">Back to the index</a></p>",
        escape_html(message)
    );
    let title = status.canonical_reason().unwrap_or("Error");
    (status, page(title, &body)).into_response()
}

/// What a handler returns.
pub(super) type PageResult = Result<Html<String>, PageError>;

#[cfg(test)]
mod tests {
    #[test]
    fn escape_html_covers_attributes() {
        assert_eq!(
            super::escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
    }
}
