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
