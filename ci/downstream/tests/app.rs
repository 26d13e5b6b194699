//! The app's own JSON still parses with tessera in the build, and sessions work through it.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn call(req: Request<Body>) -> (StatusCode, Option<String>, String) {
    let resp = downstream_app::app().unwrap().oneshot(req).await.unwrap();
    let status = resp.status();
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, cookie, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn an_internally_tagged_enum_with_a_float_parses() {
    let req = Request::post("/area")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"kind":"Circle","r":1.5}"#))
        .unwrap();
    let (status, _, body) = call(req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let area: f64 = serde_json::from_str(&body).unwrap();
    assert!((area - 7.0685834705770345).abs() < 1e-12, "{area}");
}

#[tokio::test]
async fn a_typed_session_value_round_trips_over_http() {
    let app = downstream_app::app().unwrap();
    let first = app
        .clone()
        .oneshot(Request::post("/cart").body(Body::from("apple")).unwrap())
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let cookie = first.headers()[header::SET_COOKIE].to_str().unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    assert!(pair.starts_with("sessionid="), "{cookie}");
    let second = app
        .oneshot(
            Request::post("/cart")
                .header(header::COOKIE, &pair)
                .body(Body::from("pear"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    let body = second.into_body().collect().await.unwrap().to_bytes();
    let cart: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(cart["items"], serde_json::json!(["apple", "pear"]));
    assert_eq!(cart["total_cents"], 500);
}

/// A store an app writes itself: tessera's memory store behind a wrapper that counts the
/// async saves, as a metrics wrapper would. `forward_immediate` says whether it also hands
/// the session layer the inner store's immediate calls (`SessionStore::immediate`).
#[derive(Debug)]
struct Counted {
    inner: tessera::store::memory::MemoryStore,
    async_saves: std::sync::atomic::AtomicUsize,
    forward_immediate: bool,
}

#[async_trait::async_trait]
impl tessera::store::SessionStore for Counted {
    async fn load(
        &self,
        key: &tessera::session::SessionKey,
        now: f64,
    ) -> Result<Option<tessera::store::Loaded>, tessera::store::StoreError> {
        self.inner.load(key, now).await
    }
    async fn create(
        &self,
        key: &tessera::session::SessionKey,
        record: tessera::store::Record<'_>,
    ) -> Result<tessera::store::Version, tessera::store::StoreError> {
        self.inner.create(key, record).await
    }
    async fn save(
        &self,
        key: &tessera::session::SessionKey,
        record: tessera::store::Record<'_>,
        expected: &tessera::store::Version,
    ) -> Result<tessera::store::SaveOutcome, tessera::store::StoreError> {
        self.async_saves
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.save(key, record, expected).await
    }
    async fn delete(
        &self,
        key: &tessera::session::SessionKey,
    ) -> Result<(), tessera::store::StoreError> {
        self.inner.delete(key).await
    }
    async fn exists(
        &self,
        key: &tessera::session::SessionKey,
    ) -> Result<bool, tessera::store::StoreError> {
        self.inner.exists(key).await
    }
    async fn clear_expired(
        &self,
        now: f64,
        batch_size: usize,
    ) -> Result<u64, tessera::store::StoreError> {
        self.inner.clear_expired(now, batch_size).await
    }
    fn immediate(&self) -> Option<&dyn tessera::store::ImmediateStore> {
        if self.forward_immediate {
            self.inner.immediate()
        } else {
            None
        }
    }
}

/// An app's own store works through the layer whether or not it offers immediate calls: one
/// that does not is saved through its async `save` (the default, as before the immediate calls
/// existed), one that forwards them is saved without it, and both keep the session.
#[tokio::test]
async fn an_apps_own_store_keeps_sessions_with_or_without_immediate_calls() {
    use std::sync::atomic::Ordering;
    use tessera::store::SessionStore;

    for forward_immediate in [false, true] {
        let store = std::sync::Arc::new(Counted {
            inner: tessera::store::memory::MemoryStore::new(),
            async_saves: Default::default(),
            forward_immediate,
        });
        assert_eq!(store.answers_at_once(), forward_immediate);
        let app = downstream_app::app_on(store.clone()).unwrap();
        let mut cookie: Option<String> = None;
        for (item, want) in [("apple", 1), ("pear", 2), ("plum", 3)] {
            let mut req = Request::post("/cart");
            if let Some(c) = &cookie {
                req = req.header(header::COOKIE, c);
            }
            let resp = app
                .clone()
                .oneshot(req.body(Body::from(item)).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            if let Some(set) = resp.headers().get(header::SET_COOKIE) {
                cookie = Some(set.to_str().unwrap().split(';').next().unwrap().to_owned());
            }
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            let cart: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(cart["items"].as_array().unwrap().len(), want, "{cart}");
        }
        // The first request creates; the two after it save over the stored session.
        let async_saves = store.async_saves.load(Ordering::Relaxed);
        assert_eq!(async_saves, if forward_immediate { 0 } else { 2 });
    }
}
