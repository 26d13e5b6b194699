//! Django's `ModelBackend.authenticate`: a login name and a password to a user, with the
//! password checked as Django checks it.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use super::password::{check_password, PasswordError, PasswordHasher};
use super::user::{User, UserSource};
use super::AuthError;

/// The user `username` names, if `password` is theirs and they are active; `None` otherwise,
/// without saying which (as Django's `authenticate`).
///
/// PBKDF2 takes about a second of CPU at Django's iteration count, so it runs on tokio's
/// blocking pool, never on the async workers, and at most one check per CPU runs at once
/// (`password_work`): a flood of logins waits its turn instead of taking every core from
/// the requests that do not log in. An unknown name still hashes the password once with
/// `hasher`, so the answer's timing does not tell which names exist (Django does the same).
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

/// How many password hashes may run at once: one per CPU.
static PASSWORD_SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
});

/// Runs CPU-heavy password work (PBKDF2) off the async workers, at most one per CPU at once;
/// the rest wait in line. For `SqlUsers::add_user` and anything else that hashes.
pub(crate) async fn password_work<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    // The semaphore is never closed, so acquiring cannot fail.
    let _slot = PASSWORD_SLOTS.acquire().await;
    tokio::task::spawn_blocking(work).await
}

/// [`password_work`] for a check whose own error is a [`PasswordError`].
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
) -> Result<T, AuthError> {
    match password_work(work).await {
        Ok(result) => result.map_err(AuthError::Password),
        Err(e) => Err(AuthError::Password(PasswordError(format!(
            "the password check did not finish: {e}"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Many checks at once run at most one per CPU; the rest wait, and all finish.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_work_runs_one_per_cpu_at_most() {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..cpus * 4)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(password_work(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!(
            most >= 1 && most <= cpus,
            "{most} ran at once on {cpus} CPUs"
        );
    }
}
