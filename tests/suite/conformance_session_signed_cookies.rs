//! Conformance: Django's `signed_cookies` session backend (`session_signed_cookies.json`)
//! against [`SignedCookieSessions`].
//!
//! Every record is run:
//! - `save`: the cookie value for the dict, byte for byte, and the salt, the key salt and the
//!   compression the record names;
//! - `load`: whether the cookie is taken as a session "key" at all (Django's
//!   `session_key_after_init`), then the dict it loads. Django's `modified_after_load` is true
//!   exactly when the load failed and an empty session replaced it, so a load that gives
//!   `None` must meet `modified_after_load: true` and an empty `result`.
//!
//! Each load is made three times on one backend, so the third is answered from its cache of
//! decoded cookies (admitted on the second): a hit must answer as Django does too.
//!
//! Loads run in two modes. With [`own_expiry(false)`](SignedCookieSessions::own_expiry) every record
//! must match Django. With the default, tessera also refuses a cookie past the session's own
//! `set_expiry`: the records in [`PAST_OWN_EXPIRY`] (and only those) load nothing instead.

use crate::common;

use common::vectors::{records_py, Failures};
use tessera::backend::cookie::{SignedCookieSessions, SALT};
use tessera::backend::SessionBackend;
use tessera::json::{Map, Value};
use tessera::signing::SecretKeys;
use tessera::SessionConfig;

const FILE: &str = "session_signed_cookies.json";

/// Loads Django accepts although the session's own `set_expiry(60)` has passed.
const PAST_OWN_EXPIRY: &[&str] = &["load-028"];

fn id(r: &Value) -> &str {
    r.get("id").and_then(Value::as_str).unwrap_or("<no id>")
}

fn text<'a>(r: &'a Value, name: &str) -> &'a str {
    r.get(name)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{}: {name:?} is not a string", id(r)))
}

fn flag(v: Option<&Value>) -> Option<bool> {
    match v {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn sessions(settings: &Value) -> SignedCookieSessions {
    let fallbacks: Vec<&str> = match settings.get("SECRET_KEY_FALLBACKS") {
        Some(Value::List(keys)) => keys.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let keys = SecretKeys::new(text(settings, "SECRET_KEY")).with_fallbacks(fallbacks);
    SignedCookieSessions::new(&keys).expect("signer")
}

fn config(settings: &Value) -> SessionConfig {
    let mut config = SessionConfig::default();
    if let Some(age) = settings.get("SESSION_COOKIE_AGE").and_then(Value::as_i64) {
        config.cookie_age = std::time::Duration::from_secs(age.try_into().expect("age"));
    }
    config
}

fn check_save(fails: &mut Failures, r: &Value) {
    let id = id(r);
    let Some(Value::Dict(data)) = r.get("session_dict") else {
        return fails.push(id, "no session_dict");
    };
    let now = r.get("now").and_then(Value::as_f64).expect("now");
    let want = r.get("expected").expect("expected");
    let cookie = sessions(r.get("settings").expect("settings")).encode_at(data, now);
    fails.check(id, cookie.as_str(), text(want, "cookie_value"));
    if let Some(salt) = want.get("salt").and_then(Value::as_str) {
        fails.check(&format!("{id} salt"), SALT, salt);
    }
    if let Some(key_salt) = want.get("hmac_key_salt").and_then(Value::as_str) {
        fails.check(
            &format!("{id} key salt"),
            format!("{SALT}signer").as_str(),
            key_salt,
        );
    }
    if let Some(compressed) = flag(want.get("compressed")) {
        fails.check(
            &format!("{id} compressed"),
            cookie.starts_with('.'),
            compressed,
        );
    }
}

fn check_load(fails: &mut Failures, r: &Value) {
    let id = id(r);
    let settings = r.get("settings").expect("settings");
    let (django, config) = (sessions(settings).own_expiry(false), config(settings));
    let cookie = text(r, "cookie_value");
    let now = r.get("now").and_then(Value::as_f64).expect("now");
    let want = r.get("expected").expect("expected");
    if let Some(key) = want.get("session_key_after_init") {
        let recognised = django.recognise(cookie).is_some();
        fails.check(
            &format!("{id} recognised"),
            recognised,
            !matches!(key, Value::Null),
        );
    }
    let Some(Value::Dict(result)) = want.get("result") else {
        return fails.push(id, "no result dict");
    };
    let modified = flag(want.get("modified_after_load"));
    let expect = match modified {
        Some(true) if result.is_empty() => None,
        Some(false) => Some(result.clone()),
        other => return fails.push(id, format!("result {result:?} with modified {other:?}")),
    };
    let by_default = sessions(settings);
    let want_default: Option<&Map> = if PAST_OWN_EXPIRY.contains(&id) {
        None
    } else {
        expect.as_ref()
    };
    let backends = [
        ("", &django, expect.as_ref()),
        (" by default", &by_default, want_default),
    ];
    for load in ["first", "second", "cached"] {
        for (mode, backend, want) in backends {
            let loaded = backend
                .recognise(cookie)
                .and_then(|_| backend.decode_at(cookie, &config, now));
            fails.check(&format!("{id}{mode} ({load})"), loaded.as_deref(), want);
        }
    }
}

#[test]
fn session_signed_cookie_vectors() {
    let all = records_py(FILE);
    let mut fails = Failures::default();
    for r in &all {
        match r.get("op").and_then(Value::as_str) {
            Some("save") => check_save(&mut fails, r),
            Some("load") => check_load(&mut fails, r),
            other => fails.push(id(r), format!("unknown op {other:?}")),
        }
    }
    fails.assert_none(FILE, all.len());
}
