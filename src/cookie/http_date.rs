//! `expires` dates in Django's format (`django.utils.http.http_date`).
//!
//! Django formats with `email.utils.formatdate(t, usegmt=True)`, which goes
//! through `datetime.fromtimestamp`: the float is first rounded to whole
//! microseconds (half to even) and only then truncated to seconds. Doing the
//! same keeps `expires` identical to Django's at second boundaries.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Earliest second Python's `datetime` can represent: 0001-01-01T00:00:00Z.
const MIN_UNIX_SECONDS: i64 = -62_135_596_800;
/// Latest second Python's `datetime` can represent: 9999-12-31T23:59:59Z.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats a Unix time as an HTTP date: `Tue, 14 Nov 2023 23:13:20 GMT`.
///
/// Seconds are obtained as Python does (round to microseconds, then floor).
/// Python raises for times outside years 1–9999; this function never fails:
/// such times are clamped to `Mon, 01 Jan 0001 00:00:00 GMT` or
/// `Fri, 31 Dec 9999 23:59:59 GMT`, and NaN is treated as the epoch.
///
/// ```
/// use tessera::cookie::http_date;
/// assert_eq!(http_date(1700003600.25), "Tue, 14 Nov 2023 23:13:20 GMT");
/// assert_eq!(http_date(1e300), "Fri, 31 Dec 9999 23:59:59 GMT");
/// ```
pub fn http_date(unix_seconds: f64) -> String {
    let mut out = String::with_capacity(HTTP_DATE_LEN);
    push_http_date(&mut out, unix_seconds);
    out
}

/// The length of every HTTP date this module writes (years are four digits).
pub(crate) const HTTP_DATE_LEN: usize = 29;

thread_local! {
    /// The last second formatted on this thread: a session cookie's `expires` is "now plus a
    /// fixed age", so consecutive responses nearly always share it.
    static LAST_DATE: std::cell::Cell<(i64, [u8; HTTP_DATE_LEN])> =
        const { std::cell::Cell::new((i64::MIN, [0; HTTP_DATE_LEN])) };
}

/// Appends [`http_date`]`(unix_seconds)` to `out`, reusing the last formatted second.
pub(crate) fn push_http_date(out: &mut String, unix_seconds: f64) {
    let (seconds, _) = split_timestamp(unix_seconds);
    let (cached, bytes) = LAST_DATE.get();
    if cached == seconds {
        // Only ASCII is ever cached.
        out.push_str(std::str::from_utf8(&bytes).unwrap_or_default());
        return;
    }
    let text = format_unix_seconds(seconds);
    if let Ok(bytes) = <[u8; HTTP_DATE_LEN]>::try_from(text.as_bytes()) {
        LAST_DATE.set((seconds, bytes));
    }
    out.push_str(&text);
}

/// Formats whole Unix seconds (clamped to years 1–9999) as an HTTP date.
pub(crate) fn format_unix_seconds(seconds: i64) -> String {
    let seconds = seconds.clamp(MIN_UNIX_SECONDS, MAX_UNIX_SECONDS);
    let Some(dt) = DateTime::<Utc>::from_timestamp(seconds, 0) else {
        // Unreachable: the clamped range is well inside chrono's.
        return String::from("Thu, 01 Jan 1970 00:00:00 GMT");
    };
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[dt.weekday().num_days_from_monday() as usize],
        dt.day(),
        MONTHS[dt.month0() as usize],
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second(),
    )
}

/// Splits a float Unix time into whole seconds and microseconds exactly like
/// CPython's `datetime.fromtimestamp` (`_PyTime_ObjectToTimeval` with
/// `ROUND_HALF_EVEN`): `modf`, scale the fraction, round half to even, carry.
///
/// The seconds are clamped to Python's `datetime` range (years 1–9999);
/// NaN maps to `(0, 0)`.
pub(crate) fn split_timestamp(t: f64) -> (i64, u32) {
    if t.is_nan() {
        return (0, 0);
    }
    let int_part = t.trunc();
    let mut micros = ((t - int_part) * 1e6).round_ties_even();
    let mut seconds = int_part;
    if micros >= 1e6 {
        micros -= 1e6;
        seconds += 1.0;
    } else if micros < 0.0 {
        micros += 1e6;
        seconds -= 1.0;
    }
    // Out-of-range values (including infinities) saturate, then clamp.
    let seconds = (seconds as i64).clamp(MIN_UNIX_SECONDS, MAX_UNIX_SECONDS);
    // `micros` is within 0..1e6 for every finite input.
    (seconds, micros.clamp(0.0, 999_999.0) as u32)
}

/// The current time as fractional Unix seconds, the `now` every formatting function takes:
/// the one clock the whole crate reads ([`signing::now`](crate::signing::now)).
pub use crate::signing::now as unix_now;
