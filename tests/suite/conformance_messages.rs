//! Every record of `messages.json`, made by the real Django 6.1.3: the signed `messages`
//! cookie written and read (`CookieStorage._encode`/`_decode`), one request's
//! `storage.update(response)` over cookie, session and fallback storage (the `Set-Cookie`
//! headers, the stored cookie and what it decodes to, the session's `_messages` value), and
//! the session value read back.

use std::sync::Arc;

use crate::common;

use common::vectors::{records_py, secret_keys, Failures};
use tessera::cookie::SameSite;
use tessera::json::{Map, Value};
use tessera::messages::{
    decode_session, CookieCodec, CookieRead, CookieWrite, Entry, Level, Message, MessageStorage,
    MessagesConfig, SessionRead, SessionWrite, StorageKind, INFO,
};

const FILE: &str = "messages.json";

/// The record's `SESSION_COOKIE_*` settings over Django's defaults.
fn config(settings: &Value) -> MessagesConfig {
    let mut config = MessagesConfig::default();
    if let Value::Bool(b) = settings["SESSION_COOKIE_SECURE"] {
        config.cookie_secure = b;
    }
    if let Value::Bool(b) = settings["SESSION_COOKIE_HTTPONLY"] {
        config.cookie_httponly = b;
    }
    if let Some(domain) = settings["SESSION_COOKIE_DOMAIN"].as_str() {
        config.cookie_domain = Some(domain.to_owned());
    }
    if let Some(samesite) = settings["SESSION_COOKIE_SAMESITE"].as_str() {
        config.cookie_samesite = SameSite::parse(samesite);
    }
    config
}

/// A message as the vectors write one: `{level, message, extra_tags, safe}`.
fn message(v: &Value) -> Message {
    let mut m = Message::new(
        Level(v["level"].as_i64().expect("level")),
        v["message"].as_str().expect("text"),
    );
    m.extra_tags = v["extra_tags"].as_str().map(str::to_owned);
    m.safe = v["safe"] == Value::Bool(true);
    m
}

fn message_value(m: &Message) -> Value {
    let mut d = Map::new();
    d.insert("level".into(), Value::Int(m.level.0));
    d.insert("message".into(), Value::Str(m.message.clone()));
    d.insert(
        "extra_tags".into(),
        m.extra_tags.clone().map_or(Value::Null, Value::Str),
    );
    d.insert("safe".into(), Value::Bool(m.safe));
    Value::Dict(d)
}

/// A list of entries as the vectors write it: messages as dicts, anything else as `{"$value"}`.
fn entries_value(entries: &[Entry]) -> Value {
    Value::List(
        entries
            .iter()
            .map(|e| match e {
                Entry::Message(m) => message_value(m),
                Entry::Other(v) => {
                    let mut d = Map::new();
                    d.insert("$value".into(), v.clone());
                    Value::Dict(d)
                }
            })
            .collect(),
    )
}

fn has(r: &Value, key: &str) -> bool {
    r.get(key).is_some()
}

fn now(r: &Value) -> f64 {
    r["now"].as_f64().expect("now")
}

fn cookie_encode(r: &Value, codec: &CookieCodec, fails: &mut Failures, id: &str) {
    let entries: Vec<Entry> = match &r["messages"] {
        Value::List(l) => l.iter().map(|m| Entry::Message(message(m))).collect(),
        _ => panic!("{id}: no messages"),
    };
    let encode_empty = r["encode_empty"] == Value::Bool(true);
    let got = codec.encode(&entries, encode_empty, now(r));
    let e = &r["expected"];
    fails.check(
        id,
        got.clone().map_or(Value::Null, Value::Str),
        e["result"].clone(),
    );
    fails.check(
        &format!("{id} serialized_json"),
        Value::Str(CookieCodec::serialize(&entries)),
        e["serialized_json"].clone(),
    );
    fails.check(
        &format!("{id} compressed"),
        Value::Bool(got.is_some_and(|v| v.starts_with('.'))),
        e["compressed"].clone(),
    );
}

fn cookie_decode(r: &Value, codec: &CookieCodec, fails: &mut Failures, id: &str) {
    let e = &r["expected"];
    let got = codec.decode(r["cookie_value"].as_str());
    if has(e, "error") {
        // Django raised (the storage does not catch it): tessera reports the same exception,
        // whose name leads its signing error's text (zlib's own wording differs).
        match got {
            Err(err) => fails.check(
                &format!("{id} error"),
                err.to_string().contains(&format!(
                    "{}: ",
                    e["error_qualified"].as_str().unwrap_or("?")
                )),
                true,
            ),
            Ok(read) => fails.push(id, format!("Django raised, tessera read {read:?}")),
        }
        return;
    }
    let (result, all_retrieved, used) = match got {
        Ok(CookieRead::Absent) => (Value::Null, true, false),
        Ok(CookieRead::Rejected) => (Value::Null, true, true),
        Ok(CookieRead::Entries {
            entries,
            all_retrieved,
        }) => (entries_value(&entries), all_retrieved, false),
        Err(err) => return fails.push(id, format!("unexpected error {err}")),
    };
    fails.check(id, result, e["result"].clone());
    fails.check(
        &format!("{id} all_retrieved"),
        Value::Bool(all_retrieved),
        e["all_retrieved"].clone(),
    );
    fails.check(&format!("{id} used"), Value::Bool(used), e["used"].clone());
}

fn session_decode(r: &Value, fails: &mut Failures, id: &str) {
    let e = &r["expected"];
    let got = match decode_session(r["session_before"].get("_messages")) {
        Ok(SessionRead::Absent) => Value::Null,
        Ok(SessionRead::Verbatim(v)) => {
            let mut d = Map::new();
            d.insert("$value".into(), v);
            Value::Dict(d)
        }
        Ok(SessionRead::Entries(entries)) => entries_value(&entries),
        Err(err) => return fails.push(id, format!("unexpected error {err}")),
    };
    fails.check(id, got, e["result"].clone());
    fails.check(
        &format!("{id} all_retrieved"),
        e["all_retrieved"].clone(),
        Value::Bool(true),
    );
}

/// One request: the record's actions on a storage, then `storage.update(response)`.
fn request(r: &Value, kind: StorageKind, codec: &Arc<CookieCodec>, fails: &mut Failures, id: &str) {
    let config = config(&r["settings"]);
    let e = &r["expected"];
    let cookie_before = r["cookie_before"].as_str().map(str::to_owned);
    let mut session = r["session_before"].as_dict().cloned().unwrap_or_default();
    let session_messages = session.get("_messages").cloned();
    let mut storage = MessageStorage::new(kind, codec.clone(), INFO, cookie_before);
    let mut iterated = Vec::new();
    let Value::List(actions) = &r["actions"] else {
        panic!("{id}: no actions")
    };
    for action in actions {
        match action["do"].as_str() {
            Some("add") => {
                storage.add(message(action));
            }
            Some("iterate") => match storage.iterate(session_messages.as_ref()) {
                Ok(entries) => iterated.push(entries_value(&entries)),
                Err(err) => return fails.push(id, format!("iterate failed: {err}")),
            },
            other => panic!("{id}: unknown action {other:?}"),
        }
    }
    let update = match storage.update(session_messages.as_ref(), now(r)) {
        Ok(update) => update,
        Err(err) => return fails.push(id, format!("update failed: {err}")),
    };
    fails.check(
        id,
        update
            .as_ref()
            .map_or(Value::Null, |u| entries_value(&u.unstored)),
        e["result"].clone(),
    );
    if has(e, "iterated") {
        fails.check(
            &format!("{id} iterated"),
            Value::List(iterated),
            e["iterated"].clone(),
        );
    }
    let cookie = update.as_ref().and_then(|u| u.cookie.clone());
    if has(e, "set_cookie") {
        let headers: Vec<Value> = cookie
            .iter()
            .map(|w| Value::Str(config.set_cookie_header(w).expect("header")))
            .collect();
        fails.check(
            &format!("{id} set_cookie"),
            Value::List(headers),
            e["set_cookie"].clone(),
        );
    }
    if has(e, "cookie_value") {
        let value = match &cookie {
            Some(CookieWrite::Set(v)) => Value::Str(v.clone()),
            Some(CookieWrite::Delete) => Value::Str(String::new()),
            None => Value::Null,
        };
        fails.check(
            &format!("{id} cookie_value"),
            value,
            e["cookie_value"].clone(),
        );
    }
    if has(e, "cookie_messages") {
        let Some(CookieWrite::Set(v)) = &cookie else {
            return fails.push(id, "no cookie to decode");
        };
        match codec.decode(Some(v)) {
            Ok(CookieRead::Entries {
                entries,
                all_retrieved,
            }) => {
                fails.check(
                    &format!("{id} cookie_messages"),
                    entries_value(&entries),
                    e["cookie_messages"].clone(),
                );
                fails.check(
                    &format!("{id} cookie_not_finished"),
                    Value::Bool(!all_retrieved),
                    e["cookie_not_finished"].clone(),
                );
            }
            other => fails.push(id, format!("stored cookie reads as {other:?}")),
        }
    }
    match update.as_ref().and_then(|u| u.session.as_ref()) {
        Some(SessionWrite::Set(text)) => {
            session.insert("_messages".into(), Value::Str(text.clone()));
        }
        Some(SessionWrite::Remove) => {
            session.shift_remove("_messages");
        }
        None => {}
    }
    if has(e, "session_messages") {
        let got = session
            .get("_messages")
            .cloned()
            .unwrap_or_else(|| Value::Str("<absent>".into()));
        fails.check(
            &format!("{id} session_messages"),
            got,
            e["session_messages"].clone(),
        );
    }
    if has(e, "session_after") {
        fails.check(
            &format!("{id} session_after"),
            Value::Dict(session),
            e["session_after"].clone(),
        );
    }
}

#[test]
fn every_record_matches_django() {
    let records = records_py(FILE);
    let mut fails = Failures::default();
    for r in &records {
        let id = r["id"].as_str().expect("id");
        let codec = Arc::new(CookieCodec::new(&secret_keys(&r["settings"])).expect("codec"));
        match r["op"].as_str().expect("op") {
            "cookie_encode" => cookie_encode(r, &codec, &mut fails, id),
            "cookie_decode" => cookie_decode(r, &codec, &mut fails, id),
            "session_decode" => session_decode(r, &mut fails, id),
            "cookie_update" => request(r, StorageKind::Cookie, &codec, &mut fails, id),
            "session_encode" => request(r, StorageKind::Session, &codec, &mut fails, id),
            "fallback" => request(r, StorageKind::Fallback, &codec, &mut fails, id),
            other => fails.push(id, format!("unknown op {other}")),
        }
    }
    fails.assert_none(FILE, records.len());
}
