//! Django-compatible cookies: reading `Cookie`, writing `Set-Cookie`.
//!
//! Everything here reproduces Django 6.1 byte for byte (spec §6–7 in
//! `tests/conformance/DJANGO_SPEC.md`), because a Django and a tessera
//! service must be able to share cookies and sessions:
//!
//! - [`parse_cookie`] / [`parse_cookie_bytes`] / [`parse_request_cookies`]
//!   read request cookies like `request.COOKIES`;
//! - [`set_cookie_header`] / [`delete_cookie_header`] format single
//!   `Set-Cookie` values like `HttpResponse.set_cookie` / `delete_cookie`;
//! - [`CookieJar`] queues response changes per name ([`Morsel`]), including
//!   Django's reuse of attributes across repeated calls;
//! - [`CookiePolicy`] and [`browser_rejections`] are tessera's guard rails
//!   against cookies that browsers drop or that corrupt the header. The
//!   jar is strict by default; [`CookiePolicy::lenient`] is Django-exact;
//! - [`CookieSigner`] signs and verifies values like `set_signed_cookie` /
//!   `get_signed_cookie` (built on `crate::signing`); [`CookieJar::set_signed`]
//!   and [`CookieJar::get_signed`] use it on a jar;
//! - [`CookieLayer`] is the tower layer giving handlers a lazy [`Cookies`]
//!   handle (request cookies in, `Set-Cookie` out, signing keys held by the
//!   layer).
//!
//! Functions whose output depends on the clock take `now` (Unix seconds as
//! `f64`, see [`unix_now`]) so results are reproducible.
//!
//! ```
//! use tessera::cookie::{CookieJar, CookieOptions, SameSite};
//!
//! let mut jar = CookieJar::from_headers(&http::HeaderMap::new());
//! jar.set(
//!     "__Host-csrftoken",
//!     "abc",
//!     &CookieOptions::new().secure(true).samesite(SameSite::Lax),
//! )?;
//! assert_eq!(
//!     jar.set_cookie_headers(tessera::cookie::unix_now()),
//!     ["__Host-csrftoken=abc; Path=/; SameSite=Lax; Secure"],
//! );
//!
//! // The strict default policy refuses what a browser would drop.
//! assert!(jar.set("__Host-x", "1", &CookieOptions::new()).is_err());
//! # Ok::<(), tessera::cookie::CookieError>(())
//! ```

mod error;
mod header;
mod http_date;
mod jar;
mod jar_signed;
mod layer;
mod morsel;
mod options;
mod parse;
mod policy;
mod quote;
mod signed;
mod template;

pub use error::{CookieError, CookiePart, PolicyViolation};
pub use header::{delete_cookie_header, set_cookie_header};
pub use http_date::{http_date, unix_now};
pub use jar::CookieJar;
pub use layer::{CookieLayer, CookieService, Cookies};
pub use morsel::Morsel;
pub use options::{CookieOptions, DeleteOptions, Expires, MaxAge, SameSite};
/// Python's `str.strip()` whitespace, for the conformance tests and fuzz targets: not part
/// of the API.
#[doc(hidden)]
pub use parse::is_python_whitespace;
pub use parse::{
    parse_cookie, parse_cookie_bytes, parse_request_cookies, unquote, MAX_REQUEST_COOKIES,
};
pub use policy::{browser_rejections, violations, CookiePolicy, MAX_NAME_VALUE_BYTES};
pub use quote::{quote_value, validate_name};
pub use signed::{legacy_salt, v2_salt, CookieSigner, SignedCookieError, COOKIE_KEY_PREFIX};
pub use template::SetCookieTemplate;
