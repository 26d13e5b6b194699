//! `tessera signing …`: Django's `Signer`, `TimestampSigner`, `dumps` and `loads`.

use clap::{Args, Subcommand};
use tessera::json;
use tessera::signing::{self, Signer, TimestampSigner, DUMPS_SALT};

use super::exit::CliError;
use super::keys::{SigningKey, VerifyingKeys};
use super::values::{self, now_or_clock};

/// The `signing` subcommands.
#[derive(Debug, Subcommand)]
pub enum SigningCommand {
    /// Sign a value (Signer.sign, or TimestampSigner.sign with --timestamp).
    Sign(SignArgs),
    /// Verify a signed value and print the original (Signer.unsign / TimestampSigner.unsign).
    Unsign(UnsignArgs),
    /// signing.dumps: serialize JSON, optionally compress, and sign with a timestamp.
    Dumps(DumpsArgs),
    /// signing.loads: verify a dumps token and print its JSON.
    Loads(LoadsArgs),
}

/// The signer's constructor arguments other than keys.
#[derive(Debug, Args)]
pub struct SignerOptions {
    /// The salt; an empty salt means the class default, as in Django [default: the class path]
    #[arg(long, allow_hyphen_values = true)]
    salt: Option<String>,
    /// The separator; refused when empty or made only of A-z, 0-9, '-', '='
    #[arg(long, default_value = ":", allow_hyphen_values = true)]
    sep: String,
    /// The hashlib algorithm name [default: sha256]
    #[arg(long, allow_hyphen_values = true)]
    algorithm: Option<String>,
    /// Use a TimestampSigner
    #[arg(long)]
    timestamp: bool,
    /// Pin the clock (Unix seconds, fractions allowed) [default: the current time]
    #[arg(long, value_name = "UNIX_SECONDS", value_parser = values::unix_time, allow_hyphen_values = true)]
    now: Option<f64>,
}

/// Arguments of `signing sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    key: SigningKey,
    #[command(flatten)]
    options: SignerOptions,
    /// The value to sign
    value: String,
}

/// Arguments of `signing unsign`.
#[derive(Debug, Args)]
pub struct UnsignArgs {
    #[command(flatten)]
    keys: VerifyingKeys,
    #[command(flatten)]
    options: SignerOptions,
    /// Refuse signatures older than this many seconds; needs --timestamp (fractions and
    /// negatives allowed)
    #[arg(long, value_name = "SECONDS", value_parser = values::seconds, allow_hyphen_values = true, requires = "timestamp")]
    max_age: Option<f64>,
    /// The signed value
    signed: String,
}

/// Arguments of `signing dumps`.
#[derive(Debug, Args)]
pub struct DumpsArgs {
    #[command(flatten)]
    key: SigningKey,
    /// The salt; an empty salt means TimestampSigner's default [default: django.core.signing]
    #[arg(long, allow_hyphen_values = true)]
    salt: Option<String>,
    /// Compress with zlib when that makes the token shorter
    #[arg(long)]
    compress: bool,
    /// Pin the clock (Unix seconds, fractions allowed) [default: the current time]
    #[arg(long, value_name = "UNIX_SECONDS", value_parser = values::unix_time, allow_hyphen_values = true)]
    now: Option<f64>,
    /// The object to sign, as JSON (NaN and Infinity allowed, as Python reads them)
    #[arg(allow_negative_numbers = true)]
    json: String,
}

/// Arguments of `signing loads`.
#[derive(Debug, Args)]
pub struct LoadsArgs {
    #[command(flatten)]
    keys: VerifyingKeys,
    /// The salt; an empty salt means TimestampSigner's default [default: django.core.signing]
    #[arg(long, allow_hyphen_values = true)]
    salt: Option<String>,
    /// Refuse tokens older than this many seconds (fractions and negatives allowed)
    #[arg(long, value_name = "SECONDS", value_parser = values::seconds, allow_hyphen_values = true)]
    max_age: Option<f64>,
    /// Pin the clock (Unix seconds, fractions allowed) [default: the current time]
    #[arg(long, value_name = "UNIX_SECONDS", value_parser = values::unix_time, allow_hyphen_values = true)]
    now: Option<f64>,
    /// The token
    token: String,
}

/// Runs a `signing` subcommand.
pub fn run(command: SigningCommand) -> Result<String, CliError> {
    match command {
        SigningCommand::Sign(args) => sign(args),
        SigningCommand::Unsign(args) => unsign(args),
        SigningCommand::Dumps(args) => dumps(args),
        SigningCommand::Loads(args) => loads(args),
    }
}

/// A `Signer` or `TimestampSigner` built as Django's constructor would be.
enum AnySigner {
    Plain(Signer),
    Timestamp(TimestampSigner),
}

impl SignerOptions {
    fn build(&self, keys: &signing::SecretKeys) -> Result<AnySigner, CliError> {
        let algorithm = self.algorithm.as_deref().unwrap_or_default();
        let signer = if self.timestamp {
            let mut builder = TimestampSigner::builder(keys)
                .sep(self.sep.as_str())
                .algorithm_name(algorithm);
            if let Some(salt) = &self.salt {
                builder = builder.salt(salt.as_str());
            }
            AnySigner::Timestamp(builder.build()?)
        } else {
            let mut builder = Signer::builder(keys)
                .sep(self.sep.as_str())
                .algorithm_name(algorithm);
            if let Some(salt) = &self.salt {
                builder = builder.salt(salt.as_str());
            }
            AnySigner::Plain(builder.build()?)
        };
        Ok(signer)
    }
}

fn sign(args: SignArgs) -> Result<String, CliError> {
    let keys = args.key.keys()?;
    Ok(match args.options.build(&keys)? {
        AnySigner::Plain(signer) => signer.sign(&args.value),
        AnySigner::Timestamp(signer) => signer.sign_at(&args.value, now_or_clock(args.options.now)),
    })
}

fn unsign(args: UnsignArgs) -> Result<String, CliError> {
    let keys = args.keys.keys()?;
    let value = match args.options.build(&keys)? {
        AnySigner::Plain(signer) => signer.unsign(&args.signed)?,
        AnySigner::Timestamp(signer) => signer.unsign_at(
            &args.signed,
            args.max_age.map(Into::into),
            now_or_clock(args.options.now),
        )?,
    };
    Ok(value.to_owned())
}

fn dumps(args: DumpsArgs) -> Result<String, CliError> {
    let keys = args.key.keys()?;
    let obj = json::from_str(&args.json).map_err(|e| {
        CliError::data(
            "ValueError",
            format!("invalid JSON: {} (at byte {})", e.message, e.offset),
        )
    })?;
    let salt = args.salt.as_deref().unwrap_or(DUMPS_SALT);
    Ok(signing::dumps_at(
        &obj,
        &keys,
        salt,
        args.compress,
        now_or_clock(args.now),
    )?)
}

fn loads(args: LoadsArgs) -> Result<String, CliError> {
    let keys = args.keys.keys()?;
    let salt = args.salt.as_deref().unwrap_or(DUMPS_SALT);
    let obj = signing::loads_at(
        &args.token,
        &keys,
        salt,
        args.max_age.map(Into::into),
        now_or_clock(args.now),
    )?;
    Ok(json::to_string(&obj))
}
