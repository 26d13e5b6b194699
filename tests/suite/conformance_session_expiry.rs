//! Conformance: session expiry (`session_expiry.json`, spec §11) against Django 6.1.3.
//!
//! Every record is run: `set_expiry` (stored value, session dict, the three getters now and
//! at `later_now`), `stored_expiry` and `expiry_kwargs`. The `encoded` field of `set_expiry`
//! records (the stored session string) is checked by `set_expiry_encoded_vectors` with
//! `SessionCodec::encode_at`.

use crate::common;

use common::vectors::{records, records_py, Failures};
use serde_json::Value as J;
use tessera::json::{self, Map, Value};

/// A vector's JSON value as tessera's `Value` (key order and exact numbers kept).
fn py(v: &J) -> Value {
    Value::from_serialize(v).expect("a vector value converts")
}
use tessera::session::codec::SessionCodec;
use tessera::session::expiry::{
    get_expire_at_browser_close, get_expiry_age, get_expiry_date, timedelta_from_seconds, Expiry,
    ExpiryError, ExpirySettings, PyDateTime, SESSION_EXPIRY_KEY,
};
use tessera::signing::SecretKeys;

fn settings(rec: &J) -> ExpirySettings {
    let s = &rec["settings"];
    let d = ExpirySettings::default();
    ExpirySettings {
        cookie_age: s["SESSION_COOKIE_AGE"].as_i64().unwrap_or(d.cookie_age),
        expire_at_browser_close: s["SESSION_EXPIRE_AT_BROWSER_CLOSE"]
            .as_bool()
            .unwrap_or(d.expire_at_browser_close),
        use_tz: s["USE_TZ"].as_bool().unwrap_or(d.use_tz),
    }
}

fn datetime(iso: &str) -> PyDateTime {
    PyDateTime::fromisoformat(iso).unwrap_or_else(|e| panic!("bad $datetime {iso:?}: {e}"))
}

/// The `set_expiry` argument, decoded from the vector's tagged form.
fn expiry_arg(arg: &J) -> Expiry {
    if let Some(secs) = arg.get("$timedelta_seconds").and_then(J::as_f64) {
        // The generator passed `timedelta(seconds=x)`, with Python's microsecond rounding.
        return Expiry::In(timedelta_from_seconds(secs).expect("timedelta"));
    }
    if let Some(iso) = arg.get("$datetime").and_then(J::as_str) {
        let dt = datetime(iso);
        return match dt.to_fixed_offset() {
            Some(aware) => Expiry::At(aware),
            None => Expiry::AtNaive(dt.naive_local()),
        };
    }
    match py(arg) {
        Value::Null => Expiry::Default,
        Value::Int(0) => Expiry::BrowserClose,
        Value::Int(i) => Expiry::Seconds(i),
        other => Expiry::Raw(other),
    }
}

/// Compares one outcome object (`{"result": …}` or `{"error": …}`) with ours.
fn check<T>(
    fails: &mut Failures,
    id: &str,
    what: &str,
    want: &J,
    got: Result<T, ExpiryError>,
    show: impl Fn(&T) -> Value,
) {
    match (want.get("result"), got) {
        (Some(result), Ok(v)) => {
            let (got, want) = (show(&v), py(result));
            // Value equality keeps ints and floats apart, as the JSON text does.
            if got != want {
                fails.push(id, format!("{what}: got {got:?}, want {want:?}"));
            }
        }
        (Some(result), Err(e)) => fails.push(id, format!("{what}: got error {e}, want {result}")),
        (None, Ok(v)) => fails.push(id, format!("{what}: got {:?}, want {want}", show(&v))),
        (None, Err(e)) => {
            let mro = want["error_mro"].as_array().cloned().unwrap_or_default();
            if want["error"] != e.python_exception()
                && !mro.contains(&J::from(e.python_exception()))
            {
                fails.push(id, format!("{what}: got {e:?}, want {}", want["error"]));
            }
        }
    }
}

/// The three getters for one (modification, stored expiry) pair.
fn check_getters(
    fails: &mut Failures,
    id: &str,
    prefix: &str,
    want: &J,
    modification: &PyDateTime,
    stored: Option<&Value>,
    settings: &ExpirySettings,
) {
    let age = get_expiry_age(modification, stored, settings);
    check(
        fails,
        id,
        &format!("{prefix}get_expiry_age"),
        &want["get_expiry_age"],
        age,
        |a| a.to_value(),
    );
    let date = get_expiry_date(modification, stored, settings);
    check(
        fails,
        id,
        &format!("{prefix}get_expiry_date"),
        &want["get_expiry_date"],
        date,
        |d| Value::Str(d.isoformat()),
    );
    if let Some(close) = want.get("get_expire_at_browser_close") {
        let got = Ok(get_expire_at_browser_close(stored, settings));
        check(fails, id, "get_expire_at_browser_close", close, got, |b| {
            Value::Bool(*b)
        });
    }
}

#[test]
fn session_expiry_vectors() {
    let mut fails = Failures::default();
    let mut counts = [0usize; 3];
    let all = records("session_expiry.json");
    for rec in &all {
        let id = rec["id"].as_str().expect("id");
        let want = &rec["expected"];
        let settings = settings(rec);
        let now = rec["now"].as_f64().expect("now");
        let at_now = PyDateTime::from_timestamp(now, settings.use_tz).expect("now");
        match rec["op"].as_str() {
            Some("set_expiry") => {
                counts[0] += 1;
                let mut session = Map::new();
                session.insert("x".into(), Value::Int(1));
                if let Err(e) = expiry_arg(&rec["arg"]).apply(&mut session, now, settings.use_tz) {
                    fails.push(id, format!("set_expiry failed: {e}"));
                    continue;
                }
                let stored = session.get(SESSION_EXPIRY_KEY);
                let want_stored = match &want["stored"] {
                    J::String(s) if s == "<absent>" => None,
                    v => Some(py(v)),
                };
                fails.check(id, stored, want_stored.as_ref());
                let want_dict = json::to_string(&py(&want["session_dict"]));
                fails.check(
                    id,
                    json::to_string(&Value::Dict(session.clone())),
                    want_dict,
                );
                check_getters(&mut fails, id, "", want, &at_now, stored, &settings);
                let later = &want["later"];
                let later_now = rec["later_now"].as_f64().expect("later_now");
                fails.check(id, later["now"].as_f64(), Some(later_now));
                let at_later = PyDateTime::from_timestamp(later_now, settings.use_tz).unwrap();
                check_getters(
                    &mut fails, id, "later ", later, &at_later, stored, &settings,
                );
            }
            Some("stored_expiry") => {
                counts[1] += 1;
                let stored = py(&rec["stored"]);
                check_getters(&mut fails, id, "", want, &at_now, Some(&stored), &settings);
            }
            Some("expiry_kwargs") => {
                counts[2] += 1;
                let modification = datetime(rec["modification"]["$datetime"].as_str().unwrap());
                // A datetime `expiry` and its isoformat string behave identically in both getters
                // (the string is parsed back to the same datetime), so pass the string.
                let expiry = match rec["expiry"].get("$datetime").and_then(J::as_str) {
                    Some(iso) => Value::Str(iso.to_owned()),
                    None => py(&rec["expiry"]),
                };
                check_getters(
                    &mut fails,
                    id,
                    "",
                    want,
                    &modification,
                    Some(&expiry),
                    &settings,
                );
            }
            other => fails.push(id, format!("unknown op {other:?}")),
        }
    }
    assert_eq!(
        counts,
        [48, 22, 5],
        "set_expiry / stored_expiry / expiry_kwargs records"
    );
    fails.assert_none("session_expiry.json", all.len());
}

/// `expected.encoded.result` of every `set_expiry` record: the session dict after `set_expiry`
/// as Django stores it, `SessionCodec::encode_at(session_dict, now)` byte for byte. The dict is
/// read with Python's JSON rules so ints, floats (`1.5`) and big ints stay exact.
#[test]
fn set_expiry_encoded_vectors() {
    let mut fails = Failures::default();
    let all = records_py("session_expiry.json");
    let mut run = 0;
    for rec in &all {
        if rec.get("op").and_then(Value::as_str) != Some("set_expiry") {
            continue;
        }
        run += 1;
        let id = rec.get("id").and_then(Value::as_str).expect("id");
        let settings = rec.get("settings").expect("settings");
        let key = settings
            .get("SECRET_KEY")
            .and_then(Value::as_str)
            .expect("SECRET_KEY");
        let fallbacks: Vec<&str> = match settings.get("SECRET_KEY_FALLBACKS") {
            Some(Value::List(l)) => l.iter().map(|k| k.as_str().expect("key")).collect(),
            _ => Vec::new(),
        };
        let codec =
            SessionCodec::new(&SecretKeys::new(key).with_fallbacks(fallbacks)).expect("codec");
        let now = rec.get("now").and_then(Value::as_f64).expect("now");
        let want = rec.get("expected").expect("expected");
        let Some(dict) = want.get("session_dict").and_then(Value::as_dict) else {
            fails.push(id, "no session_dict");
            continue;
        };
        match want
            .get("encoded")
            .and_then(|e| e.get("result"))
            .and_then(Value::as_str)
        {
            Some(encoded) => fails.check(id, codec.encode_at(dict, now).as_str(), encoded),
            None => fails.push(id, "no encoded.result"),
        }
    }
    assert_eq!(run, 48, "set_expiry records");
    fails.assert_none_of_part("session_expiry.json encoded", "session_expiry.json", run);
}
