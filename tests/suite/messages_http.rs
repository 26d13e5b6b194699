//! Messages over real HTTP requests through an axum app: a message added in one request is
//! shown exactly once in the next, over cookie, session and fallback storage, and the
//! `messages` cookie is the one Django writes and reads.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use common::http::{send, Reply};
use common::vectors::records_py;
use http::StatusCode;
use tessera::json::Value;
use tessera::messages::{
    Level, Message, Messages, MessagesConfig, MessagesLayer, StorageKind, COOKIE_NAME, SESSION_KEY,
};
use tessera::signing::SecretKeys;
use tessera::store::memory::MemoryStore;
use tessera::time::Clock;
use tessera::{Session, SessionConfig, SessionLayer};

/// The secret key of `messages.json`, so the vectors' cookies verify here.
fn vector_key() -> String {
    vector("cookie-encode-001")["settings"]["SECRET_KEY"]
        .as_str()
        .expect("key")
        .to_owned()
}

/// The record of `messages.json` with this id.
fn vector(id: &str) -> Value {
    records_py("messages.json")
        .into_iter()
        .find(|r| r["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("no record {id}"))
}

/// `?text=…&level=…&tags=…&safe=1`, one message to add.
async fn add(messages: Messages, Query(q): Query<BTreeMap<String, String>>) -> String {
    let level = q.get("level").and_then(|l| l.parse().ok()).unwrap_or(20);
    let mut message = Message::new(Level(level), q.get("text").cloned().unwrap_or_default());
    if let Some(tags) = q.get("tags") {
        message = message.with_extra_tags(tags.clone());
    }
    if q.contains_key("safe") {
        message = message.safe();
    }
    messages.add_message(message).to_string()
}

/// `?n=…`: that many messages of 300 characters each, far more than a cookie holds.
async fn add_many(messages: Messages, Query(q): Query<BTreeMap<String, String>>) -> &'static str {
    let n: usize = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(0);
    for i in 0..n {
        // Pseudo-random letters (xorshift), so compression cannot fit them all.
        let mut x = 0x9E37_79B9_7F4A_7C15_u64 ^ (i as u64 + 1);
        let filler: String = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        messages.info(format!("{i:02} {filler}"));
    }
    "added"
}

/// One line per message shown: `tags|text`.
async fn show(messages: Messages) -> Result<String, tessera::messages::MessagesError> {
    let shown = messages.read().await?;
    Ok(shown
        .iter()
        .map(|m| format!("{}|{}\n", messages.tags(m), m.message))
        .collect())
}

/// The raw `_messages` value of the session, to see where fallback storage put things.
async fn peek(session: Session) -> String {
    match session.get_value(SESSION_KEY).await {
        Ok(Some(Value::Str(s))) => s,
        Ok(_) => "<absent>".to_owned(),
        Err(e) => format!("error {e}"),
    }
}

fn routes() -> Router {
    Router::new()
        .route("/add", get(add))
        .route("/add_many", get(add_many))
        .route("/show", get(show))
        .route("/nothing", get(|| async { "nothing" }))
}

fn app(storage: StorageKind, key: &str) -> Router {
    let config = MessagesConfig {
        storage,
        ..MessagesConfig::default()
    };
    let messages = MessagesLayer::new(&SecretKeys::new(key), config).expect("layer");
    let sessions = SessionLayer::new(Arc::new(MemoryStore::new()), SessionConfig::default())
        .expect("sessions");
    routes()
        .route("/peek", get(peek))
        .layer(messages)
        .layer(sessions)
}

/// A browser's cookies: what each response set, minus what it deleted.
#[derive(Default)]
struct Browser(BTreeMap<String, String>);

impl Browser {
    async fn get(&mut self, app: &Router, uri: &str) -> Reply {
        let header = self
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let reply = send(app, uri, Some(header.as_str()).filter(|h| !h.is_empty())).await;
        for set in reply.set_cookies() {
            let pair = set.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("name=value");
            if set.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
        reply
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

fn messages_cookie(reply: &Reply) -> Vec<String> {
    reply
        .set_cookies()
        .into_iter()
        .filter(|c| c.starts_with(&format!("{COOKIE_NAME}=")))
        .collect()
}

const ALL_STORAGES: [StorageKind; 3] = [
    StorageKind::Cookie,
    StorageKind::Session,
    StorageKind::Fallback,
];

/// An app with `storage` and a browser with no cookies yet.
fn fresh(storage: StorageKind) -> (Router, Browser) {
    (app(storage, "a long random secret"), Browser::default())
}

#[tokio::test]
async fn a_message_is_shown_exactly_once_in_every_storage() {
    for storage in ALL_STORAGES {
        let (app, mut browser) = fresh(storage);
        let added = browser
            .get(&app, "/add?text=Saved&level=25&tags=fade")
            .await;
        assert_eq!(added.body, "true", "{storage:?}");
        assert_eq!(
            browser.has(COOKIE_NAME),
            storage != StorageKind::Session,
            "{storage:?}: the cookie holds it, except with session storage"
        );
        // A request that does not touch messages keeps them and writes no messages cookie.
        let untouched = browser.get(&app, "/nothing").await;
        assert!(messages_cookie(&untouched).is_empty(), "{storage:?}");

        let shown = browser.get(&app, "/show").await;
        assert_eq!(shown.status, StatusCode::OK);
        assert_eq!(shown.body, "fade success|Saved\n", "{storage:?}");
        assert!(
            !browser.has(COOKIE_NAME),
            "{storage:?}: nothing left in a cookie"
        );
        assert_eq!(
            browser.get(&app, "/peek").await.body,
            "<absent>",
            "{storage:?}"
        );

        let again = browser.get(&app, "/show").await;
        assert_eq!(again.body, "", "{storage:?}: shown once only");
    }
}

#[tokio::test]
async fn unread_messages_are_kept_in_front_of_new_ones() {
    for storage in ALL_STORAGES {
        let (app, mut browser) = fresh(storage);
        browser.get(&app, "/add?text=first").await;
        browser.get(&app, "/add?text=second&level=40").await;
        // Below MESSAGE_LEVEL, and empty: not recorded.
        assert_eq!(
            browser.get(&app, "/add?text=quiet&level=10").await.body,
            "false"
        );
        assert_eq!(browser.get(&app, "/add?text=").await.body, "false");
        let shown = browser.get(&app, "/show").await;
        assert_eq!(shown.body, "info|first\nerror|second\n", "{storage:?}");
        assert_eq!(browser.get(&app, "/show").await.body, "", "{storage:?}");
    }
}

#[tokio::test]
async fn fallback_puts_what_the_cookie_cannot_hold_in_the_session() {
    let (app, mut browser) = fresh(StorageKind::Fallback);
    let added = browser.get(&app, "/add_many?n=30").await;
    let cookie = messages_cookie(&added);
    assert_eq!(cookie.len(), 1);
    assert!(
        cookie[0].len() < 2048 + 60,
        "the cookie stays within Django's limit"
    );
    let in_session = browser.get(&app, "/peek").await.body;
    assert!(
        in_session.starts_with("[[\"__json_message\", 0, 20, \""),
        "the rest is in the session: {in_session:.60}"
    );

    let shown = browser.get(&app, "/show").await.body;
    let numbers: Vec<&str> = shown.lines().map(|l| &l[5..7]).collect();
    let want: Vec<String> = (0..30).map(|i| format!("{i:02}")).collect();
    assert_eq!(
        numbers, want,
        "all thirty, oldest first, from cookie then session"
    );
    assert!(!browser.has(COOKIE_NAME));
    assert_eq!(browser.get(&app, "/peek").await.body, "<absent>");
    assert_eq!(browser.get(&app, "/show").await.body, "");
}

#[tokio::test]
async fn cookie_storage_drops_the_oldest_that_do_not_fit() {
    let (app, mut browser) = fresh(StorageKind::Cookie);
    browser.get(&app, "/add_many?n=30").await;
    let shown = browser.get(&app, "/show").await.body;
    let first: usize = shown.lines().next().expect("some shown")[5..7]
        .parse()
        .unwrap();
    assert!(first > 0, "the oldest were dropped");
    let numbers: Vec<usize> = shown.lines().map(|l| l[5..7].parse().unwrap()).collect();
    assert_eq!(
        numbers,
        (first..30).collect::<Vec<_>>(),
        "the newest kept, in order"
    );
    assert_eq!(browser.get(&app, "/show").await.body, "");
}

#[tokio::test]
async fn a_cookie_django_wrote_is_shown_and_deleted() {
    // cookie-decode-015: four messages that Django 6.1.3 signed and compressed.
    let record = vector("cookie-decode-015");
    let django_cookie = record["cookie_value"].as_str().expect("cookie").to_owned();
    let app = app(StorageKind::Fallback, &vector_key());
    let mut browser = Browser::default();
    browser.0.insert(COOKIE_NAME.to_owned(), django_cookie);
    let shown = browser.get(&app, "/show").await;
    assert_eq!(
        shown.body,
        "success|Profile updated for Jürgen ✓\nx y warning|Check <b>this</b>\nerror|<em>safe</em> html\ndebug|debug qawlauyax\n"
    );
    assert_eq!(
        messages_cookie(&shown),
        ["messages=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax"]
    );
}

#[tokio::test]
async fn the_cookie_tessera_writes_is_the_one_django_writes() {
    // cookie-update-030: Django's Set-Cookie for one message added at the record's `now`.
    let record = vector("cookie-update-030");
    let layer = MessagesLayer::new(
        &SecretKeys::new(vector_key()),
        MessagesConfig {
            storage: StorageKind::Cookie,
            ..MessagesConfig::default()
        },
    )
    .expect("layer")
    .with_clock(Clock::fixed(record["now"].as_f64().expect("now")));
    let app = routes().layer(layer);
    let added = send(&app, "/add?text=Saved%20%E2%9C%93&level=25", None).await;
    let want: Vec<String> = match &record["expected"]["set_cookie"] {
        Value::List(l) => l.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
        _ => panic!("no set_cookie"),
    };
    assert_eq!(added.set_cookies(), want);
}

#[tokio::test]
async fn a_tampered_cookie_is_ignored_and_deleted() {
    let (app, mut browser) = fresh(StorageKind::Cookie);
    browser.get(&app, "/add?text=hello").await;
    let value = browser.0.get(COOKIE_NAME).cloned().unwrap();
    browser
        .0
        .insert(COOKIE_NAME.to_owned(), value.replacen("W1", "W2", 1));
    let shown = browser.get(&app, "/show").await;
    assert_eq!(shown.body, "");
    assert!(!browser.has(COOKIE_NAME), "deleted");
}

#[tokio::test]
async fn session_storage_without_a_session_layer_is_refused() {
    let layer = MessagesLayer::new(&SecretKeys::new("k"), MessagesConfig::default()).unwrap();
    let app = routes().layer(layer);
    let reply = send(&app, "/add?text=x", None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.set_cookies().is_empty());
}
