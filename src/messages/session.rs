//! Session storage: Django's `SessionStorage`, the `_messages` key of the session.
//!
//! The value is a JSON *string* (not a list): `MessageEncoder().encode(messages)`, with
//! `json`'s default separators (`, ` and `: `), which Django's session serializer then
//! stores as a string. The session has no size limit, so everything fits.

use super::encoding::{encode_session_json, entries_of};
use super::error::{undecodable, MessagesError};
use super::message::Entry;
use crate::json::{self, Value};

/// The session key that holds the messages (`SessionStorage.session_key`).
pub const SESSION_KEY: &str = "_messages";

/// What the session's `_messages` value gives (`SessionStorage.deserialize_messages`).
#[derive(Clone, Debug, PartialEq)]
pub enum SessionRead {
    /// The key is missing (or holds the JSON text `null`): nothing stored.
    Absent,
    /// A value Django returns as it is, without decoding: the empty string, or any value that
    /// is not a string. A falsy one stands for no messages, a list for its items.
    Verbatim(Value),
    /// The messages of a JSON string.
    Entries(Vec<Entry>),
}

impl SessionRead {
    /// The entries as the storage loads them: `None` for nothing stored.
    ///
    /// # Errors
    ///
    /// A truthy verbatim value that is not a list, which Django cannot iterate as messages.
    pub fn into_entries(self) -> Result<Option<Vec<Entry>>, MessagesError> {
        match self {
            SessionRead::Absent => Ok(None),
            SessionRead::Entries(entries) => Ok(Some(entries)),
            SessionRead::Verbatim(Value::List(items)) => {
                Ok(Some(items.into_iter().map(Entry::Other).collect()))
            }
            SessionRead::Verbatim(v) if !v.is_truthy() => Ok(Some(Vec::new())),
            SessionRead::Verbatim(_) => Err(undecodable(
                "the session's messages are neither text nor a list",
            )),
        }
    }
}

/// Reads the session's `_messages` value (`None`: the key is missing).
///
/// # Errors
///
/// Where Django raises: text that is not JSON or not a list of messages.
pub fn decode_session(value: Option<&Value>) -> Result<SessionRead, MessagesError> {
    match value {
        None => Ok(SessionRead::Absent),
        Some(Value::Str(text)) if !text.is_empty() => {
            let decoded = json::from_str(text).map_err(|e| undecodable(e.to_string()))?;
            Ok(entries_of(decoded)?.map_or(SessionRead::Absent, SessionRead::Entries))
        }
        Some(other) => Ok(SessionRead::Verbatim(other.clone())),
    }
}

/// The `_messages` text for `entries` (`SessionStorage.serialize_messages`).
pub fn encode_session(entries: &[Entry]) -> String {
    encode_session_json(entries)
}
