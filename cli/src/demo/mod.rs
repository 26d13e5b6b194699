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
//! | `GET`/`POST /login/`, `POST /logout/` | Django's login form (`authenticate`, `login`) and `logout`, over the users of `auth_user` in a SQL store's database |
//! | `/sessions/`, `POST /sessions/revoke` | the logged-in user's sessions from the store's per-user index; end one (`id=<short>`) or all others (`others=1`) |
//! | `POST /api/login`, `POST /api/logout`, `GET /api/user` | the same for scripts: `{"username", "password"}` → `{"id": "<pk>"}` or 401; `{"id": null}` when anonymous |
//! | `GET /api/sessions`, `POST /api/sessions/revoke` | `{"sessions": [{"id", "created", "last_seen", "expires", "current"}]}`; `{"others": true}`, `{"all": true}` or `{"id": "<short>"}` |
//!
//! The pages that change a cookie or the session on a `GET` (all of the walkthrough but
//! `/get_cookie/` and `/check_cookie/`), the forms and the API refuse what another site's page
//! asks a visitor's browser to do: Fetch Metadata, then `Origin` (`demo/cross_site.rs`). Every
//! HTML form also carries Django's CSRF token ([`CsrfLayer`]); the API needs none, because its
//! writes must be JSON and CORS preflights are refused (`demo/api_guard.rs`). Every action
//! leaves a message ([`MessagesLayer`]) shown once on the next page.
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

mod account;
mod account_api;
mod api;
mod api_guard;
mod cross_site;
mod html;
mod index;
mod login;
mod pages;
mod sessions_page;

use std::fmt;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, MethodRouter};
use axum::Router;

use tessera::auth::{AuthConfig, AuthLayer, MemoryUsers, UserSource};
use tessera::cookie::{CookieLayer, CookieSigner};
use tessera::csrf::{CsrfConfig, CsrfLayer};
use tessera::messages::{MessagesConfig, MessagesError, MessagesLayer};
use tessera::session::{ConfigError, SessionConfig};
use tessera::signing::SecretKeys;
use tessera::store::SessionStore;
use tessera::url::Sessions;

/// What every handler may read: the session settings (for the cookie name and expiry rules),
/// whether there are users to log in, and the store whose per-user index lists their sessions.
#[derive(Debug)]
struct DemoState {
    config: SessionConfig,
    /// Users to log in exist only beside a SQL store (`auth_user` in its database).
    logins: bool,
    /// The server-side store (`None` for signed-cookie sessions).
    store: Option<Arc<dyn SessionStore>>,
}

/// Why the demo site could not be built: a setting no request could work with.
#[derive(Debug)]
pub enum DemoError {
    /// A session or CSRF setting.
    Config(ConfigError),
    /// The messages' signer or cookie (an empty secret key).
    Messages(MessagesError),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Config(e) => e.fmt(f),
            DemoError::Messages(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DemoError {}

impl From<ConfigError> for DemoError {
    fn from(e: ConfigError) -> Self {
        DemoError::Config(e)
    }
}

/// How to build the demo site: the keys, the session settings, and optionally the users who
/// may log in and the signed cookies' signer.
pub struct DemoOptions {
    keys: SecretKeys,
    config: SessionConfig,
    signer: CookieSigner,
    users: Option<Arc<dyn UserSource>>,
}

impl fmt::Debug for DemoOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the keys.
        f.debug_struct("DemoOptions")
            .field("config", &self.config)
            .field("signer", &self.signer)
            .field("users", &self.users.is_some())
            .finish_non_exhaustive()
    }
}

impl DemoOptions {
    /// Cookies and sessions signed with `keys`, session settings `config`, no login.
    pub fn new(keys: &SecretKeys, config: SessionConfig) -> Self {
        DemoOptions {
            signer: CookieSigner::new(keys),
            keys: keys.clone(),
            config,
            users: None,
        }
    }

    /// The signed cookies' signer, for its legacy-salt settings (Django's
    /// `SIGNED_COOKIE_LEGACY_SALT_FALLBACK`, and writing the salt Django ≤ 5.2.14 reads).
    #[must_use]
    pub fn signer(mut self, signer: CookieSigner) -> Self {
        self.signer = signer;
        self
    }

    /// The users `/login/` and `/api/login` check passwords against (`SqlUsers` over Django's
    /// `auth_user` beside a SQL store).
    #[must_use]
    pub fn users(mut self, users: Arc<dyn UserSource>) -> Self {
        self.users = Some(users);
        self
    }
}

/// The demo site over `sessions`, signing cookies with `keys`, with session settings `config`;
/// no users, so `/login/` explains that login needs a SQL store.
pub fn router(
    sessions: &Sessions,
    keys: &SecretKeys,
    config: SessionConfig,
) -> Result<Router, DemoError> {
    router_with(sessions, DemoOptions::new(keys, config))
}

/// [`router`] with users who can log in, list their sessions and end them.
pub fn router_with_users(
    sessions: &Sessions,
    keys: &SecretKeys,
    config: SessionConfig,
    users: Arc<dyn UserSource>,
) -> Result<Router, DemoError> {
    router_with(sessions, DemoOptions::new(keys, config).users(users))
}

/// The demo site as `options` describe it.
pub fn router_with(sessions: &Sessions, options: DemoOptions) -> Result<Router, DemoError> {
    let DemoOptions {
        keys,
        config,
        signer,
        users,
    } = options;
    let session_layer = tessera::SessionLayer::from_sessions(sessions, config.clone())?;
    let csrf = CsrfLayer::new(CsrfConfig {
        cookie_secure: config.cookie_secure,
        // Behind a proxy that ends TLS, the page's origin is https: while the demo hears
        // http. A browser's page cannot add this header to a cross-site form.
        secure_proxy_ssl_header: Some(("X-Forwarded-Proto".to_owned(), "https".to_owned())),
        ..CsrfConfig::default()
    })?
    .failure_view(html::csrf_failure);
    let messages = MessagesLayer::new(&keys, MessagesConfig::from_session_config(&config))
        .map_err(DemoError::Messages)?;
    let logins = users.is_some();
    let users = users.unwrap_or_else(|| Arc::new(MemoryUsers::new()));
    let auth = AuthLayer::new(users, &keys, AuthConfig::default());
    let state = Arc::new(DemoState {
        config: config.clone(),
        logins,
        store: sessions.store().cloned(),
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
        .route("/login/", get(login::login_page).post(login::login_form))
        .route("/logout/", post(login::logout_form))
        .route("/sessions/", get(sessions_page::sessions_page))
        .route("/sessions/revoke", post(sessions_page::revoke_form))
        .route(
            "/api/session",
            get(api::get_session)
                .patch(api::patch_session)
                .delete(api::delete_session),
        )
        .route("/api/session/cycle_key", post(api::cycle_key))
        .route("/api/login", post(account_api::login))
        .route("/api/logout", post(account_api::logout))
        .route("/api/user", get(account_api::user))
        .route("/api/sessions", get(account_api::sessions))
        .route("/api/sessions/revoke", post(account_api::revoke))
        .fallback(pages::not_found)
        .with_state(state)
        // No body larger than a session may be (axum's default is 2 MB): the JSON of a PATCH
        // or a form's value can never be stored past it.
        .layer(DefaultBodyLimit::max(config.max_data_bytes))
        // Outermost first: session, CSRF, messages, auth (the last `.layer` is outermost).
        .layer(auth)
        .layer(messages)
        .layer(csrf)
        .layer(session_layer)
        .layer(CookieLayer::new().with_signer(signer))
        // Outside the session: a refused API call touches nothing. It also exempts the API's
        // JSON requests from the CSRF token, which scripts do not have.
        .layer(axum::middleware::from_fn(api_guard::guard))
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
