//! `django.contrib.auth` as far as a session carries it: the password hashes Django stores in
//! `auth_user.password` ([`password`]), the session auth hash that ties a session to the
//! password it was made with ([`session_hash`]), the user a session names ([`user`]), and
//! Django's `login`, `logout`, `get_user` and `update_session_auth_hash` ([`login`]), and
//! users read from Django's `auth_user` table (`sql_users`, with a SQL store's feature).
//!
//! ```
//! use tessera::auth::{password, session_hash};
//! use tessera::signing::SecretKeys;
//! let encoded = password::make_password("s3cret", "62Td6IHzoEfRHPjqYrfavK", password::Algorithm::Pbkdf2Sha256, Some(1000))?;
//! assert!(password::check_password(Some("s3cret"), &encoded, &password::PasswordHasher::default())?.correct);
//! let keys = SecretKeys::new("django-secret");
//! let hash = session_hash::session_auth_hash(keys.current().as_bytes(), &encoded);
//! assert_eq!(session_hash::verify(&keys, &encoded, &hash), Some(session_hash::Matched::Current));
//! # Ok::<(), tessera::auth::password::PasswordError>(())
//! ```

mod authenticate;
#[cfg(feature = "axum")]
mod extract;
mod layer;
pub mod login;
pub mod password;
pub mod session_hash;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub mod sql_users;
pub mod user;

pub use authenticate::authenticate;
#[cfg(feature = "axum")]
pub use extract::{LoggedIn, MaybeUser, MissingAuthLayer};
pub use layer::{Auth, AuthLayer, AuthService};
pub use login::{
    get_user, login, logout, update_session_auth_hash, AuthConfig, AuthError, Backend, Renewal,
};
pub use user::{MemoryUsers, PkKind, User, UserSource, UserSourceError};
