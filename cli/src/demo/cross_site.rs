//! Cross-site request protection: another site's page cannot make a visitor's browser change
//! this site's cookies or session.
//!
//! Without it, a form on any page could POST `name=sessionid&value=K` to `/form/cookie` and
//! plant a session key the attacker knows (session fixation), and an `<img src>` could hit
//! `/flush_session/`. The middleware reads two headers the browser sets itself, which no page can
//! forge or remove:
//!
//! - **`Sec-Fetch-Site`** (Fetch Metadata): `same-origin`, `same-site`, `cross-site`, or `none`
//!   for a typed URL or a bookmark. Every current browser sends it on every request (Chrome and
//!   Edge since 76, Firefox since 90, Safari since 16.4).
//! - **`Origin`** on every `POST`, `PATCH`, `PUT` and `DELETE`, for a browser that predates
//!   Fetch Metadata; `Origin: null` (a sandboxed frame, a privacy redirect) is refused.
//!
//! A request with neither header does not come from a browser driven by a web page (curl, a
//! script) and passes, so the JSON API stays scriptable. The HTML forms carry Django's CSRF
//! token as well (the `CsrfLayer`, inside this guard); the API relies on its JSON-only rule
//! (`api_guard`).
//!
//! | request | refused (403) when |
//! |---|---|
//! | any method but `GET`, `HEAD`, `OPTIONS`, `TRACE` | `Sec-Fetch-Site` is present and not `same-origin` or `none`; else `Origin` is present and is not this site |
//! | `GET`/`HEAD` of a page that changes state | `Sec-Fetch-Site` is `cross-site` or `same-site`: a link, image or frame on another site |
//!
//! A typed URL (`none`) and a link within the site (`same-origin`) open every page. The 403
//! says why: JSON (`{"error": …}`) under `/api/`, else a page whose link re-opens the refused
//! one from here, so a visitor who did mean to follow the link is one click away.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::is_api;
use super::html::{error_page, escape_html};

/// The routes whose `GET` changes a cookie or the session (matched as routed, so no spelling
/// of the path gets around it).
#[derive(Debug)]
pub(super) struct ChangingPages(Vec<&'static str>);

impl ChangingPages {
    pub(super) fn new(routes: impl IntoIterator<Item = &'static str>) -> Arc<Self> {
        Arc::new(ChangingPages(routes.into_iter().collect()))
    }
}

/// The middleware: refuses, with a 403 that says why, what another site's page asked for.
pub(super) async fn guard(
    State(changing): State<Arc<ChangingPages>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .and_then(|route| changing.0.iter().find(|&&page| page == route).copied());
    let why = if is_safe(req.method()) {
        route.and_then(|_| refuse_navigation(&req))
    } else {
        refuse_unsafe(&req)
    };
    let Some(why) = why else {
        return next.run(req).await;
    };
    if is_api(req.uri().path()) {
        // Plain text: `json_errors` turns it into `{"error": …}`.
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let again = match route {
        Some(page) => {
            let query = req.uri().query().map_or(String::new(), |q| format!("?{q}"));
            let href = escape_html(&format!("{page}{query}"));
            format!("<p>If you meant to open it, <a href=\"{href}\">continue here</a>.</p>")
        }
        None => String::new(),
    };
    error_page(StatusCode::FORBIDDEN, &why, &again)
}

/// `GET`, `HEAD`, `OPTIONS` and `TRACE`: the methods that are not meant to change anything.
fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Why a state-changing page opened from another site is refused, if it is.
fn refuse_navigation(req: &Request) -> Option<String> {
    let site = req.headers().get("sec-fetch-site")?.as_bytes();
    if !matches!(site, b"cross-site" | b"same-site") {
        return None;
    }
    Some(format!(
        "Refused: this page changes your cookies or session, and the link to it came from \
         another site (Sec-Fetch-Site: {}). Another site must not change them for you.",
        String::from_utf8_lossy(site)
    ))
}

/// Why a `POST`, `PATCH`, `PUT` or `DELETE` is refused, if it is.
fn refuse_unsafe(req: &Request) -> Option<String> {
    let method = req.method();
    if let Some(site) = req.headers().get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => None,
            other => Some(format!(
                "Refused: this {method} was sent by a page on another site (Sec-Fetch-Site: {}). \
                 Only this site's own pages may change your cookies or session.",
                String::from_utf8_lossy(other)
            )),
        };
    }
    let origin = req.headers().get(ORIGIN)?;
    let origin = String::from_utf8_lossy(origin.as_bytes());
    if own_host(req).is_some_and(|host| is_origin_of(&origin, host)) {
        return None;
    }
    Some(format!(
        "Refused: this {method} came from {origin:?}, not from this site. Only this site's own \
         pages may change your cookies or session."
    ))
}

/// The host (and port) the request was sent to: `Host`, or the URI's authority (HTTP/2).
fn own_host(req: &Request) -> Option<&str> {
    match req.headers().get(HOST) {
        Some(host) => host.to_str().ok(),
        None => req.uri().authority().map(|a| a.as_str()),
    }
}

/// Whether `origin` (`scheme://host[:port]`) names `host`. Either scheme: a proxy in front may
/// end TLS, so the server cannot tell which one the browser used.
fn is_origin_of(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let bare = |h: &str| {
        h.strip_suffix(default_port)
            .unwrap_or(h)
            .to_ascii_lowercase()
    };
    !authority.is_empty() && bare(authority) == bare(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_hosts() {
        assert!(is_origin_of("http://127.0.0.1:8000", "127.0.0.1:8000"));
        assert!(is_origin_of("https://Demo.Example", "demo.example"));
        assert!(is_origin_of("https://demo.example", "demo.example:443"));
        assert!(is_origin_of("http://demo.example:80", "demo.example"));
        assert!(!is_origin_of("https://evil.example", "demo.example"));
        assert!(!is_origin_of(
            "http://demo.example:8001",
            "demo.example:8000"
        ));
        assert!(!is_origin_of("http://demo.example.evil", "demo.example"));
        assert!(!is_origin_of("null", "demo.example"));
        assert!(!is_origin_of("file://", ""));
        assert!(!is_origin_of("ftp://demo.example", "demo.example"));
    }
}
