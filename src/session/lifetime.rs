//! When a session dict expires, at a given moment, under the settings: Django's
//! `get_expiry_age`, `get_expiry_date` and `get_expire_at_browser_close` in Unix seconds.
//! The handle, the middleware and the signed-cookie backend all ask these questions.

use super::config::SessionConfig;
use super::error::SessionError;
use super::expiry;
use super::expiry::SESSION_EXPIRY_KEY as EXPIRY_KEY;
use crate::json::{Map, Value};
use crate::py::datetime::PyDateTime;

fn expiry_settings(config: &SessionConfig) -> expiry::ExpirySettings {
    expiry::ExpirySettings {
        cookie_age: config.cookie_age_secs(),
        expire_at_browser_close: config.expire_at_browser_close,
        use_tz: config.use_tz,
    }
}

/// Django's `if not self.get("_session_expiry")`, negated.
fn has_custom_expiry(data: &Map) -> bool {
    data.get(EXPIRY_KEY).is_some_and(Value::is_truthy)
}

/// `get_expiry_age()` of a dict at `now`, in seconds. A stored value Django would hand
/// unchanged to `set_cookie` (a list, say) counts as the default age here.
pub(crate) fn expiry_age_of(
    data: &Map,
    config: &SessionConfig,
    now: f64,
) -> Result<f64, SessionError> {
    // The common case, no custom expiry: Django's `get_expiry_age` is the cookie age.
    if !has_custom_expiry(data) {
        return Ok(config.cookie_age_secs() as f64);
    }
    let settings = expiry_settings(config);
    let modification = PyDateTime::from_timestamp(now, config.use_tz)?;
    let age = expiry::get_expiry_age(&modification, data.get(EXPIRY_KEY), &settings)?;
    Ok(age.as_f64().unwrap_or(config.cookie_age_secs() as f64))
}

/// `get_expiry_date()` of a dict at `now`, as Unix seconds (naive datetimes are UTC).
pub(crate) fn expiry_date_of(
    data: &Map,
    config: &SessionConfig,
    now: f64,
) -> Result<f64, SessionError> {
    // The common case, no custom expiry: `modification + SESSION_COOKIE_AGE`.
    if !has_custom_expiry(data) {
        return Ok(now + config.cookie_age_secs() as f64);
    }
    let settings = expiry_settings(config);
    let modification = PyDateTime::from_timestamp(now, config.use_tz)?;
    let date = expiry::get_expiry_date(&modification, data.get(EXPIRY_KEY), &settings)?;
    let utc = date
        .to_utc()
        .unwrap_or_else(|| date.naive_local().and_utc());
    Ok(utc.timestamp() as f64 + f64::from(utc.timestamp_subsec_micros()) / 1e6)
}

/// `get_expire_at_browser_close()` of a dict.
pub(crate) fn browser_close_of(data: &Map, config: &SessionConfig) -> bool {
    expiry::get_expire_at_browser_close(data.get(EXPIRY_KEY), &expiry_settings(config))
}
