//! The tower layer and the [`Auth`] handle: Django's `AuthenticationMiddleware` and
//! `request.user`, plus `login`/`logout` bound to the request's session and CSRF state.
//!
//! The layer only puts an [`Auth`] handle into the request's extensions; nothing is looked up
//! until a handler asks for the user, and then once per request (Django's lazy
//! `request.user`). It needs the request's [`Session`], so the
//! [`SessionLayer`](crate::SessionLayer) must wrap it; a [`CsrfLayer`](crate::csrf::CsrfLayer)
//! outside it lets [`Auth::login`] rotate the CSRF secret, as Django's `login` does.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tokio::sync::Mutex;
use tower_layer::Layer;
use tower_service::Service;

use super::authenticate::authenticate;
use super::login::{self, AuthConfig, AuthError, Renewal};
use super::password::PasswordHasher;
use super::user::{User, UserSource};
use crate::csrf::CsrfToken;
use crate::session::Session;
use crate::signing::SecretKeys;

/// What every request of one layer shares.
struct Shared {
    config: AuthConfig,
    keys: SecretKeys,
    users: Arc<dyn UserSource>,
    hasher: PasswordHasher,
}

/// Gives every request an [`Auth`] handle: who is logged in, checked against `users` and the
/// session auth hash under `keys` (`SECRET_KEY` and its fallbacks).
///
/// ```
/// use std::sync::Arc;
/// use axum::{routing::get, Router};
/// use tessera::auth::{AuthConfig, AuthLayer, MaybeUser, MemoryUsers};
/// use tessera::signing::SecretKeys;
/// use tessera::{store::memory::MemoryStore, SessionConfig, SessionLayer};
///
/// async fn whoami(MaybeUser(user): MaybeUser) -> String {
///     user.map_or("anonymous".to_owned(), |u| format!("user {}", u.id))
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = SecretKeys::new("a long random secret");
/// let app: Router = Router::new()
///     .route("/whoami", get(whoami))
///     .layer(AuthLayer::new(Arc::new(MemoryUsers::new()), &keys, AuthConfig::default()))
///     .layer(SessionLayer::new(Arc::new(MemoryStore::new()), SessionConfig::default())?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// Users from `users`, session hashes under `keys`, Django's settings in `config`.
    pub fn new(users: Arc<dyn UserSource>, keys: &SecretKeys, config: AuthConfig) -> Self {
        AuthLayer {
            shared: Arc::new(Shared {
                config,
                keys: keys.clone(),
                users,
                hasher: PasswordHasher::default(),
            }),
        }
    }

    /// The hasher [`Auth::authenticate`] uses for unknown names (Django's
    /// `PASSWORD_HASHERS[0]`); Django 6.1's by default.
    #[must_use]
    pub fn password_hasher(self, hasher: PasswordHasher) -> Self {
        let Shared {
            config,
            keys,
            users,
            ..
        } = &*self.shared;
        AuthLayer {
            shared: Arc::new(Shared {
                config: config.clone(),
                keys: keys.clone(),
                users: users.clone(),
                hasher,
            }),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around a handler.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let session = req.extensions().get::<Session>().cloned();
        let csrf = req.extensions().get::<CsrfToken>().cloned();
        if let Some(session) = session {
            req.extensions_mut().insert(Auth {
                shared: self.shared.clone(),
                session,
                csrf,
                user: Arc::new(Mutex::new(None)),
            });
        }
        // Without a session there is no handle; the extractors say the layer order is wrong.
        self.inner.call(req)
    }
}

/// One request's view of who is logged in, and the means to change it. Cheap to clone; clones
/// share the looked-up user.
#[derive(Clone)]
pub struct Auth {
    shared: Arc<Shared>,
    session: Session,
    csrf: Option<CsrfToken>,
    /// `request.user`: `None` until looked up (once; the lock keeps concurrent callers from
    /// looking up twice).
    user: Arc<Mutex<Option<Option<User>>>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("user", &self.user.try_lock().ok().and_then(|u| u.clone()))
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// The logged-in user (Django's `request.user`), or `None` for an anonymous visitor;
    /// looked up on first use, as [`get_user`](super::get_user) does: a session whose hash no
    /// longer matches the password is flushed.
    ///
    /// A stored `_auth_user_id` the primary key cannot read makes Django fail every request
    /// until the cookie is gone; here it is an anonymous visitor and a warning in the log.
    ///
    /// # Errors
    ///
    /// The user source or the session store failed.
    pub async fn user(&self) -> Result<Option<User>, AuthError> {
        let mut known = self.user.lock().await;
        if let Some(user) = &*known {
            return Ok(user.clone());
        }
        let shared = &self.shared;
        let user = match login::get_user(
            &self.session,
            &shared.config,
            &shared.keys,
            shared.users.as_ref(),
        )
        .await
        {
            Ok((user, _)) => user,
            Err(AuthError::InvalidUserId(e)) => {
                tracing::warn!(target: "tessera::auth", error = %e, "anonymous");
                None
            }
            Err(e) => return Err(e),
        };
        *known = Some(user.clone());
        Ok(user)
    }

    /// Checks a login name and password against the user source (Django's `authenticate`
    /// with `ModelBackend`): the user, if the password is theirs and they are active.
    ///
    /// # Errors
    ///
    /// The user source failed or a stored password field is malformed.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AuthError> {
        let shared = &self.shared;
        authenticate(shared.users.as_ref(), username, password, shared.hasher).await
    }

    /// Logs `user` in on this request's session (Django's `login`): see
    /// [`login`](super::login()) for when the key is kept, cycled or the session flushed. The
    /// backend stored is the only configured one; the CSRF secret is rotated when a
    /// [`CsrfLayer`](crate::csrf::CsrfLayer) is installed.
    ///
    /// # Errors
    ///
    /// Several backends are configured (use [`Auth::login_with_backend`]), or the session,
    /// CSRF source or stored user id failed.
    pub async fn login(&self, user: &User) -> Result<Renewal, AuthError> {
        self.login_inner(user, None).await
    }

    /// [`Auth::login`] naming the backend (`_auth_user_backend`) that authenticated `user`.
    ///
    /// # Errors
    ///
    /// As [`Auth::login`].
    pub async fn login_with_backend(
        &self,
        user: &User,
        backend: &str,
    ) -> Result<Renewal, AuthError> {
        self.login_inner(user, Some(backend)).await
    }

    async fn login_inner(&self, user: &User, backend: Option<&str>) -> Result<Renewal, AuthError> {
        let shared = &self.shared;
        let renewal = login::login(
            &self.session,
            user,
            backend,
            &shared.config,
            &shared.keys,
            self.csrf.as_ref(),
        )
        .await?;
        self.set_user(Some(user.clone())).await;
        Ok(renewal)
    }

    /// Logs the visitor out (Django's `logout`): the session is flushed.
    ///
    /// # Errors
    ///
    /// The store could not delete the session.
    pub async fn logout(&self) -> Result<(), AuthError> {
        login::logout(&self.session).await?;
        self.set_user(None).await;
        Ok(())
    }

    /// After `user`'s password changed (Django's `update_session_auth_hash`): the key is
    /// cycled and, when `user` is the one logged in, this session keeps them logged in while
    /// their other sessions end.
    ///
    /// # Errors
    ///
    /// The session could not be cycled or written, or the user lookup failed.
    pub async fn update_session_auth_hash(&self, user: &User) -> Result<(), AuthError> {
        let current = self.user().await?;
        login::update_session_auth_hash(&self.session, current.as_ref(), user, &self.shared.keys)
            .await?;
        if current.is_some_and(|c| c.id == user.id) {
            self.set_user(Some(user.clone())).await;
        }
        Ok(())
    }

    /// The request's session, for anything else the handler stores.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Replaces the looked-up user (after a login or logout on this request).
    async fn set_user(&self, user: Option<User>) {
        *self.user.lock().await = Some(user);
    }
}
