//! The cookies of one request/response exchange.
//!
//! A [`CookieJar`] holds what the request sent (parsed like Django's
//! `request.COOKIES`) and the changes queued for the response (like
//! `HttpResponse.cookies`): one [`Morsel`] per name, in the order each name
//! was first set, so repeated `set`/`delete` calls on one name behave as in
//! Django (spec §6.7).
//!
//! Times are supplied when the headers are rendered
//! ([`CookieJar::set_cookie_headers`]), so the whole response uses one
//! clock reading and tests can pin it.
//!
//! Signed cookies (`set_signed` / `get_signed`) live in `jar_signed.rs`, in
//! their own `impl CookieJar` block built on [`CookieJar::get`] and
//! [`CookieJar::set`]; nothing here depends on signing.

use indexmap::IndexMap;

use super::error::CookieError;
use super::morsel::Morsel;
use super::options::{CookieOptions, DeleteOptions};
use super::parse::parse_request_cookies;
use super::policy::CookiePolicy;

/// Request cookies plus the `Set-Cookie` changes queued for the response.
///
/// ```
/// use tessera::cookie::{CookieJar, CookieOptions};
/// let mut headers = http::HeaderMap::new();
/// headers.insert(http::header::COOKIE, "theme=dark; sessionid=abc".parse().unwrap());
/// let mut jar = CookieJar::from_headers(&headers);
/// assert_eq!(jar.get("theme"), Some("dark"));
///
/// jar.set("theme", "light", &CookieOptions::new().max_age(60))?;
/// jar.delete("sessionid", None, None)?;
/// assert_eq!(
///     jar.set_cookie_headers(1700000000.25),
///     [
///         "theme=light; expires=Tue, 14 Nov 2023 22:14:20 GMT; Max-Age=60; Path=/",
///         r#"sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"#,
///     ]
/// );
/// # Ok::<(), tessera::cookie::CookieError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    request: IndexMap<String, String>,
    pending: IndexMap<String, Morsel>,
    policy: CookiePolicy,
    /// Also refuse, at `set` time, headers that `http::HeaderValue` cannot carry (only
    /// possible with a lenient policy), so a jar that will be written into a `HeaderMap`
    /// never fails late.
    require_header_values: bool,
}

impl CookieJar {
    /// An empty jar with the strict policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// A jar holding already-parsed request cookies.
    pub fn from_request_cookies(request: IndexMap<String, String>) -> Self {
        CookieJar {
            request,
            ..Self::default()
        }
    }

    /// A jar reading every `Cookie` header of a request (see
    /// [`parse_request_cookies`]).
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        Self::from_request_cookies(parse_request_cookies(headers.get_all(http::header::COOKIE)))
    }

    /// Replaces the policy applied by [`set`](Self::set) and
    /// [`delete`](Self::delete).
    #[must_use]
    pub fn with_policy(mut self, policy: CookiePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Makes [`set`](Self::set) and [`delete`](Self::delete) refuse, with
    /// [`CookieError::InvalidHeaderValue`], a cookie that
    /// [`append_set_cookie_headers`](Self::append_set_cookie_headers) could not write.
    #[must_use]
    pub(crate) fn require_header_values(mut self) -> Self {
        self.require_header_values = true;
        self
    }

    /// The policy in force.
    pub fn policy(&self) -> CookiePolicy {
        self.policy
    }

    /// A request cookie's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.request.get(name).map(String::as_str)
    }

    /// The request cookies in header order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.request.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The request cookies as parsed.
    pub fn request_cookies(&self) -> &IndexMap<String, String> {
        &self.request
    }

    /// Queues `Set-Cookie: name=value` with Django's `set_cookie` semantics.
    ///
    /// # Errors
    ///
    /// Django's errors (see [`set_cookie_header`](crate::cookie::set_cookie_header))
    /// and, unless the policy is lenient, [`CookieError::Policy`] for the
    /// first [`PolicyViolation`](crate::cookie::PolicyViolation) of the
    /// resulting cookie. On error the jar is unchanged.
    pub fn set(
        &mut self,
        name: &str,
        value: &str,
        options: &CookieOptions,
    ) -> Result<(), CookieError> {
        self.update(name, |morsel| morsel.set(value, options))
    }

    /// Queues a deletion with Django's `delete_cookie` semantics.
    ///
    /// `path: None` uses Django's default `"/"`; use
    /// [`delete_with`](Self::delete_with) and [`DeleteOptions::no_path`] to
    /// send no `Path` at all.
    ///
    /// # Errors
    ///
    /// As [`set`](Self::set): an invalid name or a policy violation (for
    /// example a `__secure-` name, whose deletion Django sends without
    /// `Secure`).
    pub fn delete(
        &mut self,
        name: &str,
        path: Option<&str>,
        domain: Option<&str>,
    ) -> Result<(), CookieError> {
        let options = DeleteOptions {
            path: Some(path.unwrap_or("/").to_owned()),
            domain: domain.map(str::to_owned),
            samesite: None,
        };
        self.delete_with(name, &options)
    }

    /// Queues a deletion with all of `delete_cookie`'s arguments.
    ///
    /// # Errors
    ///
    /// As [`delete`](Self::delete), plus [`CookieError::InvalidSameSite`].
    pub fn delete_with(&mut self, name: &str, options: &DeleteOptions) -> Result<(), CookieError> {
        self.update(name, |morsel| morsel.delete(options))
    }

    /// Applies `change` to a copy of the name's morsel, checks the policy
    /// and only then stores it, so a failed call leaves the jar unchanged.
    fn update(
        &mut self,
        name: &str,
        change: impl FnOnce(&mut Morsel) -> Result<(), CookieError>,
    ) -> Result<(), CookieError> {
        let mut morsel = match self.pending.get(name) {
            Some(existing) => existing.clone(),
            None => Morsel::new(name)?,
        };
        change(&mut morsel)?;
        self.policy
            .check(&morsel)
            .map_err(|reason| CookieError::Policy {
                name: name.to_owned(),
                reason,
            })?;
        if self.require_header_values {
            // Which characters appear does not depend on the clock.
            header_value(&morsel, 0.0)?;
        }
        self.pending.insert(name.to_owned(), morsel);
        Ok(())
    }

    /// The queued state of one cookie name.
    pub fn pending(&self, name: &str) -> Option<&Morsel> {
        self.pending.get(name)
    }

    /// Every queued cookie, in emission order.
    pub fn pending_iter(&self) -> impl Iterator<Item = &Morsel> {
        self.pending.values()
    }

    /// Whether any `Set-Cookie` header would be sent.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The `Set-Cookie` values, one per name in the order each name was
    /// first set, with times computed from `now` (Unix seconds; see
    /// [`unix_now`](crate::cookie::unix_now)).
    pub fn set_cookie_headers(&self, now: f64) -> Vec<String> {
        self.pending
            .values()
            .map(|morsel| morsel.output_string(now))
            .collect()
    }

    /// Appends the `Set-Cookie` headers to `headers`.
    ///
    /// # Errors
    ///
    /// [`CookieError::InvalidHeaderValue`], appending nothing, if a header
    /// from a lenient jar holds a control character that `http::HeaderValue`
    /// refuses.
    pub fn append_set_cookie_headers(
        &self,
        headers: &mut http::HeaderMap,
        now: f64,
    ) -> Result<(), CookieError> {
        let values = self
            .pending
            .values()
            .map(|morsel| header_value(morsel, now))
            .collect::<Result<Vec<_>, _>>()?;
        for value in values {
            headers.append(http::header::SET_COOKIE, value);
        }
        Ok(())
    }
}

/// The `Set-Cookie` value of `morsel` as an `http` header value.
fn header_value(morsel: &Morsel, now: f64) -> Result<http::HeaderValue, CookieError> {
    http::HeaderValue::from_str(&morsel.output_string(now)).map_err(|_| {
        CookieError::InvalidHeaderValue {
            name: morsel.name().to_owned(),
        }
    })
}
