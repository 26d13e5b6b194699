//! The messages settings, with Django's names and defaults.

use http::HeaderValue;

use super::cookie::{COOKIE_NAME, MAX_COOKIE_SIZE};
use super::level::{Level, LevelTags, INFO};
use super::storage::StorageKind;
use super::update::CookieWrite;
use crate::cookie::{
    delete_cookie_header, set_cookie_header, CookieError, CookieOptions, DeleteOptions, SameSite,
};
use crate::session::SessionConfig;

/// Django's `MESSAGE_STORAGE`, `MESSAGE_LEVEL` and `MESSAGE_TAGS`, and the `SESSION_COOKIE_*`
/// settings that Django's cookie storage borrows for the `messages` cookie.
///
/// ```
/// use tessera::messages::{MessagesConfig, StorageKind, INFO};
/// let config = MessagesConfig::default();
/// assert_eq!(config.storage, StorageKind::Fallback);
/// assert_eq!(config.level, INFO);
/// assert!(config.cookie_httponly);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MessagesConfig {
    /// `MESSAGE_STORAGE`: fallback storage.
    pub storage: StorageKind,
    /// `MESSAGE_LEVEL`: [`INFO`]; messages below it are not recorded.
    pub level: Level,
    /// Django's `DEFAULT_TAGS` updated with `MESSAGE_TAGS`.
    pub tags: LevelTags,
    /// `SESSION_COOKIE_DOMAIN`: none.
    pub cookie_domain: Option<String>,
    /// `SESSION_COOKIE_SECURE`: false.
    pub cookie_secure: bool,
    /// `SESSION_COOKIE_HTTPONLY`: true.
    pub cookie_httponly: bool,
    /// `SESSION_COOKIE_SAMESITE`: `Lax`.
    pub cookie_samesite: Option<SameSite>,
    /// `CookieStorage.max_cookie_size`: 2048 characters; 0 means no limit.
    pub max_cookie_size: usize,
}

impl Default for MessagesConfig {
    fn default() -> Self {
        Self::from_session_config(&SessionConfig::default())
    }
}

impl MessagesConfig {
    /// The defaults, with the cookie attributes of `session` (as Django reads the same
    /// `SESSION_COOKIE_*` settings for both cookies). The session cookie's path is not
    /// borrowed: Django always writes the `messages` cookie with `Path=/`.
    pub fn from_session_config(session: &SessionConfig) -> Self {
        MessagesConfig {
            storage: StorageKind::default(),
            level: INFO,
            tags: LevelTags::default(),
            cookie_domain: session.cookie_domain.clone(),
            cookie_secure: session.cookie_secure,
            cookie_httponly: session.cookie_httponly,
            cookie_samesite: session.cookie_samesite,
            max_cookie_size: MAX_COOKIE_SIZE,
        }
    }

    /// The `Set-Cookie` value for a cookie change, as `CookieStorage._update_cookie`
    /// writes it (`set_cookie` or `delete_cookie` with these settings).
    ///
    /// # Errors
    ///
    /// What Django's `set_cookie` refuses (the settings are the only input that can fail).
    pub fn set_cookie_header(&self, write: &CookieWrite) -> Result<String, CookieError> {
        let samesite = self.cookie_samesite.map(String::from);
        match write {
            CookieWrite::Set(value) => {
                let options = CookieOptions {
                    domain: self.cookie_domain.clone(),
                    secure: self.cookie_secure,
                    httponly: self.cookie_httponly,
                    samesite,
                    ..CookieOptions::default()
                };
                // No max_age or expires: the clock plays no part.
                set_cookie_header(COOKIE_NAME, value, &options, 0.0)
            }
            CookieWrite::Delete => {
                let options = DeleteOptions {
                    domain: self.cookie_domain.clone(),
                    samesite,
                    ..DeleteOptions::default()
                };
                delete_cookie_header(COOKIE_NAME, &options)
            }
        }
    }

    /// [`set_cookie_header`](Self::set_cookie_header) as a header value.
    ///
    /// # Errors
    ///
    /// As `set_cookie_header`, and [`CookieError::InvalidHeaderValue`] for settings with
    /// bytes no HTTP header may carry.
    pub fn set_cookie_value(&self, write: &CookieWrite) -> Result<HeaderValue, CookieError> {
        HeaderValue::try_from(self.set_cookie_header(write)?).map_err(|_| {
            CookieError::InvalidHeaderValue {
                name: COOKIE_NAME.to_owned(),
            }
        })
    }
}
