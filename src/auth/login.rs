//! Django's `login`, `logout`, `get_user` and `update_session_auth_hash`, over a [`Session`]:
//! the same three session keys, and `flush`, `cycle_key` or neither exactly when Django does,
//! so a user logged in on either side is the same user on the other.

use constant_time_eq::constant_time_eq;

use crate::csrf::{CsrfToken, RandomUnavailable};
use crate::json::Value;
use crate::session::{Session, SessionError};
use crate::signing::SecretKeys;

use super::session_hash::{self, Matched};
use super::user::{InvalidUserId, PkKind, User, UserSource, UserSourceError};

/// `_auth_user_id`: the user's primary key, as text.
pub const SESSION_KEY: &str = "_auth_user_id";
/// `_auth_user_backend`: the dotted path of the backend that logged the user in.
pub const BACKEND_SESSION_KEY: &str = "_auth_user_backend";
/// `_auth_user_hash`: the session auth hash ([`User::session_auth_hash`]).
pub const HASH_SESSION_KEY: &str = "_auth_user_hash";
/// Django's own backend, the default `AUTHENTICATION_BACKENDS`.
pub const MODEL_BACKEND: &str = "django.contrib.auth.backends.ModelBackend";

/// One entry of `AUTHENTICATION_BACKENDS`, as far as a session needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// The dotted path stored in `_auth_user_backend`.
    pub path: String,
    /// Whether the backend returns inactive users (Django's `AllowAllUsersModelBackend`).
    pub allow_inactive: bool,
}

impl Backend {
    /// A backend at `path` that, like `ModelBackend`, refuses inactive users.
    pub fn new(path: impl Into<String>) -> Self {
        Backend {
            path: path.into(),
            allow_inactive: false,
        }
    }
}

/// The settings of `django.contrib.auth` that a session depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// `AUTHENTICATION_BACKENDS`: a session naming another backend has no user. Default:
    /// [`MODEL_BACKEND`], as Django's.
    pub backends: Vec<Backend>,
    /// The user model's primary key kind (`auth.User`: [`PkKind::Int`]).
    pub pk: PkKind,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            backends: vec![Backend::new(MODEL_BACKEND)],
            pk: PkKind::Int,
        }
    }
}

/// What a login or a check did to the session's key, as Django would have: for audit logs,
/// and so tests can hold tessera to Django's choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Neither: the same user logged in again with the same password, or nothing changed.
    Kept,
    /// `cycle_key()`: the data under a new key (a login from an anonymous session, a
    /// fallback-key hash upgraded, a password change).
    Cycled,
    /// `flush()`: the old session deleted (another user's session, a stale password hash).
    Flushed,
}

/// Why a login, logout or check failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The session could not be read or written.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// `_auth_user_id` holds what the primary key cannot read (Django's `ValidationError`).
    #[error(transparent)]
    InvalidUserId(#[from] InvalidUserId),
    /// Several backends are configured and the login did not say which one (Django's
    /// `ValueError`); Django has already cycled the key by then, and so has tessera.
    #[error(
        "several authentication backends are configured: login must name the backend that \
         authenticated the user"
    )]
    BackendRequired,
    /// The user source failed.
    #[error(transparent)]
    UserSource(#[from] UserSourceError),
    /// No random bytes for the new CSRF secret.
    #[error(transparent)]
    Csrf(#[from] RandomUnavailable),
    /// A stored password field Django cannot read either, or the check did not finish.
    #[error(transparent)]
    Password(super::password::PasswordError),
}

/// The stored hash as Django's `constant_time_compare` sees it: text, or the JSON of another
/// value (never equal to a hex hash).
fn stored_text(value: Option<Value>) -> Option<String> {
    match value? {
        Value::Str(s) => Some(s),
        other => Some(crate::json::to_string(&other)),
    }
}

/// Django's `login(request, user, backend)`: ties the session to `user`.
///
/// If the session holds another user, or this user with a hash other than the current key's,
/// it is flushed; if it holds no user, its key is cycled (against session fixation); if it
/// holds this user with the current hash, it keeps its key. Then the three keys are set and,
/// given the request's [`CsrfToken`], the CSRF secret is rotated. `backend` `None` takes the
/// only configured backend.
///
/// # Errors
///
/// A stored `_auth_user_id` the primary key cannot read (nothing changed), no `backend` with
/// several configured (after the key was cycled, as Django), a session or CSRF failure.
pub async fn login(
    session: &Session,
    user: &User,
    backend: Option<&str>,
    config: &AuthConfig,
    keys: &SecretKeys,
    csrf: Option<&CsrfToken>,
) -> Result<Renewal, AuthError> {
    let hash = user.session_auth_hash(keys);
    let renewal = match session.get_value(SESSION_KEY).await? {
        Some(stored_id) => {
            let same_user = config.pk.to_python(&stored_id)?.as_deref() == Some(&user.id);
            let stored_hash = stored_text(session.get_value(HASH_SESSION_KEY).await?);
            let same_hash = constant_time_eq(
                stored_hash.as_deref().unwrap_or("").as_bytes(),
                hash.as_bytes(),
            );
            if same_user && (hash.is_empty() || same_hash) {
                Renewal::Kept
            } else {
                session.flush().await?;
                Renewal::Flushed
            }
        }
        None => {
            session.cycle_key().await?;
            Renewal::Cycled
        }
    };
    let backend = match (backend, config.backends.as_slice()) {
        (Some(path), _) => path,
        (None, [only]) => only.path.as_str(),
        (None, _) => return Err(AuthError::BackendRequired),
    };
    session.insert(SESSION_KEY, &user.id).await?;
    session.insert(BACKEND_SESSION_KEY, backend).await?;
    session.insert(HASH_SESSION_KEY, &hash).await?;
    if let Some(csrf) = csrf {
        csrf.rotate()?;
    }
    Ok(renewal)
}

/// Django's `logout(request)`: flushes the session (its record deleted, the cookie removed).
///
/// # Errors
///
/// The store could not delete the record.
pub async fn logout(session: &Session) -> Result<(), AuthError> {
    session.flush().await?;
    Ok(())
}

/// Django's `get_user(request)`: the session's user, checked against `users` and the session
/// auth hash, or `None` (Django's `AnonymousUser`).
///
/// A missing user id or backend, a backend not configured, an unknown user, or an inactive one
/// (unless its backend allows them) give `None` and leave the session alone. A hash that is
/// missing or matches no key flushes the session (the password changed: log out). A hash made
/// with a fallback key is accepted, the key cycled and the hash replaced with the current
/// key's.
///
/// # Errors
///
/// A stored `_auth_user_id` the primary key cannot read (as Django's `ValidationError`), a
/// user source or session failure.
pub async fn get_user(
    session: &Session,
    config: &AuthConfig,
    keys: &SecretKeys,
    users: &dyn UserSource,
) -> Result<(Option<User>, Renewal), AuthError> {
    let anonymous = Ok((None, Renewal::Kept));
    let Some(stored_id) = session.get_value(SESSION_KEY).await? else {
        return anonymous;
    };
    let user_id = config.pk.to_python(&stored_id)?;
    let Some(Value::Str(path)) = session.get_value(BACKEND_SESSION_KEY).await? else {
        return anonymous;
    };
    let Some(backend) = config.backends.iter().find(|b| b.path == path) else {
        return anonymous;
    };
    let Some(user_id) = user_id else {
        return anonymous;
    };
    let user = match users.user(&user_id).await? {
        Some(user) if user.is_active || backend.allow_inactive => user,
        _ => return anonymous,
    };
    let stored_hash = session.get_value(HASH_SESSION_KEY).await?;
    let matched = match &stored_hash {
        Some(value) if value.is_truthy() => {
            let text = stored_text(stored_hash.clone()).unwrap_or_default();
            session_hash::verify(keys, &user.password, &text)
        }
        _ => None,
    };
    match matched {
        Some(Matched::Current) => Ok((Some(user), Renewal::Kept)),
        Some(Matched::Fallback(_)) => {
            session.cycle_key().await?;
            session
                .insert(HASH_SESSION_KEY, &user.session_auth_hash(keys))
                .await?;
            Ok((Some(user), Renewal::Cycled))
        }
        None => {
            session.flush().await?;
            Ok((None, Renewal::Flushed))
        }
    }
}

/// Django's `update_session_auth_hash(request, user)`, after a password change: cycles the
/// key and, when `user` is the request's user, stores the hash of the new password so this
/// session stays logged in while every other session of the user ends.
///
/// # Errors
///
/// The session could not be cycled or written.
pub async fn update_session_auth_hash(
    session: &Session,
    request_user: Option<&User>,
    user: &User,
    keys: &SecretKeys,
) -> Result<(), AuthError> {
    session.cycle_key().await?;
    if request_user.is_some_and(|current| current.id == user.id) {
        session
            .insert(HASH_SESSION_KEY, &user.session_auth_hash(keys))
            .await?;
    }
    Ok(())
}
