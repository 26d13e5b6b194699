//! Secret key options, shared by every command that signs or verifies.
//!
//! As in Django, an empty key means "the settings key": `--key ""` (or an empty
//! `--key-hex`) falls back to `TESSERA_SECRET_KEY`, and an empty fallback key means the
//! current key.

use clap::Args;
use tessera::signing::{Secret, SecretKeys};

use super::exit::CliError;
use super::values::{self, HexBytes};

/// The environment variable read when no key is given (Django's `SECRET_KEY`).
pub const SECRET_KEY_ENV: &str = "TESSERA_SECRET_KEY";

/// The key that signs: `SECRET_KEY`.
#[derive(Debug, Clone, Args)]
pub struct SigningKey {
    /// The secret key as text, used as UTF-8 [default: $TESSERA_SECRET_KEY]
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    key: Option<String>,
    /// The secret key as raw bytes, in hex
    #[arg(long, value_name = "HEX", value_parser = values::hex, conflicts_with = "key")]
    key_hex: Option<HexBytes>,
}

/// The keys that verify: `SECRET_KEY` and `SECRET_KEY_FALLBACKS`.
#[derive(Debug, Clone, Args)]
pub struct VerifyingKeys {
    #[command(flatten)]
    key: SigningKey,
    /// An older key that still verifies, as text (repeatable)
    #[arg(long = "fallback-key", value_name = "KEY", allow_hyphen_values = true)]
    fallback_keys: Vec<String>,
    /// An older key that still verifies, as raw bytes in hex (repeatable)
    #[arg(long = "fallback-key-hex", value_name = "HEX", value_parser = values::hex)]
    fallback_keys_hex: Vec<HexBytes>,
}

impl SigningKey {
    /// The current key: `--key-hex`, else `--key`, else `TESSERA_SECRET_KEY`; empty values
    /// fall through as Django's `key or settings.SECRET_KEY` does.
    pub fn secret(&self) -> Result<Secret, CliError> {
        if let Some(HexBytes(bytes)) = self.key_hex.as_ref().filter(|h| !h.0.is_empty()) {
            return Ok(Secret::from(bytes.clone()));
        }
        if let Some(key) = self.key.as_deref().filter(|k| !k.is_empty()) {
            return Ok(Secret::from(key));
        }
        match std::env::var_os(SECRET_KEY_ENV) {
            Some(value) if !value.is_empty() => {
                value.into_string().map(Secret::from).map_err(|_| {
                    CliError::usage(
                        "ImproperlyConfigured",
                        format!("{SECRET_KEY_ENV} is not valid UTF-8"),
                    )
                })
            }
            _ => Err(CliError::usage(
                "ImproperlyConfigured",
                format!("no secret key: pass --key or --key-hex, or set {SECRET_KEY_ENV}"),
            )),
        }
    }

    /// The current key with no fallbacks.
    pub fn keys(&self) -> Result<SecretKeys, CliError> {
        Ok(SecretKeys::new(self.secret()?))
    }
}

impl VerifyingKeys {
    /// The current key and every fallback (text ones first, then hex ones).
    pub fn keys(&self) -> Result<SecretKeys, CliError> {
        let fallbacks = self.fallback_keys.iter().map(Secret::from).chain(
            self.fallback_keys_hex
                .iter()
                .map(|h| Secret::from(h.0.clone())),
        );
        Ok(SecretKeys::new(self.key.secret()?).with_fallbacks(fallbacks))
    }
}
