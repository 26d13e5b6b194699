//! What one request's `storage.update(response)` writes: a cookie change, a session change,
//! and the messages that could not be stored. Plain values, so the layer applies them over
//! HTTP and the conformance tests compare them with Django's.

use super::message::Entry;
use super::session::encode_session;

/// A change to the response's `messages` cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CookieWrite {
    /// Set the cookie to this value.
    Set(String),
    /// Delete the cookie.
    Delete,
}

/// A change to the session's `_messages` key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionWrite {
    /// Set the key to this JSON text.
    Set(String),
    /// Remove the key (`session.pop("_messages", None)`).
    Remove,
}

/// What [`MessageStorage::update`](super::MessageStorage::update) stored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    /// The entries that could not be stored (cookie storage drops what does not fit).
    pub unstored: Vec<Entry>,
    /// The cookie change, if any.
    pub cookie: Option<CookieWrite>,
    /// The session change, if any.
    pub session: Option<SessionWrite>,
}

/// Which storages held loaded messages (fallback storage's `_used_storages`): only those are
/// flushed when nothing is left to store.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Holding {
    pub cookie: bool,
    pub session: bool,
}

/// `SessionStorage._store`: the messages, or the key removed when there are none.
pub(crate) fn session_write(entries: &[Entry]) -> SessionWrite {
    if entries.is_empty() {
        SessionWrite::Remove
    } else {
        SessionWrite::Set(encode_session(entries))
    }
}
