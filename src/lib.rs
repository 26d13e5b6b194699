//! tessera: Django's cookies, signed cookies and sessions for tower/axum, byte for byte.
//!
//! - [`signing`]: `Signer`, `TimestampSigner`, `dumps`/`loads`, key rotation.
//! - [`cookie`]: reading `Cookie`, writing `Set-Cookie` exactly as Django, signed cookies.
//! - [`session`]: the lazy [`Session`] handle, keys, expiry, settings, Django's data format.
//! - [`store`]: the store contract, its conformance suite and one module per store.
//! - [`backend`]: where a session lives between requests: a store behind a random key, or
//!   the signed cookie itself.
//! - [`middleware`]: the tower layer that ties a session to each request.
//! - [`url`]: a store or backend from a URL such as `sqlite://sessions.db`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
#[cfg(feature = "testing")]
pub mod conformance;
pub mod cookie;
#[cfg(feature = "axum")]
pub mod extract;
pub mod json;
pub mod middleware;
pub(crate) mod py;
pub mod session;
pub mod signing;
pub mod store;
pub mod url;

pub use middleware::SessionLayer;
pub use session::{Session, SessionConfig, SessionError};

/// The README's example compiles.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
