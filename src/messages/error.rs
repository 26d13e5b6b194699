//! What can go wrong with messages.

use crate::cookie::CookieError;
use crate::session::SessionError;
use crate::signing::SigningError;

/// Why messages could not be read or stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessagesError {
    /// A value that passed its signature check (or came from the session) but that Django
    /// would fail on with an exception: not zlib data, not a list of messages, a malformed
    /// message. The text says what was wrong, never the value.
    #[error("stored messages are unreadable: {0}")]
    Undecodable(String),
    /// Session or fallback storage is configured, but the request has no
    /// [`Session`](crate::Session): the [`SessionLayer`](crate::SessionLayer) must wrap the
    /// [`MessagesLayer`](super::MessagesLayer) (Django's `ImproperlyConfigured`).
    #[error("message storage needs the session: install SessionLayer outside MessagesLayer")]
    NoSession,
    /// The session could not be read or written.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The signer could not be built (an empty `SECRET_KEY`).
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// The `Set-Cookie` header could not be written (a cookie setting Django would refuse).
    #[error(transparent)]
    Cookie(#[from] CookieError),
}

/// An [`MessagesError::Undecodable`] saying what was wrong.
pub(crate) fn undecodable(what: impl Into<String>) -> MessagesError {
    MessagesError::Undecodable(what.into())
}
