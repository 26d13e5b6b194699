//! Django's `BaseStorage`: the messages of one request, without HTTP.
//!
//! A [`MessageStorage`] is what `request._messages` is in Django: messages added during the
//! request are queued; the stored ones are loaded on first need; reading marks the storage
//! used; and [`MessageStorage::update`] (Django's `storage.update(response)`) decides what to
//! store for the next request. Everything the outside world holds comes in as plain values
//! (the `messages` cookie, the session's `_messages` value, the time) and goes out as
//! [`Update`], so the layer and the conformance tests drive the same code.

use std::sync::Arc;

use super::cookie::{CookieCodec, CookieRead};
use super::error::MessagesError;
use super::fallback;
use super::level::Level;
use super::message::{Entry, Message};
use super::session::decode_session;
use super::update::{session_write, CookieWrite, Holding, Update};
use crate::json::Value;

/// Where messages are kept between requests (Django's `MESSAGE_STORAGE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StorageKind {
    /// `CookieStorage`: the signed `messages` cookie only; what does not fit is dropped.
    Cookie,
    /// `SessionStorage`: the session's `_messages` key.
    Session,
    /// `FallbackStorage`, Django's default: the cookie, and the session for what does not
    /// fit in it.
    #[default]
    Fallback,
}

impl StorageKind {
    /// Whether this kind can read or write the session.
    pub fn uses_session(self) -> bool {
        !matches!(self, StorageKind::Cookie)
    }
}

/// The messages of one request (Django's `BaseStorage` with one of the three storages).
///
/// ```
/// use std::sync::Arc;
/// use tessera::messages::{CookieCodec, CookieWrite, Message, MessageStorage, StorageKind, INFO};
/// use tessera::signing::SecretKeys;
///
/// let codec = Arc::new(CookieCodec::new(&SecretKeys::new("secret"))?);
/// let mut first = MessageStorage::new(StorageKind::Cookie, codec.clone(), INFO, None);
/// first.add(Message::new(INFO, "Saved."));
/// let Some(CookieWrite::Set(cookie)) = first.update(None, 1_700_000_000.0)?.unwrap().cookie else {
///     panic!("a cookie")
/// };
///
/// let mut next = MessageStorage::new(StorageKind::Cookie, codec, INFO, Some(cookie));
/// let shown = next.iterate(None)?;
/// assert_eq!(shown[0].as_message().unwrap().message, "Saved.");
/// assert_eq!(next.update(None, 1_700_000_001.0)?.unwrap().cookie, Some(CookieWrite::Delete));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MessageStorage {
    kind: StorageKind,
    codec: Arc<CookieCodec>,
    level: Level,
    cookie: Option<String>,
    /// The cookie decoded ahead of loading, when [`reads_session`](Self::reads_session)
    /// needed it; loading takes it from here.
    cookie_read: Option<Result<CookieRead, MessagesError>>,
    queued: Vec<Entry>,
    loaded: Option<Vec<Entry>>,
    used: bool,
    added_new: bool,
    holding: Holding,
}

impl MessageStorage {
    /// The storage of a request whose `messages` cookie is `cookie`, with minimum level
    /// `level` (`MESSAGE_LEVEL`). Nothing is decoded yet.
    pub fn new(
        kind: StorageKind,
        codec: Arc<CookieCodec>,
        level: Level,
        cookie: Option<String>,
    ) -> Self {
        MessageStorage {
            kind,
            codec,
            level,
            cookie,
            cookie_read: None,
            queued: Vec::new(),
            loaded: None,
            used: false,
            added_new: false,
            holding: Holding::default(),
        }
    }

    /// The minimum level of messages that are recorded.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Changes the minimum level for the rest of this request (Django's `set_level`).
    pub fn set_level(&mut self, level: Level) {
        self.level = level;
    }

    /// Queues `message`, unless its text is empty or its level below the minimum; returns
    /// whether it was queued (Django's `storage.add`).
    pub fn add(&mut self, message: Message) -> bool {
        if message.message.is_empty() || message.level < self.level {
            return false;
        }
        self.added_new = true;
        self.queued.push(Entry::Message(message));
        true
    }

    /// Whether the stored messages are loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.is_some()
    }

    /// Whether loading now would read the session's `_messages` value: always with session
    /// storage, and with fallback storage only when the cookie says it is not finished.
    pub fn reads_session(&mut self) -> bool {
        if self.loaded.is_some() {
            return false;
        }
        match self.kind {
            StorageKind::Cookie => false,
            StorageKind::Session => true,
            StorageKind::Fallback => {
                let read = match self.cookie_read.take() {
                    Some(read) => read,
                    None => self.codec.decode(self.cookie.as_deref()),
                };
                let more = matches!(
                    read,
                    Ok(CookieRead::Entries {
                        all_retrieved: false,
                        ..
                    })
                );
                self.cookie_read = Some(read);
                more
            }
        }
    }

    /// Whether [`update`](Self::update) will load the stored messages first (new messages
    /// were added and nothing was read: the stored ones are kept).
    pub fn update_loads(&self) -> bool {
        !self.used && self.added_new && self.loaded.is_none()
    }

    /// Loads the stored messages, if not done yet. `session_messages` is the session's
    /// `_messages` value; it is looked at only when [`reads_session`](Self::reads_session)
    /// says so.
    ///
    /// # Errors
    ///
    /// [`MessagesError::Undecodable`] where Django raises; the storage stays unloaded (see
    /// [`discard_undecodable`](Self::discard_undecodable)).
    pub fn load(&mut self, session_messages: Option<&Value>) -> Result<(), MessagesError> {
        if self.loaded.is_some() {
            return Ok(());
        }
        let entries = match self.kind {
            StorageKind::Cookie => match self.read_cookie()? {
                CookieRead::Entries { entries, .. } => Some(entries),
                CookieRead::Rejected => {
                    self.used = true;
                    None
                }
                CookieRead::Absent => None,
            },
            StorageKind::Session => decode_session(session_messages)?.into_entries()?,
            StorageKind::Fallback => {
                let cookie = self.read_cookie()?;
                let (entries, holding) = fallback::get(cookie, session_messages)?;
                self.holding = holding;
                Some(entries)
            }
        };
        self.loaded = Some(entries.unwrap_or_default());
        Ok(())
    }

    fn read_cookie(&mut self) -> Result<CookieRead, MessagesError> {
        match self.cookie_read.take() {
            Some(read) => read,
            None => self.codec.decode(self.cookie.as_deref()),
        }
    }

    /// tessera's answer to a stored value Django would fail on: treat it as nothing stored
    /// and as read, so [`update`](Self::update) replaces or deletes it instead of failing
    /// on every later request.
    pub fn discard_undecodable(&mut self) {
        self.cookie_read = None;
        self.loaded = Some(Vec::new());
        self.used = true;
        self.holding = Holding {
            cookie: true,
            session: self.kind.uses_session(),
        };
    }

    /// Iterating over the storage: loads, marks it used, and returns the stored entries then
    /// the queued ones, which from now on count as read.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn iterate(
        &mut self,
        session_messages: Option<&Value>,
    ) -> Result<Vec<Entry>, MessagesError> {
        self.load(session_messages)?;
        self.used = true;
        let loaded = self.loaded.get_or_insert_with(Vec::new);
        loaded.append(&mut self.queued);
        Ok(loaded.clone())
    }

    /// Django's `storage.update(response)` at Unix time `now`: after a read, stores only what
    /// was added since; otherwise, if something was added, stores the unread messages and the
    /// new ones; otherwise does nothing (`None`).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load), when the unread messages must be loaded first.
    pub fn update(
        &mut self,
        session_messages: Option<&Value>,
        now: f64,
    ) -> Result<Option<Update>, MessagesError> {
        if self.used {
            let queued = self.queued.clone();
            return Ok(Some(self.store(&queued, now)));
        }
        if !self.added_new {
            return Ok(None);
        }
        self.load(session_messages)?;
        let mut all = self.loaded.clone().unwrap_or_default();
        all.extend(self.queued.iter().cloned());
        Ok(Some(self.store(&all, now)))
    }

    /// The storage's `_store`.
    fn store(&mut self, entries: &[Entry], now: f64) -> Update {
        match self.kind {
            StorageKind::Cookie => {
                let (value, unstored) = self.codec.store(entries, true, now);
                Update {
                    unstored,
                    cookie: Some(value.map_or(CookieWrite::Delete, CookieWrite::Set)),
                    session: None,
                }
            }
            StorageKind::Session => Update {
                unstored: Vec::new(),
                cookie: None,
                session: Some(session_write(entries)),
            },
            StorageKind::Fallback => fallback::store(&self.codec, &mut self.holding, entries, now),
        }
    }
}
