//! Session expiry exactly as Django computes it (spec §11).
//!
//! Django keeps a custom expiry in the session dict under `_session_expiry`, as whatever
//! `set_expiry` was given: an int, a float, a bool, or a datetime/timedelta turned into an ISO
//! string. The getters then reinterpret that JSON value with Python's rules: falsy values mean
//! "use `SESSION_COOKIE_AGE`", numbers are returned unchanged, strings are parsed with
//! `datetime.fromisoformat` and subtracted from "now", and subtracting a naive datetime from an
//! aware one is a `TypeError`. Other Django versions and other writers share the same session
//! store, so tessera reproduces all of it, quirks included, over [`json::Value`](crate::json::Value).
//!
//! Time is always passed in explicitly (a Unix timestamp in fractional seconds, or a
//! [`PyDateTime`]), so results are reproducible and testable. Naive datetimes (`USE_TZ=False`)
//! are UTC wall-clock time: tessera behaves like Django with `TIME_ZONE = "UTC"`.
//!
//! ```
//! use tessera::json::Map;
//! use tessera::session::expiry::{self, Expiry, ExpirySettings, PyDateTime};
//!
//! let settings = ExpirySettings::default();
//! let now = 1_700_000_000.25;
//! let mut session = Map::new();
//! Expiry::In(chrono::TimeDelta::days(1)).apply(&mut session, now, settings.use_tz).unwrap();
//! let stored = session.get(expiry::SESSION_EXPIRY_KEY);
//! assert_eq!(stored.and_then(|v| v.as_str()), Some("2023-11-15T22:13:20.250000+00:00"));
//!
//! let later = PyDateTime::from_timestamp(now + 100.5, settings.use_tz).unwrap();
//! let age = expiry::get_expiry_age(&later, stored, &settings).unwrap();
//! assert_eq!(age, expiry::ExpiryAge::Seconds(86299)); // floor(86299.5)
//! ```

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeDelta, TimeZone};

use crate::json::{Map, Value};
use crate::py::datetime::{floor_micros, int_seconds_micros, timedelta_micros, US_PER_SEC};
/// Python's datetime emulation, for the conformance tests: not part of the API.
#[doc(hidden)]
pub use crate::py::datetime::{timedelta_from_seconds, PyDateTime};

/// Why an expiry could not be computed. Django's getters fail only where Python's `datetime`
/// does, so this is the exception it raises.
pub use crate::py::datetime::DateTimeError as ExpiryError;

/// The session dict key holding the custom expiry.
pub const SESSION_EXPIRY_KEY: &str = "_session_expiry";

/// Django's default `SESSION_COOKIE_AGE`: two weeks, in seconds.
pub const DEFAULT_COOKIE_AGE: i64 = 1_209_600;

// ---------------------------------------------------------------------------------------------
// Settings and results
// ---------------------------------------------------------------------------------------------

/// The Django settings the expiry getters read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpirySettings {
    /// `SESSION_COOKIE_AGE`, in seconds: the age used when no custom expiry is set.
    pub cookie_age: i64,
    /// `SESSION_EXPIRE_AT_BROWSER_CLOSE`: the answer when no custom expiry is set.
    pub expire_at_browser_close: bool,
    /// `USE_TZ`: whether "now" is an aware UTC datetime or a naive one.
    pub use_tz: bool,
}

impl Default for ExpirySettings {
    /// Django's defaults, except `USE_TZ=True` (the default of every project since Django 5.0).
    fn default() -> Self {
        ExpirySettings {
            cookie_age: DEFAULT_COOKIE_AGE,
            expire_at_browser_close: false,
            use_tz: true,
        }
    }
}

/// What `get_expiry_age` returns: normally whole seconds, but Django hands back a stored
/// non-integer value unchanged, so a float stays a float and `true` stays `true`.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpiryAge {
    /// Whole seconds: the cookie age, a stored int, or the floor of `expiry - modification`.
    Seconds(i64),
    /// A stored float, unchanged (`1.5` stays `1.5`; negative values and NaN included).
    Float(f64),
    /// Any other truthy stored value, unchanged (`true`, ints beyond 64 bits, lists, dicts).
    Other(Value),
}

impl ExpiryAge {
    /// The value as Python would serialize it.
    pub fn to_value(&self) -> Value {
        match self {
            ExpiryAge::Seconds(s) => Value::Int(*s),
            ExpiryAge::Float(f) => Value::Float(*f),
            ExpiryAge::Other(v) => v.clone(),
        }
    }

    /// The age as Python's `float(age)` gives it (`true` is 1.0); `None` for non-numbers.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ExpiryAge::Seconds(s) => Some(*s as f64),
            ExpiryAge::Float(f) => Some(*f),
            ExpiryAge::Other(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
            ExpiryAge::Other(v) => v.as_f64(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// set_expiry
// ---------------------------------------------------------------------------------------------

/// An argument to Django's `session.set_expiry(value)`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Expiry {
    /// `None`: remove the custom expiry, so the settings apply again.
    Default,
    /// `0`: the cookie expires when the browser closes.
    BrowserClose,
    /// An int: expire after this many seconds of inactivity (negative values are kept).
    Seconds(i64),
    /// An aware datetime: expire at that instant; stored as its `isoformat()`, offset kept.
    At(DateTime<FixedOffset>),
    /// A naive datetime: stored without an offset. With `USE_TZ=True`, `get_expiry_age` then
    /// fails with a `TypeError`, exactly as in Django.
    AtNaive(NaiveDateTime),
    /// A timedelta: expire at `now + delta`, stored as an ISO string (aware UTC with
    /// `USE_TZ=True`, naive otherwise). Sub-microsecond parts are floored away.
    In(TimeDelta),
    /// Any other value, stored as is: floats, bools, pre-formatted strings. `Value::Null`
    /// removes the key, like [`Expiry::Default`].
    Raw(Value),
}

impl Expiry {
    /// The JSON value Django stores under `_session_expiry`; `None` means "remove the key".
    ///
    /// `now` (Unix seconds) is read only for [`Expiry::In`].
    pub fn stored_value(&self, now: f64, use_tz: bool) -> Result<Option<Value>, ExpiryError> {
        Ok(match self {
            Expiry::Default | Expiry::Raw(Value::Null) => None,
            Expiry::BrowserClose => Some(Value::Int(0)),
            Expiry::Seconds(s) => Some(Value::Int(*s)),
            Expiry::At(dt) => Some(Value::Str(PyDateTime::from_fixed(*dt)?.isoformat())),
            Expiry::AtNaive(dt) => Some(Value::Str(PyDateTime::from_naive(*dt)?.isoformat())),
            Expiry::In(delta) => {
                let at =
                    PyDateTime::from_timestamp(now, use_tz)?.add_micros(floor_micros(delta))?;
                Some(Value::Str(at.isoformat()))
            }
            Expiry::Raw(v) => Some(v.clone()),
        })
    }

    /// `session.set_expiry(self)`: sets or removes `_session_expiry` in the session dict. An
    /// existing key keeps its position, as in a Python dict; on error the dict is unchanged.
    pub fn apply(&self, session: &mut Map, now: f64, use_tz: bool) -> Result<(), ExpiryError> {
        match self.stored_value(now, use_tz)? {
            None => {
                session.shift_remove(SESSION_EXPIRY_KEY);
            }
            Some(v) => {
                session.insert(SESSION_EXPIRY_KEY.to_owned(), v);
            }
        }
        Ok(())
    }
}

impl From<TimeDelta> for Expiry {
    fn from(delta: TimeDelta) -> Self {
        Expiry::In(delta)
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for Expiry {
    fn from(at: DateTime<Tz>) -> Self {
        Expiry::At(at.fixed_offset())
    }
}

impl From<NaiveDateTime> for Expiry {
    fn from(at: NaiveDateTime) -> Self {
        Expiry::AtNaive(at)
    }
}

impl From<i64> for Expiry {
    fn from(seconds: i64) -> Self {
        Expiry::Seconds(seconds)
    }
}

// ---------------------------------------------------------------------------------------------
// The getters
// ---------------------------------------------------------------------------------------------

/// `session.get_expiry_age(modification=…, expiry=…)`: seconds until the session expires.
///
/// `expiry` is the stored `_session_expiry` (`None` or `Some(Null)` when unset), and
/// `modification` is normally "now" ([`PyDateTime::from_timestamp`]).
/// - falsy (`null`, `0`, `0.0`, `false`, `""`, `[]`, `{}`) → `cookie_age`;
/// - a string → `floor(fromisoformat(expiry) − modification)` in seconds, or a `TypeError`
///   when one side is naive and the other aware;
/// - anything else → returned unchanged.
pub fn get_expiry_age(
    modification: &PyDateTime,
    expiry: Option<&Value>,
    settings: &ExpirySettings,
) -> Result<ExpiryAge, ExpiryError> {
    let Some(expiry) = expiry.filter(|v| v.is_truthy()) else {
        return Ok(ExpiryAge::Seconds(settings.cookie_age));
    };
    Ok(match expiry {
        Value::Str(s) => {
            let micros = PyDateTime::fromisoformat(s)?.micros_since(modification)?;
            // timedelta.days * 86400 + timedelta.seconds drops the microseconds: a floor.
            ExpiryAge::Seconds(micros.div_euclid(US_PER_SEC))
        }
        Value::Int(i) => ExpiryAge::Seconds(*i),
        Value::Float(f) => ExpiryAge::Float(*f),
        other => ExpiryAge::Other(other.clone()),
    })
}

/// `session.get_expiry_date(modification=…, expiry=…)`: when the session expires.
///
/// A stored string is parsed and returned as is (aware or naive, no subtraction, so never a
/// `TypeError`; even `""` is parsed and fails). Otherwise the result is
/// `modification + timedelta(seconds=expiry or cookie_age)`, with Python's rounding of float
/// seconds to microseconds.
pub fn get_expiry_date(
    modification: &PyDateTime,
    expiry: Option<&Value>,
    settings: &ExpirySettings,
) -> Result<PyDateTime, ExpiryError> {
    if let Some(Value::Str(s)) = expiry {
        return PyDateTime::fromisoformat(s);
    }
    let micros = match expiry.filter(|v| v.is_truthy()) {
        Some(seconds) => timedelta_micros(seconds)?,
        None => int_seconds_micros(settings.cookie_age)?,
    };
    modification.add_micros(micros)
}

/// `session.get_expire_at_browser_close()`: the setting when no custom expiry is stored,
/// otherwise `expiry == 0` (true for `0`, `0.0`, `-0.0` and `false`).
pub fn get_expire_at_browser_close(expiry: Option<&Value>, settings: &ExpirySettings) -> bool {
    match expiry {
        None | Some(Value::Null) => settings.expire_at_browser_close,
        Some(Value::Int(0) | Value::Bool(false)) => true,
        Some(Value::Float(f)) => *f == 0.0,
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::NaiveDate;

    #[test]
    fn no_panics_on_extremes() {
        let s = ExpirySettings::default();
        let now = PyDateTime::from_timestamp(1_700_000_000.25, true).unwrap();
        for v in [
            Value::Int(i64::MAX),
            Value::Int(i64::MIN),
            Value::Float(f64::MAX),
            Value::Float(f64::MIN_POSITIVE),
            Value::Float(f64::NAN),
            Value::Float(f64::NEG_INFINITY),
            Value::BigInt("123456789012345678901234567890".into()),
            Value::Bool(true),
            Value::List(vec![Value::Int(1)]),
            Value::Str("9999-12-31T23:59:59.999999-23:59".into()),
            Value::Str("\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}".into()),
            Value::Str("2023-W53-1".into()),
        ] {
            let _ = get_expiry_age(&now, Some(&v), &s);
            let _ = get_expiry_date(&now, Some(&v), &s);
            let _ = get_expire_at_browser_close(Some(&v), &s);
        }
        assert!(Expiry::In(TimeDelta::MAX).stored_value(0.0, true).is_err());
        assert!(Expiry::In(TimeDelta::MIN).stored_value(0.0, false).is_err());
        let far = NaiveDate::from_ymd_opt(10_000, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        assert!(Expiry::AtNaive(far).stored_value(0.0, true).is_err());
    }

    #[test]
    fn odd_stored_values() {
        let s = ExpirySettings::default();
        let now = PyDateTime::from_timestamp(1_700_000_000.25, true).unwrap();
        // `True` is returned unchanged as the age, and is one second for the date.
        let t = Value::Bool(true);
        assert_eq!(
            get_expiry_age(&now, Some(&t), &s),
            Ok(ExpiryAge::Other(t.clone()))
        );
        assert_eq!(
            get_expiry_date(&now, Some(&t), &s).unwrap().isoformat(),
            "2023-11-14T22:13:21.250000+00:00"
        );
        // "" is falsy for the age but still parsed for the date.
        let empty = Value::Str(String::new());
        assert_eq!(
            get_expiry_age(&now, Some(&empty), &s),
            Ok(ExpiryAge::Seconds(1_209_600))
        );
        assert!(matches!(
            get_expiry_date(&now, Some(&empty), &s),
            Err(ExpiryError::InvalidIsoFormat(_))
        ));
        let list = Value::List(vec![Value::Int(1)]);
        assert_eq!(
            get_expiry_date(&now, Some(&list), &s).map_err(|e| e.python_exception()),
            Err("TypeError")
        );
        assert!(get_expire_at_browser_close(Some(&Value::Float(-0.0)), &s));
        assert!(get_expire_at_browser_close(Some(&Value::Bool(false)), &s));
        assert!(!get_expire_at_browser_close(
            Some(&Value::Str("0".into())),
            &s
        ));
        // Microseconds below zero floor: −10.5 s → −11.
        let past = Value::Str("2023-11-14T22:13:09.750000+00:00".into());
        assert_eq!(
            get_expiry_age(&now, Some(&past), &s),
            Ok(ExpiryAge::Seconds(-11))
        );
    }

    #[test]
    fn expiry_from_chrono() {
        let at = DateTime::parse_from_rfc3339("2023-11-16T03:43:20.250000123+05:30").unwrap();
        assert_eq!(Expiry::from(at), Expiry::At(at));
        assert_eq!(
            Expiry::from(at.naive_local()),
            Expiry::AtNaive(at.naive_local())
        );
        assert_eq!(
            Expiry::from(TimeDelta::days(1)),
            Expiry::In(TimeDelta::days(1))
        );
        assert_eq!(Expiry::from(5), Expiry::Seconds(5));
    }

    #[test]
    fn apply_keeps_dict_order() {
        let mut m = Map::new();
        m.insert("a".into(), Value::Int(1));
        Expiry::Seconds(5).apply(&mut m, 0.0, true).unwrap();
        m.insert("b".into(), Value::Int(2));
        Expiry::BrowserClose.apply(&mut m, 0.0, true).unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", SESSION_EXPIRY_KEY, "b"]);
        Expiry::Raw(Value::Null).apply(&mut m, 0.0, true).unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
        Expiry::Default.apply(&mut m, 0.0, true).unwrap();
        assert_eq!(m.len(), 2);
    }
}
