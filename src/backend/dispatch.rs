//! The backend a session layer holds: tessera's own two kept as their concrete types, any
//! other behind the [`SessionBackend`] trait.
//!
//! A `dyn SessionBackend` call costs a boxed future (the trait is `async_trait`); a session
//! layer makes one or two per request that uses its session, so for the backends tessera ships
//! the layer calls their methods directly and their futures run inline in the request's.

use std::fmt;
use std::sync::Arc;

use super::cookie::SignedCookieSessions;
use super::server::StoreBackend;
use super::{Context, Pending, Saved, SessionBackend, SessionId};
use crate::session::SessionError;
use crate::store::{Loaded, StoreError};

/// A session layer's backend.
#[derive(Clone)]
pub(crate) enum Backend {
    /// Records in a store behind a random key.
    Store(StoreBackend),
    /// The whole session in the signed cookie.
    SignedCookie(SignedCookieSessions),
    /// An app's own backend.
    Other(Arc<dyn SessionBackend>),
}

impl Backend {
    /// See [`SessionBackend::recognise`], from the cookie value's bytes: a store's key is
    /// checked byte by byte against its alphabet, so it needs no UTF-8 check first.
    pub(crate) fn recognise(&self, cookie: &[u8]) -> Option<SessionId> {
        match self {
            Backend::Store(b) => b.recognise(cookie),
            Backend::SignedCookie(b) => b.recognise(std::str::from_utf8(cookie).ok()?),
            Backend::Other(b) => b.recognise(std::str::from_utf8(cookie).ok()?),
        }
    }

    /// See [`SessionBackend::load`].
    pub(crate) async fn load(
        &self,
        id: &SessionId,
        cx: Context<'_>,
    ) -> Result<Option<Loaded>, StoreError> {
        match self {
            Backend::Store(b) => b.load(id, cx).await,
            Backend::SignedCookie(b) => Ok(b.load(id, cx)),
            Backend::Other(b) => b.load(id, cx).await,
        }
    }

    /// See [`SessionBackend::save`].
    pub(crate) async fn save(
        &self,
        pending: Pending<'_>,
        cx: Context<'_>,
    ) -> Result<Saved, SessionError> {
        match self {
            Backend::Store(b) => b.save(pending, cx).await,
            Backend::SignedCookie(b) => b.save(pending, cx),
            Backend::Other(b) => b.save(pending, cx).await,
        }
    }

    /// The save, when this backend makes it without waiting (the signed cookie, a store that
    /// never waits), so the response needs no await for it; `None` for a backend that has to
    /// be awaited.
    pub(crate) fn save_now(
        &self,
        pending: Pending<'_>,
        cx: Context<'_>,
    ) -> Option<Result<Saved, SessionError>> {
        match self {
            Backend::SignedCookie(b) => Some(b.save(pending, cx)),
            Backend::Store(b) => b.save_now(pending, cx),
            Backend::Other(_) => None,
        }
    }

    /// See [`SessionBackend::delete`] (rare: a logout).
    pub(crate) async fn delete(&self, id: &SessionId, cx: Context<'_>) -> Result<(), StoreError> {
        match self {
            Backend::Store(b) => b.delete(id, cx).await,
            Backend::SignedCookie(b) => SessionBackend::delete(b, id, cx).await,
            Backend::Other(b) => b.delete(id, cx).await,
        }
    }

    /// See [`SessionBackend::cycle`] (rare: a login).
    pub(crate) async fn cycle(
        &self,
        pending: Pending<'_>,
        cx: Context<'_>,
    ) -> Result<Option<Saved>, SessionError> {
        match self {
            Backend::Store(b) => b.cycle(pending, cx).await,
            Backend::SignedCookie(b) => SessionBackend::cycle(b, pending, cx).await,
            Backend::Other(b) => b.cycle(pending, cx).await,
        }
    }

    /// Whether a save may replay this request's changes onto a newer record (a store's
    /// compare-and-swap), so the session has to log them; `stored` says whether the session
    /// has a version in the store to lose a race against. A session never stored is created,
    /// which replays nothing; an app's own backend is given the log whatever it does with it.
    pub(crate) fn replays_changes(&self, stored: bool) -> bool {
        match self {
            Backend::Store(_) => stored,
            Backend::SignedCookie(_) => false,
            Backend::Other(_) => true,
        }
    }

    /// See [`SessionBackend::reissues_unreadable`].
    pub(crate) fn reissues_unreadable(&self) -> bool {
        match self {
            Backend::Store(b) => SessionBackend::reissues_unreadable(b),
            Backend::SignedCookie(b) => SessionBackend::reissues_unreadable(b),
            Backend::Other(b) => b.reissues_unreadable(),
        }
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Store(b) => b.fmt(f),
            Backend::SignedCookie(b) => b.fmt(f),
            Backend::Other(b) => b.fmt(f),
        }
    }
}
