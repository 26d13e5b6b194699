//! tessera: Django's cookies, signed cookies and sessions for tower/axum, byte for byte.
//!
//! A Rust service and a Django app can share one `SECRET_KEY`, one signed cookie and one
//! `django_session` table, so a team can move from Django one endpoint at a time. Saves are
//! compare-and-swap with replay: two concurrent requests that change different keys of one
//! session both land, and a session deleted by a concurrent logout is never brought back.
//!
//! # Quick start
//!
//! ```
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use tessera::{store::memory::MemoryStore, Session, SessionConfig, SessionError, SessionLayer};
//!
//! async fn visits(session: Session) -> Result<String, SessionError> {
//!     let n: i64 = session.get("visits").await?.unwrap_or(0);
//!     session.insert("visits", &(n + 1)).await?;
//!     Ok(format!("visit number {}", n + 1))
//! }
//!
//! # fn main() -> Result<(), tessera::session::ConfigError> {
//! let sessions = SessionLayer::new(Arc::new(MemoryStore::new()), SessionConfig::default())?;
//! let app: Router = Router::new().route("/", get(visits)).layer(sessions);
//! # Ok(()) }
//! ```
//!
//! Any store from a URL: `tessera::url::open("postgres://app@db/app", &keys)` with the
//! `postgres` feature, then [`SessionLayer::from_sessions`].
//!
//! # Django and tessera
//!
//! | Django | tessera |
//! |---|---|
//! | `signing.Signer`, `TimestampSigner`, `dumps`/`loads`, `SECRET_KEY_FALLBACKS` | [`signing::Signer`], [`signing::TimestampSigner`], [`signing::dumps`], [`signing::loads`], [`signing::SecretKeys`] |
//! | `request.COOKIES`, `response.set_cookie` / `delete_cookie` | [`cookie::parse_cookie`], [`cookie::CookieJar`], [`cookie::CookieOptions`] |
//! | `set_signed_cookie` / `get_signed_cookie` | [`cookie::CookieSigner`] |
//! | `request.session`, `SessionMiddleware` | [`Session`], [`SessionLayer`] |
//! | `SESSION_*` settings | [`SessionConfig`] |
//! | backends `db`, `cache`, `cached_db`, `file` | [`store`]: SQLite, PostgreSQL, MySQL/MariaDB, Redis, cached, file, memory |
//! | backend `signed_cookies` | [`backend::cookie::SignedCookieSessions`] |
//! | `clearsessions` | [`store::SessionStore::clear_expired`], [`store::spawn_clear_expired`], `tessera clearsessions` |
//! | `SessionInterrupted` (400) | [`SessionError::Interrupted`] |
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `axum` | yes | the [`Session`] and [`cookie::Cookies`] extractors |
//! | `sqlite` | | `store::sqlite` (bundled SQLite) |
//! | `postgres` | | `store::postgres` (tokio-postgres with a deadpool pool) |
//! | `mysql` | | `store::mysql` (mysql_async) |
//! | `redis` | | `store::redis` (redis-rs: standalone, Sentinel, Cluster) |
//! | `testing` | | `tessera::conformance`, the suite every store and backend passes |
//!
//! The memory, file and signed-cookie stores need no feature. The library turns on no
//! feature of any crate an app shares with it (no `serde_json` features; no CLI crates).
//!
//! # Layers
//!
//! Each module uses only the ones above it (a test reads the source to hold this):
//!
//! - [`time`]: the one clock every layer and store reads, and `max_age` durations.
//! - [`json`]: Python-exact JSON; [`signing`]: `Signer`, `TimestampSigner`, `dumps`/`loads`,
//!   key rotation.
//! - [`cookie`]: reading `Cookie`, writing `Set-Cookie` exactly as Django, signed cookies.
//! - [`session`]: keys, expiry, settings, Django's data format, and the lazy [`Session`]
//!   handle.
//! - [`store`]: the store contract and one module per store.
//! - [`backend`]: where a session lives between requests: a store behind a random key, or the
//!   signed cookie itself.
//! - [`middleware`]: the tower layer that ties a session to each request.
//! - [`url`]: a store or backend from a URL such as `sqlite://sessions.db`.
//!
//! The guides (the `docs/` pages of the repository) are in [`guide`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod backend;
#[cfg(feature = "testing")]
pub mod conformance;
pub mod cookie;
pub mod csrf;
#[cfg(feature = "axum")]
pub mod extract;
pub mod json;
pub mod messages;
pub mod middleware;
pub(crate) mod py;
pub mod session;
pub mod signing;
pub mod store;
pub mod time;
pub mod url;

pub use middleware::SessionLayer;

/// The guides: one page per concept, each with the Django call and the Rust one side by side.
// The pages are written for a Markdown viewer too, whose list rules are looser than clippy's.
#[allow(clippy::doc_lazy_continuation, clippy::doc_overindented_list_items)]
pub mod guide {
    #[doc = include_str!("../docs/cookies.md")]
    pub mod cookies {}
    #[doc = include_str!("../docs/signed-cookies.md")]
    pub mod signed_cookies {}
    #[doc = include_str!("../docs/sessions.md")]
    pub mod sessions {}
    #[doc = include_str!("../docs/stores.md")]
    pub mod stores {}
    #[doc = include_str!("../docs/settings.md")]
    pub mod settings {}
    #[doc = include_str!("../docs/django-interop.md")]
    pub mod django_interop {}
    #[doc = include_str!("../docs/auth.md")]
    pub mod auth {}
    #[doc = include_str!("../docs/csrf.md")]
    pub mod csrf {}
    #[doc = include_str!("../docs/messages.md")]
    pub mod messages {}
    #[doc = include_str!("../docs/user-sessions.md")]
    pub mod user_sessions {}
    #[doc = include_str!("../docs/security.md")]
    pub mod security {}
    #[doc = include_str!("../docs/performance.md")]
    pub mod performance {}
}
pub use session::{Session, SessionConfig, SessionError};

/// The README's example compiles.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
