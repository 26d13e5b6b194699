//! Conformance: signed cookies (`signed_cookies.json`, spec §5) and the artifacts exchanged
//! with Django 3.2 and 4.2 (`cross_version.json`, spec §5, §8, §15), against Django 6.1.3.
//!
//! Every record is run:
//! - `set_signed_cookie`: the signed value and the `Set-Cookie` header through
//!   [`CookieJar::set_signed_at`] (and [`CookieSigner::sign_at`]), the salts and signer key,
//!   and that the `Cookie` header a browser sends back parses to the signed value;
//! - `legacy_signed_cookie_value`: the same with `write_legacy_salt(true)`;
//! - `get_signed_cookie`: the `Cookie` header parsed with `parse_cookie`, then
//!   [`CookieJar::get_signed_at`] or, with a default, [`CookieJar::get_signed_or_at`];
//! - every `cross_version.json` record, in the direction it was produced.

use crate::common;

use common::vectors::{records_py, to_hex, Failures};
use tessera::cookie::{
    legacy_salt, parse_cookie, v2_salt, CookieError, CookieJar, CookieOptions, CookiePolicy,
    CookieSigner, SignedCookieError, COOKIE_KEY_PREFIX,
};
use tessera::json::{Map, Value};
use tessera::session::codec::SessionCodec;
use tessera::signing::{
    b62, dumps_at, loads_at, Secret, SecretKeys, SigningError, TimestampSigner,
};

// ---------------------------------------------------------------------------
// Decoding vector inputs
// ---------------------------------------------------------------------------

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

fn number(r: &Value, name: &str) -> f64 {
    field(r, name)
        .as_f64()
        .unwrap_or_else(|| panic!("{}: {name:?} is not a number", id(r)))
}

/// A secret: text (used as UTF-8) or `{"$bytes_hex": …}`.
fn secret(v: &Value) -> Secret {
    match v {
        Value::Str(s) => Secret::from(s.as_str()),
        other => match other.get("$bytes_hex").and_then(Value::as_str) {
            Some(h) => Secret::from(common::vectors::hex(h)),
            None => panic!("bad secret {other:?}"),
        },
    }
}

/// `SECRET_KEY` and `SECRET_KEY_FALLBACKS` from a record's `settings`.
fn keys(settings: &Value) -> SecretKeys {
    let current = secret(settings.get("SECRET_KEY").expect("SECRET_KEY"));
    let fallbacks: Vec<Secret> = match settings.get("SECRET_KEY_FALLBACKS") {
        Some(Value::List(l)) => l.iter().map(secret).collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(other) => panic!("bad SECRET_KEY_FALLBACKS {other:?}"),
    };
    SecretKeys::new(current).with_fallbacks(fallbacks)
}

/// `set_cookie` keyword arguments as the vectors use them.
fn options(kwargs: Option<&Value>) -> Result<CookieOptions, String> {
    let mut options = CookieOptions::new();
    let Some(kwargs) = kwargs else {
        return Ok(options);
    };
    let kw = kwargs.as_dict().ok_or("kwargs is not an object")?;
    for (key, value) in kw {
        match (key.as_str(), value) {
            ("max_age", Value::Null) => {}
            ("max_age", Value::Int(i)) => options = options.max_age(*i),
            ("max_age", Value::Float(f)) => options = options.max_age(*f),
            ("httponly", Value::Bool(b)) => options = options.httponly(*b),
            ("secure", Value::Bool(b)) => options = options.secure(*b),
            ("path", Value::Str(p)) => options = options.path(p.as_str()),
            ("path", Value::Null) => options = options.no_path(),
            ("domain", Value::Str(d)) => options = options.domain(d.as_str()),
            ("domain", Value::Null) => {}
            ("samesite", Value::Str(s)) => options = options.samesite(s.as_str()),
            ("samesite", Value::Null) => {}
            other => return Err(format!("unsupported kwarg {other:?}")),
        }
    }
    Ok(options)
}

fn optional_max_age(r: &Value) -> Option<f64> {
    match r.get("max_age") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .or_else(|| v.get("$timedelta_seconds").and_then(Value::as_f64))
                .unwrap_or_else(|| panic!("{}: bad max_age {v:?}", id(r))),
        ),
    }
}

/// The Python exception name tessera's error stands for.
fn django_kind(e: &SignedCookieError) -> &'static str {
    match e {
        SignedCookieError::Missing(_) => "KeyError",
        SignedCookieError::BadSignature(e)
        | SignedCookieError::Expired(e)
        | SignedCookieError::Malformed(e) => e.django_kind(),
    }
}

/// Compares `Result<Option<String>>` with an outcome object (`result`, possibly null, or
/// `error`): KeyError ↔ Missing, BadSignature, SignatureExpired ↔ Expired, others ↔ Malformed.
fn check_read(
    fails: &mut Failures,
    id: &str,
    got: Result<Option<String>, SignedCookieError>,
    want: &Value,
) {
    match (want.get("result"), got) {
        (Some(result), Ok(v)) => {
            let v = v.map_or(Value::Null, Value::Str);
            fails.check(id, &v, result);
        }
        (None, Err(e)) => {
            let class = want
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let variant_ok = match (&e, class) {
                (SignedCookieError::Missing(_), "KeyError") => true,
                (SignedCookieError::BadSignature(_), "BadSignature") => true,
                (SignedCookieError::Expired(_), "SignatureExpired") => true,
                (SignedCookieError::Malformed(_), c) => {
                    !matches!(c, "KeyError" | "BadSignature" | "SignatureExpired")
                }
                _ => false,
            };
            if !variant_ok || django_kind(&e) != class {
                fails.push(id, format!("got {e:?}, want {class}"));
            }
            if let Some(bad) = want.get("is_bad_signature").and_then(|b| match b {
                Value::Bool(b) => Some(*b),
                _ => None,
            }) {
                let ours = matches!(
                    e,
                    SignedCookieError::BadSignature(_) | SignedCookieError::Expired(_)
                );
                fails.check(&format!("{id} is_bad_signature"), ours, bad);
            }
        }
        (_, got) => fails.push(id, format!("got {got:?}, want {want:?}")),
    }
}

fn check_signing_error(
    fails: &mut Failures,
    id: &str,
    got: Result<Value, SigningError>,
    want: &Value,
) {
    match (want.get("result"), got) {
        (Some(result), Ok(v)) => fails.check(id, &v, result),
        (None, Err(e)) => {
            let class = want
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or_default();
            fails.check(id, e.django_kind(), class);
        }
        (_, got) => fails.push(id, format!("got {got:?}, want {want:?}")),
    }
}

/// The request jar for a `Cookie` header, as `request.COOKIES`.
fn request_jar(cookie_header: &str) -> CookieJar {
    CookieJar::from_request_cookies(parse_cookie(cookie_header))
}

/// The integer timestamp inside a signed value (`…:<b62>:<sig>`).
fn timestamp_of(signed: &str) -> f64 {
    let mut parts = signed.rsplitn(3, ':');
    let _sig = parts.next();
    let ts = parts.next().expect("timestamp");
    b62::decode(ts).expect("base62") as f64
}

// ---------------------------------------------------------------------------
// signed_cookies.json
// ---------------------------------------------------------------------------

/// `set_signed_cookie` / `legacy_signed_cookie_value`.
fn check_set(fails: &mut Failures, r: &Value, legacy: bool) {
    let id = id(r);
    let want = field(r, "expected");
    let keys = keys(field(r, "settings"));
    let signer = CookieSigner::new(&keys).write_legacy_salt(legacy);
    let (name, value, salt) = (text(r, "name"), text(r, "value"), text(r, "salt"));
    let now = number(r, "now");
    let options = match options(r.get("kwargs")) {
        Ok(o) => o,
        Err(e) => return fails.push(id, e),
    };

    // Through the jar, Django-exact (lenient) ...
    let mut jar = CookieJar::new().with_policy(CookiePolicy::lenient());
    let set = jar.set_signed_at(&signer, name, value, salt, &options, now);
    // ... and with the strict default, which may only add a policy refusal.
    let mut strict = CookieJar::new();
    match (
        strict.set_signed_at(&signer, name, value, salt, &options, now),
        &set,
    ) {
        (Ok(()), Ok(())) => fails.check(
            &format!("{id} strict"),
            strict.set_cookie_headers(now),
            jar.set_cookie_headers(now),
        ),
        (Err(CookieError::Policy { .. }), Ok(())) => {}
        (Err(a), Err(b)) if &a == b => {}
        (a, b) => fails.push(id, format!("strict {a:?} vs lenient {b:?}")),
    }

    if let Some(class) = want.get("error").and_then(Value::as_str) {
        match set {
            Err(CookieError::IllegalName(_) | CookieError::ReservedName(_))
                if class == "CookieError" => {}
            other => fails.push(id, format!("got {other:?}, want {class}")),
        }
        return;
    }
    if let Err(e) = set {
        return fails.push(id, format!("set_signed failed: {e}"));
    }
    let want_signed = text(want, "signed_value");
    let pending = jar.pending(name).map(|m| m.value().to_owned());
    fails.check(id, pending.as_deref(), Some(want_signed));
    fails.check(
        id,
        signer.sign_at(name, value, salt, now).as_str(),
        want_signed,
    );

    if let Some(header) = want.get("header").and_then(Value::as_str) {
        let headers = jar.set_cookie_headers(now);
        fails.check(
            id,
            headers.iter().map(String::as_str).collect(),
            vec![header],
        );
        if let Some(Value::Bool(latin1)) = want.get("latin1_encodable") {
            let ours = header_chars_latin1(&headers);
            fails.check(&format!("{id} latin1_encodable"), ours, *latin1);
        }
    }
    // What the browser sends back reads as the signed value, which verifies.
    if let Some(back) = want
        .get("cookie_header_for_request")
        .and_then(Value::as_str)
    {
        let request = request_jar(back);
        fails.check(
            &format!("{id} cookie back"),
            request.get(name),
            Some(want_signed),
        );
        let reader = CookieSigner::new(&keys).legacy_salt_fallback(legacy);
        let read = request.get_signed_at(&reader, name, salt, None, now);
        fails.check(&format!("{id} read back"), read, Ok(value.to_owned()));
    }
    if let Some(salt_want) = want.get("effective_salt").and_then(Value::as_str) {
        let ours = if legacy {
            legacy_salt(name, salt)
        } else {
            v2_salt(name, salt)
        };
        fails.check(&format!("{id} effective_salt"), ours.as_str(), salt_want);
        if let Some(h) = want.get("hmac_key_salt").and_then(Value::as_str) {
            fails.check(
                &format!("{id} hmac_key_salt"),
                format!("{ours}signer").as_str(),
                h,
            );
        }
    }
    if let Some(h) = want.get("signer_secret_hex").and_then(Value::as_str) {
        let prefixed = keys.current().prefixed(COOKIE_KEY_PREFIX);
        fails.check(
            &format!("{id} signer_secret_hex"),
            to_hex(prefixed.as_bytes()).as_str(),
            h,
        );
    }
    if let Some(ts) = want.get("timestamp_b62").and_then(Value::as_str) {
        fails.check(
            &format!("{id} timestamp_b62"),
            b62::encode(now.floor() as i64).as_str(),
            ts,
        );
    }
}

fn header_chars_latin1(headers: &[String]) -> bool {
    headers
        .iter()
        .all(|h| h.chars().all(|c| u32::from(c) < 0x100))
}

/// `get_signed_cookie`.
fn check_get(fails: &mut Failures, r: &Value) {
    let id = id(r);
    let settings = field(r, "settings");
    let fallback = matches!(
        settings.get("SIGNED_COOKIE_LEGACY_SALT_FALLBACK"),
        Some(Value::Bool(true))
    );
    let signer = CookieSigner::new(&keys(settings)).legacy_salt_fallback(fallback);
    let jar = request_jar(text(r, "cookie_header"));
    let (name, salt, now) = (text(r, "name"), text(r, "salt"), number(r, "now"));
    let max_age = optional_max_age(r).map(tessera::time::MaxAge::seconds);
    let got = match field(r, "default") {
        Value::Str(s) if s == "RAISE_ERROR" => jar
            .get_signed_at(&signer, name, salt, max_age, now)
            .map(Some),
        Value::Null => jar.get_signed_or_at(&signer, name, salt, max_age, now, None),
        Value::Str(d) => jar
            .get_signed_or_at(&signer, name, salt, max_age, now, d.clone())
            .map(Some),
        other => return fails.push(id, format!("unsupported default {other:?}")),
    };
    check_read(fails, id, got, field(r, "expected"));
}

#[test]
fn signed_cookie_vectors() {
    let mut fails = Failures::default();
    let all = records_py("signed_cookies.json");
    let mut counts = [0usize; 3];
    for r in &all {
        match field(r, "op").as_str() {
            Some("set_signed_cookie") => {
                counts[0] += 1;
                check_set(&mut fails, r, false);
            }
            Some("legacy_signed_cookie_value") => {
                counts[1] += 1;
                check_set(&mut fails, r, true);
            }
            Some("get_signed_cookie") => {
                counts[2] += 1;
                check_get(&mut fails, r);
            }
            other => fails.push(id(r), format!("unknown op {other:?}")),
        }
    }
    assert_eq!(
        counts.iter().sum::<usize>(),
        all.len(),
        "set / legacy / get records: {counts:?}"
    );
    fails.assert_none("signed_cookies.json", all.len());
}

// ---------------------------------------------------------------------------
// cross_version.json
// ---------------------------------------------------------------------------

fn flag(r: &Value, name: &str) -> Option<bool> {
    match r.get(name) {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn dict(v: &Value) -> Map {
    v.as_dict().cloned().expect("a dict")
}

fn logged_corrupt(outcome: &Value) -> bool {
    match outcome.get("logged") {
        Some(Value::List(l)) => l.iter().any(|rec| {
            rec.get("message").and_then(Value::as_str) == Some("Session data corrupted")
                && rec.get("level").and_then(Value::as_str) == Some("WARNING")
        }),
        _ => false,
    }
}

/// A record where an old Django produced an artifact that Django 6.1.3 consumed.
fn check_old_to_new(fails: &mut Failures, r: &Value) {
    let id = id(r);
    let task = field(r, "task");
    let produced = field(r, "produced");
    let result = text(produced, "result");
    let settings = field(task, "settings");
    let keys = keys(settings);
    let now = number(task, "now");
    // Under `DEFAULT_HASHING_ALGORITHM='sha1'` Django 3.2 signed with SHA1 (and wrote the
    // pre-3.1 session format); tessera, like Django ≥ 4.0, never produces those, and reads them
    // as bad signatures / corrupt sessions.
    match text(r, "op") {
        "dumps" => {
            let salt = text(task, "salt");
            let compress = flag(task, "compress").unwrap_or(false);
            let got = loads_at(result, &keys, salt, None, now);
            check_signing_error(fails, id, got, field(r, "consumed"));
            let ours = dumps_at(field(task, "obj"), &keys, salt, compress, now).expect("dumps");
            let identical = flag(r, "identical_to_current_output").expect("identical flag");
            fails.check(&format!("{id} identical"), ours == result, identical);
        }
        "session_encode" => {
            let codec = SessionCodec::new(&keys).expect("codec");
            let consumed = field(r, "consumed");
            let decoded = codec.decode(result);
            fails.check(id, &decoded.data, &dict(field(consumed, "result")));
            fails.check(
                &format!("{id} corrupt"),
                decoded.corrupt,
                logged_corrupt(consumed),
            );
            let ours = codec.encode_at(&dict(field(task, "dict")), now);
            let identical = flag(r, "identical_to_current_output").expect("identical flag");
            fails.check(&format!("{id} identical"), ours == result, identical);
        }
        "set_signed_cookie" => {
            let (name, value, salt) = (text(task, "name"), text(task, "value"), text(task, "salt"));
            // Old Django wrote legacy salts: tessera's legacy writer gives the same bytes.
            let legacy = CookieSigner::new(&keys).write_legacy_salt(true);
            let mut jar = CookieJar::new();
            if let Err(e) =
                jar.set_signed_at(&legacy, name, value, salt, &CookieOptions::new(), now)
            {
                return fails.push(id, format!("set_signed failed: {e}"));
            }
            let identical = flag(r, "identical_to_current_legacy_salt_output").expect("flag");
            let ours = jar
                .pending(name)
                .map(|m| m.value().to_owned())
                .unwrap_or_default();
            fails.check(&format!("{id} identical"), ours == result, identical);
            if identical {
                let header = text(produced, "header");
                fails.check(
                    &format!("{id} header"),
                    jar.set_cookie_headers(now),
                    vec![header.to_owned()],
                );
            }
            // Django 6.1.3 reads it only with the legacy-salt fallback on.
            let consumed = field(r, "consumed").as_dict().expect("consumed");
            let request =
                CookieJar::from_request_cookies([(name.to_owned(), result.to_owned())].into());
            for (setting, want) in consumed {
                let fallback = match setting.as_str() {
                    "SIGNED_COOKIE_LEGACY_SALT_FALLBACK=True" => true,
                    "SIGNED_COOKIE_LEGACY_SALT_FALLBACK=False" => false,
                    other => return fails.push(id, format!("unknown consumer setting {other}")),
                };
                let reader = CookieSigner::new(&keys).legacy_salt_fallback(fallback);
                let got = request
                    .get_signed_at(&reader, name, salt, None, now)
                    .map(Some);
                check_read(fails, &format!("{id} {setting}"), got, want);
            }
        }
        other => fails.push(id, format!("unknown old→new op {other}")),
    }
}

/// A record where Django 6.1.3 produced an artifact (`task`) that an old Django consumed.
/// tessera must produce the same artifact, and what the old version did with it follows.
fn check_new_to_old(fails: &mut Failures, r: &Value) {
    let id = id(r);
    let task = field(r, "task");
    let produced = field(r, "produced");
    let keys = keys(field(task, "settings"));
    let now = number(task, "now");
    match text(r, "op") {
        "get_signed_cookie" => {
            let (name, salt) = (text(task, "name"), text(task, "salt"));
            let jar = request_jar(text(task, "cookie_header"));
            let cookie = jar.get(name).expect("cookie").to_owned();
            // tessera reads the 6.1 cookie and signs the same bytes ...
            let signer = CookieSigner::new(&keys);
            let value = match jar.get_signed_at(&signer, name, salt, None, now) {
                Ok(v) => v,
                Err(e) => return fails.push(id, format!("tessera cannot read it: {e}")),
            };
            let ours = signer.sign_at(name, &value, salt, timestamp_of(&cookie));
            fails.check(&format!("{id} same artifact"), ours, cookie.clone());
            // ... and a reader of the old (legacy-salt only) scheme rejects it, as Django did.
            let old = TimestampSigner::builder(&keys.prefixed(COOKIE_KEY_PREFIX))
                .salt(legacy_salt(name, salt))
                .build()
                .expect("signer");
            let got = old
                .unsign_at(&cookie, None, now)
                .map(|v| Value::Str(v.to_owned()));
            check_signing_error(fails, id, got, produced);
        }
        "loads" => {
            let (input, salt) = (text(task, "input"), text(task, "salt"));
            let got = loads_at(input, &keys, salt, None, now);
            check_signing_error(fails, id, got, produced);
            if let Some(obj) = produced.get("result") {
                let ours = dumps_at(
                    obj,
                    &keys,
                    salt,
                    input.starts_with('.'),
                    timestamp_of(input),
                )
                .expect("dumps");
                fails.check(&format!("{id} same artifact"), ours.as_str(), input);
            }
        }
        "session_decode" => {
            let input = text(task, "input");
            let codec = SessionCodec::new(&keys).expect("codec");
            let decoded = codec.decode(input);
            let want = dict(field(produced, "result"));
            fails.check(id, &decoded.data, &want);
            fails.check(&format!("{id} corrupt"), decoded.corrupt, false);
            let ours = codec.encode_at(&want, timestamp_of(input));
            fails.check(&format!("{id} same artifact"), ours.as_str(), input);
        }
        other => fails.push(id, format!("unknown new→old op {other}")),
    }
}

#[test]
fn cross_version_vectors() {
    let mut fails = Failures::default();
    let all = records_py("cross_version.json");
    let mut run = 0;
    for r in &all {
        // `consumer` present: the old version produced, Django 6.1.3 consumed.
        if r.get("consumer").is_some() {
            check_old_to_new(&mut fails, r);
        } else {
            check_new_to_old(&mut fails, r);
        }
        run += 1;
    }
    assert_eq!(run, 14, "cross_version.json records");
    fails.assert_none("cross_version.json", all.len());
}

// ---------------------------------------------------------------------------
// Regressions (not from the vectors)
// ---------------------------------------------------------------------------

/// A value signed with the public cookie-signer key `"django.http.cookies" ‖ ""`.
fn forged_with_public_key(name: &str, value: &str, salt: &str, now: f64) -> String {
    TimestampSigner::builder(&SecretKeys::new(COOKIE_KEY_PREFIX))
        .salt(v2_salt(name, salt))
        .build()
        .unwrap()
        .sign_at(value, now)
}

/// An empty `SECRET_KEY` used to sign with the public key `django.http.cookies` (the prefix
/// made the key non-empty); it now signs and verifies nothing.
#[test]
fn empty_secret_key_signs_and_verifies_nothing() {
    let now = 1_700_000_000.25;
    let signer = CookieSigner::new(&SecretKeys::new(""));
    assert_eq!(signer.sign_at("c", "v", "", now), "");
    let mut jar = CookieJar::new();
    assert_eq!(
        jar.set_signed_at(&signer, "c", "v", "", &CookieOptions::new(), now),
        Err(CookieError::NoSecretKey { name: "c".into() })
    );
    assert!(!jar.has_pending());
    let forged = forged_with_public_key("c", "admin", "", now);
    let request = CookieJar::from_request_cookies([("c".to_owned(), forged)].into());
    let got = request.get_signed_at(&signer, "c", "", None, now);
    assert_eq!(
        got,
        Err(SignedCookieError::Malformed(SigningError::EmptyKey))
    );
    // A default does not hide the misconfiguration.
    let got = request.get_signed_or_at(&signer, "c", "", None, now, None);
    assert_eq!(
        got,
        Err(SignedCookieError::Malformed(SigningError::EmptyKey))
    );
}

/// An empty entry in `SECRET_KEY_FALLBACKS` (e.g. from splitting an empty environment
/// variable) stands for the current key, instead of Django's public `django.http.cookies`.
#[test]
fn empty_fallback_key_does_not_accept_public_key_signatures() {
    let now = 1_700_000_000.25;
    let keys = SecretKeys::new("current").with_fallbacks([""]);
    let signer = CookieSigner::new(&keys);
    let forged = forged_with_public_key("c", "admin", "", now);
    let request = CookieJar::from_request_cookies([("c".to_owned(), forged)].into());
    assert!(matches!(
        request.get_signed_at(&signer, "c", "", None, now),
        Err(SignedCookieError::BadSignature(_))
    ));
    let genuine = signer.sign_at("c", "v", "", now);
    assert_eq!(
        signer.unsign_at("c", &genuine, "", None, now),
        Ok("v".into())
    );
}
