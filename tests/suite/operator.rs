//! What an operator sees: settings checked when the layer is built, store failures logged
//! once and without the key, generic error bodies, and an error response the app can shape.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use tessera::backend::cookie::SignedCookieSessions;
use tessera::session::SessionKey;
use tessera::store::memory::MemoryStore;
use tessera::store::{Record, SessionStore};
use tessera::{Session, SessionConfig, SessionLayer};

use crate::common::http::{app_with, send};
use crate::common::logs::with_logs;
use crate::common::probe::{Probe, INTERNAL_DETAIL};

#[test]
fn a_layer_with_settings_that_can_never_work_is_an_error() {
    let bad = SessionConfig {
        cookie_name: "my session".into(),
        ..SessionConfig::default()
    };
    let e = SessionLayer::new(Arc::new(MemoryStore::new()), bad.clone()).unwrap_err();
    assert_eq!(e.name, "SESSION_COOKIE_NAME");
    assert!(e.to_string().contains("my session"), "{e}");
    let keys = tessera::signing::SecretKeys::new("k");
    let cookie = SignedCookieSessions::new(&keys).unwrap();
    assert!(SessionLayer::signed_cookie(cookie, bad.clone()).is_err());
    let detached = Session::detached(Arc::new(MemoryStore::new()), bad, None);
    assert!(detached.is_err());
    let zero = SessionConfig {
        store_timeout: std::time::Duration::ZERO,
        ..SessionConfig::default()
    };
    assert!(SessionLayer::new(Arc::new(MemoryStore::new()), zero).is_err());
}

#[test]
fn a_failed_load_logs_one_line_without_the_key_and_answers_generically() {
    let store = Arc::new(Probe::default());
    let app = app_with(SessionLayer::new(store.clone(), SessionConfig::default()).unwrap());
    let mut cookie = String::new();
    let logs = with_logs(|| async {
        cookie = send(&app, "/set?a=1", None).await.session_cookie().unwrap();
        store.down.store(true, Ordering::SeqCst);
        let r = send(&app, "/get?k=a", Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            !r.body.contains("10.1.2.3"),
            "internal text in the body: {}",
            r.body
        );
        assert!(r.set_cookies().is_empty());
    });
    let key = cookie.trim_start_matches("sessionid=");
    assert_eq!(key.len(), 32);
    let failures: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("session load failed"))
        .collect();
    assert_eq!(failures.len(), 1, "one line for one failed load: {logs}");
    assert!(
        failures[0].contains(INTERNAL_DETAIL),
        "the log says why: {}",
        failures[0]
    );
    assert!(
        !logs.contains(key),
        "the session key reached the logs: {logs}"
    );
}

#[test]
fn a_failed_save_logs_and_answers_with_the_layers_response() {
    let store = Arc::new(Probe::default());
    let layer = SessionLayer::new(store.clone(), SessionConfig::default())
        .unwrap()
        .error_response(|e| {
            let mut r = http::Response::new(format!(
                r#"{{"error":"session","status":{}}}"#,
                tessera::session::error_status(e).as_u16()
            ));
            *r.status_mut() = tessera::session::error_status(e);
            r
        });
    let app = app_with(layer);
    let logs = with_logs(|| async {
        let cookie = send(&app, "/set?a=1", None).await.session_cookie().unwrap();
        store.down.store(true, Ordering::SeqCst);
        // The handler's own `?` on a failed load: reshaped by the layer's response.
        let r = send(&app, "/get?k=a", Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.body, r#"{"error":"session","status":503}"#);
        // A save that fails after the handler answered 200 (a new session, created at the
        // end): the response becomes the layer's error, without a cookie.
        let r = send(&app, "/set?b=2", None).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.body, r#"{"error":"session","status":503}"#);
        assert!(r.set_cookies().is_empty());
    });
    assert_eq!(
        logs.lines()
            .filter(|l| l.contains("session save failed"))
            .count(),
        1,
        "{logs}"
    );
}

#[tokio::test]
async fn a_handler_that_handles_a_store_error_keeps_its_answer() {
    async fn tolerant(session: Session) -> String {
        match session.get::<String>("a").await {
            Ok(v) => format!("a={v:?}"),
            Err(_) => "sessions are down; carrying on".to_owned(),
        }
    }
    let store = Arc::new(Probe::default());
    let layer = SessionLayer::new(store.clone(), SessionConfig::default()).unwrap();
    let seed = app_with(layer.clone());
    let cookie = send(&seed, "/set?a=1", None)
        .await
        .session_cookie()
        .unwrap();
    let app = Router::new().route("/", get(tolerant)).layer(layer);
    store.down.store(true, Ordering::SeqCst);
    let r = send(&app, "/", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "sessions are down; carrying on");
    assert!(r.set_cookies().is_empty(), "nothing is saved or deleted");
    store.down.store(false, Ordering::SeqCst);
    let r = send(&app, "/", Some(&cookie)).await;
    assert_eq!(r.body, r#"a=Some("1")"#, "the session was left as it was");
}

#[tokio::test]
async fn the_sweeper_clears_expired_sessions_and_keeps_going_after_a_failure() {
    use tessera::json::{Map, Value};
    let store = Arc::new(Probe::default());
    let now = tessera::signing::now();
    let mut data = Map::new();
    data.insert("a".into(), Value::from(1));
    let (expired, live) = (
        SessionKey::generate().unwrap(),
        SessionKey::generate().unwrap(),
    );
    let record = |expires_at| Record {
        data: &data,
        expires_at,
        now: tessera::time::now(),
    };
    store.create(&expired, record(now - 10.0)).await.unwrap();
    store.create(&live, record(now + 3600.0)).await.unwrap();
    // Down for the first rounds: the task logs and goes on.
    store.down.store(true, Ordering::SeqCst);
    let sweeper = tessera::store::spawn_clear_expired(
        store.clone(),
        std::time::Duration::from_millis(20),
        100,
    );
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    assert!(
        !sweeper.is_finished(),
        "a failed round does not end the task"
    );
    store.down.store(false, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.exists(&expired).await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired session was never cleared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        store.exists(&live).await.unwrap(),
        "a live session was cleared"
    );
    sweeper.abort();
}
