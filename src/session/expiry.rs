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

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone,
    Timelike, Utc, Weekday,
};

use crate::json::{Map, Value};

/// The session dict key holding the custom expiry.
pub const SESSION_EXPIRY_KEY: &str = "_session_expiry";

/// Django's default `SESSION_COOKIE_AGE`: two weeks, in seconds.
pub const DEFAULT_COOKIE_AGE: i64 = 1_209_600;

const US_PER_SEC: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SEC;
/// `timedelta.max.days`: Python refuses longer durations with `OverflowError`.
const MAX_TIMEDELTA_DAYS: i64 = 999_999_999;

// ---------------------------------------------------------------------------------------------
// Settings, errors, results
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

/// Why an expiry could not be computed. Each variant is the exception Django would raise; see
/// [`ExpiryError::python_exception`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    /// A stored string that `datetime.fromisoformat` rejects (`ValueError`), including
    /// out-of-range fields such as month 13 or an offset of 24 hours.
    #[error("Invalid isoformat string: {0:?}")]
    InvalidIsoFormat(String),
    /// An aware and a naive datetime were subtracted (`TypeError`): the stored string was
    /// written with the other `USE_TZ` setting.
    #[error("can't subtract offset-naive and offset-aware datetimes")]
    NaiveAwareMismatch,
    /// A stored value that cannot be a number of seconds (`TypeError`), e.g. a list; carries
    /// the Python type name.
    #[error("unsupported type for timedelta seconds component: {0}")]
    UnsupportedType(&'static str),
    /// A value Python rejects as such (`ValueError`), e.g. NaN seconds.
    #[error("{0}")]
    InvalidValue(&'static str),
    /// A date outside years 1..=9999 or a duration beyond 999999999 days (`OverflowError`).
    #[error("{0}")]
    Overflow(&'static str),
}

impl ExpiryError {
    /// The Python exception class Django raises in this case (`ValueError`, `TypeError` or
    /// `OverflowError`), for logs and conformance tests.
    pub fn python_exception(&self) -> &'static str {
        match self {
            ExpiryError::InvalidIsoFormat(_) | ExpiryError::InvalidValue(_) => "ValueError",
            ExpiryError::NaiveAwareMismatch | ExpiryError::UnsupportedType(_) => "TypeError",
            ExpiryError::Overflow(_) => "OverflowError",
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

/// Whole microseconds of a chrono duration, rounded toward −∞ (Python has no nanoseconds).
fn floor_micros(delta: &TimeDelta) -> i128 {
    let nanos = i128::from(delta.num_seconds()) * 1_000_000_000 + i128::from(delta.subsec_nanos());
    nanos.div_euclid(1000)
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

// ---------------------------------------------------------------------------------------------
// timedelta(seconds=…)
// ---------------------------------------------------------------------------------------------

/// Python's `timedelta(seconds=x)` for a float: the whole seconds exactly, the fraction
/// rounded to the nearest microsecond with ties to even, as CPython does.
///
/// NaN is a `ValueError`; infinities and durations beyond 999999999 days are `OverflowError`s.
pub fn timedelta_from_seconds(seconds: f64) -> Result<TimeDelta, ExpiryError> {
    let micros = float_seconds_micros(seconds)?;
    // Within ±1e9 days: both parts fit, and chrono holds ±292 million years.
    let secs = i64::try_from(micros.div_euclid(i128::from(US_PER_SEC))).unwrap_or_default();
    let nanos = micros.rem_euclid(i128::from(US_PER_SEC)) as u32 * 1000;
    TimeDelta::new(secs, nanos).ok_or(ExpiryError::Overflow("timedelta out of range"))
}

/// Microseconds of `timedelta(seconds=value)` for a stored JSON value.
fn timedelta_micros(value: &Value) -> Result<i128, ExpiryError> {
    match value {
        Value::Int(i) => int_seconds_micros(*i),
        Value::Bool(b) => int_seconds_micros(i64::from(*b)),
        Value::Float(f) => float_seconds_micros(*f),
        Value::BigInt(_) => Err(ExpiryError::Overflow(
            "Python int too large to convert to C int",
        )),
        Value::Null => Err(ExpiryError::UnsupportedType("NoneType")),
        Value::Str(_) => Err(ExpiryError::UnsupportedType("str")),
        Value::List(_) => Err(ExpiryError::UnsupportedType("list")),
        Value::Dict(_) => Err(ExpiryError::UnsupportedType("dict")),
    }
}

fn int_seconds_micros(seconds: i64) -> Result<i128, ExpiryError> {
    checked_timedelta(i128::from(seconds) * i128::from(US_PER_SEC))
}

/// CPython's `delta_new`/`accum` for one float argument.
fn float_seconds_micros(seconds: f64) -> Result<i128, ExpiryError> {
    if seconds.is_nan() {
        return Err(ExpiryError::InvalidValue(
            "cannot convert float NaN to integer",
        ));
    }
    if seconds.is_infinite() {
        return Err(ExpiryError::Overflow(
            "cannot convert float infinity to integer",
        ));
    }
    let whole = seconds.trunc();
    // Far beyond the timedelta range; also keeps the casts below exact.
    if whole.abs() > 1e15 {
        return Err(ExpiryError::Overflow("timedelta out of range"));
    }
    let mut micros = whole as i128 * i128::from(US_PER_SEC);
    let frac = seconds - whole;
    if frac != 0.0 {
        let scaled = frac * 1e6;
        let whole_us = scaled.trunc();
        micros += whole_us as i128;
        let leftover = scaled - whole_us;
        if leftover != 0.0 {
            let mut rounded = leftover.round();
            if (rounded - leftover).abs() == 0.5 {
                // Ties go to even, judged on the microseconds accumulated so far.
                let odd = (micros & 1) as f64;
                rounded = 2.0 * ((leftover + odd) * 0.5).round() - odd;
            }
            micros += rounded as i128;
        }
    }
    checked_timedelta(micros)
}

/// Python's `timedelta` range check: at most 999999999 days either way (in microseconds
/// that is beyond `i64`, hence `i128` throughout).
fn checked_timedelta(micros: i128) -> Result<i128, ExpiryError> {
    if micros.div_euclid(i128::from(US_PER_DAY)).abs() > i128::from(MAX_TIMEDELTA_DAYS) {
        return Err(ExpiryError::Overflow(
            "days must have magnitude <= 999999999",
        ));
    }
    Ok(micros)
}

// ---------------------------------------------------------------------------------------------
// PyDateTime
// ---------------------------------------------------------------------------------------------

/// A Python `datetime`: microsecond precision, years 1 to 9999, either naive or aware with a
/// fixed UTC offset (which, unlike chrono's, may have microseconds: `+05:30:00.5`).
///
/// Equality is structural (same wall time and same offset), not Python's instant equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDateTime {
    /// Wall-clock time; sub-microsecond nanoseconds are always zero.
    local: NaiveDateTime,
    /// UTC offset in microseconds, strictly within ±24 h; `None` for a naive datetime.
    offset_us: Option<i64>,
}

impl PyDateTime {
    /// Django's `timezone.now()` for a Unix timestamp: aware UTC when `use_tz`, otherwise
    /// naive UTC wall-clock time. The fraction is rounded to microseconds with ties to even,
    /// as `datetime.fromtimestamp` does.
    pub fn from_timestamp(timestamp: f64, use_tz: bool) -> Result<PyDateTime, ExpiryError> {
        if timestamp.is_nan() {
            return Err(ExpiryError::InvalidValue(
                "Invalid value NaN (not a number)",
            ));
        }
        let mut secs = timestamp.trunc();
        let mut us = round_half_even((timestamp - secs) * 1e6);
        if us >= 1e6 {
            us -= 1e6;
            secs += 1.0;
        } else if us < 0.0 {
            us += 1e6;
            secs -= 1.0;
        }
        // Years 1..=9999 are within ±3e11 s of the epoch; this also rejects infinities.
        if secs.abs() > 1e12 {
            return Err(ExpiryError::Overflow("timestamp out of range"));
        }
        let micros = secs as i128 * i128::from(US_PER_SEC) + us as i128;
        Self::from_local_micros(micros, use_tz.then_some(0))
    }

    /// A naive datetime. Nanoseconds are truncated to microseconds; years outside 1..=9999
    /// and leap seconds are out of Python's range.
    pub fn from_naive(local: NaiveDateTime) -> Result<PyDateTime, ExpiryError> {
        let nanos = local.nanosecond();
        if nanos >= 1_000_000_000 {
            return Err(ExpiryError::InvalidValue("second must be in 0..59"));
        }
        let local = local
            .with_nanosecond(nanos / 1000 * 1000)
            .ok_or(ExpiryError::InvalidValue("invalid time"))?;
        check_year(local)?;
        Ok(PyDateTime {
            local,
            offset_us: None,
        })
    }

    /// An aware datetime with its own offset (use `.fixed_offset()` on other chrono zones).
    pub fn from_fixed(at: DateTime<FixedOffset>) -> Result<PyDateTime, ExpiryError> {
        let offset = i64::from(at.offset().local_minus_utc()) * US_PER_SEC;
        Ok(PyDateTime {
            offset_us: Some(offset),
            ..Self::from_naive(at.naive_local())?
        })
    }

    /// Python 3.11+ `datetime.fromisoformat`, ported from CPython's C implementation
    /// (`_datetimemodule.c`, as shipped in 3.11 to 3.13).
    ///
    /// Accepts `YYYY-MM-DD`, `YYYYMMDD` and ISO week dates (`2023-W46-3`, `2023W463`), then
    /// any one character as separator, then `HH[:MM[:SS[.f+]]]` (or without colons; `,`
    /// works as the decimal mark; digits beyond the sixth are truncated, not rounded), then an
    /// optional `Z` or `±HH[:MM[:SS[.f+]]]` offset. Quirks kept: `24:00` is rejected (accepted
    /// only from Python 3.14), an offset of `+05:99` means +06:39, and an offset of zero with
    /// microseconds is plain UTC. Everything else is a `ValueError`.
    pub fn fromisoformat(s: &str) -> Result<PyDateTime, ExpiryError> {
        iso::parse(s).ok_or_else(|| ExpiryError::InvalidIsoFormat(s.to_owned()))
    }

    /// Python's `isoformat()`: `YYYY-MM-DDTHH:MM:SS`, then `.ffffff` unless the microseconds
    /// are zero, then the offset as `+HH:MM` (with `:SS[.ffffff]` when needed) if aware.
    pub fn isoformat(&self) -> String {
        let l = &self.local;
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            l.year(),
            l.month(),
            l.day(),
            l.hour(),
            l.minute(),
            l.second()
        );
        let us = l.nanosecond() / 1000;
        if us != 0 {
            out.push_str(&format!(".{us:06}"));
        }
        if let Some(offset) = self.offset_us {
            let sign = if offset < 0 { '-' } else { '+' };
            let abs = offset.unsigned_abs();
            let secs = abs / 1_000_000;
            out.push_str(&format!("{sign}{:02}:{:02}", secs / 3600, secs / 60 % 60));
            let (ss, us) = (secs % 60, abs % 1_000_000);
            if ss != 0 || us != 0 {
                out.push_str(&format!(":{ss:02}"));
                if us != 0 {
                    out.push_str(&format!(".{us:06}"));
                }
            }
        }
        out
    }

    /// Whether this datetime has a UTC offset.
    pub fn is_aware(&self) -> bool {
        self.offset_us.is_some()
    }

    /// The wall-clock date and time, without the offset.
    pub fn naive_local(&self) -> NaiveDateTime {
        self.local
    }

    /// The UTC offset, `None` if naive.
    pub fn utc_offset(&self) -> Option<TimeDelta> {
        self.offset_us.map(TimeDelta::microseconds)
    }

    /// The instant in UTC, `None` if naive.
    pub fn to_utc(&self) -> Option<DateTime<Utc>> {
        let offset = TimeDelta::microseconds(self.offset_us?);
        Some(self.local.checked_sub_signed(offset)?.and_utc())
    }

    /// As a chrono datetime with its offset; `None` if naive or if the offset has a fraction
    /// of a second, which chrono cannot hold.
    pub fn to_fixed_offset(&self) -> Option<DateTime<FixedOffset>> {
        let offset_us = self.offset_us?;
        if offset_us % US_PER_SEC != 0 {
            return None;
        }
        let offset = FixedOffset::east_opt(i32::try_from(offset_us / US_PER_SEC).ok()?)?;
        offset.from_local_datetime(&self.local).single()
    }

    fn local_micros(&self) -> i64 {
        self.local.and_utc().timestamp_micros()
    }

    fn from_local_micros(micros: i128, offset_us: Option<i64>) -> Result<PyDateTime, ExpiryError> {
        const OUT_OF_RANGE: ExpiryError = ExpiryError::Overflow("date value out of range");
        let micros = i64::try_from(micros).map_err(|_| OUT_OF_RANGE)?;
        let local = DateTime::from_timestamp_micros(micros)
            .ok_or(OUT_OF_RANGE)?
            .naive_utc();
        check_year(local).map_err(|_| OUT_OF_RANGE)?;
        Ok(PyDateTime { local, offset_us })
    }

    /// `self + timedelta(microseconds=micros)`: the wall time moves, the offset stays.
    fn add_micros(&self, micros: i128) -> Result<PyDateTime, ExpiryError> {
        Self::from_local_micros(i128::from(self.local_micros()) + micros, self.offset_us)
    }

    /// `self - other` in microseconds; `TypeError` when exactly one of them is aware.
    fn micros_since(&self, other: &PyDateTime) -> Result<i64, ExpiryError> {
        match (self.offset_us, other.offset_us) {
            (None, None) => Ok(self.local_micros() - other.local_micros()),
            (Some(a), Some(b)) => Ok((self.local_micros() - a) - (other.local_micros() - b)),
            _ => Err(ExpiryError::NaiveAwareMismatch),
        }
    }
}

fn check_year(local: NaiveDateTime) -> Result<(), ExpiryError> {
    if (1..=9999).contains(&local.year()) {
        Ok(())
    } else {
        Err(ExpiryError::InvalidValue("year is out of range"))
    }
}

/// C's `round()` is half away from zero, as `f64::round`; CPython then fixes ties to even.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - r).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// A line-by-line port of CPython's C `datetime.fromisoformat`.
///
/// The C code walks a NUL-terminated UTF-8 buffer and sometimes reads the terminator (or an
/// embedded NUL) to decide; [`at`] reproduces that by answering 0 past the end.
mod iso {
    use super::*;

    fn at(s: &[u8], i: usize) -> u8 {
        s.get(i).copied().unwrap_or(0)
    }

    /// Exactly `n` ASCII digits at `*p`, advancing past them.
    fn digits(s: &[u8], p: &mut usize, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = at(s, *p).wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + u32::from(d);
            *p += 1;
        }
        Some(v)
    }

    struct Parsed {
        date: NaiveDate,
        /// hour, minute, second, microsecond (not yet range-checked).
        time: [u32; 4],
        /// Seconds and microseconds of the offset, each carrying the sign.
        offset: Option<(i64, i64)>,
    }

    pub(super) fn parse(s: &str) -> Option<PyDateTime> {
        let p = parse_parts(s)?;
        let [h, m, sec, us] = p.time;
        let time = NaiveTime::from_hms_micro_opt(h, m, sec, us).filter(|_| us < 1_000_000)?;
        let local = p.date.and_time(time);
        check_year(local).ok()?;
        let offset_us = match p.offset {
            None => None,
            // An offset of zero seconds is `timezone.utc`, whatever its microseconds.
            Some((0, _)) => Some(0),
            Some((secs, us)) => {
                // `timezone()` wants strictly less than 24 hours either way.
                let total = secs * US_PER_SEC + us;
                if total.abs() >= US_PER_DAY {
                    return None;
                }
                Some(total)
            }
        };
        Some(PyDateTime { local, offset_us })
    }

    fn parse_parts(s: &str) -> Option<Parsed> {
        // All valid strings have at least 7 code points (checked before encoding to UTF-8).
        if s.chars().count() < 7 {
            return None;
        }
        let b = s.as_bytes();
        let sep = find_separator(b)?;
        let date = parse_date(b, sep)?;
        let mut time = [0; 4];
        let mut offset = None;
        if b.len() > sep {
            // Skip the separator, whatever character it is.
            let lead = b[sep];
            let width = match lead {
                _ if lead & 0x80 == 0 => 1,
                _ if lead & 0xf0 == 0xe0 => 3,
                _ if lead & 0xf0 == 0xf0 => 4,
                _ => 2,
            };
            (time, offset) = parse_time(b, sep + width)?;
        }
        Some(Parsed { date, time, offset })
    }

    /// Where the date ends: 7, 8 or 10 depending on the date format (see CPython's table).
    fn find_separator(b: &[u8]) -> Option<usize> {
        let len = b.len();
        if len == 7 {
            return Some(7);
        }
        if at(b, 4) == b'-' {
            if at(b, 5) != b'W' {
                return Some(10); // YYYY-MM-DD
            }
            if len < 8 {
                return None;
            }
            if len > 8 && at(b, 8) == b'-' {
                if len == 9 {
                    return None;
                }
                // YYYY-Www-D, unless it is YYYY-Www-HH with a '-' separator.
                return Some(if len > 10 && at(b, 10).is_ascii_digit() {
                    8
                } else {
                    10
                });
            }
            Some(8) // YYYY-Www
        } else if at(b, 4) == b'W' {
            // YYYYWww or YYYYWwwd: an odd number of digits before the time means Wwwd.
            let mut idx = 7;
            while idx < len && at(b, idx).is_ascii_digit() {
                idx += 1;
            }
            Some(if idx < 9 {
                idx
            } else if idx % 2 == 0 {
                7
            } else {
                8
            })
        } else {
            Some(8) // YYYYMMDD
        }
    }

    fn parse_date(b: &[u8], len: usize) -> Option<NaiveDate> {
        let mut p = 0;
        let year = digits(b, &mut p, 4)?;
        let uses_sep = at(b, p) == b'-';
        if uses_sep {
            p += 1;
        }
        if at(b, p) == b'W' {
            p += 1;
            let week = digits(b, &mut p, 2)?;
            let mut day = 1;
            if p < len {
                if uses_sep {
                    if at(b, p) != b'-' {
                        return None;
                    }
                    p += 1;
                }
                day = digits(b, &mut p, 1)?;
            }
            let weekday = match day {
                1..=7 => Weekday::try_from(u8::try_from(day - 1).ok()?).ok()?,
                _ => return None,
            };
            // Same rule as CPython: week 53 only in years that have one. The year range is
            // checked on the resulting date.
            return NaiveDate::from_isoywd_opt(i32::try_from(year).ok()?, week, weekday);
        }
        let month = digits(b, &mut p, 2)?;
        if uses_sep {
            if at(b, p) != b'-' {
                return None;
            }
            p += 1;
        }
        let day = digits(b, &mut p, 2)?;
        NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
    }

    /// `HH[:?MM[:?SS[{.,}f+]]]` between `start` and `end`. The flag is C's return value 1:
    /// something other than the end of the string follows.
    fn parse_hh_mm_ss_ff(b: &[u8], start: usize, end: usize) -> Option<([u32; 4], bool)> {
        let mut vals = [0u32; 4];
        let mut p = start;
        let mut has_sep = true;
        for (i, val) in vals.iter_mut().take(3).enumerate() {
            *val = digits(b, &mut p, 2)?;
            let c = at(b, p);
            p += 1;
            if i == 0 {
                has_sep = c == b':';
            }
            if p >= end {
                return Some((vals, c != 0));
            } else if has_sep && c == b':' {
                continue;
            } else if c == b'.' || c == b',' {
                break;
            } else if !has_sep {
                p -= 1;
            } else {
                return None;
            }
        }
        // Fraction: up to six digits count, further digits are skipped.
        let to_parse = end.saturating_sub(p).min(6);
        let mut us = digits(b, &mut p, to_parse)?;
        if (1..6).contains(&to_parse) {
            us *= 10u32.pow(6 - to_parse as u32);
        }
        while at(b, p).is_ascii_digit() {
            p += 1;
        }
        vals[3] = us;
        Some((vals, at(b, p) != 0))
    }

    #[allow(clippy::type_complexity)]
    fn parse_time(b: &[u8], start: usize) -> Option<([u32; 4], Option<(i64, i64)>)> {
        let end = b.len();
        let mut tz = start;
        loop {
            if matches!(at(b, tz), b'Z' | b'+' | b'-') {
                break;
            }
            tz += 1;
            if tz >= end {
                break;
            }
        }
        let (time, more) = parse_hh_mm_ss_ff(b, start, tz)?;
        if tz == end {
            // No offset: anything left over is an error.
            return (!more).then_some((time, None));
        }
        if at(b, tz) == b'Z' {
            return (at(b, tz + 1) == 0).then_some((time, Some((0, 0))));
        }
        let sign = if at(b, tz) == b'-' { -1 } else { 1 };
        let ([h, m, s, us], more) = parse_hh_mm_ss_ff(b, tz + 1, end)?;
        if more {
            return None;
        }
        let secs = i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s);
        Some((time, Some((sign * secs, sign * i64::from(us)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> Result<String, ExpiryError> {
        PyDateTime::fromisoformat(s).map(|d| d.isoformat())
    }

    /// Outputs of CPython 3.11.7's C `datetime.fromisoformat(s).isoformat()` (the parser is
    /// unchanged in 3.13.0, which produced the vectors); `None` = `ValueError`.
    const PYTHON_FROMISOFORMAT: &[(&str, Option<&str>)] = &[
        ("2023-11-15T22:13:20.", None),
        ("2023-11-15T22:13:20:5", Some("2023-11-15T22:13:20.500000")),
        ("2023-11-15T2213205", None),
        ("2031-05-06X07:08:09", Some("2031-05-06T07:08:09")),
        ("2023-11-15T", None),
        ("2023-11-15T24:00", None),
        (
            "2023-11-15T07:08:09+05:99",
            Some("2023-11-15T07:08:09+06:39"),
        ),
        (
            "2023-11-15T07:08:09+00:00:00.5",
            Some("2023-11-15T07:08:09+00:00"),
        ),
        ("2023-11-15T07:08:09+24:00", None),
        (
            "2023-11-15T07:08:09+23:59:59.999999",
            Some("2023-11-15T07:08:09+23:59:59.999999"),
        ),
        (
            "2023-11-15T07:08:09.123456\0",
            Some("2023-11-15T07:08:09.123456"),
        ),
        ("2023W01", Some("2023-01-02T00:00:00")),
        ("2023-W01-3T10", Some("2023-01-04T10:00:00")),
        ("20231115T221320", Some("2023-11-15T22:13:20")),
        (
            "2023-11-15 22:13:20.1234567890123+05:30",
            Some("2023-11-15T22:13:20.123456+05:30"),
        ),
        (
            "2023-11-15T22:13:20,5Z",
            Some("2023-11-15T22:13:20.500000+00:00"),
        ),
        ("2023-11-15T22:13:20.5 ", None),
        ("0000-01-01", None),
        ("2023-11-15é07:08", Some("2023-11-15T07:08:00")),
        (
            "2023-11-15T07:08:09-0530",
            Some("2023-11-15T07:08:09-05:30"),
        ),
        ("2023-11-15T07:08:09-05", Some("2023-11-15T07:08:09-05:00")),
        (
            "2023-11-15T07:08:09+05:30:15",
            Some("2023-11-15T07:08:09+05:30:15"),
        ),
        (
            "2023-11-15T07:08:09+05:30:15.25",
            Some("2023-11-15T07:08:09+05:30:15.250000"),
        ),
        ("2023-11-15T07+05", Some("2023-11-15T07:00:00+05:00")),
        ("2023-11-15T07:08:09.+05", Some("2023-11-15T07:08:09+05:00")),
        ("2023-11-15T07:08:09Z+05", None),
        ("2023-11-1507:08", None),
        (
            "2023-11-15T07:08:09.1-05:00.1",
            Some("2023-11-15T07:08:09.100000-05:00:00.100000"),
        ),
        ("9999-W52-5", Some("9999-12-31T00:00:00")),
        ("9999-W52-6", None),
        ("0001-W01-1", Some("0001-01-01T00:00:00")),
        ("garbage", None),
        ("", None),
    ];

    #[test]
    fn fromisoformat_matches_cpython() {
        for (input, want) in PYTHON_FROMISOFORMAT {
            let got = iso(input).ok();
            assert_eq!(got.as_deref(), *want, "{input:?}");
        }
    }

    #[test]
    fn timedelta_float_rounding_matches_cpython() {
        // timedelta(seconds=x) // timedelta(microseconds=1) in CPython.
        for (secs, micros) in [
            (90.000005, 90_000_005),
            (3.7, 3_700_000),
            (0.5e-6, 0),
            (1.5e-6, 2),
            (2.5e-6, 2),
            (-0.5e-6, 0),
            (-1.5e-6, -2),
            (-90.000005, -90_000_005),
            (1e-7, 0),
            (86_399_999_999_999.99, 86_399_999_999_999_984_375),
            (1.0000005, 1_000_001),
            (3.5e-6, 4),
            (12345.6789015, 12_345_678_901),
        ] {
            assert_eq!(float_seconds_micros(secs), Ok(micros), "{secs}");
            let td = timedelta_from_seconds(secs).unwrap();
            assert_eq!(floor_micros(&td), micros, "{secs}");
        }
        assert!(matches!(
            float_seconds_micros(f64::NAN),
            Err(ExpiryError::InvalidValue(_))
        ));
        assert!(matches!(
            float_seconds_micros(f64::INFINITY),
            Err(ExpiryError::Overflow(_))
        ));
        assert!(matches!(
            float_seconds_micros(1e17),
            Err(ExpiryError::Overflow(_))
        ));
        assert!(matches!(
            float_seconds_micros(-1e300),
            Err(ExpiryError::Overflow(_))
        ));
    }

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
        for ts in [
            f64::NAN,
            f64::INFINITY,
            -1e300,
            1e300,
            -62_135_596_800.5,
            253_402_300_800.0,
        ] {
            assert!(PyDateTime::from_timestamp(ts, true).is_err(), "{ts}");
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
    fn chrono_round_trips() {
        let at = DateTime::parse_from_rfc3339("2023-11-16T03:43:20.250000123+05:30").unwrap();
        let py = PyDateTime::from_fixed(at).unwrap();
        assert_eq!(py.isoformat(), "2023-11-16T03:43:20.250000+05:30");
        assert_eq!(
            py.to_fixed_offset().unwrap(),
            at.with_nanosecond(250_000_000).unwrap()
        );
        assert_eq!(
            py.to_utc().unwrap().to_rfc3339(),
            "2023-11-15T22:13:20.250+00:00"
        );
        assert_eq!(py.utc_offset(), Some(TimeDelta::minutes(330)));
        let naive = PyDateTime::from_naive(at.naive_local()).unwrap();
        assert!(!naive.is_aware() && naive.to_utc().is_none());
        assert_eq!(Expiry::from(at), Expiry::At(at));
        let odd = PyDateTime::fromisoformat("2023-11-15T07:08:09+05:00:00.5").unwrap();
        assert!(odd.to_fixed_offset().is_none());
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
