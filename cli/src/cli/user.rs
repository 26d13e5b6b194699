//! `tessera user add NAME`: Django's `createsuperuser` without the flags, for the
//! `auth_user` table next to the sessions (created with Django's DDL when missing).

use std::io::{BufRead as _, IsTerminal as _};

use clap::{Args, Subcommand};
use tessera::auth::sql_users::{SqlUsers, SqlUsersError};
use tessera::url::DEFAULT_URL;

use super::exit::CliError;

/// `user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user to Django's auth_user table (made when missing) and print its id; the
    /// password comes from a prompt, or from the first line of stdin when it is piped
    Add(AddArgs),
}

/// `user add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The login name
    name: String,
    /// The database, as the store's URL (sqlite://, postgres://, mysql://)
    #[arg(long, default_value = DEFAULT_URL)]
    store: String,
}

/// Runs a `user` subcommand.
pub fn run(command: UserCommand) -> Result<String, CliError> {
    match command {
        UserCommand::Add(args) => add(args),
    }
}

fn add(args: AddArgs) -> Result<String, CliError> {
    // Django's createsuperuser refuses both before it touches the password.
    if args.name.is_empty() {
        return Err(CliError::data("CommandError", "Username cannot be blank."));
    }
    let password = read_password()?;
    if password.is_empty() {
        return Err(CliError::data(
            "CommandError",
            "Blank passwords aren't allowed.",
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::data("OSError", e.to_string()))?;
    runtime.block_on(async {
        let users = SqlUsers::connect(&args.store).await.map_err(user_error)?;
        users.create_table_if_missing().await.map_err(user_error)?;
        let user = users
            .add_user(&args.name, &password)
            .await
            .map_err(user_error)?;
        Ok(user.id)
    })
}

/// A prompt without echo (asked twice, as `createsuperuser` asks) on a terminal; otherwise
/// the first line of stdin, without its line ending.
fn read_password() -> Result<String, CliError> {
    let io_error = |e: std::io::Error| CliError::data("OSError", e.to_string());
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(io_error)?;
        let again = rpassword::prompt_password("Password (again): ").map_err(io_error)?;
        if first != again {
            return Err(CliError::data(
                "CommandError",
                "Your passwords didn't match.",
            ));
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(io_error)?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    Ok(line.strip_suffix('\r').unwrap_or(line).to_owned())
}

fn user_error(e: SqlUsersError) -> CliError {
    match e {
        SqlUsersError::UsernameTaken => {
            CliError::data("CommandError", "That username is already taken.")
        }
        // As `migrate` reports a store it cannot open or use.
        other => CliError::data("StoreError", other.to_string()),
    }
}
