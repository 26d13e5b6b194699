//! CSRF settings, with Django's names and defaults, and the checked form the layer runs on.

use std::time::Duration;

use http::HeaderName;

use super::origin::{AllowedHosts, TrustedOrigins};
use crate::cookie::{set_cookie_header, CookieOptions, MaxAge, SameSite};
use crate::session::ConfigError;

/// Django's `CSRF_*` settings, plus the few request settings the checks read
/// (`ALLOWED_HOSTS`, `SECURE_PROXY_SSL_HEADER`, `SESSION_COOKIE_DOMAIN`).
///
/// ```
/// use tessera::csrf::CsrfConfig;
/// let config = CsrfConfig {
///     trusted_origins: vec!["https://*.example.com".into()],
///     ..CsrfConfig::default()
/// };
/// assert_eq!(config.cookie_name, "csrftoken");
/// assert_eq!(config.header_name, "X-CSRFToken");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CsrfConfig {
    /// `CSRF_COOKIE_NAME`: `csrftoken`.
    pub cookie_name: String,
    /// `CSRF_COOKIE_AGE`: one year (31449600 s), in whole seconds; `None` makes a cookie that
    /// ends with the browser session.
    pub cookie_age: Option<Duration>,
    /// `CSRF_COOKIE_DOMAIN`: none. Also the domain a `Referer` may come from.
    pub cookie_domain: Option<String>,
    /// `CSRF_COOKIE_PATH`: `/`.
    pub cookie_path: String,
    /// `CSRF_COOKIE_SECURE`: false.
    pub cookie_secure: bool,
    /// `CSRF_COOKIE_HTTPONLY`: false (JavaScript reads the cookie to send the header).
    pub cookie_httponly: bool,
    /// `CSRF_COOKIE_SAMESITE`: `Lax`; `None` sends no attribute (Django's `False`).
    pub cookie_samesite: Option<SameSite>,
    /// The header a token may come in, as an HTTP header name: `X-CSRFToken`. Django's
    /// setting `CSRF_HEADER_NAME` names the same header as a WSGI key
    /// (`HTTP_X_CSRFTOKEN`).
    pub header_name: String,
    /// `CSRF_TRUSTED_ORIGINS`: origins other than the request's own that may post, such as
    /// `https://admin.example.com` or `https://*.example.com` (the domain and its subdomains).
    pub trusted_origins: Vec<String>,
    /// `CSRF_USE_SESSIONS`: false. When true the secret lives in the session under
    /// `_csrftoken` and no CSRF cookie is sent; a [`SessionLayer`](crate::SessionLayer) must
    /// wrap the CSRF layer.
    pub use_sessions: bool,
    /// `SESSION_COOKIE_DOMAIN`: none. With `use_sessions`, the domain a `Referer` may come
    /// from.
    pub session_cookie_domain: Option<String>,
    /// `ALLOWED_HOSTS`: which `Host` headers count as the site's own origin.
    pub allowed_hosts: AllowedHosts,
    /// `SECURE_PROXY_SSL_HEADER`: `(header, value)` a TLS-terminating proxy sets, e.g.
    /// `("X-Forwarded-Proto", "https")`. Without it a request is HTTPS only when its URI says
    /// so (HTTP/2, or an absolute-form request line).
    pub secure_proxy_ssl_header: Option<(String, String)>,
    /// The largest form body read to find `csrfmiddlewaretoken`, in bytes: 2.5 MiB, Django's
    /// `DATA_UPLOAD_MAX_MEMORY_SIZE`. A larger urlencoded or multipart POST is refused (400),
    /// as Django refuses it with `RequestDataTooBig`.
    pub max_form_bytes: usize,
}

/// `CSRF_COOKIE_AGE`'s default: 52 weeks.
const DEFAULT_COOKIE_AGE: u64 = 60 * 60 * 24 * 7 * 52;

impl Default for CsrfConfig {
    fn default() -> Self {
        CsrfConfig {
            cookie_name: "csrftoken".to_owned(),
            cookie_age: Some(Duration::from_secs(DEFAULT_COOKIE_AGE)),
            cookie_domain: None,
            cookie_path: "/".to_owned(),
            cookie_secure: false,
            cookie_httponly: false,
            cookie_samesite: Some(SameSite::Lax),
            header_name: "X-CSRFToken".to_owned(),
            trusted_origins: Vec::new(),
            use_sessions: false,
            session_cookie_domain: None,
            allowed_hosts: AllowedHosts::Any,
            secure_proxy_ssl_header: None,
            max_form_bytes: 2_621_440,
        }
    }
}

fn invalid(name: &str, value: impl Into<String>, why: impl Into<String>) -> ConfigError {
    ConfigError {
        name: name.to_owned(),
        value: value.into(),
        why: why.into(),
    }
}

impl CsrfConfig {
    /// The `set_cookie` arguments of the CSRF cookie.
    pub(crate) fn cookie_options(&self) -> CookieOptions {
        CookieOptions {
            max_age: self
                .cookie_age
                .map(|d| MaxAge::whole(i128::from(d.as_secs()))),
            domain: self.cookie_domain.clone(),
            path: Some(self.cookie_path.clone()),
            secure: self.cookie_secure,
            httponly: self.cookie_httponly,
            samesite: self.cookie_samesite.map(String::from),
            ..CookieOptions::default()
        }
    }

    /// Checks what can never work and prepares the settings for the checks.
    ///
    /// # Errors
    ///
    /// A cookie name or attribute no `Set-Cookie` can carry, a fractional cookie age, a
    /// header name HTTP refuses, a trusted origin without a scheme (Django's check
    /// `4_0.E001`) or one `urlsplit` refuses, a zero form limit.
    ///
    /// ```
    /// use tessera::csrf::CsrfConfig;
    /// let bad = CsrfConfig { trusted_origins: vec!["example.com".into()], ..CsrfConfig::default() };
    /// assert!(bad.validate().is_err());
    /// assert!(CsrfConfig::default().validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<CsrfRules, ConfigError> {
        if let Some(age) = self.cookie_age {
            if age.subsec_nanos() != 0 {
                return Err(invalid(
                    "CSRF_COOKIE_AGE",
                    format!("{age:?}"),
                    "expected whole seconds (Django's setting is an int)",
                ));
            }
        }
        for (name, value) in [
            (
                "CSRF_COOKIE_DOMAIN",
                self.cookie_domain.as_deref().unwrap_or(""),
            ),
            ("CSRF_COOKIE_PATH", self.cookie_path.as_str()),
        ] {
            if value.bytes().any(|b| b < 0x20 || b == 0x7f || b == b';') {
                return Err(invalid(
                    name,
                    value,
                    "a `;` or a control character cannot go into a Set-Cookie attribute",
                ));
            }
        }
        let sample = set_cookie_header(
            &self.cookie_name,
            "0123456789abcdefghijklmnopqrstuv",
            &self.cookie_options(),
            0.0,
        )
        .map_err(|e| invalid("CSRF_COOKIE_NAME", &self.cookie_name, e.to_string()))?;
        if http::HeaderValue::try_from(sample).is_err() {
            return Err(invalid(
                "CSRF_COOKIE_NAME",
                &self.cookie_name,
                "the Set-Cookie header would not be valid",
            ));
        }
        let header = HeaderName::try_from(self.header_name.as_str()).map_err(|_| {
            invalid(
                "CSRF_HEADER_NAME",
                &self.header_name,
                "not an HTTP header name",
            )
        })?;
        let secure_proxy = match &self.secure_proxy_ssl_header {
            Some((name, value)) => Some((
                HeaderName::try_from(name.as_str()).map_err(|_| {
                    invalid("SECURE_PROXY_SSL_HEADER", name, "not an HTTP header name")
                })?,
                value.clone(),
            )),
            None => None,
        };
        for origin in &self.trusted_origins {
            if !origin.contains("://") {
                return Err(invalid(
                    "CSRF_TRUSTED_ORIGINS",
                    origin,
                    "an origin must start with a scheme (usually http:// or https://)",
                ));
            }
        }
        let trusted = TrustedOrigins::new(&self.trusted_origins).map_err(|_| {
            invalid(
                "CSRF_TRUSTED_ORIGINS",
                self.trusted_origins.join(" "),
                "an origin is not a URL",
            )
        })?;
        if self.max_form_bytes == 0 {
            return Err(invalid("max_form_bytes", "0", "at least one byte"));
        }
        Ok(CsrfRules {
            header_display: python_title(&self.header_name.replace('_', "-")),
            header,
            secure_proxy,
            trusted,
            config: self.clone(),
        })
    }
}

/// A validated [`CsrfConfig`], prepared for the checks: what [`CsrfLayer`](super::CsrfLayer)
/// runs on, and what the pure [`check`](CsrfRules::check) takes.
#[derive(Debug, Clone)]
pub struct CsrfRules {
    pub(crate) config: CsrfConfig,
    pub(crate) header: HeaderName,
    /// The header as Django names it in messages: `X-Csrftoken`.
    pub(crate) header_display: String,
    pub(crate) secure_proxy: Option<(HeaderName, String)>,
    pub(crate) trusted: TrustedOrigins,
}

impl CsrfRules {
    /// The settings these rules were made from.
    pub fn config(&self) -> &CsrfConfig {
        &self.config
    }
}

/// Python's `str.title()` over ASCII: a letter after a non-letter is upper-cased, any other
/// letter lower-cased (`X-CSRFToken` becomes `X-Csrftoken`).
fn python_title(text: &str) -> String {
    let mut previous_cased = false;
    text.chars()
        .map(|c| {
            let out = if previous_cased {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            };
            previous_cased = c.is_ascii_alphabetic();
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_read_as_django_prints_them() {
        assert_eq!(python_title("X-CSRFToken"), "X-Csrftoken");
        assert_eq!(python_title("x-xsrf-token"), "X-Xsrf-Token");
        assert_eq!(python_title("x-csrf2token"), "X-Csrf2Token");
    }

    #[test]
    fn impossible_settings_are_refused() {
        let bad = |c: CsrfConfig| c.validate().is_err();
        assert!(bad(CsrfConfig {
            cookie_name: "a b".into(),
            ..CsrfConfig::default()
        }));
        assert!(bad(CsrfConfig {
            header_name: "X Token".into(),
            ..CsrfConfig::default()
        }));
        assert!(bad(CsrfConfig {
            cookie_path: "/;x".into(),
            ..CsrfConfig::default()
        }));
        assert!(bad(CsrfConfig {
            trusted_origins: vec!["https://[::1".into()],
            ..CsrfConfig::default()
        }));
        assert!(bad(CsrfConfig {
            cookie_age: Some(Duration::from_millis(1500)),
            ..CsrfConfig::default()
        }));
    }
}
