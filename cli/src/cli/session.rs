//! `tessera session decode|encode`: Django's stored session data (`django_session.session_data`,
//! file and cache backends) from the shell.

use clap::{Args, Subcommand};
use tessera::json::{self, Value};
use tessera::session::codec::DEFAULT_KEY_SALT;
use tessera::signing::TimestampSigner;

use super::exit::CliError;
use super::keys::{SigningKey, VerifyingKeys};
use super::values;

/// Reading and writing stored session data.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Print stored session data as JSON (what `SessionStore().decode(DATA)` returns).
    Decode(DecodeArgs),
    /// Print the session data Django would store for a JSON object.
    Encode(EncodeArgs),
}

/// `session decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    keys: VerifyingKeys,
    /// The backend's key salt: `django.contrib.sessions.` + the SessionStore class name
    #[arg(long, default_value = DEFAULT_KEY_SALT, allow_hyphen_values = true)]
    key_salt: String,
    /// The stored text
    #[arg(allow_hyphen_values = true)]
    data: String,
}

/// `session encode`.
#[derive(Debug, Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    key: SigningKey,
    /// The backend's key salt
    #[arg(long, default_value = DEFAULT_KEY_SALT, allow_hyphen_values = true)]
    key_salt: String,
    /// Sign as if the clock read this Unix time (fractions allowed)
    #[arg(long, value_parser = values::unix_time, allow_hyphen_values = true)]
    now: Option<f64>,
    /// The session as a JSON object
    #[arg(allow_hyphen_values = true)]
    json: String,
}

/// Runs a `session` subcommand.
pub fn run(command: SessionCommand) -> Result<String, CliError> {
    match command {
        SessionCommand::Decode(args) => {
            let signer = TimestampSigner::builder(&args.keys.keys()?)
                .salt(args.key_salt)
                .build()?;
            // Django's decode turns every failure into `{}`; an operator wants to know why.
            let value = signer.unsign_object_at(&args.data, None, 0.0)?;
            if !matches!(value, Value::Dict(_)) {
                return Err(CliError::data(
                    "ValueError",
                    "the data is validly signed but not a JSON object",
                ));
            }
            Ok(json::to_string(&value))
        }
        SessionCommand::Encode(args) => {
            let value = json::from_str(&args.json)
                .map_err(|e| CliError::data("ValueError", e.to_string()))?;
            if !matches!(value, Value::Dict(_)) {
                return Err(CliError::data("ValueError", "a session is a JSON object"));
            }
            let signer = TimestampSigner::builder(&args.key.keys()?)
                .salt(args.key_salt)
                .build()?;
            Ok(signer.sign_object_at(&value, true, values::now_or_clock(args.now)))
        }
    }
}
