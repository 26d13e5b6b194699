//! The demo site `tessera serve` runs: every feature of the crate on a page of its own, plus a
//! small JSON API.
//!
//! | route | what it shows |
//! |---|---|
//! | `/` | cookies vs sessions, a live panel (cookies sent, the session as the server sees it), forms to set any cookie or session key |
//! | `/set_cookie/`, `/get_cookie/`, `/check_cookie/`, `/delete_cookie/` | `set_cookie`, `request.COOKIES`, `delete_cookie` |
//! | `/check_salt_cookie/` | `set_signed_cookie` / `get_signed_cookie` with `salt="nice"` |
//! | `/set_session/`, `/delete_session/`, `/clear_session/`, `/flush_session/`, `/cycle_key/`, `/set_expiry/?value=…` | `request.session` |
//! | `POST /form/cookie`, `POST /form/session` | the forms on `/` (any cookie but the session's, any session key) |
//! | `GET`/`PATCH`/`DELETE /api/session` | the session as JSON, merged into (`Content-Type: application/json`), flushed |
//! | `POST /api/session/cycle_key` | `cycle_key()`, answered as `GET /api/session` |
//!
//! The pages that change a cookie or the session on a `GET` (all of the walkthrough but
//! `/get_cookie/` and `/check_cookie/`), the forms and the API refuse what another site's page
//! asks a visitor's browser to do: Fetch Metadata, then `Origin` (`demo/cross_site.rs`).
//!
//! ```
//! use tessera::{signing::SecretKeys, url::Sessions, SessionConfig};
//! use tessera_cli::demo;
//! use tessera::store::memory::MemoryStore;
//! let sessions = Sessions::Store(std::sync::Arc::new(MemoryStore::new()));
//! let app: axum::Router = demo::router(&sessions, &SecretKeys::new("a secret"), SessionConfig::default()).unwrap();
//! ```
//!
//! Every value a page shows is escaped with [`html::escape_html`]: cookie values and session contents
//! are whatever a visitor sent.

mod api;
mod cross_site;
mod html;
mod index;
mod pages;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, MethodRouter};
use axum::Router;

use tessera::cookie::{CookieLayer, CookieSigner};
use tessera::session::SessionConfig;
use tessera::signing::SecretKeys;
use tessera::url::Sessions;

/// What every handler may read: the session settings (for the cookie name and expiry rules).
#[derive(Debug)]
struct DemoState {
    config: SessionConfig,
}

/// The demo site over `sessions`, signing cookies with `keys`, with session settings `config`.
pub fn router(
    sessions: &Sessions,
    keys: &SecretKeys,
    config: SessionConfig,
) -> Result<Router, tessera::session::ConfigError> {
    router_with_signer(sessions, CookieSigner::new(keys), config)
}

/// [`router`] with the signed cookies' signer given, for its legacy-salt settings (Django's
/// `SIGNED_COOKIE_LEGACY_SALT_FALLBACK`, and writing the salt Django ≤ 5.2.14 reads).
pub fn router_with_signer(
    sessions: &Sessions,
    signer: CookieSigner,
    config: SessionConfig,
) -> Result<Router, tessera::session::ConfigError> {
    let sessions = tessera::SessionLayer::from_sessions(sessions, config.clone())?;
    let state = Arc::new(DemoState {
        config: config.clone(),
    });
    let changing = changing_pages();
    let guard = cross_site::ChangingPages::new(changing.iter().map(|(path, _)| *path));
    let router = changing
        .into_iter()
        .fold(Router::new(), |router, (path, page)| {
            router.route(path, page)
        });
    Ok(router
        .route("/", get(index::index))
        .route("/form/cookie", post(index::form_cookie))
        .route("/form/session", post(index::form_session))
        .route("/get_cookie/", get(pages::get_cookie))
        .route("/check_cookie/", get(pages::check_cookie))
        .route(
            "/api/session",
            get(api::get_session)
                .patch(api::patch_session)
                .delete(api::delete_session),
        )
        .route("/api/session/cycle_key", post(api::cycle_key))
        .fallback(pages::not_found)
        .with_state(state)
        // No body larger than a session may be (axum's default is 2 MB): the JSON of a PATCH
        // or a form's value can never be stored past it.
        .layer(DefaultBodyLimit::max(config.max_data_bytes))
        .layer(sessions)
        .layer(CookieLayer::new().with_signer(signer))
        // Outside the session and cookie layers: a refused request touches neither.
        .layer(axum::middleware::from_fn_with_state(
            guard,
            cross_site::guard,
        ))
        // Outside the session layer, so its plain-text 503 and 400 become JSON under /api/.
        .layer(axum::middleware::from_fn(api::json_errors)))
}

/// The pages whose `GET` changes a cookie or the session, as Django's tutorial views do: the
/// routes [`cross_site`] refuses to a link from another site.
fn changing_pages() -> Vec<(&'static str, MethodRouter<Arc<DemoState>>)> {
    vec![
        ("/set_cookie/", get(pages::set_cookie)),
        ("/delete_cookie/", get(pages::delete_cookie)),
        ("/check_salt_cookie/", get(pages::check_salt_cookie)),
        ("/set_session/", get(pages::set_session)),
        ("/delete_session/", get(pages::delete_session)),
        ("/clear_session/", get(pages::clear_session)),
        ("/flush_session/", get(pages::flush_session)),
        ("/cycle_key/", get(pages::cycle_key)),
        ("/set_expiry/", get(pages::set_expiry)),
    ]
}
