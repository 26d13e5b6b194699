//! Secret key options, shared by every command that signs or verifies.
//!
//! As in Django, an empty key means "the settings key": `--key ""` (or an empty
//! `--key-hex`) falls back to `TESSERA_SECRET_KEY`, and an empty fallback key means the
//! current key.
//!
//! A key on the command line is visible to every local user (`ps`, `/proc/PID/cmdline`); a key
//! file ([`read_key_file`]: `--key-file`, `serve --secret-key-file`) or the environment
//! (`/proc/PID/environ` is the owner's only) is not.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use clap::Args;
use tessera::signing::{Secret, SecretKeys};

use super::exit::{CliError, Status};
use super::values::{self, HexBytes};

/// The environment variable read when no key is given (Django's `SECRET_KEY`).
pub const SECRET_KEY_ENV: &str = "TESSERA_SECRET_KEY";

/// The key that signs: `SECRET_KEY`.
#[derive(Debug, Clone, Args)]
pub struct SigningKey {
    /// The secret key as text, used as UTF-8 [default: $TESSERA_SECRET_KEY]. Other users
    /// can see it in `ps`: prefer --key-file or TESSERA_SECRET_KEY
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    key: Option<String>,
    /// The secret key as raw bytes, in hex (as visible in `ps` as --key)
    #[arg(long, value_name = "HEX", value_parser = values::hex, conflicts_with = "key")]
    key_hex: Option<HexBytes>,
    /// Read the secret key from this file (`-`: standard input), less one trailing newline
    #[arg(long, value_name = "PATH", conflicts_with_all = ["key", "key_hex"])]
    key_file: Option<PathBuf>,
}

/// The keys that verify: `SECRET_KEY` and `SECRET_KEY_FALLBACKS`.
#[derive(Debug, Clone, Args)]
pub struct VerifyingKeys {
    #[command(flatten)]
    key: SigningKey,
    /// An older key that still verifies, as text (repeatable; visible in `ps`)
    #[arg(long = "fallback-key", value_name = "KEY", allow_hyphen_values = true)]
    fallback_keys: Vec<String>,
    /// An older key that still verifies, as raw bytes in hex (repeatable)
    #[arg(long = "fallback-key-hex", value_name = "HEX", value_parser = values::hex)]
    fallback_keys_hex: Vec<HexBytes>,
}

impl SigningKey {
    /// The current key: `--key-file`, else `--key-hex`, else `--key`, else
    /// `TESSERA_SECRET_KEY`; empty values given as options fall through as Django's
    /// `key or settings.SECRET_KEY` does (an empty key file is an error).
    pub fn secret(&self) -> Result<Secret, CliError> {
        if let Some(path) = &self.key_file {
            return read_key_file(path).map(Secret::from);
        }
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
                format!(
                    "no secret key: pass --key-file, --key or --key-hex, or set {SECRET_KEY_ENV}"
                ),
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

/// The secret key in the file at `path`, or on standard input for `-`: the text less one
/// trailing newline (`\n` or `\r\n`, as `echo` and editors leave), so any other whitespace is
/// part of the key. An empty key, or one that is not UTF-8, is refused (exit 64); a file that
/// cannot be read is an `OSError` (exit 65).
pub fn read_key_file(path: &Path) -> Result<String, CliError> {
    let stdin = path == Path::new("-");
    let shown = if stdin {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    };
    let mut bytes = Vec::new();
    let read = if stdin {
        std::io::stdin().lock().read_to_end(&mut bytes).map(drop)
    } else {
        std::fs::read(path).map(|b| bytes = b)
    };
    read.map_err(|e| CliError::new(Status::Data, "OSError", format!("{shown}: {e}")))?;
    let key = String::from_utf8(bytes).map_err(|_| {
        CliError::usage(
            "ImproperlyConfigured",
            format!("the secret key in {shown} is not valid UTF-8"),
        )
    })?;
    let key = key
        .strip_suffix("\r\n")
        .or_else(|| key.strip_suffix('\n'))
        .unwrap_or(&key);
    if key.is_empty() {
        return Err(CliError::usage(
            "ImproperlyConfigured",
            format!("{shown} holds no secret key"),
        ));
    }
    Ok(key.to_owned())
}
