//! `tessera cookie …`: signed cookie values, `Set-Cookie` headers and `Cookie` parsing, as
//! Django's `set_signed_cookie`, `get_signed_cookie`, `set_cookie`, `delete_cookie` and
//! `parse_cookie` do them.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};

use chrono::{DateTime, NaiveDateTime};
use clap::{Args, Subcommand};
use indexmap::IndexMap;
use tessera::cookie::{
    browser_rejections, parse_cookie_bytes, validate_name, violations, CookieError, CookieOptions,
    CookiePart, CookieSigner, DeleteOptions, Expires, MaxAge, Morsel, PolicyViolation,
};
use tessera::json::{self, Value};

use super::exit::{self, CliError};
use super::keys::{SigningKey, VerifyingKeys};
use super::values::{self, now_or_clock};

/// The `cookie` subcommands.
#[derive(Debug, Subcommand)]
pub enum CookieCommand {
    /// The value set_signed_cookie stores for NAME (before Set-Cookie quoting).
    Sign(SignArgs),
    /// What get_signed_cookie returns for NAME in the given Cookie headers.
    Get(GetArgs),
    /// The cookies Django's parse_cookie reads from a Cookie header, as a JSON object.
    Parse(ParseArgs),
    /// The Set-Cookie header value set_cookie sends (warns on stderr if browsers drop it;
    /// refuses a CR, LF or other control character, or a ';' in an attribute).
    Set(SetArgs),
    /// The Set-Cookie header value delete_cookie sends (warns on stderr if browsers drop it;
    /// refuses a CR, LF or other control character, or a ';' in an attribute).
    Delete(DeleteArgs),
}

/// Arguments of `cookie sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    key: SigningKey,
    /// The salt passed to set_signed_cookie
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    salt: String,
    /// Sign with the salt of Django 5.2.14 and older (name + salt), which Django 4.2 reads
    #[arg(long)]
    legacy_salt: bool,
    /// Pin the clock (Unix seconds, fractions allowed) [default: the current time]
    #[arg(long, value_name = "UNIX_SECONDS", value_parser = values::unix_time, allow_hyphen_values = true)]
    now: Option<f64>,
    /// The cookie name
    name: String,
    /// The value to sign
    value: String,
}

/// Arguments of `cookie get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    keys: VerifyingKeys,
    /// A Cookie request header (repeatable: several are one request's cookies)
    #[arg(long = "header", value_name = "COOKIE", value_parser = clap::value_parser!(OsString), allow_hyphen_values = true)]
    headers: Vec<OsString>,
    /// The salt passed to get_signed_cookie
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    salt: String,
    /// Refuse cookies signed more than this many seconds ago (fractions and negatives allowed)
    #[arg(long, value_name = "SECONDS", value_parser = values::seconds, allow_hyphen_values = true)]
    max_age: Option<f64>,
    /// Pin the clock (Unix seconds, fractions allowed) [default: the current time]
    #[arg(long, value_name = "UNIX_SECONDS", value_parser = values::unix_time, allow_hyphen_values = true)]
    now: Option<f64>,
    /// Also accept cookies signed with the legacy salt (SIGNED_COOKIE_LEGACY_SALT_FALLBACK)
    #[arg(long)]
    legacy_salt_fallback: bool,
    /// Print this instead of failing when the cookie is missing, tampered or expired
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    default: Option<String>,
    /// The cookie name
    name: String,
}

/// Arguments of `cookie parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The Cookie header (bytes that are not UTF-8 are replaced by U+FFFD, as Django's WSGI
    /// handler does)
    #[arg(value_parser = clap::value_parser!(OsString))]
    header: OsString,
}

/// Arguments of `cookie set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The cookie name
    name: String,
    /// The cookie value
    value: String,
    /// max_age in seconds: an integer, or fractional seconds as a Python float
    #[arg(long, value_name = "SECONDS", value_parser = values::cookie_max_age, allow_hyphen_values = true)]
    max_age: Option<MaxAge>,
    /// expires: an RFC 3339 datetime (UTC when it has no offset), else text used verbatim
    #[arg(long, value_name = "DATE", allow_hyphen_values = true)]
    expires: Option<String>,
    /// The Path attribute; empty for none
    #[arg(long, default_value = "/", allow_hyphen_values = true)]
    path: String,
    /// The Domain attribute
    #[arg(long, allow_hyphen_values = true)]
    domain: Option<String>,
    /// Add Secure
    #[arg(long)]
    secure: bool,
    /// Add HttpOnly
    #[arg(long)]
    httponly: bool,
    /// The SameSite attribute: lax, strict or none in any case, written as given
    #[arg(long, allow_hyphen_values = true)]
    samesite: Option<String>,
    /// Add Partitioned (CHIPS)
    #[arg(long)]
    partitioned: bool,
    /// Pin the clock (Unix seconds, fractions allowed) [default: the current time]
    #[arg(long, value_name = "UNIX_SECONDS", value_parser = values::unix_time, allow_hyphen_values = true)]
    now: Option<f64>,
}

/// Arguments of `cookie delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The cookie name
    name: String,
    /// The Path attribute; empty for none
    #[arg(long, default_value = "/", allow_hyphen_values = true)]
    path: String,
    /// The Domain attribute
    #[arg(long, allow_hyphen_values = true)]
    domain: Option<String>,
    /// The SameSite attribute (none also adds Secure)
    #[arg(long, allow_hyphen_values = true)]
    samesite: Option<String>,
}

/// Runs a `cookie` subcommand.
pub fn run(command: CookieCommand) -> Result<String, CliError> {
    match command {
        CookieCommand::Sign(args) => sign(args),
        CookieCommand::Get(args) => get(args),
        CookieCommand::Parse(args) => Ok(parse(&args)),
        CookieCommand::Set(args) => set(args),
        CookieCommand::Delete(args) => delete(args),
    }
}

fn sign(args: SignArgs) -> Result<String, CliError> {
    let keys = args.key.keys()?;
    // `set_signed_cookie` ends in `set_cookie`, which refuses names `Morsel` refuses.
    validate_name(&args.name)?;
    let signer = CookieSigner::new(&keys).write_legacy_salt(args.legacy_salt);
    Ok(signer.sign_at(&args.name, &args.value, &args.salt, now_or_clock(args.now)))
}

fn get(args: GetArgs) -> Result<String, CliError> {
    let keys = args.keys.keys()?;
    let cookies = request_cookies(&args.headers);
    let cookie = cookies.get(&args.name).map(String::as_str);
    let signer = CookieSigner::new(&keys).legacy_salt_fallback(args.legacy_salt_fallback);
    let now = now_or_clock(args.now);
    let value = match args.default {
        Some(default) => signer.get_or_at(
            cookie,
            &args.name,
            &args.salt,
            args.max_age.map(Into::into),
            now,
            default,
        )?,
        None => signer.get_at(
            cookie,
            &args.name,
            &args.salt,
            args.max_age.map(Into::into),
            now,
        )?,
    };
    Ok(value)
}

fn parse(args: &ParseArgs) -> String {
    let cookies = parse_cookie_bytes(&os_bytes(&args.header));
    let dict = cookies
        .into_iter()
        .map(|(name, value)| (name, Value::Str(value)))
        .collect();
    json::to_string(&Value::Dict(dict))
}

fn set(args: SetArgs) -> Result<String, CliError> {
    let options = CookieOptions {
        max_age: args.max_age,
        expires: args.expires.as_deref().map(expires),
        path: Some(args.path),
        domain: args.domain,
        secure: args.secure,
        httponly: args.httponly,
        samesite: args.samesite,
        partitioned: args.partitioned,
    };
    let mut morsel = Morsel::new(&args.name)?;
    morsel.set(&args.value, &options)?;
    header(&morsel, now_or_clock(args.now))
}

fn delete(args: DeleteArgs) -> Result<String, CliError> {
    let options = DeleteOptions {
        path: Some(args.path),
        domain: args.domain,
        samesite: args.samesite,
    };
    let mut morsel = Morsel::new(&args.name)?;
    morsel.delete(&options)?;
    // A deletion has a fixed `expires`, so the clock does not matter.
    header(&morsel, 0.0)
}

/// The `Set-Cookie` value Django writes for `morsel`, unless it would carry more than one
/// cookie's attributes (an error, exit 65: nothing is printed). Warns, once per reason, when a
/// browser would merely drop the cookie.
fn header(morsel: &Morsel, now: f64) -> Result<String, CliError> {
    let header = morsel.output_string(now);
    if let Some(reason) = injection(morsel, &header) {
        return Err(CookieError::Policy {
            name: morsel.name().to_owned(),
            reason,
        }
        .into());
    }
    for reason in browser_rejections(&header) {
        exit::warn(&format!("a browser would drop this cookie: {reason}"));
    }
    Ok(header)
}

/// What Django writes raw and would break out of the cookie: a `;` in an attribute starts
/// attributes nobody asked for, and a CR, LF or other control character ends the header, starts
/// another one, or makes the stack refuse it (tab is allowed, as in any header). Named by the
/// part it is in when that is the part's first bad character, else found in the whole header.
fn injection(morsel: &Morsel, header: &str) -> Option<PolicyViolation> {
    let is_control = |c: &char| c.is_control() && *c != '\t';
    let breaks_out = |v: &PolicyViolation| match v {
        PolicyViolation::AttributeInjection { .. } => true,
        PolicyViolation::ForbiddenChar { ch, .. } => is_control(ch),
        _ => false,
    };
    violations(morsel).into_iter().find(breaks_out).or_else(|| {
        let ch = header.chars().find(is_control)?;
        Some(PolicyViolation::ForbiddenChar {
            part: CookiePart::Header,
            ch,
        })
    })
}

/// The cookies of one request with these `Cookie` headers, joined with `"; "` as HTTP/2
/// requires, then read as Django's WSGI handler reads them.
fn request_cookies(headers: &[OsString]) -> IndexMap<String, String> {
    let mut joined = Vec::new();
    for (i, header) in headers.iter().enumerate() {
        if i > 0 {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(&os_bytes(header));
    }
    parse_cookie_bytes(&joined)
}

/// The bytes of an argument as the OS passed them (lossily converted where arguments are not
/// byte strings).
fn os_bytes(arg: &OsStr) -> Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        Cow::Borrowed(std::os::unix::ffi::OsStrExt::as_bytes(arg))
    }
    #[cfg(not(unix))]
    {
        match arg.to_string_lossy() {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        }
    }
}

/// `--expires` as Django takes it: an RFC 3339 / ISO 8601 datetime is a `datetime` (naive,
/// that is UTC, without an offset); any other text is a string used verbatim.
fn expires(text: &str) -> Expires {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Expires::At(at);
    }
    const NAIVE: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];
    NAIVE
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map_or_else(|| Expires::Raw(text.to_owned()), Expires::Naive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_datetimes_and_strings() {
        assert!(matches!(
            expires("2023-11-14T23:13:20.250000+00:00"),
            Expires::At(_)
        ));
        assert!(matches!(expires("2023-11-14T23:13:20Z"), Expires::At(_)));
        assert!(matches!(
            expires("2023-11-16T03:43:20.250000+05:30"),
            Expires::At(_)
        ));
        assert!(matches!(
            expires("2023-11-17T22:13:20.250000"),
            Expires::Naive(_)
        ));
        assert!(matches!(expires("2023-11-17T22:13:20"), Expires::Naive(_)));
        assert!(matches!(expires("2023-11-17 22:13:20"), Expires::Naive(_)));
        assert_eq!(
            expires("Wed, 21 Oct 2037 07:28:00 GMT"),
            Expires::Raw("Wed, 21 Oct 2037 07:28:00 GMT".to_owned())
        );
        assert_eq!(expires(""), Expires::Raw(String::new()));
    }
}
