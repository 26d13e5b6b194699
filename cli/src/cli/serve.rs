//! `tessera serve`: the demo site ([`crate::demo`]) on a real socket.
//!
//! Startup only: the secret key (option, environment, or a generated key file beside the
//! database), the store, the one-line request log, and a clean stop on Ctrl-C or SIGTERM. The
//! connections are served within the limits of [`super::connections`].

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use clap::Args;
use tessera::auth::sql_users::SqlUsers;
use tessera::cookie::CookieSigner;
use tessera::session::SessionConfig;
use tessera::signing::{Secret, SecretKeys};
use tessera::url::{open, DEFAULT_URL};

use super::connections::{self, Limits};
use super::exit::CliError;
use super::keys::{read_key_file, SECRET_KEY_ENV};

/// Old keys that still verify, comma-separated (Django's `SECRET_KEY_FALLBACKS`).
pub const FALLBACKS_ENV: &str = "TESSERA_SECRET_KEY_FALLBACKS";
/// The file a generated key is kept in, beside the SQLite database.
pub const KEY_FILE: &str = "tessera-secret-key";

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: String,
    /// The session store, as a URL (sqlite:///abs/path, sqlite://rel/path, postgres://, redis://, …)
    #[arg(long, default_value = DEFAULT_URL)]
    store: String,
    /// The secret key [default: $TESSERA_SECRET_KEY, else a key generated once and kept in a
    /// file beside the database]. Other users can see it in `ps`: prefer --secret-key-file or
    /// TESSERA_SECRET_KEY
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    secret_key: Option<String>,
    /// Read the secret key from this file (`-`: standard input), less one trailing newline
    #[arg(long, value_name = "PATH", conflicts_with = "secret_key")]
    secret_key_file: Option<PathBuf>,
    /// Connections open at once; a new one past it closes the longest-idle one [default: the
    /// file-descriptor limit, raised to its hard limit, less 256]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,
    /// Seconds a connection has to send a whole request head, from connect and after each
    /// response (also the keep-alive idle time)
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout: u64,
    /// Accept signed cookies made with the legacy salt of Django 5.2.14 and older (Django's
    /// SIGNED_COOKIE_LEGACY_SALT_FALLBACK) [env: TESSERA_SIGNED_COOKIE_LEGACY_SALT_FALLBACK]
    #[arg(long)]
    legacy_salt_fallback: bool,
    /// Sign new cookies with that legacy salt, for a Django 5.2.14 or older that reads them
    /// [env: TESSERA_SIGNED_COOKIE_WRITE_LEGACY_SALT]
    #[arg(long)]
    write_legacy_salt: bool,
    /// Seconds a whole request may take (its body read, the page, the session saved); later
    /// it is answered 408
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout: u64,
}

/// Runs the demo site until Ctrl-C or SIGTERM; prints nothing on stdout.
pub fn run(mut args: ServeArgs) -> Result<String, CliError> {
    init_logging();
    args.legacy_salt_fallback |= env_flag(LEGACY_SALT_FALLBACK_ENV)?;
    args.write_legacy_salt |= env_flag(WRITE_LEGACY_SALT_ENV)?;
    let config = SessionConfig::from_env()
        .map_err(|e| CliError::usage("ImproperlyConfigured", e.to_string()))?;
    // The library only warns (Django sends it); the demo is for browsers, which drop it.
    if config.cookie_samesite == Some(tessera::cookie::SameSite::None) && !config.cookie_secure {
        return Err(CliError::usage(
            "ImproperlyConfigured",
            "TESSERA_SESSION_COOKIE_SAMESITE=None needs TESSERA_SESSION_COOKIE_SECURE=true: \
             browsers drop a SameSite=None cookie that is not Secure",
        ));
    }
    let db = sqlite_path(&args.store);
    if let Some(dir) = db.as_deref().and_then(Path::parent) {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| os_error(dir, &e))?;
        }
    }
    let from_file = args
        .secret_key_file
        .as_deref()
        .map(read_key_file)
        .transpose()?;
    let option = from_file.as_deref().or(args.secret_key.as_deref());
    let keys = secret_keys(option, db.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::data("OSError", e.to_string()))?;
    runtime.block_on(serve(&args, &keys, config))?;
    Ok(String::new())
}

async fn serve(args: &ServeArgs, keys: &SecretKeys, config: SessionConfig) -> Result<(), CliError> {
    let store_error = |e: tessera::store::StoreError| CliError::data("StoreError", e.to_string());
    let sessions = open(&args.store, keys).await.map_err(store_error)?;
    sessions.migrate().await.map_err(store_error)?;
    let signer = CookieSigner::new(keys)
        .legacy_salt_fallback(args.legacy_salt_fallback)
        .write_legacy_salt(args.write_legacy_salt);
    let mut options = crate::demo::DemoOptions::new(keys, config).signer(signer);
    if let Some(users) = sql_users(&args.store).await? {
        options = options.users(Arc::new(users));
    }
    let app = crate::demo::router_with(&sessions, options)
        .map_err(|e| CliError::data("ImproperlyConfigured", e.to_string()))?
        .layer(axum::middleware::from_fn(log_request));
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .map_err(|e| CliError::data("OSError", format!("cannot listen on {}: {e}", args.addr)))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::data("OSError", e.to_string()))?;
    tracing::info!(
        "tessera demo on http://{local}/ (sessions in {}); Ctrl-C stops it",
        redact_url(&args.store)
    );
    let limits = Limits {
        max_connections: args
            .max_connections
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        header_timeout: Duration::from_secs(args.header_timeout),
        request_timeout: Duration::from_secs(args.request_timeout),
    };
    connections::serve(listener, app, limits, stop_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

/// The users of the login page: Django's `auth_user` in the SQL store's own database, created
/// (with Django's DDL) when missing. `None` for a store that is not SQL: the login page then
/// says that login needs one.
async fn sql_users(store: &str) -> Result<Option<SqlUsers>, CliError> {
    let scheme = store.split_once("://").map_or("", |(scheme, _)| scheme);
    if !matches!(scheme, "sqlite" | "postgres" | "postgresql" | "mysql") {
        tracing::info!("login is off: the users live in a SQL store's database");
        return Ok(None);
    }
    let users_error =
        |e: tessera::auth::sql_users::SqlUsersError| CliError::data("DatabaseError", e.to_string());
    let users = SqlUsers::connect(store).await.map_err(users_error)?;
    if users.create_table_if_missing().await.map_err(users_error)? {
        tracing::info!(
            "created the {} table (Django's DDL): add a user with `tessera user add NAME`",
            users.table()
        );
    }
    Ok(Some(users))
}

/// Django's `SIGNED_COOKIE_LEGACY_SALT_FALLBACK`, for the demo's signed cookies.
pub const LEGACY_SALT_FALLBACK_ENV: &str = "TESSERA_SIGNED_COOKIE_LEGACY_SALT_FALLBACK";
/// Sign the demo's cookies with the legacy salt (Django 5.2.14 and older read only that).
pub const WRITE_LEGACY_SALT_ENV: &str = "TESSERA_SIGNED_COOKIE_WRITE_LEGACY_SALT";

/// A boolean variable, read as the session settings read theirs; unset is false.
fn env_flag(name: &str) -> Result<bool, CliError> {
    match std::env::var(name) {
        Err(_) => Ok(false),
        Ok(v) => match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "" | "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(CliError::usage(
                "ImproperlyConfigured",
                format!("invalid {name}={v:?}: expected true or false"),
            )),
        },
    }
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// One line per request: method, path (never the query string, which may carry secrets),
/// status and time. No cookie and no session key is ever logged.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!("{method} {path} {} {ms:.1}ms", response.status().as_u16());
    response
}

/// Logs to stderr, one line per event, at `info` unless `RUST_LOG` says otherwise.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// The database file of a `sqlite://` URL: `sqlite:///abs` is absolute, `sqlite://rel` relative.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// The URL with any password replaced by `***`, for the startup line.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

fn os_error(path: &Path, e: &std::io::Error) -> CliError {
    CliError::data("OSError", format!("{}: {e}", path.display()))
}

/// `--secret-key`, else `TESSERA_SECRET_KEY`, else the key file beside the database (made on
/// first start); fallbacks from `TESSERA_SECRET_KEY_FALLBACKS`.
fn secret_keys(option: Option<&str>, db: Option<&Path>) -> Result<SecretKeys, CliError> {
    let env = std::env::var(SECRET_KEY_ENV).ok();
    let current: Secret = match option
        .filter(|k| !k.is_empty())
        .or(env.as_deref().filter(|k| !k.is_empty()))
    {
        Some(key) => Secret::from(key),
        None => {
            let dir = db
                .and_then(Path::parent)
                .filter(|d| !d.as_os_str().is_empty());
            Secret::from(key_file(&dir.unwrap_or(Path::new(".")).join(KEY_FILE))?)
        }
    };
    let fallbacks = std::env::var(FALLBACKS_ENV).unwrap_or_default();
    let fallbacks = fallbacks
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(Secret::from);
    Ok(SecretKeys::new(current).with_fallbacks(fallbacks))
}

/// Reads the key in `path`, or generates one and saves it there, readable by its owner only.
fn key_file(path: &Path) -> Result<String, CliError> {
    let key = generate_key()?;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(mut file) => {
            file.write_all(key.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .and_then(|()| file.sync_all())
                .map_err(|e| os_error(path, &e))?;
            let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
            tracing::info!("generated a secret key and saved it to {}", shown.display());
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut file = open_own_private_file(path)?;
            let mut text = String::new();
            file.read_to_string(&mut text)
                .map_err(|e| os_error(path, &e))?;
            let key = text.trim_end_matches(['\r', '\n']).to_owned();
            if key.is_empty() {
                return Err(CliError::usage(
                    "ImproperlyConfigured",
                    format!(
                        "{} is empty: delete it to generate a new key",
                        path.display()
                    ),
                ));
            }
            tracing::info!("using the secret key in {}", path.display());
            Ok(key)
        }
        Err(e) => Err(os_error(path, &e)),
    }
}

/// Opens an existing key file only if it can be trusted: a plain file (not a symbolic link),
/// owned by this process's user, that no other user can read or write. Anyone who can plant or
/// read the key can forge every signed-cookie session.
fn open_own_private_file(path: &Path) -> Result<std::fs::File, CliError> {
    use std::os::unix::fs::MetadataExt as _;
    let refuse = |why: String| {
        Err(CliError::usage(
            "ImproperlyConfigured",
            format!("{}: {why}", path.display()),
        ))
    };
    let link = std::fs::symlink_metadata(path).map_err(|e| os_error(path, &e))?;
    if link.file_type().is_symlink() {
        return refuse("the key file is a symbolic link; it must be a plain file".to_owned());
    }
    let file = std::fs::File::open(path).map_err(|e| os_error(path, &e))?;
    let meta = file.metadata().map_err(|e| os_error(path, &e))?;
    if (meta.dev(), meta.ino()) != (link.dev(), link.ino()) || !meta.is_file() {
        return refuse("the key file changed while it was opened".to_owned());
    }
    if let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) {
        if meta.uid() != me {
            return refuse(format!(
                "the key file belongs to another user (uid {}); it must be this user's own",
                meta.uid()
            ));
        }
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return refuse(format!(
            "other users can read or write the key file (mode {mode:o}): chmod 600 it, or \
             delete it to generate a new key"
        ));
    }
    Ok(file)
}

/// 50 characters from the alphabet of Django's `get_random_secret_key`, drawn uniformly.
fn generate_key() -> Result<String, CliError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)";
    // 250 is the largest multiple of 50 that fits in a byte: higher bytes would bias `% 50`.
    let mut key = String::with_capacity(50);
    let mut buf = [0u8; 64];
    while key.len() < 50 {
        getrandom::fill(&mut buf).map_err(|e| CliError::data("OSError", e.to_string()))?;
        for &b in buf.iter().filter(|&&b| b < 250) {
            if key.len() < 50 {
                key.push(char::from(ALPHABET[usize::from(b % 50)]));
            }
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_and_redaction() {
        assert_eq!(
            sqlite_path("sqlite:///var/db.sqlite3"),
            Some(PathBuf::from("/var/db.sqlite3"))
        );
        assert_eq!(
            sqlite_path("sqlite://rel/db.sqlite3"),
            Some(PathBuf::from("rel/db.sqlite3"))
        );
        assert_eq!(sqlite_path("memory://"), None);
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("redis://h:6379/0"), "redis://h:6379/0");
        assert_eq!(redact_url("sqlite://a@b/c"), "sqlite://a@b/c");
        let key = generate_key().unwrap();
        assert_eq!(key.len(), 50);
    }
}

#[cfg(test)]
mod key_file_tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tessera-keyfile-{name}-{}-{}",
            std::process::id(),
            generate_key()
                .unwrap()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_key_file_others_can_read_or_a_symlink_is_refused() {
        let dir = temp_dir("refuse");
        let path = dir.join(KEY_FILE);
        let made = key_file(&path).expect("made");
        assert_eq!(key_file(&path).expect("read back"), made);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = key_file(&path).expect_err("mode 644 is refused");
        assert!(e.to_string().contains("mode 644"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

        let link = dir.join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let e = key_file(&link).expect_err("a symlink is refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
