//! Django's `ModelBackend.authenticate`: a login name and a password to a user, with the
//! password checked as Django checks it.

use super::password::{check_password, PasswordHasher};
use super::user::{User, UserSource};
use super::AuthError;

/// The user `username` names, if `password` is theirs and they are active; `None` otherwise,
/// without saying which (as Django's `authenticate`).
///
/// PBKDF2 takes about a second of CPU at Django's iteration count, so it runs on tokio's
/// blocking pool, never on the async workers. An unknown name still hashes the password once
/// with `hasher`, so the answer's timing does not tell which names exist (Django does the
/// same).
///
/// # Errors
///
/// The user source failed, or a stored password field is malformed (Django raises there too).
pub async fn authenticate(
    users: &dyn UserSource,
    username: &str,
    password: &str,
    hasher: PasswordHasher,
) -> Result<Option<User>, AuthError> {
    let found = users.user_by_username(username).await?;
    let raw = password.to_owned();
    let Some(user) = found else {
        run_blocking(move || hasher.hash(&raw).map(drop)).await?;
        return Ok(None);
    };
    let encoded = user.password.clone();
    let check = run_blocking(move || check_password(Some(&raw), &encoded, &hasher)).await?;
    Ok((check.correct && user.is_active).then_some(user))
}

/// Runs CPU-heavy password work off the async workers.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, super::password::PasswordError> + Send + 'static,
) -> Result<T, AuthError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(AuthError::Password),
        Err(e) => Err(AuthError::Password(super::password::PasswordError(
            format!("the password check did not finish: {e}"),
        ))),
    }
}
