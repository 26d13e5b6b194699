//! `tessera sessions list|revoke --user ID`: a user's sessions from the store's per-user index,
//! for an operator (a stolen laptop, a fired employee). Keys are shown short, never in full.
//! `tessera sessions reindex` backfills the index with sessions written without it (by Django's
//! own engines, or before the index existed).

use clap::{Args, Subcommand};
use serde_json::json;
use tessera::session::SessionKey;
use tessera::store::{SessionStore, StoreError, UserSession};
use tessera::url::{open, DEFAULT_URL};

use super::exit::CliError;
use super::keys::VerifyingKeys;
use super::ops::{open_store, runtime};

/// A user's sessions.
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Print a user's live sessions as JSON, most recently seen first.
    List(ListArgs),
    /// End a user's sessions (all, or all but one); prints how many as JSON.
    Revoke(RevokeArgs),
    /// Index every live logged-in session the index misses (sessions Django's own engines
    /// wrote): one pass over the store, in batches; prints how many as JSON.
    Reindex(ReindexArgs),
}

/// `sessions reindex`.
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// The store, as a URL
    #[arg(long, default_value = DEFAULT_URL)]
    store: String,
    /// Sessions read per batch
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// The keys the sessions were signed with (`SECRET_KEY` and its fallbacks): each session
    /// is decoded to find its user
    #[command(flatten)]
    keys: VerifyingKeys,
}

/// `sessions list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The store, as a URL
    #[arg(long, default_value = DEFAULT_URL)]
    store: String,
    /// The user's primary key, as Django stores it in `_auth_user_id`
    #[arg(long, value_name = "ID")]
    user: String,
}

/// `sessions revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The store, as a URL
    #[arg(long, default_value = DEFAULT_URL)]
    store: String,
    /// The user's primary key, as Django stores it in `_auth_user_id`
    #[arg(long, value_name = "ID")]
    user: String,
    /// Keep this session: its key, or its short form as `list` shows it
    #[arg(long, value_name = "KEY")]
    keep: Option<String>,
}

/// Runs a `sessions` subcommand.
pub fn run(command: SessionsCommand) -> Result<String, CliError> {
    runtime()?.block_on(async {
        match command {
            SessionsCommand::List(args) => {
                let store = server_store(&args.store).await?;
                let listed = listing(store.as_ref(), &args.user).await?;
                let sessions: Vec<_> = listed.iter().map(entry).collect();
                Ok(json!({"user": args.user, "sessions": sessions}).to_string())
            }
            SessionsCommand::Revoke(args) => {
                let store = server_store(&args.store).await?;
                let keep = match &args.keep {
                    Some(keep) => Some(find_kept(store.as_ref(), &args.user, keep).await?),
                    None => None,
                };
                let revoked = store
                    .revoke_user_sessions(&args.user, keep.as_ref())
                    .await
                    .map_err(store_error)?;
                Ok(json!({"user": args.user, "revoked": revoked}).to_string())
            }
            SessionsCommand::Reindex(args) => {
                let keys = args.keys.keys()?;
                let sessions = open(&args.store, &keys)
                    .await
                    .map_err(|e| CliError::data("StoreError", e.to_string()))?;
                let store = sessions.store().cloned().ok_or_else(no_server_store)?;
                let batch = usize::try_from(args.batch).unwrap_or(usize::MAX);
                let indexed = store
                    .reindex_users(tessera::signing::now(), batch)
                    .await
                    .map_err(store_error)?;
                Ok(json!({"indexed": indexed}).to_string())
            }
        }
    })
}

/// The server-side store of `url`; signed-cookie sessions have none to list.
async fn server_store(url: &str) -> Result<std::sync::Arc<dyn SessionStore>, CliError> {
    let sessions = open_store(url).await?;
    sessions.store().cloned().ok_or_else(no_server_store)
}

fn no_server_store() -> CliError {
    CliError::usage(
        "ImproperlyConfigured",
        "signed-cookie sessions live in the browser: there is nothing to list or revoke",
    )
}

async fn listing(store: &dyn SessionStore, user: &str) -> Result<Vec<UserSession>, CliError> {
    store
        .user_sessions(user, tessera::signing::now())
        .await
        .map_err(store_error)
}

/// One session as printed: the key short, the times in RFC 3339.
fn entry(s: &UserSession) -> serde_json::Value {
    json!({
        "id": s.short(),
        "created": rfc3339(s.created_at),
        "last_seen": rfc3339(s.last_seen),
        "expires": rfc3339(s.expires_at),
    })
}

/// The user's session `keep` names (a full key or a short one), so a typo never ends the
/// session the operator meant to keep.
async fn find_kept(
    store: &dyn SessionStore,
    user: &str,
    keep: &str,
) -> Result<SessionKey, CliError> {
    let listed = listing(store, user).await?;
    let prefix = keep.trim_end_matches('…');
    let full = SessionKey::parse(keep);
    let mut matching = listed.iter().filter(|s| match &full {
        Some(key) => &s.key == key,
        None => s.short().trim_end_matches('…') == prefix,
    });
    match (matching.next(), matching.next()) {
        (Some(found), None) => Ok(found.key.clone()),
        (Some(_), Some(_)) => Err(CliError::data(
            "ValueError",
            format!("several of user {user}'s sessions start with {prefix}: give the full key"),
        )),
        (None, _) => Err(CliError::data(
            "ValueError",
            format!("--keep names none of user {user}'s live sessions; nothing was revoked"),
        )),
    }
}

fn store_error(e: StoreError) -> CliError {
    CliError::data("StoreError", e.to_string())
}

/// Unix seconds as RFC 3339 in UTC.
fn rfc3339(unix: f64) -> String {
    chrono::DateTime::from_timestamp(unix.floor() as i64, 0).map_or_else(
        || unix.to_string(),
        |d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}
