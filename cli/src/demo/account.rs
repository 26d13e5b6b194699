//! The logged-in visitor's sessions, for the `/sessions/` page and `/api/sessions` alike:
//! listed from the store's per-user index, ended one at a time, all but this browser's, or
//! all.

use axum::http::StatusCode;

use super::DemoState;
use tessera::auth::{Auth, AuthError, User};
use tessera::store::user_index::UserSession;
use tessera::store::StoreError;

/// Why the sessions could not be listed or ended; each becomes a page or a JSON error.
#[derive(Debug)]
pub(super) enum AccountError {
    /// Nobody is logged in.
    Anonymous,
    /// The store keeps no per-user index (or there is no server-side store).
    NotIndexed(String),
    /// No session of this user has that short key.
    NoSuchSession(String),
    /// Several sessions share that short key; the visitor must end them another way.
    Ambiguous(String),
    /// The request named no sessions, or more than one kind.
    BadRequest(String),
    /// Logging in or out, or looking up the user, failed.
    Auth(AuthError),
    /// The store failed.
    Store(StoreError),
}

impl From<AuthError> for AccountError {
    fn from(e: AuthError) -> Self {
        AccountError::Auth(e)
    }
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Config(why) => AccountError::NotIndexed(why),
            e => AccountError::Store(e),
        }
    }
}

impl AccountError {
    /// The status and a message fit for the visitor (internal detail goes to the log).
    pub(super) fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            AccountError::Anonymous => (StatusCode::UNAUTHORIZED, "log in first".to_owned()),
            AccountError::NotIndexed(why) => (
                StatusCode::NOT_IMPLEMENTED,
                format!("this store cannot list a user's sessions: {why}"),
            ),
            AccountError::NoSuchSession(short) => (
                StatusCode::NOT_FOUND,
                format!("you have no session {short}"),
            ),
            AccountError::Ambiguous(short) => (
                StatusCode::CONFLICT,
                format!("several of your sessions start with {short}: use \"others\" or \"all\""),
            ),
            AccountError::BadRequest(why) => (StatusCode::BAD_REQUEST, why.clone()),
            AccountError::Auth(e) => {
                tracing::warn!("login state: {e}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the user table or the session store is not responding".to_owned(),
                )
            }
            AccountError::Store(e) => {
                tracing::warn!("user sessions: {e}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the session store is not responding".to_owned(),
                )
            }
        }
    }
}

/// One of the visitor's sessions as shown: the listing's entry and whether it is this browser's.
pub(super) struct Shown {
    pub(super) session: UserSession,
    pub(super) current: bool,
}

/// The logged-in user, or [`AccountError::Anonymous`].
pub(super) async fn logged_in(auth: &Auth) -> Result<User, AccountError> {
    auth.user().await?.ok_or(AccountError::Anonymous)
}

/// The user's live sessions, most recently seen first, this browser's marked.
pub(super) async fn list(
    state: &DemoState,
    auth: &Auth,
    user: &User,
) -> Result<Vec<Shown>, AccountError> {
    let store = store(state)?;
    let current = auth.session().session_key().await;
    let listed = store
        .user_sessions(&user.id, tessera::signing::now())
        .await?;
    Ok(listed
        .into_iter()
        .map(|session| Shown {
            current: current.as_ref() == Some(&session.key),
            session,
        })
        .collect())
}

/// Which sessions to end.
#[derive(Debug)]
pub(super) enum Revoke {
    /// The one whose short key is this (with or without the trailing `…`).
    One(String),
    /// All but this browser's ("log out everywhere else").
    Others,
    /// All, this browser's too (it is logged out).
    All,
}

impl Revoke {
    /// From the request's fields: exactly one of an id, "others" or "all".
    pub(super) fn from_fields(
        id: Option<String>,
        others: bool,
        all: bool,
    ) -> Result<Revoke, AccountError> {
        let id = id
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty());
        match (id, others, all) {
            (Some(id), false, false) => Ok(Revoke::One(id)),
            (None, true, false) => Ok(Revoke::Others),
            (None, false, true) => Ok(Revoke::All),
            _ => Err(AccountError::BadRequest(
                "name exactly one of: a session's id, \"others\", \"all\"".to_owned(),
            )),
        }
    }
}

/// What a revoke did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Revoked {
    /// How many sessions ended.
    pub(super) count: u64,
    /// Whether this browser's session was one of them (the visitor is logged out).
    pub(super) this_browser: bool,
}

/// Ends the sessions `what` names, of the logged-in `user` only.
pub(super) async fn revoke(
    state: &DemoState,
    auth: &Auth,
    user: &User,
    what: Revoke,
) -> Result<Revoked, AccountError> {
    let store = store(state)?;
    let current = auth.session().session_key().await;
    match what {
        Revoke::Others => {
            let count = store
                .revoke_user_sessions(&user.id, current.as_ref())
                .await?;
            Ok(Revoked {
                count,
                this_browser: false,
            })
        }
        Revoke::All => {
            let count = store.revoke_user_sessions(&user.id, None).await?;
            // The response must delete this browser's cookie too.
            auth.logout().await?;
            Ok(Revoked {
                count,
                this_browser: true,
            })
        }
        Revoke::One(short) => {
            let prefix = short.trim_end_matches('…');
            let now = tessera::signing::now();
            let listed = store.user_sessions(&user.id, now).await?;
            let mut matching = listed
                .iter()
                .filter(|s| s.short().trim_end_matches('…') == prefix);
            let (Some(found), None) = (matching.next(), matching.next()) else {
                let shown = format!("{prefix}…");
                return Err(if listed.iter().any(|s| s.short() == shown) {
                    AccountError::Ambiguous(shown)
                } else {
                    AccountError::NoSuchSession(shown)
                });
            };
            let this_browser = current.as_ref() == Some(&found.key);
            if this_browser {
                auth.logout().await?;
            } else {
                store.delete(&found.key).await?;
            }
            Ok(Revoked {
                count: 1,
                this_browser,
            })
        }
    }
}

/// The server-side store, or why there is none to ask.
fn store(state: &DemoState) -> Result<&dyn tessera::store::SessionStore, AccountError> {
    state.store.as_deref().ok_or_else(|| {
        AccountError::NotIndexed("signed-cookie sessions live in the browser".to_owned())
    })
}
