//! Errors, exit statuses and output.
//!
//! Errors are printed on stderr as `Kind: message`, where `Kind` is the Python exception
//! Django raises in the same case (`BadSignature`, `SignatureExpired`, `ValueError`, …), or
//! `Missing` for an absent cookie and `UsageError` for a command line clap refuses.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write as _};
use std::process::ExitCode;

use clap::error::ErrorKind;
use tessera::cookie::{CookieError, SignedCookieError};
use tessera::signing::SigningError;

/// The exit statuses of `tessera` (64 and 65 are sysexits' `EX_USAGE` and `EX_DATAERR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The command succeeded.
    Success = 0,
    /// `BadSignature`: tampered, wrong key, wrong salt.
    BadSignature = 1,
    /// `SignatureExpired`: validly signed but older than `--max-age`.
    Expired = 2,
    /// The cookie asked for is not in the request.
    Missing = 3,
    /// Bad usage: unknown option, unsafe separator, no secret key, …
    Usage = 64,
    /// Any other error: a name Django rejects, a validly signed but malformed payload, …
    Data = 65,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(status as u8)
    }
}

/// A failed command: its exit status and the `Kind: message` line for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    status: Status,
    kind: Cow<'static, str>,
    message: String,
}

impl CliError {
    /// An error with an explicit status and kind.
    pub fn new(
        status: Status,
        kind: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        CliError {
            status,
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// A usage error (exit 64).
    pub fn usage(kind: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        CliError::new(Status::Usage, kind, message)
    }

    /// Any other error (exit 65).
    pub fn data(kind: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        CliError::new(Status::Data, kind, message)
    }

    /// The exit status.
    pub fn status(&self) -> Status {
        self.status
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// Drops the exception name a library message already starts with (`SignatureExpired: …`,
/// `zlib.error: …`), so that it is printed once, as the kind.
fn strip_kind<'a>(message: &'a str, kind: &str) -> &'a str {
    match message.split_once(": ") {
        Some((head, rest)) if head == kind || head.rsplit('.').next() == Some(kind) => rest,
        _ => message,
    }
}

impl From<SigningError> for CliError {
    fn from(e: SigningError) -> Self {
        let status = if e.is_expired() {
            Status::Expired
        } else if e.is_bad_signature() {
            Status::BadSignature
        } else if matches!(e, SigningError::UnsafeSeparator(_) | SigningError::EmptyKey) {
            Status::Usage
        } else {
            Status::Data
        };
        let kind = e.django_kind();
        let message = e.to_string();
        CliError::new(status, kind, strip_kind(&message, kind))
    }
}

impl From<SignedCookieError> for CliError {
    fn from(e: SignedCookieError) -> Self {
        match e {
            SignedCookieError::Missing(_) => {
                let message = e.to_string();
                CliError::new(Status::Missing, "Missing", strip_kind(&message, "Missing"))
            }
            SignedCookieError::BadSignature(e)
            | SignedCookieError::Expired(e)
            | SignedCookieError::Malformed(e) => CliError::from(e),
        }
    }
}

impl From<CookieError> for CliError {
    fn from(e: CookieError) -> Self {
        // Python's `Morsel` raises `http.cookies.CookieError` for names; `set_cookie` raises
        // `ValueError` for everything else it checks.
        let kind = match e {
            CookieError::IllegalName(_) | CookieError::ReservedName(_) => "CookieError",
            _ => "ValueError",
        };
        CliError::data(kind, e.to_string())
    }
}

/// Prints a warning line on stderr (the command still succeeds).
pub fn warn(message: &str) {
    // A closed stderr leaves nowhere to report to; the result on stdout still matters.
    let _ = writeln!(io::stderr().lock(), "warning: {message}");
}

/// Prints the result of a command (stdout, or the error on stderr) and returns its status.
pub fn finish(result: Result<String, CliError>) -> ExitCode {
    match result {
        Ok(output) => {
            let mut stdout = io::stdout().lock();
            match writeln!(stdout, "{output}").and_then(|()| stdout.flush()) {
                Ok(()) => Status::Success.into(),
                Err(e) => {
                    let _ = writeln!(io::stderr().lock(), "OSError: cannot write the result: {e}");
                    Status::Data.into()
                }
            }
        }
        Err(e) => {
            let _ = writeln!(io::stderr().lock(), "{e}");
            e.status().into()
        }
    }
}

/// As [`finish`], for a command with nothing to print (`serve`): an empty `Ok` prints no
/// blank line.
pub fn finish_silent(result: Result<String, CliError>) -> ExitCode {
    match result {
        Ok(output) if output.is_empty() => Status::Success.into(),
        other => finish(other),
    }
}

/// Reports a command line clap refused (exit 64), or prints the help or version it asked for
/// (exit 0).
pub fn usage_error(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Help and version go to stdout.
            let _ = e.print();
            Status::Success.into()
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let help = e.render().to_string();
            let _ = write!(
                io::stderr().lock(),
                "UsageError: a subcommand is required\n\n{help}"
            );
            Status::Usage.into()
        }
        _ => {
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            let _ = write!(io::stderr().lock(), "UsageError: {text}");
            Status::Usage.into()
        }
    }
}
