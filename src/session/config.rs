//! Session settings, with Django's names and defaults.

use std::time::Duration;

use crate::cookie::{CookieOptions, SameSite, SetCookieTemplate};

/// Django's `SESSION_*` settings, plus tessera's store timeout and retry bound.
///
/// ```
/// use tessera::session::SessionConfig;
/// let config = SessionConfig::default();
/// assert_eq!(config.cookie_name, "sessionid");
/// assert_eq!(config.cookie_age.as_secs(), 1_209_600);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SessionConfig {
    /// `SESSION_COOKIE_NAME`: `sessionid`.
    pub cookie_name: String,
    /// `SESSION_COOKIE_AGE`: two weeks. Whole seconds, as Django's setting is an `int`.
    pub cookie_age: Duration,
    /// `SESSION_COOKIE_DOMAIN`: none.
    pub cookie_domain: Option<String>,
    /// `SESSION_COOKIE_PATH`: `/`.
    pub cookie_path: String,
    /// `SESSION_COOKIE_SECURE`: false.
    pub cookie_secure: bool,
    /// `SESSION_COOKIE_HTTPONLY`: true.
    pub cookie_httponly: bool,
    /// `SESSION_COOKIE_SAMESITE`: `Lax`; `None` sends no attribute.
    pub cookie_samesite: Option<SameSite>,
    /// `SESSION_SAVE_EVERY_REQUEST`: false.
    pub save_every_request: bool,
    /// `SESSION_EXPIRE_AT_BROWSER_CLOSE`: false.
    pub expire_at_browser_close: bool,
    /// `USE_TZ`: true (expiry datetimes are aware, in UTC).
    pub use_tz: bool,
    /// Every store call fails after this long, so an outage fails fast: 3 s.
    pub store_timeout: Duration,
    /// How often a save that lost a compare-and-swap race reloads and re-applies: 64.
    pub max_save_retries: u32,
    /// The largest session a write stores, in bytes of its JSON before compression: 1 MiB.
    /// A larger write is refused (400) and the stored session keeps what it had, so no
    /// visitor can grow a record that costs every later request a large decompression. At
    /// most [`MAX_DECOMPRESSED_BYTES`](crate::signing::MAX_DECOMPRESSED_BYTES), what a read
    /// accepts; records Django wrote are read up to that, whatever this says.
    pub max_data_bytes: usize,
    /// The most values a written session holds, counting every string, number, bool, null,
    /// list and dict at any depth: 100,000. Each costs memory whenever the session is loaded,
    /// far more than its bytes of JSON (`[]` is 2 bytes of text, 32 in memory).
    pub max_data_values: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            cookie_name: "sessionid".to_owned(),
            cookie_age: Duration::from_secs(1_209_600),
            cookie_domain: None,
            cookie_path: "/".to_owned(),
            cookie_secure: false,
            cookie_httponly: true,
            cookie_samesite: Some(SameSite::Lax),
            save_every_request: false,
            expire_at_browser_close: false,
            use_tz: true,
            store_timeout: Duration::from_secs(3),
            max_save_retries: 64,
            max_data_bytes: 1024 * 1024,
            max_data_values: 100_000,
        }
    }
}

/// A setting that can never work: a variable from the environment that does not parse, or a
/// value no browser or HTTP stack would take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {name}={value:?}: {why}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The variable or setting (`TESSERA_SESSION_COOKIE_AGE`, `SESSION_COOKIE_NAME`…).
    pub name: String,
    /// Its value.
    pub value: String,
    /// What was expected.
    pub why: String,
}

impl ConfigError {
    fn new(name: impl Into<String>, value: impl Into<String>, why: impl Into<String>) -> Self {
        ConfigError {
            name: name.into(),
            value: value.into(),
            why: why.into(),
        }
    }
}

impl SessionConfig {
    /// Checks what can never work, so a bad setting fails at start-up instead of turning
    /// every later response into an error: a cookie name, path or domain no `Set-Cookie` can
    /// carry, a zero store timeout. `SameSite=None` without `Secure`, which current browsers
    /// drop but Django sends, is logged as a warning.
    ///
    /// ```
    /// use tessera::SessionConfig;
    /// let config = SessionConfig { cookie_name: "my session".into(), ..SessionConfig::default() };
    /// assert!(config.validate().is_err());
    /// assert!(SessionConfig::default().validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let template = self.cookie_template().map_err(|e| {
            use crate::cookie::CookieError::{IllegalName, ReservedName};
            match e {
                IllegalName(_) | ReservedName(_) => {
                    ConfigError::new("SESSION_COOKIE_NAME", &self.cookie_name, e.to_string())
                }
                _ => ConfigError::new("session cookie", &self.cookie_name, e.to_string()),
            }
        })?;
        // Django writes these two verbatim: a `;` would add attributes of its own, a control
        // character would make the header invalid (the cookie silently not sent).
        let attributes = [
            (
                "SESSION_COOKIE_DOMAIN",
                self.cookie_domain.as_deref().unwrap_or(""),
            ),
            ("SESSION_COOKIE_PATH", self.cookie_path.as_str()),
        ];
        for (name, value) in attributes {
            if value.bytes().any(|b| b < 0x20 || b == 0x7f || b == b';') {
                return Err(ConfigError::new(
                    name,
                    value,
                    "a `;` or a control character cannot go into a Set-Cookie attribute",
                ));
            }
        }
        let sample = template.render("0123456789abcdefghijklmnopqrstuv", 0.0, 0.0);
        if http::HeaderValue::try_from(sample).is_err() {
            return Err(ConfigError::new(
                "session cookie",
                &self.cookie_name,
                "the Set-Cookie header would not be valid",
            ));
        }
        if self.cookie_samesite == Some(SameSite::None) && !self.cookie_secure {
            // Django sends it, and old browsers keep it, so it is a warning, not an error.
            tracing::warn!(
                target: "tessera::session",
                "SESSION_COOKIE_SAMESITE=None without SESSION_COOKIE_SECURE: current browsers drop the session cookie"
            );
        }
        match crate::time::whole_seconds(self.cookie_age) {
            None => {
                return Err(ConfigError::new(
                    "SESSION_COOKIE_AGE",
                    format!("{:?}", self.cookie_age),
                    "expected whole seconds (Django's setting is an int)",
                ))
            }
            Some(age) if crate::time::now() + age as f64 >= crate::time::END_OF_DATES => {
                return Err(ConfigError::new(
                    "SESSION_COOKIE_AGE",
                    age.to_string(),
                    "sessions would expire after the year 9999, which no database stores",
                ))
            }
            Some(_) => {}
        }
        let read_limit =
            usize::try_from(crate::signing::MAX_DECOMPRESSED_BYTES).unwrap_or(usize::MAX);
        if self.max_data_bytes == 0 || self.max_data_bytes > read_limit {
            return Err(ConfigError::new(
                "max_data_bytes",
                self.max_data_bytes.to_string(),
                format!("expected 1 to {read_limit} (what a read accepts)"),
            ));
        }
        if self.max_data_values == 0 {
            return Err(ConfigError::new(
                "max_data_values",
                "0",
                "no session could be stored",
            ));
        }
        if self.store_timeout.is_zero() {
            return Err(ConfigError::new(
                "store_timeout",
                "0",
                "every store call would time out at once",
            ));
        }
        Ok(())
    }

    /// `SESSION_COOKIE_AGE` as Django's int (saturating; [`validate`](Self::validate) refuses
    /// what does not fit).
    pub(crate) fn cookie_age_secs(&self) -> i64 {
        crate::time::whole_seconds(self.cookie_age).unwrap_or(i64::MAX)
    }

    /// The session cookie's `Set-Cookie` line with its fixed attributes, checked once.
    pub fn cookie_template(&self) -> Result<SetCookieTemplate, crate::cookie::CookieError> {
        let mut opts = CookieOptions::new();
        opts.path = Some(self.cookie_path.clone());
        opts.domain = self.cookie_domain.clone();
        opts.secure = self.cookie_secure;
        opts.httponly = self.cookie_httponly;
        opts.samesite = self.cookie_samesite.map(String::from);
        SetCookieTemplate::new(&self.cookie_name, &opts)
    }

    /// Defaults overridden by `TESSERA_SESSION_COOKIE_NAME`, `…_COOKIE_AGE`, `…_COOKIE_DOMAIN`,
    /// `…_COOKIE_PATH`, `…_COOKIE_SECURE`, `…_COOKIE_HTTPONLY`, `…_COOKIE_SAMESITE` (`Lax`,
    /// `Strict`, `None`, or empty for no attribute), `…_SAVE_EVERY_REQUEST`,
    /// `…_EXPIRE_AT_BROWSER_CLOSE`, `TESSERA_SESSION_STORE_TIMEOUT_MS`,
    /// `TESSERA_SESSION_MAX_DATA_BYTES` and `TESSERA_SESSION_MAX_DATA_VALUES`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), reading variables through `get` (for tests).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = SessionConfig::default();
        let var = |suffix: &str| {
            let name = format!("TESSERA_SESSION_{suffix}");
            get(&name).map(|v| (name, v))
        };
        let err = |name: String, value: String, why: &str| ConfigError::new(name, value, why);
        let boolean = |(name, v): (String, String)| match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(err(name, v, "expected true or false")),
        };
        if let Some((_, v)) = var("COOKIE_NAME") {
            c.cookie_name = v;
        }
        if let Some((n, v)) = var("COOKIE_AGE") {
            c.cookie_age = v
                .trim()
                .parse()
                .map(Duration::from_secs)
                .map_err(|_| err(n, v, "expected whole seconds"))?;
        }
        if let Some((_, v)) = var("COOKIE_DOMAIN") {
            c.cookie_domain = Some(v).filter(|d| !d.is_empty());
        }
        if let Some((_, v)) = var("COOKIE_PATH") {
            c.cookie_path = v;
        }
        if let Some(v) = var("COOKIE_SECURE") {
            c.cookie_secure = boolean(v)?;
        }
        if let Some(v) = var("COOKIE_HTTPONLY") {
            c.cookie_httponly = boolean(v)?;
        }
        if let Some((n, v)) = var("COOKIE_SAMESITE") {
            c.cookie_samesite = match v.to_ascii_lowercase().as_str() {
                "" => None,
                "lax" => Some(SameSite::Lax),
                "strict" => Some(SameSite::Strict),
                "none" => Some(SameSite::None),
                _ => return Err(err(n, v, "expected Lax, Strict, None or empty")),
            };
        }
        if let Some(v) = var("SAVE_EVERY_REQUEST") {
            c.save_every_request = boolean(v)?;
        }
        if let Some(v) = var("EXPIRE_AT_BROWSER_CLOSE") {
            c.expire_at_browser_close = boolean(v)?;
        }
        if let Some((n, v)) = var("STORE_TIMEOUT_MS") {
            let ms: u64 = v
                .trim()
                .parse()
                .map_err(|_| err(n, v, "expected milliseconds"))?;
            c.store_timeout = Duration::from_millis(ms);
        }
        let count = |(n, v): (String, String)| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| err(n, v, "expected a whole number"))
        };
        if let Some(v) = var("MAX_DATA_BYTES") {
            c.max_data_bytes = count(v)?;
        }
        if let Some(v) = var("MAX_DATA_VALUES") {
            c.max_data_values = count(v)?;
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_errors() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = SessionConfig::from_vars(vars(&[
            ("TESSERA_SESSION_COOKIE_AGE", "60"),
            ("TESSERA_SESSION_COOKIE_SAMESITE", "strict"),
            ("TESSERA_SESSION_COOKIE_SECURE", "true"),
        ]))
        .unwrap();
        assert_eq!(c.cookie_age, Duration::from_secs(60));
        assert_eq!(c.cookie_samesite, Some(SameSite::Strict));
        assert!(c.cookie_secure);
        let e =
            SessionConfig::from_vars(vars(&[("TESSERA_SESSION_COOKIE_AGE", "soon")])).unwrap_err();
        assert_eq!(e.name, "TESSERA_SESSION_COOKIE_AGE");
    }

    #[test]
    fn validate_refuses_what_can_never_work() {
        let bad = |change: fn(&mut SessionConfig)| {
            let mut c = SessionConfig::default();
            change(&mut c);
            c.validate().unwrap_err()
        };
        let e = bad(|c| c.cookie_name = "my session".into());
        assert_eq!(e.name, "SESSION_COOKIE_NAME");
        assert!(e.why.contains("Illegal key"), "{e}");
        assert_eq!(
            bad(|c| c.cookie_name = "expires".into()).name,
            "SESSION_COOKIE_NAME"
        );
        assert_eq!(
            bad(|c| c.cookie_name = String::new()).name,
            "SESSION_COOKIE_NAME"
        );
        assert_eq!(
            bad(|c| c.cookie_path = "/a\nb".into()).name,
            "SESSION_COOKIE_PATH"
        );
        assert_eq!(
            bad(|c| c.cookie_domain = Some("ex\u{7f}ample.com".into())).name,
            "SESSION_COOKIE_DOMAIN"
        );
        assert_eq!(
            bad(|c| c.store_timeout = Duration::ZERO).name,
            "store_timeout"
        );
        // Attributes smuggled into the domain or the path.
        assert_eq!(
            bad(|c| c.cookie_domain = Some("ex.com; Secure".into())).name,
            "SESSION_COOKIE_DOMAIN"
        );
        assert_eq!(
            bad(|c| c.cookie_path = "/;x".into()).name,
            "SESSION_COOKIE_PATH"
        );
        // An age past the year 9999 (it gave `Max-Age=9223372036854775808`).
        let e = bad(|c| c.cookie_age = Duration::from_secs(i64::MAX as u64));
        assert_eq!(e.name, "SESSION_COOKIE_AGE");
        assert!(e.why.contains("9999"), "{e}");
        assert_eq!(bad(|c| c.max_data_bytes = 0).name, "max_data_bytes");
        assert_eq!(
            bad(|c| c.max_data_bytes = 65 * 1024 * 1024).name,
            "max_data_bytes"
        );
        assert_eq!(bad(|c| c.max_data_values = 0).name, "max_data_values");
        let mut ok = SessionConfig {
            cookie_samesite: Some(SameSite::None),
            ..SessionConfig::default()
        };
        assert!(ok.validate().is_ok());
        ok.cookie_samesite = None;
        assert!(ok.validate().is_ok());
        // The environment goes through the same check.
        let e = SessionConfig::from_vars(|n| {
            (n == "TESSERA_SESSION_COOKIE_NAME").then(|| "a;b".to_owned())
        })
        .unwrap_err();
        assert_eq!(e.name, "SESSION_COOKIE_NAME");
    }
}
