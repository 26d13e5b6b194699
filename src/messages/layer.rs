//! The tower layer and the [`Messages`] handle: Django's `MessageMiddleware` and
//! `request._messages`.
//!
//! Before the handler the layer puts a [`Messages`] handle into the request's extensions;
//! nothing is decoded until the handler reads or the response needs it. After the handler it
//! does Django's `storage.update(response)`: unread messages are kept, read ones dropped,
//! new ones stored, and the `messages` cookie set or deleted and the session's `_messages`
//! key written through the request's [`Session`].
//!
//! Session and fallback storage need that session, so the [`SessionLayer`](crate::SessionLayer)
//! must wrap this layer (in axum, `.layer(messages)` first, then `.layer(sessions)`): its
//! save then sees what this layer wrote, as Django's `SessionMiddleware` runs its response
//! step after `MessageMiddleware`'s. Cookie storage needs no session. The layer writes its
//! own `Set-Cookie` header and needs no [`CookieLayer`](crate::cookie::CookieLayer).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use http::header::{COOKIE, SET_COOKIE};
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use super::config::MessagesConfig;
use super::cookie::{CookieCodec, COOKIE_NAME};
use super::error::MessagesError;
use super::level::{Level, DEBUG, ERROR, INFO, SUCCESS, WARNING};
use super::message::{Entry, Message};
use super::session::SESSION_KEY;
use super::storage::MessageStorage;
use super::update::{CookieWrite, SessionWrite, Update};
use crate::cookie::parse_request_cookies;
use crate::json::Value;
use crate::session::Session;
use crate::signing::SecretKeys;
use crate::time::Clock;

/// What every request of one layer shares.
struct Shared {
    config: MessagesConfig,
    codec: Arc<CookieCodec>,
    clock: Clock,
}

/// Installs a [`Messages`] handle on every request and stores the messages after the
/// handler (Django's `MessageMiddleware`).
///
/// ```
/// use std::sync::Arc;
/// use axum::{routing::get, Router};
/// use tessera::messages::{Messages, MessagesConfig, MessagesLayer};
/// use tessera::signing::SecretKeys;
/// use tessera::{store::memory::MemoryStore, SessionConfig, SessionLayer};
///
/// async fn save(messages: Messages) -> &'static str {
///     messages.success("Profile saved.");
///     "saved"
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = SecretKeys::new("a long random secret");
/// let app: Router = Router::new()
///     .route("/save", get(save))
///     .layer(MessagesLayer::new(&keys, MessagesConfig::default())?)
///     .layer(SessionLayer::new(Arc::new(MemoryStore::new()), SessionConfig::default())?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MessagesLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for MessagesLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessagesLayer")
            .field("config", &self.shared.config)
            .field("codec", &self.shared.codec)
            .finish_non_exhaustive()
    }
}

impl MessagesLayer {
    /// Messages signed with `keys` (`SECRET_KEY` and its fallbacks), with `config`.
    ///
    /// # Errors
    ///
    /// [`MessagesError::Signing`] for an empty secret key, and [`MessagesError::Cookie`] for
    /// cookie settings Django's `set_cookie` would refuse: better at start-up than on every
    /// request.
    pub fn new(keys: &SecretKeys, config: MessagesConfig) -> Result<Self, MessagesError> {
        let codec = CookieCodec::new(keys)?.with_max_size(config.max_cookie_size);
        config.set_cookie_value(&CookieWrite::Delete)?;
        config.set_cookie_value(&CookieWrite::Set(String::new()))?;
        Ok(MessagesLayer {
            shared: Arc::new(Shared {
                config,
                codec: Arc::new(codec),
                clock: Clock::system(),
            }),
        })
    }

    /// Replaces the clock whose reading is the cookie signature's timestamp, so tests can
    /// pin it.
    #[must_use]
    pub fn with_clock(self, clock: Clock) -> Self {
        let Shared { config, codec, .. } = &*self.shared;
        MessagesLayer {
            shared: Arc::new(Shared {
                config: config.clone(),
                codec: codec.clone(),
                clock,
            }),
        }
    }
}

impl<S> Layer<S> for MessagesLayer {
    type Service = MessagesService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MessagesService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`MessagesLayer`] wraps around a handler.
#[derive(Clone)]
pub struct MessagesService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for MessagesService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessagesService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MessagesService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let session = req.extensions().get::<Session>().cloned();
        if shared.config.storage.uses_session() && session.is_none() {
            let e = MessagesError::NoSession;
            tracing::error!(target: "tessera::messages", error = %e, "misconfigured");
            return Box::pin(async move { Ok(error_response(&e)) });
        }
        let cookie = match req.headers().contains_key(COOKIE) {
            true => parse_request_cookies(req.headers().get_all(COOKIE)).swap_remove(COOKIE_NAME),
            false => None,
        };
        let messages = Messages::new(&shared, cookie, session);
        req.extensions_mut().insert(messages.clone());
        Box::pin(async move {
            let mut response = inner.call(req).await?;
            let update = match messages.update(shared.clock.now()).await {
                Ok(update) => update,
                Err(e) => {
                    tracing::error!(target: "tessera::messages", error = %e, "messages not stored");
                    return Ok(error_response(&e));
                }
            };
            let Some(Update {
                unstored, cookie, ..
            }) = update
            else {
                return Ok(response);
            };
            if !unstored.is_empty() {
                // Django raises here only with DEBUG; otherwise they are gone silently.
                tracing::warn!(target: "tessera::messages", count = unstored.len(), "messages did not fit in the cookie and were dropped");
            }
            if let Some(write) = cookie {
                match shared.config.set_cookie_value(&write) {
                    Ok(v) => {
                        response.headers_mut().append(SET_COOKIE, v);
                    }
                    Err(e) => {
                        // Unreachable: the settings were checked when the layer was built.
                        let e = MessagesError::from(e);
                        tracing::error!(target: "tessera::messages", error = %e, "messages cookie not written");
                        return Ok(error_response(&e));
                    }
                }
            }
            Ok(response)
        })
    }
}

/// The status for an error: the session's own for a session failure, 500 otherwise, with a
/// body that says nothing internal.
pub(crate) fn error_status(e: &MessagesError) -> StatusCode {
    match e {
        MessagesError::Session(e) => crate::session::error_status(e),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response<B: From<String>>(e: &MessagesError) -> Response<B> {
    let status = error_status(e);
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut response = Response::new(B::from(format!("{reason}\n")));
    *response.status_mut() = status;
    response
}

/// The messages of the current request: add some for the next page, read the ones to show.
///
/// A cheap-to-clone handle (clones share one storage); take it from the request extensions
/// or, with the `axum` feature, as a handler argument. Adding is Django's
/// `messages.add_message` / `messages.success`…; [`read`](Self::read) is iterating over
/// `get_messages(request)` in a template: what it returns is shown once and not stored again.
#[derive(Clone)]
pub struct Messages {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    session: Option<Session>,
    storage: Mutex<MessageStorage>,
}

impl fmt::Debug for Messages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Message texts can be personal: never print them.
        f.debug_struct("Messages")
            .field("storage", &self.inner.shared.config.storage)
            .finish_non_exhaustive()
    }
}

impl Messages {
    fn new(shared: &Arc<Shared>, cookie: Option<String>, session: Option<Session>) -> Self {
        let storage = MessageStorage::new(
            shared.config.storage,
            shared.codec.clone(),
            shared.config.level,
            cookie,
        );
        Messages {
            inner: Arc::new(Inner {
                shared: shared.clone(),
                session,
                storage: Mutex::new(storage),
            }),
        }
    }

    fn storage(&self) -> MutexGuard<'_, MessageStorage> {
        // Every change to the storage is whole, so a poisoned lock is still consistent.
        self.inner
            .storage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The session's `_messages` value, read only when loading needs it.
    async fn session_messages(&self, needed: bool) -> Result<Option<Value>, MessagesError> {
        if !needed {
            return Ok(None);
        }
        let session = self
            .inner
            .session
            .as_ref()
            .ok_or(MessagesError::NoSession)?;
        Ok(session.get_value(SESSION_KEY).await?)
    }

    /// Queues `message` for the next page; returns false when it was dropped (empty text, or
    /// a level below the minimum), as Django drops it silently.
    pub fn add_message(&self, message: Message) -> bool {
        self.storage().add(message)
    }

    /// Queues a plain-text message (`messages.add_message(request, level, text)`).
    pub fn add(&self, level: Level, text: impl Into<String>) -> bool {
        self.add_message(Message::new(level, text))
    }

    /// `messages.debug`.
    pub fn debug(&self, text: impl Into<String>) -> bool {
        self.add(DEBUG, text)
    }

    /// `messages.info`.
    pub fn info(&self, text: impl Into<String>) -> bool {
        self.add(INFO, text)
    }

    /// `messages.success`.
    pub fn success(&self, text: impl Into<String>) -> bool {
        self.add(SUCCESS, text)
    }

    /// `messages.warning`.
    pub fn warning(&self, text: impl Into<String>) -> bool {
        self.add(WARNING, text)
    }

    /// `messages.error`.
    pub fn error(&self, text: impl Into<String>) -> bool {
        self.add(ERROR, text)
    }

    /// The minimum level recorded (`messages.get_level`).
    pub fn level(&self) -> Level {
        self.storage().level()
    }

    /// Changes the minimum level for this request (`messages.set_level`).
    pub fn set_level(&self, level: Level) {
        self.storage().set_level(level);
    }

    /// The message's tags under the layer's `MESSAGE_TAGS` (`message.tags`).
    pub fn tags(&self, message: &Message) -> String {
        message.tags(&self.inner.shared.config.tags)
    }

    /// The message's level tag under the layer's `MESSAGE_TAGS` (`message.level_tag`).
    pub fn level_tag(&self, message: &Message) -> String {
        message.level_tag(&self.inner.shared.config.tags).to_owned()
    }

    /// The stored messages, then the ones queued so far: what a template shows. They count
    /// as read, so they are not stored again; reading twice gives them twice.
    ///
    /// # Errors
    ///
    /// [`MessagesError::Undecodable`] for a stored value Django would fail on; it is then
    /// dropped, so the next request starts clean. [`MessagesError::Session`] if the session
    /// could not be loaded.
    pub async fn read(&self) -> Result<Vec<Message>, MessagesError> {
        let needed = self.storage().reads_session();
        let session_messages = self.session_messages(needed).await?;
        let mut storage = self.storage();
        match storage.iterate(session_messages.as_ref()) {
            Ok(entries) => Ok(entries
                .into_iter()
                .filter_map(|e| match e {
                    Entry::Message(m) => Some(m),
                    Entry::Other(_) => None,
                })
                .collect()),
            Err(e) => {
                if matches!(e, MessagesError::Undecodable(_)) {
                    storage.discard_undecodable();
                }
                Err(e)
            }
        }
    }

    /// Django's `storage.update(response)`, with the session change applied.
    async fn update(&self, now: f64) -> Result<Option<Update>, MessagesError> {
        let needed = {
            let mut storage = self.storage();
            storage.update_loads() && storage.reads_session()
        };
        let session_messages = self.session_messages(needed).await?;
        let update = {
            let mut storage = self.storage();
            match storage.update(session_messages.as_ref(), now) {
                Err(MessagesError::Undecodable(why)) => {
                    tracing::warn!(target: "tessera::messages", why, "unreadable stored messages dropped");
                    storage.discard_undecodable();
                    storage.update(None, now)?
                }
                other => other?,
            }
        };
        if let Some(write) = update.as_ref().and_then(|u| u.session.as_ref()) {
            let session = self
                .inner
                .session
                .as_ref()
                .ok_or(MessagesError::NoSession)?;
            match write {
                SessionWrite::Set(text) => {
                    session.insert(SESSION_KEY, text).await?;
                }
                SessionWrite::Remove => {
                    session.remove(SESSION_KEY).await?;
                }
            }
        }
        Ok(update)
    }
}
