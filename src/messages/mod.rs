//! Django's messages framework (`django.contrib.messages`), stored exactly as Django stores
//! it: a message added on a Django page is shown once by a tessera handler, and the other
//! way round.
//!
//! - [`Message`], [`Level`] with [`DEBUG`]…[`ERROR`], [`LevelTags`]: the message, its level
//!   and its CSS tags (`MESSAGE_TAGS`).
//! - [`CookieCodec`]: cookie storage, the signed and compressed `messages` cookie, kept to
//!   2048 characters with the "not finished" sentinel.
//! - [`decode_session`] / [`encode_session`]: session storage, the `_messages` key.
//! - [`StorageKind`]: cookie, session, or fallback (Django's default: the cookie, then the
//!   session for what does not fit).
//! - [`MessageStorage`]: one request's messages without HTTP (Django's `BaseStorage`).
//! - [`MessagesLayer`] and the [`Messages`] handle: the middleware, and what a handler adds
//!   messages to and reads them from.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tessera::messages::{Messages, MessagesConfig, MessagesLayer, StorageKind};
//! use tessera::signing::SecretKeys;
//!
//! async fn save(messages: Messages) -> &'static str {
//!     messages.success("Saved.");
//!     "saved"
//! }
//!
//! async fn show(messages: Messages) -> String {
//!     match messages.read().await {
//!         Ok(list) => list.iter().map(|m| format!("{}: {}\n", messages.tags(m), m.message)).collect(),
//!         Err(e) => format!("messages unavailable: {e}"),
//!     }
//! }
//!
//! # fn main() -> Result<(), tessera::messages::MessagesError> {
//! // Cookie storage needs no session; session and fallback storage sit inside a SessionLayer.
//! let config = MessagesConfig { storage: StorageKind::Cookie, ..MessagesConfig::default() };
//! let app: Router = Router::new()
//!     .route("/save", get(save))
//!     .route("/", get(show))
//!     .layer(MessagesLayer::new(&SecretKeys::new("a long random secret"), config)?);
//! # Ok(()) }
//! ```

mod config;
mod cookie;
mod encoding;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod fallback;
mod layer;
mod level;
mod message;
mod session;
mod storage;
mod update;

pub use config::MessagesConfig;
pub use cookie::{
    CookieCodec, CookieRead, COOKIE_NAME, COOKIE_SALT, MAX_COOKIE_SIZE, NOT_FINISHED,
};
pub use encoding::MESSAGE_KEY;
pub use error::MessagesError;
#[cfg(feature = "axum")]
pub use extract::MissingMessagesLayer;
pub use layer::{Messages, MessagesLayer, MessagesService};
pub use level::{Level, LevelTags, DEBUG, ERROR, INFO, SUCCESS, WARNING};
pub use message::{Entry, Message};
pub use session::{decode_session, encode_session, SessionRead, SESSION_KEY};
pub use storage::{MessageStorage, StorageKind};
pub use update::{CookieWrite, SessionWrite, Update};
