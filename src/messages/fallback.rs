//! Fallback storage: Django's `FallbackStorage`, the default. Messages go to the cookie
//! first; the newest ones that do not fit go to the session, and the cookie ends with the
//! "not finished" sentinel, which tells the next request to read the session too.

use super::cookie::{CookieCodec, CookieRead};
use super::error::MessagesError;
use super::message::Entry;
use super::session::decode_session;
use super::update::{session_write, CookieWrite, Holding, Update};
use crate::json::Value;

/// `FallbackStorage._get`: the cookie's entries, then the session's if the cookie was not
/// finished. A missing or rejected cookie ends the search: the session is not consulted.
pub(crate) fn get(
    cookie: CookieRead,
    session_messages: Option<&Value>,
) -> Result<(Vec<Entry>, Holding), MessagesError> {
    let mut holding = Holding::default();
    let (mut entries, all_retrieved) = match cookie {
        CookieRead::Absent | CookieRead::Rejected => return Ok((Vec::new(), holding)),
        CookieRead::Entries {
            entries,
            all_retrieved,
        } => (entries, all_retrieved),
    };
    holding.cookie = !entries.is_empty();
    if all_retrieved {
        return Ok((entries, holding));
    }
    if let Some(more) = decode_session(session_messages)?.into_entries()? {
        holding.session = !more.is_empty();
        entries.extend(more);
    }
    Ok((entries, holding))
}

/// `FallbackStorage._store`: as many of the oldest entries as fit in the cookie, the rest
/// in the session; a storage that held loaded messages and gets none is flushed.
pub(crate) fn store(
    codec: &CookieCodec,
    holding: &mut Holding,
    entries: &[Entry],
    now: f64,
) -> Update {
    let mut update = Update::default();
    let rest = if entries.is_empty() {
        if std::mem::take(&mut holding.cookie) {
            update.cookie = Some(CookieWrite::Delete);
        }
        Vec::new()
    } else {
        let (value, rest) = codec.store(entries, false, now);
        update.cookie = Some(value.map_or(CookieWrite::Delete, CookieWrite::Set));
        rest
    };
    if !rest.is_empty() || std::mem::take(&mut holding.session) {
        update.session = Some(session_write(&rest));
    }
    update
}
