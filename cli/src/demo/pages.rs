//! The walkthrough: one page per Django call, in the order a newcomer tries them.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::html::{
    escape_html as esc, expiry_text, next_step, page, result, value_text, PageError, PageResult,
};
use tessera::cookie::{CookieOptions, Cookies, SignedCookieError};
use tessera::session::{Expiry, Session, SessionError};

/// The plain cookie of the walkthrough, and what `/set_cookie/` puts in it.
const TEST_COOKIE: &str = "test";
const TEST_VALUE: &str = "hello cookie";
/// The signed cookie, its salt and its value.
const SALT_COOKIE: &str = "salt_cookie";
const SALT: &str = "nice";
const SALT_VALUE: &str = "hello salt";
/// The session key of the walkthrough and its value.
const TEST_ID: &str = "test_id";
const TEST_ID_VALUE: &str = "TEST";

fn step(path: &str, title: &str, outcome_html: &str, explain_html: &str) -> PageResult {
    let body = format!(
        "{}<p>{explain_html}</p>{}",
        result(outcome_html),
        next_step(path)
    );
    Ok(page(title, &body))
}

/// `response.set_cookie("test", "hello cookie")`.
pub(super) async fn set_cookie(cookies: Cookies) -> PageResult {
    cookies.set(TEST_COOKIE, TEST_VALUE, &CookieOptions::new())?;
    step(
        "/set_cookie/",
        "Set a cookie",
        &format!("Set cookie <code>{TEST_COOKIE}</code> = <code>{TEST_VALUE}</code>."),
        "The response carries <code>Set-Cookie: test=\"hello cookie\"; Path=/</code>: the value \
         has a space, so Django quotes it, and so does tessera. The browser stores the quoted \
         text and sends it back; the server unquotes it. No <code>Max-Age</code>: it lasts \
         until the browser closes.",
    )
}

fn cookie_value(cookies: &Cookies) -> String {
    cookies
        .get(TEST_COOKIE)
        .map_or_else(|| "None".to_owned(), |v| esc(&v))
}

/// `request.COOKIES.get("test")`.
pub(super) async fn get_cookie(cookies: Cookies) -> PageResult {
    step(
        "/get_cookie/",
        "Read a cookie",
        &format!("{TEST_COOKIE} = {}", cookie_value(&cookies)),
        "<code>cookies.get(\"test\")</code> is Django's <code>request.COOKIES.get(\"test\")</code>: \
         what the browser sent with this request, unquoted.",
    )
}

/// The same read, after `/delete_cookie/` redirects here.
pub(super) async fn check_cookie(cookies: Cookies) -> PageResult {
    step(
        "/check_cookie/",
        "Check a cookie",
        &format!("{TEST_COOKIE} = {}", cookie_value(&cookies)),
        "<code>None</code> means the browser sent no <code>test</code> cookie: never set, \
         deleted, or expired.",
    )
}

/// `response.delete_cookie("test")` on Django's `redirect("/check_cookie/")` (a 302).
pub(super) async fn delete_cookie(cookies: Cookies) -> Result<Response, PageError> {
    cookies.delete(TEST_COOKIE, None, None)?;
    Ok((StatusCode::FOUND, [(LOCATION, "/check_cookie/")]).into_response())
}

/// `set_signed_cookie("salt_cookie", …, salt="nice")` on the first visit,
/// `get_signed_cookie("salt_cookie", salt="nice")` after.
pub(super) async fn check_salt_cookie(cookies: Cookies) -> PageResult {
    let (outcome, explain) = match cookies.get_signed(SALT_COOKIE, SALT, None) {
        Ok(value) => (
            format!(
                "{SALT_COOKIE} = {} (signature verified, salt <code>{SALT}</code>)",
                esc(&value)
            ),
            "The browser sent the value, a timestamp and an HMAC signature derived from the \
             secret key, the salt and the cookie name. Change one character and it fails."
                .to_owned(),
        ),
        Err(SignedCookieError::Missing(_)) => {
            cookies.set_signed(SALT_COOKIE, SALT_VALUE, SALT, &CookieOptions::new())?;
            (
                format!("No {SALT_COOKIE} yet: set it to <code>{SALT_VALUE}</code>, signed with salt <code>{SALT}</code>. Reload to read it back."),
                "<code>cookies.set_signed(name, value, salt, &amp;options)</code> is Django's \
                 <code>set_signed_cookie</code>: the stored text is <code>value:timestamp:signature</code>."
                    .to_owned(),
            )
        }
        Err(e) => (
            format!("{SALT_COOKIE} did not verify: {}", esc(&e.to_string())),
            "Django's <code>get_signed_cookie</code> raises <code>BadSignature</code> here: the \
             value was tampered with, signed with another key, or signed with the salt of \
             another Django version (5.2.14 and older sign with the legacy salt: start the demo \
             with <code>TESSERA_SIGNED_COOKIE_LEGACY_SALT_FALLBACK=true</code> to accept it). \
             The cookie is left as it is, since another app may still read it; delete it in \
             the browser for a fresh one."
                .to_owned(),
        ),
    };
    step("/check_salt_cookie/", "A signed cookie", &outcome, &explain)
}

/// Stores `test_id = "TEST"` on the first visit; shows the key, the value and the expiry after.
pub(super) async fn set_session(session: Session) -> PageResult {
    let Some(value) = session.get_value(TEST_ID).await? else {
        session.insert(TEST_ID, TEST_ID_VALUE).await?;
        return step(
            "/set_session/",
            "Store in the session",
            &format!("Stored {TEST_ID} = {TEST_ID_VALUE} in the session. Reload to see its key."),
            "The data stays on the server; the browser only gets the <code>sessionid</code> \
             cookie, created when this response was saved (HttpOnly: scripts cannot read it).",
        );
    };
    let key = session.session_key().await.map_or_else(
        || "(none: cookie-held sessions have no key)".to_owned(),
        |k| k.as_str().to_owned(),
    );
    let outcome = format!(
        "session key: <code id=\"session-key\">{}</code><br>{TEST_ID} = {}<br>expires: {}",
        esc(&key),
        esc(&value_text(&value)),
        esc(&expiry_text(&session).await?),
    );
    step(
        "/set_session/",
        "Store in the session",
        &outcome,
        "The key is the <code>sessionid</code> cookie's value: 32 random characters, the only \
         thing the browser holds. Every request that changes the session pushes the expiry back.",
    )
}

/// `del request.session["test_id"]`, or says there is nothing to delete.
pub(super) async fn delete_session(session: Session) -> PageResult {
    let outcome = match session.remove(TEST_ID).await? {
        Some(_) => format!("Deleted {TEST_ID} from the session."),
        None => format!("Nothing to delete: {TEST_ID} is not in the session."),
    };
    step(
        "/delete_session/",
        "Delete a session key",
        &outcome,
        "<code>session.remove(key)</code> returns the old value; <code>session.delete(key)</code> \
         fails with <code>KeyError</code> like Python's <code>del</code>.",
    )
}

/// `request.session.clear()`.
pub(super) async fn clear_session(session: Session) -> PageResult {
    session.clear().await?;
    step(
        "/clear_session/",
        "Clear the session",
        "Cleared: the session is empty and keeps its key.",
        "<code>session.clear()</code> empties the dict; the record and the cookie stay.",
    )
}

/// `request.session.flush()`.
pub(super) async fn flush_session(session: Session) -> PageResult {
    session.flush().await?;
    step(
        "/flush_session/",
        "Flush the session",
        "Flushed: the record is deleted and this response deletes the sessionid cookie.",
        "<code>session.flush()</code> is what Django's <code>logout()</code> calls.",
    )
}

/// `request.session.cycle_key()`.
pub(super) async fn cycle_key(session: Session) -> PageResult {
    let count = session.keys().await?.len();
    let old = session.session_key().await;
    session.cycle_key().await?;
    let new = session.session_key().await;
    let short = |k: Option<tessera::session::SessionKey>| {
        k.map_or_else(|| "none".to_owned(), |k| k.short())
    };
    step(
        "/cycle_key/",
        "Cycle the key",
        &format!(
            "Key cycled: {} → {}; {count} value(s) kept.",
            esc(&short(old)),
            esc(&short(new))
        ),
        "Same data under a new key; the old key no longer loads. Django's <code>login()</code> \
         does this against session fixation.",
    )
}

/// `request.session.set_expiry(value)` for `?value=N|0|none|ISO-DATETIME`.
pub(super) async fn set_expiry(
    session: Session,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    let Some(raw) = query.get("value").map(|v| v.trim()) else {
        let body = format!(
            "{}<ul><li><a href=\"/set_expiry/?value=300\">?value=300</a>: five minutes of inactivity</li>\
             <li><a href=\"/set_expiry/?value=0\">?value=0</a>: when the browser closes</li>\
             <li><a href=\"/set_expiry/?value=2030-01-01T00:00:00%2B00:00\">?value=2030-01-01T00:00:00+00:00</a>: at that instant</li>\
             <li><a href=\"/set_expiry/?value=none\">?value=none</a>: back to the default \
             (<code>SESSION_COOKIE_AGE</code>)</li></ul>{}",
            result(&format!("The session expires {}.", esc(&expiry_text(&session).await?))),
            next_step("/set_expiry/"),
        );
        return Ok(page("Set the expiry", &body));
    };
    let expiry = parse_expiry(raw).map_err(PageError::BadRequest)?;
    session.set_expiry(expiry).await.map_err(|e| match e {
        SessionError::Expiry(e) => PageError::BadRequest(e.to_string()),
        e => PageError::Session(e),
    })?;
    // An expiry Django could store but not turn into a date fails here with a 500, so the
    // middleware saves nothing (it never saves on a 5xx).
    step(
        "/set_expiry/",
        "Set the expiry",
        &format!(
            "set_expiry({}): the session now expires {}.",
            esc(raw),
            esc(&expiry_text(&session).await?)
        ),
        "<code>session.set_expiry(Expiry::Seconds(n))</code>, <code>Expiry::BrowserClose</code>, \
         <code>Expiry::At(datetime)</code> or <code>Expiry::Default</code>: Django's \
         <code>set_expiry(n | 0 | datetime | None)</code>, stored the same way.",
    )
}

/// The longest expiry the demo accepts, either way: a hundred years.
const MAX_SECONDS: i64 = 100 * 366 * 86_400;

/// `N` seconds, `0` (browser close), `none`, or an ISO 8601 datetime with an offset. A `+` in
/// an offset typed into the address bar arrives as a space, so a last space is read as `+`.
fn parse_expiry(raw: &str) -> Result<Expiry, String> {
    if raw.eq_ignore_ascii_case("none") {
        return Ok(Expiry::Default);
    }
    if let Ok(seconds) = raw.parse::<i64>() {
        return match seconds {
            0 => Ok(Expiry::BrowserClose),
            s if s.abs() <= MAX_SECONDS => Ok(Expiry::Seconds(s)),
            _ => Err(format!("{seconds} s is more than a hundred years")),
        };
    }
    let plus = raw
        .rsplit_once(' ')
        .map(|(head, tail)| format!("{head}+{tail}"));
    let parsed = chrono::DateTime::parse_from_rfc3339(raw).or_else(|e| {
        plus.as_deref()
            .map_or(Err(e), chrono::DateTime::parse_from_rfc3339)
    });
    match parsed {
        Ok(at) => Ok(Expiry::At(at)),
        Err(_) => Err(format!(
            "{raw:?} is not a number of seconds, 0, none, or an ISO 8601 datetime with an offset \
             (e.g. 2030-01-01T00:00:00+00:00)"
        )),
    }
}

/// Any other path: a 404 page.
pub(super) async fn not_found() -> (StatusCode, axum::response::Html<String>) {
    let body = format!(
        "{}<p><a href=\"/\">Back to the index</a></p>",
        result("There is no page here.")
    );
    (StatusCode::NOT_FOUND, page("Not Found", &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_values() {
        assert_eq!(parse_expiry("none"), Ok(Expiry::Default));
        assert_eq!(parse_expiry("0"), Ok(Expiry::BrowserClose));
        assert_eq!(parse_expiry("-5"), Ok(Expiry::Seconds(-5)));
        assert!(matches!(
            parse_expiry("2030-01-01T00:00:00Z"),
            Ok(Expiry::At(_))
        ));
        assert!(
            parse_expiry("2030-01-01T00:00:00").is_err(),
            "naive datetimes need USE_TZ=False"
        );
        assert!(matches!(
            parse_expiry("2030-01-01T00:00:00 01:00"),
            Ok(Expiry::At(_))
        ));
        assert!(parse_expiry("99999999999").is_err());
        assert!(parse_expiry("soon").is_err());
    }
}
