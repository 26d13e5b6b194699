//! Per-name cookie state on one response, like Python's `http.cookies.Morsel`.
//!
//! Django keeps one `Morsel` per cookie name in `HttpResponse.cookies`, and a
//! second `set_cookie` for the same name *updates* it instead of replacing
//! it (spec §6.7): `expires` is always rewritten and `Path` unless
//! `path=None`, but `Domain`, `Max-Age`, `Secure`, `HttpOnly` and `SameSite`
//! keep their old values unless the new call sets them. Modelling the Morsel
//! reproduces that quirk byte for byte.
//!
//! Times stay symbolic until [`Morsel::output_string`] receives `now`, so a
//! whole response is rendered against one clock reading (as Django's frozen
//! clock in the vectors).

use super::error::CookieError;
use super::http_date::{http_date, split_timestamp};
use super::options::{CookieOptions, DeleteOptions, Expires, MaxAge, SameSite};
use super::quote::{quote_value, validate_name};

/// The `expires` Django's `delete_cookie` sends.
const EPOCH_EXPIRES: &str = "Thu, 01 Jan 1970 00:00:00 GMT";

/// The stored `max-age` entry.
#[derive(Debug, Clone, PartialEq)]
enum MaxAgeAttr {
    /// A `max_age` argument.
    Given(MaxAge),
    /// Derived from a datetime `expires` (µs since the epoch):
    /// `max(0, floor(expires − now + 1 s))`.
    Until(i128),
}

impl MaxAgeAttr {
    /// The `Max-Age` text and the `expires` Django derives from it.
    fn render(&self, now: f64) -> (String, String) {
        match self {
            MaxAgeAttr::Given(max_age) => (
                // Validated as finite when stored.
                max_age.attribute_value().unwrap_or_else(|| "0".to_owned()),
                http_date(now + max_age.as_f64()),
            ),
            MaxAgeAttr::Until(until_micros) => {
                let (secs, micros) = split_timestamp(now);
                let now_micros = i128::from(secs) * 1_000_000 + i128::from(micros);
                let delta = until_micros - now_micros + 1_000_000;
                // `delta.days * 86400 + delta.seconds`, floored at zero.
                let seconds = delta.div_euclid(1_000_000).max(0);
                let expires = http_date(now + seconds as f64);
                (seconds.to_string(), expires)
            }
        }
    }
}

/// The stored `expires` entry.
#[derive(Debug, Clone, PartialEq)]
enum ExpiresAttr {
    /// Not set (Python `""`): no attribute.
    Empty,
    /// A non-empty string `expires`, emitted verbatim.
    Raw(String),
    /// `http_date(now + max_age)` for the `max-age` entry, which the same
    /// call set (every call rewrites `expires`).
    FromMaxAge,
}

/// The state of one cookie name on a response: its value and attributes.
///
/// Create it with [`Morsel::new`], change it with [`Morsel::set`] /
/// [`Morsel::delete`] (Django's `set_cookie` / `delete_cookie`, including
/// their reuse of earlier attributes), and render it with
/// [`Morsel::output_string`].
#[derive(Debug, Clone, PartialEq)]
pub struct Morsel {
    name: String,
    value: String,
    coded_value: String,
    expires: ExpiresAttr,
    max_age: Option<MaxAgeAttr>,
    path: String,
    domain: String,
    secure: bool,
    httponly: bool,
    samesite: String,
    partitioned: bool,
}

impl Morsel {
    /// An empty morsel for `name`, which is validated as Python's `Morsel`
    /// does.
    ///
    /// # Errors
    ///
    /// [`CookieError::ReservedName`] or [`CookieError::IllegalName`].
    pub fn new(name: &str) -> Result<Self, CookieError> {
        validate_name(name)?;
        Ok(Morsel {
            name: name.to_owned(),
            value: String::new(),
            coded_value: String::new(),
            expires: ExpiresAttr::Empty,
            max_age: None,
            path: String::new(),
            domain: String::new(),
            secure: false,
            httponly: false,
            samesite: String::new(),
            partitioned: false,
        })
    }

    /// Applies Django's `set_cookie(name, value, **options)` to this morsel.
    ///
    /// # Errors
    ///
    /// [`CookieError::ExpiresWithMaxAge`], [`CookieError::InvalidMaxAge`] or
    /// [`CookieError::InvalidSameSite`], checked in Django's order before
    /// anything changes, so on error the morsel is untouched (Django may have
    /// half-updated it by then).
    pub fn set(&mut self, value: &str, options: &CookieOptions) -> Result<(), CookieError> {
        // Validate in Django's order: expires/max_age, int(max_age), samesite.
        let (raw_expires, max_age) = match (&options.expires, options.max_age) {
            (Some(Expires::Raw(raw)), max_age) => (Some(raw), max_age.map(MaxAgeAttr::Given)),
            (Some(_), Some(_)) => return Err(CookieError::ExpiresWithMaxAge),
            (Some(datetime), None) => (None, datetime.unix_micros().map(MaxAgeAttr::Until)),
            (None, max_age) => (None, max_age.map(MaxAgeAttr::Given)),
        };
        if let Some(MaxAgeAttr::Given(max_age)) = &max_age {
            if max_age.attribute_value().is_none() {
                return Err(CookieError::InvalidMaxAge(max_age.as_f64().to_string()));
            }
        }
        let samesite = options.samesite.as_deref().filter(|s| !s.is_empty());
        if let Some(samesite) = samesite {
            if SameSite::parse(samesite).is_none() {
                return Err(CookieError::InvalidSameSite(samesite.to_owned()));
            }
        }

        value.clone_into(&mut self.value);
        self.coded_value = quote_value(value);
        // `expires` is rewritten on every call: a non-empty string as given,
        // else derived from this call's max age, else cleared.
        self.expires = match (raw_expires, &max_age) {
            (Some(raw), _) if !raw.is_empty() => ExpiresAttr::Raw(raw.clone()),
            (_, Some(_)) => ExpiresAttr::FromMaxAge,
            _ => ExpiresAttr::Empty,
        };
        if max_age.is_some() {
            self.max_age = max_age;
        }
        if let Some(path) = &options.path {
            self.path.clone_from(path);
        }
        if let Some(domain) = &options.domain {
            self.domain.clone_from(domain);
        }
        self.secure |= options.secure;
        self.httponly |= options.httponly;
        self.partitioned |= options.partitioned;
        if let Some(samesite) = samesite {
            samesite.clone_into(&mut self.samesite);
        }
        Ok(())
    }

    /// Applies Django's `delete_cookie(name, path, domain, samesite)`: an
    /// empty value with `Max-Age=0` and a 1970 `expires`, plus `Secure` when
    /// the name starts with `__Secure-` or `__Host-` (case-sensitive, as
    /// Django checks) or `samesite` is `none`.
    ///
    /// # Errors
    ///
    /// [`CookieError::InvalidSameSite`] for a bad `samesite`.
    pub fn delete(&mut self, options: &DeleteOptions) -> Result<(), CookieError> {
        let samesite_none = options
            .samesite
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("none"));
        let secure =
            self.name.starts_with("__Secure-") || self.name.starts_with("__Host-") || samesite_none;
        let set_options = CookieOptions {
            max_age: Some(MaxAge::whole(0)),
            expires: Some(Expires::Raw(EPOCH_EXPIRES.to_owned())),
            path: options.path.clone(),
            domain: options.domain.clone(),
            secure,
            httponly: false,
            samesite: options.samesite.clone(),
            partitioned: false,
        };
        self.set("", &set_options)
    }

    /// Renders the `Set-Cookie` header value exactly as Python's
    /// `Morsel.OutputString()`: `name=value`, then the non-empty attributes
    /// in the sorted order of Python's internal keys (`Domain`, `expires`,
    /// `HttpOnly`, `Max-Age`, `Partitioned`, `Path`, `SameSite`, `Secure`),
    /// joined by `"; "`. Attribute values are written raw.
    pub fn output_string(&self, now: f64) -> String {
        let (max_age, expires) = self.times(now);
        let mut out = format!("{}={}", self.name, self.coded_value);
        let mut attr = |key: &str, value: Option<&str>| {
            out.push_str("; ");
            out.push_str(key);
            if let Some(value) = value {
                out.push('=');
                out.push_str(value);
            }
        };
        if !self.domain.is_empty() {
            attr("Domain", Some(&self.domain));
        }
        if let Some(expires) = &expires {
            attr("expires", Some(expires));
        }
        if self.httponly {
            attr("HttpOnly", None);
        }
        if let Some(max_age) = &max_age {
            attr("Max-Age", Some(max_age));
        }
        if self.partitioned {
            attr("Partitioned", None);
        }
        if !self.path.is_empty() {
            attr("Path", Some(&self.path));
        }
        if !self.samesite.is_empty() {
            attr("SameSite", Some(&self.samesite));
        }
        if self.secure {
            attr("Secure", None);
        }
        out
    }

    /// The `Max-Age` and `expires` texts at time `now`.
    fn times(&self, now: f64) -> (Option<String>, Option<String>) {
        let (max_age, derived_expires) = match &self.max_age {
            Some(max_age) => {
                let (max_age, expires) = max_age.render(now);
                (Some(max_age), Some(expires))
            }
            None => (None, None),
        };
        let expires = match &self.expires {
            ExpiresAttr::Empty => None,
            ExpiresAttr::Raw(raw) => Some(raw.clone()),
            ExpiresAttr::FromMaxAge => derived_expires,
        };
        (max_age, expires)
    }

    /// The cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value as given to [`Morsel::set`].
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The value as written in the header (quoted when needed).
    pub fn coded_value(&self) -> &str {
        &self.coded_value
    }

    /// The `Domain` attribute, if emitted.
    pub fn domain(&self) -> Option<&str> {
        Some(self.domain.as_str()).filter(|d| !d.is_empty())
    }

    /// The `Path` attribute, if emitted.
    pub fn path(&self) -> Option<&str> {
        Some(self.path.as_str()).filter(|p| !p.is_empty())
    }

    /// The `SameSite` attribute, if emitted, in its original spelling.
    pub fn samesite(&self) -> Option<&str> {
        Some(self.samesite.as_str()).filter(|s| !s.is_empty())
    }

    /// The `expires` attribute at time `now`, if emitted.
    pub fn expires(&self, now: f64) -> Option<String> {
        self.times(now).1
    }

    /// A raw `expires` string given by the caller (not one derived from a
    /// max age), if emitted. It is written unvalidated.
    pub fn raw_expires(&self) -> Option<&str> {
        match &self.expires {
            ExpiresAttr::Raw(raw) => Some(raw),
            _ => None,
        }
    }

    /// The `Max-Age` attribute at time `now`, if emitted.
    pub fn max_age(&self, now: f64) -> Option<String> {
        self.times(now).0
    }

    /// Whether `Secure` is emitted.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Whether `HttpOnly` is emitted.
    pub fn httponly(&self) -> bool {
        self.httponly
    }

    /// Whether `Partitioned` is emitted.
    pub fn partitioned(&self) -> bool {
        self.partitioned
    }
}
