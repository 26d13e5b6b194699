//! The `tessera` command line: clap definitions and dispatch.
//!
//! Every command takes its values as arguments, prints its result on stdout followed by one
//! newline, and reports an error on stderr as `Kind: message`, where `Kind` is the Python
//! exception Django raises in the same case. Exit statuses are in [`exit::Status`].
//!
//! New subcommands (`serve`, `migrate`, `clearsessions`, `session …`) are added as variants of
//! [`Command`] and dispatched in [`run`]; key options are shared through [`keys`].

pub mod connections;
pub mod cookie;
pub mod exit;
pub mod keys;
pub mod ops;
pub mod serve;
pub mod session;
pub mod signing;
pub mod user;
pub mod user_sessions;
pub mod values;

use clap::{Parser, Subcommand};

use exit::CliError;

/// Django's cookies, signed cookies and signing, byte for byte.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// django.core.signing: Signer, TimestampSigner, dumps and loads.
    #[command(subcommand)]
    Signing(signing::SigningCommand),
    /// Cookies: signed cookie values, Set-Cookie headers and Cookie header parsing.
    #[command(subcommand)]
    Cookie(cookie::CookieCommand),
    /// Stored session data: decode what Django stored, encode what Django would store.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// The demo site: every cookie and session feature in a browser, and a JSON API.
    Serve(serve::ServeArgs),
    /// Create the session table and indexes (Django's `migrate sessions`).
    Migrate(ops::MigrateArgs),
    /// Remove expired sessions in batches (Django's `clearsessions`).
    Clearsessions(ops::ClearArgs),
    /// A user's sessions: list them, or end them (all, or all but one).
    #[command(subcommand)]
    Sessions(user_sessions::SessionsCommand),
    /// Users in Django's auth_user table.
    #[command(subcommand)]
    User(user::UserCommand),
}

impl Command {
    /// Whether the command has no result to print (a server): its empty `Ok` prints nothing.
    pub fn prints_nothing(&self) -> bool {
        if matches!(self, Command::Serve(_)) {
            return true;
        }
        false
    }
}

/// Runs a parsed command line; `Ok` holds what to print on stdout.
pub fn run(cli: Cli) -> Result<String, CliError> {
    match cli.command {
        Command::Signing(command) => signing::run(command),
        Command::Cookie(command) => cookie::run(command),
        Command::Session(command) => session::run(command),
        Command::Serve(args) => serve::run(args),
        Command::Migrate(args) => ops::migrate(args),
        Command::Clearsessions(args) => ops::clearsessions(args),
        Command::Sessions(command) => user_sessions::run(command),
        Command::User(command) => user::run(command),
    }
}
