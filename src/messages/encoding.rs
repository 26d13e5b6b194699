//! Django's `MessageEncoder` and `MessageDecoder`: how a message list is written as JSON and
//! read back, for the cookie and the session alike.
//!
//! A message is the list `["__json_message", is_safe, level, message(, extra_tags)]`, where
//! `is_safe` is `0`/`1` and `extra_tags` is left out when it is `None`. The cookie writes each
//! message with compact separators (`,` `:`), the session with `json`'s defaults (`, ` `: `);
//! both escape every non-ASCII character, as `ensure_ascii` does.

use std::fmt::Write as _;

use super::error::{undecodable, MessagesError};
use super::level::Level;
use super::message::{Entry, Message};
use crate::json::{self, Value};

/// The first item of a stored message (`MessageEncoder.message_key`).
pub const MESSAGE_KEY: &str = "__json_message";

/// A JSON separator style: Python's `(item_separator, key_separator)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Separators {
    item: &'static str,
    key: &'static str,
}

/// `separators=(",", ":")`: the cookie's parts.
pub(crate) const COMPACT: Separators = Separators {
    item: ",",
    key: ":",
};
/// `json.dumps`'s defaults: the session's value.
pub(crate) const DEFAULT: Separators = Separators {
    item: ", ",
    key: ": ",
};

/// Writes one entry as `json.dumps(entry, cls=MessageEncoder)` does with `separators`.
pub(crate) fn write_entry(out: &mut String, entry: &Entry, sep: Separators) {
    match entry {
        Entry::Message(m) => write_message(out, m, sep),
        Entry::Other(v) => write_value(out, v, sep),
    }
}

/// `MessageEncoder().encode(entries)`: the session's `_messages` text.
pub(crate) fn encode_session_json(entries: &[Entry]) -> String {
    let mut out = String::with_capacity(32 + entries.len() * 48);
    out.push('[');
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(DEFAULT.item);
        }
        write_entry(&mut out, entry, DEFAULT);
    }
    out.push(']');
    out
}

fn write_message(out: &mut String, m: &Message, sep: Separators) {
    out.push('[');
    json::write_str(out, MESSAGE_KEY);
    let _ = write!(
        out,
        "{}{}{}{}",
        sep.item,
        u8::from(m.safe),
        sep.item,
        m.level
    );
    out.push_str(sep.item);
    json::write_str(out, &m.message);
    if let Some(tags) = &m.extra_tags {
        out.push_str(sep.item);
        json::write_str(out, tags);
    }
    out.push(']');
}

/// Any JSON value with `separators`; the compact style is exactly [`json::to_string`].
fn write_value(out: &mut String, v: &Value, sep: Separators) {
    match v {
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep.item);
                }
                write_value(out, item, sep);
            }
            out.push(']');
        }
        Value::Dict(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep.item);
                }
                json::write_str(out, k);
                out.push_str(sep.key);
                write_value(out, item, sep);
            }
            out.push('}');
        }
        scalar => out.push_str(&json::to_string(scalar)),
    }
}

/// `MessageDecoder.process_messages` on a decoded top-level value: `None` for JSON `null`
/// (Django's "nothing stored"), the entries of a list, no entries for the other falsy values.
///
/// # Errors
///
/// Where Django's storage would raise: a single message or another truthy non-list where a
/// list belongs, or a malformed message anywhere in it.
pub(crate) fn entries_of(value: Value) -> Result<Option<Vec<Entry>>, MessagesError> {
    match value {
        Value::Null => Ok(None),
        Value::List(items) if is_message(&items) => Err(undecodable(
            "a single message where a list of messages belongs",
        )),
        Value::List(items) => items
            .into_iter()
            .map(entry_of)
            .collect::<Result<_, _>>()
            .map(Some),
        falsy if !falsy.is_truthy() => Ok(Some(Vec::new())),
        _ => Err(undecodable("not a list of messages")),
    }
}

fn is_message(items: &[Value]) -> bool {
    items.first().and_then(Value::as_str) == Some(MESSAGE_KEY)
}

fn entry_of(item: Value) -> Result<Entry, MessagesError> {
    match item {
        Value::List(items) if is_message(&items) => message_of(items).map(Entry::Message),
        other => {
            // Django turns nested messages into `Message`s too, failing on malformed ones;
            // tessera keeps their stored form but fails where Django would.
            check_nested(&other)?;
            Ok(Entry::Other(other))
        }
    }
}

fn check_nested(v: &Value) -> Result<(), MessagesError> {
    match v {
        Value::List(items) if is_message(items) => message_of(items.clone()).map(drop),
        Value::List(items) => items.iter().try_for_each(check_nested),
        Value::Dict(map) => map.values().try_for_each(check_nested),
        _ => Ok(()),
    }
}

/// `Message(*obj[2:])`, with `obj[3]` marked safe when `obj[1]` is truthy.
fn message_of(items: Vec<Value>) -> Result<Message, MessagesError> {
    let safe = items
        .get(1)
        .ok_or_else(|| undecodable("a message without its safe flag"))?
        .is_truthy();
    if !(4..=5).contains(&items.len()) {
        return Err(undecodable("a message with the wrong number of fields"));
    }
    let mut fields = items.into_iter().skip(2);
    let level = fields
        .next()
        .map_or(Err(()), |v| python_int(&v))
        .map_err(|()| undecodable("a message level that is not an integer of 64 bits"))?;
    let message = match fields.next() {
        Some(Value::Str(s)) => s,
        _ => return Err(undecodable("a message text that is not a string")),
    };
    let extra_tags = match fields.next() {
        None | Some(Value::Null) => None,
        Some(Value::Str(s)) => Some(s),
        Some(_) => return Err(undecodable("message extra tags that are not a string")),
    };
    Ok(Message {
        level: Level(level),
        message,
        extra_tags,
        safe,
    })
}

/// Python's `int(v)` for the values a level can hold; beyond 64 bits is refused.
fn python_int(v: &Value) -> Result<i64, ()> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Bool(b) => Ok(i64::from(*b)),
        // `as` saturates; the range check keeps only floats that truncate exactly into i64.
        Value::Float(f) if f.is_finite() && f.abs() < 9.2e18 => Ok(f.trunc() as i64),
        Value::Str(s) => s
            .trim_matches(crate::cookie::is_python_whitespace)
            .parse()
            .map_err(drop),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_separators_match_python() {
        let entries = [
            Entry::Message(Message::new(Level(20), "é").safe()),
            Entry::Other(json::from_str(r#"{"a": [1, 2.5, null]}"#).unwrap()),
        ];
        assert_eq!(
            encode_session_json(&entries),
            r#"[["__json_message", 1, 20, "\u00e9", ""], {"a": [1, 2.5, null]}]"#
        );
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        for text in [
            r#"[["__json_message"]]"#,
            r#"[["__json_message", 1, 20]]"#,
            r#"[["__json_message", 0, 20, "a", "b", "c"]]"#,
            r#"[["__json_message", 0, "x", "a"]]"#,
            r#"[["__json_message", 0, 20, 5]]"#,
            r#"[[1, ["__json_message", 0]]]"#,
            r#"["__json_message", 0, 20, "a"]"#,
            r#"{"a": 1}"#,
        ] {
            let v = json::from_str(text).unwrap();
            assert!(entries_of(v).is_err(), "{text}");
        }
        let v = json::from_str(r#"[["__json_message", 0, " 25 ", "a", null]]"#).unwrap();
        let entries = entries_of(v).unwrap().unwrap();
        assert_eq!(
            entries,
            [Entry::Message(
                Message::new(Level(25), "a").without_extra_tags()
            )]
        );
    }
}
