//! The demo site in-process (`tessera_cli::demo::router`): every page, the forms and the JSON API,
//! through the full tower stack, over the memory store, a SQLite file, and a store that is down.

use crate::common;

use common::http::{send_with, Reply};

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use common::serve::TempDir;
use http::StatusCode;
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::memory::MemoryStore;
use tessera::store::{Loaded, Record, SaveOutcome, SessionStore, StoreError, Version};
use tessera::url::{open, Sessions};
use tessera::SessionConfig;
use tessera_cli::demo::DemoOptions;

impl Reply {
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
    /// `name=value` of a cookie this response sets (not one it deletes).
    fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")) && !c.starts_with(&format!("{name}=\"\"")))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }
    /// The `Set-Cookie` headers but the messages cookie (a form's "done" note).
    fn set_cookies_but_messages(&self) -> Vec<String> {
        self.set_cookies()
            .into_iter()
            .filter(|c| !c.starts_with("messages="))
            .collect()
    }
    fn deletes(&self, name: &str) -> bool {
        self.set_cookies()
            .iter()
            .any(|c| c.starts_with(&format!("{name}=\"\"; expires=Thu, 01 Jan 1970")))
    }
    /// The start of the body, for assertion messages.
    fn head(&self) -> &str {
        let end = (0..=self.body.len().min(300))
            .rev()
            .find(|&i| self.body.is_char_boundary(i))
            .unwrap_or(0);
        &self.body[..end]
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .map_or("", |v| v.to_str().unwrap())
    }
    /// The text of the `#result` box.
    fn result(&self) -> &str {
        let start = self.body.find("id=\"result\">").expect("a #result box") + 12;
        let end = self.body[start..].find("</p>").unwrap() + start;
        &self.body[start..end]
    }
}

/// A CSRF secret the tests hold: a form carries it bare, its cookie too (Django accepts a bare
/// token as well as a masked one).
const CSRF: &str = "abcdefghijklmnopqrstuvwxyzABCDEF";

/// `cookie` with the CSRF cookie added.
fn with_csrf_cookie(cookie: Option<&str>) -> String {
    match cookie {
        Some(c) => format!("{c}; csrftoken={CSRF}"),
        None => format!("csrftoken={CSRF}"),
    }
}

/// `body` with the CSRF form field added.
fn with_csrf_field(body: &str) -> String {
    if body.is_empty() {
        format!("csrfmiddlewaretoken={CSRF}")
    } else {
        format!("{body}&csrfmiddlewaretoken={CSRF}")
    }
}

/// `method uri` with the cookie, no `Origin` and no Fetch Metadata: as a script sends it. A
/// `POST` to a page is a form with its CSRF token; a write under `/api/` is JSON.
async fn send(app: &Router, method: &str, uri: &str, cookie: Option<&str>, body: &str) -> Reply {
    let api = uri.starts_with("/api/");
    if method == "POST" && !api {
        let cookie = with_csrf_cookie(cookie);
        let headers = [
            ("cookie", cookie.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        return send_with(app, method, uri, &headers, &with_csrf_field(body)).await;
    }
    let content_type = (method != "GET" && api).then_some("application/json");
    let mut headers = Vec::new();
    headers.extend(cookie.map(|c| ("cookie", c)));
    headers.extend(content_type.map(|t| ("content-type", t)));
    send_with(app, method, uri, &headers, body).await
}

async fn get(app: &Router, uri: &str, cookie: Option<&str>) -> Reply {
    send(app, "GET", uri, cookie, "").await
}

fn keys() -> SecretKeys {
    SecretKeys::new("demo-test-secret")
}

fn memory_app() -> (Router, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let sessions = Sessions::Store(store.clone());
    (
        tessera_cli::demo::router(&sessions, &keys(), SessionConfig::default())
            .expect("valid session config"),
        store,
    )
}

#[tokio::test]
async fn cookie_walkthrough() {
    let (app, _) = memory_app();
    let r = get(&app, "/set_cookie/", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.set_cookies(), [r#"test="hello cookie"; Path=/"#]);
    let cookie = r.cookie("test").unwrap();
    for page in ["/get_cookie/", "/check_cookie/"] {
        let r = get(&app, page, Some(&cookie)).await;
        assert_eq!(r.result(), "test = hello cookie", "{page}");
        assert_eq!(
            get(&app, page, None).await.result(),
            "test = None",
            "{page}"
        );
    }
    let r = get(&app, "/delete_cookie/", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.headers["location"], "/check_cookie/");
    assert!(r.deletes("test"), "{:?}", r.set_cookies());
}

#[tokio::test]
async fn signed_cookie_round_trip_and_tampering() {
    let (app, _) = memory_app();
    let first = get(&app, "/check_salt_cookie/", None).await;
    assert!(
        first.result().starts_with("No salt_cookie yet"),
        "{}",
        first.result()
    );
    let cookie = first.cookie("salt_cookie").unwrap();
    assert!(cookie.starts_with("salt_cookie=\"hello salt:"), "{cookie}");
    let second = get(&app, "/check_salt_cookie/", Some(&cookie)).await;
    assert!(
        second.result().starts_with("salt_cookie = hello salt"),
        "{}",
        second.result()
    );
    assert!(second.set_cookies().is_empty());

    // Reported, and left alone: another app (a Django of another version) may read it.
    let tampered = cookie.replace("hello salt", "hello SALT");
    let r = get(&app, "/check_salt_cookie/", Some(&tampered)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.result().contains("did not verify"), "{}", r.result());
    assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
    // Garbage, not even value:timestamp:signature, is reported the same way.
    let r = get(&app, "/check_salt_cookie/", Some("salt_cookie=<b>x</b>")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.result().contains("did not verify"), "{}", r.result());
    assert!(!r.body.contains("<b>x</b>"));
}

/// A cookie signed as Django 5.2.14 and older sign it (the legacy salt) is reported, not
/// deleted, by default (it was deleted as tampered), and verifies with the legacy fallback
/// on; with the legacy salt written, such a Django reads the demo's cookie.
#[tokio::test]
async fn legacy_salt_cookies_verify_with_the_fallback_and_are_never_deleted() {
    use tessera::cookie::CookieSigner;
    let legacy = CookieSigner::new(&keys()).write_legacy_salt(true);
    let value = legacy.sign("salt_cookie", "hello salt", "nice");
    let cookie = format!("salt_cookie=\"{value}\"");
    let (app, _) = memory_app();
    let r = get(&app, "/check_salt_cookie/", Some(&cookie)).await;
    assert!(r.result().contains("did not verify"), "{}", r.result());
    assert!(r.set_cookies().is_empty());
    let sessions = Sessions::Store(Arc::new(MemoryStore::new()));
    let with_signer = |signer: CookieSigner| {
        let options = DemoOptions::new(&keys(), SessionConfig::default()).signer(signer);
        tessera_cli::demo::router_with(&sessions, options).unwrap()
    };
    let fallback = with_signer(CookieSigner::new(&keys()).legacy_salt_fallback(true));
    let r = get(&fallback, "/check_salt_cookie/", Some(&cookie)).await;
    assert!(
        r.result().starts_with("salt_cookie = hello salt"),
        "{}",
        r.result()
    );
    // Writing the legacy salt: what the demo sets is signed with it, not with the v2 salt that
    // Django 5.2.14 and older cannot read.
    let writes_legacy = with_signer(legacy);
    let set = get(&writes_legacy, "/check_salt_cookie/", None).await;
    let set = set.cookie("salt_cookie").unwrap();
    let signed = set.trim_start_matches("salt_cookie=").trim_matches('"');
    let old_django = CookieSigner::new(&keys());
    assert!(
        old_django
            .unsign("salt_cookie", signed, "nice", None)
            .is_err(),
        "not v2"
    );
    let legacy_reader = CookieSigner::new(&keys()).legacy_salt_fallback(true);
    assert_eq!(
        legacy_reader
            .unsign("salt_cookie", signed, "nice", None)
            .unwrap(),
        "hello salt"
    );
}

#[tokio::test]
async fn session_walkthrough() {
    let (app, store) = memory_app();
    let first = get(&app, "/set_session/", None).await;
    assert!(
        first.result().starts_with("Stored test_id = TEST"),
        "{}",
        first.result()
    );
    let cookie = first.cookie("sessionid").expect("a session cookie");
    assert!(first.set_cookies()[0].contains("HttpOnly"));
    let key = cookie.strip_prefix("sessionid=").unwrap();
    let second = get(&app, "/set_session/", Some(&cookie)).await;
    let text = second.result();
    assert!(
        text.contains(&format!("<code id=\"session-key\">{key}</code>")),
        "{text}"
    );
    assert!(text.contains("test_id = TEST"), "{text}");
    assert!(
        text.contains("expires: ") && text.contains(" UTC (in 1209600 s)"),
        "{text}"
    );

    let r = get(&app, "/delete_session/", Some(&cookie)).await;
    assert_eq!(r.result(), "Deleted test_id from the session.");
    let r = get(&app, "/delete_session/", Some(&cookie)).await;
    assert_eq!(
        r.result(),
        "Nothing to delete: test_id is not in the session."
    );

    get(&app, "/set_session/", Some(&cookie)).await;
    let r = get(&app, "/clear_session/", Some(&cookie)).await;
    assert!(r.result().starts_with("Cleared"));
    let api = get(&app, "/api/session", Some(&cookie)).await.json();
    assert_eq!(api["key"], key, "clear keeps the key");
    assert_eq!(api["data"], serde_json::json!({}));

    get(&app, "/set_session/", Some(&cookie)).await;
    let r = get(&app, "/cycle_key/", Some(&cookie)).await;
    assert!(r.result().starts_with("Key cycled"), "{}", r.result());
    let cycled = r.cookie("sessionid").expect("the new key's cookie");
    assert_ne!(cycled, cookie);
    assert!(
        !store
            .exists(&SessionKey::parse(key).unwrap())
            .await
            .unwrap(),
        "old key gone"
    );
    let api = get(&app, "/api/session", Some(&cycled)).await.json();
    assert_eq!(api["data"]["test_id"], "TEST", "cycle keeps the data");

    let r = get(&app, "/flush_session/", Some(&cycled)).await;
    assert!(r.result().starts_with("Flushed"));
    assert!(r.deletes("sessionid"), "{:?}", r.set_cookies());
    let api = get(&app, "/api/session", Some(&cycled)).await.json();
    assert_eq!(api["key"], serde_json::Value::Null);
}

#[tokio::test]
async fn set_expiry_values() {
    let (app, _) = memory_app();
    let cookie = get(&app, "/set_session/", None)
        .await
        .cookie("sessionid")
        .unwrap();
    let usage = get(&app, "/set_expiry/", Some(&cookie)).await;
    assert_eq!(usage.status, StatusCode::OK);
    assert!(usage.body.contains("?value=300"));

    let r = get(&app, "/set_expiry/?value=300", Some(&cookie)).await;
    assert!(r.result().contains("(in 300 s)"), "{}", r.result());
    assert!(
        r.set_cookies()[0].contains("Max-Age=300"),
        "{:?}",
        r.set_cookies()
    );

    let r = get(&app, "/set_expiry/?value=0", Some(&cookie)).await;
    assert!(
        r.result().contains("ends when the browser closes"),
        "{}",
        r.result()
    );
    assert!(
        !r.set_cookies()[0].contains("Max-Age"),
        "{:?}",
        r.set_cookies()
    );

    let r = get(
        &app,
        "/set_expiry/?value=2030-01-01T00:00:00%2B01:00",
        Some(&cookie),
    )
    .await;
    assert!(
        r.result().contains("2029-12-31 23:00:00 UTC"),
        "{}",
        r.result()
    );
    let api = get(&app, "/api/session", Some(&cookie)).await.json();
    assert_eq!(api["data"]["_session_expiry"], "2030-01-01T00:00:00+01:00");
    assert_eq!(api["expiry"], "2029-12-31T23:00:00Z");

    let r = get(&app, "/set_expiry/?value=none", Some(&cookie)).await;
    assert!(r.result().contains("(in 1209600 s)"), "{}", r.result());

    for bad in ["soon", "2030-01-01T00:00:00", "99999999999", "%3Cscript%3E"] {
        let r = get(&app, &format!("/set_expiry/?value={bad}"), Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(!r.body.contains("<script>"), "{bad}: escaped");
    }
}

#[tokio::test]
async fn index_shows_cookies_and_session_escaped() {
    let (app, _) = memory_app();
    let empty = get(&app, "/", None).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("Your browser sent no cookies."));
    assert!(empty.body.contains("The session is empty."));
    for page in [
        "/set_cookie/",
        "/check_salt_cookie/",
        "/set_session/",
        "/set_expiry/",
        "/api/session",
    ] {
        assert!(empty.body.contains(&format!("href=\"{page}\"")), "{page}");
    }
    assert!(
        empty.cookie("sessionid").is_none(),
        "reading makes no session"
    );
    assert_eq!(
        empty.set_cookies().len(),
        1,
        "only the CSRF cookie of the forms: {:?}",
        empty.set_cookies()
    );
    assert!(empty.cookie("csrftoken").is_some());
    assert_eq!(
        empty.body.matches("name=\"csrfmiddlewaretoken\"").count(),
        2,
        "both forms carry the token"
    );

    let patch = send(
        &app,
        "PATCH",
        "/api/session",
        None,
        r#"{"<img src=x>": "</td><script>alert(1)</script>"}"#,
    )
    .await;
    let session = patch.cookie("sessionid").unwrap();
    let key = session.strip_prefix("sessionid=").unwrap().to_owned();
    let cookie = format!("{session}; evil=\"<script>x</script>\"");
    let r = get(&app, "/", Some(&cookie)).await;
    assert!(!r.body.contains("<script>"), "{}", r.body);
    assert!(!r.body.contains("<img"), "{}", r.body);
    assert!(r.body.contains("&lt;img src=x&gt;"));
    assert!(r
        .body
        .contains("&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(r.body.contains("&lt;script&gt;x&lt;/script&gt;"));
    assert!(
        !r.body.contains(&key),
        "the index shows the key shortened only"
    );
    assert!(r.body.contains(&format!("{}…", &key[..4])));
}

#[tokio::test]
async fn forms_set_any_cookie_and_session_value() {
    let (app, _) = memory_app();
    let form =
        "name=theme&value=dark+mode&max_age=60&path=%2F&secure=on&httponly=on&samesite=Strict";
    let r = send(&app, "POST", "/form/cookie", None, form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers["location"], "/");
    // The note for the next page, shown once.
    let note = r.cookie("messages").expect("a message");
    let shown = get(&app, "/", Some(&note)).await;
    assert!(shown.body.contains("Cookie theme set."), "{}", shown.head());
    assert!(shown.deletes("messages"), "read once");
    let set = &r.set_cookies_but_messages()[0];
    assert!(set.starts_with("theme=\"dark mode\"; expires="), "{set}");
    for attr in [
        "HttpOnly",
        "Max-Age=60",
        "Path=/",
        "SameSite=Strict",
        "Secure",
    ] {
        assert!(set.contains(attr), "{attr}: {set}");
    }
    let plain = send(
        &app,
        "POST",
        "/form/cookie",
        None,
        "name=a&value=b&path=%2F&samesite=",
    )
    .await;
    assert_eq!(plain.set_cookies_but_messages(), ["a=b; Path=/"]);
    for bad in [
        "name=bad+name&value=x&path=%2F",
        "name=x&value=y&path=%2F&samesite=sideways",
        "name=x&value=y&path=%2F&max_age=soon",
        "name=x&value=y&path=%2F&samesite=None",
    ] {
        let r = send(&app, "POST", "/form/cookie", None, bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        assert!(r.set_cookies().is_empty());
    }

    let r = send(
        &app,
        "POST",
        "/form/session",
        None,
        "key=cart&value=%5B1%2C2%5D",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let cookie = r.cookie("sessionid").unwrap();
    send(
        &app,
        "POST",
        "/form/session",
        Some(&cookie),
        "key=note&value=just+text",
    )
    .await;
    let api = get(&app, "/api/session", Some(&cookie)).await.json();
    assert_eq!(
        api["data"],
        serde_json::json!({"cart": [1, 2], "note": "just text"})
    );
    let r = send(
        &app,
        "POST",
        "/form/session",
        Some(&cookie),
        "key=_session_expiry&value=1",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn api_get_patch_delete() {
    let (app, store) = memory_app();
    let fresh = get(&app, "/api/session", None).await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert!(fresh.content_type().starts_with("application/json"));
    let v = fresh.json();
    assert_eq!(v["key"], serde_json::Value::Null);
    assert_eq!(v["data"], serde_json::json!({}));
    assert!(v["expiry"].as_str().unwrap().ends_with('Z'));
    let unknown = get(
        &app,
        "/api/session",
        Some("sessionid=abcdefghijklmnopqrstuvwxyz012345"),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.json()["data"], serde_json::json!({}));

    let created = send(
        &app,
        "PATCH",
        "/api/session",
        None,
        r#"{"a": 1, "b": {"c": [true, null]}}"#,
    )
    .await;
    assert_eq!(created.status, StatusCode::OK);
    let cookie = created.cookie("sessionid").unwrap();
    let key = cookie.strip_prefix("sessionid=").unwrap().to_owned();
    assert_eq!(
        created.json()["key"],
        key.as_str(),
        "a new session's key is in the answer"
    );
    let merged = send(
        &app,
        "PATCH",
        "/api/session",
        Some(&cookie),
        r#"{"b": 2, "d": "é"}"#,
    )
    .await;
    assert_eq!(merged.json()["key"], key.as_str(), "PATCH keeps the key");
    assert_eq!(
        merged.json()["data"],
        serde_json::json!({"a": 1, "b": 2, "d": "é"})
    );
    assert_eq!(
        get(&app, "/api/session", Some(&cookie)).await.json()["data"]["d"],
        "é"
    );

    let deleted = send(&app, "DELETE", "/api/session", Some(&cookie), "").await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(deleted.deletes("sessionid"), "{:?}", deleted.set_cookies());
    assert_eq!(deleted.json()["data"], serde_json::json!({}));
    assert!(
        !store
            .exists(&SessionKey::parse(&key).unwrap())
            .await
            .unwrap(),
        "record gone"
    );
    let after = get(&app, "/api/session", Some(&cookie)).await;
    assert_eq!(after.json()["key"], serde_json::Value::Null);
}

#[tokio::test]
async fn api_errors_are_json() {
    let (app, _) = memory_app();
    for (body, why) in [
        ("[1, 2]", "JSON object"),
        ("\"text\"", "JSON object"),
        ("{\"a\": ", "not JSON"),
        ("", "not JSON"),
        ("{\"_session_expiry\": 5}", "_session_expiry"),
    ] {
        let r = send(&app, "PATCH", "/api/session", None, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert!(r.content_type().starts_with("application/json"), "{body:?}");
        let error = r.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(why), "{body:?}: {error}");
        assert!(r.set_cookies().is_empty());
    }
    let r = send(&app, "POST", "/api/session", None, "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["error"], "Method Not Allowed");
    let r = get(&app, "/api/nothing", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.json()["error"].is_string());
    let page = get(&app, "/nothing/", None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.content_type().starts_with("text/html"));
}

/// A store whose every call fails, as one that is down.
#[derive(Debug)]
struct Down;

#[async_trait]
impl SessionStore for Down {
    async fn load(&self, _: &SessionKey, _: f64) -> Result<Option<Loaded>, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn create(&self, _: &SessionKey, _: Record<'_>) -> Result<Version, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn save(
        &self,
        _: &SessionKey,
        _: Record<'_>,
        _: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn delete(&self, _: &SessionKey) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn exists(&self, _: &SessionKey) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn clear_expired(&self, _: f64, _: usize) -> Result<u64, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
}

#[tokio::test]
async fn store_down_is_a_503() {
    let sessions = Sessions::Store(Arc::new(Down));
    let app = tessera_cli::demo::router(&sessions, &keys(), SessionConfig::default())
        .expect("valid session config");
    let cookie = "sessionid=abcdefghijklmnopqrstuvwxyz012345";
    for (method, cookie, body) in [
        ("GET", Some(cookie), ""),
        ("PATCH", None, "{\"a\": 1}"),
        ("PATCH", Some(cookie), "{\"a\": 1}"),
        ("DELETE", Some(cookie), ""),
    ] {
        let r = send(&app, method, "/api/session", cookie, body).await;
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {cookie:?}"
        );
        assert!(r.content_type().starts_with("application/json"));
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .contains("not responding"),
            "{}",
            r.body
        );
        assert!(r.set_cookies().is_empty());
    }
    let page = get(&app, "/set_session/", Some(cookie)).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    // Pages that do not touch the session still work.
    assert_eq!(get(&app, "/set_cookie/", None).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_patches_on_one_sqlite_session_all_land() {
    let dir = TempDir::new("demo-cas");
    let url = format!("sqlite://{}", dir.path().join("db.sqlite3").display());
    let sessions = open(&url, &keys()).await.unwrap();
    sessions.migrate().await.unwrap();
    let app = tessera_cli::demo::router(&sessions, &keys(), SessionConfig::default())
        .expect("valid session config");
    let cookie = send(&app, "PATCH", "/api/session", None, r#"{"seed": 0}"#)
        .await
        .cookie("sessionid")
        .unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move {
                let r = send(
                    &app,
                    "PATCH",
                    "/api/session",
                    Some(&cookie),
                    &format!("{{\"k{i}\": {i}}}"),
                )
                .await;
                assert_eq!(r.status, StatusCode::OK, "{i}: {}", r.body);
                assert!(
                    r.cookie("sessionid").is_none_or(|c| c == cookie),
                    "the key never changes"
                );
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let data = get(&app, "/api/session", Some(&cookie)).await.json()["data"].clone();
    assert_eq!(data.as_object().unwrap().len(), 51, "{data}");
    for i in 0..50 {
        assert_eq!(data[format!("k{i}")], i, "k{i} lost");
    }
}

/// The `Host` the tests' browser sends, and the demo's origin as that browser names it.
const HOST: &str = "demo.test:8000";
const OWN_ORIGIN: &str = "http://demo.test:8000";

/// A form POST as a browser sends it to the demo: its `Host`, the cookie, and `extra` (the
/// `Origin` and Fetch Metadata under test).
async fn browser_post(
    app: &Router,
    uri: &str,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
    body: &str,
) -> Reply {
    let cookie = with_csrf_cookie(cookie);
    let mut headers = vec![
        ("host", HOST),
        ("content-type", "application/x-www-form-urlencoded"),
        ("cookie", cookie.as_str()),
    ];
    headers.extend_from_slice(extra);
    send_with(app, "POST", uri, &headers, &with_csrf_field(body)).await
}

/// What a page on another site can make a browser send (each is refused).
const HOSTILE: &[&[(&str, &str)]] = &[
    &[("origin", "https://evil.example")],
    &[("sec-fetch-site", "cross-site")],
    &[
        ("sec-fetch-site", "same-site"),
        ("origin", "http://other.demo.test:8000"),
    ],
    &[("origin", "null")],
    &[("origin", "http://demo.test:8001")],
    // Fetch Metadata decides when present, even beside an Origin that looks right.
    &[("sec-fetch-site", "cross-site"), ("origin", OWN_ORIGIN)],
];

#[tokio::test]
async fn cross_site_form_posts_are_refused() {
    let (app, store) = memory_app();
    let plant = "name=theme&value=K&path=%2F";
    for &hostile in HOSTILE {
        let r = browser_post(&app, "/form/cookie", None, hostile, plant).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{hostile:?}: {}", r.body);
        assert!(
            r.set_cookies().is_empty(),
            "{hostile:?}: {:?}",
            r.set_cookies()
        );
        assert!(
            r.result().starts_with("Refused:") && r.result().contains("site"),
            "{hostile:?}: says why: {}",
            r.result()
        );
        let r = browser_post(&app, "/form/session", None, hostile, "key=k&value=1").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{hostile:?}: {}", r.body);
        assert!(r.set_cookies().is_empty(), "{hostile:?}");
    }
    // The attack of the report: another site plants its session key in the visitor's browser.
    let fixation = "name=sessionid&value=abcdefghijklmnopqrstuvwxyz012345&path=%2F";
    let r = browser_post(
        &app,
        "/form/cookie",
        None,
        &[("origin", "https://evil.example")],
        fixation,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.set_cookies().is_empty());
    assert!(store.is_empty(), "no session was made");

    // The same forms from the demo's own pages (any browser), a typed-in request, or a script.
    for own in [
        &[("sec-fetch-site", "same-origin"), ("origin", OWN_ORIGIN)][..],
        &[("origin", OWN_ORIGIN)],
        // Behind a proxy that ends TLS and says so, as Django's SECURE_PROXY_SSL_HEADER.
        &[
            ("origin", "https://demo.test:8000"),
            ("x-forwarded-proto", "https"),
        ],
        &[("sec-fetch-site", "same-origin")],
        &[("sec-fetch-site", "none")],
        &[],
    ] {
        let r = browser_post(&app, "/form/cookie", None, own, plant).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{own:?}: {}", r.body);
        assert_eq!(r.cookie("theme").as_deref(), Some("theme=K"), "{own:?}");
    }
    let r = browser_post(
        &app,
        "/form/session",
        None,
        &[("origin", OWN_ORIGIN)],
        "key=k&value=1",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cookie = r.cookie("sessionid").expect("a session");
    assert_eq!(
        get(&app, "/api/session", Some(&cookie)).await.json()["data"],
        serde_json::json!({"k": 1})
    );
}

#[tokio::test]
async fn cross_site_api_calls_are_refused_as_json() {
    let (app, store) = memory_app();
    let cookie = send(&app, "PATCH", "/api/session", None, r#"{"a": 1}"#)
        .await
        .cookie("sessionid")
        .unwrap();
    let key = cookie.strip_prefix("sessionid=").unwrap().to_owned();
    for (method, uri, body) in [
        ("PATCH", "/api/session", r#"{"a": 2}"#),
        ("DELETE", "/api/session", ""),
        ("POST", "/api/session/cycle_key", ""),
    ] {
        for &hostile in HOSTILE {
            let mut headers = vec![
                ("host", HOST),
                ("cookie", cookie.as_str()),
                ("content-type", "application/json"),
            ];
            headers.extend_from_slice(hostile);
            let r = send_with(&app, method, uri, &headers, body).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {hostile:?}");
            assert!(r.content_type().starts_with("application/json"));
            let error = r.json()["error"].as_str().unwrap().to_owned();
            assert!(
                error.starts_with("Refused:"),
                "{method} {hostile:?}: {error}"
            );
            assert!(r.set_cookies().is_empty(), "{method} {hostile:?}");
        }
    }
    let api = get(&app, "/api/session", Some(&cookie)).await.json();
    assert_eq!(api["key"], key.as_str(), "neither deleted nor cycled");
    assert_eq!(api["data"], serde_json::json!({"a": 1}), "not patched");
    assert_eq!(store.len(), 1);
}

/// The pages whose `GET` changes a cookie or the session.
const CHANGING_PAGES: [&str; 9] = [
    "/set_cookie/",
    "/delete_cookie/",
    "/check_salt_cookie/",
    "/set_session/",
    "/delete_session/",
    "/clear_session/",
    "/flush_session/",
    "/cycle_key/",
    "/set_expiry/?value=300",
];

#[tokio::test]
async fn links_from_other_sites_cannot_change_state() {
    let (app, store) = memory_app();
    let first = get(&app, "/set_session/", None).await;
    let cookie = first.cookie("sessionid").unwrap();
    let before = get(&app, "/api/session", Some(&cookie)).await.json();
    let jar = format!("{cookie}; test=\"hello cookie\"");
    for site in ["cross-site", "same-site"] {
        for method in ["GET", "HEAD"] {
            for page in CHANGING_PAGES {
                let headers = [
                    ("host", HOST),
                    ("cookie", jar.as_str()),
                    ("sec-fetch-site", site),
                    ("sec-fetch-mode", "navigate"),
                ];
                let r = send_with(&app, method, page, &headers, "").await;
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{method} {page} from {site}"
                );
                assert!(
                    r.set_cookies().is_empty(),
                    "{method} {page}: {:?}",
                    r.set_cookies()
                );
                if method == "GET" {
                    assert!(r.result().starts_with("Refused:"), "{}", r.result());
                    assert!(
                        r.body
                            .contains(&format!("<a href=\"{page}\">continue here</a>")),
                        "{page}: one click from here opens it: {}",
                        r.body
                    );
                }
            }
        }
    }
    let after = get(&app, "/api/session", Some(&cookie)).await.json();
    assert_eq!(after, before, "the session did not change");
    assert_eq!(store.len(), 1);

    // Pages that only read open from anywhere.
    for page in ["/", "/get_cookie/", "/check_cookie/", "/api/session"] {
        let headers = [
            ("cookie", cookie.as_str()),
            ("sec-fetch-site", "cross-site"),
        ];
        let r = send_with(&app, "GET", page, &headers, "").await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
    }
    // A typed URL, and links within the site, change what they say they change.
    let typed = [("cookie", cookie.as_str()), ("sec-fetch-site", "none")];
    let r = send_with(&app, "GET", "/set_cookie/", &typed, "").await;
    assert_eq!(r.cookie("test").as_deref(), Some("test=\"hello cookie\""));
    let within = [
        ("cookie", cookie.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    let r = send_with(&app, "GET", "/clear_session/", &within, "").await;
    assert!(r.result().starts_with("Cleared"), "{}", r.result());
    let api = get(&app, "/api/session", Some(&cookie)).await.json();
    assert_eq!(api["data"], serde_json::json!({}));
}

#[tokio::test]
async fn the_cookie_form_does_not_set_the_session_cookie() {
    let (app, store) = memory_app();
    for body in [
        "name=sessionid&value=abcdefghijklmnopqrstuvwxyz012345&path=%2F",
        "name=+sessionid+&value=x&path=%2F&max_age=60",
    ] {
        let r = browser_post(&app, "/form/cookie", None, &[("origin", OWN_ORIGIN)], body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
        assert!(r.result().contains("session fixation"), "{}", r.result());
    }
    assert!(store.is_empty());
    // The session cookie is whatever the settings name it.
    let config = SessionConfig {
        cookie_name: "sid".to_owned(),
        ..SessionConfig::default()
    };
    let app = tessera_cli::demo::router(&Sessions::Store(store), &keys(), config).unwrap();
    let form = |name: &str| format!("name={name}&value=x&path=%2F");
    let r = send(&app, "POST", "/form/cookie", None, &form("sid")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = send(&app, "POST", "/form/cookie", None, &form("sessionid")).await;
    assert_eq!(
        r.set_cookies_but_messages(),
        ["sessionid=x; Path=/"],
        "an ordinary one"
    );
}

#[tokio::test]
async fn api_patch_needs_a_json_content_type() {
    let (app, store) = memory_app();
    let refused = |r: &Reply, what: &str| {
        assert_eq!(
            r.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{what}: {}",
            r.body
        );
        assert!(r.content_type().starts_with("application/json"), "{what}");
        let error = r.json()["error"].as_str().unwrap().to_owned();
        assert!(
            error.contains("Content-Type: application/json"),
            "{what}: {error}"
        );
        assert!(r.set_cookies().is_empty(), "{what}");
    };
    // What a form or a simple fetch on another site can send without a preflight, and worse.
    let body = r#"{"a": 1}"#;
    for content_type in [
        Some("text/plain"),
        Some("text/plain; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        None,
    ] {
        let headers: Vec<_> = content_type
            .map(|t| ("content-type", t))
            .into_iter()
            .collect();
        let r = send_with(&app, "PATCH", "/api/session", &headers, body).await;
        refused(&r, &format!("{content_type:?}"));
    }
    assert!(store.is_empty(), "nothing was written");

    let cookie = send(&app, "PATCH", "/api/session", None, body)
        .await
        .cookie("sessionid")
        .unwrap();
    let headers = [("cookie", cookie.as_str()), ("content-type", "text/plain")];
    let r = send_with(&app, "PATCH", "/api/session", &headers, r#"{"a": 2}"#).await;
    refused(&r, "text/plain on a session");
    let headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "Application/JSON; charset=utf-8"),
    ];
    let r = send_with(&app, "PATCH", "/api/session", &headers, r#"{"b": 2}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["data"], serde_json::json!({"a": 1, "b": 2}));
}

#[tokio::test]
async fn api_cycle_key_moves_the_data_to_a_new_key() {
    let (app, store) = memory_app();
    let created = send(&app, "PATCH", "/api/session", None, r#"{"user": "ada"}"#).await;
    let old = created.cookie("sessionid").unwrap();
    let old_key = old.strip_prefix("sessionid=").unwrap().to_owned();

    let r = send(&app, "POST", "/api/session/cycle_key", Some(&old), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new = r.cookie("sessionid").expect("the new key's cookie");
    let new_key = new.strip_prefix("sessionid=").unwrap().to_owned();
    assert_ne!(new_key, old_key);
    let answer = r.json();
    assert_eq!(answer["key"], new_key.as_str(), "answered as GET shows it");
    assert_eq!(answer["data"], serde_json::json!({"user": "ada"}));
    assert_eq!(answer, get(&app, "/api/session", Some(&new)).await.json());

    let stale = get(&app, "/api/session", Some(&old)).await.json();
    assert_eq!(
        stale["key"],
        serde_json::Value::Null,
        "the old key no longer loads"
    );
    assert_eq!(stale["data"], serde_json::json!({}));
    assert!(!store
        .exists(&SessionKey::parse(&old_key).unwrap())
        .await
        .unwrap());
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn api_cycle_key_of_no_session_makes_none() {
    let (app, store) = memory_app();
    for cookie in [None, Some("sessionid=abcdefghijklmnopqrstuvwxyz012345")] {
        let r = send(&app, "POST", "/api/session/cycle_key", cookie, "").await;
        assert_eq!(r.status, StatusCode::OK, "{cookie:?}: {}", r.body);
        assert_eq!(r.json()["key"], serde_json::Value::Null, "{cookie:?}");
        assert_eq!(r.json()["data"], serde_json::json!({}));
        assert_eq!(r.cookie("sessionid"), None, "{cookie:?}: no key handed out");
    }
    assert!(store.is_empty(), "no empty record was stored");
}

/// A small request cannot cost the server much memory or grow a session past its budget: the
/// body limit is the session's (1 MiB; a 1.95 MB PATCH of 650,000 empty lists used to cost
/// ~45 MiB, kept forever on `memory://`), parsing stops past the value budget, and a write
/// past the budget or with an expiry past the year 9999 is refused, saying why, with the
/// session unchanged.
#[tokio::test]
async fn requests_past_the_session_budget_are_refused_saying_why() {
    let (app, store) = memory_app();
    let r = send(&app, "PATCH", "/api/session", None, r#"{"a": "kept"}"#).await;
    let cookie = r.cookie("sessionid").unwrap();
    let lists = |n: usize| format!("{{\"a\": [{}]}}", vec!["[]"; n].join(","));

    let r = send(
        &app,
        "PATCH",
        "/api/session",
        Some(&cookie),
        &lists(650_000),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.head());
    assert!(r.json()["error"].is_string(), "{}", r.head());

    let r = send(
        &app,
        "PATCH",
        "/api/session",
        Some(&cookie),
        &lists(200_000),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.head());
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("Too many values"),
        "{}",
        r.head()
    );

    // 400 KB of body, 1.2 MB of JSON as Django stores it (`\u00e9` for each `é`).
    let big = format!("{{\"b\": \"{}\"}}", "é".repeat(200_000));
    let r = send(&app, "PATCH", "/api/session", Some(&cookie), &big).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.head());
    let error = r.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("a session may hold 1048576"), "{error}");

    let r = get(
        &app,
        "/set_expiry/?value=9999-12-31T23:59:59-14:00",
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.head());
    assert!(r.body.contains("years 1 to 9999"), "{}", r.head());

    let r = get(&app, "/api/session", Some(&cookie)).await;
    assert_eq!(r.json()["data"], serde_json::json!({"a": "kept"}));
    assert_eq!(store.len(), 1);
}

/// The JSON API writes the session with tessera's exact JSON, as Python's `json` does: ints of
/// any size and floats keep their text, NaN and infinities are Python's, so a script that GETs
/// the data and PATCHes it back changes nothing (`2**70` came back as
/// `1.1805916207174113e+21`, NaN as `null`).
#[tokio::test]
async fn the_api_keeps_numbers_exact_both_ways() {
    let (app, _) = memory_app();
    let data = r#"{"big": 1180591620717411303424, "low": -9223372036854775809, "f": 0.1, "e": 1e+300, "nan": NaN, "inf": -Infinity}"#;
    let r = send(&app, "PATCH", "/api/session", None, data).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.head());
    let cookie = r.cookie("sessionid").unwrap();
    let want = r#""data":{"big":1180591620717411303424,"low":-9223372036854775809,"f":0.1,"e":1e+300,"nan":NaN,"inf":-Infinity}"#;
    assert!(r.body.contains(want), "{}", r.body);
    // The data sent back as it came: nothing changes.
    let start = r.body.find("\"data\":").unwrap() + "\"data\":".len();
    let echoed = &r.body[start..r.body.len() - 1];
    let again = send(&app, "PATCH", "/api/session", Some(&cookie), echoed).await;
    assert!(again.body.contains(want), "{}", again.body);
}
