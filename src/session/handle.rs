//! The [`Session`] a handler holds: Django's `request.session`, loaded lazily.
//!
//! Nothing touches the store until the handler first reads or writes the session, so a
//! request that never uses it costs no I/O. Every change is recorded as well as applied, so
//! that when a concurrent request saved the same session first, the save reloads the record
//! and re-applies just this request's changes instead of overwriting the other's.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{Mutex, MutexGuard};

use super::config::{ConfigError, SessionConfig};
use super::error::{default_error_response, ErrorResponder, SessionError};
use super::expiry::{self, Expiry};
use super::key::SessionKey;
use super::lifetime::{browser_close_of, expiry_age_of, expiry_date_of};
use crate::backend::dispatch::Backend;
use crate::backend::server::StoreBackend;
use crate::backend::{set_value, Change, Context, Pending, Saved, SessionBackend, SessionId};
use crate::cookie::SetCookieTemplate;
use crate::json::{Map, Value};
use crate::store::{SessionStore, StoreError, Version};
use crate::time::Clock;

/// The key Django stores a custom expiry under, inside the session dict.
pub const EXPIRY_KEY: &str = expiry::SESSION_EXPIRY_KEY;

/// Marks the request's session as failed and logs why, once, where it happened (the key stays
/// out of the log: it is a bearer credential).
fn store_failure(st: &mut State, operation: &'static str, e: StoreError) -> SessionError {
    st.store_failed = true;
    tracing::error!(target: "tessera::session", error = %e, "session {operation} failed");
    SessionError::Store(e)
}

/// Takes a backend's answer to a save into `st`.
fn settle(st: &mut State, saved: Result<Saved, SessionError>) -> Result<(), SessionError> {
    match saved {
        Ok(saved) => {
            st.written(saved);
            Ok(())
        }
        Err(SessionError::Store(e)) => Err(store_failure(st, "save", e)),
        Err(e) => Err(e),
    }
}

/// Changes this request's own dict with `change` and marks the session modified; `logged` (the
/// same change, when this request's changes are logged for a replay) joins the log. For a
/// change that hands back what it replaced, which [`Change::apply`] cannot.
fn edit<R>(st: &mut State, logged: Option<Change>, change: impl FnOnce(&mut Map) -> R) -> R {
    let out = change(st.data.make_mut());
    st.changes.extend(logged);
    st.modified = true;
    out
}

/// What `process_response` does with the session in `st`, short of any store call.
fn decide(
    config: &SessionConfig,
    st: &State,
    cookie_present: bool,
    server_error: bool,
) -> Decision {
    if st.store_failed {
        return Decision::Done(Commit::Untouched { vary: true });
    }
    if config.save_every_request && !st.loaded && !st.is_empty() {
        return Decision::Load;
    }
    let empty = st.is_empty();
    if cookie_present && empty {
        return Decision::Done(Commit::DeleteCookie);
    }
    if !(st.modified || config.save_every_request) || empty || server_error {
        return Decision::Done(Commit::Untouched { vary: st.accessed });
    }
    Decision::Save
}

/// The commit when it needs no await: a decision without a store call, or a save the backend
/// makes without I/O (the signed cookie). `None` means the async commit has to run.
fn commit_inline(
    shared: &Shared,
    st: &mut State,
    cookie_present: bool,
    server_error: bool,
) -> Option<Commit> {
    match decide(&shared.config, st, cookie_present, server_error) {
        Decision::Done(commit) => Some(commit),
        Decision::Load => None,
        Decision::Save => {
            let now = shared.clock.now();
            let cx = Context {
                config: &shared.config,
                now,
            };
            let saved = shared.backend.save_now(st.pending(), cx)?;
            Some(match settle(st, saved) {
                Ok(()) => saved_cookie(shared, st, now),
                Err(e) => Commit::Failed(e),
            })
        }
    }
}

/// The `Set-Cookie` for the session just saved in `st`: Django sets `max_age` and `expires`
/// unless the session ends with the browser.
fn saved_cookie(shared: &Shared, st: &State, now: f64) -> Commit {
    let config = &shared.config;
    if browser_close_of(&st.data, config) {
        return Commit::SetCookie(shared.cookie.render_session_only(st.cookie_value()));
    }
    match expiry_age_of(&st.data, config, now) {
        Ok(max_age) => Commit::SetCookie(shared.cookie.render(st.cookie_value(), max_age, now)),
        Err(e) => Commit::Failed(e),
    }
}

/// The session dict: shared with the store's (or its cache's) copy as loaded, and this
/// request's own once the request first changes it.
#[derive(Debug)]
enum Dict {
    Shared(Arc<Map>),
    Owned(Map),
}

impl Default for Dict {
    /// A new session's: empty, and nothing allocated.
    fn default() -> Self {
        Dict::Owned(Map::new())
    }
}

impl Dict {
    /// The dict to change: copied first if another holder shares it (a cache, the memory
    /// store), taken as it is if this request holds the only reference (a record decoded for
    /// the first time, which no cache kept).
    fn make_mut(&mut self) -> &mut Map {
        if let Dict::Shared(_) = self {
            if let Dict::Shared(shared) = std::mem::take(self) {
                *self = Dict::Owned(Arc::unwrap_or_clone(shared));
            }
        }
        match self {
            Dict::Owned(map) => map,
            // Not reached (made owned above); still the right answer if it were.
            Dict::Shared(shared) => Arc::make_mut(shared),
        }
    }
}

impl std::ops::Deref for Dict {
    type Target = Map;
    fn deref(&self) -> &Map {
        match self {
            Dict::Shared(shared) => shared,
            Dict::Owned(map) => map,
        }
    }
}

/// The mutable state behind a [`Session`].
#[derive(Debug, Default)]
struct State {
    /// Django's `session_key`: `None` for a new session or after a failed lookup or flush.
    id: Option<SessionId>,
    data: Dict,
    /// The version `id` was loaded or saved at, in this request.
    version: Option<Version>,
    /// What this request changed, replayed over the winner's data after a lost race.
    changes: Vec<Change>,
    loaded: bool,
    accessed: bool,
    modified: bool,
    /// A store call failed during this request: the session is left alone at the end.
    store_failed: bool,
}

impl State {
    /// The session as a backend writes it.
    fn pending(&mut self) -> Pending<'_> {
        Pending {
            id: self.id.as_ref(),
            version: self.version.as_ref(),
            data: self.data.make_mut(),
            changes: &self.changes,
        }
    }

    /// Where the backend wrote it: the identity and version the next write starts from.
    fn written(&mut self, saved: Saved) {
        self.id = Some(saved.id);
        self.version = Some(saved.version);
        self.changes.clear();
    }

    /// Django's `is_empty()`: no key and no data.
    fn is_empty(&self) -> bool {
        self.id.is_none() && self.data.is_empty()
    }

    /// The value the session cookie carries.
    fn cookie_value(&self) -> &str {
        self.id.as_ref().map_or("", SessionId::cookie_value)
    }
}

/// What every session of one layer shares: where sessions live, the settings, the cookie.
pub(crate) struct Shared {
    backend: Backend,
    config: SessionConfig,
    /// The session cookie's `Set-Cookie` line, checked when the layer was built.
    cookie: SetCookieTemplate,
    /// The clock every backend and store call reads, replaceable so tests can pin it.
    clock: Clock,
    /// The response for a session that could not be loaded or saved.
    on_error: ErrorResponder,
}

impl Shared {
    /// Checks `config` (see [`SessionConfig::validate`]) once, for every later request.
    pub(crate) fn new(backend: Backend, config: SessionConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let cookie = config.cookie_template().map_err(|e| ConfigError {
            name: "SESSION_COOKIE_NAME".to_owned(),
            value: config.cookie_name.clone(),
            why: e.to_string(),
        })?;
        Ok(Shared {
            backend,
            config,
            cookie,
            clock: Clock::system(),
            on_error: Arc::new(default_error_response),
        })
    }

    /// The same, with another clock.
    pub(crate) fn with_clock(&self, clock: Clock) -> Self {
        Shared {
            clock,
            ..self.copy()
        }
    }

    /// The same, with another error response.
    pub(crate) fn with_error_response(&self, on_error: ErrorResponder) -> Self {
        Shared {
            on_error,
            ..self.copy()
        }
    }

    fn copy(&self) -> Self {
        Shared {
            backend: self.backend.clone(),
            config: self.config.clone(),
            cookie: self.cookie.clone(),
            clock: self.clock.clone(),
            on_error: self.on_error.clone(),
        }
    }

    pub(crate) fn config(&self) -> &SessionConfig {
        &self.config
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("backend", &self.backend)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What the response needs after the handler: Django's `process_response` decisions.
#[derive(Debug)]
pub(crate) enum Commit {
    /// Nothing to write; `vary` when the handler read or wrote the session.
    Untouched { vary: bool },
    /// The session was emptied (flush, or a cookie for nothing): delete the cookie.
    DeleteCookie,
    /// Saved: send this `Set-Cookie` value.
    SetCookie(String),
    /// The save failed: the response becomes an error.
    Failed(SessionError),
}

/// The part of [`Session::commit`] that needs no store call, or which call it needs.
enum Decision {
    Done(Commit),
    /// `SESSION_SAVE_EVERY_REQUEST` on a session never read: load it, then decide again.
    Load,
    Save,
}

/// A visitor's session. Cheap to clone; clones share one state.
#[derive(Clone)]
pub struct Session {
    /// One allocation per request, so a clone is one reference count.
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    state: Mutex<State>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key or the data: both may be secrets.
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// A session for a request whose cookie carried `cookie` (if any).
    pub(crate) fn from_cookie(shared: Arc<Shared>, cookie: Option<Cow<'_, [u8]>>) -> Self {
        let id = cookie.and_then(|c| shared.backend.recognise(&c));
        Self::with_state(
            shared,
            State {
                id,
                ..State::default()
            },
        )
    }

    fn with_state(shared: Arc<Shared>, state: State) -> Self {
        Session {
            inner: Arc::new(Inner {
                shared,
                state: Mutex::new(state),
            }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    fn state(&self) -> &Mutex<State> {
        &self.inner.state
    }

    /// A session over `store`, outside any middleware: for tests, jobs and the CLI.
    ///
    /// # Errors
    ///
    /// A `config` that can never work ([`SessionConfig::validate`]).
    pub fn detached(
        store: Arc<dyn SessionStore>,
        config: SessionConfig,
        key: Option<SessionKey>,
    ) -> Result<Self, ConfigError> {
        let shared = Shared::new(Backend::Store(StoreBackend::new(store)), config)?;
        Ok(Self::with_state(
            Arc::new(shared),
            State {
                id: key.map(SessionId::key),
                ..State::default()
            },
        ))
    }

    /// A session in `backend`, outside any middleware, for a request whose session cookie
    /// carried `cookie`: what the layer does per request, for tests and jobs.
    ///
    /// # Errors
    ///
    /// A `config` that can never work ([`SessionConfig::validate`]).
    pub fn detached_in(
        backend: Arc<dyn SessionBackend>,
        config: SessionConfig,
        cookie: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let shared = Arc::new(Shared::new(Backend::Other(backend), config)?);
        Ok(Self::from_cookie(
            shared,
            cookie.map(|c| Cow::Borrowed(c.as_bytes())),
        ))
    }

    fn now(&self) -> f64 {
        self.shared().clock.now()
    }

    /// The settings of the layer this session belongs to.
    pub(crate) fn config(&self) -> &SessionConfig {
        &self.shared().config
    }

    /// The error response of the layer this session belongs to.
    pub(crate) fn on_error(&self) -> &ErrorResponder {
        &self.shared().on_error
    }

    fn context(&self) -> Context<'_> {
        Context {
            config: &self.shared().config,
            now: self.now(),
        }
    }

    /// Loads the record on first use; later calls return the state at once.
    async fn loaded(&self) -> Result<MutexGuard<'_, State>, SessionError> {
        // Uncontended (the usual case: one handler), `try_lock` is one compare-and-swap where
        // `lock` builds and polls a queue entry. It fails while others wait, so the queue's
        // order is kept.
        let mut st = match self.state().try_lock() {
            Ok(st) => st,
            Err(_) => self.state().lock().await,
        };
        if !st.loaded {
            self.load_into(&mut st).await?;
        }
        st.accessed = true;
        Ok(st)
    }

    async fn load_into(&self, st: &mut State) -> Result<(), SessionError> {
        if let Some(id) = &st.id {
            // The answer owns its data, so `st` is free again once it is in.
            let loaded = self.shared().backend.load(id, self.context()).await;
            match loaded {
                Ok(Some(loaded)) => {
                    st.data = Dict::Shared(loaded.data);
                    st.version = Some(loaded.version);
                }
                // Unknown, expired or unreadable: a fresh anonymous session; nothing is
                // written. Django's signed_cookies keeps the cookie as the session's "key"
                // and re-issues it, holding an empty session.
                Ok(None) if self.shared().backend.reissues_unreadable() => st.modified = true,
                Ok(None) => st.id = None,
                Err(e) => return Err(store_failure(st, "load", e)),
            }
        }
        st.loaded = true;
        Ok(())
    }

    /// Applies `change`, and logs it for a backend that replays a request's changes after a
    /// lost race (the signed cookie, or a session not yet stored, has no race to lose, so it
    /// is only applied).
    fn record(&self, st: &mut State, change: Change) {
        if self.logs_changes(st) {
            change.apply(st.data.make_mut());
            st.changes.push(change);
        } else {
            change.apply_owned(st.data.make_mut());
        }
        st.modified = true;
    }

    /// Whether this request's changes are logged for a replay (see [`record`](Self::record)).
    fn logs_changes(&self, st: &State) -> bool {
        self.shared().backend.replays_changes(st.version.is_some())
    }

    /// `data[key] = value` ([`set_value`]: one lookup, the old value moved out, not copied),
    /// logged as [`record`](Self::record) logs a change.
    fn set(&self, st: &mut State, key: &str, value: Value) -> Option<Value> {
        let logged = self
            .logs_changes(st)
            .then(|| Change::Set(key.to_owned(), value.clone()));
        edit(st, logged, |data| set_value(data, key, value))
    }

    /// The value under `key`, converted to `T`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let st = self.loaded().await?;
        match st.data.get(key) {
            Some(v) => Ok(Some(v.to_deserialize()?)),
            None => Ok(None),
        }
    }

    /// The raw value under `key`.
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>, SessionError> {
        Ok(self.loaded().await?.data.get(key).cloned())
    }

    /// `session[key]`: the value, or [`SessionError::KeyError`].
    pub async fn get_or_err<T: DeserializeOwned>(&self, key: &str) -> Result<T, SessionError> {
        self.get(key)
            .await?
            .ok_or_else(|| SessionError::KeyError(key.to_owned()))
    }

    /// Sets `key`; returns the previous value.
    pub async fn insert<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<Option<Value>, SessionError> {
        let value = Value::from_serialize(value)?;
        let mut st = self.loaded().await?;
        Ok(self.set(&mut st, key, value))
    }

    /// Removes `key`; returns its value if it was there.
    pub async fn remove(&self, key: &str) -> Result<Option<Value>, SessionError> {
        let mut st = self.loaded().await?;
        // An absent key changes nothing: the dict is not copied and the session not modified.
        if !st.data.contains_key(key) {
            return Ok(None);
        }
        let logged = self
            .logs_changes(&st)
            .then(|| Change::Remove(key.to_owned()));
        Ok(edit(&mut st, logged, |data| data.shift_remove(key)))
    }

    /// `del session[key]`: removes `key`, or fails with [`SessionError::KeyError`].
    pub async fn delete(&self, key: &str) -> Result<(), SessionError> {
        match self.remove(key).await? {
            Some(_) => Ok(()),
            None => Err(SessionError::KeyError(key.to_owned())),
        }
    }

    /// `session.pop(key)`: removes `key` and returns its value converted to `T`.
    pub async fn pop<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        match self.remove(key).await? {
            Some(v) => Ok(Some(v.to_deserialize()?)),
            None => Ok(None),
        }
    }

    /// `session.setdefault(key, default)`: the value, after inserting `default` if absent.
    pub async fn setdefault<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        default: T,
    ) -> Result<T, SessionError> {
        let mut st = self.loaded().await?;
        if let Some(v) = st.data.get(key) {
            return Ok(v.to_deserialize()?);
        }
        self.set(&mut st, key, Value::from_serialize(&default)?);
        Ok(default)
    }

    /// `key in session`.
    pub async fn contains(&self, key: &str) -> Result<bool, SessionError> {
        Ok(self.loaded().await?.data.contains_key(key))
    }

    /// The keys, in insertion order.
    pub async fn keys(&self) -> Result<Vec<String>, SessionError> {
        Ok(self.loaded().await?.data.keys().cloned().collect())
    }

    /// The values, in insertion order.
    pub async fn values(&self) -> Result<Vec<Value>, SessionError> {
        Ok(self.loaded().await?.data.values().cloned().collect())
    }

    /// A copy of the whole dict.
    pub async fn items(&self) -> Result<Map, SessionError> {
        Ok(Map::clone(&self.loaded().await?.data))
    }

    /// True when the dict is empty.
    pub async fn is_empty(&self) -> Result<bool, SessionError> {
        Ok(self.loaded().await?.data.is_empty())
    }

    /// `session.update(mapping)`: sets every pair.
    pub async fn update(
        &self,
        pairs: impl IntoIterator<Item = (String, Value)>,
    ) -> Result<(), SessionError> {
        let mut st = self.loaded().await?;
        for (k, v) in pairs {
            self.record(&mut st, Change::Set(k, v));
        }
        st.modified = true;
        Ok(())
    }

    /// Empties the dict and keeps the key: the record is saved empty and the cookie refreshed.
    pub async fn clear(&self) -> Result<(), SessionError> {
        let mut st = self.loaded().await?;
        self.record(&mut st, Change::Clear);
        Ok(())
    }

    /// Logout: deletes the record now, empties the dict and drops the key, so the response
    /// deletes the cookie. On a session that was never saved, it writes nothing.
    pub async fn flush(&self) -> Result<(), SessionError> {
        let mut st = self.loaded().await?;
        if let Some(id) = st.id.clone() {
            if let Err(e) = self.shared().backend.delete(&id, self.context()).await {
                return Err(store_failure(&mut st, "delete", e));
            }
        }
        st.id = None;
        st.data = Dict::default();
        st.changes.clear();
        st.version = None;
        st.modified = true;
        Ok(())
    }

    /// Same data under a new key; the old key no longer loads. Call it at login, against
    /// session fixation.
    pub async fn cycle_key(&self) -> Result<(), SessionError> {
        let mut st = self.loaded().await?;
        let cycled = self
            .shared()
            .backend
            .cycle(st.pending(), self.context())
            .await;
        match cycled {
            Ok(Some(saved)) => st.written(saved),
            Ok(None) => {}
            Err(SessionError::Store(e)) => return Err(store_failure(&mut st, "cycle_key", e)),
            Err(e) => return Err(e),
        }
        st.modified = true;
        Ok(())
    }

    /// Writes the session now, as the middleware does after a successful response: a new
    /// session is created under a fresh key; an existing one is saved with a compare-and-swap
    /// that, on losing a race, reloads the record and re-applies this request's changes. An
    /// empty new session writes nothing.
    pub async fn save(&self) -> Result<(), SessionError> {
        let mut st = self.loaded().await?;
        if st.is_empty() {
            return Ok(());
        }
        self.persist(&mut st).await
    }

    async fn persist(&self, st: &mut State) -> Result<(), SessionError> {
        let saved = self
            .shared()
            .backend
            .save(st.pending(), self.context())
            .await;
        settle(st, saved)
    }

    /// Django's `process_response`, after the handler: saves a modified session (nothing on a
    /// server error, nothing for an empty new session) and says what the response carries.
    /// A store call that failed during the handler leaves the session alone: the handler saw
    /// that error and answered as it chose.
    pub(crate) async fn commit(&self, cookie_present: bool, server_error: bool) -> Commit {
        let mut st = self.state().lock().await;
        self.commit_locked(&mut st, cookie_present, server_error)
            .await
    }

    /// [`commit`](Self::commit) without awaiting, when the answer needs no store call (the
    /// session was not changed, or its backend saves without I/O): most requests. `None`
    /// means "call `commit`".
    ///
    /// Once the handler has let go of its clones, this one is the only one left and the state
    /// is read without the lock.
    pub(crate) fn commit_now(
        &mut self,
        cookie_present: bool,
        server_error: bool,
    ) -> Option<Commit> {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            let st = inner.state.get_mut();
            return commit_inline(&inner.shared, st, cookie_present, server_error);
        }
        let mut st = self.inner.state.try_lock().ok()?;
        commit_inline(&self.inner.shared, &mut st, cookie_present, server_error)
    }

    async fn commit_locked(
        &self,
        st: &mut State,
        cookie_present: bool,
        server_error: bool,
    ) -> Commit {
        let config = &self.shared().config;
        let mut decision = decide(config, st, cookie_present, server_error);
        if let Decision::Load = decision {
            if let Err(e) = self.load_into(st).await {
                return Commit::Failed(e);
            }
            decision = decide(config, st, cookie_present, server_error);
        }
        match decision {
            Decision::Done(commit) => commit,
            Decision::Load | Decision::Save => self.save_for_response(st).await,
        }
    }

    /// Saves the session and renders its cookie.
    async fn save_for_response(&self, st: &mut State) -> Commit {
        let now = self.now();
        let cx = Context {
            config: &self.shared().config,
            now,
        };
        let saved = self.shared().backend.save(st.pending(), cx).await;
        match settle(st, saved) {
            Ok(()) => saved_cookie(self.shared(), st, now),
            Err(e) => Commit::Failed(e),
        }
    }

    /// Django's `set_expiry`: seconds, browser close, a date, or back to the default.
    pub async fn set_expiry(&self, expiry: Expiry) -> Result<(), SessionError> {
        let now = self.now();
        let stored = expiry.stored_value(now, self.shared().config.use_tz)?;
        let mut st = self.loaded().await?;
        let change = match stored {
            Some(v) => Change::Set(EXPIRY_KEY.to_owned(), v),
            // Django's `del self["_session_expiry"]` raises `KeyError` (swallowed) before it
            // marks the session modified: back to the default when already there is no change.
            None if !st.data.contains_key(EXPIRY_KEY) => return Ok(()),
            None => Change::Remove(EXPIRY_KEY.to_owned()),
        };
        self.record(&mut st, change);
        Ok(())
    }

    /// Seconds until the session expires (`get_expiry_age`).
    pub async fn get_expiry_age(&self) -> Result<f64, SessionError> {
        let st = self.loaded().await?;
        expiry_age_of(&st.data, &self.shared().config, self.now())
    }

    /// When the session expires, as Unix seconds (`get_expiry_date`).
    pub async fn get_expiry_date(&self) -> Result<f64, SessionError> {
        let st = self.loaded().await?;
        expiry_date_of(&st.data, &self.shared().config, self.now())
    }

    /// Whether the cookie lasts only until the browser closes.
    pub async fn get_expire_at_browser_close(&self) -> Result<bool, SessionError> {
        let st = self.loaded().await?;
        Ok(browser_close_of(&st.data, &self.shared().config))
    }

    /// `SESSION_COOKIE_AGE`.
    pub fn get_session_cookie_age(&self) -> std::time::Duration {
        self.shared().config.cookie_age
    }

    /// Django's `set_test_cookie()`: stores `testcookie = "worked"`.
    pub async fn set_test_cookie(&self) -> Result<(), SessionError> {
        self.insert("testcookie", "worked").await.map(drop)
    }

    /// Django's `test_cookie_worked()`.
    pub async fn test_cookie_worked(&self) -> Result<bool, SessionError> {
        Ok(self.get::<String>("testcookie").await?.as_deref() == Some("worked"))
    }

    /// Django's `delete_test_cookie()`.
    pub async fn delete_test_cookie(&self) -> Result<(), SessionError> {
        self.delete("testcookie").await
    }

    /// The key, once the session is stored (`None` for a new, unsaved session, and always for
    /// signed-cookie sessions, which have no key).
    pub async fn session_key(&self) -> Option<SessionKey> {
        let st = self.state().lock().await;
        let key = st.id.as_ref().and_then(SessionId::as_key)?;
        st.version.as_ref().map(|_| key.clone())
    }

    /// What the session cookie carries now: the key, or a cookie-held session's signed value.
    #[cfg(feature = "testing")]
    pub(crate) async fn cookie_value(&self) -> Option<String> {
        let st = self.state().lock().await;
        st.id.as_ref().map(|id| id.cookie_value().to_owned())
    }

    /// Whether this request changed the session.
    pub async fn is_modified(&self) -> bool {
        self.state().lock().await.modified
    }

    /// Whether this request read or wrote the session.
    pub async fn is_accessed(&self) -> bool {
        self.state().lock().await.accessed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict() -> Map {
        Map::from([("n".to_owned(), Value::from(1))])
    }

    /// Where the dict's entries live: the same after a move, another place after a copy.
    fn entries_at(map: &Map) -> *const String {
        map.get_index(0).map(|(k, _)| k as *const String).unwrap()
    }

    /// A dict only this request holds (decoded for the first time, kept by no cache) is
    /// changed where it is; one a cache or the store also holds is copied, and theirs stays.
    #[test]
    fn a_change_copies_the_dict_only_when_another_holder_shares_it() {
        let alone = Arc::new(dict());
        let at = entries_at(&alone);
        let mut own = Dict::Shared(alone);
        assert_eq!(entries_at(own.make_mut()), at, "taken, not copied");

        let cached = Arc::new(dict());
        let mut shared = Dict::Shared(Arc::clone(&cached));
        assert_ne!(entries_at(shared.make_mut()), entries_at(&cached), "copied");
        shared.make_mut().insert("m".to_owned(), Value::from(2));
        assert_eq!(*cached, dict(), "the other holder's dict is as it was");
        assert_eq!(shared.len(), 2);
    }

    /// What this request's changes logged, as text to compare.
    async fn logged(session: &Session) -> Vec<String> {
        let st = session.state().lock().await;
        st.changes.iter().map(|c| format!("{c:?}")).collect()
    }

    /// `insert` and `remove` hand back the value they replaced, keep the order of the keys,
    /// and log each change exactly once for a session that is stored (which a lost race
    /// replays) and never for one that is not.
    #[tokio::test]
    async fn insert_and_remove_hand_back_the_old_value_and_log_once() {
        let store = Arc::new(crate::store::memory::MemoryStore::new());
        let config = SessionConfig::default();
        let new = Session::detached(store.clone(), config.clone(), None).unwrap();
        assert_eq!(new.insert("a", &1).await.unwrap(), None);
        new.insert("b", &2).await.unwrap();
        assert_eq!(new.insert("a", "x").await.unwrap(), Some(Value::from(1)));
        assert_eq!(
            new.keys().await.unwrap(),
            ["a", "b"],
            "a replaced key keeps its place"
        );
        assert!(
            logged(&new).await.is_empty(),
            "a new session replays nothing"
        );
        new.save().await.unwrap();

        let key = new.session_key().await;
        let stored = Session::detached(store, config, key).unwrap();
        assert_eq!(stored.remove("zz").await.unwrap(), None);
        assert!(
            !stored.is_modified().await,
            "removing an absent key changes nothing"
        );
        assert_eq!(stored.insert("b", &3).await.unwrap(), Some(Value::from(2)));
        assert_eq!(stored.insert("c", &4).await.unwrap(), None);
        assert_eq!(stored.remove("a").await.unwrap(), Some(Value::from("x")));
        assert_eq!(stored.keys().await.unwrap(), ["b", "c"]);
        assert_eq!(
            logged(&stored).await,
            [
                format!("{:?}", Change::Set("b".to_owned(), Value::from(3))),
                format!("{:?}", Change::Set("c".to_owned(), Value::from(4))),
                format!("{:?}", Change::Remove("a".to_owned())),
            ]
        );
        assert!(stored.is_modified().await);
    }
}
