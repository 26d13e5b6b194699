//! `tessera migrate` and `tessera clearsessions`: Django's `migrate sessions` and
//! `clearsessions` for any store URL.

use std::io::IsTerminal as _;
use std::sync::Arc;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tessera::signing::SecretKeys;
use tessera::url::{open, Sessions, DEFAULT_URL};

use super::exit::CliError;

/// `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store, as a URL (sqlite://, postgres://, mysql://, redis://, file://, …)
    #[arg(long, default_value = DEFAULT_URL)]
    store: String,
}

/// `clearsessions`.
#[derive(Debug, Args)]
pub struct ClearArgs {
    /// The store, as a URL
    #[arg(long, default_value = DEFAULT_URL)]
    store: String,
    /// Rows removed per statement, so a huge backlog never holds a long lock
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
}

/// A runtime for one maintenance command.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::data("OSError", e.to_string()))
}

/// Neither command reads session data, so no secret key is needed to open the store.
pub(super) async fn open_store(url: &str) -> Result<Sessions, CliError> {
    open(url, &SecretKeys::new("tessera-maintenance-unused"))
        .await
        .map_err(|e| CliError::data("StoreError", e.to_string()))
}

/// Creates the session table and its indexes where the store has them.
pub fn migrate(args: MigrateArgs) -> Result<String, CliError> {
    runtime()?.block_on(async {
        let sessions = open_store(&args.store).await?;
        sessions
            .migrate()
            .await
            .map_err(|e| CliError::data("StoreError", e.to_string()))?;
        Ok("the session store is ready".to_owned())
    })
}

/// Removes expired sessions in batches: a progress line on a terminal, a summary otherwise.
pub fn clearsessions(args: ClearArgs) -> Result<String, CliError> {
    runtime()?.block_on(async {
        let sessions = open_store(&args.store).await?;
        let Some(store) = sessions.store() else {
            return Ok(
                "0 expired sessions removed (cookie sessions live in the browser)".to_owned(),
            );
        };
        let bar = Arc::new(if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos} expired sessions removed ({elapsed})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        } else {
            ProgressBar::hidden()
        });
        let started = std::time::Instant::now();
        let shown = bar.clone();
        let batch = usize::try_from(args.batch).unwrap_or(usize::MAX);
        let removed = store
            .clear_expired_with_progress(tessera::signing::now(), batch, &move |n| {
                shown.set_position(n)
            })
            .await
            .map_err(|e| CliError::data("StoreError", e.to_string()))?;
        bar.finish_and_clear();
        Ok(format!(
            "{removed} expired sessions removed in {:.2} s",
            started.elapsed().as_secs_f64()
        ))
    })
}
