//! Conformance: session data encoding (`session_encoding.json`, spec §8) against Django 6.1.3.
//!
//! Every record is run:
//! - `key_salt`: `"django.contrib.sessions." + <class __qualname__>` for the backend's class;
//! - `encode`: [`SessionCodec::encode_at`] with that backend's key salt, byte for byte, plus
//!   the record's `serialized_json`, `compressed` and `hmac_key_salt`;
//! - `decode`: [`SessionCodec::decode`]'s dict, and [`Decoded::corrupt`] exactly when Django
//!   logged the `Session data corrupted` warning.
//!
//! One documented divergence: Django returns a validly signed JSON value that is not a dict
//! (public records `decode-057`, a list, and `decode-058`, a string) as the session as is,
//! which then breaks every dict operation on it. tessera's `Decoded::data` is a `Map`, so it
//! treats such data as unreadable: an empty session, without the corruption warning (Django
//! logs none either). The test asserts that behaviour for every non-dict result.

use crate::common;

use common::vectors::{load_py, records_py, Failures};
use tessera::json::{self, Value};
use tessera::session::codec::{Decoded, SessionCodec, DEFAULT_KEY_SALT};
use tessera::signing::{Secret, SecretKeys};

fn id(r: &Value) -> &str {
    r.get("id").and_then(Value::as_str).unwrap_or("<no id>")
}

fn field<'a>(r: &'a Value, name: &str) -> &'a Value {
    r.get(name)
        .unwrap_or_else(|| panic!("{}: no field {name:?}", id(r)))
}

fn text<'a>(r: &'a Value, name: &str) -> &'a str {
    field(r, name)
        .as_str()
        .unwrap_or_else(|| panic!("{}: {name:?} is not a string", id(r)))
}

fn secret(v: &Value) -> Secret {
    match v {
        Value::Str(s) => Secret::from(s.as_str()),
        other => match other.get("$bytes_hex").and_then(Value::as_str) {
            Some(h) => Secret::from(common::vectors::hex(h)),
            None => panic!("bad secret {other:?}"),
        },
    }
}

fn keys(settings: &Value) -> SecretKeys {
    let current = secret(settings.get("SECRET_KEY").expect("SECRET_KEY"));
    let fallbacks: Vec<Secret> = match settings.get("SECRET_KEY_FALLBACKS") {
        Some(Value::List(l)) => l.iter().map(secret).collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(other) => panic!("bad SECRET_KEY_FALLBACKS {other:?}"),
    };
    SecretKeys::new(current).with_fallbacks(fallbacks)
}

/// Django's `SessionBase.key_salt`: `"django.contrib.sessions." + type(self).__qualname__`.
/// The vectors name the class by its dotted path, optionally followed by a remark
/// (`myapp.sessions.CustomSessionStore (subclass of …)`).
fn key_salt(backend: &str) -> String {
    let path = backend.split_whitespace().next().unwrap_or_default();
    let class = path.rsplit('.').next().unwrap_or_default();
    format!("django.contrib.sessions.{class}")
}

/// Whether Django logged `Session data corrupted` (WARNING, `django.security.SuspiciousSession`).
fn logged_corrupt(want: &Value, fails: &mut Failures, id: &str) -> bool {
    let Some(Value::List(logged)) = want.get("logged") else {
        fails.push(id, "no `logged` list");
        return false;
    };
    let mut corrupt = false;
    for rec in logged {
        let message = rec.get("message").and_then(Value::as_str);
        let level = rec.get("level").and_then(Value::as_str);
        let logger = rec.get("logger").and_then(Value::as_str);
        if message == Some("Session data corrupted")
            && level == Some("WARNING")
            && logger == Some("django.security.SuspiciousSession")
        {
            corrupt = true;
        } else {
            fails.push(id, format!("unexpected log record {rec:?}"));
        }
    }
    corrupt
}

fn check_encode(fails: &mut Failures, r: &Value) {
    let id = id(r);
    let want = field(r, "expected");
    let salt = key_salt(text(r, "backend"));
    if let Some(w) = want.get("key_salt").and_then(Value::as_str) {
        fails.check(&format!("{id} key_salt"), salt.as_str(), w);
    }
    if let Some(w) = want.get("hmac_key_salt").and_then(Value::as_str) {
        fails.check(
            &format!("{id} hmac_key_salt"),
            format!("{salt}signer").as_str(),
            w,
        );
    }
    let codec = match SessionCodec::with_key_salt(&keys(field(r, "settings")), &salt) {
        Ok(c) => c,
        Err(e) => return fails.push(id, format!("codec: {e}")),
    };
    let Some(dict) = field(r, "session_dict").as_dict() else {
        return fails.push(id, "session_dict is not a dict");
    };
    let now = field(r, "now").as_f64().expect("now");
    let stored = codec.encode_at(dict, now);
    fails.check(id, stored.as_str(), text(want, "result"));
    if let Some(w) = want.get("serialized_json").and_then(Value::as_str) {
        fails.check(
            &format!("{id} serialized_json"),
            json::map_to_string(dict).as_str(),
            w,
        );
    }
    if let Some(Value::Bool(w)) = want.get("compressed") {
        fails.check(&format!("{id} compressed"), stored.starts_with('.'), *w);
    }
    // What was written reads back.
    fails.check(
        &format!("{id} round trip"),
        codec.decode(&stored),
        Decoded {
            data: dict.clone(),
            corrupt: false,
        },
    );
}

/// Returns whether the record is one of the documented non-dict divergences.
fn check_decode(fails: &mut Failures, r: &Value) -> bool {
    let id = id(r);
    let want = field(r, "expected");
    let salt = key_salt(text(r, "backend"));
    let codec = match SessionCodec::with_key_salt(&keys(field(r, "settings")), &salt) {
        Ok(c) => c,
        Err(e) => {
            fails.push(id, format!("codec: {e}"));
            return false;
        }
    };
    let decoded = codec.decode(text(r, "input"));
    let corrupt = logged_corrupt(want, fails, id);
    fails.check(&format!("{id} corrupt"), decoded.corrupt, corrupt);
    match field(want, "result") {
        Value::Dict(d) => {
            fails.check(id, &decoded.data, d);
            false
        }
        other => {
            // Django: the value itself. tessera: an empty session (see the module docs).
            fails.check(
                &format!("{id} non-dict {other:?}"),
                decoded,
                Decoded::default(),
            );
            true
        }
    }
}

#[test]
fn session_encoding_vectors() {
    let mut fails = Failures::default();
    let all = records_py("session_encoding.json");
    let (mut run, mut divergent) = (0, Vec::new());
    for r in &all {
        match field(r, "op").as_str() {
            Some("key_salt") => {
                let want = text(field(r, "expected"), "result");
                fails.check(id(r), key_salt(text(r, "backend")).as_str(), want);
            }
            Some("encode") => check_encode(&mut fails, r),
            Some("decode") => {
                if check_decode(&mut fails, r) {
                    divergent.push(id(r).to_owned());
                }
            }
            other => {
                fails.push(id(r), format!("unknown op {other:?}"));
                continue;
            }
        }
        run += 1;
    }
    assert_eq!(run, all.len());
    // Keep the documented list in sync with the public vectors.
    let profile = load_py("session_encoding.json");
    if profile.get("profile").and_then(Value::as_str) == Some("public") {
        assert_eq!(divergent, ["decode-057", "decode-058"]);
    }
    fails.assert_none("session_encoding.json", all.len());
}

/// Every built-in backend shares [`DEFAULT_KEY_SALT`], the one [`SessionCodec::new`] uses.
#[test]
fn built_in_backends_share_the_default_key_salt() {
    for backend in ["db", "cache", "cached_db", "file", "signed_cookies"] {
        let path = format!("django.contrib.sessions.backends.{backend}.SessionStore");
        assert_eq!(key_salt(&path), DEFAULT_KEY_SALT);
    }
    let keys = SecretKeys::new("k");
    let data = [("a".to_owned(), Value::Int(1))].into_iter().collect();
    let stored = SessionCodec::new(&keys).unwrap().encode_at(&data, 1.0e9);
    let custom = SessionCodec::with_key_salt(&keys, "django.contrib.sessions.CustomSessionStore");
    // A subclass signs with its own salt: the base class reads its data as corrupt.
    assert!(custom.unwrap().decode(&stored).corrupt);
}
