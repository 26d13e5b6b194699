//! Signed cookies on a [`CookieJar`]: Django's `HttpResponse.set_signed_cookie` and
//! `HttpRequest.get_signed_cookie` (spec §5).
//!
//! The jar stays independent of keys: every call takes the [`CookieSigner`], which holds
//! `SECRET_KEY`, its fallbacks and the legacy-salt settings, and caches one derived signer per
//! salt. Build the signer once and share it (the [`CookieLayer`](crate::cookie::CookieLayer)
//! does that for handlers).
//!
//! ```
//! use tessera::cookie::{CookieJar, CookieOptions, CookieSigner, SignedCookieError};
//! use std::time::Duration;
//! use tessera::signing::SecretKeys;
//!
//! let signer = CookieSigner::new(&SecretKeys::new("secret"));
//! let mut response = CookieJar::new();
//! response.set_signed_at(&signer, "theme", "dark", "ui", &CookieOptions::new(), 1_700_000_000.0)?;
//! let signed = response.pending("theme").unwrap().value().to_owned();
//!
//! // The browser sends it back on the next request.
//! let request = CookieJar::from_request_cookies([("theme".to_owned(), signed)].into());
//! let read = request.get_signed_at(&signer, "theme", "ui", Some(Duration::from_secs(60).into()), 1_700_000_030.0);
//! assert_eq!(read.unwrap(), "dark");
//! // Expired, a wrong salt or a missing cookie give the default, as `default=` in Django.
//! let late = request.get_signed_or_at(&signer, "theme", "ui", Some(10.into()), 1_700_000_030.0, None);
//! assert_eq!(late.unwrap(), None::<String>);
//! assert!(matches!(
//!     request.get_signed(&signer, "lang", "ui", None),
//!     Err(SignedCookieError::Missing(_))
//! ));
//! # Ok::<(), tessera::cookie::CookieError>(())
//! ```

use super::error::CookieError;
use super::jar::CookieJar;
use super::options::{CookieOptions, MaxAge};
use super::signed::{CookieSigner, SignedCookieError};
use crate::signing::now;

impl CookieJar {
    /// Queues `name` with `value` signed now, as Django's `set_signed_cookie(name, value,
    /// salt, **options)`: the salt binds the value to this cookie name (v2 salt, or the legacy
    /// one if the signer writes legacy salts).
    ///
    /// # Errors
    ///
    /// Those of [`set`](Self::set) (the signed value goes through the same checks and
    /// policy), and [`CookieError::NoSecretKey`] when the signer's `SECRET_KEY` is empty.
    pub fn set_signed(
        &mut self,
        signer: &CookieSigner,
        name: &str,
        value: &str,
        salt: &str,
        options: &CookieOptions,
    ) -> Result<(), CookieError> {
        self.set_signed_at(signer, name, value, salt, options, now())
    }

    /// [`set_signed`](Self::set_signed) with the signature's timestamp taken from `now` (Unix
    /// seconds), so tests and replays are reproducible.
    ///
    /// # Errors
    ///
    /// As [`set_signed`](Self::set_signed).
    pub fn set_signed_at(
        &mut self,
        signer: &CookieSigner,
        name: &str,
        value: &str,
        salt: &str,
        options: &CookieOptions,
        now: f64,
    ) -> Result<(), CookieError> {
        let signed =
            signer
                .try_sign_at(name, value, salt, now)
                .map_err(|_| CookieError::NoSecretKey {
                    name: name.to_owned(),
                })?;
        self.set(name, &signed, options)
    }

    /// Django's `get_signed_cookie(name, salt=salt, max_age=max_age)` without a default: the
    /// request cookie's value once its signature (and age, when `max_age` is given, in
    /// seconds) verifies.
    ///
    /// # Errors
    ///
    /// [`SignedCookieError::Missing`] (Django's `KeyError`), `BadSignature`, `Expired`, or
    /// `Malformed` for a validly signed value with a broken timestamp.
    pub fn get_signed(
        &self,
        signer: &CookieSigner,
        name: &str,
        salt: &str,
        max_age: Option<MaxAge>,
    ) -> Result<String, SignedCookieError> {
        self.get_signed_at(signer, name, salt, max_age, now())
    }

    /// [`get_signed`](Self::get_signed) as if the clock read `now`.
    ///
    /// # Errors
    ///
    /// As [`get_signed`](Self::get_signed).
    pub fn get_signed_at(
        &self,
        signer: &CookieSigner,
        name: &str,
        salt: &str,
        max_age: Option<MaxAge>,
        now: f64,
    ) -> Result<String, SignedCookieError> {
        signer.get_at(self.get(name), name, salt, max_age, now)
    }

    /// Django's `get_signed_cookie(name, default=default, …)`: a missing, tampered or expired
    /// cookie gives `default` (use `None` with `T = Option<String>` for Django's
    /// `default=None`).
    ///
    /// # Errors
    ///
    /// Only [`SignedCookieError::Malformed`]: a value whose signature verifies but whose
    /// content is broken could only come from a key holder, and Django lets that escape a
    /// default too.
    pub fn get_signed_or<T: From<String>>(
        &self,
        signer: &CookieSigner,
        name: &str,
        salt: &str,
        max_age: Option<MaxAge>,
        default: T,
    ) -> Result<T, SignedCookieError> {
        self.get_signed_or_at(signer, name, salt, max_age, now(), default)
    }

    /// [`get_signed_or`](Self::get_signed_or) as if the clock read `now`.
    ///
    /// # Errors
    ///
    /// As [`get_signed_or`](Self::get_signed_or).
    pub fn get_signed_or_at<T: From<String>>(
        &self,
        signer: &CookieSigner,
        name: &str,
        salt: &str,
        max_age: Option<MaxAge>,
        now: f64,
        default: T,
    ) -> Result<T, SignedCookieError> {
        signer.get_or_at(self.get(name), name, salt, max_age, now, default)
    }
}
