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
use super::expiry::{self, Expiry};
use super::key::SessionKey;
use super::lifetime::{browser_close_of, expiry_age_of, expiry_date_of};
use crate::cookie::SetCookieTemplate;
use crate::json::{ConvertError, Map, Value};
use crate::store::signed_cookie::{SignedCookieSessions, MAX_COOKIE_BYTES};
use crate::store::{SaveOutcome, SessionStore, StoreError, Version};

/// The key Django stores a custom expiry under, inside the session dict.
pub const EXPIRY_KEY: &str = expiry::SESSION_EXPIRY_KEY;

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The store failed or timed out; the middleware answers 503.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key is not in the session (Django's `KeyError`).
    #[error("KeyError: {0:?}")]
    KeyError(String),
    /// A value could not be converted to or from the requested type.
    #[error("session value conversion failed: {0}")]
    Convert(#[from] ConvertError),
    /// The stored expiry could not be interpreted.
    #[error("{0}")]
    Expiry(#[from] expiry::ExpiryError),
    /// The session was deleted by a concurrent request (Django's `SessionInterrupted`, 400).
    #[error("SessionInterrupted: the session was deleted before the request finished")]
    Interrupted,
    /// The operating system's random source failed.
    #[error("could not draw a session key: {0}")]
    KeyGeneration(String),
    /// A cookie-held session grew past what a browser keeps (4096 bytes).
    #[error("the session is {0} bytes in its cookie; browsers drop cookies over 4096 bytes")]
    TooLarge(usize),
}

/// Marks the request's session as failed and logs why, once, where it happened (the key stays
/// out of the log: it is a bearer credential).
fn store_failure(st: &mut State, operation: &'static str, e: StoreError) -> SessionError {
    st.store_failed = true;
    tracing::error!(target: "tessera::session", error = %e, "session {operation} failed");
    SessionError::Store(e)
}

/// The HTTP status a session error answers with: 503 when the store failed or timed out
/// (try again later), 400 for `SessionInterrupted` (as Django), 500 for anything else.
pub fn error_status(e: &SessionError) -> http::StatusCode {
    match e {
        SessionError::Store(_) => http::StatusCode::SERVICE_UNAVAILABLE,
        SessionError::Interrupted => http::StatusCode::BAD_REQUEST,
        _ => http::StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// One recorded change, re-applied on top of a newer record after a lost race.
#[derive(Clone, Debug)]
enum Change {
    Set(String, Value),
    Remove(String),
    Clear,
}

impl Change {
    fn apply(&self, data: &mut Map) {
        match self {
            Change::Set(k, v) => {
                data.insert(k.clone(), v.clone());
            }
            Change::Remove(k) => {
                data.shift_remove(k);
            }
            Change::Clear => data.clear(),
        }
    }
}

/// The mutable state behind a [`Session`].
#[derive(Debug, Default)]
struct State {
    /// Django's `_session_key`: `None` for a new session or after a failed lookup or flush.
    pub key: Option<SessionKey>,
    pub data: Map,
    /// The stored version when `key` names a record this request loaded or created.
    pub version: Option<Version>,
    pub changes: Vec<Change>,
    pub loaded: bool,
    pub accessed: bool,
    pub modified: bool,
    /// A store call failed during this request: the response becomes a 503.
    pub store_failed: bool,
    /// Signed-cookie sessions: the cookie value (Django's `session_key` for that backend).
    pub cookie: Option<String>,
}

impl State {
    /// Django's `is_empty()`: no key and no data.
    pub fn is_empty(&self) -> bool {
        self.key.is_none() && self.cookie.is_none() && self.data.is_empty()
    }

    /// The value the session cookie carries.
    pub fn cookie_value(&self) -> &str {
        match (&self.key, &self.cookie) {
            (Some(k), _) => k.as_str(),
            (None, Some(c)) => c,
            (None, None) => "",
        }
    }
}

/// Where sessions live.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// Server-side records behind a random key.
    Store(Arc<dyn SessionStore>),
    /// The whole session in a signed cookie.
    Cookie(SignedCookieSessions),
}

/// What every session of one layer shares: where sessions live, the settings, the cookie.
pub(crate) struct Shared {
    backend: Backend,
    config: SessionConfig,
    /// The session cookie's `Set-Cookie` line, checked when the layer was built.
    cookie: SetCookieTemplate,
    /// The clock, replaceable so tests can pin it.
    clock: fn() -> f64,
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
            clock: crate::signing::now,
        })
    }

    /// The same, with another clock.
    pub(crate) fn with_clock(&self, clock: fn() -> f64) -> Self {
        Shared {
            backend: self.backend.clone(),
            config: self.config.clone(),
            cookie: self.cookie.clone(),
            clock,
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

/// A visitor's session. Cheap to clone; clones share one state.
#[derive(Clone)]
pub struct Session {
    shared: Arc<Shared>,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key or the data: both may be secrets.
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

/// Runs a store call under the configured timeout.
async fn timed<T>(
    config: &SessionConfig,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(config.store_timeout, call).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Timeout(config.store_timeout)),
    }
}

impl Session {
    /// A session for a request whose cookie carried `cookie` (if any).
    pub(crate) fn from_cookie(shared: Arc<Shared>, cookie: Option<Cow<'_, str>>) -> Self {
        let mut state = State::default();
        match shared.backend {
            Backend::Store(_) => state.key = cookie.as_deref().and_then(SessionKey::parse),
            // Django validates this "key" too: at least 8 characters.
            Backend::Cookie(_) => {
                state.cookie = cookie
                    .filter(|c| c.chars().count() >= 8)
                    .map(Cow::into_owned);
            }
        }
        Session {
            shared,
            state: Arc::new(Mutex::new(state)),
        }
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
        let shared = Arc::new(Shared::new(Backend::Store(store), config)?);
        Ok(Session {
            shared,
            state: Arc::new(Mutex::new(State {
                key,
                ..State::default()
            })),
        })
    }

    fn now(&self) -> f64 {
        (self.shared.clock)()
    }

    fn store(&self) -> Option<&Arc<dyn SessionStore>> {
        match &self.shared.backend {
            Backend::Store(s) => Some(s),
            Backend::Cookie(_) => None,
        }
    }

    /// Loads the record on first use; later calls return the state at once.
    async fn loaded(&self) -> Result<MutexGuard<'_, State>, SessionError> {
        let mut st = self.state.lock().await;
        if !st.loaded {
            self.load_into(&mut st).await?;
        }
        st.accessed = true;
        Ok(st)
    }

    async fn load_into(&self, st: &mut State) -> Result<(), SessionError> {
        let now = self.now();
        if let (Backend::Cookie(codec), Some(cookie)) = (&self.shared.backend, &st.cookie) {
            match codec.decode_at(cookie, &self.shared.config, now) {
                Some(data) => st.data = data,
                // Django resets an unreadable cookie session and re-issues it.
                None => st.modified = true,
            }
        }
        if let (Some(store), Some(key)) = (self.store(), st.key.clone()) {
            match timed(&self.shared.config, store.load(&key, now)).await {
                Ok(Some(loaded)) => {
                    st.data = loaded.data;
                    st.version = Some(loaded.version);
                }
                // Unknown or expired: a fresh anonymous session; nothing is written.
                Ok(None) => st.key = None,
                Err(e) => return Err(store_failure(st, "load", e)),
            }
        }
        st.loaded = true;
        Ok(())
    }

    fn record(st: &mut State, change: Change) {
        change.apply(&mut st.data);
        st.changes.push(change);
        st.modified = true;
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
        let old = st.data.get(key).cloned();
        Self::record(&mut st, Change::Set(key.to_owned(), value));
        Ok(old)
    }

    /// Removes `key`; returns its value if it was there.
    pub async fn remove(&self, key: &str) -> Result<Option<Value>, SessionError> {
        let mut st = self.loaded().await?;
        if !st.data.contains_key(key) {
            return Ok(None);
        }
        let old = st.data.get(key).cloned();
        Self::record(&mut st, Change::Remove(key.to_owned()));
        Ok(old)
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
        Self::record(
            &mut st,
            Change::Set(key.to_owned(), Value::from_serialize(&default)?),
        );
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
        Ok(self.loaded().await?.data.clone())
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
            Self::record(&mut st, Change::Set(k, v));
        }
        st.modified = true;
        Ok(())
    }

    /// Empties the dict and keeps the key: the record is saved empty and the cookie refreshed.
    pub async fn clear(&self) -> Result<(), SessionError> {
        let mut st = self.loaded().await?;
        Self::record(&mut st, Change::Clear);
        Ok(())
    }

    /// Logout: deletes the record now, empties the dict and drops the key, so the response
    /// deletes the cookie. On a session that was never saved, it writes nothing.
    pub async fn flush(&self) -> Result<(), SessionError> {
        let mut st = self.loaded().await?;
        if let (Some(store), Some(key)) = (self.store(), st.key.clone()) {
            if let Err(e) = timed(&self.shared.config, store.delete(&key)).await {
                return Err(store_failure(&mut st, "delete", e));
            }
        }
        st.key = None;
        st.cookie = None;
        st.data.clear();
        st.changes.clear();
        st.version = None;
        st.modified = true;
        Ok(())
    }

    /// Same data under a new key; the old key no longer loads. Call it at login, against
    /// session fixation.
    pub async fn cycle_key(&self) -> Result<(), SessionError> {
        let mut st = self.loaded().await?;
        let Some(store) = self.store() else {
            // A cookie-held session has no key: re-signing it is the whole cycle.
            st.modified = true;
            return Ok(());
        };
        let now = self.now();
        let expires_at = expiry_date_of(&st.data, &self.shared.config, now)?;
        let data = st.data.clone();
        let (key, version) = match self.create_record(&data, expires_at).await {
            Ok(created) => created,
            Err(SessionError::Store(e)) => return Err(store_failure(&mut st, "create", e)),
            Err(e) => return Err(e),
        };
        if let Some(old) = st.key.replace(key) {
            if let Err(e) = timed(&self.shared.config, store.delete(&old)).await {
                return Err(store_failure(&mut st, "delete", e));
            }
        }
        st.version = Some(version);
        st.changes.clear();
        st.modified = true;
        Ok(())
    }

    /// Inserts `data` under a fresh key, drawing again on the (astronomically rare) collision.
    async fn create_record(
        &self,
        data: &Map,
        expires_at: f64,
    ) -> Result<(SessionKey, Version), SessionError> {
        let Some(store) = self.store() else {
            return Err(SessionError::Store(StoreError::Config(
                "no server-side store".to_owned(),
            )));
        };
        for _ in 0..8 {
            let key =
                SessionKey::generate().map_err(|e| SessionError::KeyGeneration(e.to_string()))?;
            let record = crate::store::Record { data, expires_at };
            match timed(&self.shared.config, store.create(&key, record)).await {
                Ok(v) => return Ok((key, v)),
                Err(StoreError::DuplicateKey) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(SessionError::KeyGeneration(
            "eight key collisions in a row".to_owned(),
        ))
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
        match self.persist_inner(st).await {
            Err(SessionError::Store(e)) => Err(store_failure(st, "save", e)),
            result => result,
        }
    }

    async fn persist_inner(&self, st: &mut State) -> Result<(), SessionError> {
        let config = &self.shared.config;
        let now = self.now();
        let store = match &self.shared.backend {
            Backend::Store(store) => store,
            Backend::Cookie(codec) => {
                let value = codec.encode_at(&st.data, now);
                let size = config.cookie_name.len() + value.len();
                if size > MAX_COOKIE_BYTES {
                    return Err(SessionError::TooLarge(size));
                }
                st.cookie = Some(value);
                st.changes.clear();
                return Ok(());
            }
        };
        let (Some(key), Some(mut version)) = (st.key.clone(), st.version.clone()) else {
            let expires_at = expiry_date_of(&st.data, config, now)?;
            let (key, version) = self.create_record(&st.data, expires_at).await?;
            st.key = Some(key);
            st.version = Some(version);
            st.changes.clear();
            return Ok(());
        };
        for _ in 0..=config.max_save_retries {
            let expires_at = expiry_date_of(&st.data, config, now)?;
            let record = crate::store::Record {
                data: &st.data,
                expires_at,
            };
            match timed(config, store.save(&key, record, &version)).await? {
                SaveOutcome::Saved(v) => {
                    st.version = Some(v);
                    st.changes.clear();
                    return Ok(());
                }
                SaveOutcome::Gone => return Err(SessionError::Interrupted),
                SaveOutcome::Conflict => {
                    // Someone saved first: start from their record, replay our changes.
                    let Some(fresh) = timed(config, store.load(&key, now)).await? else {
                        return Err(SessionError::Interrupted);
                    };
                    st.data = fresh.data;
                    for change in &st.changes {
                        change.apply(&mut st.data);
                    }
                    version = fresh.version;
                    tokio::task::yield_now().await;
                }
            }
        }
        Err(SessionError::Store(StoreError::Unavailable(
            "too many concurrent writers on one session".to_owned(),
        )))
    }

    /// Django's `process_response`, after the handler: saves a modified session (nothing on a
    /// server error, nothing for an empty new session) and says what the response carries.
    /// A store call that failed during the handler leaves the session alone: the handler saw
    /// that error and answered as it chose.
    pub(crate) async fn commit(&self, cookie_present: bool, server_error: bool) -> Commit {
        let config = &self.shared.config;
        let mut st = self.state.lock().await;
        if st.store_failed {
            return Commit::Untouched { vary: true };
        }
        if config.save_every_request && !st.loaded && !st.is_empty() {
            if let Err(e) = self.load_into(&mut st).await {
                return Commit::Failed(e);
            }
        }
        let empty = st.is_empty();
        if cookie_present && empty {
            return Commit::DeleteCookie;
        }
        let untouched = Commit::Untouched { vary: st.accessed };
        if !(st.modified || config.save_every_request) || empty || server_error {
            return untouched;
        }
        if let Err(e) = self.persist(&mut st).await {
            return Commit::Failed(e);
        }
        let now = self.now();
        // Django sets `max_age` and `expires` unless the session ends with the browser.
        if browser_close_of(&st.data, config) {
            return Commit::SetCookie(self.shared.cookie.render_session_only(st.cookie_value()));
        }
        match expiry_age_of(&st.data, config, now) {
            Ok(max_age) => {
                Commit::SetCookie(self.shared.cookie.render(st.cookie_value(), max_age, now))
            }
            Err(e) => Commit::Failed(e),
        }
    }

    /// Django's `set_expiry`: seconds, browser close, a date, or back to the default.
    pub async fn set_expiry(&self, expiry: Expiry) -> Result<(), SessionError> {
        let now = self.now();
        let stored = expiry.stored_value(now, self.shared.config.use_tz)?;
        let mut st = self.loaded().await?;
        let change = match stored {
            Some(v) => Change::Set(EXPIRY_KEY.to_owned(), v),
            None => Change::Remove(EXPIRY_KEY.to_owned()),
        };
        Self::record(&mut st, change);
        Ok(())
    }

    /// Seconds until the session expires (`get_expiry_age`).
    pub async fn get_expiry_age(&self) -> Result<f64, SessionError> {
        let st = self.loaded().await?;
        expiry_age_of(&st.data, &self.shared.config, self.now())
    }

    /// When the session expires, as Unix seconds (`get_expiry_date`).
    pub async fn get_expiry_date(&self) -> Result<f64, SessionError> {
        let st = self.loaded().await?;
        expiry_date_of(&st.data, &self.shared.config, self.now())
    }

    /// Whether the cookie lasts only until the browser closes.
    pub async fn get_expire_at_browser_close(&self) -> Result<bool, SessionError> {
        let st = self.loaded().await?;
        Ok(browser_close_of(&st.data, &self.shared.config))
    }

    /// `SESSION_COOKIE_AGE`.
    pub fn get_session_cookie_age(&self) -> i64 {
        self.shared.config.cookie_age
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
        let st = self.state.lock().await;
        st.key.clone().filter(|_| st.version.is_some())
    }

    /// Whether this request changed the session.
    pub async fn is_modified(&self) -> bool {
        self.state.lock().await.modified
    }

    /// Whether this request read or wrote the session.
    pub async fn is_accessed(&self) -> bool {
        self.state.lock().await.accessed
    }
}
