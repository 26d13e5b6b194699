//! Python's `datetime`, `timedelta` and `datetime.fromisoformat`/`isoformat`, as CPython
//! computes them.
//!
//! Django stores a session's custom expiry as `datetime.isoformat()` text and reads it back
//! with `fromisoformat`, builds `timedelta(seconds=…)` from stored numbers, and subtracts
//! datetimes; [`session::expiry`](crate::session::expiry) applies Django's rules on top of
//! this. Every result, rounding and exception here is CPython's: the parser is a port of the
//! C `_datetimemodule.c`, floats round to microseconds with ties to even, and ranges are
//! checked as Python checks them (years 1 to 9999, durations up to 999999999 days).

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone,
    Timelike, Utc, Weekday,
};

use crate::json::Value;

pub(crate) const US_PER_SEC: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SEC;
/// `timedelta.max.days`: Python refuses longer durations with `OverflowError`.
const MAX_TIMEDELTA_DAYS: i64 = 999_999_999;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The exception Python raises for a datetime or timedelta it cannot build or compute: a
/// `ValueError`, `TypeError` or `OverflowError` (see [`Self::python_exception`]), with
/// CPython's message as its `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DateTimeError {
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

impl DateTimeError {
    /// The Python exception class raised in this case (`ValueError`, `TypeError` or
    /// `OverflowError`), for logs and conformance tests.
    pub fn python_exception(&self) -> &'static str {
        match self {
            DateTimeError::InvalidIsoFormat(_) | DateTimeError::InvalidValue(_) => "ValueError",
            DateTimeError::NaiveAwareMismatch | DateTimeError::UnsupportedType(_) => "TypeError",
            DateTimeError::Overflow(_) => "OverflowError",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// timedelta(seconds=…)
// ---------------------------------------------------------------------------------------------

/// Python's `timedelta(seconds=x)` for a float: the whole seconds exactly, the fraction
/// rounded to the nearest microsecond with ties to even, as CPython does.
///
/// NaN is a `ValueError`; infinities and durations beyond 999999999 days are `OverflowError`s.
pub fn timedelta_from_seconds(seconds: f64) -> Result<TimeDelta, DateTimeError> {
    let micros = float_seconds_micros(seconds)?;
    // Within ±1e9 days: both parts fit, and chrono holds ±292 million years.
    let secs = i64::try_from(micros.div_euclid(i128::from(US_PER_SEC))).unwrap_or_default();
    let nanos = micros.rem_euclid(i128::from(US_PER_SEC)) as u32 * 1000;
    TimeDelta::new(secs, nanos).ok_or(DateTimeError::Overflow("timedelta out of range"))
}

/// Microseconds of `timedelta(seconds=value)` for a stored JSON value.
pub(crate) fn timedelta_micros(value: &Value) -> Result<i128, DateTimeError> {
    match value {
        Value::Int(i) => int_seconds_micros(*i),
        Value::Bool(b) => int_seconds_micros(i64::from(*b)),
        Value::Float(f) => float_seconds_micros(*f),
        Value::BigInt(_) => Err(DateTimeError::Overflow(
            "Python int too large to convert to C int",
        )),
        Value::Null => Err(DateTimeError::UnsupportedType("NoneType")),
        Value::Str(_) | Value::Utf16(_) => Err(DateTimeError::UnsupportedType("str")),
        Value::List(_) => Err(DateTimeError::UnsupportedType("list")),
        Value::Dict(_) => Err(DateTimeError::UnsupportedType("dict")),
    }
}

pub(crate) fn int_seconds_micros(seconds: i64) -> Result<i128, DateTimeError> {
    checked_timedelta(i128::from(seconds) * i128::from(US_PER_SEC))
}

/// CPython's `delta_new`/`accum` for one float argument.
fn float_seconds_micros(seconds: f64) -> Result<i128, DateTimeError> {
    if seconds.is_nan() {
        return Err(DateTimeError::InvalidValue(
            "cannot convert float NaN to integer",
        ));
    }
    if seconds.is_infinite() {
        return Err(DateTimeError::Overflow(
            "cannot convert float infinity to integer",
        ));
    }
    let whole = seconds.trunc();
    // Far beyond the timedelta range; also keeps the casts below exact.
    if whole.abs() > 1e15 {
        return Err(DateTimeError::Overflow("timedelta out of range"));
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
fn checked_timedelta(micros: i128) -> Result<i128, DateTimeError> {
    if micros.div_euclid(i128::from(US_PER_DAY)).abs() > i128::from(MAX_TIMEDELTA_DAYS) {
        return Err(DateTimeError::Overflow(
            "days must have magnitude <= 999999999",
        ));
    }
    Ok(micros)
}

/// Whole microseconds of a chrono duration, rounded toward −∞ (Python has no nanoseconds).
pub(crate) fn floor_micros(delta: &TimeDelta) -> i128 {
    let nanos = i128::from(delta.num_seconds()) * 1_000_000_000 + i128::from(delta.subsec_nanos());
    nanos.div_euclid(1000)
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
    pub fn from_timestamp(timestamp: f64, use_tz: bool) -> Result<PyDateTime, DateTimeError> {
        if timestamp.is_nan() {
            return Err(DateTimeError::InvalidValue(
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
            return Err(DateTimeError::Overflow("timestamp out of range"));
        }
        let micros = secs as i128 * i128::from(US_PER_SEC) + us as i128;
        Self::from_local_micros(micros, use_tz.then_some(0))
    }

    /// A naive datetime. Nanoseconds are truncated to microseconds; years outside 1..=9999
    /// and leap seconds are out of Python's range.
    pub fn from_naive(local: NaiveDateTime) -> Result<PyDateTime, DateTimeError> {
        let nanos = local.nanosecond();
        if nanos >= 1_000_000_000 {
            return Err(DateTimeError::InvalidValue("second must be in 0..59"));
        }
        let local = local
            .with_nanosecond(nanos / 1000 * 1000)
            .ok_or(DateTimeError::InvalidValue("invalid time"))?;
        check_year(local)?;
        Ok(PyDateTime {
            local,
            offset_us: None,
        })
    }

    /// An aware datetime with its own offset (use `.fixed_offset()` on other chrono zones).
    pub fn from_fixed(at: DateTime<FixedOffset>) -> Result<PyDateTime, DateTimeError> {
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
    pub fn fromisoformat(s: &str) -> Result<PyDateTime, DateTimeError> {
        iso::parse(s).ok_or_else(|| DateTimeError::InvalidIsoFormat(s.to_owned()))
    }

    /// Python's `isoformat()`: `YYYY-MM-DDTHH:MM:SS`, then `.ffffff` unless the microseconds
    /// are zero, then the offset as `+HH:MM` (with `:SS[.ffffff]` when needed) if aware.
    pub fn isoformat(&self) -> String {
        let l = &self.local;
        // Every constructor holds the year to 1..=9999, so it has four digits; `format!`
        // costs a SQL store's every load ten times what this does.
        let mut out = String::with_capacity(32);
        push_digits(&mut out, l.year().unsigned_abs(), 4);
        for (sep, value) in [
            ('-', l.month()),
            ('-', l.day()),
            ('T', l.hour()),
            (':', l.minute()),
            (':', l.second()),
        ] {
            out.push(sep);
            push_digits(&mut out, value, 2);
        }
        let us = l.nanosecond() / 1000;
        if us != 0 {
            out.push('.');
            push_digits(&mut out, us, 6);
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

    fn from_local_micros(
        micros: i128,
        offset_us: Option<i64>,
    ) -> Result<PyDateTime, DateTimeError> {
        const OUT_OF_RANGE: DateTimeError = DateTimeError::Overflow("date value out of range");
        let micros = i64::try_from(micros).map_err(|_| OUT_OF_RANGE)?;
        let local = DateTime::from_timestamp_micros(micros)
            .ok_or(OUT_OF_RANGE)?
            .naive_utc();
        check_year(local).map_err(|_| OUT_OF_RANGE)?;
        Ok(PyDateTime { local, offset_us })
    }

    /// `self + timedelta(microseconds=micros)`: the wall time moves, the offset stays.
    pub(crate) fn add_micros(&self, micros: i128) -> Result<PyDateTime, DateTimeError> {
        Self::from_local_micros(i128::from(self.local_micros()) + micros, self.offset_us)
    }

    /// `self - other` in microseconds; `TypeError` when exactly one of them is aware.
    pub(crate) fn micros_since(&self, other: &PyDateTime) -> Result<i64, DateTimeError> {
        match (self.offset_us, other.offset_us) {
            (None, None) => Ok(self.local_micros() - other.local_micros()),
            (Some(a), Some(b)) => Ok((self.local_micros() - a) - (other.local_micros() - b)),
            _ => Err(DateTimeError::NaiveAwareMismatch),
        }
    }
}

fn check_year(local: NaiveDateTime) -> Result<(), DateTimeError> {
    if (1..=9999).contains(&local.year()) {
        Ok(())
    } else {
        Err(DateTimeError::InvalidValue("year is out of range"))
    }
}

/// `value` in decimal, zero-padded to at least `width` digits (`{value:0width$}`).
fn push_digits(out: &mut String, value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut rest = value;
    let mut start = digits.len();
    while rest > 0 {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let start = start.min(digits.len().saturating_sub(width));
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
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

    /// The digits `isoformat` writes by hand are `format!`'s, for every width and a sweep of
    /// datetimes over the whole range (years 1 to 9999, with and without microseconds).
    #[test]
    fn isoformat_writes_what_format_would() {
        for (value, width) in [(0, 2), (7, 2), (59, 2), (1, 4), (999, 4), (9999, 4), (0, 6)] {
            let mut out = String::new();
            push_digits(&mut out, value, width);
            assert_eq!(out, format!("{value:0width$}"));
        }
        // More digits than the width: all of them, as `format!` writes.
        let mut out = String::new();
        push_digits(&mut out, u32::MAX, 4);
        assert_eq!(out, format!("{:04}", u32::MAX));
        // 0001-01-01T00:00:00 and 9999-12-31T23:59:59, as Unix seconds.
        let (from, to) = (-62_135_596_800.0, 253_402_300_799.0);
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for i in 0..20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let share = (seed >> 11) as f64 / (1u64 << 53) as f64;
            let mut at = from + share * (to - from);
            if i % 2 == 0 {
                at = at.floor();
            }
            let d = PyDateTime::from_timestamp(at, false).unwrap();
            let l = d.naive_local();
            let mut expected = format!(
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
                expected.push_str(&format!(".{us:06}"));
            }
            assert_eq!(d.isoformat(), expected, "{at}");
        }
    }

    fn iso(s: &str) -> Result<String, DateTimeError> {
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
            Err(DateTimeError::InvalidValue(_))
        ));
        assert!(matches!(
            float_seconds_micros(f64::INFINITY),
            Err(DateTimeError::Overflow(_))
        ));
        assert!(matches!(
            float_seconds_micros(1e17),
            Err(DateTimeError::Overflow(_))
        ));
        assert!(matches!(
            float_seconds_micros(-1e300),
            Err(DateTimeError::Overflow(_))
        ));
    }

    #[test]
    fn from_timestamp_rejects_what_python_rejects() {
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
        let odd = PyDateTime::fromisoformat("2023-11-15T07:08:09+05:00:00.5").unwrap();
        assert!(odd.to_fixed_offset().is_none());
    }
}
