//! tessera and the real Django 5.2 and 6.1, from the package index, sharing one
//! `django_session` table and one `SECRET_KEY` on SQLite, PostgreSQL and MariaDB, one Redis
//! with the companion package, and signed cookies.
//!
//! The test makes (once per target directory, then reuses) two virtual environments,
//! `<target>/django-venv` with `django>=5.2,<6` and `<target>/django61-venv` with
//! `django>=6.1,<6.2` (on a Python 3.12 or later: `TESSERA_TEST_PYTHON_61`, else pyenv's), each
//! with `psycopg[binary]`, `redis` and (when it builds) `mysqlclient`, and drives Django through
//! `tests/support/django_sessions.py` (settings: `tests/support/django_live_settings.py`,
//! `USE_TZ=True` with a `TIME_ZONE` far from UTC). tessera's side is an axum app with
//! `SessionLayer` over a store from `url::open`. For each database, in both orders
//! (Django's `migrate` first then tessera's `migrate`; tessera's first then Django's plain
//! `migrate`, which must find `sessions.0001_initial` recorded and skip it), on a fresh
//! database:
//!
//! 1. a session Django wrote is read by tessera as the same dict, key order included;
//! 2. a session tessera wrote through the middleware (non-ASCII text, nested dicts and lists,
//!    floats, integers beyond 64 bits) is read by Django as the same dict, and its
//!    `expire_date` is the instant tessera meant (now + `SESSION_COOKIE_AGE`);
//! 3. tessera changes Django's session, and Django sees the change; Django changes tessera's,
//!    and tessera sees it;
//! 4. an expired session tessera wrote is dead to Django and removed by Django's
//!    `clearsessions`; an expired session Django wrote is dead to tessera and removed by
//!    tessera's `clear_expired`; live sessions survive both;
//! 5. custom expiries tessera writes (0, seconds) are the dates Django reads;
//! 6. a logout on either side ends the session on the other, and is never undone.
//!
//! Without `python3`, or when pip cannot install Django (no network), the test skips loudly;
//! in CI (any truthy `CI`) that is a failure. PostgreSQL (`TESSERA_TEST_POSTGRES_URL`), MariaDB
//! (`TESSERA_TEST_MYSQL_URL`) and Redis (`TESSERA_TEST_REDIS_URL`) are skipped the same way when
//! absent; each run works in a schema or database of its own, dropped at the end.

#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "redis"
))]

use crate::common;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Query;
use axum::routing::{get, post};
use axum::Router;
use common::services::require;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tessera::json::{Map, Value};
use tessera::session::{Expiry, SessionKey};
use tessera::signing::SecretKeys;
use tessera::url::{open, Sessions};
use tessera::{Session, SessionConfig, SessionError, SessionLayer};
use tower::ServiceExt;

/// The `SECRET_KEY` both sides sign with.
pub(crate) const SECRET: &str = "django-insecure-tessera-live-0123456789abcdefghijklmnopqrstuvwxyz";
/// Django's default `SESSION_COOKIE_AGE`, which both sides use.
const COOKIE_AGE: f64 = 1_209_600.0;

/// What Django writes: Unicode beyond the BMP, lone UTF-16 surrogates (Python strings may hold
/// them; tessera must write them back unchanged), nesting, a float, an int beyond 64 bits.
const DJANGO_DATA: &str = r#"{"user_id": 42, "name": "Zoë 東京 🚀", "lone": "\ud800x\udfff", "pair_split": ["\ud83d", "\ude00"], "cart": {"items": [1, 2.5, {"sku": "x-1"}], "coupon": null}, "big": 1180591620717411303424, "pi": 3.141592653589793, "tiny": 1e-07, "flag": true}"#;
/// What tessera writes through the middleware.
const TESSERA_DATA: &str = r#"{"névé": "Ærøskøbing — ünïcödé ✓ 𝄞 \u0000 \"quoted\" back\\slash", "nested": {"list": [1, -2, 3.5, [true, false, null], {"deep": {"deeper": "ok"}}], "empty": {}, "empty_list": []}, "float": 0.1, "neg_float": -12345678900000.0, "huge_float": 1e+300, "big": 123456789012345678901234567890, "negbig": -9223372036854775809, "maxint": 9223372036854775807, "minint": -9223372036854775808, "zero_float": 0.0, "ints": [0, -1, 1152921504606846976]}"#;
/// tessera's change to Django's session, and Django's to tessera's.
const TESSERA_CHANGE: &str = r#"{"name": "changed by tessera ✓", "added": [1, {"x": -1.5e-07}]}"#;
const DJANGO_CHANGE: &str = r#"{"float": 0.30000000000000004, "from_django": "oui ☕", "big": -340282366920938463463374607431768211456}"#;

/// Skips loudly, or fails in CI.
fn unavailable<T>(why: &str) -> Option<T> {
    common::services::skip_or_fail(&format!("the real Django is not available: {why}"));
    None
}

fn dict(json: &str) -> Map {
    match tessera::json::from_str(json) {
        Ok(Value::Dict(m)) => m,
        other => panic!("not a JSON object: {json}: {other:?}"),
    }
}

fn now() -> f64 {
    tessera::signing::now()
}

/// A name no other test or run uses.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &SessionKey::generate().unwrap().as_str()[..12]
    )
}

// ---------------------------------------------------------------------------------------------
// The virtual environment.
// ---------------------------------------------------------------------------------------------

/// A Django release line the tests run against, each in a venv of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// 5.2 LTS, on the machine's `python3` (or `TESSERA_TEST_PYTHON`).
    V5_2,
    /// 6.1, which needs Python 3.12 or later: `TESSERA_TEST_PYTHON_61`, else the newest
    /// pyenv-installed 3.13 or 3.12.
    V6_1,
}

/// What a release line is called, what pip installs for it, what `django.VERSION[:2]` says,
/// and its venv's folder.
struct Line {
    name: &'static str,
    requirement: &'static str,
    major_minor: &'static str,
    venv: &'static str,
}

impl Version {
    fn line(self) -> &'static Line {
        match self {
            Version::V5_2 => &Line {
                name: "Django 5.2",
                requirement: "django>=5.2,<6",
                major_minor: "(5, 2)",
                venv: "django-venv",
            },
            Version::V6_1 => &Line {
                name: "Django 6.1",
                requirement: "django>=6.1,<6.2",
                major_minor: "(6, 1)",
                venv: "django61-venv",
            },
        }
    }

    fn name(self) -> &'static str {
        self.line().name
    }

    /// The interpreter the venv is made from.
    fn base_python(self) -> Option<String> {
        match self {
            Version::V5_2 => {
                Some(std::env::var("TESSERA_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned()))
            }
            Version::V6_1 => std::env::var("TESSERA_TEST_PYTHON_61").ok().or_else(|| {
                let home = std::env::var("HOME").ok()?;
                let mut found: Vec<PathBuf> =
                    std::fs::read_dir(Path::new(&home).join(".pyenv/versions"))
                        .ok()?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                            n.starts_with("3.13.") || n.starts_with("3.12.")
                        })
                        .map(|p| p.join("bin/python3"))
                        .filter(|p| p.exists())
                        .collect();
                found.sort();
                found.pop().map(|p| p.display().to_string())
            }),
        }
    }
}

/// The venv's python for `version`, with Django installed; made once per target directory.
fn django_python(version: Version) -> Option<PathBuf> {
    static V5_2: OnceLock<Option<PathBuf>> = OnceLock::new();
    static V6_1: OnceLock<Option<PathBuf>> = OnceLock::new();
    let cell = match version {
        Version::V5_2 => &V5_2,
        Version::V6_1 => &V6_1,
    };
    cell.get_or_init(|| make_venv(version)).clone()
}

/// [`django_python`] off the async runtime (making a venv takes seconds).
pub(crate) async fn venv_python(version: Version) -> Option<PathBuf> {
    tokio::task::spawn_blocking(move || django_python(version))
        .await
        .unwrap()
}

/// The target directory (`CARGO_TARGET_TMPDIR` is `<target>/tmp`).
fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

/// Whether `python` imports the version's Django, psycopg and redis.
fn venv_works(python: &Path, version: Version) -> bool {
    let check = format!(
        "import django, psycopg, redis, sys; sys.exit(0 if django.VERSION[:2] == {} else 1)",
        version.line().major_minor
    );
    Command::new(python)
        .args(["-c", &check])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// The venv (made once), with MariaDB's driver added when it can be.
fn make_venv(version: Version) -> Option<PathBuf> {
    let python = make_base_venv(version)?;
    add_mysql_driver(&python);
    Some(python)
}

/// Installs mysqlclient into the venv unless it is there. It builds against libmariadb:
/// without the library only the MariaDB runs skip (`.ci/run` installs it).
fn add_mysql_driver(python: &Path) {
    if has_mysql_driver(python) {
        return;
    }
    let installed = pip_install(python, &["mysqlclient"]);
    if !installed.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!(
            "!! mysqlclient did not install (is libmariadb-dev there?): the MariaDB runs skip"
        );
    }
}

fn pip_install(python: &Path, packages: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(packages)
        .output()
}

fn make_base_venv(version: Version) -> Option<PathBuf> {
    let target = target_dir();
    let venv = target.join(version.line().venv);
    let python = venv.join("bin").join("python");
    if venv_works(&python, version) {
        return Some(python);
    }
    let started = Instant::now();
    let Some(base) = version.base_python() else {
        return unavailable(&format!(
            "no Python 3.12 or later for {} (set TESSERA_TEST_PYTHON_61)",
            version.name()
        ));
    };
    if Command::new(&base).arg("--version").output().is_err() {
        return unavailable(&format!("{base} is missing (set TESSERA_TEST_PYTHON)"));
    }
    // Built aside and renamed into place, so a half-made venv is never taken for a good one.
    let building = target.join(format!(
        "{}.tmp-{}",
        version.line().venv,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&target).unwrap();
    let made = Command::new(&base)
        .args(["-m", "venv"])
        .arg(&building)
        .output();
    match made {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let _ = std::fs::remove_dir_all(&building);
            return unavailable(&format!("`{base} -m venv` failed:\n{}", tail(&o.stderr)));
        }
        Err(e) => return unavailable(&format!("`{base} -m venv`: {e}")),
    }
    let installed = pip_install(
        &building.join("bin").join("python"),
        &[version.line().requirement, "psycopg[binary]", "redis"],
    );
    match installed {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let _ = std::fs::remove_dir_all(&building);
            return unavailable(&format!(
                "pip could not install Django (no network?):\n{}",
                tail(&o.stderr)
            ));
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&building);
            return unavailable(&format!("pip: {e}"));
        }
    }
    let _ = std::fs::remove_dir_all(&venv);
    if std::fs::rename(&building, &venv).is_err() {
        // Another test process finished first; use its venv.
        let _ = std::fs::remove_dir_all(&building);
    }
    if !venv_works(&python, version) {
        return unavailable(&format!(
            "{} does not import {}",
            python.display(),
            version.name()
        ));
    }
    eprintln!(
        "made {} ({}, psycopg, redis) in {:.1?}",
        venv.display(),
        version.name(),
        started.elapsed()
    );
    Some(python)
}

// ---------------------------------------------------------------------------------------------
// Django's side: the helper script.
// ---------------------------------------------------------------------------------------------

pub(crate) struct Django {
    python: PathBuf,
    env: Vec<(String, String)>,
}

impl Django {
    /// Django on the SQLite database at `path`.
    pub(crate) fn on_sqlite(python: PathBuf, path: &Path) -> Django {
        Django {
            python,
            env: vec![
                ("TESSERA_DJANGO_DB".into(), "sqlite".into()),
                (
                    "TESSERA_DJANGO_SQLITE_PATH".into(),
                    path.display().to_string(),
                ),
            ],
        }
    }

    /// With one more environment variable for the settings.
    pub(crate) fn with(mut self, name: &str, value: impl Into<String>) -> Django {
        self.env.push((name.to_owned(), value.into()));
        self
    }

    /// Runs one subcommand of `django_sessions.py`; its JSON output, read with Python's rules.
    pub(crate) async fn run(&self, args: &[&str]) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/django_sessions.py");
        let mut cmd = Command::new(&self.python);
        cmd.arg(script).args(args).envs(self.env.iter().cloned());
        cmd.env("TESSERA_DJANGO_SECRET_KEY", SECRET);
        cmd.env("PYTHONIOENCODING", "utf-8");
        let what = args.join(" ");
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "django_sessions.py {what} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        tessera::json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("django_sessions.py {what} printed {text:?}: {e}"))
    }

    /// `read`'s dict alone (the cache engines keep no `expire_date`).
    async fn read_data(&self, key: &str) -> Map {
        let read = self.run(&["read", key]).await;
        read["data"]
            .as_dict()
            .cloned()
            .expect("Django finds the session")
    }

    /// `write`: the new session's key. `expiry` is what `set_expiry` gets: seconds, an ISO
    /// datetime or `none`.
    async fn write(&self, data: &str, expiry: Option<&str>) -> String {
        let mut args = vec!["write", "--data", data];
        if let Some(e) = expiry {
            args.extend(["--expiry", e]);
        }
        match self.run(&args).await {
            Value::Str(k) => k,
            other => panic!("write printed {other:?}"),
        }
    }

    /// `read`: the dict and the row's expiry, or `None` when Django finds no live session.
    async fn read(&self, key: &str) -> Option<(Map, f64)> {
        self.read_with(key, "expire_date").await
    }

    /// The dict and Django's `get_expiry_date()` (any engine); `None`: no live session.
    async fn read_expiry_date(&self, key: &str) -> Option<(Map, f64)> {
        self.read_with(key, "expiry_date").await
    }

    /// `read`'s dict and its number `field`.
    async fn read_with(&self, key: &str, field: &str) -> Option<(Map, f64)> {
        match self.run(&["read", key]).await {
            Value::Null => None,
            Value::Dict(mut d) => {
                let Some(Value::Dict(data)) = d.swap_remove("data") else {
                    panic!("read printed no data")
                };
                Some((data, d[field].as_f64().unwrap()))
            }
            other => panic!("read printed {other:?}"),
        }
    }

    /// `update`, with `set_expiry(expiry)` before the save when given; the key afterwards (a
    /// cookie-held session's is the new cookie).
    async fn update(&self, key: &str, data: &str, expiry: Option<&str>) -> String {
        let mut args = vec!["update", key, "--data", data];
        if let Some(e) = expiry {
            args.extend(["--expiry", e]);
        }
        match self.run(&args).await {
            Value::Str(k) => k,
            other => panic!("update printed {other:?}"),
        }
    }

    async fn count(&self) -> i64 {
        self.run(&["count"]).await.as_i64().unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// tessera's side: an app with the middleware.
// ---------------------------------------------------------------------------------------------

type Q = Query<std::collections::HashMap<String, String>>;

async fn items(session: Session) -> Result<String, SessionError> {
    Ok(tessera::json::map_to_string(&session.items().await?))
}

/// Sets every pair of the JSON object in the body; `?expiry=E` then calls `set_expiry(E)`,
/// where E is seconds, an RFC 3339 datetime or `none`.
async fn update(session: Session, Query(q): Q, body: String) -> Result<&'static str, SessionError> {
    session.update(dict(&body)).await?;
    if let Some(e) = q.get("expiry") {
        session.set_expiry(expiry(e)).await?;
    }
    Ok("ok")
}

/// What `set_expiry` gets for a test's spelling: `none`, seconds or a datetime.
fn expiry(text: &str) -> Expiry {
    if text == "none" {
        return Expiry::Default;
    }
    match text.parse() {
        Ok(seconds) => Expiry::Seconds(seconds),
        Err(_) => Expiry::At(chrono::DateTime::parse_from_rfc3339(text).unwrap()),
    }
}

/// `get_expiry_date()` as Unix seconds.
async fn expiry_date(session: Session) -> Result<String, SessionError> {
    Ok(session.get_expiry_date().await?.to_string())
}

/// `flush()`: the logout.
async fn flush(session: Session) -> Result<&'static str, SessionError> {
    session.flush().await?;
    Ok("flushed")
}

#[derive(Clone)]
struct Tessera {
    app: Router,
    sessions: Sessions,
    /// The session is the cookie (`cookie://`): every write gives a new "key".
    cookie_held: bool,
}

impl Tessera {
    async fn open(url: &str) -> Tessera {
        let sessions = open(url, &SecretKeys::new(SECRET)).await.unwrap();
        let app = Router::new()
            .route("/items", get(items))
            .route("/update", post(update))
            .route("/flush", post(flush))
            .route("/expiry_date", get(expiry_date))
            .layer(
                SessionLayer::from_sessions(&sessions, SessionConfig::default())
                    .expect("valid session config"),
            );
        Tessera {
            app,
            sessions,
            cookie_held: url.starts_with("cookie:"),
        }
    }

    /// Sends a request; the status, the session key a `Set-Cookie` carried, and the body.
    async fn send(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: &str,
    ) -> (StatusCode, Option<String>, String) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(k) = key {
            req = req.header(http::header::COOKIE, format!("sessionid={k}"));
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let key = resp
            .headers()
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix("sessionid="))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .filter(|k| k != "\"\"");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, key, String::from_utf8(body.to_vec()).unwrap())
    }

    /// The session's dict as tessera's middleware sees it (empty: no live session).
    async fn items(&self, key: &str) -> Map {
        let (status, _, body) = self.send("GET", "/items", Some(key), "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        dict(&body)
    }

    /// `get_expiry_date()` of the session, as tessera's middleware sees it.
    async fn expiry_date(&self, key: &str) -> f64 {
        let (status, _, body) = self.send("GET", "/expiry_date", Some(key), "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.parse().unwrap()
    }

    /// Flushes the session (a logout).
    async fn flush(&self, key: &str) {
        let (status, _, body) = self.send("POST", "/flush", Some(key), "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Updates (or, without a key, creates) a session; returns its key.
    async fn update(&self, key: Option<&str>, data: &str, expiry: Option<&str>) -> String {
        let uri = match expiry {
            // A datetime's `+` would read as a space.
            Some(e) => format!("/update?expiry={}", e.replace('+', "%2B")),
            None => "/update".to_owned(),
        };
        let (status, set, body) = self.send("POST", &uri, key, data).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let set = set.expect("the session cookie is set");
        if let (Some(k), false) = (key, self.cookie_held) {
            assert_eq!(set, k, "the key is kept");
        }
        set
    }
}

/// The same dict, and in the same order.
fn assert_same(got: &Map, want: &Map, what: &str) {
    assert_eq!(got, want, "{what}");
    assert!(
        got.keys().eq(want.keys()),
        "{what}: key order {:?} != {:?}",
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
}

/// The lone surrogates of [`DJANGO_DATA`] kept as Django wrote them (a parser that read them as
/// U+FFFD would read both sides' text alike, so [`assert_same`] alone cannot tell).
fn assert_lone_surrogates_kept(got: &Map, what: &str) {
    for (key, text) in [
        ("lone", r#""\ud800x\udfff""#),
        ("pair_split", r#"["\ud83d","\ude00"]"#),
    ] {
        let value = got.get(key).unwrap_or_else(|| panic!("{what}: no {key}"));
        assert_eq!(tessera::json::to_string(value), text, "{what}: {key}");
    }
}

fn merged(base: &Map, change: &Map) -> Map {
    let mut m = base.clone();
    for (k, v) in change {
        m.insert(k.clone(), v.clone());
    }
    m
}

// ---------------------------------------------------------------------------------------------
// The flow.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// Django's `migrate`, then tessera's `migrate` (a no-op).
    DjangoFirst,
    /// tessera's `migrate`, then Django's plain `migrate`.
    TesseraFirst,
    /// Both migrate, then Django (with the companion package's db backend) and tessera write
    /// one session at once.
    Concurrent,
}

async fn live(db: &str, version: Version, django: Django, tessera_url: &str, order: Order) {
    let name = &format!("{db} ({})", version.name());
    if order == Order::Concurrent {
        return concurrent(name, django, tessera_url).await;
    }
    let started = Instant::now();

    // The schema, in the order given.
    let tessera = match order {
        Order::DjangoFirst => {
            let m = django.run(&["migrate"]).await;
            assert_eq!(
                tessera::json::to_string(&m["applied"]),
                r#"["0001_initial"]"#,
                "{name}: {m:?}"
            );
            let t = Tessera::open(tessera_url).await;
            t.sessions.migrate().await.unwrap();
            t
        }
        Order::TesseraFirst => {
            let t = Tessera::open(tessera_url).await;
            t.sessions.migrate().await.unwrap();
            // A plain `migrate`, no flags: tessera recorded the migration it ran (Django's
            // `migrate` used to fail with "table already exists").
            let m = django.run(&["migrate"]).await;
            let output = m["output"].as_str().unwrap();
            assert_eq!(
                tessera::json::to_string(&m["applied"]),
                r#"["0001_initial"]"#,
                "{name}: {output}"
            );
            assert!(
                !output.contains("Applying sessions.0001_initial"),
                "{name}: Django skips the migration tessera ran:\n{output}"
            );
            t
        }
        Order::Concurrent => unreachable!("handled above"),
    };

    // 1. Django writes, tessera reads.
    let by_django = django.write(DJANGO_DATA, None).await;
    assert_same(
        &tessera.items(&by_django).await,
        &dict(DJANGO_DATA),
        &format!("{name}: tessera reads Django's session"),
    );

    // 2. tessera writes, Django reads: the dict, and the instant it expires.
    let wrote_at = now();
    let by_tessera = tessera.update(None, TESSERA_DATA, None).await;
    let (data, expires) = django
        .read(&by_tessera)
        .await
        .expect("Django finds tessera's session");
    assert_same(
        &data,
        &dict(TESSERA_DATA),
        &format!("{name}: Django reads tessera's session"),
    );
    let expected = wrote_at + COOKIE_AGE;
    assert!(
        (expires - expected).abs() < 5.0,
        "{name}: expire_date {expires} is not now + SESSION_COOKIE_AGE ({expected})"
    );

    // 3. Each side changes the other's session.
    each_side_changes_the_others(name, &django, &tessera, &by_django, &by_tessera).await;

    // 4. Expired sessions: each side's are dead to the other and cleared by the other.
    let expired_by_tessera = tessera
        .update(None, r#"{"old": "tessera"}"#, Some("-60"))
        .await;
    assert_eq!(
        django.read(&expired_by_tessera).await,
        None,
        "{name}: Django does not load tessera's expired session"
    );
    assert_eq!(django.count().await, 3, "{name}: the expired row is there");
    let cleared = django.run(&["clearsessions"]).await;
    assert_eq!(
        tessera::json::to_string(&cleared),
        r#"{"before":3,"after":2}"#,
        "{name}: Django's clearsessions removes tessera's expired row"
    );

    let expired_by_django = django.write(r#"{"old": "django"}"#, Some("-60")).await;
    assert!(
        tessera.items(&expired_by_django).await.is_empty(),
        "{name}: tessera does not load Django's expired session"
    );
    assert_eq!(django.count().await, 3);
    let store = tessera.sessions.store().unwrap();
    let removed = store.clear_expired(now(), 100).await.unwrap();
    assert_eq!(
        removed, 1,
        "{name}: tessera's clear_expired removes Django's expired row"
    );
    assert_eq!(django.count().await, 2);

    // The live sessions survived both clean-ups, on both sides.
    assert!(django.read(&by_django).await.is_some(), "{name}");
    assert!(django.read(&by_tessera).await.is_some(), "{name}");
    assert!(!tessera.items(&by_django).await.is_empty(), "{name}");
    assert!(!tessera.items(&by_tessera).await.is_empty(), "{name}");

    // 5. Custom expiries set on each side, as the other reads them.
    expiries_both_ways(name, &django, &tessera, true).await;

    // 6. Logout on one side ends the session on the other, and is never undone.
    logout_both_ways(name, &django, &tessera, &by_django, &by_tessera).await;
    eprintln!(
        "{name} ({order:?}): Django and tessera agree on every step, in {:.1?}",
        started.elapsed()
    );
}

/// Each side sets each kind of custom expiry (`set_expiry` with 0, seconds, an aware datetime,
/// and `None` after seconds), and the other reads the same `_session_expiry` and the same
/// `get_expiry_date()`; with `rows`, Django's `expire_date` column is checked too (0 keeps
/// `SESSION_COOKIE_AGE`, as Django's `get_expiry_age` gives for a browser-close session).
async fn expiries_both_ways(name: &str, django: &Django, tessera: &Tessera, rows: bool) {
    // A whole second, an hour ahead, with an offset: Django keeps the offset in isoformat().
    let at = chrono::DateTime::from_timestamp(now() as i64 + 3600, 0)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap());
    let at_text = at.to_rfc3339();
    let at_stored = at.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
    // The expiry date as seconds after the write, or (the datetime) the instant itself.
    let at_seconds = at.timestamp() as f64;
    let cases = [
        ("0", Some(Value::Int(0)), Some(COOKIE_AGE)),
        ("300", Some(Value::Int(300)), Some(300.0)),
        (at_text.as_str(), Some(Value::Str(at_stored)), None),
        ("none", None, Some(COOKIE_AGE)),
    ];
    for (spec, stored, age) in cases {
        let expected = |wrote_at: f64| age.map_or(at_seconds, |age| wrote_at + age);
        let what = format!("{name}: set_expiry({spec})");
        // tessera sets it (`none` after 300), Django reads it.
        let wrote_at = now();
        let key = if spec == "none" {
            let key = tessera.update(None, r#"{"e": 1}"#, Some("300")).await;
            tessera.update(Some(&key), "{}", Some(spec)).await
        } else {
            tessera.update(None, r#"{"e": 1}"#, Some(spec)).await
        };
        let (data, date) = django.read_expiry_date(&key).await.expect("live");
        assert_eq!(
            data.get("_session_expiry"),
            stored.as_ref(),
            "{what} by tessera"
        );
        assert!(
            (date - expected(wrote_at)).abs() < 5.0,
            "{what} by tessera: Django's get_expiry_date {date}, expected {}",
            expected(wrote_at)
        );
        if rows {
            let (_, expire) = django.read(&key).await.expect("live");
            assert!(
                (expire - expected(wrote_at)).abs() < 5.0,
                "{what} by tessera: expire_date {expire}"
            );
        }
        let tessera_date = tessera.expiry_date(&key).await;
        assert!(
            (tessera_date - date).abs() < 5.0,
            "{what}: tessera's get_expiry_date {tessera_date}, Django's {date}"
        );

        // Django sets it, tessera reads it.
        let wrote_at = now();
        let key = if spec == "none" {
            let key = django.write(r#"{"e": 1}"#, Some("300")).await;
            django.update(&key, "{}", Some(spec)).await
        } else {
            django.write(r#"{"e": 1}"#, Some(spec)).await
        };
        let data = tessera.items(&key).await;
        assert_eq!(
            data.get("_session_expiry"),
            stored.as_ref(),
            "{what} by Django"
        );
        let date = tessera.expiry_date(&key).await;
        assert!(
            (date - expected(wrote_at)).abs() < 5.0,
            "{what} by Django: tessera's get_expiry_date {date}, expected {}",
            expected(wrote_at)
        );
    }
}

/// Logout on one side ends the session on the other, and is never undone: Django's logout
/// (delete), then a tessera request with the old cookie is anonymous and writes to a new key;
/// tessera's flush, then Django finds no session.
async fn logout_both_ways(
    name: &str,
    django: &Django,
    tessera: &Tessera,
    by_django: &str,
    by_tessera: &str,
) {
    django.run(&["delete", by_django]).await;
    assert!(tessera.items(by_django).await.is_empty(), "{name}");
    let (status, again, body) = tessera
        .send("POST", "/update", Some(by_django), r#"{"after": "logout"}"#)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let again = again.expect("a new session cookie");
    assert_ne!(again, by_django, "{name}: the old key is not reused");
    assert_eq!(
        django.read_expiry_date(by_django).await,
        None,
        "{name}: not resurrected"
    );
    tessera.flush(by_tessera).await;
    assert_eq!(
        django.read_expiry_date(by_tessera).await,
        None,
        "{name}: tessera's logout"
    );
    tessera.flush(&again).await;
}

/// tessera changes the session Django wrote and Django sees it; Django changes tessera's and
/// tessera sees it.
async fn each_side_changes_the_others(
    name: &str,
    django: &Django,
    tessera: &Tessera,
    by_django: &str,
    by_tessera: &str,
) {
    assert_lone_surrogates_kept(
        &tessera.items(by_django).await,
        &format!("{name}: tessera reads Django's session"),
    );
    let by_django = &tessera.update(Some(by_django), TESSERA_CHANGE, None).await;
    let seen = django.read_data(by_django).await;
    assert_same(
        &seen,
        &merged(&dict(DJANGO_DATA), &dict(TESSERA_CHANGE)),
        &format!("{name}: Django sees tessera's change"),
    );
    assert_lone_surrogates_kept(&seen, &format!("{name}: tessera saved Django's session"));
    let by_tessera = &django.update(by_tessera, DJANGO_CHANGE, None).await;
    assert_same(
        &tessera.items(by_tessera).await,
        &merged(&dict(TESSERA_DATA), &dict(DJANGO_CHANGE)),
        &format!("{name}: tessera sees Django's change"),
    );
}

/// Writers per side in each round of [`concurrent`].
const WRITERS: usize = 25;

/// 25 Django requests (threads of one process, through the companion package's
/// `django_tessera.backends.db`) and 25 tessera requests, each setting a key of its own in one
/// session at once, three rounds: every key lands, whichever side saves last. With Django's
/// stock backend, whose save is a blind `UPDATE` of the whole dict, a Django request that
/// loaded before a tessera save erases tessera's key.
async fn concurrent(name: &str, django: Django, tessera_url: &str) {
    // The companion's db engine, unless the caller chose another of its engines.
    let django = if django.env.iter().any(|(k, _)| k == "TESSERA_DJANGO_ENGINE") {
        django
    } else {
        django.with("TESSERA_DJANGO_ENGINE", "django_tessera.backends.db")
    };
    django.run(&["migrate"]).await;
    let tessera = Tessera::open(tessera_url).await;
    tessera.sessions.migrate().await.unwrap();
    for round in 0..3 {
        let key = tessera.update(None, r#"{"start": 1}"#, None).await;
        let mut writers = tokio::task::JoinSet::new();
        for i in 0..WRITERS {
            let (tessera, key) = (tessera.clone(), key.clone());
            writers.spawn(async move {
                tessera
                    .update(Some(&key), &format!(r#"{{"t{i}": {i}}}"#), None)
                    .await
            });
        }
        let writers_arg = WRITERS.to_string();
        let args = ["hammer", &key, "--writers", &writers_arg, "--prefix", "d"];
        let by_django = django.run(&args);
        let (by_django, _) = tokio::join!(by_django, async {
            while let Some(done) = writers.join_next().await {
                done.unwrap();
            }
        });
        assert_eq!(
            tessera::json::to_string(&by_django["errors"]),
            "[]",
            "{name} round {round}: Django's writers failed"
        );
        let data = tessera.items(&key).await;
        let missing: Vec<String> = (0..WRITERS)
            .flat_map(|i| [format!("t{i}"), format!("d{i}")])
            .filter(|k| !data.contains_key(k))
            .collect();
        assert!(
            missing.is_empty() && data.contains_key("start"),
            "{name} round {round}: lost {missing:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite and PostgreSQL.
// ---------------------------------------------------------------------------------------------

/// A fresh folder under cargo's test scratch directory, removed when dropped.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new() -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique("django-live-"));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn sqlite(version: Version, order: Order) {
    let Some(python) = venv_python(version).await else {
        return;
    };
    let scratch = Scratch::new();
    let path = scratch.0.join("db.sqlite3");
    let django = Django::on_sqlite(python, &path);
    let url = format!("sqlite://{}", path.display());
    live("SQLite", version, django, &url, order).await;
}

/// Whether the venv's Django can reach MySQL/MariaDB (mysqlclient installed).
fn has_mysql_driver(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import MySQLdb"])
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn mariadb(version: Version, order: Order) {
    let Some((url, python)) = server_and_django(
        version,
        "MySQL",
        "TESSERA_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
    )
    .await
    else {
        return;
    };
    if !has_mysql_driver(&python) {
        unavailable::<()>("mysqlclient is not in the Django venv (install libmariadb-dev)");
        return;
    }
    use mysql_async::prelude::Queryable as _;
    let opts = mysql_async::Opts::from_url(&url).unwrap();
    let db = unique("tessera_django_");
    let mut admin = mysql_async::Conn::new(opts.clone()).await.unwrap();
    admin
        .query_drop(format!("CREATE DATABASE `{db}`"))
        .await
        .unwrap();
    let _cleanup = {
        let (opts, db) = (opts.clone(), db.clone());
        Cleanup(Some(Box::pin(async move {
            if let Ok(mut c) = mysql_async::Conn::new(opts).await {
                let _ = c
                    .query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                    .await;
                let _ = c.disconnect().await;
            }
        })))
    };
    let django = Django {
        python,
        env: vec![
            ("TESSERA_DJANGO_DB".into(), "mysql".into()),
            ("TESSERA_DJANGO_MY_NAME".into(), db.clone()),
            (
                "TESSERA_DJANGO_MY_HOST".into(),
                opts.ip_or_hostname().to_string(),
            ),
            ("TESSERA_DJANGO_MY_PORT".into(), opts.tcp_port().to_string()),
            (
                "TESSERA_DJANGO_MY_USER".into(),
                opts.user().unwrap_or("root").to_owned(),
            ),
            (
                "TESSERA_DJANGO_MY_PASSWORD".into(),
                opts.pass().unwrap_or("").to_owned(),
            ),
        ],
    };
    let (scheme, rest) = url.split_once("://").unwrap();
    let authority = rest.split(['/', '?']).next().unwrap();
    let tessera_url = format!("{scheme}://{authority}/{db}");
    live("MariaDB", version, django, &tessera_url, order).await;
    let _ = admin.disconnect().await;
}

/// Runs a cleanup future on its own thread and runtime when dropped (even after a panic).
struct Cleanup(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(f)
            })
            .join();
        }
    }
}

/// The database server's URL (from `var`, else `default`) and the venv's python; `None`
/// (said loudly, a failure under CI) when either is missing.
async fn server_and_django(
    version: Version,
    name: &str,
    var: &str,
    default: &str,
) -> Option<(String, PathBuf)> {
    let url = require(name, var, default)?;
    let python = venv_python(version).await?;
    Some((url, python))
}

async fn postgres(version: Version, order: Order) {
    let Some((url, python)) = server_and_django(
        version,
        "PostgreSQL",
        "TESSERA_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
    .await
    else {
        return;
    };
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        other => panic!("a TCP host is needed for Django, got {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let schema = unique("tessera_django_");
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
        .await
        .unwrap();
    let _cleanup = {
        let (url, schema) = (url.clone(), schema.clone());
        Cleanup(Some(Box::pin(async move {
            if let Ok((c, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                tokio::spawn(conn);
                let _ = c
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .await;
            }
        })))
    };
    let django = Django {
        python,
        env: vec![
            ("TESSERA_DJANGO_DB".into(), "postgresql".into()),
            (
                "TESSERA_DJANGO_PG_NAME".into(),
                config.get_dbname().unwrap_or("postgres").into(),
            ),
            ("TESSERA_DJANGO_PG_HOST".into(), host),
            ("TESSERA_DJANGO_PG_PORT".into(), port.to_string()),
            (
                "TESSERA_DJANGO_PG_USER".into(),
                config.get_user().unwrap_or("postgres").into(),
            ),
            (
                "TESSERA_DJANGO_PG_PASSWORD".into(),
                String::from_utf8_lossy(config.get_password().unwrap_or_default()).into_owned(),
            ),
            ("TESSERA_DJANGO_PG_SCHEMA".into(), schema.clone()),
        ],
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let tessera_url = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    live("PostgreSQL", version, django, &tessera_url, order).await;
    // Both sides worked in the test's schema, nowhere else.
    let tables: Vec<String> = admin
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Django's two, and tessera's per-user index beside the session table.
    assert_eq!(
        tables,
        [
            "django_migrations",
            "django_session",
            "tessera_session_user"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_django_migrates_first() {
    sqlite(Version::V5_2, Order::DjangoFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django61_sqlite_django_migrates_first() {
    sqlite(Version::V6_1, Order::DjangoFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_tessera_migrates_first() {
    sqlite(Version::V5_2, Order::TesseraFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django61_sqlite_tessera_migrates_first() {
    sqlite(Version::V6_1, Order::TesseraFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_writers_on_both_sides_lose_nothing() {
    sqlite(Version::V5_2, Order::Concurrent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django61_sqlite_concurrent_writers_on_both_sides_lose_nothing() {
    sqlite(Version::V6_1, Order::Concurrent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_django_migrates_first() {
    postgres(Version::V5_2, Order::DjangoFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django61_postgres_django_migrates_first() {
    postgres(Version::V6_1, Order::DjangoFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tessera_migrates_first() {
    postgres(Version::V5_2, Order::TesseraFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django61_postgres_tessera_migrates_first() {
    postgres(Version::V6_1, Order::TesseraFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_writers_on_both_sides_lose_nothing() {
    postgres(Version::V5_2, Order::Concurrent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django61_postgres_concurrent_writers_on_both_sides_lose_nothing() {
    postgres(Version::V6_1, Order::Concurrent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_django_migrates_first() {
    mariadb(Version::V5_2, Order::DjangoFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django61_mariadb_django_migrates_first() {
    mariadb(Version::V6_1, Order::DjangoFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_tessera_migrates_first() {
    mariadb(Version::V5_2, Order::TesseraFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django61_mariadb_tessera_migrates_first() {
    mariadb(Version::V6_1, Order::TesseraFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_concurrent_writers_on_both_sides_lose_nothing() {
    mariadb(Version::V5_2, Order::Concurrent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django61_mariadb_concurrent_writers_on_both_sides_lose_nothing() {
    mariadb(Version::V6_1, Order::Concurrent).await;
}

/// Django's cache session engine on Redis, through the companion package (its cache backend
/// stores the session's signed text, its serializer keeps that text as is) and tessera's Redis
/// store on the same server and the same `KEY_PREFIX`: each side reads what the other wrote,
/// and each sees the other's changes. With Django's defaults the two never met (tessera wrote
/// without `:1:`, Django a pickle).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_sessions_are_shared_through_the_companion_package() {
    for version in [Version::V5_2, Version::V6_1] {
        let tessera_url = |redis: &str, prefix: &str, _: &Path| {
            let sep = if redis.contains('?') { '&' } else { '?' };
            format!("{redis}{sep}key_prefix={prefix}")
        };
        // The cache engine saves as Django's does (last writer wins): no concurrent run.
        shared_through_redis(version, "django_tessera.backends.cache", tessera_url, false).await;
    }
}

/// Django with the companion package's `engine` on a Redis cache (a `KEY_PREFIX` of the run's
/// own) and a SQLite database, and tessera on the URL `tessera_url(redis, prefix, db)` builds:
/// each side reads and changes what the other wrote; with `concurrent`, 25 + 25 concurrent
/// writers too.
async fn shared_through_redis(
    version: Version,
    engine: &str,
    tessera_url: impl Fn(&str, &str, &Path) -> String,
    concurrent_too: bool,
) {
    let Some((redis_url, python)) = server_and_django(
        version,
        "Redis",
        "TESSERA_TEST_REDIS_URL",
        "redis://127.0.0.1:6379",
    )
    .await
    else {
        return;
    };
    let scratch = Scratch::new();
    let db = scratch.0.join("db.sqlite3");
    let prefix = unique("tessera_live_");
    let django = Django::on_sqlite(python, &db)
        .with("TESSERA_DJANGO_ENGINE", engine)
        .with("TESSERA_DJANGO_REDIS_URL", redis_url.clone())
        .with("TESSERA_DJANGO_CACHE_KEY_PREFIX", prefix.clone());
    django.run(&["migrate"]).await;
    let url = tessera_url(&redis_url, &prefix, &db);
    let tessera = Tessera::open(&url).await;
    tessera.sessions.migrate().await.unwrap();
    let name = format!("{engine} ({})", version.name());
    let by_django = django.write(DJANGO_DATA, None).await;
    assert_same(
        &tessera.items(&by_django).await,
        &dict(DJANGO_DATA),
        &format!("{name}: tessera reads Django's session"),
    );
    let by_tessera = tessera.update(None, TESSERA_DATA, None).await;
    assert_same(
        &django.read_data(&by_tessera).await,
        &dict(TESSERA_DATA),
        &format!("{name}: Django reads tessera's session"),
    );
    each_side_changes_the_others(&name, &django, &tessera, &by_django, &by_tessera).await;
    expiries_both_ways(&name, &django, &tessera, false).await;
    logout_both_ways(&name, &django, &tessera, &by_django, &by_tessera).await;
    if concurrent_too {
        concurrent(&name, django, &url).await;
    }
    if let Sessions::Store(store) = &tessera.sessions {
        for key in [&by_django, &by_tessera] {
            store
                .delete(&SessionKey::parse(key).unwrap())
                .await
                .unwrap();
        }
    }
}

/// Signed cookies between tessera and each Django, as docs/signed-cookies.md's matrix says:
/// both sign with the v2 salt and read each other; a cookie signed with the legacy salt (what
/// Django 5.2.14 and older write) is read by Django 5.2 by default, by 6.1 only with
/// `SIGNED_COOKIE_LEGACY_SALT_FALLBACK = True`, and by tessera only with
/// `legacy_salt_fallback(true)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_cookies_follow_each_versions_salt_rules() {
    use tessera::cookie::CookieSigner;
    let keys = SecretKeys::new(SECRET);
    let v2 = CookieSigner::new(&keys);
    let legacy = CookieSigner::new(&keys).write_legacy_salt(true);
    let reads_legacy = CookieSigner::new(&keys).legacy_salt_fallback(true);
    for (version, legacy_by_default) in [(Version::V5_2, true), (Version::V6_1, false)] {
        let Some(python) = venv_python(version).await else {
            return;
        };
        let scratch = Scratch::new();
        let django = |fallback: Option<&str>| {
            let django = Django::on_sqlite(python.clone(), &scratch.0.join("db.sqlite3"));
            match fallback {
                Some(f) => django.with("TESSERA_DJANGO_LEGACY_FALLBACK", f),
                None => django,
            }
        };
        let name = version.name();
        // Django's cookie, read by tessera's default signer.
        let by_django = django(None)
            .run(&["cookie-sign", "theme", "dark ☕", "--salt", "prefs"])
            .await;
        let by_django = by_django.as_str().expect("a signed value").to_owned();
        assert_eq!(
            v2.unsign("theme", &by_django, "prefs", None).unwrap(),
            "dark ☕",
            "{name}: tessera reads Django's signed cookie"
        );
        let read = |django: Django, signed: String| async move {
            let got = django
                .run(&["cookie-get", "theme", &signed, "--salt", "prefs"])
                .await;
            got["value"].as_str().map(str::to_owned)
        };
        // tessera's v2 cookie, read by Django.
        let signed = v2.sign("theme", "dark ☕", "prefs");
        assert_eq!(
            read(django(None), signed).await.as_deref(),
            Some("dark ☕"),
            "{name}: Django reads tessera's v2 cookie"
        );
        // A legacy-salt cookie: by default as the version does, and with the fallback on.
        let old = legacy.sign("theme", "dark ☕", "prefs");
        assert_eq!(
            read(django(None), old.clone()).await.is_some(),
            legacy_by_default,
            "{name}: a legacy-salt cookie by default"
        );
        assert_eq!(
            read(django(Some("1")), old.clone()).await.as_deref(),
            Some("dark ☕"),
            "{name}: a legacy-salt cookie with SIGNED_COOKIE_LEGACY_SALT_FALLBACK"
        );
        assert!(v2.unsign("theme", &old, "prefs", None).is_err());
        assert_eq!(
            reads_legacy.unsign("theme", &old, "prefs", None).unwrap(),
            "dark ☕"
        );
    }
}

/// Django's `signed_cookies` engine and tessera's `cookie://`: the whole session in the
/// cookie, each side reading what the other wrote (non-ASCII, big ints, floats, nesting), on
/// both Django versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_cookie_sessions_are_read_by_both_sides() {
    for version in [Version::V5_2, Version::V6_1] {
        let Some(python) = venv_python(version).await else {
            return;
        };
        let scratch = Scratch::new();
        let django = Django::on_sqlite(python, &scratch.0.join("db.sqlite3")).with(
            "TESSERA_DJANGO_ENGINE",
            "django.contrib.sessions.backends.signed_cookies",
        );
        let tessera = Tessera::open("cookie://").await;
        let name = version.name();
        let by_django = django.write(DJANGO_DATA, None).await;
        // Three times: the third read is answered from tessera's cache of decoded cookies.
        for read in ["first", "second", "cached"] {
            assert_same(
                &tessera.items(&by_django).await,
                &dict(DJANGO_DATA),
                &format!("{name}: tessera reads Django's cookie session ({read})"),
            );
        }
        let by_tessera = tessera.update(None, TESSERA_DATA, None).await;
        assert_same(
            &django.read_data(&by_tessera).await,
            &dict(TESSERA_DATA),
            &format!("{name}: Django reads tessera's cookie session"),
        );
        // Each side changes the other's cookie (the change is a new cookie), lone surrogates
        // kept; custom expiries set on one side read alike on the other. Logout has no other
        // side here: the session is the browser's cookie, which the logging-out side deletes.
        let name = format!("signed_cookies ({name})");
        each_side_changes_the_others(&name, &django, &tessera, &by_django, &by_tessera).await;
        expiries_both_ways(&name, &django, &tessera, false).await;
    }
}

/// Django's `cached_db` engine through the companion package (the signed text in a Redis
/// cache named as Django names it, the database by compare-and-swap) and tessera's
/// `cached+redis://…?db=sqlite://…`: each side reads and changes what the other wrote, and
/// 25 + 25 concurrent writers lose nothing, on both Django versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_db_sessions_are_shared_through_the_companion_package() {
    for version in [Version::V5_2, Version::V6_1] {
        let tessera_url = |redis: &str, prefix: &str, db: &Path| {
            let sep = if redis.contains('?') { '&' } else { '?' };
            format!(
                "cached+{redis}{sep}key_prefix={prefix}&db=sqlite://{}",
                db.display()
            )
        };
        shared_through_redis(
            version,
            "django_tessera.backends.cached_db",
            tessera_url,
            true,
        )
        .await;
    }
}
