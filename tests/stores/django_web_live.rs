//! The logged-in user, CSRF and messages shared with the real Django: one browser-like cookie
//! jar goes back and forth between Django (its full middleware stack, through
//! `tests/support/django_web.py`) and a tessera app on the same SQLite database and secret key.
//!
//! - a user logs in on Django and tessera sees that user; logs in on tessera and Django does;
//! - a password change on Django logs the tessera side out;
//! - a form token Django rendered is accepted by tessera, and one tessera rendered by Django;
//!   a forged one is refused with 403 on both;
//! - a message queued on either side is shown once, on the other, with cookie, session and
//!   fallback storage.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Query;
use axum::routing::{get, post};
use axum::Router;
use http::header::{CONTENT_TYPE, COOKIE};
use http::StatusCode;
use tessera::auth::{Auth, AuthConfig, AuthError, AuthLayer, MaybeUser, UserSource};
use tessera::csrf::{CsrfConfig, CsrfLayer, CsrfToken, RandomUnavailable};
use tessera::json::{self, Value};
use tessera::messages::{
    Level, Messages, MessagesConfig, MessagesError, MessagesLayer, StorageKind,
};
use tessera::signing::SecretKeys;
use tessera::url::open;
use tessera::{SessionConfig, SessionLayer};

use crate::django_live::{venv_python, Scratch, Version, SECRET};

/// The browser: every cookie either side set, sent to both.
#[derive(Default, Debug, Clone)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
    /// Applies a response's cookies: a value, or `None` for a deletion.
    fn apply(&mut self, changes: impl IntoIterator<Item = (String, Option<String>)>) {
        for (name, value) in changes {
            match value {
                Some(v) => self.0.insert(name, v),
                None => self.0.remove(&name),
            };
        }
    }
    fn to_json(&self) -> String {
        let map: json::Map = self
            .0
            .iter()
            .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
            .collect();
        json::map_to_string(&map)
    }
}

/// A response from either side.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
}

/// Django, through `django_web.py` with the test's settings.
struct Django {
    python: PathBuf,
    db: PathBuf,
    storage: &'static str,
    /// `SESSION_ENGINE`: Django's `db` engine, or the companion package's.
    engine: &'static str,
}

impl Django {
    fn run(&self, args: &[&str]) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/django_web.py");
        let out = Command::new(&self.python)
            .arg(script)
            .args(args)
            .env("TESSERA_DJANGO_SECRET_KEY", SECRET)
            .env("TESSERA_DJANGO_DB", "sqlite")
            .env("TESSERA_DJANGO_SQLITE_PATH", &self.db)
            .env("TESSERA_DJANGO_MESSAGE_STORAGE", self.storage)
            .env("TESSERA_DJANGO_ENGINE", self.engine)
            .env("PYTHONIOENCODING", "utf-8")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "django_web.py {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
    }

    /// One request with the jar's cookies, the response's cookies applied to it.
    fn request(&self, jar: &mut Jar, method: &str, path: &str, form: Option<&str>) -> Answer {
        let cookies = jar.to_json();
        let mut args = vec!["request", method, path, "--cookies", &cookies];
        if let Some(f) = form {
            args.extend(["--form", f]);
        }
        let out = self.run(&args);
        if let Some(changes) = out["cookies"].as_dict() {
            jar.apply(
                changes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned))),
            );
        }
        Answer {
            status: out["status"].as_i64().unwrap() as u16,
            body: out["body"].as_str().unwrap().to_owned(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// tessera's side: the same routes.
// ---------------------------------------------------------------------------------------------

type Q = Query<std::collections::HashMap<String, String>>;

async fn login(auth: Auth, body: String) -> Result<(StatusCode, String), AuthError> {
    let form = json::from_str(&body).unwrap_or_default();
    let (username, password) = (
        form["username"].as_str().unwrap_or(""),
        form["password"].as_str().unwrap_or(""),
    );
    Ok(match auth.authenticate(username, password).await? {
        Some(user) => {
            auth.login(&user).await?;
            (StatusCode::OK, user.id)
        }
        None => (StatusCode::UNAUTHORIZED, "no".into()),
    })
}

async fn whoami(MaybeUser(user): MaybeUser) -> String {
    user.map_or("anonymous".into(), |u| format!("user {}", u.id))
}

async fn form(csrf: CsrfToken) -> Result<String, RandomUnavailable> {
    csrf.get_token()
}

async fn protected() -> &'static str {
    "accepted"
}

async fn queue_message(messages: Messages, Query(q): Q) -> &'static str {
    messages.add(Level(q["level"].parse().unwrap()), q["text"].clone());
    "queued"
}

async fn show_messages(messages: Messages) -> Result<String, MessagesError> {
    let shown: Vec<Value> = messages
        .read()
        .await?
        .into_iter()
        .map(|m| Value::List(vec![Value::Int(m.level.0), Value::Str(m.message)]))
        .collect();
    Ok(json::to_string(&Value::List(shown)))
}

async fn tessera_app(db: &Path, users: Arc<dyn UserSource>, storage: StorageKind) -> Router {
    let keys = SecretKeys::new(SECRET);
    let sessions = open(&format!("sqlite://{}", db.display()), &keys)
        .await
        .unwrap();
    let messages = MessagesConfig {
        storage,
        ..MessagesConfig::default()
    };
    Router::new()
        .route("/login", post(login))
        .route("/whoami", get(whoami))
        .route("/form", get(form))
        .route("/protected", post(protected))
        .route("/message", post(queue_message))
        .route("/messages", get(show_messages))
        .layer(AuthLayer::new(users, &keys, AuthConfig::default()))
        .layer(MessagesLayer::new(&keys, messages).unwrap())
        .layer(
            CsrfLayer::new(CsrfConfig::default())
                .unwrap()
                .exempt("/login")
                .exempt("/message"),
        )
        .layer(SessionLayer::from_sessions(&sessions, SessionConfig::default()).unwrap())
}

async fn tessera(
    app: &Router,
    jar: &mut Jar,
    method: &str,
    path: &str,
    form: Option<&str>,
) -> Answer {
    let mut req = http::Request::builder().method(method).uri(path);
    if !jar.0.is_empty() {
        req = req.header(COOKIE, jar.header());
    }
    let body = match form {
        // The login route reads JSON; every other form is urlencoded, as a browser sends it.
        Some(f) if path == "/login" => {
            req = req.header(CONTENT_TYPE, "application/json");
            f.to_owned()
        }
        Some(f) => {
            req = req.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
            urlencoded(f)
        }
        None => String::new(),
    };
    let reply = common::http::reply(app, req.body(Body::from(body)).unwrap()).await;
    jar.apply(reply.set_cookies().iter().filter_map(|c| {
        let pair = c.split(';').next()?;
        let (name, value) = pair.split_once('=')?;
        let deleted = c.contains("Max-Age=0") || c.contains("01 Jan 1970");
        Some((
            name.to_owned(),
            (!deleted).then(|| value.trim_matches('"').to_owned()),
        ))
    }));
    Answer {
        status: reply.status.as_u16(),
        body: reply.body,
    }
}

/// A flat JSON object of strings as `application/x-www-form-urlencoded`.
fn urlencoded(form: &str) -> String {
    let Ok(Value::Dict(fields)) = json::from_str(form) else {
        panic!("not a form: {form}")
    };
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect::<Vec<_>>()
        .join("&")
}

/// Django's `auth_user` on the test's SQLite file, as tessera reads it.
async fn users(db: &Path) -> Arc<dyn UserSource> {
    let url = format!("sqlite://{}", db.display());
    Arc::new(
        tessera::auth::sql_users::SqlUsers::connect(&url)
            .await
            .unwrap(),
    )
}

// ---------------------------------------------------------------------------------------------
// The scenarios.
// ---------------------------------------------------------------------------------------------

async fn setup(version: Version, storage: StorageKind) -> Option<(Scratch, Django, Router)> {
    let python = venv_python(version).await?;
    let scratch = Scratch::new();
    let db = scratch.0.join("db.sqlite3");
    let django = Django {
        python,
        db: db.clone(),
        storage: match storage {
            StorageKind::Cookie => "cookie",
            StorageKind::Session => "session",
            _ => "fallback",
        },
        engine: "django.contrib.sessions.backends.db",
    };
    django.run(&["migrate"]);
    let app = tessera_app(&db, users(&db).await, storage).await;
    Some((scratch, django, app))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logged_in_user_is_the_same_on_both_sides() {
    for version in [Version::V5_2, Version::V6_1] {
        let Some((_scratch, django, app)) = setup(version, StorageKind::Fallback).await else {
            return;
        };
        let pk = django.run(&["createuser", "alice", "wonderland"]);
        let pk = json::to_string(&pk);
        let credentials = r#"{"username": "alice", "password": "wonderland"}"#;

        // Logged in on Django: tessera sees alice.
        let mut jar = Jar::default();
        let answer = django.request(&mut jar, "POST", "login", Some(credentials));
        assert_eq!(answer.status, 200, "{answer:?}");
        let seen = tessera(&app, &mut jar, "GET", "/whoami", None).await;
        assert_eq!(seen.body, format!("user {pk}"), "{version:?}");

        // Logged in on tessera (a fresh browser): Django's request.user is alice.
        let mut jar2 = Jar::default();
        let answer = tessera(&app, &mut jar2, "POST", "/login", Some(credentials)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(
            django.request(&mut jar2, "GET", "whoami", None).body,
            format!("user {pk}")
        );

        // A password change on Django logs both browsers out on tessera.
        django.run(&["setpassword", "alice", "looking-glass"]);
        for jar in [&mut jar, &mut jar2] {
            let seen = tessera(&app, jar, "GET", "/whoami", None).await;
            assert_eq!(seen.body, "anonymous", "{version:?}");
            assert!(
                !jar.0.contains_key("sessionid"),
                "the session cookie is deleted"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_side_accepts_the_others_form_token_and_refuses_a_forged_one() {
    for version in [Version::V5_2, Version::V6_1] {
        let Some((_scratch, django, app)) = setup(version, StorageKind::Fallback).await else {
            return;
        };
        // Django renders the form; tessera takes its POST.
        let mut jar = Jar::default();
        let token = django.request(&mut jar, "GET", "form", None).body;
        assert_eq!(token.len(), 64);
        let form = format!(r#"{{"csrfmiddlewaretoken": "{token}"}}"#);
        let posted = tessera(&app, &mut jar, "POST", "/protected", Some(&form)).await;
        assert_eq!((posted.status, posted.body.as_str()), (200, "accepted"));

        // tessera renders the form; Django takes its POST.
        let mut jar = Jar::default();
        let token = tessera(&app, &mut jar, "GET", "/form", None).await.body;
        let form = format!(r#"{{"csrfmiddlewaretoken": "{token}"}}"#);
        let posted = django.request(&mut jar, "POST", "protected", Some(&form));
        assert_eq!((posted.status, posted.body.as_str()), (200, "accepted"));

        // A forged token (another secret's) is refused by both, with 403.
        let forged = {
            let mut other = Jar::default();
            tessera(&app, &mut other, "GET", "/form", None).await.body
        };
        let form = format!(r#"{{"csrfmiddlewaretoken": "{forged}"}}"#);
        assert_eq!(
            tessera(&app, &mut jar, "POST", "/protected", Some(&form))
                .await
                .status,
            403
        );
        assert_eq!(
            django
                .request(&mut jar, "POST", "protected", Some(&form))
                .status,
            403
        );
        // And no token at all.
        assert_eq!(
            tessera(&app, &mut jar, "POST", "/protected", Some("{}"))
                .await
                .status,
            403
        );
        assert_eq!(
            django
                .request(&mut jar, "POST", "protected", Some("{}"))
                .status,
            403
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_queued_on_one_side_is_shown_once_on_the_other() {
    for version in [Version::V5_2, Version::V6_1] {
        for storage in [
            StorageKind::Cookie,
            StorageKind::Session,
            StorageKind::Fallback,
        ] {
            let Some((_scratch, django, app)) = setup(version, storage).await else {
                return;
            };
            let what = format!("{version:?} {storage:?}");
            let mut jar = Jar::default();
            // Session storage needs a session: log in first, on Django.
            django.run(&["createuser", "bob", "builder"]);
            let credentials = r#"{"username": "bob", "password": "builder"}"#;
            django.request(&mut jar, "POST", "login", Some(credentials));

            let queued = django.request(
                &mut jar,
                "POST",
                "message?level=25&text=Saved%20%E2%9C%93",
                None,
            );
            assert_eq!(queued.body, "queued", "{what}");
            let shown = tessera(&app, &mut jar, "GET", "/messages", None).await;
            assert_eq!(shown.body, r#"[[25,"Saved \u2713"]]"#, "{what}");
            assert_eq!(
                tessera(&app, &mut jar, "GET", "/messages", None).await.body,
                "[]",
                "{what}"
            );
            assert_eq!(
                django.request(&mut jar, "GET", "messages", None).body,
                "[]",
                "{what}"
            );

            let queued = tessera(&app, &mut jar, "POST", "/message?level=40&text=Oops", None).await;
            assert_eq!(queued.body, "queued", "{what}");
            assert_eq!(
                django.request(&mut jar, "GET", "messages", None).body,
                "[[40, \"Oops\"]]",
                "{what}"
            );
            assert_eq!(
                django.request(&mut jar, "GET", "messages", None).body,
                "[]",
                "{what}"
            );
            assert_eq!(
                tessera(&app, &mut jar, "GET", "/messages", None).await.body,
                "[]",
                "{what}"
            );
        }
    }
}

/// "Log out everywhere" on tessera ends the sessions Django's `login()` made: those written
/// through the companion package's engine are in tessera's index at once; those Django's own
/// engine wrote are found after `reindex_users`, the documented backfill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_out_everywhere_on_tessera_ends_djangos_sessions_too() {
    let Some((scratch, mut django, app)) = setup(Version::V6_1, StorageKind::Fallback).await else {
        return;
    };
    let sessions = tessera::url::open(
        &format!("sqlite://{}", scratch.0.join("db.sqlite3").display()),
        &SecretKeys::new(SECRET),
    )
    .await
    .unwrap();
    let store = sessions.store().unwrap();
    let pk = json::to_string(&django.run(&["createuser", "carol", "s3cret-pass"]));
    let credentials = r#"{"username": "carol", "password": "s3cret-pass"}"#;
    let who = format!("user {pk}");

    // Two browsers log in on Django through the companion package, one through Django's own
    // engine, one on tessera.
    django.engine = "django_tessera.backends.db";
    let mut companion = [Jar::default(), Jar::default()];
    for jar in &mut companion {
        assert_eq!(
            django
                .request(jar, "POST", "login", Some(credentials))
                .status,
            200
        );
    }
    django.engine = "django.contrib.sessions.backends.db";
    let mut stock = Jar::default();
    assert_eq!(
        django
            .request(&mut stock, "POST", "login", Some(credentials))
            .status,
        200
    );
    let mut on_tessera = Jar::default();
    assert_eq!(
        tessera(&app, &mut on_tessera, "POST", "/login", Some(credentials))
            .await
            .status,
        200
    );

    let now = tessera::time::now();
    assert_eq!(
        store.user_sessions(&pk, now).await.unwrap().len(),
        3,
        "companion + tessera"
    );
    assert_eq!(store.revoke_user_sessions(&pk, None).await.unwrap(), 3);
    for jar in companion.iter_mut() {
        assert_eq!(django.request(jar, "GET", "whoami", None).body, "anonymous");
    }
    assert_eq!(
        tessera(&app, &mut on_tessera, "GET", "/whoami", None)
            .await
            .body,
        "anonymous"
    );
    // Django's own engine wrote no entry: still logged in, until the backfill finds it.
    assert_eq!(django.request(&mut stock, "GET", "whoami", None).body, who);
    assert!(store.reindex_users(now, 100).await.unwrap() >= 1);
    assert_eq!(store.revoke_user_sessions(&pk, None).await.unwrap(), 1);
    assert_eq!(
        django.request(&mut stock, "GET", "whoami", None).body,
        "anonymous"
    );
}
