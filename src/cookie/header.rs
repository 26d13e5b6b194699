//! One-shot, Django-exact `Set-Cookie` values.
//!
//! These are what `HttpResponse.set_cookie` / `delete_cookie` followed by
//! `Morsel.OutputString()` produce on a fresh response. They are lenient on
//! purpose (attribute values are written raw, non-Latin-1 values pass
//! through): use [`CookieJar`](crate::cookie::CookieJar) with a strict
//! [`CookiePolicy`](crate::cookie::CookiePolicy) to refuse what browsers would
//! drop, or [`browser_rejections`](crate::cookie::browser_rejections) to
//! explain a header.

use super::error::CookieError;
use super::morsel::Morsel;
use super::options::{CookieOptions, DeleteOptions};

/// The `Set-Cookie` value Django writes for `set_cookie(name, value, **options)`
/// at Unix time `now`.
///
/// # Errors
///
/// The errors Django raises: [`CookieError::IllegalName`],
/// [`CookieError::ReservedName`], [`CookieError::ExpiresWithMaxAge`],
/// [`CookieError::InvalidSameSite`], plus [`CookieError::InvalidMaxAge`] for
/// a NaN or infinite `max_age`.
///
/// ```
/// use tessera::cookie::{set_cookie_header, CookieOptions};
/// let header = set_cookie_header("c", "semi;colon", &CookieOptions::new().max_age(3600), 1700000000.25)?;
/// assert_eq!(header, r#"c="semi\073colon"; expires=Tue, 14 Nov 2023 23:13:20 GMT; Max-Age=3600; Path=/"#);
/// # Ok::<(), tessera::cookie::CookieError>(())
/// ```
pub fn set_cookie_header(
    name: &str,
    value: &str,
    options: &CookieOptions,
    now: f64,
) -> Result<String, CookieError> {
    let mut morsel = Morsel::new(name)?;
    morsel.set(value, options)?;
    Ok(morsel.output_string(now))
}

/// The `Set-Cookie` value Django writes for `delete_cookie(name, **options)`.
///
/// # Errors
///
/// [`CookieError::IllegalName`], [`CookieError::ReservedName`] or
/// [`CookieError::InvalidSameSite`].
///
/// ```
/// use tessera::cookie::{delete_cookie_header, DeleteOptions};
/// assert_eq!(
///     delete_cookie_header("__Host-id", &DeleteOptions::new())?,
///     r#"__Host-id=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure"#,
/// );
/// # Ok::<(), tessera::cookie::CookieError>(())
/// ```
pub fn delete_cookie_header(name: &str, options: &DeleteOptions) -> Result<String, CookieError> {
    let mut morsel = Morsel::new(name)?;
    morsel.delete(options)?;
    // A deletion has a fixed `expires`, so the clock does not matter.
    Ok(morsel.output_string(0.0))
}
