//! Every session of a user: what the per-user index of a server-side store holds, and the
//! rule for which sessions it indexes.
//!
//! A session belongs to a user when its dict holds Django's `_auth_user_id` (the primary key
//! as text, as Django's `login()` writes it). Each store keeps an index from that id to the
//! user's session keys, written together with the session itself (the same lock, transaction
//! or ordered pair of commands), so listing and revoking a user's sessions never scan the
//! whole store. See the [user sessions guide](crate::guide::user_sessions) for each store's
//! design and for backfilling sessions written without the index.

use std::fmt;

use crate::json::{Map, Value};
use crate::session::key::SessionKey;

use super::StoreError;

/// The session dict key Django's `login()` sets to the user's primary key.
pub const USER_ID_KEY: &str = "_auth_user_id";

/// The longest user id the index holds (the SQL side table's `varchar(255)`); a longer one is
/// not indexed (Django's primary keys are far shorter).
pub const MAX_USER_ID_LEN: usize = 255;

/// The user a session dict belongs to: `_auth_user_id` as Django writes it (a string), or an
/// integer written by other code, as its decimal text. Anything else (a list, an empty or
/// over-long id) is no user: such a record is not indexed.
pub fn user_id_of(data: &Map) -> Option<String> {
    let id = match data.get(USER_ID_KEY)? {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(digits) => digits.clone(),
        _ => return None,
    };
    (!id.is_empty() && id.len() <= MAX_USER_ID_LEN).then_some(id)
}

/// One live session of a user, as [`SessionStore::user_sessions`](super::SessionStore::user_sessions)
/// lists it.
///
/// The key is the session's credential: `Debug` and `Display` show only [`short`](Self::short),
/// so a listing can be logged or rendered; [`key`](Self::key) is there to end the session
/// ([`SessionStore::delete`](super::SessionStore::delete)) or to tell the current one apart.
#[derive(Clone, PartialEq)]
pub struct UserSession {
    /// The session's key (redacted in `Debug` and `Display`).
    pub key: SessionKey,
    /// When the session became this user's (its first indexed write), in Unix seconds.
    pub created_at: f64,
    /// Its last write through an indexing store, in Unix seconds: Django saves a session only
    /// when it changes (or on every request with `SESSION_SAVE_EVERY_REQUEST`).
    pub last_seen: f64,
    /// When it expires, in Unix seconds.
    pub expires_at: f64,
}

impl UserSession {
    /// The key's first characters and an ellipsis, enough to tell sessions apart on a page.
    pub fn short(&self) -> String {
        self.key.short()
    }
}

impl fmt::Debug for UserSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSession")
            .field("key", &self.short())
            .field("created_at", &self.created_at)
            .field("last_seen", &self.last_seen)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl fmt::Display for UserSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (created {}, last seen {}, expires {})",
            self.short(),
            self.created_at,
            self.last_seen,
            self.expires_at
        )
    }
}

/// The error of a store that keeps no per-user index (`type_name` is the store's type).
pub(crate) fn not_indexed(type_name: &str) -> StoreError {
    let name = type_name.rsplit("::").next().unwrap_or(type_name);
    StoreError::Config(format!(
        "{name} does not keep a per-user index of sessions (see the user sessions guide)"
    ))
}

/// A SQL listing's rows (key, created, last seen, expiry) as sessions, newest first; a key that
/// is not a session key (never one tessera wrote) is left out.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) fn listing(rows: impl IntoIterator<Item = (String, f64, f64, f64)>) -> Vec<UserSession> {
    let mut sessions: Vec<UserSession> = rows
        .into_iter()
        .filter_map(|(key, created_at, last_seen, expires_at)| {
            Some(UserSession {
                key: SessionKey::parse(&key)?,
                created_at,
                last_seen,
                expires_at,
            })
        })
        .collect();
    newest_first(&mut sessions);
    sessions
}

/// Sorts a listing newest first (most recently seen), so a page shows the active ones on top.
pub(crate) fn newest_first(sessions: &mut [UserSession]) {
    sessions.sort_by(|a, b| b.last_seen.total_cmp(&a.last_seen));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_read_as_django_writes_them() {
        let with = |v: Value| -> Map { [(USER_ID_KEY.to_owned(), v)].into_iter().collect() };
        assert_eq!(
            user_id_of(&with(Value::Str("42".into()))),
            Some("42".into())
        );
        assert_eq!(user_id_of(&with(Value::Int(7))), Some("7".into()));
        assert_eq!(user_id_of(&with(Value::Str(String::new()))), None);
        assert_eq!(user_id_of(&with(Value::Str("x".repeat(256)))), None);
        assert_eq!(user_id_of(&with(Value::Null)), None);
        assert_eq!(user_id_of(&Map::new()), None);
    }

    #[test]
    fn debug_and_display_never_show_the_key() {
        let key = SessionKey::generate().unwrap();
        let s = UserSession {
            key: key.clone(),
            created_at: 1.0,
            last_seen: 2.0,
            expires_at: 3.0,
        };
        for shown in [format!("{s:?}"), s.to_string()] {
            assert!(!shown.contains(key.as_str()), "{shown}");
            assert!(shown.contains(&key.short()), "{shown}");
        }
    }
}
