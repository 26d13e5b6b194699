//! Where a session lives between requests: the one interface the [`Session`](crate::Session)
//! handle talks to.
//!
//! Two kinds implement it, as in Django: [`server::StoreBackend`] keeps records in a
//! [`SessionStore`](crate::store::SessionStore) behind a random key (saves are a
//! compare-and-swap that replays the request's changes on a lost race), and
//! [`cookie::SignedCookieSessions`] keeps the whole session in the signed cookie itself. Both
//! pass the same conformance suite (`tessera::conformance`, `testing` feature), each
//! check that cannot apply to a backend without server state skipped with its reason.

pub mod cookie;
pub(crate) mod dispatch;
pub mod server;

use std::fmt;

use async_trait::async_trait;

use crate::json::{Map, Value};
use crate::session::{SessionConfig, SessionError, SessionKey};
use crate::store::{Loaded, StoreError, Version};

/// What the session cookie carries: a store's key, or a cookie-held session's signed text.
/// Its `Debug` output never shows it: either is a credential.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(Id);

#[derive(Clone, PartialEq, Eq)]
enum Id {
    Key(SessionKey),
    Signed(String),
}

impl SessionId {
    /// A server-side session's key.
    pub fn key(key: SessionKey) -> Self {
        SessionId(Id::Key(key))
    }

    /// A cookie-held session's whole signed value.
    pub fn signed(value: String) -> Self {
        SessionId(Id::Signed(value))
    }

    /// The value the session cookie carries.
    pub fn cookie_value(&self) -> &str {
        match &self.0 {
            Id::Key(k) => k.as_str(),
            Id::Signed(v) => v,
        }
    }

    /// The store key, for a server-side session.
    pub fn as_key(&self) -> Option<&SessionKey> {
        match &self.0 {
            Id::Key(k) => Some(k),
            Id::Signed(_) => None,
        }
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// The settings and the moment a backend call runs at.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The layer's settings (expiry, store timeout, retry bound).
    pub config: &'a SessionConfig,
    /// Unix seconds, from the layer's clock.
    pub now: f64,
}

/// One change a request made, recorded so that a save which lost a race can re-apply just
/// this request's changes on top of the newer record.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Change {
    /// `session[key] = value`.
    Set(String, Value),
    /// `del session[key]`.
    Remove(String),
    /// `session.clear()`.
    Clear,
}

impl Change {
    /// Applies the change to `data`.
    pub fn apply(&self, data: &mut Map) {
        match self {
            Change::Set(k, v) => {
                set_value(data, k, v.clone());
            }
            Change::Remove(k) => {
                data.shift_remove(k);
            }
            Change::Clear => data.clear(),
        }
    }

    /// [`apply`](Self::apply), moving the key and value in instead of copying them.
    pub(crate) fn apply_owned(self, data: &mut Map) {
        match self {
            // `insert` keeps an existing key's slot (and its order), as `apply` does.
            Change::Set(k, v) => {
                data.insert(k, v);
            }
            change => change.apply(data),
        }
    }
}

/// `data[key] = value`: an existing key keeps its slot (and its place in the order) and its
/// old value is handed back, moved out; the key is copied only when it is new. Inlined: every
/// `Session::insert` calls it, and as a call it cost a signed-cookie write 40 instructions.
#[inline]
pub(crate) fn set_value(data: &mut Map, key: &str, value: Value) -> Option<Value> {
    match data.get_mut(key) {
        Some(slot) => Some(std::mem::replace(slot, value)),
        None => {
            data.insert(key.to_owned(), value);
            None
        }
    }
}

/// A session to write: where it was loaded from (nothing for a new one), its data, and what
/// this request changed.
#[derive(Debug)]
pub struct Pending<'a> {
    /// The session's identity, if it was loaded or saved before.
    pub id: Option<&'a SessionId>,
    /// The version it was loaded at, if any.
    pub version: Option<&'a Version>,
    /// The data to write; a backend that replays changes after a lost race updates it.
    pub data: &'a mut Map,
    /// What this request changed, in order.
    pub changes: &'a [Change],
}

/// Where a written session now is.
#[derive(Clone, Debug)]
pub struct Saved {
    /// What the cookie must carry.
    pub id: SessionId,
    /// The version written (what the next save compares against).
    pub version: Version,
}

/// A place sessions live in. Implementations must be safe to call concurrently.
#[async_trait]
pub trait SessionBackend: Send + Sync + fmt::Debug + 'static {
    /// The session a request's cookie names, or `None` when the value cannot be one of this
    /// backend's (the request then starts a new session).
    fn recognise(&self, cookie: &str) -> Option<SessionId>;

    /// The live session `id` names; `None` when it is unknown, expired or unreadable.
    /// Loading never writes.
    async fn load(&self, id: &SessionId, cx: Context<'_>) -> Result<Option<Loaded>, StoreError>;

    /// Writes the session and says where it now is.
    ///
    /// # Errors
    ///
    /// [`SessionError::Interrupted`] when the session was deleted meanwhile (it is never
    /// brought back), [`SessionError::Store`] when the store failed, and whatever the backend
    /// cannot hold ([`SessionError::TooLarge`]).
    async fn save(&self, pending: Pending<'_>, cx: Context<'_>) -> Result<Saved, SessionError>;

    /// Deletes the session (a logout).
    async fn delete(&self, id: &SessionId, cx: Context<'_>) -> Result<(), StoreError>;

    /// Moves the session to a new identity and retires the old one (`cycle_key`, against
    /// session fixation). A write that another request made under the old identity meanwhile
    /// is either carried over (and `pending.data` updated) or refused, never acknowledged and
    /// dropped. `None` when the backend has no identity apart from the data: the next save is
    /// the whole cycle.
    ///
    /// # Errors
    ///
    /// As [`save`](Self::save): [`SessionError::Interrupted`] when the old session was
    /// deleted meanwhile (the new one is removed too).
    async fn cycle(
        &self,
        pending: Pending<'_>,
        cx: Context<'_>,
    ) -> Result<Option<Saved>, SessionError>;

    /// Whether a deleted or cycled session's old cookie stops working. True for server-side
    /// stores; a signed cookie stays valid until it expires.
    fn revocable(&self) -> bool;

    /// Whether an unreadable session marks the new one modified, so its cookie is re-issued
    /// (Django's `signed_cookies` does; server-side backends do not).
    fn reissues_unreadable(&self) -> bool {
        false
    }
}
