//! Python's semantics that Django's formats rely on, emulated exactly.
//!
//! Django writes what Python computes: a session expiry is `datetime.isoformat()` text, read
//! back with `datetime.fromisoformat` and turned into seconds with `timedelta` arithmetic.
//! Sessions are shared with Django, so tessera reproduces CPython's results byte for byte,
//! rounding, range checks and exception messages included. This is the lowest layer, beside
//! [`json`](crate::json): it knows nothing of sessions or cookies.
//!
//! - [`datetime`]: Python's `datetime`, `timedelta` and `isoformat`/`fromisoformat`.

pub(crate) mod datetime;
