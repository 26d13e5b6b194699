//! Time as tessera takes it: one clock, and durations as Django accepts them.
//!
//! Every part of tessera that needs "now" (the session layer, the signers, the signed-cookie
//! backend, every store call) gets it from one [`Clock`]: the system clock unless a test pins
//! it. Stores never read a clock of their own; the caller passes its reading.
//!
//! Durations a user passes (a signed value's `max_age`, a cookie's `max_age`) are [`MaxAge`],
//! which a [`Duration`], a `chrono::TimeDelta` or a number of seconds converts into, because
//! Django accepts an `int`, a `float` or a `timedelta` and the three render differently.
//!
//! ```
//! use std::time::Duration;
//! use tessera::time::{Clock, MaxAge};
//!
//! let pinned = Clock::fixed(1_700_000_000.0);
//! assert_eq!(pinned.now(), 1_700_000_000.0);
//! assert_eq!(MaxAge::from(Duration::from_secs(90)).as_f64(), 90.0);
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::TimeDelta;

/// The first instant past what Python's `datetime` and every database can hold
/// (10000-01-01T00:00:00Z), in Unix seconds.
pub(crate) const END_OF_DATES: f64 = 253_402_300_800.0;
/// 0001-01-01T00:00:00Z, the first instant they can hold.
pub(crate) const START_OF_DATES: f64 = -62_135_596_800.0;

/// The system time as Django's `time.time()`: Unix seconds with a fraction.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `d` as a whole number of seconds, or `None` when it has a fraction or does not fit in an
/// `i64`: the durations that stand for Django's integer settings (`SESSION_COOKIE_AGE`).
pub(crate) fn whole_seconds(d: Duration) -> Option<i64> {
    i64::try_from(d.as_secs())
        .ok()
        .filter(|_| d.subsec_nanos() == 0)
}

/// Where "now" comes from: the system clock, or one a test controls.
///
/// Cloning is cheap (an `Arc`), so the layer hands the same clock to every request.
#[derive(Clone)]
pub struct Clock(ClockSource);

#[derive(Clone)]
enum ClockSource {
    System,
    Fixed(f64),
    Custom(Arc<dyn Fn() -> f64 + Send + Sync>),
}

impl Clock {
    /// The system clock ([`now`]).
    pub const fn system() -> Self {
        Clock(ClockSource::System)
    }

    /// A clock stopped at `unix_seconds`.
    pub const fn fixed(unix_seconds: f64) -> Self {
        Clock(ClockSource::Fixed(unix_seconds))
    }

    /// A clock that asks `read` (Unix seconds), e.g. one a test moves forward.
    pub fn from_fn(read: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        Clock(ClockSource::Custom(Arc::new(read)))
    }

    /// The current reading, in Unix seconds.
    pub fn now(&self) -> f64 {
        match &self.0 {
            ClockSource::System => now(),
            ClockSource::Fixed(t) => *t,
            ClockSource::Custom(read) => read(),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ClockSource::System => f.write_str("Clock::system()"),
            ClockSource::Fixed(t) => write!(f, "Clock::fixed({t})"),
            ClockSource::Custom(_) => f.write_str("Clock::from_fn(..)"),
        }
    }
}

/// A `max_age` argument: whole seconds, or fractional seconds as Python
/// `int`/`float`/`timedelta` give them.
///
/// The distinction matters: `Max-Age` is the value truncated toward zero,
/// while `expires` is computed from the untruncated value, and a whole
/// number keeps all its digits (`Max-Age=18446744073709551615`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaxAge(MaxAgeRepr);

#[derive(Debug, Clone, Copy, PartialEq)]
enum MaxAgeRepr {
    Whole(i128),
    Seconds(f64),
}

impl MaxAge {
    /// A whole number of seconds (Python `int`).
    pub const fn whole(seconds: i128) -> Self {
        MaxAge(MaxAgeRepr::Whole(seconds))
    }

    /// Fractional seconds (Python `float`).
    pub const fn seconds(seconds: f64) -> Self {
        MaxAge(MaxAgeRepr::Seconds(seconds))
    }

    /// The value as a float, as Python uses it in `time.time() + max_age`.
    pub fn as_f64(self) -> f64 {
        match self.0 {
            MaxAgeRepr::Whole(n) => n as f64,
            MaxAgeRepr::Seconds(s) => s,
        }
    }

    /// The `Max-Age` attribute text: Python's `"%d" % int(max_age)`, every
    /// digit kept. `None` for NaN or infinity (Python's `int()` raises).
    pub fn attribute_value(self) -> Option<String> {
        match self.0 {
            MaxAgeRepr::Whole(n) => Some(n.to_string()),
            MaxAgeRepr::Seconds(s) if !s.is_finite() => None,
            // `{:.0}` prints the exact integer value of the float, like
            // Python's arbitrary-precision `int(float)`.
            MaxAgeRepr::Seconds(s) if s.trunc() == 0.0 => Some("0".to_owned()),
            MaxAgeRepr::Seconds(s) => Some(format!("{:.0}", s.trunc())),
        }
    }

    /// Python's `timedelta.total_seconds()` for a number of microseconds.
    fn from_micros(micros: i128) -> Self {
        MaxAge::seconds(micros as f64 / 1e6)
    }
}

macro_rules! max_age_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for MaxAge {
            fn from(seconds: $t) -> Self {
                MaxAge::whole(i128::from(seconds))
            }
        }
    )*};
}
max_age_from_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl From<f64> for MaxAge {
    fn from(seconds: f64) -> Self {
        MaxAge::seconds(seconds)
    }
}

/// Like a Python `timedelta`: `total_seconds()`, a float, at microsecond
/// precision (sub-microsecond digits are dropped).
impl From<Duration> for MaxAge {
    fn from(d: Duration) -> Self {
        MaxAge::from_micros(i128::from(d.as_secs()) * 1_000_000 + i128::from(d.subsec_micros()))
    }
}

/// Like a Python `timedelta`: `total_seconds()`, a float, at microsecond
/// precision (sub-microsecond digits are truncated toward zero).
impl From<TimeDelta> for MaxAge {
    fn from(d: TimeDelta) -> Self {
        MaxAge::from_micros(
            i128::from(d.num_seconds()) * 1_000_000 + i128::from(d.subsec_nanos() / 1000),
        )
    }
}
